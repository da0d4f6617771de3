/**
 * Direct calls to the Entra token endpoints, for connectivity checks that need the raw `error` and AADSTS
 * `error_codes` (the SDK credentials wrap them into AuthenticationRequiredError). v1 `/oauth2/token` takes
 * `resource`, v2 `/oauth2/v2.0/token` takes `scope`; v1 answers numbers as strings (microsoft-apis.md §5.1, §5.2).
 * The client secret is sent in the form body only: never logged, never returned, never in an error.
 */
import axios, { type AxiosResponse } from 'axios';

import { entraEndpoints } from '../config';
import { ExternalServiceError, NETWORK_ERROR_CODES } from '../lib/errors';
import { redactText, registerSecret } from '../lib/redact';

export interface TokenRequestBase {
  authorityHost: string;
  /** Tenant GUID or verified domain. */
  tenant: string;
  clientId: string;
  clientSecret: string;
  timeoutMs?: number;
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
  try {
    return await axios.post<unknown>(url, new URLSearchParams(form).toString(), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      validateStatus: () => true,
      timeout: timeoutMs,
      maxRedirects: 0,
    });
  } catch (err) {
    throw networkError(err, url);
  }
}

function networkError(err: unknown, url: string): ExternalServiceError {
  const code = (err as { code?: unknown }).code;
  const c = typeof code === 'string' ? code : 'NetworkError';
  return new ExternalServiceError({
    service: 'entra',
    code: c,
    message: `Entra request to ${new URL(url).origin}${new URL(url).pathname} failed: ${c}`,
    retriable: NETWORK_ERROR_CODES.has(c),
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
  return {
    ok: false,
    status: res.status,
    error: typeof body.error === 'string' ? body.error : `http_${res.status}`,
    errorCodes: codes,
    description: redactText(stripTraceIds(description)),
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
    req.timeoutMs ?? 30_000,
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
    req.timeoutMs ?? 30_000,
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
 * GETs an OpenID Connect discovery document (§5.4). Non-200 answers (e.g. 400 with AADSTS90002 for an unknown tenant)
 * throw an ExternalServiceError whose code is the first AADSTS code when present.
 */
export async function fetchOpenIdMetadata(url: string, timeoutMs = 30_000): Promise<OpenIdMetadata> {
  let res: AxiosResponse<unknown>;
  try {
    res = await axios.get<unknown>(url, {
      headers: { Accept: 'application/json' },
      validateStatus: () => true,
      timeout: timeoutMs,
    });
  } catch (err) {
    throw networkError(err, url);
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
    retriable: res.status >= 500 || res.status === 429,
  });
}
