/**
 * Runs the real orchestrators (provisionIntegration, rotateCredentials) on the local durable engine
 * (sandbox/durable/engine.ts: durable-functions' own replay executor, a manual clock) with STUB activities: plain
 * async functions registered under the activity catalogue's names (src/activities/index.ts), each returning what the
 * test says. No sandbox stand-in, no HTTP, no Functions host: a scenario runs in milliseconds of real time however
 * many days of approval deadlines, reminders and retry back-offs it covers.
 *
 * Replay semantics follow https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-orchestrations
 * (the orchestrator function is re-run from the start on every new history event; activities run once per schedule)
 * and retries https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-error-handling .
 */
import { InvocationContext } from '@azure/functions';

import type { Activities, ActivityName } from '../../src/activities';
import { provisionIntegration } from '../../src/orchestrators/provision-integration';
import { PROVISION_ORCHESTRATOR } from '../../src/orchestrators/provision-types';
import { checkIntegrationHealth, HEALTH_ORCHESTRATOR } from '../../src/orchestrators/check-health';
import { rotateCredentials } from '../../src/orchestrators/rotate-credentials';
import { ROTATION_ORCHESTRATOR } from '../../src/orchestrators/rotation-types';
import { decommissionIntegration } from '../../src/orchestrators/decommission-integration';
import { DECOMMISSION_ORCHESTRATOR } from '../../src/orchestrators/decommission-types';
import { ManualClock } from '../../sandbox/durable/clock';
import {
  actionSignature,
  DurableEngine,
  TERMINAL,
  type ActivityHandler,
  type InstanceStatus,
} from '../../sandbox/durable/engine';
import { EventType, parseJson, type HistoryEvent } from '../../sandbox/durable/history';
import {
  ActionType,
  createOrchestrator,
  failureState,
  orchestrationTrigger,
  type ActionData,
  type OrchestratorHandler,
  type OrchestratorStateData,
} from '../../sandbox/durable/internals';

export type ActivityInput<K extends ActivityName> = Parameters<Activities[K]>[0];
export type ActivityResult<K extends ActivityName> = Awaited<ReturnType<Activities[K]>>;
/** A stub: the catalogue activity's input in, its result type out. Throwing = a retriable failure (durable retry). */
export type Stub<K extends ActivityName> = (input: ActivityInput<K>) => ActivityResult<K> | Promise<ActivityResult<K>>;
export type Stubs = { [K in ActivityName]?: Stub<K> };

/** One invocation of a stub, in the order the engine ran them. */
export interface StubCall {
  name: ActivityName;
  input: unknown;
  /** Virtual time (ms since the epoch) of the call. */
  at: number;
  outcome: 'returned' | 'threw';
}

/** 2025-01-01T00:00:00Z, the manual clock's start. */
export const START = Date.UTC(2025, 0, 1);
export const MINUTE = 60_000;
export const DAY = 24 * 60 * MINUTE;

/**
 * The same wrapper `df.app.orchestration(name, handler)` registers (durable-functions' app module wraps the handler
 * with createOrchestrator: src/app.ts of https://github.com/Azure/azure-functions-durable-js), under the
 * names src/functions/index.ts registers them with.
 */
const ORCHESTRATORS: Record<string, OrchestratorHandler> = {
  [PROVISION_ORCHESTRATOR]: createOrchestrator(provisionIntegration),
  [ROTATION_ORCHESTRATOR]: createOrchestrator(rotateCredentials),
  [DECOMMISSION_ORCHESTRATOR]: createOrchestrator(decommissionIntegration),
  [HEALTH_ORCHESTRATOR]: createOrchestrator(checkIntegrationHealth),
};

type OrchestratorName =
  | typeof PROVISION_ORCHESTRATOR
  | typeof ROTATION_ORCHESTRATOR
  | typeof DECOMMISSION_ORCHESTRATOR
  | typeof HEALTH_ORCHESTRATOR;

export class OrchestratorHarness {
  readonly clock = new ManualClock(START);
  readonly engine: DurableEngine;
  readonly calls: StubCall[] = [];
  /** Activities an orchestrator called that the test gave no stub for (runToEnd fails on any). */
  readonly unstubbed: string[] = [];

  constructor(private readonly stubs: Stubs) {
    this.engine = new DurableEngine({
      clock: this.clock,
      timers: 'virtual',
      functions: {
        orchestrator: (name) => ORCHESTRATORS[name],
        activity: (name) => this.activity(name as ActivityName),
      },
    });
  }

  private activity(name: ActivityName): ActivityHandler {
    return async (input: unknown) => {
      const stub = this.stubs[name] as ((input: unknown) => unknown) | undefined;
      if (!stub) {
        this.unstubbed.push(name);
        throw new Error(`no stub for activity '${name}'`);
      }
      const call: StubCall = { name, input, at: this.clock.now(), outcome: 'threw' };
      this.calls.push(call);
      const result = await stub(input);
      call.outcome = 'returned';
      return result;
    };
  }

  start(name: OrchestratorName, instanceId: string, input: unknown) {
    return this.engine.startNew(name, { instanceId, input });
  }

  status(instanceId: string): InstanceStatus {
    const s = this.engine.getStatus(instanceId);
    if (!s) throw new Error(`no instance ${instanceId}`);
    return s;
  }

  /** The orchestrator's custom status (ProvisionStatus / RotationStatus). */
  custom<T>(instanceId: string): T {
    return this.status(instanceId).customStatus as T;
  }

  /** The names of the stub calls, in order (optionally only those of `names`). */
  sequence(...names: ActivityName[]): string[] {
    return this.calls.filter((c) => names.length === 0 || names.includes(c.name)).map((c) => c.name);
  }

  /** The inputs of every call of one activity, in order. */
  inputsOf<K extends ActivityName>(name: K): ActivityInput<K>[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.input as ActivityInput<K>);
  }

  idle(): Promise<void> {
    return this.engine.waitForIdle();
  }

  /** Moves the manual clock and fires every timer now due (approval reminders, deadlines, retry back-offs). */
  advance(ms: number): Promise<void> {
    return this.engine.advanceTime(ms);
  }

  raise(instanceId: string, eventName: string, data: unknown): Promise<void> {
    expect(this.engine.raiseEvent(instanceId, eventName, data)).toBe('accepted');
    return this.idle();
  }

  /** The pending timers' due times, as offsets from now. */
  pendingTimers(instanceId: string): number[] {
    return this.engine
      .timers(instanceId)
      .filter((t) => t.state === 'pending')
      .map((t) => t.fireAt.getTime() - this.clock.now());
  }

  /**
   * Runs the instance to its end, jumping the clock from one pending timer to the next. Throws when it waits for an
   * external event with no timer left, or when an activity without a stub was called.
   */
  async runToEnd(instanceId: string, maxSteps = 50): Promise<InstanceStatus> {
    await this.idle();
    for (let i = 0; i < maxSteps; i++) {
      if (this.unstubbed.length) throw new Error(`activities without a stub: ${this.unstubbed.join(', ')}`);
      const s = this.status(instanceId);
      if (TERMINAL.includes(s.runtimeStatus)) return s;
      const next = Math.min(...this.pendingTimers(instanceId));
      if (!Number.isFinite(next))
        throw new Error(`instance ${instanceId} waits for ${this.engine.waitingFor(instanceId).join(', ')}`);
      await this.advance(Math.max(0, next));
    }
    throw new Error(`instance ${instanceId} did not finish in ${maxSteps} timer steps`);
  }
}

/** The activity actions an orchestrator emitted, Task.all/any flattened, as `name input` strings. */
export function activityActions(actions: ActionData[]): string[] {
  return actions.flatMap((a): string[] => {
    if (a.compoundActions) return activityActions(a.compoundActions);
    if (a.actionType !== ActionType.CallActivity && a.actionType !== ActionType.CallActivityWithRetry) return [];
    const input = typeof a.input === 'string' ? parseJson(a.input) : a.input;
    return [`${a.functionName} ${JSON.stringify(input)}`];
  });
}

/** Replays a recorded history through the orchestrator once more, outside the engine (no activity can run). */
export async function replay(
  name: OrchestratorName,
  instanceId: string,
  history: readonly HistoryEvent[],
  input: unknown,
): Promise<OrchestratorStateData> {
  const context = new InvocationContext({ functionName: name, invocationId: `replay-${instanceId}` });
  try {
    return await ORCHESTRATORS[name](orchestrationTrigger(instanceId, history.slice(), input, ''), context);
  } catch (err) {
    // An orchestrator that throws rejects with its state (actions so far, error) after `$OutOfProcData$:`.
    const state = failureState(err);
    if (!state) throw err;
    return state;
  }
}

/**
 * Replay safety of one finished instance:
 *  - every TaskScheduled event in the history ran its activity exactly once (the engine replays the orchestrator on
 *    every episode; a replay must never run an activity again), and the stubs saw exactly those calls;
 *  - replaying the complete history twice more gives the same actions both times, schedules exactly the activities
 *    (name and input, in order) the history records, and returns the same output the instance completed with.
 */
export async function expectReplaySafe(
  h: OrchestratorHarness,
  name: OrchestratorName,
  instanceId: string,
): Promise<void> {
  const status = h.status(instanceId);
  expect(status.runtimeStatus).toBe('Completed');
  const history = h.engine.history(instanceId);
  const scheduled = history.filter((e) => e.EventType === EventType.TaskScheduled);
  const runs = h.engine.activityRuns.filter((r) => r.instanceId === instanceId);
  expect(runs.map((r) => r.taskId).sort((a, b) => a - b)).toEqual(
    scheduled.map((e) => e.EventId).sort((a, b) => a - b),
  );
  const count = (names: string[]) =>
    names.reduce<Record<string, number>>((m, n) => ({ ...m, [n]: (m[n] ?? 0) + 1 }), {});
  expect(count(h.calls.map((c) => c.name))).toEqual(count(scheduled.map((e) => e.Name ?? '')));

  const first = await replay(name, instanceId, history, status.input);
  const second = await replay(name, instanceId, history, status.input);
  expect(first.error).toBeUndefined();
  expect(first.isDone).toBe(true);
  expect(first.output).toEqual(status.output);
  const signatures = (s: OrchestratorStateData) => s.actions.flat().map(actionSignature);
  expect(signatures(second)).toEqual(signatures(first));
  expect(activityActions(first.actions.flat())).toEqual(scheduledCalls(history));
}

/**
 * The activity calls a history records, as `name input`, in order. A call with a retry policy is one action however
 * many attempts it took: an attempt scheduled after the same call failed (TaskFailed, retry timer) is not a new call.
 */
export function scheduledCalls(history: readonly HistoryEvent[]): string[] {
  const byId = new Map<number, string>();
  const failed = new Set<string>();
  const calls: string[] = [];
  for (const e of history) {
    if (e.EventType === EventType.TaskScheduled) {
      const call = `${e.Name} ${JSON.stringify(parseJson(e.Input))}`;
      byId.set(e.EventId, call);
      if (failed.delete(call)) continue; // the retry policy's next attempt
      calls.push(call);
    } else if (e.EventType === EventType.TaskFailed) {
      const call = byId.get(e.TaskScheduledId ?? -1);
      if (call) failed.add(call);
    } else if (e.EventType === EventType.TaskCompleted) {
      const call = byId.get(e.TaskScheduledId ?? -1);
      if (call) failed.delete(call);
    }
  }
  return calls;
}
