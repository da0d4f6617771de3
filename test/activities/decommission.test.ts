/**
 * Decommissioning's removal (compensate with `retire`) and its plan (planDecommission) against the stand-ins: an app
 * any provisioning run of the integration created is removed by the decommissioning run (and not without `retire`),
 * an app the integration did not create is left in place, a service principal left behind is deleted explicitly, a
 * Key Vault secret with a version the integration did not write is kept, and the plan lists what stays with why.
 */
import type { AppResult, IntegrationRef } from '../../src/contracts/provision';
import { compensate } from '../../src/activities/compensate';
import { planDecommission } from '../../src/activities/decommission';
import { createdByIntegration, ensureApp } from '../../src/activities/entra';
import { ensureAppSecret } from '../../src/activities/secrets';
import type { IntegrationRecord } from '../../src/registry/types';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

let env: ActivityEnv;
beforeAll(async () => {
  env = await startActivityEnv();
});
afterAll(async () => {
  await env?.close();
});

/** A ref whose provisioning run has the product's instance id (`provision-{id}`, or `-r{n}`). */
function refs(run = 1): { provision: IntegrationRef; decommission: IntegrationRef } {
  const base = env.ref();
  const id = base.integrationId;
  return {
    provision: { ...base, instanceId: run === 1 ? `provision-${id}` : `provision-${id}-r${run}` },
    decommission: { ...base, instanceId: `decommission-${id}` },
  };
}

async function newApp(ref: IntegrationRef): Promise<AppResult> {
  const app = await ensureApp({ ...ref, role: 'outbound', displayName: 'Outbound', redirectUris: [] }, env.deps);
  if (!app.ok) throw new Error(app.failure.message);
  return app;
}

async function addSecret(ref: IntegrationRef, app: AppResult) {
  const s = await ensureAppSecret(
    {
      ...ref,
      role: 'outbound',
      appObjectId: app.objectId,
      appId: app.appId,
      secretName: `${ref.integrationId}-outbound`,
      lifetimeDays: 30,
      operation: 'provision',
    },
    env.deps,
  );
  if (!s.ok) throw new Error(s.failure.message);
  return s;
}

const app = (objectId: string) => env.sandbox.directory.applications.get(objectId);
const deletesSince = (mark: number) =>
  env.sandbox.journal
    .writes({ since: mark })
    .filter((w) => w.method === 'DELETE')
    .map((w) => w.path);

describe('createdByIntegration', () => {
  it('matches the creation tags of the integration’s provisioning runs only', () => {
    const tags = (t: string) => ['m365-snow-provisioner', `created-by-operation:${t}`];
    expect(createdByIntegration(tags('provision-sn-a-0a1b2c3d'), 'sn-a-0a1b2c3d')).toBe(true);
    expect(createdByIntegration(tags('provision-sn-a-0a1b2c3d-r12'), 'sn-a-0a1b2c3d')).toBe(true);
    expect(createdByIntegration(tags('provision-sn-a-0a1b2c3d-rx'), 'sn-a-0a1b2c3d')).toBe(false);
    expect(createdByIntegration(tags('provision-sn-a-0a1b2c3dff'), 'sn-a-0a1b2c3d')).toBe(false);
    expect(createdByIntegration(tags('rotate-sn-a-0a1b2c3d-20250101'), 'sn-a-0a1b2c3d')).toBe(false);
    expect(createdByIntegration(['created-by-operation:provision-sn-a-0a1b2c3d'], 'sn-a-0a1b2c3d')).toBe(false);
  });
});

describe('compensate in decommissioning (retire)', () => {
  it('removes an app a re-provisioning run created, with its secret; only with retire', async () => {
    const { provision, decommission } = refs(2);
    const created = await newApp(provision);
    const secret = await addSecret(provision, created);
    const objects = [
      { kind: 'app' as const, role: 'outbound', objectId: created.objectId, appId: created.appId },
      { kind: 'secret' as const, role: 'outbound', secretName: secret.secretName, appObjectId: created.objectId },
    ];
    // Without retire, the decommissioning run's markers are not the creating run's: nothing is removed.
    const plain = await compensate({ ...decommission, created: objects, final: true }, env.deps);
    expect(plain.removed.filter((o) => o.kind === 'app')).toEqual([]);
    expect(app(created.objectId)?.deletedAt).toBeNull();

    const mark = env.sandbox.journal.mark();
    const retired = objects.map((o) => ({ ...o, retire: true }));
    const result = await compensate({ ...decommission, created: retired }, env.deps);
    expect(result).toEqual({ removed: expect.arrayContaining(retired), orphans: [] });
    expect(app(created.objectId)?.deletedAt).not.toBeNull();
    expect(env.sandbox.directory.spByAppId(created.appId)).toBeUndefined();
    await expect(env.deps.secrets.getDeletedSecret(secret.secretName)).resolves.toMatchObject({
      name: secret.secretName,
    });
    expect(deletesSince(mark)).toEqual([
      expect.stringContaining(`/secrets/${secret.secretName}`),
      expect.stringContaining(`/applications/${created.objectId}`),
    ]);

    // A service principal left behind (a directory that did not cascade) is deleted explicitly on the next attempt.
    const sp = [...env.sandbox.directory.servicePrincipals.values()].find((s) => s.appId === created.appId)!;
    sp.deletedAt = null;
    const mark2 = env.sandbox.journal.mark();
    const again = await compensate({ ...decommission, created: retired }, env.deps);
    expect(again.orphans).toEqual([]);
    expect(deletesSince(mark2)).toEqual([expect.stringContaining(`/servicePrincipals(appId='${created.appId}')`)]);
    expect(env.sandbox.directory.spByAppId(created.appId)).toBeUndefined();
    // And once more: nothing left, nothing deleted.
    const mark3 = env.sandbox.journal.mark();
    expect((await compensate({ ...decommission, created: retired }, env.deps)).orphans).toEqual([]);
    expect(deletesSince(mark3)).toEqual([]);
  });

  it('leaves an app another integration created, and a secret with a version it did not write', async () => {
    const other = refs();
    const { decommission } = refs();
    const foreign = await newApp(other.provision);
    const secretName = `${decommission.integrationId}-outbound`;
    env.sandbox.keyvault.seedSecret(secretName, 'hand-made', { purpose: 'someone else' });
    const result = await compensate(
      {
        ...decommission,
        final: true,
        created: [
          { kind: 'app', role: 'outbound', objectId: foreign.objectId, appId: foreign.appId, retire: true },
          { kind: 'secret', role: 'outbound', secretName, retire: true },
        ],
      },
      env.deps,
    );
    expect(result.removed).toEqual([]);
    expect(result.orphans.map((o) => o.reason)).toEqual([
      expect.stringContaining('do not carry integration'),
      expect.stringContaining('not created by integration'),
    ]);
    expect(app(foreign.objectId)?.deletedAt).toBeNull();
    await expect(env.deps.secrets.getSecret(secretName)).resolves.toMatchObject({ value: 'hand-made' });
  });
});

describe('planDecommission', () => {
  it('plans what the integration owns and lists what stays with why', async () => {
    const { provision, decommission } = refs();
    const own = await newApp(provision);
    const secret = await addSecret(provision, own);
    const adopted = await newApp(refs().provision);
    const at = new Date().toISOString();
    const row: IntegrationRecord = {
      id: provision.integrationId,
      profile: provision.profileId,
      tenant: provision.tenant,
      tenantName: provision.tenantName,
      serviceNowInstance: provision.serviceNowInstance,
      status: 'active',
      instanceId: provision.instanceId,
      apps: {
        outbound: { appId: own.appId, objectId: own.objectId, secretName: secret.secretName },
        restApi: { appId: adopted.appId, objectId: adopted.objectId, secretName: '' },
      },
      serviceNow: { somebodys: 'f'.repeat(32) },
      checks: [],
      createdAt: at,
      updatedAt: at,
    };
    await env.deps.registry.update(row.id, () => row);
    const plan = await planDecommission({ ...decommission, requestedBy: ['a@b.example'] }, env.deps);
    if (!plan.ok) throw new Error(plan.failure.message);
    expect(plan.remove).toEqual([
      { kind: 'app', role: 'outbound', objectId: own.objectId, appId: own.appId, retire: true },
      { kind: 'secret', role: 'outbound', secretName: secret.secretName, appObjectId: own.objectId, retire: true },
    ]);
    expect(plan.keep.map((k) => k.what)).toEqual([
      `ServiceNow record somebodys (${'f'.repeat(32)})`,
      expect.stringContaining(adopted.appId),
    ]);
    expect(plan.summary.decommission?.remove).toHaveLength(2);
    expect(plan.summary.requestedBy).toEqual(['a@b.example']);
  });
});
