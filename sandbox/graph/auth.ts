/**
 * Bearer-token validation as Graph does it for app-only callers.
 *
 * - Missing/invalid/expired token → 401 `InvalidAuthenticationToken` with a `WWW-Authenticate` challenge
 *   [doc https://learn.microsoft.com/graph/errors; messages as Graph returns them, e.g. "Access token is empty.",
 *   "Access token validation failure. Invalid audience." (microsoftgraph/microsoft-graph-docs#16208),
 *   "Lifetime validation failed, the token is expired."].
 * - Accepted audiences: `https://graph.microsoft.com`, the Graph appId, and the sandbox Graph origin (the product uses
 *   it as its Graph resource identifier) [docs/reference/microsoft.md#access-token-claims].
 * - Permissions are the token's `roles` claim (application permissions) [doc access-token-claims-reference].
 */
import { bearerToken, decodeJwt, verifyJwt } from '../core/jwt';
import type { SandboxRequest } from '../core/types';
import { GRAPH_APP_ID, type Directory } from '../directory';
import { GraphError } from './errors';

export interface Caller {
  appId: string;
  /** Object id of the caller's service principal (`oid`), '' if unknown. */
  servicePrincipalId: string;
  roles: string[];
  /** App-only token (no `scp`): `/me` is not available. */
  appOnly: boolean;
}

const GRAPH_CHALLENGE =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';

const unauthenticated = (message: string) =>
  new GraphError(401, 'InvalidAuthenticationToken', message, undefined, { 'WWW-Authenticate': GRAPH_CHALLENGE });

export async function authenticate(
  req: SandboxRequest,
  directory: Directory,
  graphOrigin: string,
  nowSeconds: number,
): Promise<Caller> {
  const token = bearerToken(req.headers.authorization);
  if (!token) throw unauthenticated('Access token is empty.');
  // Graph reports a token that is not a JWT at all as a parse failure (IDX14100-style).
  if (!decodeJwt(token)) throw unauthenticated('IDX14100: JWT is not well formed, there are no dots (.).');
  const audiences = ['https://graph.microsoft.com', 'https://graph.microsoft.com/', GRAPH_APP_ID];
  if (graphOrigin) audiences.push(graphOrigin, `${graphOrigin}/`);
  const result = await verifyJwt(token, { keys: [directory.signingKey.jwk()], now: nowSeconds, audiences });
  if (!result.ok) {
    if (result.reason === 'token expired') throw unauthenticated('Lifetime validation failed, the token is expired.');
    if (result.reason.startsWith('invalid audience'))
      throw unauthenticated('Access token validation failure. Invalid audience.');
    throw unauthenticated('Access token validation failure.');
  }
  const claims = result.claims;
  if (typeof claims.tid !== 'string' || !directory.isTenant(claims.tid))
    throw unauthenticated('Access token validation failure. Invalid issuer.');
  const appId = typeof claims.appid === 'string' ? claims.appid : typeof claims.azp === 'string' ? claims.azp : '';
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  const oid = typeof claims.oid === 'string' ? claims.oid : (directory.spByAppId(appId)?.id ?? '');
  return { appId, servicePrincipalId: oid, roles, appOnly: typeof claims.scp !== 'string' };
}

export const canWriteAll = (c: Caller) => c.roles.includes('Application.ReadWrite.All');
export const canWriteOwned = (c: Caller) => canWriteAll(c) || c.roles.includes('Application.ReadWrite.OwnedBy');
/** OwnedBy and All both read every application and service principal [doc permissions-reference]. */
export const canRead = (c: Caller) =>
  canWriteOwned(c) || c.roles.includes('Application.Read.All') || c.roles.includes('Directory.Read.All');

/** May the caller modify an object with these owners? */
export const mayModify = (c: Caller, owners: string[]) =>
  canWriteAll(c) || (canWriteOwned(c) && c.servicePrincipalId !== '' && owners.includes(c.servicePrincipalId));
