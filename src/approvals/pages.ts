/**
 * The approval pages: a confirmation page with Approve and Reject buttons (GET renders, POST decides: mail scanners
 * prefetch links), result pages and clear error pages. Everything interpolated is escaped; the approval token appears
 * only in the hidden form field, never in text. Served with no-store, no-referrer, DENY framing, nosniff and a strict
 * Content-Security-Policy: no scripts at all, the one stylesheet allowed by its hash, forms posting only to our own
 * origin (OWASP HTTP Headers Cheat Sheet; MDN Content-Security-Policy).
 */
import { createHash } from 'node:crypto';

import type { ApprovalPlan } from '../contracts/provision';
import type { TokenRecord } from './tokens';
import { Html, html, type HtmlPart } from '../mail/html';
import type { Markup } from '../mail/layout';
import { planHtml } from '../mail/approval';

const CSS =
  'body{font-family:Segoe UI,Arial,sans-serif;max-width:52rem;margin:3rem auto;padding:0 1rem;color:#222;line-height:1.5}' +
  'h2{font-size:1.3rem;margin:2rem 0 .5rem}h3{font-size:1.1rem;margin:1.4rem 0 .4rem}h4{font-size:1rem;margin:1rem 0 .3rem}' +
  'dt{font-weight:600}dd{margin:0 0 .6rem}code{font-family:Consolas,monospace;overflow-wrap:anywhere}' +
  'table{border-collapse:collapse;margin:.3rem 0 1rem}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}' +
  'th{background:#f3f3f3}form{margin:2rem 0}' +
  'button{font-size:1rem;padding:.6rem 1.4rem;margin-right:1rem;border:0;border-radius:4px;cursor:pointer}' +
  '.approve{background:#107c10;color:#fff}.reject{background:#c50f1f;color:#fff}.done{background:#0f6cbd;color:#fff}';

/**
 * A `<style>` element and the CSP source that allows it. A hash source matches an inline style element when it is
 * the digest of the element's exact text content, whitespace included (W3C CSP3, "Does element match source list for
 * type and source?"; MDN CSP style-src, "Unsafe inline styles"). The element is built here as a string, never through
 * a formatted template, so nothing can add bytes between `<style>` and `</style>` that the hash does not cover.
 */
export function inlineStyle(css: string): { element: Html; source: string } {
  if (css.includes('<')) throw new Error('a stylesheet must not contain "<"');
  const digest = createHash('sha256').update(css, 'utf8').digest('base64');
  return { element: new Html(`<style>${css}</style>`), source: `'sha256-${digest}'` };
}

/** The one stylesheet of every page; `page()` emits this element and `securityHeaders()` allows exactly it. */
const STYLE = inlineStyle(CSS);

export function securityHeaders(publicBaseUrl: string): Record<string, string> {
  const origin = new URL(publicBaseUrl).origin;
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    // form-action names our public origin too: the form posts to the public base URL, which may differ from the
    // origin the page was served from behind a proxy.
    'Content-Security-Policy':
      `default-src 'none'; style-src ${STYLE.source}; form-action 'self' ${origin}; ` +
      "frame-ancestors 'none'; base-uri 'none'",
  };
}

/** Tables and code on a page: no style attributes (the CSP allows only the page's stylesheet). */
const PAGE_MARKUP: Markup = {
  table: (headers: string[], rows: HtmlPart[][]) =>
    html`<table>
      <tr>
        ${headers.map((h) => html`<th>${h}</th>`)}
      </tr>
      ${rows.map(
        (r) =>
          html`<tr>
            ${r.map((c) => html`<td>${c}</td>`)}
          </tr>`,
      )}
    </table>`,
  code: (text: string | undefined) => html`<code>${text ?? ''}</code>`,
};

function page(title: string, content: Html): string {
  return html`<!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width,initial-scale=1" />
        <meta name="robots" content="noindex,nofollow" />
        <title>${title}</title>
        ${STYLE.element}
      </head>
      <body>
        <h1>${title}</h1>
        ${content}
      </body>
    </html>`.value;
}

export interface ConfirmPageInput {
  publicBaseUrl: string;
  record: TokenRecord;
  token: string;
  csrf: string;
  /** What the approver agrees to, shown before the buttons (approval pages only). */
  plan?: ApprovalPlan;
}

export function confirmPage(p: ConfirmPageInput): string {
  const action = `${p.publicBaseUrl}/api/approvals/${encodeURIComponent(p.record.instanceId)}`;
  if (p.plan?.decommission) return decommissionConfirmPage(p, action);
  return page(
    'Approve the ServiceNow integration?',
    html`<dl>
        <dt>Integration</dt>
        <dd><code>${p.record.subject ?? p.record.instanceId}</code></dd>
        <dt>Approver</dt>
        <dd><code>${p.record.approver}</code></dd>
        <dt>Decide before</dt>
        <dd>${p.record.expiresAt}</dd>
      </dl>
      ${p.plan ? planHtml(p.plan, PAGE_MARKUP) : ''}
      <p>
        Approving lets the provisioning finish and run its connectivity checks. Rejecting rolls back or marks the
        integration as rejected. Your decision is recorded with your address and the time.
      </p>
      <form method="post" action="${action}">
        <input type="hidden" name="token" value="${p.token}" />
        <input type="hidden" name="csrf" value="${p.csrf}" />
        <button type="submit" name="decision" value="approve" class="approve">Approve</button>
        <button type="submit" name="decision" value="reject" class="reject">Reject</button>
      </form>`,
  );
}

/** The confirmation page of a decommissioning: what approving removes and what stays, then the two buttons. */
function decommissionConfirmPage(p: ConfirmPageInput, action: string): string {
  return page(
    'Decommission the ServiceNow integration?',
    html`<dl>
        <dt>Integration</dt>
        <dd><code>${p.record.subject ?? p.record.instanceId}</code></dd>
        <dt>Approver</dt>
        <dd><code>${p.record.approver}</code></dd>
        <dt>Decide before</dt>
        <dd>${p.record.expiresAt}</dd>
      </dl>
      ${p.plan ? planHtml(p.plan, PAGE_MARKUP) : ''}
      <p>
        Approving removes everything listed under "Removed when you approve": the Entra applications go to deleted items
        (restorable for 30 days), the Key Vault secrets are soft-deleted (recoverable), the ServiceNow records are
        deleted. Rejecting removes nothing and the integration stays as it was. Your decision is recorded with your
        address and the time.
      </p>
      <form method="post" action="${action}">
        <input type="hidden" name="token" value="${p.token}" />
        <input type="hidden" name="csrf" value="${p.csrf}" />
        <button type="submit" name="decision" value="approve" class="approve">Approve</button>
        <button type="submit" name="decision" value="reject" class="reject">Reject</button>
      </form>`,
  );
}

/**
 * The confirmation page of a rotation hand-off token: what the person was asked to update (the token's subject: place,
 * field, Key Vault secret name and version, never a value) and one Done button.
 */
export function handoffConfirmPage(p: ConfirmPageInput): string {
  const action = `${p.publicBaseUrl}/api/approvals/${encodeURIComponent(p.record.instanceId)}`;
  return page(
    'Confirm you updated the client secret',
    html`<dl>
        <dt>What</dt>
        <dd>${p.record.subject ?? p.record.instanceId}</dd>
        <dt>Confirming as</dt>
        <dd><code>${p.record.approver}</code></dd>
        <dt>Confirm before</dt>
        <dd>${p.record.expiresAt}</dd>
      </dl>
      <p>
        Confirm only after the new secret is saved in every place named above. The old secret is removed after the
        confirmation and a grace period. Your confirmation is recorded with your address and the time.
      </p>
      <form method="post" action="${action}">
        <input type="hidden" name="token" value="${p.token}" />
        <input type="hidden" name="csrf" value="${p.csrf}" />
        <button type="submit" name="decision" value="done" class="done">Done</button>
      </form>`,
  );
}

export function handoffDonePage(record: TokenRecord): string {
  return page(
    'Thank you',
    html`<p>
      Your confirmation was recorded as <code>${record.approver}</code>. The rotation continues; you can close this
      page.
    </p>`,
  );
}

export function decidedPage(decision: 'approve' | 'reject', record: TokenRecord): string {
  return page(
    decision === 'approve' ? 'Approved' : 'Rejected',
    html`<p>
      Thank you. Your decision (${decision === 'approve' ? 'approve' : 'reject'}) for
      <code>${record.subject ?? record.instanceId}</code> was recorded as <code>${record.approver}</code>. You can close
      this page.
    </p>`,
  );
}

export type ErrorKind =
  'unknown' | 'expired' | 'used' | 'wrong-instance' | 'csrf' | 'bad-request' | 'not-found' | 'closed' | 'unavailable';

const ERRORS: Record<ErrorKind, { status: number; title: string; text: string }> = {
  unknown: {
    status: 403,
    title: 'This link is not valid',
    text: 'The approval link is not recognised. Use the link from the most recent email, unchanged.',
  },
  'wrong-instance': {
    status: 403,
    title: 'This link is not valid',
    text: 'The approval link does not belong to this request. Use the link from the email about this integration.',
  },
  expired: {
    status: 410,
    title: 'This link has expired',
    text: 'The time to decide with this link has passed. If the request is still open, use the link from a newer reminder.',
  },
  used: {
    status: 410,
    title: 'This link was already used',
    text: 'A decision was already recorded with this link. Each link decides once.',
  },
  csrf: {
    status: 403,
    title: 'The decision could not be verified',
    text: 'The form was not submitted from the approval page in this browser. Open the link from the email again and decide from that page.',
  },
  'bad-request': {
    status: 400,
    title: 'The decision could not be read',
    text: 'Open the link from the email again and use the button on that page.',
  },
  'not-found': {
    status: 404,
    title: 'The request was not found',
    text: 'The provisioning request this link belongs to does not exist any more. Nothing was changed.',
  },
  closed: {
    status: 409,
    title: 'The request is closed',
    text: 'The provisioning request is no longer waiting for a decision. Nothing was changed.',
  },
  unavailable: {
    status: 503,
    title: 'Please try again',
    text: 'The decision could not be delivered right now. Nothing was recorded; open the link again in a minute.',
  },
};

export function errorPage(kind: ErrorKind): { status: number; body: string } {
  const e = ERRORS[kind];
  return { status: e.status, body: page(e.title, html`<p>${e.text}</p>`) };
}

// ---------------------------------------------------------------------------------------------------------------
// The approval round: closed links, approvers who may not decide, and an approval that waits for others.

/** How a round was closed, for the pages of its other links. */
export interface ClosedRound {
  reason: 'decided' | 'expired' | 'ended';
  /** Who decided and when (a decided round), or when it expired or ended. */
  decidedBy?: string;
  decidedAt?: string;
  decision?: 'approve' | 'reject';
}

/** Every other link of a closed round answers this (GET and POST alike) and changes nothing. */
export function roundClosedPage(round: ClosedRound): { status: number; body: string } {
  const verdict = round.decision === 'reject' ? 'rejected' : round.decision === 'approve' ? 'approved' : 'decided';
  const text =
    round.reason === 'decided' && round.decidedBy
      ? html`<p>
          This request was already decided by <code>${round.decidedBy}</code> at ${round.decidedAt ?? 'an earlier time'}
          (${verdict}). Your link no longer decides anything; nothing was changed.
        </p>`
      : round.reason === 'expired'
        ? html`<p>
            The time to decide this request expired${round.decidedAt ? html` at ${round.decidedAt}` : ''}. Your link no
            longer decides anything; nothing was changed.
          </p>`
        : html`<p>
            This request ended${round.decidedAt ? html` at ${round.decidedAt}` : ''} and is no longer waiting for a
            decision. Your link no longer decides anything; nothing was changed.
          </p>`;
  const title =
    round.reason === 'decided'
      ? 'Already decided'
      : round.reason === 'expired'
        ? 'This request expired'
        : 'This request ended';
  return { status: 409, body: page(title, text) };
}

/** A decision refused because the approver may not decide it (now): nothing was recorded. */
export function notEligiblePage(reason: 'requester' | 'not-in-policy'): { status: number; body: string } {
  const text =
    reason === 'requester'
      ? 'You asked for this change, so you cannot approve or reject it. Another approver has to decide. Nothing was recorded.'
      : 'You are no longer an approver for this request (the approver list or group membership changed). Nothing was recorded.';
  return { status: 403, body: page('You cannot decide this request', html`<p>${text}</p>`) };
}

/** An approval recorded in a round that needs more approvals. */
export function waitingPage(record: TokenRecord, remaining: number): string {
  return page(
    'Approval recorded',
    html`<p>
      Thank you. Your approval for <code>${record.subject ?? record.instanceId}</code> was recorded as
      <code>${record.approver}</code>. It waits for
      ${remaining === 1 ? 'another approver' : `${remaining} more approvers`} before the request is decided. You can
      close this page.
    </p>`,
  );
}
