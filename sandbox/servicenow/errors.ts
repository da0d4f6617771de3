import type { SandboxResponse } from '../core/types';

/**
 * ServiceNow's REST error envelope `{"error":{"message","detail"},"status":"failure"}`
 * (docs/reference/servicenow.md#errors; SN-RATE, SN-OIDC). The numeric code is only in the HTTP status.
 */
export function snError(
  status: number,
  message: string,
  detail: string | null,
  headers: Record<string, string> = {},
): SandboxResponse {
  return {
    status,
    headers: { 'Content-Type': 'application/json;charset=UTF-8', ...headers },
    body: { error: { message, detail }, status: 'failure' },
  };
}

/** 401 as SN-OIDC documents it; real instances also challenge for Basic. */
export const notAuthenticated = (): SandboxResponse =>
  snError(401, 'User Not Authenticated', 'Required to provide Auth information', {
    'WWW-Authenticate': 'BASIC realm="Service-now"',
  });

export const invalidTable = (table: string): SandboxResponse => snError(400, `Invalid table ${table}`, null);

/** Missing record, or one the ACLs hide (docs/reference/servicenow.md#errors). */
export const noRecord = (): SandboxResponse =>
  snError(404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");

/** Write refused by an ACL (wording widely observed from Table API clients [inferred]). */
export const aclWriteFailed = (op: 'Insert' | 'Update' | 'Delete'): SandboxResponse =>
  snError(403, 'Operation Failed', `ACL Exception ${op} Failed due to security constraints`);

/** Table-level read refused [inferred wording]. */
export const readDenied = (): SandboxResponse => snError(403, 'User Not Authorized', 'Not authorized');

export const badUri = (): SandboxResponse => snError(400, 'Requested URI does not represent any resource', null);

export const methodNotAllowed = (): SandboxResponse =>
  snError(405, 'Method not Supported', 'Method not supported for this resource');

export const badJson = (): SandboxResponse =>
  snError(400, 'Exception while reading request', 'The payload is not valid JSON.');

const STATUS_MESSAGES: Record<number, string> = {
  400: 'Bad Request',
  401: 'User Not Authenticated',
  403: 'User Not Authorized',
  404: 'No Record found',
  405: 'Method not Supported',
  406: 'Not Acceptable',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export const statusMessage = (status: number): string => STATUS_MESSAGES[status] ?? 'Request failed';
