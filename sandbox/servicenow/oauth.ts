import type { SandboxClock } from '../core/clock';
import type { SandboxRequest, SandboxResponse } from '../core/types';
import type { TokenStore } from './auth';
import type { InstanceStore } from './store';

/**
 * ServiceNow as OAuth server (docs/reference/servicenow.md#authentication-and-roles; SN-OAUTHEX, SN-CC):
 * `POST /oauth_token.do` with a form body. client_credentials needs property
 * `glide.oauth.inbound.client.credential.grant_type.enabled=true` and an OAuth Application User (`oauth_entity.user`)
 * on an active `oauth_entity` of type `client`; the token then runs as that user. Failures answer 401
 * `{"error_description":"access_denied","error":"server_error"}` (demisto/content-docs#1301); a missing application
 * user answers `unauthorized_client` (refractionPOINT/documentation#283). Success: access_token, scope, token_type
 * Bearer, expires_in = lifespan − 1 (SN-OAUTHEX shows 1799 for the default 1800 s).
 */
const denied = (): SandboxResponse => ({
  status: 401,
  headers: { 'Content-Type': 'application/json;charset=UTF-8' },
  body: { error_description: 'access_denied', error: 'server_error' },
});

export function handleTokenRequest(
  req: SandboxRequest,
  store: InstanceStore,
  tokens: TokenStore,
  clock: SandboxClock,
): SandboxResponse {
  if (req.method !== 'POST') return { status: 405, headers: { Allow: 'POST' } };
  const form = new URLSearchParams(req.body.toString('utf8'));
  const grant = form.get('grant_type');
  const clientId = form.get('client_id') ?? '';
  const clientSecret = form.get('client_secret') ?? '';
  const entity = store
    .rowsOf('oauth_entity')
    .find(
      (r) =>
        r.table === 'oauth_entity' && r.values.type === 'client' && r.values.client_id === clientId && clientId !== '',
    );
  if (
    !entity ||
    entity.values.active !== 'true' ||
    store.secret(entity.values.sys_id, 'client_secret') !== clientSecret
  )
    return denied();
  const lifespan = Number(entity.values.access_token_lifespan) || 1800;
  let userSysId: string | undefined;
  if (grant === 'client_credentials') {
    const prop = store.find('sys_properties', 'name', 'glide.oauth.inbound.client.credential.grant_type.enabled');
    if (prop?.values.value !== 'true') return denied();
    const user = store.get(entity.values.user);
    if (!user || user.table !== 'sys_user')
      return {
        status: 401,
        headers: { 'Content-Type': 'application/json;charset=UTF-8' },
        body: { error_description: 'integration user is not configured', error: 'unauthorized_client' },
      };
    userSysId = user.values.sys_id;
  } else if (grant === 'password') {
    const user = store.find('sys_user', 'user_name', form.get('username') ?? '');
    if (!user || !store.passwordMatches(user.values.sys_id, form.get('password') ?? '')) return denied();
    userSysId = user.values.sys_id;
  } else return denied();
  const user = store.get(userSysId);
  if (!user || user.values.active !== 'true' || user.values.locked_out === 'true') return denied();
  const scope = 'useraccount';
  return {
    status: 200,
    headers: { 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store' },
    body: {
      access_token: tokens.issue(userSysId, lifespan, scope, clock),
      scope,
      token_type: 'Bearer',
      expires_in: lifespan - 1,
    },
  };
}
