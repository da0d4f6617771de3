import { fetchOpenIdMetadata, requestTokenV1, requestTokenV2, stripTraceIds } from '../../src/clients/entra';
import { ExternalServiceError } from '../../src/lib/errors';
import { SandboxClock } from '../../sandbox/core/clock';
import { FaultInjector } from '../../sandbox/core/faults';
import { Journal } from '../../sandbox/core/journal';
import { serve, type RunningServer } from '../../sandbox/core/server';
import { loadTls } from '../../sandbox/core/tls';
import type { SandboxRequest, StandIn } from '../../sandbox/core/types';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SECRET = 'Ab38Q~right-secret-value-0123456789abcdef';
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const JWT = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ appid: 'app-1', tid: TENANT, aud: 'https://graph.microsoft.com', ver: '1.0' })}.sig`;

describe('Entra token endpoints over HTTPS', () => {
  const seen: SandboxRequest[] = [];
  const faults = new FaultInjector();
  let server: RunningServer;
  const standIn: StandIn = {
    service: 'entra',
    reset: () => undefined,
    async handle(req) {
      seen.push(req);
      const form = new URLSearchParams(req.body.toString());
      if (req.path === `/${TENANT}/v2.0/.well-known/openid-configuration`)
        return {
          status: 200,
          body: { issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`, token_endpoint: 'x', jwks_uri: 'y' },
        };
      if (req.path.endsWith('/.well-known/openid-configuration'))
        return {
          status: 400,
          body: {
            error: 'invalid_tenant',
            error_description: 'AADSTS90002: Tenant not found.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026',
            error_codes: [90002],
          },
        };
      if (form.get('client_secret') !== SECRET)
        return {
          status: 401,
          body: {
            error: 'invalid_client',
            error_description: `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${form.get('client_id')}'.\r\nTrace ID: 0e1f\r\nCorrelation ID: 9a8b\r\nTimestamp: 2026-01-01 00:00:00Z`,
            error_codes: [7000215],
            trace_id: '0e1f',
            correlation_id: '9a8b',
          },
        };
      if (req.path === `/${TENANT}/oauth2/token`)
        return {
          status: 200,
          body: {
            token_type: 'Bearer',
            expires_in: '599',
            ext_expires_in: '599',
            expires_on: '1900000000',
            not_before: '1',
            resource: form.get('resource'),
            access_token: JWT,
          },
        };
      return {
        status: 200,
        body: { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: 'opaque-token-value' },
      };
    },
  };

  beforeAll(async () => {
    server = await serve({ standIn, tls: loadTls(), clock: new SandboxClock(), faults, journal: new Journal() });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    seen.length = 0;
    faults.clear();
  });

  const base = () => ({ authorityHost: server.origin, tenant: TENANT, clientId: 'app-1', clientSecret: SECRET });

  it('v1: posts resource as a form and reads string numbers and claims', async () => {
    const r = await requestTokenV1({ ...base(), resource: 'https://graph.microsoft.com' });
    expect(r).toEqual({
      ok: true,
      accessToken: JWT,
      expiresOn: 1_900_000_000_000,
      claims: expect.objectContaining({ appid: 'app-1', tid: TENANT }),
    });
    expect(seen[0].path).toBe(`/${TENANT}/oauth2/token`);
    expect(seen[0].headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(seen[0].body.toString()))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'app-1',
      client_secret: SECRET,
      resource: 'https://graph.microsoft.com',
    });
  });

  it('v2: posts scope; an opaque token has no claims', async () => {
    const before = Date.now();
    const r = await requestTokenV2({ ...base(), scope: 'https://graph.microsoft.com/.default' });
    expect(seen[0].path).toBe(`/${TENANT}/oauth2/v2.0/token`);
    expect(new URLSearchParams(seen[0].body.toString()).get('scope')).toBe('https://graph.microsoft.com/.default');
    if (!r.ok) throw new Error('expected a token');
    expect(r.claims).toBeUndefined();
    expect(r.expiresOn).toBeGreaterThanOrEqual(before + 3_599_000);
  });

  it('returns the raw error and AADSTS codes for a wrong secret, without trace ids or the secret', async () => {
    const r = await requestTokenV2({ ...base(), clientSecret: 'wrong-secret-value-xyz', scope: 'api://x/.default' });
    expect(r).toEqual({
      ok: false,
      status: 401,
      error: 'invalid_client',
      errorCodes: [7000215],
      description: expect.stringMatching(/^AADSTS7000215: Invalid client secret provided\./),
      transient: false,
    });
    if (r.ok) return;
    expect(r.description).not.toMatch(/Trace ID|Correlation ID|Timestamp/);
    expect(JSON.stringify(r)).not.toContain('wrong-secret-value-xyz');
  });

  it('turns a dropped connection into a typed, retriable error without the secret', async () => {
    faults.add({ action: { type: 'reset' }, times: 1 });
    const err = (await requestTokenV2({ ...base(), scope: 'x/.default' }).catch(
      (e: unknown) => e,
    )) as ExternalServiceError;
    expect(err).toBeInstanceOf(ExternalServiceError);
    expect(err).toMatchObject({ service: 'entra', code: 'ECONNRESET', retriable: true });
    expect(err.message).not.toContain(SECRET);
  });

  it('marks 429 AADSTS90055 (temporarily_unavailable) as transient and keeps its Retry-After', async () => {
    faults.add({
      action: {
        type: 'status',
        status: 429,
        headers: { 'Retry-After': '7' },
        body: {
          error: 'temporarily_unavailable',
          error_description: 'AADSTS90055: TenantThrottlingError: There are too many incoming requests.',
          error_codes: [90055],
        },
      },
      times: 1,
    });
    const r = await requestTokenV2({ ...base(), scope: 'https://graph.microsoft.com/.default' });
    expect(r).toMatchObject({ ok: false, status: 429, errorCodes: [90055], transient: true, retryAfterMs: 7000 });
  });

  it('fails a request that is never answered at its deadline with a retriable Timeout', async () => {
    faults.add({ action: { type: 'hang' }, times: 1 });
    const err = (await requestTokenV2({ ...base(), scope: 'x/.default', timeoutMs: 300 }).catch(
      (e: unknown) => e,
    )) as ExternalServiceError;
    expect(err).toBeInstanceOf(ExternalServiceError);
    expect(err).toMatchObject({ service: 'entra', code: 'Timeout', retriable: true });
    expect(err.message).not.toContain(SECRET);
  });

  it('fetches OpenID metadata and types an unknown tenant as AADSTS90002', async () => {
    const doc = await fetchOpenIdMetadata(`${server.origin}/${TENANT}/v2.0/.well-known/openid-configuration`);
    expect(doc.issuer).toContain(TENANT);
    await expect(fetchOpenIdMetadata(`${server.origin}/nope/.well-known/openid-configuration`)).rejects.toMatchObject({
      status: 400,
      code: 'AADSTS90002',
      message: expect.not.stringContaining('Trace ID'),
    });
  });
});

describe('stripTraceIds', () => {
  it('keeps the message lines only', () => {
    expect(stripTraceIds('AADSTS700016: App not found.\r\nTrace ID: a\r\nCorrelation ID: b\r\nTimestamp: c')).toBe(
      'AADSTS700016: App not found.',
    );
  });
});
