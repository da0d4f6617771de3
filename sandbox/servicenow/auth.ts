import { randomBytes } from 'node:crypto';

import type { SandboxClock } from '../core/clock';
import { bearerToken } from '../core/jwt';
import type { SandboxRequest } from '../core/types';
import type { OidcValidator } from './oidc';
import type { InstanceStore, Row } from './store';

export interface Caller {
  user: Row;
  userName: string;
  roles: Set<string>;
  via: 'basic' | 'oauth' | 'oidc';
}

export interface IssuedToken {
  userSysId: string;
  expiresAt: number;
  scope: string;
}

/** Opaque access tokens ServiceNow issued from oauth_token.do, per instance. */
export class TokenStore {
  private readonly tokens = new Map<string, IssuedToken>();

  issue(userSysId: string, lifetimeSeconds: number, scope: string, clock: SandboxClock): string {
    // ServiceNow access tokens are opaque strings (SN-OAUTHEX shows a long random token).
    const token = randomBytes(64).toString('base64url');
    this.tokens.set(token, { userSysId, expiresAt: clock.now() + lifetimeSeconds * 1000, scope });
    return token;
  }

  lookup(token: string, clock: SandboxClock): IssuedToken | undefined {
    const t = this.tokens.get(token);
    if (t && t.expiresAt <= clock.now()) {
      this.tokens.delete(token);
      return undefined;
    }
    return t;
  }

  clear(): void {
    this.tokens.clear();
  }
}

const usable = (u: Row | undefined): u is Row => !!u && u.values.active === 'true' && u.values.locked_out !== 'true';

export function rolesOf(store: InstanceStore, userSysId: string): Set<string> {
  const roles = new Set<string>();
  for (const r of store.rowsOf('sys_user_has_role')) {
    if (r.values.user !== userSysId || (r.values.state && r.values.state !== 'active')) continue;
    const role = store.get(r.values.role);
    if (role) roles.add(role.values.name);
  }
  return roles;
}

/**
 * Basic against sys_user (user_name + password; inactive or locked-out users refused), or Bearer: first a token this
 * instance issued, else an external OIDC JWT (docs/reference/servicenow.md#authentication-and-roles,
 * #inbound-token-validation). Undefined = 401.
 */
export async function authenticate(
  req: SandboxRequest,
  store: InstanceStore,
  tokens: TokenStore,
  oidc: OidcValidator,
  clock: SandboxClock,
): Promise<Caller | undefined> {
  const name: string = 'authorization';
  const value = req.headers[name];
  const header: string | undefined = Array.isArray(value) ? value[0] : value;
  if (!header) return undefined;
  const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return undefined;
    const user = store.find('sys_user', 'user_name', decoded.slice(0, i));
    if (!usable(user) || !store.passwordMatches(user.values.sys_id, decoded.slice(i + 1))) return undefined;
    return caller(store, user, 'basic');
  }
  const token = bearerToken(header);
  if (!token) return undefined;
  const issued = tokens.lookup(token, clock);
  if (issued) {
    const user = store.get(issued.userSysId);
    return usable(user) ? caller(store, user, 'oauth') : undefined;
  }
  const result = await oidc.validate(store, token);
  return result.ok ? caller(store, result.user, 'oidc') : undefined;
}

function caller(store: InstanceStore, user: Row, via: Caller['via']): Caller {
  return { user, userName: user.values.user_name, roles: rolesOf(store, user.values.sys_id), via };
}
