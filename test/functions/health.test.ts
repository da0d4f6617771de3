/**
 * The health check triggers with a fake durable client and registry (no stand-in needed): input validation and the
 * 404/409 answers of `POST /api/integrations/{id}/health`, the repair run it prepares, and the daily sweep's one
 * deterministic instance per active integration and day (a second sweep the same day starts nothing).
 */
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import type { HealthInput } from '../../src/contracts/health';
import { createHealthHandlers, sweepHealth, type HealthDeps } from '../../src/functions/health';
import { dailyHealthInstanceId } from '../../src/health/start';
import type { ProvisionInput } from '../../src/orchestrators/provision-types';
import type { IntegrationRecord, IntegrationStatus } from '../../src/registry/types';
import { provisionInput } from '../orchestrators/fixtures';

const NOW = new Date('2025-03-04T03:30:00Z');

interface Instance {
  runtimeStatus: string;
  input?: unknown;
  output?: unknown;
}

class FakeClient {
  readonly instances = new Map<string, Instance>();
  readonly started: { name: string; instanceId: string; input: unknown }[] = [];
  getStatus(instanceId: string): Promise<unknown> {
    const s = this.instances.get(instanceId);
    if (!s) return Promise.reject(new Error(`Durable HTTP 404 for ${instanceId}`));
    return Promise.resolve({ instanceId, createdTime: '', lastUpdatedTime: '', ...s });
  }
  getStatusBy(opts: { runtimeStatus: string[] }): Promise<unknown[]> {
    return Promise.resolve(
      [...this.instances.entries()]
        .filter(([, s]) => opts.runtimeStatus.includes(s.runtimeStatus))
        .map(([instanceId, s]) => ({ instanceId, ...s })),
    );
  }
  startNew(name: string, opts: { instanceId: string; input: unknown }): Promise<string> {
    this.started.push({ name, ...opts });
    this.instances.set(opts.instanceId, { runtimeStatus: 'Running', input: opts.input });
    return Promise.resolve(opts.instanceId);
  }
}

const record = (id: string, status: IntegrationStatus, over: Partial<IntegrationRecord> = {}): IntegrationRecord => ({
  id,
  profile: 'm365-support-aad',
  tenant: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  tenantName: 'Contoso',
  serviceNowInstance: 'dev12345',
  status,
  instanceId: `provision-${id}`,
  apps: { outbound: { appId: 'app-o', objectId: 'obj-o', secretName: `${id}-outbound` } },
  serviceNow: { oidcProvider: 'sys-oidc' },
  checks: [],
  approval: { approver: 'approver@contoso.com', at: '2025-01-01T00:00:00Z', planDigest: 'digest-1' },
  appliedDigest: 'digest-1',
  runs: 1,
  createdAt: '2025-01-01T00:00:00Z',
  updatedAt: '2025-01-01T00:00:00Z',
  ...over,
});

const liveRun = (id: string): Instance => ({
  runtimeStatus: 'Completed',
  input: { ...provisionInput(), ref: { ...provisionInput().ref, integrationId: id, instanceId: `provision-${id}` } },
  output: { outcome: 'active' },
});

function setup(records: IntegrationRecord[]) {
  const client = new FakeClient();
  const deps = {
    config: { publicBaseUrl: 'https://app.example' },
    registry: {
      get: (id: string) =>
        Promise.resolve(records.find((r) => r.id === id) && { value: records.find((r) => r.id === id), etag: '1' }),
      list: () => Promise.resolve(records),
    },
    now: () => NOW,
  } as unknown as HealthDeps;
  const handlers = createHealthHandlers({ deps: () => deps });
  const post = (id: string, query = '') =>
    handlers.check(
      new HttpRequest({
        method: 'POST',
        url: `https://app.example/api/integrations/${id}/health${query}`,
        params: { id },
      }),
      client as unknown as DurableClient,
      new InvocationContext(),
    );
  return { client, deps, post };
}

const A = 'sn-dev12345-0a1b2c3d';
const B = 'sn-dev12345-0b1b2c3d';

describe('POST /api/integrations/{id}/health', () => {
  it('lists every problem of the request (400), and answers 404 for an unknown integration', async () => {
    const { post } = setup([]);
    const bad = await post('not an id', '?repair=yes');
    expect(bad.status).toBe(400);
    expect((bad.jsonBody as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual(['id', 'repair']);
    expect((await post(A)).status).toBe(404);
  });

  it('answers 409 when the integration is not active, being provisioned, or has no run that went live', async () => {
    const waiting = setup([record(A, 'awaiting-approval')]);
    expect((await waiting.post(A)).status).toBe(409);

    const provisioning = setup([record(A, 'active', { instanceId: `provision-${A}-r2`, runs: 2 })]);
    provisioning.client.instances.set(`provision-${A}-r2`, { runtimeStatus: 'Running' });
    const busy = await provisioning.post(A);
    expect(busy.status).toBe(409);
    expect((busy.jsonBody as { title: string }).title).toMatch(/being provisioned/);

    const neverLive = setup([record(A, 'active')]);
    neverLive.client.instances.set(`provision-${A}`, { runtimeStatus: 'Completed', output: { outcome: 'failed' } });
    expect((await neverLive.post(A)).status).toBe(409);
    expect(neverLive.client.started).toEqual([]);
  });

  it('starts a check (202) with the repair run prepared as a re-provisioning would be; 409 while it runs', async () => {
    const { client, post } = setup([record(A, 'active')]);
    client.instances.set(`provision-${A}`, liveRun(A));
    const res = await post(A, '?repair=true');
    expect(res.status).toBe(202);
    const body = res.jsonBody as { instanceId: string; statusUrl: string; repair: boolean };
    expect(body.repair).toBe(true);
    expect(body.statusUrl).toBe(`https://app.example/api/integrations/${A}/health/${body.instanceId}`);
    expect(body.instanceId.startsWith(`health-${A}-20250304t033000-`)).toBe(true);
    const input = client.started[0].input as HealthInput;
    expect(input.ref.instanceId).toBe(body.instanceId);
    expect(input.provision.ref.instanceId).toBe(`provision-${A}`);
    const re = input.repairRun!;
    expect(re).toMatchObject({ run: 2, expectInstanceId: `provision-${A}` });
    expect(re.input.ref.instanceId).toBe(`provision-${A}-r2`);
    expect(re.input).toMatchObject<Partial<ProvisionInput>>({
      approved: record(A, 'active').approval,
      appliedDigest: 'digest-1',
      priorApps: { outbound: 'app-o' },
      priorRecords: { oidcProvider: 'sys-oidc' },
      liveStatus: 'active',
    });
    const again = await post(A);
    expect(again.status).toBe(409);
    expect(again.jsonBody).toMatchObject({ instanceId: body.instanceId, status: 'running' });
    expect(client.started).toHaveLength(1);
  });
});

describe('POST /api/integrations/{id}/health: edge cases', () => {
  it('refuses a repeated repair parameter (400) instead of reading the first of two different values', async () => {
    const { client, post } = setup([record(A, 'active')]);
    client.instances.set(`provision-${A}`, liveRun(A));
    const res = await post(A, '?repair=false&repair=true');
    expect(res.status).toBe(400);
    expect((res.jsonBody as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual(['repair']);
    expect(client.started).toEqual([]);
  });

  it("does not take another integration's check for its own when that id extends its id (instance dev12345-0a1b2c3d)", async () => {
    // Two integrations on the same ServiceNow host family: one's id is the other's plus '-{8 hex}'.
    const longer = `${A}-0b1b2c3d`;
    const { client, post } = setup([record(A, 'active'), record(longer, 'active')]);
    client.instances.set(`provision-${A}`, liveRun(A));
    const theirs = `health-${longer}-20250304`;
    client.instances.set(theirs, { runtimeStatus: 'Running' });
    const res = await post(A);
    expect(res.status).toBe(202);
    expect((res.jsonBody as { instanceId: string }).instanceId).not.toBe(theirs);
  });
});

describe('healthSweep', () => {
  const ctx = { log: () => undefined, warn: () => undefined };

  it('starts one check per active integration and day; a second sweep that day starts none', async () => {
    const { client, deps } = setup([record(A, 'active'), record(B, 'active'), record('sn-x-0c1b2c3d', 'failed')]);
    client.instances.set(`provision-${A}`, liveRun(A));
    client.instances.set(`provision-${B}`, liveRun(B));
    const first = await sweepHealth(deps, client as unknown as DurableClient, ctx);
    expect(first.started.sort()).toEqual([dailyHealthInstanceId(A, NOW), dailyHealthInstanceId(B, NOW)].sort());
    expect(dailyHealthInstanceId(A, NOW)).toBe(`health-${A}-20250304`);
    // Running, then completed: either way the same day's id is not started again.
    expect((await sweepHealth(deps, client as unknown as DurableClient, ctx)).started).toEqual([]);
    for (const id of first.started) client.instances.get(id)!.runtimeStatus = 'Completed';
    expect((await sweepHealth(deps, client as unknown as DurableClient, ctx)).started).toEqual([]);
    expect(client.started).toHaveLength(2);
    expect((client.started[0].input as HealthInput).repair).toBe(false);
  });

  it('skips an integration whose provisioning run is running', async () => {
    const { client, deps } = setup([record(A, 'active')]);
    client.instances.set(`provision-${A}`, { ...liveRun(A), runtimeStatus: 'Running' });
    const r = await sweepHealth(deps, client as unknown as DurableClient, ctx);
    expect(r).toMatchObject({ started: [], skipped: [A] });
  });
});
