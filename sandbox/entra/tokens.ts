/**
 * App-only access tokens as Entra issues them for the client-credentials grant (access-token-claims-reference;
 * docs/reference/microsoft.md#access-token-claims).
 *
 * - The RESOURCE decides the token version (`api.requestedAccessTokenVersion` of the resource's application; null or
 *   1 → v1.0), not the endpoint used (doc resources/apiapplication). First-party resources (Graph, Key Vault) have no
 *   application object in the tenant and issue v1.0 tokens.
 * - v1.0: `aud` is the resource as requested (a URI or the app id), `iss`/`idp` https://sts.windows.net/{tid}/,
 *   caller in `appid`/`appidacr`. v2.0: `aud` is the resource's app id, `iss` https://login.microsoftonline.com/{tid}/v2.0,
 *   caller in `azp`/`azpacr`. `appidacr`/`azpacr` "1" = client secret.
 * - `oid`/`sub` are the client's service principal object id; `roles` the app roles granted to it on the resource,
 *   omitted when there are none.
 * - Entra back-dates `iat`/`nbf` by 5 minutes for clock skew and sets `exp` to now + `expires_in`.
 */
import { randomBytes } from 'node:crypto';

import type { Claims, SigningKey } from '../core/jwt';

export const ACCESS_TOKEN_LIFETIME_S = 3599;
export const CLOCK_SKEW_BACKDATE_S = 300;

export interface TokenRequestFacts {
  tenantId: string;
  /** The `aud` a v1.0 token carries. */
  v1Audience: string;
  resourceAppId: string;
  tokenVersion: 1 | 2;
  clientAppId: string;
  clientDisplayName: string;
  clientSpId: string;
  roles: string[];
  /** Graph's access tokens also carry `app_displayname` and `idtyp` (decoded Graph tokens in public reports). */
  graphExtras: boolean;
  /** Epoch seconds on the sandbox clock. */
  now: number;
  /** How the client authenticated: "1" secret (default), "2" certificate or federated assertion. */
  clientAuth?: '1' | '2';
}

export interface IssuedToken {
  accessToken: string;
  claims: Claims;
  expiresIn: number;
  notBefore: number;
  expiresOn: number;
}

const opaque = (n: number) => randomBytes(n).toString('base64url');

export function accessTokenClaims(f: TokenRequestFacts): Claims {
  const iat = f.now - CLOCK_SKEW_BACKDATE_S;
  const common = {
    iat,
    nbf: iat,
    exp: f.now + ACCESS_TOKEN_LIFETIME_S,
    aio: opaque(48),
  };
  const roles = f.roles.length ? { roles: f.roles } : {};
  if (f.tokenVersion === 2)
    return {
      aud: f.resourceAppId,
      iss: `https://login.microsoftonline.com/${f.tenantId}/v2.0`,
      ...common,
      azp: f.clientAppId,
      azpacr: f.clientAuth ?? '1',
      oid: f.clientSpId,
      rh: opaque(32),
      ...roles,
      sub: f.clientSpId,
      tid: f.tenantId,
      uti: opaque(16),
      ver: '2.0',
    };
  return {
    aud: f.v1Audience,
    iss: `https://sts.windows.net/${f.tenantId}/`,
    ...common,
    ...(f.graphExtras ? { app_displayname: f.clientDisplayName } : {}),
    appid: f.clientAppId,
    appidacr: f.clientAuth ?? '1',
    idp: `https://sts.windows.net/${f.tenantId}/`,
    ...(f.graphExtras ? { idtyp: 'app' } : {}),
    oid: f.clientSpId,
    rh: opaque(32),
    ...roles,
    sub: f.clientSpId,
    tid: f.tenantId,
    uti: opaque(16),
    ver: '1.0',
    xms_tcdt: 1289241547, // tenant creation time, present in app-only tokens; a fixed plausible value
  };
}

export async function issueAccessToken(key: SigningKey, f: TokenRequestFacts): Promise<IssuedToken> {
  const claims = accessTokenClaims(f);
  return {
    accessToken: await key.sign(claims),
    claims,
    expiresIn: ACCESS_TOKEN_LIFETIME_S,
    notBefore: claims.nbf as number,
    expiresOn: claims.exp as number,
  };
}

/**
 * For tests: the v2 access token Entra issues to a first-party app whose service principal is in the tenant (e.g.
 * Microsoft's "Graph Connector Federated Credential App"), for its own app id as the audience. Microsoft obtains such
 * tokens itself; no client credential of the tenant can, so the stand-in mints one of the documented shape
 * (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference): iss
 * `https://login.microsoftonline.com/{tid}/v2.0`, aud = the app id, `oid`/`sub` = the service principal's object id,
 * signed with the tenant's key (the one its metadata's jwks_uri serves).
 */
export async function mintFirstPartyToken(
  directory: {
    tenantId: string;
    signingKey: SigningKey;
    clock: { seconds(): number };
    spByAppId(appId: string): { id: string; displayName: string } | undefined;
  },
  appId: string,
): Promise<IssuedToken> {
  const sp = directory.spByAppId(appId);
  if (!sp) throw new Error(`the sandbox tenant has no service principal for ${appId}`);
  return issueAccessToken(directory.signingKey, {
    tenantId: directory.tenantId,
    v1Audience: appId,
    resourceAppId: appId,
    tokenVersion: 2,
    clientAppId: appId,
    clientDisplayName: sp.displayName,
    clientSpId: sp.id,
    roles: [],
    graphExtras: false,
    now: directory.clock.seconds(),
  });
}
