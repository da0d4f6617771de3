/**
 * A rotation that rolled back (here: the hand-off deadline passed without confirmation) leaves the old credential in
 * use, so it is still due and still heading for its expiry: the next day's sweep must try again. The rotation's instance id is
 * deterministic (integration + due date, src/rotation/ids.ts), so the retry reuses it; the Durable runtime allows a new
 * start of a non-running id.
 */
import type { LocalStack } from '../../sandbox/stack';
import {
  DAY,
  drive,
  keyIdsOf,
  moveClock,
  provisionTracked,
  rotationsOf,
  rotationStatus,
  startRotationHarness,
  type RotationHarness,
  type Tracked,
} from './rotation-helpers';

jest.setTimeout(120_000);

describe('a rolled-back rotation is tried again by the next sweep', () => {
  let h: RotationHarness;
  let stack: LocalStack;
  let t: Tracked;
  let firstEnd: string;

  beforeAll(async () => {
    h = await startRotationHarness(['dev00000', 'retry-a']);
    stack = h.stack;
    t = await provisionTracked(h, 'retry-a');
    const expiry = Math.min(...Object.values(t.view.created.apps).map((a) => Date.parse(a.expiresOn ?? '')));
    moveClock(stack, expiry - 20 * DAY - stack.sandbox.clock.now());
  });
  afterAll(async () => {
    await h?.close();
  });

  it('the first rotation rolls back when nobody confirms the hand-off; the old credentials stay', async () => {
    await stack.host.runTimer('rotationSweep');
    const end = await drive(h, t, { confirm: () => false });
    expect(rotationStatus(end)?.outcome).toBe('rolled-back');
    firstEnd = end.lastUpdatedTime;
    const keyIds = keyIdsOf(stack, t.view);
    for (const [role, o] of Object.entries(t.original)) expect(keyIds[role]).toEqual([o.keyId]);
    expect(t.probe.failures).toEqual([]);
  });

  it("the next day's sweep starts the rotation again, and this time it completes", async () => {
    moveClock(stack, DAY);
    await stack.host.runTimer('rotationSweep');
    await stack.host.durable.waitForIdle(30_000);
    const latest = rotationsOf(stack, t.id).at(-1)!;
    expect(Date.parse(latest.createdTime)).toBeGreaterThan(Date.parse(firstEnd));
    expect(['Running', 'Pending']).toContain(latest.runtimeStatus);
    // Another sweep the same day starts no second attempt.
    await stack.host.runTimer('rotationSweep');
    await stack.host.durable.waitForIdle(30_000);
    expect(rotationsOf(stack, t.id).filter((s) => ['Running', 'Pending'].includes(s.runtimeStatus))).toHaveLength(1);
    t.confirmedRoles.clear();
    const end = await drive(h, t);
    expect(rotationStatus(end)?.outcome).toBe('rotated');
    expect(t.probe.failures).toEqual([]);
  });
});
