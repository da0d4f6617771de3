/**
 * The local Functions host for tests and the demo: loads the entry module's registrations, runs the durable engine
 * and serves `/api/...` (HTTP functions) and `/runtime/webhooks/durabletask/...` (Durable HTTP API) on 127.0.0.1 over
 * plain HTTP (in Azure the front end terminates TLS). Production runs on Azure Durable Functions.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import type { Timer } from '@azure/functions';

import type { SandboxClock } from '../core/clock';
import { DURABLE_PREFIX, handleDurableApi, managementUrls, type ManagementUrlOptions } from '../durable/api';
import { DurableEngine, type EngineOptions } from '../durable/engine';
import { loadFunctionApp, type FunctionRegistry } from './registry';
import { invocationContext, routeHttp, type Keys } from './router';

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

export async function startFunctionsHost(opts: FunctionsHostOptions): Promise<FunctionsHost> {
  const registry = loadFunctionApp(opts.entryModule);
  const keys: Keys = {
    functionKey: opts.functionKey ?? randomBytes(30).toString('base64url'),
    masterKey: opts.masterKey ?? randomBytes(30).toString('base64url'),
  };
  const systemKey = randomBytes(30).toString('base64url');
  const durable = new DurableEngine({
    clock: opts.clock,
    functions: registry,
    timers: opts.timers ?? 'virtual',
    defaultVersion: opts.defaultVersion ?? hostJsonDefaultVersion(opts.entryModule),
    ...(opts.atLeastOnce !== undefined ? { atLeastOnce: opts.atLeastOnce } : {}),
    ...(opts.onEpisode ? { onEpisode: opts.onEpisode } : {}),
  });
  let urlOptions: ManagementUrlOptions = { origin: '', taskHub: opts.taskHub ?? 'sandboxhub', systemKey };
  const clientData = () => ({
    taskHubName: urlOptions.taskHub,
    creationUrls: {
      createNewInstancePostUri: `${urlOptions.origin}${DURABLE_PREFIX}orchestrators/{functionName}[/{instanceId}]?code=${systemKey}`,
      createAndWaitOnNewInstancePostUri: `${urlOptions.origin}${DURABLE_PREFIX}orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=${systemKey}`,
    },
    managementUrls: managementUrls(urlOptions, 'INSTANCEID'),
    baseUrl: `${urlOptions.origin}${DURABLE_PREFIX.slice(0, -1)}`,
    requiredQueryStringParameters: `code=${systemKey}`,
    rpcBaseUrl: `${urlOptions.origin}${DURABLE_PREFIX}`,
    httpBaseUrl: '',
    maxGrpcMessageSizeInBytes: 0,
    grpcHttpClientTimeout: '00:01:40',
  });

  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', urlOptions.origin);
        const body = await readBody(req);
        const method = (req.method ?? 'GET').toUpperCase();
        if (url.pathname.startsWith(DURABLE_PREFIX)) {
          const r = handleDurableApi(durable, urlOptions, { method, url, body });
          const payload = r.body === undefined || r.body === '' ? '' : JSON.stringify(r.body);
          res.writeHead(r.status, {
            ...(payload ? { 'content-type': 'application/json; charset=utf-8' } : {}),
            ...r.headers,
          });
          res.end(payload);
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
      } catch (err) {
        // A bug in the local host, not a product error: make it visible.
        console.error('local functions host error', err);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  urlOptions = { ...urlOptions, origin: `http://127.0.0.1:${port}` };

  // getClient() rewrites management URL origins to http://localhost:7071 unless WEBSITE_HOSTNAME is set
  // (durable-functions 3.5.0 lib/src/durableClient/getClient.js); point it at this host like Azure points it at the app.
  const previousHostname = process.env.WEBSITE_HOSTNAME;
  if (!previousHostname) process.env.WEBSITE_HOSTNAME = `127.0.0.1:${port}`;

  const runTimer = async (name: string, timer: Partial<Timer> = {}) => {
    const reg = registry.get(name);
    if (!reg || reg.kind !== 'timer') throw new Error(`no timer function '${name}' is registered`);
    const ctx = invocationContext(reg, clientData, durable.logs, { type: 'timerTrigger', name: 'myTimer' });
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
  const lastRun = new Map<string, number>(registry.timers().map((t) => [t.name, opts.clock.now()]));
  const runDueTimerFunctions = async () => {
    const ran: string[] = [];
    const now = opts.clock.now();
    for (const reg of registry.timers()) {
      const first = reg.next(lastRun.get(reg.name) ?? now);
      if (first === undefined || first > now) continue;
      const second = reg.next(first);
      ran.push(reg.name);
      await runTimer(reg.name, { isPastDue: second !== undefined && second <= now });
    }
    return ran;
  };
  for (const reg of registry.timers()) if (reg.runOnStartup) await runTimer(reg.name);
  let schedulePoll: NodeJS.Timeout | undefined;
  if ((opts.timers ?? 'virtual') === 'real') {
    // Once a second: timer functions whose schedule came due, and durable timers made due by a clock advance
    // (the sandbox control API moves the shared clock without telling the engine).
    schedulePoll = setInterval(() => {
      durable.fireDueTimers();
      runDueTimerFunctions().catch((err: unknown) => console.error('timer function failed', err));
    }, 1000);
    schedulePoll.unref();
  }

  return {
    baseUrl: urlOptions.origin,
    functionKey: keys.functionKey,
    masterKey: keys.masterKey,
    durable,
    registry,
    clientData,
    runTimer,
    runDueTimerFunctions,
    async advanceTime(ms) {
      opts.clock.advance(ms);
      await runDueTimerFunctions();
      durable.fireDueTimers();
      await durable.waitForIdle();
    },
    async close() {
      if (schedulePoll) clearInterval(schedulePoll);
      durable.close();
      if (!previousHostname && process.env.WEBSITE_HOSTNAME === `127.0.0.1:${port}`)
        delete process.env.WEBSITE_HOSTNAME;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
