/**
 * The activity error convention, in one place (src/contracts/provision.ts): failures worth a durable retry (throttling,
 * 5xx, network, timeouts, Graph replication delays: `classify` in src/lib/errors.ts) and errors we did not anticipate
 * are THROWN, so the orchestrator's retry policy runs the activity again; failures a retry cannot fix (400 validation,
 * 401, 403, 404, bad input) are RETURNED as a `Failure` with a redacted message, so the orchestrator reports them.
 */
import type { Failure } from '../contracts/provision';
import { AppError, classify, ensureErrorType, ExternalServiceError, ValidationError } from '../lib/errors';
import { redactText } from '../lib/redact';

/** Applies the convention: returns the Failure of a non-retriable error, throws everything else. */
export function failureOrThrow(err: unknown, hint?: string): Failure {
  const e = ensureErrorType(err);
  if (e instanceof ExternalServiceError) {
    if (classify(e).transient) throw e;
    return {
      service: e.service,
      ...(e.status !== undefined ? { status: e.status } : {}),
      code: e.code,
      message: hint ? `${e.message}. ${hint}` : e.message,
    };
  }
  if (e instanceof ValidationError) return { service: 'input', code: e.code, message: e.message };
  if (e instanceof AppError && e.code === 'TooManyRecords')
    return { service: 'servicenow', code: e.code, message: e.message };
  throw e;
}

/** A retriable condition of our own (e.g. an object that exists but is not readable yet). */
export function retriable(
  code: string,
  message: string,
  service: 'graph' | 'keyvault' = 'graph',
): ExternalServiceError {
  return new ExternalServiceError({ service, code, message, retriable: true });
}

/** A non-retriable failure of our own making: bad input. */
export function inputFailure(code: string, message: string): { ok: false; failure: Failure } {
  return { ok: false, failure: { service: 'input', code, message: redactText(message) } };
}

/** A non-retriable failure of our own making: a ServiceNow record that is not as it must be. */
export function servicenowFailure(code: string, message: string): { ok: false; failure: Failure } {
  return { ok: false, failure: { service: 'servicenow', code, message: redactText(message) } };
}
