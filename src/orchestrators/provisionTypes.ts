import type {
  AppResult,
  ApprovalDecision,
  CheckOutcome,
  CreatedObject,
  IntegrationRef,
  ManualAction,
  Orphan,
  RecordResult,
  SecretResult,
} from '../activities/contracts';
import type { TicketRef } from '../registry/types';

export const PROVISION_ORCHESTRATOR = 'provisionIntegration';

/** Settings the orchestrator needs; read by the HTTP starter (orchestrators never read settings). */
export interface ProvisionSettings {
  approvalTimeoutMinutes: number;
  reminderIntervalMinutes: number;
  /** What a rejection's sibling, the deadline, does: roll back everything, or keep it and mark it expired. */
  onDeadline: 'rollback' | 'keep';
  /** Connectivity checks: attempts and the wait between them (Entra takes seconds to accept a new secret). */
  checkAttempts: number;
  checkRetrySeconds: number;
}

export interface ProvisionOptions {
  testEnvironment: boolean;
  ipAllowlist: boolean;
  grantUsers: { userName: string; role: string }[];
  secretLifetimeDays?: number;
  redirectUri?: string;
}

export interface ProvisionInput {
  ref: IntegrationRef;
  approvers: string[];
  ticket?: TicketRef;
  options: ProvisionOptions;
  settings: ProvisionSettings;
  /** Endpoint values from settings, for the profile templates. */
  endpoints: { authorityHost: string; instanceUrl: string };
  /** Marks the credentials this provisioning adds (`provision`); rotation uses its own operation names. */
  operation: string;
  /**
   * Set when re-provisioning an integration that was approved before: the idempotent steps and the checks run
   * again, the approval gate does not, and nothing is written or emailed when nothing changed.
   */
  priorApproval?: { approver: string; at: string };
  /** ServiceNow sys_ids an earlier run registered, by profile record key: never this run's to remove. */
  priorRecords?: Record<string, string>;
}

export type ProvisionOutcome = 'active' | 'checks-failed' | 'rejected' | 'expired' | 'failed';

/** The orchestration's custom status and output: a readable step log and what was created. Never a secret. */
export interface ProvisionStatus {
  integrationId: string;
  step: string;
  steps: { name: string; at: string }[];
  apps: AppResult[];
  secrets: SecretResult[];
  records: RecordResult[];
  manualActions: ManualAction[];
  awaiting?: { approvers: string[]; since: string; deadline: string; reminders: number };
  decision?: Omit<ApprovalDecision, 'tokenId'>;
  checks: CheckOutcome[];
  outcome?: ProvisionOutcome;
  error?: string;
  /** Every problem the preflight found (the error line summarises them). */
  problems?: string[];
  created: CreatedObject[];
  orphans: Orphan[];
}
