/**
 * Applies a bootstrap plan (src/bootstrap/plan.ts) to a stand-in instance exactly as the rendered background script
 * does with GlideRecord (src/bootstrap/script.ts): each step looked up by its natural key (exact match on every key
 * field, references resolved first); found → reported, never changed (fields that differ from `expect` are reported);
 * missing → inserted with key and values (lookup-only steps: reported missing, and the run stops). The same data
 * drives the script, so applying a plan here is what an administrator running the script does to a real instance.
 */
import type { BootstrapPlan, PlanValue } from '../../src/bootstrap/plan';
import type { InstanceStore } from './store';

export interface ApplyResult {
  created: string[];
  found: string[];
  /** `what: field is x, expected y`, and steps that could not run. */
  warnings: string[];
  /** Set when the run stopped (a lookup-only record or a role is missing). */
  stopped?: string;
}

export function applyBootstrapPlan(store: InstanceStore, plan: BootstrapPlan, user = 'admin'): ApplyResult {
  const ids = new Map<string, string>();
  const out: ApplyResult = { created: [], found: [], warnings: [] };
  const resolve = (v: PlanValue): string | undefined => {
    if (typeof v === 'string') return v;
    if ('ref' in v) return ids.get(v.ref);
    return store.find('sys_user_role', 'name', v.role)?.values.sys_id;
  };
  for (const step of plan.steps) {
    const key: Record<string, string> = {};
    for (const [field, value] of Object.entries(step.key)) {
      const resolved = resolve(value);
      if (resolved === undefined) {
        out.stopped = `${step.what}: ${typeof value === 'object' && 'role' in value ? `no role ${value.role}` : `no ${field}`}`;
        return out;
      }
      key[field] = resolved;
    }
    const existing = store.rowsOf(step.table).find((r) => Object.entries(key).every(([k, v]) => r.values[k] === v));
    if (existing) {
      ids.set(step.id, existing.values.sys_id);
      out.found.push(step.what);
      for (const [field, want] of Object.entries(step.expect ?? {}))
        if (existing.values[field] !== want)
          out.warnings.push(`${step.what}: ${field} is '${existing.values[field] ?? ''}', expected '${want}'`);
      continue;
    }
    if (step.lookupOnly) {
      out.stopped = `${step.what}: not found`;
      return out;
    }
    const values: Record<string, string> = { ...key };
    for (const [field, value] of Object.entries(step.values)) {
      const resolved = resolve(value);
      if (resolved !== undefined) values[field] = resolved;
    }
    const row = store.insert(step.table, values, { inputDisplayValue: true, user });
    ids.set(step.id, row.values.sys_id);
    out.created.push(step.what);
  }
  return out;
}
