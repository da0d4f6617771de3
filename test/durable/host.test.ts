import path from 'node:path';

import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';

import { ManualClock } from '../../sandbox/durable/clock';
import { startFunctionsHost, type FunctionsHost } from '../../sandbox/host';
import { loadFunctionApp } from '../../sandbox/host/registry';
import { parseRoute } from '../../sandbox/host/routes';
import { ticks } from '../fixtures/durable/sample-functions';

const fixtures = path.join(__dirname, '../fixtures/durable');

describe('FunctionsHost: HTTP starter through the real DurableClient', () => {
  let host: FunctionsHost;
  beforeAll(async () => {
    host = await startFunctionsHost({ entryModule: path.join(fixtures, 'sample-app.ts'), clock: new ManualClock() });
  });
  afterAll(async () => host.close());

  it('starts an instance over HTTP, reads its status over HTTP and completes it with an event', async () => {
    const started = await fetch(`${host.baseUrl}/api/race/order-1`, {
      method: 'POST',
      headers: { 'x-functions-key': host.functionKey, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'laptop', timeoutMinutes: 30 }),
    });
    expect(started.status).toBe(202);
    const links = (await started.json()) as { id: string; statusQueryGetUri: string; sendEventPostUri: string };
    expect(links.id).toBe('order-1');
    expect(links.statusQueryGetUri.startsWith(`${host.baseUrl}/runtime/webhooks/durabletask/instances/order-1`)).toBe(
      true,
    );
    expect(started.headers.get('location')).toBe(links.statusQueryGetUri);
    await host.durable.waitForIdle();

    const status = await fetch(`${host.baseUrl}/api/race/order-1/status`);
    expect(status.status).toBe(200);
    expect(await status.json()).toEqual({
      runtimeStatus: 'Running',
      customStatus: { stage: 'waiting' },
      output: null,
    });

    const raised = await fetch(links.sendEventPostUri.replace('{eventName}', 'Approval'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ approved: true, by: 'ann' }),
    });
    expect(raised.status).toBe(202);
    await host.durable.waitForStatus('order-1', (s) => s.runtimeStatus === 'Completed');
    const raw = await fetch(`${links.statusQueryGetUri}&showHistory=true&showHistoryOutput=true`);
    expect(raw.status).toBe(200);
    const body = (await raw.json()) as { output: unknown; historyEvents: { EventType: string }[] };
    expect(body.output).toEqual({ status: 'approved', ticket: 'ticket:order-1' });
    expect(body.historyEvents.map((e) => e.EventType)).toEqual(
      expect.arrayContaining([
        'ExecutionStarted',
        'TimerCreated',
        'EventRaised',
        'TaskCompleted',
        'ExecutionCompleted',
      ]),
    );
  });

  it('answers the DurableClient for query, raise event, terminate and purge', async () => {
    const input = df.input.durableClient();
    const ctx = new InvocationContext({ options: { extraInputs: [input] } });
    ctx.extraInputs.set(input, host.clientData());
    const client = df.getClient(ctx);
    const id = await client.startNew('raceOrchestrator', {
      instanceId: 'c-1',
      input: { timeoutMinutes: 5, title: 't' },
    });
    expect(id).toBe('c-1');
    await host.durable.waitForIdle();
    expect((await client.getStatus('c-1')).runtimeStatus).toBe('Running');
    const running = await client.getStatusBy({ runtimeStatus: [df.OrchestrationRuntimeStatus.Running] });
    expect(running.map((s) => s.instanceId)).toContain('c-1');
    await client.terminate('c-1', 'stop');
    await host.durable.waitForStatus('c-1', (s) => s.runtimeStatus === 'Terminated');
    const terminated = await client.getStatus('c-1');
    expect(terminated.runtimeStatus).toBe('Terminated');
    expect(terminated.output).toBe('stop');
    await expect(client.raiseEvent('c-1', 'Approval', {})).resolves.toBeUndefined(); // 410: finished, no error
    expect((await client.purgeInstanceHistory('c-1')).instancesDeleted).toBe(1);
    await expect(client.getStatus('c-1')).rejects.toThrow();
    await expect(client.raiseEvent('c-1', 'Approval', {})).rejects.toThrow("No instance with ID 'c-1' found.");
    const payload = client.createHttpManagementPayload('x');
    expect(payload.statusQueryGetUri.startsWith(host.baseUrl)).toBe(true);
  });
});

describe('FunctionsHost: router', () => {
  let host: FunctionsHost;
  beforeAll(async () => {
    host = await startFunctionsHost({ entryModule: path.join(fixtures, 'sample-app.ts'), clock: new ManualClock() });
  });
  afterAll(async () => host.close());

  it('serves route templates with parameters, constraints, headers and cookies', async () => {
    const r = await fetch(`${host.baseUrl}/api/Hello/ann/3?q=x`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-sample')).toBe('yes');
    expect(r.headers.get('set-cookie')).toContain('seen=1');
    expect(await r.json()).toEqual({ hello: 'ann', times: '3', q: 'x' });
    expect((await fetch(`${host.baseUrl}/api/hello/ann`)).status).toBe(200);
    expect((await fetch(`${host.baseUrl}/api/hello/ann1`)).status).toBe(404); // alpha constraint
    expect((await fetch(`${host.baseUrl}/api/hello/ann/x`)).status).toBe(404); // int constraint
    expect((await fetch(`${host.baseUrl}/api/hello/ann`, { method: 'POST' })).status).toBe(404); // method
    expect((await fetch(`${host.baseUrl}/api/helo/ann`)).status).toBe(404); // wrong route
  });

  it('prefers the most specific route template like the host', async () => {
    expect(await (await fetch(`${host.baseUrl}/api/items/new`)).json()).toEqual({ fn: 'newItem' });
    expect(await (await fetch(`${host.baseUrl}/api/items/42`)).json()).toEqual({ fn: 'itemById', id: '42' });
  });

  it('enforces authLevel function with x-functions-key or code', async () => {
    const post = (url: string, headers: Record<string, string> = {}) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"title":"a"}',
      });
    expect((await post(`${host.baseUrl}/api/race`)).status).toBe(401);
    expect((await post(`${host.baseUrl}/api/race`, { 'x-functions-key': 'wrong' })).status).toBe(401);
    expect((await post(`${host.baseUrl}/api/race?code=${host.functionKey}`)).status).toBe(202);
    expect((await post(`${host.baseUrl}/api/race`, { 'x-functions-key': host.masterKey })).status).toBe(202);
  });

  it('runs timer functions on demand with a real InvocationContext', async () => {
    ticks.length = 0;
    await host.runTimer('tick', { isPastDue: true });
    expect(ticks).toHaveLength(1);
    expect(ticks[0].isPastDue).toBe(true);
    expect(host.durable.logs.some((l) => l.functionName === 'tick' && l.message === 'tick')).toBe(true);
    await expect(host.runTimer('nope')).rejects.toThrow("no timer function 'nope'");
  });
});

describe('loadFunctionApp', () => {
  it('captures every registration of the sample entry module', () => {
    const reg = loadFunctionApp(path.join(fixtures, 'sample-app.ts'));
    expect(reg.get('startRace')).toMatchObject({ kind: 'http', route: 'race/{instanceId?}', authLevel: 'function' });
    expect(reg.get('tick')).toMatchObject({ kind: 'timer', schedule: '0 */5 * * * *' });
    expect(reg.orchestrator('raceOrchestrator')).toBeInstanceOf(Function);
    expect(reg.activity('upsertTicket')).toBeInstanceOf(Function);
    expect(reg.activity('raceOrchestrator')).toBeUndefined();
    expect(reg.setupOptions).toEqual({ enableHttpStream: false });
  });

  it('fails on a malformed route template', () => {
    expect(() => loadFunctionApp(path.join(fixtures, 'bad-route-app.ts'))).toThrow(
      /function 'broken'|route 'items\/\{id'/,
    );
  });

  it('parses route templates like the host', () => {
    expect(parseRoute('a/{id:guid}').match('a/0f8fad5b-d9cb-469f-a165-70867728950e')).toEqual({
      id: '0f8fad5b-d9cb-469f-a165-70867728950e',
    });
    expect(parseRoute('a/{id:guid}').match('a/nope')).toBeUndefined();
    expect(() => parseRoute('a/{id:weird}')).toThrow(/unsupported route constraint/);
    expect(() => parseRoute('a/{x?}/b')).toThrow(/optional parameter/);
  });
});
