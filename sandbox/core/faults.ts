import { seededRandom } from './random';
import type { ServiceName } from './types';

export type FaultAction =
  | { type: 'status'; status: number; headers?: Record<string, string>; body?: unknown }
  | { type: 'latency'; ms: number }
  | { type: 'reset' }
  | { type: 'hang' };

export interface FaultRule {
  /** Which stand-in; omitted = any. */
  service?: ServiceName;
  /** HTTP method; omitted = any. */
  method?: string;
  /** Regular expression (source) matched against the request path; omitted = any path. */
  path?: string;
  action: FaultAction;
  /** Apply this many times, then drop the rule. Omitted = until cleared. */
  times?: number;
  /** Apply with this probability (0..1), drawn from the seeded generator. Omitted = always. */
  probability?: number;
}

export interface ActiveFault extends FaultRule {
  id: number;
  applied: number;
}

/** Fault injection shared by every stand-in; rules are tried in the order they were added. */
export class FaultInjector {
  private rules: ActiveFault[] = [];
  private nextId = 1;
  private random: () => number;

  constructor(private seed = 1) {
    this.random = seededRandom(seed);
  }

  add(rule: FaultRule): ActiveFault {
    validateRule(rule);
    const active: ActiveFault = { ...rule, method: rule.method?.toUpperCase(), id: this.nextId++, applied: 0 };
    this.rules.push(active);
    return active;
  }

  list(): ActiveFault[] {
    return this.rules.map((r) => ({ ...r }));
  }

  remove(id: number): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length < before;
  }

  clear(seed = this.seed): void {
    this.rules = [];
    this.seed = seed;
    this.random = seededRandom(seed);
  }

  /** The action to apply to this request, if any; consumes one use of a counted rule. */
  take(service: ServiceName, method: string, path: string): FaultAction | undefined {
    for (const rule of this.rules) {
      if (rule.service && rule.service !== service) continue;
      if (rule.method && rule.method !== method) continue;
      if (rule.path && !new RegExp(rule.path).test(path)) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      rule.applied += 1;
      if (rule.times !== undefined && rule.applied >= rule.times) this.remove(rule.id);
      return rule.action;
    }
    return undefined;
  }
}

function validateRule(rule: FaultRule): void {
  const problems: string[] = [];
  if (rule.path !== undefined) {
    try {
      new RegExp(rule.path);
    } catch {
      problems.push(`path is not a valid regular expression: ${rule.path}`);
    }
  }
  if (rule.times !== undefined && (!Number.isInteger(rule.times) || rule.times < 1))
    problems.push('times must be >= 1');
  if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1))
    problems.push('probability must be within 0..1');
  const a = rule.action as FaultAction | undefined;
  if (!a || !['status', 'latency', 'reset', 'hang'].includes(a.type))
    problems.push('action.type must be status|latency|reset|hang');
  else if (a.type === 'status' && !(Number.isInteger(a.status) && a.status >= 100 && a.status <= 599))
    problems.push('action.status must be an HTTP status');
  else if (a.type === 'latency' && !(Number.isFinite(a.ms) && a.ms >= 0)) problems.push('action.ms must be >= 0');
  if (problems.length) throw new FaultRuleError(problems);
}

export class FaultRuleError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid fault rule: ${problems.join('; ')}`);
  }
}

/**
 * Modelled service latency: each stand-in answers after the time its real service typically takes (network round
 * trip plus service time), so a benchmark can compare the product's wall time with the critical path of the calls it
 * must make. Off by default (tests stay fast); `npm run bench` turns it on. Applied once for every stand-in by the
 * server (sandbox/core/server.ts), on top of any injected `latency` fault.
 */
export const DEFAULT_LATENCY_MS = { entra: 90, graph: 120, keyvault: 60, servicenow: 250 } as const;
export type LatencyModel = Partial<Record<ServiceName, number>>;

const LATENCY_SERVICES = ['entra', 'graph', 'keyvault', 'servicenow'] as const;

/**
 * The latency model the environment asks for: `SANDBOX_LATENCY=on` (the defaults above), each overridable by
 * `SANDBOX_LATENCY_<SERVICE>_MS` (ENTRA, GRAPH, KEYVAULT, SERVICENOW); unset or `off` = no modelled latency.
 */
export function latencyFromEnv(env: Record<string, string | undefined> = process.env): LatencyModel | undefined {
  const on = (env.SANDBOX_LATENCY ?? 'off').toLowerCase();
  if (!['on', 'true', '1'].includes(on)) return undefined;
  const model: LatencyModel = { ...DEFAULT_LATENCY_MS };
  const problems: string[] = [];
  for (const s of LATENCY_SERVICES) {
    const raw = env[`SANDBOX_LATENCY_${s.toUpperCase()}_MS`];
    if (raw === undefined || raw === '') continue;
    const ms = Number(raw);
    if (!Number.isFinite(ms) || ms < 0) problems.push(`SANDBOX_LATENCY_${s.toUpperCase()}_MS must be >= 0: ${raw}`);
    else model[s] = ms;
  }
  if (problems.length) throw new Error(`invalid sandbox latency: ${problems.join('; ')}`);
  return model;
}

/** The modelled latency every stand-in server applies; changeable while the sandbox runs (off = empty model). */
export class ServiceLatency {
  private model: LatencyModel = {};

  /** `true` = the defaults; an object = the defaults overridden by its values; `false`/undefined = off. */
  constructor(initial?: boolean | LatencyModel) {
    this.set(initial);
  }

  set(model?: boolean | LatencyModel): void {
    const next: LatencyModel =
      model === true ? { ...DEFAULT_LATENCY_MS } : model ? { ...DEFAULT_LATENCY_MS, ...model } : {};
    for (const [service, ms] of Object.entries(next))
      if (!(Number.isFinite(ms) && ms >= 0)) throw new Error(`latency of ${service} must be >= 0 ms: ${ms}`);
    this.model = next;
  }

  /** Milliseconds a request to `service` waits before the stand-in answers (0 when off). */
  msFor(service: ServiceName): number {
    return this.model[service] ?? 0;
  }

  /** The current model (empty when off). */
  get(): LatencyModel {
    return { ...this.model };
  }
}
