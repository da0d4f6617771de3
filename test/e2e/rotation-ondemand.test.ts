/**
 * `POST /api/integrations/{id}/rotate` starts the same orchestration as the sweep, with the same
 * idempotency: one instance per integration and date; a second POST while it runs answers 409 with the running
 * instance (no second rotation); once completed, the same request answers 200 for it; a sweep meanwhile starts
 * nothing. The optional `roles` body limits the rotation to those roles.
 */
import type { LocalStack } from '../../sandbox/stack';
import { ROTATION_ORCHESTRATOR, type RotationInput } from '../../src/orchestrators/rotation-types';
import { rotationInstanceId, rotationOperation } from '../../src/rotation/ids';
import { api } from './api-driver';
import {
  DAY,
  drive,
  handoffMails,
  keyIdsOf,
  moveClock,
  provisionTracked,
  ROLES,
  rotateNow,
  rotationsOf,
  rotationStatus,
  startRotationHarness,
  type RotationHarness,
  type Tracked,
} from './rotation-helpers';

jest.setTimeout(120_000);

interface RotateAnswer {
  id: string;
  instanceId: string;
  roles: string[];
  status: string;
  statusUrl: string;
}

describe('on-demand rotation: POST /api/integrations/{id}/rotate', () => {
  let h: RotationHarness;
  let stack: LocalStack;
  let a: Tracked;
  let b: Tracked;
  let first: RotateAnswer;

  beforeAll(async () => {
    h = await startRotationHarness(['dev00000', 'od-all', 'od-outbound']);
    stack = h.stack;
    a = await provisionTracked(h, 'od-all');
    // Into a's rotation window (a sweep now finds it due, under the id of its due date), at 03:00 UTC: the whole
    // file then runs within one UTC date (the on-demand instance id carries it).
    const expiry = Math.min(...Object.values(a.view.created.apps).map((x) => Date.parse(x.expiresOn ?? '')));
    const target = Math.floor((expiry - 20 * DAY) / DAY) * DAY + 3 * 3600_000;
    moveClock(stack, target - stack.sandbox.clock.now());
    b = await provisionTracked(h, 'od-outbound');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('starts rotateCredentials under the deterministic id and answers 202 with our status URL', async () => {
    const res = await rotateNow(stack, a.id);
    expect(res.status).toBe(202);
    first = res.json as RotateAnswer;
    const today = stack.sandbox.clock.date();
    const instanceId = rotationInstanceId(a.id, today);
    const statusUrl = `${stack.host.baseUrl}/api/integrations/${a.id}/rotations/${instanceId}`;
    expect(first).toEqual({ id: a.id, instanceId, roles: [...ROLES], status: 'started', statusUrl });
    expect(res.headers.get('location')).toBe(statusUrl);
    expect(res.text).not.toMatch(/runtime\/webhooks|code=|taskHub/i);
    await stack.host.durable.waitForIdle(30_000);
    const s = stack.host.durable.getStatus(instanceId, { showInput: true })!;
    expect(s.name).toBe(ROTATION_ORCHESTRATOR);
    const input = s.input as RotationInput;
    expect({ reason: input.reason, roles: input.roles, operation: input.operation }).toEqual({
      reason: 'on-demand',
      roles: [...ROLES],
      operation: rotationOperation(today),
    });
  });

  it('a second POST while it runs answers 409 with the running instance; so does one for a single role', async () => {
    expect(rotationStatus(rotationsOf(stack, a.id)[0])?.step).toBe('handoff');
    for (const body of [undefined, { roles: ['outbound'] }]) {
      const again = await rotateNow(stack, a.id, body);
      expect(again.status).toBe(409);
      expect(again.json).toMatchObject({ id: a.id, instanceId: first.instanceId, status: 'running' });
    }
    // a is in its window, but the sweep sees the rotation in flight (its new Key Vault versions) and starts nothing
    // beside it (src/rotation/sweep.ts collect).
    await stack.host.runTimer('rotationSweep');
    await stack.host.durable.waitForIdle(30_000);
    expect(rotationsOf(stack, a.id).map((s) => s.instanceId)).toEqual([first.instanceId]);
    const summary = stack.host.durable.logs.map((l) => l.message).filter((m) => m.startsWith('rotation sweep:'));
    expect(summary.at(-1)).toMatch(/^rotation sweep: 2 active integrations, 0 due, 0 started/);
    expect(rotationsOf(stack, b.id)).toEqual([]);
  });

  it('the status URL shows the running rotation', async () => {
    const res = await api(stack, 'GET', new URL(first.statusUrl).pathname);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      id: a.id,
      instanceId: first.instanceId,
      runtimeStatus: 'Running',
      step: 'handoff',
    });
  });

  it('after it completed, the same request answers 200 for that instance and starts nothing', async () => {
    const end = await drive(h, a);
    expect(rotationStatus(end)?.outcome).toBe('rotated');
    const again = await rotateNow(stack, a.id);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ instanceId: first.instanceId, status: 'completed' });
    await stack.host.durable.waitForIdle(30_000);
    expect(rotationsOf(stack, a.id)).toHaveLength(1);
    expect(a.probe.failures).toEqual([]);
  });

  it('roles: ["outbound"] rotates the outbound secret only (no hand-off needed)', async () => {
    const before = keyIdsOf(stack, b.view);
    const res = await rotateNow(stack, b.id, { roles: ['outbound'] });
    expect(res.status).toBe(202);
    expect((res.json as RotateAnswer).roles).toEqual(['outbound']);
    const end = await drive(h, b);
    const status = rotationStatus(end)!;
    expect(status.outcome).toBe('rotated');
    expect(status.rotated.map((r) => r.role)).toEqual(['outbound']);
    expect(handoffMails(stack, end.instanceId)).toEqual([]);
    const after = keyIdsOf(stack, b.view);
    expect(after.restApi).toEqual(before.restApi);
    expect(after.restUser).toEqual(before.restUser);
    expect(after.outbound).toEqual([status.rotated[0].newKeyId]);
    expect(b.probe.failures).toEqual([]);
  });

  it('refuses an unknown role (400) and an unknown integration (404)', async () => {
    const bad = await rotateNow(stack, b.id, { roles: ['nope'] });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/unknown role 'nope'/);
    expect((await rotateNow(stack, 'sn-nowhere-0123abcd')).status).toBe(404);
  });
});
