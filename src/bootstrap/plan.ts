/**
 * The control plane's trust on a ServiceNow instance, as data: the records the bootstrap script ensures, in order.
 * The script renderer (script.ts) turns it into a background script; the sandbox applies the same data to its
 * stand-in (as if the script had run) and tests apply it twice. So what an administrator runs, what the sandbox seeds
 * and what the tests check cannot drift apart.
 *
 * What ServiceNow needs to accept an Entra token on its REST APIs (KB0720547 "External ID Token Authentication (OIDC)
 * for REST APIs"; ServiceNow "Configure an OAuth OIDC provider for accepting third-party token"): an OIDC provider
 * configuration (metadata URL, user claim, user field), an OIDC entity whose client id equals the token's `aud`, and a
 * sys_user whose user field equals the claim. Our tokens are v2 app-only tokens of the managed identity for the
 * audience app (requestedAccessTokenVersion 2): `iss` https://login.microsoftonline.com/{tid}/v2.0 (the v2
 * metadata's issuer), `aud` the audience app's client id, `oid` the identity's object id
 * (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
 */
import type { ControlPlaneRole } from './roles';

/** A value: literal text, the sys_id of an earlier step's record, or the sys_id of a role by name. */
export type PlanValue = string | { ref: string } | { role: string };

export interface PlanStep {
  /** Unique within the plan; later steps refer to its record by `{ ref: id }`. */
  id: string;
  table: string;
  /** What the record is, for the script's output. */
  what: string;
  /** The natural key: the record is looked up by these before anything is inserted. */
  key: Record<string, PlanValue>;
  /** Inserted together with the key when nothing matches; an existing record is never changed. */
  values: Record<string, PlanValue>;
  /** Found, never created (a record every instance has). */
  lookupOnly?: boolean;
  /** On an existing record, these fields are reported when they differ (e.g. an inactive user: the trust is revoked). */
  expect?: Record<string, string>;
}

export interface BootstrapPlan {
  steps: PlanStep[];
  roles: ControlPlaneRole[];
  /** Facts the script prints and the trust check compares. */
  facts: { tenantId: string; metadataUrl: string; clientId: string; userName: string };
}

export interface BootstrapInput {
  tenantId: string;
  /** ENTRA_AUTHORITY_HOST, without trailing slash. */
  authorityHost: string;
  /** The audience app's client id (SERVICENOW_TOKEN_AUDIENCE without api://). */
  clientId: string;
  /** The identity's object id (SERVICENOW_IDENTITY_OBJECT_ID). */
  objectId: string;
  roles: ControlPlaneRole[];
}

export const CONTROL_PLANE_NAME = 'm365-snow-provisioner control plane';

export function bootstrapPlan(input: BootstrapInput): BootstrapPlan {
  const metadataUrl = `${input.authorityHost}/${input.tenantId}/v2.0/.well-known/openid-configuration`;
  const steps: PlanStep[] = [
    {
      id: 'provider',
      table: 'oidc_provider_configuration',
      what: 'OIDC provider configuration (our tenant, v2 metadata, oid → user_name)',
      key: { name: `${CONTROL_PLANE_NAME} (${input.tenantId})` },
      values: {
        oidc_url: metadataUrl,
        oidc_config_cache_life_span: '120',
        user_claim: 'oid',
        user_field: 'user_name',
        enable_jti_verification: 'false',
      },
      expect: { oidc_url: metadataUrl, user_claim: 'oid', user_field: 'user_name' },
    },
    {
      id: 'entity',
      table: 'oauth_oidc_entity',
      what: 'OIDC entity (client id = the control-plane audience)',
      key: { client_id: input.clientId, oidc_provider_configuration: { ref: 'provider' } },
      values: { name: CONTROL_PLANE_NAME, scope_restriction_status: 'useraccount', active: 'true' },
      expect: { active: 'true' },
    },
    {
      id: 'authScope',
      table: 'sys_auth_scope',
      what: 'REST API auth scope useraccount',
      key: { name: 'useraccount' },
      values: {},
      lookupOnly: true,
    },
    {
      id: 'entityScope',
      table: 'oauth_entity_auth_scope_mapping',
      what: 'auth scope useraccount on the OIDC entity',
      key: { oauth_entity: { ref: 'entity' }, auth_scope: { ref: 'authScope' } },
      values: {},
    },
    {
      id: 'user',
      table: 'sys_user',
      what: "machine user (user_name = the managed identity's object id)",
      key: { user_name: input.objectId },
      values: {
        first_name: 'm365-snow-provisioner',
        last_name: 'control plane',
        identity_type: 'machine',
        web_service_access_only: 'true',
        active: 'true',
        locked_out: 'false',
      },
      expect: { active: 'true', locked_out: 'false', web_service_access_only: 'true' },
    },
    ...input.roles.map((r): PlanStep => ({
      id: `role:${r.role}`,
      table: 'sys_user_has_role',
      what: `role ${r.role} for the machine user`,
      key: { user: { ref: 'user' }, role: { role: r.role } },
      values: {},
    })),
  ];
  return {
    steps,
    roles: input.roles,
    facts: { tenantId: input.tenantId, metadataUrl, clientId: input.clientId, userName: input.objectId },
  };
}
