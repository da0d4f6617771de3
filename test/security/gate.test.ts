/**
 * The approval gate, end to end through the HTTP API, the emailed links and the local Functions host against the
 * sandbox:
 * - nothing is usable before the approval: ServiceNow refuses the inbound token before it and accepts it after;
 * - re-provisioning with a changed plan (a role grant, another redirect URI) asks for a new approval and writes
 *   nothing before it; the same plan again is silent; an approver outside the policy gets nothing;
 * - a rejected staged change leaves the live integration as it was (active, failure recorded);
 * - one tenant, one id: a domain and the tenant id name the same integration; other tenants are refused.
 */
import { createDeps } from '../../src/app/deps';
import { requestTokenV1 } from '../../src/clients/entra';
import { getConfig, serviceNowInstanceUrl } from '../../src/config';
import type { LocalStack } from '../../sandbox/stack';
import { api, approvalLink, mailsTo, openApprovalPage, productWrites } from '../e2e/api-driver';
import {
  approverOf,
  decideFromEmail,
  requestFor,
  runToApproval,
  runToEnd,
  startProvisioning,
  startStackFor,
  view,
} from '../e2e/stack-driver';

jest.setTimeout(180_000);

interface FullView {
  id: string;
  tenantName: string;
  status: string;
  outcome?: string;
  error?: string;
  created: {
    apps: Record<string, { appId: string; objectId: string; secretName: string }>;
    serviceNow: Record<string, string>;
  };
  plan?: { digest: string; mode: string };
  approval?: { planDigest?: string };
  lastRun?: { outcome: string; error?: string };
  checks: { name: string; ok: boolean }[];
}

/** Writes that configure something (not the ticket's work notes, not emails). */
const configWrites = (stack: LocalStack, mark: number) =>
  productWrites(stack, mark).filter((e) => !/\/table\/incident\/|\/sendMail$/.test(e.path));

const fullView = async (stack: LocalStack, id: string) => (await view(stack, id)) as unknown as FullView;

describe('approval gate', () => {
  let stack: LocalStack;
  const instance = 'gate00001';
  let id: string;

  beforeAll(async () => {
    stack = await startStackFor(['dev00000', instance, 'gate00002', 'gate00003']);
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** A v1 token for the Rest User app with the Rest API app as resource, then a Table API read with it. */
  async function inboundCall(v: FullView): Promise<number> {
    const config = getConfig();
    const deps = createDeps(config);
    const restUser = v.created.apps.restUser;
    const secret = (await deps.secrets.getSecret(restUser.secretName)).value ?? '';
    const token = await requestTokenV1({
      authorityHost: config.entra.authorityHost,
      tenant: config.tenantId,
      clientId: restUser.appId,
      clientSecret: secret,
      resource: v.created.apps.restApi.appId,
    });
    if (!token.ok) throw new Error(`no token: ${token.error}`);
    const res = await fetch(`${serviceNowInstanceUrl(config, instance)}/api/now/table/incident?sysparm_limit=1`, {
      headers: { Authorization: `Bearer ${token.accessToken}`, Accept: 'application/json' },
    });
    await res.text();
    return res.status;
  }

  const records = (table: string) => stack.sandbox.servicenow.records(instance, table).map((r) => r.values);

  it('before the approval only inert objects exist and ServiceNow refuses the inbound token; after it, accepts it', async () => {
    id = await startProvisioning(stack, requestFor(stack, instance));
    await runToApproval(stack, id);
    const before = await fullView(stack, id);
    expect(before.status).toBe('awaiting-approval');
    const restUserAppId = before.created.apps.restUser.appId;
    const user = records('sys_user').find((u) => u.user_name === restUserAppId);
    expect(user).toMatchObject({ active: 'false', locked_out: 'true' });
    const entity = records('oauth_oidc_entity').find((e) => e.client_id === before.created.apps.restApi.appId);
    expect(entity?.active).toBe('false');
    const outbound = records('oauth_entity').find((e) => e.client_id === before.created.apps.outbound.appId);
    expect(outbound?.active).toBe('false');
    expect(records('sys_user_has_role').filter((g) => g.user === user?.sys_id)).toEqual([]);
    expect(records('sys_scope_privilege').filter((p) => p.target_name?.startsWith('oauth_entity'))).toEqual([]);
    expect(await inboundCall(before)).toBe(401);

    expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
    await runToEnd(stack, id);
    const after = await fullView(stack, id);
    expect(after.status).toBe('active');
    expect(after.checks.every((c) => c.ok)).toBe(true);
    expect(await inboundCall(after)).toBe(200);
    expect(after.approval?.planDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('re-provisioning with the same plan is silent: nothing written, nothing emailed', async () => {
    const mark = stack.sandbox.journal.mark();
    const mailsBefore = mailsTo(stack, approverOf(stack)).length;
    const res = await api(stack, 'POST', '/api/integrations?reprovision=true', { body: requestFor(stack, instance) });
    expect(res.status).toBe(202);
    await runToEnd(stack, id);
    expect(productWrites(stack, mark)).toEqual([]);
    expect(mailsTo(stack, approverOf(stack)).length).toBe(mailsBefore);
    const v = await fullView(stack, id);
    expect(v.plan?.mode).toBe('silent');
    expect(v.status).toBe('active');
  });

  it('an approver outside the policy gets no link, and the change is not applied', async () => {
    const mark = stack.sandbox.journal.mark();
    const outsider = 'mallory@fabrikam.example';
    const res = await api(stack, 'POST', '/api/integrations?reprovision=true', {
      body: requestFor(stack, instance, {
        approvers: [outsider],
        options: { testEnvironment: true, grantUsers: [{ userName: 'admin', role: 'administrator' }] },
      }),
    });
    expect(res.status).toBe(202);
    await runToEnd(stack, id);
    expect(mailsTo(stack, outsider)).toEqual([]);
    expect(configWrites(stack, mark)).toEqual([]);
    const v = await fullView(stack, id);
    expect(v.status).toBe('active');
    expect(v.lastRun?.outcome).toBe('failed');
  });

  it('a changed plan (role grant, redirect URI) waits for a new approval and changes nothing before it', async () => {
    const live = await fullView(stack, id);
    const instanceUrl = serviceNowInstanceUrl(getConfig(), instance);
    const changed = requestFor(stack, instance, {
      options: {
        testEnvironment: true,
        redirectUri: `${instanceUrl}/oauth_redirect_v2.do`,
        grantUsers: [{ userName: 'admin', role: 'administrator' }],
      },
    });
    const mark = stack.sandbox.journal.mark();
    expect((await api(stack, 'POST', '/api/integrations?reprovision=true', { body: changed })).status).toBe(202);
    await runToApproval(stack, id);
    const waiting = await fullView(stack, id);
    expect(waiting.plan?.mode).toBe('staged');
    expect(waiting.plan?.digest).not.toBe(live.approval?.planDigest);
    // The live integration keeps its approved state: no write anywhere, the role not granted, the redirect URI as is.
    expect(waiting.status).toBe('active');
    expect(configWrites(stack, mark)).toEqual([]);
    const admin = records('sys_user').find((u) => u.user_name === 'admin');
    const adminRole = records('sys_user_role').find((r) => r.name === 'x_mioms_m365_assis.administrator');
    const hasGrant = () =>
      records('sys_user_has_role').some((g) => g.user === admin?.sys_id && g.role === adminRole?.sys_id);
    expect(hasGrant()).toBe(false);
    const outboundApp = () => stack.sandbox.directory.applications.get(live.created.apps.outbound.objectId);
    expect(outboundApp()?.web?.redirectUris).toEqual([`${instanceUrl}/auth_redirect.do`]);
    // The email shows the plan being approved.
    const page = await openApprovalPage(approvalLink(stack, approverOf(stack), id));
    expect(page.status).toBe(200);
    expect(page.html).toContain('x_mioms_m365_assis.administrator');

    expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
    await runToEnd(stack, id);
    const after = await fullView(stack, id);
    expect(after.status).toBe('active');
    expect(after.approval?.planDigest).toBe(waiting.plan?.digest);
    expect(hasGrant()).toBe(true);
    expect(outboundApp()?.web?.redirectUris).toEqual([`${instanceUrl}/oauth_redirect_v2.do`]);
  });

  it('a rejected staged change leaves the live integration as it was, with the rejection recorded', async () => {
    const live = await fullView(stack, id);
    const mark = stack.sandbox.journal.mark();
    const body = requestFor(stack, instance, {
      tenantName: 'Fabrikam',
      options: { testEnvironment: true, ipAllowlist: true },
    });
    expect((await api(stack, 'POST', '/api/integrations?reprovision=true', { body })).status).toBe(202);
    await runToApproval(stack, id);
    // Until a change is approved and live, the integration keeps what it was approved with.
    expect((await fullView(stack, id)).tenantName).toBe('Contoso');
    expect((await decideFromEmail(stack, approverOf(stack), id, 'reject')).status).toBe(200);
    await runToEnd(stack, id);
    expect(configWrites(stack, mark)).toEqual([]);
    const after = await fullView(stack, id);
    expect(after.status).toBe('active');
    expect(after.lastRun?.outcome).toBe('rejected');
    expect(after.approval?.planDigest).toBe(live.approval?.planDigest);
    expect(after.created).toEqual(live.created);
    expect(after.tenantName).toBe('Contoso');
  });

  it('an approved change that drops a role grant takes the grant away (activation does not only add)', async () => {
    const instanceUrl = serviceNowInstanceUrl(getConfig(), instance);
    const admin = records('sys_user').find((u) => u.user_name === 'admin');
    const adminRole = records('sys_user_role').find((r) => r.name === 'x_mioms_m365_assis.administrator');
    const hasGrant = () =>
      records('sys_user_has_role').some((g) => g.user === admin?.sys_id && g.role === adminRole?.sys_id);
    expect(hasGrant()).toBe(true);
    const body = requestFor(stack, instance, {
      options: { testEnvironment: true, redirectUri: `${instanceUrl}/oauth_redirect_v2.do` },
    });
    expect((await api(stack, 'POST', '/api/integrations?reprovision=true', { body })).status).toBe(202);
    await runToApproval(stack, id);
    expect(hasGrant()).toBe(true); // nothing changes before the approval
    // The approver is told what approving takes away.
    const page = await openApprovalPage(approvalLink(stack, approverOf(stack), id));
    expect(page.html).toContain('Taken away from the live integration');
    expect(page.html).toContain('x_mioms_m365_assis.administrator');
    expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
    await runToEnd(stack, id);
    const after = await fullView(stack, id);
    expect(after.status).toBe('active');
    expect(after.checks.every((c) => c.ok)).toBe(true);
    expect(hasGrant()).toBe(false);
    expect(Object.keys(after.created.serviceNow).filter((k) => k.includes('administrator'))).toEqual([]);
    // What the plan still has stays: the privileges and the integration user's own role.
    expect(records('sys_scope_privilege').filter((p) => p.target_name?.startsWith('oauth_entity'))).toHaveLength(2);
  });

  it('an approved change that failed before it was applied is applied by the next request, without asking again', async () => {
    const instanceUrl = serviceNowInstanceUrl(getConfig(), instance);
    const redirectUri = `${instanceUrl}/oauth_redirect_v2.do`;
    const admin = records('sys_user').find((u) => u.user_name === 'admin');
    const adminRole = records('sys_user_role').find((r) => r.name === 'x_mioms_m365_assis.administrator');
    const hasGrant = () =>
      records('sys_user_has_role').some((g) => g.user === admin?.sys_id && g.role === adminRole?.sys_id);
    const post = async (body: Record<string, unknown>) =>
      expect((await api(stack, 'POST', '/api/integrations?reprovision=true', { body })).status).toBe(202);
    // Live with the grant again.
    const withGrant = requestFor(stack, instance, {
      options: { testEnvironment: true, redirectUri, grantUsers: [{ userName: 'admin', role: 'administrator' }] },
    });
    await post(withGrant);
    await runToApproval(stack, id);
    await decideFromEmail(stack, approverOf(stack), id, 'approve');
    await runToEnd(stack, id);
    expect(hasGrant()).toBe(true);

    // A change without it is approved, then fails before it is applied (ServiceNow refuses the grant lookups).
    const without = requestFor(stack, instance, { options: { testEnvironment: true, redirectUri } });
    await post(without);
    await runToApproval(stack, id);
    stack.sandbox.faults.add({
      service: 'servicenow',
      method: 'GET',
      path: `^/${instance}/api/now/(v\\d+/)?table/sys_user_has_role`,
      action: { type: 'status', status: 400 },
    });
    await decideFromEmail(stack, approverOf(stack), id, 'approve');
    const failed = await runToEnd(stack, id);
    stack.sandbox.faults.clear();
    expect(failed.outcome).toBe('failed');
    expect((await fullView(stack, id)).status).toBe('active');
    expect(hasGrant()).toBe(true);

    // The same request again: the approved plan is applied (no new round), and the grant goes.
    await post(without);
    const resumed = await runToEnd(stack, id);
    expect(resumed.plan?.mode).toBe('resume');
    expect(resumed.outcome).toBe('active');
    expect(hasGrant()).toBe(false);
  });

  it('two re-provisionings at once start one run; the other answers 409', async () => {
    const instanceUrl = serviceNowInstanceUrl(getConfig(), instance);
    const body = requestFor(stack, instance, {
      options: { testEnvironment: true, redirectUri: `${instanceUrl}/oauth_redirect_v2.do` },
    });
    const statuses = await Promise.all(
      [0, 1].map(async () => (await api(stack, 'POST', '/api/integrations?reprovision=true', { body })).status),
    );
    expect(statuses.sort()).toEqual([202, 409]);
    await runToEnd(stack, id);
    expect((await fullView(stack, id)).status).toBe('active');
  });

  it('an approved rename replaces the provider configuration and retires the old one', async () => {
    const instanceUrl = serviceNowInstanceUrl(getConfig(), instance);
    const live = await fullView(stack, id);
    const oldProvider = live.created.serviceNow.oidcProvider;
    expect(records('oidc_provider_configuration').some((r) => r.sys_id === oldProvider)).toBe(true);
    const body = requestFor(stack, instance, {
      tenantName: 'Fabrikam',
      options: { testEnvironment: true, redirectUri: `${instanceUrl}/oauth_redirect_v2.do` },
    });
    expect((await api(stack, 'POST', '/api/integrations?reprovision=true', { body })).status).toBe(202);
    await runToApproval(stack, id);
    expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
    await runToEnd(stack, id);
    const after = await fullView(stack, id);
    expect(after.status).toBe('active');
    expect(after.checks.every((c) => c.ok)).toBe(true);
    expect(after.tenantName).toBe('Fabrikam');
    const newProvider = after.created.serviceNow.oidcProvider;
    expect(newProvider).not.toBe(oldProvider);
    expect(records('oidc_provider_configuration').some((r) => r.sys_id === oldProvider)).toBe(false);
    expect(
      records('oauth_oidc_entity').find((e) => e.client_id === after.created.apps.restApi.appId)
        ?.oidc_provider_configuration,
    ).toBe(newProvider);
  });

  it('narrowing the approvers without naming the requester is refused (nobody narrows a round down to themselves)', async () => {
    const { ticket: _ticket, ...noTicket } = requestFor(stack, 'gate00002');
    const res = await api(stack, 'POST', '/api/integrations', {
      body: { ...noTicket, approvers: [approverOf(stack)] },
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain('requestedBy or ticket');
  });

  it('a request cannot lengthen the profile secret lifetime (it may only shorten it)', async () => {
    const other = await startProvisioning(
      stack,
      requestFor(stack, 'gate00003', { options: { testEnvironment: true, secretLifetimeDays: 730 } }),
    );
    await runToApproval(stack, other);
    const v = await fullView(stack, other);
    const app = stack.sandbox.directory.applications.get(v.created.apps.outbound.objectId);
    const cred = app?.passwordCredentials[0];
    const days = (Number(new Date(cred?.endDateTime ?? 0)) - Number(new Date(cred?.startDateTime ?? 0))) / 86_400_000;
    expect(days).toBeGreaterThan(0);
    expect(days).toBeLessThanOrEqual(180);
  });

  it('a redirect URI off the instance host is refused at the edge', async () => {
    const res = await api(stack, 'POST', '/api/integrations', {
      body: requestFor(stack, 'gate00002', { options: { redirectUri: 'https://attacker.example/callback' } }),
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain('options.redirectUri');
  });

  it('one tenant, one id: the tenant id names the same integration as its domain; other tenants are refused', async () => {
    const byId = await api(stack, 'POST', '/api/integrations', {
      body: requestFor(stack, instance, { tenant: getConfig().tenantId, tenantName: 'Contoso' }),
    });
    expect(byId.status).toBe(200);
    expect((byId.json as { id: string }).id).toBe(id);
    const foreign = await api(stack, 'POST', '/api/integrations', {
      body: requestFor(stack, 'gate00002', { tenant: '11111111-2222-3333-4444-555555555555', tenantName: 'Other' }),
    });
    expect(foreign.status).toBe(400);
    expect(foreign.text).toContain('not served');
    const unknown = await api(stack, 'POST', '/api/integrations', {
      body: requestFor(stack, 'gate00002', { tenant: 'unknown-tenant.example' }),
    });
    expect(unknown.status).toBe(400);
    // Nothing but the control plane's own trust (the bootstrap script's OIDC entity) is on the instance.
    const audience = stack.sandbox.directory.controlPlaneAudience.appId;
    expect(
      stack.sandbox.servicenow.records('gate00002', 'oauth_entity').filter((r) => r.values.client_id !== audience),
    ).toEqual([]);
  });
});
