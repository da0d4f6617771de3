/**
 * Activity `sendApprovalRequests`: one email per approver with a personal, single-use, expiring Review link
 * (lessons-from-peers §2). The raw token exists only inside the email body; the activity returns tokenIds (hash
 * prefixes) and recipients, which may enter orchestration history (§1.10).
 *
 * Idempotent: a per-(instance, round, approver) marker makes a re-run of the same round send nothing; a reminder round
 * (round > 0) goes only to approvers who have not decided yet, with a fresh token (older ones stay valid until expiry).
 */
import type { InvocationContext } from '@azure/functions';
import type { ActivityHandler } from 'durable-functions';

import { ensureErrorType, ExternalServiceError } from '../lib/errors';
import { approvalMail } from '../mail/approval';
import { normaliseAddress, sendOnce } from '../mail/once';
import {
  APPROVAL_EVENT,
  type ApprovalRequestInput,
  type ApprovalRequestResult,
  type Failure,
  type Outcome,
} from './contracts';
import { type Deps, getDeps } from './deps';

export interface ActivityLog {
  log(...args: unknown[]): void;
}

/** The Review link: the page at this URL renders a confirmation and decides nothing (src/functions/approvals.ts). */
export function reviewUrl(publicBaseUrl: string, instanceId: string, token: string): string {
  return `${publicBaseUrl}/api/approvals/${encodeURIComponent(instanceId)}?token=${encodeURIComponent(token)}`;
}

/** Non-retriable service refusals (400/401/403/404) become a Failure; anything else is thrown for a durable retry. */
export function toFailure(err: unknown): Failure {
  const e = ensureErrorType(err);
  if (e instanceof ExternalServiceError && !e.retriable && e.status !== undefined && e.status < 500)
    return { service: e.service, status: e.status, code: e.code, message: e.message };
  throw e;
}

export async function sendApprovalRequests(
  input: ApprovalRequestInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<ApprovalRequestResult>> {
  const approvers = [...new Set(input.approvers.map(normaliseAddress).filter((a) => a.length > 0))];
  const decided = input.round > 0 ? new Set(await deps.approvalTokens.decidedFor(input.instanceId)) : new Set();
  const tokenIds: string[] = [];
  const sentTo: string[] = [];
  try {
    for (const approver of approvers) {
      if (decided.has(approver)) continue;
      const result = await sendOnce(
        { graph: deps.graph, sender: deps.config.mail.sender, markers: deps.approvalTokens },
        { instanceId: input.instanceId, kind: 'approval', round: input.round, recipient: approver },
        async () => {
          const issued = await deps.approvalTokens.issue({
            instanceId: input.instanceId,
            approver,
            purpose: 'approval',
            eventName: APPROVAL_EVENT,
            expiresAt: input.expiresAt,
            subject: input.integrationId,
          });
          const mail = approvalMail({
            request: input,
            approver,
            reviewUrl: reviewUrl(deps.config.publicBaseUrl, input.instanceId, issued.token),
          });
          return { mail: { to: approver, ...mail }, tokenId: issued.tokenId };
        },
      );
      log?.log(
        `approval round ${input.round} for ${input.integrationId}: ${result.sent ? 'sent to' : 'already sent to'} ${approver}`,
      );
      if (result.tokenId) tokenIds.push(result.tokenId);
      sentTo.push(approver);
    }
  } catch (err) {
    return { ok: false, failure: toFailure(err) };
  }
  return { ok: true, tokenIds, sentTo };
}

export const sendApprovalRequestsHandler: ActivityHandler = (input: unknown, ctx: InvocationContext) =>
  sendApprovalRequests(input as ApprovalRequestInput, getDeps(), ctx);
