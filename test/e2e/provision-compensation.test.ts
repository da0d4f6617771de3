/**
 * reject and deadline end with the documented compensation, and a removal
 * that fails during compensation is reported as an orphan with its id. Through the HTTP API, the emailed approval
 * link, the real DurableClient and the local host, against the sandbox (virtual durable timers).
 */
import type { LocalStack } from '../../sandbox/stack';
import { integrationIdFor } from '../../src/api/integration-request';
import {
  appRemoved,
  approverOf,
  createdBy,
  decideFromEmail,
  deletesSince,
  mails,
  recordExists,
  reportMails,
  requestFor,
  runToApproval,
  runToEnd,
  type RunDetail,
  secretState,
  startProvisioning,
  startStackFor,
  view,
  withSettings,
  workNotes,
} from './stack-driver';

const MINUTE = 60_000;
const INSTANCES = ['dev00000', 'comp-reject', 'comp-rollback', 'comp-keep', 'comp-orphan-app', 'comp-orphan-kv'];

jest.setTimeout(120_000);

describe('provisioning compensation (reject, deadline, orphans)', () => {
  let stack: LocalStack;
  let approver: string;

  beforeAll(async () => {
    stack = await startStackFor(INSTANCES);
    approver = approverOf(stack);
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** Everything this run created is gone: apps deleted, secrets soft-deleted, ServiceNow records removed. */
  async function expectAllRemoved(instance: string, before: RunDetail) {
    const created = createdBy(before);
    expect(created.apps).toHaveLength(3);
    expect(created.secrets).toHaveLength(3);
    for (const app of created.apps) expect(appRemoved(stack, app.objectId)).toBe(true);
    for (const s of created.secrets) expect(await secretState(s.secretName)).toBe('soft-deleted');
    for (const r of created.records) expect(recordExists(stack, instance, r.table, r.sysId!)).toBe(false);
  }

  describe('reject', () => {
    const instance = 'comp-reject';
    let oidcSysId: string;

    beforeAll(async () => {
      // A pre-existing provider configuration with the profile's natural key and correct values: re-used, never removed
      // (the ownership ledger has no creation of it by any run of this integration).
      const id = integrationIdFor(stack.env().AZURE_TENANT_ID, instance, 'm365-support-aad');
      oidcSysId = stack.sandbox.servicenow.seedRecord(instance, 'oidc_provider_configuration', {
        name: `Contoso Azure (${id})`,
        oidc_url: `${stack.env().ENTRA_AUTHORITY_HOST}/${stack.env().AZURE_TENANT_ID}/.well-known/openid-configuration`,
        user_claim: 'appid',
        user_field: 'user_name',
        enable_jti_verification: 'false',
      });
    });

    it('removes everything this integration created and nothing that existed before', async () => {
      const id = await startProvisioning(stack, requestFor(stack, instance));
      const before = await runToApproval(stack, id);
      const oidc = before.records.find((r) => r.table === 'oidc_provider_configuration');
      expect(oidc).toMatchObject({ sysId: oidcSysId, created: false });
      const created = createdBy(before);
      expect(created.secrets).toHaveLength(3);
      // The inert records but the adopted provider configuration (privileges and grants come with the activation).
      expect(created.records.length).toBeGreaterThanOrEqual(4);
      const roleSysIds = stack.sandbox.servicenow.records(instance, 'sys_user_role').map((r) => r.values.sys_id);

      const decided = await decideFromEmail(stack, approver, id, 'reject');
      expect(decided.status).toBe(200);
      const out = await runToEnd(stack, id);

      expect(out.outcome).toBe('rejected');
      expect(out.decision).toMatchObject({ decision: 'reject', approver });
      expect(out.orphans).toEqual([]);
      await expectAllRemoved(instance, before);
      // Pre-existing objects stay: the re-used provider configuration and the roles.
      expect(recordExists(stack, instance, 'oidc_provider_configuration', oidcSysId)).toBe(true);
      expect(stack.sandbox.servicenow.records(instance, 'sys_user_role').map((r) => r.values.sys_id)).toEqual(
        roleSysIds,
      );

      const v = await view(stack, id);
      expect(v).toMatchObject({ status: 'rejected', outcome: 'rejected', orphans: [] });
      const reports = reportMails(stack, approver, id);
      expect(reports.map((m) => m.subject)).toEqual([`ServiceNow integration ${id}: rejected`]);
      const notes = workNotes(stack, instance);
      expect(notes.some((n) => n.startsWith(`Rejected by ${approver}`))).toBe(true);
      expect(notes).toContain('Provisioning finished: rejected.');
    });
  });

  describe('approval deadline', () => {
    it('rolls back by default when nobody decides, after one reminder per interval', async () => {
      const instance = 'comp-rollback';
      const id = await withSettings({ APPROVAL_TIMEOUT_MINUTES: '15', APPROVAL_REMINDER_MINUTES: '5' }, () =>
        startProvisioning(stack, requestFor(stack, instance)),
      );
      const before = await runToApproval(stack, id);
      expect(before.awaiting?.reminders).toBe(0);
      const approvalMails = () => mails(stack, approver, id).filter((m) => m.subject.includes('Approve'));
      expect(approvalMails().map((m) => m.subject)).toEqual([`Approve ServiceNow integration ${id}`]);

      await stack.host.advanceTime(5 * MINUTE);
      expect(approvalMails().map((m) => m.subject)).toEqual([
        `Approve ServiceNow integration ${id}`,
        `Reminder: Approve ServiceNow integration ${id}`,
      ]);
      await stack.host.advanceTime(5 * MINUTE);
      expect(approvalMails()).toHaveLength(3);
      expect(reportMails(stack, approver, id)).toEqual([]);

      await stack.host.advanceTime(5 * MINUTE);
      const out = await runToEnd(stack, id);
      expect(out.outcome).toBe('expired');
      expect(out.decision).toBeUndefined();
      expect(approvalMails()).toHaveLength(3); // no reminder at the deadline itself
      await expectAllRemoved(instance, before);
      expect((await view(stack, id)).status).toBe('expired');
      expect(reportMails(stack, approver, id).map((m) => m.subject)).toEqual([`ServiceNow integration ${id}: expired`]);
      expect(workNotes(stack, instance)).toContain('No approval decision by the deadline; rolling back.');
    });

    it('keeps everything and marks the integration expired with APPROVAL_DEADLINE_ACTION=keep', async () => {
      const instance = 'comp-keep';
      const id = await withSettings(
        { APPROVAL_TIMEOUT_MINUTES: '10', APPROVAL_REMINDER_MINUTES: '60', APPROVAL_DEADLINE_ACTION: 'keep' },
        () => startProvisioning(stack, requestFor(stack, instance)),
      );
      const before = await runToApproval(stack, id);
      const mark = stack.sandbox.journal.mark();
      await stack.host.advanceTime(10 * MINUTE);
      const out = await runToEnd(stack, id);

      expect(out.outcome).toBe('expired');
      expect(deletesSince(stack, mark)).toEqual([]);
      const created = createdBy(before);
      for (const app of created.apps) expect(appRemoved(stack, app.objectId)).toBe(false);
      for (const s of created.secrets) expect(await secretState(s.secretName)).toBe('live');
      for (const r of created.records) expect(recordExists(stack, instance, r.table, r.sysId!)).toBe(true);
      expect(out.counts.created).toBe(before.counts.created);
      // The deadline is shorter than the reminder interval: no reminder went out.
      expect(mails(stack, approver, id).filter((m) => m.subject.startsWith('Reminder'))).toEqual([]);
      expect((await view(stack, id)).status).toBe('expired');
      expect(workNotes(stack, instance)).toContain(
        'No approval decision by the deadline; kept inactive, marked expired.',
      );
    });
  });

  describe('orphans', () => {
    it('reports an app whose deletion Graph refuses, with its ids, and still removes everything else', async () => {
      const instance = 'comp-orphan-app';
      const id = await startProvisioning(stack, requestFor(stack, instance));
      const before = await runToApproval(stack, id);
      const victim = createdBy(before).apps.find((a) => a.role === 'restApi')!;
      stack.sandbox.faults.add({
        service: 'graph',
        method: 'DELETE',
        path: `/applications/${victim.objectId}$`,
        action: { type: 'status', status: 403 },
      });

      await decideFromEmail(stack, approver, id, 'reject');
      const out = await runToEnd(stack, id);

      expect(out.outcome).toBe('rejected');
      expect(out.orphans).toEqual([
        {
          object: { kind: 'app', role: 'restApi', objectId: victim.objectId, appId: victim.appId },
          reason: expect.any(String) as string,
        },
      ]);
      expect(appRemoved(stack, victim.objectId)).toBe(false);
      const rest = { ...before, apps: before.apps.filter((a) => a.objectId !== victim.objectId) };
      for (const app of createdBy(rest).apps) expect(appRemoved(stack, app.objectId)).toBe(true);
      for (const s of createdBy(before).secrets) expect(await secretState(s.secretName)).toBe('soft-deleted');
      for (const r of createdBy(before).records) expect(recordExists(stack, instance, r.table, r.sysId!)).toBe(false);

      const v = await view(stack, id);
      expect(v.orphans.map((o) => o.object.objectId)).toEqual([victim.objectId]);
      const [report] = reportMails(stack, approver, id);
      expect(report.body).toContain(victim.objectId);
      expect(report.body).toContain(victim.appId);
      expect(workNotes(stack, instance).at(-1)).toContain(victim.appId);
    });

    it('reports a Key Vault secret whose deletion is refused and still removes everything else', async () => {
      const instance = 'comp-orphan-kv';
      const id = await startProvisioning(stack, requestFor(stack, instance));
      const before = await runToApproval(stack, id);
      const victim = createdBy(before).secrets.find((s) => s.role === 'outbound')!;
      stack.sandbox.faults.add({
        service: 'keyvault',
        method: 'DELETE',
        path: `/secrets/${victim.secretName}$`,
        action: { type: 'status', status: 403 },
      });

      await decideFromEmail(stack, approver, id, 'reject');
      const out = await runToEnd(stack, id);

      expect(out.outcome).toBe('rejected');
      expect(out.orphans).toEqual([
        {
          object: expect.objectContaining({
            kind: 'secret',
            role: 'outbound',
            secretName: victim.secretName,
          }) as object,
          reason: expect.any(String) as string,
        },
      ]);
      // Its deletion was refused: the version this run added is disabled instead, and the secret stays.
      expect(await secretState(victim.secretName)).toBe('disabled');
      for (const s of createdBy(before).secrets.filter((x) => x !== victim))
        expect(await secretState(s.secretName)).toBe('soft-deleted');
      for (const app of createdBy(before).apps) expect(appRemoved(stack, app.objectId)).toBe(true);
      for (const r of createdBy(before).records) expect(recordExists(stack, instance, r.table, r.sysId!)).toBe(false);
      const [report] = reportMails(stack, approver, id);
      expect(report.body).toContain(victim.secretName);
      expect((await view(stack, id)).orphans).toHaveLength(1);
    });
  });
});
