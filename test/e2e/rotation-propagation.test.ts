/**
 * with Entra's propagation delay: a new client secret is refused (AADSTS7000215) for a while after
 * addPassword (4–18 s observed, microsoftgraph/microsoft-graph-docs#17966; here 30 s). The rotation's verify step
 * retries on durable timers until the secret yields a token, and only then switches any consumer: the consumer probe
 * after every history event never fails. Started by the sweep after the clock jumped into the rotation window.
 */
import type { LocalStack } from '../../sandbox/stack';
import type { VerifyCredentialInput, VerifyCredentialResult } from '../../src/contracts/rotation';
import {
  DAY,
  drive,
  moveClock,
  provisionTracked,
  ROLES,
  rotationsOf,
  rotationStatus,
  startRotationHarness,
  type RotationHarness,
  type Tracked,
} from './rotation-helpers';

jest.setTimeout(120_000);

const PROPAGATION_MS = 30_000;

describe('rotation with Entra propagation delay', () => {
  let h: RotationHarness;
  let stack: LocalStack;
  let t: Tracked;

  beforeAll(async () => {
    h = await startRotationHarness(['dev00000', 'prop-a'], {
      entra: { secretPropagationDelayMs: PROPAGATION_MS },
      settings: { CHECK_RETRY_SECONDS: '10', CHECK_ATTEMPTS: '6' },
    });
    stack = h.stack;
    t = await provisionTracked(h, 'prop-a');
    moveClock(stack, PROPAGATION_MS); // the provisioned secrets have propagated
  });
  afterAll(async () => {
    await h?.close();
  });

  it('the sweep rotates all three secrets; verify retried while Entra propagated; no consumer outage', async () => {
    expect(await t.probe.probe()).toEqual([]);
    const expiry = Math.min(...Object.values(t.view.created.apps).map((a) => Date.parse(a.expiresOn ?? '')));
    moveClock(stack, expiry - 20 * DAY - stack.sandbox.clock.now());
    await stack.host.runTimer('rotationSweep');
    expect(rotationsOf(stack, t.id)).toHaveLength(1);
    const end = await drive(h, t);
    const status = rotationStatus(end)!;
    expect({ outcome: status.outcome, error: status.error }).toEqual({ outcome: 'rotated', error: undefined });
    expect(status.rotated.map((r) => [r.role, r.oldRemoved])).toEqual(ROLES.map((r) => [r, true]));

    const runs = stack.host.durable.activityRuns.filter(
      (r) => r.instanceId === end.instanceId && r.name === 'verifyCredential',
    );
    for (const role of ROLES) {
      const mine = runs.filter((r) => (r.input as VerifyCredentialInput).role === role);
      const results = mine.map((r) => r.result as VerifyCredentialResult);
      expect(results.length).toBeGreaterThanOrEqual(2);
      expect(results[0]).toMatchObject({ ok: false, transient: true, code: 'AADSTS7000215' });
      expect(results.at(-1)).toMatchObject({ ok: true });
    }
    expect(t.probe.failures).toEqual([]);
    expect(t.episodes.length).toBeGreaterThanOrEqual(20);
  });
});
