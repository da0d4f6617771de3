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
