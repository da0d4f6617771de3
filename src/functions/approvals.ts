/**
 * The approval endpoints behind the emailed Review link (issue 4 §3e; lessons-from-peers §1.6, §1.10, §1.11, §2).
 * Anonymous at the Functions level: the single-use token alone authorises, bound to the instance and the approver.
 *
 * - `GET|HEAD /api/approvals/{instanceId}?token=…` renders a confirmation page and changes nothing (mail scanners
 *   prefetch links). GET sets the CSRF double-submit cookie and embeds its value in the form.
 * - `POST /api/approvals/{instanceId}` (form: token, csrf, decision=approve|reject) checks the CSRF cookie and origin,
 *   checks that the instance exists and is running (retrying briefly on not-found: an event raised before the instance
 *   exists is lost, §1.6), redeems the token once, and raises APPROVAL_EVENT with the approver from the token record.
 *
 * Rotation hand-off tokens (purpose `handoff`, event `HandoffDone-<role>`, src/activities/rotation-handoff.ts) use the
 * same endpoints: GET renders a "Confirm you updated …" page with one Done button, and the POST (decision=done) raises
 * the token's event with a HandoffConfirmation. A token only ever makes its own kind of decision: an approval token
 * approves or rejects, a hand-off token confirms; anything else is a 400 and consumes nothing.
 *
 * Handlers only: src/functions/index.ts registers them (see APPROVAL_ROUTES) with `df.app.client.http`.
 * No page echoes the token except the hidden form field, and no durable management URL is ever exposed.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import { APPROVAL_EVENT, type ApprovalDecision } from '../activities/contracts';
import { handoffEventName, type HandoffConfirmation } from '../activities/rotation-contracts';
import { type Deps, getDeps } from '../activities/deps';
import { checkCsrf, csrfCookie, newCsrfValue } from '../approvals/csrf';
import {
  confirmPage,
  decidedPage,
  errorPage,
  type ErrorKind,
  handoffConfirmPage,
  handoffDonePage,
  securityHeaders,
} from '../approvals/pages';
import type { Inspection, TokenRecord } from '../approvals/tokens';
import { ensureErrorType } from '../lib/errors';

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
  const e = errorPage(kind);
  return respond(publicBaseUrl, e.status, head ? undefined : e.body);
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

type Decision = 'approve' | 'reject' | 'done';
const DECISIONS: ReadonlySet<string> = new Set<Decision>(['approve', 'reject', 'done']);

/** Whether the token may make this decision: approval tokens approve/reject, hand-off tokens confirm. */
const allowed = (record: TokenRecord, decision: Decision): boolean =>
  isHandoff(record) ? decision === 'done' : decision !== 'done';

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
      if (!usable(inspection)) return failure(base, inspection.ok ? 'unknown' : inspection.reason, head);
      if (head) return respond(base, 200, undefined);
      const csrf = newCsrfValue();
      const input = { publicBaseUrl: base, record: inspection.record, token, csrf };
      return respond(base, 200, isHandoff(inspection.record) ? handoffConfirmPage(input) : confirmPage(input), {
        cookies: [csrfCookie(base, csrf)],
      });
    } catch (err) {
      ctx.error(`approval page failed: ${ensureErrorType(err).message}`);
      return failure(base, 'unavailable', head);
    }
  };

  /** The instance's runtime status, retrying on not-found (an instance just started may not be visible yet). */
  const statusOf = async (client: DurableClient, instanceId: string): Promise<string | undefined> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await client.getStatus(instanceId)).runtimeStatus;
      } catch {
        if (attempt >= delays.length) return undefined;
        await sleep(delays[attempt]);
      }
    }
  };

  const decide: ApprovalHttpHandler = async (req, client, ctx) => {
    const deps = depsOf();
    const base = deps.config.publicBaseUrl;
    try {
      const instanceId = req.params.instanceId ?? '';
      const type = (req.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') return failure(base, 'bad-request');
      const text = await req.text();
      if (Buffer.byteLength(text) > MAX_FORM_BYTES) return failure(base, 'bad-request');
      const form = new URLSearchParams(text);
      const token = form.get('token') ?? '';
      const raw = form.get('decision') ?? '';
      if (!DECISIONS.has(raw)) return failure(base, 'bad-request');
      const decision = raw as Decision;

      const csrf = checkCsrf(base, req.headers, form.get('csrf') ?? undefined);
      if (!csrf.ok) {
        ctx.warn(`approval POST for ${instanceId} refused: CSRF check failed (${csrf.reason})`);
        return failure(base, 'csrf');
      }

      // Read-only first: a bad token gets its page without touching the instance.
      const inspection = await deps.approvalTokens.inspect(token, instanceId);
      if (!usable(inspection)) return failure(base, inspection.ok ? 'unknown' : inspection.reason);
      if (!allowed(inspection.record, decision)) return failure(base, 'bad-request');

      const status = await statusOf(client, instanceId);
      if (status === undefined) return failure(base, 'not-found');
      if (!WAITING.has(status)) return failure(base, 'closed');

      const redeemed = await deps.approvalTokens.redeem(token, instanceId, decision);
      if (!usable(redeemed)) return failure(base, redeemed.ok ? 'unknown' : redeemed.reason);
      const record = redeemed.record;
      const at = deps.now().toISOString();
      // The approver always comes from the token record, never from the form.
      const payload: ApprovalDecision | HandoffConfirmation =
        decision === 'done'
          ? { decision, approver: record.approver, at, tokenId: record.tokenId }
          : { decision, approver: record.approver, at, tokenId: record.tokenId };
      try {
        await client.raiseEvent(instanceId, record.eventName, payload);
      } catch (err) {
        // Not delivered: give the link back so the approver can retry, and say so.
        ctx.error(`approval event for ${instanceId} not raised: ${ensureErrorType(err).message}`);
        await deps.approvalTokens.release(token, instanceId).catch(() => false);
        return failure(base, 'unavailable');
      }
      ctx.log(`approval ${decision} for ${instanceId} by ${record.approver} (token ${record.tokenId})`);
      return respond(base, 200, decision === 'done' ? handoffDonePage(record) : decidedPage(decision, record));
    } catch (err) {
      ctx.error(`approval decision failed: ${ensureErrorType(err).message}`);
      return failure(base, 'unavailable');
    }
  };

  return { page, decide };
}

const production = createApprovalHandlers();
export const approvalPageHandler: ApprovalHttpHandler = production.page;
export const approvalDecisionHandler: ApprovalHttpHandler = production.decide;

/**
 * What the lead registers in src/functions/index.ts, e.g.
 * `for (const r of Object.values(APPROVAL_ROUTES)) df.app.client.http(r.name, { route: r.route, methods: [...r.methods],
 * authLevel: r.authLevel, handler: r.handler });`
 */
export const APPROVAL_ROUTES = {
  page: {
    name: 'approvalPage',
    route: 'approvals/{instanceId}',
    methods: ['GET', 'HEAD'],
    authLevel: 'anonymous',
    handler: approvalPageHandler,
  },
  decide: {
    name: 'approvalDecision',
    route: 'approvals/{instanceId}',
    methods: ['POST'],
    authLevel: 'anonymous',
    handler: approvalDecisionHandler,
  },
} as const;
