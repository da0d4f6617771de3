import { bearerToken, verifyJwt, type Claims, type Jwk } from '../core/jwt';
import type { SandboxRequest, SandboxResponse } from '../core/types';
import { kvError } from './errors';

/** Key Vault's resource URI and first-party appId (Entra `servicePrincipalNames`, see sandbox/directory). */
export const VAULT_RESOURCE = 'https://vault.azure.net';
export const VAULT_APP_ID = 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093';
/** Audiences a real vault accepts: the resource URI (with or without the trailing slash) or the appId. */
const AUDIENCES = [VAULT_RESOURCE, `${VAULT_RESOURCE}/`, VAULT_APP_ID];
/** Allowed clock skew: Microsoft.IdentityModel's default of 5 minutes [inferred for Key Vault]. */
const SKEW_SECONDS = 300;

export interface AuthContext {
  tenantId: string;
  authorityOrigin: string;
  keys: Jwk[];
  /** Epoch seconds on the sandbox clock. */
  now: number;
}

export type AuthResult = { ok: true; subject: string } | { ok: false; response: SandboxResponse };

/**
 * The bearer challenge (https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses):
 * keyvault-common reads the tenant from the path of `authorization` and the scope from `resource` + `/.default`.
 */
export function challengeHeader(ctx: Pick<AuthContext, 'authorityOrigin' | 'tenantId'>): string {
  return `Bearer authorization="${ctx.authorityOrigin}/${ctx.tenantId}", resource="${VAULT_RESOURCE}"`;
}

function unauthorized(ctx: AuthContext, message: string): AuthResult {
  const res = kvError(401, 'Unauthorized', message);
  return { ok: false, response: { ...res, headers: { ...res.headers, 'WWW-Authenticate': challengeHeader(ctx) } } };
}

function encodedHeader(token: string): string {
  return token.split('.')[0] ?? '';
}

/** What a failed verification looks like on the wire. AKV codes quoted where public reports show them. */
function refusal(reason: string, token: string): string {
  if (reason.startsWith('unknown signing key'))
    // Reported from real vaults (Azure-Samples/azuresandbox#188).
    return `AKV10046: Unable to resolve the key used for signature validation. EncodedJwtHeader: '${encodedHeader(token)}'.`;
  // No public recording of these three was found: plain wording, no invented AKV number [inferred].
  if (reason === 'token expired') return 'Token expired.';
  if (reason === 'token not yet valid') return 'Token not yet valid.'; // azure-sdk-for-java#26624 wording
  if (reason === 'invalid signature') return 'Signature validation failed.';
  return 'Invalid token: the bearer token is not a valid JWT.';
}

const issuerMatchesTenant = (iss: unknown, tenantId: string) =>
  typeof iss === 'string' && (iss.endsWith(`/${tenantId}/`) || iss.endsWith(`/${tenantId}/v2.0`));

function callerOf(claims: Claims): string {
  const id = claims.appid ?? claims.azp ?? claims.oid ?? claims.sub;
  return typeof id === 'string' ? `app:${id}` : 'app:unknown';
}

/** Verifies the request's bearer token the way a vault does; the caller then answers or proceeds. */
export async function authenticate(req: SandboxRequest, ctx: AuthContext): Promise<AuthResult> {
  const token = bearerToken(req.headers.authorization);
  // Recorded body of an unauthenticated call (azure-sdk-for-js keyvault recordings, `Content-Length: 97`).
  if (!token) return unauthorized(ctx, 'AKV10000: Request is missing a Bearer or PoP token.');
  const verified = await verifyJwt(token, { keys: ctx.keys, now: ctx.now, skew: SKEW_SECONDS });
  if (!verified.ok) return unauthorized(ctx, refusal(verified.reason, token));
  const { aud, iss, tid } = verified.claims;
  if (!AUDIENCES.includes(String(aud)))
    // Wording from real responses (argoproj-labs/argocd-vault-plugin#621, Azure/go-autorest#525).
    return unauthorized(
      ctx,
      `AKV10022: Invalid audience. Expected ${VAULT_RESOURCE} or ${VAULT_APP_ID}, found: ${String(aud)}.`,
    );
  if (tid !== ctx.tenantId || !issuerMatchesTenant(iss, ctx.tenantId))
    // A token from another tenant (real message lists the vault tenant's issuers).
    return unauthorized(
      ctx,
      `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${ctx.tenantId}/, found ${String(iss)}.`,
    );
  return { ok: true, subject: callerOf(verified.claims) };
}
