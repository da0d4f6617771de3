/**
 * Typed errors and the error boundary. Modelled on azure-functions-nodejs-library `src/errors.ts` (`ensureErrorType`,
 * system vs user errors): anything thrown is normalised into an `AppError` whose message is safe to log: secrets and
 * bearer tokens are masked (lib/redact.ts) and request bodies, headers and causes of foreign errors are never copied.
 */
import { redactText } from './redact';

export type ExternalService = 'graph' | 'keyvault' | 'servicenow' | 'entra';

/** Base class of every error this app raises on purpose. Messages are redacted at construction. */
export class AppError extends Error {
  /** Stable machine-readable code. */
  readonly code: string;

  constructor(message: string, code = 'AppError') {
    super(redactText(message));
    this.name = new.target.name;
    this.code = code;
  }
}

/** Settings are missing or invalid: one error listing every problem. */
export class ConfigError extends AppError {
  constructor(readonly problems: ReadonlyArray<{ name: string; reason: string }>) {
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}): ` +
        problems.map((p) => `${p.name}: ${p.reason}`).join('; '),
      'ConfigError',
    );
  }
}

/** A caller passed a value this app refuses to send (e.g. `^` in a ServiceNow encoded-query value). */
export class ValidationError extends AppError {
  constructor(message: string) {
    super(message, 'ValidationError');
  }
}

export interface ExternalServiceErrorInit {
  service: ExternalService;
  /** HTTP status; undefined for network errors (no response). */
  status?: number;
  /** The service's error code (Graph `error.code`, Key Vault `error.code`, AADSTS code, network error code). */
  code?: string;
  message: string;
  /** Whether retrying the same call may succeed (throttling, gateway/unavailable, network). The caller decides. */
  retriable: boolean;
  /** Milliseconds the service asked us to wait (Retry-After), if it did. */
  retryAfterMs?: number;
  /** The service's request id, for support. */
  requestId?: string;
}

/** A call to Graph, Key Vault, ServiceNow or Entra failed. Never holds the request body or headers. */
export class ExternalServiceError extends AppError {
  readonly service: ExternalService;
  readonly status: number | undefined;
  readonly retriable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly requestId: string | undefined;

  constructor(init: ExternalServiceErrorInit) {
    super(init.message, init.code ?? (init.status === undefined ? 'NetworkError' : `HTTP${init.status}`));
    this.service = init.service;
    this.status = init.status;
    this.retriable = init.retriable;
    this.retryAfterMs = init.retryAfterMs;
    this.requestId = init.requestId;
  }
}

/** An error from code we did not write, normalised: name and redacted message only. */
export class UnexpectedError extends AppError {
  constructor(
    message: string,
    readonly originalName: string,
  ) {
    super(message, 'UnexpectedError');
  }
}

/**
 * Statuses worth retrying: 408 (request timeout), 429 (throttled, RFC 6585 section 4) and 5xx except 501 and 505, which say
 * the server will never do this (RFC 9110 section 15.6; the same set as the Azure SDK's exponential retry strategy,
 * https://github.com/Azure/azure-sdk-for-js/blob/main/sdk/core/core-rest-pipeline/src/retryStrategies/exponentialRetryStrategy.ts).
 * Graph, Key Vault and ServiceNow all document 429 and 503/504 as "retry later"
 * (https://learn.microsoft.com/graph/throttling, https://learn.microsoft.com/azure/key-vault/general/overview-throttling).
 * Never 400/401/403/404.
 */
export function isRetriableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** Node/undici network error codes that mean "no usable response": safe to retry for idempotent calls. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/** The code of an ExternalServiceError raised because a call did not finish within its deadline. */
export const TIMEOUT_CODE = 'Timeout';

/** Network codes and error names that mean the call ran out of time (axios ECONNABORTED/ETIMEDOUT, undici, DOM). */
const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  TIMEOUT_CODE,
  'TimeoutError',
  'AbortError',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/**
 * Entra token-endpoint answers that mean "try again later": OAuth `temporarily_unavailable` (RFC 6749 section 4.1.2.1) and
 * AADSTS90055 (TenantThrottlingError, sent with 429 and Retry-After) / AADSTS90033 (a transient error), listed in
 * https://learn.microsoft.com/entra/identity-platform/reference-error-codes.
 */
const TRANSIENT_ENTRA_ERRORS: ReadonlySet<string> = new Set(['temporarily_unavailable']);
export const TRANSIENT_AADSTS: ReadonlySet<number> = new Set([90055, 90033]);

/** Whether an Entra token-endpoint failure (status, OAuth `error`, AADSTS `error_codes`) is worth retrying. */
export function isTransientEntraFailure(status: number, error?: string, errorCodes: readonly number[] = []): boolean {
  return (
    isRetriableStatus(status) ||
    (error !== undefined && TRANSIENT_ENTRA_ERRORS.has(error)) ||
    errorCodes.some((c) => TRANSIENT_AADSTS.has(c))
  );
}

export type FailureKind = 'timeout' | 'throttled' | 'unavailable' | 'network' | 'auth' | 'refused' | 'unknown';

/** How one failure of an outbound call is to be handled; the one rule every client and activity mapper uses. */
export interface Classification {
  /** Retrying the same call later may succeed. */
  transient: boolean;
  kind: FailureKind;
  status?: number;
  /** A stable code: `Timeout`, a network code (ECONNRESET, …), or the service's code. */
  code?: string;
}

function kindOfStatus(status: number): FailureKind {
  if (status === 429) return 'throttled';
  if (status === 408) return 'timeout';
  if (isRetriableStatus(status)) return 'unavailable';
  if (status === 401 || status === 403) return 'auth';
  return 'refused';
}

type Loose = {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  status?: unknown;
  statusCode?: unknown;
  cause?: unknown;
  response?: { status?: unknown };
  errorResponse?: { error?: unknown; errorCodes?: unknown };
};

/** The first network/timeout code along an error's `cause` chain (fetch wraps the socket error as `cause`). */
function networkCodeOf(err: unknown): string | undefined {
  let e = err as Loose | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 6; depth++, e = e.cause as Loose | undefined) {
    for (const v of [e.code, e.name])
      if (typeof v === 'string' && (NETWORK_ERROR_CODES.has(v) || TIMEOUT_CODES.has(v))) return v;
    // Node's "socket hang up" (the peer closed the connection before answering) carries ECONNRESET; some wrappers
    // keep only the message.
    if (typeof e.message === 'string' && /socket hang up/i.test(e.message)) return 'ECONNRESET';
  }
  return undefined;
}

/**
 * Classifies any failure of an outbound call: our own ExternalServiceError, an axios error, an Azure SDK RestError, a
 * GraphError, an @azure/identity AuthenticationError, or a bare network error. Transient: 408, 429, 5xx (not 501/505),
 * Entra `temporarily_unavailable`/AADSTS90055/90033, connection resets, refused or unreachable hosts, and timeouts.
 * Not transient: 400, 401, 403, 404 and anything unrecognised (callers keep their own quirks on top, e.g. Graph's
 * replication 404s).
 */
export function classify(err: unknown): Classification {
  if (err instanceof ExternalServiceError) {
    const status = err.status;
    if (err.code === TIMEOUT_CODE)
      return { transient: true, kind: 'timeout', code: err.code, ...(status ? { status } : {}) };
    if (status !== undefined) {
      const transient = err.retriable || isRetriableStatus(status);
      return {
        transient,
        kind: transient && !isRetriableStatus(status) ? 'unavailable' : kindOfStatus(status),
        status,
        code: err.code,
      };
    }
    const net = networkCodeOf({ code: err.code });
    return {
      transient: err.retriable,
      kind: net ? (TIMEOUT_CODES.has(net) ? 'timeout' : 'network') : err.retriable ? 'unavailable' : 'unknown',
      code: err.code,
    };
  }
  const e = (err ?? {}) as Loose;
  const rawStatus =
    typeof e.statusCode === 'number'
      ? e.statusCode
      : typeof e.status === 'number'
        ? e.status
        : typeof e.response?.status === 'number'
          ? e.response.status
          : undefined;
  const status = rawStatus !== undefined && rawStatus >= 100 ? rawStatus : undefined;
  const entra = e.errorResponse;
  const entraError = typeof entra?.error === 'string' ? entra.error : undefined;
  const entraCodes = Array.isArray(entra?.errorCodes) ? entra.errorCodes.map(Number).filter(Number.isFinite) : [];
  if (entraError !== undefined || entraCodes.length) {
    const transient = isTransientEntraFailure(status ?? 0, entraError, entraCodes);
    return {
      transient,
      kind: transient ? (status === 429 || entraCodes.includes(90055) ? 'throttled' : 'unavailable') : 'auth',
      ...(status !== undefined ? { status } : {}),
      code: entraCodes.length ? `AADSTS${entraCodes[0]}` : entraError,
    };
  }
  if (status !== undefined) {
    const code = typeof e.code === 'string' ? e.code : `HTTP${status}`;
    return { transient: isRetriableStatus(status), kind: kindOfStatus(status), status, code };
  }
  const net = networkCodeOf(err);
  if (net) {
    const timeout = TIMEOUT_CODES.has(net);
    return { transient: true, kind: timeout ? 'timeout' : 'network', code: timeout ? TIMEOUT_CODE : net };
  }
  // undici's fetch rejects with TypeError("fetch failed") when no response came back (its cause says why);
  // graph-client turns that into a GraphError whose code is the error's name.
  if (e.name === 'TypeError' || e.code === 'TypeError' || e.code === 'NetworkError')
    return { transient: true, kind: 'network', code: 'NetworkError' };
  return { transient: false, kind: 'unknown', ...(typeof e.code === 'string' ? { code: e.code } : {}) };
}

/** Shorthand: may retrying this failure later succeed? */
export function isTransient(err: unknown): boolean {
  return classify(err).transient;
}

/** The error a client raises when a call did not finish within its deadline: retriable, code `Timeout`. */
export function timeoutError(service: ExternalService, what: string, timeoutMs: number): ExternalServiceError {
  return new ExternalServiceError({
    service,
    code: TIMEOUT_CODE,
    message: `${SERVICE_LABEL[service]} ${what} did not answer within ${Math.round(timeoutMs / 100) / 10} s`,
    retriable: true,
  });
}

const SERVICE_LABEL: Record<ExternalService, string> = {
  graph: 'Graph',
  keyvault: 'Key Vault',
  servicenow: 'ServiceNow',
  entra: 'Entra',
};

/**
 * Any failure of an outbound call as an ExternalServiceError of `service`, classified by `classify`. Keeps only the
 * status, a code and a redacted message: never the request, headers or body a foreign error may hold.
 */
export function toExternalServiceError(
  service: ExternalService,
  err: unknown,
  what: string,
  extra: { retryAfterMs?: number; requestId?: string } = {},
): ExternalServiceError {
  if (err instanceof ExternalServiceError) return err;
  const c = classify(err);
  const e = (err ?? {}) as Loose;
  const detail = typeof e.message === 'string' && e.message ? e.message : String(err);
  if (c.kind === 'timeout' && c.status === undefined)
    return new ExternalServiceError({
      service,
      code: TIMEOUT_CODE,
      message: `${SERVICE_LABEL[service]} ${what} timed out: ${detail}`,
      retriable: true,
    });
  return new ExternalServiceError({
    service,
    ...(c.status !== undefined ? { status: c.status } : {}),
    code: c.code ?? (typeof e.name === 'string' ? e.name : 'Error'),
    message: `${SERVICE_LABEL[service]} ${what} failed${c.status !== undefined ? ` (${c.status})` : ''}: ${detail}`,
    retriable: c.transient,
    ...(extra.retryAfterMs !== undefined ? { retryAfterMs: extra.retryAfterMs } : {}),
    ...(extra.requestId ? { requestId: extra.requestId } : {}),
  });
}

/**
 * The error boundary: anything thrown becomes an `AppError` with a safe message. Our own errors pass through (their
 * messages were redacted when built); foreign errors keep only their name and redacted message, not their cause,
 * config, request or response (axios errors carry the Authorization header and body there).
 */
export function ensureErrorType(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof Error) {
    const out = new UnexpectedError(err.message, err.name);
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') Object.defineProperty(out, 'code', { value: code });
    return out;
  }
  let text: string;
  if (typeof err === 'string') text = err;
  else {
    try {
      text = JSON.stringify(err) ?? String(err);
    } catch {
      text = String(err);
    }
  }
  return new UnexpectedError(`non-error thrown: ${text.slice(0, 500)}`, typeof err);
}

/**
 * True when the service answered the request with a status (as opposed to a timeout or a dropped connection): then a
 * refused write was not applied; without an answer it may have been, or may still be.
 */
export function answered(err: unknown): boolean {
  const c = classify(err);
  return c.status !== undefined && c.kind !== 'timeout';
}

/** The HTTP status a service answered with, when the error is a service's answer (undefined for network failures). */
export function httpStatusOf(err: unknown): number | undefined {
  return err instanceof ExternalServiceError ? err.status : undefined;
}
