/**
 * on the local host with virtual time against the sandbox:
 * - a consumer probe after EVERY history event of a rotation never fails: on the happy path and with a fault injected
 *   at each step in turn (Graph addPassword, Key Vault set, ServiceNow PATCH of the outbound provider and of the OIDC
 *   entity, the hand-off sendMail, a hand-off deadline passing, removePassword at retirement), whatever the outcome;
 * - the old credential is removed only after every consumer is confirmed and the grace period has passed; with a
 *   failure before that, the new credential is removed, the old one still works and Key Vault's latest version holds
 *   the old value again;
 * - no secret value appears in durable history/status/outputs, logs, emails or HTTP responses (canary).
 * Each scenario provisions its own integration (own ServiceNow instance) through the HTTP API, then starts the
 * rotation with `POST /api/integrations/{id}/rotate` (the sweep is covered by rotation-sweep.test.ts).
 */
import { leaks, secretFreePlaces } from '../helpers/canary';
import { format } from 'node:util';

import { secretWorks } from '../../sandbox/consumers';
import type { FaultRule } from '../../sandbox/core/faults';
import type { InstanceStatus } from '../../sandbox/durable/engine';
import type { LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import type { RotationOutcome, RotationStatus } from '../../src/orchestrators/rotation-types';
import { api, receivedHttp } from './api-driver';
import {
  advance,
  drive,
  handoffMails,
  keyIdsOf,
  MINUTE,
  provisionTracked,
  rotateNow,
  rotationsOf,
  rotationStatus,
  secretValue,
  startRotationHarness,
  issuedSecrets,
  ROLES,
  type DriveOptions,
  type RotationHarness,
  type Tracked,
} from './rotation-helpers';

jest.setTimeout(180_000);

const HAPPY = 'rot-happy';
const FAULTS = {
  addPassword: 'rot-addpw',
  keyVaultSet: 'rot-kvset',
  outboundPatch: 'rot-sn-out',
  oidcPatch: 'rot-sn-oidc',
  handoffMail: 'rot-mail',
  deadline: 'rot-deadline',
  partial: 'rot-partial',
  retire: 'rot-retire',
} as const;

describe('rotation end to end: consumer probe, removal order, rollback, canary', () => {
  let h: RotationHarness;
  let stack: LocalStack;
  const consoleLines: string[] = [];
  const consoleSpies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const)
      consoleSpies.push(
        jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
          consoleLines.push(format(...args));
        }),
      );
    h = await startRotationHarness(['dev00000', HAPPY, ...Object.values(FAULTS)]);
    stack = h.stack;
  });
  afterAll(async () => {
    await h?.close();
    for (const spy of consoleSpies) spy.mockRestore();
  });

  interface Run {
    t: Tracked;
    end: InstanceStatus;
    status: RotationStatus;
    /** How often the injected fault answered (0: the scenario tested nothing). */
    applied: number;
  }

  /** Provision, inject the fault (aimed at this integration's objects), rotate on demand, drive to the end. */
  async function scenario(instance: string, fault?: (t: Tracked) => FaultRule, opts: DriveOptions = {}): Promise<Run> {
    const t = await provisionTracked(h, instance);
    expect(await t.probe.probe()).toEqual([]); // every consumer works before the rotation
    const rule = fault?.(t);
    const active = rule ? stack.sandbox.faults.add(rule) : undefined;
    let applied: number;
    try {
      const started = await rotateNow(stack, t.id);
      expect(started.status).toBe(202);
      const end = await drive(h, t, opts);
      expect(end.runtimeStatus).toBe('Completed');
      applied = active?.applied ?? 0; // the injector counts on the rule object it returned
      if (rule) expect(applied).toBeGreaterThanOrEqual(1);
      return { t, end, status: rotationStatus(end)!, applied };
    } finally {
      if (active) stack.sandbox.faults.remove(active.id);
      await t.probe.probe(); // and the state it was left in
    }
  }

  /** The probe ran after every history event of the rotation and never saw a consumer whose secret fails. */
  function expectNoOutage(t: Tracked, minEpisodes = 5): void {
    expect(t.probe.failures).toEqual([]);
    expect(t.episodes.length).toBeGreaterThanOrEqual(minEpisodes);
    expect(t.probe.probes).toBeGreaterThan(t.episodes.length); // + the probes before and after
  }

  /** keyIds the rotation added to `role`'s app at some point (seen by the probe, unknown at provisioning). */
  const addedKeyIds = (t: Tracked, role: string): string[] => [
    ...new Set(t.episodes.flatMap((e) => e.keyIds[role] ?? []).filter((k) => k !== t.original[role].keyId)),
  ];

  /** The role is back on its old secret everywhere and the credential the rotation added is gone. */
  async function expectRolledBack(t: Tracked, role: string, addedExpected: boolean): Promise<void> {
    const app = t.view.created.apps[role];
    const now = keyIdsOf(stack, t.view)[role];
    const added = addedKeyIds(t, role);
    if (addedExpected) expect(added.length).toBeGreaterThanOrEqual(1);
    for (const k of added) expect(now).not.toContain(k);
    expect(now).toContain(t.original[role].keyId);
    expect(await secretWorks(stack.sandbox, app.appId, t.original[role].value)).toEqual({
      ok: true,
      reason: 'token issued',
    });
    expect(await secretValue(app.secretName)).toBe(t.original[role].value);
    if (role === 'outbound')
      expect(
        stack.sandbox.servicenow.secretOf(t.instance, 'oauth_entity', t.view.created.serviceNow.outboundProvider),
      ).toBe(t.original.outbound.value);
    if (role === 'restApi')
      expect(
        stack.sandbox.servicenow.secretOf(t.instance, 'oauth_oidc_entity', t.view.created.serviceNow.oidcEntity),
      ).toBe(t.original.restApi.value);
  }

  const expectOutcome = (r: Run, outcome: RotationOutcome) => {
    expect({ outcome: r.status.outcome, error: r.status.error }).toEqual(
      outcome === 'rotated' ? { outcome, error: undefined } : { outcome, error: expect.any(String) as unknown },
    );
  };

  describe('happy path', () => {
    let t: Tracked;
    let atGrace: InstanceStatus;
    let run: Run;

    beforeAll(async () => {
      t = await provisionTracked(h, HAPPY);
      expect(await t.probe.probe()).toEqual([]);
      expect((await rotateNow(stack, t.id)).status).toBe(202);
      atGrace = await drive(h, t, {
        until: (s) =>
          rotationStatus(s)?.step === 'grace' &&
          stack.host.durable.timers(s.instanceId).some((x) => x.state === 'pending'),
      });
    });

    it('before the grace timer fires: every consumer is confirmed, both credentials exist, the old version is enabled', async () => {
      const status = rotationStatus(atGrace)!;
      expect(status.step).toBe('grace');
      expect(status.confirmed.outbound).toEqual(['servicenow:outboundProvider']);
      expect(status.confirmed.restApi).toEqual(
        expect.arrayContaining(['servicenow:oidcEntity', expect.stringMatching(/^manual:/) as unknown]),
      );
      expect(status.confirmed.restUser).toEqual([expect.stringMatching(/^manual:/)]);
      const keyIds = keyIdsOf(stack, t.view);
      for (const role of ROLES) {
        expect(keyIds[role]).toContain(t.original[role].keyId);
        expect(addedKeyIds(t, role)).toHaveLength(1);
        expect(keyIds[role]).toContain(addedKeyIds(t, role)[0]);
        const versions = [];
        for await (const p of getDeps().secrets.listPropertiesOfSecretVersions(t.view.created.apps[role].secretName))
          versions.push(p);
        expect(versions.find((v) => v.version === t.original[role].version)?.enabled).toBe(true);
      }
      // One minute before the grace timer: still there.
      const timer = stack.host.durable.timers(atGrace.instanceId).find((x) => x.state === 'pending')!;
      await advance(stack, timer.fireAt.getTime() - stack.sandbox.clock.now() - MINUTE);
      const still = keyIdsOf(stack, t.view);
      for (const role of ROLES) expect(still[role]).toContain(t.original[role].keyId);
      expect(rotationStatus(rotationsOf(stack, t.id).at(-1))?.step).toBe('grace');

      run = { t, end: await drive(h, t), status: undefined as unknown as RotationStatus, applied: 0 };
      run.status = rotationStatus(run.end)!;
      await t.probe.probe();
    });

    it('after the grace period: rotated, the old credentials removed, the old versions disabled, the new ones live', async () => {
      expectOutcome(run, 'rotated');
      expect(run.status.rotated.map((r) => [r.role, r.oldRemoved])).toEqual(ROLES.map((r) => [r, true]));
      const keyIds = keyIdsOf(stack, t.view);
      for (const role of ROLES) {
        const r = run.status.rotated.find((x) => x.role === role)!;
        expect(r.oldKeyId).toBe(t.original[role].keyId);
        expect(keyIds[role]).toEqual([r.newKeyId]);
        const name = t.view.created.apps[role].secretName;
        const versions = [];
        for await (const p of getDeps().secrets.listPropertiesOfSecretVersions(name)) versions.push(p);
        expect(versions.find((v) => v.version === t.original[role].version)?.enabled).toBe(false);
        const latest = await getDeps().secrets.getSecret(name);
        expect(latest.properties.version).toBe(r.newVersion);
        expect(latest.properties.tags?.keyId).toBe(r.newKeyId);
        expect((await secretWorks(stack.sandbox, t.view.created.apps[role].appId, latest.value ?? '')).ok).toBe(true);
        expect((await secretWorks(stack.sandbox, t.view.created.apps[role].appId, t.original[role].value)).ok).toBe(
          false,
        );
      }
    });

    it('each old credential disappeared right after its own retire step, never earlier', () => {
      for (const role of ROLES) {
        const first = t.episodes.findIndex((e) => !(e.keyIds[role] ?? []).includes(t.original[role].keyId));
        expect(first).toBeGreaterThan(0);
        expect(t.episodes[first].step).toBe(`retire:${role}`);
        // Every episode before it still carried the old credential.
        for (const e of t.episodes.slice(0, first)) expect(e.keyIds[role]).toContain(t.original[role].keyId);
      }
    });

    it('the consumer probe ran after every history event and never failed', () => {
      expectNoOutage(t, 20);
      // The ServiceNow consumers and the admin center hold the new secrets now.
      const held = Object.fromEntries(t.probe.consumers.map((c) => [c.name, c.held()]));
      expect(held['servicenow:outboundProvider']).not.toBe(t.original.outbound.value);
      expect(held['servicenow:oidcEntity']).not.toBe(t.original.restApi.value);
      expect(held['manual:Client secret']).toBe(held['servicenow:oidcEntity']);
      expect(held['manual:Rest user password']).not.toBe(t.original.restUser.value);
    });
  });

  describe('a fault injected at each step: the probe never fails, whatever the outcome', () => {
    const appOf = (t: Tracked, role: string) => t.view.created.apps[role];

    it('Graph addPassword refused for the second app (restApi): rolled back, outbound back on its old secret', async () => {
      const r = await scenario(FAULTS.addPassword, (t) => ({
        service: 'graph',
        method: 'POST',
        path: `/applications/${appOf(t, 'restApi').objectId}/addPassword$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      await expectRolledBack(r.t, 'outbound', true);
      await expectRolledBack(r.t, 'restApi', false);
      await expectRolledBack(r.t, 'restUser', false);
    });

    it('Key Vault set refused for the third secret (restUser): rolled back, no credential without a stored value', async () => {
      const r = await scenario(FAULTS.keyVaultSet, (t) => ({
        service: 'keyvault',
        method: 'PUT',
        path: `/secrets/${appOf(t, 'restUser').secretName}$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      for (const role of ROLES) await expectRolledBack(r.t, role, role !== 'restUser');
      expect(keyIdsOf(stack, r.t.view).restUser).toEqual([r.t.original.restUser.keyId]);
    });

    it('ServiceNow PATCH of the outbound provider refused: rolled back', async () => {
      const r = await scenario(FAULTS.outboundPatch, (t) => ({
        service: 'servicenow',
        method: 'PATCH',
        path: `/table/oauth_entity/${t.view.created.serviceNow.outboundProvider}$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      await expectRolledBack(r.t, 'outbound', true);
    });

    it('ServiceNow PATCH of the OIDC entity refused: rolled back, the outbound provider restored too', async () => {
      const r = await scenario(FAULTS.oidcPatch, (t) => ({
        service: 'servicenow',
        method: 'PATCH',
        path: `/table/oauth_oidc_entity/${t.view.created.serviceNow.oidcEntity}$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      await expectRolledBack(r.t, 'outbound', true);
      await expectRolledBack(r.t, 'restApi', true);
    });

    it('the hand-off email cannot be sent: rolled back everywhere', async () => {
      const r = await scenario(FAULTS.handoffMail, () => ({
        service: 'graph',
        method: 'POST',
        path: '/sendMail$',
        action: { type: 'status', status: 403 },
        times: 1,
      }));
      expectOutcome(r, 'rolled-back');
      expectNoOutage(r.t);
      for (const role of ROLES) await expectRolledBack(r.t, role, true);
    });

    it('the hand-off deadline passes without confirmation: reminders, then rolled back everywhere', async () => {
      const r = await scenario(FAULTS.deadline, undefined, { confirm: () => false });
      expectOutcome(r, 'rolled-back');
      expect(r.status.error).toMatch(/deadline/);
      // The first emails and the reminders (120 min deadline, 30 min reminders) went out per role.
      const sent = handoffMails(stack, r.end.instanceId);
      for (const role of ['restApi', 'restUser']) expect(sent.filter((m) => m.role === role).length).toBeGreaterThan(1);
      expectNoOutage(r.t);
      for (const role of ROLES) await expectRolledBack(r.t, role, true);
      // Nobody copied anything into the admin center: it still holds the old secrets, which still work.
      expect(r.t.adminCenter.get('Client secret')).toBe(r.t.original.restApi.value);
      expect(r.t.adminCenter.get('Rest user password')).toBe(r.t.original.restUser.value);
    });

    it('only one hand-off confirmed before the deadline: the confirmed role keeps both secrets, the rest rolls back', async () => {
      const r = await scenario(FAULTS.partial, undefined, { confirm: (role) => role === 'restApi' });
      expectOutcome(r, 'failed');
      expectNoOutage(r.t);
      await expectRolledBack(r.t, 'outbound', true);
      await expectRolledBack(r.t, 'restUser', true);
      // restApi: a person put the new secret in the admin center; both stay valid (never break a confirmed consumer).
      const keyIds = keyIdsOf(stack, r.t.view).restApi;
      expect(keyIds).toContain(r.t.original.restApi.keyId);
      expect(keyIds).toHaveLength(2);
      const held = r.t.adminCenter.get('Client secret')!;
      expect(held).not.toBe(r.t.original.restApi.value);
      expect((await secretWorks(stack.sandbox, appOf(r.t, 'restApi').appId, held)).ok).toBe(true);
      expect(r.status.orphans.some((o) => /restApi/.test(o.what))).toBe(true);
    });

    it('removePassword refused at retirement: rotated, the old credential kept and reported, nothing broken', async () => {
      const r = await scenario(FAULTS.retire, (t) => ({
        service: 'graph',
        method: 'POST',
        path: `/applications/${appOf(t, 'outbound').objectId}/removePassword$`,
        action: { type: 'status', status: 403 },
      }));
      expectOutcome(r, 'rotated');
      expectNoOutage(r.t);
      expect(r.status.rotated.map((x) => [x.role, x.oldRemoved])).toEqual([
        ['outbound', false],
        ['restApi', true],
        ['restUser', true],
      ]);
      expect(keyIdsOf(stack, r.t.view).outbound).toContain(r.t.original.outbound.keyId);
      expect(r.status.orphans.map((o) => o.id)).toContain(r.t.original.outbound.keyId);
    });
  });

  describe('canary', () => {
    it('no secret value appears in durable history/status/outputs, logs, emails or HTTP responses', async () => {
      const durable = stack.host.durable;
      const instances = [...h.tracked.values()].flatMap((t) => rotationsOf(stack, t.id));
      expect(instances.length).toBe(h.tracked.size);
      // The rotation API once more, so the scan covers its answers.
      for (const t of h.tracked.values()) {
        for (const s of rotationsOf(stack, t.id))
          expect((await api(stack, 'GET', `/api/integrations/${t.id}/rotations/${s.instanceId}`)).status).toBe(200);
        expect((await rotateNow(stack, t.id)).status).toBeLessThan(500);
        await durable.waitForIdle(30_000);
      }
      const canaries = issuedSecrets(stack);
      // Provisioning and every rotation above added secrets: 3 per integration, plus the rotations' new ones.
      expect(canaries.length).toBeGreaterThanOrEqual(3 * h.tracked.size + 3);
      const places = secretFreePlaces(
        stack,
        instances.map((s) => s.instanceId),
        { consoleLines, httpResponses: receivedHttp() },
      );
      expect(
        leaks(
          places,
          canaries.map((c) => ({ what: `secret ${c.slice(0, 3)}…`, value: c })),
        ),
      ).toEqual([]);
      // Not vacuous: the rotation did move values on the allowed channels (password2 PATCHes of rotated secrets).
      const raw = JSON.stringify(stack.sandbox.journal.raw({ service: 'servicenow' }));
      expect(canaries.filter((c) => raw.includes(c)).length).toBeGreaterThan(h.tracked.size);
    });
  });
});
