import type { SecretReader } from '../../src/clients/keyvault';
import { ServiceNowClient } from '../../src/clients/servicenow';
import type { AccessToken, TokenCredential } from '@azure/identity';

import { RefreshableCredential } from '../../src/clients/credentials';
import {
  BasicAuthProvider,
  createServiceNowAuth,
  EntraTokenAuthProvider,
  OAuthClientCredentialsProvider,
} from '../../src/clients/servicenow-auth';
import { loadConfig } from '../../src/config';
import { ExternalServiceError } from '../../src/lib/errors';
import { SandboxClock } from '../../sandbox/core/clock';
import { FaultInjector } from '../../sandbox/core/faults';
import { Journal } from '../../sandbox/core/journal';
import { serve, type RunningServer } from '../../sandbox/core/server';
import { loadTls } from '../../sandbox/core/tls';
import type { SandboxRequest, SandboxResponse, StandIn } from '../../sandbox/core/types';

const CLIENT_SECRET = 'sn-Client-Secret-value-7';
const AUDIENCE = 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b';

/** A TokenCredential that hands out numbered tokens (at-1, at-2, …) valid for an hour from `now`. */
class StubCredential implements TokenCredential {
  issued = 0;
  scopes: string[] = [];
  now = 1_000_000;
  async getToken(scopes: string | string[]): Promise<AccessToken> {
    this.scopes.push(...(Array.isArray(scopes) ? scopes : [scopes]));
    this.issued += 1;
    return { token: `at-${this.issued}`, expiresOnTimestamp: this.now + 3600_000 };
  }
}

function secretsFrom(values: Record<string, string>, reads: string[]): SecretReader {
  return {
    getSecret: async (name: string) => {
      reads.push(name);
      return { name, value: values[name], properties: { name, vaultUrl: 'https://kv' } };
    },
  };
}

describe('ServiceNow OAuth client credentials over HTTPS', () => {
  const seen: SandboxRequest[] = [];
  let issued = 0;
  let server: RunningServer;
  const standIn: StandIn = {
    service: 'servicenow',
    reset: () => undefined,
    async handle(req): Promise<SandboxResponse> {
      seen.push(req);
      if (req.method === 'POST' && req.path === '/dev1/oauth_token.do') {
        const form = new URLSearchParams(req.body.toString());
        if (
          form.get('grant_type') !== 'client_credentials' ||
          form.get('client_id') !== 'cid' ||
          form.get('client_secret') !== CLIENT_SECRET
        )
          return { status: 401, body: { error_description: 'access_denied', error: 'server_error' } };
        issued++;
        return {
          status: 200,
          body: { access_token: `tok-${issued}`, scope: 'useraccount', token_type: 'Bearer', expires_in: 1799 },
        };
      }
      if (!/^Bearer tok-\d+$/.test(req.headers.authorization ?? ''))
        return {
          status: 401,
          body: {
            error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' },
            status: 'failure',
          },
        };
      return { status: 200, body: { result: [] } };
    },
  };

  beforeAll(async () => {
    server = await serve({
      standIn,
      tls: loadTls(),
      clock: new SandboxClock(),
      faults: new FaultInjector(),
      journal: new Journal(),
    });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    seen.length = 0;
    issued = 0;
  });

  it('gets a token from oauth_token.do with secrets read from Key Vault and reuses it until shortly before expiry', async () => {
    let now = 1_000_000;
    const reads: string[] = [];
    const auth = new OAuthClientCredentialsProvider({
      secrets: secretsFrom(
        { 'servicenow-dev1-client-id': 'cid', 'servicenow-dev1-client-secret': CLIENT_SECRET },
        reads,
      ),
      clientIdSecret: 'servicenow-dev1-client-id',
      clientSecretSecret: 'servicenow-dev1-client-secret',
      instanceUrl: `${server.origin}/dev1`,
      now: () => now,
    });
    const client = new ServiceNowClient({ instanceUrl: `${server.origin}/dev1`, auth });
    await client.list('incident');
    await client.list('incident');
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /dev1/oauth_token.do',
      'GET /dev1/api/now/v2/table/incident',
      'GET /dev1/api/now/v2/table/incident',
    ]);
    expect(seen[1].headers.authorization).toBe('Bearer tok-1');
    expect(seen[0].headers['content-type']).toBe('application/x-www-form-urlencoded');
    now += (1799 - 59) * 1000; // within 60 s of expiry: fetch a new one
    expect(await auth.authorization()).toBe('Bearer tok-2');
    expect(reads).toHaveLength(4);
  });

  it('types a refused token request without the client secret', async () => {
    const auth = new OAuthClientCredentialsProvider({
      secrets: secretsFrom({ id: 'cid', secret: 'wrong-Secret-value-1' }, []),
      clientIdSecret: 'id',
      clientSecretSecret: 'secret',
      instanceUrl: `${server.origin}/dev1`,
    });
    const err = (await auth.authorization().catch((e: unknown) => e)) as ExternalServiceError;
    expect(err).toBeInstanceOf(ExternalServiceError);
    expect(err).toMatchObject({ service: 'servicenow', status: 401, code: 'server_error', retriable: false });
    expect(err.message).not.toContain('wrong-Secret-value-1');
  });
});

describe('Entra token auth (SERVICENOW_AUTH_MODE=entra)', () => {
  const seen: SandboxRequest[] = [];
  let accepted = new Set<string>();
  let server: RunningServer;
  const standIn: StandIn = {
    service: 'servicenow',
    reset: () => undefined,
    async handle(req): Promise<SandboxResponse> {
      seen.push(req);
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !accepted.has(token))
        return {
          status: 401,
          body: {
            error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' },
            status: 'failure',
          },
        };
      return { status: 200, body: { result: [] } };
    },
  };
  beforeAll(async () => {
    server = await serve({
      standIn,
      tls: loadTls(),
      clock: new SandboxClock(),
      faults: new FaultInjector(),
      journal: new Journal(),
    });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    seen.length = 0;
  });

  it('sends the identity token for the audience and reuses it until 5 minutes before it expires', async () => {
    const credential = new StubCredential();
    const auth = new EntraTokenAuthProvider({
      credential,
      scope: `${AUDIENCE}/.default`,
      now: () => credential.now,
    });
    accepted = new Set(['at-1', 'at-2']);
    const client = new ServiceNowClient({ instanceUrl: `${server.origin}/dev1`, auth });
    await client.list('incident');
    await client.list('incident');
    expect(seen.map((r) => r.headers.authorization)).toEqual(['Bearer at-1', 'Bearer at-1']);
    expect(credential.scopes).toEqual([`${AUDIENCE}/.default`]);
    credential.now += 3600_000 - 5 * 60_000 - 1;
    expect(await auth.authorization()).toBe('Bearer at-1');
    credential.now += 1;
    expect(await auth.authorization()).toBe('Bearer at-2');
  });

  it('a 401 drops the cached token and the credential caches, and sends once more with a new token; never loops', async () => {
    let made = 0;
    const inner: StubCredential[] = [];
    const credential = new RefreshableCredential(() => {
      made += 1;
      const c = new StubCredential();
      c.issued = (made - 1) * 10; // each rebuilt credential issues fresh tokens: at-1, then at-11, …
      inner.push(c);
      return c;
    });
    const auth = new EntraTokenAuthProvider({ credential, scope: `${AUDIENCE}/.default` });
    const client = new ServiceNowClient({ instanceUrl: `${server.origin}/dev1`, auth });
    accepted = new Set(['at-11']); // at-1 is refused (revoked, or the trust changed)
    await client.list('incident');
    expect(seen.map((r) => r.headers.authorization)).toEqual(['Bearer at-1', 'Bearer at-11']);
    expect(credential.refreshes).toBe(1);

    seen.length = 0;
    accepted = new Set(); // the instance no longer trusts us: one refresh, then the 401 surfaces
    const err = (await client.list('incident').catch((e: unknown) => e)) as ExternalServiceError;
    expect(err).toMatchObject({ service: 'servicenow', status: 401, retriable: false });
    expect(seen).toHaveLength(2);
    expect(err.message).not.toMatch(/at-\d+/);
  });

  it('a refused token request is a typed, non-retriable error naming the scope', async () => {
    const auth = new EntraTokenAuthProvider({
      credential: {
        getToken: () =>
          Promise.reject(
            Object.assign(new Error('AADSTS500011: The resource principal named api://x was not found'), {
              statusCode: 400,
            }),
          ),
      },
      scope: `${AUDIENCE}/.default`,
    });
    const err = (await auth.authorization().catch((e: unknown) => e)) as ExternalServiceError;
    expect(err).toBeInstanceOf(ExternalServiceError);
    expect(err).toMatchObject({ service: 'entra', retriable: false });
    expect(err.message).toContain(`${AUDIENCE}/.default`);
    expect(err.message).toContain('AADSTS500011');
  });
});

describe('createServiceNowAuth', () => {
  const env = {
    KEY_VAULT_URL: 'https://kv.vault.azure.net/',
    MAIL_SENDER: 'sender@contoso.com',
    PUBLIC_BASE_URL: 'https://func.azurewebsites.net',
    AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    TASKHUB_NAME: 'hub1',
    AzureWebJobsStorage__tableServiceUri: 'https://st.table.core.windows.net',
    APPROVERS: 'approver@contoso.com',
  };

  it('selects token auth by default, reading no secret, and Basic only when asked', async () => {
    const reads: string[] = [];
    const credential = new StubCredential();
    const entra = createServiceNowAuth(
      loadConfig({ ...env, SERVICENOW_TOKEN_AUDIENCE: AUDIENCE }),
      'dev7',
      secretsFrom({}, reads),
      {},
      () => credential,
    );
    expect(entra).toBeInstanceOf(EntraTokenAuthProvider);
    expect(await entra.authorization()).toBe('Bearer at-1');
    expect(credential.scopes).toEqual([`${AUDIENCE}/.default`]);
    expect(reads).toEqual([]);
  });

  it('selects Basic when SERVICENOW_AUTH_MODE=basic and reads {prefix}{instance}-username/-password', async () => {
    const reads: string[] = [];
    const auth = createServiceNowAuth(
      loadConfig({ ...env, SERVICENOW_AUTH_MODE: 'basic', SERVICENOW_CREDENTIAL_SECRET_PREFIX: 'sn-' }),
      'dev7',
      secretsFrom({ 'sn-dev7-username': 'admin', 'sn-dev7-password': 'pa55-word-1' }, reads),
    );
    expect(auth).toBeInstanceOf(BasicAuthProvider);
    expect(await auth.authorization()).toBe(`Basic ${Buffer.from('admin:pa55-word-1').toString('base64')}`);
    expect(reads.sort()).toEqual(['sn-dev7-password', 'sn-dev7-username']);
  });

  it('selects OAuth when SERVICENOW_AUTH_MODE=oauth', () => {
    const auth = createServiceNowAuth(
      loadConfig({ ...env, SERVICENOW_AUTH_MODE: 'oauth' }),
      'dev7',
      secretsFrom({}, []),
    );
    expect(auth.kind).toBe('oauth');
  });

  it('re-reads Key Vault after invalidate() (a rotated password is picked up)', async () => {
    const values = { 'servicenow-dev7-username': 'admin', 'servicenow-dev7-password': 'old-Password-1' };
    const auth = createServiceNowAuth(
      loadConfig({ ...env, SERVICENOW_AUTH_MODE: 'basic' }),
      'dev7',
      secretsFrom(values, []),
    );
    const before = await auth.authorization();
    values['servicenow-dev7-password'] = 'new-Password-2';
    expect(await auth.authorization()).toBe(before);
    auth.invalidate();
    expect(await auth.authorization()).toBe(`Basic ${Buffer.from('admin:new-Password-2').toString('base64')}`);
  });
});

describe('forgetting credentials while a token request is in flight', () => {
  it('forgetCredentials() during an in-flight OAuth token request: the next call reads Key Vault again (what is stored now)', async () => {
    const reads: string[] = [];
    const release: Array<() => void> = [];
    const secrets: SecretReader = {
      getSecret: async (name: string) => {
        reads.push(name);
        await new Promise<void>((r) => release.push(r)); // Key Vault answers when the test says so
        return { name, value: `value-of-${name}`, properties: { name, vaultUrl: 'https://kv' } };
      },
    };
    const auth = new OAuthClientCredentialsProvider({
      secrets,
      clientIdSecret: 'sn-dev1-client-id',
      clientSecretSecret: 'sn-dev1-client-secret',
      instanceUrl: 'https://127.0.0.1:9', // never reached in a way that matters: nothing listens
      timeoutMs: 1_000,
    });
    const client = new ServiceNowClient({ instanceUrl: 'https://127.0.0.1:9', auth });
    try {
      // Another activity on the same instance starts a token request (reads the admin secrets)...
      const other = auth.authorization().catch(() => 'failed');
      await new Promise((r) => setImmediate(r));
      expect(reads).toEqual(['sn-dev1-client-id', 'sn-dev1-client-secret']);

      // ...the operator fixes the secret in Key Vault and re-runs: the preflight forgets, then asks for a header.
      client.forgetCredentials();
      const preflight = auth.authorization().catch(() => 'failed');
      await new Promise((r) => setImmediate(r));

      // It must read the secrets afresh; today it joins the older in-flight request (reads stay at 2).
      expect(reads).toEqual([
        'sn-dev1-client-id',
        'sn-dev1-client-secret',
        'sn-dev1-client-id',
        'sn-dev1-client-secret',
      ]);
      release.splice(0).forEach((r) => r());
      await Promise.all([other, preflight]);
    } finally {
      for (let i = 0; i < 5; i++) {
        release.splice(0).forEach((r) => r());
        await new Promise((r) => setImmediate(r));
      }
    }
  });
});
