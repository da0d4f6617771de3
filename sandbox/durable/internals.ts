/**
 * The durable-functions 3.5.0 internals the local host relies on, behind narrow types. durable-functions is pinned
 * exactly in package.json because of this module; `assertDurableInternals()` (and its test) fails loudly if the
 * package moves them. Sources: node_modules/durable-functions/lib/src/util/testingUtils.js (createOrchestrator,
 * DurableOrchestrationInput), orchestrations/TaskOrchestrationExecutor.js (openTasks, openEvents, sequence ids),
 * task/RetryableTask.js (retry = timer id + re-attempt id), error/OrchestrationFailureError.js ($OutOfProcData$).
 */
import type { InvocationContext } from '@azure/functions';

/** Replay schema V4 (lib/src/orchestrations/ReplaySchema.js), what current Functions hosts negotiate. */
export const REPLAY_SCHEMA_V4 = 3;

/** lib/src/actions/ActionType.js */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
} as const;

export interface RetryOptionsData {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** An action as the executor emits it (the JSON the extension receives). */
export interface ActionData {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  version?: string;
  retryOptions?: RetryOptionsData;
  fireAt?: Date | string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: ActionData[];
}

/** The executor's view of a task (TaskBase/DFTask/RetryableTask/LongTimerTask fields). */
export interface TaskData {
  id: number | string | false;
  action: ActionData | 'noOp';
  parent?: TaskData;
  innerTask?: TaskData;
  isWaitingOnTimer?: boolean;
  attemptNumber?: number;
  retryOptions?: RetryOptionsData;
}

export interface ExecutorData {
  openTasks: Record<string, TaskData>;
  openEvents: Record<string, TaskData[]>;
}

/** lib/src/orchestrations/OrchestratorState.js */
export interface OrchestratorStateData {
  isDone: boolean;
  actions: ActionData[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion: number;
}

export type OrchestratorHandler = (trigger: unknown, context: InvocationContext) => Promise<OrchestratorStateData>;

interface TestingUtils {
  createOrchestrator: (fn: unknown) => OrchestratorHandler;
  DurableOrchestrationInput: new (
    instanceId: string,
    history: unknown[],
    input: unknown,
    longRunningTimerIntervalDuration: string,
    maximumShortTimerDuration: string,
    defaultHttpAsyncRequestSleepTimeMillseconds: number,
    schemaVersion: number,
    isReplaying: boolean,
    parentInstanceId: string,
  ) => object;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const testingUtils = require('durable-functions/lib/src/util/testingUtils') as TestingUtils;

/** Durations the Azure Storage backend passes (maximum short timer 6 days, long-timer interval 3 days). */
export const LONG_RUNNING_TIMER_INTERVAL = '3.00:00:00';
export const MAXIMUM_SHORT_TIMER = '6.00:00:00';

/** Builds the orchestration trigger payload the extension would send. */
export function orchestrationTrigger(
  instanceId: string,
  history: unknown[],
  input: unknown,
  parentInstanceId: string,
): object {
  return new testingUtils.DurableOrchestrationInput(
    instanceId,
    history,
    input,
    LONG_RUNNING_TIMER_INTERVAL,
    MAXIMUM_SHORT_TIMER,
    30000,
    REPLAY_SCHEMA_V4,
    false,
    parentInstanceId,
  );
}

export const createOrchestrator = (fn: unknown): OrchestratorHandler => testingUtils.createOrchestrator(fn);

/** After a replay, Orchestrator.handle has set `context.df` to a DurableOrchestrationContext holding the executor. */
export function executorOf(context: InvocationContext): ExecutorData {
  const df = (context as unknown as { df?: { taskOrchestratorExecutor?: ExecutorData } }).df;
  const executor = df?.taskOrchestratorExecutor;
  if (!executor || typeof executor.openTasks !== 'object' || typeof executor.openEvents !== 'object') {
    throw new Error(
      'durable-functions internals moved: context.df.taskOrchestratorExecutor.openTasks/openEvents not found ' +
        '(the local durable host is written against durable-functions 3.5.0)',
    );
  }
  return executor;
}

const FAILURE_LABEL = '\n\n$OutOfProcData$:';

/** A failed replay rejects with OrchestrationFailureError whose message carries the state after `$OutOfProcData$:`. */
export function failureState(err: unknown): OrchestratorStateData | undefined {
  if (!(err instanceof Error)) return undefined;
  const at = err.message.indexOf(FAILURE_LABEL);
  if (at < 0) return undefined;
  try {
    return JSON.parse(err.message.slice(at + FAILURE_LABEL.length)) as OrchestratorStateData;
  } catch {
    return undefined;
  }
}

/** Throws with a clear message if the internals this host uses are not where 3.5.0 keeps them. */
export function assertDurableInternals(): void {
  const problems: string[] = [];
  if (typeof testingUtils.createOrchestrator !== 'function') problems.push('testingUtils.createOrchestrator');
  if (typeof testingUtils.DurableOrchestrationInput !== 'function')
    problems.push('testingUtils.DurableOrchestrationInput');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const schema = require('durable-functions/lib/src/orchestrations/ReplaySchema') as {
    ReplaySchema?: Record<string, number>;
  };
  if (schema.ReplaySchema?.V4 !== REPLAY_SCHEMA_V4) problems.push('ReplaySchema.V4 === 3');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const retry = require('durable-functions/lib/src/task/RetryableTask') as { RetryableTask?: { prototype: object } };
  const trySetValue = (retry.RetryableTask?.prototype as { trySetValue?: () => void } | undefined)?.trySetValue;
  if (typeof trySetValue !== 'function' || !String(trySetValue).includes('isWaitingOnTimer')) {
    problems.push('RetryableTask.trySetValue with isWaitingOnTimer');
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exec = require('durable-functions/lib/src/orchestrations/TaskOrchestrationExecutor') as {
    TaskOrchestrationExecutor?: new () => Partial<ExecutorData>;
  };
  const probe = exec.TaskOrchestrationExecutor ? new exec.TaskOrchestrationExecutor() : undefined;
  if (!probe || typeof probe.openTasks !== 'object' || typeof probe.openEvents !== 'object') {
    problems.push('TaskOrchestrationExecutor.openTasks/openEvents');
  }
  if (problems.length > 0) {
    throw new Error(`durable-functions internals moved (local durable host needs 3.5.0): ${problems.join(', ')}`);
  }
}
