/**
 * OpenID Connect metadata and signing keys (docs/reference/microsoft.md#openid-connect-discovery; field sets as in the
 * recorded responses of `Azure/azure-sdk-for-js` identity test recordings and login.microsoftonline.com).
 *
 * Endpoint URLs point at the stand-in's own origin (the sandbox authority host) with the tenant GUID, as Entra
 * answers with the GUID even when asked by domain. `issuer` keeps the real strings because the tokens carry them:
 * v1 `https://sts.windows.net/{tid}/`, v2 `https://login.microsoftonline.com/{tid}/v2.0` (MSAL 16 accepts the
 * latter: its host is a known Microsoft authority).
 */
import type { Jwk } from '../core/jwt';

/** Entra serves metadata and keys cacheable for a day. */
export const METADATA_CACHE_CONTROL = 'max-age=86400, private';

const CLAIMS_V1 = [
  'sub',
  'iss',
  'cloud_instance_name',
  'cloud_instance_host_name',
  'cloud_graph_host_name',
  'msgraph_host',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'acr',
  'amr',
  'nonce',
  'email',
  'given_name',
  'family_name',
  'nickname',
];
const CLAIMS_V2 = [
  'sub',
  'iss',
  'cloud_instance_name',
  'cloud_instance_host_name',
  'cloud_graph_host_name',
  'msgraph_host',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'acr',
  'nonce',
  'preferred_username',
  'name',
  'tid',
  'ver',
  'at_hash',
  'c_hash',
  'email',
];

const cloudFields = {
  tenant_region_scope: 'EU',
  cloud_instance_name: 'microsoftonline.com',
  cloud_graph_host_name: 'graph.windows.net',
  msgraph_host: 'graph.microsoft.com',
  rbac_url: 'https://pas.windows.net',
};

export function openIdConfigurationV1(origin: string, tid: string): Record<string, unknown> {
  const base = `${origin}/${tid}`;
  return {
    token_endpoint: `${base}/oauth2/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${origin}/common/discovery/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
    scopes_supported: ['openid'],
    issuer: `https://sts.windows.net/${tid}/`,
    microsoft_multi_refresh_token: true,
    authorization_endpoint: `${base}/oauth2/authorize`,
    device_authorization_endpoint: `${base}/oauth2/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/logout`,
    claims_supported: CLAIMS_V1,
    check_session_iframe: `${base}/oauth2/checksession`,
    userinfo_endpoint: `${base}/openid/userinfo`,
    kerberos_endpoint: `${base}/kerberos`,
    ...cloudFields,
  };
}

export function openIdConfigurationV2(origin: string, tid: string): Record<string, unknown> {
  const base = `${origin}/${tid}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `https://login.microsoftonline.com/${tid}/v2.0`,
    request_uri_parameter_supported: false,
    // The userinfo endpoint is Graph's, not the authority's (real value kept: the product never calls it).
    userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: CLAIMS_V2,
    kerberos_endpoint: `${base}/kerberos`,
    ...cloudFields,
  };
}

/**
 * The key set. v2 key sets tag each key with the issuer it signs for (`{tenantid}` placeholder on /common, the
 * tenant's issuer on /{tenant}); v1 key sets do not. Real keys also carry `x5c` (the signing certificate); the
 * sandbox key has no certificate, so verifiers must use `n`/`e`.
 */
export function jwks(keys: Jwk[], version: 1 | 2, tid: string | null): { keys: Jwk[] } {
  if (version === 1) return { keys };
  const issuer = `https://login.microsoftonline.com/${tid ?? '{tenantid}'}/v2.0`;
  return { keys: keys.map((k) => ({ ...k, issuer })) };
}
