/**
 * Certificate rotation with Entra's propagation delay for a new key credential: the token endpoint answers
 * AADSTS700027 for a while after addKey (CIPP waits 3 × 10 s, Get-GraphTokenFromCert.ps1; here 5 s of sandbox clock).
 * The rotation's verify step asks again on durable timers until the new certificate yields a token, and only then
 * re-points ServiceNow's JWT provider: the consumer probe (the instance signing with its keystore) after every history
 * event never fails.
 */
import type { LocalStack } from '../../sandbox/stack';
import type { VerifyCertificateInput, VerifyCredentialResult } from '../../src/contracts/rotation';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import {
  drive,
  moveClock,
  provisionTracked,
  rotateNow,
  rotationStatus,
  startRotationHarness,
  type RotationHarness,
  type Tracked,
} from './rotation-helpers';

jest.setTimeout(180_000);

const PROPAGATION_MS = 5_000;

describe('certificate rotation with Entra key credential propagation', () => {
  let h: RotationHarness;
  let stack: LocalStack;
  let t: Tracked;

  beforeAll(async () => {
    h = await startRotationHarness(['dev00000', 'cprop-a'], {
      entra: { keyCredentialPropagationDelayMs: PROPAGATION_MS },
    });
    stack = h.stack;
    t = await provisionTracked(h, 'cprop-a', m365SupportAad, {
      options: { testEnvironment: true, credential: 'certificate' },
    });
    moveClock(stack, PROPAGATION_MS); // the provisioned certificate has propagated
  });
  afterAll(() => h?.close());

  it('verify is asked again while Entra answers AADSTS700027; then switched and rotated; no consumer outage', async () => {
    expect(await t.probe.probe()).toEqual([]);
    expect((await rotateNow(stack, t.id, { roles: ['outbound'] })).status).toBe(202);
    const end = await drive(h, t);
    const status = rotationStatus(end)!;
    expect({ outcome: status.outcome, error: status.error }).toEqual({ outcome: 'rotated', error: undefined });
    expect(status.rotated).toEqual([
      expect.objectContaining({ role: 'outbound', kind: 'certificate', oldRemoved: true }),
    ]);

    const runs = stack.host.durable.activityRuns.filter(
      (r) => r.instanceId === end.instanceId && r.name === 'verifyCertificateCredential',
    );
    const results = runs.map((r) => r.result as VerifyCredentialResult);
    expect(
      runs.every((r) => (r.input as VerifyCertificateInput).certificate.version === status.rotated[0].newVersion),
    ).toBe(true);
    expect(results[0]).toMatchObject({ ok: false, transient: true, code: 'AADSTS700027' });
    expect(results.at(-1)).toMatchObject({ ok: true });
    // The switch came only after a successful verify.
    const steps = t.episodes.map((e) => e.step ?? '');
    expect(steps.indexOf('switch:outbound')).toBeGreaterThan(steps.indexOf('verify:outbound'));
    expect(t.probe.failures).toEqual([]);
  });
});
