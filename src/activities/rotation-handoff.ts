/**
 * Activity `sendHandoffRequests`: the rotation's hand-off for consumers without an API (step d of
 * docs/reference/rotation.md#requirements). One email per approver naming the exact place and field to update and the
 * Key Vault secret name and version to copy the value from (never the value), with a personal, single-use, expiring
 * "Done" link to the approval endpoint (src/functions/approvals.ts), issued as a `handoff` token whose event is
 * `handoffEventName(role)` (docs/reference/durable-functions.md: distinct event names; GET renders, POST decides). Only
 * token ids (hash prefixes) and recipients are returned.
 *
 * Idempotent like sendApprovalRequests (src/activities/approval.ts): a sent marker per (instance, role, round,
 * recipient) makes a re-run of the same round send nothing. A reminder round (round > 0) goes only to approvers who
 * have not confirmed THIS role's hand-off, with a fresh token (older ones stay valid until they expire).
 */

import type { SendKey } from '../approvals/tokens';
import { handoffMail } from '../mail/handoff';
import { normaliseAddress, sendOnce } from '../mail/once';
import { reviewUrl } from './approval';
import type { Deps } from '../app/deps';
import { handoffEventName, type HandoffRequestInput, type HandoffRequestResult } from '../contracts/rotation';
import { failureOrThrow } from './failures';
import { type ActivityLog, logLine } from './log';

/** Approvers who confirmed this role's hand-off (used a hand-off token for its event), lower-cased. */
export async function confirmedBy(deps: Deps, instanceId: string, eventName: string): Promise<Set<string>> {
  return new Set((await deps.approvalTokens.decidedFor(instanceId, eventName)).map(normaliseAddress));
}

/** The sent-marker key of one hand-off email: per instance, role, round and recipient. */
const markerKey = (input: HandoffRequestInput, recipient: string): SendKey => ({
  instanceId: `${input.instanceId}|${input.role}`,
  kind: 'handoff',
  round: input.round,
  recipient,
});

export async function sendHandoffRequests(
  input: HandoffRequestInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<HandoffRequestResult> {
  const approvers = [...new Set(input.approvers.map(normaliseAddress).filter((a) => a.length > 0))];
  if (!approvers.length)
    return { ok: false, failure: { service: 'input', code: 'NoApprovers', message: 'no approver to hand off to' } };
  if (!input.consumers.length)
    return { ok: false, failure: { service: 'input', code: 'NoConsumers', message: 'no consumer to hand off' } };
  const eventName = handoffEventName(input.role);
  const tokenIds: string[] = [];
  const sentTo: string[] = [];
  try {
    const confirmed = input.round > 0 ? await confirmedBy(deps, input.instanceId, eventName) : new Set<string>();
    for (const approver of approvers) {
      if (confirmed.has(approver)) continue;
      const result = await sendOnce(
        { graph: deps.graph, sender: deps.config.mail.sender, markers: deps.approvalTokens },
        markerKey(input, approver),
        async () => {
          const issued = await deps.approvalTokens.issue({
            instanceId: input.instanceId,
            approver,
            purpose: 'handoff',
            eventName,
            integrationId: input.integrationId,
            expiresAt: input.expiresAt,
            subject:
              `the ${input.role} client secret of ${input.integrationId} (Key Vault secret ` +
              `${input.secret.secretName}, version ${input.secret.version}) in: ` +
              input.consumers.map((c) => `${c.where}, field ${c.field}`).join('; '),
          });
          const mail = handoffMail({
            request: input,
            approver,
            vaultUrl: deps.config.keyVault.url,
            doneUrl: reviewUrl(deps.config.publicBaseUrl, input.instanceId, issued.token),
          });
          return { mail: { to: approver, ...mail }, tokenId: issued.tokenId };
        },
      );
      logLine(
        log,
        'info',
        `hand-off ${input.role} round ${input.round} for ${input.integrationId}: ${result.sent ? 'sent to' : 'already sent to'} ${approver}`,
      );
      if (result.tokenId) tokenIds.push(result.tokenId);
      sentTo.push(approver);
    }
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
  return { ok: true, tokenIds, sentTo };
}
