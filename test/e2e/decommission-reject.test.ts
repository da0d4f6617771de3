/**
 * Decommissioning through the HTTP API, the cases that remove nothing: bad requests (400 listing every problem),
 * an unknown integration (404), a rejected decommissioning (nothing deleted in any stand-in, the previous status
 * back, rotation works again, the audit trail says so) and a new request after it (a fresh round under a new
 * instance id; the rejected round's link decides nothing).
 */
import type { LocalStack } from '../../sandbox/stack';
import type { DecommissionStatus } from '../../src/orchestrators/decommission-types';
import { getDeps } from '../../src/app/deps';
import { openApprovalPage, type IntegrationView } from './api-driver';
import {
  decideDecommission,
  decommissionInstanceId,
  decommissionMails,
  liveDirectoryObjectsOf,
  requestDecommission,
  runDecommission,
} from './decommission-driver';
import {
  api,
  approverOf,
  decideFromEmail,
  recordExists,
  requestFor,
  runToApproval,
  runToEnd,
  secretState,
  startProvisioning,
  startStackFor,
} from './stack-driver';

jest.setTimeout(180_000);

describe('decommissioning that removes nothing', () => {
  let stack: LocalStack;
  const instance = 'decom00002';

  beforeAll(async () => {
    stack = await startStackFor(['dev00000', instance]);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('answers 400 listing every problem, and 404 for an unknown integration', async () => {
    const bad = await api(stack, 'DELETE', '/api/integrations/NOT_AN_ID', {
      body: { requestedBy: 'not-an-address', reason: 5, extra: true },
    });
    expect(bad.status).toBe(400);
    const fields = (bad.json as { errors: { field: string }[] }).errors.map((p) => p.field).sort();
    expect(fields).toEqual(['(body)', 'id', 'reason', 'requestedBy']);
    const notJson = await api(stack, 'DELETE', '/api/integrations/sn-decom00002-00000000', { rawBody: '{' });
    expect(notJson.status).toBe(400);
    const tooLong = await requestDecommission(stack, 'sn-decom00002-00000000', { reason: 'x'.repeat(501) });
    expect(tooLong.status).toBe(400);
    const unknown = await requestDecommission(stack, 'sn-decom00002-00000000');
    expect(unknown.status).toBe(404);
  });

  it('a rejected decommissioning removes nothing and restores the status; a new request asks again', async () => {
    const request = requestFor(stack, instance);
    const id = await startProvisioning(stack, request);
    await runToApproval(stack, id);
    expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
    expect((await runToEnd(stack, id)).outcome).toBe('active');
    const before = (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
    const apps = Object.values(before.created.apps);
    const sysIds = Object.values(before.created.serviceNow);

    const mark = stack.sandbox.journal.mark();
    expect((await requestDecommission(stack, id, { reason: 'tenant migration' })).status).toBe(202);
    const first = decommissionInstanceId(id);
    await runDecommission(stack, first);
    // While it waits, the plan is visible on the integration.
    const waiting = (await api(stack, 'GET', `/api/integrations/${id}`)).json as {
      status: string;
      decommission: { currentStep: string; plan: { remove: string[]; keep: string[] } };
    };
    expect(waiting.status).toBe('decommissioning');
    expect(waiting.decommission.currentStep).toBe('awaiting-approval');
    expect(waiting.decommission.plan.remove.length).toBeGreaterThanOrEqual(apps.length * 2 + 5);
    expect((await decideDecommission(stack, approverOf(stack), first, 'reject')).status).toBe(200);
    const end = await runDecommission(stack, first, { throughApproval: true });
    expect((end.output as DecommissionStatus).outcome).toBe('rejected');

    // Nothing was deleted anywhere; everything is as it was.
    expect(stack.sandbox.journal.writes({ since: mark }).filter((e) => e.method === 'DELETE')).toEqual([]);
    expect(liveDirectoryObjectsOf(stack, id).apps).toHaveLength(apps.length);
    for (const app of apps) expect(await secretState(app.secretName)).toBe('live');
    const tables = [
      'oauth_entity',
      'oidc_provider_configuration',
      'oauth_oidc_entity',
      'sys_user',
      'sys_user_has_role',
    ];
    const exists = (s: string) =>
      [...tables, 'oauth_entity_profile', 'sys_scope_privilege'].some((t) => recordExists(stack, instance, t, s));
    expect(sysIds.filter((s) => !exists(s))).toEqual([]);
    const after = (await api(stack, 'GET', `/api/integrations/${id}`)).json as {
      status: string;
      decommission: { outcome: string; previousStatus: string; reason: string };
    };
    expect(after.status).toBe('active');
    expect(after.decommission).toMatchObject({
      outcome: 'rejected',
      previousStatus: 'active',
      reason: 'tenant migration',
    });
    const kinds = (await getDeps().audit.list(id)).map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['decommission-requested', 'decommission-rejected']));
    expect(kinds).not.toContain('removed');
    // A new request is a new instance with fresh links; the rejected round's links decide nothing.
    const second = `second.${approverOf(stack)}`;
    const again = await requestDecommission(stack, id);
    expect(again.status).toBe(202);
    const retry = decommissionInstanceId(id, 2);
    expect(again.json).toMatchObject({ instanceId: retry });
    await runDecommission(stack, retry);
    expect(decommissionMails(stack, approverOf(stack), retry)).toHaveLength(1);
    const oldLink = /(https?:\/\/[^"\\\s<>]+\/api\/approvals\/[^"\\\s<>]+)/.exec(
      decommissionMails(stack, second, first)[0].body,
    )?.[1];
    const oldPage = await openApprovalPage(oldLink!.replace(/&amp;/g, '&'));
    expect(oldPage.action).toBeUndefined();
    // While it runs, rotation and re-provisioning are refused.
    expect((await api(stack, 'POST', `/api/integrations/${id}/rotate`)).status).toBe(409);
    expect((await api(stack, 'POST', '/api/integrations?reprovision=true', { body: request })).status).toBe(409);
    expect((await decideDecommission(stack, second, retry, 'reject')).status).toBe(200);
    const end2 = await runDecommission(stack, retry, { throughApproval: true });
    expect((end2.output as DecommissionStatus).outcome).toBe('rejected');
    expect(((await api(stack, 'GET', `/api/integrations/${id}`)).json as { status: string }).status).toBe('active');
    expect(stack.sandbox.journal.writes({ since: mark }).filter((e) => e.method === 'DELETE')).toEqual([]);
  });
});
