/**
 * The approval gate both orchestrators use (provisionIntegration, decommissionIntegration): one round of emailed
 * single-use links to the eligible approvers (the activity applies the approver policy), reminders and a deadline.
 * Replay-safe: time from context.df.currentUtcDateTime, every side effect an activity.
 */
import type { OrchestrationContext, Task } from 'durable-functions';

import { APPROVAL_EVENT, type ApprovalDecision, type ApprovalPlan, type IntegrationRef } from '../contracts/provision';
import type { TicketRef } from '../registry/types';
import { activities, call, RETRY } from './calls';
import { MINUTE } from './shared';
import type { GateFields, ProvisionSettings } from './provision-types';

/** What the gate needs of the run's input (ProvisionInput and DecommissionInput have it). */
export interface GateInput {
  ref: IntegrationRef;
  settings: Pick<ProvisionSettings, 'quorum' | 'approvalTimeoutMinutes' | 'reminderIntervalMinutes'>;
  /** A subset of the configured approvers the request narrowed to, or undefined for all of them. */
  approvers?: string[];
  /** Who asked: never an approver of this run. */
  requestedBy: string[];
  ticket?: TicketRef;
}

/** What the gate reads and writes of the run's custom status (ProvisionStatus and DecommissionStatus have it). */
export interface GateStatus extends GateFields {
  plan?: { mode: string };
}

/**
 * Plan modes whose run keeps the registry status while it waits: a staged change of a live integration stays
 * `active`, a decommissioning stays `decommissioning` (every other run is `awaiting-approval`).
 */
const KEEPS_REGISTRY_STATUS: readonly string[] = ['staged', 'decommission'];

/**
 * One approval round: emailed single-use links to the eligible approvers (the activity applies the approver policy),
 * reminders, a deadline. Decisions arrive as external events carrying the digest of the plan their link was issued
 * for; a decision on another plan decides nothing. Any rejection rejects; `quorum` distinct approvals approve.
 */
export function* awaitApproval(
  context: OrchestrationContext,
  input: GateInput,
  status: GateStatus,
  step: (name: string) => void,
  plan: ApprovalPlan | 'kept',
  digest: string,
  onSent: (eligible: string[]) => void,
  fail: (message: string) => Error = (message) => new Error(message),
  publish: () => void = () => context.df.setCustomStatus(status),
): Generator<Task, (ApprovalDecision & { approvers?: string[] }) | undefined, unknown> {
  const { ref, settings } = input;
  const since = context.df.currentUtcDateTime;
  const deadline = new Date(since.getTime() + settings.approvalTimeoutMinutes * MINUTE);
  const awaiting = {
    approvers: [] as string[],
    since: since.toISOString(),
    deadline: deadline.toISOString(),
    reminders: 0,
    quorum: settings.quorum,
    approvedBy: [] as string[],
  };
  status.awaiting = awaiting;
  step('awaiting-approval');
  function* request(round: number): Generator<Task, void, unknown> {
    const sent = yield* call(
      context,
      activities.sendApprovalRequests,
      {
        ...ref,
        ...(input.approvers ? { approvers: input.approvers } : {}),
        requesters: input.requestedBy,
        ...(input.ticket ? { ticket: input.ticket } : {}),
        quorum: settings.quorum,
        // A kept plan (a provisioning's) is built by the activity from what the run keeps, checked against `digest`.
        ...(plan === 'kept' ? { planOfRun: true } : { plan }),
        planDigest: digest,
        expiresAt: deadline.toISOString(),
        round,
        // Only what the email shows of them.
        apps: status.apps.map((a) => ({
          role: a.role,
          appId: a.appId,
          objectId: a.objectId,
          servicePrincipalId: a.servicePrincipalId,
        })),
        secrets: status.secrets.map((x) => ({
          role: x.role,
          secretName: x.secretName,
          version: x.version,
          keyId: x.keyId,
          expiresOn: x.expiresOn,
        })),
        records: status.records.map((r) => ({
          key: r.key,
          table: r.table,
          ...(r.sysId ? { sysId: r.sysId } : {}),
          mismatches: r.mismatches,
          ...(r.manualAction ? { manualAction: { title: r.manualAction.title } } : {}),
        })),
        manualActions: status.manualActions,
      },
      RETRY.light,
    );
    if (!sent.ok) throw fail(`approval email: ${sent.failure.message}`);
    if (round === 0) {
      // The round's quorum is the larger of the request's and the one the activity applied (settings at send time).
      const applied = (sent as { quorum?: number }).quorum;
      if (typeof applied === 'number' && applied > awaiting.quorum) awaiting.quorum = applied;
      awaiting.approvers = sent.eligible ?? sent.sentTo;
      onSent(awaiting.approvers);
      publish();
    }
  }
  yield* request(0);
  if (!KEEPS_REGISTRY_STATUS.includes(status.plan?.mode ?? ''))
    yield* call(
      context,
      activities.updateRegistry,
      { integrationId: ref.integrationId, status: 'awaiting-approval', at: since.toISOString() },
      RETRY.light,
    );
  if (input.ticket)
    yield context.df.callActivity(activities.addWorkNote.name, {
      ...ref,
      ticket: input.ticket,
      note: `Awaiting approval of plan ${digest.slice(0, 12)} from ${awaiting.approvers.join(', ')} until ${deadline.toISOString()}.`,
    });

  // One pending wait at a time (a second wait created while one is pending could miss or double-consume events).
  const approvals = new Map<string, ApprovalDecision>();
  let decisionTask = context.df.waitForExternalEvent(APPROVAL_EVENT);
  let round = 1;
  for (;;) {
    const nextAt = Math.min(since.getTime() + round * settings.reminderIntervalMinutes * MINUTE, deadline.getTime());
    const timer = context.df.createTimer(new Date(nextAt));
    const winner: unknown = yield context.df.Task.any([decisionTask, timer]);
    if (winner === decisionTask) {
      if (!timer.isCompleted) timer.cancel();
      const d = decisionTask.result as ApprovalDecision;
      decisionTask = context.df.waitForExternalEvent(APPROVAL_EVENT);
      if (d.planDigest !== digest) continue;
      if (d.decision === 'reject') return finish(status, d, [d.approver]);
      approvals.set(d.approver.toLowerCase(), d);
      awaiting.approvedBy = [...approvals.keys()];
      publish();
      if (approvals.size >= awaiting.quorum)
        return finish(
          status,
          d,
          [...approvals.values()].map((a) => a.approver),
        );
      continue;
    }
    if (nextAt >= deadline.getTime()) {
      delete status.awaiting;
      publish();
      return undefined;
    }
    awaiting.reminders = round;
    publish();
    yield* request(round);
    round++;
  }
}

function finish(
  status: GateStatus,
  d: ApprovalDecision,
  approvers: string[],
): ApprovalDecision & { approvers: string[] } {
  status.decision = { decision: d.decision, approver: d.approver, at: d.at, approvers };
  delete status.awaiting;
  return { ...d, approvers };
}
