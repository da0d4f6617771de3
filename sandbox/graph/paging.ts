/**
 * Collection responses: `$filter`, `$orderby=displayName`, `$count`, `$select`, `$top` and server-driven paging with
 * `@odata.nextLink` carrying an opaque `$skiptoken` [doc https://learn.microsoft.com/graph/paging; default page size
 * 100 for directory objects, `$top` 1–999 [doc application-list]].
 */
import type { SandboxResponse } from '../core/types';
import { GraphError, jsonResponse } from './errors';
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

export function listResponse(env: Env, all: Row[], o: ListOptions): SandboxResponse {
  const q = env.req.query;
  const advanced = String(env.req.headers.consistencylevel ?? '').toLowerCase() === 'eventual';
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
  if (q.get('$count') === 'true') body['@odata.count'] = rows.length;
  if (offset + size < rows.length) {
    const next = new URLSearchParams();
    for (const [k, v] of q.entries()) if (k !== '$skiptoken') next.set(k, v);
    next.set('$skiptoken', encodeSkipToken(offset + size));
    body['@odata.nextLink'] = `${env.origin}${o.path}?${next.toString().replace(/%24/g, '$')}`;
  }
  body.value = page.map((r) => applySelect(r, select));
  return jsonResponse(env.ids, 200, body);
}
