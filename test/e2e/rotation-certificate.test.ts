/**
 * Certificate rotation end to end, on the local host with virtual time against the sandbox: the seed profile
 * provisioned with `options.credential: 'certificate'` (its Outbound app signs private_key_jwt assertions from a
 * ServiceNow keystore), then `POST /api/integrations/{id}/rotate` for the outbound role.
 * - happy path: a new Key Vault version, registered next to the old one, ServiceNow's one JWT provider re-pointed to
 *   a new keystore; only after the grace period the old key credential is removed, the old sys_certificate
 *   deactivated and the old version disabled; the registry holds the new certificate;
 * - a fault at each step (the read of the OAuth provider record, Key Vault create, Graph addKey, the ServiceNow
 *   re-point, the read-back after the switch, removeKey and the Key Vault disable at retirement; and transient ones:
 *   Key Vault 429, a reset keystore upload, Graph 503): the consumer probe (what the instance itself does: sign with its keystore, ask Entra)
 *   after EVERY history event never fails, and the rotation either completes or rolls back cleanly (ServiceNow back on
 *   the old keystore, the new key credential gone, the new version disabled).
 */
import type { FaultRule } from '../../sandbox/core/faults';
import type { InstanceStatus } from '../../sandbox/durable/engine';
import type { LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import { serviceNowKeystoreName } from '../../src/contracts/credentials';
import { certificateNameFor } from '../../src/orchestrators/credential-stage';
import type { RotationOutcome, RotationStatus } from '../../src/orchestrators/rotation-types';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import { api, type IntegrationView } from './api-driver';
import {
  drive,
  provisionTracked,
  rotateNow,
  rotationStatus,
  startRotationHarness,
  type RotationHarness,
  type Tracked,
} from './rotation-helpers';

jest.setTimeout(240_000);

const HAPPY = 'crot-happy';
const FAULTS = {
  create: 'crot-kvcreate',
  addKey: 'crot-addkey',
  repoint: 'crot-repoint',
  confirm: 'crot-confirm',
  removeKey: 'crot-removekey',
  target: 'crot-target',
  disable: 'crot-disable',
  throttled: 'crot-throttled',
  reset: 'crot-reset',
  unavailable: 'crot-unavail',
} as const;

interface Registered {
  credential?: { kind: string; certificateName: string; version: string; keyId: string; x5t: string };
}

describe('certificate rotation end to end: consumer probe after every event, a fault at each step', () => {
  let h: RotationHarness;
  let stack: LocalStack;

  beforeAll(async () => {
    h = await startRotationHarness([HAPPY, ...Object.values(FAULTS)]);
    stack = h.stack;
  });
  afterAll(() => h?.close());

  const outbound = (t: Tracked) => t.view.created.apps.outbound;
  const providerOf = (t: Tracked) => t.view.created.serviceNow.outboundProvider;

  /** The key credentials of the outbound app, read in-process (no journal entry, no fault). */
  const keyIds = (t: Tracked): string[] =>
    (
      (
        stack.sandbox.directory.applications.get(outbound(t).objectId) as unknown as {
          keyCredentials?: { keyId: string }[];
        }
      ).keyCredentials ?? []
    ).map((k) => k.keyId);

  async function registryCredential(t: Tracked): Promise<NonNullable<Registered['credential']>> {
    const row = await getDeps().registry.get(t.id);
    const cred = (row?.value.apps.outbound as Registered | undefined)?.credential;
    if (cred?.kind !== 'certificate') throw new Error(`${t.id}: the outbound credential is not a certificate`);
    return cred;
  }

  async function versions(t: Tracked) {
    const out = [];
    for await (const p of getDeps().certificates.listPropertiesOfCertificateVersions(
      certificateNameFor(t.id, 'outbound'),
    ))
      out.push(p);
    return out;
  }

  const sysCertificates = (t: Tracked) =>
    stack.sandbox.servicenow
      .records(t.instance, 'sys_certificate')
      .filter((r) => String(r.values.name ?? '').startsWith(`m365-snow ${t.id} outbound `));

  /** The JWT key the outbound provider's JWT provider signs with now, by its keystore name. */
  function signingKeystore(t: Tracked): string | undefined {
    const sn = stack.sandbox.servicenow;
    const providers = sn.records(t.instance, 'jwt_provider');
    const aliases = sn.records(t.instance, 'jwt_keystore_aliases');
    const provider = providers.find((p) => p.values.name === `m365-snow ${t.id} outbound`);
    const alias = aliases.find((a) => a.values.sys_id === provider?.values.jwt_keystore_aliases);
    return alias?.values.name;
  }

  interface Run {
    t: Tracked;
    before: NonNullable<Registered['credential']>;
    end: InstanceStatus;
    status: RotationStatus;
  }

  async function provision(instance: string): Promise<Tracked> {
    const t = await provisionTracked(h, instance, m365SupportAad, {
      options: { testEnvironment: true, credential: 'certificate' },
    });
    expect(stack.sandbox.servicenow.credentialModeOf(instance, providerOf(t))).toBe('certificate');
    expect(await t.probe.probe()).toEqual([]); // every consumer works before the rotation
    return t;
  }

  /** Provision, inject the fault (aimed at this integration's objects), rotate the outbound role, drive to the end. */
  async function scenario(instance: string, fault?: (t: Tracked, before: Run['before']) => FaultRule): Promise<Run> {
    const t = await provision(instance);
    const before = await registryCredential(t);
    const rule = fault?.(t, before);
    const active = rule ? stack.sandbox.faults.add(rule) : undefined;
    try {
      const started = await rotateNow(stack, t.id, { roles: ['outbound'] });
      expect(started.status).toBe(202);
      const end = await drive(h, t);
      expect(end.runtimeStatus).toBe('Completed');
      if (rule) expect(active?.applied ?? 0).toBeGreaterThanOrEqual(1);
      return { t, before, end, status: rotationStatus(end)! };
    } finally {
      if (active) stack.sandbox.faults.remove(active.id);
      await t.probe.probe(); // and the state it was left in
    }
  }

  function expectNoOutage(t: Tracked, minEpisodes = 5): void {
    expect(t.probe.failures).toEqual([]);
    expect(t.episodes.length).toBeGreaterThanOrEqual(minEpisodes);
  }

  const expectOutcome = (r: Run, outcome: RotationOutcome) =>
    expect({ outcome: r.status.outcome, error: r.status.error }).toEqual(
      outcome === 'rotated' ? { outcome, error: undefined } : { outcome, error: expect.any(String) as unknown },
    );

  /** Everything is as before the rotation: the old certificate signs, is the only key credential, is the registry's. */
  async function expectRolledBack(r: Run): Promise<void> {
    const { t, before } = r;
    expect(keyIds(t)).toEqual([before.keyId]);
    expect(await registryCredential(t)).toMatchObject({ version: before.version, keyId: before.keyId });
    expect(signingKeystore(t)).toBe(serviceNowKeystoreName(t.id, 'outbound', before.version));
    const enabled = (await versions(t)).filter((v) => v.enabled !== false).map((v) => v.version);
    expect(enabled).toEqual([before.version]);
    // A new sys_certificate, if one was made, is inactive; the old one is active.
    for (const c of sysCertificates(t))
      expect([c.values.name, c.values.active]).toEqual([
        c.values.name,
        c.values.name === serviceNowKeystoreName(t.id, 'outbound', before.version) ? 'true' : 'false',
      ]);
  }

  describe('happy path', () => {
    let run: Run;
    beforeAll(async () => {
      run = await scenario(HAPPY);
    });

    it('rotated: the registry holds the new certificate and its key credential; the entry says certificate', async () => {
      expectOutcome(run, 'rotated');
      const { t, before, status } = run;
      expect(status.rotated).toEqual([
        expect.objectContaining({
          role: 'outbound',
          kind: 'certificate',
          oldKeyId: before.keyId,
          oldVersion: before.version,
          oldRemoved: true,
        }),
      ]);
      const r = status.rotated[0];
      expect(r.newVersion).not.toBe(before.version);
      expect(await registryCredential(t)).toMatchObject({ version: r.newVersion, keyId: r.newKeyId });
      const view = (await api(stack, 'GET', `/api/integrations/${t.id}`)).json as IntegrationView;
      expect(view.status).toBe('active');
    });

    it('the old key credential is removed, the old sys_certificate inactive, the old version disabled', async () => {
      const { t, before, status } = run;
      const r = status.rotated[0];
      expect(keyIds(t)).toEqual([r.newKeyId]);
      const byVersion = Object.fromEntries((await versions(t)).map((v) => [v.version, v.enabled]));
      expect(byVersion[before.version]).toBe(false);
      expect(byVersion[r.newVersion]).toBe(true);
      const active = Object.fromEntries(sysCertificates(t).map((c) => [c.values.name, c.values.active]));
      expect(active).toEqual({
        [serviceNowKeystoreName(t.id, 'outbound', before.version)]: 'false',
        [serviceNowKeystoreName(t.id, 'outbound', r.newVersion)]: 'true',
      });
      // One JWT provider per app, re-pointed to the new keystore.
      expect(
        stack.sandbox.servicenow
          .records(t.instance, 'jwt_provider')
          .filter((p) => p.values.name === `m365-snow ${t.id} outbound`),
      ).toHaveLength(1);
      expect(signingKeystore(t)).toBe(serviceNowKeystoreName(t.id, 'outbound', r.newVersion));
    });

    it('the old key credential stayed until the retire step, after the grace period', () => {
      const { t, before } = run;
      const steps = t.episodes.map((e) => e.step ?? '');
      const switched = steps.indexOf('switch:outbound');
      const grace = steps.indexOf('grace');
      const retire = steps.indexOf('retire:outbound');
      expect(switched).toBeGreaterThan(0);
      expect(grace).toBeGreaterThan(switched);
      expect(retire).toBeGreaterThan(grace);
      expect(t.episodes.map((e) => e.step)).toContain('verify:outbound');
      expect(before.keyId).not.toBe(run.status.rotated[0].newKeyId);
    });

    it('the consumer probe ran after every history event and never failed', () => {
      expectNoOutage(run.t, 10);
    });
  });

  describe('a fault at each step: the probe never fails, a clean rollback or completion', () => {
    it('ServiceNow refuses to read the OAuth provider record (the consumer to re-point): rolled back, nothing changed', async () => {
      const r = await scenario(FAULTS.target, (t) => ({
        service: 'servicenow',
        method: 'GET',
        path: `/table/oauth_entity/${providerOf(t)}$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      await expectRolledBack(r);
      expect((await versions(r.t)).length).toBe(1);
    });

    it('Key Vault version cannot be disabled at retirement: rotated, the old key credential removed, the version reported', async () => {
      const r = await scenario(FAULTS.disable, (t) => ({
        service: 'keyvault',
        method: 'PATCH',
        path: `/certificates/${certificateNameFor(t.id, 'outbound')}/[0-9a-f]{32}$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rotated');
      expectNoOutage(r.t);
      const done = r.status.rotated[0];
      expect(done).toMatchObject({ kind: 'certificate', oldRemoved: false });
      expect(r.status.orphans).toEqual([
        expect.objectContaining({ what: 'old certificate of outbound', reason: expect.stringMatching(/Key Vault/) }),
      ]);
      expect(keyIds(r.t)).toEqual([done.newKeyId]);
      expect(signingKeystore(r.t)).toBe(serviceNowKeystoreName(r.t.id, 'outbound', done.newVersion));
    });

    it('Key Vault refuses the new version: rolled back, nothing changed', async () => {
      const r = await scenario(FAULTS.create, (t) => ({
        service: 'keyvault',
        method: 'POST',
        path: `/certificates/${certificateNameFor(t.id, 'outbound')}/create$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      await expectRolledBack(r);
    });

    it('Graph refuses addKey: rolled back, the new version disabled', async () => {
      const r = await scenario(FAULTS.addKey, (t) => ({
        service: 'graph',
        method: 'POST',
        path: `/applications/${outbound(t).objectId}/addKey$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      await expectRolledBack(r);
      expect((await versions(r.t)).length).toBe(2);
    });

    it('ServiceNow refuses the re-point of the JWT provider: rolled back, the provider still on the old keystore', async () => {
      const r = await scenario(FAULTS.repoint, () => ({
        service: 'servicenow',
        method: 'PATCH',
        path: `/table/jwt_provider/`,
        action: { type: 'status', status: 403 },
        times: 1,
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      await expectRolledBack(r);
    });

    it('the read-back after the switch fails: ServiceNow put back on the old keystore first, then rolled back', async () => {
      // Only the read-back reads a JWT provider by its sys_id (the switch reads it back from its PATCH answer).
      const r = await scenario(FAULTS.confirm, () => ({
        service: 'servicenow',
        method: 'GET',
        path: `/table/jwt_provider/[0-9a-f]{32}$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      await expectRolledBack(r);
      // The switch had happened: the rollback re-pointed the provider before the new key credential went.
      const steps = r.t.episodes.map((e) => e.step ?? '');
      expect(steps).toContain('confirm:outbound');
      expect(steps).toContain('rolling-back');
      // Two re-points of this integration's JWT provider: to the new keystore, then back to the old one.
      const provider = stack.sandbox.servicenow
        .records(r.t.instance, 'jwt_provider')
        .find((p) => p.values.name === `m365-snow ${r.t.id} outbound`);
      const repoints = stack.sandbox.journal
        .raw({ service: 'servicenow' })
        .filter(
          (e) => e.method === 'PATCH' && e.path.endsWith(`/table/jwt_provider/${String(provider?.values.sys_id)}`),
        );
      expect(repoints.length).toBe(2);
      expect(sysCertificates(r.t)).toHaveLength(2); // the new one was made, validated, and is inactive again
    });

    it('Graph refuses removeKey at retirement: rotated, the old key credential reported, the consumer unaffected', async () => {
      const r = await scenario(FAULTS.removeKey, (t) => ({
        service: 'graph',
        method: 'POST',
        path: `/applications/${outbound(t).objectId}/removeKey$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rotated');
      expectNoOutage(r.t);
      expect(r.status.rotated[0]).toMatchObject({ kind: 'certificate', oldRemoved: false });
      expect(r.status.orphans).toEqual([
        expect.objectContaining({
          what: 'old certificate of outbound',
          reason: expect.stringMatching(/key credential/),
        }),
      ]);
      expect(signingKeystore(r.t)).toBe(serviceNowKeystoreName(r.t.id, 'outbound', r.status.rotated[0].newVersion));
      expect(keyIds(r.t)).toEqual(expect.arrayContaining([r.before.keyId, r.status.rotated[0].newKeyId]));
    });

    // Transient faults: the step is retried (by the SDK or a durable retry) and the rotation completes, each step's
    // activity idempotent (one new version, one key credential, one keystore).
    async function expectCompleted(r: Run): Promise<void> {
      expectOutcome(r, 'rotated');
      expectNoOutage(r.t);
      const done = r.status.rotated[0];
      expect(done).toMatchObject({ kind: 'certificate', oldRemoved: true });
      expect(keyIds(r.t)).toEqual([done.newKeyId]);
      expect((await versions(r.t)).map((v) => [v.version, v.enabled]).sort()).toEqual(
        [
          [r.before.version, false],
          [done.newVersion, true],
        ].sort(),
      );
      expect(
        sysCertificates(r.t)
          .map((c) => c.values.active)
          .sort(),
      ).toEqual(['false', 'true']);
      expect(signingKeystore(r.t)).toBe(serviceNowKeystoreName(r.t.id, 'outbound', done.newVersion));
    }

    it('Key Vault throttles the create twice (429, Retry-After): completed with one new version', async () => {
      const r = await scenario(FAULTS.throttled, (t) => ({
        service: 'keyvault',
        method: 'POST',
        path: `/certificates/${certificateNameFor(t.id, 'outbound')}/create$`,
        action: { type: 'status', status: 429, headers: { 'Retry-After': '1' } },
        times: 2,
      }));
      await expectCompleted(r);
    });

    it('the keystore upload loses its connection once: retried, completed with one valid keystore', async () => {
      const r = await scenario(FAULTS.reset, () => ({
        service: 'servicenow',
        method: 'POST',
        path: '/attachment/file$',
        action: { type: 'reset' },
        times: 1,
      }));
      await expectCompleted(r);
      const [fresh] = sysCertificates(r.t).filter((c) => c.values.active === 'true');
      expect(
        stack.sandbox.servicenow
          .records(r.t.instance, 'sys_attachment')
          .filter((a) => a.values.table_sys_id === fresh.values.sys_id),
      ).toHaveLength(1);
    });

    it('Graph answers addKey 503 once: retried, completed with one key credential', async () => {
      const r = await scenario(FAULTS.unavailable, (t) => ({
        service: 'graph',
        method: 'POST',
        path: `/applications/${outbound(t).objectId}/addKey$`,
        action: { type: 'status', status: 503 },
        times: 1,
      }));
      await expectCompleted(r);
    });
  });
});
