/**
 * The contract between the provisioning orchestrator and its activities: their inputs and outputs. Everything here
 * crosses the durable boundary and is persisted in orchestration history, so it holds ids, names, versions and
 * non-secret values only, never a secret, a token or an approval link.
 *
 * Error convention (docs/reference/durable-functions.md#bounded-retries-and-the-activity-error-convention): an activity
 * THROWS only for failures worth a durable retry (Graph replication 404 / 400 NoBackingApplicationObject, 409, 429,
 * 5xx, network); it RETURNS `{ ok: false, failure }` for failures a retry cannot fix (400 validation, 401, 403), so the
 * orchestrator turns them into a clear failure or a manual action.
 */
import type { CertificateRef, CredentialKind, ProvisionedCredential } from './credentials';
import type { TicketRef } from '../registry/types';

/** What every activity needs to know about the integration it works on (no secrets). */
export interface IntegrationRef {
  integrationId: string;
  /** Durable instance id of the provisioning orchestration. */
  instanceId: string;
  profileId: string;
  /** Tenant as given (verified domain or GUID); used in Entra URLs. */
  tenant: string;
  tenantName: string;
  serviceNowInstance: string;
}

export interface Failure {
  /** Which external system refused. */
  service: 'graph' | 'keyvault' | 'servicenow' | 'entra' | 'input';
  status?: number;
  code?: string;
  /** Safe to show (redacted). */
  message: string;
}

export type Outcome<T> = ({ ok: true } & T) | { ok: false; failure: Failure };

// ---------------------------------------------------------------------------------------------------------------
// preflight (read-only)

export interface PreflightInput extends IntegrationRef {
  ipAllowlist: boolean;
  /**
   * The request resolved `tenant` from the tenant's OpenID metadata moments ago (a domain was given): the tenant check
   * takes that id instead of fetching the same metadata again.
   */
  tenantVerified?: boolean;
}
export interface PreflightResult {
  /** Everything that is missing or wrong, each a sentence; empty = go. */
  problems: string[];
  /** sys_id of the profile's required scoped app (sys_scope), for cross-scope privileges. */
  scopeSysId?: string;
  /** Tenant GUID resolved from the tenant's OpenID metadata issuer. */
  tenantId?: string;
  /** How the app authenticated to ServiceNow (SERVICENOW_AUTH_MODE), and whether that worked (a Table API read). */
  serviceNowAuth?: { mode: 'entra' | 'basic' | 'oauth'; ok: boolean };
}

// ---------------------------------------------------------------------------------------------------------------
// Entra app registrations and their secrets

export interface EnsureAppInput extends IntegrationRef {
  role: string;
  /** Rendered display name. */
  displayName: string;
  redirectUris: string[];
  /** Application permissions to declare on the app (values, resolved to app role ids by the activity). */
  permissions?: { resourceAppId: string; values: string[] };
  /**
   * An existing service principal (e.g. a Microsoft first-party app): only looked up by appId, never created or
   * changed; `missing` is the hand-off when the tenant has none.
   */
  existing?: { appId: string; missing: string };
}

/** The application permissions an app declares, resolved on the resource's service principal. */
export interface AppPermissions {
  resourceAppId: string;
  /** Object id of the resource's service principal in the tenant (the target of the role assignments). */
  resourceSpId: string;
  values: string[];
  appRoleIds: string[];
}
export interface AppResult {
  role: string;
  appId: string;
  objectId: string;
  servicePrincipalId: string;
  uniqueName: string;
  /** True when this run created the application (compensation removes only what we created). */
  created: boolean;
  /**
   * This very call created the application (Graph answered the upsert 201): it had no credentials then. Passed on to
   * ensureAppSecret (`appCreatedBare`), not kept in the registry.
   */
  createdNow?: boolean;
  /** The application permissions declared on it, when the profile asks for some. */
  permissions?: AppPermissions;
  /**
   * An existing service principal the integration uses but does not own (no application object: `objectId` is
   * empty, there is no client secret, nothing to compensate).
   */
  existing?: boolean;
}

export interface GrantAppPermissionsInput extends IntegrationRef {
  role: string;
  /** The app's service principal (the principal of the assignments). */
  servicePrincipalId: string;
  permissions: AppPermissions;
}
export interface GrantAppPermissionsResult {
  /** False when this deployment may not grant consent (GRANT_ADMIN_CONSENT off): an admin must. */
  granted: boolean;
  /** Permission values granted by this call (already granted ones are not repeated). */
  added: string[];
  /** App role ids on the resource the app held beyond its plan (a narrowed tier), revoked by this call. */
  removed: string[];
}

export interface EnsureAppSecretInput extends IntegrationRef {
  role: string;
  appObjectId: string;
  appId: string;
  /** Key Vault secret name for this app's client secret. */
  secretName: string;
  lifetimeDays: number;
  /**
   * Marks the Graph credential and the Key Vault version as belonging to one operation (e.g. `provision` or
   * `rotate-2026-11-26`), so a re-run reuses what the first run wrote instead of adding another secret.
   */
  operation: string;
  /**
   * ensureApp created the application in this run (Graph answered its upsert 201), so it had no credentials. The
   * first execution that claims the app's write-ahead marker then knows the credential list without reading it;
   * every later execution (a retry, an overlapping run) reads it as before.
   */
  appCreatedBare?: boolean;
}
export interface SecretResult {
  role: string;
  secretName: string;
  version: string;
  keyId: string;
  /** ISO end of the credential (= Key Vault expiresOn). */
  expiresOn: string;
  /** ISO time Key Vault created the version (the start of the rotation rule's maximum age). */
  createdOn?: string;
  /**
   * True when this run added the credential. Known from the run's own tag on the Key Vault version (`runId` = the
   * orchestration instance id), so a repeated execution of the activity still reports it; never inferred from times.
   */
  created: boolean;
  /**
   * No longer reported (a first write lists no versions, so it is not known). Kept for results recorded in older
   * orchestration histories; compensation decides from the versions' `runId` tags whether the secret is this run's.
   */
  secretCreated?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// ServiceNow

export interface EnsureRecordInput extends IntegrationRef {
  /** Profile record key (e.g. `outboundProvider`). */
  key: string;
  /**
   * A record several integrations on one instance may need (e.g. a cross-scope privilege): reference-counted in the
   * ownership ledger, removed only when the last integration using it goes, and never when it existed before any of
   * them. Unshared records have a natural key unique to the integration; their creating run is recorded in the ledger.
   */
  shared?: boolean;
  table: string;
  /** Rendered natural key and fields (no placeholders left). */
  naturalKey: Record<string, string>;
  fields: Record<string, string>;
  /**
   * The record holds this app's client secret in `field` (a password2 column): the activity reports whether it must be
   * written (`secretPending`); the value itself is written by `setServiceNowSecret`, never by this activity.
   */
  secret?: { field: string; secretName: string };
  /** Find the record by its natural key and write nothing (a record the integration needs but does not own). */
  lookup?: boolean;
  /** Found but not created by this integration: change nothing, return a manual action with the values instead. */
  exclusive?: boolean;
  manualFallback: string;
}
export interface RecordResult {
  key: string;
  table: string;
  sysId?: string;
  /** True when this run created the record (recorded in the ownership ledger before the insert; never from times). */
  created: boolean;
  /** A reference-counted shared record; this integration holds a reference to it (compensation releases it). */
  shared?: boolean;
  /** True when an existing record was patched (a field differed). */
  updated?: boolean;
  /** The record's secret field must be written (the record was created, or its field is empty). */
  secretPending?: boolean;
  /** Results recorded before secrets were written apart: this call wrote the app's client secret into the record. */
  secretWritten?: boolean;
  /** Non-secret fields that differed on read-back (after the write): should be empty. */
  mismatches: string[];
  /** Set when ServiceNow refused (403): what a person must do instead, with exact values. */
  manualAction?: ManualAction;
}

export interface ManualAction {
  title: string;
  actor: string;
  steps: { label: string; value?: string }[];
}

export interface RoleGrantInput extends IntegrationRef {
  userName: string;
  role: string;
  /**
   * A grant to a user that is not the integration's own (a person named in the request): other integrations may
   * grant the same role to the same user, so the grant is reference-counted like a shared record.
   */
  shared?: boolean;
}
export interface RoleGrantResult {
  userName: string;
  role: string;
  sysId?: string;
  /** True when this run created the grant (recorded in the ownership ledger). */
  created: boolean;
  shared?: boolean;
  manualAction?: ManualAction;
}

export interface IpAllowlistInput extends IntegrationRef {
  addresses: string[];
  /** Host whose A records are added when resolvable. */
  resolveHost?: string;
}
export interface IpAllowlistResult {
  /** False when the instance has no active deny rule (then nothing is needed and nothing is written). */
  needed: boolean;
  /** Allow rules this run created (reference-counted shared records: other integrations may need the same address). */
  created: { address: string; sysId: string }[];
  /** Every allow rule this integration now holds a reference to (created or adopted). */
  held?: { address: string; sysId: string }[];
  manualAction?: ManualAction;
}

export interface WorkNoteInput extends IntegrationRef {
  ticket: TicketRef;
  note: string;
}
export interface WorkNoteResult {
  written: boolean;
  /** Why not (closed or locked ticket, not found): never fails the orchestration. */
  reason?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Approval and reporting

export interface ApprovalRequestInput extends IntegrationRef {
  /**
   * The subset of the configured approvers the request asked for (lower-cased addresses), or undefined for all of
   * them. The activity resolves the policy itself (APPROVERS / APPROVER_GROUPS settings, group members through
   * Graph) and never adds anyone who is not in it.
   */
  approvers?: string[];
  /** People who asked for this change (request `requestedBy`; the ticket's caller and opened-by are added by the
   *  activity): never approvers of it. */
  requesters: string[];
  /** The originating ticket: its caller and opened-by users are requesters too (never approvers). */
  ticket?: TicketRef;
  /** How many distinct approvals decide (any rejection rejects). */
  quorum: number;
  /**
   * What the approver agrees to, shown in the email and on the page; its digest is bound to every link. Given inline
   * (a decommissioning), or, with `planOfRun`, built by the activity from the plan source the run keeps
   * (src/approvals/tokens.ts `savePlan`) after checking it against `planDigest`: a provisioning plan is too large for
   * an orchestration history event.
   */
  plan?: ApprovalPlan;
  planOfRun?: boolean;
  planDigest: string;
  /** ISO expiry of the links (the decision deadline). */
  expiresAt: string;
  /** Reminder number: 0 = first request; a reminder re-issues links for approvers who have none open. */
  round: number;
  /** What the email lists as created or verified (only the fields it shows). */
  apps: MailApp[];
  secrets: MailSecret[];
  records: MailRecord[];
  manualActions: ManualAction[];
}
export type MailApp = Pick<AppResult, 'role' | 'appId' | 'objectId' | 'servicePrincipalId'>;
export type MailSecret = Pick<SecretResult, 'role' | 'secretName' | 'version' | 'keyId' | 'expiresOn'>;
export type MailRecord = Pick<RecordResult, 'key' | 'table' | 'sysId' | 'mismatches'> & {
  manualAction?: Pick<ManualAction, 'title'>;
};

/** Keeps the source of the plan a provisioning run applies (checked against the run's digest before it is kept). */
export interface RecordPlanInput {
  integrationId: string;
  instanceId: string;
  digest: string;
  mode: string;
  source: import('../approvals/plan').PlanSource;
}
export interface ApprovalRequestResult {
  /** Hash prefixes of the tokens issued (safe); never the tokens. */
  tokenIds: string[];
  sentTo: string[];
  /** Every eligible approver under the policy for this request (after narrowing and removing the requesters). */
  eligible?: string[];
}

/** The payload of the ApprovalDecision external event (raised by the approval endpoint; never carries a token). */
export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  approver: string;
  at: string;
  tokenId: string;
  /** The digest of the plan the approver saw (from the token record): a decision on another plan decides nothing. */
  planDigest?: string;
  /** The round of links the decision came through (0 = the first mail), for the audit trail. */
  round?: number;
}
export const APPROVAL_EVENT = 'ApprovalDecision';

/** Closes every open link of an instance (a round was decided, expired, or the instance ended). */
export interface CloseApprovalRoundInput {
  instanceId: string;
  reason: 'decided' | 'expired' | 'ended';
  /** The decision that closed the round, shown to later visitors ("already decided by … at …"). */
  decision?: { decision: 'approve' | 'reject'; approver: string; at: string };
}
export interface CloseApprovalRoundResult {
  closed: number;
}

/**
 * The plan an approver agrees to: everything activation will grant, in words and values a person can check.
 * Built by the orchestrator from the profile and the request (src/approvals/plan.ts); its digest covers every field
 * except the app ids, which are shown when known (an app is identified by its unique name, stable for the
 * integration). Never a secret.
 */
export interface ApprovalPlan {
  integrationId: string;
  profile: { id: string; title: string };
  tenant: { id: string; name: string; domain?: string };
  serviceNow: { instance: string; url: string };
  apps: {
    role: string;
    displayName: string;
    uniqueName: string;
    appId?: string;
    purpose: string;
    redirectUris: string[];
    /** Application permissions declared on the app, granted (admin consent) only after the approval. */
    permissions?: { resource: string; values: string[] };
    /** How the app's consumer proves itself when it is not a client secret (certificate or federated). */
    credential?: { kind: CredentialKind; statement: string };
  }[];
  /** Inbound trusts: tokens of one app, for another app's audience, act as a ServiceNow user with roles. */
  trust: { statement: string; tokenApp: string; audienceApp: string; user: string; roles: string[] }[];
  /** ServiceNow records activation writes or turns on, with the values it writes (secrets as Key Vault names). */
  records: { key: string; table: string; values: Record<string, string> }[];
  roleGrants: { userName: string; role: string }[];
  privileges: { sourceScope: string; target: string; operation: string }[];
  ipRules: string[];
  manualSteps: { title: string; actor: string }[];
  requestedBy: string[];
  /**
   * For a change of a live integration: what approving it takes away (role grants, IP allow rules the new plan no
   * longer has). Follows from the plan and the live state; shown, not part of the digest.
   */
  removes?: string[];
  /**
   * Set when the plan is a decommissioning: the integration is taken down. The approver agrees to exactly `remove`
   * (everything the integration owns); `keep` is what stays, with why (another integration's or a person's records,
   * shared records still referenced). The other sections then describe what exists today.
   */
  decommission?: { reason?: string; remove: string[]; keep: string[] };
}

export interface RunChecksInput extends IntegrationRef {
  /** The apps, secrets and records to check (only the fields the checks read). */
  apps: CheckApp[];
  secrets: Pick<SecretResult, 'role' | 'secretName'>[];
  records: (Pick<RecordResult, 'key' | 'sysId'> & { manualAction?: Pick<ManualAction, 'title'> })[];
  /** The profile's checks, in order (rendered: role and record keys only). */
  checks: import('../profiles/types').CheckSpec[];
  /** The certificate version each certificate-credential app uses (for the `certificateToken` check). */
  certificates?: Array<{ role: string } & import('./credentials').CertificateRef>;
  /** The federated identity credential each federated app holds (for the `federatedCredential` check). */
  federated?: { role: string; name: string; issuer: string; subject: string; audiences: string[] }[];
  /**
   * The rendered non-secret fields of each ServiceNow record (what ensureServiceNowRecord was given), compared on
   * read-back by the `recordsConsistent` check (e.g. oauth_entity.client_id = the outbound app id).
   */
  expectedRecords: ExpectedRecord[];
}
export type CheckApp = Pick<
  AppResult,
  'role' | 'appId' | 'objectId' | 'servicePrincipalId' | 'existing' | 'permissions'
>;
export interface ExpectedRecord {
  key: string;
  table: string;
  fields: Record<string, string>;
}
export interface CheckOutcome {
  name: string;
  ok: boolean;
  detail: string;
  /** Remediation hint mapped from AADSTS codes or ServiceNow 401/403 causes. */
  hint?: string;
  /** True for failures that may pass after Entra's propagation delay (retry later). */
  transient?: boolean;
}

export interface ReportInput extends IntegrationRef {
  approvers: string[];
  /**
   * `approvers` are this run's approval round's eligible approvers, resolved from the approver policy when the round
   * opened (sendApprovalRequests): the report sends to them without reading the policy again. Otherwise (a rotation,
   * a run that failed before any round) they are narrowed to the policy as it is now.
   */
  approversFromRound?: boolean;
  outcome: string;
  summary: string;
  checks: CheckOutcome[];
  orphans: Orphan[];
}

// ---------------------------------------------------------------------------------------------------------------
// Compensation

/** Something this integration created, that compensation removes. */
export type CreatedObject =
  | {
      kind: 'app';
      role: string;
      objectId: string;
      appId: string;
      /** Decommissioning: removed when any provisioning run of this integration created it (its creation tag). */
      retire?: boolean;
    }
  /**
   * An app this run may have created without learning its ids (a parallel call that exhausted its retries):
   * compensation finds it by its uniqueName and removes it only if it carries this run's creation tag.
   */
  | { kind: 'appCandidate'; role: string }
  /**
   * A client secret this run added: the credential `keyId` on the app, and `version` in Key Vault. Compensation removes
   * the credential from the app and disables the version; it deletes the Key Vault secret (soft delete) only when every
   * version in it was written by this run (its `runId` and `integrationId` tags). Without keyId/version (a parallel call
   * that exhausted its retries) the versions tagged with this run's id are found and treated the same way.
   */
  | {
      kind: 'secret';
      role: string;
      secretName: string;
      appObjectId?: string;
      keyId?: string;
      version?: string;
      /**
       * Recorded by earlier releases (orchestration histories still replaying): `false` means the secret existed
       * before the run, so it is never deleted; `true` is ignored (ownership is read from the versions' tags).
       */
      secretCreated?: boolean;
      /**
       * Decommissioning: the whole secret is soft-deleted (never purged) when every version carries this integration's
       * tag, whichever run wrote it; the credentials those versions name leave the app (only with our marker).
       */
      retire?: boolean;
    }
  /**
   * A ServiceNow record this run created; `shared` ones are released by reference count, not deleted outright.
   * `retire`: a record an earlier run of this integration created or referenced that the newly approved plan no longer
   * has (e.g. a role grant taken out of the request): removed (or its reference released) whichever run took it.
   */
  | { kind: 'record'; key: string; table: string; sysId: string; shared?: boolean; retire?: boolean }
  /**
   * A Key Vault certificate version this run created (certificate credentials): compensation disables the version
   * (Key Vault keeps deleted certificates recoverable; a later run creates a new version).
   */
  | { kind: 'certificate'; role: string; certificateName: string; version: string; retire?: boolean }
  /** A key credential (certificate) this run added to an app: compensation removes it from the app. */
  | {
      kind: 'keyCredential';
      role: string;
      appObjectId: string;
      keyId: string;
      /** The certificate version of the key credential (signs removeKey's proof while it is valid). */
      proof?: CertificateRef;
      retire?: boolean;
    }
  /** A federated identity credential this run added to an app: compensation deletes it. */
  | { kind: 'federatedCredential'; role: string; appObjectId: string; name: string; retire?: boolean }
  /**
   * A ServiceNow record this run was creating when it failed (the insert timed out or the connection dropped, so it
   * may have landed, or land later): found by its natural key and removed when the ownership ledger says this run
   * claimed it. While the claim is recent and nothing is found yet, it stays an orphan for the sweep to look again.
   */
  | { kind: 'recordCandidate'; key: string; table: string; naturalKey: Record<string, string> };

/** A created object in words, for logs, work notes and emails (ids and names only). */
export function describeObject(o: CreatedObject): string {
  switch (o.kind) {
    case 'app':
      return `app ${o.role} (appId ${o.appId}, objectId ${o.objectId})`;
    case 'appCandidate':
      return `app ${o.role} (by uniqueName)`;
    case 'secret':
      return `Key Vault secret ${o.secretName}`;
    case 'record':
      return `${o.table} ${o.sysId} (${o.key})`;
    case 'recordCandidate':
      return `${o.table} '${o.key}' (by natural key)`;
    case 'certificate':
      return `Key Vault certificate ${o.certificateName} version ${o.version}`;
    case 'keyCredential':
      return `key credential ${o.keyId} of app ${o.role}`;
    case 'federatedCredential':
      return `federated credential ${o.name} of app ${o.role}`;
  }
}

export interface Orphan {
  object: CreatedObject;
  reason: string;
  /** The removal failed for a reason that may pass (throttling, outage, reset, timeout): worth trying again. */
  transient?: boolean;
}
export interface CompensateInput extends IntegrationRef {
  created: CreatedObject[];
  /**
   * The last attempt: report what could not be removed. Otherwise a transient failure is thrown after everything
   * else was tried, so the durable retry policy runs the removal again.
   */
  final?: boolean;
  /** Ids the integration uses now (sys_ids, object ids): never removed, whatever an earlier run's markers say. */
  keep?: string[];
}

/** What a run could not remove, kept on the integration until a later sweep removes it. */
export interface RecordedOrphan extends Orphan {
  /** The provisioning run that created it (its ownership marker). */
  instanceId: string;
  /** ISO time it was first recorded. */
  since: string;
}
export interface CompensateResult {
  removed: CreatedObject[];
  orphans: Orphan[];
}

// ---------------------------------------------------------------------------------------------------------------
// Registry

export interface RegistryUpdateInput {
  integrationId: string;
  status?: import('../registry/types').IntegrationStatus;
  /** Apps, secrets and records to register (only the fields the registry row keeps). */
  apps?: Pick<AppResult, 'role' | 'appId' | 'objectId'>[];
  secrets?: Pick<SecretResult, 'role' | 'secretName' | 'version' | 'keyId' | 'expiresOn' | 'createdOn'>[];
  records?: Pick<RecordResult, 'key' | 'sysId'>[];
  checks?: CheckOutcome[];
  /** The approval decision that let the integration go live, with the digest of the plan it approved. */
  approval?: { approver: string; at: string; planDigest?: string; approvers?: string[] };
  /** What the run `instanceId` could not remove (replaces that run's entries in the integration's list). */
  orphans?: { instanceId: string; items: Orphan[] };
  /** What the request that went live named (set when a run ends active, never before its approval). */
  tenantName?: string;
  tenantDomain?: string;
  ticket?: TicketRef;
  /** The digest of the plan whose activation completed (the live state); a re-run with it is silent. */
  appliedDigest?: string;
  /** Record keys to forget (records an approved change retired). */
  dropRecords?: string[];
  /** Who approves and receives hand-offs and reports (the eligible approvers of the last round). */
  approvers?: string[];
  /** The last run's outcome; a failed re-provision of a live integration is recorded here and never demotes it. */
  lastRun?: { instanceId: string; outcome: string; at: string; error?: string };
  /** The last rotation's outcome. */
  lastRotation?: { instanceId: string; outcome: string; at: string; error?: string };
  /** The decommissioning run (set when it starts, its outcome when it ends). */
  decommission?: import('../registry/types').IntegrationRecord['decommission'];
  /** The result of a health and drift check (src/orchestrators/check-health.ts). */
  health?: import('./fleet').HealthState;
  /** Certificate and federated credentials of apps without a client secret (replace the app's credential state). */
  credentials?: ProvisionedCredential[];
  /** Apps whose client secret was removed because they moved to another credential kind. */
  retiredSecrets?: string[];
  /** Secret consumers confirmed to hold a credential (the product's ServiceNow writes, hand-off confirmations). */
  confirmations?: ({ role: string } & import('../registry/types').ConsumerConfirmation)[];
  /** Events for the integration's audit trail, recorded with the milestone (an update may carry only these). */
  audit?: import('./fleet').AuditEvent[];
  /** ISO time of the update (orchestrator's currentUtcDateTime, so replays write the same value). */
  at: string;
}

/** What the profile requires of the ServiceNow instance (IntegrationProfile['serviceNow'] satisfies it). */
export interface ServiceNowRequirements {
  requiredScope?: string;
  requiredRoles: string[];
  requiredColumns: Record<string, string[]>;
  /** Records that must exist already (e.g. an installed spoke's connection alias), with what to do when one is missing. */
  requiredRecords?: { table: string; naturalKey: Record<string, string>; missing: string }[];
}

export type PreflightActivityInput = PreflightInput & {
  /** `grantsPermissions`: the profile declares application permissions (admin consent after the approval). */
  profile: { serviceNow: ServiceNowRequirements; grantsPermissions?: boolean };
};

export interface ReportResult {
  /** Approvers the report went to (this run or an earlier one). */
  sentTo: string[];
}

/** The contract's input, plus the sys_id of a record this run already wrote. */
export type EnsureRecordActivityInput = EnsureRecordInput & {
  /**
   * The record's sys_id when this run already wrote it (activation of a record created before the approval): it is
   * patched with the fields straight away, the PATCH answer being the read-back; gone (404), it is ensured anew.
   */
  sysId?: string;
};

/** The input as the orchestrator may send it: the originating ticket, when there is one. */
export type SendApprovalInput = ApprovalRequestInput & { ticket?: TicketRef };

/** What the activity returns besides the contract: the quorum applied and the requested addresses it dropped. */
export type SendApprovalResult = ApprovalRequestResult & { quorum: number; dropped: string[] };
