import type { AppResult, CreatedObject, IntegrationRef, SecretResult } from '../../src/contracts/provision';
import { compensate } from '../../src/activities/compensate';
import { ensureApp } from '../../src/activities/entra';
import { graphCall } from '../../src/clients/graph';
import { ensureAppSecret } from '../../src/activities/secrets';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

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

/** ensureAppSecret for `app` as run `ref.instanceId`. */
async function addSecret(
  ref: IntegrationRef,
  app: AppResult,
  secretName: string,
  operation = 'provision',
  appCreatedBare = false,
) {
  const secret = await ensureAppSecret(
    {
      ...ref,
      role: app.role,
      appObjectId: app.objectId,
      appId: app.appId,
      secretName,
      lifetimeDays: 30,
      operation,
      ...(appCreatedBare ? { appCreatedBare: true } : {}),
    },
    env.deps,
    log,
  );
  if (!secret.ok) throw new Error(secret.failure.message);
  return secret;
}

/** What the provisioning orchestrator records for a secret its run added (SecretResult.created). */
const recorded = (app: AppResult, s: SecretResult): Extract<CreatedObject, { kind: 'secret' }> => ({
  kind: 'secret',
  role: s.role,
  secretName: s.secretName,
  appObjectId: app.objectId,
  keyId: s.keyId,
  version: s.version,
});

async function newApp(ref: IntegrationRef): Promise<AppResult> {
  const app = await ensureApp({ ...ref, role: 'outbound', displayName: 'Outbound', redirectUris: [] }, env.deps, log);
  if (!app.ok) throw new Error(app.failure.message);
  return app;
}

/**
 * What a provisioning run creates in Entra and Key Vault: an app and its secret. (ServiceNow record removal goes
 * through the ownership ledger and is tested with the ServiceNow activities.)
 */
async function provision(ref: IntegrationRef) {
  const app = await newApp(ref);
  expect(app.createdNow).toBe(true);
  const secretName = `${ref.integrationId}-outbound`;
  // As the orchestrator asks for it: the app was created bare by this run, so no Key Vault version is listed.
  const secret = await addSecret(ref, app, secretName, 'provision', true);
  expect(secret).toMatchObject({ created: true });
  const created: CreatedObject[] = [
    { kind: 'app', role: 'outbound', objectId: app.objectId, appId: app.appId },
    recorded(app, secret),
  ];
  return { app, secretName, secret, created };
}

const liveApp = (objectId: string) => env.sandbox.directory.applications.get(objectId)?.deletedAt === null;

const keyIdsOf = (objectId: string) =>
  (env.sandbox.directory.applications.get(objectId)?.passwordCredentials ?? []).map((c) => c.keyId);

async function versionsOf(name: string) {
  const out = [];
  try {
    for await (const v of env.deps.secrets.listPropertiesOfSecretVersions(name)) out.push(v);
  } catch {
    // a deleted secret lists nothing
  }
  return out;
}
const enabledOf = async (name: string) =>
  Object.fromEntries((await versionsOf(name)).map((v) => [v.version ?? '', v.enabled]));

async function isDeleted(name: string): Promise<boolean> {
  try {
    await env.deps.secrets.getDeletedSecret(name);
    return true;
  } catch {
    return false;
  }
}

async function secretIsLive(name: string): Promise<boolean> {
  try {
    await env.deps.secrets.getSecret(name);
    return true;
  } catch {
    return false;
  }
}

/** Graph and Key Vault writes since `mark`, as `METHOD last-path-segment`. */
const steps = (mark: number) =>
  env.sandbox.journal
    .writes({ since: mark })
    .filter((w) => w.service === 'graph' || w.service === 'keyvault')
    .map((w) => `${w.method} ${w.path.split('?')[0].split('/').slice(-1)[0]}`);

describe('compensate', () => {
  it('removes the credential, disables and soft-deletes the secret it created, then deletes the app', async () => {
    const ref = env.ref();
    const { app, secretName, secret, created } = await provision(ref);
    expect(liveApp(app.objectId)).toBe(true);
    const bystander = env.sandbox.directory.addApplication({ displayName: 'Pre-existing', createdAt: 0 });
    const mark = env.sandbox.journal.mark();
    const out = await compensate({ ...ref, created }, env.deps, log);
    expect(out.orphans).toEqual([]);
    expect(out.removed).toEqual([created[1], created[0]]);
    expect(await secretIsLive(secretName)).toBe(false);
    // Soft-deleted, recoverable: never purged.
    const deleted = await env.deps.secrets.getDeletedSecret(secretName);
    expect(deleted.name).toBe(secretName);
    expect(liveApp(app.objectId)).toBe(false);
    expect(liveApp(bystander.id)).toBe(true);
    // The credential left the app before the app went; the version was disabled before the delete.
    expect(steps(mark)).toEqual([
      'POST removePassword',
      `PATCH ${secret.version}`,
      `DELETE ${secretName}`,
      `DELETE ${app.objectId}`,
    ]);
    expect(env.sandbox.journal.writes({ since: mark }).some((w) => w.path.startsWith('/deletedsecrets'))).toBe(false);
  });

  it('counts objects that are already gone as removed, so it can run twice (the second run writes nothing)', async () => {
    const ref = env.ref();
    const { created } = await provision(ref);
    await compensate({ ...ref, created }, env.deps, log);
    const mark = env.sandbox.journal.mark();
    const again = await compensate({ ...ref, created }, env.deps, log);
    expect(again).toEqual({ removed: created.slice().reverse(), orphans: [] });
    expect(steps(mark)).toEqual([]);
  });

  it('removes only what its run added to a secret that existed before: older versions and credentials stay', async () => {
    const ref = env.ref();
    const app = await newApp(ref);
    const secretName = `${ref.integrationId}-outbound`;
    const earlier = await addSecret(ref, app, secretName);
    // A later run of the same integration that added a credential of its own (a rotation operation does).
    const run = { ...ref, instanceId: `${ref.instanceId}-later` };
    const mine = await addSecret(run, app, secretName, 'rotate-20261126');
    expect(mine).toMatchObject({ created: true });
    const mark = env.sandbox.journal.mark();
    const out = await compensate({ ...run, created: [recorded(app, mine)] }, env.deps, log);
    expect(out).toEqual({ removed: [recorded(app, mine)], orphans: [] });
    expect(keyIdsOf(app.objectId)).toEqual([earlier.keyId]);
    expect(await enabledOf(secretName)).toEqual({ [earlier.version]: true, [mine.version]: false });
    expect(await isDeleted(secretName)).toBe(false);
    expect(steps(mark)).toEqual(['POST removePassword', `PATCH ${mine.version}`]);
  });

  it('without keyId and version, finds the versions tagged with its run id and treats them the same', async () => {
    const ref = env.ref();
    const app = await newApp(ref);
    const secretName = `${ref.integrationId}-outbound`;
    const earlier = await addSecret(ref, app, secretName);
    const run = { ...ref, instanceId: `${ref.instanceId}-later` };
    const mine = await addSecret(run, app, secretName, 'rotate-20261126');
    const object: CreatedObject = { kind: 'secret', role: 'outbound', secretName };
    const out = await compensate({ ...run, created: [object] }, env.deps, log);
    expect(out).toEqual({ removed: [object], orphans: [] });
    expect(keyIdsOf(app.objectId)).toEqual([earlier.keyId]);
    expect(await enabledOf(secretName)).toEqual({ [earlier.version]: true, [mine.version]: false });
    expect(await isDeleted(secretName)).toBe(false);
  });

  it('without keyId and version, deletes a secret whose every version its run wrote', async () => {
    const ref = env.ref();
    const { app, secretName, secret } = await provision(ref);
    const object: CreatedObject = { kind: 'secret', role: 'outbound', secretName };
    const out = await compensate({ ...ref, created: [object] }, env.deps, log);
    expect(out).toEqual({ removed: [object], orphans: [] });
    expect(keyIdsOf(app.objectId)).not.toContain(secret.keyId);
    expect(await isDeleted(secretName)).toBe(true);
  });

  it('never touches a listed version or credential that another run wrote, and reports it', async () => {
    const ref = env.ref();
    const { app, secretName, secret } = await provision(ref);
    const other = { ...ref, instanceId: `${ref.instanceId}-other` };
    const object = recorded(app, { ...secret, secretCreated: true });
    const mark = env.sandbox.journal.mark();
    const out = await compensate({ ...other, created: [object] }, env.deps, log);
    expect(out.removed).toEqual([]);
    expect(out.orphans).toEqual([{ object, reason: expect.stringContaining('left in place') }]);
    expect(steps(mark)).toEqual([]);
    expect(keyIdsOf(app.objectId)).toEqual([secret.keyId]);
    expect(await enabledOf(secretName)).toEqual({ [secret.version]: true });
  });

  it('leaves a credential without our marker in place, and its version enabled', async () => {
    const ref = env.ref();
    const app = await newApp(ref);
    const secretName = `${ref.integrationId}-outbound`;
    // A credential someone added in the portal, stored under a version that names this run.
    const portal = await graphCall<{ keyId: string; secretText: string }>(
      env.deps.graph,
      'POST',
      `/applications/${app.objectId}/addPassword`,
      { passwordCredential: { displayName: 'added in the portal' } },
    );
    const keyId = portal.body!.keyId;
    const written = await env.deps.secrets.setSecret(secretName, portal.body!.secretText, {
      tags: { integrationId: ref.integrationId, runId: ref.instanceId, keyId, appObjectId: app.objectId },
    });
    const object: CreatedObject = { kind: 'secret', role: 'outbound', secretName };
    const out = await compensate({ ...ref, created: [object] }, env.deps, log);
    expect(out.orphans).toEqual([{ object, reason: expect.stringContaining('does not carry our marker') }]);
    expect(keyIdsOf(app.objectId)).toEqual([keyId]);
    expect(await enabledOf(secretName)).toEqual({ [written.properties.version!]: true });
    expect(JSON.stringify(out) + lines.join('\n')).not.toContain(portal.body!.secretText);
  });

  it('soft-deletes a secret whose only versions this run wrote (no secretCreated tag needed)', async () => {
    const ref = env.ref();
    const { secretName, created } = await provision(ref);
    const [only] = await versionsOf(secretName);
    expect(only.tags).toMatchObject({ runId: ref.instanceId, integrationId: ref.integrationId });
    expect(only.tags).not.toHaveProperty('secretCreated');
    const out = await compensate({ ...ref, created: [created[1]] }, env.deps, log);
    expect(out).toEqual({ removed: [created[1]], orphans: [] });
    expect(await isDeleted(secretName)).toBe(true);
  });

  it.each([
    ['disabled', false],
    ['still enabled', true],
  ] as const)('keeps a secret in which another run wrote a version after this run (%s)', async (_, laterEnabled) => {
    const ref = env.ref();
    const { app, secretName, secret, created } = await provision(ref);
    const later = await addSecret(
      { ...ref, instanceId: `${ref.instanceId}-later` },
      app,
      secretName,
      'rotate-20261126',
    );
    if (!laterEnabled) await env.deps.secrets.updateSecretProperties(secretName, later.version, { enabled: false });
    const mark = env.sandbox.journal.mark();
    const out = await compensate({ ...ref, created: [created[1]] }, env.deps, log);
    expect(out).toEqual({ removed: [created[1]], orphans: [] });
    expect(await isDeleted(secretName)).toBe(false);
    // Only this run's credential and version: the other run's credential and version stay as they were.
    expect(keyIdsOf(app.objectId)).toEqual([later.keyId]);
    expect(await enabledOf(secretName)).toEqual({ [secret.version]: false, [later.version]: laterEnabled });
    expect(steps(mark)).toEqual(['POST removePassword', `PATCH ${secret.version}`]);
  });

  it('keeps a secret with a hand-written version of this integration that names no run, even disabled', async () => {
    const ref = env.ref();
    const { app, secretName, secret, created } = await provision(ref);
    // Copied in by a person: this integration's tag, but no runId.
    const hand = await env.deps.secrets.setSecret(secretName, 'pasted-by-hand', {
      tags: { integrationId: ref.integrationId, role: 'outbound' },
    });
    await env.deps.secrets.updateSecretProperties(secretName, hand.properties.version!, { enabled: false });
    const out = await compensate({ ...ref, created: [created[1]] }, env.deps, log);
    expect(out).toEqual({ removed: [created[1]], orphans: [] });
    expect(await isDeleted(secretName)).toBe(false);
    expect(keyIdsOf(app.objectId)).toEqual([]);
    expect(await enabledOf(secretName)).toEqual({ [secret.version]: false, [hand.properties.version!]: false });
  });

  it('keeps a recovered soft-deleted secret (older versions of another run), disabling only its own version', async () => {
    const ref = env.ref();
    const secretName = `${ref.integrationId}-outbound`;
    // An earlier run of this integration wrote the secret; its version was disabled and the secret soft-deleted.
    const earlierRun = { ...ref, instanceId: `${ref.instanceId}-earlier` };
    const earlierApp = await newApp(earlierRun);
    const earlier = await addSecret(earlierRun, earlierApp, secretName);
    await env.deps.secrets.updateSecretProperties(secretName, earlier.version, { enabled: false });
    await (await env.deps.secrets.beginDeleteSecret(secretName)).pollUntilDone();
    // This run: a new app (bare), whose secret write recovers the deleted secret before adding its version.
    const app = await ensureApp({ ...ref, role: 'restApi', displayName: 'REST API', redirectUris: [] }, env.deps, log);
    if (!app.ok) throw new Error(app.failure.message);
    expect(app.createdNow).toBe(true);
    const mine = await addSecret(ref, app, secretName, 'provision', true);
    expect(Object.keys(await enabledOf(secretName))).toEqual([earlier.version, mine.version]);
    const out = await compensate({ ...ref, created: [recorded(app, mine)] }, env.deps, log);
    expect(out).toEqual({ removed: [recorded(app, mine)], orphans: [] });
    expect(await isDeleted(secretName)).toBe(false);
    expect(await enabledOf(secretName)).toEqual({ [earlier.version]: false, [mine.version]: false });
    expect(keyIdsOf(app.objectId)).toEqual([]);
    expect(keyIdsOf(earlierApp.objectId)).toEqual([earlier.keyId]);
  });

  it('never deletes a secret recorded as not created by its run (secretCreated: false, older histories)', async () => {
    const ref = env.ref();
    const { app, secretName, secret } = await provision(ref);
    const object = { ...recorded(app, secret), secretCreated: false };
    const out = await compensate({ ...ref, created: [object] }, env.deps, log);
    expect(out).toEqual({ removed: [object], orphans: [] });
    expect(await isDeleted(secretName)).toBe(false);
    expect(await enabledOf(secretName)).toEqual({ [secret.version]: false });
  });

  it('does not delete a secret it created when a version without this integration’s tag is in it', async () => {
    const ref = env.ref();
    const { app, secretName, secret, created } = await provision(ref);
    const foreign = await env.deps.secrets.setSecret(secretName, 'someone-elses-value', { tags: { owner: 'ops' } });
    await env.deps.secrets.updateSecretProperties(secretName, foreign.properties.version!, { enabled: false });
    const out = await compensate({ ...ref, created: [created[1]] }, env.deps, log);
    expect(out).toEqual({ removed: [created[1]], orphans: [] });
    expect(keyIdsOf(app.objectId)).toEqual([]);
    expect(await isDeleted(secretName)).toBe(false);
    expect(await enabledOf(secretName)).toEqual({ [secret.version]: false, [foreign.properties.version!]: false });
  });

  it('leaves a listed app it did not create in place and reports it; an unnamed secret of no version of its run stays', async () => {
    const ref = env.ref();
    const foreign = env.sandbox.directory.addApplication({
      displayName: 'Pre-existing',
      createdAt: 0,
      owners: [env.sandbox.directory.functionIdentity.servicePrincipalId],
    });
    const name = `${ref.integrationId}-preexisting`;
    await env.deps.secrets.setSecret(name, 'not-ours-value', {
      tags: { owner: 'ops', integrationId: ref.integrationId },
    });
    const created: CreatedObject[] = [
      { kind: 'app', role: 'outbound', objectId: foreign.id, appId: foreign.appId },
      { kind: 'secret', role: 'outbound', secretName: name },
    ];
    const mark = env.sandbox.journal.mark();
    const out = await compensate({ ...ref, created }, env.deps, log);
    // Nothing of this run is in the secret: nothing to remove there.
    expect(out.removed).toEqual([created[1]]);
    expect(out.orphans.map((o) => o.object)).toEqual([created[0]]);
    expect(out.orphans[0].reason).toContain('left in place');
    expect(liveApp(foreign.id)).toBe(true);
    expect(await secretIsLive(name)).toBe(true);
    expect(steps(mark)).toEqual([]);
  });

  it('retries a transiently failing delete, then reports it as an orphan with its id and reason, and carries on with the rest', async () => {
    const ref = env.ref();
    const { app, secretName, created } = await provision(ref);
    env.sandbox.faults.add({ service: 'graph', method: 'DELETE', action: { type: 'status', status: 500 }, times: 2 });
    const value = (await env.deps.secrets.getSecret(secretName)).value ?? '';
    // A 500 may pass: the removal throws for the durable retry (after doing everything else)...
    await expect(compensate({ ...ref, created }, env.deps, log)).rejects.toMatchObject({
      code: 'CompensationIncomplete',
    });
    // ...and its last attempt reports the orphan.
    const out = await compensate({ ...ref, created, final: true }, env.deps, log);
    expect(out.removed).toEqual([created[1]]);
    expect(out.orphans.map((o) => o.object)).toEqual([created[0]]);
    expect(out.orphans[0].reason).toMatch(/500/);
    expect(await secretIsLive(secretName)).toBe(false);
    expect(liveApp(app.objectId)).toBe(true);
    // The orphans' reasons are safe to show: no secret value.
    expect(value.length).toBeGreaterThan(10);
    expect(JSON.stringify(out) + lines.join('\n')).not.toContain(value);
  });
});
