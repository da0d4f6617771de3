/**
 * Compensation survives transient faults: a removal that fails transiently is retried with the same durable retry
 * policy as a forward step; what still cannot be removed is recorded on the integration as an orphan and removed by
 * the daily sweep once the service is back, with an alert while it stays.
 */
import { getDeps } from '../../src/activities/deps';
import { sweepOrphans } from '../../src/rotation/orphans';
import type { LocalStack } from '../../sandbox/stack';
import {
  appRemoved,
  approverOf,
  createdBy,
  decideFromEmail,
  recordExists,
  requestFor,
  runToApproval,
  runToEnd,
  startProvisioning,
  startStackFor,
} from '../e2e/e2e-b-helpers';

jest.setTimeout(180_000);

describe('compensation under transient faults', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startStackFor(['dev00000', 'comp-reset', 'comp-503']);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('one connection reset on a Graph DELETE during the rollback is retried: nothing is left', async () => {
    const id = await startProvisioning(stack, requestFor(stack, 'comp-reset'));
    const before = await runToApproval(stack, id);
    const mark = stack.sandbox.journal.mark();
    const fault = stack.sandbox.faults.add({
      service: 'graph',
      method: 'DELETE',
      path: '/applications/',
      action: { type: 'reset' },
      times: 1,
    });
    expect((await decideFromEmail(stack, approverOf(stack), id, 'reject')).status).toBe(200);
    const out = await runToEnd(stack, id);
    // The reset happened (the fault is used up), and every app was still removed.
    expect(stack.sandbox.faults.list().some((f) => f.id === fault.id)).toBe(false);
    const deletes = stack.sandbox.journal
      .writes({ service: 'graph', since: mark })
      .filter((e) => e.method === 'DELETE' && e.path.includes('/applications/'));
    expect(deletes.length).toBeGreaterThanOrEqual(createdBy(before).apps.length);
    expect(out.outcome).toBe('rejected');
    expect(out.orphans).toEqual([]);
    for (const app of createdBy(before).apps) expect(appRemoved(stack, app.objectId)).toBe(true);
  });

  it('removals that keep failing are recorded on the integration and removed by the sweep once the service is back', async () => {
    const instance = 'comp-503';
    const id = await startProvisioning(stack, requestFor(stack, instance));
    const before = await runToApproval(stack, id);
    const fault = stack.sandbox.faults.add({
      service: 'servicenow',
      method: 'DELETE',
      path: `^/${instance}/api/now/(v\\d+/)?table/`,
      // Retry-After beyond what the client waits in-process: each attempt fails fast and the durable retry takes over.
      action: { type: 'status', status: 503, headers: { 'Retry-After': '3600' } },
    });
    expect((await decideFromEmail(stack, approverOf(stack), id, 'reject')).status).toBe(200);
    const out = await runToEnd(stack, id, { stepMs: 60_000, maxAdvanceMs: 30 * 60_000 });
    // Every attempt of the retry policy was made before giving up.
    expect(stack.sandbox.faults.list().find((f) => f.id === fault.id)?.applied ?? 0).toBeGreaterThanOrEqual(5);
    const records = createdBy(before).records;
    expect(records.length).toBeGreaterThanOrEqual(4);
    expect(out.orphans.map((o) => (o.object as { sysId?: string }).sysId).sort()).toEqual(
      records.map((r) => r.sysId).sort(),
    );
    const deps = getDeps();
    const registered = (await deps.registry.get(id))?.value.orphans ?? [];
    expect(registered).toHaveLength(records.length);
    expect(new Set(registered.map((o) => o.instanceId)).size).toBe(1);

    // Still failing: the sweep removes nothing and keeps them; a day later it raises an alert.
    const errors: string[] = [];
    const log = { error: (...a: unknown[]) => errors.push(a.join(' ')) };
    expect(await sweepOrphans(deps, log)).toMatchObject({ removed: 0, remaining: records.length, alerts: [] });
    await stack.host.advanceTime(25 * 3600_000);
    const late = await sweepOrphans(deps, log);
    expect(late.alerts.map((a) => a.integrationId)).toEqual([id]);
    expect(errors.some((e) => e.startsWith(`ALERT integration ${id}`))).toBe(true);

    // The service is back: the sweep removes them and clears the list.
    stack.sandbox.faults.clear();
    expect(await sweepOrphans(deps, log)).toMatchObject({ removed: records.length, remaining: 0 });
    for (const r of records) expect(recordExists(stack, instance, r.table, r.sysId!)).toBe(false);
    expect((await deps.registry.get(id))?.value.orphans).toBeUndefined();
  });
});
