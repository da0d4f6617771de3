/**
 * checkIntegrationHealth on the local durable engine with stub activities over a small fake world (registry row,
 * ServiceNow record values, role grants, app credentials): findings per drift kind, `drift-found` once per new
 * subject across daily runs, `drift-cleared` when it goes, credentials of a rotation in flight never flagged, the
 * check calls only read-only activities, and `repair` re-runs provisioning (a sub-orchestration, silent with the
 * approved plan) and records what cleared.
 */
import type { AuditEvent, HealthState } from '../../src/contracts/fleet';
import type { HealthInput, HealthResult, ObservedCredential } from '../../src/contracts/health';
import { APPROVAL_EVENT } from '../../src/contracts/provision';
import { HEALTH_ORCHESTRATOR } from '../../src/orchestrators/check-health';
import { PROVISION_ORCHESTRATOR, type ProvisionStatus } from '../../src/orchestrators/provision-types';
import {
  appIdOf,
  decision,
  objectIdOf,
  PROVISION_ID,
  provisionInput,
  provisionStubs,
  ROLES,
  secretNameOf,
  SERVICENOW_SYS_IDS,
} from './fixtures';
import { expectReplaySafe, OrchestratorHarness, type Stubs } from './harness';

const USER = appIdOf('restUser');
const GRANT = `grant:${USER}:incident_manager`;
const spOf = (role: string) => `sp-${role}`;

interface World {
  drift: Record<string, Record<string, string>>;
  deleted: Set<string>;
  roles: Record<string, string[]>;
  credentials: Record<string, ObservedCredential[]>;
  vaultKeyIds: Record<string, string[]>;
  health?: HealthState;
  audit: AuditEvent[];
  instanceId: string;
  /** The times alerts were evaluated (once per check, after its findings were recorded). */
  alertsRaised: string[];
}

function newWorld(): World {
  return {
    drift: {},
    deleted: new Set(),
    roles: { [USER]: ['incident_manager'] },
    credentials: Object.fromEntries(
      ROLES.map((r) => [r, [{ keyId: `key-provision-${r}`, type: 'password' as const }]]),
    ),
    vaultKeyIds: Object.fromEntries(ROLES.map((r) => [r, [`key-provision-${r}`]])),
    audit: [],
    instanceId: PROVISION_ID,
    alertsRaised: [],
  };
}

/** Only these activities may run in a check (no write towards Entra, Key Vault or ServiceNow). */
const READ_ONLY = [
  'readIntegration',
  'preflight',
  'inspectEntra',
  'inspectServiceNow',
  'runChecks',
  'updateRegistry',
  'raiseAlerts',
];

function stubs(w: World, over: Stubs = {}): Stubs {
  return {
    ...provisionStubs({
      ensureServiceNowRecord: (i) => {
        delete w.drift[i.key];
        w.deleted.delete(i.key);
        return {
          ok: true,
          key: i.key,
          table: i.table,
          sysId: SERVICENOW_SYS_IDS[i.key],
          created: false,
          mismatches: [],
        };
      },
      ensureRoleGrant: (i) => {
        w.roles[i.userName] = [...new Set([...(w.roles[i.userName] ?? []), i.role])];
        return { ok: true, userName: i.userName, role: i.role, sysId: 'sys-grant', created: false };
      },
    }),
    readIntegration: () => ({
      found: true,
      status: 'active',
      apps: Object.fromEntries(
        ROLES.map((r) => [
          r,
          {
            appId: appIdOf(r),
            objectId: objectIdOf(r),
            secretName: secretNameOf(r),
            secretVersion: `v-provision-${r}`,
            keyId: `key-provision-${r}`,
          },
        ]),
      ),
      serviceNow: { ...SERVICENOW_SYS_IDS, [GRANT]: 'sys-grant' },
      previous: w.health?.findings ?? [],
      ...(w.health?.lastGoodAt ? { lastGoodAt: w.health.lastGoodAt } : {}),
      instanceId: w.instanceId,
      runs: 1,
    }),
    inspectEntra: (i) => ({
      apps: i.apps.map((a) => ({
        role: a.role,
        exists: true,
        appId: a.appId,
        servicePrincipalId: spOf(a.role),
        credentials: w.credentials[a.role] ?? [],
        ownKeyIds: [...(a.keyId ? [a.keyId] : []), ...(w.vaultKeyIds[a.role] ?? [])],
        secret: { name: a.secretName ?? '', version: a.secretVersion ?? '', found: true, enabled: true },
      })),
    }),
    inspectServiceNow: (i) => ({
      records: i.records.map((r) =>
        w.deleted.has(r.key)
          ? { key: r.key, found: false, values: {} }
          : { key: r.key, found: true, values: { ...r.fields, ...(w.drift[r.key] ?? {}) } },
      ),
      roles: Object.fromEntries(
        [...new Set([...i.grants.map((g) => g.userName), ...i.ownUsers])].map((u) => [u, w.roles[u] ?? []]),
      ),
      missingUsers: [],
    }),
    runChecks: (i) => i.checks.map((c) => ({ name: c.kind, ok: true, detail: 'ok' })),
    updateRegistry: (u) => {
      if (u.health) w.health = u.health;
      w.audit.push(...(u.audit ?? []));
      return undefined;
    },
    beginRepairRun: (i) => {
      w.instanceId = i.instanceId;
      return { started: true };
    },
    raiseAlerts: (i) => {
      w.alertsRaised.push(i.at);
      return { integrationId: i.integrationId, found: false };
    },
    ...over,
  };
}

const healthInput = (instanceId: string, over: Partial<HealthInput> = {}): HealthInput => ({
  ref: { ...provisionInput().ref, instanceId },
  provision: provisionInput(),
  repair: false,
  reason: 'daily',
  ...over,
});

async function check(h: OrchestratorHarness, instanceId: string, over: Partial<HealthInput> = {}) {
  h.start(HEALTH_ORCHESTRATOR, instanceId, healthInput(instanceId, over));
  const end = await h.runToEnd(instanceId);
  expect(end.runtimeStatus).toBe('Completed');
  return end.output as HealthResult;
}

const kinds = (w: World, kind: string) =>
  w.audit.filter((e) => e.kind === kind).map((e) => String(e.data?.subject ?? e.kind));

describe('checkIntegrationHealth', () => {
  it('finds nothing on an untouched integration, calls only read-only activities and records lastGoodAt', async () => {
    const w = newWorld();
    const h = new OrchestratorHarness(stubs(w));
    const r = await check(h, 'health-a-20250101');
    expect(r).toMatchObject({ ok: true, findings: [], found: [], cleared: [] });
    expect(new Set(h.sequence())).toEqual(new Set(READ_ONLY));
    // Alerts are evaluated once, last, after the registry holds the findings.
    expect(h.sequence().at(-1)).toBe('raiseAlerts');
    expect(w.alertsRaised).toHaveLength(1);
    expect(w.health).toMatchObject({ ok: true, instanceId: 'health-a-20250101', findings: [] });
    expect(w.health?.lastGoodAt).toBe(w.health?.checkedAt);
    expect(w.audit.map((e) => e.kind)).toEqual(['health-checked']);
    // The approved values are rendered as provisioning renders them (ids that exist now, the approved fields).
    const asked = h.inputsOf('inspectServiceNow')[0];
    expect(asked.records.find((x) => x.key === 'integrationUser')?.fields).toMatchObject({
      user_name: USER,
      active: 'true',
      locked_out: 'false',
    });
    expect(asked.records.find((x) => x.key === 'outboundProvider')?.fields).not.toHaveProperty('client_secret');
    expect(asked.grants).toEqual([{ userName: USER, role: 'incident_manager' }]);
    expect(asked.ownUsers).toEqual([USER]);
    // The coarse records check is not re-run: records are compared column by column.
    expect(h.inputsOf('runChecks')[0].checks.map((c) => c.kind)).not.toContain('recordsConsistent');
    await expectReplaySafe(h, HEALTH_ORCHESTRATOR, 'health-a-20250101');
  });

  it('records drift-found once per new subject across days, and drift-cleared when it goes', async () => {
    const w = newWorld();
    const h = new OrchestratorHarness(stubs(w));
    w.drift.oidcProvider = { user_claim: 'sub' };
    w.drift.integrationUser = { active: 'false' };
    w.deleted.add('outboundProfile');
    w.roles[USER] = ['itil'];
    w.credentials.outbound.push({ keyId: 'HAND-ADDED', type: 'password', displayName: 'by hand' });
    const day1 = await check(h, 'health-a-20250101');
    const expected = [
      'credential:outbound:hand-added',
      GRANT,
      `grant-added:${USER}:itil`,
      'record:integrationUser:active',
      'record:oidcProvider:user_claim',
      'record:outboundProfile',
    ].sort();
    expect(day1.findings.map((f) => f.subject)).toEqual(expected);
    expect(day1.found).toEqual(expected);
    expect(kinds(w, 'drift-found')).toEqual(expected);
    expect(w.health?.lastGoodAt).toBeUndefined();

    const day2 = await check(h, 'health-a-20250102');
    expect(day2.found).toEqual([]);
    expect(kinds(w, 'drift-found')).toEqual(expected);
    expect(kinds(w, 'health-checked')).toHaveLength(2);

    delete w.drift.oidcProvider;
    const day3 = await check(h, 'health-a-20250103');
    expect(day3.cleared).toEqual(['record:oidcProvider:user_claim']);
    expect(kinds(w, 'drift-cleared')).toEqual(['record:oidcProvider:user_claim']);
    expect(kinds(w, 'drift-found')).toEqual(expected);
  });

  it('never flags the two keys of a rotation in flight; flags a key nobody recorded, an expired or missing one', async () => {
    const w = newWorld();
    // Mid-rotation: the new key is on the app and tagged on the new Key Vault version; the registry names the old one.
    w.credentials.outbound.push({ keyId: 'key-rotate-outbound', type: 'password' });
    w.vaultKeyIds.outbound.push('key-rotate-outbound');
    const h = new OrchestratorHarness(stubs(w));
    expect((await check(h, 'health-a-20250101')).findings).toEqual([]);

    w.credentials.restApi.push({ keyId: 'cert-1', type: 'key' });
    w.credentials.restUser = [
      { keyId: 'key-provision-restUser', type: 'password', endDateTime: '2024-12-31T00:00:00Z' },
    ];
    w.credentials.outbound = w.credentials.outbound.filter((c) => c.keyId !== 'key-provision-outbound');
    const r = await check(h, 'health-a-20250102');
    expect(r.findings.map((f) => [f.kind, f.subject])).toEqual(
      [
        ['unknown-credential', 'credential:restApi:cert-1'],
        ['credential-expired', 'credential-expired:restUser:key-provision-restuser'],
        ['credential-missing', 'credential-missing:outbound:key-provision-outbound'],
      ].sort((a, b) => (a[1] < b[1] ? -1 : 1)),
    );
    expect(r.findings.every((f) => !f.repairable)).toBe(true);
  });

  it('repairs through a silent re-provisioning run and records what cleared', async () => {
    const w = newWorld();
    const h = new OrchestratorHarness(stubs(w));
    // The integration's first provisioning, approved: its plan digest is what the registry recorded.
    h.start(PROVISION_ORCHESTRATOR, PROVISION_ID, provisionInput());
    await h.idle();
    expect(h.engine.waitingFor(PROVISION_ID)).toEqual([APPROVAL_EVENT]);
    const digest = h.custom<ProvisionStatus>(PROVISION_ID).plan!.digest;
    await h.raise(PROVISION_ID, APPROVAL_EVENT, decision(digest));
    expect(((await h.runToEnd(PROVISION_ID)).output as ProvisionStatus).outcome).toBe('active');
    w.audit.length = 0;

    w.drift.oidcProvider = { user_claim: 'sub' };
    w.deleted.add('outboundProfile');
    w.roles[USER] = [];
    w.credentials.outbound.push({ keyId: 'hand-added', type: 'password' });
    const repairInput = {
      ...provisionInput(),
      ref: { ...provisionInput().ref, instanceId: `provision-${PROVISION_ID}-r2` },
      approved: { approver: 'approver@contoso.onmicrosoft.com', at: '2025-01-01T00:00:00.000Z', planDigest: digest },
      appliedDigest: digest,
      liveStatus: 'active',
    };
    const before = h.calls.length;
    const r = await check(h, 'health-a-20250102', {
      repair: true,
      reason: 'on-demand',
      repairRun: { input: repairInput, run: 2, expectInstanceId: PROVISION_ID },
    });
    expect(r.repair).toMatchObject({ instanceId: `provision-${PROVISION_ID}-r2`, outcome: 'active' });
    expect(r.findings.map((f) => f.subject)).toEqual(['credential:outbound:hand-added']);
    expect(kinds(w, 'drift-cleared').sort()).toEqual(
      [GRANT, 'record:oidcProvider:user_claim', 'record:outboundProfile'].sort(),
    );
    expect(w.audit.filter((e) => e.kind === 'repaired')).toHaveLength(1);
    // The re-provisioning ran silently with the approved plan (no approval round), and only after the check.
    const calls = h.calls.slice(before).map((c) => c.name);
    expect(calls).not.toContain('sendApprovalRequests');
    expect(calls.indexOf('beginRepairRun')).toBeGreaterThan(calls.indexOf('updateRegistry'));
    expect(h.status(`provision-${PROVISION_ID}-r2`).runtimeStatus).toBe('Completed');
    expect((h.status(`provision-${PROVISION_ID}-r2`).output as ProvisionStatus).plan?.mode).toBe('silent');
    // The hand-added credential is reported, never removed.
    expect(calls).not.toContain('compensate');
  });

  it('does not repair when nothing repairable was found', async () => {
    const w = newWorld();
    w.credentials.outbound.push({ keyId: 'hand-added', type: 'password' });
    const h = new OrchestratorHarness(stubs(w));
    const r = await check(h, 'health-a-20250101', {
      repair: true,
      repairRun: { input: provisionInput(), run: 2, expectInstanceId: PROVISION_ID },
    });
    expect(r.repair).toBeUndefined();
    expect(h.sequence()).not.toContain('beginRepairRun');
  });

  it('does not re-provision when another run took the integration since the request', async () => {
    const w = newWorld();
    w.deleted.add('outboundProfile');
    const h = new OrchestratorHarness(
      stubs(w, {
        beginRepairRun: () => ({ started: false, reason: 'run provision-x-r3 (active) holds the integration' }),
      }),
    );
    const r = await check(h, 'health-a-20250101', {
      repair: true,
      repairRun: { input: provisionInput(), run: 2, expectInstanceId: PROVISION_ID },
    });
    expect(r.repair?.outcome).toMatch(/^not started: run provision-x-r3/);
    expect(h.sequence()).not.toContain('ensureServiceNowRecord');
    expect(w.audit.map((e) => e.kind)).not.toContain('repaired');
  });

  it('finds an IP allow rule the integration holds gone (only when the plan has the allow-list)', async () => {
    const w = newWorld();
    w.deleted.add('ip:203.0.113.7');
    const base = stubs(w);
    const read = base.readIntegration!;
    const h = new OrchestratorHarness({
      ...base,
      readIntegration: async (i) => {
        const snap = await read(i);
        return { ...snap, serviceNow: { ...snap.serviceNow, 'ip:203.0.113.7': 'sys-ip' } };
      },
    });
    const withList = provisionInput({ options: { testEnvironment: false, ipAllowlist: true, grantUsers: [] } });
    const r = await check(h, 'health-a-20250101', { provision: withList });
    expect(r.findings).toMatchObject([{ kind: 'record-missing', subject: 'record:ip:203.0.113.7', repairable: true }]);
    expect((await check(h, 'health-a-20250102')).findings).toEqual([]);
  });

  it('completes when the alert evaluation fails (the hourly alert sweep tries again)', async () => {
    const w = newWorld();
    w.drift.oidcProvider = { user_claim: 'sub' };
    const h = new OrchestratorHarness(
      stubs(w, {
        raiseAlerts: () => {
          throw new Error('Graph sendMail answered 503');
        },
      }),
    );
    const r = await check(h, 'health-a-20250104');
    expect(r.ok).toBe(false);
    expect(r.alertError).toMatch(/503/);
    expect(w.health?.findings.length).toBeGreaterThan(0);
  });

  it('keeps the earlier findings when a service does not answer, and clears nothing', async () => {
    const w = newWorld();
    w.drift.oidcProvider = { user_claim: 'sub' };
    const h = new OrchestratorHarness(stubs(w));
    await check(h, 'health-a-20250101');
    const h2 = new OrchestratorHarness(
      stubs(w, {
        inspectServiceNow: () => {
          throw new Error('ServiceNow answered 503');
        },
      }),
    );
    const r = await check(h2, 'health-a-20250102');
    expect(r.findings.map((f) => f.subject)).toEqual(['check:inspection', 'record:oidcProvider:user_claim']);
    expect(r.cleared).toEqual([]);
    expect(kinds(w, 'drift-cleared')).toEqual([]);
  });
});
