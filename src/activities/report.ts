/**
 * Activity `sendReport`: the final email to the approvers (outcome, check results with hints, orphans). ONE message
 * to every recipient (one Graph sendMail with several `toRecipients`, https://learn.microsoft.com/graph/api/user-sendmail),
 * sent at most once per instance: one marker in the approvals table for the instance's report (recipient key `*`),
 * so a re-run or a repeated execution sends nothing more. The recipients see each other's addresses; they are the
 * people who approve this integration together. Exchange Online refuses a message to more recipients than its
 * recipient limit (500 by default: https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits),
 * so a longer list (a large approvers group) goes out as one message per 500, each with a marker of its own (`*`,
 * then `*2`, `*3`, …).
 *
 * Only people the approver policy names receive it:
 * - `approversFromRound`: the addresses are this run's approval round's eligible approvers, resolved from the policy
 *   when the round opened (sendApprovalRequests; each decision re-checked it, src/functions/approvals.ts), so the
 *   policy is not read again (no Graph group-members read). Someone removed from the policy since the round opened
 *   still gets the report of the round they were asked to decide.
 * - otherwise (a rotation's report, a run that failed before any round): the given addresses narrowed to the policy
 *   as it is now, or the whole policy when none are given.
 */

import { resolvePolicy } from '../approvals/policy';
import { normaliseAddress, sendOnce } from '../mail/once';
import { reportMail } from '../mail/report';
import { type ActivityLog, logLine } from './log';
import type { Outcome, ReportInput } from '../contracts/provision';
import type { Deps } from '../app/deps';
import type { ReportResult } from '../contracts/provision';
import { failureOrThrow } from './failures';

/** The recipient key of the report's send marker (the marker stands for the whole message, not one recipient). */
export const REPORT_RECIPIENT_KEY = '*';

/** Recipients per message: Exchange Online's default recipient limit. */
export const REPORT_MAX_RECIPIENTS = 500;

export async function sendReport(input: ReportInput, deps: Deps, log?: ActivityLog): Promise<Outcome<ReportResult>> {
  const mail = reportMail(input);
  let recipients: string[];
  try {
    const given = [...new Set(input.approvers.map(normaliseAddress).filter((a) => a.length > 0))];
    if (input.approversFromRound && given.length) recipients = given;
    else {
      const policy = (await resolvePolicy(deps.graph, deps.config.approvals)).approvers;
      recipients = given.length
        ? policy.filter((p) => p.aliases.some((a) => given.includes(a))).map((p) => p.address)
        : policy.map((p) => p.address);
    }
    // An earlier release sent the report one message per recipient, each under a marker keyed by the address: a
    // report it sent (and whose activity the host lost before its completion was recorded) is not sent again.
    const sentBefore = new Set(
      (await deps.approvalTokens.sentTo(input.instanceId, 'report')).filter((r) => !r.startsWith(REPORT_RECIPIENT_KEY)),
    );
    const unsent = recipients.filter((r) => !sentBefore.has(r));
    for (let i = 0; i < unsent.length; i += REPORT_MAX_RECIPIENTS) {
      const to = unsent.slice(i, i + REPORT_MAX_RECIPIENTS);
      const part = i / REPORT_MAX_RECIPIENTS + 1;
      const r = await sendOnce(
        { graph: deps.graph, sender: deps.config.mail.sender, markers: deps.approvalTokens },
        {
          instanceId: input.instanceId,
          kind: 'report',
          round: 0,
          recipient: part === 1 ? REPORT_RECIPIENT_KEY : `${REPORT_RECIPIENT_KEY}${part}`,
        },
        () => Promise.resolve({ mail: { to, ...mail } }),
      );
      logLine(
        log,
        'info',
        `report for ${input.integrationId}: ${r.sent ? 'sent to' : 'already sent to'} ${to.join(', ')}`,
      );
    }
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
  return { ok: true, sentTo: recipients };
}
