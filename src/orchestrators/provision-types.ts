import type { CredentialKind, ProvisionedCredential } from '../contracts/credentials';
import type {
  AppResult,
  ApprovalDecision,
  ApprovalPlan,
  CheckOutcome,
  CreatedObject,
  IntegrationRef,
  ManualAction,
  Orphan,
  RecordResult,
  SecretResult,
} from '../contracts/provision';
import type { TicketRef } from '../registry/types';

export const PROVISION_ORCHESTRATOR = 'provisionIntegration';

/** Settings the orchestrator needs; read by the HTTP starter (orchestrators never read settings). */
export interface ProvisionSettings {
  /** How many distinct approvals decide (any rejection rejects). */
  quorum: number;
  approvalTimeoutMinutes: number;
  reminderIntervalMinutes: number;
  /** What a rejection's sibling, the deadline, does: roll back everything, or keep it and mark it expired. */
  onDeadline: 'rollback' | 'keep';
  /** Connectivity checks: attempts and the wait between them (Entra takes seconds to accept a new secret). */
  checkAttempts: number;
  checkRetrySeconds: number;
  /** Lifetime of the certificates created for certificate credentials (CERTIFICATE_VALIDITY_MONTHS). */
  certificateValidityMonths?: number;
}

export interface ProvisionOptions {
  testEnvironment: boolean;
  ipAllowlist: boolean;
  grantUsers: { userName: string; role: string }[];
  secretLifetimeDays?: number;
  redirectUri?: string;
  /** The application-permission tier of the profile's apps (else each app's default tier). */
  permissionTier?: string;
  /** The credential kind the request chose for the apps whose profile allows it (else each app's default). */
  credential?: CredentialKind;
}

export interface ProvisionInput {
  ref: IntegrationRef;
  /** The tenant's verified domain when the request named one (shown in hand-offs; the ref carries the tenant id). */
  tenantDomain?: string;
  /**
   * When the request resolved `tenantDomain` to the tenant id through the tenant's OpenID metadata (ISO time): a
   * preflight soon after need not fetch the same metadata again.
   */
  tenantResolvedAt?: string;
  /** A subset of the configured approvers the request narrowed to (lower-cased), or undefined for all of them. */
  approvers?: string[];
  /** Who asked (request `requestedBy`): never an approver of this run. */
  requestedBy: string[];
  ticket?: TicketRef;
  options: ProvisionOptions;
  settings: ProvisionSettings;
  /** Endpoint values from settings, for the profile templates. */
  endpoints: { authorityHost: string; instanceUrl: string; graphUrl?: string };
  /** Marks the credentials this provisioning adds (`provision`); rotation uses its own operation names. */
  operation: string;
  /**
   * The approval an earlier run recorded, with the digest of the plan it approved. A re-provisioning whose plan has
   * the same digest runs silently (nothing written or emailed when nothing changed); a different digest stages the
   * change: nothing is written before a new approval round approves it.
   */
  approved?: { approver: string; at: string; planDigest?: string };
  /** The digest of the plan whose activation completed: the approved plan is silent only once it was applied. */
  appliedDigest?: string;
  /** ServiceNow sys_ids earlier runs registered, by record key: what an approved change may have to retire. */
  priorRecords?: Record<string, string>;
  /** App ids an earlier run registered, by role (shown in a staged change's plan). */
  priorApps?: Record<string, string>;
  /** Who receives the report when this run sends no approval request (the integration's approvers so far). */
  notify?: string[];
  /** Apps that had a client secret of ours when this run started (registry): removed once another kind is proven. */
  priorSecretRoles?: string[];
  /** Apps that had a certificate or federated credential of ours when this run started (registry), by role. */
  priorCredentialKinds?: Record<string, 'certificate' | 'federated'>;
  /** The integration's registry status when this run started: a live (`active`) integration is never demoted. */
  liveStatus?: string;
}

export type ProvisionOutcome = 'active' | 'checks-failed' | 'rejected' | 'expired' | 'failed';

/**
 * How a run treats the approval gate (see ProvisionInput.approved): `first` (nothing approved: inert objects, then the
 * gate), `silent` (the approved plan is the applied one), `resume` (the approved plan was not applied completely:
 * apply it without asking again), `staged` (another plan: nothing written before a new approval).
 */
export type GateMode = 'first' | 'silent' | 'resume' | 'staged';

/**
 * What every run with an approval gate (src/orchestrators/approval-gate.ts) keeps in its custom status: what the
 * approval mail lists, the round it waits for, and the decision.
 */
export interface GateFields {
  apps: AppResult[];
  secrets: SecretResult[];
  records: RecordResult[];
  manualActions: ManualAction[];
  awaiting?: {
    approvers: string[];
    since: string;
    deadline: string;
    reminders: number;
    quorum: number;
    approvedBy: string[];
  };
  decision?: Omit<ApprovalDecision, 'tokenId'> & { approvers?: string[] };
}

/**
 * What a provisioning run keeps while it runs (the orchestrator's own state, rebuilt on replay): everything it
 * created, the plan it applies, what the approval mail lists. Never published as is: see ProvisionStatus.
 */
export interface ProvisionRunState extends GateFields {
  integrationId: string;
  step: string;
  steps: { name: string; at: string }[];
  /** The plan this run applies and its digest (what an approver agrees to; never a secret). */
  plan?: { digest: string; mode: GateMode; summary: ApprovalPlan };
  checks: CheckOutcome[];
  outcome?: ProvisionOutcome;
  error?: string;
  /** Every problem the preflight found (the error line summarises them). */
  problems?: string[];
  created: CreatedObject[];
  orphans: Orphan[];
  /** Certificate and federated credentials of apps without a client secret. */
  credentials?: ProvisionedCredential[];
  /** Apps whose former client secret this run removed (they moved to a certificate or federation). */
  retiredSecrets?: string[];
}

/**
 * The orchestration's custom status and output: a compact progress summary (step log, plan digest and mode, counts,
 * who is awaited, the decision, manual actions, checks, outcome). Orchestration history events and custom status stay
 * small (the backend limits custom status to 16 KB and replays large histories slowly:
 * https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-custom-orchestration-status); the
 * plan itself is kept by the run (src/approvals/tokens.ts `savePlan`) and what was created is on the registry row,
 * both served by GET /api/integrations/{id}. Never a secret.
 */
export interface ProvisionStatus extends Pick<GateFields, 'manualActions' | 'awaiting' | 'decision'> {
  integrationId: string;
  step: string;
  steps: { name: string; at: string }[];
  /** The digest and gate mode of the plan this run applies (the plan: GET /api/integrations/{id}). */
  plan?: { digest: string; mode: GateMode };
  /** How many apps, secrets and ServiceNow records the run holds, and how many objects it created (and still has). */
  counts: { apps: number; secrets: number; records: number; created: number };
  checks: CheckOutcome[];
  outcome?: ProvisionOutcome;
  error?: string;
  problems?: string[];
  orphans: Orphan[];
}

/** The published summary of a run's state (custom status and output). Pure. */
export function provisionStatusOf(s: ProvisionRunState): ProvisionStatus {
  return {
    integrationId: s.integrationId,
    step: s.step,
    steps: s.steps,
    ...(s.plan ? { plan: { digest: s.plan.digest, mode: s.plan.mode } } : {}),
    counts: { apps: s.apps.length, secrets: s.secrets.length, records: s.records.length, created: s.created.length },
    manualActions: s.manualActions,
    ...(s.awaiting ? { awaiting: s.awaiting } : {}),
    ...(s.decision ? { decision: s.decision } : {}),
    checks: s.checks,
    ...(s.outcome ? { outcome: s.outcome } : {}),
    ...(s.error !== undefined ? { error: s.error } : {}),
    ...(s.problems ? { problems: s.problems } : {}),
    orphans: s.orphans,
  };
}
