/**
 * Isolation of integrations that share one ServiceNow instance: each integration's compensation removes only what
 * the ownership ledger says its run created, shared records (the profile's cross-scope privileges, role grants to
 * named people, IP allow rules) are reference-counted, and nothing is taken as ours because of its sys_created_on.
 * Activity level, against the sandbox ServiceNow stand-in (request journal) and Azurite (the ledger).
 */
import { compensate } from '../../src/activities/compensate';
import type {
  CreatedObject,
  EnsureRecordActivityInput,
  IntegrationRef,
  RecordResult,
} from '../../src/contracts/provision';
import { ensureIpAllowlist } from '../../src/activities/servicenow-ip';
import { ensureServiceNowRecord } from '../../src/activities/servicenow-record';
import { ensureRoleGrant } from '../../src/activities/servicenow-roles';
import { configureLogging } from '../../src/lib/logger';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import { renderRecord } from '../../src/profiles/template';
import { OwnershipBusyError, PRE_EXISTING } from '../../src/registry/ownership';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

const INSTANCES = ['iso-main', 'iso-shared', 'iso-preexisting', 'iso-grants', 'iso-ip'];
let env: ActivityEnv;
let scopeSysId: string;

beforeAll(async () => {
  configureLogging({ sink: () => undefined });
  env = await startActivityEnv({ servicenow: { instances: INSTANCES } });
  const sn = env.sandbox.servicenow;
  scopeSysId = sn
    .records(INSTANCES[0], 'sys_scope')
    .find((r) => r.values.scope === m365SupportAad.serviceNow.requiredScope)!.values.sys_id;
});
afterAll(async () => {
  await env?.close();
});
afterEach(() => env.sandbox.faults.clear());

const rows = (instance: string, table: string) => env.sandbox.servicenow.records(instance, table);
const exists = (instance: string, table: string, sysId: string) =>
  rows(instance, table).some((r) => r.values.sys_id === sysId);

/** The profile's shared privilege records, rendered as the orchestrator renders them. */
function privilegeInputs(ref: IntegrationRef): EnsureRecordActivityInput[] {
  const specs = m365SupportAad.serviceNow.records.filter((r) => r.shared);
  expect(specs.map((s) => s.table)).toEqual(['sys_scope_privilege', 'sys_scope_privilege']);
  return specs.map((spec) => ({
    ...ref,
    key: spec.key,
    table: spec.table,
    shared: true,
    naturalKey: renderRecord(spec.naturalKey, { scopeSysId }),
    fields: renderRecord(spec.fields, { scopeSysId }),
    manualFallback: spec.manualFallback,
  }));
}

/** The integration's own (unshared) OIDC provider configuration: its natural key carries the integration id. */
function ownInput(ref: IntegrationRef): EnsureRecordActivityInput {
  const spec = m365SupportAad.serviceNow.records.find((r) => r.key === 'oidcProvider')!;
  const values = {
    tenantName: ref.tenantName,
    integrationId: ref.integrationId,
    authorityHost: 'https://login.microsoftonline.com',
    tenant: ref.tenant,
  };
  return {
    ...ref,
    key: spec.key,
    table: spec.table,
    naturalKey: renderRecord(spec.naturalKey, values),
    fields: renderRecord(spec.fields, values),
    manualFallback: spec.manualFallback,
  };
}

/** What the orchestrator lists for compensation: the records whose `created` is true. */
const createdOf = (results: RecordResult[]): CreatedObject[] =>
  results
    .filter((r) => r.created && r.sysId)
    .map((r) => ({
      kind: 'record',
      key: r.key,
      table: r.table,
      sysId: r.sysId!,
      ...(r.shared ? { shared: true } : {}),
    }));

/** A durable retry, in the test: an activity that threw OwnershipBusyError runs again. */
async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof OwnershipBusyError) || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function ensureAll(inputs: EnsureRecordActivityInput[]): Promise<RecordResult[]> {
  const out: RecordResult[] = [];
  for (const input of inputs) {
    const r = await withRetry(() => ensureServiceNowRecord(input, env.deps));
    if (!r.ok) throw new Error(r.failure.message);
    out.push(r);
  }
  return out;
}

/** DELETE or PATCH requests to any of `sysIds` since `mark`. */
const writesTo = (sysIds: string[], mark: number) =>
  env.sandbox.journal
    .writes({ service: 'servicenow', since: mark })
    .filter((w) => (w.method === 'DELETE' || w.method === 'PATCH') && sysIds.some((id) => w.path.endsWith(`/${id}`)));

describe('integrations sharing one ServiceNow instance', () => {
  it('(a) compensating one integration leaves the shared privileges and the other integration untouched', async () => {
    const instance = 'iso-shared';
    const a = env.ref({ serviceNowInstance: instance });
    const b = env.ref({ serviceNowInstance: instance });
    expect(a.integrationId).not.toBe(b.integrationId);
    // Both provision at once (same profile scope): one row per privilege, both integrations hold a reference.
    const [resA, resB] = await Promise.all([
      ensureAll([...privilegeInputs(a), ownInput(a)]),
      ensureAll([...privilegeInputs(b), ownInput(b)]),
    ]);
    const privileges = rows(instance, 'sys_scope_privilege').filter((r) => r.values.source_scope === scopeSysId);
    expect(privileges).toHaveLength(2);
    const privilegeIds = privileges.map((r) => r.values.sys_id).sort();
    for (const res of [resA, resB]) {
      expect(res.map((r) => r.created)).toEqual([true, true, true]);
      expect(
        res
          .slice(0, 2)
          .map((r) => r.sysId)
          .sort(),
      ).toEqual(privilegeIds);
      expect(res.slice(0, 2).every((r) => r.shared)).toBe(true);
      expect(res[2].shared).toBeUndefined();
    }
    const entry = await env.deps.ownership.findShared(instance, 'sys_scope_privilege', privilegeIds[0]);
    expect(Object.keys(entry!.holders).sort()).toEqual([a.integrationId, b.integrationId].sort());
    expect([a.integrationId, b.integrationId]).toContain(entry!.createdBy);

    // A is rejected: its compensation releases its references and removes only its own record.
    const ownB = resB[2].sysId!;
    const mark = env.sandbox.journal.mark();
    const outA = await compensate({ ...a, created: createdOf(resA) }, env.deps);
    expect(outA.orphans).toEqual([]);
    expect(outA.removed).toHaveLength(3);
    expect(exists(instance, 'oidc_provider_configuration', resA[2].sysId!)).toBe(false);
    expect(exists(instance, 'oidc_provider_configuration', ownB)).toBe(true);
    for (const id of privilegeIds) expect(exists(instance, 'sys_scope_privilege', id)).toBe(true);
    expect(writesTo([...privilegeIds, ownB], mark)).toEqual([]);
    const afterA = await env.deps.ownership.findShared(instance, 'sys_scope_privilege', privilegeIds[0]);
    expect(Object.keys(afterA!.holders)).toEqual([b.integrationId]);

    // B goes too: the last reference, and an integration created them: the privileges are deleted.
    const outB = await compensate({ ...b, created: createdOf(resB) }, env.deps);
    expect(outB.orphans).toEqual([]);
    for (const id of privilegeIds) expect(exists(instance, 'sys_scope_privilege', id)).toBe(false);
    expect(exists(instance, 'oidc_provider_configuration', ownB)).toBe(false);
    for (const id of privilegeIds)
      expect(await env.deps.ownership.findShared(instance, 'sys_scope_privilege', id)).toBeUndefined();
  });

  it('(b) never deletes a privilege row that existed before any integration referenced it', async () => {
    const instance = 'iso-preexisting';
    const [first] = privilegeInputs(env.ref({ serviceNowInstance: instance }));
    const seeded = env.sandbox.servicenow.seedRecord(instance, 'sys_scope_privilege', { ...first.fields });
    const a = env.ref({ serviceNowInstance: instance });
    const b = env.ref({ serviceNowInstance: instance });
    const resA = await ensureAll(privilegeInputs(a));
    const resB = await ensureAll(privilegeInputs(b));
    expect(resA[0]).toMatchObject({ sysId: seeded, created: true, shared: true });
    expect(resB[0]).toMatchObject({ sysId: seeded, created: true, shared: true });
    expect((await env.deps.ownership.findShared(instance, 'sys_scope_privilege', seeded))?.createdBy).toBe(
      PRE_EXISTING,
    );
    const createdByA = resA[1].sysId!;

    const mark = env.sandbox.journal.mark();
    expect((await compensate({ ...a, created: createdOf(resA) }, env.deps)).orphans).toEqual([]);
    expect((await compensate({ ...b, created: createdOf(resB) }, env.deps)).orphans).toEqual([]);
    // The last integration went: the row A created is deleted, the pre-existing one never.
    expect(exists(instance, 'sys_scope_privilege', seeded)).toBe(true);
    expect(writesTo([seeded], mark)).toEqual([]);
    expect(exists(instance, 'sys_scope_privilege', createdByA)).toBe(false);
    expect(await env.deps.ownership.findShared(instance, 'sys_scope_privilege', seeded)).toBeUndefined();
  });

  it('(c) at-least-once: every execution of the creating run reports created; an earlier run’s record is left', async () => {
    const instance = 'iso-main';
    const ref = env.ref({ serviceNowInstance: instance });
    const input = ownInput(ref);
    const first = await ensureServiceNowRecord(input, env.deps);
    const second = await ensureServiceNowRecord(input, env.deps);
    expect(first).toMatchObject({ ok: true, created: true });
    expect(second).toMatchObject({ ok: true, created: true });
    if (!first.ok || !second.ok) throw new Error('unreachable');
    expect(second.sysId).toBe(first.sysId);
    const out = await compensate({ ...ref, created: createdOf([second]) }, env.deps);
    expect(out).toEqual({ removed: createdOf([second]), orphans: [] });
    expect(exists(instance, 'oidc_provider_configuration', first.sysId!)).toBe(false);

    // A record an earlier run created: a later run of the same integration does not own it.
    const earlier = await ensureServiceNowRecord(input, env.deps);
    if (!earlier.ok) throw new Error('unreachable');
    const later = { ...ref, instanceId: `${ref.instanceId}-later` };
    const found = await ensureServiceNowRecord({ ...input, instanceId: later.instanceId }, env.deps);
    expect(found).toMatchObject({ ok: true, created: false, sysId: earlier.sysId });
    // Even listed by mistake, the later run's compensation leaves it (and says why).
    const listed: CreatedObject = { kind: 'record', key: input.key, table: input.table, sysId: earlier.sysId! };
    const mark = env.sandbox.journal.mark();
    const outLater = await compensate({ ...later, created: [listed] }, env.deps);
    expect(outLater.removed).toEqual([]);
    expect(outLater.orphans).toEqual([{ object: listed, reason: expect.stringContaining('left in place') }]);
    expect(exists(instance, 'oidc_provider_configuration', earlier.sysId!)).toBe(true);
    expect(writesTo([earlier.sysId!], mark)).toEqual([]);
  });

  it('(d) a record someone else created after the run started is not taken as ours', async () => {
    const instance = 'iso-main';
    const ref = env.ref({ serviceNowInstance: instance });
    const runStart = env.sandbox.clock.date().toISOString();
    env.sandbox.clock.advance(5_000);
    const input = ownInput(ref);
    const seeded = env.sandbox.servicenow.seedRecord(instance, 'oidc_provider_configuration', { ...input.fields });
    const row = rows(instance, 'oidc_provider_configuration').find((r) => r.values.sys_id === seeded)!;
    expect(row.values.sys_created_on > runStart.replace('T', ' ').slice(0, 19)).toBe(true);
    // What the orchestrator used to pass: the run's start. It must make no difference.
    const withStart = { ...input, createdSince: runStart };
    const result = await ensureServiceNowRecord(withStart, env.deps);
    expect(result).toMatchObject({ ok: true, created: false, sysId: seeded });
    const listed: CreatedObject = { kind: 'record', key: input.key, table: input.table, sysId: seeded };
    const out = await compensate({ ...ref, created: [listed] }, env.deps);
    expect(out.removed).toEqual([]);
    expect(exists(instance, 'oidc_provider_configuration', seeded)).toBe(true);
  });

  it('(e) a role granted to the same named user by two integrations stays until the last one goes', async () => {
    const instance = 'iso-grants';
    const userName = 'abel.tuter';
    const role = 'x_mioms_m365_assis.insights_user';
    const a = env.ref({ serviceNowInstance: instance });
    const b = env.ref({ serviceNowInstance: instance });
    const ga = await ensureRoleGrant({ ...a, userName, role, shared: true }, env.deps);
    const gaAgain = await ensureRoleGrant({ ...a, userName, role, shared: true }, env.deps);
    const gb = await ensureRoleGrant({ ...b, userName, role, shared: true }, env.deps);
    expect(ga).toMatchObject({ ok: true, created: true, shared: true });
    expect(gaAgain).toMatchObject({ ok: true, created: true, shared: true });
    expect(gb).toMatchObject({ ok: true, created: true, shared: true });
    if (!ga.ok || !gb.ok) throw new Error('unreachable');
    expect(gb.sysId).toBe(ga.sysId);
    const grant = (g: typeof ga): CreatedObject => ({
      kind: 'record',
      key: `grant:${userName}:${role}`,
      table: 'sys_user_has_role',
      sysId: g.ok ? g.sysId! : '',
      shared: true,
    });
    const mark = env.sandbox.journal.mark();
    expect(await compensate({ ...a, created: [grant(ga)] }, env.deps)).toEqual({ removed: [grant(ga)], orphans: [] });
    expect(exists(instance, 'sys_user_has_role', ga.sysId!)).toBe(true);
    expect(writesTo([ga.sysId!], mark)).toEqual([]);
    await compensate({ ...b, created: [grant(gb)] }, env.deps);
    expect(exists(instance, 'sys_user_has_role', ga.sysId!)).toBe(false);
  });

  it('keeps every reference when many integrations take one concurrently (ETag retries)', async () => {
    const instance = 'iso-main';
    const sysId = env.sandbox.servicenow.seedRecord(instance, 'sys_scope_privilege', {
      source_scope: scopeSysId,
      target_name: 'sys_user',
      operation: 'read',
    });
    const k = {
      table: 'sys_scope_privilege',
      naturalKey: { source_scope: scopeSysId, target_name: 'sys_user', operation: 'read' },
    };
    const refs = Array.from({ length: 8 }, () => env.ref({ serviceNowInstance: instance }));
    const results = await Promise.all(
      refs.map((ref) =>
        ensureServiceNowRecord(
          { ...ref, key: 'scopeReadSysUser', ...k, shared: true, fields: k.naturalKey, manualFallback: 'x' },
          env.deps,
        ),
      ),
    );
    for (const r of results) expect(r).toMatchObject({ ok: true, created: true, sysId });
    const entry = await env.deps.ownership.findShared(instance, k.table, sysId);
    expect(Object.keys(entry!.holders).sort()).toEqual(refs.map((r) => r.integrationId).sort());
    expect(entry!.createdBy).toBe(PRE_EXISTING);
  });

  it('(f) IP allow rules are shared per address: one rule, released by each integration, removed by the last', async () => {
    const instance = 'iso-ip';
    env.sandbox.servicenow.seedRecord(instance, 'ip_access', {
      type: 'deny',
      direction: 'inbound',
      active: 'true',
      range_start: '0.0.0.0',
      range_end: '255.255.255.255',
    });
    // An administrator's allow rule for one of the addresses: referenced, never deleted.
    const admins = env.sandbox.servicenow.seedRecord(instance, 'ip_access', {
      type: 'allow',
      direction: 'bidirectional',
      active: 'true',
      range_start: '40.83.232.243',
      range_end: '40.83.232.243',
      description: 'office egress',
    });
    const addresses = ['52.149.152.32', '40.83.232.243'];
    const noDns = { resolve4: () => Promise.reject(new Error('ENOTFOUND')) };
    const a = env.ref({ serviceNowInstance: instance });
    const b = env.ref({ serviceNowInstance: instance });
    const ra = await ensureIpAllowlist({ ...a, addresses }, env.deps, undefined, noDns);
    const rb = await ensureIpAllowlist({ ...b, addresses }, env.deps, undefined, noDns);
    if (!ra.ok || !rb.ok) throw new Error('unreachable');
    const allows = rows(instance, 'ip_access').filter((r) => r.values.type === 'allow');
    expect(allows).toHaveLength(2);
    expect(ra.held).toEqual(rb.held);
    expect(ra.created).toEqual(ra.held);
    expect(rb.created).toEqual(rb.held);
    const ours = ra.held!.find((h) => h.address === addresses[0])!.sysId;
    const asCreated = (r: typeof ra): CreatedObject[] =>
      r.ok
        ? r.created.map((c) => ({
            kind: 'record',
            key: `ip:${c.address}`,
            table: 'ip_access',
            sysId: c.sysId,
            shared: true,
          }))
        : [];

    const mark = env.sandbox.journal.mark();
    expect((await compensate({ ...a, created: asCreated(ra) }, env.deps)).orphans).toEqual([]);
    expect(exists(instance, 'ip_access', ours)).toBe(true);
    expect(exists(instance, 'ip_access', admins)).toBe(true);
    expect(writesTo([ours, admins], mark)).toEqual([]);
    expect((await compensate({ ...b, created: asCreated(rb) }, env.deps)).orphans).toEqual([]);
    expect(exists(instance, 'ip_access', ours)).toBe(false);
    expect(exists(instance, 'ip_access', admins)).toBe(true);
    expect(writesTo([admins], mark)).toEqual([]);
  });
});

describe('a shared record being deleted', () => {
  it('makes a concurrent ensure wait (busy) instead of taking a reference to a record about to go', async () => {
    const instance = 'iso-shared';
    const x = env.ref({ serviceNowInstance: instance });
    const y = env.ref({ serviceNowInstance: instance });
    const [input] = privilegeInputs(x);
    const taken = await ensureServiceNowRecord(input, env.deps);
    if (!taken.ok || !taken.sysId) throw new Error('unreachable');
    // X's compensation decided to delete it (no reference left) and marked the entry, but has not deleted it yet.
    await env.deps.ownership.updateShared(instance, input.table, input.naturalKey, (cur) =>
      cur ? { ...cur, holders: {}, deletingSince: env.deps.ownership.nowIso() } : undefined,
    );
    await expect(ensureServiceNowRecord({ ...input, ...y }, env.deps)).rejects.toBeInstanceOf(OwnershipBusyError);
    const entry = await env.deps.ownership.getShared(instance, input.table, input.naturalKey);
    expect(entry?.holders[y.integrationId]).toBeUndefined();
  });
});
