/**
 * Unit tests of alert condition derivation (src/alerts/conditions.ts): which registry state raises which condition,
 * which credentials need people, and the expiry stage selection.
 */
import { deriveConditions, expiryStage, rolesNeedingPeople, type AlertPolicy } from '../../src/alerts/conditions';
import type { HealthFinding } from '../../src/contracts/fleet';
import { getProfile } from '../../src/profiles';
import type { IntegrationRecord } from '../../src/registry/types';

const NOW = new Date('2026-03-01T12:00:00Z');
const DAY = 24 * 3600_000;
const POLICY: AlertPolicy = { expiryStagesDays: [30, 14, 7, 1], overdueMinutes: 1440 };
const m365 = getProfile('m365-support-aad')!;
const spoke = getProfile('entra-id-spoke')!;
const copilot = getProfile('copilot-servicenow-federated')!;

const iso = (ms: number) => new Date(ms).toISOString();
const app = (role: string, expiresInDays: number) => ({
  appId: `app-${role}`,
  objectId: `obj-${role}`,
  secretName: `secret-${role}`,
  secretVersion: `v-${role}`,
  keyId: `key-${role}`,
  expiresOn: iso(NOW.getTime() + expiresInDays * DAY),
});

function record(overrides: Partial<IntegrationRecord> = {}): IntegrationRecord {
  return {
    id: 'sn-dev1-abc',
    profile: 'm365-support-aad',
    tenant: '00000000-0000-0000-0000-000000000001',
    tenantName: 'Contoso',
    serviceNowInstance: 'dev1',
    status: 'active',
    instanceId: 'provision-sn-dev1-abc',
    approvers: ['approver@contoso.com'],
    apps: { outbound: app('outbound', 100), restApi: app('restApi', 100), restUser: app('restUser', 100) },
    serviceNow: { outboundProvider: 'sys1', oidcEntity: 'sys2' },
    checks: [],
    createdAt: iso(NOW.getTime() - 90 * DAY),
    updatedAt: iso(NOW.getTime() - DAY),
    ...overrides,
  };
}

const kinds = (r: IntegrationRecord, durable?: Parameters<typeof deriveConditions>[4]) =>
  deriveConditions(r, getProfile(r.profile), NOW, POLICY, durable).map((c) => c.kind);

describe('expiryStage', () => {
  it.each([
    [45, undefined],
    [30.5, undefined],
    [30, 30],
    [20, 30],
    [14.01, 30],
    [14, 14],
    [10, 14],
    [7, 7],
    [3, 7],
    [1, 1],
    [0.5, 1],
    [0, 0],
    [-3, 0],
  ])('%p days left → stage %p', (days, stage) => {
    expect(expiryStage(days, [30, 14, 7, 1])).toBe(stage);
  });

  it('uses the configured stages, whatever they are', () => {
    expect(expiryStage(50, [60, 3])).toBe(60);
    expect(expiryStage(2, [60, 3])).toBe(3);
    expect(expiryStage(5, [3])).toBeUndefined();
  });
});

describe('rolesNeedingPeople', () => {
  it('lists the roles with a manual consumer (m365: restApi and restUser, not outbound)', () => {
    expect(rolesNeedingPeople(m365, record()).map((r) => r.role)).toEqual(['restApi', 'restUser']);
    expect(rolesNeedingPeople(m365, record())[0].reason).toMatch(/Microsoft 365 admin center/);
  });

  it('lists a role whose ServiceNow consumer record is not registered (rotation cannot switch it)', () => {
    const r = record({ serviceNow: { oidcEntity: 'sys2' } }); // outboundProvider made by hand
    expect(rolesNeedingPeople(m365, r)).toEqual(
      expect.arrayContaining([
        { role: 'outbound', reason: expect.stringMatching(/outboundProvider is not registered/) as unknown },
      ]),
    );
  });

  it('lists nothing for a profile rotated through the API only, or without secrets', () => {
    expect(rolesNeedingPeople(spoke, { serviceNow: { provider: 'sys9' } })).toEqual([]);
    expect(rolesNeedingPeople(copilot, { serviceNow: {} })).toEqual([]);
  });
});

describe('deriveConditions', () => {
  it('finds nothing wrong with a healthy integration', () => {
    expect(kinds(record())).toEqual([]);
  });

  it('raises rotation-failed for a failed or rolled-back last rotation, not for a successful one', () => {
    const last = { instanceId: 'rotate-sn-dev1-abc-20260301', at: iso(NOW.getTime()), error: 'no token' };
    expect(kinds(record({ lastRotation: { ...last, outcome: 'rolled-back' } }))).toEqual(['rotation-failed']);
    expect(kinds(record({ lastRotation: { ...last, outcome: 'failed' } }))).toEqual(['rotation-failed']);
    expect(kinds(record({ lastRotation: { ...last, outcome: 'rotated' } }))).toEqual([]);
    const [c] = deriveConditions(record({ lastRotation: { ...last, outcome: 'rolled-back' } }), m365, NOW, POLICY);
    expect(c).toMatchObject({ key: 'rotation-failed:rotation', details: ['no token'] });
  });

  it('raises check-failed and drift from the health findings, one condition each', () => {
    const finding = (kind: HealthFinding['kind'], subject: string): HealthFinding => ({
      kind,
      subject,
      detail: `${kind} on ${subject}`,
      repairable: kind !== 'check-failed',
    });
    const r = record({
      health: {
        checkedAt: iso(NOW.getTime()),
        instanceId: 'health-1',
        ok: false,
        findings: [
          finding('check-failed', 'check:outboundToken'),
          finding('record-drift', 'record:oidcProvider:client_id'),
          finding('grant-removed', 'grant:incident_manager'),
        ],
      },
    });
    const cs = deriveConditions(r, m365, NOW, POLICY);
    expect(cs.map((c) => c.key)).toEqual(['check-failed:health', 'drift:health']);
    expect(cs[1].details).toHaveLength(2);
    expect(
      kinds(record({ health: { checkedAt: iso(NOW.getTime()), instanceId: 'h', ok: true, findings: [] } })),
    ).toEqual([]);
  });

  it('raises credential-expiring at a stage only for the credentials people must rotate', () => {
    const r = record({
      apps: { outbound: app('outbound', 5), restApi: app('restApi', 10), restUser: app('restUser', 40) },
    });
    const cs = deriveConditions(r, m365, NOW, POLICY);
    // outbound rotates by itself (not alerted); restUser is not within the first stage yet.
    expect(cs.map((c) => [c.key, c.stage])).toEqual([['credential-expiring:restApi:key-restApi', 14]]);
    expect(cs[0].summary).toMatch(/restApi expires on 2026-03-11/);
    // An expired one is stage 0.
    const expired = deriveConditions(record({ apps: { ...r.apps, restApi: app('restApi', -1) } }), m365, NOW, POLICY);
    expect(expired.map((c) => c.stage)).toEqual([0]);
  });

  it('raises approval-overdue and handoff-overdue only past the configured age, and only with durable facts', () => {
    const since = (minutesAgo: number) => iso(NOW.getTime() - minutesAgo * 60_000);
    const facts = (age: number) => ({
      approval: { instanceId: 'provision-x', since: since(age), approvers: ['a@contoso.com'] },
      handoff: { instanceId: 'rotate-x-20260301', since: since(age), roles: 'restUser' },
    });
    expect(kinds(record(), facts(1441))).toEqual(['approval-overdue', 'handoff-overdue']);
    expect(kinds(record(), facts(1439))).toEqual([]);
    expect(kinds(record())).toEqual([]);
  });

  it('raises orphans only for those older than a day', () => {
    const orphan = (hoursAgo: number) => ({
      object: { kind: 'record' as const, key: 'oidcEntity', table: 'oauth_entity', sysId: `sys-${hoursAgo}` },
      reason: 'HTTP 503',
      instanceId: 'provision-old',
      since: iso(NOW.getTime() - hoursAgo * 3600_000),
    });
    expect(kinds(record({ orphans: [orphan(2)] }))).toEqual([]);
    const cs = deriveConditions(record({ orphans: [orphan(2), orphan(30)] }), m365, NOW, POLICY);
    expect(cs.map((c) => c.key)).toEqual(['orphans:orphans']);
    expect(cs[0].details).toEqual([expect.stringContaining('sys-30')]);
  });

  it('raises nothing for a decommissioned integration', () => {
    expect(
      kinds(
        record({
          status: 'decommissioned',
          lastRotation: { instanceId: 'r', outcome: 'failed', at: iso(NOW.getTime()) },
        }),
      ),
    ).toEqual([]);
  });
});
