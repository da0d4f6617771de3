/** The final report email: outcome, connectivity checks with remediation hints, and orphans left to remove by hand. */
import { describeObject, type ReportInput } from '../contracts/provision';
import { html } from './html';
import { code, document, table } from './layout';

export function reportMail(r: ReportInput): { subject: string; html: string } {
  const failed = r.checks.filter((c) => !c.ok).length;
  const subject = `ServiceNow integration ${r.integrationId}: ${r.outcome}`;
  const body = html`<h1>${subject}</h1>
    <p>
      Integration ${code(r.integrationId)}: tenant ${code(r.tenant)} (${r.tenantName}), ServiceNow instance
      ${code(r.serviceNowInstance)}, profile ${code(r.profileId)}.
    </p>
    <p>${r.summary}</p>
    <h2>Connectivity checks${r.checks.length ? ` (${r.checks.length - failed} of ${r.checks.length} passed)` : ''}</h2>
    ${
      r.checks.length
        ? table(
            ['Check', 'Result', 'Detail', 'What to do'],
            r.checks.map((c) => [c.name, c.ok ? 'passed' : 'FAILED', c.detail, c.hint ?? '']),
          )
        : html`<p>No checks ran.</p>`
    }
    <h2>Orphans</h2>
    ${
      r.orphans.length
        ? html`<p>These objects could not be removed and must be deleted by hand:</p>
            ${table(
              ['Kind', 'Identifier', 'Reason'],
              r.orphans.map((o) => [o.object.kind, code(describeObject(o.object)), o.reason]),
            )}`
        : html`<p>None.</p>`
    }`;
  return { subject, html: document(subject, body) };
}
