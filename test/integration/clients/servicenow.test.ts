import { type AppConfig, serviceNowInstanceUrl } from '../../../src/config';
import { createCredential } from '../../../src/clients/credentials';
import { createSecretClient } from '../../../src/clients/keyvault';
import { ServiceNowClient, ServiceNowError } from '../../../src/clients/servicenow';
import { createServiceNowAuth } from '../../../src/clients/servicenow-auth';
import { createLogger } from '../../../src/lib/logger';
import type { Sandbox } from '../../../sandbox';
import { sandboxConfig, startClientSandbox } from './helpers';

describe('ServiceNow client against the sandbox', () => {
  let sandbox: Sandbox;
  let config: AppConfig;
  let instance: string;
  const PREFIX = 'snadmin-';

  beforeAll(async () => {
    sandbox = await startClientSandbox();
    instance = sandbox.env().SANDBOX_SERVICENOW_INSTANCE;
  });
  afterAll(() => sandbox.close());
  beforeEach(() => {
    // reset() re-seeds the directory, including the Function identity's app id and secret: re-read env().
    sandbox.reset();
    // A non-default prefix proves the client reads the configured secret names.
    // The basic fallback (SERVICENOW_AUTH_MODE=basic); token auth, the default, is the last case below.
    config = sandboxConfig(sandbox, { SERVICENOW_AUTH_MODE: 'basic', SERVICENOW_CREDENTIAL_SECRET_PREFIX: PREFIX });
    sandbox.keyvault.seedSecret(`${PREFIX}${instance}-username`, sandbox.servicenow.adminUser);
    sandbox.keyvault.seedSecret(`${PREFIX}${instance}-password`, sandbox.servicenow.adminPassword);
  });

  const client = (sleeps?: number[]) =>
    new ServiceNowClient({
      instanceUrl: serviceNowInstanceUrl(config, instance),
      auth: createServiceNowAuth(
        config,
        instance,
        createSecretClient({
          vaultUrl: config.keyVault.url,
          credential: createCredential(config),
          challengeResourceVerification: config.keyVault.challengeResourceVerification,
        }),
      ),
      ...(sleeps ? { sleep: async (ms: number) => void sleeps.push(ms) } : {}),
      logger: createLogger('servicenow', () => undefined),
    });

  it("token auth (default): the identity's Entra token for the audience, no vault read, runs as the machine user", async () => {
    const entra = sandboxConfig(sandbox);
    expect(entra.serviceNow.authMode).toBe('entra');
    const credential = createCredential(entra);
    const tokenClient = new ServiceNowClient({
      instanceUrl: serviceNowInstanceUrl(entra, instance),
      auth: createServiceNowAuth(
        entra,
        instance,
        () => {
          throw new Error('token auth must not build a vault client');
        },
        {},
        () => credential,
      ),
      logger: createLogger('servicenow', () => undefined),
    });
    const rows = await tokenClient.list('incident', { fields: ['sys_id'], pageSize: 5 });
    expect(rows.length).toBeGreaterThan(0);
    expect(sandbox.journal.entries({ service: 'keyvault' })).toEqual([]);
    const sn = sandbox.journal.entries({ service: 'servicenow' });
    expect(new Set(sn.map((e) => e.authSubject))).toEqual(
      new Set([`user:${sandbox.directory.functionIdentity.servicePrincipalId}`]),
    );
    const tokens = sandbox.journal.entries({ service: 'entra' }).filter((e) => e.path.endsWith('/token'));
    expect(tokens).toHaveLength(1);
  });

  it('authenticates with admin credentials read from Key Vault and lists incidents', async () => {
    const rows = await client().list('incident', { fields: ['sys_id', 'number'], pageSize: 5 });
    expect(Array.isArray(rows)).toBe(true);
    for (const r of rows) expect(r.sys_id).toMatch(/^[0-9a-f]{32}$/);
    const kvReads = sandbox.journal
      .entries({ service: 'keyvault' })
      .filter((e) => e.method === 'GET' && e.status === 200);
    expect(kvReads.map((e) => e.path).sort()).toEqual(
      [`/secrets/${PREFIX}${instance}-password/`, `/secrets/${PREFIX}${instance}-username/`].sort(),
    );
    const sn = sandbox.journal.entries({ service: 'servicenow' });
    expect(sn.length).toBeGreaterThan(0);
    expect(sn.every((e) => e.status === 200 && e.path === `/${instance}/api/now/v2/table/incident`)).toBe(true);
  });

  it("gets 401 with ServiceNow's envelope when the vault holds a wrong password, after one re-read of the vault", async () => {
    sandbox.keyvault.seedSecret(`${PREFIX}${instance}-password`, 'wrong-Password-1');
    const err = (await client()
      .list('incident')
      .catch((e: unknown) => e)) as ServiceNowError;
    expect(err).toBeInstanceOf(ServiceNowError);
    expect(err).toMatchObject({ status: 401, retriable: false });
    expect(err.serviceMessage).toBeDefined();
    expect(err.message).not.toContain('wrong-Password-1');
    // One refresh (credentials read again from Key Vault), then the second 401 is the answer: no loop.
    expect(sandbox.journal.entries({ service: 'servicenow' }).map((e) => e.status)).toEqual([401, 401]);
  });

  it("waits for Retry-After on the stand-in's 429 and retries once", async () => {
    sandbox.faults.add({
      service: 'servicenow',
      method: 'GET',
      action: { type: 'status', status: 429, headers: { 'Retry-After': '1' } },
      times: 1,
    });
    const sleeps: number[] = [];
    await client(sleeps).list('incident', { pageSize: 1, maxRecords: 100_000 });
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThanOrEqual(1000);
    expect(
      sandbox.journal
        .entries({ service: 'servicenow' })
        .map((e) => e.status)
        .slice(0, 2),
    ).toEqual([429, 200]);
  });
});
