/**
 * A seeded fleet for the dashboard tests: one integration per status, a hostile tenant name, health findings, failing
 * checks, a failed rotation, orphans, credentials with expiries, running orchestrations awaiting an approval and a
 * hand-off, and an audit trail. Shared by the unit tests and the browser test (which seeds it into Azurite).
 */
import type { AuditEvent } from '../../src/contracts/fleet';
import type { InstanceSnapshot } from '../../src/dashboard/model';
import type { IntegrationRecord, IntegrationStatus } from '../../src/registry/types';

export const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'"`;
export const NOW = new Date('2031-03-01T12:00:00.000Z');

const hex = (n: number) => n.toString(16).padStart(8, '0');
export const idOf = (n: number) => `sn-dev${String(n).padStart(5, '0')}-${hex(0xa0b0c000 + n)}`;

export function record(
  n: number,
  status: IntegrationStatus,
  extra: Partial<IntegrationRecord> = {},
): IntegrationRecord {
  const id = idOf(n);
  return {
    id,
    profile: 'm365-support-aad',
    tenant: `0000000${n % 10}-1111-2222-3333-444444444444`,
    tenantName: `Tenant ${n}`,
    serviceNowInstance: `dev${String(n).padStart(5, '0')}`,
    status,
    instanceId: `provision-${id}`,
    apps: {
      outbound: {
        appId: `aaaaaaaa-0000-0000-0000-${String(n).padStart(12, '0')}`,
        objectId: `bbbbbbbb-0000-0000-0000-${String(n).padStart(12, '0')}`,
        secretName: `${id}-outbound`,
        secretVersion: `v${n}`,
        keyId: `kkkkkkkk-0000-0000-0000-${String(n).padStart(12, '0')}`,
        expiresOn: new Date(NOW.getTime() + (n * 10 - 5) * 86_400_000).toISOString(),
      },
    },
    serviceNow: { oidcProvider: `sys${n}` },
    checks: [],
    createdAt: '2031-01-01T00:00:00.000Z',
    updatedAt: '2031-02-01T00:00:00.000Z',
    ...extra,
  };
}

/** The seeded fleet: every status once (10 rows), the first one with a hostile tenant name and drift. */
export function fleet(): IntegrationRecord[] {
  return [
    record(1, 'active', {
      tenantName: HOSTILE,
      health: {
        checkedAt: '2031-03-01T02:00:00.000Z',
        instanceId: 'health-20310301',
        ok: false,
        lastGoodAt: '2031-02-28T02:00:00.000Z',
        findings: [
          {
            kind: 'record-drift',
            subject: 'record:oidcProvider:client_id',
            detail: `client_id was edited to ${HOSTILE}`,
            repairable: true,
          },
          {
            kind: 'unknown-credential',
            subject: 'credential:outbound:1234',
            detail: 'a hand-added secret',
            repairable: false,
          },
        ],
      },
    }),
    record(2, 'provisioning'),
    record(3, 'awaiting-approval', { approvers: ['alice@contoso.com', 'bob@contoso.com'] }),
    record(4, 'checking'),
    record(5, 'failed', {
      lastRun: {
        instanceId: `provision-${idOf(5)}`,
        outcome: 'failed',
        at: '2031-02-02T00:00:00.000Z',
        error: 'Graph 403',
      },
      checks: [
        {
          name: 'outbound-token',
          ok: false,
          detail: 'AADSTS7000215',
          hint: 'the secret is wrong',
          at: '2031-02-02T00:00:00.000Z',
        },
      ],
    }),
    record(6, 'rejected'),
    record(7, 'expired'),
    record(8, 'rolled-back', {
      lastRotation: {
        instanceId: `rotate-${idOf(8)}-20310201`,
        outcome: 'rolled-back',
        at: '2031-02-01T00:00:00.000Z',
        error: 'verify failed',
      },
    }),
    record(9, 'decommissioning', {
      decommission: {
        instanceId: `decommission-${idOf(9)}`,
        requestedBy: 'carol@contoso.com',
        at: '2031-02-20T00:00:00.000Z',
      },
    }),
    record(10, 'decommissioned', {
      decommission: {
        instanceId: `decommission-${idOf(10)}`,
        at: '2031-02-21T00:00:00.000Z',
        outcome: 'decommissioned',
      },
    }),
    record(11, 'active', {
      health: { checkedAt: '2031-03-01T02:00:00.000Z', instanceId: 'health-20310301', ok: true, findings: [] },
    }),
  ];
}

/** Running orchestrations: #3 awaits its approval round, #11 a rotation hand-off, #2 runs a step. */
export function running(): InstanceSnapshot[] {
  return [
    {
      instanceId: `provision-${idOf(3)}`,
      runtimeStatus: 'Running',
      customStatus: {
        integrationId: idOf(3),
        step: 'awaiting-approval',
        steps: [
          { name: 'preflight', at: '2031-02-28T10:00:00.000Z' },
          { name: 'entra-apps', at: '2031-02-28T10:01:00.000Z' },
          { name: 'awaiting-approval', at: '2031-02-28T10:05:00.000Z' },
        ],
        awaiting: {
          approvers: ['alice@contoso.com', 'bob@contoso.com'],
          since: '2031-02-28T10:05:00.000Z',
          deadline: '2031-03-03T10:05:00.000Z',
          reminders: 1,
          quorum: 2,
          approvedBy: ['alice@contoso.com'],
        },
        manualActions: [
          { title: 'Guided setup', actor: 'ServiceNow admin', steps: [{ label: 'x', value: 'kv-name' }] },
        ],
        checks: [],
        counts: { apps: 3, secrets: 3, records: 5, created: 11 },
        orphans: [],
      },
    },
    {
      instanceId: `rotate-${idOf(11)}-20310310`,
      runtimeStatus: 'Running',
      customStatus: {
        integrationId: idOf(11),
        step: 'handoff',
        steps: [
          { name: 'inspect', at: '2031-03-01T02:00:00.000Z' },
          { name: 'handoff', at: '2031-03-01T02:10:00.000Z' },
        ],
        rotated: [],
        confirmed: {},
        awaiting: {
          role: 'outbound',
          approvers: ['dave@contoso.com'],
          deadline: '2031-03-08T02:10:00.000Z',
          reminders: 0,
        },
        orphans: [],
      },
    },
    {
      instanceId: `provision-${idOf(2)}`,
      runtimeStatus: 'Running',
      customStatus: {
        integrationId: idOf(2),
        step: 'entra-apps',
        steps: [{ name: 'preflight', at: '2031-03-01T11:00:00.000Z' }],
      },
    },
  ];
}

export function auditTrail(): AuditEvent[] {
  return [
    {
      kind: 'requested',
      at: '2031-01-01T00:00:00.000Z',
      actor: 'requester@contoso.com',
      instanceId: `provision-${idOf(1)}`,
    },
    {
      kind: 'approval-requested',
      at: '2031-01-01T00:05:00.000Z',
      actor: 'system',
      round: 0,
      detail: 'mailed 2 approvers',
    },
    {
      kind: 'approved',
      at: '2031-01-01T01:00:00.000Z',
      actor: 'alice@contoso.com',
      planDigest: 'abc123',
      tokenId: 't1',
    },
    { kind: 'activated', at: '2031-01-01T01:02:00.000Z', actor: 'system' },
    {
      kind: 'drift-found',
      at: '2031-03-01T02:00:00.000Z',
      actor: 'system',
      detail: `client_id edited: ${HOSTILE}`,
      data: { subject: 'record:oidcProvider:client_id', repairable: true },
    },
  ];
}
