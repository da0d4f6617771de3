import type { AppResult, EnsureAppSecretInput, IntegrationRef } from '../../src/contracts/provision';
import { ensureApp } from '../../src/activities/entra';
import {
  IN_FLIGHT_GRACE_MS,
  SECRET_LEASE_MS,
  SECRET_LEASE_SCOPE,
  addsOwnCredential,
  ensureAppSecret,
  policyMaxDays,
} from '../../src/activities/secrets';
import { rotationOperation } from '../../src/rotation/ids';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

let env: ActivityEnv;
const lines: string[] = [];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
/** Every result and error message, scanned for secret values at the end. */
const seen: string[] = [];

beforeAll(async () => {
  env = await startActivityEnv();
});
afterAll(async () => {
  await env?.close();
});
afterEach(() => env.sandbox.faults.clear());

async function newApp(): Promise<{ ref: IntegrationRef; app: AppResult }> {
  const ref = env.ref();
  const out = await ensureApp(
    { ...ref, role: 'outbound', displayName: `Outbound ${ref.integrationId}`, redirectUris: [] },
    env.deps,
    log,
  );
  if (!out.ok) throw new Error(out.failure.message);
  return { ref, app: out };
}

function secretInput(ref: IntegrationRef, app: AppResult, operation = 'provision'): EnsureAppSecretInput {
  return {
    ...ref,
    role: app.role,
    appObjectId: app.objectId,
    appId: app.appId,
    secretName: `${ref.integrationId}-${app.role}-client-secret`,
    lifetimeDays: 180,
    operation,
  };
}

async function run(input: EnsureAppSecretInput) {
  try {
    const out = await ensureAppSecret(input, env.deps, log);
    seen.push(JSON.stringify(out));
    return out;
  } catch (err) {
    seen.push(String((err as Error).message), JSON.stringify(err));
    throw err;
  }
}

/** The tags every Key Vault version a provisioning writes carries: who wrote it, for which credential. */
const provisionTags = (ref: IntegrationRef, app: AppResult, keyId: string) => ({
  integrationId: ref.integrationId,
  role: 'outbound',
  appId: app.appId,
  appObjectId: app.objectId,
  keyId,
  operation: 'provision',
  runId: ref.instanceId,
});
const credentialsOf = (objectId: string) => env.sandbox.directory.applications.get(objectId)?.passwordCredentials ?? [];

async function versionsOf(name: string) {
  const out = [];
  for await (const v of env.deps.secrets.listPropertiesOfSecretVersions(name)) out.push(v);
  return out;
}

const writes = (since: number) =>
  env.sandbox.journal.writes({ since }).filter((w) => w.service === 'graph' || w.service === 'keyvault');

describe('policyMaxDays', () => {
  it('reads a maximum stated as ISO 8601 or in days, and nothing otherwise', () => {
    expect(policyMaxDays("maxLifetime 'P90D' exceeded")).toBe(90);
    expect(policyMaxDays('at most 30 days')).toBe(30);
    expect(policyMaxDays("Credential lifetime exceeds the max value allowed as per assigned policy '0000'.")).toBe(
      undefined,
    );
  });
});

describe('ensureAppSecret', () => {
  it('adds a credential, stores its value in Key Vault with tags and expiry, and returns only references', async () => {
    const { ref, app } = await newApp();
    const input = secretInput(ref, app);
    const out = await run(input);
    if (!out.ok) throw new Error(out.failure.message);
    expect(out).toMatchObject({ role: 'outbound', secretName: input.secretName, created: true });
    expect(Object.keys(out).sort()).toEqual([
      'created',
      'createdOn',
      'expiresOn',
      'keyId',
      'ok',
      'role',
      'secretName',
      'version',
    ]);
    const creds = credentialsOf(app.objectId);
    expect(creds).toHaveLength(1);
    expect(creds[0]).toMatchObject({ keyId: out.keyId, displayName: 'm365-snow-provisioner:provision' });
    const end = new Date(out.expiresOn).getTime();
    expect(creds[0].endDateTime).toBe(end);
    expect(end - env.sandbox.clock.now()).toBeGreaterThan(179 * 86400_000);
    const secret = await env.deps.secrets.getSecret(input.secretName);
    expect(secret.properties.version).toBe(out.version);
    expect(secret.properties.expiresOn?.toISOString()).toBe(out.expiresOn);
    // The version's creation time, recorded for the rotation rule's maximum age and the credential inventory.
    expect(secret.properties.createdOn?.toISOString()).toBe(out.createdOn);
    expect(secret.properties.contentType).toBeTruthy();
    expect(secret.properties.tags).toEqual(provisionTags(ref, app, out.keyId));
    // The stored value is the one Entra accepts for this credential.
    expect(secret.value).toMatch(new RegExp(`^${creds[0].hint.replace(/[.~-]/g, '\\$&')}`));
    expect(JSON.stringify(out)).not.toContain(secret.value);
  });

  it('writes nothing when the same run executes it again, and returns the same result (created: true)', async () => {
    const { ref, app } = await newApp();
    const input = secretInput(ref, app);
    const first = await run(input);
    const mark = env.sandbox.journal.mark();
    const second = await run(input);
    expect(writes(mark)).toEqual([]);
    expect(second).toEqual(first);
    expect(second).toMatchObject({ created: true });
  });

  it('another run adopts the credential and reports it as not its own (created: false), writing nothing', async () => {
    const { ref, app } = await newApp();
    const first = await run(secretInput(ref, app));
    const mark = env.sandbox.journal.mark();
    const rerun = await run(secretInput({ ...ref, instanceId: `${ref.instanceId}-rerun` }, app));
    expect(writes(mark)).toEqual([]);
    expect(rerun).toEqual({ ...first, created: false });
  });

  it('run twice leaves exactly one credential on the app and one Key Vault version', async () => {
    const { ref, app } = await newApp();
    const input = secretInput(ref, app);
    await run(input);
    await run(input);
    expect(credentialsOf(app.objectId)).toHaveLength(1);
    expect(await versionsOf(input.secretName)).toHaveLength(1);
  });

  describe('an application ensureApp created bare in this run (appCreatedBare)', () => {
    /** Key Vault `GET /secrets/{name}/versions` calls (the list of a secret's versions). */
    const versionLists = (since: number, name: string) =>
      env.sandbox.journal
        .entries({ service: 'keyvault', since })
        .filter((e) => e.method === 'GET' && e.path.split('?')[0] === `/secrets/${name}/versions`);
    const credentialReads = (since: number, objectId: string) =>
      env.sandbox.journal
        .entries({ service: 'graph', since })
        .filter((e) => e.method === 'GET' && e.path.endsWith(`/applications/${objectId}`));

    it('the first execution adds the credential without reading the app; a second reads it and writes nothing', async () => {
      const { ref, app } = await newApp();
      expect(app.createdNow).toBe(true);
      const input = { ...secretInput(ref, app), appCreatedBare: true };
      const mark = env.sandbox.journal.mark();
      const first = await run(input);
      if (!first.ok) throw new Error(first.failure.message);
      expect(credentialReads(mark, app.objectId)).toEqual([]);
      expect(credentialsOf(app.objectId)).toHaveLength(1);
      expect(first).toMatchObject({ created: true });

      const again = env.sandbox.journal.mark();
      const second = await run(input);
      expect(credentialReads(again, app.objectId)).toHaveLength(1);
      expect(versionLists(again, input.secretName)).toHaveLength(1);
      expect(writes(again)).toEqual([]);
      expect(second).toEqual(first);
      expect(credentialsOf(app.objectId)).toHaveLength(1);
    });

    it('the first execution lists no Key Vault versions: it writes with its ownership tags only', async () => {
      const { ref, app } = await newApp();
      const input = { ...secretInput(ref, app), appCreatedBare: true };
      const mark = env.sandbox.journal.mark();
      const out = await run(input);
      if (!out.ok) throw new Error(out.failure.message);
      expect(versionLists(mark, input.secretName)).toEqual([]);
      const written = await env.deps.secrets.getSecret(input.secretName);
      expect(written.properties.tags).toEqual(provisionTags(ref, app, out.keyId));
    });

    it('a secret of that name already in Key Vault gets a version of this run next to the older one', async () => {
      const { ref, app } = await newApp();
      const input = { ...secretInput(ref, app), appCreatedBare: true };
      env.sandbox.keyvault.seedSecret(input.secretName, 'an-older-value');
      const out = await run(input);
      expect(out).toMatchObject({ ok: true, created: true });
      const versions = await versionsOf(input.secretName);
      expect(versions).toHaveLength(2);
      // Compensation tells the older version apart by its tags (no runId of this run): the secret stays.
      expect(versions.filter((v) => v.tags?.runId === ref.instanceId)).toHaveLength(1);
    });

    it('a retry after a crash between addPassword and setSecret reads the app and never adds blindly', async () => {
      const { ref, app } = await newApp();
      const input = { ...secretInput(ref, app), appCreatedBare: true };
      env.sandbox.faults.add({ service: 'keyvault', method: 'PUT', action: { type: 'status', status: 403 }, times: 1 });
      env.sandbox.faults.add({
        service: 'graph',
        method: 'POST',
        path: 'removePassword',
        action: { type: 'status', status: 500 },
        times: 1,
      });
      expect(await run(input)).toMatchObject({ ok: false, failure: { service: 'keyvault', status: 403 } });
      expect(credentialsOf(app.objectId)).toHaveLength(1);
      // The retry finds the marker taken, reads the credentials and sees the orphan (in flight for a while).
      await expect(run(input)).rejects.toMatchObject({ code: 'CredentialWriteInProgress', retriable: true });
      expect(credentialsOf(app.objectId)).toHaveLength(1);
    });

    it('when an overlapping run wrote first, the bare execution reads the app and adopts its credential', async () => {
      const { ref, app } = await newApp();
      const other = await run(secretInput({ ...ref, instanceId: `${ref.instanceId}-overlap` }, app));
      if (!other.ok) throw new Error(other.failure.message);
      const mark = env.sandbox.journal.mark();
      const mine = await run({ ...secretInput(ref, app), appCreatedBare: true });
      expect(credentialReads(mark, app.objectId)).toHaveLength(1);
      expect(writes(mark)).toEqual([]);
      expect(mine).toMatchObject({ ok: true, keyId: other.keyId, created: false });
      expect(credentialsOf(app.objectId)).toHaveLength(1);
    });
  });

  it('a new operation (rotation) adds a second credential and version, leaving the first in place', async () => {
    const { ref, app } = await newApp();
    const first = await run(secretInput(ref, app, 'provision'));
    const second = await run(secretInput(ref, app, 'rotate-2026-11-26'));
    if (!first.ok || !second.ok) throw new Error('expected success');
    expect(second.keyId).not.toBe(first.keyId);
    expect(credentialsOf(app.objectId).map((c) => c.keyId)).toEqual([first.keyId, second.keyId]);
    expect(await versionsOf(first.secretName)).toHaveLength(2);
  });

  it('a Key Vault failure after addPassword removes the unstored credential and throws (retriable)', async () => {
    const { ref, app } = await newApp();
    const input = secretInput(ref, app);
    // 503 with Retry-After: 0 on every attempt the SDK makes (1 + 3 retries).
    env.sandbox.faults.add({
      service: 'keyvault',
      method: 'PUT',
      action: { type: 'status', status: 503, headers: { 'Retry-After': '0' } },
      times: 4,
    });
    await expect(run(input)).rejects.toMatchObject({ service: 'keyvault', retriable: true });
    expect(credentialsOf(app.objectId)).toHaveLength(0);
    const out = await run(input);
    expect(out.ok).toBe(true);
    expect(credentialsOf(app.objectId)).toHaveLength(1);
    expect(await versionsOf(input.secretName)).toHaveLength(1);
  });

  it('after a crash between addPassword and setSecret, a re-run replaces the orphaned credential', async () => {
    const { ref, app } = await newApp();
    const input = secretInput(ref, app);
    // The crash: Key Vault refuses the write once and the clean-up call never reaches Graph either.
    env.sandbox.faults.add({ service: 'keyvault', method: 'PUT', action: { type: 'status', status: 403 }, times: 1 });
    env.sandbox.faults.add({
      service: 'graph',
      method: 'POST',
      path: 'removePassword',
      action: { type: 'status', status: 500 },
      times: 1,
    });
    const crashed = await run(input);
    expect(crashed).toMatchObject({ ok: false, failure: { service: 'keyvault', status: 403 } });
    const [orphan] = credentialsOf(app.objectId);
    expect(orphan).toBeDefined();

    // Right away the orphan may still be another run's write in flight: retriable.
    await expect(run(input)).rejects.toMatchObject({ code: 'CredentialWriteInProgress', retriable: true });

    env.sandbox.clock.advance(IN_FLIGHT_GRACE_MS + 1000);
    const out = await run(input);
    if (!out.ok) throw new Error(out.failure.message);
    const creds = credentialsOf(app.objectId);
    expect(creds).toHaveLength(1);
    expect(creds[0].keyId).toBe(out.keyId);
    expect(out.keyId).not.toBe(orphan.keyId);
    const versions = await versionsOf(input.secretName);
    expect(versions).toHaveLength(1);
    expect(versions[0].tags?.keyId).toBe(out.keyId);
  });

  it('recovers a soft-deleted secret of the same name (409 ObjectIsDeletedButRecoverable) instead of purging', async () => {
    const { ref, app } = await newApp();
    const input = secretInput(ref, app);
    const old = await env.deps.secrets.setSecret(input.secretName, 'old-value-of-a-previous-attempt');
    await env.deps.secrets.beginDeleteSecret(input.secretName);
    const mark = env.sandbox.journal.mark();
    const out = await run(input);
    if (!out.ok) throw new Error(out.failure.message);
    const calls = env.sandbox.journal
      .entries({ service: 'keyvault', since: mark })
      .map((e) => `${e.method} ${e.status}`);
    expect(calls).toContain('PUT 409');
    expect(calls).toContain('POST 200'); // recover
    expect(calls.some((c) => c.startsWith('DELETE'))).toBe(false); // never purged
    const versions = await versionsOf(input.secretName);
    expect(versions.map((v) => v.version)).toEqual([old.properties.version, out.version]);
    const current = await env.deps.secrets.getSecret(input.secretName);
    expect(current.properties.version).toBe(out.version);
    // The recovered secret's older version carries no runId of this run: compensation keeps the secret.
    expect(out).toMatchObject({ created: true });
    expect(current.properties.tags).toMatchObject({ runId: ref.instanceId });
    expect(current.properties.tags).not.toHaveProperty('secretCreated');
  });

  it('a second version of an existing secret carries this run’s ownership tags, the first keeps its own', async () => {
    const { ref, app } = await newApp();
    const input = secretInput(ref, app);
    await env.deps.secrets.setSecret(input.secretName, 'value-of-someone-else', { tags: { owner: 'ops' } });
    const out = await run(input);
    expect(out).toMatchObject({ ok: true, created: true });
    const current = await env.deps.secrets.getSecret(input.secretName);
    expect(current.properties.tags).toMatchObject({ runId: ref.instanceId, integrationId: ref.integrationId });
    expect(current.properties.tags).not.toHaveProperty('secretCreated');
    const versions = await versionsOf(input.secretName);
    expect(versions.map((v) => v.tags)).toContainEqual({ owner: 'ops' });
  });

  it('treats rotation operations (and only those) as adding a credential of their own', () => {
    expect(addsOwnCredential(rotationOperation(new Date('2026-11-26T00:00:00Z')))).toBe(true);
    expect(addsOwnCredential('provision')).toBe(false);
  });

  it('while another execution holds the lease it throws a retriable error and writes nothing', async () => {
    const { ref, app } = await newApp();
    const input = secretInput(ref, app);
    const claim = await env.deps.leases.acquire(SECRET_LEASE_SCOPE, [ref.integrationId, 'outbound'], SECRET_LEASE_MS);
    if (!claim.ok) throw new Error('expected to get the lease');
    const mark = env.sandbox.journal.mark();
    await expect(run(input)).rejects.toMatchObject({ code: 'SecretWriteInProgress', retriable: true });
    expect(writes(mark)).toEqual([]);
    expect(credentialsOf(app.objectId)).toHaveLength(0);
    await env.deps.leases.release(claim.lease);
    expect(await run(input)).toMatchObject({ ok: true, created: true });
    // Released after the work: nothing holds it any more.
    expect(await env.deps.leases.peek(SECRET_LEASE_SCOPE, [ref.integrationId, 'outbound'])).toBeUndefined();
  });

  it('takes over a lease whose holder never released it once it expired', async () => {
    const { ref, app } = await newApp();
    const claim = await env.deps.leases.acquire(SECRET_LEASE_SCOPE, [ref.integrationId, 'outbound'], SECRET_LEASE_MS);
    if (!claim.ok) throw new Error('expected to get the lease');
    env.sandbox.clock.advance(SECRET_LEASE_MS + 1000);
    expect(await run(secretInput(ref, app))).toMatchObject({ ok: true, created: true });
    expect(credentialsOf(app.objectId)).toHaveLength(1);
    // The crashed holder's late release does not drop anybody else's lease.
    expect(await env.deps.leases.release(claim.lease)).toBe(false);
  });

  it('returns a failure when the tenant lifetime policy refuses and states no maximum', async () => {
    const { ref, app } = await newApp();
    const message = "Credential lifetime exceeds the max value allowed as per assigned policy '00000000'.";
    env.sandbox.faults.add({
      service: 'graph',
      path: 'addPassword',
      action: {
        type: 'status',
        status: 400,
        body: {
          error: {
            code: 'CredentialInvalidLifetimeAsPerAppPolicy',
            message,
            details: [{ code: 'InvalidKeyEndDate', message, target: 'EndDate' }],
          },
        },
      },
      times: 1,
    });
    const out = await run(secretInput(ref, app));
    expect(out).toMatchObject({
      ok: false,
      failure: { service: 'graph', status: 400, code: 'CredentialInvalidLifetimeAsPerAppPolicy' },
    });
    expect(credentialsOf(app.objectId)).toHaveLength(0);
  });

  it('retries once with the maximum the policy error states', async () => {
    const { ref, app } = await newApp();
    env.sandbox.faults.add({
      service: 'graph',
      path: 'addPassword',
      action: {
        type: 'status',
        status: 400,
        body: { error: { code: 'CredentialInvalidLifetimeAsPerAppPolicy', message: "maxLifetime is 'P90D'." } },
      },
      times: 1,
    });
    const out = await run(secretInput(ref, app));
    if (!out.ok) throw new Error(out.failure.message);
    const days = (new Date(out.expiresOn).getTime() - env.sandbox.clock.now()) / 86400_000;
    expect(Math.round(days)).toBe(90);
  });

  it('returns a failure (403) for an app it does not own, and writes nothing to Key Vault', async () => {
    const ref = env.ref();
    const foreign = env.sandbox.directory.addApplication({ displayName: 'Foreign', createdAt: 0 });
    const mark = env.sandbox.journal.mark();
    const out = await run(
      secretInput(ref, {
        role: 'outbound',
        appId: foreign.appId,
        objectId: foreign.id,
        servicePrincipalId: '',
        uniqueName: '',
        created: false,
      }),
    );
    expect(out).toMatchObject({ ok: false, failure: { service: 'graph', status: 403 } });
    expect(out.ok || out.failure.message).toContain('own application');
    expect(foreign.passwordCredentials).toHaveLength(0);
    expect(env.sandbox.journal.writes({ service: 'keyvault', since: mark })).toEqual([]);
  });

  it('refuses an invalid secret name before calling anything', async () => {
    const { ref, app } = await newApp();
    const mark = env.sandbox.journal.mark();
    const out = await run({ ...secretInput(ref, app), secretName: '1_bad name' });
    expect(out).toMatchObject({ ok: false, failure: { service: 'input' } });
    expect(writes(mark)).toEqual([]);
  });

  it('never shows a secret value in results, errors or logs', async () => {
    const values: string[] = [];
    for (const name of new Set(
      env.sandbox.journal
        .entries({ service: 'keyvault' })
        .filter((e) => e.method === 'PUT' && e.status === 200)
        .map((e) => decodeURIComponent(e.path.split('/')[2])),
    )) {
      for await (const v of env.deps.secrets.listPropertiesOfSecretVersions(name)) {
        if (!v.version) continue;
        const s = await env.deps.secrets.getSecret(name, { version: v.version });
        if (s.value) values.push(s.value);
      }
    }
    expect(values.length).toBeGreaterThan(5);
    const haystack = [...seen, ...lines].join('\n');
    for (const v of values) expect(haystack).not.toContain(v);
  });
});
