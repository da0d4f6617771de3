/**
 * Shared pieces of the Entra activities (ensureApp, ensureAppSecret, compensate): one raw Graph call that keeps the
 * error's detail codes, the activity error split for Graph (contracts.ts), the tags that mark our objects, and safe
 * logging.
 *
 * Why a raw call of our own: the upsert answers 201 with a body or 204 without one
 * (https://learn.microsoft.com/graph/api/application-upsert), and the replication error right after an app is created
 * is a 400 whose only stable marker is the detail code `NoBackingApplicationObject` in `error.details[]`
 * (https://github.com/microsoftgraph/msgraph-sdk-dotnet/issues/3108); Graph says to branch on codes, never on messages
 * (https://learn.microsoft.com/graph/errors).
 */

import type { Client } from '@microsoft/microsoft-graph-client';

import { graphRaw } from '../clients/graph';

import { classify, ensureErrorType, ExternalServiceError } from '../lib/errors';
import type { Failure } from './contracts';

export { logLine, type ActivityLog } from './log';

// ---------------------------------------------------------------------------------------------------------------
// Marking our objects

/** Tag on every application this product manages. */
export const PRODUCT_TAG = 'm365-snow-provisioner';
export const integrationTag = (integrationId: string) => `integration:${integrationId}`;
export const roleTag = (role: string) => `role:${role}`;
/**
 * Written only by the create branch of the upsert: tells a retry (which sees a 204, not the 201) and compensation that
 * this provisioning run created the application, as opposed to finding it.
 */
export const createdByTag = (instanceId: string) => `created-by-operation:${instanceId}`;

/** Display name of the Graph password credential an operation adds (visible in the portal's "Certificates & secrets"). */
export const credentialDisplayName = (operation: string) => `${PRODUCT_TAG}:${operation}`;

export { uniqueNameFor } from '../profiles/names';

// ---------------------------------------------------------------------------------------------------------------
// Graph calls

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

/**
 * The activity error split (contracts.ts): retriable errors are thrown for the durable retry policy, the rest become
 * a Failure with a safe (redacted) message. Errors we did not anticipate are thrown too.
 */
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

export const statusOf = (err: unknown): number | undefined =>
  err instanceof ExternalServiceError ? err.status : undefined;
