/**
 * Contracts of running a fleet of integrations: the audit trail, the daily health and drift check, alerts and
 * decommissioning. Types only (orchestrators, activities, HTTP functions and the dashboard share them). Never a secret.
 */

/** What happened to an integration, as recorded in its append-only audit log (src/registry/audit.ts). */
export type AuditKind =
  | 'requested'
  | 'approval-requested'
  | 'approved'
  | 'rejected'
  | 'approval-expired'
  | 'activated'
  | 'run-finished'
  | 'rotated'
  | 'rotation-failed'
  | 'handoff-confirmed'
  | 'health-checked'
  | 'drift-found'
  | 'drift-cleared'
  | 'repaired'
  | 'alert-sent'
  | 'decommission-requested'
  | 'decommission-approved'
  | 'decommission-rejected'
  | 'removed'
  | 'decommissioned';

export interface AuditEvent {
  kind: AuditKind;
  /** ISO time of the event (an orchestrator's currentUtcDateTime, so a replay records the same event). */
  at: string;
  /** Who did it: an approver's or requester's address, or `system` for the product itself. */
  actor?: string;
  /** The durable instance (provisioning, rotation, health check, decommissioning run) it belongs to. */
  instanceId?: string;
  /** The digest of the plan requested, approved or applied. */
  planDigest?: string;
  /** The approval link a decision came through, and the round of links it belonged to (0 = first mail). */
  tokenId?: string;
  round?: number;
  /** One line a person reads (no secret, no URL with a token). */
  detail?: string;
  /** Machine-readable facts (role, keyId, record key, finding kind, ...); scalars only. */
  data?: Record<string, string | number | boolean>;
}

/** An audit event as stored: its place in the integration's log. */
export interface AuditEntry extends AuditEvent {
  integrationId: string;
  /** Sortable position in the log (time, then order of recording). */
  seq: string;
}

/** What the health check can find wrong with an integration. */
export type FindingKind =
  /** A profile check (token, inbound call, consumer) failed. */
  | 'check-failed'
  /** A ServiceNow record differs from what was approved (a column edited, deactivated), or is gone. */
  | 'record-drift'
  | 'record-missing'
  /** A role grant the plan holds was removed, or one was added to the integration's user that the plan does not hold. */
  | 'grant-removed'
  | 'grant-added'
  /** A credential on one of our apps that the product did not create (a security signal). */
  | 'unknown-credential'
  /** The credential in use expired, or is missing from the app. */
  | 'credential-expired'
  | 'credential-missing'
  /** The Key Vault secret version the registry names is missing, disabled or expired. */
  | 'secret-missing'
  | 'secret-disabled'
  | 'secret-expired'
  /** An app registration of the integration is gone. */
  | 'app-missing'
  /** The federated identity credential the integration set up is gone or trusts another issuer, subject or audience. */
  | 'federated-drift';

export interface HealthFinding {
  kind: FindingKind;
  /** What it is about, stable across days (e.g. `record:oidcProvider:client_id`, `credential:connector:<keyId>`). */
  subject: string;
  /** One line a person reads. */
  detail: string;
  /** Whether `?repair=true` can put it back (records and grants: yes; a hand-added credential: no, it is reported). */
  repairable: boolean;
}

/** The last health check of an integration, kept on its registry row. */
export interface HealthState {
  /** ISO time of the last check, its instance and outcome. */
  checkedAt: string;
  instanceId: string;
  ok: boolean;
  /** ISO time of the last check that found nothing wrong. */
  lastGoodAt?: string;
  findings: HealthFinding[];
}

/** A condition an alert is raised for. */
export type AlertConditionKind =
  | 'rotation-failed'
  | 'check-failed'
  | 'drift'
  | 'credential-expiring'
  | 'approval-overdue'
  | 'handoff-overdue'
  | 'orphans';

/** Input of the `raiseAlerts` activity: evaluate one integration's alerts as of `at` (ISO). */
export interface RaiseAlertsInput {
  integrationId: string;
  at: string;
}
