/**
 * happy path: through the HTTP API, the real DurableClient and the local Functions host against
 * the sandbox, a provisioning ends with every check passing, ServiceNow accepts the inbound token as the integration
 * user, the status API shows what was created, work notes land on the ticket, one email goes to each approver, and
 * a re-run (plain or `?reprovision=true`) writes nothing to Graph, Key Vault or ServiceNow.
 */
import { getDeps } from '../../src/app/deps';
import type { ApprovalPlan } from '../../src/contracts/provision';
import { startLocalStack, type LocalStack } from '../../sandbox/stack';
import {
  api,
  decideFromEmail,
  instanceIdOf,
  mailsTo,
  openIncident,
  productWrites,
  provisionRequest,
  waitForApproval,
  waitForEnd,
  type ApiResponse,
  type IntegrationView,
} from './api-driver';

const SECRET_NAME = /^sn-[a-z0-9-]+-(outbound|restapi|restuser)$/;

describe('provisioning end to end: happy path', () => {
  let stack: LocalStack;
  let instance: string;
  let id: string;
  let request: Record<string, unknown>;
  let ticket: { sysId: string; number: string };
  let approvers: string[];
  let journalStart: number;
  let started: ApiResponse;

  beforeAll(async () => {
    stack = await startLocalStack({ settings: { CHECK_RETRY_SECONDS: '1' } });
    instance = stack.env().SANDBOX_SERVICENOW_INSTANCE;
    ticket = openIncident(stack, instance);
    const domain = stack.env().SANDBOX_TENANT_DOMAIN;
    approvers = [`approver@${domain}`, `second.approver@${domain}`];
    request = provisionRequest(stack, { approvers, ticket: { table: 'incident', number: ticket.number } });
    journalStart = stack.sandbox.journal.mark();

    started = await api(stack, 'POST', '/api/integrations', { body: request });
    expect(started.status).toBe(202);
    id = (started.json as { id: string }).id;
    await waitForApproval(stack, id);
    const decided = await decideFromEmail(stack, approvers[0], id, 'approve');
    expect(decided.status).toBe(200);
    await waitForEnd(stack, id);
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('answered the start with 202 and our own status URL, never a durable management URL', async () => {
    const statusUrl = `${stack.host.baseUrl}/api/integrations/${id}`;
    expect(id).toMatch(new RegExp(`^sn-${instance}-[0-9a-f]{8}$`));
    expect(started.json).toEqual({ id, status: 'provisioning', statusUrl });
    expect(started.headers.get('location')).toBe(statusUrl);
    const view = await api(stack, 'GET', `/api/integrations/${id}`);
    expect((view.json as IntegrationView).statusUrl).toBe(statusUrl);
    for (const text of [started.text, view.text]) expect(text).not.toMatch(/runtime\/webhooks|code=|taskHub/i);
  });

  it('ends active with every check passing', async () => {
    const res = await api(stack, 'GET', `/api/integrations/${id}`);
    expect(res.status).toBe(200);
    const view = res.json as IntegrationView;
    expect(view.outcome).toBe('active');
    expect(view.status).toBe('active');
    expect(view.error).toBeUndefined();
    expect(view.checks.length).toBeGreaterThanOrEqual(4);
    for (const c of view.checks)
      expect({ name: c.name, ok: c.ok, hint: c.hint }).toEqual({ name: c.name, ok: true, hint: undefined });
    expect(view.orchestration?.runtimeStatus).toBe('Completed');
    // The plan the run applied: named by digest in the run's (compact) status, served from what the run kept.
    const { plan, approval } = res.json as {
      plan: { digest: string; mode: string; summary: ApprovalPlan };
      approval?: { planDigest?: string };
    };
    expect(plan.digest).toBe(approval?.planDigest);
    expect(plan.mode).toBe('first');
    expect(plan.summary.apps.map((a) => [a.role, a.appId])).toEqual(
      Object.entries(view.created.apps).map(([role, a]) => [role, a.appId]),
    );
  });

  it('the sandbox ServiceNow accepted the inbound token as the integration user', async () => {
    const view = (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
    const restUser = view.created.apps.restUser;
    expect(restUser).toBeDefined();
    const accepted = stack.sandbox.journal
      .entries({ service: 'servicenow', since: journalStart })
      .filter(
        (e) =>
          e.method === 'GET' &&
          e.path === `/${instance}/api/now/table/incident` &&
          e.authSubject === `user:${restUser.appId}` &&
          e.status === 200,
      );
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    // And that user is the integration user the activity created (user_name = Rest User app id).
    const users = stack.sandbox.servicenow
      .records(instance, 'sys_user')
      .filter((u) => u.values.user_name === restUser.appId);
    expect(users).toHaveLength(1);
  });

  it("wrote each record's secret field once, after every inert record existed, with the run's Key Vault version", async () => {
    const view = (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
    const calls = stack.sandbox.journal.entries({ service: 'servicenow', since: journalStart });
    const secretWrites = calls.filter((e) => e.method === 'PATCH' && e.query.sysparm_input_display_value === 'true');
    // The outbound provider (Outbound app) and the OIDC entity (REST API app): one write each.
    expect(secretWrites.map((e) => e.path.split('/').slice(-2)[0]).sort()).toEqual([
      'oauth_entity',
      'oauth_oidc_entity',
    ]);
    // The records that reference them were inserted before any secret was written: nothing waited for those PATCHes.
    const firstWrite = calls.indexOf(secretWrites[0]);
    for (const table of ['oauth_entity_profile', 'oauth_oidc_entity', 'sys_user']) {
      const insert = calls.findIndex((e) => e.method === 'POST' && e.path.endsWith(`/table/${table}`));
      expect({ table, before: insert >= 0 && insert < firstWrite }).toEqual({ table, before: true });
    }
    // The exact version the run stored (its registry entry), not merely the latest.
    for (const [role, table, key] of [
      ['outbound', 'oauth_entity', 'outboundProvider'],
      ['restApi', 'oauth_oidc_entity', 'oidcEntity'],
    ] as const) {
      const app = view.created.apps[role];
      expect(app?.secretVersion).toBeDefined();
      const stored = await getDeps().secrets.getSecret(app.secretName, { version: app.secretVersion });
      const sysId = view.created.serviceNow[key];
      expect(stack.sandbox.servicenow.secretOf(instance, table, sysId)).toBe(stored.value);
    }
  });

  it('GET /api/integrations/{id} shows steps with times, apps, ServiceNow sys_ids, manual actions and checks', async () => {
    const view = (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
    const names = view.steps.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'preflight',
        'entra-apps',
        'secrets',
        'servicenow',
        'awaiting-approval',
        'checks',
        'active',
      ]),
    );
    for (const s of view.steps) expect(Number.isNaN(Date.parse(s.at))).toBe(false);
    expect(Object.keys(view.created.apps).sort()).toEqual(['outbound', 'restApi', 'restUser']);
    for (const [role, app] of Object.entries(view.created.apps)) {
      expect(app.appId).toMatch(/^[0-9a-f-]{36}$/);
      expect(app.objectId).toMatch(/^[0-9a-f-]{36}$/);
      expect(app.secretName).toMatch(SECRET_NAME);
      expect(app.secretName.endsWith(role.toLowerCase())).toBe(true);
      expect(app.keyId).toMatch(/^[0-9a-f-]{36}$/);
      expect(app.secretVersion).toMatch(/^[0-9a-f]{32}$/);
      expect(Number.isNaN(Date.parse(app.expiresOn ?? ''))).toBe(false);
      // The app really exists in the directory with that appId.
      const inDir = [...stack.sandbox.directory.applications.values()].find(
        (a) => a.id === app.objectId && !a.deletedAt,
      );
      expect(inDir?.appId).toBe(app.appId);
    }
    const sysIds = Object.values(view.created.serviceNow);
    expect(sysIds.length).toBeGreaterThanOrEqual(4);
    for (const sysId of sysIds) expect(sysId).toMatch(/^[0-9a-f]{32}$/);
    expect(view.pendingManualActions.length).toBeGreaterThanOrEqual(1);
    for (const a of view.pendingManualActions) expect(a.title.length).toBeGreaterThan(0);
  });

  it('GET /api/integrations lists it with its credential expiry', async () => {
    const res = await api(stack, 'GET', '/api/integrations');
    expect(res.status).toBe(200);
    const list = (
      res.json as {
        integrations: {
          id: string;
          status: string;
          credentials: { role: string; appId: string; expiresOn?: string }[];
        }[];
      }
    ).integrations;
    const mine = list.find((i) => i.id === id);
    expect(mine?.status).toBe('active');
    expect(mine?.credentials.map((c) => c.role).sort()).toEqual(['outbound', 'restApi', 'restUser']);
    for (const c of mine?.credentials ?? []) expect(Date.parse(c.expiresOn ?? '')).toBeGreaterThan(Date.now());
  });

  it('wrote a work note on the ticket for each milestone', () => {
    const notes = stack.sandbox.servicenow
      .records(instance, 'sys_journal_field')
      .map((r) => r.values)
      .filter((v) => v.element_id === ticket.sysId && v.element === 'work_notes')
      .map((v) => v.value);
    const milestones = [
      /started/i,
      /Entra app registrations ready/i,
      /ServiceNow configured/i,
      /Awaiting approval/i,
      /Approved by/i,
      /Connectivity checks/i,
    ];
    for (const m of milestones) expect(notes.some((n) => m.test(n))).toBe(true);
  });

  it('sent exactly one approval email to each approver', () => {
    for (const a of approvers) {
      const approvals = mailsTo(stack, a).filter((m) =>
        JSON.stringify(m.message).includes(`/api/approvals/${instanceIdOf(id)}`),
      );
      expect(approvals).toHaveLength(1);
    }
  });

  it('a repeated POST answers 200 with the status and writes nothing', async () => {
    const mark = stack.sandbox.journal.mark();
    const outbox = stack.sandbox.graph.outbox.length;
    const again = await api(stack, 'POST', '/api/integrations', { body: request });
    expect(again.status).toBe(200);
    expect((again.json as IntegrationView).id).toBe(id);
    expect((again.json as IntegrationView).outcome).toBe('active');
    expect(productWrites(stack, mark)).toEqual([]);
    expect(stack.sandbox.graph.outbox).toHaveLength(outbox);
  });

  it('?reprovision=true answers 202, re-runs the steps and checks, and writes nothing', async () => {
    // Virtual time stands still between the runs; a real re-run starts seconds later at the least. ServiceNow keeps
    // whole seconds, and a record created in the second a run starts counts as that run's (at-least-once re-runs).
    await stack.host.advanceTime(2_000);
    const mark = stack.sandbox.journal.mark();
    const re = await api(stack, 'POST', '/api/integrations?reprovision=true', { body: request });
    expect(re.status).toBe(202);
    const end = await waitForEnd(stack, id);
    expect(end.runtimeStatus).toBe('Completed');
    const view = (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
    expect(view.outcome).toBe('active');
    expect(view.checks.length).toBeGreaterThanOrEqual(4);
    expect(view.checks.every((c) => c.ok)).toBe(true);
    // It really re-ran: the checks called Entra and ServiceNow again after the mark.
    expect(stack.sandbox.journal.entries({ service: 'servicenow', since: mark }).length).toBeGreaterThan(0);
    expect(productWrites(stack, mark)).toEqual([]);
  });
});
