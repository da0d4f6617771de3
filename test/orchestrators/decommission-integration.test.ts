/**
 * decommissionIntegration's decisions, on the local durable engine with stub activities (./harness.ts): the plan is
 * asked for through the shared approval gate (a decommissioning plan, bound to its digest), approval removes exactly
 * the planned objects through `compensate` and ends `decommissioned` with audit events per removed object, rejection
 * and the deadline remove nothing and restore the previous status, a removal that keeps failing is recorded as
 * orphans, a failed plan restores the status. Each run is replay-safe.
 */
import type { DecommissionPlan } from '../../src/contracts/decommission';
import { APPROVAL_EVENT, type ApprovalPlan, type CreatedObject } from '../../src/contracts/provision';
import {
  DECOMMISSION_ORCHESTRATOR,
  decommissionInstanceId,
  type DecommissionInput,
  type DecommissionStatus,
} from '../../src/orchestrators/decommission-types';
import { APPROVER, decision, PROVISION_ID, provisionStubs, SECOND_APPROVER } from './fixtures';
import { DAY, expectReplaySafe, OrchestratorHarness, START, type Stubs } from './harness';

const ID = decommissionInstanceId(PROVISION_ID);
const REQUESTER = 'requester@contoso.onmicrosoft.com';

const REMOVE: CreatedObject[] = [
  { kind: 'record', key: 'oidcEntity', table: 'oauth_entity', sysId: 'sys-oidc', retire: true },
  { kind: 'record', key: 'privilege', table: 'sys_scope_privilege', sysId: 'sys-priv', shared: true, retire: true },
  { kind: 'secret', role: 'outbound', secretName: `${PROVISION_ID}-outbound`, appObjectId: 'obj-1', retire: true },
  { kind: 'app', role: 'outbound', objectId: 'obj-1', appId: 'app-1', retire: true },
];

const SUMMARY: ApprovalPlan = {
  integrationId: PROVISION_ID,
  profile: { id: 'm365-support-aad', title: 'Microsoft 365 support' },
  tenant: { id: 'tenant', name: 'Contoso' },
  serviceNow: { instance: 'dev12345', url: 'https://dev12345.service-now.com' },
  apps: [],
  trust: [],
  records: [],
  roleGrants: [],
  privileges: [],
  ipRules: [],
  manualSteps: [],
  requestedBy: [REQUESTER],
  decommission: { remove: ['a', 'b'], keep: ['c: person'] },
};

const PLAN: DecommissionPlan = { remove: REMOVE, keep: [{ what: 'c', reason: 'person' }], summary: SUMMARY };

function input(over: Partial<DecommissionInput> = {}): DecommissionInput {
  return {
    ref: {
      integrationId: PROVISION_ID,
      instanceId: ID,
      profileId: 'm365-support-aad',
      tenant: 'tenant',
      tenantName: 'Contoso',
      serviceNowInstance: 'dev12345',
    },
    requestedBy: [REQUESTER],
    reason: 'contract ended',
    settings: { quorum: 1, approvalTimeoutMinutes: 3 * 24 * 60, reminderIntervalMinutes: 24 * 60 },
    previousStatus: 'active',
    ...over,
  };
}

function start(over: Stubs = {}, i: DecommissionInput = input()) {
  const h = new OrchestratorHarness(provisionStubs({ planDecommission: () => ({ ok: true, ...PLAN }), ...over }));
  h.start(DECOMMISSION_ORCHESTRATOR, ID, i);
  return h;
}
const output = (h: OrchestratorHarness) => h.status(ID).output as DecommissionStatus;
const custom = (h: OrchestratorHarness) => h.custom<DecommissionStatus>(ID);

async function untilAwaiting(h: OrchestratorHarness): Promise<string> {
  await h.idle();
  expect(custom(h).step).toBe('awaiting-approval');
  expect(h.engine.waitingFor(ID)).toEqual([APPROVAL_EVENT]);
  return custom(h).plan!.digest;
}

describe('decommissionIntegration', () => {
  it('asks for approval of the decommissioning plan, then removes exactly it and ends decommissioned', async () => {
    const h = start();
    const digest = await untilAwaiting(h);
    // The gate's mail carries the decommissioning plan, bound to the digest; who asked is never asked.
    const sent = h.inputsOf('sendApprovalRequests')[0];
    expect(sent.plan?.decommission).toEqual(SUMMARY.decommission);
    expect(sent.planDigest).toBe(digest);
    expect(sent.requesters).toEqual([REQUESTER]);
    // The registry says decommissioning (never awaiting-approval) with the previous status kept.
    const updates = h.inputsOf('updateRegistry');
    expect(updates.map((u) => u.status).filter(Boolean)).toEqual(['decommissioning']);
    expect(updates[0].decommission).toMatchObject({ instanceId: ID, previousStatus: 'active', requestedBy: REQUESTER });
    expect(updates[0].audit?.[0]).toMatchObject({ kind: 'decommission-requested', planDigest: digest });
    expect(h.sequence('compensate')).toEqual([]);

    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    await h.runToEnd(ID);
    expect(h.inputsOf('compensate')).toEqual([expect.objectContaining({ instanceId: ID, created: REMOVE })]);
    expect(h.inputsOf('closeApprovalRound')[0]).toMatchObject({ reason: 'decided' });
    const last = h.inputsOf('updateRegistry').at(-1)!;
    expect(last.status).toBe('decommissioned');
    expect(last.decommission?.outcome).toBe('decommissioned');
    expect(last.orphans).toEqual({ instanceId: ID, items: [] });
    const kinds = h.inputsOf('updateRegistry').flatMap((u) => (u.audit ?? []).map((e) => e.kind));
    expect(kinds).toEqual([
      'decommission-requested',
      'decommission-approved',
      ...REMOVE.map(() => 'removed'),
      'decommissioned',
    ]);
    expect(output(h)).toMatchObject({ outcome: 'decommissioned', removed: REMOVE, orphans: [] });
    await expectReplaySafe(h, DECOMMISSION_ORCHESTRATOR, ID);
  });

  it('ignores a decision on another plan and needs the quorum of distinct approvals', async () => {
    const h = start({}, input({ settings: { ...input().settings, quorum: 2 } }));
    const digest = await untilAwaiting(h);
    await h.raise(ID, APPROVAL_EVENT, decision('another-digest'));
    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    expect(h.sequence('compensate')).toEqual([]);
    await h.raise(ID, APPROVAL_EVENT, decision(digest, 'approve', SECOND_APPROVER));
    await h.runToEnd(ID);
    expect(h.sequence('compensate')).toEqual(['compensate']);
    expect(output(h).decision?.approvers).toEqual([APPROVER, SECOND_APPROVER]);
  });

  it('on rejection removes nothing and restores the previous status', async () => {
    const h = start({}, input({ previousStatus: 'failed' }));
    const digest = await untilAwaiting(h);
    await h.raise(ID, APPROVAL_EVENT, decision(digest, 'reject'));
    await h.runToEnd(ID);
    expect(h.sequence('compensate')).toEqual([]);
    const last = h.inputsOf('updateRegistry').at(-1)!;
    expect(last).toMatchObject({ status: 'failed', decommission: { outcome: 'rejected', previousStatus: 'failed' } });
    expect(last.audit?.[0]).toMatchObject({ kind: 'decommission-rejected', actor: APPROVER });
    expect(output(h).outcome).toBe('rejected');
    await expectReplaySafe(h, DECOMMISSION_ORCHESTRATOR, ID);
  });

  it('at the deadline removes nothing, closes the round as expired and restores the status', async () => {
    const h = start();
    await untilAwaiting(h);
    await h.runToEnd(ID);
    expect(h.sequence('compensate')).toEqual([]);
    expect(h.inputsOf('sendApprovalRequests').map((i) => i.round)).toEqual([0, 1, 2]);
    expect(h.inputsOf('closeApprovalRound')[0]).toMatchObject({ reason: 'expired' });
    expect(h.inputsOf('updateRegistry').at(-1)).toMatchObject({
      status: 'active',
      decommission: { outcome: 'expired' },
    });
    expect(output(h).outcome).toBe('expired');
    expect(h.clock.now() - START).toBeGreaterThanOrEqual(3 * DAY);
  });

  it('records what could not be removed as orphans (retried, then reported) and still ends decommissioned', async () => {
    const appObject = REMOVE[3];
    let attempts = 0;
    const h = start({
      compensate: (i) => {
        attempts++;
        if (!i.final) throw new Error('1 removal(s) failed transiently');
        return {
          removed: i.created.filter((o) => o !== appObject && o.kind !== 'app'),
          orphans: [{ object: appObject, reason: 'Graph 503', transient: true }],
        };
      },
    });
    const digest = await untilAwaiting(h);
    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    await h.runToEnd(ID);
    expect(attempts).toBeGreaterThan(2); // the durable retries ran, then the final attempt reported
    const last = h.inputsOf('updateRegistry').at(-1)!;
    expect(last.status).toBe('decommissioned');
    expect(last.orphans?.items.map((o) => o.object)).toEqual([appObject]);
    expect((last.audit ?? []).filter((e) => e.kind === 'removed')).toHaveLength(3);
  });

  it('a plan that cannot be made restores the previous status and asks nobody', async () => {
    const h = start({
      planDecommission: () => ({
        ok: false,
        failure: { service: 'input', code: 'NotRegistered', message: 'integration x is not registered' },
      }),
    });
    await h.runToEnd(ID);
    expect(h.sequence('sendApprovalRequests', 'compensate')).toEqual([]);
    expect(h.inputsOf('updateRegistry').at(-1)).toMatchObject({
      status: 'active',
      decommission: { outcome: 'failed' },
    });
    expect(output(h)).toMatchObject({ outcome: 'failed', error: expect.stringContaining('not registered') });
  });

  it('a decommissioning that fails leaves its trace in the audit trail (the row was decommissioning meanwhile)', async () => {
    const h = start({
      planDecommission: () => ({
        ok: false,
        failure: { service: 'servicenow', code: 'Unavailable', message: 'ServiceNow answered 503' },
      }),
    });
    await h.runToEnd(ID);
    const audit = h.inputsOf('updateRegistry').flatMap((u) => (u as { audit?: { kind: string }[] }).audit ?? []);
    expect(audit).toEqual([
      expect.objectContaining({
        kind: 'run-finished',
        instanceId: ID,
        actor: 'system',
        detail: expect.stringMatching(/^decommissioning failed: .*503/),
      }),
    ]);
  });
});
