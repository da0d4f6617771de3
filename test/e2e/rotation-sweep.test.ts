/**
 * a sweep over several provisioned integrations (due, not due, one already rotated on demand, one
 * rotated by hand) starts exactly the due rotations, under the deterministic instance id (integration + due date);
 * two concurrent sweeps (and any later one) start no duplicate. The sweep timer runs through the local host
 * (`host.runTimer('rotationSweep')`, the real entry module and DurableClient); the clock jumps into the window.
 */
import { randomUUID } from 'node:crypto';

import type { InstanceStatus } from '../../sandbox/durable/engine';
import type { LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import type { RotationInput } from '../../src/orchestrators/rotation-types';
import { rotationInstanceId } from '../../src/rotation/ids';
import {
  DAY,
  drive,
  moveClock,
  provisionTracked,
  ROLES,
  rotateNow,
  rotationsOf,
  rotationStatus,
  secretValue,
  startRotationHarness,
  type RotationHarness,
  type Tracked,
} from './rotation-helpers';

jest.setTimeout(180_000);

const [DUE_A, DUE_B, ON_DEMAND, BY_HAND, FRESH] = ['sw-due-a', 'sw-due-b', 'sw-on-demand', 'sw-by-hand', 'sw-fresh'];

/** The instant the sweep considers the integration due: earliest expiry minus the 30-day window (default). */
const dueDate = (t: Tracked) =>
  new Date(Math.min(...Object.values(t.view.created.apps).map((a) => Date.parse(a.expiresOn ?? ''))) - 30 * DAY);

describe('rotation sweep over several integrations', () => {
  let h: RotationHarness;
  let stack: LocalStack;
  const t: Record<string, Tracked> = {};
  const count = (name: string) => rotationsOf(stack, t[name].id).length;
  const counts = () => Object.fromEntries(Object.keys(t).map((k) => [k, count(k)]));
  const sweep = () => stack.host.runTimer('rotationSweep');

  beforeAll(async () => {
    h = await startRotationHarness(['dev00000', DUE_A, DUE_B, ON_DEMAND, BY_HAND, FRESH]);
    stack = h.stack;
    for (const name of [DUE_A, DUE_B, ON_DEMAND, BY_HAND]) t[name] = await provisionTracked(h, name);

    // Into the rotation window of all four (their secrets expire in 180 days; the window is 30 days).
    const expiry = Math.min(...Object.values(t).map((x) => dueDate(x).getTime() + 30 * DAY));
    moveClock(stack, expiry - stack.sandbox.clock.now() - 20 * DAY);

    // Already rotated on demand in the window: its new secrets expire in 180 days again.
    expect((await rotateNow(stack, t[ON_DEMAND].id)).status).toBe(202);
    expect(rotationStatus(await drive(h, t[ON_DEMAND]))?.outcome).toBe('rotated');

    // Rotated by hand: an operator added a credential and stored it as a new Key Vault version (tags as ours), but
    // the registry was never updated. The sweep must reconcile, not rotate again.
    const outbound = t[BY_HAND].view.created.apps.outbound;
    const added = (await getDeps()
      .graph.api(`/applications/${outbound.objectId}/addPassword`)
      .post({ passwordCredential: { displayName: 'rotated by hand' } })) as { keyId: string; secretText: string };
    const current = await getDeps().secrets.getSecret(outbound.secretName);
    await getDeps().secrets.setSecret(outbound.secretName, added.secretText, {
      tags: { ...(current.properties.tags ?? {}), keyId: added.keyId, operation: `manual-${randomUUID().slice(0, 8)}` },
    });
    expect(await secretValue(outbound.secretName)).toBe(added.secretText);

    // Provisioned now: far from its expiry.
    t[FRESH] = await provisionTracked(h, FRESH);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('two concurrent sweeps start exactly the due rotations, once each', async () => {
    expect(counts()).toEqual({ [DUE_A]: 0, [DUE_B]: 0, [ON_DEMAND]: 1, [BY_HAND]: 0, [FRESH]: 0 });
    await Promise.all([sweep(), sweep()]);
    await stack.host.durable.waitForIdle(30_000);
    expect(counts()).toEqual({ [DUE_A]: 1, [DUE_B]: 1, [ON_DEMAND]: 1, [BY_HAND]: 0, [FRESH]: 0 });
    for (const name of [DUE_A, DUE_B]) {
      const [s] = rotationsOf(stack, t[name].id);
      expect(s.instanceId).toBe(rotationInstanceId(t[name].id, dueDate(t[name])));
      expect(['Running', 'Pending']).toContain(s.runtimeStatus);
      const input = stack.host.durable.getStatus(s.instanceId, { showInput: true })?.input as RotationInput;
      expect({ reason: input.reason, roles: input.roles }).toEqual({ reason: 'sweep', roles: [...ROLES] });
    }
  });

  it('the sweep reconciles the hand-rotated credential into the registry instead of rotating it again', async () => {
    const lines = stack.host.durable.logs.map((l) => l.message);
    expect(lines.some((l) => l.includes(`rotation reconcile ${t[BY_HAND].id} outbound`))).toBe(true);
    const row = (await getDeps().registry.get(t[BY_HAND].id))?.value.apps.outbound;
    const tags = (await getDeps().secrets.getSecret(row!.secretName)).properties.tags ?? {};
    expect(row?.keyId).toBe(tags.keyId);
  });

  it('a later sweep starts nothing for the running ones, and rotates only the hand-rotated integration’s other roles', async () => {
    await sweep();
    await stack.host.durable.waitForIdle(30_000);
    expect(counts()).toEqual({ [DUE_A]: 1, [DUE_B]: 1, [ON_DEMAND]: 1, [BY_HAND]: 1, [FRESH]: 0 });
    const [s] = rotationsOf(stack, t[BY_HAND].id);
    const input = stack.host.durable.getStatus(s.instanceId, { showInput: true })?.input as RotationInput;
    expect(input.roles).toEqual(ROLES.filter((r) => r !== 'outbound'));
  });

  it('once rotated, they are not due any more: another pair of sweeps starts nothing', async () => {
    const grace = (s: InstanceStatus) => rotationStatus(s)?.step === 'grace';
    for (const name of [DUE_A, DUE_B]) await drive(h, t[name], { until: grace });
    for (const name of [DUE_A, DUE_B]) expect(rotationStatus(await drive(h, t[name]))?.outcome).toBe('rotated');
    await Promise.all([sweep(), sweep()]);
    await stack.host.durable.waitForIdle(30_000);
    expect(counts()).toEqual({ [DUE_A]: 1, [DUE_B]: 1, [ON_DEMAND]: 1, [BY_HAND]: 1, [FRESH]: 0 });
    for (const name of [DUE_A, DUE_B, ON_DEMAND]) expect(t[name].probe.failures).toEqual([]);
  });
});
