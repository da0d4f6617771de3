import type { AppResult, CreatedObject, IntegrationRef } from '../../src/activities/contracts';
import { compensate } from '../../src/activities/compensate';
import { ensureApp } from '../../src/activities/entra';
import { ensureAppSecret } from '../../src/activities/secrets';
import { startActivityEnv, type ActivityEnv } from '../helpers/activityEnv';

let env: ActivityEnv;
const lines: string[] = [];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };

beforeAll(async () => {
  env = await startActivityEnv();
});
afterAll(async () => {
  await env?.close();
});
afterEach(() => env.sandbox.faults.clear());

/** What a provisioning run creates: an app, its secret in Key Vault, a ServiceNow record. */
async function provision(ref: IntegrationRef) {
  const app = await ensureApp({ ...ref, role: 'outbound', displayName: 'Outbound', redirectUris: [] }, env.deps, log);
  if (!app.ok) throw new Error(app.failure.message);
  const secretName = `${ref.integrationId}-outbound`;
  const secret = await ensureAppSecret(
    {
      ...ref,
      role: 'outbound',
      appObjectId: app.objectId,
      appId: app.appId,
      secretName,
      lifetimeDays: 30,
      operation: 'provision',
    },
    env.deps,
    log,
  );
  if (!secret.ok) throw new Error(secret.failure.message);
  const sysId = env.sandbox.servicenow.seedRecord(ref.serviceNowInstance, 'oauth_entity', {
    name: `${ref.tenantName} outbound ${ref.integrationId}`,
    type: 'oauth_provider',
  });
  const created: CreatedObject[] = [
    { kind: 'app', role: 'outbound', objectId: app.objectId, appId: app.appId },
    { kind: 'secret', role: 'outbound', secretName },
    { kind: 'record', key: 'outboundProvider', table: 'oauth_entity', sysId },
  ];
  return { app: app as AppResult, secretName, sysId, created };
}

const liveApp = (objectId: string) => env.sandbox.directory.applications.get(objectId)?.deletedAt === null;
const recordExists = (ref: IntegrationRef, sysId: string) =>
  env.sandbox.servicenow.records(ref.serviceNowInstance, 'oauth_entity').some((r) => r.values.sys_id === sysId);

async function secretIsLive(name: string): Promise<boolean> {
  try {
    await env.deps.secrets.getSecret(name);
    return true;
  } catch {
    return false;
  }
}

describe('compensate', () => {
  it('removes the created record, secret (soft delete) and app, in reverse order, and leaves others alone', async () => {
    const ref = env.ref();
    const { app, secretName, sysId, created } = await provision(ref);
    expect(recordExists(ref, sysId)).toBe(true);
    expect(liveApp(app.objectId)).toBe(true);
    const bystander = env.sandbox.directory.addApplication({ displayName: 'Pre-existing', createdAt: 0 });
    const mark = env.sandbox.journal.mark();
    const out = await compensate({ ...ref, created }, env.deps, log);
    expect(out.orphans).toEqual([]);
    expect(out.removed).toEqual([created[2], created[1], created[0]]);
    expect(recordExists(ref, sysId)).toBe(false);
    expect(await secretIsLive(secretName)).toBe(false);
    // Soft-deleted, recoverable: never purged.
    const deleted = await env.deps.secrets.getDeletedSecret(secretName);
    expect(deleted.name).toBe(secretName);
    expect(liveApp(app.objectId)).toBe(false);
    expect(env.sandbox.directory.applications.get(app.objectId)?.deletedAt).not.toBeNull();
    expect(liveApp(bystander.id)).toBe(true);
    const deletes = env.sandbox.journal
      .writes({ since: mark })
      .filter((w) => w.method === 'DELETE')
      .map((w) => w.service);
    expect(deletes).toEqual(['servicenow', 'keyvault', 'graph']);
    expect(env.sandbox.journal.writes({ since: mark }).some((w) => w.path.startsWith('/deletedsecrets'))).toBe(false);
  });

  it('counts objects that are already gone (404) as removed, so it can run twice', async () => {
    const ref = env.ref();
    const { created } = await provision(ref);
    await compensate({ ...ref, created }, env.deps, log);
    const again = await compensate({ ...ref, created }, env.deps, log);
    expect(again).toEqual({ removed: created.slice().reverse(), orphans: [] });
  });

  it('leaves a listed app and secret it did not create in place and reports them', async () => {
    const ref = env.ref();
    const foreign = env.sandbox.directory.addApplication({
      displayName: 'Pre-existing',
      createdAt: 0,
      owners: [env.sandbox.directory.functionIdentity.servicePrincipalId],
    });
    await env.deps.secrets.setSecret(`${ref.integrationId}-preexisting`, 'not-ours-value', { tags: { owner: 'ops' } });
    const created: CreatedObject[] = [
      { kind: 'app', role: 'outbound', objectId: foreign.id, appId: foreign.appId },
      { kind: 'secret', role: 'outbound', secretName: `${ref.integrationId}-preexisting` },
    ];
    const out = await compensate({ ...ref, created }, env.deps, log);
    expect(out.removed).toEqual([]);
    expect(out.orphans.map((o) => o.object)).toEqual([created[1], created[0]]);
    expect(out.orphans[0].reason).toContain('left in place');
    expect(liveApp(foreign.id)).toBe(true);
    expect(await secretIsLive(`${ref.integrationId}-preexisting`)).toBe(true);
  });

  it('reports an orphan with its id and reason when a delete fails, and carries on with the rest', async () => {
    const ref = env.ref();
    const { app, secretName, sysId, created } = await provision(ref);
    env.sandbox.faults.add({ service: 'graph', method: 'DELETE', action: { type: 'status', status: 500 }, times: 1 });
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'DELETE',
      action: { type: 'status', status: 403 },
      times: 1,
    });
    const out = await compensate({ ...ref, created }, env.deps, log);
    expect(out.removed).toEqual([created[1]]);
    expect(out.orphans.map((o) => o.object)).toEqual([created[2], created[0]]);
    expect(out.orphans[0].reason).toMatch(/403/);
    expect(out.orphans[1].reason).toMatch(/500/);
    expect(recordExists(ref, sysId)).toBe(true);
    expect(await secretIsLive(secretName)).toBe(false);
    expect(liveApp(app.objectId)).toBe(true);
    // The orphans' reasons are safe to show: no secret value.
    await env.deps.secrets.beginRecoverDeletedSecret(secretName).then((p) => p.pollUntilDone());
    const value = (await env.deps.secrets.getSecret(secretName)).value ?? '';
    expect(value.length).toBeGreaterThan(10);
    expect(JSON.stringify(out) + lines.join('\n')).not.toContain(value);
  });
});
