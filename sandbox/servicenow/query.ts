import { columnsOf, type ColumnDef } from './schema';
import type { InstanceStore, Row } from './store';

/**
 * Encoded queries (docs/reference/servicenow.md#encoded-queries; SN-EQ, SN-TABLE): terms `<field><op><value>`
 * joined by `^` (AND), `^OR` (OR with the previous term), `^NQ` (new OR'ed group), `ORDERBY` / `ORDERBYDESC`.
 * Names, operators and values are case-sensitive. A term on an unknown field is silently dropped, so a misspelled
 * field can match every row (SN-TABLE; `glide.invalid_query.returns_no_rows` is off on a fresh instance).
 */
const OPERATORS = [
  'ISNOTEMPTY',
  'ISEMPTY',
  'STARTSWITH',
  'ENDSWITH',
  'NOT LIKE',
  'LIKE',
  'NOT IN',
  'IN',
  '!=',
  '>=',
  '<=',
  '=',
  '>',
  '<',
] as const;
type Operator = (typeof OPERATORS)[number];

interface Term {
  field: string;
  op: Operator;
  value: string;
}
/** AND of clauses; a clause is an OR of terms. */
type Group = Term[][];

export interface ParsedQuery {
  /** OR'ed groups (^NQ); empty = every row. */
  groups: Group[];
  orderBy: { field: string; desc: boolean }[];
}

const TERM = new RegExp(
  `^([A-Za-z0-9_.]+?)(${OPERATORS.map((o) => o.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(.*)$`,
  's',
);

/**
 * Resolves a field path on a table: a column, or a dot-walk through reference columns to a column of the referenced
 * table, any number of levels (`request.requested_for.email`; ServiceNow docs `platform-user-interface/c_DotWalking`:
 * "a chain of field names separated by dots", recommended limit three levels). Undefined when any step is unknown or
 * not a reference.
 */
export function resolveField(table: string, path: string): { column: ColumnDef; via: ColumnDef[] } | undefined {
  const names = path.split('.');
  const via: ColumnDef[] = [];
  let cols = columnsOf(table);
  for (let i = 0; i < names.length - 1; i++) {
    const step = cols.get(names[i]);
    if (!step || step.type !== 'reference' || !step.reference) return undefined;
    via.push(step);
    cols = columnsOf(step.reference);
  }
  const column = cols.get(names[names.length - 1]);
  return column ? { column, via } : undefined;
}

/** The record reached by following reference columns from `row`; undefined when a reference is empty or dangling. */
export function walk(store: InstanceStore, row: Row, via: ColumnDef[]): Row | undefined {
  let current: Row | undefined = row;
  for (const step of via) current = current ? store.get(current.values[step.name] ?? '') : undefined;
  return current;
}

/** The raw value of a field path on a row ("" when a dot-walk's reference is empty or dangling). */
export function fieldValue(store: InstanceStore, row: Row, path: string): string {
  const names = path.split('.');
  let current: Row | undefined = row;
  for (const name of names.slice(0, -1)) current = current ? store.get(current.values[name] ?? '') : undefined;
  return current?.values[names[names.length - 1]] ?? '';
}

export function parseQuery(table: string, query: string): ParsedQuery {
  const parsed: ParsedQuery = { groups: [], orderBy: [] };
  const known = (field: string) => resolveField(table, field) !== undefined;
  for (const groupText of query.split('^NQ')) {
    const group: Group = [];
    for (const part of groupText.split('^')) {
      if (part === '' || part === 'EQ') continue;
      const order = /^ORDERBY(DESC)?(.+)$/.exec(part);
      if (order) {
        if (known(order[2])) parsed.orderBy.push({ field: order[2], desc: order[1] === 'DESC' });
        continue;
      }
      const isOr = part.startsWith('OR') && group.length > 0;
      const term = parseTerm(isOr ? part.slice(2) : part);
      if (!term || !known(term.field)) continue; // invalid parts are ignored (SN-TABLE)
      if (isOr) group[group.length - 1].push(term);
      else group.push([term]);
    }
    if (group.length) parsed.groups.push(group);
  }
  // A query whose every term was dropped still matches every row (one empty group = no filter).
  return parsed;
}

function parseTerm(text: string): Term | undefined {
  const m = TERM.exec(text);
  if (!m) return undefined;
  return { field: m[1], op: m[2] as Operator, value: m[3] };
}

function test(actual: string, term: Term): boolean {
  const { op, value } = term;
  const num = (s: string) => (s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : undefined);
  const cmp = () => {
    const a = num(actual);
    const b = num(value);
    return a !== undefined && b !== undefined ? a - b : actual.localeCompare(value);
  };
  switch (op) {
    case '=':
      return actual === value;
    case '!=':
      return actual !== value;
    case 'STARTSWITH':
      return actual.startsWith(value);
    case 'ENDSWITH':
      return actual.endsWith(value);
    case 'LIKE':
      return actual.includes(value);
    case 'NOT LIKE':
      return !actual.includes(value);
    case 'IN':
      return value.split(',').includes(actual);
    case 'NOT IN':
      return !value.split(',').includes(actual);
    case 'ISEMPTY':
      return actual === '';
    case 'ISNOTEMPTY':
      return actual !== '';
    case '>':
      return cmp() > 0;
    case '<':
      return cmp() < 0;
    case '>=':
      return cmp() >= 0;
    case '<=':
      return cmp() <= 0;
  }
}

export function matches(store: InstanceStore, row: Row, parsed: ParsedQuery): boolean {
  if (!parsed.groups.length) return true;
  return parsed.groups.some((group) =>
    group.every((clause) => clause.some((term) => test(fieldValue(store, row, term.field), term))),
  );
}

export function sortRows(store: InstanceStore, rows: Row[], orderBy: ParsedQuery['orderBy']): Row[] {
  if (!orderBy.length) return rows;
  return [...rows].sort((a, b) => {
    for (const { field, desc } of orderBy) {
      const x = fieldValue(store, a, field);
      const y = fieldValue(store, b, field);
      const nx = Number(x);
      const ny = Number(y);
      const c = x !== '' && y !== '' && Number.isFinite(nx) && Number.isFinite(ny) ? nx - ny : x.localeCompare(y);
      if (c !== 0) return desc ? -c : c;
    }
    return 0;
  });
}
