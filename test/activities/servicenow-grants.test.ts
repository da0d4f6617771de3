import { ensureIpAllowlist, ipRuleDescription } from '../../src/activities/servicenow-ip';
import { ensureRoleGrant, grantKey } from '../../src/activities/servicenow-roles';
import { configureLogging } from '../../src/lib/logger';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

let env: ActivityEnv;
let instance: string;

beforeAll(async () => {
  configureLogging({ sink: () => undefined });
  env = await startActivityEnv();
  instance = env.sandbox.env().SANDBOX_SERVICENOW_INSTANCE;
});
afterAll(async () => {
  await env?.close();
});
afterEach(() => env.sandbox.faults.clear());

const SEED = ['52.149.152.32', '40.83.232.243'];
const noDns = { resolve4: () => Promise.reject(new Error('ENOTFOUND')) };

describe('ensureRoleGrant', () => {
  it('grants the role once and writes nothing when run again', async () => {
    const userName = crypto.randomUUID();
    env.sandbox.servicenow.seedRecord(instance, 'sys_user', { user_name: userName, first_name: 'M365' });
    const first = await ensureRoleGrant({ ...env.ref(), userName, role: 'incident_manager' }, env.deps);
    expect(first).toMatchObject({ ok: true, created: true, userName, role: 'incident_manager' });
    const mark = env.sandbox.journal.mark();
    const second = await ensureRoleGrant({ ...env.ref(), userName, role: 'incident_manager' }, env.deps);
    expect(second).toMatchObject({ ok: true, created: false });
    if (!first.ok || !second.ok) throw new Error('unreachable');
    expect(second.sysId).toBe(first.sysId);
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
    const user = env.sandbox.servicenow.records(instance, 'sys_user').find((r) => r.values.user_name === userName)!;
    const grants = env.sandbox.servicenow
      .records(instance, 'sys_user_has_role')
      .filter((r) => r.values.user === user.values.sys_id);
    expect(grants).toHaveLength(1);
  });

  it('reports the grant as created for every execution of the granting run, from the ownership ledger', async () => {
    const userName = crypto.randomUUID();
    env.sandbox.servicenow.seedRecord(instance, 'sys_user', { user_name: userName, first_name: 'M365' });
    const ref = env.ref();
    const first = await ensureRoleGrant({ ...ref, userName, role: 'incident_manager' }, env.deps);
    const again = await ensureRoleGrant({ ...ref, userName, role: 'incident_manager' }, env.deps);
    expect(first).toMatchObject({ ok: true, created: true });
    expect(again).toMatchObject({ ok: true, created: true });
    if (!first.ok || !again.ok) throw new Error('unreachable');
    expect(again.sysId).toBe(first.sysId);
    expect(
      await env.deps.ownership.getClaim(ref.integrationId, grantKey(userName, 'incident_manager'), ref.instanceId),
    ).toMatchObject({
      createdRun: ref.instanceId,
      sysId: first.sysId,
      table: 'sys_user_has_role',
    });
    expect(first.shared).toBeUndefined();
  });

  it('looks the user and the role up at once', async () => {
    const userName = crypto.randomUUID();
    env.sandbox.servicenow.seedRecord(instance, 'sys_user', { user_name: userName, first_name: 'M365' });
    // The user look-up answers late; the journal records a call when it is answered, so the role look-up comes
    // first only if it did not wait for the user's.
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'GET',
      path: '/api/now/v2/table/sys_user$',
      action: { type: 'latency', ms: 1000 },
      times: 1,
    });
    const mark = env.sandbox.journal.mark();
    const r = await ensureRoleGrant({ ...env.ref(), userName, role: 'incident_manager' }, env.deps);
    expect(r).toMatchObject({ ok: true, created: true });
    const paths = env.sandbox.journal.entries({ service: 'servicenow', since: mark }).map((e) => e.path);
    const at = (table: string) => paths.findIndex((p) => p.endsWith(`/table/${table}`));
    expect(at('sys_user_role')).toBeGreaterThanOrEqual(0);
    expect(at('sys_user_role')).toBeLessThan(at('sys_user'));
  });

  it('fails precisely for an unknown user or role', async () => {
    await expect(ensureRoleGrant({ ...env.ref(), userName: 'nobody', role: 'itil' }, env.deps)).resolves.toMatchObject({
      ok: false,
      failure: { code: 'NotFound', message: expect.stringContaining("User 'nobody'") },
    });
    await expect(
      ensureRoleGrant({ ...env.ref(), userName: 'abel.tuter', role: 'no_such_role' }, env.deps),
    ).resolves.toMatchObject({ ok: false, failure: { message: expect.stringContaining("Role 'no_such_role'") } });
  });

  it('hands off when ServiceNow refuses the grant (403)', async () => {
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'POST',
      path: 'sys_user_has_role',
      action: { type: 'status', status: 403 },
    });
    const result = await ensureRoleGrant({ ...env.ref(), userName: 'abel.tuter', role: 'security_admin' }, env.deps);
    expect(result).toMatchObject({
      ok: true,
      created: false,
      manualAction: { steps: expect.arrayContaining([{ label: 'Role', value: 'security_admin' }]) },
    });
  });
});

describe('ensureIpAllowlist', () => {
  it('writes nothing when the instance has no active deny rule', async () => {
    const mark = env.sandbox.journal.mark();
    const result = await ensureIpAllowlist({ ...env.ref(), addresses: SEED }, env.deps, undefined, noDns);
    expect(result).toEqual({ ok: true, needed: false, created: [] });
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
  });

  it('adds one bidirectional allow per address (seed list plus resolved A records) once a deny rule exists', async () => {
    const deny = env.sandbox.servicenow.seedRecord(instance, 'ip_access', {
      type: 'deny',
      direction: 'inbound',
      active: 'true',
      range_start: '0.0.0.0',
      range_end: '255.255.255.255',
    });
    const ref = env.ref();
    const dns = { resolve4: async () => ['20.105.151.142', '52.149.152.32'] };
    const result = await ensureIpAllowlist(
      { ...ref, addresses: SEED, resolveHost: 'connector.rave.microsoft.com' },
      env.deps,
      undefined,
      dns,
    );
    expect(result).toMatchObject({ ok: true, needed: true });
    if (!result.ok) throw new Error('unreachable');
    expect(result.created.map((c) => c.address)).toEqual([...SEED, '20.105.151.142']);
    const allows = env.sandbox.servicenow.records(instance, 'ip_access').filter((r) => r.values.type === 'allow');
    expect(allows).toHaveLength(3);
    for (const r of allows) {
      expect(r.values).toMatchObject({ direction: 'bidirectional', active: 'true' });
      expect(r.values.range_start).toBe(r.values.range_end);
      expect(r.values.description).toBe(ipRuleDescription(ref.integrationId));
    }
    expect(allows.map((r) => r.values.sys_id).sort()).toEqual(result.created.map((c) => c.sysId).sort());
    expect(result.held).toEqual(result.created);

    const mark = env.sandbox.journal.mark();
    const again = await ensureIpAllowlist(
      { ...ref, addresses: SEED, resolveHost: 'connector.rave.microsoft.com' },
      env.deps,
      undefined,
      dns,
    );
    expect(again).toEqual(result);
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
    // An unresolvable host: just the seed list, and nothing new to write.
    const seedOnly = await ensureIpAllowlist(
      { ...ref, addresses: SEED, resolveHost: 'nx.invalid' },
      env.deps,
      undefined,
      { resolveTimeoutMs: 500 },
    );
    expect(seedOnly).toMatchObject({ ok: true, needed: true, created: SEED.map((address) => ({ address })) });
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
    env.sandbox.servicenow.records(instance, 'ip_access').find((r) => r.values.sys_id === deny)!.values.active =
      'false';
  });

  it('refuses anything but single IPv4 addresses', async () => {
    const result = await ensureIpAllowlist({ ...env.ref(), addresses: ['10.0.0.0/8'] }, env.deps, undefined, noDns);
    expect(result).toMatchObject({ ok: false, failure: { service: 'input', code: 'InvalidAddress' } });
  });
});
