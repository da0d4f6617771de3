/**
 * The OData query options the product uses on directory collections: `$filter` (a small grammar), `$select`, `$top`,
 * `$skiptoken`, `$count`, `$orderby`.
 *
 * Supported filters follow the application/servicePrincipal property tables [doc resources/application,
 * resources/serviceprincipal: "Supports $filter (eq, …, startsWith)"; tags/any(…) in application-list examples].
 * Errors follow what Graph's directory answers [public-code microsoftgraph/microsoft-graph-docs-contrib#1726]:
 * `Request_UnsupportedQuery` "Unsupported or invalid query filter clause specified for property 'x' of resource 'Y'."
 * and "Unsupported property filter clause operator 'NotEqualsMatch'."; unknown properties:
 * "Property 'x' does not exist as a declared property or extension property." [public-code, several Graph clients].
 * Directory string comparisons are case-insensitive.
 */
import { GraphError } from './errors';

export type FilterKind = 'string' | 'collection';

export interface FilterSpec {
  /** Resource name as Graph's messages spell it: `Application`, `ServicePrincipal`. */
  resource: string;
  /** Filterable properties and their operators (`eq`, `startswith`, `any`). */
  filterable: Record<string, { kind: FilterKind; ops: string[] }>;
  /** Every structural property of the type (for "does not exist" vs "unsupported"). */
  properties: readonly string[];
}

export type Row = Record<string, unknown>;
export type Predicate = (row: Row) => boolean;

type Tok = { t: 'id' | 'str' | 'punct' | 'kw'; v: string; pos: number };

const KEYWORDS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'and', 'or', 'not', 'null', 'true', 'false']);
const OP_NAMES: Record<string, string> = {
  eq: 'EqualsMatch',
  ne: 'NotEqualsMatch',
  gt: 'GreaterThan',
  ge: 'GreaterThanOrEquals',
  lt: 'LessThan',
  le: 'LessThanOrEquals',
  startswith: 'StartsWithMatch',
};

const syntaxError = (filter: string, pos: number) =>
  new GraphError(400, 'BadRequest', `Invalid filter clause: Syntax error at position ${pos} in '${filter}'.`);

const unsupportedClause = (prop: string, resource: string) =>
  new GraphError(
    400,
    'Request_UnsupportedQuery',
    `Unsupported or invalid query filter clause specified for property '${prop}' of resource '${resource}'.`,
  );

export const noSuchProperty = (prop: string) =>
  new GraphError(
    400,
    'Request_UnsupportedQuery',
    `Property '${prop}' does not exist as a declared property or extension property.`,
  );

function tokenize(filter: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < filter.length) {
    const c = filter[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let v = '';
      let j = i + 1;
      for (;;) {
        if (j >= filter.length) throw syntaxError(filter, i);
        if (filter[j] === "'") {
          if (filter[j + 1] === "'") {
            v += "'";
            j += 2;
            continue;
          }
          break;
        }
        v += filter[j++];
      }
      out.push({ t: 'str', v, pos: i });
      i = j + 1;
      continue;
    }
    if ('(),:'.includes(c)) {
      out.push({ t: 'punct', v: c, pos: i });
      i++;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_./-]*/.exec(filter.slice(i));
    if (!m) throw syntaxError(filter, i);
    const word = m[0];
    out.push({ t: KEYWORDS.has(word.toLowerCase()) ? 'kw' : 'id', v: word, pos: i });
    i += word.length;
  }
  return out;
}

const lower = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v);

/** Parses `$filter` into a predicate, or throws the GraphError Graph would answer. */
export function parseFilter(filter: string, spec: FilterSpec, advanced: boolean): Predicate {
  const toks = tokenize(filter);
  let p = 0;
  const peek = () => toks[p];
  const end = () => (toks.length ? toks[toks.length - 1].pos + toks[toks.length - 1].v.length : 0);
  const expect = (v: string) => {
    const t = toks[p];
    if (!t || t.v.toLowerCase() !== v) throw syntaxError(filter, t?.pos ?? end());
    p++;
  };
  const literal = (): string | null | boolean => {
    const t = toks[p++];
    if (!t) throw syntaxError(filter, end());
    if (t.t === 'str') return t.v;
    if (t.t === 'kw' && t.v.toLowerCase() === 'null') return null;
    if (t.t === 'kw' && ['true', 'false'].includes(t.v.toLowerCase())) return t.v.toLowerCase() === 'true';
    throw syntaxError(filter, t.pos);
  };
  const property = (name: string) => {
    const key = spec.properties.find((k) => k.toLowerCase() === name.toLowerCase());
    if (!key) throw noSuchProperty(name);
    const f = spec.filterable[key];
    if (!f) throw unsupportedClause(key, spec.resource);
    return { key, f };
  };
  const checkOp = (op: string, allowed: string[]) => {
    if (allowed.includes(op)) return;
    if (op === 'ne' && advanced) return;
    throw new GraphError(
      400,
      'Request_UnsupportedQuery',
      `Unsupported property filter clause operator '${OP_NAMES[op] ?? op}'.`,
    );
  };

  const primary = (): Predicate => {
    const t = peek();
    if (!t) throw syntaxError(filter, end());
    if (t.t === 'punct' && t.v === '(') {
      p++;
      const e = orExpr();
      expect(')');
      return e;
    }
    if (t.t !== 'id') throw syntaxError(filter, t.pos);
    p++;
    const name = t.v;
    const fn = name.toLowerCase();
    if (fn === 'startswith') {
      expect('(');
      const propTok = toks[p++];
      if (!propTok || propTok.t !== 'id') throw syntaxError(filter, propTok?.pos ?? end());
      expect(',');
      const value = literal();
      expect(')');
      const { key, f } = property(propTok.v);
      checkOp('startswith', f.ops);
      if (typeof value !== 'string') throw syntaxError(filter, propTok.pos);
      const v = value.toLowerCase();
      return (row) => typeof row[key] === 'string' && row[key].toLowerCase().startsWith(v);
    }
    if (['endswith', 'contains', 'substringof'].includes(fn)) throw unsupportedClause(name, spec.resource);
    const anyMatch = /^(.+)\/any$/i.exec(name);
    if (anyMatch) {
      const { key, f } = property(anyMatch[1]);
      if (f.kind !== 'collection' || !f.ops.includes('any')) throw unsupportedClause(key, spec.resource);
      expect('(');
      const v1 = toks[p++];
      expect(':');
      const v2 = toks[p++];
      if (!v1 || !v2 || v1.t !== 'id' || v2.t !== 'id' || v1.v !== v2.v) throw syntaxError(filter, v1?.pos ?? end());
      const opTok = toks[p++];
      if (!opTok || opTok.t !== 'kw') throw syntaxError(filter, opTok?.pos ?? end());
      const op = opTok.v.toLowerCase();
      if (op !== 'eq') checkOp(op, ['eq']);
      const value = lower(literal());
      expect(')');
      return (row) => Array.isArray(row[key]) && (row[key] as unknown[]).some((x) => lower(x) === value);
    }
    const opTok = toks[p++];
    if (!opTok || opTok.t !== 'kw') throw syntaxError(filter, opTok?.pos ?? end());
    const op = opTok.v.toLowerCase();
    if (!OP_NAMES[op]) throw syntaxError(filter, opTok.pos);
    const value = lower(literal());
    const { key, f } = property(name);
    if (f.kind === 'collection') throw unsupportedClause(key, spec.resource);
    checkOp(op, f.ops);
    if (op === 'eq') return (row) => lower(row[key] ?? null) === value;
    if (op === 'ne') return (row) => lower(row[key] ?? null) !== value;
    throw unsupportedClause(key, spec.resource);
  };
  const unary = (): Predicate => {
    const t = peek();
    if (t && t.t === 'kw' && t.v.toLowerCase() === 'not') {
      p++;
      if (!advanced)
        throw new GraphError(400, 'Request_UnsupportedQuery', "Unsupported property filter clause operator 'Not'.");
      const inner = unary();
      return (row) => !inner(row);
    }
    return primary();
  };
  const andExpr = (): Predicate => {
    let left = unary();
    while (peek()?.t === 'kw' && peek().v.toLowerCase() === 'and') {
      p++;
      const l = left;
      const r = unary();
      left = (row) => l(row) && r(row);
    }
    return left;
  };
  const orExpr = (): Predicate => {
    let left = andExpr();
    while (peek()?.t === 'kw' && peek().v.toLowerCase() === 'or') {
      p++;
      const l = left;
      const r = andExpr();
      left = (row) => l(row) || r(row);
    }
    return left;
  };

  if (!toks.length) throw syntaxError(filter, 0);
  const pred = orExpr();
  if (p < toks.length) throw syntaxError(filter, toks[p].pos);
  return pred;
}

/** `$select` names, validated against the type's properties; undefined when absent. */
export function parseSelect(select: string | null, properties: readonly string[]): string[] | undefined {
  if (select === null) return undefined;
  const names = select
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return names.map((n) => {
    const key = properties.find((k) => k.toLowerCase() === n.toLowerCase());
    if (!key) throw noSuchProperty(n);
    return key;
  });
}

export function applySelect(obj: Row, select: string[] | undefined): Row {
  if (!select) return obj;
  const out: Row = {};
  for (const k of select) out[k] = k in obj ? obj[k] : null;
  return out;
}

/** `$top`: 1..999 [observed Graph message for directory collections]. */
export function parseTop(top: string | null): number | undefined {
  if (top === null) return undefined;
  const n = Number(top);
  if (!Number.isInteger(n) || n < 1 || n > 999)
    throw new GraphError(
      400,
      'Request_BadRequest',
      `Invalid page size specified: '${top}'. Must be between 1 and 999 inclusive.`,
    );
  return n;
}

/** Opaque skip tokens (Graph's are opaque too; clients must follow `@odata.nextLink` as given). */
export const encodeSkipToken = (offset: number) =>
  Buffer.from(JSON.stringify({ o: offset, v: 1 }), 'utf8').toString('base64url');

export function decodeSkipToken(token: string | null): number {
  if (token === null) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof parsed.o === 'number' && Number.isInteger(parsed.o) && parsed.o >= 0) return parsed.o;
  } catch {
    // fall through
  }
  throw new GraphError(400, 'Request_BadRequest', 'Specified skip token is invalid.');
}
