/**
 * a failure injected at each step ends `failed` with the compensation of exactly what had been
 * created before the failure. Faults are non-retriable statuses (the activity returns a failure) or
 * retriable ones that outlast the durable retry policy (virtual time is advanced through the retries). A 403 from
 * ServiceNow is a manual action, not a failure (servicenow-api.md §2.9); a failed connectivity check ends
 * `checks-failed` without a rollback (the integration is kept for a person to fix).
 */
import type { LocalStack } from '../../sandbox/stack';
import { integrationIdFor } from '../../src/api/integration-request';
import type { ProvisionStatus } from '../../src/orchestrators/provision-types';
import {
  appRemoved,
  approverOf,
  decideFromEmail,
  deletesSince,
  recordExists,
  reportMails,
  requestFor,
  runToApproval,
  runToEnd,
  secretState,
  startProvisioning,
  startStackFor,
  view,
  workNotes,
} from './stack-driver';

const RECORD_TABLES = [
  'oauth_entity',
  'oauth_entity_profile',
  'oidc_provider_configuration',
  'oauth_oidc_entity',
  'sys_user',
  'sys_scope_privilege',
  'sys_user_has_role',
] as const;
/**
 * What a run created when the insert into a table fails. Before the approval the records go in two waves: the outbound
 * provider, the OIDC provider configuration and the integration user at once, then the outbound profile and the OIDC
 * entity (they reference the first two). Activation adds the cross-scope privileges, then the role grant.
 */
const WAVE_1 = ['oauth_entity', 'oidc_provider_configuration', 'sys_user'];
const WAVE_2 = ['oauth_entity_profile', 'oauth_oidc_entity'];
const without = (list: string[], t: string) => list.filter((x) => x !== t);
const CREATED_BEFORE: Record<(typeof RECORD_TABLES)[number], string[]> = {
  oauth_entity: without(WAVE_1, 'oauth_entity'),
  oidc_provider_configuration: without(WAVE_1, 'oidc_provider_configuration'),
  sys_user: without(WAVE_1, 'sys_user'),
  oauth_entity_profile: [...WAVE_1, ...without(WAVE_2, 'oauth_entity_profile')],
  oauth_oidc_entity: [...WAVE_1, ...without(WAVE_2, 'oauth_oidc_entity')],
  sys_scope_privilege: [...WAVE_1, ...WAVE_2],
  sys_user_has_role: [...WAVE_1, ...WAVE_2, 'sys_scope_privilege'],
};
const ROLES = ['outbound', 'restApi', 'restUser'];
const ACTIVATION_TABLES: readonly string[] = ['sys_scope_privilege', 'sys_user_has_role'];
const NO_CREDENTIALS = 'fail-preflight';
const INSTANCES = [
  'dev00000',
  NO_CREDENTIALS,
  'fail-apps',
  'fail-secrets',
  ...RECORD_TABLES.map((t) => `fail-${t.replace(/_/g, '-')}`),
  'fail-sn-429',
  'manual-sn-403',
  'fail-mail',
  'fail-checks',
];

jest.setTimeout(120_000);

describe('provisioning with a failure injected at each step', () => {
  let stack: LocalStack;
  let approver: string;

  beforeAll(async () => {
    stack = await startStackFor(INSTANCES, {}, [NO_CREDENTIALS]);
    approver = approverOf(stack);
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** The integration id the product derives for `instance` (known before the request, to aim faults at it). */
  const idFor = (instance: string) => integrationIdFor(stack.env().AZURE_TENANT_ID, instance, 'm365-support-aad');

  /** Entra apps of the integration that exist (live or deleted), found by the uniqueName the product derives. */
  const appsOf = (id: string) =>
    [...stack.sandbox.directory.applications.values()].filter((a) => a.uniqueName?.startsWith(id.toLowerCase()));

  /** sys_ids of ServiceNow records created on `instance` since `mark` (201 answers to Table API POSTs). */
  const createdRecords = (instance: string, mark: number) =>
    stack.sandbox.journal
      .raw({ service: 'servicenow', since: mark })
      .filter(
        (e) =>
          e.method === 'POST' &&
          e.status === 201 &&
          /^\/[^/]+\/api\/now\/(v\d+\/)?table\//.test(e.path) &&
          e.path.startsWith(`/${instance}/`),
      )
      .map((e) => ({
        table: e.path.split('/').pop()!,
        sysId: (JSON.parse(e.rawResponseBody) as { result: { sys_id: string } }).result.sys_id,
      }))
      .filter((r) => r.table !== 'sys_journal_field');

  /** Asserts the failed outcome and that everything created before the failure, and only that, was removed. */
  async function expectFailedAndCompensated(instance: string, id: string, mark: number, errorPattern: RegExp) {
    const out = await runToEnd(stack, id);
    // What the run created, from the sandbox's side (deleted apps stay in the directory's deleted items).
    const created = createdRecords(instance, mark);
    const apps = appsOf(id);

    expect(out.outcome).toBe('failed');
    expect(out.error).toMatch(errorPattern);
    expect(out.orphans).toEqual([]);
    // Lists of what is left, so a failure names the leftovers.
    expect(apps.filter((a) => !appRemoved(stack, a.id)).map((a) => a.uniqueName)).toEqual([]);
    const liveSecrets: string[] = [];
    for (const role of ROLES) {
      const name = `${id}-${role}`.toLowerCase();
      if ((await secretState(name)) === 'live') liveSecrets.push(name);
    }
    expect(liveSecrets).toEqual([]);
    expect(created.filter((r) => recordExists(stack, instance, r.table, r.sysId))).toEqual([]);
    // Compensation deleted only what this run created.
    const deleted = deletesSince(stack, mark);
    const mine = new Set([
      ...apps.map((a) => a.id),
      ...created.map((r) => r.sysId),
      ...ROLES.map((r) => `${id}-${r}`.toLowerCase()),
    ]);
    expect(deleted.map((d) => `${d.service} ${d.path}`).filter((d) => !mine.has(d.split('/').pop()!))).toEqual([]);

    const v = await view(stack, id);
    expect(v).toMatchObject({ status: 'failed', outcome: 'failed' });
    expect(reportMails(stack, approver, id).map((m) => m.subject)).toEqual([`ServiceNow integration ${id}: failed`]);
    return { out, apps, created };
  }

  describe('preflight (the instance does not trust the control plane: machine user deactivated)', () => {
    let id: string;
    let mark: number;
    let out: ProvisionStatus;

    beforeAll(async () => {
      mark = stack.sandbox.journal.mark();
      id = await startProvisioning(stack, requestFor(stack, NO_CREDENTIALS));
      out = await runToEnd(stack, id);
    });

    it('fails before creating anything, and removes nothing', async () => {
      expect(out.outcome).toBe('failed');
      expect(out.steps.map((s) => s.name)).toEqual(['preflight', 'compensating', 'failed']);
      expect(out.counts.created).toBe(0);
      expect(appsOf(id)).toEqual([]);
      const writes = stack.sandbox.journal
        .writes({ since: mark })
        .filter((e) => ['graph', 'keyvault', 'servicenow'].includes(e.service))
        .filter((e) => !e.path.endsWith('/sendMail'));
      expect(writes).toEqual([]);
      expect((await view(stack, id)).status).toBe('failed');
      expect(reportMails(stack, approver, id).map((m) => m.subject)).toEqual([`ServiceNow integration ${id}: failed`]);
    });

    it('reports every problem it found (status, view and report email)', async () => {
      const v = await view(stack, id);
      const [report] = reportMails(stack, approver, id);
      // The email is HTML: compare its text with entities decoded.
      const decoded = report?.body
        ?.replace(/&#39;/g, "'")
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&');
      for (const text of [out.error, v.error, decoded]) {
        expect(text).toMatch(/preflight found 2 problem\(s\)/);
        expect(text).toContain(`rejected the app's Entra token`);
        expect(text).toContain(`/api/servicenow/bootstrap?instance=${NO_CREDENTIALS}`);
      }
    });
  });

  it('Entra apps: a refused creation rolls back the apps that were created', async () => {
    const instance = 'fail-apps';
    const mark = stack.sandbox.journal.mark();
    const id = idFor(instance);
    // Graph refuses to create the outbound app (403, not retried); the two other apps are created in parallel.
    stack.sandbox.faults.add({
      service: 'graph',
      method: 'PATCH',
      path: `/applications\\(uniqueName='${id}-outbound'\\)$`,
      action: { type: 'status', status: 403 },
    });
    expect(await startProvisioning(stack, requestFor(stack, instance))).toBe(id);
    const { apps } = await expectFailedAndCompensated(instance, id, mark, /^Entra app: /);
    // One creation was refused; the other two apps were created, and must be gone again.
    expect(apps.length).toBe(2);
    expect(createdRecords(instance, mark)).toEqual([]);
  });

  it('secrets: a refused Key Vault write rolls back the apps and the secrets written', async () => {
    const instance = 'fail-secrets';
    const mark = stack.sandbox.journal.mark();
    const id = idFor(instance);
    stack.sandbox.faults.add({
      service: 'keyvault',
      method: 'PUT',
      path: `/secrets/${id}-outbound$`,
      action: { type: 'status', status: 403 },
    });
    expect(await startProvisioning(stack, requestFor(stack, instance))).toBe(id);
    await runToEnd(stack, id);
    // The activity itself: the credential whose value never reached Key Vault is not left on the app.
    const outbound = appsOf(id).find((a) => a.uniqueName?.endsWith('-outbound'));
    expect(outbound?.passwordCredentials).toEqual([]);

    const { apps } = await expectFailedAndCompensated(instance, id, mark, /^client secret: /);
    expect(apps).toHaveLength(3);
    expect(createdRecords(instance, mark)).toEqual([]);
  });

  describe.each(RECORD_TABLES)('ServiceNow %s', (table) => {
    it('a 400 on its creation fails the run and removes what was created before', async () => {
      const instance = `fail-${table.replace(/_/g, '-')}`;
      const mark = stack.sandbox.journal.mark();
      stack.sandbox.faults.add({
        service: 'servicenow',
        method: 'POST',
        path: `^/${instance}/api/now/(v\\d+/)?table/${table}$`,
        action: { type: 'status', status: 400 },
      });
      const id = await startProvisioning(stack, requestFor(stack, instance));
      // Privileges and role grants grant as soon as they exist: they are written by the activation, after approval.
      if (ACTIVATION_TABLES.includes(table)) {
        await runToApproval(stack, id);
        await decideFromEmail(stack, approver, id, 'approve');
      }
      const { apps, created } = await expectFailedAndCompensated(
        instance,
        id,
        mark,
        table === 'sys_user_has_role' ? /^role incident_manager for / : new RegExp(`^ServiceNow ${table}: `),
      );
      expect(apps).toHaveLength(3);
      expect(created.every((r) => r.table !== table)).toBe(true);
      // Records are created in waves (a record after the records it references): those of earlier waves and the
      // other records of the failing record's wave were created, and removed.
      expect([...new Set(created.map((r) => r.table))].sort()).toEqual([...CREATED_BEFORE[table]].sort());
      expect(workNotes(stack, instance).some((n) => n.startsWith('Provisioning failed:'))).toBe(true);
    });
  });

  it('ServiceNow: a 429 that outlasts the durable retries fails the run and rolls back', async () => {
    const instance = 'fail-sn-429';
    const mark = stack.sandbox.journal.mark();
    // Retry-After beyond what the client waits in-process: each attempt fails fast and the durable retry takes over.
    const fault = stack.sandbox.faults.add({
      service: 'servicenow',
      method: 'POST',
      path: `^/${instance}/api/now/(v\\d+/)?table/oidc_provider_configuration$`,
      action: { type: 'status', status: 429, headers: { 'Retry-After': '3600' } },
    });
    const id = await startProvisioning(stack, requestFor(stack, instance));
    await expectFailedAndCompensated(instance, id, mark, /429|rate|Too Many/i);
    const attempts = stack.sandbox.faults.list().find((f) => f.id === fault.id)?.applied ?? 0;
    expect(attempts).toBeGreaterThanOrEqual(5); // RETRY.service.maxAttempts durable attempts
  });

  it('ServiceNow: a 403 on a security table becomes a manual action with exact values, not a failure', async () => {
    const instance = 'manual-sn-403';
    stack.sandbox.faults.add({
      service: 'servicenow',
      method: 'POST',
      path: `^/${instance}/api/now/(v\\d+/)?table/sys_scope_privilege$`,
      action: { type: 'status', status: 403 },
    });
    const id = await startProvisioning(stack, requestFor(stack, instance));
    await runToApproval(stack, id);
    // The privileges are written by the activation, after the approval.
    await decideFromEmail(stack, approver, id, 'approve');
    const done = await runToEnd(stack, id);
    expect(done.error).toBeUndefined();
    const privileges = done.records.filter((r) => r.table === 'sys_scope_privilege');
    expect(privileges).toHaveLength(2);
    for (const p of privileges) {
      expect(p.created).toBe(false);
      expect(p.sysId).toBeUndefined();
    }
    const v = await view(stack, id);
    const manual = v.pendingManualActions.filter((a) => a.title.includes('sys_scope_privilege'));
    expect(manual.map((a) => a.title)).toEqual([
      "ServiceNow: create sys_scope_privilege record 'scopeReadOauthEntity'",
      "ServiceNow: create sys_scope_privilege record 'scopeReadOauthEntityProfile'",
    ]);
    expect(manual[0].steps).toEqual(
      expect.arrayContaining([
        { label: 'target_name', value: 'oauth_entity' },
        { label: 'operation', value: 'read' },
        { label: 'status', value: 'allowed' },
      ]),
    );
  });

  it('approval email: a refused sendMail fails the run and rolls back everything', async () => {
    const instance = 'fail-mail';
    const mark = stack.sandbox.journal.mark();
    stack.sandbox.faults.add({
      service: 'graph',
      method: 'POST',
      path: '/sendMail$',
      action: { type: 'status', status: 403 },
      times: 1,
    });
    const id = await startProvisioning(stack, requestFor(stack, instance));
    const { apps, created } = await expectFailedAndCompensated(instance, id, mark, /^approval email: /);
    expect(apps).toHaveLength(3);
    // The five inert records (privileges and grants only come with the activation).
    expect(created.length).toBeGreaterThanOrEqual(5);
    for (const role of ROLES) expect(await secretState(`${id}-${role}`.toLowerCase())).toBe('soft-deleted');
  });

  it('checks: a failing connectivity check ends checks-failed and keeps everything', async () => {
    const instance = 'fail-checks';
    const id = await startProvisioning(stack, requestFor(stack, instance));
    const before = await runToApproval(stack, id);
    // Entra refuses every v1 client-credential token (what the outbound and inbound checks request).
    stack.sandbox.faults.add({
      service: 'entra',
      method: 'POST',
      path: '/oauth2/token$',
      action: { type: 'status', status: 401 },
    });
    const mark = stack.sandbox.journal.mark();
    await decideFromEmail(stack, approver, id, 'approve');
    const out = await runToEnd(stack, id, { stepMs: 10_000, maxAdvanceMs: 5 * 60_000 });

    expect(out.outcome).toBe('checks-failed');
    const failedChecks = out.checks.filter((c) => !c.ok).map((c) => c.name);
    expect(failedChecks.length).toBeGreaterThan(0);
    for (const c of out.checks.filter((x) => !x.ok)) expect(c.hint).toEqual(expect.any(String));
    // No rollback: nothing deleted, everything still in place.
    expect(deletesSince(stack, mark)).toEqual([]);
    for (const app of before.apps) expect(appRemoved(stack, app.objectId)).toBe(false);
    for (const s of before.secrets) expect(await secretState(s.secretName)).toBe('live');
    for (const r of before.records.filter((x) => x.sysId))
      expect(recordExists(stack, instance, r.table, r.sysId!)).toBe(true);
    const v = await view(stack, id);
    expect(v).toMatchObject({ status: 'failed', outcome: 'checks-failed' });
    expect(reportMails(stack, approver, id).map((m) => m.subject)).toEqual([
      `ServiceNow integration ${id}: checks-failed`,
    ]);
    expect(workNotes(stack, instance).some((n) => n.startsWith('Connectivity checks:') && n.includes('FAILED'))).toBe(
      true,
    );
  });
});
