import type { KeptObject } from '../contracts/decommission';
import type { ApprovalPlan, CreatedObject, IntegrationRef, Orphan } from '../contracts/provision';
import type { IntegrationStatus, TicketRef } from '../registry/types';
import type { GateFields, ProvisionSettings } from './provision-types';

export const DECOMMISSION_ORCHESTRATOR = 'decommissionIntegration';

/**
 * The durable instance id of a decommissioning: `decommission-{id}`, then `decommission-{id}-r{n}` for a request
 * after a rejected, expired or failed one (approval tokens and mail markers are bound to the instance id, so a closed
 * round's instance cannot ask again).
 */
export const decommissionInstanceId = (integrationId: string, attempt = 1): string =>
  attempt <= 1 ? `decommission-${integrationId}` : `decommission-${integrationId}-r${attempt}`;

/** The attempt number of a decommissioning instance id (1 for `decommission-{id}`). */
export function decommissionAttempt(instanceId: string): number {
  const m = /-r(\d+)$/.exec(instanceId);
  return m ? Number(m[1]) : 1;
}

export interface DecommissionInput {
  /** `instanceId` is this run's (decommissionInstanceId). */
  ref: IntegrationRef;
  /** Who asked (lower-cased): never an approver of this run. */
  requestedBy: string[];
  reason?: string;
  /** A subset of the configured approvers (unset: everyone the approver policy names). */
  approvers?: string[];
  ticket?: TicketRef;
  settings: Pick<ProvisionSettings, 'quorum' | 'approvalTimeoutMinutes' | 'reminderIntervalMinutes'>;
  /** The registry status before the decommissioning: a rejected, expired or failed one goes back to it. */
  previousStatus: IntegrationStatus;
}

export type DecommissionOutcome = 'decommissioned' | 'rejected' | 'expired' | 'failed';

/** The orchestration's custom status and output. Never a secret. */
export interface DecommissionStatus extends GateFields {
  integrationId: string;
  step: string;
  steps: { name: string; at: string }[];
  /** What the approver agrees to: the removal list, its digest, and what stays (apps, secrets and records: empty). */
  plan?: { digest: string; mode: 'decommission'; summary: ApprovalPlan; remove: CreatedObject[]; keep: KeptObject[] };
  removed: CreatedObject[];
  orphans: Orphan[];
  outcome?: DecommissionOutcome;
  error?: string;
}
