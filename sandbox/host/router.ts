/**
 * Serves captured HTTP functions under /api/... as the Functions host does
 * (https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger): routePrefix `api`,
 * route templates, allowed methods (404 otherwise), authLevel with keys in `x-functions-key` or `?code=` (401 when
 * missing or wrong), a real HttpRequest and InvocationContext, and the handler's HttpResponseInit/HttpResponse written
 * back. An unhandled handler error becomes an empty 500 like the host's; a path with malformed percent-encoding is an
 * empty 400 before any function runs.
 */
import { randomUUID } from 'node:crypto';

import { HttpRequest, HttpResponse, InvocationContext, type FunctionInput } from '@azure/functions';

import type { LogRecord } from '../durable/engine';
import type { HttpRegistration, FunctionRegistry, Registration } from './registry';
import { comparePrecedence, isMalformedPath } from './routes';

export interface Keys {
  functionKey: string;
  masterKey: string;
}

export interface RoutedResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

/** Binding data for the durable client input (docs/reference/local-runtime.md#the-durable-client-binding). */
export type ClientDataFactory = () => Record<string, unknown>;

const isDurableClient = (i: FunctionInput) => i.type === 'durableClient' || i.type === 'orchestrationClient';

export function invocationContext(
  reg: Registration,
  clientData: ClientDataFactory,
  logs: LogRecord[],
  trigger: Record<string, unknown>,
): InvocationContext {
  const invocationId = randomUUID();
  const ctx = new InvocationContext({
    invocationId,
    functionName: reg.name,
    logHandler: (level, ...args) =>
      logs.push({
        functionName: reg.name,
        invocationId,
        level,
        message: args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '),
      }),
    options: { trigger: trigger as never, extraInputs: reg.extraInputs, extraOutputs: [] },
  });
  for (const input of reg.extraInputs) if (isDurableClient(input)) ctx.extraInputs.set(input, clientData());
  return ctx;
}

function authorized(reg: HttpRegistration, keys: Keys, headers: Record<string, string>, url: URL): boolean {
  if (reg.authLevel === 'anonymous') return true;
  const given = headers['x-functions-key'] ?? url.searchParams.get('code') ?? '';
  if (given === keys.masterKey) return true;
  return reg.authLevel === 'function' && given === keys.functionKey;
}

export async function routeHttp(
  registry: FunctionRegistry,
  keys: Keys,
  clientData: ClientDataFactory,
  logs: LogRecord[],
  req: { method: string; url: URL; headers: Record<string, string>; body: Buffer },
): Promise<RoutedResponse> {
  // A path whose percent-encoding is malformed is a 400 from the host itself: no function runs.
  if (isMalformedPath(req.url.pathname)) return { status: 400, headers: [], body: Buffer.alloc(0) };
  const sub = req.url.pathname.replace(/^\/api(\/|$)/, '');
  let found: { reg: HttpRegistration; params: Record<string, string> } | undefined;
  const candidates = registry
    .http()
    .filter((r) => r.methods.includes(req.method))
    .sort((a, b) => comparePrecedence(a.template, b.template));
  for (const reg of candidates) {
    const params = reg.template.match(sub);
    if (params) {
      found = { reg, params };
      break;
    }
  }
  if (!found) return { status: 404, headers: [], body: Buffer.alloc(0) };
  const { reg, params } = found;
  if (!authorized(reg, keys, req.headers, req.url)) return { status: 401, headers: [], body: Buffer.alloc(0) };

  const request = new HttpRequest({
    method: req.method,
    url: req.url.href,
    headers: req.headers,
    query: Object.fromEntries(req.url.searchParams),
    params,
    ...(req.body.length > 0 ? { body: { bytes: new Uint8Array(req.body) } } : {}),
  });
  const ctx = invocationContext(reg, clientData, logs, { type: 'httpTrigger', name: 'request' });
  let result: unknown;
  try {
    result = await reg.handler(request, ctx);
  } catch (err) {
    ctx.error(err instanceof Error ? err.message : String(err));
    return { status: 500, headers: [], body: Buffer.alloc(0) };
  }
  const res = result instanceof HttpResponse ? result : new HttpResponse(result ?? {});
  const headers: [string, string][] = [];
  res.headers.forEach((value, name) => headers.push([name, value]));
  for (const c of res.cookies) {
    const attrs = [`${c.name}=${c.value}`];
    if (c.path) attrs.push(`Path=${c.path}`);
    if (c.domain) attrs.push(`Domain=${c.domain}`);
    if (c.maxAge !== undefined) attrs.push(`Max-Age=${c.maxAge}`);
    if (c.expires) attrs.push(`Expires=${new Date(c.expires).toUTCString()}`);
    if (c.secure) attrs.push('Secure');
    if (c.httpOnly) attrs.push('HttpOnly');
    if (c.sameSite) attrs.push(`SameSite=${c.sameSite}`);
    headers.push(['set-cookie', attrs.join('; ')]);
  }
  return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
}
