import { request } from 'node:https';

import { Client, type AuthenticationProvider } from '@microsoft/microsoft-graph-client';

import { SandboxClock } from '../../../sandbox/core/clock';
import { FaultInjector } from '../../../sandbox/core/faults';
import { Journal } from '../../../sandbox/core/journal';
import { serve, type RunningServer } from '../../../sandbox/core/server';
import { loadTls } from '../../../sandbox/core/tls';
import { Directory, GRAPH_ROLES } from '../../../sandbox/directory';
import { createGraph, type GraphOptions, type GraphStandIn } from '../../../sandbox/graph';

export interface Harness {
  clock: SandboxClock;
  faults: FaultInjector;
  journal: Journal;
  directory: Directory;
  graph: GraphStandIn;
  server: RunningServer;
  origin: string;
  close(): Promise<void>;
}

export async function startGraph(opts: GraphOptions = {}): Promise<Harness> {
  const clock = new SandboxClock();
  const faults = new FaultInjector(1);
  const journal = new Journal();
  const directory = new Directory(clock);
  let origin = '';
  const graph = createGraph({ clock, directory, origin: () => origin }, opts);
  const server = await serve({ standIn: graph, tls: loadTls(), clock, faults, journal });
  origin = server.origin;
  return { clock, faults, journal, directory, graph, server, origin, close: () => server.close() };
}

export interface TokenOptions {
  aud?: string;
  roles?: string[];
  appId?: string;
  oid?: string;
  expiresInSeconds?: number;
}

/** A v1 app-only Graph token as Entra issues it for the client-credentials grant (microsoft-apis.md §5.3). */
export function mintToken(h: Harness, o: TokenOptions = {}): Promise<string> {
  const now = h.clock.seconds();
  const fn = h.directory.functionIdentity;
  return h.directory.signingKey.sign({
    aud: o.aud ?? 'https://graph.microsoft.com',
    iss: `https://sts.windows.net/${h.directory.tenantId}/`,
    iat: now,
    nbf: now,
    exp: now + (o.expiresInSeconds ?? 3600),
    appid: o.appId ?? fn.clientId,
    appidacr: '1',
    idtyp: 'app',
    oid: o.oid ?? fn.servicePrincipalId,
    sub: o.oid ?? fn.servicePrincipalId,
    roles: o.roles ?? ['Application.ReadWrite.OwnedBy', 'Mail.Send'],
    tid: h.directory.tenantId,
    ver: '1.0',
  });
}

/** The real graph client, pointed at the stand-in. */
export function graphClient(h: Harness, o: TokenOptions = {}): Client {
  const authProvider: AuthenticationProvider = { getAccessToken: () => mintToken(h, o) };
  return Client.initWithMiddleware({ authProvider, baseUrl: `${h.origin}/`, customHosts: new Set(['127.0.0.1']) });
}

/** Another application in the tenant, owned by nobody the function identity controls, with its own Graph roles. */
export function otherCaller(h: Harness, roles: (keyof typeof GRAPH_ROLES)[]): TokenOptions {
  const app = h.directory.addApplication({ displayName: 'other admin tool', createdAt: 0 });
  const sp = h.directory.addServicePrincipal({ appId: app.appId, displayName: app.displayName, createdAt: 0 });
  return { appId: app.appId, oid: sp.id, roles };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  json: any;
}

/** A raw HTTPS call, for wire-level assertions (status, headers, exact body). */
export function call(
  h: Harness,
  method: string,
  path: string,
  opts: { token?: string; body?: string | object; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const payload =
      opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    if (payload !== undefined) headers['Content-Type'] = headers['Content-Type'] ?? 'application/json';
    const req = request(`${h.origin}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}
