/**
 * Captures the functions an entry module registers. Outside the Functions host `@azure/functions` is in test mode and
 * drops every registration with a console.warn (docs/reference/local-runtime.md#registration-outside-the-host), so
 * `loadFunctionApp` replaces the `app.*` methods while it requires the entry module and records what the host would
 * have indexed. `df.app.*` and `df.app.client.*` call `app.generic`/`app.http`/`app.timer` underneath
 * (durable-functions 3.5.0 lib/src/app.js, client.js), so their registrations, with the library's own wrappers, are
 * captured too.
 */
import path from 'node:path';

import { app, type FunctionInput, type HttpMethod, type InvocationContext } from '@azure/functions';

import type { ActivityHandler, DurableFunctionLookup } from '../durable/engine';
import type { OrchestratorHandler } from '../durable/internals';
import { parseNcrontab, type Schedule } from './ncrontab';
import { parseRoute, type RouteTemplate } from './routes';

export type AuthLevel = 'anonymous' | 'function' | 'admin';
type AnyHandler = (trigger: unknown, context: InvocationContext) => unknown;

interface Base {
  name: string;
  extraInputs: FunctionInput[];
}
export interface HttpRegistration extends Base {
  kind: 'http';
  route: string;
  template: RouteTemplate;
  methods: string[];
  authLevel: AuthLevel;
  handler: AnyHandler;
}
export interface TimerRegistration extends Base {
  kind: 'timer';
  schedule: string;
  /** Next occurrence after a time (ms since the epoch). */
  next: (after: number) => number | undefined;
  runOnStartup: boolean;
  handler: AnyHandler;
}
export interface OrchestrationRegistration extends Base {
  kind: 'orchestration';
  handler: OrchestratorHandler;
}
export interface ActivityRegistration extends Base {
  kind: 'activity';
  handler: ActivityHandler;
}
export interface OtherRegistration extends Base {
  kind: 'other';
  triggerType: string;
}
export type Registration =
  HttpRegistration | TimerRegistration | OrchestrationRegistration | ActivityRegistration | OtherRegistration;

export interface FunctionRegistry extends DurableFunctionLookup {
  readonly entryModule: string;
  readonly functions: readonly Registration[];
  readonly setupOptions: unknown;
  get(name: string): Registration | undefined;
  http(): HttpRegistration[];
  timers(): TimerRegistration[];
}

// Function names: letters first, then letters, digits, '_' or '-', at most 127 (Functions host naming rules).
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,126}$/;
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT']);
// Timer schedules: NCRONTAB with seconds (six fields) or a TimeSpan like 00:05:00 (App Service plans).
const TIMESPAN = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/;

interface Options {
  handler?: unknown;
  extraInputs?: FunctionInput[];
  route?: string;
  methods?: HttpMethod[];
  authLevel?: string;
  schedule?: string;
  runOnStartup?: boolean;
  trigger?: { type?: string };
}

function toHttp(name: string, o: Options): HttpRegistration {
  const route = o.route ?? name;
  const methods = (o.methods ?? ['GET', 'POST']).map((m) => m.toUpperCase());
  for (const m of methods) if (!METHODS.has(m)) throw new Error(`function '${name}': unknown HTTP method '${m}'`);
  const authLevel = (o.authLevel ?? 'anonymous') as AuthLevel;
  if (!['anonymous', 'function', 'admin'].includes(authLevel)) {
    throw new Error(`function '${name}': invalid authLevel '${String(o.authLevel)}'`);
  }
  return {
    kind: 'http',
    name,
    route,
    template: parseRoute(route),
    methods,
    authLevel,
    handler: handlerOf(name, o),
    extraInputs: o.extraInputs ?? [],
  };
}

function handlerOf(name: string, o: Options): AnyHandler {
  if (typeof o.handler !== 'function') throw new Error(`function '${name}': handler is not a function`);
  return o.handler as AnyHandler;
}

function fromGeneric(name: string, o: Options): Registration {
  const type = o.trigger?.type ?? '';
  const extraInputs = o.extraInputs ?? [];
  switch (type) {
    case 'orchestrationTrigger':
      return {
        kind: 'orchestration',
        name,
        extraInputs,
        handler: handlerOf(name, o) as unknown as OrchestratorHandler,
      };
    case 'activityTrigger':
      return { kind: 'activity', name, extraInputs, handler: handlerOf(name, o) };
    case 'httpTrigger':
      return toHttp(name, { ...(o.trigger as Options), ...o });
    case 'timerTrigger':
      return toTimer(name, { ...(o.trigger as Options), ...o });
    default:
      return { kind: 'other', name, extraInputs, triggerType: type };
  }
}

function toTimer(name: string, o: Options): TimerRegistration {
  const raw = o.schedule ?? '';
  // The host resolves %AppSetting% placeholders from the app settings (environment) at indexing time.
  const schedule = raw.replace(/%(\w+)%/g, (_, key: string) => {
    const value = process.env[key];
    if (value === undefined)
      throw new Error(`function '${name}': app setting '${key}' in schedule '${raw}' is not set`);
    return value;
  });
  const timeSpan = TIMESPAN.exec(schedule.trim());
  let next: Schedule['next'];
  if (timeSpan) {
    const ms =
      ((Number(timeSpan[1] ?? 0) * 24 + Number(timeSpan[2])) * 3600 + Number(timeSpan[3]) * 60 + Number(timeSpan[4])) *
      1000;
    if (ms <= 0) throw new Error(`function '${name}': invalid timer schedule '${schedule}'`);
    next = (after) => after + ms;
  } else {
    try {
      const parsed = parseNcrontab(schedule);
      next = (after) => parsed.next(after);
    } catch (err) {
      throw new Error(`function '${name}': ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return {
    kind: 'timer',
    name,
    schedule,
    next,
    runOnStartup: o.runOnStartup === true,
    handler: handlerOf(name, o),
    extraInputs: o.extraInputs ?? [],
  };
}

interface Captured {
  functions: Registration[];
  setupOptions: unknown;
}
/** A module body runs once per module registry (jest keeps its own), so captures are kept per entry module. */
const captures = new Map<string, Captured>();

/**
 * Requires `entryModulePath` with `app.*` intercepted and returns what it registered. Throws on malformed
 * registrations, and when nothing was captured because the module had already been loaded outside this loader.
 */
export function loadFunctionApp(entryModulePath: string): FunctionRegistry {
  const entryModule = path.resolve(entryModulePath);
  const known = captures.get(entryModule);
  const { functions, setupOptions } = known ?? capture(entryModule);
  if (!known) captures.set(entryModule, { functions, setupOptions });
  return toRegistry(entryModule, functions, setupOptions);
}

function capture(entryModule: string): Captured {
  const functions: Registration[] = [];
  const errors: string[] = [];
  let setupOptions: unknown;
  const add = (name: string, make: () => Registration) => {
    try {
      if (!NAME.test(name)) throw new Error(`invalid function name '${name}'`);
      if (functions.some((f) => f.name.toLowerCase() === name.toLowerCase())) {
        throw new Error(`function '${name}' is registered twice`);
      }
      functions.push(make());
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  };
  const target = app as unknown as Record<string, unknown>;
  const saved = new Map<string, PropertyDescriptor>();
  // Some members are getters (`setup`), so swap descriptors rather than assign, and put them back afterwards.
  const replace = (key: string, fn: (name: string, options: unknown) => void) => {
    const d = Object.getOwnPropertyDescriptor(target, key);
    if (!d || saved.has(key)) return;
    saved.set(key, d);
    Object.defineProperty(target, key, { value: fn, writable: true, enumerable: true, configurable: true });
  };
  const asOptions = (o: unknown): Options => (typeof o === 'function' ? { handler: o } : (o ?? {}));
  replace('setup', (o) => {
    setupOptions = o;
  });
  replace('http', (name, o) => add(name, () => toHttp(name, asOptions(o))));
  for (const [key, method] of [
    ['get', 'GET'],
    ['put', 'PUT'],
    ['post', 'POST'],
    ['patch', 'PATCH'],
    ['deleteRequest', 'DELETE'],
  ] as const) {
    replace(key, (name, o) => add(name, () => toHttp(name, { ...asOptions(o), methods: [method] })));
  }
  replace('timer', (name, o) => add(name, () => toTimer(name, asOptions(o))));
  replace('generic', (name, o) => add(name, () => fromGeneric(name, asOptions(o))));
  for (const key of Object.keys(target)) {
    if (saved.has(key) || key === 'hook' || typeof target[key] !== 'function') continue;
    replace(key, (name, o) =>
      add(name, () => ({ kind: 'other', name, extraInputs: asOptions(o).extraInputs ?? [], triggerType: key })),
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(entryModule);
  } finally {
    for (const [key, d] of saved) Object.defineProperty(target, key, d);
  }
  if (errors.length > 0) throw new Error(`${entryModule}: invalid registrations:\n- ${errors.join('\n- ')}`);
  if (functions.length === 0 && setupOptions === undefined) {
    throw new Error(
      `${entryModule} registered nothing: load it through loadFunctionApp before anything else imports it ` +
        '(outside the host @azure/functions drops registrations in test mode)',
    );
  }
  return { functions, setupOptions };
}

function toRegistry(entryModule: string, functions: Registration[], setupOptions: unknown): FunctionRegistry {
  const byName = (name: string) => functions.find((f) => f.name.toLowerCase() === name.toLowerCase());
  return {
    entryModule,
    functions,
    setupOptions,
    get: byName,
    http: () => functions.filter((f): f is HttpRegistration => f.kind === 'http'),
    timers: () => functions.filter((f): f is TimerRegistration => f.kind === 'timer'),
    orchestrator: (name) => {
      const f = byName(name);
      return f?.kind === 'orchestration' ? f.handler : undefined;
    },
    activity: (name) => {
      const f = byName(name);
      return f?.kind === 'activity' ? f.handler : undefined;
    },
  };
}
