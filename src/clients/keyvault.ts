/**
 * Key Vault secrets through `@azure/keyvault-secrets` SecretClient. The SDK performs challenge-based authentication
 * itself (first request without a token, 401 + WWW-Authenticate, then the token for the challenge's resource and
 * tenant); resource verification must be off only where the vault is not under vault.azure.net (the sandbox on
 * 127.0.0.1) (docs/reference/microsoft.md#key-vault-challenge-authentication).
 */
import type { TokenCredential } from '@azure/identity';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import type * as KeyVaultSecrets from '@azure/keyvault-secrets';
import type { SecretClient } from '@azure/keyvault-secrets';

import { classify, ExternalServiceError, TIMEOUT_CODE } from '../lib/errors';
import { createLogger } from '../lib/logger';
import { refreshCredential } from './credentials';
import { deadlinePolicy } from './deadline';

export interface SecretClientDeps {
  vaultUrl: string;
  credential: TokenCredential;
  /** Default true. */
  challengeResourceVerification?: boolean;
  /** Deadline of one request attempt (KEY_VAULT_TIMEOUT_SECONDS); default 30 s. */
  timeoutMs?: number;
}

export const DEFAULT_KEY_VAULT_TIMEOUT_MS = 30_000;

const log = createLogger('keyvault');

/**
 * A 401 that survives the SDK's challenge handling means the vault refused the token itself (expired early, revoked):
 * the SDK's token cycler would keep sending it until it nears expiry. Drop the cached tokens once and send again;
 * a second 401 is the answer (no loop). Position `perCall`: outside the SDK's retry and authentication policies, so
 * the resend gets a fresh token through them.
 */
export function refreshOn401Policy(credential: TokenCredential): PipelinePolicy {
  return {
    name: 'm365SnowRefreshOn401Policy',
    async sendRequest(request, next) {
      let status: number | undefined;
      try {
        const response = await next(request);
        if (response.status !== 401) return response;
        status = response.status;
        if (!refreshCredential(credential)) return response;
      } catch (err) {
        status = (err as { statusCode?: unknown }).statusCode as number | undefined;
        if (status !== 401 || !refreshCredential(credential)) throw err;
      }
      log.warn('Key Vault refused the token; retrying once with a fresh one', { status });
      return next(request);
    },
  };
}

export function createSecretClient(deps: SecretClientDeps): SecretClient {
  // Loaded when the first client is built, not when the app's entry module loads (src/app/deps.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  const { SecretClient } = require('@azure/keyvault-secrets') as typeof KeyVaultSecrets;
  return new SecretClient(deps.vaultUrl, deps.credential, {
    disableChallengeResourceVerification: deps.challengeResourceVerification === false,
    additionalPolicies: [
      { policy: refreshOn401Policy(deps.credential), position: 'perCall' },
      { policy: deadlinePolicy(deps.timeoutMs ?? DEFAULT_KEY_VAULT_TIMEOUT_MS), position: 'perRetry' },
    ],
  });
}

/** What readers of a secret need; a SecretClient satisfies it, tests may pass a fake. */
export type SecretReader = Pick<SecretClient, 'getSecret'>;

/**
 * Normalises a Key Vault SDK failure (RestError with `statusCode` and `code`, e.g. 404 `SecretNotFound`, 409
 * `Conflict`; a deadline's TimeoutError; a network error) into an ExternalServiceError classified by
 * lib/errors.ts `classify`. The RestError itself is dropped: it holds the request.
 */
export function toKeyVaultError(err: unknown, operation: string): ExternalServiceError {
  if (err instanceof ExternalServiceError) return err;
  const e = (err ?? {}) as { statusCode?: unknown; code?: unknown; name?: unknown; message?: unknown };
  const c = classify(err);
  const status = typeof e.statusCode === 'number' && e.statusCode > 0 ? e.statusCode : undefined;
  const timedOut = c.kind === 'timeout' && status === undefined;
  const code = timedOut
    ? TIMEOUT_CODE
    : typeof e.code === 'string'
      ? e.code
      : typeof e.name === 'string'
        ? e.name
        : c.code;
  const message = typeof e.message === 'string' ? e.message : 'unknown error';
  return new ExternalServiceError({
    service: 'keyvault',
    status,
    code,
    message: `Key Vault ${operation} ${timedOut ? 'timed out' : 'failed'}${status ? ` (${status})` : ''}: ${message}`,
    retriable: c.transient,
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
