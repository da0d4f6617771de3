import { resolveField, walk } from './query';
import { columnsOf, displayColumn, type ColumnDef } from './schema';
import type { InstanceStore, Row } from './store';

export type DisplayMode = 'false' | 'true' | 'all';

export interface RenderOptions {
  /** Instance base URL (https://127.0.0.1:PORT/{instance}); reference links are `{base}/api/now/table/{t}/{id}`. */
  base: string;
  /** The table queried (a parent table shows only its own columns plus sys_class_name). */
  table: string;
  fields?: string[];
  display: DisplayMode;
  excludeReferenceLink: boolean;
}

/**
 * Password2 columns never come back in clear: reads are masked
 * (docs/reference/servicenow.md#encrypted-and-password2-fields). The stand-in answers a fixed mask when a secret is
 * stored and "" when none is, so a client cannot learn the value.
 */
export const PASSWORD_MASK = '********';

export function parseDisplayMode(v: string | null): DisplayMode {
  return v === 'true' || v === 'all' ? v : 'false';
}

/** sysparm_fields: unknown fields silently ignored; dot-walking through references (docs/reference/servicenow.md#query-parameters). */
export function requestedFields(table: string, param: string | null): string[] | undefined {
  if (param === null || param.trim() === '') return undefined;
  const out = param
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '' && resolveField(table, f) !== undefined);
  return out;
}

export function renderRow(store: InstanceStore, row: Row, opts: RenderOptions): Record<string, unknown> {
  const cols = columnsOf(opts.table, store.release);
  const names = (opts.fields ?? [...cols.keys()]).filter((f) => cols.has(f.split('.')[0]));
  const out: Record<string, unknown> = {};
  for (const path of names) {
    const resolved = resolveField(opts.table, path);
    if (!resolved) continue;
    if (resolved.via.length) {
      const target = walk(store, row, resolved.via);
      out[path] = target
        ? renderValue(store, target, resolved.column, opts)
        : opts.display === 'all'
          ? { display_value: '', value: '' }
          : '';
    } else out[path] = renderValue(store, row, resolved.column, opts);
  }
  return out;
}

function renderValue(store: InstanceStore, row: Row, c: ColumnDef, opts: RenderOptions): unknown {
  const raw = rawValue(store, row, c);
  const display = displayValue(store, row, c, raw);
  if (c.type === 'reference' && c.reference && raw !== '') {
    const link = `${opts.base}/api/now/table/${c.reference}/${raw}`;
    if (opts.excludeReferenceLink)
      return opts.display === 'false'
        ? raw
        : opts.display === 'true'
          ? display
          : { display_value: display, value: raw };
    if (opts.display === 'false') return { link, value: raw };
    if (opts.display === 'true') return { display_value: display, link };
    return { display_value: display, link, value: raw };
  }
  if (opts.display === 'false') return raw;
  if (opts.display === 'true') return display;
  return { display_value: display, value: raw };
}

function rawValue(store: InstanceStore, row: Row, c: ColumnDef): string {
  if (c.type === 'password2') return store.hasSecret(row.values.sys_id, c.name) ? PASSWORD_MASK : '';
  // Journal fields read back as "" (SN-TABLE samples: comments, work_notes, approval_history,
  // comments_and_work_notes are all "").
  if (['password', 'journal_input', 'journal', 'journal_list'].includes(c.type)) return '';
  return row.values[c.name] ?? '';
}

function displayValue(store: InstanceStore, row: Row, c: ColumnDef, raw: string): string {
  if (raw === '') return '';
  if (c.type === 'reference') {
    const target = store.get(raw);
    return target ? (target.values[displayColumn(target.table)] ?? '') : '';
  }
  if (c.type === 'choice' || (c.type === 'integer' && c.name === 'state')) {
    const choice = store
      .rowsOf('sys_choice')
      .find(
        (r) =>
          r.values.element === c.name && r.values.value === raw && tableHasColumnFrom(row.table, r.values.name, c.name),
      );
    return choice?.values.label ?? raw;
  }
  return raw;
}

function tableHasColumnFrom(table: string, choiceTable: string, column: string): boolean {
  return (
    choiceTable === table ||
    (columnsOf(table).has(column) && columnsOf(choiceTable).get(column) === columnsOf(table).get(column))
  );
}
