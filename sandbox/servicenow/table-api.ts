import type { SandboxRequest, SandboxResponse } from '../core/types';
import { canRead, canWrite } from './acl';
import type { Caller } from './auth';
import { aclWriteFailed, badJson, invalidTable, methodNotAllowed, noRecord, readDenied, snError } from './errors';
import { matches, parseQuery, sortRows } from './query';
import { parseDisplayMode, renderRow, requestedFields, type RenderOptions } from './render';
import { columnsOf, tableIn } from './schema';
import type { InstanceStore, Row } from './store';

export interface TableRoute {
  /** '' (unversioned = latest = v2), 'v1' or 'v2' (docs/reference/servicenow.md#table-api-urls-and-versions). */
  version: '' | 'v1' | 'v2';
  table: string;
  sysId?: string;
}

export interface TableContext {
  store: InstanceStore;
  caller: Caller;
  /** https://127.0.0.1:PORT/{instance} */
  base: string;
  /** Tables that refuse writes even for admin (ServiceNowOptions.deniedWrites). */
  deniedWrites: ReadonlySet<string>;
}

const JSON_HEADERS = { 'Content-Type': 'application/json;charset=UTF-8' };

const flag = (req: SandboxRequest, name: string) => req.query.get(name)?.toLowerCase() === 'true';
const header = (req: SandboxRequest, name: string) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** `/api/now[/v1|/v2]/table/{table}[/{sys_id}]` (docs/reference/servicenow.md#table-api-urls-and-versions). */
export function parseTableRoute(rest: string): TableRoute | 'bad' | undefined {
  const m = /^\/api\/now(?:\/(v1|v2))?\/table(?:\/([^/]*))?(?:\/([^/]*))?\/?$/.exec(rest);
  if (!m) return rest.startsWith('/api/') ? 'bad' : undefined;
  if (!m[2]) return 'bad';
  return { version: (m[1] as 'v1' | 'v2' | undefined) ?? '', table: m[2], ...(m[3] ? { sysId: m[3] } : {}) };
}

export function handleTable(req: SandboxRequest, route: TableRoute, ctx: TableContext): SandboxResponse {
  // X-HTTP-Method-Override replaces the method (SN-REST).
  const method = (header(req, 'x-http-method-override') ?? req.method).toUpperCase();
  if (!tableIn(route.table, ctx.store.release)) return invalidTable(route.table);
  const accept = header(req, 'accept');
  if (accept && !/json|\*\/\*|application\/\*|xml/i.test(accept)) return snError(406, 'Not Acceptable', null);
  const render: RenderOptions = {
    base: ctx.base,
    table: route.table,
    fields: requestedFields(route.table, req.query.get('sysparm_fields')),
    display: parseDisplayMode(req.query.get('sysparm_display_value')),
    excludeReferenceLink: flag(req, 'sysparm_exclude_reference_link'),
  };
  if (route.sysId === undefined) {
    if (method === 'GET' || method === 'HEAD') return list(req, route, ctx, render);
    if (method === 'POST') return insert(req, route, ctx, render);
    return methodNotAllowed();
  }
  if (method === 'GET' || method === 'HEAD') {
    const row = visibleRow(ctx, route);
    if (!row || !canRead(ctx.caller, route.table)) return noRecord();
    return { status: 200, headers: JSON_HEADERS, body: { result: renderRow(ctx.store, row, render) } };
  }
  if (method === 'PATCH' || method === 'PUT') return update(req, route, ctx, render);
  if (method === 'DELETE') {
    const row = visibleRow(ctx, route);
    if (!row) return noRecord();
    if (!writable(ctx, row.table)) return aclWriteFailed('Delete');
    ctx.store.delete(row.values.sys_id);
    return { status: 204 };
  }
  return methodNotAllowed();
}

const visibleRow = (ctx: TableContext, route: TableRoute): Row | undefined => {
  const row = route.sysId ? ctx.store.get(route.sysId) : undefined;
  return row && ctx.store.rowsOf(route.table).includes(row) ? row : undefined;
};

const writable = (ctx: TableContext, table: string) => !ctx.deniedWrites.has(table) && canWrite(ctx.caller, table);

function list(req: SandboxRequest, route: TableRoute, ctx: TableContext, render: RenderOptions): SandboxResponse {
  if (!canRead(ctx.caller, route.table)) return readDenied();
  const parsed = parseQuery(route.table, queryText(req, route.table));
  const all = sortRows(
    ctx.store,
    ctx.store.rowsOf(route.table).filter((r) => matches(ctx.store, r, parsed)),
    parsed.orderBy,
  );
  const limit = positiveInt(req.query.get('sysparm_limit')) ?? 10000;
  const offset = nonNegativeInt(req.query.get('sysparm_offset')) ?? 0;
  const page = all.slice(offset, offset + limit);
  // v1 answers an empty list with 404; v2 (and the unversioned latest) with 200 []
  // (docs/reference/servicenow.md#table-api-urls-and-versions).
  if (route.version === 'v1' && page.length === 0) return noRecord();
  const headers: Record<string, string> = { ...JSON_HEADERS };
  if (!flag(req, 'sysparm_no_count')) headers['X-Total-Count'] = String(all.length);
  if (!flag(req, 'sysparm_suppress_pagination_header')) {
    const link = linkHeader(req, ctx.base, all.length, limit, offset);
    if (link) headers.Link = link;
  }
  return { status: 200, headers, body: { result: page.map((r) => renderRow(ctx.store, r, render)) } };
}

/** sysparm_query, or name-value filters on known columns when there is none (SN-TABLE). */
function queryText(req: SandboxRequest, table: string): string {
  const q = req.query.get('sysparm_query');
  if (q !== null) return q;
  const cols = columnsOf(table);
  return [...req.query.entries()]
    .filter(([k]) => !k.startsWith('sysparm_') && cols.has(k))
    .map(([k, v]) => `${k}=${v}`)
    .join('^');
}

/** `Link` with rels first/prev/next/last, as `<url>;rel="next"` (SN-TABLE response headers). */
function linkHeader(req: SandboxRequest, base: string, total: number, limit: number, offset: number): string {
  const rest = req.path.slice(req.path.indexOf('/api/'));
  const url = (o: number) => {
    const q = new URLSearchParams(req.query);
    q.set('sysparm_limit', String(limit));
    q.set('sysparm_offset', String(o));
    return `<${base}${rest}?${q.toString()}>`;
  };
  const lastOffset = total > 0 ? Math.floor((total - 1) / limit) * limit : 0;
  const links = [`${url(0)};rel="first"`];
  if (offset > 0) links.push(`${url(Math.max(0, offset - limit))};rel="prev"`);
  if (offset + limit < total) links.push(`${url(offset + limit)};rel="next"`);
  links.push(`${url(lastOffset)};rel="last"`);
  return links.join(',');
}

function parseBody(req: SandboxRequest): Record<string, unknown> | 'bad' | 'media' {
  const type = header(req, 'content-type');
  if (type && !/json/i.test(type)) return 'media';
  const text = req.body.toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'bad';
  }
  // POST with an array inserts only the first record (docs/reference/servicenow.md#table-api-urls-and-versions).
  if (Array.isArray(parsed)) parsed = parsed[0] ?? {};
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : 'bad';
}

function written(
  req: SandboxRequest,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): SandboxResponse {
  // X-no-response-body: true suppresses the echoed record (SN-TABLE).
  if (header(req, 'x-no-response-body')?.toLowerCase() === 'true') return { status, headers: extra };
  return { status, headers: { ...JSON_HEADERS, ...extra }, body };
}

function insert(req: SandboxRequest, route: TableRoute, ctx: TableContext, render: RenderOptions): SandboxResponse {
  const body = parseBody(req);
  if (body === 'media') return snError(415, 'Unsupported Media Type', null);
  if (body === 'bad') return badJson();
  if (!writable(ctx, route.table)) return aclWriteFailed('Insert');
  const row = ctx.store.insert(route.table, body, {
    inputDisplayValue: flag(req, 'sysparm_input_display_value'),
    user: ctx.caller.userName,
  });
  const prefix = route.version ? `/api/now/${route.version}/table` : '/api/now/table';
  return written(
    req,
    201,
    { result: renderRow(ctx.store, row, render) },
    {
      Location: `${ctx.base}${prefix}/${route.table}/${row.values.sys_id}`,
    },
  );
}

function update(req: SandboxRequest, route: TableRoute, ctx: TableContext, render: RenderOptions): SandboxResponse {
  const body = parseBody(req);
  if (body === 'media') return snError(415, 'Unsupported Media Type', null);
  if (body === 'bad') return badJson();
  const row = visibleRow(ctx, route);
  if (!row) return noRecord();
  if (!writable(ctx, row.table)) return aclWriteFailed('Update');
  // A write through a parent table (oauth_entity for an OIDC entity) sets only the columns the parent has.
  const cols = columnsOf(route.table, ctx.store.release);
  const known = Object.fromEntries(Object.entries(body).filter(([k]) => cols.has(k)));
  ctx.store.update(row, known, {
    inputDisplayValue: flag(req, 'sysparm_input_display_value'),
    user: ctx.caller.userName,
  });
  return written(req, 200, { result: renderRow(ctx.store, row, render) });
}

function positiveInt(v: string | null): number | undefined {
  const n = Number(v);
  return v !== null && Number.isInteger(n) && n > 0 ? n : undefined;
}

function nonNegativeInt(v: string | null): number | undefined {
  const n = Number(v);
  return v !== null && Number.isInteger(n) && n >= 0 ? n : undefined;
}
