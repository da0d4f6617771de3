/**
 * A small interpreter of the GlideRecord operations the bootstrap script performs (ServiceNow developer reference
 * "GlideRecord - Global": addQuery(field, value) as equality, query, next, getUniqueValue, getElement, initialize,
 * setValue, insert; and gs.info/warn/error), over a stand-in instance's store. Running the rendered script in a VM
 * context with these lets a test check what the script itself does, not a re-implementation of it.
 */
import { runInNewContext } from 'node:vm';

import type { InstanceStore, Row } from '../../sandbox/servicenow/store';

export interface ScriptRun {
  info: string[];
  warn: string[];
  error: string[];
  inserts: Array<{ table: string; values: Record<string, string> }>;
}

export function runBackgroundScript(store: InstanceStore, script: string): ScriptRun {
  const run: ScriptRun = { info: [], warn: [], error: [], inserts: [] };
  class GlideRecord {
    private conditions: Array<[string, string]> = [];
    private results: Row[] = [];
    private index = -1;
    private pending: Record<string, string> | undefined;
    constructor(private readonly table: string) {}
    addQuery(field: string, value: string): void {
      this.conditions.push([field, String(value)]);
    }
    query(): void {
      this.results = store.rowsOf(this.table).filter((r) => this.conditions.every(([f, v]) => r.values[f] === v));
      this.index = -1;
    }
    next(): boolean {
      this.index += 1;
      return this.index < this.results.length;
    }
    getUniqueValue(): string {
      return this.results[this.index]?.values.sys_id ?? '';
    }
    getElement(field: string): { toString(): string } {
      const value = this.results[this.index]?.values[field] ?? '';
      return { toString: () => value };
    }
    initialize(): void {
      this.pending = {};
    }
    setValue(field: string, value: string): void {
      if (!this.pending) throw new Error('setValue before initialize');
      this.pending[field] = String(value);
    }
    insert(): string {
      if (!this.pending) throw new Error('insert before initialize');
      run.inserts.push({ table: this.table, values: { ...this.pending } });
      return store.insert(this.table, this.pending, { inputDisplayValue: true, user: 'admin' }).values.sys_id;
    }
  }
  const gs = {
    info: (m: string) => run.info.push(m),
    warn: (m: string) => run.warn.push(m),
    error: (m: string) => run.error.push(m),
  };
  runInNewContext(script, { GlideRecord, gs }, { timeout: 5000 });
  return run;
}
