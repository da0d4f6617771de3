import type { SandboxResponse } from '../core/types';

/**
 * Key Vault's error envelope: `{"error":{"code","message","innererror"?}}` (swagger `KeyVaultError` /
 * `Azure.Core.Foundations.ErrorResponse` in Azure/azure-rest-api-specs, Key Vault secrets 7.5). Messages marked [inferred] were not
 * found verbatim in public recordings; the others are quoted from the sources named next to them.
 */
export interface KeyVaultErrorBody {
  error: { code: string; message: string; innererror?: { code: string } };
}

export function kvError(status: number, code: string, message: string, innerCode?: string): SandboxResponse {
  const body: KeyVaultErrorBody = {
    error: { code, message, ...(innerCode ? { innererror: { code: innerCode } } : {}) },
  };
  return { status, headers: { 'Cache-Control': 'no-cache', Pragma: 'no-cache', Expires: '-1' }, body };
}

/** Recorded 404 body (Azure SDK recordings and Rust SDK README): name, or name/version when a version was asked. */
export const secretNotFound = (nameOrId: string): SandboxResponse =>
  kvError(
    404,
    'SecretNotFound',
    `A secret with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this secret you may ` +
      'be able to recover it using the correct recovery command. For help resolving this issue, please see ' +
      'https://go.microsoft.com/fwlink/?linkid=2125182',
  );

/**
 * 403 for a disabled version, with inner code `SecretDisabled` (azure-sdk-for-js secrets tests; recorded
 * `(Forbidden) ... Inner error: {"code": "SecretDisabled"}` output of the Azure CLI).
 */
export const secretDisabled = (): SandboxResponse =>
  kvError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');

/** 409 on set/recover conflicts with a soft-deleted name (docs/reference/microsoft.md#key-vault-soft-delete; azure-sdk-for-net tests). */
export const deletedButRecoverable = (name: string): SandboxResponse =>
  kvError(
    409,
    'Conflict',
    `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, ` +
      'the secret can only be recovered or purged.',
    'ObjectIsDeletedButRecoverable',
  );

/** Recover of a name that is live again (azure-sdk-for-cpp keys tests use the same wording for keys) [inferred]. */
export const secretNotDeleted = (name: string): SandboxResponse =>
  kvError(409, 'Conflict', `Secret ${name} is not currently in a deleted state.`, 'ObjectIsNotDeleted');

/** `The request URI contains an invalid name: …` (BadParameter) as reported from real vaults by several projects. */
export const invalidName = (name: string): SandboxResponse =>
  kvError(400, 'BadParameter', `The request URI contains an invalid name: ${name}`);

export const badParameter = (message: string): SandboxResponse => kvError(400, 'BadParameter', message);

/** Purge on a vault whose recovery level has no `Purgeable` (purge protection on) [inferred wording]. */
export const purgeNotAllowed = (): SandboxResponse =>
  kvError(
    403,
    'Forbidden',
    'Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will ' +
      'automatically purge it after the retention period has passed.',
    'ForbiddenByPolicy',
  );

/** Key Vault's throttling answer (429 + Retry-After; throttling guidance page) [message inferred]. */
export function throttled(headers: Record<string, string>): SandboxResponse {
  const res = kvError(
    429,
    'Throttled',
    'Request was not processed because too many requests were received. Reason: A1',
  );
  const hasRetryAfter = Object.keys(headers).some((h) => h.toLowerCase() === 'retry-after');
  const retryAfter: Record<string, string> = hasRetryAfter ? {} : { 'Retry-After': '1' };
  return { ...res, headers: { ...res.headers, ...retryAfter, ...headers } };
}

const SERVER_ERRORS: Record<number, [string, string]> = {
  500: ['InternalServerError', 'The service encountered an internal error. Please retry the request.'],
  502: ['BadGateway', 'The service received an invalid response from an upstream server.'],
  503: ['ServiceUnavailable', 'The service is temporarily unavailable. Please retry the request.'],
  504: ['GatewayTimeout', 'The service did not complete the request in time.'],
};

/** The stand-in's answer for an injected status (server.ts `faultResponse`). 5xx wording [inferred]. */
export function faultResponse(status: number, headers: Record<string, string>): SandboxResponse {
  if (status === 429) return throttled(headers);
  const [code, message] = SERVER_ERRORS[status] ?? [
    status >= 500 ? 'InternalServerError' : 'BadRequest',
    'Injected fault.',
  ];
  const res = kvError(status, code, message);
  return { ...res, headers: { ...res.headers, ...headers } };
}
