/**
 * Key Vault secrets through `@azure/keyvault-secrets` SecretClient. The SDK performs challenge-based authentication
 * itself (first request without a token, 401 + WWW-Authenticate, then the token for the challenge's resource and
 * tenant); resource verification must be off only where the vault is not under vault.azure.net (the sandbox on
 * 127.0.0.1) (microsoft-apis.md §6.4, §6.5).
 */
import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';

import { ExternalServiceError, isRetriableStatus, NETWORK_ERROR_CODES } from '../lib/errors';

export interface SecretClientDeps {
  vaultUrl: string;
  credential: TokenCredential;
  /** Default true. */
  challengeResourceVerification?: boolean;
}

export function createSecretClient(deps: SecretClientDeps): SecretClient {
  return new SecretClient(deps.vaultUrl, deps.credential, {
    disableChallengeResourceVerification: deps.challengeResourceVerification === false,
  });
}

/** What readers of a secret need; a SecretClient satisfies it, tests may pass a fake. */
export type SecretReader = Pick<SecretClient, 'getSecret'>;

/**
 * Normalises a Key Vault SDK failure (RestError with `statusCode` and `code`, e.g. 404 `SecretNotFound`, 409
 * `Conflict`) into an ExternalServiceError. The RestError itself is dropped: it holds the request.
 */
export function toKeyVaultError(err: unknown, operation: string): ExternalServiceError {
  if (err instanceof ExternalServiceError) return err;
  const e = (err ?? {}) as { statusCode?: unknown; code?: unknown; name?: unknown; message?: unknown };
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : undefined;
  const message = typeof e.message === 'string' ? e.message : 'unknown error';
  return new ExternalServiceError({
    service: 'keyvault',
    status,
    code,
    message: `Key Vault ${operation} failed${status ? ` (${status})` : ''}: ${message}`,
    retriable: status !== undefined ? isRetriableStatus(status) : code !== undefined && NETWORK_ERROR_CODES.has(code),
  });
}

/** The current value of a secret; throws ExternalServiceError (404 `SecretNotFound` when absent or disabled). */
export async function readSecretValue(secrets: SecretReader, name: string): Promise<string> {
  let value: string | undefined;
  try {
    value = (await secrets.getSecret(name)).value;
  } catch (err) {
    throw toKeyVaultError(err, `get secret '${name}'`);
  }
  if (value === undefined || value === '')
    throw new ExternalServiceError({
      service: 'keyvault',
      code: 'SecretEmpty',
      message: `Key Vault secret '${name}' has no value`,
      retriable: false,
    });
  return value;
}
