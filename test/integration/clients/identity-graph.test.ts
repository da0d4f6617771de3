import { ClientSecretCredential } from '@azure/identity';

import type { AppConfig } from '../../../src/config';
import { createCredential, credentialKind } from '../../../src/clients/credentials';
import { createGraphClient, graphRaw } from '../../../src/clients/graph';
import { ExternalServiceError } from '../../../src/lib/errors';
import type { Sandbox } from '../../../sandbox';
import { sandboxConfig, startClientSandbox } from './helpers';

describe('credential and Graph client against the sandbox', () => {
  let sandbox: Sandbox;
  let config: AppConfig;

  beforeAll(async () => {
    sandbox = await startClientSandbox();
  });
  afterAll(() => sandbox.close());
  beforeEach(() => {
    // reset() re-seeds the directory, including the Function identity's app id and secret: re-read env().
    sandbox.reset();
    config = sandboxConfig(sandbox);
  });

  it('uses a ClientSecretCredential against the Entra stand-in and gets a Graph token', async () => {
    expect(credentialKind(config)).toBe('client-secret');
    const credential = createCredential(config);
    expect(credential.current).toBeInstanceOf(ClientSecretCredential);
    const token = await credential.getToken(config.graph.scope);
    expect(token?.token).toMatch(/^eyJ/);
    const calls = sandbox.journal.entries({ service: 'entra' });
    expect(
      calls.some((e) => e.method === 'POST' && e.path === `/${config.tenantId}/oauth2/v2.0/token` && e.status === 200),
    ).toBe(true);
    // Instance discovery is off: nothing went to login.microsoftonline.com (it would have failed offline anyway).
    expect(calls.every((e) => !e.path.includes('discovery/instance'))).toBe(true);
  });

  it('lists applications through the real graph-client with the token attached (customHosts)', async () => {
    const client = createGraphClient({ credential: createCredential(config), baseUrl: config.graph.baseUrl });
    const page = (await client.api('/applications').get()) as { value: unknown[] };
    expect(Array.isArray(page.value)).toBe(true);
    const graphCalls = sandbox.journal.entries({ service: 'graph' });
    expect(graphCalls.at(-1)).toMatchObject({ method: 'GET', path: '/v1.0/applications', status: 200 });
    expect(graphCalls.at(-1)?.authSubject).toBeDefined();
  });

  it("normalises a Graph 404 into ExternalServiceError with Graph's code", async () => {
    const client = createGraphClient({ credential: createCredential(config), baseUrl: config.graph.baseUrl });
    const err = (await graphRaw(client, 'GET', '/applications/00000000-0000-0000-0000-000000000001').catch(
      (e: unknown) => e,
    )) as ExternalServiceError;
    expect(err).toBeInstanceOf(ExternalServiceError);
    expect(err).toMatchObject({ service: 'graph', status: 404, code: 'Request_ResourceNotFound' });
  });
});
