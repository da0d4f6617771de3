/**
 * The app's own identity. In Azure: the managed identity (user-assigned when AZURE_CLIENT_ID is set, else
 * DefaultAzureCredential, which tries managed identity and developer sign-ins). Sandbox/dev: a ClientSecretCredential
 * against ENTRA_AUTHORITY_HOST with instance discovery off, since MSAL would otherwise call the real
 * login.microsoftonline.com/common/discovery/instance first
 * (docs/reference/microsoft.md#azure-identity-against-local-endpoints).
 */
import type * as Identity from '@azure/identity';
import type { AccessToken, GetTokenOptions, TokenCredential, TokenCredentialOptions } from '@azure/identity';

import type { AppConfig } from '../config';
import { TIMEOUT_CODE } from '../lib/errors';
import { deadlinePolicy } from './deadline';

export type CredentialConfig = Pick<AppConfig, 'tenantId' | 'identity'> & {
  entra: Pick<AppConfig['entra'], 'authorityHost'> & Partial<Pick<AppConfig['entra'], 'timeoutMs'>>;
};

export type CredentialKind = 'client-secret' | 'managed-identity' | 'default';

/** Which credential `createCredential` builds for these settings. */
export function credentialKind(config: CredentialConfig): CredentialKind {
  if (config.identity.clientSecret) return 'client-secret';
  if (config.identity.clientId) return 'managed-identity';
  return 'default';
}

/**
 * A TokenCredential whose cached tokens can be dropped. `refresh()` is for a service that answered 401 to a token
 * the caches still hold (expired early, revoked, or a clock skew): it replaces the inner credential, whose MSAL cache
 * would otherwise hand out the same token until it nears expiry
 * (https://learn.microsoft.com/entra/msal/javascript/node/caching), and marks every token handed out so far as
 * expired, so the Azure SDK's token cycler (which reuses a token until shortly before `expiresOnTimestamp`,
 * https://github.com/Azure/azure-sdk-for-js/blob/main/sdk/core/core-rest-pipeline/src/util/tokenCycler.ts) asks for
 * a new one on its next request.
 */
export class RefreshableCredential implements TokenCredential {
  private inner: TokenCredential;
  private issued: AccessToken[] = [];
  /** How many times the cached tokens were dropped (diagnostics and tests). */
  refreshes = 0;

  /** Token requests that ran past their deadline (the identity pipeline's deadline policy counts them). */
  timeouts = 0;

  constructor(private readonly factory: () => TokenCredential) {
    this.inner = factory();
  }

  /** The credential currently asked for tokens. */
  get current(): TokenCredential {
    return this.inner;
  }

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    const timeoutsBefore = this.timeouts;
    let token: AccessToken | null;
    try {
      token = await this.inner.getToken(scopes, options);
    } catch (err) {
      throw tokenRequestFailure(err, this.timeouts > timeoutsBefore);
    }
    if (!token) return token;
    const copy: AccessToken = { ...token };
    this.issued.push(copy);
    if (this.issued.length > 32) this.issued.shift();
    return copy;
  }

  /** Forgets every cached token: the next getToken asks Entra again. */
  refresh(): void {
    this.refreshes += 1;
    for (const t of this.issued) t.expiresOnTimestamp = 0;
    this.issued = [];
    this.inner = this.factory();
  }
}

/**
 * MSAL reports any failed HTTP exchange as `network_error` (https://aka.ms/msal.js.errors#network_error), which
 * @azure/identity wraps in an AuthenticationRequiredError: no answer from Entra, worth retrying. Renamed so callers that
 * only keep an error's name (graph-client's GraphError `code`) still classify it: `TimeoutError` when our deadline
 * fired, else `NetworkError` (lib/errors.ts `classify`). Refusals (bad secret, unknown app) pass through unchanged.
 */
function tokenRequestFailure(err: unknown, timedOut: boolean): unknown {
  const e = err as { message?: unknown; errorResponse?: { error?: unknown } } | undefined;
  const msalNetwork =
    (typeof e?.message === 'string' && /\bnetwork_error\b/.test(e.message)) ||
    e?.errorResponse?.error === 'network_error';
  if (!timedOut && !msalNetwork) return err;
  const out = new Error(
    timedOut
      ? 'the token request to Entra did not answer within ENTRA_TIMEOUT_SECONDS'
      : 'the token request to Entra failed without an answer (network_error)',
  );
  out.name = timedOut ? 'TimeoutError' : 'NetworkError';
  (out as Error & { code?: string }).code = timedOut ? TIMEOUT_CODE : 'NetworkError';
  return out;
}

/** Drops the cached tokens of `credential` when it can (a RefreshableCredential); returns whether it did. */
export function refreshCredential(credential: TokenCredential): boolean {
  if (credential instanceof RefreshableCredential) {
    credential.refresh();
    return true;
  }
  return false;
}

export function createCredential(config: CredentialConfig): RefreshableCredential {
  const { clientId, clientSecret } = config.identity;
  // Every token request (MSAL through the identity pipeline) gets the Entra deadline.
  const timeoutMs = config.entra.timeoutMs;
  const pipeline: TokenCredentialOptions =
    timeoutMs !== undefined
      ? {
          additionalPolicies: [
            { policy: deadlinePolicy(timeoutMs, () => (credential.timeouts += 1)), position: 'perRetry' },
          ],
        }
      : {};
  const kind = credentialKind(config);
  // @azure/identity (and MSAL under it) is loaded when the first credential is built, not when the app's entry module
  // loads: see src/app/deps.ts. A literal require, so that the bundler (scripts/package.cjs) still includes it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  const identity = require('@azure/identity') as typeof Identity;
  const { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } = identity;
  const credential = new RefreshableCredential(() => {
    switch (kind) {
      case 'client-secret':
        return new ClientSecretCredential(config.tenantId, clientId ?? '', clientSecret ?? '', {
          ...pipeline,
          authorityHost: config.entra.authorityHost,
          disableInstanceDiscovery: true,
        });
      case 'managed-identity':
        return new ManagedIdentityCredential({ ...pipeline, clientId: clientId ?? '' });
      default:
        return new DefaultAzureCredential({
          ...pipeline,
          tenantId: config.tenantId,
          authorityHost: config.entra.authorityHost,
        });
    }
  });
  return credential;
}
