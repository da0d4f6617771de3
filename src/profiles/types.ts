/**
 * An integration profile: everything that is specific to one Entra-to-ServiceNow integration (the app
 * registrations, the ServiceNow records, the manual hand-offs, the checks), as plain data. The orchestrators read a
 * profile and know nothing seed-specific themselves.
 *
 * String values may hold `{placeholders}` rendered by `renderTemplate` (./template.ts) from the provisioning context:
 * `{tenant}` (the tenant id), `{tenantDomain}` (its domain when known, else the id), `{tenantId}`, `{tenantName}`, `{instance}`, `{instanceUrl}`, `{authorityHost}`, `{integrationId}`,
 * `{redirectUri}`, `{graphUrl}`, `{apps.<role>.appId}`, `{apps.<role>.secretName}`,
 * `{apps.<role>.servicePrincipalId}`, `{records.<key>.sysId}`
 * (the list: TEMPLATE_PLACEHOLDERS in ./validate.ts).
 */
import type { CredentialKind } from '../contracts/credentials';

/** An Entra app registration the integration needs, by role (e.g. `outbound`). */
export interface AppSpec {
  role: string;
  /** Display name template; names need not be unique in Entra, the upsert key is the uniqueName. */
  displayName: string;
  /** What the app is for, shown in emails and status. */
  purpose: string;
  /** Web platform redirect URIs (templates). */
  redirectUris: string[];
  /** Default client-secret lifetime; a request may shorten it, and tenant policy may refuse longer ones. */
  secretLifetimeDays: number;
  /**
   * How the consumer of this app may prove itself to Entra (default `['secret']`; the first is the default kind): a
   * client secret, a certificate (private_key_jwt) or a federated identity credential. Other kinds than `secret` are
   * for an app whose only consumer is a ServiceNow OAuth provider record (`oauth_entity`), which can sign client
   * assertions (https://www.servicenow.com/docs/r/platform-security/authentication/config-private-key-jwt-outbound-oauth.html).
   */
  credentialKinds?: CredentialKind[];
  /** Where this app's client secret is used, for provisioning hand-offs and rotation. */
  secretConsumers: SecretConsumer[];
  /**
   * Application permissions the app needs on an API (e.g. Microsoft Graph), declared on the app registration
   * (`requiredResourceAccess`) and granted (admin consent) only after the approval. A request picks one tier.
   */
  applicationPermissions?: ApplicationPermissions;
  /**
   * An app the integration uses but never registers: an existing service principal (e.g. a Microsoft first-party app
   * whose service principal Microsoft creates in the tenant), found by `appId` and never created, changed or removed.
   * It has no client secret (`secretLifetimeDays: 0`, `secretConsumers: []`) and no redirect URIs or permissions.
   * When the tenant has no service principal for it, provisioning stops with `missing` as the hand-off.
   */
  existing?: { appId: string; missing: string };
}

/** Application permissions (app role values of the resource's service principal) in tiers a request may choose. */
export interface ApplicationPermissions {
  /** The resource's appId (Microsoft Graph: 00000003-0000-0000-c000-000000000000). */
  resourceAppId: string;
  resourceName: string;
  /** Tier name → permission values (e.g. `User.Read.All`), least privileged first. */
  tiers: Record<string, string[]>;
  defaultTier: string;
}

export type SecretConsumer =
  /** A ServiceNow password2 field written by the product (API-updatable). */
  | { kind: 'servicenow'; record: string; field: string }
  /** A place without an API: a person must paste the new secret (never sent; the Key Vault secret name is). */
  | { kind: 'manual'; where: string; field: string };

/** A ServiceNow record the integration ensures, looked up by its natural key. */
export interface ServiceNowRecordSpec {
  /** Stable key used in status, the registry and templates (`{records.<key>.sysId}`). */
  key: string;
  table: string;
  /** Fields that identify the record (encoded-query equality terms; values must not contain `^`, CR or LF). */
  naturalKey: Record<string, string>;
  /** Non-secret fields to create or patch and to compare on read-back. */
  fields: Record<string, string>;
  /** A password2 field filled from an app's client secret (read from Key Vault inside the activity). */
  secret?: { field: string; fromApp: string };
  /** Optional steps are skipped unless the request enables them (e.g. `ipAllowlist`). */
  when?: 'always' | 'ipAllowlist';
  /**
   * `inert` (default): created before the approval with `fields`, which must leave it unusable (inactive, locked);
   * activation then patches it with `activate`. `activation`: created only by activation, after the approval (e.g.
   * cross-scope privileges, which grant as soon as they exist).
   */
  phase?: 'inert' | 'activation';
  /** Fields activation patches after the approval (e.g. `active: 'true'`); the rest of `fields` stays. */
  activate?: Record<string, string>;
  /**
   * A record other integrations on the same instance may need too (e.g. a cross-scope privilege of the scoped app):
   * reference-counted, removed only when the last integration using it goes, never when it existed before.
   */
  shared?: boolean;
  /**
   * A record the integration needs but never writes (e.g. the connection alias an installed spoke provides): found by
   * its natural key, its sys_id usable as `{records.<key>.sysId}`; missing, the run stops with `manualFallback`.
   * `fields` then say what the installed record holds (the sandbox seeds it so).
   */
  lookup?: boolean;
  /**
   * A record keyed by something other integrations or people may hold too (e.g. the one connection of an alias):
   * found and not created by this integration, it is never changed; the run hands off what to set instead.
   */
  exclusive?: boolean;
  /** What to hand off if ServiceNow refuses the write (403 on a security table), or a lookup finds nothing. */
  manualFallback: string;
}

export interface RoleGrantSpec {
  /** user_name template of the sys_user. */
  userName: string;
  role: string;
}

/**
 * An inbound trust the integration sets up: tokens Entra issues to `tokenApp` for the audience `audienceApp` act in
 * ServiceNow as `user` (matched by `claim`). Shown to the approver with the roles granted to that user.
 */
export interface TrustSpec {
  tokenApp: string;
  audienceApp: string;
  /** user_name template of the ServiceNow user the tokens act as. */
  user: string;
  /** The token claim ServiceNow maps to the user (e.g. `appid` for v1 tokens). */
  claim: string;
}

export interface HandOffStep {
  label: string;
  /** Value template; secrets appear only as Key Vault secret names. */
  value?: string;
}

export interface HandOff {
  title: string;
  /** Who does it. */
  actor: string;
  steps: HandOffStep[];
}

export type CheckSpec =
  /** A client-credential token for the app from the v1 token endpoint ServiceNow will use. */
  | { kind: 'outboundToken'; app: string }
  /** A v1 token for `clientApp` with resource = `resourceApp`'s appId, then a Table API read with it. */
  | { kind: 'inboundTableRead'; clientApp: string; resourceApp: string; table: string }
  /** The OIDC provider configuration's metadata URL answers with the tenant's issuer. */
  | { kind: 'oidcMetadata'; record: string }
  /** The ServiceNow records still hold the values Entra has (client ids, user names). */
  | { kind: 'recordsConsistent' }
  /**
   * A client-credentials token for the app from the v2 endpoint with `scope` = `{graphUrl}/.default`, carrying every
   * application permission of the chosen tier in its `roles` claim (admin consent given).
   */
  | { kind: 'graphToken'; app: string }
  /**
   * A token for the app obtained with a client assertion signed by its certificate (as ServiceNow's private-key-JWT
   * provider will ask for it, at the record's token URL), retrying AADSTS700027 while Entra propagates the new key.
   */
  | { kind: 'certificateToken'; app: string }
  /**
   * The app's federated identity credential (workload identity federation) still trusts exactly the ServiceNow
   * instance as issuer, the subject it signs and the exchange audience. The product cannot sign as the instance, so
   * this is what stands for a token check of a federated app.
   */
  | { kind: 'federatedCredential'; app: string }
  /**
   * The app's service principal, found in Microsoft Graph by appId, has the object id that is the `user_name` of the
   * ServiceNow user the `user` record ensured, and that user is active, not locked out, and holds `roles`.
   */
  | { kind: 'servicePrincipalUser'; app: string; user: string; roles: string[] };

export interface IntegrationProfile {
  id: string;
  title: string;
  /** Public source the profile follows. */
  source: string;
  /** Set when the vendor has retired the integration; provisioning still works (the same pattern serves others). */
  retired?: { on: string; note: string };
  apps: AppSpec[];
  serviceNow: {
    /** Scoped app that must be installed (sys_scope.scope), if any. */
    requiredScope?: string;
    /** Roles that must exist (sys_user_role.name). */
    requiredRoles: string[];
    /** Tables and the columns we write (checked in sys_dictionary before anything is created). */
    requiredColumns: Record<string, string[]>;
    /** Records in the order they are ensured. */
    records: ServiceNowRecordSpec[];
    roleGrants: RoleGrantSpec[];
    /** Roles a request may grant to named users (e.g. insights_user, administrator). */
    grantableUserRoles: Record<string, string>;
    /** Addresses to allow when the instance has IP deny rules and the request asks for the allow-list. */
    ipAllowlist: string[];
    /** Host whose A records are added to the allow-list when resolvable. */
    ipAllowlistHost?: string;
    /** The inbound trusts the records set up, for the approver's plan. */
    trust: TrustSpec[];
  };
  handOffs: HandOff[];
  checks: CheckSpec[];
}
