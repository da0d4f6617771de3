/**
 * A rotation waiting for a hand-off past ALERT_OVERDUE_MINUTES is alerted from its durable custom status, and resolved
 * once it no longer waits. The rotation writes its outcome where alerting reads it: a rolled-back rotation (nobody
 * confirmed the hand-off) leaves `lastRotation` on the registry row and a `rotation-failed` audit event, the alert
 * sweep then alerts it once, and after the next day's rotation succeeds (`rotated` event) one "resolved" message
 * follows. Real provisioning and rotation through the product's API, timers and the local durable host.
 */
import type { LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import { approverOf } from '../e2e/stack-driver';
import {
  DAY,
  drive,
  moveClock,
  provisionTracked,
  quietSchedule,
  rotationStatus,
  startRotationHarness,
  type RotationHarness,
  type Tracked,
} from '../e2e/rotation-helpers';

jest.setTimeout(180_000);

describe('rotation outcome → alert → resolved', () => {
  let h: RotationHarness;
  let stack: LocalStack;
  let t: Tracked;

  beforeAll(async () => {
    // Alerts by email to the integration's approvers; the sweep runs when the test says so.
    h = await startRotationHarness(['dev00000', 'alerts-rot'], {
      settings: { ALERT_CHANNELS: 'email', ALERT_SCHEDULE: quietSchedule(new Date()), ALERT_OVERDUE_MINUTES: '60' },
    });
    stack = h.stack;
    t = await provisionTracked(h, 'alerts-rot');
    const expiry = Math.min(...Object.values(t.view.created.apps).map((a) => Date.parse(a.expiresOn ?? '')));
    moveClock(stack, expiry - 20 * DAY - stack.sandbox.clock.now());
  });
  afterAll(async () => {
    await h?.close();
  });

  type Sent = { subject: string; toRecipients: { emailAddress: { address: string } }[] };
  /** Subjects of the rotation-failed alert mails about this integration to one of its approvers. */
  const alertMails = (kind = 'rotation-failed') =>
    stack.sandbox.graph.outbox
      .map((m) => m.message as Sent)
      .filter((m) => m.toRecipients.some((r) => r.emailAddress.address === approverOf(stack)))
      .map((m) => m.subject)
      .filter((s) => s.endsWith(`${kind}: ${t.id}`));

  it('a hand-off waiting past ALERT_OVERDUE_MINUTES is alerted (durable custom status), and resolved when the rotation ends', async () => {
    await stack.host.runTimer('rotationSweep');
    await drive(h, t, { confirm: () => false, until: (s) => rotationStatus(s)?.awaiting !== undefined });
    await stack.host.runTimer('alertSweep');
    expect(alertMails('handoff-overdue')).toEqual([]);
    moveClock(stack, 61 * 60_000); // no durable timer fires: the rotation still waits (deadline 120 minutes)
    await stack.host.runTimer('alertSweep');
    await stack.host.runTimer('alertSweep');
    expect(alertMails('handoff-overdue')).toEqual([`[Alert] handoff-overdue: ${t.id}`]);
  });

  it('a rolled-back rotation is on the row and in the audit trail, and alerted once', async () => {
    const end = await drive(h, t, { confirm: () => false });
    expect(rotationStatus(end)?.outcome).toBe('rolled-back');
    const row = (await getDeps().registry.get(t.id))!.value;
    expect(row.lastRotation).toMatchObject({ instanceId: end.instanceId, outcome: 'rolled-back' });
    expect(row.lastRotation?.error).toMatch(/hand-off not confirmed by the deadline/);
    const audit = await getDeps().audit.list(t.id);
    expect(audit.filter((e) => e.kind === 'rotation-failed')).toEqual([
      expect.objectContaining({ instanceId: end.instanceId, actor: 'system' }),
    ]);

    await stack.host.runTimer('alertSweep');
    await stack.host.runTimer('alertSweep');
    expect(alertMails()).toEqual([`[Alert] rotation-failed: ${t.id}`]);
    // The hand-off no longer waits: resolved.
    expect(alertMails('handoff-overdue')).toEqual([
      `[Alert] handoff-overdue: ${t.id}`,
      `[Resolved] handoff-overdue: ${t.id}`,
    ]);
  });

  it('the next rotation succeeds: `rotated` in the audit trail, and one "resolved" message', async () => {
    moveClock(stack, DAY);
    await stack.host.runTimer('rotationSweep');
    t.confirmedRoles.clear();
    const end = await drive(h, t);
    expect(rotationStatus(end)?.outcome).toBe('rotated');
    expect((await getDeps().registry.get(t.id))!.value.lastRotation).toMatchObject({ outcome: 'rotated' });
    expect((await getDeps().audit.list(t.id)).map((e) => e.kind)).toContain('rotated');

    await stack.host.runTimer('alertSweep');
    await stack.host.runTimer('alertSweep');
    expect(alertMails()).toEqual([`[Alert] rotation-failed: ${t.id}`, `[Resolved] rotation-failed: ${t.id}`]);
  });
});
