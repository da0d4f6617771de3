/**
 * The approval endpoints behind the emailed Review link. Anonymous at the Functions level: the single-use token alone
 * authorises, bound to the instance and the approver.
 *
 * - `GET|HEAD /api/approvals/{instanceId}?token=…` renders a confirmation page and changes nothing (mail scanners
 *   prefetch links). GET sets the CSRF double-submit cookie and embeds its value in the form.
 * - `POST /api/approvals/{instanceId}` (form: token, csrf, decision=approve|reject) checks the CSRF cookie and origin,
 *   checks that the instance exists and is running (retrying briefly on not-found: an event raised before the instance
 *   exists is lost), checks that the approver may still decide, redeems the token once, records the decision in the
 *   instance's approval round and raises APPROVAL_EVENT with the approver and plan digest from the token record.
 *
 * Who may decide is checked again at decision time (src/approvals/policy.ts): a requester of the change, an address
 * removed from APPROVERS or a member removed from the APPROVER_GROUPS groups (re-read through Graph) is refused and
 * nothing is consumed. The approval round (src/approvals/tokens.ts) closes the links with the decision: once a
 * rejection or `quorum` distinct approvals decided it, or the orchestrator closed it (expired, ended), every other link
 * of the instance answers "already decided by … at …" (or expired/ended) on GET and POST and raises nothing. Of two
 * approvers deciding at the same moment, the round's ETag lets exactly one decide a quorum-1 round.
 *
 * Rotation hand-off tokens (purpose `handoff`, event `HandoffDone-<role>`, src/activities/rotation-handoff.ts) use the
 * same endpoints: GET renders a "Confirm you updated …" page with one Done button, and the POST (decision=done) raises
 * the token's event with a HandoffConfirmation. A token only ever makes its own kind of decision: an approval token
 * approves or rejects, a hand-off token confirms; anything else is a 400 and consumes nothing.
 *
 * Handlers only: src/functions/index.ts registers them (bindings in src/functions/triggers.ts).
 * No page echoes the token except the hidden form field, and no durable management URL is ever exposed.
 */
import { orchestrationStatus } from '../lib/orchestration-status';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import * as z from 'zod';

import { APPROVAL_EVENT, type ApprovalDecision } from '../contracts/provision';
import { handoffEventName, type HandoffConfirmation } from '../contracts/rotation';
import { type Deps, getDeps } from '../app/deps';
import type { AuditEvent } from '../contracts/fleet';
import { checkCsrf, csrfCookie, newCsrfValue } from '../approvals/csrf';
import {
  confirmPage,
  decidedPage,
  errorPage,
  type ErrorKind,
  handoffConfirmPage,
  handoffDonePage,
  notEligiblePage,
  roundClosedPage,
  securityHeaders,
  waitingPage,
} from '../approvals/pages';
import { checkEligible } from '../approvals/policy';
import type { Inspection, RoundState, TokenRecord } from '../approvals/tokens';
import { ensureErrorType } from '../lib/errors';
import { readText } from './http';

export type ApprovalHttpHandler = (
  req: HttpRequest,
  client: DurableClient,
  ctx: InvocationContext,
) => Promise<HttpResponseInit>;

export interface ApprovalHandlerOptions {
  deps?: () => Deps;
  /** Waits between getStatus attempts on not-found; default 250, 500, 1000 ms (then "not found"). */
  statusRetryDelaysMs?: number[];
  sleep?: (ms: number) => Promise<void>;
}

const MAX_FORM_BYTES = 4096;
const WAITING = new Set(['Running', 'Pending']);

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function respond(
  publicBaseUrl: string,
  status: number,
  body: string | undefined,
  extra: Partial<HttpResponseInit> = {},
) {
  return { status, headers: securityHeaders(publicBaseUrl), ...(body === undefined ? {} : { body }), ...extra };
}

function failure(publicBaseUrl: string, kind: ErrorKind, head = false): HttpResponseInit {
  return pageOf(publicBaseUrl, errorPage(kind), head);
}

function pageOf(publicBaseUrl: string, p: { status: number; body: string }, head = false): HttpResponseInit {
  return respond(publicBaseUrl, p.status, head ? undefined : p.body);
}

/** The page of a link whose round is closed: who decided and when (or expired/ended). */
function closed(publicBaseUrl: string, round: RoundState, head = false): HttpResponseInit {
  return pageOf(
    publicBaseUrl,
    roundClosedPage({
      reason: round.reason ?? 'ended',
      ...(round.decidedBy ? { decidedBy: round.decidedBy } : {}),
      ...(round.decidedAt ? { decidedAt: round.decidedAt } : {}),
      ...(round.decision ? { decision: round.decision } : {}),
    }),
    head,
  );
}

const HANDOFF_EVENT = /^HandoffDone-(.+)$/;

/** A hand-off token whose event is the hand-off event of some role (never the approval event). */
function isHandoff(record: TokenRecord): boolean {
  const role = HANDOFF_EVENT.exec(record.eventName)?.[1];
  return record.purpose === 'handoff' && role !== undefined && record.eventName === handoffEventName(role);
}

/** An approval token for the approval event, or a hand-off token for a hand-off event; nothing else. */
function usable(i: Inspection): i is { ok: true; record: TokenRecord } {
  if (!i.ok) return false;
  return (i.record.purpose === 'approval' && i.record.eventName === APPROVAL_EVENT) || isHandoff(i.record);
}

/** The form an approval or hand-off page posts (validates the decision; documents the form in OpenAPI). */
export const approvalFormSchema = z.object({
  token: z.string(),
  decision: z.enum(['approve', 'reject', 'done']),
  csrf: z.string(),
});
/** The query of an emailed link. */
export const approvalPageQuerySchema = z.object({ token: z.string() });

type Decision = z.infer<typeof approvalFormSchema>['decision'];

/** Whether the token may make this decision: approval tokens approve/reject, hand-off tokens confirm. */
const allowed = (record: TokenRecord, decision: Decision): boolean =>
  isHandoff(record) ? decision === 'done' : decision !== 'done';

/**
 * Records a delivered decision or confirmation in the integration's audit trail: who, when, through which link and
 * round. The decision stands either way (it was delivered), so a failed write is logged as an error, not answered.
 */
async function audit(deps: Deps, ctx: InvocationContext, record: TokenRecord, event: AuditEvent): Promise<void> {
  if (!record.integrationId) return;
  try {
    await deps.audit.append(record.integrationId, [
      {
        ...event,
        tokenId: record.tokenId,
        ...(typeof record.round === 'number' ? { round: record.round } : {}),
      },
    ]);
  } catch (err) {
    ctx.error(`audit of ${event.kind} for ${record.integrationId} failed: ${ensureErrorType(err).message}`);
  }
}

/** Raises the decision event; false (logged) when it could not be delivered. */
async function raise(
  client: DurableClient,
  ctx: InvocationContext,
  instanceId: string,
  record: TokenRecord,
  payload: ApprovalDecision | HandoffConfirmation,
): Promise<boolean> {
  try {
    await client.raiseEvent(instanceId, record.eventName, payload);
    return true;
  } catch (err) {
    ctx.error(`approval event for ${instanceId} not raised: ${ensureErrorType(err).message}`);
    return false;
  }
}

export function createApprovalHandlers(opts: ApprovalHandlerOptions = {}): {
  page: ApprovalHttpHandler;
  decide: ApprovalHttpHandler;
} {
  const depsOf = opts.deps ?? getDeps;
  const delays = opts.statusRetryDelaysMs ?? [250, 500, 1000];
  const sleep = opts.sleep ?? realSleep;

  const page: ApprovalHttpHandler = async (req, _client, ctx) => {
    const deps = depsOf();
    const base = deps.config.publicBaseUrl;
    const head = req.method.toUpperCase() === 'HEAD';
    try {
      const instanceId = req.params.instanceId ?? '';
      const token = req.query.get('token') ?? '';
      const inspection = await deps.approvalTokens.inspect(token, instanceId);
      const shut = await closedRound(deps, inspection, instanceId);
      if (shut) return closed(base, shut, head);
      if (!usable(inspection)) return failure(base, inspection.ok ? 'unknown' : inspection.reason, head);
      if (head) return respond(base, 200, undefined);
      const csrf = newCsrfValue();
      const handoff = isHandoff(inspection.record);
      const plan = handoff ? undefined : await deps.approvalTokens.roundPlan(instanceId);
      const input = { publicBaseUrl: base, record: inspection.record, token, csrf, ...(plan ? { plan } : {}) };
      return respond(base, 200, handoff ? handoffConfirmPage(input) : confirmPage(input), {
        cookies: [csrfCookie(base, csrf)],
      });
    } catch (err) {
      ctx.error(`approval page failed: ${ensureErrorType(err).message}`);
      return failure(base, 'unavailable', head);
    }
  };

  /**
   * The closed approval round a link of this instance belongs to, if any: only for a known approval link of this
   * instance that is still open or expired (a used link answers "used"; unknown and foreign links learn nothing).
   */
  const closedRound = async (deps: Deps, i: Inspection, instanceId: string): Promise<RoundState | undefined> => {
    if (i.ok ? i.record.purpose !== 'approval' || i.record.eventName !== APPROVAL_EVENT : i.reason !== 'expired')
      return undefined;
    const round = await deps.approvalTokens.round(instanceId);
    return round?.state === 'closed' ? round : undefined;
  };

  const decide: ApprovalHttpHandler = async (req, client, ctx) => {
    const deps = depsOf();
    const base = deps.config.publicBaseUrl;
    try {
      const instanceId = req.params.instanceId ?? '';
      const type = (req.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') return failure(base, 'bad-request');
      // Anonymous route: the cap is applied while reading (a declared or streamed body over it is not buffered).
      const body = await readText(req, MAX_FORM_BYTES);
      if (!body.ok) return failure(base, 'bad-request');
      const text = body.text;
      const form = new URLSearchParams(text);
      const token = form.get('token') ?? '';
      const parsedDecision = approvalFormSchema.shape.decision.safeParse(form.get('decision') ?? '');
      if (!parsedDecision.success) return failure(base, 'bad-request');
      const decision = parsedDecision.data;

      const csrf = checkCsrf(base, req.headers, form.get('csrf') ?? undefined);
      if (!csrf.ok) {
        ctx.warn(`approval POST for ${instanceId} refused: CSRF check failed (${csrf.reason})`);
        return failure(base, 'csrf');
      }

      // Read-only first: a bad token gets its page without touching the instance.
      const inspection = await deps.approvalTokens.inspect(token, instanceId);
      const shut = await closedRound(deps, inspection, instanceId);
      if (shut) {
        ctx.log(`approval POST for ${instanceId} refused: the round is closed (${shut.reason ?? 'closed'})`);
        return closed(base, shut);
      }
      if (!usable(inspection)) return failure(base, inspection.ok ? 'unknown' : inspection.reason);
      if (!allowed(inspection.record, decision)) return failure(base, 'bad-request');

      const status = (await orchestrationStatus(client, instanceId, { notFoundRetryDelaysMs: delays, sleep }))
        ?.runtimeStatus;
      if (status === undefined) return failure(base, 'not-found');
      if (!WAITING.has(status)) return failure(base, 'closed');

      if (decision !== 'done') {
        // Still allowed to decide? Re-read now: the settings or the group membership may have changed since the email.
        const { record } = inspection;
        const eligibility = await checkEligible(
          deps.graph,
          deps.config.approvals,
          record.approver,
          record.requesters ?? [],
        ).catch((err: unknown) => {
          ctx.error(`approver check for ${instanceId} failed: ${ensureErrorType(err).message}`);
          return undefined;
        });
        if (!eligibility) return failure(base, 'unavailable');
        if (!eligibility.eligible) {
          ctx.warn(
            `approval POST for ${instanceId} refused: ${record.approver} may not decide (${eligibility.reason})`,
          );
          return pageOf(base, notEligiblePage(eligibility.reason));
        }
      }

      const redeemed = await deps.approvalTokens.redeem(token, instanceId, decision);
      if (!usable(redeemed)) return failure(base, redeemed.ok ? 'unknown' : redeemed.reason);
      const record = redeemed.record;
      const at = deps.now().toISOString();
      if (decision === 'done') {
        const confirmation: HandoffConfirmation = { decision, approver: record.approver, at, tokenId: record.tokenId };
        if (!(await raise(client, ctx, instanceId, record, confirmation))) {
          await deps.approvalTokens.release(token, instanceId).catch(() => false);
          return failure(base, 'unavailable');
        }
        ctx.log(`hand-off confirmed for ${instanceId} by ${record.approver} (token ${record.tokenId})`);
        await audit(deps, ctx, record, { kind: 'handoff-confirmed', at, actor: record.approver, instanceId });
        return respond(base, 200, handoffDonePage(record));
      }

      // The approver and the plan digest always come from the token record, never from the form.
      const payload: ApprovalDecision = {
        decision,
        approver: record.approver,
        at,
        tokenId: record.tokenId,
        ...(record.planDigest ? { planDigest: record.planDigest } : {}),
        ...(typeof record.round === 'number' ? { round: record.round } : {}),
      };
      const recorded = await deps.approvalTokens.recordDecision(
        instanceId,
        payload,
        record.quorum ?? deps.config.approvals.quorum,
      );
      if (recorded.outcome !== 'recorded') {
        // Decided by someone else a moment ago, or this approver already decided through another link: give this
        // link back (nothing was decided with it) and raise nothing.
        await deps.approvalTokens.release(token, instanceId).catch(() => false);
        ctx.log(`approval ${decision} for ${instanceId} by ${record.approver} not recorded (${recorded.outcome})`);
        return recorded.outcome === 'closed' ? closed(base, recorded.round) : failure(base, 'used');
      }
      if (!(await raise(client, ctx, instanceId, record, payload))) {
        // Not delivered: take the decision back and give the link back so the approver can retry, and say so.
        await deps.approvalTokens.undoDecision(instanceId, record.tokenId).catch(() => undefined);
        await deps.approvalTokens.release(token, instanceId).catch(() => false);
        return failure(base, 'unavailable');
      }
      ctx.log(`approval ${decision} for ${instanceId} by ${record.approver} (token ${record.tokenId})`);
      await audit(deps, ctx, record, {
        kind: decision === 'approve' ? 'approved' : 'rejected',
        at,
        actor: record.approver,
        instanceId,
        ...(record.planDigest ? { planDigest: record.planDigest } : {}),
      });
      return respond(
        base,
        200,
        recorded.decided || decision === 'reject'
          ? decidedPage(decision, record)
          : waitingPage(record, recorded.remaining),
      );
    } catch (err) {
      ctx.error(`approval decision failed: ${ensureErrorType(err).message}`);
      return failure(base, 'unavailable');
    }
  };

  return { page, decide };
}
