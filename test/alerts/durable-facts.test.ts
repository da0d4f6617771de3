/**
 * Unit tests of reading the overdue facts through the durable client (src/alerts/evaluate.ts durableFacts): the
 * provisioning instance's `awaiting` custom status and the running rotation's hand-off wait, with a client that
 * answers like durable-functions' DurableClient (getStatus rejects with "HTTP 404" for an unknown instance).
 */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';

import { deriveConditions } from '../../src/alerts/conditions';
import { durableFacts } from '../../src/alerts/evaluate';
import { getProfile } from '../../src/profiles';
import type { IntegrationRecord } from '../../src/registry/types';

const NOW = new Date('2026-03-01T12:00:00Z');
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000).toISOString();

function client(statuses: Record<string, Partial<DurableOrchestrationStatus>>): DurableClient {
  return {
    getStatus: (id: string) =>
      statuses[id]
        ? Promise.resolve({ instanceId: id, ...statuses[id] } as DurableOrchestrationStatus)
        : Promise.reject(new Error(`DurableClient error: Durable Functions extension replied with HTTP 404 response.`)),
    getStatusBy: () =>
      Promise.resolve(
        Object.entries(statuses)
          .filter(([, s]) => String(s.runtimeStatus) === 'Running')
          .map(([id, s]) => ({ instanceId: id, ...s }) as DurableOrchestrationStatus),
      ),
  } as unknown as DurableClient;
}

const record = {
  id: 'sn-dev1-abc',
  profile: 'm365-support-aad',
  status: 'active',
  instanceId: 'provision-sn-dev1-abc',
  apps: {},
  serviceNow: {},
} as unknown as IntegrationRecord;

describe('durableFacts', () => {
  it('reads the approval wait of the provisioning instance and the hand-off wait of the running rotation', async () => {
    const facts = await durableFacts(
      client({
        'provision-sn-dev1-abc': {
          runtimeStatus: 'Running' as never,
          customStatus: {
            step: 'awaiting-approval',
            awaiting: { since: ago(2000), deadline: ago(-100), approvers: ['a@x.com'] },
          },
        },
        'rotate-sn-dev1-abc-20260227': {
          runtimeStatus: 'Running' as never,
          customStatus: {
            step: 'handoff',
            steps: [
              { name: 'inspect', at: ago(3000) },
              { name: 'handoff', at: ago(2900) },
            ],
            awaiting: { role: 'restApi,restUser', approvers: ['a@x.com'], deadline: ago(-7000), reminders: 2 },
          },
        },
      }),
      record,
    );
    expect(facts).toEqual({
      approval: { instanceId: 'provision-sn-dev1-abc', since: ago(2000), deadline: ago(-100), approvers: ['a@x.com'] },
      handoff: {
        instanceId: 'rotate-sn-dev1-abc-20260227',
        since: ago(2900),
        roles: 'restApi,restUser',
        deadline: ago(-7000),
      },
    });
    const kinds = deriveConditions(
      record,
      getProfile('m365-support-aad'),
      NOW,
      { expiryStagesDays: [30], overdueMinutes: 1440 },
      facts,
    ).map((c) => c.key);
    expect(kinds).toEqual(['approval-overdue:provision-sn-dev1-abc', 'handoff-overdue:rotate-sn-dev1-abc-20260227']);
  });

  it('reads the approval wait of a decommissioning (its own instance), so an overdue decommissioning approval alerts', async () => {
    const decommissioning = {
      ...record,
      status: 'decommissioning',
      decommission: { instanceId: 'decommission-sn-dev1-abc', at: ago(3000), previousStatus: 'active' },
    } as unknown as IntegrationRecord;
    const facts = await durableFacts(
      client({
        'provision-sn-dev1-abc': { runtimeStatus: 'Completed' as never, customStatus: { step: 'active' } },
        'decommission-sn-dev1-abc': {
          runtimeStatus: 'Running' as never,
          customStatus: {
            step: 'awaiting-approval',
            awaiting: { since: ago(2000), deadline: ago(-100), approvers: ['a@x.com'] },
          },
        },
      }),
      decommissioning,
    );
    expect(facts.approval?.instanceId).toBe('decommission-sn-dev1-abc');
    const conditions = deriveConditions(
      decommissioning,
      getProfile('m365-support-aad'),
      NOW,
      { expiryStagesDays: [30], overdueMinutes: 1440 },
      facts,
    );
    expect(conditions.filter((c) => c.kind === 'approval-overdue').map((c) => c.summary)).toEqual([
      `Decommissioning decommission-sn-dev1-abc has waited for approval since ${ago(2000)}.`,
    ]);
  });

  it('finds nothing when no instance waits (unknown, completed, or running without a wait)', async () => {
    expect(await durableFacts(client({}), record)).toEqual({});
    expect(
      await durableFacts(
        client({
          'provision-sn-dev1-abc': {
            runtimeStatus: 'Completed' as never,
            customStatus: { awaiting: { since: ago(5000), deadline: ago(1), approvers: [] } },
          },
          'rotate-sn-dev1-abc-20260227': {
            runtimeStatus: 'Running' as never,
            customStatus: { step: 'verify:restApi', steps: [] },
          },
        }),
        record,
      ),
    ).toEqual({});
  });
});
