/**
 * The order ServiceNow records of a profile must be ensured in: a record that references another one
 * (`{records.<key>.sysId}` in its natural key, fields or activation fields) waits for it; the others may be written at
 * the same time. Pure functions of the profile (replay-safe): the provisioning orchestrator schedules its records by
 * them and the floor benchmark derives the critical path from them.
 */
import { placeholders } from './template';
import type { ServiceNowRecordSpec } from './types';

const RECORD_REF = /^records\.([^.]+)\.sysId$/;

/** The keys of the records `spec` references: they must exist before it is written. */
export function recordDependencies(spec: ServiceNowRecordSpec): string[] {
  const templates = [
    ...Object.values(spec.naturalKey),
    ...Object.values(spec.fields),
    ...Object.values(spec.activate ?? {}),
  ];
  const keys = templates.flatMap((t) => placeholders(t).flatMap((p) => RECORD_REF.exec(p)?.[1] ?? []));
  return [...new Set(keys)];
}

/**
 * `specs` in waves: every record of a wave references only records of earlier waves (or records not in `specs`,
 * written before), so a wave's records can be written at once. Within a wave, and from wave to wave, the profile's
 * order is kept: parents always come before their children. A reference that cannot be satisfied (a cycle; profile
 * validation refuses those) falls back to the profile order, one record at a time.
 */
export function recordWaves<T extends ServiceNowRecordSpec>(specs: readonly T[]): T[][] {
  const inSet = new Set(specs.map((s) => s.key));
  const done = new Set<string>();
  const waves: T[][] = [];
  let left = [...specs];
  while (left.length) {
    const ready = left.filter((s) => recordDependencies(s).every((k) => !inSet.has(k) || done.has(k)));
    const wave = ready.length ? ready : [left[0]];
    waves.push(wave);
    for (const s of wave) done.add(s.key);
    left = left.filter((s) => !wave.includes(s));
  }
  return waves;
}
