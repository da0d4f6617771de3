/**
 * The rotation triggers through the local Functions host (sandbox Key Vault, Azurite registry, virtual time): the
 * sweep, the on-demand endpoint and the Event Grid backstop, with a stub `rotateCredentials` that waits for an event
 * (test/fixtures/rotation/app.ts), so each test sees exactly which rotations were started and with what input.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';

import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';

import { startFunctionsHost, type FunctionsHost } from '../../sandbox/host';
import { createDeps, type Deps } from '../../src/app/deps';
import { loadConfig } from '../../src/config';
import { createRotationHandlers } from '../../src/functions/rotation';
import type { RotationInput } from '../../src/orchestrators/rotation-types';
import type { AppCredentialState, IntegrationRecord, IntegrationStatus } from '../../src/registry/types';
import { rotationInstanceId, rotationInstancePrefix, yyyymmdd } from '../../src/rotation/ids';
import { startDueRotations, versionsOf } from '../../src/rotation/sweep';
import { fixture, fixtureDeps, STOP_EVENT } from '../fixtures/rotation/state';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

const DAY = 24 * 3600 * 1000;
const CANARY = `canary-${randomBytes(12).toString('hex')}`;

describe('rotation triggers on the local Functions host', () => {
  let env: ActivityEnv;
  let host: FunctionsHost;
  let client: DurableClient;
  let deps: Deps;
  const previousSchedule = process.env.ROTATION_SCHEDULE;

  beforeAll(async () => {
    // The host resolves %ROTATION_SCHEDULE% from the app settings when it indexes the functions.
    process.env.ROTATION_SCHEDULE = '0 0 2 * * *';
    env = await startActivityEnv();
    deps = fixture.deps = env.deps;
    host = await startFunctionsHost({
      entryModule: path.join(__dirname, '../fixtures/rotation/app.ts'),
      clock: env.sandbox.clock,
    });
    client = durableClient();
  }, 60000);
  afterAll(async () => {
    await host?.close();
    await env?.close();
    if (previousSchedule === undefined) delete process.env.ROTATION_SCHEDULE;
    else process.env.ROTATION_SCHEDULE = previousSchedule;
  });

  // ---- helpers ----

  function context(): { ctx: InvocationContext; lines: string[] } {
    const input = df.input.durableClient();
    const lines: string[] = [];
    const ctx = new InvocationContext({
      functionName: 'test',
      logHandler: (_level, ...args) => lines.push(args.map(String).join(' ')),
      options: {
        trigger: { type: 'eventGridTrigger', name: 'event' },
        extraInputs: [input],
        extraOutputs: [],
      },
    });
    ctx.extraInputs.set(input, host.clientData());
    return { ctx, lines };
  }
  /** A DurableClient built from the host's binding data, as df.getClient does in a trigger. */
  function durableClient(): DurableClient {
    return df.getClient(context().ctx);
  }

  const now = () => env.sandbox.clock.date();
  /**
   * Moves virtual time. Tokens the SDK cached were issued in virtual time and expire there, while the SDK's cache
   * judges them by real time: fresh deps (a new credential) after a jump, as a host restarted days later would have.
   */
  function advance(ms: number) {
    env.sandbox.clock.advance(ms);
    deps = fixture.deps = createDeps(loadConfig(env.settings), now);
  }

  const newId = () => `sn-${env.sandbox.env().SANDBOX_SERVICENOW_INSTANCE}-${randomBytes(4).toString('hex')}`;

  /** A Key Vault version as ensureAppSecret writes it (self-describing tags), returning the registry's view. */
  async function credential(
    integrationId: string,
    role: string,
    expiresInDays: number,
    overrides: Partial<{ secretName: string; keyId: string; operation: string; app: AppCredentialState }> = {},
  ): Promise<AppCredentialState> {
    const app = overrides.app ?? {
      appId: randomUUID(),
      objectId: randomUUID(),
      secretName: overrides.secretName ?? `${integrationId}-${role}`,
    };
    const keyId = overrides.keyId ?? randomUUID();
    const expiresOn = new Date(Math.floor((now().getTime() + expiresInDays * DAY) / 1000) * 1000);
    const res = await deps.secrets.setSecret(app.secretName, CANARY, {
      expiresOn,
      tags: {
        integrationId,
        role,
        appId: app.appId,
        appObjectId: app.objectId,
        keyId,
        operation: overrides.operation ?? 'provision',
      },
    });
    return { ...app, secretVersion: res.properties.version ?? '', keyId, expiresOn: expiresOn.toISOString() };
  }

  async function integration(
    id: string,
    apps: Record<string, AppCredentialState>,
    status: IntegrationStatus = 'active',
  ): Promise<IntegrationRecord> {
    const at = now().toISOString();
    const record: IntegrationRecord = {
      id,
      profile: 'm365-support-aad',
      tenant: env.sandbox.directory.tenantDomain,
      tenantName: 'Contoso',
      serviceNowInstance: env.sandbox.env().SANDBOX_SERVICENOW_INSTANCE,
      status,
      instanceId: `provision-${id}`,
      ticket: { table: 'change_request', number: 'CHG0030001' },
      approvers: ['ann@contoso.com'],
      apps,
      serviceNow: {},
      checks: [],
      createdAt: at,
      updatedAt: at,
    };
    await deps.registry.create(record);
    return record;
  }

  const rotations = (integrationId: string) =>
    host.durable.query({ instanceIdPrefix: rotationInstancePrefix(integrationId) }, { showInput: true });
  const inputOf = (instanceId: string) =>
    host.durable.getStatus(instanceId, { showInput: true })?.input as RotationInput;
  const sweepLogs = () => host.durable.logs.filter((l) => l.functionName === 'rotationSweep').map((l) => l.message);
  async function stop(instanceId: string) {
    host.durable.raiseEvent(instanceId, STOP_EVENT, null);
    await host.durable.waitForStatus(instanceId, (s) => s.runtimeStatus === 'Completed');
  }
  async function sweep() {
    await host.runTimer('rotationSweep');
    await host.durable.waitForIdle();
  }

  // ---- the sweep ----

  describe('sweep', () => {
    const ids: Record<string, string> = {};
    const records: Record<string, IntegrationRecord> = {};
    let t1 = 0;

    beforeAll(async () => {
      // Day 0: a credential that will be older than the maximum age (365 d) but far from expiry.
      ids.old = newId();
      records.old = await integration(ids.old, { outbound: await credential(ids.old, 'outbound', 700) });
      advance(300 * DAY);
      t1 = now().getTime();
      // Day 300: the rest; the sweep runs on day 400.
      ids.dueExp = newId();
      records.dueExp = await integration(ids.dueExp, { outbound: await credential(ids.dueExp, 'outbound', 120) });
      ids.notDue = newId();
      await integration(ids.notDue, { outbound: await credential(ids.notDue, 'outbound', 300) });
      ids.multi = newId();
      records.multi = await integration(ids.multi, {
        outbound: await credential(ids.multi, 'outbound', 110),
        restApi: await credential(ids.multi, 'restApi', 125),
        restUser: await credential(ids.multi, 'restUser', 200),
      });
      ids.rotated = newId();
      const registryView = await credential(ids.rotated, 'outbound', 115);
      await integration(ids.rotated, { outbound: registryView });
      advance(60_000);
      await credential(ids.rotated, 'outbound', 180, { app: registryView, operation: 'rotate-20270101' });
      ids.inactive = newId();
      await integration(ids.inactive, { outbound: await credential(ids.inactive, 'outbound', 105) }, 'failed');
      ids.missing = newId();
      await integration(ids.missing, {
        outbound: { appId: randomUUID(), objectId: randomUUID(), secretName: `${ids.missing}-never-set`, keyId: 'k' },
      });
      advance(100 * DAY - 60_000);
    }, 60000);

    it('starts exactly the due rotations, one per integration, with the due roles and the due date in the id', async () => {
      await sweep();
      const started = host.durable
        .query({ instanceIdPrefix: 'rotate-' })
        .map((s) => s.instanceId)
        .sort();
      const expected = {
        old: rotationInstanceId(ids.old, new Date(t1 - 300 * DAY + 365 * DAY)),
        dueExp: rotationInstanceId(ids.dueExp, new Date(t1 + 90 * DAY)),
        multi: rotationInstanceId(ids.multi, new Date(t1 + 80 * DAY)),
      };
      expect(started).toEqual(Object.values(expected).sort());
      for (const key of ['notDue', 'rotated', 'inactive', 'missing']) expect(rotations(ids[key])).toHaveLength(0);

      expect(inputOf(expected.multi).roles).toEqual(['outbound', 'restApi']);
      expect(inputOf(expected.old).roles).toEqual(['outbound']);
      const input = inputOf(expected.dueExp);
      expect(input).toEqual({
        ref: {
          integrationId: ids.dueExp,
          instanceId: expected.dueExp,
          profileId: 'm365-support-aad',
          tenant: records.dueExp.tenant,
          tenantName: 'Contoso',
          serviceNowInstance: records.dueExp.serviceNowInstance,
        },
        roles: ['outbound'],
        operation: `rotate-${yyyymmdd(new Date(t1 + 90 * DAY))}`,
        reason: 'sweep',
        approvers: ['ann@contoso.com'],
        ticket: { table: 'change_request', number: 'CHG0030001' },
        settings: {
          secretLifetimeDays: 180,
          graceMinutes: 1440,
          handoffReminderMinutes: 1440,
          handoffDeadlineMinutes: 10080,
          verifyAttempts: 6,
          verifyRetrySeconds: 10,
          certificateValidityMonths: 12,
        },
        endpoints: {
          authorityHost: deps.config.entra.authorityHost,
          instanceUrl: expect.stringContaining(records.dueExp.serviceNowInstance) as unknown,
        },
      });

      const logs = sweepLogs().join('\n');
      expect(logs).toMatch(new RegExp(`rotation reconcile ${ids.rotated} outbound: .*rotate-20270101`));
      // No rotation of it was running: the registry now follows Key Vault's newer version.
      const reconciledRow = (await deps.registry.get(ids.rotated))?.value.apps.outbound;
      const latest = (await versionsOf(deps, reconciledRow!.secretName)).sort(
        (a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0),
      )[0];
      expect(reconciledRow?.secretVersion).toBe(latest?.version);
      expect(reconciledRow?.keyId).toBe(latest?.tags.keyId);
      expect(logs).toMatch(new RegExp(`rotation sweep ${ids.missing} outbound: .*has no version`));
      expect(logs).toContain('3 started');
      expect(JSON.stringify(host.durable.query({}, { showInput: true }))).not.toContain(CANARY);
      expect(logs).not.toContain(CANARY);
    });

    it('a later sweep starts nothing new while those rotations run, and skips a completed one', async () => {
      const before = host.durable.query({ instanceIdPrefix: 'rotate-' }).length;
      const dueExpId = rotations(ids.dueExp)[0].instanceId;
      await stop(dueExpId);
      const completedAt = host.durable.getStatus(dueExpId)?.createdTime;
      advance(DAY);
      await sweep();
      expect(host.durable.query({ instanceIdPrefix: 'rotate-' })).toHaveLength(before);
      expect(host.durable.getStatus(dueExpId)).toMatchObject({ runtimeStatus: 'Completed', createdTime: completedAt });
      expect(sweepLogs().join('\n')).toContain(`rotation completed for ${ids.dueExp}`);
    });

    it('starts a terminated rotation again under the same id', async () => {
      const id = rotations(ids.old)[0].instanceId;
      host.durable.terminate(id, 'test');
      await host.durable.waitForStatus(id, (s) => s.runtimeStatus === 'Terminated');
      await sweep();
      expect(rotations(ids.old)).toHaveLength(1);
      expect(host.durable.getStatus(id)?.runtimeStatus).toBe('Running');
    });

    it('a start that loses the race between getStatus and startNew (HTTP 409) counts as running', async () => {
      const id = newId();
      await integration(id, { outbound: await credential(id, 'outbound', 10) });
      // Both sweeps pass getStatus (not found) before either starts: the runtime's 409 decides.
      const real = durableClient();
      let arrived = 0;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const racing = new Proxy(real, {
        get(target, prop: keyof DurableClient) {
          if (prop === 'getStatus')
            return async (instanceId: string) => {
              try {
                return await target.getStatus(instanceId);
              } finally {
                if (++arrived === 2) open();
                await gate;
              }
            };
          const value = target[prop];
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const [a, b] = await Promise.all([
        startDueRotations(deps, racing, now()),
        startDueRotations(deps, racing, now()),
      ]);
      await host.durable.waitForIdle();
      expect(rotations(id)).toHaveLength(1);
      const results = [...a.rotations, ...b.rotations].filter((r) => r.integrationId === id).map((r) => r.result);
      expect(results.sort()).toEqual(['running', 'started']);
      expect([...a.problems, ...b.problems].filter((p) => p.integrationId === id)).toEqual([]);
    });

    it('two concurrent sweeps start exactly one rotation per due integration', async () => {
      const fresh = [newId(), newId(), newId()];
      for (const id of fresh) await integration(id, { outbound: await credential(id, 'outbound', 10) });
      const [a, b] = await Promise.all([
        startDueRotations(deps, durableClient(), now()),
        startDueRotations(deps, durableClient(), now()),
      ]);
      await host.durable.waitForIdle();
      for (const id of fresh) {
        expect(rotations(id)).toHaveLength(1);
        const results = [...a.rotations, ...b.rotations].filter((r) => r.integrationId === id).map((r) => r.result);
        expect(results.sort()).toEqual(['running', 'started']);
      }
      // And through the timer trigger twice at once: nothing more.
      const count = host.durable.query({ instanceIdPrefix: 'rotate-' }).length;
      await Promise.all([host.runTimer('rotationSweep'), host.runTimer('rotationSweep')]);
      await host.durable.waitForIdle();
      expect(host.durable.query({ instanceIdPrefix: 'rotate-' })).toHaveLength(count);
    });
  });

  // ---- on demand ----

  describe('POST /api/integrations/{id}/rotate', () => {
    const url = (id: string) => `${host.baseUrl}/api/integrations/${id}/rotate`;
    const post = (id: string, body?: string, key: string | null = host.functionKey) =>
      fetch(url(id), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { 'x-functions-key': key } : {}) },
        ...(body === undefined ? {} : { body }),
      });
    const allRoles = async (id: string) =>
      integration(id, {
        outbound: await credential(id, 'outbound', 170),
        restApi: await credential(id, 'restApi', 170),
        restUser: await credential(id, 'restUser', 170),
      });

    it('needs the function key', async () => {
      expect((await post(newId(), undefined, null)).status).toBe(401);
    });

    it('answers 400 listing every problem, 404 for an unknown integration', async () => {
      const id = newId();
      await allRoles(id);
      const bad = await post(id, JSON.stringify({ roles: ['outbound', 'nope', 'restApi', 'nope2'], force: true }));
      expect(bad.status).toBe(400);
      const problems = ((await bad.json()) as { errors: { field: string }[] }).errors.map((e) => e.field).sort();
      expect(problems).toEqual(['force', 'roles[1]', 'roles[3]']);
      expect((await post(id, '{"roles":')).status).toBe(400);
      expect((await post(id, '{"roles":[]}')).status).toBe(400);
      expect((await post(id, '[1]')).status).toBe(400);
      expect((await post('not-an-id')).status).toBe(400);
      expect((await post(newId())).status).toBe(404);
      expect(rotations(id)).toHaveLength(0);
    });

    it('starts the rotation of the requested roles (202), then answers 409 while it runs and 200 once done', async () => {
      const id = newId();
      await allRoles(id);
      const res = await post(id, JSON.stringify({ roles: ['restUser', 'outbound'] }));
      expect(res.status).toBe(202);
      const body = (await res.json()) as { instanceId: string; roles: string[]; statusUrl: string; status: string };
      const instanceId = rotationInstanceId(id, now());
      expect(body).toEqual({
        id,
        instanceId,
        roles: ['outbound', 'restUser'],
        status: 'started',
        statusUrl: `${deps.config.publicBaseUrl}/api/integrations/${id}/rotations/${instanceId}`,
      });
      expect(res.headers.get('location')).toBe(body.statusUrl);
      expect(JSON.stringify(body)).not.toMatch(/runtime\/webhooks|code=/);
      await host.durable.waitForIdle();
      expect(inputOf(instanceId)).toMatchObject({ reason: 'on-demand', roles: ['outbound', 'restUser'] });
      expect(inputOf(instanceId).operation).toBe(`rotate-${yyyymmdd(now())}`);

      const again = await post(id);
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ instanceId, status: 'running' });

      const status = await fetch(`${host.baseUrl}/api/integrations/${id}/rotations/${instanceId}`, {
        headers: { 'x-functions-key': host.functionKey },
      });
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({ id, instanceId, runtimeStatus: 'Running' });
      const foreign = await fetch(`${host.baseUrl}/api/integrations/${newId()}/rotations/${instanceId}`, {
        headers: { 'x-functions-key': host.functionKey },
      });
      expect(foreign.status).toBe(404);

      await stop(instanceId);
      const done = await post(id);
      expect(done.status).toBe(200);
      expect(await done.json()).toMatchObject({ instanceId, status: 'completed' });
      expect(rotations(id)).toHaveLength(1);
    });

    it('two concurrent requests start one rotation (202 and 409); all roles when none are named', async () => {
      const id = newId();
      await allRoles(id);
      const answers = await Promise.all([post(id), post(id)]);
      expect(answers.map((r) => r.status).sort()).toEqual([202, 409]);
      await host.durable.waitForIdle();
      expect(rotations(id)).toHaveLength(1);
      expect(inputOf(rotations(id)[0].instanceId).roles).toEqual(['outbound', 'restApi', 'restUser']);
    });

    it('refuses while a sweep rotation (another id) runs, and for an integration that is not active', async () => {
      const id = newId();
      await integration(id, { outbound: await credential(id, 'outbound', 5) });
      await startDueRotations(deps, client, now());
      const sweepInstance = rotations(id)[0]?.instanceId;
      expect(sweepInstance).toBe(rotationInstanceId(id, new Date(now().getTime() - 25 * DAY)));
      const res = await post(id);
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({ instanceId: sweepInstance, status: 'running' });

      const failed = newId();
      await integration(failed, { outbound: await credential(failed, 'outbound', 5) }, 'failed');
      expect((await post(failed)).status).toBe(409);
      expect(rotations(failed)).toHaveLength(0);
    });
  });

  // ---- Event Grid backstop ----

  describe('secretNearExpiry (Event Grid)', () => {
    const handlers = createRotationHandlers({ deps: fixtureDeps });
    const event = (secretName: string, version: string, exp: string) => ({
      id: randomUUID(),
      topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
      subject: secretName,
      eventType: 'Microsoft.KeyVault.SecretNearExpiry',
      eventTime: now().toISOString(),
      data: {
        Id: `https://kv.vault.azure.net/secrets/${secretName}/${version}`,
        VaultName: 'kv',
        ObjectType: 'Secret',
        ObjectName: secretName,
        Version: version,
        NBF: null,
        EXP: Math.floor(Date.parse(exp) / 1000),
      },
      dataVersion: '1',
      metadataVersion: '1',
    });
    async function deliver(e: unknown) {
      const { ctx, lines } = context();
      await handlers.nearExpiry(e as never, durableClient(), ctx);
      await host.durable.waitForIdle();
      return lines.join('\n');
    }

    it('is registered as an Event Grid trigger the local host cannot deliver, so the handler is called directly', () => {
      expect(host.registry.get('secretNearExpiry')).toMatchObject({ kind: 'other', triggerType: 'eventGrid' });
    });

    it('starts the same rotation, under the same id, as the sweep would; the sweep then adds nothing', async () => {
      const id = newId();
      const app = await credential(id, 'outbound', 29);
      await integration(id, { outbound: app });
      const log = await deliver(event(app.secretName, app.secretVersion ?? '', app.expiresOn ?? ''));
      const expected = rotationInstanceId(id, new Date(Date.parse(app.expiresOn ?? '') - 30 * DAY));
      expect(rotations(id).map((s) => s.instanceId)).toEqual([expected]);
      expect(inputOf(expected)).toMatchObject({ reason: 'near-expiry-event', roles: ['outbound'] });
      expect(log).toContain(`rotation started for ${id}`);
      await sweep();
      expect(rotations(id)).toHaveLength(1);
    });

    it('as a backstop rotates before the window, under the id the sweep computes when the window opens', async () => {
      const id = newId();
      const app = await credential(id, 'outbound', 45);
      await integration(id, { outbound: app });
      // CloudEvents schema with lower-case keys.
      await deliver({
        specversion: '1.0',
        type: 'microsoft.keyvault.secretnearexpiry',
        subject: app.secretName,
        data: { objectType: 'secret', objectName: app.secretName, version: app.secretVersion },
      });
      const expected = rotationInstanceId(id, new Date(Date.parse(app.expiresOn ?? '') - 30 * DAY));
      expect(rotations(id).map((s) => s.instanceId)).toEqual([expected]);
      advance(16 * DAY);
      await sweep();
      expect(rotations(id).map((s) => s.instanceId)).toEqual([expected]);
    });

    it('ignores stale versions, untagged secrets, unknown integrations and other events', async () => {
      const id = newId();
      const old = await credential(id, 'outbound', 20);
      advance(60_000);
      const current = await credential(id, 'outbound', 200, { app: old });
      await integration(id, { outbound: current });
      expect(await deliver(event(old.secretName, old.secretVersion ?? '', old.expiresOn ?? ''))).toMatch(
        /ignored: .*not the credential in use/,
      );
      const untagged = `untagged-${randomBytes(4).toString('hex')}`;
      const v = await deps.secrets.setSecret(untagged, CANARY);
      expect(await deliver(event(untagged, v.properties.version ?? '', now().toISOString()))).toMatch(
        /ignored: .*not a credential of an integration/,
      );
      const orphan = newId();
      const o = await credential(orphan, 'outbound', 20);
      expect(await deliver(event(o.secretName, o.secretVersion ?? '', o.expiresOn ?? ''))).toMatch(
        /ignored: .*is not registered/,
      );
      expect(
        await deliver({ eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', subject: 'x', data: {} }),
      ).toMatch(/ignored/);
      for (const i of [id, orphan]) expect(rotations(i)).toHaveLength(0);
    });
  });
});
