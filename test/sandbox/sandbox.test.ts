import { ClientSecretCredential } from '@azure/identity';

import { startSandbox, type Sandbox } from '../../sandbox';

describe('startSandbox', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(() => sandbox.close());

  it('keeps the Function App identity across reset(), so settings read before still work', async () => {
    const before = sandbox.env();
    sandbox.reset();
    expect(sandbox.env().AZURE_CLIENT_ID).toBe(before.AZURE_CLIENT_ID);
    const credential = new ClientSecretCredential(
      before.AZURE_TENANT_ID,
      before.AZURE_CLIENT_ID,
      before.AZURE_CLIENT_SECRET,
      {
        authorityHost: before.ENTRA_AUTHORITY_HOST,
        disableInstanceDiscovery: true,
      },
    );
    const token = await credential.getToken(`${before.GRAPH_BASE_URL}/.default`);
    expect(token.token.split('.')).toHaveLength(3);
  });

  it('reset() clears faults, journal and outbox but re-seeds the ServiceNow admin credentials in Key Vault', () => {
    sandbox.faults.add({ action: { type: 'status', status: 503 } });
    sandbox.graph.outbox.push({ at: '', from: 'x', message: {} });
    sandbox.reset();
    expect(sandbox.faults.list()).toEqual([]);
    expect(sandbox.journal.entries()).toEqual([]);
    expect(sandbox.graph.outbox).toEqual([]);
  });
});
