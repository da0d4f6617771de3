/**
 * Graph's wire envelope for errors and its common response headers.
 *
 * Error body [doc https://learn.microsoft.com/graph/errors]:
 * `{ "error": { "code", "message", "innerError": { "date", "request-id", "client-request-id" } } }`.
 * `date` has no fractional seconds and no `Z` (as in the documented samples, e.g. `2023-03-03T07:15:31`).
 */
import { newGuid } from '../core/random';
import type { SandboxRequest, SandboxResponse } from '../core/types';

export interface ErrorDetail {
  code: string;
  message: string;
  target?: string;
}

/** Per-request identity: Graph echoes `client-request-id` and issues its own `request-id`. */
export interface RequestIds {
  requestId: string;
  clientRequestId: string;
  date: Date;
}

export function requestIds(req: SandboxRequest, now: Date): RequestIds {
  const header = req.headers['client-request-id'];
  const given = Array.isArray(header) ? header[0] : header;
  const requestId = newGuid();
  return { requestId, clientRequestId: given && given.length <= 100 ? given : requestId, date: now };
}

export const graphDate = (d: Date): string => d.toISOString().slice(0, 19);

/** Headers every Graph response carries [doc errors / observed on the wire: request-id, client-request-id]. */
export function baseHeaders(ids: RequestIds): Record<string, string> {
  return {
    'request-id': ids.requestId,
    'client-request-id': ids.clientRequestId,
    'Cache-Control': 'no-cache',
    'Strict-Transport-Security': 'max-age=31536000',
  };
}

export const JSON_CONTENT_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

export function jsonResponse(
  ids: RequestIds,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): SandboxResponse {
  return {
    status,
    headers: { ...baseHeaders(ids), 'Content-Type': JSON_CONTENT_TYPE, 'OData-Version': '4.0', ...headers },
    body,
  };
}

/** A `text/plain` answer, as Graph gives the raw `/$count` (https://learn.microsoft.com/graph/query-parameters). */
export function textResponse(ids: RequestIds, status: number, text: string): SandboxResponse {
  return { status, headers: { ...baseHeaders(ids), 'Content-Type': 'text/plain' }, body: text };
}

export function emptyResponse(ids: RequestIds, status: number, headers: Record<string, string> = {}): SandboxResponse {
  return { status, headers: { ...baseHeaders(ids), ...headers } };
}

export function graphError(
  ids: RequestIds,
  status: number,
  code: string,
  message: string,
  extra: { details?: ErrorDetail[]; headers?: Record<string, string> } = {},
): SandboxResponse {
  return jsonResponse(
    ids,
    status,
    {
      error: {
        code,
        message,
        ...(extra.details ? { details: extra.details } : {}),
        innerError: {
          date: graphDate(ids.date),
          'request-id': ids.requestId,
          'client-request-id': ids.clientRequestId,
        },
      },
    },
    extra.headers,
  );
}

/** Thrown inside handlers to answer with a Graph error; the router turns it into the response. */
export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

// The directory errors the stand-in answers, with their real codes and messages.

/** [public-code microsoftgraph/msgraph-sdk-javascript#1999, msgraph-sdk-java-core#363] */
export const notFound = (id: string) =>
  new GraphError(
    404,
    'Request_ResourceNotFound',
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );

/** [doc permissions-reference; public-code Learn Q&A "Permission error while using AddPassword"] */
export const insufficientPrivileges = () =>
  new GraphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');

/** Graph's answer to an unreadable body [observed Graph message for invalid JSON payloads]. */
export const unreadableBody = () =>
  new GraphError(
    400,
    'BadRequest',
    'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
  );

/**
 * Unknown property in a request body. Graph's OData layer rejects it even on open types, e.g.
 * "The property 'saveToSentItems' does not exist on type 'microsoft.graph.message'. Make sure to only use property
 * names that are defined by the type or mark the type as open type." [public-code: several Graph clients quote it].
 */
export const unknownProperty = (name: string, type: string) =>
  new GraphError(
    400,
    'BadRequest',
    `The property '${name}' does not exist on type '${type}'. Make sure to only use property names that are defined by the type or mark the type as open type.`,
  );

/** A value of the wrong OData type, as the OData reader reports it [inferred from the OData library's wording]. */
export const invalidValue = (name: string, expected: string) =>
  new GraphError(
    400,
    'BadRequest',
    `Cannot convert the literal value of property '${name}' to the expected type '${expected}'.`,
  );

/** Answer for a route Graph does not have [observed: "Resource not found for the segment 'x'."]. */
export const unknownSegment = (segment: string) =>
  new GraphError(400, 'BadRequest', `Resource not found for the segment '${segment}'.`);

export const methodNotAllowed = () =>
  new GraphError(405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.');
