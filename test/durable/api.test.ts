import path from 'node:path';

import { SandboxClock } from '../../sandbox/core/clock';
import { ManualClock } from '../../sandbox/durable/clock';
import { retryDelay } from '../../sandbox/durable/engine';
import { startFunctionsHost, type FunctionsHost } from '../../sandbox/host';
import { parseNcrontab } from '../../sandbox/host/ncrontab';
import { ticks } from '../fixtures/durable/sample-functions';

const entryModule = path.join(__dirname, '../fixtures/durable/sample-app.ts');

describe('Durable HTTP API: malformed and edge requests', () => {
  let host: FunctionsHost;
  let rpc: string;
  /** A call to the public durable HTTP API with the system key in `x-functions-key`. */
  let call: (url: string, init?: RequestInit) => Promise<Response>;
  beforeAll(async () => {
    host = await startFunctionsHost({ entryModule, clock: new ManualClock() });
    rpc = `${host.baseUrl}/runtime/webhooks/durabletask`;
    call = (url, init = {}) =>
      fetch(url, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), 'x-functions-key': host.systemKey },
      });
  });
  afterAll(async () => host.close());

  it('rejects an unknown orchestrator, bad JSON and a running duplicate id', async () => {
    const unknown = await call(`${rpc}/orchestrators/nope`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { Message: string }).Message).toContain("The function 'nope' doesn't exist");
    expect((await call(`${rpc}/orchestrators/raceOrchestrator`, { method: 'POST', body: '{bad' })).status).toBe(400);
    const body = JSON.stringify({ timeoutMinutes: 1, title: 'x' });
    expect((await call(`${rpc}/orchestrators/raceOrchestrator/dup`, { method: 'POST', body })).status).toBe(202);
    expect((await call(`${rpc}/orchestrators/raceOrchestrator/dup`, { method: 'POST', body })).status).toBe(409);
  });

  it('answers 404 for unknown instances and paths, and 202 while running', async () => {
    expect((await call(`${rpc}/instances/missing`)).status).toBe(404);
    expect((await call(`${rpc}/instances/missing/raiseEvent/X`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await call(`${rpc}/instances/missing/terminate?reason=x`, { method: 'POST' })).status).toBe(404);
    expect((await call(`${rpc}/instances/missing`, { method: 'DELETE' })).status).toBe(404);
    expect((await call(`${rpc}/nothing-here`)).status).toBe(404);
    expect((await fetch(`${host.baseUrl}/elsewhere`)).status).toBe(404);
    await call(`${rpc}/orchestrators/raceOrchestrator/run-1`, {
      method: 'POST',
      body: JSON.stringify({ timeoutMinutes: 1, title: 'x' }),
    });
    await host.durable.waitForIdle();
    const running = await call(`${rpc}/instances/run-1?showInput=false`);
    expect(running.status).toBe(202);
    expect(await running.json()).toMatchObject({ runtimeStatus: 'Running', input: null, name: 'raceOrchestrator' });
    const list = (await (await call(`${rpc}/instances/?runtimeStatus=Running`)).json()) as { instanceId: string }[];
    expect(list.map((s) => s.instanceId)).toContain('run-1');
  });

  it('starts instances with host.json defaultVersion or the requested version', async () => {
    await call(`${rpc}/orchestrators/versionOrchestrator/v-default`, { method: 'POST', body: '' });
    await call(`${rpc}/orchestrators/versionOrchestrator/v-2?version=2.0`, { method: 'POST', body: '' });
    const done = (s: { runtimeStatus: string }) => s.runtimeStatus === 'Completed';
    expect((await host.durable.waitForStatus('v-default', done)).output).toBe('1.0');
    expect((await host.durable.waitForStatus('v-2', done)).output).toBe('2.0');
  });

  it('reports a failed instance with 400 and its error', async () => {
    await call(`${rpc}/orchestrators/missingActivityOrchestrator/f-1`, { method: 'POST', body: '' });
    await host.durable.waitForStatus('f-1', (s) => s.runtimeStatus === 'Failed');
    const failed = await call(`${rpc}/instances/f-1`);
    expect(failed.status).toBe(400);
    expect(((await failed.json()) as { output: string }).output).toContain('notRegistered');
  });

  it('requires the system key (code or x-functions-key; the master key too) and starts nothing without it', async () => {
    const start = (suffix: string, headers: Record<string, string> = {}) =>
      fetch(`${rpc}/orchestrators/raceOrchestrator/${suffix}`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ timeoutMinutes: 1, title: 'k' }),
      });
    expect((await start('no-key')).status).toBe(401);
    expect((await start('wrong-key', { 'x-functions-key': 'wrong' })).status).toBe(401);
    expect((await start('function-key', { 'x-functions-key': host.functionKey })).status).toBe(401);
    expect((await start(`code-wrong?code=${host.functionKey}`)).status).toBe(401);
    expect((await fetch(`${rpc}/instances/`)).status).toBe(401);
    expect((await fetch(`${rpc}/instances/run-1/terminate?reason=x`, { method: 'POST' })).status).toBe(401);
    await host.durable.waitForIdle();
    const started = host.durable.query().map((s) => s.instanceId);
    for (const id of ['no-key', 'wrong-key', 'function-key', 'code-wrong']) expect(started).not.toContain(id);

    expect((await start(`with-code?code=${encodeURIComponent(host.systemKey)}`)).status).toBe(202);
    expect((await start('with-header', { 'x-functions-key': host.systemKey })).status).toBe(202);
    expect((await start('with-master', { 'x-functions-key': host.masterKey })).status).toBe(202);
  });

  it('serves the DurableClient on the loopback RPC listener without a key, and only there', async () => {
    expect(host.rpcBaseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/durabletask\/$/);
    expect(new URL(host.rpcBaseUrl).port).not.toBe(new URL(host.baseUrl).port);
    expect((host.clientData() as { rpcBaseUrl: string }).rpcBaseUrl).toBe(host.rpcBaseUrl);
    const started = await fetch(`${host.rpcBaseUrl}orchestrators/raceOrchestrator/rpc-1`, {
      method: 'POST',
      body: JSON.stringify({ timeoutMinutes: 1, title: 'rpc' }),
    });
    expect(started.status).toBe(202);
    // The public port does not serve the RPC path: there the key-protected webhook path is the API.
    expect((await fetch(`${host.baseUrl}/durabletask/instances/rpc-1`)).status).toBe(404);
    expect((await fetch(`${host.rpcBaseUrl}instances/rpc-1`)).status).toBe(202);
  });

  it('answers 400 for malformed percent-encoding in a path, before anything runs', async () => {
    for (const path of ['/api/%', '/api/race/%E0%A4%A', '/api/%zz/x', '/runtime/webhooks/durabletask/instances/%'])
      expect([
        path,
        (await fetch(`${host.baseUrl}${path}`, { headers: { 'x-functions-key': host.masterKey } })).status,
      ]).toEqual([path, 400]);
    expect((await call(`${rpc}/orchestrators/raceOrchestrator/%E0%A4%A`, { method: 'POST', body: '' })).status).toBe(
      400,
    );
    expect((await fetch(`${host.rpcBaseUrl}instances/%`)).status).toBe(400);
    expect(host.durable.query().map((s) => s.instanceId)).not.toContain('%E0%A4%A');
  });
});

describe('FunctionsHost: timer schedules', () => {
  it('runs a timer function when virtual time reaches its schedule', async () => {
    const clock = new ManualClock(Date.UTC(2025, 0, 1, 0, 0, 30));
    const host = await startFunctionsHost({ entryModule, clock });
    try {
      ticks.length = 0;
      await host.advanceTime(4 * 60_000); // 00:04:30: not yet
      expect(ticks).toHaveLength(0);
      await host.advanceTime(60_000); // 00:05:30: the 00:05:00 occurrence ran
      expect(ticks).toHaveLength(1);
      expect(ticks[0].isPastDue).toBe(false);
      await host.advanceTime(15 * 60_000); // three occurrences missed: one late run
      expect(ticks).toHaveLength(2);
      expect(ticks[1].isPastDue).toBe(true);
    } finally {
      await host.close();
    }
  });

  it('parses NCRONTAB like the timer trigger', () => {
    const at = Date.UTC(2025, 0, 1, 10, 7, 3);
    expect(new Date(parseNcrontab('0 */5 * * * *').next(at)!).toISOString()).toBe('2025-01-01T10:10:00.000Z');
    expect(new Date(parseNcrontab('0 30 9 * * 1-5').next(at)!).toISOString()).toBe('2025-01-02T09:30:00.000Z');
    expect(() => parseNcrontab('0 */5 * * *')).toThrow(/six fields/);
    expect(() => parseNcrontab('0 61 * * * *')).toThrow(/outside/);
  });
});

describe('DurableEngine: retry delays and real-time timers', () => {
  it('computes backoff with a cap', () => {
    const o = { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: 5, backoffCoefficient: 3 };
    expect([1, 2, 3].map((n) => retryDelay(o, n))).toEqual([1000, 3000, 9000]);
    expect(retryDelay({ ...o, maxRetryIntervalInMilliseconds: 5000 }, 3)).toBe(5000);
  });

  it('fires durable timers by setTimeout in real-time mode (demo)', async () => {
    const host = await startFunctionsHost({ entryModule, clock: new SandboxClock(), timers: 'real' });
    try {
      // 0.005 minutes = 300 ms of real time
      const id = host.durable.startNew('raceOrchestrator', { input: { timeoutMinutes: 0.005, title: 'rt' } });
      const s = await host.durable.waitForStatus(id, (x) => x.runtimeStatus === 'Completed', 5_000);
      expect(s.output).toEqual({ status: 'timedOut' });
    } finally {
      await host.close();
    }
  });
});
