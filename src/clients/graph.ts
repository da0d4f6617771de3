/**
 * Microsoft Graph through `@microsoft/microsoft-graph-client` 3.0.7 with TokenCredentialAuthenticationProvider
 * (microsoft-apis.md §4.4, §7.3). The client attaches the token only for Graph hosts and `customHosts` (hostnames
 * without port), so the configured base URL's hostname is always added: otherwise calls to a sovereign or sandbox
 * Graph would silently go out without Authorization.
 */
import type { TokenCredential } from '@azure/identity';
import { Client, GraphError, ResponseType } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';

import { ExternalServiceError, isRetriableStatus } from '../lib/errors';
import { parseRetryAfter } from '../lib/backoff';

export interface GraphClientDeps {
  credential: TokenCredential;
  /** `https://graph.microsoft.com` or the sandbox/sovereign origin; no version. */
  baseUrl: string;
  /** Default `${baseUrl}/.default`. */
  scopes?: string[];
  /** API version, default v1.0. */
  defaultVersion?: string;
}

export function createGraphClient(deps: GraphClientDeps): Client {
  const baseUrl = deps.baseUrl.replace(/\/+$/, '');
  const scopes = deps.scopes ?? [`${baseUrl}/.default`];
  return Client.initWithMiddleware({
    authProvider: new TokenCredentialAuthenticationProvider(deps.credential, { scopes }),
    baseUrl: `${baseUrl}/`,
    defaultVersion: deps.defaultVersion ?? 'v1.0',
    customHosts: new Set([new URL(baseUrl).hostname]),
    // graph-client's fetch sends `accept-language: *`, which Graph once refused (msgraph-sdk-javascript#999).
    fetchOptions: { headers: { 'Accept-Language': 'en-US' } },
  });
}

export interface GraphRawResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON, or undefined for an empty body (204). */
  body: T | undefined;
}

type GraphErrorBody = { error?: { code?: unknown; message?: unknown; innerError?: Record<string, unknown> } };

function errorFromBody(status: number, body: unknown, headers: Record<string, string>, what: string) {
  const err = (body as GraphErrorBody | undefined)?.error;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const message = typeof err?.message === 'string' ? err.message : `HTTP ${status}`;
  const requestId = headers['request-id'] ?? (err?.innerError?.['request-id'] as string | undefined);
  const retryAfterMs = parseRetryAfter(headers['retry-after']);
  return new ExternalServiceError({
    service: 'graph',
    status,
    code,
    message: `Graph ${what} failed (${status}${code ? ` ${code}` : ''}): ${message}`,
    retriable: isRetriableStatus(status),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(requestId ? { requestId } : {}),
  });
}

/**
 * Normalises a GraphError (statusCode, code from the body, requestId; network failure = statusCode -1) into an
 * ExternalServiceError. Whether a 404 right after a create is worth retrying is the orchestrator's decision.
 */
export function toGraphError(err: unknown, what = 'request'): ExternalServiceError {
  if (err instanceof ExternalServiceError) return err;
  if (err instanceof GraphError) {
    if (err.statusCode === -1 || err.statusCode === undefined) {
      // No HTTP answer: graph-client puts the thrown error's name in `code`: `TypeError` ("fetch failed") for a
      // network failure, or the credential's error (e.g. AuthenticationRequiredError) when no token could be had.
      const code = err.code ?? 'NetworkError';
      return new ExternalServiceError({
        service: 'graph',
        code,
        message: `Graph ${what} failed: ${err.message}`,
        retriable: code === 'TypeError' || code === 'NetworkError',
      });
    }
    return new ExternalServiceError({
      service: 'graph',
      status: err.statusCode,
      ...(err.code ? { code: err.code } : {}),
      ...(err.requestId ? { requestId: err.requestId } : {}),
      message: `Graph ${what} failed (${err.statusCode}${err.code ? ` ${err.code}` : ''}): ${err.message}`,
      retriable: isRetriableStatus(err.statusCode),
    });
  }
  const e = err as { name?: unknown; message?: unknown };
  return new ExternalServiceError({
    service: 'graph',
    code: typeof e?.name === 'string' ? e.name : 'Error',
    message: `Graph ${what} failed: ${typeof e?.message === 'string' ? e.message : String(err)}`,
    retriable: false,
  });
}

/**
 * One Graph call returning status, headers and JSON, for callers that branch on the status (the
 * `PATCH /applications(uniqueName=…)` upsert answers 201 with a body on create and 204 on update,
 * microsoft-apis.md §2.2). Non-2xx answers throw an ExternalServiceError with Graph's `error.code`.
 */
export async function graphRaw<T = unknown>(
  client: Client,
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  /** How a non-2xx answer becomes an error (callers that need more of Graph's body, e.g. `error.details[]`). */
  toError: (status: number, body: unknown, headers: Record<string, string>, what: string) => Error = errorFromBody,
): Promise<GraphRawResponse<T>> {
  const what = `${method} ${path.split('?')[0]}`;
  let res: Response;
  try {
    const req = client.api(path).headers(headers).responseType(ResponseType.RAW);
    res = (await (method === 'GET'
      ? req.get()
      : method === 'POST'
        ? req.post(body)
        : method === 'PATCH'
          ? req.patch(body)
          : method === 'PUT'
            ? req.put(body)
            : req.delete())) as Response;
  } catch (err) {
    throw toGraphError(err, what);
  }
  const outHeaders: Record<string, string> = {};
  res.headers.forEach((v, k) => (outHeaders[k.toLowerCase()] = v));
  const text = await res.text();
  let parsed: unknown;
  if (text.length) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (!res.ok) throw toError(res.status, parsed, outHeaders, what);
  return { status: res.status, headers: outHeaders, body: parsed as T | undefined };
}
