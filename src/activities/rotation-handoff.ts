/**
 * Activity `sendHandoffRequests`: the rotation's hand-off for consumers without an API (issue 5 §2d). One email per
 * approver naming the exact place and field to update and the Key Vault secret name and version to copy the value
 * from (never the value), with a personal, single-use, expiring "Done" link to the approval endpoint
 * (src/functions/approvals.ts), issued as a `handoff` token whose event is `handoffEventName(role)`
 * (lessons-from-peers §1.7 distinct event names, §2 links). Only token ids (hash prefixes) and recipients are returned.
 *
 * Idempotent like sendApprovalRequests (src/activities/approval.ts): a sent marker per (instance, role, round,
 * recipient) makes a re-run of the same round send nothing. A reminder round (round > 0) goes only to approvers who
 * have not confirmed THIS role's hand-off, with a fresh token (older ones stay valid until they expire).
 */
import type { InvocationContext } from '@azure/functions';
import { odata } from '@azure/data-tables';
import type { ActivityHandler } from 'durable-functions';

import type { SendKey } from '../approvals/tokens';
import { createTableClient } from '../clients/tables';
import { handoffMail } from '../mail/handoff';
import { normaliseAddress, sendOnce } from '../mail/once';
import { reviewUrl, toFailure } from './approval';
import { getDeps, type Deps } from './deps';
import { logLine, type ActivityLog } from './entra-graph';
import { handoffEventName, type HandoffRequestInput, type HandoffRequestResult } from './rotation-contracts';

/** The table ApprovalTokenStore keeps its tokens in (src/activities/deps.ts). */
const APPROVALS_TABLE = 'approvals';

/**
 * Approvers who used a hand-off token of this instance for this event (lower-cased). ApprovalTokenStore.decidedFor
 * answers per instance only, and one rotation hands off several roles to the same people, so the token rows are read
 * here with the event name in the filter (same table, read-only).
 */
export async function confirmedBy(deps: Deps, instanceId: string, eventName: string): Promise<Set<string>> {
  const c = deps.config;
  const client = createTableClient(
    'serviceUrl' in c.tables
      ? { url: c.tables.serviceUrl, credential: deps.credential, table: APPROVALS_TABLE }
      : { connectionString: c.tables.connectionString, table: APPROVALS_TABLE },
  );
  const out = new Set<string>();
  try {
    for await (const e of client.listEntities<{ approver?: string; usedAt?: string }>({
      queryOptions: {
        filter: odata`PartitionKey eq 'token' and instanceId eq ${instanceId} and eventName eq ${eventName} and purpose eq 'handoff'`,
        select: ['approver', 'usedAt'],
      },
    }))
      if (e.usedAt && e.approver) out.add(normaliseAddress(e.approver));
  } catch (err) {
    // No table yet: no token was ever issued, so nobody confirmed.
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  return out;
}

/**
 * The sent-marker key of one hand-off email. SendKey has no role (its kinds are 'approval' | 'report'), so the role is
 * made part of the marker's instance field; the marker is only ever looked up by this exact key.
 */
const markerKey = (input: HandoffRequestInput, recipient: string): SendKey => ({
  instanceId: `${input.instanceId}|handoff|${input.role}`,
  kind: 'approval',
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
    return { ok: false, failure: toFailure(err) };
  }
  return { ok: true, tokenIds, sentTo };
}

export const sendHandoffRequestsHandler: ActivityHandler = (input: unknown, ctx: InvocationContext) =>
  sendHandoffRequests(input as HandoffRequestInput, getDeps(), ctx);
