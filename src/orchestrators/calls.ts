/**
 * Typed activity calls for orchestrators. The handles are derived from the activity catalogue's type
 * (src/activities/index.ts, imported as a type only, so no activity code is loaded into an orchestrator): the handle's
 * name is the catalogue key the activity is registered under, and its input and result types are the function's. An
 * orchestrator never passes a bare string or gets `any` back (https://github.com/Azure/azure-functions-durable-js/issues/524).
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';

import type { Activities } from '../activities';

/** An activity handle: its registered name plus (phantom) input and output types. */
export interface Activity<I, O> {
  readonly name: string;
  readonly types?: (input: I) => O;
}

/** The handle of every activity in the catalogue: input = its first parameter, output = what its promise resolves to. */
export type ActivityHandles = {
  readonly [K in keyof Activities]: Activity<Parameters<Activities[K]>[0], Awaited<ReturnType<Activities[K]>>>;
};

const handleCache = new Map<string, Activity<unknown, unknown>>();
/** `activities.x` is `{ name: 'x' }`: the key is the name, so there is no string to keep in sync. */
export const activities = new Proxy({} as ActivityHandles, {
  get(_, key) {
    if (typeof key !== 'string') return undefined;
    let handle = handleCache.get(key);
    if (!handle) handleCache.set(key, (handle = Object.freeze({ name: key })));
    return handle;
  },
});

export interface RetryPolicy {
  firstRetryIntervalMs: number;
  maxAttempts: number;
  backoffCoefficient: number;
  maxRetryIntervalMs: number;
}

/**
 * Durable retry policies per error class (docs/reference/microsoft.md#replication-delays;
 * docs/reference/servicenow.md#rate-limiting-and-retries). Activities throw only for retriable failures (Graph
 * replication 404 / NoBackingApplicationObject, 409, 429, 5xx; ServiceNow 429/5xx), so every throw is worth these
 * bounded, capped retries; non-retriable failures come back as `{ ok: false }`. Bounded by attempts only
 * (docs/reference/durable-functions.md#bounded-retries-and-the-activity-error-convention).
 */
export const RETRY = {
  /** Graph eventual consistency: 2, 4, 8, 16, 32, 60 s (about two minutes). */
  graph: { firstRetryIntervalMs: 2_000, maxAttempts: 7, backoffCoefficient: 2, maxRetryIntervalMs: 60_000 },
  /** ServiceNow and Key Vault throttling and outages. */
  service: { firstRetryIntervalMs: 2_000, maxAttempts: 5, backoffCoefficient: 2, maxRetryIntervalMs: 30_000 },
  /** Best-effort side effects (work notes, registry, mail). */
  light: { firstRetryIntervalMs: 1_000, maxAttempts: 3, backoffCoefficient: 2, maxRetryIntervalMs: 10_000 },
} as const satisfies Record<string, RetryPolicy>;

function retryOptions(p: RetryPolicy): df.RetryOptions {
  const options = new df.RetryOptions(p.firstRetryIntervalMs, p.maxAttempts);
  options.backoffCoefficient = p.backoffCoefficient;
  options.maxRetryIntervalInMilliseconds = p.maxRetryIntervalMs;
  return options;
}

/** Schedules an activity; yield the returned task (or pass it to Task.all/any). */
export function schedule<I, O>(context: OrchestrationContext, a: Activity<I, O>, input: I, retry?: RetryPolicy): Task {
  // A snapshot: the actions of an episode are serialized when it ends, so an input that shares objects with state the
  // orchestrator changes later in the same episode would go out (and be recorded) changed.
  const snapshot = structuredClone(input);
  return retry
    ? context.df.callActivityWithRetry(a.name, retryOptions(retry), snapshot)
    : context.df.callActivity(a.name, snapshot);
}

/** Calls an activity and returns its typed result: `const r = yield* call(context, activities.x, input, RETRY.graph)`. */
export function* call<I, O>(
  context: OrchestrationContext,
  a: Activity<I, O>,
  input: I,
  retry?: RetryPolicy,
): Generator<Task, O, unknown> {
  return (yield schedule(context, a, input, retry)) as O;
}

/** Calls activities in parallel (Task.all) and returns their typed results in order. */
export function* callAll<I, O>(
  context: OrchestrationContext,
  a: Activity<I, O>,
  inputs: I[],
  retry?: RetryPolicy,
): Generator<Task, O[], unknown> {
  if (inputs.length === 0) return [];
  return (yield context.df.Task.all(inputs.map((input) => schedule(context, a, input, retry)))) as O[];
}
