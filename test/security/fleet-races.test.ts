/**
 * Races between the runs that take an integration (no stand-in needed: a fake registry and durable client). Each
 * handler reads the registry row, checks the durable instances, then writes the row under its ETag (compare-and-set)
 * before it starts its run. The write must refuse a row another handler took in between:
 *
 * - a re-provisioning (`POST /api/integrations`) that read the row `active` must not start once a decommissioning took
 *   it (status `decommissioning`): it would overwrite that status and re-create what the decommissioning removes;
 * - a decommissioning (`DELETE /api/integrations/{id}`) that read the row must not start once a re-provisioning or a
 *   health repair named another run on it (the status of a live integration stays `active` while it is re-provisioned).
 */
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import type { Deps } from '../../src/app/deps';
import { integrationIdFor } from '../../src/api/integration-request';
import { loadConfig } from '../../src/config';
import { createDecommissionHandler } from '../../src/functions/decommission';
import { startIntegration } from '../../src/functions/integrations';
import type { IntegrationRecord } from '../../src/registry/types';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const INSTANCE = 'dev12345';
const PROFILE = 'm365-support-aad';
const ID = integrationIdFor(TENANT, INSTANCE, PROFILE);
const NOW = new Date('2026-03-04T10:00:00Z');

const config = loadConfig({
  KEY_VAULT_URL: 'https://kv-prov.vault.azure.net/',
  SERVICENOW_TOKEN_AUDIENCE: 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b',
  MAIL_SENDER: 'provisioner@contoso.com',
  PUBLIC_BASE_URL: 'https://func-prov.azurewebsites.net/',
  AZURE_TENANT_ID: TENANT,
  TASKHUB_NAME: 'provisioner',
  AzureWebJobsStorage__tableServiceUri: 'https://stprov.table.core.windows.net/',
  APPROVERS: 'approver@contoso.com',
});

const live = (over: Partial<IntegrationRecord> = {}): IntegrationRecord => ({
  id: ID,
  profile: PROFILE,
  tenant: TENANT,
  tenantName: 'Contoso',
  serviceNowInstance: INSTANCE,
  status: 'active',
  instanceId: `provision-${ID}`,
  apps: {},
  serviceNow: {},
  checks: [],
  runs: 1,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  ...over,
});

/**
 * A registry whose `get` answers what the handler read first, and whose `update` finds the row another handler wrote
 * in between (`between`), as Table Storage's ETag retry does: the mutation runs again on the current row.
 */
function racingRegistry(read: IntegrationRecord, between: IntegrationRecord) {
  const state = { row: between, writes: 0 };
  return {
    state,
    registry: {
      get: () => Promise.resolve({ value: read, etag: '1' }),
      update: (_id: string, mutate: (cur: IntegrationRecord | undefined) => IntegrationRecord) => {
        const next = mutate(state.row);
        if (next !== state.row) state.writes++;
        state.row = next;
        return Promise.resolve(next);
      },
    },
  };
}

function fakeClient() {
  const started: string[] = [];
  const client = {
    started,
    getStatus: (instanceId: string) => Promise.reject(new Error(`Durable HTTP 404 for ${instanceId}`)),
    getStatusBy: (): Promise<{ instanceId: string; runtimeStatus: string }[]> => Promise.resolve([]),
    startNew: (_name: string, opts: { instanceId: string }) => {
      started.push(opts.instanceId);
      return Promise.resolve(opts.instanceId);
    },
  };
  return client;
}

const deps = (registry: unknown): Deps =>
  ({
    config,
    registry,
    audit: { append: () => Promise.resolve() },
    now: () => NOW,
  }) as unknown as Deps;

describe('a re-provisioning racing a decommissioning', () => {
  it('does not start when a decommissioning took the row after it was read', async () => {
    const { registry, state } = racingRegistry(
      live(),
      live({ status: 'decommissioning', decommission: { instanceId: `decommission-${ID}-r1`, at: NOW.toISOString() } }),
    );
    const client = fakeClient();
    const res = await startIntegration(
      new HttpRequest({
        method: 'POST',
        url: 'https://func-prov.azurewebsites.net/api/integrations?reprovision=true',
        headers: { 'content-type': 'application/json' },
        body: {
          string: JSON.stringify({
            tenant: TENANT,
            tenantName: 'Contoso',
            serviceNowInstance: INSTANCE,
            profile: PROFILE,
          }),
        },
      }),
      client as unknown as DurableClient,
      new InvocationContext(),
      deps(registry),
    );
    expect([res.status, res.status === 400 ? JSON.stringify(res.jsonBody ?? res.body) : undefined]).toEqual([
      409,
      undefined,
    ]);
    expect(client.started).toEqual([]);
    expect(state.row.status).toBe('decommissioning');
    expect(state.writes).toBe(0);
  });
});

describe('a decommissioning racing a re-provisioning or a health repair', () => {
  it('does not start when another run was named on the row after it was read', async () => {
    // A re-provisioning (or a health check's repair run) of the live integration: the status stays `active`.
    const { registry, state } = racingRegistry(live(), live({ instanceId: `provision-${ID}-r2`, runs: 2 }));
    const client = fakeClient();
    const res = await createDecommissionHandler(() => deps(registry))(
      new HttpRequest({
        method: 'DELETE',
        url: `https://func-prov.azurewebsites.net/api/integrations/${ID}`,
        params: { id: ID },
      }),
      client as unknown as DurableClient,
      new InvocationContext(),
    );
    expect(res.status).toBe(409);
    expect(client.started).toEqual([]);
    expect(state.row.status).toBe('active');
    expect(state.writes).toBe(0);
  });

  it('backs off when a rotation started while it took the row (the rotation then finds it decommissioning)', async () => {
    const { registry, state } = racingRegistry(live(), live());
    const client = fakeClient();
    let queries = 0;
    // The rotation handler read the row `active` before the DELETE wrote it and starts its run after the first query.
    client.getStatusBy = () =>
      Promise.resolve(queries++ === 0 ? [] : [{ instanceId: `rotate-${ID}-20260304`, runtimeStatus: 'Running' }]);
    const res = await createDecommissionHandler(() => deps(registry))(
      new HttpRequest({
        method: 'DELETE',
        url: `https://func-prov.azurewebsites.net/api/integrations/${ID}`,
        params: { id: ID },
      }),
      client as unknown as DurableClient,
      new InvocationContext(),
    );
    expect(res.status).toBe(409);
    expect(client.started).toEqual([]);
    expect(state.row.status).toBe('active');
    expect(state.row.decommission).toBeUndefined();
  });

  it('starts when nothing changed in between (the control)', async () => {
    const { registry, state } = racingRegistry(live(), live());
    const client = fakeClient();
    const res = await createDecommissionHandler(() => deps(registry))(
      new HttpRequest({
        method: 'DELETE',
        url: `https://func-prov.azurewebsites.net/api/integrations/${ID}`,
        params: { id: ID },
      }),
      client as unknown as DurableClient,
      new InvocationContext(),
    );
    expect(res.status).toBe(202);
    expect(client.started).toEqual([`decommission-${ID}`]);
    expect(state.row.status).toBe('decommissioning');
  });
});
