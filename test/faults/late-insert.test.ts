/**
 * Writes that land after their timeout: ServiceNow takes longer to insert the outbound OAuth provider than the
 * client waits.
 * - Landing before the next attempt: the durable retry looks the record up by its natural key first and adopts it
 *   (this run's ownership claim): one record, no duplicate.
 * - Landing after the run gave up: compensation looks for it by natural key with this run's claim and, while an
 *   unanswered insert may still land, keeps it as an orphan; the sweep then removes every late row.
 */
import { getDeps } from '../../src/app/deps';
import { sweepOrphans } from '../../src/rotation/orphans';
import type { LocalStack } from '../../sandbox/stack';
import {
  approverOf,
  decideFromEmail,
  requestFor,
  runToApproval,
  runToEnd,
  startProvisioning,
  startStackFor,
  withSettings,
} from '../e2e/stack-driver';

jest.setTimeout(180_000);

describe('inserts that land after their timeout', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startStackFor(['dev00000', 'late-adopt', 'late-orphan']);
  });
  afterAll(async () => {
    await stack?.close();
  });

  const providers = (instance: string, appId: string) =>
    stack.sandbox.servicenow.records(instance, 'oauth_entity').filter((r) => r.values.client_id === appId);
  const slowInsert = (instance: string, ms: number) =>
    stack.sandbox.faults.add({
      service: 'servicenow',
      method: 'POST',
      path: `^/${instance}/api/now/(v\\d+/)?table/oauth_entity$`,
      action: { type: 'latency', ms },
      times: 1,
    });

  it('a late insert is found and adopted by the next attempt: one record, and removed on rejection', async () => {
    const instance = 'late-adopt';
    await withSettings({ SERVICENOW_TIMEOUT_SECONDS: '1' }, async () => {
      slowInsert(instance, 1_500);
      const id = await startProvisioning(stack, requestFor(stack, instance));
      const before = await runToApproval(stack, id, { stepMs: 2_000, maxAdvanceMs: 60_000 });
      const outbound = before.apps.find((a) => a.role === 'outbound')!;
      expect(providers(instance, outbound.appId)).toHaveLength(1);
      expect(before.records.find((r) => r.key === 'outboundProvider')).toMatchObject({ created: true });
      await decideFromEmail(stack, approverOf(stack), id, 'reject');
      await runToEnd(stack, id);
      expect(providers(instance, outbound.appId)).toEqual([]);
    });
  });

  it('inserts landing after the run failed are kept as an orphan and removed by the sweep', async () => {
    const instance = 'late-orphan';
    await withSettings({ SERVICENOW_TIMEOUT_SECONDS: '1' }, async () => {
      // Every attempt times out (each waits one deadline for an earlier insert first); each insert lands 14 s after
      // it was sent, after the run has failed.
      stack.sandbox.faults.add({
        service: 'servicenow',
        method: 'POST',
        path: `^/${instance}/api/now/(v\\d+/)?table/oauth_entity$`,
        action: { type: 'latency', ms: 14_000 },
      });
      const id = await startProvisioning(stack, requestFor(stack, instance));
      const out = await runToEnd(stack, id, { stepMs: 30_000, maxAdvanceMs: 10 * 60_000 });
      expect(out.outcome).toBe('failed');
      expect(out.orphans.map((o) => o.object.kind)).toEqual(['recordCandidate']);
      const outbound = out.apps.find((a) => a.role === 'outbound')!;
      stack.sandbox.faults.clear();
      await new Promise((r) => setTimeout(r, 15_000));
      expect(providers(instance, outbound.appId).length).toBeGreaterThanOrEqual(1);

      const deps = getDeps();
      expect((await deps.registry.get(id))?.value.orphans?.map((o) => o.object.kind)).toEqual(['recordCandidate']);
      await stack.host.advanceTime(20 * 60_000);
      expect(await sweepOrphans(deps)).toMatchObject({ remaining: 0 });
      expect(providers(instance, outbound.appId)).toEqual([]);
      expect((await deps.registry.get(id))?.value.orphans).toBeUndefined();
    });
  });
});
