import { ClientSecretCredential } from '@azure/identity';
import axios, { type AxiosResponse } from 'axios';

import { SandboxClock } from '../../../sandbox/core/clock';
import { FaultInjector } from '../../../sandbox/core/faults';
import { Journal } from '../../../sandbox/core/journal';
import { decodeJwt, verifyJwt, type Claims, type Jwk } from '../../../sandbox/core/jwt';
import { serve, type RunningServer } from '../../../sandbox/core/server';
import { loadTls } from '../../../sandbox/core/tls';
import { Directory, GRAPH_APP_ID, type Application } from '../../../sandbox/directory';
import { createEntra } from '../../../sandbox/entra';

const GRAPH_STAND_IN = 'https://127.0.0.1:64999';
const SECRET_DELAY_MS = 10_000;
const APP_DELAY_MS = 5_000;

type Json = Record<string, unknown>;

describe('Entra stand-in', () => {
  const clock = new SandboxClock();
  const directory = new Directory(clock);
  const faults = new FaultInjector(1);
  const journal = new Journal();
  const tls = loadTls();
  let entra: RunningServer;
  let delayed: RunningServer;
  const tid = directory.tenantId;
  const fn = () => directory.functionIdentity;

  beforeAll(async () => {
    let origin = '';
    entra = await serve({
      standIn: createEntra({ clock, directory, origin: () => origin, graphOrigin: () => GRAPH_STAND_IN }),
      tls,
      clock,
      faults,
      journal,
    });
    origin = entra.origin;
    let delayedOrigin = '';
    delayed = await serve({
      standIn: createEntra(
        { clock, directory, origin: () => delayedOrigin, graphOrigin: () => GRAPH_STAND_IN },
        { secretPropagationDelayMs: SECRET_DELAY_MS, appPropagationDelayMs: APP_DELAY_MS },
      ),
      tls,
      clock,
      faults,
      journal,
    });
    delayedOrigin = delayed.origin;
  });
  afterAll(async () => {
    await entra.close();
    await delayed.close();
  });
  beforeEach(() => {
    clock.reset();
    faults.clear();
    journal.clear();
    directory.reset();
  });

  const post = (
    path: string,
    form: Record<string, string>,
    opts: { origin?: string; headers?: Record<string, string> } = {},
  ): Promise<AxiosResponse<Json>> =>
    axios.post<Json>(`${opts.origin ?? entra.origin}${path}`, new URLSearchParams(form).toString(), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...opts.headers },
      validateStatus: () => true,
    });
  const get = (path: string): Promise<AxiosResponse<Json>> =>
    axios.get<Json>(`${entra.origin}${path}`, { validateStatus: () => true });

  const v1 = (form: Record<string, string>, opts?: Parameters<typeof post>[2]) =>
    post(`/${tid}/oauth2/token`, form, opts);
  const v2 = (form: Record<string, string>, opts?: Parameters<typeof post>[2]) =>
    post(`/${tid}/oauth2/v2.0/token?client-request-id=6f0d2d46-7b7c-4a57-9a3b-6a7e0f0b9d10`, form, opts);
  const fnForm = (extra: Record<string, string>) => ({
    grant_type: 'client_credentials',
    client_id: fn().clientId,
    client_secret: fn().clientSecret,
    ...extra,
  });

  /** An app with a service principal and a secret usable at once (created before "now"). */
  function seedApp(displayName: string, init: Partial<Application> = {}) {
    const app = directory.addApplication({ displayName, createdAt: 0, ...init });
    const sp = directory.addServicePrincipal({ appId: app.appId, displayName, createdAt: 0 });
    const { secretText, credential } = directory.addPassword(app, {});
    credential.createdAt = 0;
    return { app, sp, secret: secretText, credential };
  }

  const claimsOf = (token: unknown): Claims => {
    const decoded = decodeJwt(String(token));
    if (!decoded) throw new Error('not a JWT');
    return decoded.claims;
  };

  function expectAadsts(r: AxiosResponse<Json>, status: number, error: string, code: number) {
    expect(r.status).toBe(status);
    expect(r.data).toMatchObject({ error, error_codes: [code] });
    expect(r.data.error_description).toMatch(
      new RegExp(
        `^AADSTS${code}: .+\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [0-9a-f-]{36}\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`,
        's',
      ),
    );
    expect(r.data.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    expect(r.data.trace_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.data.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.data.error_uri).toBe(`https://login.microsoftonline.com/error?code=${code}`);
    expect(r.headers['cache-control']).toBe('no-store, no-cache');
  }

  describe('with the real ClientSecretCredential', () => {
    const credential = (secret = fn().clientSecret, tenant: string = tid) =>
      new ClientSecretCredential(tenant, fn().clientId, secret, {
        authorityHost: entra.origin,
        disableInstanceDiscovery: true,
      });

    it('gets a v1.0 Graph token for the Function App identity with its app roles', async () => {
      const token = await credential().getToken('https://graph.microsoft.com/.default');
      expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000 * 1000);
      const claims = claimsOf(token.token);
      expect(claims).toMatchObject({
        aud: 'https://graph.microsoft.com',
        iss: `https://sts.windows.net/${tid}/`,
        idp: `https://sts.windows.net/${tid}/`,
        ver: '1.0',
        tid,
        appid: fn().clientId,
        appidacr: '1',
        oid: fn().servicePrincipalId,
        sub: fn().servicePrincipalId,
        idtyp: 'app',
      });
      expect(claims.roles).toEqual(expect.arrayContaining(['Application.ReadWrite.OwnedBy', 'Mail.Send']));
      expect(claims).not.toHaveProperty('azp');
      expect(journal.entries().map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([
        `GET /${tid}/v2.0/.well-known/openid-configuration 200`,
        `POST /${tid}/oauth2/v2.0/token 200`,
      ]);
    });

    it('also works with the verified domain as tenant', async () => {
      const token = await credential(fn().clientSecret, directory.tenantDomain).getToken(
        'https://vault.azure.net/.default',
      );
      const claims = claimsOf(token.token);
      expect(claims).toMatchObject({ aud: 'https://vault.azure.net', tid, ver: '1.0' });
      expect(claims).not.toHaveProperty('roles');
    });

    it('surfaces a wrong secret as AADSTS7000215 from the SDK', async () => {
      await expect(credential('not-the-secret').getToken('https://graph.microsoft.com/.default')).rejects.toThrow(
        /7000215/,
      );
    });
  });

  describe('successful grants', () => {
    it('answers v1 with every number as a string and echoes the resource', async () => {
      const r = await v1(fnForm({ resource: 'https://graph.microsoft.com' }));
      expect(r.status).toBe(200);
      expect(Object.keys(r.data)).toEqual([
        'token_type',
        'expires_in',
        'ext_expires_in',
        'expires_on',
        'not_before',
        'resource',
        'access_token',
      ]);
      expect(r.data).toMatchObject({
        token_type: 'Bearer',
        expires_in: '3599',
        ext_expires_in: '3599',
        resource: 'https://graph.microsoft.com',
      });
      const claims = claimsOf(r.data.access_token);
      expect(r.data.expires_on).toBe(String(claims.exp));
      expect(r.data.not_before).toBe(String(claims.nbf));
      expect(claims.exp).toBe(clock.seconds() + 3599);
      expect(claims.nbf).toBe(claims.iat);
      expect(Number(claims.iat)).toBeLessThanOrEqual(clock.seconds() - 300);
      expect(r.headers['cache-control']).toBe('no-store, no-cache');
    });

    it('answers v2 with numbers, accepting HTTP Basic client authentication', async () => {
      const basic = Buffer.from(
        `${encodeURIComponent(fn().clientId)}:${encodeURIComponent(fn().clientSecret)}`,
      ).toString('base64');
      const r = await v2(
        { grant_type: 'client_credentials', scope: 'https://graph.microsoft.com/.default' },
        { headers: { Authorization: `Basic ${basic}` } },
      );
      expect(r.status).toBe(200);
      expect(r.data).toEqual({
        token_type: 'Bearer',
        expires_in: 3599,
        ext_expires_in: 3599,
        access_token: expect.any(String) as unknown,
      });
      expect(r.headers['client-request-id']).toBe('6f0d2d46-7b7c-4a57-9a3b-6a7e0f0b9d10');
    });

    it('treats the Graph stand-in origin as Microsoft Graph', async () => {
      const r = await v2(fnForm({ scope: `${GRAPH_STAND_IN}/.default` }));
      expect(r.status).toBe(200);
      const claims = claimsOf(r.data.access_token);
      expect(claims.aud).toBe('https://graph.microsoft.com');
      expect(claims.roles).toEqual(expect.arrayContaining(['Mail.Send']));
    });

    it('issues a v1.0 token for an app resource with aud = its appId and appid = the caller', async () => {
      const api = seedApp('Rest API');
      const caller = seedApp('Caller');
      const r = await v1({
        grant_type: 'client_credentials',
        client_id: caller.app.appId,
        client_secret: caller.secret,
        resource: api.app.appId,
      });
      expect(r.status).toBe(200);
      const claims = claimsOf(r.data.access_token);
      expect(claims).toMatchObject({ aud: api.app.appId, appid: caller.app.appId, oid: caller.sp.id, ver: '1.0' });
      expect(claims).not.toHaveProperty('roles');
      expect(claims).not.toHaveProperty('idtyp');
    });

    it('lets the resource decide: a v2.0 resource gets a v2.0 token even from the v1 endpoint', async () => {
      const api = seedApp('v2 API', { api: { requestedAccessTokenVersion: 2 }, identifierUris: [] });
      api.sp.servicePrincipalNames.push('api://v2-api');
      api.sp.appRoles.push({ id: 'c7c4c1a4-3a5b-4f0e-9c55-2f1f5c6f4a01', value: 'Tickets.Read' });
      const caller = seedApp('Caller');
      directory.appRoleAssignments.push({
        id: 'a1',
        principalId: caller.sp.id,
        resourceId: api.sp.id,
        appRoleId: 'c7c4c1a4-3a5b-4f0e-9c55-2f1f5c6f4a01',
      });
      const r = await v1({
        grant_type: 'client_credentials',
        client_id: caller.app.appId,
        client_secret: caller.secret,
        resource: 'api://v2-api',
      });
      expect(r.status).toBe(200);
      const claims = claimsOf(r.data.access_token);
      expect(claims).toMatchObject({
        aud: api.app.appId,
        iss: `https://login.microsoftonline.com/${tid}/v2.0`,
        azp: caller.app.appId,
        azpacr: '1',
        ver: '2.0',
        roles: ['Tickets.Read'],
      });
      expect(claims).not.toHaveProperty('appid');
    });
  });

  describe('AADSTS errors', () => {
    it('7000215 for a wrong secret (401 invalid_client), naming the app, echoing client-request-id', async () => {
      const r = await v2(fnForm({ client_secret: 'wrong', scope: 'https://graph.microsoft.com/.default' }));
      expectAadsts(r, 401, 'invalid_client', 7000215);
      expect(r.data.error_description).toContain(`for a secret added to app '${fn().clientId}'`);
      expect(r.data.correlation_id).toBe('6f0d2d46-7b7c-4a57-9a3b-6a7e0f0b9d10');
      expect(JSON.stringify(r.data)).not.toContain(fn().clientSecret);
    });

    it('700016 for an unknown app (400 unauthorized_client)', async () => {
      const r = await v1(fnForm({ client_id: '11111111-2222-3333-4444-555555555555', resource: GRAPH_APP_ID }));
      expectAadsts(r, 400, 'unauthorized_client', 700016);
      expect(r.data.error_description).toContain("Application with identifier '11111111-2222-3333-4444-555555555555'");
    });

    it('90002 for an unknown tenant (400 invalid_request)', async () => {
      const r = await post(
        '/fabrikam.onmicrosoft.com/oauth2/v2.0/token',
        fnForm({ scope: `${GRAPH_APP_ID}/.default` }),
      );
      expectAadsts(r, 400, 'invalid_request', 90002);
      expect(r.data.error_description).toContain("Tenant 'fabrikam.onmicrosoft.com' not found");
    });

    it('7000222 once the clock passes the secret endDateTime (401 invalid_client)', async () => {
      const { app, secret } = seedApp('Expiring');
      const form = {
        grant_type: 'client_credentials',
        client_id: app.appId,
        client_secret: secret,
        scope: 'https://graph.microsoft.com/.default',
      };
      expect((await v2(form)).status).toBe(200);
      clock.advance(2 * 365 * 24 * 3600 * 1000 + 1000);
      expectAadsts(await v2(form), 401, 'invalid_client', 7000222);
    });

    it('refuses a new secret as 7000215 during the propagation delay, then accepts it', async () => {
      const { app } = seedApp('Rotating');
      const { secretText } = directory.addPassword(app, { displayName: 'rotated' });
      const form = {
        grant_type: 'client_credentials',
        client_id: app.appId,
        client_secret: secretText,
        resource: 'https://graph.microsoft.com',
      };
      expectAadsts(await v1(form, { origin: delayed.origin }), 401, 'invalid_client', 7000215);
      clock.advance(SECRET_DELAY_MS);
      expect((await v1(form, { origin: delayed.origin })).status).toBe(200);
    });

    it('does not know a newly created app during the app propagation delay (700016)', async () => {
      const app = directory.addApplication({ displayName: 'Fresh' });
      directory.addServicePrincipal({ appId: app.appId, displayName: 'Fresh' });
      const { secretText } = directory.addPassword(app, {});
      const form = { grant_type: 'client_credentials', client_id: app.appId, client_secret: secretText };
      const ask = () => v1({ ...form, resource: 'https://vault.azure.net' }, { origin: delayed.origin });
      expectAadsts(await ask(), 400, 'unauthorized_client', 700016);
      clock.advance(SECRET_DELAY_MS);
      expect((await ask()).status).toBe(200);
    });

    it('500011 for an unknown resource (400 invalid_resource)', async () => {
      const r = await v2(fnForm({ scope: 'api://nobody-here/.default' }));
      expectAadsts(r, 400, 'invalid_resource', 500011);
      expect(r.data.error_description).toContain('The resource principal named api://nobody-here was not found');
    });

    it.each([
      ['grant_type', 'v1', { client_id: 'x', resource: 'y' }],
      ['client_id', 'v1', { grant_type: 'client_credentials', resource: 'y' }],
      ['resource', 'v1', { grant_type: 'client_credentials', client_id: 'x' }],
      ['scope', 'v2', { grant_type: 'client_credentials', client_id: 'x' }],
    ] as const)('900144 for a missing %s (%s)', async (name, endpoint, form) => {
      const r = await (endpoint === 'v1' ? v1(form) : v2(form));
      expectAadsts(r, 400, 'invalid_request', 900144);
      expect(r.data.error_description).toContain(`The request body must contain the following parameter: '${name}'.`);
    });

    it('900144 for parameters outside a form body (JSON or query string)', async () => {
      const json = await axios.post<Json>(`${entra.origin}/${tid}/oauth2/token`, fnForm({ resource: GRAPH_APP_ID }), {
        validateStatus: () => true,
      });
      expectAadsts(json, 400, 'invalid_request', 900144);
      const query = await post(`/${tid}/oauth2/token?grant_type=client_credentials`, { client_id: 'x' });
      expect(query.data.error_codes).toEqual([900144]);
    });

    it('70003 for another grant type', async () => {
      const r = await v2(fnForm({ grant_type: 'password', scope: `${GRAPH_APP_ID}/.default` }));
      expectAadsts(r, 400, 'unsupported_grant_type', 70003);
    });

    it('1002012 for a v2 scope without /.default, 70011 for several resources', async () => {
      expectAadsts(await v2(fnForm({ scope: 'https://graph.microsoft.com/Mail.Send' })), 400, 'invalid_scope', 1002012);
      expectAadsts(
        await v2(fnForm({ scope: 'https://graph.microsoft.com/.default https://vault.azure.net/.default' })),
        400,
        'invalid_scope',
        70011,
      );
    });

    it('7000216 for a client-credentials request without a secret or assertion, on both endpoints', async () => {
      const { client_secret: _v1, ...noSecretV1 } = fnForm({ resource: GRAPH_APP_ID });
      const r1 = await v1(noSecretV1);
      expectAadsts(r1, 401, 'invalid_client', 7000216);
      expect(r1.data.error_description).toMatch(
        /^AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type\.\r\n/,
      );
      const { client_secret: _v2, ...noSecretV2 } = fnForm({ scope: 'https://graph.microsoft.com/.default' });
      expectAadsts(await v2(noSecretV2), 401, 'invalid_client', 7000216);
      // An empty secret counts as none.
      expectAadsts(
        await v2(fnForm({ client_secret: '', scope: 'https://graph.microsoft.com/.default' })),
        401,
        'invalid_client',
        7000216,
      );
    });

    it('70021 for a client assertion whose issuer is neither the client nor a federated issuer of the app', async () => {
      const { client_secret: _omit, ...noSecret } = fnForm({ scope: 'https://graph.microsoft.com/.default' });
      const r = await v2({
        ...noSecret,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
      });
      expectAadsts(r, 400, 'invalid_request', 70021);
      expect(r.data.error_description).toContain("Assertion Subject: 'x'");
    });

    it('7000229 for an app without a service principal', async () => {
      const app = directory.addApplication({ displayName: 'No SP', createdAt: 0 });
      const { secretText } = directory.addPassword(app, {});
      const r = await v1({
        grant_type: 'client_credentials',
        client_id: app.appId,
        client_secret: secretText,
        resource: GRAPH_APP_ID,
      });
      expectAadsts(r, 400, 'invalid_client', 7000229);
      expect(r.data.error_description).toContain(`${app.appId} is missing service principal in the tenant ${tid}`);
    });

    it('900561 for a GET on a token endpoint; 404 for unknown routes', async () => {
      expectAadsts(await get(`/${tid}/oauth2/v2.0/token`), 400, 'invalid_request', 900561);
      const r = await get(`/${tid}/oauth2/v2.0/nothing`);
      expect(r.status).toBe(404);
    });
  });

  describe('discovery and keys', () => {
    it('serves the v2 document by GUID or domain with endpoints on the stand-in and the real issuer', async () => {
      for (const tenant of [tid, directory.tenantDomain]) {
        const r = await get(`/${tenant}/v2.0/.well-known/openid-configuration`);
        expect(r.status).toBe(200);
        expect(r.headers['cache-control']).toBe('max-age=86400, private');
        expect(r.data).toMatchObject({
          issuer: `https://login.microsoftonline.com/${tid}/v2.0`,
          token_endpoint: `${entra.origin}/${tid}/oauth2/v2.0/token`,
          authorization_endpoint: `${entra.origin}/${tid}/oauth2/v2.0/authorize`,
          jwks_uri: `${entra.origin}/${tid}/discovery/v2.0/keys`,
          token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
          id_token_signing_alg_values_supported: ['RS256'],
          scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
          cloud_instance_name: 'microsoftonline.com',
        });
      }
    });

    it('serves the v1 document with the sts.windows.net issuer and the common key set', async () => {
      const r = await get(`/${tid}/.well-known/openid-configuration`);
      expect(r.status).toBe(200);
      expect(r.data).toMatchObject({
        issuer: `https://sts.windows.net/${tid}/`,
        token_endpoint: `${entra.origin}/${tid}/oauth2/token`,
        jwks_uri: `${entra.origin}/common/discovery/keys`,
        subject_types_supported: ['pairwise'],
        msgraph_host: 'graph.microsoft.com',
      });
    });

    it('answers an unknown tenant with 400 invalid_tenant / 90002', async () => {
      const r = await get('/not-a-tenant/v2.0/.well-known/openid-configuration');
      expect(r.status).toBe(400);
      expect(r.data).toMatchObject({ error: 'invalid_tenant', error_codes: [90002] });
      expect((await get('/not-a-tenant/discovery/v2.0/keys')).status).toBe(400);
    });

    it('publishes keys on all four paths that verify issued tokens', async () => {
      const token = (await v1(fnForm({ resource: 'https://graph.microsoft.com' }))).data.access_token as string;
      const v1Doc = (await get(`/${tid}/.well-known/openid-configuration`)).data;
      const v2Doc = (await get(`/${tid}/v2.0/.well-known/openid-configuration`)).data;
      for (const path of [
        new URL(String(v1Doc.jwks_uri)).pathname,
        new URL(String(v2Doc.jwks_uri)).pathname,
        `/${tid}/discovery/keys`,
        '/common/discovery/v2.0/keys',
      ]) {
        const r = await get(path);
        expect(r.status).toBe(200);
        expect(r.headers['cache-control']).toBe('max-age=86400, private');
        const keys = (r.data as { keys: Jwk[] }).keys;
        expect(keys[0]).toMatchObject({ kty: 'RSA', use: 'sig', kid: directory.signingKey.kid });
        const verdict = await verifyJwt(token, {
          keys,
          now: clock.seconds(),
          audiences: ['https://graph.microsoft.com'],
          issuers: [String(v1Doc.issuer)],
        });
        expect(verdict).toMatchObject({ ok: true });
      }
      const tampered = await verifyJwt(token.slice(0, -4) + 'AAAA', {
        keys: (await get('/common/discovery/keys')).data.keys as Jwk[],
        now: clock.seconds(),
      });
      expect(tampered).toMatchObject({ ok: false });
    });
  });

  describe('journal and faults', () => {
    it('redacts the client secret and records the authenticated app', async () => {
      await v2(fnForm({ scope: 'https://graph.microsoft.com/.default' }));
      await v2(fnForm({ client_secret: 'canary-wrong-secret', scope: 'https://graph.microsoft.com/.default' }));
      const [ok, bad] = journal.entries();
      expect(ok.authSubject).toBe(`app:${fn().clientId}`);
      expect(ok.body).toMatchObject({ client_secret: '[redacted]', client_id: fn().clientId });
      expect(bad.authSubject).toBeUndefined();
      const text = JSON.stringify(journal.entries());
      expect(text).not.toContain(fn().clientSecret);
      expect(text).not.toContain('canary-wrong-secret');
    });

    it('answers an injected 429 in the Entra error shape, keeping the given headers', async () => {
      faults.add({
        service: 'entra',
        method: 'POST',
        path: 'oauth2/v2.0/token$',
        action: { type: 'status', status: 429, headers: { 'Retry-After': '7' } },
        times: 1,
      });
      const r = await v2(fnForm({ scope: 'https://graph.microsoft.com/.default' }));
      expect(r.status).toBe(429);
      expect(r.headers['retry-after']).toBe('7');
      expect(r.data).toMatchObject({ error: 'temporarily_unavailable', error_codes: [expect.any(Number)] });
      expect(String(r.data.error_description)).toMatch(/^AADSTS\d+: /);
      expect((await v2(fnForm({ scope: 'https://graph.microsoft.com/.default' }))).status).toBe(200);
    });
  });
});
