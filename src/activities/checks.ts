/**
 * Activity `runChecks`: proves the provisioned integration works, check by check (the profile's CheckSpec list), and
 * maps each failure to a remediation hint.
 *
 * - outboundToken: a client-credential token for the app from the v1 token URL ServiceNow will use (the outbound
 *   record's `token_url`), with the secret read from Key Vault, for Microsoft Graph
 *   (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
 * - inboundTableRead: a v1 token for the client app with `resource` = the resource app's id, then
 *   `GET /api/now/table/{table}?sysparm_limit=1` with it; a 401 is diagnosed against the records ServiceNow uses to
 *   validate the token: entity by `aud`, provider metadata, `user_claim` → `user_field`, active user.
 * - oidcMetadata: the provider configuration's metadata URL answers with the tenant's v1 issuer. That URL is read from
 *   ServiceNow, where anyone who may edit the record can change it, so only a URL on the configured Entra authority
 *   host (same scheme, host and port) is fetched, redirects are not followed, the answer is capped in size and time,
 *   and nothing of an answer's text reaches the outcome except a validated issuer URL from that host.
 * - recordsConsistent: the ServiceNow records still hold the rendered values (client ids, user names, active) and the
 *   apps still exist in Entra with the same app ids (an existing service principal: still there, same object id).
 * - servicePrincipalUser: the user a federated trust maps tokens to is the app's service principal, active, with its
 *   roles (below).
 *
 * AADSTS7000215/7000222/700016 right after a secret or app was created are marked `transient`: new credentials take
 * seconds to minutes to work (replication delay:
 * https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes), so the orchestrator
 * retries with a durable timer. Tokens and secrets never appear in outcomes or logs.
 */
import { randomUUID } from 'node:crypto';

import axios, { type AxiosError, type AxiosResponse } from 'axios';

import { graphRaw, odataKey } from '../clients/graph';
import { requestTokenV1, requestTokenV2, requestTokenWithAssertion, type TokenResult } from '../clients/entra';
import type { CertificateRef } from '../contracts/credentials';
import { toKeyVaultError } from '../clients/keyvault';
import { encodedQuery, type SnRecord } from '../clients/servicenow';
import { entraEndpoints, serviceNowInstanceUrl } from '../config';
import { classify, ensureErrorType, ExternalServiceError, timeoutError } from '../lib/errors';
import { redactText, registerSecret } from '../lib/redact';
import type { CheckSpec } from '../profiles/types';
import { type ActivityLog, logLine } from './log';
import type { AppResult, CheckOutcome, ExpectedRecord, RunChecksInput, SecretResult } from '../contracts/provision';
import type { Deps } from '../app/deps';

/** How long after a secret was stored Entra's refusals count as propagation delay rather than a real fault. */
export const TRANSIENT_WINDOW_MS = 10 * 60_000;
const TRANSIENT_AADSTS = new Set([7000215, 7000222, 700016]);

/**
 * Remediation hints for the AADSTS codes a client-credentials request meets
 * (https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes).
 */
export const AADSTS_HINTS: Record<number, string> = {
  7000215:
    'AADSTS7000215: Entra refused the client secret (wrong or old value). Re-run the secrets step so that Key Vault, ' +
    'ServiceNow and Entra hold the same current secret. Right after creation this passes within a minute or two.',
  7000222: 'AADSTS7000222: the client secret has expired. Re-run the secrets step to add a new one.',
  700016:
    'AADSTS700016: Entra does not know the application in this tenant (wrong tenant, deleted app, or not replicated ' +
    'yet). Wait a few minutes and retry; if it persists, re-run the app step.',
  90002: 'AADSTS90002: the tenant was not found. Check the tenant domain or id of the integration.',
  7000229: 'AADSTS7000229: the application has no service principal in the tenant. Re-run the app step.',
  500011: 'AADSTS500011: the resource application has no service principal in the tenant. Re-run the app step.',
};

export const SERVICENOW_HINTS = {
  noEntity:
    'ServiceNow has no active OIDC entity (oauth_oidc_entity) whose Client ID equals the token audience: set its ' +
    'Client ID to the Rest API app id and make it active.',
  noProvider: 'The OIDC entity has no OIDC provider configuration: link the provider configuration record.',
  metadata:
    'ServiceNow cannot use the provider configuration metadata URL (unreachable, or another issuer): set OIDC ' +
    "Metadata URL to the tenant's metadata URL of the token version (v1 tokens: the v1 URL; v2 tokens: the v2.0 URL).",
  userClaim:
    "The OIDC provider configuration's User Claim does not map the token to the integration user: set User Claim to " +
    'the claim that carries the Rest User app id (appid for v1 tokens) and User Field to user_name.',
  noUser: 'No ServiceNow user matches the token: the integration user (user_name = the Rest User app id) is missing.',
  inactiveUser: 'The integration user is inactive or locked out: activate it.',
  jti: 'JTI verification is on for the provider configuration; Entra tokens carry no jti: turn it off.',
  other:
    'ServiceNow answered 401. Check the OIDC entity (Client ID = Rest API app id, active), the provider ' +
    'configuration (v1 metadata URL, User Claim appid, User Field user_name) and the integration user (active); ' +
    'metadata is cached, so retry after a few minutes.',
  forbidden:
    'ServiceNow answered 403: the integration user authenticated but lacks access. Grant its role (e.g. ' +
    'incident_manager), check the table ACLs, and map an auth scope (useraccount) to the OIDC entity if REST API ' +
    'auth scopes are in use.',
};

interface Ctx {
  input: RunChecksInput;
  deps: Deps;
  log?: ActivityLog;
}

const appOf = (c: Ctx, role: string): AppResult | undefined => c.input.apps.find((a) => a.role === role);
const secretOf = (c: Ctx, role: string): SecretResult | undefined => c.input.secrets.find((s) => s.role === role);
const sysIdOf = (c: Ctx, key: string): string | undefined => c.input.records.find((r) => r.key === key)?.sysId;
const fail = (name: string, detail: string, extra: Partial<CheckOutcome> = {}): CheckOutcome => ({
  name,
  ok: false,
  detail: redactText(detail),
  ...extra,
});

/** The secret's current value from Key Vault (registered for redaction) and whether it was stored just now. */
async function readSecret(c: Ctx, name: string): Promise<{ value: string; recent: boolean }> {
  let value: string | undefined;
  let createdOn: Date | undefined;
  try {
    const s = await c.deps.secrets.getSecret(name);
    value = s.value;
    createdOn = s.properties.createdOn;
  } catch (err) {
    throw toKeyVaultError(err, `get secret '${name}'`);
  }
  if (!value)
    throw new ExternalServiceError({
      service: 'keyvault',
      code: 'SecretEmpty',
      message: `Key Vault secret '${name}' has no value`,
      retriable: false,
    });
  registerSecret(value);
  const recent = createdOn !== undefined && c.deps.now().getTime() - createdOn.getTime() < TRANSIENT_WINDOW_MS;
  return { value, recent };
}

function tokenFailure(name: string, what: string, r: Exclude<TokenResult, { ok: true }>, recent: boolean) {
  const code = r.errorCodes[0];
  return fail(name, `${what}: Entra answered ${r.status} ${r.error}${code ? ` (AADSTS${code})` : ''}`, {
    hint: (code !== undefined ? AADSTS_HINTS[code] : undefined) ?? `Entra refused the token request: ${r.description}`,
    // Throttling (429 AADSTS90055 with Retry-After), temporarily_unavailable and 5xx are transient whenever they come
    // (lib/errors.ts isTransientEntraFailure); refused secrets only right after they were stored.
    ...((code !== undefined && TRANSIENT_AADSTS.has(code) && recent) || r.transient ? { transient: true } : {}),
  });
}

/** A check that threw (network, Key Vault, ServiceNow admin read): a failure, transient when retrying may help. */
function thrown(name: string, err: unknown): CheckOutcome {
  const e = ensureErrorType(err);
  const retriable = classify(e).transient;
  return fail(name, e.message, {
    hint:
      e instanceof ExternalServiceError && e.service === 'keyvault'
        ? 'The client secret could not be read from Key Vault: re-run the secrets step.'
        : 'A service did not answer as expected; retry later.',
    ...(retriable ? { transient: true } : {}),
  });
}

// -----------------------------------------------------------------------------------------------------------------

/** The v1 token URL a record for this client id carries (what ServiceNow will use), else the tenant's own. */
function tokenUrlFor(c: Ctx, appId: string): string {
  const rec = c.input.expectedRecords.find((r) => r.fields.client_id === appId && r.fields.token_url);
  return rec?.fields.token_url ?? entraEndpoints(c.deps.config.entra.authorityHost, c.input.tenant).tokenV1;
}

/** The tenant segment of `${authorityHost}/{tenant}/oauth2/token`, or undefined when the URL is not of that form. */
function tenantOfTokenUrl(authorityHost: string, url: string): string | undefined {
  const prefix = `${authorityHost.replace(/\/+$/, '')}/`;
  if (!url.startsWith(prefix)) return undefined;
  const m = /^([^/?#]+)\/oauth2\/token$/.exec(url.slice(prefix.length));
  return m ? decodeURIComponent(m[1]) : undefined;
}

async function outboundToken(c: Ctx, spec: Extract<CheckSpec, { kind: 'outboundToken' }>): Promise<CheckOutcome> {
  const name = `outbound token (${spec.app})`;
  const app = appOf(c, spec.app);
  const secret = secretOf(c, spec.app);
  if (!app || !secret) return fail(name, `no app or secret for role ${spec.app}`, { hint: 'Re-run provisioning.' });
  const authority = c.deps.config.entra.authorityHost;
  const tokenUrl = tokenUrlFor(c, app.appId);
  const tenant = tenantOfTokenUrl(authority, tokenUrl);
  if (!tenant)
    return fail(name, `the outbound token URL ${tokenUrl} is not a v1 token endpoint under ${authority}`, {
      hint: `Set the Token URL of the outbound OAuth provider to ${entraEndpoints(authority, c.input.tenant).tokenV1}.`,
    });
  try {
    const { value, recent } = await readSecret(c, secret.secretName);
    const resource = c.deps.config.graph.baseUrl;
    const r = await requestTokenV1({
      authorityHost: authority,
      tenant,
      clientId: app.appId,
      clientSecret: value,
      resource,
      timeoutMs: c.deps.config.entra.timeoutMs,
    });
    if (!r.ok) return tokenFailure(name, `token for ${app.appId} from ${tokenUrl}`, r, recent);
    return { name, ok: true, detail: `Entra issued a token for ${app.appId} (resource ${resource}) from ${tokenUrl}` };
  } catch (err) {
    return thrown(name, err);
  }
}

/**
 * The app's own token for Microsoft Graph, as ServiceNow's connection will ask for it: client credentials at the v2
 * endpoint with `scope={graphUrl}/.default`; its `roles` claim must list every application permission the app
 * declares (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference). Missing roles mean
 * admin consent is not given (yet): transient, so the check is asked again while consent propagates.
 */
async function graphToken(c: Ctx, spec: Extract<CheckSpec, { kind: 'graphToken' }>): Promise<CheckOutcome> {
  const name = `Graph token (${spec.app})`;
  const app = appOf(c, spec.app);
  const secret = secretOf(c, spec.app);
  if (!app || !secret) return fail(name, `no app or secret for role ${spec.app}`, { hint: 'Re-run provisioning.' });
  try {
    const { value, recent } = await readSecret(c, secret.secretName);
    const scope = `${c.deps.config.graph.baseUrl}/.default`;
    const r = await requestTokenV2({
      authorityHost: c.deps.config.entra.authorityHost,
      tenant: c.input.tenant,
      clientId: app.appId,
      clientSecret: value,
      scope,
      timeoutMs: c.deps.config.entra.timeoutMs,
    });
    if (!r.ok) return tokenFailure(name, `token for ${app.appId} (scope ${scope})`, r, recent);
    const roles = Array.isArray(r.claims?.roles)
      ? r.claims.roles.filter((x): x is string => typeof x === 'string')
      : [];
    const wanted = app.permissions?.values ?? [];
    const missing = wanted.filter((v) => !roles.includes(v));
    const extra = roles.filter((v) => !wanted.includes(v));
    if (extra.length)
      return fail(name, `the token for ${app.appId} carries permission(s) beyond the plan: ${extra.join(', ')}`, {
        hint: 'Revoke them (Enterprise applications > the app > Permissions), or re-run with the tier that has them.',
      });
    if (missing.length)
      return fail(name, `the token for ${app.appId} lacks the application permission(s) ${missing.join(', ')}`, {
        hint: 'Grant admin consent to the app (the manual step lists the link); the check is asked again.',
        transient: true,
      });
    return {
      name,
      ok: true,
      detail: `Entra issued a token for ${app.appId} (scope ${scope}) with roles ${roles.join(', ') || '(none)'}`,
    };
  } catch (err) {
    return thrown(name, err);
  }
}

// -----------------------------------------------------------------------------------------------------------------
// Certificate credentials

/** Attempts and spacing while Entra propagates a new key credential (CIPP: 3 retries 10 s apart, Get-GraphTokenFromCert.ps1). */
export const CERTIFICATE_TOKEN_ATTEMPTS = 4;
export const CERTIFICATE_TOKEN_RETRY_MS = 10_000;
const AADSTS_KEY_NOT_FOUND = 700027;

export interface CertificateTokenRequest {
  tenant: string;
  appId: string;
  certificate: CertificateRef;
  /** The token URL the consumer uses (v1 `/oauth2/token` or v2 `/oauth2/v2.0/token`); default the tenant's v2 URL. */
  tokenUrl?: string;
}

export type CertificateTokenResult =
  | { ok: true; attempts: number; endpoint: 'v1' | 'v2'; tokenUrl: string }
  | { ok: false; attempts: number; result: Exclude<TokenResult, { ok: true }>; tokenUrl: string };

/**
 * Proves that Entra issues a token for the app's certificate: the product signs a client assertion with the
 * certificate's key through deps.certificateKeys (Key Vault `sign`; the key never leaves the vault) exactly as the
 * Learn page "Microsoft identity platform application authentication certificate credentials" describes it (header
 * RS256 + x5t, which is what ServiceNow's JWT provider sends; claims aud = the token URL, iss = sub = client id, jti,
 * nbf, exp) and asks that endpoint for a Microsoft Graph token. AADSTS700027 right after the key was added is
 * propagation: asked again up to `attempts` times `delayMs` apart. The waits are inside this one activity call, so a
 * replay never repeats them; `sleep` is injectable so tests can move the sandbox clock instead of waiting.
 */
export async function certificateTokenWorks(
  deps: Deps,
  req: CertificateTokenRequest,
  opts: { attempts?: number; delayMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<CertificateTokenResult> {
  const authority = deps.config.entra.authorityHost;
  const tokenUrl = req.tokenUrl ?? entraEndpoints(authority, req.tenant).tokenV2;
  const endpoint: 'v1' | 'v2' = /\/oauth2\/v2\.0\/token$/.test(tokenUrl) ? 'v2' : 'v1';
  const prefix = `${authority.replace(/\/+$/, '')}/`;
  const tenant = tokenUrl.startsWith(prefix)
    ? decodeURIComponent(tokenUrl.slice(prefix.length).split('/')[0])
    : req.tenant;
  const attempts = opts.attempts ?? CERTIFICATE_TOKEN_ATTEMPTS;
  const delayMs = opts.delayMs ?? CERTIFICATE_TOKEN_RETRY_MS;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const facts = await deps.certificateKeys.publicCertificate(req.certificate);
  const graph = deps.config.graph.baseUrl;
  let last: Exclude<TokenResult, { ok: true }> | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const now = Math.floor(deps.now().getTime() / 1000);
    const assertion = await deps.certificateKeys.signJwt(
      req.certificate,
      'RS256',
      { x5t: facts.x5t },
      { aud: tokenUrl, iss: req.appId, sub: req.appId, jti: randomUUID(), nbf: now, iat: now, exp: now + 600 },
    );
    const r = await requestTokenWithAssertion({
      authorityHost: authority,
      tenant,
      clientId: req.appId,
      clientAssertion: assertion,
      endpoint,
      target: endpoint === 'v1' ? graph : `${graph}/.default`,
      timeoutMs: deps.config.entra.timeoutMs,
    });
    if (r.ok) return { ok: true, attempts: attempt, endpoint, tokenUrl };
    last = r;
    if (r.errorCodes[0] !== AADSTS_KEY_NOT_FOUND || attempt === attempts) break;
    await sleep(delayMs);
  }
  return { ok: false, attempts, result: last as Exclude<TokenResult, { ok: true }>, tokenUrl };
}

async function certificateToken(c: Ctx, spec: Extract<CheckSpec, { kind: 'certificateToken' }>): Promise<CheckOutcome> {
  const name = `certificate token (${spec.app})`;
  const app = appOf(c, spec.app);
  const cert = c.input.certificates?.find((x) => x.role === spec.app);
  if (!app || !cert) return fail(name, `no app or certificate for role ${spec.app}`, { hint: 'Re-run provisioning.' });
  try {
    const r = await certificateTokenWorks(c.deps, {
      tenant: c.input.tenant,
      appId: app.appId,
      certificate: { certificateName: cert.certificateName, version: cert.version },
      tokenUrl: tokenUrlFor(c, app.appId),
    });
    if (r.ok)
      return {
        name,
        ok: true,
        detail: `Entra issued a token for ${app.appId} to its certificate from ${r.tokenUrl} (attempt ${r.attempts})`,
      };
    const code = r.result.errorCodes[0];
    return fail(
      name,
      `token for ${app.appId} with its certificate from ${r.tokenUrl}: Entra answered ${r.result.status} ${r.result.error}${code ? ` (AADSTS${code})` : ''}`,
      {
        hint:
          code === AADSTS_KEY_NOT_FOUND
            ? 'AADSTS700027: Entra does not (yet) accept the certificate: check that it is registered on the app (key credentials) and retry in a minute.'
            : `Entra refused the token request: ${r.result.description}`,
        ...(code === AADSTS_KEY_NOT_FOUND || r.result.transient ? { transient: true } : {}),
      },
    );
  } catch (err) {
    return thrown(name, err);
  }
}

async function inboundTableRead(c: Ctx, spec: Extract<CheckSpec, { kind: 'inboundTableRead' }>): Promise<CheckOutcome> {
  const name = `inbound ${spec.table} read (${spec.clientApp} → ${spec.resourceApp})`;
  const client = appOf(c, spec.clientApp);
  const resource = appOf(c, spec.resourceApp);
  const secret = secretOf(c, spec.clientApp);
  if (!client || !resource || !secret)
    return fail(name, `no app or secret for ${spec.clientApp}/${spec.resourceApp}`, { hint: 'Re-run provisioning.' });
  try {
    const { value, recent } = await readSecret(c, secret.secretName);
    const t = await requestTokenV1({
      authorityHost: c.deps.config.entra.authorityHost,
      tenant: c.input.tenant,
      clientId: client.appId,
      clientSecret: value,
      resource: resource.appId,
      timeoutMs: c.deps.config.entra.timeoutMs,
    });
    if (!t.ok) return tokenFailure(name, `token for ${client.appId} (resource ${resource.appId})`, t, recent);
    const url = `${serviceNowInstanceUrl(c.deps.config, c.input.serviceNowInstance)}/api/now/table/${spec.table}`;
    const target = `GET /api/now/table/${spec.table}?sysparm_limit=1`;
    const timeoutMs = c.deps.config.serviceNow.timeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    let res: AxiosResponse<unknown>;
    try {
      res = await axios.get<unknown>(url, {
        params: { sysparm_limit: '1' },
        headers: { Accept: 'application/json', Authorization: `Bearer ${t.accessToken}` },
        validateStatus: () => true,
        maxRedirects: 0,
        timeout: timeoutMs,
        signal: deadline,
        transitional: { clarifyTimeoutError: true },
      });
    } catch (err) {
      // The deadline's abort surfaces as axios' CanceledError: the same retriable Timeout as every client raises.
      throw deadline.aborted ? timeoutError('servicenow', target, timeoutMs) : err;
    }
    if (res.status === 200)
      return { name, ok: true, detail: `${target} with the ${spec.clientApp} token answered 200` };
    if (res.status === 401) {
      const d = await diagnose401(c, t.claims ?? {}, client.appId);
      return fail(name, `${target} answered 401: ${d.cause}`, {
        hint: d.hint,
        ...(d.transient ? { transient: true } : {}),
      });
    }
    if (res.status === 403) return fail(name, `${target} answered 403`, { hint: SERVICENOW_HINTS.forbidden });
    return fail(name, `${target} answered ${res.status}`, {
      hint: 'ServiceNow did not answer as expected; retry later.',
      ...(res.status === 429 || res.status >= 500 ? { transient: true } : {}),
    });
  } catch (err) {
    return thrown(name, err);
  }
}

/** Why ServiceNow refused the token: walks its validation steps on the records (OIDC entity, provider, user). */
async function diagnose401(
  c: Ctx,
  claims: Record<string, unknown>,
  clientAppId: string,
): Promise<{ cause: string; hint: string; transient?: boolean }> {
  const sn = c.deps.serviceNow(c.input.serviceNowInstance);
  try {
    const aud = typeof claims.aud === 'string' ? claims.aud : '';
    const entities = await sn.list('oauth_oidc_entity', {
      query: encodedQuery().eq('client_id', aud).eq('active', 'true'),
      fields: ['sys_id', 'client_id', 'oidc_provider_configuration'],
    });
    if (!entities.length)
      return { cause: `no active OIDC entity with client_id ${aud}`, hint: SERVICENOW_HINTS.noEntity };
    const configId = str(entities[0].oidc_provider_configuration);
    const config =
      configId && /^[0-9a-f]{32}$/.test(configId) ? await sn.get('oidc_provider_configuration', configId) : undefined;
    if (!config) return { cause: 'the OIDC entity has no provider configuration', hint: SERVICENOW_HINTS.noProvider };
    const md = await fetchMetadata(c, str(config.oidc_url));
    if (!md.ok)
      return {
        cause: `metadata URL unusable: ${md.detail}`,
        hint: SERVICENOW_HINTS.metadata,
        ...(md.transient ? { transient: true } : {}),
      };
    if (typeof claims.iss === 'string' && md.issuer !== claims.iss)
      return {
        cause: `the metadata issuer ${md.issuer} is not the token issuer ${claims.iss}`,
        hint: SERVICENOW_HINTS.metadata,
      };
    const userClaim = str(config.user_claim) || 'sub';
    const userField = str(config.user_field) || 'user_name';
    const carrying = Object.keys(claims).filter((k) => claims[k] === clientAppId);
    const claimHint = `${SERVICENOW_HINTS.userClaim}${carrying.length ? ` The token carries the Rest User app id in: ${carrying.join(', ')}.` : ''}`;
    const value = claims[userClaim];
    if (typeof value !== 'string' || !value)
      return { cause: `user_claim '${userClaim}' is not a claim of the token`, hint: claimHint };
    if (!/^[a-z0-9_]+$/.test(userField))
      return { cause: `user_field '${userField}' is not a column name`, hint: claimHint };
    const users = await sn.list('sys_user', {
      query: encodedQuery().eq(userField, value),
      fields: ['sys_id', 'user_name', 'active', 'locked_out'],
    });
    if (!users.length)
      return value === clientAppId
        ? { cause: `no sys_user with ${userField} = ${value}`, hint: SERVICENOW_HINTS.noUser }
        : {
            cause: `user_claim '${userClaim}' maps the token to '${value}', which is no user's ${userField}`,
            hint: claimHint,
          };
    if (str(users[0].active) !== 'true' || str(users[0].locked_out) === 'true')
      return {
        cause: `the user ${str(users[0].user_name)} is inactive or locked out`,
        hint: SERVICENOW_HINTS.inactiveUser,
      };
    if (str(config.enable_jti_verification) === 'true')
      return { cause: 'JTI verification is on', hint: SERVICENOW_HINTS.jti };
    // Every record is as it should be: the refusal comes from ServiceNow's side of the validation, which fetches the
    // tenant's signing keys (the metadata's jwks_uri) and caches the configuration for its "OIDC Configuration Cache
    // Lifespan" (https://www.servicenow.com/docs/r/australia/platform-security/authentication/add-OIDC-entity.html):
    // it may have failed to reach Entra or still hold an old configuration. Worth asking again.
    return {
      cause: 'the records look right; ServiceNow may not have fetched or may still cache the signing keys',
      hint: SERVICENOW_HINTS.other,
      transient: true,
    };
  } catch (err) {
    return {
      cause: `could not inspect the records (${ensureErrorType(err).message})`,
      hint: SERVICENOW_HINTS.other,
      ...(classify(err).transient ? { transient: true } : {}),
    };
  }
}

/** Bounds for a discovery document (Entra's are about 2 KB). */
export const METADATA_MAX_BYTES = 64 * 1024;
export const METADATA_TIMEOUT_MS = 10_000;

/** Whether `url` is on the configured authority host: the same scheme, host and port, and no user info. */
export function onAuthorityHost(authorityHost: string, url: string): boolean {
  try {
    const a = new URL(authorityHost);
    const u = new URL(url);
    return u.protocol === a.protocol && u.host === a.host && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

/** A URL as shown in an outcome: bounded, so a record cannot flood the report. */
const shown = (url: string): string => (url.length > 300 ? `${url.slice(0, 300)}…` : url);
const authorityOrigin = (c: Ctx): string => {
  try {
    return new URL(c.deps.config.entra.authorityHost).origin;
  } catch {
    return c.deps.config.entra.authorityHost;
  }
};
const notOnAuthority = (c: Ctx, url: string): string =>
  `the metadata URL ${shown(url)} is not on the configured Entra authority host ${authorityOrigin(c)}; ` +
  'no other host is contacted';

type Metadata = { ok: true; issuer: string } | { ok: false; detail: string; aadsts?: number; transient?: boolean };

const isHttpUrl = (v: unknown): v is string => {
  if (typeof v !== 'string' || v.length > 2048) return false;
  try {
    return ['https:', 'http:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
};

/**
 * GET of an OpenID Connect discovery document (https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig)
 * on the authority host only: no redirects, at most METADATA_MAX_BYTES, at most METADATA_TIMEOUT_MS. The outcome
 * carries our own words and the status code; of the body only the issuer (a validated URL) and a numeric AADSTS
 * code (mapped to our hint) are used.
 */
async function fetchMetadata(c: Ctx, url: string): Promise<Metadata> {
  if (!onAuthorityHost(c.deps.config.entra.authorityHost, url)) return { ok: false, detail: notOnAuthority(c, url) };
  let res: AxiosResponse<string>;
  const timeoutMs = Math.min(METADATA_TIMEOUT_MS, c.deps.config.entra.timeoutMs);
  try {
    res = await axios.get<string>(url, {
      headers: { Accept: 'application/json' },
      responseType: 'text',
      transformResponse: (d: unknown) => d,
      validateStatus: () => true,
      maxRedirects: 0,
      maxContentLength: METADATA_MAX_BYTES,
      timeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      transitional: { clarifyTimeoutError: true },
    });
  } catch (err) {
    const e = err as AxiosError;
    if (/maxContentLength/.test(e.message ?? ''))
      return { ok: false, detail: `${shown(url)}: the answer is larger than ${METADATA_MAX_BYTES} bytes` };
    if (e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT' || e.code === 'ERR_CANCELED')
      return {
        ok: false,
        detail: `${shown(url)} did not answer within ${timeoutMs / 1000} seconds`,
        transient: true,
      };
    const code = typeof e.code === 'string' && /^[A-Z_]{2,40}$/.test(e.code) ? ` (${e.code})` : '';
    return { ok: false, detail: `${shown(url)} could not be reached${code}`, transient: true };
  }
  let body: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(typeof res.data === 'string' ? res.data : '') as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: only the status is reported.
  }
  if (res.status === 200) {
    if (isHttpUrl(body.issuer) && isHttpUrl(body.token_endpoint)) return { ok: true, issuer: body.issuer };
    return { ok: false, detail: `${shown(url)} answered 200 without a discovery document` };
  }
  const first = Array.isArray(body.error_codes) ? (body.error_codes as unknown[])[0] : undefined;
  const aadsts = typeof first === 'number' && Number.isInteger(first) && first > 0 ? first : undefined;
  const redirect = res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : '';
  return {
    ok: false,
    detail: `${shown(url)} answered ${res.status}${aadsts ? ` (AADSTS${aadsts})` : ''}${redirect}`,
    ...(aadsts ? { aadsts } : {}),
    ...(res.status >= 500 || res.status === 429 ? { transient: true } : {}),
  };
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);

async function oidcMetadata(c: Ctx, spec: Extract<CheckSpec, { kind: 'oidcMetadata' }>): Promise<CheckOutcome> {
  const name = `OIDC metadata (${spec.record})`;
  const expected = c.input.expectedRecords.find((r) => r.key === spec.record);
  const sysId = sysIdOf(c, spec.record);
  try {
    let url = expected?.fields.oidc_url;
    if (sysId && expected) {
      const live = await c.deps
        .serviceNow(c.input.serviceNowInstance)
        .get(expected.table, sysId, { fields: ['oidc_url'] });
      if (live && str(live.oidc_url)) url = str(live.oidc_url);
    }
    if (!url) return fail(name, `no metadata URL for record ${spec.record}`, { hint: 'Re-run the ServiceNow step.' });
    // A v2 metadata URL (`{authority}/{tenant}/v2.0/.well-known/openid-configuration`, issuer
    // `{authority}/{tenantId}/v2.0`) is compared with the tenant's own v2 document, a v1 one with its v1 document
    // (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri).
    const v2 = /\/v2\.0\/\.well-known\/openid-configuration$/.test(url.split('?')[0]);
    const endpoints = entraEndpoints(c.deps.config.entra.authorityHost, c.input.tenant);
    const own = v2 ? endpoints.metadataV2 : endpoints.metadataV1;
    const md = await fetchMetadata(c, url);
    if (!md.ok)
      return fail(name, md.detail, {
        hint:
          (md.aadsts !== undefined ? AADSTS_HINTS[md.aadsts] : undefined) ?? `${SERVICENOW_HINTS.metadata} (${own})`,
        ...(md.transient ? { transient: true } : {}),
      });
    const tenantMd = url === own ? md : await fetchMetadata(c, own);
    if (!tenantMd.ok)
      return fail(name, `the tenant's own metadata: ${tenantMd.detail}`, {
        hint: (tenantMd.aadsts !== undefined ? AADSTS_HINTS[tenantMd.aadsts] : undefined) ?? SERVICENOW_HINTS.metadata,
        ...(tenantMd.transient ? { transient: true } : {}),
      });
    if (md.issuer !== tenantMd.issuer)
      return fail(
        name,
        `${shown(url)} names issuer ${md.issuer}, the tenant's ${v2 ? 'v2' : 'v1'} issuer is ${tenantMd.issuer}`,
        {
          hint: `${SERVICENOW_HINTS.metadata} (${own})`,
        },
      );
    return { name, ok: true, detail: `${shown(url)} answered with the tenant's issuer ${md.issuer}` };
  } catch (err) {
    return thrown(name, err);
  }
}

/**
 * The federated identity credential of the app, read from Graph
 * (https://learn.microsoft.com/graph/api/application-list-federatedidentitycredentials), holds exactly the issuer,
 * subject and audience provisioning set: Entra then accepts the assertions the instance signs
 * (https://learn.microsoft.com/entra/workload-id/workload-identity-federation).
 */
async function federatedCredential(
  c: Ctx,
  spec: Extract<CheckSpec, { kind: 'federatedCredential' }>,
): Promise<CheckOutcome> {
  const name = `federated credential (${spec.app})`;
  const app = appOf(c, spec.app);
  const want = c.input.federated?.find((f) => f.role === spec.app);
  if (!app || !want)
    return fail(name, `no app or federated credential for role ${spec.app}`, { hint: 'Re-run provisioning.' });
  try {
    const r = await graphRaw<{ value?: { name?: string; issuer?: string; subject?: string; audiences?: string[] }[] }>(
      c.deps.graph,
      'GET',
      `/applications/${encodeURIComponent(app.objectId)}/federatedIdentityCredentials`,
    );
    const found = (r.body?.value ?? []).find((f) => f.name === want.name);
    if (!found)
      return fail(name, `the ${spec.app} app has no federated credential ${want.name}`, {
        hint: 'Graph may not show a new credential yet; re-run provisioning if it stays missing.',
        transient: true,
      });
    const differs = [
      ...(found.issuer !== want.issuer ? [`issuer ${found.issuer ?? ''} (expected ${want.issuer})`] : []),
      ...(found.subject !== want.subject ? [`subject ${found.subject ?? ''} (expected ${want.subject})`] : []),
      ...(JSON.stringify(found.audiences ?? []) !== JSON.stringify(want.audiences)
        ? [`audiences ${(found.audiences ?? []).join(', ')} (expected ${want.audiences.join(', ')})`]
        : []),
    ];
    if (differs.length) return fail(name, `federated credential ${want.name}: ${differs.join('; ')}`);
    return { name, ok: true, detail: `the ${spec.app} app trusts ${want.issuer} as ${want.subject}` };
  } catch (err) {
    return thrown(name, err);
  }
}

async function recordsConsistent(c: Ctx): Promise<CheckOutcome> {
  const name = 'records consistent';
  const problems: string[] = [];
  try {
    const sn = c.deps.serviceNow(c.input.serviceNowInstance);
    const appProblems = async (app: AppResult): Promise<string[]> => {
      // An existing service principal (no application object in the tenant): it must still be there.
      if (app.existing) return servicePrincipalProblems(c, app);
      try {
        const r = await graphRaw<{ appId?: string }>(
          c.deps.graph,
          'GET',
          `/applications/${encodeURIComponent(app.objectId)}?$select=id,appId`,
        );
        return r.body?.appId !== app.appId
          ? [`Entra app ${app.role}: appId is ${r.body?.appId ?? 'missing'}, expected ${app.appId}`]
          : [];
      } catch (err) {
        const e = ensureErrorType(err);
        if (e instanceof ExternalServiceError && e.status === 404)
          return [`Entra app ${app.role} (${app.objectId}) no longer exists`];
        throw e;
      }
    };
    // Independent reads, all at once; the problems keep the order of the records, then the apps.
    const [fromRecords, fromApps] = await Promise.all([
      Promise.all(c.input.expectedRecords.map((exp) => recordProblems(c, sn, exp))),
      Promise.all(c.input.apps.map(appProblems)),
    ]);
    problems.push(...fromRecords.flat(), ...fromApps.flat());
  } catch (err) {
    return thrown(name, err);
  }
  if (problems.length)
    return fail(name, problems.join('; '), {
      hint: 'Re-run provisioning to restore the values (it patches records back), or complete the pending manual steps.',
    });
  return {
    name,
    ok: true,
    detail: `${c.input.expectedRecords.length} ServiceNow records and ${c.input.apps.length} Entra apps agree`,
  };
}

/** The app's service principal, looked up by appId now, is still the one provisioning found. */
async function servicePrincipalProblems(c: Ctx, app: AppResult): Promise<string[]> {
  const sp = await servicePrincipalByAppId(c, app.appId);
  if (!sp) return [`Entra service principal of app ${app.role} (${app.appId}) no longer exists`];
  return sp === app.servicePrincipalId
    ? []
    : [`Entra service principal of app ${app.role} is ${sp}, expected ${app.servicePrincipalId}`];
}

/** The object id of the service principal of `appId` in the tenant, or undefined when it has none. */
async function servicePrincipalByAppId(c: Ctx, appId: string): Promise<string | undefined> {
  try {
    const r = await graphRaw<{ id?: string }>(
      c.deps.graph,
      'GET',
      `/servicePrincipals(appId='${odataKey(appId)}')?$select=id,appId`,
    );
    return r.body?.id || undefined;
  } catch (err) {
    const e = ensureErrorType(err);
    if (e instanceof ExternalServiceError && e.status === 404) return undefined;
    throw e;
  }
}

/**
 * servicePrincipalUser: the ServiceNow user an inbound trust maps tokens to is the app's service principal. Tokens
 * Entra issues to an app carry its service principal's object id in `sub` and `oid`
 * (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference), and ServiceNow matches the
 * configured claim against the user's `user_name` (public repository microsoft/copilot-servicenow-connector-setup-scripts,
 * `federated_auth_setup.js`). So: the service principal found now by appId has the object id that is the user_name of
 * the user record, that user is active and not locked out, and it holds every role the profile grants it.
 */
async function servicePrincipalUser(
  c: Ctx,
  spec: Extract<CheckSpec, { kind: 'servicePrincipalUser' }>,
): Promise<CheckOutcome> {
  const name = `service principal user (${spec.app})`;
  const app = appOf(c, spec.app);
  const sysId = sysIdOf(c, spec.user);
  if (!app || !sysId)
    return fail(name, `no app ${spec.app} or user record ${spec.user}`, { hint: 'Re-run provisioning.' });
  try {
    const spId = await servicePrincipalByAppId(c, app.appId);
    if (!spId)
      return fail(name, `the tenant has no service principal for app ${app.appId}`, {
        hint: 'The service principal was removed: restore it (the hand-off of the app step says how), then re-run.',
      });
    const sn = c.deps.serviceNow(c.input.serviceNowInstance);
    const user = await sn.get('sys_user', sysId, { fields: ['sys_id', 'user_name', 'active', 'locked_out'] });
    if (!user)
      return fail(name, `the user record ${spec.user} (${sysId}) no longer exists`, { hint: 'Re-run provisioning.' });
    const problems: string[] = [];
    if (str(user.user_name) !== spId)
      problems.push(`the user's user_name is '${str(user.user_name)}', the service principal's object id is ${spId}`);
    if (str(user.active) !== 'true') problems.push('the user is inactive');
    if (str(user.locked_out) === 'true') problems.push('the user is locked out');
    const grants = await sn.list('sys_user_has_role', {
      query: encodedQuery().eq('user', sysId),
      fields: ['role', 'state'],
    });
    const held = new Set<string>();
    for (const g of grants) {
      if (str(g.state) && str(g.state) !== 'active') continue;
      const roleId = str(g.role);
      if (!/^[0-9a-f]{32}$/.test(roleId)) continue;
      const role = await sn.get('sys_user_role', roleId, { fields: ['name'] });
      if (role) held.add(str(role.name));
    }
    const missing = spec.roles.filter((r) => !held.has(r));
    if (missing.length) problems.push(`the user lacks the role(s) ${missing.join(', ')}`);
    if (problems.length)
      return fail(name, problems.join('; '), {
        hint: 'Re-run provisioning: it sets the user name to the service principal id, activates the user and grants its roles.',
      });
    return {
      name,
      ok: true,
      detail: `the service principal ${spId} of ${app.appId} is the active ServiceNow user with ${spec.roles.join(', ')}`,
    };
  } catch (err) {
    return thrown(name, err);
  }
}

async function recordProblems(c: Ctx, sn: ReturnType<Deps['serviceNow']>, exp: ExpectedRecord): Promise<string[]> {
  const result = c.input.records.find((r) => r.key === exp.key);
  if (!result?.sysId)
    return [
      `${exp.key}: not created${result?.manualAction ? ` (manual step pending: ${result.manualAction.title})` : ''}`,
    ];
  const fields = Object.keys(exp.fields);
  const live: SnRecord | undefined = await sn.get(exp.table, result.sysId, {
    fields: [...fields, ...(exp.table === 'sys_user' ? ['locked_out'] : [])],
  });
  if (!live) return [`${exp.key}: ${exp.table} ${result.sysId} no longer exists`];
  const out = fields
    .filter((f) => str(live[f]) !== exp.fields[f])
    .map((f) => `${exp.key}.${f} is '${str(live[f])}', expected '${exp.fields[f]}'`);
  if (exp.table === 'sys_user' && str(live.locked_out) === 'true') out.push(`${exp.key}: the user is locked out`);
  return out;
}

// -----------------------------------------------------------------------------------------------------------------

export async function runChecks(input: RunChecksInput, deps: Deps, log?: ActivityLog): Promise<CheckOutcome[]> {
  const c: Ctx = { input, deps, ...(log ? { log } : {}) };
  // The checks only read and do not depend on each other: they run at once (the slowest one sets the time), and
  // their outcomes keep the profile's order. A check that throws (a retriable failure) fails the activity, as before:
  // the first one in profile order, once every check has settled.
  const settled = await Promise.allSettled(
    input.checks.map((spec) =>
      spec.kind === 'outboundToken'
        ? outboundToken(c, spec)
        : spec.kind === 'inboundTableRead'
          ? inboundTableRead(c, spec)
          : spec.kind === 'oidcMetadata'
            ? oidcMetadata(c, spec)
            : spec.kind === 'graphToken'
              ? graphToken(c, spec)
              : spec.kind === 'certificateToken'
                ? certificateToken(c, spec)
                : spec.kind === 'federatedCredential'
                  ? federatedCredential(c, spec)
                  : spec.kind === 'servicePrincipalUser'
                    ? servicePrincipalUser(c, spec)
                    : recordsConsistent(c),
    ),
  );
  const out: CheckOutcome[] = [];
  for (const r of settled) {
    if (r.status === 'rejected') throw r.reason;
    logLine(log, 'info', `check ${r.value.name} for ${input.integrationId}: ${r.value.ok ? 'ok' : 'failed'}`);
    out.push(r.value);
  }
  return out;
}
