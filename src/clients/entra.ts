/**
 * Direct calls to the Entra token endpoints, for connectivity checks that need the raw `error` and AADSTS
 * `error_codes` (the SDK credentials wrap them into AuthenticationRequiredError). v1 `/oauth2/token` takes
 * `resource`, v2 `/oauth2/v2.0/token` takes `scope`; v1 answers numbers as strings
 * (docs/reference/microsoft.md#token-endpoints). The client secret is sent in the form body only: never logged, never
 * returned, never in an error.
 */
import axios, { type AxiosResponse } from 'axios';

import { entraEndpoints } from '../config';
import { classify, ExternalServiceError, isTransientEntraFailure, TIMEOUT_CODE } from '../lib/errors';
import { parseRetryAfter } from '../lib/backoff';
import { redactText, registerSecret } from '../lib/redact';

export interface TokenRequestBase {
  authorityHost: string;
  /** Tenant GUID or verified domain. */
  tenant: string;
  clientId: string;
  clientSecret: string;
  /** Deadline of the request; default ENTRA_TIMEOUT_SECONDS as set by `setEntraTimeout` (30 s). */
  timeoutMs?: number;
}

let defaultTimeoutMs = 30_000;

/**
 * The deadline of Entra calls whose caller passes none (ENTRA_TIMEOUT_SECONDS; the composition root, app/deps.ts,
 * sets it from the settings).
 */
export function setEntraTimeout(timeoutMs: number): void {
  defaultTimeoutMs = timeoutMs;
}

export function entraTimeout(): number {
  return defaultTimeoutMs;
}

export type TokenResult =
  | {
      ok: true;
      accessToken: string;
      /** Epoch milliseconds. */
      expiresOn: number;
      /** Decoded payload, not verified: for diagnostics only (appid/azp, tid, aud, roles). */
      claims: Record<string, unknown> | undefined;
    }
  | {
      ok: false;
      status: number;
      error: string;
      errorCodes: number[];
      /** `error_description` without the trace/correlation ids and timestamp lines. */
      description: string;
      /**
       * Retrying later may succeed: 429/5xx, `temporarily_unavailable`, AADSTS90055 (throttled) or AADSTS90033
       * (lib/errors.ts isTransientEntraFailure).
       */
      transient: boolean;
      /** Retry-After, when Entra sent one (throttling). */
      retryAfterMs?: number;
    };

/** Decodes a JWT payload without verifying it; undefined for opaque tokens. */
export function decodeJwtPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const json: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Drops `Trace ID:`, `Correlation ID:` and `Timestamp:` lines from an AADSTS description. */
export function stripTraceIds(description: string): string {
  return description
    .split(/\r?\n/)
    .filter((line) => !/^\s*(Trace ID|Correlation ID|Timestamp):/i.test(line))
    .join('\n')
    .trim();
}

async function postForm(url: string, form: Record<string, string>, timeoutMs: number): Promise<AxiosResponse<unknown>> {
  // axios `timeout` bounds the socket's idle time; the signal bounds the whole exchange (https://axios-http.com/docs/cancellation).
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    return await axios.post<unknown>(url, new URLSearchParams(form).toString(), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      validateStatus: () => true,
      timeout: timeoutMs,
      signal: deadline,
      transitional: { clarifyTimeoutError: true },
      maxRedirects: 0,
    });
  } catch (err) {
    throw networkError(err, url, deadline.aborted, timeoutMs);
  }
}

function networkError(err: unknown, url: string, deadlinePassed: boolean, timeoutMs: number): ExternalServiceError {
  const cls = classify(err);
  const raw = (err as { code?: unknown }).code;
  const c = deadlinePassed || cls.code === TIMEOUT_CODE ? TIMEOUT_CODE : typeof raw === 'string' ? raw : 'NetworkError';
  const where = `${new URL(url).origin}${new URL(url).pathname}`;
  return new ExternalServiceError({
    service: 'entra',
    code: c,
    message:
      c === TIMEOUT_CODE
        ? `Entra request to ${where} got no answer within ${timeoutMs} ms`
        : `Entra request to ${where} failed: ${c}`,
    retriable: c === TIMEOUT_CODE || cls.transient,
  });
}

function toResult(res: AxiosResponse<unknown>, now: number): TokenResult {
  const body = (res.data && typeof res.data === 'object' ? res.data : {}) as Record<string, unknown>;
  const token = body.access_token;
  if (res.status === 200 && typeof token === 'string' && token.length) {
    registerSecret(token);
    const expiresOnRaw = Number(body.expires_on);
    const expiresIn = Number(body.expires_in);
    const expiresOn =
      Number.isFinite(expiresOnRaw) && expiresOnRaw > 0
        ? expiresOnRaw * 1000
        : now + (Number.isFinite(expiresIn) ? expiresIn : 0) * 1000;
    return { ok: true, accessToken: token, expiresOn, claims: decodeJwtPayload(token) };
  }
  const codes = Array.isArray(body.error_codes) ? body.error_codes.map(Number).filter(Number.isFinite) : [];
  const description = typeof body.error_description === 'string' ? body.error_description : '';
  const error = typeof body.error === 'string' ? body.error : `http_${res.status}`;
  const retryAfter = res.headers['retry-after'] as unknown;
  const retryAfterMs = parseRetryAfter(typeof retryAfter === 'string' ? retryAfter : undefined);
  return {
    ok: false,
    status: res.status,
    error,
    errorCodes: codes,
    description: redactText(stripTraceIds(description)),
    transient: isTransientEntraFailure(res.status, error, codes),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/** Client-credentials token from the v1 endpoint (`resource` = resource URI or app id). */
export async function requestTokenV1(req: TokenRequestBase & { resource: string }): Promise<TokenResult> {
  registerSecret(req.clientSecret);
  const res = await postForm(
    entraEndpoints(req.authorityHost, req.tenant).tokenV1,
    {
      grant_type: 'client_credentials',
      client_id: req.clientId,
      client_secret: req.clientSecret,
      resource: req.resource,
    },
    req.timeoutMs ?? defaultTimeoutMs,
  );
  return toResult(res, Date.now());
}

/** Client-credentials token from the v2 endpoint (`scope` = one resource + `/.default`). */
export async function requestTokenV2(req: TokenRequestBase & { scope: string }): Promise<TokenResult> {
  registerSecret(req.clientSecret);
  const res = await postForm(
    entraEndpoints(req.authorityHost, req.tenant).tokenV2,
    {
      grant_type: 'client_credentials',
      client_id: req.clientId,
      client_secret: req.clientSecret,
      scope: req.scope,
    },
    req.timeoutMs ?? defaultTimeoutMs,
  );
  return toResult(res, Date.now());
}

/**
 * Client-credentials token with a client assertion (private_key_jwt: `client_assertion_type`
 * urn:ietf:params:oauth:client-assertion-type:jwt-bearer, https://learn.microsoft.com/entra/identity-platform/certificate-credentials)
 * from the v1 (`resource`) or v2 (`scope`) endpoint. The assertion is registered for redaction: never logged.
 */
export async function requestTokenWithAssertion(req: {
  authorityHost: string;
  tenant: string;
  clientId: string;
  clientAssertion: string;
  endpoint: 'v1' | 'v2';
  /** v1: the resource; v2: the scope (`{resource}/.default`). */
  target: string;
  timeoutMs?: number;
}): Promise<TokenResult> {
  registerSecret(req.clientAssertion);
  const endpoints = entraEndpoints(req.authorityHost, req.tenant);
  const res = await postForm(
    req.endpoint === 'v1' ? endpoints.tokenV1 : endpoints.tokenV2,
    {
      grant_type: 'client_credentials',
      client_id: req.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: req.clientAssertion,
      ...(req.endpoint === 'v1' ? { resource: req.target } : { scope: req.target }),
    },
    req.timeoutMs ?? defaultTimeoutMs,
  );
  return toResult(res, Date.now());
}

export interface OpenIdMetadata {
  issuer: string;
  token_endpoint: string;
  jwks_uri: string;
  [key: string]: unknown;
}

/**
 * GETs an OpenID Connect discovery document (docs/reference/microsoft.md#openid-connect-discovery). Non-200 answers
 * (e.g. 400 with AADSTS90002 for an unknown tenant) throw an ExternalServiceError whose code is the first AADSTS code
 * when present.
 */
export async function fetchOpenIdMetadata(url: string, timeoutMs = defaultTimeoutMs): Promise<OpenIdMetadata> {
  let res: AxiosResponse<unknown>;
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    res = await axios.get<unknown>(url, {
      headers: { Accept: 'application/json' },
      validateStatus: () => true,
      timeout: timeoutMs,
      signal: deadline,
      transitional: { clarifyTimeoutError: true },
    });
  } catch (err) {
    throw networkError(err, url, deadline.aborted, timeoutMs);
  }
  const body = (res.data && typeof res.data === 'object' ? res.data : {}) as Record<string, unknown>;
  if (res.status === 200 && typeof body.issuer === 'string' && typeof body.token_endpoint === 'string')
    return body as OpenIdMetadata;
  const codes = Array.isArray(body.error_codes) ? body.error_codes : [];
  const description = typeof body.error_description === 'string' ? stripTraceIds(body.error_description) : '';
  throw new ExternalServiceError({
    service: 'entra',
    status: res.status,
    code: codes.length ? `AADSTS${String(codes[0])}` : typeof body.error === 'string' ? body.error : undefined,
    message: `OpenID metadata ${url} answered ${res.status}${description ? `: ${description}` : ' without a discovery document'}`,
    retriable: isTransientEntraFailure(
      res.status,
      typeof body.error === 'string' ? body.error : undefined,
      codes.map(Number).filter(Number.isFinite),
    ),
  });
}
