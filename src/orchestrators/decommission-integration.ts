/**
 * decommissionIntegration: plan what the integration owns → approval through the same gate as provisioning (emailed
 * single-use links, reminders, deadline, quorum, the plan's digest bound to every link) → remove exactly that →
 * registry `decommissioned`, with an audit event per step and per removed object.
 *
 * Removal reuses compensation (activity `compensate`, with the same durable retries and the last attempt reporting
 * orphans): ServiceNow records the ownership ledger attributes to the integration, its references to shared records
 * (released; deleted only by the last reference and only if an integration created it), Key Vault secrets
 * soft-deleted (never purged), Entra applications (with their service principals). Whatever could not be removed is
 * recorded as an orphan for the daily sweep. A rejection or the deadline removes nothing and puts the previous status
 * back. Deterministic: time from context.df.currentUtcDateTime, every side effect an idempotent activity.
 */
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';

import type { AuditEvent } from '../contracts/fleet';
import { describeObject, type CreatedObject, type RegistryUpdateInput } from '../contracts/provision';
import { digestOf } from '../approvals/plan';
import { awaitApproval } from './approval-gate';
import { activities, call, RETRY } from './calls';
import type { DecommissionInput, DecommissionOutcome, DecommissionStatus } from './decommission-types';
import { removeObjects } from './provision-integration';
import { firstLine } from './shared';

class DecommissionError extends Error {}

/** Scalars an audit event's `data` may carry about a removed object (ids and names only). */
function removedData(o: CreatedObject): Record<string, string | boolean> {
  switch (o.kind) {
    case 'app':
      return { kind: o.kind, role: o.role, appId: o.appId, objectId: o.objectId };
    case 'secret':
      return { kind: o.kind, role: o.role, secretName: o.secretName };
    case 'record':
      return { kind: o.kind, key: o.key, table: o.table, sysId: o.sysId, ...(o.shared ? { shared: true } : {}) };
    default:
      return { kind: o.kind };
  }
}

export const decommissionIntegration: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<DecommissionInput>();
  const { ref } = input;
  const iso = () => context.df.currentUtcDateTime.toISOString();
  const status: DecommissionStatus = {
    integrationId: ref.integrationId,
    step: 'started',
    steps: [],
    apps: [],
    secrets: [],
    records: [],
    manualActions: [],
    removed: [],
    orphans: [],
  };
  const step = (name: string) => {
    status.step = name;
    status.steps.push({ name, at: iso() });
    context.df.setCustomStatus(status);
  };
  function* registry(update: Omit<RegistryUpdateInput, 'integrationId' | 'at'>, at = iso()) {
    yield* call(context, activities.updateRegistry, { integrationId: ref.integrationId, at, ...update }, RETRY.light);
  }
  const requester = input.requestedBy[0];
  const startedAt = iso();
  const row = (outcome?: DecommissionOutcome) => ({
    instanceId: ref.instanceId,
    at: startedAt,
    previousStatus: input.previousStatus,
    ...(requester ? { requestedBy: requester } : {}),
    ...(input.reason ? { reason: input.reason } : {}),
    ...(outcome ? { outcome } : {}),
  });
  const event = (e: Omit<AuditEvent, 'instanceId'>): AuditEvent => ({ ...e, instanceId: ref.instanceId });

  let outcome: DecommissionOutcome | undefined;
  let roundOpen = false;
  let removing = false;
  try {
    step('planning');
    const planned = yield* call(
      context,
      activities.planDecommission,
      { ...ref, requestedBy: input.requestedBy, ...(input.reason ? { reason: input.reason } : {}) },
      RETRY.service,
    );
    if (!planned.ok) throw new DecommissionError(`decommission plan: ${planned.failure.message}`);
    // The approver agrees to exactly this removal list: a decision on another list decides nothing.
    const digest = digestOf({ integrationId: ref.integrationId, remove: planned.remove });
    status.plan = {
      digest,
      mode: 'decommission',
      summary: planned.summary,
      remove: planned.remove,
      keep: planned.keep,
    };
    yield* registry({
      status: 'decommissioning',
      decommission: row(),
      audit: [
        event({
          kind: 'decommission-requested',
          at: startedAt,
          actor: requester ?? 'system',
          planDigest: digest,
          detail:
            `${planned.remove.length} object(s) to remove, ${planned.keep.length} kept` +
            (input.reason ? `; reason: ${input.reason}` : ''),
        }),
      ],
    });

    roundOpen = true;
    const decision = yield* awaitApproval(
      context,
      input,
      status,
      step,
      planned.summary,
      digest,
      () => undefined,
      (m) => new DecommissionError(m),
    );
    yield* call(
      context,
      activities.closeApprovalRound,
      {
        instanceId: ref.instanceId,
        reason: decision ? 'decided' : 'expired',
        ...(decision
          ? { decision: { decision: decision.decision, approver: decision.approver, at: decision.at } }
          : {}),
      },
      RETRY.light,
    );
    roundOpen = false;

    if (decision?.decision !== 'approve') {
      // Nothing was removed: the integration goes back to what it was.
      outcome = decision ? 'rejected' : 'expired';
      const at = iso();
      yield* registry({
        status: input.previousStatus,
        decommission: row(outcome),
        audit: [
          event({
            kind: 'decommission-rejected',
            at,
            actor: decision?.approver ?? 'system',
            planDigest: digest,
            detail: decision
              ? `rejected by ${decision.approver} at ${decision.at}; nothing was removed`
              : 'no decision by the deadline; nothing was removed',
          }),
        ],
      });
    } else {
      yield* registry({
        audit: [
          event({
            kind: 'decommission-approved',
            at: decision.at,
            actor: (decision.approvers ?? [decision.approver]).join(', '),
            planDigest: digest,
            tokenId: decision.tokenId,
          }),
        ],
      });
      step('removing');
      removing = true;
      const result = yield* removeObjects(context, ref, planned.remove);
      status.removed = result.removed;
      status.orphans = result.orphans;
      context.df.setCustomStatus(status);
      const at = iso();
      yield* registry({
        status: 'decommissioned',
        decommission: row('decommissioned'),
        // What could not be removed stays on the integration; the daily orphan sweep tries again.
        orphans: { instanceId: ref.instanceId, items: result.orphans },
        audit: [
          ...result.removed.map((o) =>
            event({ kind: 'removed', at, actor: 'system', detail: describeObject(o), data: removedData(o) }),
          ),
          event({
            kind: 'decommissioned',
            at,
            actor: 'system',
            planDigest: digest,
            detail:
              `${result.removed.length} object(s) removed` +
              (result.orphans.length ? `, ${result.orphans.length} left as orphans for the daily sweep` : ''),
          }),
        ],
      });
      outcome = 'decommissioned';
    }
  } catch (err) {
    status.error =
      err instanceof DecommissionError ? err.message : firstLine(err instanceof Error ? err.message : String(err));
    outcome = 'failed';
    if (roundOpen)
      yield* call(context, activities.closeApprovalRound, { instanceId: ref.instanceId, reason: 'ended' }, RETRY.light);
    // Before the removal began nothing changed: the previous status comes back. After, the integration stays
    // `decommissioning` (a new request resumes it; nothing it removed is removed twice).
    // The row was `decommissioning` meanwhile: the trail says why it ended (or stays so) without an outcome.
    yield* registry({
      ...(removing ? {} : { status: input.previousStatus }),
      decommission: row('failed'),
      audit: [
        event({
          kind: 'run-finished',
          at: iso(),
          actor: 'system',
          detail:
            `decommissioning failed: ${status.error}` +
            (removing ? '; it stays decommissioning, a new request resumes it' : '; nothing was removed'),
        }),
      ],
    });
  }
  status.outcome = outcome;
  step(outcome ?? 'failed');
  return status;
};
