/**
 * Collection responses: `$filter`, `$orderby=displayName`, `$count`, `$select`, `$top` and server-driven paging with
 * `@odata.nextLink` carrying an opaque `$skiptoken` [doc https://learn.microsoft.com/graph/paging; default page size
 * 100 for directory objects, `$top` 1–999 [doc application-list]], and the `/$count` segment.
 *
 * Advanced queries (https://learn.microsoft.com/graph/aad-advanced-queries): on directory objects `$count` works only
 * with the request header `ConsistencyLevel: eventual`. Without it `?$count=true` fails silently (200, no
 * `@odata.count`, the page's own example) and the `/$count` segment answers 400 `Request_UnsupportedQuery` "Raw count
 * (/$count) is not supported because the 'ConsistencyLevel:eventual' header is missing. …" (the current wording, as
 * public reports from Graph show it; the page's older sample is `Request_BadRequest` "$count is not currently
 * supported."). Operators such as `ne` and `not` need both the header and `$count=true`.
 */
import type { SandboxResponse } from '../core/types';
import { GraphError, jsonResponse, textResponse } from './errors';
import type { Env } from './env';
import {
  type FilterSpec,
  type Row,
  applySelect,
  decodeSkipToken,
  encodeSkipToken,
  parseFilter,
  parseSelect,
  parseTop,
} from './odata';

export interface ListOptions {
  /** Path of the collection, for nextLink. */
  path: string;
  /** Entity set name in `@odata.context`. */
  contextSet: string;
  filter: FilterSpec;
}

const DEFAULT_PAGE = 100;
const name = (r: Row) => (typeof r.displayName === 'string' ? r.displayName : '');

/** The request carries `ConsistencyLevel: eventual` (header names are case-insensitive; Node lower-cases them). */
const eventual = (env: Env) => String(env.req.headers.consistencylevel ?? '').toLowerCase() === 'eventual';
const countRequested = (env: Env) => env.req.query.get('$count')?.toLowerCase() === 'true';

export function listResponse(env: Env, all: Row[], o: ListOptions): SandboxResponse {
  const q = env.req.query;
  // `@odata.count` and the advanced operators need the header and `$count=true` together.
  const advanced = eventual(env) && countRequested(env);
  const select = parseSelect(q.get('$select'), o.filter.properties);
  const top = parseTop(q.get('$top'));
  const offset = decodeSkipToken(q.get('$skiptoken'));
  const filter = q.get('$filter');
  let rows = filter === null ? all : all.filter(parseFilter(filter, o.filter, advanced));
  const orderby = q.get('$orderby');
  if (orderby !== null) {
    const [prop, dir] = orderby.trim().split(/\s+/);
    // Directory collections sort by displayName only [observed: "Sorting not supported for current query."].
    if (prop.toLowerCase() !== 'displayname')
      throw new GraphError(400, 'Request_UnsupportedQuery', 'Sorting not supported for current query.');
    const sign = dir?.toLowerCase() === 'desc' ? -1 : 1;
    rows = [...rows].sort((a, b) => sign * name(a).localeCompare(name(b), 'en', { sensitivity: 'base' }));
  }
  const size = top ?? DEFAULT_PAGE;
  const page = rows.slice(offset, offset + size);
  const body: Record<string, unknown> = {
    '@odata.context': `${env.origin}/v1.0/$metadata#${o.contextSet}${select ? `(${select.join(',')})` : ''}`,
  };
  if (advanced) body['@odata.count'] = rows.length;
  if (offset + size < rows.length) {
    const next = new URLSearchParams();
    for (const [k, v] of q.entries()) if (k !== '$skiptoken') next.set(k, v);
    next.set('$skiptoken', encodeSkipToken(offset + size));
    body['@odata.nextLink'] = `${env.origin}${o.path}?${next.toString().replace(/%24/g, '$')}`;
  }
  body.value = page.map((r) => applySelect(r, select));
  return jsonResponse(env.ids, 200, body);
}

/** `GET /{collection}/$count[?$filter=…]`: the number of matching objects as `text/plain`, advanced queries only. */
export function countResponse(env: Env, all: Row[], o: ListOptions): SandboxResponse {
  if (!eventual(env))
    throw new GraphError(
      400,
      'Request_UnsupportedQuery',
      "Raw count (/$count) is not supported because the 'ConsistencyLevel:eventual' header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
    );
  const filter = env.req.query.get('$filter');
  const rows = filter === null ? all : all.filter(parseFilter(filter, o.filter, true));
  return textResponse(env.ids, 200, String(rows.length));
}
