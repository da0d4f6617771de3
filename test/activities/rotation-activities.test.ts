import type { AppResult, IntegrationRef, SecretResult } from '../../src/contracts/provision';
import { ensureApp } from '../../src/activities/entra';
import type { ServiceNowSecretConsumer } from '../../src/contracts/rotation';
import { RESTORED_FROM_TAG, rollbackRotation } from '../../src/activities/rotation-rollback';
import { retireCredential } from '../../src/activities/rotation-retire';
import { setServiceNowSecret } from '../../src/activities/rotation-servicenow';
import { verifyCredential } from '../../src/activities/rotation-verify';
import { ensureAppSecret } from '../../src/activities/secrets';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

/** New secrets need this long before Entra accepts them (the sandbox models the propagation delay). */
const PROPAGATION_MS = 20_000;

let env: ActivityEnv;
const lines: string[] = [];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
/** Every result and error, scanned for secret values at the end. */
const seen: string[] = [];
const canaries: string[] = [];

beforeAll(async () => {
  env = await startActivityEnv({ entra: { secretPropagationDelayMs: PROPAGATION_MS } });
}, 60000);
afterAll(async () => {
  await env?.close();
});
afterEach(() => env.sandbox.faults.clear());

interface Rotation {
  ref: IntegrationRef;
  app: AppResult;
  old: SecretResult;
  fresh: SecretResult;
  oldValue: string;
  newValue: string;
  consumer: ServiceNowSecretConsumer;
}

/** An app with its provisioned secret, a rotated secret next to it, and a ServiceNow record holding the old one. */
async function rotation(): Promise<Rotation> {
  const ref = env.ref();
  const app = await ensureApp(
    { ...ref, role: 'outbound', displayName: `Outbound ${ref.integrationId}`, redirectUris: [] },
    env.deps,
    log,
  );
  if (!app.ok) throw new Error(app.failure.message);
  const secret = (operation: string) =>
    ensureAppSecret(
      {
        ...ref,
        role: 'outbound',
        appObjectId: app.objectId,
        appId: app.appId,
        secretName: `${ref.integrationId}-outbound-client-secret`,
        lifetimeDays: 180,
        operation,
      },
      env.deps,
      log,
    );
  const old = await secret('provision');
  if (!old.ok) throw new Error(old.failure.message);
  const fresh = await secret('rotate-20260101');
  if (!fresh.ok) throw new Error(fresh.failure.message);
  const value = async (s: SecretResult) =>
    (await env.deps.secrets.getSecret(s.secretName, { version: s.version })).value!;
  const oldValue = await value(old);
  const newValue = await value(fresh);
  canaries.push(oldValue, newValue);
  const sysId = env.sandbox.servicenow.seedRecord(ref.serviceNowInstance, 'oauth_entity', {
    name: `${ref.tenantName} outbound ${ref.integrationId}`,
    type: 'oauth_provider',
    client_id: app.appId,
    client_secret: oldValue,
  });
  return {
    ref,
    app,
    old,
    fresh,
    oldValue,
    newValue,
    consumer: { record: 'outboundProvider', table: 'oauth_entity', sysId, field: 'client_secret' },
  };
}

const ver = (s: SecretResult) => ({ secretName: s.secretName, version: s.version });
const keyIdsOf = (objectId: string) =>
  (env.sandbox.directory.applications.get(objectId)?.passwordCredentials ?? []).map((c) => c.keyId);
const held = (r: Rotation) =>
  env.sandbox.servicenow.secretOf(r.ref.serviceNowInstance, 'oauth_entity', r.consumer.sysId, 'client_secret');

async function versions(name: string) {
  const out = [];
  for await (const v of env.deps.secrets.listPropertiesOfSecretVersions(name)) out.push(v);
  return out;
}
const enabledOf = async (s: SecretResult) =>
  (await versions(s.secretName)).find((v) => v.version === s.version)?.enabled;
const graphOrVaultWrites = (since: number) =>
  env.sandbox.journal.writes({ since }).filter((w) => w.service === 'graph' || w.service === 'keyvault');

async function track<T>(p: Promise<T>): Promise<T> {
  try {
    const out = await p;
    seen.push(JSON.stringify(out));
    return out;
  } catch (err) {
    seen.push(String((err as Error).message), JSON.stringify(err));
    throw err;
  }
}

describe('verifyCredential', () => {
  it('reports Entra propagation as transient, then proves the exact version yields a token', async () => {
    const r = await rotation();
    const input = { ...r.ref, role: 'outbound', appId: r.app.appId, secret: ver(r.fresh) };
    const early = await track(verifyCredential(input, env.deps, log));
    expect(early).toMatchObject({ ok: false, code: 'AADSTS7000215', transient: true });
    env.sandbox.clock.advance(PROPAGATION_MS + 1000);
    const late = await track(verifyCredential(input, env.deps, log));
    expect(late).toEqual({ ok: true, detail: expect.stringContaining(r.app.appId) });
    // The old version still works too: both are valid during the rotation.
    expect(await track(verifyCredential({ ...input, secret: ver(r.old) }, env.deps, log))).toMatchObject({ ok: true });
  });

  it('marks an unknown application as transient (700016) and a disabled version as a plain failure', async () => {
    const r = await rotation();
    env.sandbox.clock.advance(PROPAGATION_MS + 1000);
    const unknownApp = await track(
      verifyCredential(
        { ...r.ref, role: 'outbound', appId: '0f0f0f0f-0000-4000-8000-000000000001', secret: ver(r.fresh) },
        env.deps,
        log,
      ),
    );
    expect(unknownApp).toMatchObject({ ok: false, code: 'AADSTS700016', transient: true });

    await env.deps.secrets.updateSecretProperties(r.old.secretName, r.old.version, { enabled: false });
    const disabled = await track(
      verifyCredential({ ...r.ref, role: 'outbound', appId: r.app.appId, secret: ver(r.old) }, env.deps, log),
    );
    expect(disabled).toMatchObject({ ok: false, code: 'keyvault-403' });
    expect(disabled.transient).toBeUndefined();
  });

  it('throws a retriable error when the token endpoint is unavailable', async () => {
    const r = await rotation();
    env.sandbox.faults.add({ service: 'entra', path: 'token', action: { type: 'status', status: 503 } });
    await expect(
      track(verifyCredential({ ...r.ref, role: 'outbound', appId: r.app.appId, secret: ver(r.fresh) }, env.deps, log)),
    ).rejects.toMatchObject({ retriable: true, service: 'entra' });
  });
});

describe('setServiceNowSecret', () => {
  it('writes exactly the given version into the password2 field; a second run is harmless', async () => {
    const r = await rotation();
    const input = { ...r.ref, role: 'outbound', consumer: r.consumer, secret: ver(r.fresh) };
    const mark = env.sandbox.journal.mark();
    expect(await track(setServiceNowSecret(input, env.deps, log))).toEqual({ ok: true, written: true });
    expect(held(r)).toBe(r.newValue);
    // Token requests to Entra (the product's own ServiceNow token) change nothing: only the ServiceNow PATCH counts.
    const writes = env.sandbox.journal.writes({ since: mark }).filter((e) => e.service !== 'entra');
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({
      service: 'servicenow',
      method: 'PATCH',
      query: { sysparm_input_display_value: 'true' },
    });
    expect(await track(setServiceNowSecret(input, env.deps, log))).toEqual({ ok: true, written: true });
    expect(held(r)).toBe(r.newValue);
  });

  it('returns a clear failure on 403, leaving the field as it was', async () => {
    const r = await rotation();
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'PATCH',
      path: 'oauth_entity',
      action: { type: 'status', status: 403 },
    });
    const out = await track(
      setServiceNowSecret({ ...r.ref, role: 'outbound', consumer: r.consumer, secret: ver(r.fresh) }, env.deps, log),
    );
    expect(out).toMatchObject({ ok: false, failure: { service: 'servicenow', status: 403 } });
    if (out.ok) throw new Error('unreachable');
    expect(out.failure.message).toContain(r.fresh.secretName);
    expect(out.failure.message).toContain(r.fresh.version);
    expect(out.failure.message).toContain(r.consumer.sysId);
    expect(held(r)).toBe(r.oldValue);
  });

  it('throws on throttling (429) so the orchestrator retries durably', async () => {
    const r = await rotation();
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'PATCH',
      path: 'oauth_entity',
      action: { type: 'status', status: 429, headers: { 'Retry-After': '0' } },
    });
    await expect(
      track(
        setServiceNowSecret({ ...r.ref, role: 'outbound', consumer: r.consumer, secret: ver(r.fresh) }, env.deps, log),
      ),
    ).rejects.toMatchObject({ retriable: true, status: 429 });
    expect(held(r)).toBe(r.oldValue);
  });

  it('returns a failure for a version that cannot be read, and for a malformed consumer', async () => {
    const r = await rotation();
    const missing = await track(
      setServiceNowSecret(
        {
          ...r.ref,
          role: 'outbound',
          consumer: r.consumer,
          secret: { secretName: r.fresh.secretName, version: 'f'.repeat(32) },
        },
        env.deps,
        log,
      ),
    );
    expect(missing).toMatchObject({ ok: false, failure: { service: 'keyvault', status: 404 } });
    const bad = await track(
      setServiceNowSecret(
        { ...r.ref, role: 'outbound', consumer: { ...r.consumer, table: 'oauth entity' }, secret: ver(r.fresh) },
        env.deps,
        log,
      ),
    );
    expect(bad).toMatchObject({ ok: false, failure: { service: 'input' } });
    expect(held(r)).toBe(r.oldValue);
  });
});

describe('retireCredential', () => {
  it('removes only the old credential and disables only the old version; a second run writes nothing', async () => {
    const r = await rotation();
    const input = { ...r.ref, role: 'outbound', appObjectId: r.app.objectId, keyId: r.old.keyId, secret: ver(r.old) };
    expect(await track(retireCredential(input, env.deps, log))).toEqual({ ok: true, removed: true, disabled: true });
    expect(keyIdsOf(r.app.objectId)).toEqual([r.fresh.keyId]);
    expect(await enabledOf(r.old)).toBe(false);
    expect(await enabledOf(r.fresh)).toBe(true);

    const mark = env.sandbox.journal.mark();
    expect(await track(retireCredential(input, env.deps, log))).toEqual({ ok: true, removed: false, disabled: false });
    expect(graphOrVaultWrites(mark)).toEqual([]);
    expect(keyIdsOf(r.app.objectId)).toEqual([r.fresh.keyId]);
  });

  it('refuses to retire the current version or a version of another credential, changing nothing', async () => {
    const r = await rotation();
    const mark = env.sandbox.journal.mark();
    const current = await track(
      retireCredential(
        { ...r.ref, role: 'outbound', appObjectId: r.app.objectId, keyId: r.fresh.keyId, secret: ver(r.fresh) },
        env.deps,
        log,
      ),
    );
    expect(current).toMatchObject({ ok: false, failure: { code: 'RefusedToRetire' } });
    const mismatch = await track(
      retireCredential(
        { ...r.ref, role: 'outbound', appObjectId: r.app.objectId, keyId: r.fresh.keyId, secret: ver(r.old) },
        env.deps,
        log,
      ),
    );
    expect(mismatch).toMatchObject({ ok: false, failure: { code: 'RefusedToRetire' } });
    expect(graphOrVaultWrites(mark)).toEqual([]);
    expect(keyIdsOf(r.app.objectId).sort()).toEqual([r.old.keyId, r.fresh.keyId].sort());
  });

  it('throws (retriable) when removePassword answers 404 while the credential is still there, then succeeds', async () => {
    const r = await rotation();
    const input = { ...r.ref, role: 'outbound', appObjectId: r.app.objectId, keyId: r.old.keyId, secret: ver(r.old) };
    env.sandbox.faults.add({
      service: 'graph',
      method: 'POST',
      path: 'removePassword$',
      action: { type: 'status', status: 404 },
      times: 1,
    });
    await expect(track(retireCredential(input, env.deps, log))).rejects.toMatchObject({ retriable: true });
    expect(keyIdsOf(r.app.objectId)).toContain(r.old.keyId);
    expect(await enabledOf(r.old)).toBe(true);
    expect(await track(retireCredential(input, env.deps, log))).toEqual({ ok: true, removed: true, disabled: true });
  });
});

describe('rollbackRotation', () => {
  async function switched() {
    const r = await rotation();
    const set = await setServiceNowSecret(
      { ...r.ref, role: 'outbound', consumer: r.consumer, secret: ver(r.fresh) },
      env.deps,
    );
    expect(set.ok).toBe(true);
    const input = {
      ...r.ref,
      role: 'outbound',
      appObjectId: r.app.objectId,
      newKeyId: r.fresh.keyId,
      newSecret: ver(r.fresh),
      oldSecret: ver(r.old),
      serviceNowConsumers: [r.consumer],
    };
    return { r, input };
  }

  it('puts every consumer back on the old secret and retires the new one; a second run leaves the same state', async () => {
    const { r, input } = await switched();
    const out = await track(rollbackRotation(input, env.deps, log));
    expect(out.orphans).toEqual([]);
    expect(out.restored).toEqual(expect.arrayContaining([`servicenow:oauth_entity/${r.consumer.sysId}.client_secret`]));
    expect(held(r)).toBe(r.oldValue);
    expect(keyIdsOf(r.app.objectId)).toEqual([r.old.keyId]);
    expect(await enabledOf(r.fresh)).toBe(false);
    expect(await enabledOf(r.old)).toBe(true);
    const latest = await env.deps.secrets.getSecret(r.old.secretName);
    expect(latest.value).toBe(r.oldValue);
    expect(latest.properties.tags).toMatchObject({
      keyId: r.old.keyId,
      operation: 'provision',
      [RESTORED_FROM_TAG]: r.old.version,
    });
    expect(latest.properties.expiresOn?.toISOString()).toBe(r.old.expiresOn);
    // The old secret works.
    env.sandbox.clock.advance(PROPAGATION_MS + 1000);
    expect(
      await verifyCredential({ ...r.ref, role: 'outbound', appId: r.app.appId, secret: ver(r.old) }, env.deps),
    ).toMatchObject({ ok: true });

    const countBefore = (await versions(r.old.secretName)).length;
    const mark = env.sandbox.journal.mark();
    const again = await track(rollbackRotation(input, env.deps, log));
    expect(again.orphans).toEqual([]);
    expect(graphOrVaultWrites(mark)).toEqual([]); // only the (harmless, uncomparable) password2 write repeats
    expect((await versions(r.old.secretName)).length).toBe(countBefore);
    expect(held(r)).toBe(r.oldValue);
    expect(keyIdsOf(r.app.objectId)).toEqual([r.old.keyId]);
  });

  it('keeps the new credential while a ServiceNow consumer could not be written back (403), and finishes later', async () => {
    const { r, input } = await switched();
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'PATCH',
      path: 'oauth_entity',
      action: { type: 'status', status: 403 },
    });
    const out = await track(rollbackRotation(input, env.deps, log));
    expect(out.orphans).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ what: 'servicenow-consumer', id: `oauth_entity/${r.consumer.sysId}.client_secret` }),
        expect.objectContaining({ what: 'credential', id: r.fresh.keyId }),
        expect.objectContaining({ what: 'keyvault-version', id: `${r.fresh.secretName}/${r.fresh.version}` }),
      ]),
    );
    // Nothing the consumer holds was taken away: it still has the new secret, which still works.
    expect(held(r)).toBe(r.newValue);
    expect(keyIdsOf(r.app.objectId).sort()).toEqual([r.old.keyId, r.fresh.keyId].sort());
    expect(await enabledOf(r.fresh)).toBe(true);
    // Key Vault's latest is the old value already.
    expect((await env.deps.secrets.getSecret(r.old.secretName)).value).toBe(r.oldValue);

    env.sandbox.faults.clear();
    const later = await track(rollbackRotation(input, env.deps, log));
    expect(later.orphans).toEqual([]);
    expect(held(r)).toBe(r.oldValue);
    expect(keyIdsOf(r.app.objectId)).toEqual([r.old.keyId]);
  });

  it('reports a credential that cannot be removed (Graph 404) as an orphan and carries on', async () => {
    const { r, input } = await switched();
    env.sandbox.faults.add({
      service: 'graph',
      method: 'POST',
      path: 'removePassword$',
      action: { type: 'status', status: 404 },
    });
    const out = await track(rollbackRotation(input, env.deps, log));
    expect(out.orphans).toEqual([expect.objectContaining({ what: 'credential', id: r.fresh.keyId })]);
    expect(held(r)).toBe(r.oldValue);
    expect(await enabledOf(r.fresh)).toBe(false);
    expect((await env.deps.secrets.getSecret(r.old.secretName)).value).toBe(r.oldValue);
  });
});

describe('secrets', () => {
  it('never appear in results, errors or logs', () => {
    expect(canaries.length).toBeGreaterThan(0);
    const text = [...seen, ...lines].join('\n');
    for (const c of canaries) expect(text).not.toContain(c);
  });
});
