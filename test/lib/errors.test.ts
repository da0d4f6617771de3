import {
  AppError,
  classify,
  ensureErrorType,
  ExternalServiceError,
  isRetriableStatus,
  isTransientEntraFailure,
  timeoutError,
  toExternalServiceError,
  UnexpectedError,
} from '../../src/lib/errors';
import { clearRegisteredSecrets, redactText, redactValue, registerSecret } from '../../src/lib/redact';

const JWT =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJlLXZhbHVl';
const ENTRA_SECRET = 'Xy78Q~abcdefghijklmnopqrstuvwxyz0123456';

describe('redactText', () => {
  afterEach(() => clearRegisteredSecrets());

  it('masks bearer and basic authorization values and bare JWTs', () => {
    expect(redactText(`Authorization: Bearer ${JWT}`)).toBe('Authorization: Bearer [redacted]');
    expect(redactText('Authorization: Basic YWRtaW46cGFzc3dvcmQ=')).toBe('Authorization: Basic [redacted]');
    expect(redactText(`token ${JWT} end`)).toBe('token [redacted] end');
  });

  it('masks Entra-format client secrets and secret form parameters', () => {
    expect(redactText(`secret is ${ENTRA_SECRET}.`)).not.toContain(ENTRA_SECRET);
    expect(redactText('grant_type=client_credentials&client_id=abc&client_secret=p%40ss&scope=x')).toBe(
      'grant_type=client_credentials&client_id=abc&client_secret=[redacted]&scope=x',
    );
  });

  it('masks JSON members named like secrets', () => {
    const out = redactText('{"client_secret":"s3cr3t","password":"hunter2","name":"ok","value":"kv-secret"}');
    expect(out).toBe('{"client_secret":"[redacted]","password":"[redacted]","name":"ok","value":"[redacted]"}');
  });

  it('masks registered exact values anywhere', () => {
    registerSecret('plain-looking-password');
    registerSecret('short'); // too short to register: would mask ordinary words
    expect(redactText('login failed for admin/plain-looking-password (short)')).toBe(
      'login failed for admin/[redacted] (short)',
    );
  });
});

describe('redactValue', () => {
  it('masks secret-named fields deeply and keeps the rest', () => {
    expect(
      redactValue({ user: 'admin', password: 'x', nested: { clientSecret: 'y', list: [{ accessToken: 'z' }] }, n: 1 }),
    ).toEqual({
      user: 'admin',
      password: '[redacted]',
      nested: { clientSecret: '[redacted]', list: [{ accessToken: '[redacted]' }] },
      n: 1,
    });
  });
});

describe('ensureErrorType', () => {
  it('passes our own errors through unchanged', () => {
    const e = new ExternalServiceError({
      service: 'graph',
      status: 404,
      code: 'Request_ResourceNotFound',
      message: 'm',
      retriable: false,
    });
    expect(ensureErrorType(e)).toBe(e);
  });

  it('normalises a foreign Error to its name and redacted message, dropping cause and attached request data', () => {
    const foreign = Object.assign(new Error(`request failed with Bearer ${JWT}`), {
      code: 'ECONNRESET',
      config: { headers: { Authorization: `Bearer ${JWT}` }, data: `client_secret=${ENTRA_SECRET}` },
      cause: new Error(ENTRA_SECRET),
    });
    foreign.name = 'AxiosError';
    const safe = ensureErrorType(foreign);
    expect(safe).toBeInstanceOf(UnexpectedError);
    expect(safe.message).toBe('request failed with Bearer [redacted]');
    expect(safe.code).toBe('ECONNRESET');
    expect((safe as UnexpectedError).originalName).toBe('AxiosError');
    const serialised = JSON.stringify({ ...safe, message: safe.message, stack: safe.stack });
    expect(serialised).not.toContain(JWT);
    expect(serialised).not.toContain(ENTRA_SECRET);
  });

  it('wraps thrown strings and objects', () => {
    expect(ensureErrorType('boom').message).toBe('non-error thrown: boom');
    expect(ensureErrorType({ password: 'hunter2' }).message).toBe('non-error thrown: {"password":"[redacted]"}');
    expect(ensureErrorType(undefined)).toBeInstanceOf(AppError);
  });

  it('redacts secrets passed into typed errors', () => {
    const e = new ExternalServiceError({
      service: 'entra',
      status: 401,
      message: `bad secret ${ENTRA_SECRET}`,
      retriable: false,
    });
    expect(e.message).not.toContain(ENTRA_SECRET);
    expect(e.code).toBe('HTTP401');
  });
});

describe('isRetriableStatus', () => {
  it('retries throttling and gateway errors, never client errors', () => {
    expect([408, 429, 500, 502, 503, 504].map(isRetriableStatus)).toEqual([true, true, true, true, true, true]);
    expect([400, 401, 403, 404, 409, 501, 505].map(isRetriableStatus)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('classify (one rule for every client and activity mapper)', () => {
  it('treats throttling, 5xx, resets and timeouts as transient', () => {
    expect(classify({ statusCode: 429 })).toMatchObject({ transient: true, kind: 'throttled', status: 429 });
    expect(classify({ response: { status: 503 } })).toMatchObject({ transient: true, kind: 'unavailable' });
    expect(classify({ code: 'ECONNRESET' })).toMatchObject({ transient: true, kind: 'network', code: 'ECONNRESET' });
    expect(classify({ code: 'EPIPE' })).toMatchObject({ transient: true, kind: 'network' });
    expect(classify(new Error('socket hang up'))).toMatchObject({ transient: true, code: 'ECONNRESET' });
    expect(classify({ code: 'ECONNABORTED' })).toMatchObject({ transient: true, kind: 'timeout', code: 'Timeout' });
    expect(classify(new DOMException('signal timed out', 'TimeoutError'))).toMatchObject({
      transient: true,
      kind: 'timeout',
    });
    // undici: TypeError("fetch failed") with the socket error as its cause.
    expect(classify(new TypeError('fetch failed', { cause: { code: 'UND_ERR_SOCKET' } }))).toMatchObject({
      transient: true,
      code: 'UND_ERR_SOCKET',
    });
  });

  it('treats Entra throttling (429 AADSTS90055, temporarily_unavailable) as transient, a wrong secret not', () => {
    expect(isTransientEntraFailure(429, 'temporarily_unavailable', [90055])).toBe(true);
    expect(isTransientEntraFailure(400, 'temporarily_unavailable', [])).toBe(true);
    expect(isTransientEntraFailure(400, 'invalid_request', [90033])).toBe(true);
    expect(isTransientEntraFailure(401, 'invalid_client', [7000215])).toBe(false);
    const throttled = { statusCode: 429, errorResponse: { error: 'temporarily_unavailable', errorCodes: [90055] } };
    expect(classify(throttled)).toMatchObject({ transient: true, kind: 'throttled', code: 'AADSTS90055' });
    const refused = { statusCode: 401, errorResponse: { error: 'invalid_client', errorCodes: [7000215] } };
    expect(classify(refused)).toMatchObject({ transient: false, kind: 'auth', code: 'AADSTS7000215' });
  });

  it('never treats 400/401/403/404 or unknown errors as transient', () => {
    for (const status of [400, 401, 403, 404]) expect(classify({ statusCode: status }).transient).toBe(false);
    expect(classify(new Error('boom')).transient).toBe(false);
    expect(classify(undefined).transient).toBe(false);
  });

  it("keeps an ExternalServiceError's own retriable decision and adds status and timeout rules", () => {
    const replication = new ExternalServiceError({ service: 'graph', status: 404, message: 'x', retriable: true });
    expect(classify(replication).transient).toBe(true);
    const refused = new ExternalServiceError({ service: 'keyvault', status: 403, message: 'x', retriable: false });
    expect(classify(refused).transient).toBe(false);
    const throttled = new ExternalServiceError({ service: 'servicenow', status: 429, message: 'x', retriable: false });
    expect(classify(throttled).transient).toBe(true);
    const t = timeoutError('keyvault', 'PUT /secrets/x', 1000);
    expect(t).toMatchObject({ code: 'Timeout', retriable: true });
    expect(classify(t)).toMatchObject({ transient: true, kind: 'timeout' });
  });

  it('builds a safe ExternalServiceError from a foreign error', () => {
    const e = toExternalServiceError('graph', { code: 'ETIMEDOUT', message: 'connect ETIMEDOUT' }, 'GET /x');
    expect(e).toMatchObject({ service: 'graph', code: 'Timeout', retriable: true });
    const r = toExternalServiceError('keyvault', { statusCode: 404, code: 'SecretNotFound', message: 'no' }, 'get');
    expect(r).toMatchObject({ status: 404, code: 'SecretNotFound', retriable: false });
  });
});
