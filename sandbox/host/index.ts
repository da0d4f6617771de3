/**
 * The local Functions host for tests and the demo: loads the entry module's registrations, runs the durable engine
 * and serves `/api/...` (HTTP functions) and `/runtime/webhooks/durabletask/...` (Durable HTTP API, system key
 * required) on 127.0.0.1 over plain HTTP (in Azure the front end terminates TLS), plus the durable extension's
 * loopback RPC listener (`/durabletask/` on its own port, no key) that the DurableClient's `rpcBaseUrl` points at.
 * A request path with malformed percent-encoding is an empty 400, as the host answers it. Production runs on Azure
 * Durable Functions.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import type { Timer } from '@azure/functions';

import type { SandboxClock } from '../core/clock';
import {
  DURABLE_PREFIX,
  handleDurableApi,
  hasSystemKey,
  managementUrls,
  RPC_PREFIX,
  type ApiResponse,
  type ManagementUrlOptions,
} from '../durable/api';
import { DurableEngine, type EngineOptions } from '../durable/engine';
import { loadFunctionApp, type FunctionRegistry } from './registry';
import { invocationContext, routeHttp, type Keys } from './router';
import { isMalformedPath } from './routes';

export interface FunctionsHostOptions {
  entryModule: string;
  clock: SandboxClock;
  functionKey?: string;
  masterKey?: string;
  port?: number;
  taskHub?: string;
  atLeastOnce?: boolean | ((activityName: string) => boolean);
  /** Orchestration default version; defaults to host.json's extensions.durableTask.defaultVersion. */
  defaultVersion?: string;
  /** 'virtual' for tests (advanceTime), 'real' for the demo. Default 'virtual'. */
  timers?: 'virtual' | 'real';
  /** See EngineOptions.onEpisode. */
  onEpisode?: EngineOptions['onEpisode'];
}

export interface FunctionsHost {
  readonly baseUrl: string;
  readonly functionKey: string;
  readonly masterKey: string;
  /** The durabletask_extension system key the public durable HTTP API requires. */
  readonly systemKey: string;
  /** The loopback RPC listener's base URL (`rpcBaseUrl` of the durable client binding), ending in `/durabletask/`. */
  readonly rpcBaseUrl: string;
  readonly durable: DurableEngine;
  readonly registry: FunctionRegistry;
  /** The durable client binding data an InvocationContext carries (points at this host). */
  clientData(): Record<string, unknown>;
  /** Runs a timer-triggered function now, as the host does on schedule or via the admin API. */
  runTimer(name: string, timer?: Partial<Timer>): Promise<void>;
  /** Runs timer functions whose schedule came due since they last ran (once each, isPastDue when late). */
  runDueTimerFunctions(): Promise<string[]>;
  /**
   * Virtual time: advances the shared clock, runs due timer functions, fires due durable timers and waits until the
   * engine is idle.
   */
  advanceTime(ms: number): Promise<void>;
  close(): Promise<void>;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function headerRecord(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** The nearest host.json above the entry module (src/functions/index.ts and dist/src/functions/index.js). */
function hostJsonDefaultVersion(entryModule: string): string | undefined {
  let dir = path.dirname(path.resolve(entryModule));
  for (let i = 0; i < 5; i++) {
    const file = path.join(dir, 'host.json');
    if (fs.existsSync(file)) {
      const json = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        extensions?: { durableTask?: { defaultVersion?: unknown } };
      };
      const v = json.extensions?.durableTask?.defaultVersion;
      return typeof v === 'string' ? v : undefined;
    }
    dir = path.dirname(dir);
  }
  return undefined;
}

/** Writes a durable HTTP API answer. */
function writeApi(res: http.ServerResponse, r: ApiResponse): void {
  const payload = r.body === undefined || r.body === '' ? '' : JSON.stringify(r.body);
  res.writeHead(r.status, {
    ...(payload ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    ...r.headers,
  });
  res.end(payload);
}

/** The request target as a URL on `origin`; undefined for a target that is not a path (absolute or authority form). */
function requestUrl(target: string | undefined, origin: string): URL | undefined {
  if (!target?.startsWith('/')) return undefined;
  try {
    return new URL(`${origin}${target}`);
  } catch {
    return undefined;
  }
}

async function listen(server: http.Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

export async function startFunctionsHost(opts: FunctionsHostOptions): Promise<FunctionsHost> {
  const keys: Keys = {
    functionKey: opts.functionKey ?? randomBytes(30).toString('base64url'),
    masterKey: opts.masterKey ?? randomBytes(30).toString('base64url'),
  };
  const systemKey = randomBytes(30).toString('base64url');
  let urlOptions: ManagementUrlOptions = { origin: '', taskHub: opts.taskHub ?? 'sandboxhub', systemKey };
  let rpcOrigin = '';
  // Set once the entry module is loaded, before the host is handed out (nobody knows the ports until then).
  let registry: FunctionRegistry | undefined;
  let durable: DurableEngine | undefined;
  const clientData = () => ({
    taskHubName: urlOptions.taskHub,
    creationUrls: {
      createNewInstancePostUri: `${urlOptions.origin}${DURABLE_PREFIX}orchestrators/{functionName}[/{instanceId}]?code=${systemKey}`,
      createAndWaitOnNewInstancePostUri: `${urlOptions.origin}${DURABLE_PREFIX}orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=${systemKey}`,
    },
    managementUrls: managementUrls(urlOptions, 'INSTANCEID'),
    baseUrl: `${urlOptions.origin}${DURABLE_PREFIX.slice(0, -1)}`,
    requiredQueryStringParameters: `code=${systemKey}`,
    // The DurableClient calls the loopback RPC listener, which needs no key (it only listens on 127.0.0.1).
    rpcBaseUrl: `${rpcOrigin}${RPC_PREFIX}`,
    httpBaseUrl: '',
    maxGrpcMessageSizeInBytes: 0,
    grpcHttpClientTimeout: '00:01:40',
  });

  /** Runs one request; a throw here is a bug in the local host, not a product error: made visible as an empty 500. */
  const serve = (res: http.ServerResponse, work: () => Promise<void>) => {
    work().catch((err: unknown) => {
      console.error('local functions host error', err);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };

  const server = http.createServer((req, res) =>
    serve(res, async () => {
      const body = await readBody(req);
      const url = requestUrl(req.url, urlOptions.origin);
      // Malformed percent-encoding (`/api/integrations/%`) or a target that is not a path: 400, no function runs.
      if (!url || isMalformedPath(url.pathname) || !registry || !durable) {
        res.writeHead(url && !registry ? 503 : 400).end();
        return;
      }
      const method = (req.method ?? 'GET').toUpperCase();
      if (url.pathname.startsWith(DURABLE_PREFIX)) {
        if (!hasSystemKey({ systemKey, masterKey: keys.masterKey }, url, req.headers)) {
          res.writeHead(401).end();
          return;
        }
        writeApi(res, handleDurableApi(durable, urlOptions, { method, url, body }));
        return;
      }
      if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
        const r = await routeHttp(registry, keys, clientData, durable.logs, {
          method,
          url,
          headers: headerRecord(req.headers),
          body,
        });
        for (const [name, value] of r.headers) res.appendHeader(name, value);
        res.statusCode = r.status;
        res.end(r.body);
        return;
      }
      res.writeHead(404).end();
    }),
  );
  const rpc = http.createServer((req, res) =>
    serve(res, async () => {
      const body = await readBody(req);
      const url = requestUrl(req.url, rpcOrigin);
      if (!url || isMalformedPath(url.pathname) || !durable) {
        res.writeHead(400).end();
        return;
      }
      if (!url.pathname.startsWith(RPC_PREFIX)) {
        res.writeHead(404).end();
        return;
      }
      const method = (req.method ?? 'GET').toUpperCase();
      writeApi(res, handleDurableApi(durable, urlOptions, { method, url, body }, RPC_PREFIX));
    }),
  );

  let port: number;
  let previousPublicBaseUrl: string | undefined;
  let previousHostname: string | undefined;
  try {
    port = await listen(server, opts.port ?? 0);
    rpcOrigin = `http://127.0.0.1:${await listen(rpc, 0)}`;
    urlOptions = { ...urlOptions, origin: `http://127.0.0.1:${port}` };
    // The app's public base URL is this host unless the settings say otherwise, as with `func start` on
    // localhost:7071; it is set before the entry module loads, because the entry module checks its settings then.
    previousPublicBaseUrl = process.env.PUBLIC_BASE_URL;
    if (!previousPublicBaseUrl) process.env.PUBLIC_BASE_URL = urlOptions.origin;
    // getClient() rewrites management URL origins to http://localhost:7071 unless WEBSITE_HOSTNAME is set
    // (durable-functions 3.5.0 lib/src/durableClient/getClient.js); point it at this host like Azure points it at the app.
    previousHostname = process.env.WEBSITE_HOSTNAME;
    if (!previousHostname) process.env.WEBSITE_HOSTNAME = `127.0.0.1:${port}`;
    registry = loadFunctionApp(opts.entryModule);
    durable = new DurableEngine({
      clock: opts.clock,
      functions: registry,
      timers: opts.timers ?? 'virtual',
      defaultVersion: opts.defaultVersion ?? hostJsonDefaultVersion(opts.entryModule),
      ...(opts.atLeastOnce !== undefined ? { atLeastOnce: opts.atLeastOnce } : {}),
      ...(opts.onEpisode ? { onEpisode: opts.onEpisode } : {}),
    });
  } catch (err) {
    restoreEnv();
    await Promise.all([closeServer(server), closeServer(rpc)]);
    throw err;
  }
  function restoreEnv() {
    if (!previousPublicBaseUrl && process.env.PUBLIC_BASE_URL === urlOptions.origin) delete process.env.PUBLIC_BASE_URL;
    if (!previousHostname && process.env.WEBSITE_HOSTNAME === `127.0.0.1:${port}`) delete process.env.WEBSITE_HOSTNAME;
  }
  const functions = registry;
  const engine = durable;

  const runTimer = async (name: string, timer: Partial<Timer> = {}) => {
    const reg = functions.get(name);
    if (!reg || reg.kind !== 'timer') throw new Error(`no timer function '${name}' is registered`);
    const ctx = invocationContext(reg, clientData, engine.logs, { type: 'timerTrigger', name: 'myTimer' });
    const now = opts.clock.now();
    const next = reg.next(now);
    const t: Timer = {
      isPastDue: false,
      schedule: { adjustForDST: true },
      scheduleStatus: {
        last: new Date(lastRun.get(reg.name) ?? now).toISOString(),
        next: next === undefined ? '' : new Date(next).toISOString(),
        lastUpdated: new Date(now).toISOString(),
      },
      ...timer,
    };
    lastRun.set(reg.name, now);
    await reg.handler(t, ctx);
  };
  // Schedule bookkeeping starts now; the host runs runOnStartup functions once at start.
  const lastRun = new Map<string, number>(functions.timers().map((t) => [t.name, opts.clock.now()]));
  const runDueTimerFunctions = async () => {
    const ran: string[] = [];
    const now = opts.clock.now();
    for (const reg of functions.timers()) {
      const first = reg.next(lastRun.get(reg.name) ?? now);
      if (first === undefined || first > now) continue;
      const second = reg.next(first);
      ran.push(reg.name);
      await runTimer(reg.name, { isPastDue: second !== undefined && second <= now });
    }
    return ran;
  };
  for (const reg of functions.timers()) if (reg.runOnStartup) await runTimer(reg.name);
  let schedulePoll: NodeJS.Timeout | undefined;
  if ((opts.timers ?? 'virtual') === 'real') {
    // Once a second: timer functions whose schedule came due, and durable timers made due by a clock advance
    // (the sandbox control API moves the shared clock without telling the engine).
    schedulePoll = setInterval(() => {
      engine.fireDueTimers();
      runDueTimerFunctions().catch((err: unknown) => console.error('timer function failed', err));
    }, 1000);
    schedulePoll.unref();
  }

  return {
    baseUrl: urlOptions.origin,
    functionKey: keys.functionKey,
    masterKey: keys.masterKey,
    systemKey,
    rpcBaseUrl: `${rpcOrigin}${RPC_PREFIX}`,
    durable: engine,
    registry: functions,
    clientData,
    runTimer,
    runDueTimerFunctions,
    async advanceTime(ms) {
      opts.clock.advance(ms);
      await runDueTimerFunctions();
      engine.fireDueTimers();
      await engine.waitForIdle();
    },
    async close() {
      if (schedulePoll) clearInterval(schedulePoll);
      engine.close();
      restoreEnv();
      await Promise.all([closeServer(server), closeServer(rpc)]);
    },
  };
}
