/**
 * safety properties, through the HTTP API, the real DurableClient and the local Functions host
 * against the sandbox, with EVERY activity executed twice (at-least-once delivery):
 * - nothing is duplicated (apps, credentials, Key Vault versions, ServiceNow records, work notes, approval emails);
 * - the client secrets and the ServiceNow admin password appear nowhere but on the channels that must carry them;
 * - a POST while running answers 409; mail-scanner GET/HEAD decide nothing; forged, expired, replayed and
 *   cross-instance approval tokens are refused with a clear page and change nothing;
 * - a wrong `user_claim` on the OIDC provider configuration fails the inbound check with the user_claim hint.
 * One ServiceNow instance per scenario gives each its own integration id (the id derives from tenant + instance).
 */
import { leaks, secretFreePlaces } from '../helpers/canary';
import { randomBytes } from 'node:crypto';
import { format } from 'node:util';

import { APPROVAL_EVENT } from '../../src/contracts/provision';
import { createDeps, type Deps } from '../../src/app/deps';
import { integrationTag, PRODUCT_TAG } from '../../src/activities/entra-graph';
import { getConfig } from '../../src/config';
import { getProfile } from '../../src/profiles';
import type { ProvisionStatus } from '../../src/orchestrators/provision-types';
import { runDetail, type RunDetail } from './stack-driver';
import { startLocalStack, type LocalStack } from '../../sandbox/stack';
import {
  api,
  approvalLink,
  customStatus,
  decideFromEmail,
  instanceIdOf,
  mailsTo,
  openApprovalPage,
  openIncident,
  postDecision,
  provisionRequest,
  receivedHttp,
  waitForApproval,
  waitForEnd,
  type IntegrationView,
} from './api-driver';

const [A, B, C, D] = ['dev00000', 'dev00001', 'dev00002', 'dev00003'];

describe('provisioning end to end: safety (every activity runs twice)', () => {
  let stack: LocalStack;
  let deps: Deps;
  let domain: string;
  /** Console output of the product (createLogger's console sink) during this file, for the canary scan. */
  const consoleLines: string[] = [];
  const consoleSpies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const)
      consoleSpies.push(
        jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
          consoleLines.push(format(...args));
        }),
      );
    stack = await startLocalStack({
      atLeastOnce: true,
      servicenow: { instances: [A, B, C, D] },
      settings: { CHECK_ATTEMPTS: '2', CHECK_RETRY_SECONDS: '1' },
    });
    // Every instance trusts the Function identity's tokens (the sandbox applies the bootstrap script's records):
    // no ServiceNow credential is stored.
    domain = stack.env().SANDBOX_TENANT_DOMAIN;
    deps = createDeps(getConfig());
  });

  afterAll(async () => {
    await stack?.close();
    for (const spy of consoleSpies) spy.mockRestore();
  });

  const start = async (instance: string, extra: Record<string, unknown> = {}) => {
    const res = await api(stack, 'POST', '/api/integrations', {
      body: provisionRequest(stack, { serviceNowInstance: instance, ...extra }),
    });
    expect(res.status).toBe(202);
    return (res.json as { id: string }).id;
  };
  const view = async (id: string) => (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
  const stillWaiting = (id: string) => {
    const s = stack.host.durable.getStatus(instanceIdOf(id));
    expect(s?.runtimeStatus).toBe('Running');
    expect(stack.host.durable.waitingFor(instanceIdOf(id))).toContain(APPROVAL_EVENT);
    expect((s && customStatus(s))?.decision).toBeUndefined();
  };

  describe('a full provisioning with at-least-once activities', () => {
    let id: string;
    let approvers: string[];
    let ticket: { sysId: string; number: string };
    let final: ProvisionStatus & RunDetail;

    beforeAll(async () => {
      approvers = [`approver@${domain}`, `second.approver@${domain}`];
      ticket = openIncident(stack, A);
      id = await start(A, { approvers, ticket: { table: 'incident', sysId: ticket.sysId } });
      await waitForApproval(stack, id);
      expect((await decideFromEmail(stack, approvers[1], id)).status).toBe(200);
      const end = await waitForEnd(stack, id);
      final = { ...(end.output as ProvisionStatus), ...runDetail(stack, instanceIdOf(id)) };
    });

    it('still ends active with every check passing', () => {
      expect(final.outcome).toBe('active');
      expect(final.checks.length).toBeGreaterThanOrEqual(4);
      expect(final.checks.filter((c) => !c.ok)).toEqual([]);
      // The engine really delivered every activity twice.
      const runs = stack.host.durable.activityRuns.filter((r) => r.instanceId === instanceIdOf(id));
      const perTask = new Map<number, number>();
      for (const r of runs) perTask.set(r.taskId, (perTask.get(r.taskId) ?? 0) + 1);
      expect([...perTask.values()].every((n) => n === 2)).toBe(true);
    });

    it('leaves exactly three apps with our tags, one password credential each', () => {
      const ours = [...stack.sandbox.directory.applications.values()].filter(
        (a) => a.deletedAt === null && a.tags.includes(integrationTag(id)),
      );
      expect(ours).toHaveLength(3);
      for (const app of ours) {
        expect(app.tags).toContain(PRODUCT_TAG);
        expect(app.passwordCredentials).toHaveLength(1);
      }
      expect(ours.map((a) => a.appId).sort()).toEqual(final.apps.map((a) => a.appId).sort());
    });

    it('writes one Key Vault version per secret', async () => {
      expect(final.secrets).toHaveLength(3);
      for (const s of final.secrets) {
        const versions: string[] = [];
        for await (const p of deps.secrets.listPropertiesOfSecretVersions(s.secretName)) versions.push(p.version ?? '');
        expect(versions).toEqual([s.version]);
      }
    });

    it('keeps one ServiceNow record per natural key', () => {
      const profile = getProfile('m365-support-aad');
      expect(profile).toBeDefined();
      expect(final.records.length).toBeGreaterThanOrEqual(5);
      // Profile records here; the role grants (keys `grant:…`) are checked below.
      for (const rec of final.records.filter((r) => !r.key.startsWith('grant:'))) {
        const spec = profile?.serviceNow.records.find((r) => r.key === rec.key);
        const rows = stack.sandbox.servicenow.records(A, rec.table);
        const mine = rows.find((r) => r.values.sys_id === rec.sysId);
        expect(mine).toBeDefined();
        const keyColumns = Object.keys(spec?.naturalKey ?? {});
        expect(keyColumns.length).toBeGreaterThan(0);
        const same = rows.filter((r) => keyColumns.every((k) => r.values[k] === mine?.values[k]));
        expect({ key: rec.key, count: same.length }).toEqual({ key: rec.key, count: 1 });
      }
      // The integration user's role grant, once.
      const user = final.apps.find((a) => a.role === 'restUser')?.appId;
      const userRow = stack.sandbox.servicenow.records(A, 'sys_user').filter((u) => u.values.user_name === user);
      expect(userRow).toHaveLength(1);
      const grants = stack.sandbox.servicenow
        .records(A, 'sys_user_has_role')
        .filter((g) => g.values.user === userRow[0]?.values.sys_id);
      const roles = grants.map((g) => g.values.role);
      expect(roles.length).toBeGreaterThanOrEqual(1);
      expect(new Set(roles).size).toBe(roles.length);
    });

    it('writes each work note on the ticket once', () => {
      const notes = stack.sandbox.servicenow
        .records(A, 'sys_journal_field')
        .map((r) => r.values)
        .filter((v) => v.element_id === ticket.sysId && v.element === 'work_notes')
        .map((v) => v.value);
      expect(notes.length).toBeGreaterThanOrEqual(6);
      expect(new Set(notes).size).toBe(notes.length);
    });

    it('sends one approval email per approver', () => {
      for (const a of approvers) {
        const approvals = mailsTo(stack, a).filter((m) =>
          JSON.stringify(m.message).includes(`/api/approvals/${instanceIdOf(id)}`),
        );
        expect(approvals).toHaveLength(1);
      }
    });

    it('never lets a client secret or the ServiceNow admin password out of their channels (canary scan)', async () => {
      const canaries: { what: string; value: string }[] = [];
      for (const s of final.secrets) {
        const secret = await deps.secrets.getSecret(s.secretName);
        expect(secret.value?.length ?? 0).toBeGreaterThanOrEqual(16);
        canaries.push({ what: `client secret ${s.role}`, value: secret.value ?? '' });
      }
      canaries.push({ what: 'ServiceNow admin password', value: stack.sandbox.servicenow.adminPassword });
      // The API and pages once more, so the scan covers their latest answers.
      await api(stack, 'GET', `/api/integrations/${id}`);
      await api(stack, 'GET', '/api/integrations');
      await api(stack, 'POST', '/api/integrations', { body: provisionRequest(stack, { serviceNowInstance: A }) });
      await openApprovalPage(approvalLink(stack, approvers[0], id));

      const places = secretFreePlaces(stack, [instanceIdOf(id)], { consoleLines, httpResponses: receivedHttp() });
      expect(leaks(places, canaries)).toEqual([]);
      // The scan is not vacuous: the values did travel on the allowed channels.
      const raw = JSON.stringify(stack.sandbox.journal.raw());
      for (const c of canaries.slice(0, 3)) expect(raw.includes(c.value)).toBe(true);
    });
  });

  describe('approval links', () => {
    let b: string;
    let c: string;
    const approver = () => `approver@${domain}`;

    beforeAll(async () => {
      b = await start(B);
      c = await start(C);
      await waitForApproval(stack, b);
      await waitForApproval(stack, c);
    });

    it('a POST while the provisioning runs answers 409 with the status link', async () => {
      const res = await api(stack, 'POST', '/api/integrations', {
        body: provisionRequest(stack, { serviceNowInstance: B }),
      });
      expect(res.status).toBe(409);
      const statusUrl = `${stack.host.baseUrl}/api/integrations/${b}`;
      expect(res.json).toMatchObject({ id: b, statusUrl });
      expect(res.headers.get('location')).toBe(statusUrl);
      stillWaiting(b);
    });

    it('mail-scanner GET and HEAD on the link decide nothing', async () => {
      const link = approvalLink(stack, approver(), b);
      const head = await openApprovalPage(link, 'HEAD');
      expect(head.status).toBe(200);
      expect(head.html).toBe('');
      const first = await openApprovalPage(link);
      const second = await openApprovalPage(link);
      for (const p of [first, second]) {
        expect(p.status).toBe(200);
        expect(p.action).toBeDefined();
        expect(p.fields.get('token')).toBeTruthy();
      }
      await stack.host.durable.waitForIdle();
      stillWaiting(b);
    });

    it('refuses a forged token with a clear page and changes nothing', async () => {
      const link = new URL(approvalLink(stack, approver(), b));
      const real = await openApprovalPage(link.toString());
      const forged = randomBytes(32).toString('base64url');
      link.searchParams.set('token', forged);
      const page = await openApprovalPage(link.toString());
      expect(page.status).toBe(403);
      expect(page.html).toContain('This link is not valid');
      expect(page.action).toBeUndefined();
      const form = new URLSearchParams(real.fields);
      form.set('token', forged);
      form.set('decision', 'approve');
      const post = await postDecision(new URL(real.action ?? '', link).toString(), form, real.cookie);
      expect(post.status).toBe(403);
      expect(post.html).toContain('This link is not valid');
      await stack.host.durable.waitForIdle();
      stillWaiting(b);
    });

    it("refuses instance B's token on instance C's URL and changes neither", async () => {
      const bLink = new URL(approvalLink(stack, approver(), b));
      const cLink = new URL(approvalLink(stack, approver(), c));
      const crossed = new URL(cLink);
      crossed.searchParams.set('token', bLink.searchParams.get('token') ?? '');
      const page = await openApprovalPage(crossed.toString());
      expect(page.status).toBe(403);
      expect(page.html).toContain('does not belong to this request');
      // POST B's token (with a valid CSRF pair from C's own page) to C's decision URL.
      const cPage = await openApprovalPage(cLink.toString());
      const form = new URLSearchParams(cPage.fields);
      form.set('token', bLink.searchParams.get('token') ?? '');
      form.set('decision', 'reject');
      const post = await postDecision(new URL(cPage.action ?? '', cLink).toString(), form, cPage.cookie);
      expect(post.status).toBe(403);
      await stack.host.durable.waitForIdle();
      stillWaiting(b);
      stillWaiting(c);
    });

    it('refuses an expired token (the approver opens the link after the deadline) and changes nothing', async () => {
      const link = approvalLink(stack, approver(), c);
      const page = await openApprovalPage(link);
      expect(page.status).toBe(200);
      const deadline = Date.parse(
        customStatus(stack.host.durable.getStatus(instanceIdOf(c))!)?.awaiting?.deadline ?? '',
      );
      expect(Number.isNaN(deadline)).toBe(false);
      // The token store judges expiry by the wall clock (getDeps() uses real time), so only Date is faked here: an
      // hour past the deadline. Durable timers are virtual and fire only on advanceTime, so the instance still waits.
      jest.useFakeTimers({
        now: deadline + 60 * 60_000,
        advanceTimers: true,
        doNotFake: [
          'hrtime',
          'nextTick',
          'performance',
          'queueMicrotask',
          'requestAnimationFrame',
          'cancelAnimationFrame',
          'requestIdleCallback',
          'cancelIdleCallback',
          'setImmediate',
          'clearImmediate',
          'setInterval',
          'clearInterval',
          'setTimeout',
          'clearTimeout',
        ],
      });
      try {
        const late = await openApprovalPage(link);
        expect(late.status).toBe(410);
        expect(late.html).toContain('This link has expired');
        const form = new URLSearchParams(page.fields);
        form.set('decision', 'approve');
        const post = await postDecision(new URL(page.action ?? '', link).toString(), form, page.cookie);
        expect(post.status).toBe(410);
        expect(post.html).toContain('This link has expired');
      } finally {
        jest.useRealTimers();
      }
      await stack.host.durable.waitForIdle();
      stillWaiting(c);
    });

    it('decides once with the real token; a replay is refused and changes nothing', async () => {
      const link = approvalLink(stack, approver(), b);
      const page = await openApprovalPage(link);
      const form = new URLSearchParams(page.fields);
      form.set('decision', 'approve');
      const target = new URL(page.action ?? '', link).toString();
      const first = await postDecision(target, form, page.cookie);
      expect(first.status).toBe(200);
      form.set('decision', 'reject');
      const replay = await postDecision(target, form, page.cookie);
      expect(replay.status).toBe(410);
      expect(replay.html).toContain('already used');
      const end = await waitForEnd(stack, b);
      const status = end.output as ProvisionStatus;
      expect(status.decision).toMatchObject({ decision: 'approve', approver: approver() });
      expect(status.outcome).toBe('active');
      expect((await view(b)).outcome).toBe('active');
      // C was never decided by any of the tokens above.
      stillWaiting(c);
    });
  });

  describe('a wrong user_claim in ServiceNow', () => {
    /** Lets the check retries (virtual durable timers) fire until the instance ends. */
    const finish = async (id: string) => {
      await stack.host.durable.waitForIdle();
      for (let i = 0; i < 10 && stack.host.durable.getStatus(instanceIdOf(id))?.runtimeStatus === 'Running'; i++)
        await stack.host.advanceTime(2_000);
      expect(stack.host.durable.getStatus(instanceIdOf(id))?.runtimeStatus).toBe('Completed');
    };

    it('fails the inbound check with the user_claim hint', async () => {
      const id = await start(D);
      const waiting = await waitForApproval(stack, id);
      expect(customStatus(waiting)?.step).toBe('awaiting-approval');
      const oidc = runDetail(stack, instanceIdOf(id)).records.find((r) => r.table === 'oidc_provider_configuration');
      expect(oidc?.sysId).toMatch(/^[0-9a-f]{32}$/);
      // A ServiceNow admin changes the provider configuration while the approval is pending (Table API, Basic auth).
      const { adminUser, adminPassword } = stack.sandbox.servicenow;
      const res = await fetch(
        `${stack.sandbox.urls.servicenow}/${D}/api/now/table/oidc_provider_configuration/${oidc?.sysId}`,
        {
          method: 'PATCH',
          headers: {
            authorization: `Basic ${Buffer.from(`${adminUser}:${adminPassword}`).toString('base64')}`,
            'content-type': 'application/json',
            accept: 'application/json',
          },
          body: JSON.stringify({ user_claim: 'sub' }),
        },
      );
      expect(res.status).toBe(200);
      expect((await decideFromEmail(stack, `approver@${domain}`, id)).status).toBe(200);
      await finish(id);
      const result = await view(id);
      expect(result.outcome).toBe('checks-failed');
      const inbound = result.checks.find((c) => /inbound/i.test(c.name));
      expect(inbound?.ok).toBe(false);
      // The hint names the field (by its form label, "User Claim") and the value it needs; the detail the cause.
      expect(inbound?.hint ?? '').toMatch(/User Claim/);
      expect(inbound?.hint ?? '').toMatch(/appid/);
      expect(inbound?.detail ?? '').toMatch(/401: user_claim 'sub'/);
      // The consistency check names the drifted field too; the outbound token and the OIDC metadata still pass.
      const consistent = result.checks.find((c) => /consistent/i.test(c.name));
      expect(consistent?.ok).toBe(false);
      expect(consistent?.detail).toMatch(/user_claim is 'sub', expected 'appid'/);
      expect(result.checks.find((c) => /outbound/i.test(c.name))?.ok).toBe(true);
      expect(result.checks.find((c) => /metadata/i.test(c.name))?.ok).toBe(true);
      expect(result.checks).toHaveLength(4);
      expect(result.status).toBe('failed');

      // The remediation the hint offers works: re-provisioning patches the one drifted field back and goes active.
      const mark = stack.sandbox.journal.mark();
      const re = await api(stack, 'POST', '/api/integrations?reprovision=true', {
        body: provisionRequest(stack, { serviceNowInstance: D }),
      });
      expect(re.status).toBe(202);
      await finish(id);
      const fixed = await view(id);
      expect(fixed.outcome).toBe('active');
      expect(fixed.checks.every((c) => c.ok)).toBe(true);
      const snWrites = stack.sandbox.journal.writes({ service: 'servicenow', since: mark });
      expect(snWrites).toHaveLength(1);
      expect(snWrites[0]?.method).toBe('PATCH');
      expect(snWrites[0]?.path).toMatch(
        new RegExp(`^/${D}/api/now/(v2/)?table/oidc_provider_configuration/${oidc?.sysId}$`),
      );
      expect(snWrites[0]?.body).toEqual({ user_claim: 'appid' });
      expect(
        stack.sandbox.journal.writes({ service: 'graph', since: mark }).every((w) => w.path.endsWith('/sendMail')),
      ).toBe(true);
      expect(stack.sandbox.journal.writes({ service: 'keyvault', since: mark })).toEqual([]);
    });
  });
});
