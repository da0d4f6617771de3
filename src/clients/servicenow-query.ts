/**
 * Builder for ServiceNow encoded queries (`sysparm_query`). Terms `<field><op><value>` joined by `^`; there is no
 * documented escape for `^` in a value, and invalid parts are silently ignored by ServiceNow, so values holding `^`,
 * CR or LF and field names outside `[a-z0-9_.]` are refused with a ValidationError
 * (docs/reference/servicenow.md#encoded-queries, SN-TABLE, SN-EQ). The result is URL-encoded by URLSearchParams when it
 * is set as a query parameter (`^`→`%5E`, `=`→`%3D`).
 */
import { ValidationError } from '../lib/errors';

export type QueryOperator = '=' | '!=' | 'STARTSWITH' | 'IN';

export interface QueryTerm {
  field: string;
  op: QueryOperator;
  /** A string; for IN, a list (joined with commas, so elements may not contain commas). */
  value: string | readonly string[];
}

const FIELD = /^[a-z0-9_.]+$/;
const UNSAFE = /[\^\r\n]/;

function safeValue(field: string, value: string): string {
  if (typeof value !== 'string') throw new ValidationError(`query value for '${field}' must be a string`);
  if (UNSAFE.test(value))
    throw new ValidationError(`query value for '${field}' contains ^, CR or LF, which ServiceNow cannot escape`);
  return value;
}

function renderTerm(t: QueryTerm): string {
  if (!FIELD.test(t.field)) throw new ValidationError(`query field name '${t.field}' must match ^[a-z0-9_.]+$`);
  if (t.op === 'IN') {
    const list = typeof t.value === 'string' ? [t.value] : t.value;
    if (list.length === 0) throw new ValidationError(`IN list for '${t.field}' is empty`);
    for (const v of list) {
      safeValue(t.field, v);
      if (v.includes(',')) throw new ValidationError(`IN list value for '${t.field}' contains a comma`);
    }
    return `${t.field}IN${list.join(',')}`;
  }
  if (typeof t.value !== 'string') throw new ValidationError(`operator ${t.op} for '${t.field}' takes one value`);
  return `${t.field}${t.op}${safeValue(t.field, t.value)}`;
}

/** Immutable AND-query builder: `encodedQuery().eq('client_id', id).eq('type', 'oauth_provider').toString()`. */
export class EncodedQuery {
  constructor(private readonly terms: readonly QueryTerm[] = []) {}

  where(field: string, op: QueryOperator, value: string | readonly string[]): EncodedQuery {
    const term: QueryTerm = { field, op, value };
    renderTerm(term); // validate now, so the mistake surfaces where it was made
    return new EncodedQuery([...this.terms, term]);
  }

  eq(field: string, value: string): EncodedQuery {
    return this.where(field, '=', value);
  }

  ne(field: string, value: string): EncodedQuery {
    return this.where(field, '!=', value);
  }

  startsWith(field: string, value: string): EncodedQuery {
    return this.where(field, 'STARTSWITH', value);
  }

  in(field: string, values: readonly string[]): EncodedQuery {
    return this.where(field, 'IN', values);
  }

  /** The unencoded query, e.g. `client_id=abc^type=oauth_provider`. */
  toString(): string {
    return this.terms.map(renderTerm).join('^');
  }

  /** The URL-encoded form, as it appears after `sysparm_query=`. */
  toUrlEncoded(): string {
    return new URLSearchParams({ sysparm_query: this.toString() }).toString().slice('sysparm_query='.length);
  }

  /**
   * Whether a returned record matches every `=` and `IN` term exactly: ServiceNow ignores invalid terms, so results
   * must be re-checked in code (docs/reference/servicenow.md#encoded-queries).
   */
  matches(record: Record<string, unknown>): boolean {
    return this.terms.every((t) => {
      const raw = record[t.field];
      const v = raw && typeof raw === 'object' && 'value' in raw ? raw.value : raw;
      if (t.op === '=') return v === t.value;
      if (t.op === '!=') return v !== t.value;
      if (t.op === 'STARTSWITH') return typeof v === 'string' && v.startsWith(t.value as string);
      return typeof v === 'string' && (t.value as readonly string[]).includes(v);
    });
  }
}

export function encodedQuery(): EncodedQuery {
  return new EncodedQuery();
}
