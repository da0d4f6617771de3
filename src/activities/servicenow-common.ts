/**
 * Shared helpers of the ServiceNow activities: the error split of the activity contract (contracts.ts: throw only
 * what a durable retry can fix, return a Failure otherwise), safe logging, and the natural-key lookup that re-checks
 * in code what ServiceNow returned (an invalid encoded-query term is silently dropped, so a misspelled field can
 * return every row: servicenow-api.md §2.4, SN-TABLE).
 */

import { encodedQuery, type EncodedQuery, type ServiceNowClient, type SnRecord } from '../clients/servicenow';
import { AppError, ensureErrorType, ExternalServiceError, ValidationError } from '../lib/errors';
import { redactText } from '../lib/redact';
import type { Failure, ManualAction } from './contracts';

export { logLine, type ActivityLog } from './log';

/** Who does a hand-off when ServiceNow refuses a write. */
export const SERVICENOW_ADMIN = 'ServiceNow administrator';

/** The HTTP status of a ServiceNow/Key Vault/Entra error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  return err instanceof ExternalServiceError ? err.status : undefined;
}

/**
 * Applies the activity error convention: retriable failures (429, 502/503/504, network; `retriable` set by the
 * clients, servicenow-api.md §2.7) and errors we did not anticipate are re-thrown for the durable retry policy;
 * everything else (400, 401, 403, 404, validation) becomes a Failure with a redacted message.
 */
export function failureOrThrow(err: unknown): Failure {
  const e = ensureErrorType(err);
  if (e instanceof ExternalServiceError) {
    if (e.retriable) throw e;
    return {
      service: e.service,
      ...(e.status !== undefined ? { status: e.status } : {}),
      code: e.code,
      message: e.message,
    };
  }
  if (e instanceof ValidationError) return { service: 'input', code: e.code, message: e.message };
  if (e instanceof AppError && e.code === 'TooManyRecords')
    return { service: 'servicenow', code: e.code, message: e.message };
  throw e;
}

/** A non-retriable failure of our own making. */
export function inputFailure(code: string, message: string): { ok: false; failure: Failure } {
  return { ok: false, failure: { service: 'input', code, message: redactText(message) } };
}

export function servicenowFailure(code: string, message: string): { ok: false; failure: Failure } {
  return { ok: false, failure: { service: 'servicenow', code, message: redactText(message) } };
}

/** The raw string of a Table API value (`sysparm_exclude_reference_link=true` gives strings; `{value}` tolerated). */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object' && typeof (v as { value?: unknown }).value === 'string')
    return (v as { value: string }).value;
  return undefined;
}

/** Builds the AND query of a natural key; throws ValidationError for `^`, CR, LF or bad field names. */
export function naturalKeyQuery(naturalKey: Record<string, string>): EncodedQuery {
  const entries = Object.entries(naturalKey);
  if (!entries.length) throw new ValidationError('the natural key is empty: it would match every record');
  return entries.reduce((q, [field, value]) => q.eq(field, value), encodedQuery());
}

export interface LookupResult<T extends SnRecord> {
  /** Rows whose values really equal every natural-key value. */
  matched: T[];
  /** Natural-key fields missing from the rows ServiceNow returned: not columns of the table (or hidden by ACL). */
  unknownFields: string[];
}

/**
 * Reads the rows of `table` matching `naturalKey` and keeps only those that really match (servicenow-api.md §2.4:
 * "After every lookup, check in code that returned values equal the searched ones"). A natural-key field absent
 * from every returned row means ServiceNow dropped that term: the caller must not pick any of those rows.
 */
export async function lookup<T extends SnRecord>(
  client: ServiceNowClient,
  table: string,
  naturalKey: Record<string, string>,
  fields: readonly string[],
  maxRecords = 1000,
): Promise<LookupResult<T>> {
  const query = naturalKeyQuery(naturalKey);
  const wanted = [...new Set(['sys_id', ...Object.keys(naturalKey), ...fields])];
  const rows = await client.list<T>(table, { query, fields: wanted, pageSize: 100, maxRecords });
  const unknownFields = Object.keys(naturalKey).filter((f) => rows.length > 0 && rows.every((r) => !(f in r)));
  return { matched: unknownFields.length ? [] : rows.filter((r) => query.matches(r)), unknownFields };
}

/** A manual hand-off from label/value pairs (values never secret: Key Vault secret names only). */
export function manualAction(title: string, steps: { label: string; value?: string }[]): ManualAction {
  return { title, actor: SERVICENOW_ADMIN, steps };
}

/** `sys_created_on` raw values are UTC "YYYY-MM-DD HH:mm:ss" (SN-TABLE samples); NaN for anything else. */
export function glideMs(v: unknown): number {
  const s = text(v);
  return s && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(s) ? Date.parse(`${s.replace(' ', 'T')}Z`) : NaN;
}
