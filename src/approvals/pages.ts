/**
 * The approval pages: a confirmation page with Approve and Reject buttons (GET renders, POST decides:
 * lessons-from-peers §2.1), result pages and clear error pages. Everything interpolated is escaped; the approval token
 * appears only in the hidden form field, never in text. Served with no-store, no-referrer, DENY framing, nosniff and a
 * strict Content-Security-Policy (no scripts at all; the one stylesheet is allowed by its hash; forms may post only to
 * our own origin) (OWASP HTTP Headers Cheat Sheet; MDN Content-Security-Policy).
 */
import { createHash } from 'node:crypto';

import type { TokenRecord } from './tokens';
import { Html, html } from '../mail/html';

const CSS =
  'body{font-family:Segoe UI,Arial,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222;line-height:1.5}' +
  'dt{font-weight:600}dd{margin:0 0 .6rem}code{font-family:Consolas,monospace}' +
  'button{font-size:1rem;padding:.6rem 1.4rem;margin-right:1rem;border:0;border-radius:4px;cursor:pointer}' +
  '.approve{background:#107c10;color:#fff}.reject{background:#c50f1f;color:#fff}.done{background:#0f6cbd;color:#fff}';
const CSS_HASH = createHash('sha256').update(CSS, 'utf8').digest('base64');

export function securityHeaders(publicBaseUrl: string): Record<string, string> {
  const origin = new URL(publicBaseUrl).origin;
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy':
      `default-src 'none'; style-src 'sha256-${CSS_HASH}'; form-action ${origin}; ` +
      "frame-ancestors 'none'; base-uri 'none'",
  };
}

function page(title: string, content: Html): string {
  // The stylesheet is a constant, inserted verbatim so that its CSP hash matches.
  return html`<!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width,initial-scale=1" />
        <meta name="robots" content="noindex,nofollow" />
        <title>${title}</title>
        <style>
          ${new Html(CSS)}
        </style>
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
}

export function confirmPage(p: ConfirmPageInput): string {
  const action = `${p.publicBaseUrl}/api/approvals/${encodeURIComponent(p.record.instanceId)}`;
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
