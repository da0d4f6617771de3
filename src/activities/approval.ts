/**
 * Activity `sendApprovalRequests`: one email per eligible approver with a personal, single-use, expiring Review link.
 * The raw token exists only inside the email body; the activity returns tokenIds (hash prefixes) and recipients, which
 * may enter orchestration history.
 *
 * Who is asked comes from the settings, never from the request (src/approvals/policy.ts): the APPROVERS addresses and
 * the members of the APPROVER_GROUPS groups (read through Graph at send time). A request may narrow that set
 * (`approvers`), never add to it: an address outside the policy is dropped and reported. The people who asked for the
 * change (`requesters`, and the ticket's caller and opened-by users read from ServiceNow) are never asked. Fewer
 * eligible approvers than the quorum is a failure that names why.
 *
 * Each link's record carries the plan digest and the requesters (checked again when the approver decides), and the
 * instance's approval round is opened with the quorum (src/approvals/tokens.ts).
 *
 * Idempotent: a per-(instance, round, approver) marker makes a re-run of the same round send nothing; a reminder round
 * (round > 0) goes only to approvers who have not decided yet, with a fresh token (older ones stay valid until expiry).
 * Nothing is sent once the instance's round is closed.
 *
 * Activity `closeApprovalRound`: closes the round (decided, expired, ended); every link of the instance then answers
 * a "closed" page and decides nothing.
 */

import { resolvePlan } from '../approvals/plan';
import { type Approver, resolvePolicy } from '../approvals/policy';
import type { ServiceNowClient, SnRecord } from '../clients/servicenow';
import { approvalMail } from '../mail/approval';
import { failureOrThrow } from './failures';
import { normaliseAddress, sendOnce } from '../mail/once';
import type { TicketRef } from '../registry/types';
import {
  APPROVAL_EVENT,
  type CloseApprovalRoundInput,
  type CloseApprovalRoundResult,
  type Failure,
  type Outcome,
  type RecordPlanInput,
} from '../contracts/provision';
import type { Deps } from '../app/deps';
import type { SendApprovalInput, SendApprovalResult } from '../contracts/provision';
import { type ActivityLog, logLine } from './log';
import { lookup, text } from './servicenow-common';

/** The Review link: the page at this URL renders a confirmation and decides nothing (src/functions/approvals.ts). */
export function reviewUrl(publicBaseUrl: string, instanceId: string, token: string): string {
  return `${publicBaseUrl}/api/approvals/${encodeURIComponent(instanceId)}?token=${encodeURIComponent(token)}`;
}

const SYS_ID = /^[0-9a-f]{32}$/;
/**
 * Who asked, per ticket table, dot-walked to their email (Table API `sysparm_fields`; one level): the opener of any
 * task, plus the incident's caller, the requested item's "requested for", and the change's "requested by" (ServiceNow
 * data model: https://www.servicenow.com/docs/bundle/zurich-it-service-management/page/product/change-management/reference/r_ChangeRequestFields.html,
 * https://www.servicenow.com/docs/bundle/zurich-servicenow-platform/page/product/service-catalog-management/reference/r_RequestedItemFields.html).
 */
const REQUESTER_FIELDS: Record<string, string[]> = {
  incident: ['caller_id.email', 'opened_by.email'],
  sc_req_item: ['requested_for.email', 'request.requested_for.email', 'opened_by.email'],
  change_request: ['requested_by.email', 'opened_by.email'],
  task: ['opened_by.email'],
};

/**
 * The email addresses of the ticket's caller and opened-by users, or a sentence saying why they could not be read.
 * Unknown ticket tables or a ticket that cannot be found fail closed: the requesters would be unknown.
 */
async function ticketRequesters(client: ServiceNowClient, ticket: TicketRef): Promise<string[] | string> {
  const fieldsOf = (table: string) => (Object.hasOwn(REQUESTER_FIELDS, table) ? REQUESTER_FIELDS[table] : undefined);
  const fields = fieldsOf(ticket.table);
  if (!fields) return `ticket table '${ticket.table}' is not one of ${Object.keys(REQUESTER_FIELDS).join(', ')}`;
  let row: SnRecord | undefined;
  if (ticket.sysId !== undefined) {
    if (!SYS_ID.test(ticket.sysId)) return `ticket sys_id '${ticket.sysId}' is not 32 hex characters`;
    row = await client.get(ticket.table, ticket.sysId, { fields: ['sys_id', 'sys_class_name', ...fields] });
    if (!row) return `ticket ${ticket.table}/${ticket.sysId} not found (or hidden by ACL)`;
  } else if (ticket.number) {
    const found = await lookup(client, ticket.table, { number: ticket.number }, [
      'sys_id',
      'sys_class_name',
      ...fields,
    ]);
    if (found.matched.length !== 1)
      return `ticket ${ticket.table} ${ticket.number} ${found.matched.length ? 'is ambiguous' : 'not found (or hidden by ACL)'}`;
    row = found.matched[0];
  } else return 'the ticket has neither sys_id nor number';
  // A ticket named through a parent table (an incident as `task`) is read as what it is: its own table's requester
  // fields (the caller) are not on the parent (ServiceNow table extension: sys_class_name names the record's class).
  const cls = text(row.sys_class_name);
  const own = cls && cls !== ticket.table ? fieldsOf(cls) : undefined;
  const sysId = text(row.sys_id);
  if (own && sysId) {
    const real = await client.get(cls!, sysId, { fields: ['sys_id', ...own] });
    if (!real) return `ticket ${cls}/${sysId} not found (or hidden by ACL)`;
    return [...new Set([...fields, ...own])]
      .map((f) => text(real[f]) ?? text(row[f]))
      .filter((v): v is string => v !== undefined && v.trim() !== '')
      .map(normaliseAddress);
  }
  return fields
    .map((f) => text(row[f]))
    .filter((v): v is string => v !== undefined && v.trim() !== '')
    .map(normaliseAddress);
}

/** Approval emails sent at once by one activity. */
export const APPROVAL_SEND_CONCURRENCY = 4;

/** `run` over `items`, at most `limit` at a time; every item settles, results in the items' order. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: 'fulfilled', value: await run(items[i]) };
      } catch (reason) {
        out[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const inputFailure = (code: string, message: string): { ok: false; failure: Failure } => ({
  ok: false,
  failure: { service: 'input', code, message },
});

export async function sendApprovalRequests(
  input: SendApprovalInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<SendApprovalResult>> {
  const policy = deps.config.approvals;
  // The settings set the floor: a request cannot lower the number of approvals.
  const quorum = Math.max(input.quorum ?? 1, policy.quorum);
  const requesters = new Set((input.requesters ?? []).map(normaliseAddress).filter((a) => a !== ''));
  let eligible: Approver[];
  let dropped: string[] = [];
  const why: string[] = [];
  try {
    if (input.ticket) {
      const found = await ticketRequesters(deps.serviceNow(input.serviceNowInstance), input.ticket);
      if (typeof found === 'string')
        return inputFailure('TicketRequestersUnknown', `the ticket's requesters cannot be read: ${found}`);
      for (const r of found) requesters.add(r);
    }
    const resolved = await resolvePolicy(deps.graph, policy);
    let named = resolved.approvers;
    if (resolved.missingGroups.length) why.push(`unknown approver groups: ${resolved.missingGroups.join(', ')}`);
    if (resolved.withoutAddress) why.push(`${resolved.withoutAddress} group member(s) without a mail address`);
    if (input.approvers !== undefined) {
      const asked = [...new Set(input.approvers.map(normaliseAddress).filter((a) => a !== ''))];
      dropped = asked.filter((a) => !named.some((p) => p.aliases.includes(a)));
      named = named.filter((p) => p.aliases.some((a) => asked.includes(a)));
      if (dropped.length) why.push(`not approvers under the policy: ${dropped.join(', ')}`);
    }
    const isRequester = (p: Approver) => p.aliases.some((a) => requesters.has(a));
    const excluded = named.filter(isRequester);
    eligible = named.filter((p) => !excluded.includes(p));
    if (excluded.length)
      why.push(`requesters cannot approve their own change: ${excluded.map((p) => p.address).join(', ')}`);
    // Narrowing chooses who decides: it may not leave the round to the quorum alone while the policy has more
    // eligible approvers (else one caller could route a round to one mailbox it reads). At least one more stays.
    const all = resolved.approvers.filter((p) => !isRequester(p));
    const floor = Math.min(quorum + 1, all.length);
    if (input.approvers !== undefined && eligible.length >= quorum && eligible.length < floor)
      return inputFailure(
        'NarrowedTooFar',
        `the request narrows the approvers to ${eligible.length}; at least ${floor} of the ${all.length} eligible under the policy must stay (quorum ${quorum} plus one)`,
      );
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
  for (const w of why) logLine(log, 'info', `approval for ${input.integrationId}: ${w}`);
  if (eligible.length < quorum)
    return inputFailure(
      'NoEligibleApprovers',
      `${eligible.length} eligible approver(s) for a quorum of ${quorum}` +
        (why.length ? `: ${why.join('; ')}` : ': APPROVERS and APPROVER_GROUPS name nobody'),
    );

  // A provisioning run's plan is built here from the source the run keeps, only when it has the run's digest.
  let plan = input.plan;
  if (input.planOfRun) {
    const kept = await deps.approvalTokens.runPlan(input.instanceId);
    if (!kept) return inputFailure('PlanNotKept', `the run ${input.instanceId} keeps no plan`);
    const resolved = resolvePlan(kept.source, input.planDigest);
    if (!resolved.ok) return inputFailure('PlanDigestMismatch', `the kept plan is not the run's: ${resolved.reason}`);
    plan = resolved.plan;
  }
  const round = await deps.approvalTokens.openRound(input.instanceId, quorum, input.planDigest, plan);
  const decided =
    input.round > 0 ? new Set(await deps.approvalTokens.decidedFor(input.instanceId, APPROVAL_EVENT)) : new Set();
  const tokenIds: string[] = [];
  const sentTo: string[] = [];
  const addresses = eligible.map((p) => p.address);
  if (round.state === 'closed') {
    logLine(
      log,
      'info',
      `approval round of ${input.integrationId} is closed (${round.reason ?? 'closed'}): nothing sent`,
    );
    return { ok: true, tokenIds, sentTo, eligible: addresses, quorum, dropped };
  }
  // One email per approver, at most APPROVAL_SEND_CONCURRENCY at once (a handful: Graph throttles a mailbox's sends
  // per app and mailbox, https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits). Each recipient has
  // its own marker (sendOnce), so a send that fails leaves the others sent and a re-run sends only what is missing; all
  // sends settle before the first failure is returned, and the results keep the approvers' order.
  const pending = addresses.filter((a) => !decided.has(a));
  const sendTo = async (approver: string) => {
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
          ...(input.planDigest ? { planDigest: input.planDigest } : {}),
          requesters: [...requesters],
          quorum,
          round: input.round,
          integrationId: input.integrationId,
        });
        const mail = approvalMail({
          request: input,
          approver,
          reviewUrl: reviewUrl(deps.config.publicBaseUrl, input.instanceId, issued.token),
          ...(plan ? { plan } : {}),
        });
        return { mail: { to: approver, ...mail }, tokenId: issued.tokenId };
      },
    );
    logLine(
      log,
      'info',
      `approval round ${input.round} for ${input.integrationId}: ${result.sent ? 'sent to' : 'already sent to'} ${approver}`,
    );
    return result;
  };
  const settled = await mapBounded(pending, APPROVAL_SEND_CONCURRENCY, sendTo);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  // A retriable failure (a busy marker, throttling) is thrown for the durable retry, as before.
  if (failed) return { ok: false, failure: failureOrThrow(failed.reason) };
  settled.forEach((r, i) => {
    if (r.status !== 'fulfilled') return;
    if (r.value.tokenId) tokenIds.push(r.value.tokenId);
    sentTo.push(pending[i]);
  });
  return { ok: true, tokenIds, sentTo, eligible: addresses, quorum, dropped };
}

/**
 * Keeps the source of the plan a provisioning run applies (replacing what the run kept before), once it is known to
 * have the run's digest: the approval emails and the integrations API build the plan from it.
 */
export async function recordPlan(
  input: RecordPlanInput,
  deps: Pick<Deps, 'approvalTokens'>,
): Promise<{ ok: true } | { ok: false; failure: Failure }> {
  const resolved = resolvePlan(input.source, input.digest);
  if (!resolved.ok) return inputFailure('PlanDigestMismatch', `the plan is not the run's: ${resolved.reason}`);
  await deps.approvalTokens.savePlan({
    instanceId: input.instanceId,
    digest: input.digest,
    mode: input.mode,
    source: input.source,
  });
  return { ok: true };
}

/** Closes the instance's approval round: every link of it answers "closed" from now on and decides nothing. */
export async function closeApprovalRound(
  input: CloseApprovalRoundInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<CloseApprovalRoundResult> {
  const open = (await deps.approvalTokens.openFor(input.instanceId)).filter((t) => t.purpose === 'approval');
  const round = await deps.approvalTokens.closeRound(input.instanceId, input.reason, input.decision);
  logLine(
    log,
    'info',
    `approval round of ${input.instanceId} closed (${round.reason ?? input.reason}); ${open.length} open link(s) closed`,
  );
  return { closed: open.length };
}
