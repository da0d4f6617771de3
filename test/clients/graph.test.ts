import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';

import { createGraphClient, graphRaw } from '../../src/clients/graph';
import { ExternalServiceError } from '../../src/lib/errors';
import { SandboxClock } from '../../sandbox/core/clock';
import { FaultInjector } from '../../sandbox/core/faults';
import { Journal } from '../../sandbox/core/journal';
import { serve, type RunningServer } from '../../sandbox/core/server';
import { loadTls } from '../../sandbox/core/tls';
import type { SandboxRequest, SandboxResponse, StandIn } from '../../sandbox/core/types';

/** Records the scopes asked for, as microsoft-apis.md §7.4 suggests. */
class FakeCredential implements TokenCredential {
  readonly calls: string[][] = [];
  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    this.calls.push(Array.isArray(scopes) ? scopes : [scopes]);
    return { token: 'fake-graph-token', expiresOnTimestamp: Date.now() + 3600_000 };
  }
}

describe('Graph client over HTTPS', () => {
  const seen: SandboxRequest[] = [];
  const journal = new Journal();
  let server: RunningServer;
  const standIn: StandIn = {
    service: 'graph',
    reset: () => undefined,
    async handle(req): Promise<SandboxResponse> {
      seen.push(req);
      if (req.headers.authorization !== 'Bearer fake-graph-token')
        return {
          status: 401,
          body: { error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' } },
        };
      if (req.method === 'GET' && req.path === '/v1.0/applications')
        return { status: 200, body: { '@odata.context': 'x', value: [{ id: 'a1', displayName: 'App' }] } };
      if (req.method === 'PATCH' && req.path === "/v1.0/applications(uniqueName='new')")
        return { status: 201, headers: { Location: 'x' }, body: { id: 'n1', uniqueName: 'new' } };
      if (req.method === 'PATCH' && req.path === "/v1.0/applications(uniqueName='old')") return { status: 204 };
      return {
        status: 404,
        headers: { 'request-id': 'req-1' },
        body: {
          error: {
            code: 'Request_ResourceNotFound',
            message: `Resource '${req.path}' does not exist or one of its queried reference-property objects are not present.`,
            innerError: { 'request-id': 'req-1' },
          },
        },
      };
    },
  };

  beforeAll(async () => {
    server = await serve({ standIn, tls: loadTls(), clock: new SandboxClock(), faults: new FaultInjector(), journal });
  });
  afterAll(() => server.close());
  beforeEach(() => (seen.length = 0));

  it('sends the token to a non-Graph host through customHosts, with Accept-Language en-US', async () => {
    const credential = new FakeCredential();
    const client = createGraphClient({ credential, baseUrl: server.origin });
    const res = (await client.api('/applications').get()) as { value: Array<{ id: string }> };
    expect(res.value.map((a) => a.id)).toEqual(['a1']);
    expect(credential.calls).toEqual([[`${server.origin}/.default`]]);
    expect(seen[0].headers['accept-language']).toBe('en-US');
  });

  it('returns status and body for the upsert: 201 with the object, 204 empty', async () => {
    const client = createGraphClient({
      credential: new FakeCredential(),
      baseUrl: `${server.origin}/`,
      scopes: ['s/.default'],
    });
    const created = await graphRaw<{ id: string }>(
      client,
      'PATCH',
      "/applications(uniqueName='new')",
      { displayName: 'n' },
      {
        Prefer: 'create-if-missing',
      },
    );
    expect(created).toMatchObject({ status: 201, body: { id: 'n1', uniqueName: 'new' } });
    expect(seen[0].headers.prefer).toBe('create-if-missing');
    expect(JSON.parse(seen[0].body.toString())).toEqual({ displayName: 'n' });
    const updated = await graphRaw(client, 'PATCH', "/applications(uniqueName='old')", { displayName: 'o' });
    expect(updated).toMatchObject({ status: 204, body: undefined });
  });

  it('normalises Graph errors into ExternalServiceError with code, status and request id', async () => {
    const client = createGraphClient({ credential: new FakeCredential(), baseUrl: server.origin });
    const viaRaw = (await graphRaw(client, 'GET', '/applications/missing').catch(
      (e: unknown) => e,
    )) as ExternalServiceError;
    expect(viaRaw).toBeInstanceOf(ExternalServiceError);
    expect(viaRaw).toMatchObject({
      service: 'graph',
      status: 404,
      code: 'Request_ResourceNotFound',
      requestId: 'req-1',
      retriable: false,
    });
  });
});

describe('Graph client without an HTTP answer', () => {
  it('types a refused connection as a retriable network error', async () => {
    const client = createGraphClient({ credential: new FakeCredential(), baseUrl: 'https://127.0.0.1:1' });
    await expect(graphRaw(client, 'GET', '/applications')).rejects.toMatchObject({
      service: 'graph',
      status: undefined,
      retriable: true,
    });
  });

  it('types a credential failure as not retriable, keeping its name', async () => {
    const failing: TokenCredential = {
      getToken: () => Promise.reject(Object.assign(new Error('no token'), { name: 'AuthenticationRequiredError' })),
    };
    const client = createGraphClient({ credential: failing, baseUrl: 'https://127.0.0.1:1' });
    await expect(graphRaw(client, 'GET', '/applications')).rejects.toMatchObject({
      code: 'AuthenticationRequiredError',
      retriable: false,
    });
  });
});
