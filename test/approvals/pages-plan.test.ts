/**
 * The approval plan as a person reads it, on the confirmation page and in the approval email: every section with
 * its values, secrets only as Key Vault secret names, and every value escaped (hostile values stay text).
 */
import { confirmPage } from '../../src/approvals/pages';
import { escapeHtml } from '../../src/mail/html';
import { approvalMail } from '../../src/mail/approval';
import { approvalRequest, HOSTILE, hostilePlan, plan, PUBLIC, record, TENANT_ID } from '../browser/plan-fixtures';

const input = { publicBaseUrl: PUBLIC, record: record(), token: 'tok-123', csrf: 'c'.repeat(43) };
const mail = (over: Partial<Parameters<typeof approvalMail>[0]> = {}) =>
  approvalMail({
    request: approvalRequest(),
    approver: 'ann@contoso.com',
    reviewUrl: `${PUBLIC}/api/approvals/x?token=tok`,
    ...over,
  }).html;

/** The visible text of an HTML fragment: tags removed, entities decoded, whitespace collapsed. */
const text = (html: string) =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .replace(/ ([),.])/g, '$1')
    .replace(/\( /g, '(');

const RENDERINGS: [string, () => string, (p: ReturnType<typeof plan>) => string][] = [
  ['the confirmation page', () => confirmPage(input), (p) => confirmPage({ ...input, plan: p })],
  ['the approval email', () => mail(), (p) => mail({ plan: p })],
];

describe.each(RENDERINGS)('the approval plan on %s', (_where, without, withPlan) => {
  const p = plan();
  const shown = () => text(withPlan(p));

  it('shows no plan section when there is no plan (before the orchestrator fills one)', () => {
    expect(without()).not.toContain('What you are approving');
    expect(withPlan(p)).toContain('What you are approving');
  });

  it('shows the tenant, the ServiceNow instance and the profile', () => {
    const t = shown();
    expect(t).toContain(`Tenant ID Name Domain ${TENANT_ID} Contoso contoso.onmicrosoft.com`);
    expect(t).toContain(`Instance URL dev12345 https://dev12345.service-now.com`);
    expect(t).toContain(p.profile.title);
  });

  it('shows every app with its display name, app id or unique name, purpose and redirect URIs', () => {
    const t = shown();
    expect(p.apps).toHaveLength(3);
    for (const a of p.apps) {
      expect(t).toContain(a.displayName);
      expect(t).toContain(a.purpose);
      for (const u of a.redirectUris) expect(t).toContain(u);
    }
    const outbound = p.apps.find((a) => a.role === 'outbound')!;
    expect(outbound.redirectUris).toEqual(['https://dev12345.service-now.com/auth_redirect.do']);
    expect(t).toContain(`${outbound.displayName} aaaaaaaa-0000-4000-8000-000000000001 ${outbound.purpose}`);
    // The Rest User app has no id yet in this plan: it is named by its unique name.
    const restUser = p.apps.find((a) => a.role === 'restUser')!;
    expect(restUser.appId).toBeUndefined();
    expect(t).toContain(`${restUser.displayName} ${restUser.uniqueName} (unique name)`);
  });

  it('states the trust in words', () => {
    expect(p.trust.length).toBeGreaterThanOrEqual(1);
    for (const s of p.trust) expect(shown()).toContain(s.statement);
    expect(shown()).toMatch(/Tokens that tenant 11111111-2222-3333-4444-555555555555 issues to app/);
  });

  it('lists every record activation writes with its field values, secrets only as Key Vault secret names', () => {
    const t = shown();
    for (const r of p.records) {
      expect(t).toContain(`${r.key} (table ${r.table})`);
      for (const [field, value] of Object.entries(r.values)) expect(t).toContain(`${field} ${value}`);
    }
    const secretValues = p.records.flatMap((r) => Object.entries(r.values).filter(([f]) => f === 'client_secret'));
    expect(secretValues.length).toBeGreaterThanOrEqual(1);
    for (const [, v] of secretValues) expect(v).toMatch(/^Key Vault secret sn-dev12345-0a1b2c3d-[a-z]+$/);
  });

  it('lists role grants, cross-scope privileges, IP rules, manual steps and who asked', () => {
    const t = shown();
    expect(p.roleGrants).toContainEqual({ userName: 'jane.doe', role: 'itil' });
    for (const g of p.roleGrants) expect(t).toContain(`${g.userName} ${g.role}`);
    expect(p.privileges.length).toBeGreaterThanOrEqual(1);
    for (const x of p.privileges) expect(t).toContain(`${x.sourceScope} ${x.target} ${x.operation}`);
    expect(p.ipRules.length).toBeGreaterThanOrEqual(1);
    for (const r of p.ipRules) expect(t).toContain(r);
    expect(p.manualSteps.length).toBeGreaterThanOrEqual(1);
    for (const s of p.manualSteps) expect(t).toContain(`${s.title} ${s.actor}`);
    expect(t).toMatch(/Requested by requester@contoso\.com/);
  });

  it('says so when a section is empty', () => {
    const t = text(withPlan({ ...p, roleGrants: [], privileges: [], ipRules: [], requestedBy: [], trust: [] }));
    expect(t).toContain('Role grants None.');
    expect(t).toContain('Cross-scope privileges None.');
    expect(t).toContain('IP allow rules None: no IP allow-list is configured.');
    expect(t).toContain('Requested by Not recorded.');
    expect(t).toContain('Trust No inbound trust.');
  });

  it('withholds a secret field whose value is not a Key Vault secret name', () => {
    const leaky = {
      ...p,
      records: [
        { key: 'leaky', table: 'oauth_entity', values: { client_secret: 's3cr3t-VALUE', password2: 'pw-VALUE' } },
      ],
    };
    const out = withPlan(leaky);
    expect(out).not.toContain('s3cr3t-VALUE');
    expect(out).not.toContain('pw-VALUE');
    expect(text(out)).toContain('client_secret withheld (secrets are shown only by their Key Vault secret name)');
  });

  it('escapes hostile values everywhere: they are shown as text and never become markup', () => {
    const out = withPlan(hostilePlan());
    expect(out).not.toMatch(/<script/i);
    expect(out).not.toMatch(/<img/i);
    expect(out).not.toContain(HOSTILE);
    const escaped = escapeHtml(HOSTILE);
    expect(escaped).toContain(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quoted&quot; &#39;single&#39;',
    );
    // Every hostile field is there, escaped: integration, profile (2), tenant (3), instance (2), apps (3 × 3),
    // trust, record (key, table, field, value), privileges (2 each), IP rule, manual step (2), requested by, grants.
    const count = out.split(escaped).length - 1;
    const h = hostilePlan();
    const expected =
      2 +
      1 +
      2 +
      1 +
      2 +
      h.apps.length * 3 +
      h.trust.length +
      4 +
      h.privileges.length * 2 +
      1 +
      2 +
      1 +
      h.roleGrants.filter((g) => g.userName === HOSTILE).length;
    expect(count).toBeGreaterThanOrEqual(expected);
  });
});

describe('approvalMail and the plan', () => {
  it('uses the request plan when no plan is given, and the given plan over it', () => {
    const p = plan();
    const fromRequest = mail({ request: approvalRequest({ plan: p }) });
    expect(text(fromRequest)).toContain(p.trust[0].statement);
    const other = { ...p, tenant: { ...p.tenant, name: 'Fabrikam' } };
    const given = mail({ request: approvalRequest({ plan: p }), plan: other });
    expect(text(given)).toContain('Fabrikam');
    expect(text(given)).not.toMatch(/Tenant ID Name Domain \S+ Contoso/);
  });

  it('keeps the email styled inline (mail clients drop <style>)', () => {
    const out = mail({ plan: plan() });
    expect(out).not.toContain('<style');
    expect(out).toMatch(/<table style="border-collapse:collapse/);
    expect(out).toMatch(/<code style="font-family:Consolas/);
  });
});
