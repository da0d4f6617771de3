import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import type { SandboxClock } from './clock';
import type { FaultInjector, ServiceLatency } from './faults';
import type { Journal } from './journal';
import type { TlsMaterial } from './tls';
import type { SandboxRequest, SandboxResponse, StandIn } from './types';

export interface RunningServer {
  /** `https://127.0.0.1:{port}` without a trailing slash. */
  readonly origin: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface ServeOptions {
  standIn: StandIn;
  tls: TlsMaterial;
  clock: SandboxClock;
  faults: FaultInjector;
  journal: Journal;
  /** Modelled latency of the service (off unless the sandbox turns it on). */
  latency?: ServiceLatency;
  port?: number;
}

const MAX_BODY = 4 * 1024 * 1024;

/** Serves one stand-in over HTTPS on 127.0.0.1, applying injected faults and journalling every call. */
export async function serve(opts: ServeOptions): Promise<RunningServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ key: opts.tls.key, cert: opts.tls.cert }, (req, res) => {
    handle(opts, req, res).catch(() => res.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  // Idle keep-alive connections stay open as the real services' front ends keep them (minutes, not Node's default
  // 5 s): with Node's default a client that reuses a socket just as the server times it out gets ECONNRESET, a race
  // the real services do not show within a few seconds of idleness
  // (https://nodejs.org/api/http.html#serverkeepalivetimeout).
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `https://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function toSandboxRequest(req: IncomingMessage, body: Buffer): SandboxRequest {
  const url = new URL(req.url ?? '/', `https://${req.headers.host ?? '127.0.0.1'}`);
  let path = url.pathname;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    // keep the raw path: the stand-in answers it with its own 400/404
  }
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    url,
    path,
    query: url.searchParams,
    headers: req.headers,
    body,
    remoteAddress: req.socket.remoteAddress ?? '',
  };
}

function encode(res: SandboxResponse): { headers: Record<string, string | string[]>; payload: Buffer } {
  const headers: Record<string, string | string[]> = { ...(res.headers ?? {}) };
  const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
  let payload: Buffer;
  if (res.body === undefined || res.body === null) payload = Buffer.alloc(0);
  else if (Buffer.isBuffer(res.body)) payload = res.body;
  else if (typeof res.body === 'string') {
    payload = Buffer.from(res.body, 'utf8');
    if (!has('content-type')) headers['Content-Type'] = 'text/plain; charset=utf-8';
  } else {
    payload = Buffer.from(JSON.stringify(res.body), 'utf8');
    if (!has('content-type')) headers['Content-Type'] = 'application/json; charset=utf-8';
  }
  return { headers, payload };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function handle(opts: ServeOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { standIn, clock, faults, journal } = opts;
  let body: Buffer;
  try {
    body = await readBody(req);
  } catch {
    res.writeHead(413).end();
    return;
  }
  const sreq = toSandboxRequest(req, body);
  let authSubject: string | undefined;
  const ctx = { clock, setAuthSubject: (s: string) => (authSubject = s) };
  const redacted = (): unknown => {
    try {
      return standIn.redactRequestBody ? standIn.redactRequestBody(sreq) : body.length ? '[body]' : undefined;
    } catch {
      return '[unparseable body]';
    }
  };
  const record = (status: number, responseBody: Buffer, fault?: string) =>
    journal.record({
      at: clock.date().toISOString(),
      service: standIn.service,
      method: sreq.method,
      path: sreq.path,
      query: Object.fromEntries(sreq.query.entries()),
      ...(authSubject ? { authSubject } : {}),
      status,
      body: redacted(),
      ...(fault ? { fault } : {}),
      rawRequestBody: body.toString('utf8'),
      rawResponseBody: responseBody.toString('utf8'),
    });

  let out: SandboxResponse | undefined;
  const fault = faults.take(standIn.service, sreq.method, sreq.path);
  if (fault?.type === 'reset') {
    record(0, Buffer.alloc(0), 'reset');
    // A TLS socket cannot send a TCP RST from Node; destroying it mid-request gives the client ECONNRESET
    // ("socket hang up"), which is what the SDKs see from a dropped connection.
    req.socket.destroy();
    return;
  }
  if (fault?.type === 'hang') {
    record(0, Buffer.alloc(0), 'hang');
    return; // never answered; the socket is destroyed when the server closes
  }
  const modelled = opts.latency?.msFor(standIn.service) ?? 0;
  if (modelled > 0) await sleep(modelled);
  if (fault?.type === 'latency') await sleep(fault.ms);
  if (fault?.type === 'status') {
    out =
      fault.body !== undefined
        ? { status: fault.status, headers: fault.headers ?? {}, body: fault.body }
        : (standIn.faultResponse?.(fault.status, fault.headers ?? {}) ?? {
            status: fault.status,
            headers: fault.headers ?? {},
          });
  }
  const injected = out !== undefined;
  if (!out) {
    try {
      out = await standIn.handle(sreq, ctx);
    } catch (err) {
      // A stand-in bug, not a service behaviour: answer 500 and say so, never crash the process.
      out = { status: 500, body: { error: { code: 'SandboxInternalError', message: (err as Error).message } } };
    }
  }
  const { headers, payload } = encode(out);
  record(
    out.status,
    payload,
    injected ? `status ${out.status}` : fault?.type === 'latency' ? `latency ${fault.ms}ms` : undefined,
  );
  if (res.destroyed) return;
  res.writeHead(out.status, headers);
  res.end(sreq.method === 'HEAD' ? undefined : payload);
}
