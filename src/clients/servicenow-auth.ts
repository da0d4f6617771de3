/**
 * How the ServiceNow client authenticates as the provisioning identity. By default (`entra`) with an Entra access
 * token of the app's own identity (managed identity in Azure) for the control-plane audience: ServiceNow validates it
 * against the OIDC provider configuration and entity the bootstrap script created, and runs the call as the machine
 * user whose user_name is the identity's `oid` (ServiceNow KB0720547 "External ID Token Authentication (OIDC) for
 * REST APIs"). No ServiceNow credential exists anywhere. The fallbacks, off unless SERVICENOW_AUTH_MODE asks: HTTP
 * Basic, or a bearer token from ServiceNow's own OAuth server (`POST {instance}/oauth_token.do`, grant_type=client_credentials; SN-OAUTHEX,
 * SN-CC; docs/reference/servicenow.md#authentication-and-roles). The credentials live in Key Vault and are read at use
 * time with a short cache, so a rotated password is picked up without a restart (never copied into settings at
 * start-up).
 */
import type { TokenCredential } from '@azure/identity';
import axios from 'axios';

import { type AppConfig, ConfigError, serviceNowCredentialSecretNames, serviceNowInstanceUrl } from '../config';
import { classify, ExternalServiceError, TIMEOUT_CODE } from '../lib/errors';
import { registerSecret } from '../lib/redact';
import { refreshCredential } from './credentials';
import { readSecretValue, type SecretReader } from './keyvault';

export interface ServiceNowAuthProvider {
  readonly kind: 'entra' | 'basic' | 'oauth';
  /** The Authorization header value for the next request. */
  authorization(): Promise<string>;
  /** Forgets cached credentials and tokens (after a 401), so the next call re-reads Key Vault. */
  invalidate(): void;
}

interface CacheOptions {
  /** How long values read from Key Vault are reused. Default 5 minutes. */
  cacheTtlMs?: number;
  now?: () => number;
}

const DEFAULT_TTL = 5 * 60_000;

export interface BasicAuthOptions extends CacheOptions {
  secrets: SecretReader;
  usernameSecret: string;
  passwordSecret: string;
}

/** HTTP Basic (RFC 7617) with username and password read from Key Vault. */
export class BasicAuthProvider implements ServiceNowAuthProvider {
  readonly kind = 'basic';
  private cached: { header: string; at: number } | undefined;

  constructor(private readonly opts: BasicAuthOptions) {}

  async authorization(): Promise<string> {
    const now = (this.opts.now ?? Date.now)();
    if (this.cached && now - this.cached.at < (this.opts.cacheTtlMs ?? DEFAULT_TTL)) return this.cached.header;
    const [user, password] = await Promise.all([
      readSecretValue(this.opts.secrets, this.opts.usernameSecret),
      readSecretValue(this.opts.secrets, this.opts.passwordSecret),
    ]);
    registerSecret(password);
    const token = Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
    registerSecret(token);
    this.cached = { header: `Basic ${token}`, at: now };
    return this.cached.header;
  }

  invalidate(): void {
    this.cached = undefined;
  }
}

export interface OAuthClientCredentialsOptions extends CacheOptions {
  secrets: SecretReader;
  clientIdSecret: string;
  clientSecretSecret: string;
  /** `https://{instance}.service-now.com`, without trailing slash. */
  instanceUrl: string;
  /** Deadline of the token request (SERVICENOW_TIMEOUT_SECONDS); default 30 s. */
  timeoutMs?: number;
}

/** ServiceNow OAuth client credentials; the access token (default lifetime 1800 s) is reused until 60 s before expiry. */
export class OAuthClientCredentialsProvider implements ServiceNowAuthProvider {
  readonly kind = 'oauth';
  private token: { header: string; expiresAt: number } | undefined;
  private inflight: Promise<string> | undefined;
  /** Bumped by invalidate(): a fetch that began before it neither serves later callers nor caches its token. */
  private generation = 0;

  constructor(private readonly opts: OAuthClientCredentialsOptions) {}

  async authorization(): Promise<string> {
    const now = (this.opts.now ?? Date.now)();
    if (this.token && now < this.token.expiresAt) return this.token.header;
    if (!this.inflight) {
      const generation = this.generation;
      const fetching: Promise<string> = this.fetchToken(generation).finally(() => {
        if (this.inflight === fetching) this.inflight = undefined;
      });
      this.inflight = fetching;
    }
    return this.inflight;
  }

  invalidate(): void {
    this.token = undefined;
    this.inflight = undefined;
    this.generation += 1;
  }

  private async fetchToken(generation: number): Promise<string> {
    const [clientId, clientSecret] = await Promise.all([
      readSecretValue(this.opts.secrets, this.opts.clientIdSecret),
      readSecretValue(this.opts.secrets, this.opts.clientSecretSecret),
    ]);
    registerSecret(clientSecret);
    const url = `${this.opts.instanceUrl}/oauth_token.do`;
    let res;
    const timeoutMs = this.opts.timeoutMs ?? 30_000;
    const deadline = AbortSignal.timeout(timeoutMs);
    try {
      res = await axios.post<unknown>(
        url,
        new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: clientSecret,
        }).toString(),
        {
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
          validateStatus: () => true,
          maxRedirects: 0,
          timeout: timeoutMs,
          signal: deadline,
          transitional: { clarifyTimeoutError: true },
        },
      );
    } catch (err) {
      const c = classify(err);
      const raw = (err as { code?: unknown }).code;
      const code =
        deadline.aborted || c.code === TIMEOUT_CODE ? TIMEOUT_CODE : typeof raw === 'string' ? raw : 'NetworkError';
      throw new ExternalServiceError({
        service: 'servicenow',
        code,
        message: `ServiceNow OAuth token request ${code === TIMEOUT_CODE ? `got no answer within ${timeoutMs} ms` : `failed: ${code}`}`,
        retriable: code === TIMEOUT_CODE || c.transient,
      });
    }
    const body = (res.data && typeof res.data === 'object' ? res.data : {}) as Record<string, unknown>;
    if (res.status !== 200 || typeof body.access_token !== 'string') {
      const error = typeof body.error === 'string' ? body.error : undefined;
      const description = typeof body.error_description === 'string' ? body.error_description : '';
      throw new ExternalServiceError({
        service: 'servicenow',
        status: res.status,
        code: error ?? `HTTP${res.status}`,
        message: `ServiceNow OAuth token request answered ${res.status}${error ? ` ${error}` : ''}${description ? `: ${description}` : ''}`,
        retriable: classify({ status: res.status }).transient,
      });
    }
    registerSecret(body.access_token);
    const lifetimeS = Number(body.expires_in);
    const now = (this.opts.now ?? Date.now)();
    const header = `Bearer ${body.access_token}`;
    // Credentials forgotten meanwhile: this token came from what was read before, so it is not kept for later calls.
    if (generation === this.generation)
      this.token = {
        header,
        expiresAt: now + Math.max(0, (Number.isFinite(lifetimeS) ? lifetimeS : 1800) - 60) * 1000,
      };
    return header;
  }
}

export interface EntraTokenAuthOptions {
  /** The app's identity (deps.credential): ManagedIdentityCredential in Azure, the sandbox credential locally. */
  credential: TokenCredential;
  /** `<app ID URI>/.default` (SERVICENOW_TOKEN_AUDIENCE). */
  scope: string;
  /** A token is reused until this long before it expires. Default 5 minutes. */
  refreshBeforeMs?: number;
  now?: () => number;
}

/**
 * Bearer tokens from the app's own TokenCredential for the control-plane audience. The identity SDK caches tokens
 * (MSAL, https://learn.microsoft.com/entra/msal/javascript/node/caching); this keeps the header too and asks again
 * 5 minutes before expiry. A 401 (`invalidate`) drops both: the credential's caches are replaced
 * (RefreshableCredential.refresh), so the retry carries a newly issued token, never the rejected one.
 */
export class EntraTokenAuthProvider implements ServiceNowAuthProvider {
  readonly kind = 'entra';
  private cached: { header: string; expiresAt: number } | undefined;
  private inflight: Promise<string> | undefined;
  private generation = 0;

  constructor(private readonly opts: EntraTokenAuthOptions) {}

  async authorization(): Promise<string> {
    const now = (this.opts.now ?? Date.now)();
    if (this.cached && now < this.cached.expiresAt) return this.cached.header;
    if (!this.inflight) {
      const fetching = this.fetchToken(this.generation).finally(() => {
        if (this.inflight === fetching) this.inflight = undefined;
      });
      this.inflight = fetching;
    }
    return this.inflight;
  }

  invalidate(): void {
    this.cached = undefined;
    this.inflight = undefined;
    this.generation += 1;
    refreshCredential(this.opts.credential);
  }

  private async fetchToken(generation: number): Promise<string> {
    let token;
    try {
      token = await this.opts.credential.getToken(this.opts.scope);
    } catch (err) {
      const c = classify(err);
      const status = (err as { statusCode?: unknown }).statusCode;
      const transient = c.transient || (typeof status === 'number' && (status === 429 || status >= 500));
      const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new ExternalServiceError({
        service: 'entra',
        code: c.code ?? 'TokenRequestFailed',
        message: `The app's identity could not get an Entra token for ServiceNow (scope ${this.opts.scope}): ${detail}`,
        retriable: transient,
      });
    }
    if (!token?.token)
      throw new ExternalServiceError({
        service: 'entra',
        code: 'NoToken',
        message: `The app's identity got no Entra token for ServiceNow (scope ${this.opts.scope})`,
        retriable: false,
      });
    registerSecret(token.token);
    const header = `Bearer ${token.token}`;
    const refreshBefore = this.opts.refreshBeforeMs ?? 5 * 60_000;
    if (generation === this.generation) this.cached = { header, expiresAt: token.expiresOnTimestamp - refreshBefore };
    return header;
  }
}

/**
 * The provider SERVICENOW_AUTH_MODE selects: `entra` uses the app's credential (no secret read); `basic` and `oauth`
 * read `{prefix}{instance}-…` secrets.
 */
export function createServiceNowAuth(
  config: Pick<AppConfig, 'serviceNow'>,
  instance: string,
  secrets: SecretReader | (() => SecretReader),
  cache: CacheOptions = {},
  credential?: () => TokenCredential,
): ServiceNowAuthProvider {
  if (config.serviceNow.authMode === 'entra') {
    const token = config.serviceNow.token;
    if (!token || !credential)
      throw new ConfigError([
        {
          name: 'SERVICENOW_TOKEN_AUDIENCE',
          reason: 'is required when SERVICENOW_AUTH_MODE is entra (the default)',
        },
      ]);
    return new EntraTokenAuthProvider({
      credential: credential(),
      scope: token.scope,
      ...(cache.now ? { now: cache.now } : {}),
    });
  }
  if (typeof secrets === 'function') secrets = secrets();
  const names = serviceNowCredentialSecretNames(config, instance);
  if (config.serviceNow.authMode === 'oauth')
    return new OAuthClientCredentialsProvider({
      ...cache,
      secrets,
      clientIdSecret: names.clientId,
      clientSecretSecret: names.clientSecret,
      instanceUrl: serviceNowInstanceUrl(config, instance),
      timeoutMs: config.serviceNow.timeoutMs,
    });
  return new BasicAuthProvider({ ...cache, secrets, usernameSecret: names.username, passwordSecret: names.password });
}
