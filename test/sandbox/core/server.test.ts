import { request } from 'node:https';

import { SandboxClock } from '../../../sandbox/core/clock';
import { FaultInjector } from '../../../sandbox/core/faults';
import { Journal } from '../../../sandbox/core/journal';
import { serve, type RunningServer } from '../../../sandbox/core/server';
import { loadTls } from '../../../sandbox/core/tls';
import type { StandIn } from '../../../sandbox/core/types';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(origin: string, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${origin}${path}`, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('sandbox core server', () => {
  const clock = new SandboxClock();
  const faults = new FaultInjector(7);
  const journal = new Journal();
  let server: RunningServer;
  const echo: StandIn = {
    service: 'graph',
    reset: () => undefined,
    redactRequestBody: (req) => (req.body.length ? { secret: '[redacted]' } : undefined),
    faultResponse: (status, headers) => ({ status, headers, body: { error: { code: 'injected' } } }),
    async handle(req, ctx) {
      ctx.setAuthSubject('app:test');
      if (req.path === '/boom') throw new Error('stand-in bug');
      return { status: 200, body: { path: req.path, apiVersion: req.query.get('api-version') } };
    },
  };

  beforeAll(async () => {
    server = await serve({ standIn: echo, tls: loadTls(), clock, faults, journal });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    faults.clear();
    journal.clear();
  });

  it('serves over HTTPS trusted through NODE_EXTRA_CA_CERTS and decodes query names', async () => {
    const r = await call(server.origin, 'GET', '/x?api%2Dversion=7.5');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ path: '/x', apiVersion: '7.5' });
  });

  it('journals calls with redacted bodies, keeping raw bodies in-process only', async () => {
    await call(server.origin, 'POST', '/w', JSON.stringify({ secret: 'canary-123' }));
    const [entry] = journal.entries();
    expect(entry).toMatchObject({ service: 'graph', method: 'POST', path: '/w', status: 200, authSubject: 'app:test' });
    expect(JSON.stringify(entry)).not.toContain('canary-123');
    expect(journal.raw()[0].rawRequestBody).toContain('canary-123');
    expect(journal.writes()).toHaveLength(1);
  });

  it('applies a counted status fault with the stand-in shape, then lets calls through', async () => {
    faults.add({
      service: 'graph',
      method: 'GET',
      path: '^/x$',
      action: { type: 'status', status: 429, headers: { 'Retry-After': '1' } },
      times: 1,
    });
    const first = await call(server.origin, 'GET', '/x');
    expect(first.status).toBe(429);
    expect(first.headers['retry-after']).toBe('1');
    expect(JSON.parse(first.body)).toEqual({ error: { code: 'injected' } });
    expect((await call(server.origin, 'GET', '/x')).status).toBe(200);
    expect(journal.entries().map((e) => e.fault)).toEqual(['status 429', undefined]);
  });

  it('resets connections on demand', async () => {
    faults.add({ action: { type: 'reset' }, times: 1 });
    await expect(call(server.origin, 'GET', '/x')).rejects.toThrow(/ECONNRESET|socket hang up/);
  });

  it('answers a stand-in exception with 500 instead of crashing', async () => {
    const r = await call(server.origin, 'GET', '/boom');
    expect(r.status).toBe(500);
    expect(r.body).toContain('stand-in bug');
  });

  it('applies probabilistic faults reproducibly from the seed', () => {
    const draw = (seed: number) => {
      const f = new FaultInjector(seed);
      f.add({ action: { type: 'status', status: 503 }, probability: 0.5 });
      return Array.from({ length: 20 }, () => (f.take('graph', 'GET', '/') ? 1 : 0)).join('');
    };
    expect(draw(3)).toBe(draw(3));
    expect(draw(3)).toMatch(/1/);
    expect(draw(3)).toMatch(/0/);
  });

  it('refuses invalid rules with every problem listed', () => {
    expect(() => faults.add({ path: '(', times: 0, action: { type: 'status', status: 42 } })).toThrow(
      /path is not a valid regular expression.*times must be >= 1.*action.status/,
    );
  });
});
