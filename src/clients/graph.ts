/**
 * Microsoft Graph through `@microsoft/microsoft-graph-client` 3.0.7 with TokenCredentialAuthenticationProvider
 * (docs/reference/microsoft.md#the-javascript-graph-client). The client attaches the token only for Graph hosts and
 * `customHosts` (hostnames without port), so the configured base URL's hostname is always added: otherwise calls to a
 * sovereign or sandbox Graph would silently go out without Authorization.
 *
 * The middleware chain is the client's default one (https://learn.microsoft.com/graph/sdks/customize-client:
 * authentication, retry, redirect, telemetry, HTTP) with two changes: every fetch gets a deadline (GRAPH_TIMEOUT_SECONDS;
 * a hang becomes a retriable `Timeout` error, never a stalled orchestration), and a 401 is answered once by dropping
 * the cached token and sending again with a fresh one (InvalidAuthenticationToken after the token expired early:
 * https://learn.microsoft.com/graph/errors).
 */
import type { TokenCredential } from '@azure/identity';
import type * as GraphClientSdk from '@microsoft/microsoft-graph-client';
import type { Client, Context, Middleware } from '@microsoft/microsoft-graph-client';
import type * as GraphCredentialAuth from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';

import { classify, ExternalServiceError, isRetriableStatus, TIMEOUT_CODE, timeoutError } from '../lib/errors';
import { parseRetryAfter } from '../lib/backoff';
import { createLogger } from '../lib/logger';
import { refreshCredential } from './credentials';
import { DeadlineExceeded } from './deadline';

const log = createLogger('graph');

/**
 * The Graph client library, loaded when it is first needed (building a client, or telling its errors apart), not when
 * the app's entry module loads (src/app/deps.ts). Literal requires, so that the bundler still includes them.
 */
function sdk(): typeof GraphClientSdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require('@microsoft/microsoft-graph-client') as typeof GraphClientSdk;
}
function credentialAuth(): typeof GraphCredentialAuth {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require('@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials') as typeof GraphCredentialAuth;
}

export interface GraphClientDeps {
  credential: TokenCredential;
  /** `https://graph.microsoft.com` or the sandbox/sovereign origin; no version. */
  baseUrl: string;
  /** Default `${baseUrl}/.default`. */
  scopes?: string[];
  /** API version, default v1.0. */
  defaultVersion?: string;
  /** Deadline of one HTTP exchange (GRAPH_TIMEOUT_SECONDS); default 60 s. */
  timeoutMs?: number;
}

export const DEFAULT_GRAPH_TIMEOUT_MS = 60_000;

/** The last middleware: fetch with a deadline covering connect, response headers and body. */
export class DeadlineHttpMessageHandler implements Middleware {
  constructor(private readonly timeoutMs: number) {}

  async execute(context: Context): Promise<void> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const options = context.options ?? {};
    const original = options.signal as AbortSignal | undefined;
    const signal = original ? AbortSignal.any([original, deadline]) : deadline;
    try {
      context.response = await fetch(context.request as Parameters<typeof fetch>[0], {
        ...(options as RequestInit),
        signal,
      });
    } catch (err) {
      if (deadline.aborted && !original?.aborted) {
        const request = context.request as string | { url: string };
        const url = new URL(typeof request === 'string' ? request : request.url);
        throw new DeadlineExceeded(`${options.method ?? 'GET'} ${url.pathname}`, this.timeoutMs);
      }
      throw err;
    }
  }
}

function deleteAuthorization(context: Context): void {
  const headers = context.options?.headers as unknown;
  if (!headers) return;
  if (headers instanceof Headers) headers.delete('Authorization');
  else if (Array.isArray(headers)) {
    const list = headers as [string, string][];
    const kept = list.filter(([k]) => k.toLowerCase() !== 'authorization');
    list.splice(0, list.length, ...kept);
  } else
    for (const k of Object.keys(headers))
      if (k.toLowerCase() === 'authorization') delete (headers as Record<string, string>)[k];
}

/** First middleware: on a 401, drop the cached token once and send again (the next handler adds a fresh one). */
export class RefreshOn401Handler implements Middleware {
  private next: Middleware | undefined;

  constructor(private readonly credential: TokenCredential) {}

  setNext(next: Middleware): void {
    this.next = next;
  }

  async execute(context: Context): Promise<void> {
    if (!this.next) throw new Error('RefreshOn401Handler needs a next middleware');
    await this.next.execute(context);
    if (context.response?.status !== 401 || !refreshCredential(this.credential)) return;
    log.warn('Graph refused the token; retrying once with a fresh one', { status: 401 });
    await context.response.body?.cancel().catch(() => undefined);
    // AuthenticationHandler appends its header: remove the refused one first.
    deleteAuthorization(context);
    context.response = undefined;
    await this.next.execute(context);
  }
}

export function createGraphClient(deps: GraphClientDeps): Client {
  const baseUrl = deps.baseUrl.replace(/\/+$/, '');
  const scopes = deps.scopes ?? [`${baseUrl}/.default`];
  const {
    AuthenticationHandler,
    Client,
    RedirectHandler,
    RedirectHandlerOptions,
    RetryHandler,
    RetryHandlerOptions,
    TelemetryHandler,
  } = sdk();
  const { TokenCredentialAuthenticationProvider } = credentialAuth();
  const authProvider = new TokenCredentialAuthenticationProvider(deps.credential, { scopes });
  const middleware: Middleware[] = [
    new RefreshOn401Handler(deps.credential),
    new AuthenticationHandler(authProvider),
    new RetryHandler(new RetryHandlerOptions()),
    new RedirectHandler(new RedirectHandlerOptions()),
    new TelemetryHandler(),
    new DeadlineHttpMessageHandler(deps.timeoutMs ?? DEFAULT_GRAPH_TIMEOUT_MS),
  ];
  return Client.initWithMiddleware({
    middleware,
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
  if (err instanceof sdk().GraphError) {
    if (err.statusCode === -1 || err.statusCode === undefined) {
      // No HTTP answer: graph-client puts the thrown error's name in `code`: `TypeError` ("fetch failed") for a
      // network failure, or the credential's error (e.g. AuthenticationRequiredError) when no token could be had.
      const c = classify({
        code: err.code ?? 'NetworkError',
        name: err.code,
        cause: (err as { cause?: unknown }).cause,
      });
      const code = c.code === TIMEOUT_CODE ? TIMEOUT_CODE : (err.code ?? 'NetworkError');
      return new ExternalServiceError({
        service: 'graph',
        code,
        message: `Graph ${what} ${code === TIMEOUT_CODE ? 'timed out' : 'failed'}: ${err.message}`,
        retriable: c.transient,
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
  const c = classify(err);
  if (c.code === TIMEOUT_CODE) return timeoutError('graph', what, (err as { timeoutMs?: number }).timeoutMs ?? 0);
  return new ExternalServiceError({
    service: 'graph',
    code: typeof e?.name === 'string' ? e.name : 'Error',
    message: `Graph ${what} failed: ${typeof e?.message === 'string' ? e.message : String(err)}`,
    retriable: c.transient,
  });
}

/**
 * One Graph call returning status, headers and JSON, for callers that branch on the status (the
 * `PATCH /applications(uniqueName=…)` upsert answers 201 with a body on create and 204 on update,
 * https://learn.microsoft.com/graph/api/application-upsert). Non-2xx answers throw an ExternalServiceError with Graph's
 * `error.code`.
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
    const req = client.api(path).headers(headers).responseType(sdk().ResponseType.RAW);
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
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    // The deadline also covers the body: an answer that stops half-way is a timeout too.
    throw toGraphError(err, what);
  }
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

// ---------------------------------------------------------------------------------------------------------------
// Calls that keep Graph's error detail codes
//
// Why a call of our own on top of graphRaw: the upsert answers 201 with a body or 204 without one
// (https://learn.microsoft.com/graph/api/application-upsert), and the replication error right after an app is created
// is a 400 whose only stable marker is the detail code `NoBackingApplicationObject` in `error.details[]`
// (https://github.com/microsoftgraph/msgraph-sdk-dotnet/issues/3108); Graph says to branch on codes, never on messages
// (https://learn.microsoft.com/graph/errors).

/** A Graph error with the detail codes of `error.details[]`. */
export class GraphCallError extends ExternalServiceError {
  constructor(
    init: ConstructorParameters<typeof ExternalServiceError>[0],
    readonly detailCodes: string[],
  ) {
    super(init);
  }
}

export interface GraphReply<T> {
  status: number;
  body: T | undefined;
}

type ErrorBody = {
  error?: {
    code?: unknown;
    message?: unknown;
    details?: Array<{ code?: unknown }>;
    innerError?: { 'request-id'?: unknown };
  };
};

/**
 * Whether a Graph failure is worth a durable retry for steps that touch objects created moments ago: replication
 * 404 and 400 `NoBackingApplicationObject`, 409, 429 and 5xx, and network failures
 * (docs/reference/microsoft.md#throttling, #replication-delays). 400 validation, 401 and 403 are not.
 */
export function isRetriableGraph(status: number | undefined, code: string | undefined, details: string[]): boolean {
  if (status === undefined) return classify({ code }).transient;
  if (status === 404 || status === 409 || classify({ status }).transient) return true;
  return status === 400 && (code === 'NoBackingApplicationObject' || details.includes('NoBackingApplicationObject'));
}

function errorFrom(status: number, body: unknown, what: string): GraphCallError {
  const err = (body as ErrorBody | undefined)?.error;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const details = Array.isArray(err?.details)
    ? err.details.map((d) => d?.code).filter((c): c is string => typeof c === 'string')
    : [];
  const message = typeof err?.message === 'string' ? err.message : `HTTP ${status}`;
  const requestId = typeof err?.innerError?.['request-id'] === 'string' ? err.innerError['request-id'] : undefined;
  return new GraphCallError(
    {
      service: 'graph',
      status,
      code: details.includes('NoBackingApplicationObject') ? 'NoBackingApplicationObject' : code,
      message: `Graph ${what} failed (${status}${code ? ` ${code}` : ''}): ${message}`,
      retriable: isRetriableGraph(status, code, details),
      ...(requestId ? { requestId } : {}),
    },
    details,
  );
}

/**
 * One Graph call: status and parsed JSON on 2xx; a GraphCallError (retriable per isRetriableGraph) otherwise. The
 * client's RetryHandler still retries 429/503/504 itself first
 * (docs/reference/microsoft.md#the-javascript-graph-client).
 */
export async function graphCall<T = unknown>(
  client: Client,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<GraphReply<T>> {
  const res = await graphRaw<T>(client, method, path, body, headers, (status, parsed, _h, what) =>
    errorFrom(status, parsed, what),
  );
  return { status: res.status, body: res.body };
}

/** OData string literal: single quotes doubled, then URL-encoded (graph-client does not encode: docs/reference/microsoft.md#finding-applications-and-filter-encoding). */
export const odataKey = (value: string) => encodeURIComponent(value.replace(/'/g, "''"));
