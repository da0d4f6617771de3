/**
 * The subset of the Durable Functions HTTP API that durable-functions 3.5.0's DurableClient calls through
 * `rpcBaseUrl` (lib/src/durableClient/DurableClient.js), with the status codes documented at
 * https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api : start (202), get status
 * (200 completed / 202 running or pending / 400 failed or terminated / 404), query (200), raise event and terminate
 * (202 / 410 finished / 404), purge (200 / 404).
 *
 * Served twice, as the host does: publicly under /runtime/webhooks/durabletask/, where every call needs the system
 * key (`code` query parameter or `x-functions-key` header; the master key also works), and on the extension's
 * loopback-only RPC listener under /durabletask/ without a key, which is where `rpcBaseUrl` points the DurableClient
 * of out-of-process workers (azure-functions-durable-extension LocalHttpListener: http://127.0.0.1:{port}/durabletask/).
 */
import { DurableError, type DurableEngine, type InstanceStatus, type StatusOptions } from './engine';

export const DURABLE_PREFIX = '/runtime/webhooks/durabletask/';
/** The path of the loopback RPC listener (`rpcBaseUrl`). */
export const RPC_PREFIX = '/durabletask/';

/**
 * Whether a public durable HTTP API call carries the system key (or the master key), as `code` or `x-functions-key`
 * (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api#common-request-parameters).
 */
export function hasSystemKey(
  keys: { systemKey: string; masterKey: string },
  url: URL,
  headers: Record<string, string | string[] | undefined>,
): boolean {
  const header = headers['x-functions-key'];
  const given = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('code') ?? '';
  return given !== '' && (given === keys.systemKey || given === keys.masterKey);
}

export interface ApiRequest {
  method: string;
  url: URL;
  body: Buffer;
}
export interface ApiResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface ManagementUrlOptions {
  origin: string;
  taskHub: string;
  systemKey: string;
}

/** The `createCheckStatusResponse`-style links for one instance (and, with id = INSTANCEID, the binding templates). */
export function managementUrls(o: ManagementUrlOptions, id: string): Record<string, string> {
  const base = `${o.origin}${DURABLE_PREFIX}instances/${id}`;
  const q = `taskHub=${encodeURIComponent(o.taskHub)}&connection=Storage&code=${encodeURIComponent(o.systemKey)}`;
  return {
    id,
    statusQueryGetUri: `${base}?${q}`,
    sendEventPostUri: `${base}/raiseEvent/{eventName}?${q}`,
    terminatePostUri: `${base}/terminate?reason={text}&${q}`,
    rewindPostUri: `${base}/rewind?reason={text}&${q}`,
    purgeHistoryDeleteUri: `${base}?${q}`,
    restartPostUri: `${base}/restart?${q}`,
    suspendPostUri: `${base}/suspend?reason={text}&${q}`,
    resumePostUri: `${base}/resume?reason={text}&${q}`,
  };
}

const flag = (v: string | null): boolean | undefined => (v === null ? undefined : v.toLowerCase() === 'true');

function parseBody(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  const text = body.toString('utf8');
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function statusCode(s: InstanceStatus): number {
  switch (s.runtimeStatus) {
    case 'Completed':
      return 200;
    case 'Failed':
    case 'Terminated':
      return 400;
    default:
      return 202;
  }
}

const error = (status: number, message: string): ApiResponse => ({ status, body: { Message: message } });

/** Answers one request under `prefix` (DURABLE_PREFIX or RPC_PREFIX); never throws for bad input. */
export function handleDurableApi(
  engine: DurableEngine,
  urls: ManagementUrlOptions,
  req: ApiRequest,
  prefix: string = DURABLE_PREFIX,
): ApiResponse {
  const rest = req.url.pathname.slice(prefix.length - 1).replace(/^\/+/, '');
  let parts: string[];
  try {
    parts = rest.split('/').map(decodeURIComponent);
  } catch {
    return error(400, 'The request path is not valid.');
  }
  const q = req.url.searchParams;
  try {
    // POST orchestrators/{functionName}[/{instanceId}]
    if (parts[0] === 'orchestrators' && parts.length >= 2 && parts.length <= 3 && parts[1]) {
      if (req.method !== 'POST') return error(405, 'The requested HTTP method is not supported.');
      const body = parseBody(req.body);
      if (!body.ok) return error(400, 'The request content is not valid JSON.');
      const id = engine.startNew(parts[1], {
        ...(parts[2] ? { instanceId: parts[2] } : {}),
        ...(q.get('version') ? { version: q.get('version')! } : {}),
        input: body.value,
      });
      const links = managementUrls(urls, id);
      return { status: 202, headers: { location: links.statusQueryGetUri, 'retry-after': '10' }, body: links };
    }
    if (parts[0] !== 'instances') return error(404, 'Not found.');
    const id = parts[1] ?? '';
    const opts: StatusOptions = {};
    const showHistory = flag(q.get('showHistory'));
    const showHistoryOutput = flag(q.get('showHistoryOutput'));
    const showInput = flag(q.get('showInput'));
    if (showHistory !== undefined) opts.showHistory = showHistory;
    if (showHistoryOutput !== undefined) opts.showHistoryOutput = showHistoryOutput;
    if (showInput !== undefined) opts.showInput = showInput;

    if (id === '' && req.method === 'GET') {
      const from = q.get('createdTimeFrom');
      const to = q.get('createdTimeTo');
      const statuses = q.get('runtimeStatus');
      const prefix = q.get('instanceIdPrefix');
      const list = engine.query(
        {
          ...(from ? { createdTimeFrom: new Date(from) } : {}),
          ...(to ? { createdTimeTo: new Date(to) } : {}),
          ...(statuses ? { runtimeStatus: statuses.split(',').filter(Boolean) } : {}),
          ...(prefix ? { instanceIdPrefix: prefix } : {}),
        },
        opts,
      );
      return { status: 200, body: list };
    }
    if (id === '') return error(404, 'Not found.');

    if (parts.length === 2 && req.method === 'GET') {
      const s = engine.getStatus(id, opts);
      if (!s) return { status: 404, body: '' };
      const links = managementUrls(urls, id);
      return {
        status: statusCode(s),
        headers: statusCode(s) === 202 ? { location: links.statusQueryGetUri } : {},
        body: s,
      };
    }
    if (parts.length === 2 && req.method === 'DELETE') {
      const deleted = engine.purge(id);
      return deleted > 0 ? { status: 200, body: { instancesDeleted: deleted } } : { status: 404, body: '' };
    }
    if (parts[2] === 'raiseEvent' && parts.length === 4 && req.method === 'POST') {
      const body = parseBody(req.body);
      if (!body.ok) return error(400, 'Only application/json request content is supported');
      const r = engine.raiseEvent(id, parts[3], body.value);
      return { status: r === 'accepted' ? 202 : 410, body: '' };
    }
    if (parts[2] === 'terminate' && parts.length === 3 && req.method === 'POST') {
      const r = engine.terminate(id, q.get('reason') ?? '');
      return { status: r === 'accepted' ? 202 : 410, body: '' };
    }
    return error(404, 'Not found.');
  } catch (err) {
    if (err instanceof DurableError) {
      const status = err.code === 'notFound' ? 404 : err.code === 'conflict' ? 409 : 400;
      return error(status, err.message);
    }
    throw err;
  }
}
