/**
 * provisionIntegration's decisions, on the local durable engine with stub activities (./harness.ts): preflight
 * problems, the approval gate (approve, reject, deadline), a non-retriable `{ ok: false }` failure, a retriable throw
 * the durable retry policy absorbs (or not), and connectivity checks that keep failing. Each scenario checks the
 * activities the orchestration called, their inputs where they carry the decision, the outcome, and that the run is
 * replay-safe (expectReplaySafe).
 */
import { APPROVAL_EVENT, type CreatedObject } from '../../src/contracts/provision';
import { RETRY } from '../../src/orchestrators/calls';
import { resolvePlan } from '../../src/approvals/plan';
import {
  PROVISION_ORCHESTRATOR,
  type ProvisionInput,
  type ProvisionStatus,
} from '../../src/orchestrators/provision-types';
import { serviceNowNeeds } from '../../src/profiles/needs';
import { recordWaves } from '../../src/profiles/dependencies';
import { EventType } from '../../sandbox/durable/history';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import {
  APPROVER,
  appIdOf,
  decision,
  objectIdOf,
  PASSING_CHECKS,
  PROVISION_ID,
  provisionInput,
  provisionStubs,
  ROLES,
  SECOND_APPROVER,
  secretNameOf,
  sysIdOf,
} from './fixtures';
import { DAY, expectReplaySafe, MINUTE, OrchestratorHarness, START, type Stubs } from './harness';

const ID = PROVISION_ID;
/**
 * The records created before the approval (every profile record but the activation-only privileges), in waves: the
 * records that reference no other first, then those referencing them.
 */
const INERT_WAVES = [
  ['outboundProvider', 'oidcProvider', 'integrationUser'],
  ['outboundProfile', 'oidcEntity'],
];
const INERT_KEYS = INERT_WAVES.flat();
const INERT_SPECS = INERT_KEYS.map((k) => m365SupportAad.serviceNow.records.find((r) => r.key === k)!);
/** The records activation writes: the inert ones it turns on, then the privileges. */
const ACTIVATION_KEYS = m365SupportAad.serviceNow.records
  .filter((r) => r.phase === 'activation' || r.activate)
  .map((r) => r.key);

function start(stubs: Stubs = provisionStubs(), input: ProvisionInput = provisionInput()) {
  const h = new OrchestratorHarness(stubs);
  h.start(PROVISION_ORCHESTRATOR, ID, input);
  return h;
}
const status = (h: OrchestratorHarness) => h.custom<ProvisionStatus>(ID);
const output = (h: OrchestratorHarness) => h.status(ID).output as ProvisionStatus;
/** The registry update the run ended with (its status, lastRun and what it keeps). */
const lastRegistryUpdate = (h: OrchestratorHarness) => h.inputsOf('updateRegistry').at(-1)!;

/** Objects of this run in creation order: the three apps, their three secrets, the five inert records. */
const CREATED: CreatedObject[] = [
  ...ROLES.map((role): CreatedObject => ({ kind: 'app', role, objectId: objectIdOf(role), appId: appIdOf(role) })),
  ...ROLES.map((role): CreatedObject => ({
    kind: 'secret',
    role,
    secretName: secretNameOf(role),
    appObjectId: objectIdOf(role),
    keyId: `key-provision-${role}`,
    version: `v-provision-${role}`,
  })),
  ...INERT_SPECS.map((r): CreatedObject => ({ kind: 'record', key: r.key, table: r.table, sysId: sysIdOf(r.key) })),
];

/** The keys of the ServiceNow records each episode of the run scheduled (one entry per episode that scheduled any). */
function recordWavesOf(h: OrchestratorHarness): string[][] {
  const waves: string[][] = [];
  let current: string[] = [];
  for (const e of h.engine.history(ID)) {
    if (e.EventType === EventType.OrchestratorStarted) {
      if (current.length) waves.push(current);
      current = [];
    }
    if (e.EventType === EventType.TaskScheduled && e.Name === 'ensureServiceNowRecord')
      current.push((JSON.parse(e.Input ?? '{}') as { key: string }).key);
  }
  if (current.length) waves.push(current);
  return waves;
}

/** Runs up to the approval wait and returns the plan digest the links are bound to. */
async function untilAwaitingApproval(h: OrchestratorHarness): Promise<string> {
  await h.idle();
  expect(h.status(ID).runtimeStatus).toBe('Running');
  expect(status(h).step).toBe('awaiting-approval');
  expect(h.engine.waitingFor(ID)).toEqual([APPROVAL_EVENT]);
  return status(h).plan!.digest;
}

describe('provisionIntegration: preflight', () => {
  it('fails on preflight problems without creating anything, and reports every problem', async () => {
    const problems = [
      'ServiceNow role incident_manager is not assignable by the admin account',
      'table oauth_entity has no column client_secret',
    ];
    const h = start(provisionStubs({ preflight: () => ({ problems }) }));
    const end = await h.runToEnd(ID);

    expect(end.runtimeStatus).toBe('Completed');
    expect(output(h).outcome).toBe('failed');
    expect(output(h).error).toBe(`preflight found 2 problem(s): ${problems.join('; ')}`);
    // Read-only preflight, then only the report: no app, secret, record, approval round or compensation.
    expect(h.sequence()).toEqual(['preflight', 'addWorkNote', 'updateRegistry', 'sendReport', 'addWorkNote']);
    expect(output(h).counts.created).toBe(0);
    expect(lastRegistryUpdate(h)).toMatchObject({ status: 'failed', lastRun: { outcome: 'failed', instanceId: ID } });
    expect(h.inputsOf('sendReport')[0]).toMatchObject({ outcome: 'failed', summary: output(h).error });
    // No round opened: the report narrows its recipients to the approver policy itself.
    expect(h.inputsOf('sendReport')[0]).not.toHaveProperty('approversFromRound');
    // The preflight was asked for the profile's requirements: every column its records write, every role it grants.
    const asked = h.inputsOf('preflight')[0].profile.serviceNow;
    expect(asked).toEqual(serviceNowNeeds(m365SupportAad));
    expect(asked.requiredScope).toBe('x_mioms_m365_assis');
    expect(asked.requiredColumns.oauth_oidc_entity).toEqual(expect.arrayContaining(['client_id', 'client_secret']));
    await expectReplaySafe(h, PROVISION_ORCHESTRATOR, ID);
  });
});

describe('provisionIntegration: approval gate', () => {
  it('creates inert objects, waits for the approval event, then activates and ends active', async () => {
    const h = start();
    const digest = await untilAwaitingApproval(h);

    // Before the approval: apps, secrets and the inert records only, nothing that grants.
    expect(
      h.sequence('ensureApp', 'ensureAppSecret', 'ensureServiceNowRecord', 'ensureRoleGrant', 'runChecks'),
    ).toEqual([
      ...ROLES.map(() => 'ensureApp'),
      ...ROLES.map(() => 'ensureAppSecret'),
      ...INERT_KEYS.map(() => 'ensureServiceNowRecord'),
    ]);
    expect(h.inputsOf('ensureServiceNowRecord').map((r) => [r.key, r.fields.active ?? r.fields.locked_out])).toEqual([
      ['outboundProvider', 'false'],
      ['oidcProvider', undefined],
      ['integrationUser', 'false'],
      ['outboundProfile', undefined],
      ['oidcEntity', 'false'],
    ]);
    // Written in waves, each wave at once: a record waits only for the records whose sys_ids it holds.
    expect(recordWavesOf(h)).toEqual(INERT_WAVES);
    expect(recordWaves(INERT_SPECS).map((w) => w.map((r) => r.key))).toEqual(INERT_WAVES);
    expect(h.inputsOf('ensureServiceNowRecord')[3].naturalKey).toEqual({ oauth_entity: sysIdOf('outboundProvider') });
    const [request] = h.inputsOf('sendApprovalRequests');
    expect(request).toMatchObject({
      round: 0,
      planDigest: digest,
      quorum: 1,
      requesters: ['requester@contoso.onmicrosoft.com'],
      expiresAt: new Date(START + 3 * DAY).toISOString(),
    });
    // The plan is not in the request (too large for a history event): the activity builds it from the source the run
    // kept, checked against the digest. The kept plan carries the real app ids.
    expect(request).toMatchObject({ planOfRun: true });
    expect(request.plan).toBeUndefined();
    const kept = h.inputsOf('recordPlan');
    expect(kept.map((k) => [k.digest, k.mode])).toEqual([
      [digest, 'first'],
      [digest, 'first'],
    ]);
    const resolved = resolvePlan(kept[1].source, digest);
    expect(resolved.ok && resolved.plan.apps.map((a) => a.appId)).toEqual(ROLES.map(appIdOf));
    // The custom status is a summary: no plan, no created objects, well under the backend's limits.
    expect(status(h).plan).toEqual({ digest, mode: 'first' });
    expect(status(h)).not.toHaveProperty('created');
    expect(Buffer.byteLength(JSON.stringify(h.status(ID).customStatus))).toBeLessThan(4096);
    for (const c of h.calls) expect(Buffer.byteLength(JSON.stringify(c.input))).toBeLessThan(4096);
    expect(status(h).awaiting).toMatchObject({ approvers: [APPROVER, SECOND_APPROVER], reminders: 0 });
    // The first reminder is due after APPROVAL_REMINDER_MINUTES.
    expect(h.pendingTimers(ID)).toEqual([DAY]);

    // A decision on another plan decides nothing.
    await h.raise(ID, APPROVAL_EVENT, decision('0'.repeat(64)));
    expect(status(h).step).toBe('awaiting-approval');
    expect(h.sequence('closeApprovalRound')).toEqual([]);

    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    const end = await h.runToEnd(ID);

    expect(end.runtimeStatus).toBe('Completed');
    expect(output(h).outcome).toBe('active');
    expect(output(h).steps.map((s) => s.name)).toEqual([
      'preflight',
      'entra-apps',
      'secrets',
      'servicenow',
      'awaiting-approval',
      'activation',
      'checks',
      'active',
    ]);
    expect(h.inputsOf('closeApprovalRound')).toEqual([
      {
        instanceId: ID,
        reason: 'decided',
        decision: { decision: 'approve', approver: APPROVER, at: new Date(START).toISOString() },
      },
    ]);
    // Activation turns the inert records on and only then adds the privileges and the role grant.
    const activation = h.inputsOf('ensureServiceNowRecord').slice(INERT_KEYS.length);
    expect(activation.map((r) => r.key)).toEqual(ACTIVATION_KEYS);
    // The records written before the approval are patched by their sys_ids; the privileges are new.
    expect(activation.map((r) => r.sysId)).toEqual(
      ACTIVATION_KEYS.map((k) => (INERT_KEYS.includes(k) ? sysIdOf(k) : undefined)),
    );
    expect(activation.find((r) => r.key === 'integrationUser')?.fields).toMatchObject({
      active: 'true',
      locked_out: 'false',
      user_name: appIdOf('restUser'),
    });
    expect(h.inputsOf('ensureRoleGrant')).toEqual([
      expect.objectContaining({ userName: appIdOf('restUser'), role: 'incident_manager' }),
    ]);
    expect(h.sequence('runChecks', 'compensate')).toEqual(['runChecks']);
    expect(output(h).checks).toEqual(PASSING_CHECKS);
    expect(lastRegistryUpdate(h)).toMatchObject({
      status: 'active',
      tenantName: 'Contoso',
      ticket: { table: 'incident', number: 'INC0010001' },
      lastRun: { outcome: 'active' },
    });
    expect(h.inputsOf('updateRegistry')).toContainEqual(
      expect.objectContaining({ approval: expect.objectContaining({ approver: APPROVER, planDigest: digest }) }),
    );
    // The round's eligible approvers, resolved from the policy when it opened: not narrowed again.
    expect(h.inputsOf('sendReport')).toEqual([
      expect.objectContaining({ outcome: 'active', approvers: [APPROVER, SECOND_APPROVER], approversFromRound: true }),
    ]);
    expect(output(h).counts.created).toBe(CREATED.length + 3); // + the two privileges and the role grant
    await expectReplaySafe(h, PROVISION_ORCHESTRATOR, ID);
  });

  it('on rejection compensates the created objects in reverse creation order and activates nothing', async () => {
    const h = start();
    const digest = await untilAwaitingApproval(h);
    await h.raise(ID, APPROVAL_EVENT, decision(digest, 'reject'));
    await h.runToEnd(ID);

    expect(output(h).outcome).toBe('rejected');
    expect(output(h).decision).toMatchObject({ decision: 'reject', approver: APPROVER });
    expect(h.inputsOf('compensate')).toHaveLength(1);
    expect(h.inputsOf('compensate')[0].created).toEqual([...CREATED].reverse());
    expect(h.inputsOf('compensate')[0].final).toBeUndefined();
    // Nothing after the gate: no activation write, grant or check.
    expect(h.sequence('ensureServiceNowRecord')).toHaveLength(INERT_KEYS.length);
    expect(h.sequence('ensureRoleGrant', 'runChecks')).toEqual([]);
    expect(h.inputsOf('closeApprovalRound')).toEqual([expect.objectContaining({ reason: 'decided' })]);
    expect(output(h).counts.created).toBe(0);
    expect(lastRegistryUpdate(h)).toMatchObject({ status: 'rejected', lastRun: { outcome: 'rejected' } });
    await expectReplaySafe(h, PROVISION_ORCHESTRATOR, ID);
  });

  it('sends a reminder a day, expires at the deadline and rolls back (onDeadline rollback)', async () => {
    const h = start();
    await untilAwaitingApproval(h);
    await h.advance(DAY - 1);
    expect(h.sequence('sendApprovalRequests')).toHaveLength(1);
    await h.advance(1);
    expect(h.inputsOf('sendApprovalRequests').map((r) => r.round)).toEqual([0, 1]);
    expect(status(h).awaiting?.reminders).toBe(1);
    await h.advance(DAY);
    expect(h.inputsOf('sendApprovalRequests').map((r) => r.round)).toEqual([0, 1, 2]);
    expect(h.status(ID).runtimeStatus).toBe('Running');
    expect(h.pendingTimers(ID)).toEqual([DAY]); // the deadline, three days after the request
    await h.advance(DAY);

    expect(h.status(ID).runtimeStatus).toBe('Completed');
    expect(output(h).outcome).toBe('expired');
    expect(h.calls.filter((c) => c.name === 'sendApprovalRequests').map((c) => c.at - START)).toEqual([
      0,
      DAY,
      2 * DAY,
    ]);
    expect(h.inputsOf('closeApprovalRound')).toEqual([{ instanceId: ID, reason: 'expired' }]);
    expect(h.inputsOf('compensate').map((c) => c.created)).toEqual([[...CREATED].reverse()]);
    expect(lastRegistryUpdate(h)).toMatchObject({ status: 'expired' });
    await expectReplaySafe(h, PROVISION_ORCHESTRATOR, ID);
  });

  it('keeps the inert objects at the deadline when onDeadline is keep', async () => {
    const input = provisionInput();
    input.settings = { ...input.settings, onDeadline: 'keep', approvalTimeoutMinutes: 90, reminderIntervalMinutes: 60 };
    const h = start(provisionStubs(), input);
    await untilAwaitingApproval(h);
    expect(h.pendingTimers(ID)).toEqual([60 * MINUTE]);
    await h.runToEnd(ID);

    expect(output(h).outcome).toBe('expired');
    expect(h.clock.now() - START).toBe(90 * MINUTE);
    expect(h.sequence('compensate')).toEqual([]);
    expect(output(h).counts.created).toBe(CREATED.length);
    expect(lastRegistryUpdate(h)).toMatchObject({ status: 'expired' });
  });
});

describe('provisionIntegration: activity failures', () => {
  it('turns a non-retriable { ok: false } into a failure and compensates what was created so far', async () => {
    const stubs = provisionStubs();
    const h = start({
      ...stubs,
      ensureServiceNowRecord: (i) =>
        i.key === 'oidcProvider'
          ? { ok: false, failure: { service: 'servicenow', status: 403, message: 'Insufficient rights to insert' } }
          : stubs.ensureServiceNowRecord!(i),
    });
    await h.runToEnd(ID);

    expect(output(h).outcome).toBe('failed');
    expect(output(h).error).toBe('ServiceNow oidc_provider_configuration: Insufficient rights to insert');
    // Not retried: a refusal is not worth a durable retry.
    // The records of the failing record's wave are all written (and compensated); the next wave is not started.
    expect(h.inputsOf('ensureServiceNowRecord').map((r) => r.key)).toEqual(INERT_WAVES[0]);
    expect(h.engine.timers(ID)).toEqual([]);
    const createdBefore = CREATED.filter(
      (o) => o.kind !== 'record' || ['outboundProvider', 'integrationUser'].includes(o.key),
    );
    expect(h.inputsOf('compensate').map((c) => c.created)).toEqual([createdBefore.reverse()]);
    expect(h.sequence('sendApprovalRequests', 'runChecks')).toEqual([]);
    expect(lastRegistryUpdate(h)).toMatchObject({ status: 'failed', lastRun: { error: output(h).error } });
    expect(h.inputsOf('sendReport')[0]).toMatchObject({ outcome: 'failed', summary: output(h).error });
    await expectReplaySafe(h, PROVISION_ORCHESTRATOR, ID);
  });

  it('compensates the apps that exist and looks for the one whose call failed by its unique name', async () => {
    const stubs = provisionStubs();
    const h = start({
      ...stubs,
      ensureApp: (i) =>
        i.role === 'restApi'
          ? { ok: false, failure: { service: 'graph', status: 400, message: 'Property identifierUris is invalid' } }
          : stubs.ensureApp!(i),
    });
    await h.runToEnd(ID);

    expect(output(h).error).toBe('Entra app: Property identifierUris is invalid');
    expect(h.sequence('ensureAppSecret', 'ensureServiceNowRecord')).toEqual([]);
    expect(h.inputsOf('compensate')[0].created).toEqual([
      { kind: 'appCandidate', role: 'restApi' },
      { kind: 'app', role: 'restUser', objectId: objectIdOf('restUser'), appId: appIdOf('restUser') },
      { kind: 'app', role: 'outbound', objectId: objectIdOf('outbound'), appId: appIdOf('outbound') },
    ]);
    expect(output(h).outcome).toBe('failed');
  });

  it('retries a throwing activity on the durable retry policy and goes on when it succeeds', async () => {
    const stubs = provisionStubs();
    let attempts = 0;
    const h = start({
      ...stubs,
      ensureServiceNowRecord: (i) => {
        if (i.key === 'oidcProvider' && ++attempts <= 2) throw new Error('ServiceNow answered 503 Service Unavailable');
        return stubs.ensureServiceNowRecord!(i);
      },
    });
    await h.idle();
    expect(attempts).toBe(1);
    // RETRY.service: 2 s before the second attempt, then 2 s x 2.
    const first = RETRY.service.firstRetryIntervalMs;
    expect(h.pendingTimers(ID)).toEqual([first]);
    await h.advance(first - 1);
    expect(attempts).toBe(1);
    await h.advance(1);
    expect(attempts).toBe(2);
    expect(h.pendingTimers(ID)).toEqual([first * RETRY.service.backoffCoefficient]);
    await h.advance(first * RETRY.service.backoffCoefficient);
    expect(attempts).toBe(3);

    const digest = await untilAwaitingApproval(h);
    expect(
      h.engine.activityRuns
        .filter((r) => r.input && (r.input as { key?: string }).key === 'oidcProvider')
        .map((r) => r.outcome),
    ).toEqual(['failed', 'failed', 'completed']);
    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    await h.runToEnd(ID);
    expect(output(h).outcome).toBe('active');
    expect(output(h).error).toBeUndefined();
    expect(h.sequence('compensate')).toEqual([]);
    expect(
      h.engine
        .timers(ID)
        .filter((t) => t.kind === 'retry')
        .map((t) => t.state),
    ).toEqual(['fired', 'fired']);
    await expectReplaySafe(h, PROVISION_ORCHESTRATOR, ID);
  });

  it('fails once the retries are spent and compensates the record whose insert may have landed', async () => {
    const stubs = provisionStubs();
    const h = start({
      ...stubs,
      ensureServiceNowRecord: (i) => {
        if (i.key === 'oidcProvider') throw new Error('ServiceNow answered 503 Service Unavailable');
        return stubs.ensureServiceNowRecord!(i);
      },
    });
    await h.runToEnd(ID);

    expect(h.inputsOf('ensureServiceNowRecord').filter((r) => r.key === 'oidcProvider')).toHaveLength(
      RETRY.service.maxAttempts,
    );
    expect(output(h).outcome).toBe('failed');
    expect(output(h).error).toContain('ServiceNow answered 503 Service Unavailable');
    expect(output(h).error).not.toContain('\n');
    const [compensation] = h.inputsOf('compensate');
    expect(compensation.created[0]).toEqual({
      kind: 'recordCandidate',
      key: 'oidcProvider',
      table: 'oidc_provider_configuration',
      naturalKey: { name: `Contoso Azure (${PROVISION_ID})` },
    });
    // The siblings of its wave answered before the retries were spent: taken in, removed as this run's records.
    expect(compensation.created.slice(1).map((o) => (o.kind === 'record' ? o.key : o.kind))).toEqual([
      'integrationUser',
      'outboundProvider',
      'secret',
      'secret',
      'secret',
      'app',
      'app',
      'app',
    ]);
  });
});

describe('provisionIntegration: connectivity checks', () => {
  const failing = [
    ...PASSING_CHECKS.slice(0, 2),
    {
      name: 'inboundTableRead',
      ok: false,
      detail: 'AADSTS7000215',
      hint: 'secret not yet propagated',
      transient: true,
    },
    PASSING_CHECKS[3],
  ];

  it('retries transient check failures CHECK_RETRY_SECONDS apart and ends checks-failed without rolling back', async () => {
    const h = start(provisionStubs({ runChecks: () => failing }));
    const digest = await untilAwaitingApproval(h);
    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    const approvedAt = h.clock.now();
    await h.runToEnd(ID);

    const runs = h.calls.filter((c) => c.name === 'runChecks');
    expect(runs.map((c) => (c.at - approvedAt) / 1000)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(output(h).outcome).toBe('checks-failed');
    expect(output(h).checks).toEqual(failing);
    expect(h.sequence('compensate')).toEqual([]);
    expect(lastRegistryUpdate(h)).toMatchObject({ status: 'failed', lastRun: { outcome: 'checks-failed' } });
    expect(h.inputsOf('sendReport')[0]).toMatchObject({ outcome: 'checks-failed', checks: failing });
    await expectReplaySafe(h, PROVISION_ORCHESTRATOR, ID);
  });

  it('goes active when a later attempt passes', async () => {
    let attempt = 0;
    const h = start(provisionStubs({ runChecks: () => (++attempt < 3 ? failing : PASSING_CHECKS) }));
    const digest = await untilAwaitingApproval(h);
    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    await h.runToEnd(ID);
    expect(attempt).toBe(3);
    expect(output(h).outcome).toBe('active');
  });

  it('does not retry a failure that is not transient', async () => {
    const permanent = failing.map((c) => ({ ...c, transient: false }));
    const h = start(provisionStubs({ runChecks: () => permanent }));
    const digest = await untilAwaitingApproval(h);
    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    await h.runToEnd(ID);
    expect(h.sequence('runChecks')).toEqual(['runChecks']);
    expect(output(h).outcome).toBe('checks-failed');
  });
});

describe('provisionIntegration: history payloads', () => {
  it('keeps every activity input, the custom status and the output under 4 KB with every option on', async () => {
    const h = start(
      provisionStubs(),
      provisionInput({
        options: {
          testEnvironment: false,
          ipAllowlist: true,
          grantUsers: [
            { userName: 'alice.admin@contoso.com', role: 'x_mioms_m365_assis.insights_user' },
            { userName: 'bob.admin@contoso.com', role: 'x_mioms_m365_assis.insights_user' },
          ],
        },
      }),
    );
    const digest = await untilAwaitingApproval(h);
    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    await h.runToEnd(ID);

    expect(output(h)).toMatchObject({ outcome: 'active', plan: { digest, mode: 'first' } });
    // Created: the apps, secrets and inert records, then the two privileges, three role grants and six IP allow rules.
    expect(output(h).counts).toEqual({
      apps: 3,
      secrets: 3,
      records: expect.any(Number) as number,
      created: CREATED.length + 2 + 3 + 6,
    });
    const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
    for (const c of h.calls) expect([c.name, bytes(c.input) < 4096]).toEqual([c.name, true]);
    expect(bytes(h.status(ID).customStatus)).toBeLessThan(4096);
    expect(bytes(h.status(ID).output)).toBeLessThan(4096);
    // The checks read records by profile key: role grants and IP allow rules are not sent to them.
    expect(
      h
        .inputsOf('runChecks')[0]
        .records.map((r) => r.key)
        .sort(),
    ).toEqual(
      m365SupportAad.serviceNow.records
        .filter((r) => !r.lookup)
        .map((r) => r.key)
        .sort(),
    );
  });
});

describe('ServiceNow secret fields written apart (setServiceNowSecret)', () => {
  const SECRET_KEYS = ['outboundProvider', 'oidcEntity'];
  const manualOf = (key: string) => ({ title: `set client_secret of ${key}`, steps: [] });
  /** ensureServiceNowRecord as the activity now answers: secretPending while the record's secret field is empty. */
  function stubs(refuse: string[] = [], legacy = false): Stubs {
    const seen = new Set<string>();
    const filled = new Set<string>();
    return provisionStubs({
      ensureServiceNowRecord: (i) => {
        const first = !seen.has(i.key);
        seen.add(i.key);
        const pending = i.secret !== undefined && !filled.has(i.key);
        if (legacy && pending) filled.add(i.key);
        return {
          ok: true,
          key: i.key,
          table: i.table,
          sysId: sysIdOf(i.key),
          created: first,
          ...(first ? {} : { updated: true }),
          ...(i.shared ? { shared: true } : {}),
          // An earlier release wrote the secret itself and said so; this one says it is pending.
          ...(pending ? (legacy ? { secretWritten: true } : { secretPending: true }) : {}),
          mismatches: [],
        };
      },
      setServiceNowSecret: (i) => {
        if (refuse.includes(i.consumer.record))
          return { ok: true, written: false, manualAction: manualOf(i.consumer.record) as never };
        filled.add(i.consumer.record);
        return { ok: true, written: true };
      },
    });
  }

  it('a history of the previous release (secretWritten: true) replays: no setServiceNowSecret, consumers confirmed', async () => {
    const h = start(stubs([], true));
    const digest = await untilAwaitingApproval(h);
    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    await h.runToEnd(ID);
    expect(output(h).outcome).toBe('active');
    expect(h.sequence('setServiceNowSecret')).toEqual([]);
    const confirmations = lastRegistryUpdate(h).confirmations as { consumer: string }[];
    expect(confirmations.map((c) => c.consumer).sort()).toHaveLength(SECRET_KEYS.length);
    await expectReplaySafe(h, PROVISION_ORCHESTRATOR, ID);
  });

  it('a field ServiceNow refused (403) is ONE manual action, not one per record wave call (inert, then activation)', async () => {
    const h = start(stubs(['oidcEntity']));
    const digest = await untilAwaitingApproval(h);
    await h.raise(ID, APPROVAL_EVENT, decision(digest));
    await h.runToEnd(ID);
    expect(output(h).outcome).toBe('active');
    const writes = h.inputsOf('setServiceNowSecret');
    // The run's exact versions (a refused field is tried again at activation: the field still reads back empty).
    expect([...new Set(writes.map((w) => `${w.consumer.record} ${w.secret.version}`))].sort()).toEqual([
      'oidcEntity v-provision-restApi',
      'outboundProvider v-provision-outbound',
    ]);
    const titles = output(h).manualActions.map((m) => m.title);
    expect(titles.filter((t) => t === manualOf('oidcEntity').title)).toHaveLength(1);
    await expectReplaySafe(h, PROVISION_ORCHESTRATOR, ID);
  });
});
