/**
 * Decommissioning next to other runs and failures: a DELETE while a rotation of the integration runs answers 409
 * naming it; an object Graph refuses to delete is recorded on the integration as an orphan of the decommissioning run
 * (everything else is removed and the integration ends decommissioned), and the daily orphan sweep removes it once
 * Graph accepts the deletion.
 */
import type { LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import type { DecommissionStatus } from '../../src/orchestrators/decommission-types';
import { sweepOrphans } from '../../src/rotation/orphans';
import type { IntegrationView } from './api-driver';
import {
  decideDecommission,
  decommissionInstanceId,
  liveDirectoryObjectsOf,
  requestDecommission,
  runDecommission,
} from './decommission-driver';
import {
  api,
  appRemoved,
  approverOf,
  decideFromEmail,
  requestFor,
  runToApproval,
  runToEnd,
  secretState,
  startProvisioning,
  startStackFor,
} from './stack-driver';

jest.setTimeout(180_000);

describe('decommissioning beside rotation and failures', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startStackFor(['dev00000', 'decom00003', 'decom00004']);
  });
  afterAll(async () => {
    await stack?.close();
  });

  const provision = async (instance: string) => {
    const id = await startProvisioning(stack, requestFor(stack, instance));
    await runToApproval(stack, id);
    expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
    expect((await runToEnd(stack, id)).outcome).toBe('active');
    return id;
  };

  it('answers 409 while a rotation of the integration runs', async () => {
    const id = await provision('decom00003');
    const rotate = await api(stack, 'POST', `/api/integrations/${id}/rotate`);
    expect(rotate.status).toBe(202);
    const rotation = (rotate.json as { instanceId: string }).instanceId;
    const res = await requestDecommission(stack, id);
    expect(res.status).toBe(409);
    expect(res.text).toContain(rotation);
    expect(((await api(stack, 'GET', `/api/integrations/${id}`)).json as { status: string }).status).toBe('active');
  });

  it('records what Graph refuses to delete as an orphan, which the daily sweep removes later', async () => {
    const instance = 'decom00004';
    const id = await provision(instance);
    const before = (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
    const victim = before.created.apps.restApi;
    const fault = stack.sandbox.faults.add({
      service: 'graph',
      method: 'DELETE',
      path: `/applications/${victim.objectId}$`,
      action: { type: 'status', status: 403 },
    });
    expect((await requestDecommission(stack, id)).status).toBe(202);
    const instanceId = decommissionInstanceId(id);
    await runDecommission(stack, instanceId);
    expect((await decideDecommission(stack, approverOf(stack), instanceId, 'approve')).status).toBe(200);
    const out = (await runDecommission(stack, instanceId, { throughApproval: true })).output as DecommissionStatus;
    expect(out.outcome).toBe('decommissioned');
    expect(out.orphans.map((o) => o.object)).toEqual([
      expect.objectContaining({ kind: 'app', objectId: victim.objectId }),
    ]);
    expect(appRemoved(stack, victim.objectId)).toBe(false);
    for (const app of Object.values(before.created.apps)) {
      if (app !== victim) expect(appRemoved(stack, app.objectId)).toBe(true);
      expect(await secretState(app.secretName)).toBe('soft-deleted');
    }
    const row = (await getDeps().registry.get(id))!.value;
    expect(row.status).toBe('decommissioned');
    expect(row.orphans?.map((o) => [o.instanceId, o.object.kind])).toEqual([[instanceId, 'app']]);

    // The daily sweep tries again: refused while the fault lasts, removed once Graph accepts.
    expect((await sweepOrphans(getDeps())).removed).toBe(0);
    stack.sandbox.faults.remove(fault.id);
    expect((await sweepOrphans(getDeps())).removed).toBe(1);
    expect(appRemoved(stack, victim.objectId)).toBe(true);
    expect(liveDirectoryObjectsOf(stack, id)).toEqual({ apps: [], servicePrincipals: [] });
    expect((await getDeps().registry.get(id))!.value.orphans).toBeUndefined();
  });
});
