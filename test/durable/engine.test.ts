import path from 'node:path';

import { ManualClock } from '../../sandbox/durable/clock';
import { DurableEngine, type EngineOptions } from '../../sandbox/durable/engine';
import { EventType } from '../../sandbox/durable/history';
import { assertDurableInternals } from '../../sandbox/durable/internals';
import { loadFunctionApp } from '../../sandbox/host/registry';
import { effects } from '../fixtures/durable/sample-functions';

const registry = loadFunctionApp(path.join(__dirname, '../fixtures/durable/sample-app.ts'));

function engine(opts: Partial<EngineOptions> = {}) {
  const clock = new ManualClock();
  return { clock, engine: new DurableEngine({ clock, functions: registry, ...opts }) };
}
const done = (s: { runtimeStatus: string }) => ['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus);

beforeEach(() => effects.reset());

describe('durable-functions internals', () => {
  it('are where the local host expects them (durable-functions 3.5.0)', () => {
    expect(() => assertDurableInternals()).not.toThrow();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect((require('durable-functions/package.json') as { version: string }).version).toBe('3.5.0');
  });
});

describe('DurableEngine: event vs. timer race', () => {
  it('event wins, the timer is cancelled and the activity runs', async () => {
    const { engine: e } = engine();
    const id = e.startNew('raceOrchestrator', { input: { timeoutMinutes: 60, title: 'T' } });
    await e.waitForIdle();
    expect(e.getStatus(id)!.runtimeStatus).toBe('Running');
    expect(e.waitingFor(id)).toEqual(['Approval']);
    expect(e.timers(id)).toEqual([expect.objectContaining({ id: 0, kind: 'timer', state: 'pending' })]);
    expect(e.raiseEvent(id, 'Approval', { approved: true, by: 'ann' })).toBe('accepted');
    const s = await e.waitForStatus(id, done);
    expect(s.runtimeStatus).toBe('Completed');
    expect(s.output).toEqual({ status: 'approved', ticket: `ticket:${id}` });
    expect(s.customStatus).toEqual({ stage: 'decided', by: 'ann' });
    expect(e.timers(id)[0].state).toBe('canceled');
    expect(e.history(id).some((h) => h.EventType === EventType.TimerFired)).toBe(false);
  });

  it('timer wins in virtual time', async () => {
    const { engine: e } = engine();
    const id = e.startNew('raceOrchestrator', { input: { timeoutMinutes: 60, title: 'T' } });
    await e.waitForIdle();
    await e.advanceTime(59 * 60_000);
    expect(e.getStatus(id)!.runtimeStatus).toBe('Running');
    await e.advanceTime(60_000);
    const s = e.getStatus(id)!;
    expect(s.runtimeStatus).toBe('Completed');
    expect(s.output).toEqual({ status: 'timedOut' });
    expect(e.timers(id)[0].state).toBe('fired');
    expect(e.raiseEvent(id, 'Approval', { approved: true })).toBe('gone');
  });
});

describe('DurableEngine: retries', () => {
  it('succeeds on the third attempt after the configured backoff', async () => {
    const { engine: e } = engine();
    const id = e.startNew('retryOrchestrator', { input: { key: 'k1', failTimes: 2 } });
    await e.waitForIdle();
    expect(effects.attempts.get('k1')).toBe(1);
    await e.advanceTime(999);
    expect(effects.attempts.get('k1')).toBe(1);
    await e.advanceTime(1);
    expect(effects.attempts.get('k1')).toBe(2);
    // backoffCoefficient 2: the second retry waits 2 s
    await e.advanceTime(1_999);
    expect(effects.attempts.get('k1')).toBe(2);
    await e.advanceTime(1);
    const s = await e.waitForStatus(id, done);
    expect(effects.attempts.get('k1')).toBe(3);
    expect(s.runtimeStatus).toBe('Completed');
    expect(s.output).toBe('ok after 3');
    expect(e.timers(id).map((t) => [t.id, t.kind, t.state])).toEqual([
      [1, 'retry', 'fired'],
      [3, 'retry', 'fired'],
    ]);
    const logs = e.logs.filter((l) => l.functionName === 'flaky').map((l) => l.message);
    expect(logs).toEqual(['flaky attempt 1', 'flaky attempt 2', 'flaky attempt 3']);
  });

  it('fails the orchestration with the activity error when attempts are exhausted', async () => {
    const { engine: e } = engine();
    const id = e.startNew('retryOrchestrator', { input: { key: 'k2', failTimes: 0, activity: 'alwaysFails' } });
    await e.waitForIdle();
    await e.advanceTime(1_000);
    await e.advanceTime(2_000);
    const s = await e.waitForStatus(id, done);
    expect(effects.attempts.get('k2')).toBe(3);
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toContain("Orchestrator function 'retryOrchestrator' failed");
    expect(String(s.output)).toContain("Activity function 'alwaysFails' failed: upstream refused the request (403)");
  });
});

describe('DurableEngine: events, at-least-once, sub-orchestrations, continue-as-new', () => {
  it('keeps an event raised before the orchestrator waits for it', async () => {
    const { engine: e } = engine();
    const id = e.startNew('lateWaitOrchestrator');
    // Raised at once: the orchestrator is still waiting for its activity, not for the event.
    e.raiseEvent(id, 'Go', { ok: 1 });
    const s = await e.waitForStatus(id, done);
    expect(s.output).toEqual({ first: 'first', go: { ok: 1 } });
  });

  it('runs activities twice in at-least-once mode and keeps the second result', async () => {
    const { engine: e } = engine({ atLeastOnce: (name) => name === 'upsertTicket' });
    const id = e.startNew('raceOrchestrator', { input: { timeoutMinutes: 5, title: 'dup' } });
    e.raiseEvent(id, 'Approval', { approved: true, by: 'bob' });
    const s = await e.waitForStatus(id, done);
    expect(e.activityRuns.filter((r) => r.name === 'upsertTicket')).toHaveLength(2);
    expect(effects.recorded).toEqual([id, id]);
    expect(effects.tickets.size).toBe(1);
    expect(s.output).toEqual({ status: 'approved', ticket: `ticket:${id}` });
  });

  it('runs a sub-orchestration and surfaces its failure to the parent', async () => {
    const { engine: e } = engine();
    const ok = e.startNew('parentOrchestrator', { input: 21 });
    expect((await e.waitForStatus(ok, done)).output).toEqual({ fromChild: 42 });
    expect(e.getStatus(`${ok}:0000`)!.runtimeStatus).toBe('Completed');
    const bad = e.startNew('parentOrchestrator', { input: 51 });
    const s = await e.waitForStatus(bad, done);
    expect(s.runtimeStatus).toBe('Completed');
    expect((s.output as { childFailed: string }).childFailed).toContain('child refuses large numbers');
  });

  it('continues as new with fresh history until done', async () => {
    const { engine: e } = engine();
    const id = e.startNew('counterOrchestrator', { input: 1 });
    const s = await e.waitForStatus(id, done);
    expect(s.output).toBe('done at 3');
    expect(s.input).toBe(3);
    expect(e.history(id).filter((h) => h.EventType === EventType.ExecutionStarted)).toHaveLength(1);
    expect(e.activityRuns.map((r) => r.input)).toEqual([1, 2, 3]);
  });
});

describe('DurableEngine: determinism', () => {
  it('fails a non-deterministic orchestrator naming the divergent action', async () => {
    const { engine: e } = engine();
    const id = e.startNew('randomOrchestrator');
    const s = await e.waitForStatus(id, done);
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toMatch(
      /Non-Deterministic workflow detected .*action #0 .*CallActivity 'echo' input=0\.\d+/,
    );
  });

  it('passes its deterministic twin', async () => {
    const { engine: e } = engine();
    const id = e.startNew('guidOrchestrator');
    const s = await e.waitForStatus(id, done);
    expect(s.runtimeStatus).toBe('Completed');
    expect((s.output as string[])[1]).toBe('second');
  });

  it('fails an orchestrator that calls an activity the entry module does not register', async () => {
    const { engine: e } = engine();
    const id = e.startNew('missingActivityOrchestrator');
    const s = await e.waitForStatus(id, done);
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toContain("The function 'notRegistered' doesn't exist");
  });
});

describe('DurableEngine: terminate and purge', () => {
  it('terminates a running instance, then purges it', async () => {
    const { engine: e } = engine();
    const id = e.startNew('raceOrchestrator', { instanceId: 'fixed-id', input: { timeoutMinutes: 60, title: 'x' } });
    await e.waitForIdle();
    expect(e.purge(id)).toBe(0);
    expect(() => e.startNew('raceOrchestrator', { instanceId: 'fixed-id' })).toThrow(/already exists/);
    expect(e.terminate(id, 'no longer needed')).toBe('accepted');
    const s = await e.waitForStatus(id, done);
    expect(s.runtimeStatus).toBe('Terminated');
    expect(s.output).toBe('no longer needed');
    expect(e.timers(id)[0].state).toBe('dropped');
    expect(e.terminate(id, 'again')).toBe('gone');
    expect(e.purge(id)).toBe(1);
    expect(e.getStatus(id)).toBeUndefined();
    expect(() => e.raiseEvent(id, 'Approval', {})).toThrow("No instance with ID 'fixed-id' found.");
  });

  it('rejects an unknown orchestrator', () => {
    const { engine: e } = engine();
    expect(() => e.startNew('nope')).toThrow("The function 'nope' doesn't exist");
  });
});

describe('DurableEngine: importing a finished instance (benchmark seeding)', () => {
  it('serves an imported instance like one that ran: status, input, output, history; refuses an existing id', async () => {
    const { engine: e } = engine();
    const ran = e.startNew('raceOrchestrator', { input: { timeoutMinutes: 60, title: 'T' } });
    await e.waitForIdle();
    e.raiseEvent(ran, 'Approval', { approved: true, by: 'ann' });
    const s = await e.waitForStatus(ran, done);
    e.importInstance({
      name: s.name,
      instanceId: 'copy',
      runtimeStatus: 'Completed',
      input: s.input,
      output: s.output,
      customStatus: s.customStatus,
      createdTime: new Date(s.createdTime),
      lastUpdatedTime: new Date(s.lastUpdatedTime),
      history: e.history(ran),
    });
    const copy = e.getStatus('copy', { showInput: true })!;
    expect({ ...copy, instanceId: ran }).toEqual(e.getStatus(ran, { showInput: true }));
    expect(e.history('copy')).toEqual(e.history(ran));
    expect(e.query({ instanceIdPrefix: 'copy' }).map((x) => x.runtimeStatus)).toEqual(['Completed']);
    expect(e.raiseEvent('copy', 'Approval', {})).toBe('gone');
    expect(() =>
      e.importInstance({
        name: s.name,
        instanceId: ran,
        runtimeStatus: 'Completed',
        input: null,
        output: null,
        createdTime: new Date(),
        lastUpdatedTime: new Date(),
        history: [],
      }),
    ).toThrow(/already exists/);
  });
});
