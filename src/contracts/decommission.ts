/**
 * Contracts of decommissioning an integration (src/orchestrators/decommission-integration.ts and the activity
 * `planDecommission`): ids, names and reasons, never a secret.
 */
import type { ApprovalPlan, CreatedObject, IntegrationRef } from './provision';

export interface PlanDecommissionInput extends IntegrationRef {
  /** Who asked (shown to the approvers; never one of them). */
  requestedBy: string[];
  reason?: string;
}

/** Something of the integration's that stays, and why (shown to the approver; never removed). */
export interface KeptObject {
  what: string;
  reason: string;
}

/**
 * What decommissioning removes: exactly what the integration owns, found from its registry row, the creation tags of
 * its apps, the integration tag of its Key Vault versions and the ownership ledger (its claims and its references to
 * shared records). Each object carries `retire` (removed whichever run of the integration created it).
 */
export interface DecommissionPlan {
  /** In removal order is decided by `compensate` (records, then secrets, then apps; later-created first). */
  remove: CreatedObject[];
  keep: KeptObject[];
  /** What the approver sees (the approval mail and page). */
  summary: ApprovalPlan;
}
