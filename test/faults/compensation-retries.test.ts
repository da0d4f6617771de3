/**
 * Compensation survives transient faults: a removal that fails transiently is retried with the same durable retry
 * policy as a forward step; what still cannot be removed is recorded on the integration as an orphan and removed by
 * the daily sweep once the service is back, with an alert while it stays.
 */
import { getDeps } from '../../src/app/deps';
import { sweepOrphans } from '../../src/rotation/orphans';
import type { LocalStack } from '../../sandbox/stack';
import {
  api,
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
} from '../e2e/stack-driver';

jest.setTimeout(180_000);

describe('compensation under transient faults', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startStackFor(['dev00000', 'comp-reset', 'comp-503', 'comp-taken']);
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

  it('the sweep never removes what a later run took over', async () => {
    const instance = 'comp-taken';
    const id = await startProvisioning(stack, requestFor(stack, instance));
    const before = await runToApproval(stack, id);
    stack.sandbox.faults.add({
      service: 'servicenow',
      method: 'DELETE',
      path: `^/${instance}/api/now/(v\\d+/)?table/`,
      action: { type: 'status', status: 503, headers: { 'Retry-After': '3600' } },
    });
    expect((await decideFromEmail(stack, approverOf(stack), id, 'reject')).status).toBe(200);
    const rejected = await runToEnd(stack, id, { stepMs: 60_000, maxAdvanceMs: 30 * 60_000 });
    expect(rejected.orphans.length).toBeGreaterThanOrEqual(4);
    stack.sandbox.faults.clear();

    // A new run finds the records the rejected one left (same natural keys) and goes live with them.
    const res = await api(stack, 'POST', '/api/integrations?reprovision=true', { body: requestFor(stack, instance) });
    expect(res.status).toBe(202);
    await runToApproval(stack, id);
    expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
    const live = await runToEnd(stack, id);
    expect(live.outcome).toBe('active');

    const deps = getDeps();
    await sweepOrphans(deps);
    for (const r of live.records.filter((x) => x.sysId))
      expect(recordExists(stack, instance, r.table, r.sysId!)).toBe(true);
    expect(createdBy(before).records.length).toBeGreaterThan(0);
    expect((await deps.registry.get(id))?.value.status).toBe('active');
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
    const orphansOf = async () => (await deps.registry.get(id))?.value.orphans ?? [];
    expect((await sweepOrphans(deps, log)).alerts).toEqual([]);
    expect(await orphansOf()).toHaveLength(records.length);
    await stack.host.advanceTime(25 * 3600_000);
    const late = await sweepOrphans(deps, log);
    expect(late.alerts.map((a) => a.integrationId)).toEqual([id]);
    expect(errors.some((e) => e.startsWith(`ALERT integration ${id}`))).toBe(true);

    // The service is back: the sweep removes them and clears the list.
    stack.sandbox.faults.clear();
    await sweepOrphans(deps, log);
    expect(await orphansOf()).toEqual([]);
    for (const r of records) expect(recordExists(stack, instance, r.table, r.sysId!)).toBe(false);
    expect((await deps.registry.get(id))?.value.orphans).toBeUndefined();
  });
});
