/**
 * The operator dashboard's pages: server-rendered HTML with no JavaScript at all. Every interpolated value goes through
 * the escaping `html` template (src/mail/html.ts; OWASP XSS Prevention Cheat Sheet rules #1 and #2): integration data
 * comes from request bodies, so a tenant name with `<script>` renders as text. Served with the approval pages'
 * discipline (OWASP HTTP Headers Cheat Sheet; MDN Content-Security-Policy): `default-src 'none'`, the one stylesheet
 * allowed by its hash, no forms (`form-action 'none'`), no framing, no referrer, nosniff, no-store.
 *
 * Links between dashboard pages are path-absolute (same origin) and carry the function key only when the page itself
 * was opened with `?code=` (a browser cannot send the `x-functions-key` header); the pages load nothing from anywhere
 * and send no referrer, so the key never reaches another origin.
 */
import { inlineStyle } from '../approvals/pages';
import type { AuditEntry } from '../contracts/fleet';
import { Html, html, type HtmlPart } from '../mail/html';
import type { IntegrationStatus } from '../registry/types';
import type { AttentionItem, DetailModel, OverviewModel, RunView } from './model';

const CSS =
  'body{font-family:Segoe UI,Arial,sans-serif;margin:1.5rem auto;max-width:80rem;padding:0 1rem;color:#222;line-height:1.45}' +
  'h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.25rem;margin:2rem 0 .5rem;border-bottom:1px solid #ddd}' +
  'h3{font-size:1.05rem;margin:1.2rem 0 .4rem}header p,.meta{color:#555;margin:.2rem 0}' +
  'table{border-collapse:collapse;margin:.3rem 0 1rem;width:100%}' +
  'th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}' +
  'th{background:#f3f3f3}code{font-family:Consolas,monospace;overflow-wrap:anywhere}' +
  'dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}' +
  '.counts{display:flex;flex-wrap:wrap;gap:.5rem;padding:0;list-style:none}' +
  '.counts li{border:1px solid #ccc;border-radius:4px;padding:.3rem .7rem}.counts strong{font-size:1.2rem;margin-right:.3rem}' +
  '.s{display:inline-block;border-radius:3px;padding:0 .4rem;font-size:.85rem;white-space:nowrap}' +
  '.ok{background:#dff6dd;color:#0e700e}.warn{background:#fff4ce;color:#835b00}.bad{background:#fde7e9;color:#a4262c}' +
  '.muted{background:#eee;color:#555}.empty{color:#555;font-style:italic}' +
  '.notice{border-left:4px solid #c19c00;background:#fffbe6;padding:.4rem .8rem}nav a{margin-right:1rem}';

const STYLE = inlineStyle(CSS);

/** The headers of every dashboard page (and its error pages). */
export function dashboardHeaders(): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy':
      `default-src 'none'; style-src ${STYLE.source}; form-action 'none'; ` + "frame-ancestors 'none'; base-uri 'none'",
  };
}

/** How the pages link to each other: the function key of the current request when it came as `?code=`. */
export interface LinkContext {
  code?: string;
}

export const DASHBOARD_PATH = '/api/dashboard';

export function dashboardHref(links: LinkContext, path = ''): string {
  return `${DASHBOARD_PATH}${path}${links.code ? `?code=${encodeURIComponent(links.code)}` : ''}`;
}

const detailHref = (links: LinkContext, id: string): string =>
  dashboardHref(links, `/integrations/${encodeURIComponent(id)}`);

export interface PageContext {
  links: LinkContext;
  /** The signed-in operator (only when App Service Authentication fronts the app). */
  operator?: string;
}

function page(title: string, ctx: PageContext, generatedAt: string, content: Html): string {
  return html`<!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width,initial-scale=1" />
        <meta name="robots" content="noindex,nofollow" />
        <meta name="referrer" content="no-referrer" />
        <title>${title}</title>
        ${STYLE.element}
      </head>
      <body>
        <header>
          <nav><a href="${dashboardHref(ctx.links)}">Fleet overview</a></nav>
          <h1>${title}</h1>
          <p>
            Generated
            ${generatedAt}${ctx.operator ? html` · signed in as <strong class="operator">${ctx.operator}</strong>` : ''}
          </p>
        </header>
        ${content}
      </body>
    </html>`.value;
}

const STATUS_CLASS: Record<IntegrationStatus, string> = {
  active: 'ok',
  provisioning: 'warn',
  'awaiting-approval': 'warn',
  checking: 'warn',
  failed: 'bad',
  rejected: 'bad',
  expired: 'bad',
  'rolled-back': 'bad',
  decommissioning: 'warn',
  decommissioned: 'muted',
};

export const statusBadge = (s: string): Html =>
  html`<span class="s ${STATUS_CLASS[s as IntegrationStatus] ?? 'muted'}">${s}</span>`;

function table(headers: string[], rows: HtmlPart[][], empty: string, cls = ''): Html {
  if (!rows.length) return html`<p class="empty">${empty}</p>`;
  return html`<table class="${cls}">
    <thead>
      <tr>
        ${headers.map((h) => html`<th>${h}</th>`)}
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (r) =>
          html`<tr>
            ${r.map((c) => html`<td>${c}</td>`)}
          </tr>`,
      )}
    </tbody>
  </table>`;
}

const code = (v: string | undefined | null): Html => (v ? html`<code>${v}</code>` : html``);
const list = (items: readonly string[] | undefined): string => (items?.length ? items.join(', ') : '—');

function daysText(days: number | undefined): Html {
  if (days === undefined) return html``;
  if (days < 0) return html`<span class="s bad">expired ${-days} d ago</span>`;
  return html`<span class="s ${days <= 30 ? 'warn' : 'ok'}">${days} d</span>`;
}

function attentionTable(items: readonly AttentionItem[], links: LinkContext, withIntegration: boolean): Html {
  return table(
    [...(withIntegration ? ['Integration', 'Status'] : []), 'What', 'Detail', 'When'],
    items.map((a) => [
      ...(withIntegration
        ? [
            html`<a href="${detailHref(links, a.id)}">${a.tenantName || a.id}</a><br />${code(a.id)}`,
            statusBadge(a.status),
          ]
        : []),
      html`<span class="s bad">${a.kind}</span> ${a.what}`,
      a.detail,
      a.at ?? '',
    ]),
    'Nothing failing: no health findings, failing checks, failed rotations or orphans.',
    'attention',
  );
}

export function overviewPage(m: OverviewModel, ctx: PageContext): string {
  const { links } = ctx;
  return page(
    'Integration fleet',
    ctx,
    m.generatedAt,
    html`${
        m.orchestrationsUnavailable
          ? html`<p class="notice">
              The running orchestrations could not be read just now: pending approvals are listed from the registry
              alone, and rotation hand-offs are not shown. Reload in a minute.
            </p>`
          : ''
      }
      <section id="status">
        <h2>Integrations by status</h2>
        <ul class="counts">
          <li><strong>${m.total}</strong>total</li>
          ${m.counts.map((c) => html`<li><strong>${c.count}</strong>${statusBadge(c.status)}</li>`)}
        </ul>
      </section>
      <section id="attention">
        <h2>Failing checks and drift (${m.attention.length})</h2>
        ${attentionTable(m.attention, links, true)}
      </section>
      <section id="approvals">
        <h2>Pending approvals (${m.approvals.length})</h2>
        ${table(
          ['Integration', 'Approvers', 'Approved by', 'Waiting since', 'Deadline'],
          m.approvals.map((a) => [
            html`<a href="${detailHref(links, a.id)}">${a.tenantName || a.id}</a><br />${code(a.id)}`,
            list(a.approvers),
            html`${list(a.approvedBy)}${a.quorum ? html` (quorum ${a.quorum})` : ''}`,
            a.since ?? '',
            a.deadline ?? '',
          ]),
          'No provisioning run is waiting for an approval.',
          'approvals',
        )}
      </section>
      <section id="handoffs">
        <h2>Pending hand-offs (${m.handoffs.length})</h2>
        ${table(
          ['Integration', 'Credential', 'Asked of', 'Deadline', 'Rotation'],
          m.handoffs.map((h) => [
            html`<a href="${detailHref(links, h.id)}">${h.tenantName || h.id}</a><br />${code(h.id)}`,
            h.role,
            list(h.approvers),
            h.deadline ?? '',
            code(h.instanceId),
          ]),
          'No rotation is waiting for a hand-off confirmation.',
          'handoffs',
        )}
      </section>
      <section id="expiring">
        <h2>Credentials expiring soonest</h2>
        ${table(
          ['Expires', 'In', 'Integration', 'Role', 'App id', 'Key Vault secret'],
          m.expiring.map((e) => [
            e.expiresOn,
            daysText(e.daysLeft),
            html`<a href="${detailHref(links, e.id)}">${e.tenantName || e.id}</a>`,
            e.role,
            code(e.appId),
            code(e.secretName),
          ]),
          'No credential with an expiry is recorded.',
          'expiring',
        )}
        ${m.expiringMore ? html`<p class="meta">${m.expiringMore} more credentials expire later.</p>` : ''}
      </section>
      <section id="integrations">
        <h2>All integrations (${m.total})</h2>
        ${table(
          ['Integration', 'Tenant', 'ServiceNow instance', 'Profile', 'Status', 'Health', 'Next expiry', 'Updated'],
          m.integrations.map((r) => [
            html`<a href="${detailHref(links, r.id)}">${code(r.id)}</a>`,
            html`${r.tenantName}<br />${code(r.tenant)}`,
            r.serviceNowInstance,
            r.profile,
            statusBadge(r.status),
            r.health.state === 'ok'
              ? html`<span class="s ok">ok</span>`
              : r.health.state === 'unchecked'
                ? html`<span class="s muted">not checked</span>`
                : html`<span class="s bad">${r.health.findings} finding${r.health.findings === 1 ? '' : 's'}</span>`,
            r.nextExpiry ?? '',
            r.updatedAt,
          ]),
          'No integration is registered yet.',
          'integrations',
        )}
      </section>`,
  );
}

function runSection(title: string, run: RunView): Html {
  return html`<h3>${title} ${code(run.instanceId)}</h3>
    <p class="meta">
      ${run.runtimeStatus ?? ''}${run.currentStep ? html` · current step ${code(run.currentStep)}` : ''}${
        run.outcome ? html` · outcome ${run.outcome}` : ''
      }
    </p>
    ${run.error ? html`<p class="notice">${run.error}</p>` : ''}
    ${
      run.awaiting
        ? html`<p class="notice awaiting">
            Waiting for ${run.awaiting.what} from
            ${list(run.awaiting.approvers)}${run.awaiting.deadline ? html` until ${run.awaiting.deadline}` : ''}${
              run.awaiting.approvedBy?.length
                ? html`; approved so far by
                  ${list(run.awaiting.approvedBy)}${run.awaiting.quorum ? html` (quorum ${run.awaiting.quorum})` : ''}`
                : ''
            }.
          </p>`
        : ''
    }
    ${table(
      ['#', 'Step', 'At'],
      run.steps.map((s, i) => [String(i + 1), code(s.name), s.at]),
      'No step recorded yet.',
      'timeline',
    )}
    ${
      run.manualActions.length
        ? html`<p>Manual actions handed off:</p>
            <ul>
              ${run.manualActions.map((a) => html`<li>${a.title} (${a.actor})</li>`)}
            </ul>`
        : ''
    }`;
}

function auditTable(entries: readonly AuditEntry[]): Html {
  return table(
    ['At', 'Event', 'Actor', 'Detail', 'Instance'],
    entries.map((e) => [
      e.at,
      code(e.kind),
      e.actor ?? '',
      html`${e.detail ?? ''}${
        e.data
          ? html`<br /><span class="meta"
                >${Object.entries(e.data)
                  .map(([k, v]) => `${k}=${String(v)}`)
                  .join(' · ')}</span
              >`
          : ''
      }`,
      code(e.instanceId),
    ]),
    'No audit event is recorded for this integration.',
    'audit',
  );
}

export function detailPage(m: DetailModel, ctx: PageContext): string {
  const r = m.record;
  const h = r.health;
  return page(
    `Integration ${r.tenantName || r.id}`,
    ctx,
    m.generatedAt,
    html`${
        m.orchestrationsUnavailable
          ? html`<p class="notice">The running orchestrations could not be read just now; reload in a minute.</p>`
          : ''
      }
      <section id="summary">
        <dl>
          <dt>Id</dt>
          <dd>${code(r.id)}</dd>
          <dt>Status</dt>
          <dd>${statusBadge(r.status)}</dd>
          <dt>Tenant</dt>
          <dd>${r.tenantName} ${code(r.tenant)}${r.tenantDomain ? html` (${r.tenantDomain})` : ''}</dd>
          <dt>ServiceNow instance</dt>
          <dd>${code(r.serviceNowInstance)}</dd>
          <dt>Profile</dt>
          <dd>${code(r.profile)}</dd>
          <dt>Ticket</dt>
          <dd>${r.ticket ? html`${r.ticket.table} ${r.ticket.number ?? r.ticket.sysId ?? ''}` : '—'}</dd>
          <dt>Approvers</dt>
          <dd>${list(r.approvers)}</dd>
          <dt>Approved</dt>
          <dd>${r.approval ? html`by ${r.approval.approver} at ${r.approval.at}` : '—'}</dd>
          <dt>Runs</dt>
          <dd>
            ${r.runs ?? 1}${
              r.lastRun ? html`; last ${code(r.lastRun.instanceId)} ${r.lastRun.outcome} at ${r.lastRun.at}` : ''
            }
          </dd>
          <dt>Last rotation</dt>
          <dd>
            ${
              r.lastRotation
                ? html`${r.lastRotation.outcome} at ${r.lastRotation.at} ${code(r.lastRotation.instanceId)}`
                : '—'
            }
          </dd>
          ${
            r.decommission
              ? html`<dt>Decommissioning</dt>
                  <dd>
                    ${code(r.decommission.instanceId)}
                    requested${r.decommission.requestedBy ? html` by ${r.decommission.requestedBy}` : ''} at
                    ${r.decommission.at}${r.decommission.outcome ? html`; ${r.decommission.outcome}` : ''}
                  </dd>`
              : ''
          }
          <dt>Created</dt>
          <dd>${r.createdAt}</dd>
          <dt>Updated</dt>
          <dd>${r.updatedAt}</dd>
        </dl>
      </section>
      <section id="attention">
        <h2>Needs attention (${m.attention.length})</h2>
        ${attentionTable(m.attention, ctx.links, false)}
      </section>
      <section id="timeline">
        <h2>Timeline</h2>
        ${m.provisioning ? runSection('Provisioning', m.provisioning) : html`<p class="empty">No provisioning run found.</p>`}
        ${m.rotations.map((run) => runSection('Rotation', run))}
      </section>
      <section id="checks">
        <h2>Checks</h2>
        ${table(
          ['Check', 'Result', 'Detail', 'Hint', 'At'],
          m.checks.map((c) => [
            code(c.name),
            c.ok ? html`<span class="s ok">passed</span>` : html`<span class="s bad">failed</span>`,
            c.detail,
            c.hint ?? '',
            c.at,
          ]),
          'No check has run yet.',
          'checks',
        )}
      </section>
      <section id="credentials">
        <h2>Credentials</h2>
        ${table(
          ['Role', 'App id', 'Key Vault secret', 'Version', 'Key id', 'Expires', 'In'],
          m.credentials.map((c) => [
            c.role,
            code(c.appId),
            code(c.secretName),
            code(c.secretVersion),
            code(c.keyId),
            c.expiresOn ?? '',
            daysText(c.daysLeft),
          ]),
          'No credential is recorded for this integration.',
          'credentials',
        )}
        ${
          Object.keys(r.serviceNow ?? {}).length
            ? html`<h3>ServiceNow records</h3>
                ${table(
                  ['Record', 'sys_id'],
                  Object.entries(r.serviceNow).map(([k, v]) => [code(k), code(v)]),
                  '',
                )}`
            : ''
        }
      </section>
      <section id="health">
        <h2>Health</h2>
        ${
          h
            ? html`<p class="meta">
                  Last checked ${h.checkedAt} (${code(h.instanceId)}):
                  ${h.ok ? html`<span class="s ok">ok</span>` : html`<span class="s bad">findings</span>`}${
                    h.lastGoodAt ? html`; last good ${h.lastGoodAt}` : ''
                  }
                </p>
                ${table(
                  ['Finding', 'Subject', 'Detail', 'Repairable'],
                  h.findings.map((f) => [code(f.kind), code(f.subject), f.detail, f.repairable ? 'yes' : 'no']),
                  'No finding: the integration matches what was approved.',
                  'findings',
                )}`
            : html`<p class="empty">Not checked yet.</p>`
        }
      </section>
      <section id="audit">
        <h2>Audit trail (${m.audit.length})</h2>
        ${auditTable(m.audit)}
      </section>`,
  );
}

/** A page for the dashboard's own refusals (sign-in missing behind Easy Auth), with an optional same-origin link. */
export function dashboardMessagePage(
  title: string,
  text: string,
  generatedAt: string,
  link?: { href: string; text: string },
): string {
  return page(
    title,
    { links: {} },
    generatedAt,
    html`<p>${text}</p>
      ${link ? html`<p><a href="${link.href}">${link.text}</a></p>` : ''}`,
  );
}
