/**
 * Activity `sendReport`: the final email to the approvers (outcome, check results with hints, orphans). Sent at most
 * once per approver and instance (a marker in the approvals table), so a re-run sends nothing more. Only people the
 * approver policy names receive it: the given addresses narrowed to the policy, or the whole policy when none are
 * given (a run that failed before any approval round).
 */

import { resolvePolicy } from '../approvals/policy';
import { normaliseAddress, sendOnce } from '../mail/once';
import { reportMail } from '../mail/report';
import { type ActivityLog, logLine } from './log';
import type { Outcome, ReportInput } from '../contracts/provision';
import type { Deps } from '../app/deps';
import type { ReportResult } from '../contracts/provision';
import { failureOrThrow } from './failures';

export async function sendReport(input: ReportInput, deps: Deps, log?: ActivityLog): Promise<Outcome<ReportResult>> {
  const mail = reportMail(input);
  const sentTo: string[] = [];
  try {
    const policy = (await resolvePolicy(deps.graph, deps.config.approvals)).approvers;
    const given = [...new Set(input.approvers.map(normaliseAddress).filter((a) => a.length > 0))];
    const recipients = given.length
      ? policy.filter((p) => p.aliases.some((a) => given.includes(a))).map((p) => p.address)
      : policy.map((p) => p.address);
    for (const recipient of recipients) {
      const r = await sendOnce(
        { graph: deps.graph, sender: deps.config.mail.sender, markers: deps.approvalTokens },
        { instanceId: input.instanceId, kind: 'report', round: 0, recipient },
        () => Promise.resolve({ mail: { to: recipient, ...mail } }),
      );
      logLine(log, 'info', `report for ${input.integrationId}: ${r.sent ? 'sent to' : 'already sent to'} ${recipient}`);
      sentTo.push(recipient);
    }
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
  return { ok: true, sentTo };
}
