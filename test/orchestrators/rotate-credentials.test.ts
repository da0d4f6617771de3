/**
 * rotateCredentials on the local durable engine with stub activities (./harness.ts): the dual-phase rotation (inspect,
 * new secret, verify, API consumers, hand-offs, grace period, retire the old credential) and the failures that roll a
 * role back to its old secret, or keep both secrets valid where a person already switched a consumer.
 */
import { handoffEventName } from '../../src/contracts/rotation';
import { ROTATION_ORCHESTRATOR, type RotationInput, type RotationStatus } from '../../src/orchestrators/rotation-types';
import {
  APPROVER,
  appIdOf,
  handoffDone,
  objectIdOf,
  ROLES,
  ROTATION_ID,
  ROTATION_OPERATION,
  rotationInput,
  rotationStubs,
  secretNameOf,
  sysIdOf,
} from './fixtures';
import { DAY, expectReplaySafe, OrchestratorHarness, START, type Stubs } from './harness';

const ID = ROTATION_ID;
const MANUAL_ROLES = ['restApi', 'restUser']; // the roles with a consumer in the Microsoft 365 admin center

function start(stubs: Stubs = rotationStubs(), input: RotationInput = rotationInput()) {
  const h = new OrchestratorHarness(stubs);
  h.start(ROTATION_ORCHESTRATOR, ID, input);
  return h;
}
const status = (h: OrchestratorHarness) => h.custom<RotationStatus>(ID);
const output = (h: OrchestratorHarness) => h.status(ID).output as RotationStatus;
const newSecretRef = (role: string) => ({ secretName: secretNameOf(role), version: `v-${ROTATION_OPERATION}-${role}` });
const oldSecretRef = (role: string) => ({ secretName: secretNameOf(role), version: `v-provision-${role}` });

describe('rotateCredentials: happy path', () => {
  it('adds, verifies and switches each role, hands off, waits the grace period, then retires the old credentials', async () => {
    const h = start();
    await h.idle();

    // a-c per role: new secret, proven, API consumers switched; then d: one hand-off per manual role.
    expect(h.sequence()).toEqual([
      'inspectCredentials',
      'addWorkNote',
      'ensureAppSecret',
      'verifyCredential',
      'setServiceNowSecret',
      'ensureAppSecret',
      'verifyCredential',
      'setServiceNowSecret',
      'ensureAppSecret',
      'verifyCredential',
      'sendHandoffRequests',
      'sendHandoffRequests',
    ]);
    expect(h.inputsOf('ensureAppSecret').map((i) => [i.role, i.operation, i.lifetimeDays])).toEqual(
      ROLES.map((r) => [r, ROTATION_OPERATION, 180]),
    );
    expect(h.inputsOf('verifyCredential').map((i) => [i.appId, i.secret])).toEqual(
      ROLES.map((r) => [appIdOf(r), newSecretRef(r)]),
    );
    expect(h.inputsOf('setServiceNowSecret').map((i) => i.consumer)).toEqual([
      { record: 'outboundProvider', table: 'oauth_entity', sysId: sysIdOf('outboundProvider'), field: 'client_secret' },
      { record: 'oidcEntity', table: 'oauth_oidc_entity', sysId: sysIdOf('oidcEntity'), field: 'client_secret' },
    ]);
    expect(h.inputsOf('sendHandoffRequests').map((i) => [i.role, i.round, i.expiresAt])).toEqual(
      MANUAL_ROLES.map((r) => [r, 0, new Date(START + 7 * DAY).toISOString()]),
    );
    expect([...h.engine.waitingFor(ID)].sort()).toEqual(MANUAL_ROLES.map(handoffEventName).sort());
    expect(status(h).confirmed).toEqual({
      outbound: ['servicenow:outboundProvider'],
      restApi: ['servicenow:oidcEntity'],
    });

    await h.raise(ID, handoffEventName('restUser'), handoffDone());
    expect(h.sequence('runChecks')).toEqual([]); // still waiting for restApi
    await h.raise(ID, handoffEventName('restApi'), handoffDone());

    // The inbound check with the new secrets, then the grace period: nothing is retired before it ends.
    expect(h.inputsOf('runChecks')).toEqual([
      expect.objectContaining({
        checks: [{ kind: 'inboundTableRead', clientApp: 'restUser', resourceApp: 'restApi', table: 'incident' }],
      }),
    ]);
    expect(status(h).step).toBe('grace');
    expect(h.pendingTimers(ID)).toEqual([DAY]);
    await h.advance(DAY - 1);
    expect(h.sequence('retireCredential')).toEqual([]);
    await h.advance(1);
    const end = await h.runToEnd(ID);

    expect(end.runtimeStatus).toBe('Completed');
    expect(output(h).outcome).toBe('rotated');
    expect(h.inputsOf('retireCredential')).toEqual(
      ROLES.map((role): unknown =>
        expect.objectContaining({
          role,
          appObjectId: objectIdOf(role),
          keyId: `key-provision-${role}`,
          secret: oldSecretRef(role),
        }),
      ),
    );
    expect(output(h).rotated).toEqual(
      ROLES.map((role) => ({
        role,
        kind: 'secret',
        oldKeyId: `key-provision-${role}`,
        newKeyId: `key-${ROTATION_OPERATION}-${role}`,
        oldVersion: `v-provision-${role}`,
        newVersion: `v-${ROTATION_OPERATION}-${role}`,
        expiresOn: new Date(START + 180 * DAY).toISOString(),
        oldRemoved: true,
      })),
    );
    expect(output(h).confirmed.restUser).toEqual([`manual:${APPROVER}@${new Date(START).toISOString()}`]);
    // The registry learns the new versions; no rollback.
    expect(h.inputsOf('updateRegistry')).toEqual([
      expect.objectContaining({
        secrets: ROLES.map((r): unknown => expect.objectContaining(newSecretRef(r))),
        lastRotation: { instanceId: ID, outcome: 'rotated', at: expect.any(String) },
        audit: [expect.objectContaining({ kind: 'rotated', instanceId: ID })],
      }),
    ]);
    expect(h.sequence('rollbackRotation')).toEqual([]);
    expect(h.inputsOf('sendReport')).toEqual([expect.objectContaining({ outcome: 'rotation rotated', orphans: [] })]);
    await expectReplaySafe(h, ROTATION_ORCHESTRATOR, ID);
  });

  it('waits VERIFY_RETRY_SECONDS while Entra propagates the new secret, then goes on', async () => {
    let attempts = 0;
    const h = start(
      rotationStubs({
        verifyCredential: () =>
          ++attempts < 3
            ? { ok: false, transient: true, code: 'AADSTS7000215', detail: 'Invalid client secret provided' }
            : { ok: true, detail: 'token issued' },
      }),
      rotationInput({ roles: ['outbound'] }),
    );
    await h.idle();
    expect(attempts).toBe(1);
    expect(h.pendingTimers(ID)).toEqual([10_000]);
    await h.advance(10_000);
    expect(attempts).toBe(2);
    await h.advance(10_000);
    expect(attempts).toBe(3);
    await h.runToEnd(ID);

    expect(output(h).outcome).toBe('rotated');
    // One role without manual consumers: no hand-off, no inbound check.
    expect(h.sequence('sendHandoffRequests', 'runChecks')).toEqual([]);
    expect(h.sequence('retireCredential')).toEqual(['retireCredential']);
    await expectReplaySafe(h, ROTATION_ORCHESTRATOR, ID);
  });

  it('writes no credential when the integration is being decommissioned (a rotation that raced the DELETE)', async () => {
    const stubs = rotationStubs();
    const h = start({
      ...stubs,
      inspectCredentials: async (i) => ({ ...(await stubs.inspectCredentials!(i)), status: 'decommissioning' }),
    });
    await h.runToEnd(ID);
    expect(h.sequence('ensureAppSecret', 'setServiceNowSecret', 'sendHandoffRequests', 'retireCredential')).toEqual([]);
    expect(output(h).error).toMatch(/decommissioning/);
  });

  it('reconciles instead of rotating when a newer credential of another operation exists', async () => {
    const stubs = rotationStubs();
    const h = start({
      ...stubs,
      inspectCredentials: async (i) => {
        const r = await stubs.inspectCredentials!(i);
        return {
          ...r,
          credentials: r.credentials.map((c) => ({
            ...c,
            latestKeyId: `key-rotate-20241231-${c.role}`,
            latestVersion: `v-rotate-20241231-${c.role}`,
            latestOperation: 'rotate-20241231',
          })),
        };
      },
    });
    await h.runToEnd(ID);
    expect(output(h).outcome).toBe('reconciled');
    expect(h.sequence()).toEqual(['inspectCredentials', 'updateRegistry']);
    expect(h.inputsOf('updateRegistry')[0].secrets?.map((s) => s.keyId)).toEqual(
      ROLES.map((r) => `key-rotate-20241231-${r}`),
    );
    // Nothing rotated by this run: no outcome on the row, no audit event.
    expect(h.inputsOf('updateRegistry')[0]).not.toHaveProperty('lastRotation');
    expect(h.inputsOf('updateRegistry')[0]).not.toHaveProperty('audit');
  });
});

describe('rotateCredentials: failures roll back', () => {
  it('rolls every role back to its old secret when a new secret yields no token', async () => {
    const h = start(
      rotationStubs({
        verifyCredential: (i) =>
          i.role === 'restApi'
            ? { ok: false, transient: false, code: 'AADSTS700016', detail: 'Application not found in the directory' }
            : { ok: true, detail: 'token issued' },
      }),
    );
    await h.runToEnd(ID);

    expect(output(h).outcome).toBe('rolled-back');
    expect(output(h).error).toBe('the new restApi secret yields no token: Application not found in the directory');
    // Stopped at restApi: restUser never got a new secret, nothing was handed off or retired.
    expect(h.inputsOf('ensureAppSecret').map((i) => i.role)).toEqual(['outbound', 'restApi']);
    expect(h.sequence('sendHandoffRequests', 'retireCredential')).toEqual([]);
    // The registry learns no new secret, only the outcome (alerting reads it), with its audit event.
    expect(h.inputsOf('updateRegistry')).toEqual([
      expect.objectContaining({
        secrets: [],
        lastRotation: {
          instanceId: ID,
          outcome: 'rolled-back',
          at: expect.any(String),
          error: 'the new restApi secret yields no token: Application not found in the directory',
        },
        audit: [expect.objectContaining({ kind: 'rotation-failed', instanceId: ID, actor: 'system' })],
      }),
    ]);
    expect(h.inputsOf('rollbackRotation')).toEqual([
      expect.objectContaining({
        role: 'outbound',
        newKeyId: `key-${ROTATION_OPERATION}-outbound`,
        newSecret: newSecretRef('outbound'),
        oldSecret: oldSecretRef('outbound'),
        serviceNowConsumers: [
          {
            record: 'outboundProvider',
            table: 'oauth_entity',
            sysId: sysIdOf('outboundProvider'),
            field: 'client_secret',
          },
        ],
      }),
      expect.objectContaining({
        role: 'restApi',
        newKeyId: `key-${ROTATION_OPERATION}-restApi`,
        oldSecret: oldSecretRef('restApi'),
        serviceNowConsumers: [],
      }),
    ]);
    expect(
      output(h)
        .steps.map((s) => s.name)
        .slice(-2),
    ).toEqual(['rolling-back', 'rolled-back']);
    expect(h.inputsOf('sendReport')[0]).toMatchObject({ outcome: 'rotation rolled-back' });
    expect(h.inputsOf('sendReport')[0].summary).toContain('The old secrets stay in use.');
    await expectReplaySafe(h, ROTATION_ORCHESTRATOR, ID);
  });

  it('rolls back when a ServiceNow consumer refuses the new secret', async () => {
    const h = start(
      rotationStubs({
        setServiceNowSecret: (i) =>
          i.consumer.record === 'oidcEntity'
            ? { ok: false, failure: { service: 'servicenow', status: 403, message: 'ACL denies write' } }
            : { ok: true, written: true },
      }),
    );
    await h.runToEnd(ID);
    expect(output(h).outcome).toBe('rolled-back');
    expect(output(h).error).toBe(`ServiceNow oauth_oidc_entity ${sysIdOf('oidcEntity')}: ACL denies write`);
    expect(h.inputsOf('rollbackRotation').map((i) => [i.role, i.serviceNowConsumers.map((c) => c.record)])).toEqual([
      ['outbound', ['outboundProvider']],
      ['restApi', []],
    ]);
  });

  it('keeps both secrets of a role a person already switched when the inbound check fails afterwards', async () => {
    const h = start(
      rotationStubs({
        runChecks: () => [{ name: 'inboundTableRead', ok: false, detail: '401', hint: 'user not mapped' }],
      }),
    );
    await h.idle();
    for (const role of MANUAL_ROLES) await h.raise(ID, handoffEventName(role), handoffDone());
    await h.runToEnd(ID);

    expect(output(h).outcome).toBe('failed');
    expect(output(h).error).toBe('after the hand-off: inboundTableRead: user not mapped');
    // Only the role without a manual consumer is rolled back; the others are reported with both secrets valid.
    expect(h.inputsOf('rollbackRotation').map((i) => i.role)).toEqual(['outbound']);
    expect(output(h).orphans.map((o) => [o.id, o.reason])).toEqual(
      MANUAL_ROLES.map((r) => [`key-${ROTATION_OPERATION}-${r}`, output(h).error]),
    );
    expect(h.sequence('retireCredential')).toEqual([]);
    await expectReplaySafe(h, ROTATION_ORCHESTRATOR, ID);
  });

  it('sends daily hand-off reminders and rolls back at the hand-off deadline', async () => {
    const h = start();
    await h.idle();
    await h.raise(ID, handoffEventName('restApi'), handoffDone());
    const end = await h.runToEnd(ID);

    expect(end.runtimeStatus).toBe('Completed');
    expect(h.clock.now() - START).toBe(7 * DAY);
    // Reminders go only to the role still pending, once a day, until the deadline.
    const reminders = h.inputsOf('sendHandoffRequests').filter((i) => i.round > 0);
    expect(reminders.map((i) => [i.role, i.round])).toEqual([1, 2, 3, 4, 5, 6].map((n) => ['restUser', n]));
    expect(output(h).error).toBe('hand-off not confirmed by the deadline for restUser');
    expect(h.inputsOf('rollbackRotation').map((i) => i.role)).toEqual(['outbound', 'restUser']);
    expect(output(h).outcome).toBe('failed'); // restApi's consumer already switched: kept, not rolled back
  });
});
