/**
 * Credential safety at activity level against the sandbox: a re-provisioning after a rotation adopts the live secret
 * instead of minting another, compensation of a failed re-run never takes down a live secret, and concurrent or
 * repeated executions of ensureAppSecret (at-least-once delivery) leave one credential.
 */
import type { AppResult, CreatedObject, EnsureAppSecretInput, IntegrationRef } from '../../src/contracts/provision';
import { compensate } from '../../src/activities/compensate';
import { ensureApp } from '../../src/activities/entra';
import { retireCredential } from '../../src/activities/rotation-retire';
import { ensureAppSecret } from '../../src/activities/secrets';
import { rotationInstanceId, rotationOperation } from '../../src/rotation/ids';
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

const MARKER = 'm365-snow-provisioner:';
const DUE = new Date('2026-11-26T00:00:00Z');

async function newApp(ref: IntegrationRef): Promise<AppResult> {
  const out = await ensureApp(
    { ...ref, role: 'outbound', displayName: `Outbound ${ref.integrationId}`, redirectUris: [] },
    env.deps,
    log,
  );
  if (!out.ok) throw new Error(out.failure.message);
  return out;
}

const secretInput = (ref: IntegrationRef, app: AppResult, operation = 'provision'): EnsureAppSecretInput => ({
  ...ref,
  role: app.role,
  appObjectId: app.objectId,
  appId: app.appId,
  secretName: `${ref.integrationId}-${app.role}-client-secret`,
  lifetimeDays: 180,
  operation,
});

async function ensure(input: EnsureAppSecretInput) {
  const out = await ensureAppSecret(input, env.deps, log);
  if (!out.ok) throw new Error(out.failure.message);
  return out;
}

/**
 * The durable retry, compressed: retriable errors are retried (bounded), anything else fails. The pause only lets
 * the other execution make progress; nothing asserts on time.
 */
async function withRetries(input: EnsureAppSecretInput, retried: string[]) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ensure(input);
    } catch (err) {
      const e = err as { retriable?: boolean; code?: string };
      if (!e.retriable || attempt >= 50) throw err;
      retried.push(e.code ?? '');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

const credentialsOf = (objectId: string) => env.sandbox.directory.applications.get(objectId)?.passwordCredentials ?? [];
const ours = (objectId: string) => credentialsOf(objectId).filter((c) => c.displayName?.startsWith(MARKER));

async function versionsOf(name: string) {
  const out = [];
  for await (const v of env.deps.secrets.listPropertiesOfSecretVersions(name)) out.push(v);
  return out;
}
const enabledOf = async (name: string) =>
  Object.fromEntries((await versionsOf(name)).map((v) => [v.version ?? '', v.enabled]));

const addPasswordCalls = (since: number) =>
  env.sandbox.journal.entries({ service: 'graph', since }).filter((e) => /addPassword/.test(e.path));

/**
 * A live integration whose secret was rotated: the provisioning credential retired (removed from the app, its version
 * disabled), the rotation's credential and newer Key Vault version current.
 */
async function rotated() {
  const ref = env.ref();
  const app = await newApp(ref);
  const provisioned = await ensure(secretInput(ref, app));
  const rotation = { ...ref, instanceId: rotationInstanceId(ref.integrationId, DUE) };
  const fresh = await ensure(secretInput(rotation, app, rotationOperation(DUE)));
  expect(fresh.keyId).not.toBe(provisioned.keyId);
  const retired = await retireCredential(
    {
      ...rotation,
      role: 'outbound',
      appObjectId: app.objectId,
      keyId: provisioned.keyId,
      secret: { secretName: provisioned.secretName, version: provisioned.version },
    },
    env.deps,
    log,
  );
  expect(retired).toEqual({ ok: true, removed: true, disabled: true });
  expect(credentialsOf(app.objectId).map((c) => c.keyId)).toEqual([fresh.keyId]);
  return { ref, app, provisioned, fresh, secretName: provisioned.secretName };
}

/** What the provisioning orchestrator records for compensation from one ensureAppSecret result. */
const recordedFor = (
  app: AppResult,
  r: { role: string; secretName: string; keyId: string; version: string; created: boolean },
): CreatedObject[] =>
  r.created
    ? [
        {
          kind: 'secret',
          role: r.role,
          secretName: r.secretName,
          appObjectId: app.objectId,
          keyId: r.keyId,
          version: r.version,
        },
      ]
    : [];

describe('credential safety', () => {
  it('a re-provisioning after a rotation adopts the rotated credential and adds none', async () => {
    const { ref, app, fresh, secretName } = await rotated();
    const rerun = { ...ref, instanceId: `${ref.instanceId}-rerun` };
    const mark = env.sandbox.journal.mark();
    const out = await ensure(secretInput(rerun, app));
    expect(addPasswordCalls(mark)).toEqual([]);
    expect(env.sandbox.journal.writes({ service: 'keyvault', since: mark })).toEqual([]);
    expect(out).toMatchObject({ keyId: fresh.keyId, version: fresh.version, created: false });
    expect(credentialsOf(app.objectId).map((c) => c.keyId)).toEqual([fresh.keyId]);
    expect(await versionsOf(secretName)).toHaveLength(2);
  });

  it('compensating a failed re-run after a rotation leaves every live secret, version and credential', async () => {
    const { ref, app, fresh, secretName } = await rotated();
    const rerun = { ...ref, instanceId: `${ref.instanceId}-rerun` };
    const before = await enabledOf(secretName);
    expect(before[fresh.version]).toBe(true);
    const out = await ensure(secretInput(rerun, app));
    // The re-run then fails: compensation gets what it recorded, plus the entry a parallel ensureAppSecret call
    // that exhausted its retries leaves (no keyId, no version).
    const created: CreatedObject[] = [...recordedFor(app, out), { kind: 'secret', role: 'outbound', secretName }];
    const result = await compensate({ ...rerun, created }, env.deps, log);
    expect(result.orphans).toEqual([]);
    expect(await enabledOf(secretName)).toEqual(before);
    const current = await env.deps.secrets.getSecret(secretName);
    expect(current.properties.version).toBe(fresh.version);
    expect(credentialsOf(app.objectId).map((c) => c.keyId)).toEqual([fresh.keyId]);
  });

  it('two concurrent executions for one app end with one credential and one version, both naming it', async () => {
    const ref = env.ref();
    const app = await newApp(ref);
    const input = secretInput(ref, app);
    const retried: string[] = [];
    // The first addPassword answers late, so the winner still holds its lease when the other execution arrives (else,
    // on a fast machine, the second may simply find the finished credential and never meet the lease).
    env.sandbox.faults.add({
      service: 'graph',
      method: 'POST',
      path: '/addPassword$',
      action: { type: 'latency', ms: 500 },
      times: 1,
    });
    const [a, b] = await Promise.all([withRetries(input, retried), withRetries(input, retried)]);
    expect(ours(app.objectId)).toHaveLength(1);
    expect(credentialsOf(app.objectId)).toHaveLength(1);
    expect(await versionsOf(input.secretName)).toHaveLength(1);
    expect(a.keyId).toBe(ours(app.objectId)[0].keyId);
    expect({ keyId: b.keyId, version: b.version }).toEqual({ keyId: a.keyId, version: a.version });
    // Same run: both report the credential as this run's.
    expect([a.created, b.created]).toEqual([true, true]);
    // The loser waited for the winner (lease) instead of minting its own.
    expect(retried).toContain('SecretWriteInProgress');
  });

  it('at-least-once: the same run executing it twice reports created both times, with one credential', async () => {
    const ref = env.ref();
    const app = await newApp(ref);
    const input = secretInput(ref, app);
    const first = await ensure(input);
    const second = await ensure(input);
    expect([first.created, second.created]).toEqual([true, true]);
    expect(second).toEqual(first);
    expect(credentialsOf(app.objectId)).toHaveLength(1);
    expect(await versionsOf(input.secretName)).toHaveLength(1);
  });
});
