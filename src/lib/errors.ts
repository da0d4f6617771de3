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
 * Statuses worth retrying with backoff for HTTP services: 408, 429, 502, 503, 504 (ServiceNow servicenow-api.md
 * §2.7, Graph microsoft-apis.md §4.2). Never 400/401/403/404.
 */
export function isRetriableStatus(status: number): boolean {
  return status === 408 || status === 429 || status === 502 || status === 503 || status === 504;
}

/** Node/undici network error codes that mean "no usable response": safe to retry for idempotent calls. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

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
