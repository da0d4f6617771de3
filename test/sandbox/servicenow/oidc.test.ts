import { SigningKey } from '../../../sandbox/core/jwt';
import type { StandIn } from '../../../sandbox/core/types';
import { INSTANCE, startIssuer, startServiceNow, type Harness } from './helpers';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const REST_API_APP = '11111111-2222-3333-4444-555555555555';
const REST_USER_APP = '66666666-7777-8888-9999-000000000000';

/** A v1-style issuer: discovery document at /{tenant}/.well-known/openid-configuration and a JWKS. */
const metadataFetches: string[] = [];

const issuerStandIn =
  (key: SigningKey) =>
  (origin: () => string): StandIn => ({
    service: 'entra',
    reset: () => undefined,
    async handle(req) {
      if (req.path === `/${TENANT}/.well-known/openid-configuration`) {
        metadataFetches.push(req.path);
        return {
          status: 200,
          body: {
            issuer: `${origin()}/${TENANT}/`,
            jwks_uri: `${origin()}/common/discovery/keys`,
            token_endpoint: `${origin()}/${TENANT}/oauth2/token`,
          },
        };
      }
      if (req.path === '/common/discovery/keys') return { status: 200, body: { keys: [key.jwk()] } };
      return { status: 404 };
    },
  });

describe('ServiceNow stand-in: inbound OIDC bearer tokens', () => {
  const key = new SigningKey();
  const other = new SigningKey();
  let h: Harness;
  let issuer: { server: { close(): Promise<void> }; origin: string };
  let configId: string;
  let userId: string;

  const token = (claims: Record<string, unknown> = {}, signer = key) => {
    const now = h.clock.seconds();
    return signer.sign({
      aud: REST_API_APP,
      iss: `${issuer.origin}/${TENANT}/`,
      appid: REST_USER_APP,
      ver: '1.0',
      iat: now,
      nbf: now,
      exp: now + 3600,
      ...claims,
    });
  };
  const incidents = (t: string) => h.as({ bearer: t }).get('/api/now/table/incident', { params: { sysparm_limit: 1 } });

  beforeAll(async () => {
    h = await startServiceNow();
    issuer = await startIssuer(issuerStandIn(key));
  });
  afterAll(async () => {
    await h.close();
    await issuer.server.close();
  });
  beforeEach(() => {
    h.sn.reset();
    configId = h.sn.seedRecord(INSTANCE, 'oidc_provider_configuration', {
      name: 'Contoso Azure',
      oidc_url: `${issuer.origin}/${TENANT}/.well-known/openid-configuration`,
      user_claim: 'appid',
      user_field: 'user_name',
    });
    h.sn.seedRecord(INSTANCE, 'oauth_oidc_entity', {
      name: 'contoso_application_inbound_api',
      client_id: REST_API_APP,
      client_secret: 'rest-api-secret',
      oidc_provider_configuration: configId,
    });
    userId = h.sn.seedRecord(INSTANCE, 'sys_user', { user_name: REST_USER_APP, web_service_access_only: 'true' });
    const role = h.sn.records(INSTANCE, 'sys_user_role').find((r) => r.values.name === 'incident_manager')!;
    h.sn.seedRecord(INSTANCE, 'sys_user_has_role', { user: userId, role: role.values.sys_id });
  });

  it('accepts a correct token and runs the call as the mapped user', async () => {
    const r = await incidents(await token());
    expect(r.status).toBe(200);
    expect(r.data.result).toHaveLength(1);
    expect(h.journal.entries().at(-1)?.authSubject).toBe(`user:${REST_USER_APP}`);
  });

  it('refuses a token whose audience matches no active OIDC entity', async () => {
    const r = await incidents(await token({ aud: 'api://someone-else' }));
    expect(r.status).toBe(401);
    expect(r.data).toEqual({
      error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' },
      status: 'failure',
    });
  });

  it('refuses when the configured user claim does not map to a user', async () => {
    const config = h.sn.records(INSTANCE, 'oidc_provider_configuration').find((c) => c.values.sys_id === configId)!;
    config.values.user_claim = 'oid';
    expect((await incidents(await token({ oid: 'no-such-user' }))).status).toBe(401);
  });

  it('refuses an inactive user', async () => {
    h.sn.records(INSTANCE, 'sys_user').find((u) => u.values.sys_id === userId)!.values.active = 'false';
    expect((await incidents(await token())).status).toBe(401);
  });

  it('answers 403 for a mapped user without ticket roles', async () => {
    for (const r of h.sn.records(INSTANCE, 'sys_user_has_role'))
      if (r.values.user === userId) r.values.state = 'inactive';
    const r = await incidents(await token());
    expect(r.status).toBe(403);
    expect(r.data.status).toBe('failure');
  });

  it('refuses an expired token beyond the 300 s clock skew, accepts one within it', async () => {
    const now = h.clock.seconds();
    expect((await incidents(await token({ exp: now - 100 }))).status).toBe(200);
    expect((await incidents(await token({ exp: now - 400 }))).status).toBe(401);
  });

  it('refuses a bad signature and a wrong issuer', async () => {
    expect((await incidents(await token({}, other))).status).toBe(401);
    const [head, , sig] = (await token()).split('.');
    const forged = Buffer.from(
      JSON.stringify({ aud: REST_API_APP, appid: 'admin', exp: h.clock.seconds() + 600 }),
    ).toString('base64url');
    expect((await incidents(`${head}.${forged}.${sig}`)).status).toBe(401);
    expect((await incidents(await token({ iss: 'https://sts.windows.net/other/' }))).status).toBe(401);
  });

  it('refuses a token for an inactive OIDC entity', async () => {
    h.sn.records(INSTANCE, 'oauth_oidc_entity')[0].values.active = 'false';
    expect((await incidents(await token())).status).toBe(401);
  });

  it('caches provider metadata until the cache life span passes or the cache is cleared', async () => {
    h.sn.clearOidcCache();
    metadataFetches.length = 0;
    await incidents(await token());
    await incidents(await token());
    expect(metadataFetches).toHaveLength(1);
    h.clock.advance(5 * 60_000 + 1);
    await incidents(await token());
    expect(metadataFetches).toHaveLength(2);
    h.sn.clearOidcCache();
    expect((await incidents(await token())).status).toBe(200);
    expect(metadataFetches).toHaveLength(3);
  });
});
