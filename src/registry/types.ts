/** Non-secret state of one integration, kept in the registry (Azure Table Storage). Never holds a secret value. */
export type IntegrationStatus =
  | 'provisioning'
  | 'awaiting-approval'
  | 'checking'
  | 'active'
  | 'failed'
  | 'rejected'
  | 'expired'
  | 'rolled-back'
  | 'decommissioning'
  | 'decommissioned';

export interface AppCredentialState {
  appId: string;
  objectId: string;
  /** Key Vault secret that holds the client secret. */
  secretName: string;
  secretVersion?: string;
  /** Graph passwordCredential keyId of the secret in use. */
  keyId?: string;
  /** ISO time the credential expires. */
  expiresOn?: string;
  /** ISO time Key Vault created the secret version in use (recorded when it is written or adopted). */
  createdOn?: string;
  /** Consumers confirmed to hold the credential `keyId` (a confirmation of an earlier credential does not count). */
  confirmations?: ConsumerConfirmation[];
  /**
   * A certificate or federated credential instead of a client secret (then `secretName` is empty and there is no
   * secret version). Certificates: the Key Vault certificate version in use, its key credential id and expiry.
   */
  credential?:
    | { kind: 'certificate'; certificateName: string; version: string; x5t: string; keyId: string; expiresOn: string }
    | { kind: 'federated'; name: string; issuer: string; subject: string };
}

/** A secret consumer (profile `secretConsumers`, key from consumerKey) confirmed to hold one credential. */
export interface ConsumerConfirmation {
  consumer: string;
  keyId: string;
  /** ISO time: the product's write to ServiceNow, or the hand-off "done" confirmation. */
  at: string;
  /** `system` for the product's own write, else the address that confirmed the hand-off. */
  by: string;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string;
  at: string;
}

export interface TicketRef {
  table: string;
  sysId?: string;
  number?: string;
}

export interface IntegrationRecord {
  id: string;
  profile: string;
  tenant: string;
  tenantName: string;
  serviceNowInstance: string;
  status: IntegrationStatus;
  /** Durable instance id of the orchestration that provisions (or last provisioned) it. */
  instanceId: string;
  ticket?: TicketRef;
  /** Who approves go-live and receives rotation hand-offs and reports. */
  approvers?: string[];
  apps: Record<string, AppCredentialState>;
  /** ServiceNow sys_ids by profile record key. */
  serviceNow: Record<string, string>;
  checks: CheckResult[];
  /**
   * Who approved go-live, when, and the digest of the plan they approved: re-provisioning with the same plan does not
   * ask again; a different plan does.
   */
  approval?: { approver: string; at: string; planDigest?: string; approvers?: string[] };
  /** The digest of the plan whose activation completed (the live state); a re-run with it is silent. */
  appliedDigest?: string;
  /** The tenant's verified domain when a request named one (`tenant` is always the tenant id). */
  tenantDomain?: string;
  /** What runs could not remove: retried by the daily sweep until gone (an alert while they stay). */
  orphans?: import('../contracts/provision').RecordedOrphan[];
  /** The outcome of the last provisioning run (a failed re-run of a live integration is recorded here, not demoting it). */
  lastRun?: { instanceId: string; outcome: string; at: string; error?: string };
  /** How many provisioning runs (1 = the first; re-provisioning increments it). */
  runs?: number;
  /** The outcome of the last rotation (a failed or rolled-back one raises an alert until a later one succeeds). */
  lastRotation?: { instanceId: string; outcome: string; at: string; error?: string };
  /** The last daily health and drift check. */
  health?: import('../contracts/fleet').HealthState;
  /** The decommissioning run, while it runs and after (the row stays, status `decommissioned`). */
  decommission?: {
    instanceId: string;
    requestedBy?: string;
    at: string;
    outcome?: string;
    /** Why it was asked for (the request's `reason`). */
    reason?: string;
    /** The status before the decommissioning started: a rejected or expired one goes back to it. */
    previousStatus?: IntegrationStatus;
  };
  createdAt: string;
  updatedAt: string;
}
