/**
 * Local orchestration engine: keeps each instance's history the way the Durable Task Framework does, replays the
 * orchestrator from the start through durable-functions' own executor on every new event (replay schema V4), and
 * carries out the actions it returns against the sandbox (activities, timers, sub-orchestrations, continue-as-new).
 *
 * Behaviour follows https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-orchestrations
 * (replay, event sourcing), ...-external-events (events are buffered until the orchestrator waits for them),
 * ...-error-handling (retry options), ...-timers and ...-instance-management (terminate, purge), and the 3.5.0
 * package source for the task ids the JS executor expects (docs/reference/local-runtime.md#replaying-orchestrators).
 */
import { InvocationContext, type LogLevel } from '@azure/functions';

import type { SandboxClock } from '../core/clock';
import { newGuid } from '../core/random';
import { EventType, historyEvent, parseJson, publicHistoryEvent, toJson, type HistoryEvent } from './history';
import {
  ActionType,
  executorOf,
  failureState,
  orchestrationTrigger,
  type ActionData,
  type OrchestratorHandler,
  type OrchestratorStateData,
  type RetryOptionsData,
  type TaskData,
} from './internals';

export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Terminated';
export const TERMINAL: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated'];

export type ActivityHandler = (input: unknown, context: InvocationContext) => unknown;

/** Where the engine finds the captured orchestrator and activity handlers (see sandbox/host/registry.ts). */
export interface DurableFunctionLookup {
  orchestrator(name: string): OrchestratorHandler | undefined;
  activity(name: string): ActivityHandler | undefined;
}

export interface EngineOptions {
  clock: SandboxClock;
  functions: DurableFunctionLookup;
  /** At-least-once delivery: run matching activities twice and keep the second result (idempotency tests). */
  atLeastOnce?: boolean | ((activityName: string) => boolean);
  /** 'virtual' (tests: timers fire when advanceTime() moves the clock past them) or 'real' (demo: setTimeout). */
  timers?: 'virtual' | 'real';
  /** host.json extensions.durableTask.defaultVersion: the version of instances started without one. */
  defaultVersion?: string;
  /**
   * Called (and awaited) before each episode appends its new events, i.e. after the work those events report
   * (activities) has happened: tests use it to probe the outside world after every history event.
   */
  onEpisode?: (instanceId: string, orchestrator: string, events: readonly HistoryEvent[]) => Promise<void> | void;
}

export interface TimerRecord {
  id: number;
  fireAt: Date;
  kind: 'timer' | 'retry';
  /** canceled = the orchestrator called cancel(); dropped = still pending when the instance finished. */
  state: 'pending' | 'fired' | 'canceled' | 'dropped';
}

export interface ActivityRun {
  instanceId: string;
  name: string;
  taskId: number;
  invocationId: string;
  input: unknown;
  outcome: 'completed' | 'failed';
  result?: unknown;
  error?: string;
  at: Date;
}

export interface LogRecord {
  functionName: string;
  invocationId: string;
  level: LogLevel;
  message: string;
}

export interface StatusOptions {
  showHistory?: boolean;
  showHistoryOutput?: boolean;
  showInput?: boolean;
}

/** The Durable HTTP API's instance status body. */
export interface InstanceStatus {
  name: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  customStatus: unknown;
  output: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: Record<string, unknown>[];
}

export interface InstanceQuery {
  createdTimeFrom?: Date;
  createdTimeTo?: Date;
  runtimeStatus?: string[];
  instanceIdPrefix?: string;
}

export class DurableError extends Error {
  constructor(
    readonly code: 'notFound' | 'conflict' | 'badRequest',
    message: string,
  ) {
    super(message);
    this.name = 'DurableError';
  }
}

interface Instance {
  id: string;
  name: string;
  input: unknown;
  parent?: { id: string; taskId: number; generation: number };
  version: string | undefined;
  status: RuntimeStatus;
  customStatus: unknown;
  output: unknown;
  createdTime: Date;
  lastUpdatedTime: Date;
  history: HistoryEvent[];
  inbox: HistoryEvent[];
  /** Signatures of the actions the orchestrator emitted so far in this generation (determinism check). */
  actionLog: string[];
  scheduled: Set<number>;
  timers: TimerRecord[];
  waitingFor: string[];
  generation: number;
  running: boolean;
}

type Work =
  | { kind: 'activity'; name: string; input: unknown }
  | { kind: 'subOrchestration'; name: string; input: unknown; instanceId?: string; version?: string }
  | { kind: 'timer'; fireAt: Date; canceled: boolean }
  | { kind: 'retryTimer'; delayMs: number }
  | { kind: 'unsupported'; what: string };

const ACTION_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ActionType).map(([k, v]) => [v, k]));

/** A stable description of an action for the determinism check (type, name, input, fire time; not cancellation). */
export function actionSignature(a: ActionData): string {
  const type = ACTION_NAMES[a.actionType] ?? `Action${a.actionType}`;
  if (a.compoundActions) return `${type}[${a.compoundActions.map(actionSignature).join(', ')}]`;
  const parts: string[] = [type];
  if (a.functionName !== undefined) parts.push(`'${a.functionName}'`);
  if (a.externalEventName !== undefined) parts.push(`'${a.externalEventName}'`);
  if (a.instanceId) parts.push(`instanceId=${a.instanceId}`);
  if (a.fireAt !== undefined) parts.push(`fireAt=${new Date(a.fireAt).toISOString()}`);
  if (a.input !== undefined) parts.push(`input=${typeof a.input === 'string' ? a.input : JSON.stringify(a.input)}`);
  return parts.join(' ');
}

/** The value an action carries: CallActivity/ContinueAsNew JSON-encode string inputs (Utils.processInput). */
function processedInput(a: ActionData): unknown {
  return typeof a.input === 'string' ? parseJson(a.input) : a.input;
}

/** Round trip through JSON like the extension's serialization (Dates become strings, undefined disappears). */
function roundTrip(value: unknown): unknown {
  return value === undefined ? undefined : parseJson(JSON.stringify(value));
}

/**
 * Retry delay as the Durable Task Framework computes it (RetryOptions docs: first interval times
 * backoffCoefficient^(attempt-1), capped at maxRetryInterval). `failures` counts failed attempts so far.
 */
export function retryDelay(options: RetryOptionsData, failures: number): number {
  const coefficient = options.backoffCoefficient ?? 1;
  const delay = options.firstRetryIntervalInMilliseconds * Math.pow(coefficient, Math.max(0, failures - 1));
  const cap = options.maxRetryIntervalInMilliseconds;
  return cap !== undefined && cap > 0 ? Math.min(delay, cap) : delay;
}

function describeTask(task: TaskData): Work {
  if (task.action === 'noOp') {
    const retry = task.parent;
    if (!retry?.retryOptions || retry.innerTask === undefined) return { kind: 'unsupported', what: 'noOp task' };
    const attempt = retry.attemptNumber ?? 1;
    if (retry.isWaitingOnTimer) {
      // RetryableTask waits on one timer after every failure, the last one included, before it rejects; the
      // extension retries no further then, so that last timer is due at once.
      const failures = attempt - 1;
      const exhausted = attempt > retry.retryOptions.maxNumberOfAttempts;
      return { kind: 'retryTimer', delayMs: exhausted ? 0 : retryDelay(retry.retryOptions, failures) };
    }
    return describeAction(retry.innerTask.action === 'noOp' ? undefined : retry.innerTask.action);
  }
  const work = describeAction(task.action);
  if (work.kind === 'timer' && task.parent && task.parent.action !== 'noOp' && task.parent.action.isCanceled) {
    work.canceled = true; // a LongTimerTask's child timers share the parent's cancellation
  }
  return work;
}

function describeAction(a: ActionData | undefined): Work {
  if (!a) return { kind: 'unsupported', what: 'task without action' };
  switch (a.actionType) {
    case ActionType.CallActivity:
    case ActionType.CallActivityWithRetry:
      return { kind: 'activity', name: a.functionName ?? '', input: processedInput(a) };
    case ActionType.CallSubOrchestrator:
    case ActionType.CallSubOrchestratorWithRetry:
      return {
        kind: 'subOrchestration',
        name: a.functionName ?? '',
        input: a.input,
        ...(a.instanceId ? { instanceId: a.instanceId } : {}),
        ...(a.version ? { version: a.version } : {}),
      };
    case ActionType.CreateTimer:
      return { kind: 'timer', fireAt: new Date(a.fireAt ?? 0), canceled: a.isCanceled === true };
    default:
      return { kind: 'unsupported', what: ACTION_NAMES[a.actionType] ?? `action type ${a.actionType}` };
  }
}

function errorText(err: unknown): { message: string; stack: string } {
  if (err instanceof Error) return { message: err.message, stack: err.stack ?? err.message };
  const message = typeof err === 'string' ? err : JSON.stringify(err);
  return { message, stack: message };
}

export class DurableEngine {
  private readonly instances = new Map<string, Instance>();
  private busy = 0;
  private readonly listeners = new Set<() => void>();
  private realTimer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly activityRuns: ActivityRun[] = [];
  readonly logs: LogRecord[] = [];

  constructor(private readonly opts: EngineOptions) {}

  // ---- client operations (what the Durable HTTP API exposes) ----

  /** Schedules a new instance (Pending until its first episode runs). Returns the instance id. */
  startNew(
    name: string,
    options: { instanceId?: string; input?: unknown; version?: string; parentInstance?: Instance['parent'] } = {},
  ) {
    if (!this.opts.functions.orchestrator(name)) {
      // Durable extension: "The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
      throw new DurableError(
        'badRequest',
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    }
    const id = options.instanceId ?? newGuid().replace(/-/g, '');
    const existing = this.instances.get(id);
    if (existing && !TERMINAL.includes(existing.status)) {
      // Durable 2.x default (overridableExistingInstanceStates = NonRunningStates) rejects a running duplicate.
      throw new DurableError(
        'conflict',
        `An Orchestration instance with the status ${existing.status} already exists.`,
      );
    }
    const now = this.opts.clock.date();
    const input = roundTrip(options.input);
    const inst: Instance = {
      id,
      name,
      input,
      ...(options.parentInstance ? { parent: options.parentInstance } : {}),
      status: 'Pending',
      customStatus: null,
      output: null,
      createdTime: now,
      lastUpdatedTime: now,
      history: [],
      version: options.version ?? this.opts.defaultVersion,
      inbox: [],
      actionLog: [],
      scheduled: new Set(),
      timers: [],
      waitingFor: [],
      generation: 0,
      running: false,
    };
    inst.inbox.push(this.executionStarted(inst, now));
    this.instances.set(id, inst);
    this.kick(inst);
    return id;
  }

  /** ExecutionStarted carries the version context.df.version reads (orchestration versioning). */
  private executionStarted(inst: Instance, at: Date): HistoryEvent {
    return historyEvent(EventType.ExecutionStarted, at, {
      Name: inst.name,
      Input: toJson(inst.input),
      ...(inst.version !== undefined ? { Version: inst.version } : {}),
    });
  }

  /**
   * Seeding (benchmarks): records a finished instance as the task hub would hold it after it ran (status, input,
   * output, custom status, history), without running it. Refuses an id that exists.
   */
  importInstance(snapshot: {
    name: string;
    instanceId: string;
    runtimeStatus: 'Completed' | 'Failed' | 'Terminated';
    input: unknown;
    output: unknown;
    customStatus?: unknown;
    createdTime: Date;
    lastUpdatedTime: Date;
    history: readonly HistoryEvent[];
    version?: string;
  }): void {
    if (this.instances.has(snapshot.instanceId))
      throw new DurableError(
        'conflict',
        `An Orchestration instance with the ID ${snapshot.instanceId} already exists.`,
      );
    this.instances.set(snapshot.instanceId, {
      id: snapshot.instanceId,
      name: snapshot.name,
      input: roundTrip(snapshot.input),
      version: snapshot.version ?? this.opts.defaultVersion,
      status: snapshot.runtimeStatus,
      customStatus: roundTrip(snapshot.customStatus ?? null),
      output: roundTrip(snapshot.output),
      createdTime: snapshot.createdTime,
      lastUpdatedTime: snapshot.lastUpdatedTime,
      history: snapshot.history.map((e) => ({ ...e })),
      inbox: [],
      actionLog: [],
      scheduled: new Set(),
      timers: [],
      waitingFor: [],
      generation: 0,
      running: false,
    });
  }

  /** 'accepted', or 'gone' when the instance already finished (HTTP 410). Throws notFound. */
  raiseEvent(instanceId: string, eventName: string, data: unknown): 'accepted' | 'gone' {
    const inst = this.require(instanceId);
    if (TERMINAL.includes(inst.status)) return 'gone';
    // Stored in history at once; the executor buffers it until the orchestrator waits (deferredTasks).
    inst.inbox.push(
      historyEvent(EventType.EventRaised, this.opts.clock.date(), { Name: eventName, Input: toJson(roundTrip(data)) }),
    );
    this.kick(inst);
    return 'accepted';
  }

  terminate(instanceId: string, reason: string): 'accepted' | 'gone' {
    const inst = this.require(instanceId);
    if (TERMINAL.includes(inst.status)) return 'gone';
    inst.inbox.push(historyEvent(EventType.ExecutionTerminated, this.opts.clock.date(), { Input: toJson(reason) }));
    this.kick(inst);
    return 'accepted';
  }

  /** Deletes a finished instance's state and history; running instances are not purged (returns 0). */
  purge(instanceId: string): number {
    const inst = this.instances.get(instanceId);
    if (!inst || !TERMINAL.includes(inst.status)) return 0;
    this.instances.delete(instanceId);
    return 1;
  }

  getStatus(instanceId: string, opts: StatusOptions = {}): InstanceStatus | undefined {
    const inst = this.instances.get(instanceId);
    return inst ? this.toStatus(inst, opts) : undefined;
  }

  query(q: InstanceQuery = {}, opts: StatusOptions = {}): InstanceStatus[] {
    const statuses = q.runtimeStatus?.map((s) => s.toLowerCase());
    return [...this.instances.values()]
      .filter((i) => !q.createdTimeFrom || i.createdTime >= q.createdTimeFrom)
      .filter((i) => !q.createdTimeTo || i.createdTime <= q.createdTimeTo)
      .filter((i) => !statuses || statuses.includes(i.status.toLowerCase()))
      .filter((i) => !q.instanceIdPrefix || i.id.startsWith(q.instanceIdPrefix))
      .map((i) => this.toStatus(i, opts));
  }

  /** The raw history (as handed to the executor) for assertions. */
  history(instanceId: string): readonly HistoryEvent[] {
    return this.require(instanceId).history;
  }

  timers(instanceId: string): readonly TimerRecord[] {
    return this.require(instanceId).timers;
  }

  /** Names of external events the orchestrator currently waits for. */
  waitingFor(instanceId: string): readonly string[] {
    return this.require(instanceId).waitingFor;
  }

  // ---- time and synchronisation ----

  /** Moves the shared clock forward, fires every timer now due and waits until the engine is idle. */
  async advanceTime(ms: number): Promise<void> {
    this.opts.clock.advance(ms);
    this.fireDueTimers();
    await this.waitForIdle();
  }

  fireDueTimers(): void {
    const now = this.opts.clock.now();
    for (const inst of this.instances.values()) {
      if (TERMINAL.includes(inst.status)) continue;
      const due = inst.timers.filter((t) => t.state === 'pending' && t.fireAt.getTime() <= now);
      for (const t of due.sort((a, b) => a.fireAt.getTime() - b.fireAt.getTime())) {
        t.state = 'fired';
        inst.inbox.push(
          historyEvent(EventType.TimerFired, this.opts.clock.date(), { TimerId: t.id, FireAt: new Date(t.fireAt) }),
        );
      }
      if (due.length > 0) this.kick(inst);
    }
    this.armRealTimer();
  }

  /** Resolves once no episode or activity is running or queued (pending timers do not count). */
  waitForIdle(timeoutMs = 10_000): Promise<void> {
    return this.waitUntil(
      () => this.busy === 0,
      timeoutMs,
      () => `engine still busy (${this.busy} jobs)`,
    );
  }

  /** Resolves with the status once `predicate` holds, re-checked after every episode and activity. */
  async waitForStatus(
    instanceId: string,
    predicate: (s: InstanceStatus) => boolean,
    timeoutMs = 10_000,
  ): Promise<InstanceStatus> {
    let last: InstanceStatus | undefined;
    await this.waitUntil(
      () => {
        last = this.getStatus(instanceId);
        return last !== undefined && predicate(last);
      },
      timeoutMs,
      () => `instance ${instanceId} never matched; last status ${JSON.stringify(last)}`,
    );
    return last!;
  }

  close(): void {
    this.closed = true;
    if (this.realTimer) clearTimeout(this.realTimer);
    this.realTimer = undefined;
  }

  /** Forgets every instance (sandbox reset). */
  reset(): void {
    this.instances.clear();
    this.activityRuns.length = 0;
    this.logs.length = 0;
    this.armRealTimer();
  }

  // ---- internals ----

  private waitUntil(check: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`));
      }, timeoutMs);
      const listener = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
      // Let work queued in this tick start before the first check.
      setImmediate(listener);
    });
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  private require(instanceId: string): Instance {
    const inst = this.instances.get(instanceId);
    // Durable client: "No instance with ID '{id}' found."
    if (!inst) throw new DurableError('notFound', `No instance with ID '${instanceId}' found.`);
    return inst;
  }

  private toStatus(inst: Instance, opts: StatusOptions): InstanceStatus {
    const status: InstanceStatus = {
      name: inst.name,
      instanceId: inst.id,
      runtimeStatus: inst.status,
      // The HTTP API omits the input only when showInput=false.
      input: opts.showInput === false ? null : (inst.input ?? null),
      customStatus: inst.customStatus ?? null,
      output: inst.output ?? null,
      createdTime: inst.createdTime.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      lastUpdatedTime: inst.lastUpdatedTime.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    if (opts.showHistory) {
      status.historyEvents = inst.history
        .map((e) => publicHistoryEvent(e, opts.showHistoryOutput === true))
        .filter((e): e is Record<string, unknown> => e !== undefined);
    }
    return status;
  }

  private kick(inst: Instance): void {
    if (inst.running || inst.inbox.length === 0 || this.closed) return;
    inst.running = true;
    this.busy++;
    void this.runEpisodes(inst).finally(() => {
      inst.running = false;
      this.busy--;
      if (inst.inbox.length > 0 && this.instances.get(inst.id) === inst) this.kick(inst);
      this.notify();
    });
  }

  private async runEpisodes(inst: Instance): Promise<void> {
    // Episodes of one instance run one after another; new events queue in the inbox meanwhile.
    await Promise.resolve();
    while (inst.inbox.length > 0 && this.instances.get(inst.id) === inst) {
      try {
        await this.episode(inst);
      } catch (err) {
        this.fail(inst, `local durable host error: ${errorText(err).message}`, errorText(err).stack);
      }
      this.notify();
    }
  }

  private async episode(inst: Instance): Promise<void> {
    const events = inst.inbox.splice(0);
    if (TERMINAL.includes(inst.status)) return; // late completions of a finished instance are dropped
    if (this.opts.onEpisode) await this.opts.onEpisode(inst.id, inst.name, events);
    const now = this.opts.clock.date();
    inst.lastUpdatedTime = now;
    const terminated = events.find((e) => e.EventType === EventType.ExecutionTerminated);
    if (terminated) {
      inst.history.push(historyEvent(EventType.OrchestratorStarted, now), terminated);
      this.finish(inst, 'Terminated', parseJson(terminated.Input) ?? null);
      return;
    }
    inst.history.push(historyEvent(EventType.OrchestratorStarted, now), ...events);
    if (inst.status === 'Pending') inst.status = 'Running';

    const handler = this.opts.functions.orchestrator(inst.name);
    if (!handler) {
      this.fail(inst, `The function '${inst.name}' doesn't exist, is disabled, or is not an orchestrator function.`);
      return;
    }
    const context = this.invocationContext(inst.name);
    let state: OrchestratorStateData | undefined;
    let error: { message: string; stack: string } | undefined;
    try {
      state = await handler(
        orchestrationTrigger(inst.id, inst.history.slice(), inst.input, inst.parent?.id ?? ''),
        context,
      );
    } catch (err) {
      state = failureState(err);
      error = state ? { message: state.error ?? 'unknown error', stack: state.error ?? '' } : errorText(err);
    }

    const actions = state?.actions[0] ?? [];
    const divergence = this.divergence(inst, actions.map(actionSignature), state?.isDone === true || !error);
    if (divergence) {
      this.fail(inst, divergence);
      return;
    }
    if (state && state.customStatus !== undefined) inst.customStatus = state.customStatus;
    if (error) {
      this.fail(inst, `Orchestrator function '${inst.name}' failed: ${error.message}`, error.stack);
      return;
    }
    if (!state) return;
    const executor = executorOf(context);
    for (const [key, task] of Object.entries(executor.openTasks)) {
      if (inst.scheduled.has(Number(key))) this.cancelIfRequested(inst, Number(key), task);
    }
    if (state.isDone) {
      const continueAsNew = actions.find((a) => a.actionType === ActionType.ContinueAsNew);
      if (continueAsNew) this.continueAsNew(inst, processedInput(continueAsNew));
      else this.finish(inst, 'Completed', roundTrip(state.output) ?? null);
      return;
    }

    for (const [key, task] of Object.entries(executor.openTasks)) {
      const id = Number(key);
      if (!Number.isInteger(id) || inst.scheduled.has(id)) continue;
      inst.scheduled.add(id);
      this.schedule(inst, id, describeTask(task));
      if (TERMINAL.includes(inst.status)) return;
    }
    inst.waitingFor = Object.keys(executor.openEvents);
    inst.history.push(historyEvent(EventType.OrchestratorCompleted, now));
    this.fireDueTimers();
  }

  /**
   * The replay must emit the actions recorded in earlier episodes, in the same order. The real extension reports a
   * mismatch as "Non-Deterministic workflow detected"; this check also compares inputs and timer due times, which
   * catches Date.now()/Math.random()/settings reads that feed an action.
   */
  private divergence(inst: Instance, emitted: string[], complete: boolean): string | undefined {
    const recorded = inst.actionLog;
    const n = Math.min(recorded.length, emitted.length);
    for (let i = 0; i < n; i++) {
      if (recorded[i] !== emitted[i]) {
        return (
          `Non-Deterministic workflow detected in orchestrator '${inst.name}' (instance ${inst.id}): action #${i} ` +
          `in the history is ${recorded[i]} but the replay emitted ${emitted[i]}. Orchestrator code must be ` +
          `deterministic (no Date.now(), Math.random(), I/O or settings reads; use context.df.currentUtcDateTime).`
        );
      }
    }
    if (complete && emitted.length < recorded.length) {
      return (
        `Non-Deterministic workflow detected in orchestrator '${inst.name}' (instance ${inst.id}): the history has ` +
        `${recorded.length} actions but the replay emitted only ${emitted.length}; missing ${recorded[emitted.length]}.`
      );
    }
    if (emitted.length > recorded.length) inst.actionLog = emitted;
    return undefined;
  }

  private cancelIfRequested(inst: Instance, id: number, task: TaskData): void {
    const timer = inst.timers.find((t) => t.id === id && t.state === 'pending');
    if (!timer) return;
    const work = describeTask(task);
    if (work.kind === 'timer' && work.canceled) timer.state = 'canceled';
  }

  private schedule(inst: Instance, id: number, work: Work): void {
    const now = this.opts.clock.date();
    switch (work.kind) {
      case 'activity':
        inst.history.push(
          historyEvent(EventType.TaskScheduled, now, { EventId: id, Name: work.name, Input: toJson(work.input) }),
        );
        this.runActivity(inst, id, work.name, work.input);
        return;
      case 'timer':
      case 'retryTimer': {
        const fireAt = work.kind === 'timer' ? work.fireAt : new Date(now.getTime() + work.delayMs);
        inst.history.push(historyEvent(EventType.TimerCreated, now, { EventId: id, FireAt: fireAt }));
        inst.timers.push({
          id,
          fireAt,
          kind: work.kind === 'timer' ? 'timer' : 'retry',
          state: work.kind === 'timer' && work.canceled ? 'canceled' : 'pending',
        });
        return;
      }
      case 'subOrchestration': {
        // Without an explicit id the extension derives the child's id from the parent's.
        const childId = work.instanceId ?? `${inst.id}:${id.toString(16).toUpperCase().padStart(4, '0')}`;
        inst.history.push(
          historyEvent(EventType.SubOrchestrationInstanceCreated, now, {
            EventId: id,
            Name: work.name,
            InstanceId: childId,
            Input: toJson(work.input),
          }),
        );
        try {
          this.startNew(work.name, {
            instanceId: childId,
            input: work.input,
            ...(work.version ? { version: work.version } : {}),
            parentInstance: { id: inst.id, taskId: id, generation: inst.generation },
          });
        } catch (err) {
          inst.inbox.push(
            historyEvent(EventType.SubOrchestrationInstanceFailed, now, {
              TaskScheduledId: id,
              FunctionName: work.name,
              Reason: errorText(err).message,
              Details: errorText(err).stack,
            }),
          );
        }
        return;
      }
      case 'unsupported':
        this.fail(inst, `The local durable host does not support ${work.what} (orchestrator '${inst.name}').`);
        return;
    }
  }

  private invocationContext(functionName: string): InvocationContext {
    const invocationId = newGuid();
    return new InvocationContext({
      invocationId,
      functionName,
      logHandler: (level, ...args) => {
        this.logs.push({
          functionName,
          invocationId,
          level,
          message: args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '),
        });
      },
    });
  }

  private runActivity(inst: Instance, taskId: number, name: string, input: unknown): void {
    const generation = inst.generation;
    const mode = this.opts.atLeastOnce;
    const runs = (typeof mode === 'function' ? mode(name) : mode === true) ? 2 : 1;
    this.busy++;
    void (async () => {
      let outcome: HistoryEvent | undefined;
      for (let i = 0; i < runs; i++) outcome = await this.invokeActivity(inst.id, taskId, name, input);
      if (outcome && this.instances.get(inst.id) === inst && inst.generation === generation) {
        inst.inbox.push(outcome);
        this.kick(inst);
      }
    })().finally(() => {
      this.busy--;
      this.notify();
    });
  }

  private async invokeActivity(instanceId: string, taskId: number, name: string, input: unknown) {
    const handler = this.opts.functions.activity(name);
    const context = this.invocationContext(name);
    const run = { instanceId, name, taskId, invocationId: context.invocationId, input, at: this.opts.clock.date() };
    const now = () => this.opts.clock.date();
    if (!handler) {
      const reason = `The function '${name}' doesn't exist, is disabled, or is not an activity function.`;
      this.activityRuns.push({ ...run, outcome: 'failed', error: reason });
      return historyEvent(EventType.TaskFailed, now(), {
        TaskScheduledId: taskId,
        FunctionName: name,
        Reason: reason,
        Details: reason,
      });
    }
    try {
      const result = roundTrip(await handler(roundTrip(input), context));
      this.activityRuns.push({ ...run, outcome: 'completed', result });
      return historyEvent(EventType.TaskCompleted, now(), {
        TaskScheduledId: taskId,
        FunctionName: name,
        Result: JSON.stringify(result ?? null),
      });
    } catch (err) {
      const { message, stack } = errorText(err);
      this.activityRuns.push({ ...run, outcome: 'failed', error: message });
      // The extension records the failure as "Activity function '{name}' failed: {message}" plus the details
      // (stack); the JS executor rethrows `new Error(`${Reason} \n ${Details}`)` in the orchestrator.
      return historyEvent(EventType.TaskFailed, now(), {
        TaskScheduledId: taskId,
        FunctionName: name,
        Reason: `Activity function '${name}' failed: ${message}`,
        Details: stack,
      });
    }
  }

  private continueAsNew(inst: Instance, input: unknown): void {
    const now = this.opts.clock.date();
    inst.history.push(
      historyEvent(EventType.ExecutionCompleted, now, { OrchestrationStatus: 'ContinuedAsNew', Result: toJson(input) }),
    );
    inst.status = 'ContinuedAsNew';
    // A new generation: fresh history and tasks; events that arrived meanwhile stay queued for it.
    inst.generation++;
    inst.input = roundTrip(input);
    inst.history = [];
    inst.actionLog = [];
    inst.scheduled = new Set();
    inst.timers = [];
    inst.waitingFor = [];
    const pendingEvents = inst.inbox.filter((e) => e.EventType === EventType.EventRaised);
    inst.inbox = [this.executionStarted(inst, now), ...pendingEvents];
    inst.status = 'Running';
    inst.lastUpdatedTime = now;
  }

  private fail(inst: Instance, reason: string, details = reason): void {
    inst.history.push(
      historyEvent(EventType.ExecutionFailed, this.opts.clock.date(), { Reason: reason, Details: details }),
    );
    this.finish(inst, 'Failed', reason);
  }

  private finish(inst: Instance, status: 'Completed' | 'Failed' | 'Terminated', output: unknown): void {
    const now = this.opts.clock.date();
    if (status === 'Completed') {
      inst.history.push(
        historyEvent(EventType.ExecutionCompleted, now, { OrchestrationStatus: 'Completed', Result: toJson(output) }),
      );
    }
    inst.status = status;
    inst.output = output;
    inst.lastUpdatedTime = now;
    inst.inbox = [];
    inst.waitingFor = [];
    for (const t of inst.timers) if (t.state === 'pending') t.state = 'dropped';
    this.notifyParent(inst, status, output);
    this.armRealTimer();
  }

  private notifyParent(inst: Instance, status: RuntimeStatus, output: unknown): void {
    if (!inst.parent) return;
    const parent = this.instances.get(inst.parent.id);
    if (!parent || parent.generation !== inst.parent.generation || TERMINAL.includes(parent.status)) return;
    const at = this.opts.clock.date();
    const taskId = inst.parent.taskId;
    parent.inbox.push(
      status === 'Completed'
        ? historyEvent(EventType.SubOrchestrationInstanceCompleted, at, {
            TaskScheduledId: taskId,
            FunctionName: inst.name,
            Result: JSON.stringify(output ?? null),
          })
        : historyEvent(EventType.SubOrchestrationInstanceFailed, at, {
            TaskScheduledId: taskId,
            FunctionName: inst.name,
            Reason: typeof output === 'string' ? output : `Orchestrator function '${inst.name}' ${status}`,
            Details: typeof output === 'string' ? output : JSON.stringify(output),
          }),
    );
    this.kick(parent);
  }

  /** Real-time mode: one setTimeout for the earliest pending timer. */
  private armRealTimer(): void {
    if (this.opts.timers !== 'real' || this.closed) return;
    if (this.realTimer) clearTimeout(this.realTimer);
    this.realTimer = undefined;
    let next = Infinity;
    for (const inst of this.instances.values()) {
      if (TERMINAL.includes(inst.status)) continue;
      for (const t of inst.timers) if (t.state === 'pending') next = Math.min(next, t.fireAt.getTime());
    }
    if (next === Infinity) return;
    const delay = Math.max(0, Math.min(next - this.opts.clock.now(), 2_147_483_647));
    this.realTimer = setTimeout(() => this.fireDueTimers(), delay);
    this.realTimer.unref();
  }
}
