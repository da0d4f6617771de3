/**
 * The approval request email: what the approver agrees to (the approval plan), what was created (ids, Key Vault secret
 * names and versions, ServiceNow sys_ids), the remaining manual steps with exact values (secrets only as Key Vault
 * secret names), and one "Review" link to a page that changes nothing on GET (mail scanners prefetch links); the
 * decision is a POST from it.
 */
import type { ApprovalPlan, ApprovalRequestInput, ManualAction } from '../contracts/provision';
import { html, type Html, type HtmlPart } from './html';
import { code, document, EMAIL_MARKUP, type Markup, STYLE, table } from './layout';

export interface ApprovalMailInput {
  request: ApprovalRequestInput;
  approver: string;
  /** `${publicBaseUrl}/api/approvals/{instanceId}?token=…`: only ever in the email body. */
  reviewUrl: string;
  /** What the approver agrees to; defaults to the request's plan, and the email is sent without it when neither has one. */
  plan?: ApprovalPlan;
}

/** A field that holds a secret in ServiceNow (client_secret, password, password2, …). */
const SECRET_FIELD = /(^|_)(secret|password\d*)$/i;
/** How the plan names a secret: by its Key Vault secret (src/approvals/plan.ts). */
const KEY_VAULT_NAME = /^Key Vault secret [A-Za-z0-9-]+$/;

/**
 * A record's value as shown to the approver. Secret fields are shown only when the value is a Key Vault secret name;
 * anything else there is withheld, so a plan built wrongly can never put a secret in front of a person.
 */
function recordValue(field: string, value: string, m: Markup): HtmlPart {
  if (SECRET_FIELD.test(field) && !KEY_VAULT_NAME.test(value))
    return 'withheld (secrets are shown only by their Key Vault secret name)';
  return m.code(value);
}

const list = (items: HtmlPart[], none: string): Html =>
  items.length
    ? html`<ul>
        ${items.map((i) => html`<li>${i}</li>`)}
      </ul>`
    : html`<p>${none}</p>`;

/**
 * The approval plan as sections a person can check: tenant, ServiceNow instance, apps, trust, the records activation
 * writes with their values, role grants, cross-scope privileges, IP rules, manual steps and who asked. Every value is
 * escaped; `m` decides only how tables and code are styled (email: inline; page: by the page's stylesheet).
 */
export function planHtml(plan: ApprovalPlan, m: Markup = EMAIL_MARKUP): Html {
  if (plan.decommission) return decommissionPlanHtml(plan, plan.decommission, m);
  return html`<h2>What you are approving</h2>
    <p>Integration ${m.code(plan.integrationId)}, profile ${plan.profile.title} (${m.code(plan.profile.id)}).</p>
    <h3>Microsoft Entra tenant</h3>
    ${m.table(
      ['Tenant ID', 'Name', ...(plan.tenant.domain ? ['Domain'] : [])],
      [[m.code(plan.tenant.id), plan.tenant.name, ...(plan.tenant.domain ? [m.code(plan.tenant.domain)] : [])]],
    )}
    <h3>ServiceNow instance</h3>
    ${m.table(['Instance', 'URL'], [[m.code(plan.serviceNow.instance), m.code(plan.serviceNow.url)]])}
    <h3>Entra app registrations</h3>
    ${m.table(
      ['Display name', 'Application (client) ID or unique name', 'Purpose', 'Redirect URIs'],
      plan.apps.map((a) => [
        a.displayName,
        a.appId ? m.code(a.appId) : html`${m.code(a.uniqueName)} (unique name)`,
        a.purpose,
        a.redirectUris.length ? a.redirectUris.map((u, i) => html`${i ? html`<br />` : ''}${m.code(u)}`) : 'none',
      ]),
    )}
    ${
      plan.apps.some((a) => a.permissions)
        ? html`<h3>Application permissions (admin consent, given only after your approval)</h3>
            ${m.table(
              ['App', 'API', 'Permissions'],
              plan.apps
                .filter((a) => a.permissions)
                .map((a) => [
                  a.displayName,
                  a.permissions?.resource ?? '',
                  (a.permissions?.values ?? []).map((v, i) => html`${i ? html`<br />` : ''}${m.code(v)}`),
                ]),
            )}`
        : ''
    }
    ${
      plan.apps.some((a) => a.credential)
        ? html`<h3>Credentials without a client secret</h3>
            ${m.table(
              ['App', 'Credential'],
              plan.apps.filter((a) => a.credential).map((a) => [a.displayName, a.credential?.statement ?? '']),
            )}`
        : ''
    }
    <h3>Trust</h3>
    ${list(
      plan.trust.map((t) => t.statement),
      'No inbound trust.',
    )}
    <h3>ServiceNow records activation writes</h3>
    ${
      plan.records.length
        ? plan.records.map(
            (r) =>
              html`<h4>${r.key} (table ${m.code(r.table)})</h4>
                ${m.table(
                  ['Field', 'Value'],
                  Object.entries(r.values).map(([field, value]) => [m.code(field), recordValue(field, value, m)]),
                )}`,
          )
        : html`<p>None.</p>`
    }
    <h3>Role grants</h3>
    ${
      plan.roleGrants.length
        ? m.table(
            ['ServiceNow user', 'Role'],
            plan.roleGrants.map((g) => [m.code(g.userName), m.code(g.role)]),
          )
        : html`<p>None.</p>`
    }
    <h3>Cross-scope privileges</h3>
    ${
      plan.privileges.length
        ? m.table(
            ['Source scope', 'Target', 'Operation'],
            plan.privileges.map((p) => [m.code(p.sourceScope), m.code(p.target), p.operation]),
          )
        : html`<p>None.</p>`
    }
    <h3>IP allow rules</h3>
    ${list(
      plan.ipRules.map((r) => m.code(r)),
      'None: no IP allow-list is configured.',
    )}
    ${
      plan.removes?.length
        ? html`<h3>Taken away from the live integration</h3>
            ${list(
              plan.removes.map((r) => m.code(r)),
              'Nothing.',
            )}`
        : html``
    }
    <h3>Manual steps</h3>
    ${
      plan.manualSteps.length
        ? m.table(
            ['Step', 'Who'],
            plan.manualSteps.map((s) => [s.title, s.actor]),
          )
        : html`<p>None.</p>`
    }
    <h3>Requested by</h3>
    ${list(
      plan.requestedBy.map((r) => m.code(r)),
      'Not recorded.',
    )}`;
}

/**
 * A decommissioning plan: the integration, what approving removes (everything it owns, each item as the removal will
 * treat it) and what stays with the reason.
 */
function decommissionPlanHtml(plan: ApprovalPlan, d: NonNullable<ApprovalPlan['decommission']>, m: Markup): Html {
  return html`<h2>What you are approving: decommissioning</h2>
    <p>
      Integration ${m.code(plan.integrationId)}, profile ${plan.profile.title} (${m.code(plan.profile.id)}), between the
      Microsoft Entra tenant ${m.code(plan.tenant.id)} (${plan.tenant.name}) and the ServiceNow instance
      ${m.code(plan.serviceNow.instance)}, is taken down. Approving removes what it owns; nothing else is touched.
    </p>
    ${d.reason ? html`<p>Reason given: ${d.reason}</p>` : ''}
    <h3>Removed when you approve</h3>
    ${list(
      d.remove.map((r) => m.code(r)),
      'Nothing: the integration owns nothing any more.',
    )}
    <h3>Kept (not this integration's to remove)</h3>
    ${list(
      d.keep.map((r) => m.code(r)),
      'Nothing.',
    )}
    <h3>Requested by</h3>
    ${list(
      plan.requestedBy.map((r) => m.code(r)),
      'Not recorded.',
    )}`;
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
  // The request's plan is typed as always there, but requests built before plans existed have none.
  const requestPlan: ApprovalPlan | undefined = r.plan;
  const plan = m.plan ?? requestPlan;
  const reminder = r.round > 0;
  if (plan?.decommission) return decommissionMail(m, plan, reminder);
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
    ${plan ? planHtml(plan, EMAIL_MARKUP) : ''} ${createdObjectsHtml(r)}
    <h2>Remaining manual steps</h2>
    ${manualActionsHtml(r.manualActions)}`;
  return { subject, html: document(subject, body) };
}

/** The approval request of a decommissioning: what goes and what stays (nothing is created, so no other section). */
function decommissionMail(
  m: ApprovalMailInput,
  plan: ApprovalPlan,
  reminder: boolean,
): { subject: string; html: string } {
  const r = m.request;
  const subject = `${reminder ? 'Reminder: ' : ''}Approve decommissioning of ServiceNow integration ${r.integrationId}`;
  const body = html`<h1>
      ${reminder ? 'Reminder: your approval is still needed' : 'Approval needed: decommissioning'}
    </h1>
    <p>
      The decommissioning of the integration ${code(r.integrationId)} between the Microsoft Entra tenant
      ${code(r.tenant)} (${r.tenantName}) and the ServiceNow instance ${code(r.serviceNowInstance)} (profile
      ${code(r.profileId)}) is waiting for your decision as ${code(m.approver)}. Decide before ${r.expiresAt}.
    </p>
    <p><a href="${m.reviewUrl}" style="${STYLE.button}">Review</a></p>
    <p>
      The link opens a page where you approve or reject; opening it decides nothing. It is personal: do not forward it.
    </p>
    ${planHtml(plan, EMAIL_MARKUP)}`;
  return { subject, html: document(subject, body) };
}
