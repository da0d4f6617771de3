/**
 * The approval request email: what was created (ids, Key Vault secret names and versions, ServiceNow sys_ids), the
 * remaining manual steps with exact values (secrets only as Key Vault secret names), and one "Review" link to a page
 * that changes nothing on GET (mail scanners prefetch links, lessons-from-peers §2.1); the decision is a POST from it.
 */
import type { ApprovalRequestInput, ManualAction } from '../activities/contracts';
import { html, type Html } from './html';
import { code, document, STYLE, table } from './layout';

export interface ApprovalMailInput {
  request: ApprovalRequestInput;
  approver: string;
  /** `${publicBaseUrl}/api/approvals/{instanceId}?token=…`: only ever in the email body. */
  reviewUrl: string;
}

export function manualActionsHtml(actions: ManualAction[]): Html {
  if (!actions.length) return html`<p>No manual steps remain.</p>`;
  return html`${actions.map(
    (a, i) =>
      html`<h3>${i + 1}. ${a.title}</h3>
        <p>Who: ${a.actor}</p>
        ${table(
          ['Step', 'Value'],
          a.steps.map((s) => [s.label, s.value === undefined ? '' : code(s.value)]),
        )}`,
  )}`;
}

export function createdObjectsHtml(r: Pick<ApprovalRequestInput, 'apps' | 'secrets' | 'records'>): Html {
  return html`<h2>Created or verified</h2>
    <h3>Entra app registrations</h3>
    ${table(
      ['Role', 'Application (client) ID', 'Object ID', 'Service principal ID'],
      r.apps.map((a) => [a.role, code(a.appId), code(a.objectId), code(a.servicePrincipalId)]),
    )}
    <h3>Client secrets (stored in Key Vault; values are never sent)</h3>
    ${table(
      ['Role', 'Key Vault secret name', 'Version', 'Credential keyId', 'Expires'],
      r.secrets.map((s) => [s.role, code(s.secretName), code(s.version), code(s.keyId), s.expiresOn]),
    )}
    <h3>ServiceNow records</h3>
    ${table(
      ['Record', 'Table', 'sys_id', 'Note'],
      r.records.map((x) => [
        x.key,
        code(x.table),
        x.sysId ? code(x.sysId) : 'not created',
        x.manualAction ? 'manual step below' : x.mismatches.length ? `differs: ${x.mismatches.join(', ')}` : '',
      ]),
    )}`;
}

export function approvalMail(m: ApprovalMailInput): { subject: string; html: string } {
  const r = m.request;
  const reminder = r.round > 0;
  const subject = `${reminder ? 'Reminder: ' : ''}Approve ServiceNow integration ${r.integrationId}`;
  const body = html`<h1>${reminder ? 'Reminder: your approval is still needed' : 'Approval needed'}</h1>
    <p>
      The provisioning of the integration ${code(r.integrationId)} between the Microsoft Entra tenant ${code(r.tenant)}
      (${r.tenantName}) and the ServiceNow instance ${code(r.serviceNowInstance)} (profile ${code(r.profileId)}) is
      waiting for your decision as ${code(m.approver)}. Decide before ${r.expiresAt}.
    </p>
    <p><a href="${m.reviewUrl}" style="${STYLE.button}">Review</a></p>
    <p>
      The link opens a page where you approve or reject; opening it decides nothing. It is personal: do not forward it.
    </p>
    ${createdObjectsHtml(r)}
    <h2>Remaining manual steps</h2>
    ${manualActionsHtml(r.manualActions)}`;
  return { subject, html: document(subject, body) };
}
