import { createHash, randomBytes } from 'node:crypto';

import type { SandboxClock } from '../core/clock';
import { newSysId } from '../core/random';
import { NEWEST_RELEASE, type Release } from './release';
import { columnsOf, extendsTable, lineage, tableDef, type ColumnDef } from './schema';

export type Values = Record<string, string>;

export interface Row {
  /** The record's class: the table it was inserted into (sys_class_name). */
  table: string;
  values: Values;
}

/** ServiceNow's date-time wire format, UTC ("YYYY-MM-DD HH:mm:ss"), as in every Table API sample. */
export const glideDateTime = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

export const hashPassword = (password: string): string => createHash('sha256').update(password, 'utf8').digest('hex');

export interface WriteOptions {
  /** sysparm_input_display_value=true: display values accepted, encrypted/password fields saved. */
  inputDisplayValue: boolean;
  /** user_name of the caller, for sys_created_by / sys_updated_by and journal entries. */
  user: string;
}

/** The records of one instance. Secrets (password2 cleartext, password hashes) live beside the rows, never in them. */
export class InstanceStore {
  private readonly rows = new Map<string, Row>();
  private readonly secrets = new Map<string, Map<string, string>>();
  private readonly passwordHashes = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  /** Attachment contents by sys_attachment sys_id. */
  private readonly files = new Map<string, Buffer>();

  constructor(
    private readonly clock: SandboxClock,
    /** The instance's release: columns it lacks are unknown fields (ignored on writes, absent on reads). */
    readonly release: Release = NEWEST_RELEASE,
  ) {}

  get(sysId: string): Row | undefined {
    return this.rows.get(sysId);
  }

  /** Rows of `table` and of every table extending it, in insertion order. */
  rowsOf(table: string): Row[] {
    return [...this.rows.values()].filter((r) => extendsTable(r.table, table));
  }

  find(table: string, column: string, value: string): Row | undefined {
    return this.rowsOf(table).find((r) => r.values[column] === value);
  }

  secret(sysId: string, column: string): string | undefined {
    return this.secrets.get(sysId)?.get(column);
  }

  hasSecret(sysId: string, column: string): boolean {
    return this.secret(sysId, column) !== undefined;
  }

  passwordMatches(userSysId: string, password: string): boolean {
    const stored = this.passwordHashes.get(userSysId);
    return stored !== undefined && stored === hashPassword(password);
  }

  setPassword(userSysId: string, password: string | undefined): void {
    if (password === undefined) this.passwordHashes.delete(userSysId);
    else this.passwordHashes.set(userSysId, hashPassword(password));
  }

  /** Inserts a record: unspecified columns get their default or the null value "" (SN-TABLE POST). */
  insert(table: string, body: Record<string, unknown>, opts: WriteOptions): Row {
    const cols = columnsOf(table, this.release);
    const now = glideDateTime(this.clock.now());
    const requested = typeof body.sys_id === 'string' && /^[0-9a-f]{32}$/.test(body.sys_id) ? body.sys_id : undefined;
    const sysId = requested && !this.rows.has(requested) ? requested : newSysId();
    const values: Values = {};
    for (const c of cols.values()) values[c.name] = c.default ?? '';
    Object.assign(values, {
      sys_id: sysId,
      sys_created_on: now,
      sys_created_by: opts.user,
      sys_updated_on: now,
      sys_updated_by: opts.user,
      sys_mod_count: '0',
      sys_class_name: table,
    });
    const row: Row = { table, values };
    this.rows.set(sysId, row);
    this.assign(row, body, opts);
    const def = lineage(table).find((t) => t.numberPrefix);
    if (def && cols.has('number') && !values.number) values.number = this.nextNumber(def.name);
    if (cols.has('task_effective_number') && !values.task_effective_number)
      values.task_effective_number = values.number;
    if (cols.has('opened_at') && !values.opened_at) values.opened_at = now;
    if (table === 'sys_user' && !values.name)
      values.name = [values.first_name, values.last_name].filter(Boolean).join(' ');
    return row;
  }

  update(row: Row, body: Record<string, unknown>, opts: WriteOptions): void {
    this.assign(row, body, opts);
    row.values.sys_updated_on = glideDateTime(this.clock.now());
    row.values.sys_updated_by = opts.user;
    row.values.sys_mod_count = String(Number(row.values.sys_mod_count || '0') + 1);
  }

  /** Gives a row another sys_id (seeding only: the global scope's sys_id is the literal "global"). */
  rekey(from: string, to: string): void {
    const row = this.rows.get(from);
    if (!row) return;
    this.rows.delete(from);
    row.values.sys_id = to;
    this.rows.set(to, row);
  }

  delete(sysId: string): boolean {
    this.secrets.delete(sysId);
    this.passwordHashes.delete(sysId);
    this.files.delete(sysId);
    // A deleted record's attachments go with it [inferred: the platform cascades sys_attachment rows].
    for (const a of this.rowsOf('sys_attachment'))
      if (a.values.table_sys_id === sysId) {
        this.files.delete(a.values.sys_id);
        this.rows.delete(a.values.sys_id);
      }
    return this.rows.delete(sysId);
  }

  putFile(attachmentSysId: string, bytes: Buffer): void {
    this.files.set(attachmentSysId, bytes);
  }

  file(attachmentSysId: string): Buffer | undefined {
    return this.files.get(attachmentSysId);
  }

  private nextNumber(table: string): string {
    const def = tableDef(table);
    const n = this.counters.get(table) ?? def?.numberStart ?? 1;
    this.counters.set(table, n + 1);
    return `${def?.numberPrefix ?? ''}${String(n).padStart(7, '0')}`;
  }

  /** Applies a request body: unknown and system fields ignored, values stored as strings. */
  private assign(row: Row, body: Record<string, unknown>, opts: WriteOptions): void {
    const cols = columnsOf(row.table, this.release);
    for (const [name, raw] of Object.entries(body)) {
      const c = cols.get(name);
      if (!c || name.startsWith('sys_')) continue; // unknown body fields are silently ignored (docs/reference/servicenow.md#envelopes-and-record-fields)
      const value = toText(raw);
      if (value === undefined) continue;
      this.assignColumn(row, c, value, opts);
    }
  }

  private assignColumn(row: Row, c: ColumnDef, value: string, opts: WriteOptions): void {
    const sysId = row.values.sys_id;
    switch (c.type) {
      case 'password2': {
        // Encrypted fields are saved only with sysparm_input_display_value=true; otherwise silently dropped (SN-TABLE).
        if (!opts.inputDisplayValue) return;
        const map = this.secrets.get(sysId) ?? new Map<string, string>();
        if (value === '') map.delete(c.name);
        else map.set(c.name, value);
        this.secrets.set(sysId, map);
        return;
      }
      case 'password':
        // One-way password: hashed only with the flag; without it the raw text lands as the "hash" and login fails
        // (ansible-collections/servicenow.itsm#221).
        if (opts.inputDisplayValue && value !== '') this.setPassword(sysId, value);
        else this.passwordHashes.set(sysId, `unusable:${randomBytes(8).toString('hex')}`);
        return;
      case 'journal_input':
      case 'journal':
        // Journal fields append an entry to sys_journal_field and read back as ""
        // (docs/reference/servicenow.md#tickets-and-work-notes).
        if (value !== '') this.addJournal(row, c.name, value, opts.user);
        return;
      case 'journal_list':
        // A view over other journals (comments and work notes): nothing to store.
        return;
      case 'boolean':
        row.values[c.name] = ['true', '1'].includes(value.toLowerCase()) ? 'true' : 'false';
        return;
      case 'reference':
        row.values[c.name] = this.resolveReference(c, value, opts.inputDisplayValue);
        return;
      default:
        row.values[c.name] = value;
    }
  }

  private resolveReference(c: ColumnDef, value: string, byDisplay: boolean): string {
    if (value === '' || !c.reference || this.rows.has(value) || !byDisplay) return value;
    const target = tableDef(c.reference);
    const display = target?.display ?? 'name';
    return this.find(c.reference, display, value)?.values.sys_id ?? value;
  }

  private addJournal(row: Row, element: string, value: string, user: string): void {
    this.insert(
      'sys_journal_field',
      { name: row.table, element, element_id: row.values.sys_id, value },
      { inputDisplayValue: false, user },
    );
  }
}

/** Body values as ServiceNow stores them: strings (booleans and numbers converted), `{value}` objects unwrapped. */
export function toText(raw: unknown): string | undefined {
  if (raw === null) return '';
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  if (typeof raw === 'object' && raw !== null && typeof (raw as { value?: unknown }).value === 'string')
    return (raw as { value: string }).value;
  return undefined;
}
