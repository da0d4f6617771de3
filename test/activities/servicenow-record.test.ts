import { randomBytes } from 'node:crypto';

import { compensate } from '../../src/activities/compensate';
import type { IntegrationRef } from '../../src/contracts/provision';
import { ensureServiceNowRecord } from '../../src/activities/servicenow-record';
import { setServiceNowSecret } from '../../src/activities/rotation-servicenow';
import type { EnsureRecordActivityInput } from '../../src/contracts/provision';
import { configureLogging } from '../../src/lib/logger';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

let env: ActivityEnv;
let instance: string;
const CANARY = `canary-${randomBytes(12).toString('hex')}`;
const SECRET_NAME = 'sn-record-test-outbound-secret';
const logs: string[] = [];
const log = { info: (...a: unknown[]) => logs.push(a.join(' ')), warn: (...a: unknown[]) => logs.push(a.join(' ')) };

beforeAll(async () => {
  configureLogging({ sink: (r) => logs.push(JSON.stringify(r)) });
  env = await startActivityEnv();
  instance = env.sandbox.env().SANDBOX_SERVICENOW_INSTANCE;
  await env.deps.secrets.setSecret(SECRET_NAME, CANARY);
});
afterAll(async () => {
  await env?.close();
});
afterEach(() => env.sandbox.faults.clear());

function outboundInput(ref: IntegrationRef, appId: string): EnsureRecordActivityInput {
  return {
    ...ref,
    key: 'outboundProvider',
    table: 'oauth_entity',
    naturalKey: { client_id: appId, type: 'oauth_provider' },
    fields: {
      name: `${ref.tenantName} M365 Support Outbound ${appId.slice(0, 8)}`,
      type: 'oauth_provider',
      client_id: appId,
      default_grant_type: 'client_credentials',
      token_url: `https://login.microsoftonline.com/${ref.tenant}/oauth2/token`,
      active: 'true',
    },
    secret: { field: 'client_secret', secretName: SECRET_NAME },
    manualFallback: 'System OAuth > Application Registry > New > Connect to a third party OAuth Provider',
  };
}

const rowsWith = (table: string, column: string, value: string) =>
  env.sandbox.servicenow.records(instance, table).filter((r) => r.values[column] === value);

const newAppId = () => crypto.randomUUID();

/** What the orchestrator does for a record whose secret is pending: the run's Key Vault version, written apart. */
async function writeSecretIfPending(
  input: EnsureRecordActivityInput,
  result: Awaited<ReturnType<typeof ensureServiceNowRecord>>,
): Promise<boolean> {
  if (!result.ok || !result.secretPending || !input.secret) return false;
  const version = (await env.deps.secrets.getSecret(input.secret.secretName)).properties.version!;
  const written = await setServiceNowSecret(
    {
      ...input,
      role: 'outbound',
      consumer: { record: input.key, table: input.table, sysId: result.sysId!, field: input.secret.field },
      secret: { secretName: input.secret.secretName, version },
      manualFallback: input.manualFallback,
    },
    env.deps,
    log,
  );
  if (!written.ok) throw new Error(written.failure.message);
  return written.written;
}

async function ensureWithSecret(input: EnsureRecordActivityInput) {
  const result = await ensureServiceNowRecord(input, env.deps, log);
  await writeSecretIfPending(input, result);
  return result;
}

describe('ensureServiceNowRecord', () => {
  it("creates the record and reports its secret pending; the run's version is written apart and never returned", async () => {
    const appId = newAppId();
    const input = outboundInput(env.ref(), appId);
    const mark = env.sandbox.journal.mark();
    const result = await ensureServiceNowRecord(input, env.deps, log);
    expect(result).toMatchObject({ ok: true, key: 'outboundProvider', table: 'oauth_entity', created: true });
    if (!result.ok) throw new Error('unreachable');
    expect(result.secretPending).toBe(true);
    expect(result.mismatches).toEqual([]);
    expect(result.manualAction).toBeUndefined();
    // The record is written without its secret, and Key Vault is not read: the value is not this activity's business.
    expect(env.sandbox.servicenow.secretOf(instance, 'oauth_entity', result.sysId!)).toBeUndefined();
    expect(env.sandbox.journal.entries({ service: 'keyvault', since: mark })).toEqual([]);
    const rows = rowsWith('oauth_entity', 'client_id', appId);
    expect(rows).toHaveLength(1);
    expect(rows[0].values.sys_id).toBe(result.sysId);
    expect(rows[0].values.default_grant_type).toBe('client_credentials');

    // What the orchestrator does next: the run's Key Vault version into the field, in a PATCH of its own.
    expect(await writeSecretIfPending(input, result)).toBe(true);
    expect(env.sandbox.servicenow.secretOf(instance, 'oauth_entity', result.sysId!)).toBe(CANARY);
    expect(JSON.stringify(result)).not.toContain(CANARY);
    expect(logs.join('\n')).not.toContain(CANARY);
    // The journal's redacted bodies never hold the secret; the secret PATCH carried the display-value flag.
    const entries = env.sandbox.journal.entries({ service: 'servicenow' });
    expect(JSON.stringify(entries)).not.toContain(CANARY);
    const secretWrite = entries.find(
      (e) =>
        e.method === 'PATCH' &&
        e.path.endsWith(`/oauth_entity/${result.sysId!}`) &&
        e.query.sysparm_input_display_value === 'true',
    );
    expect(secretWrite).toBeDefined();
  });

  it('writes nothing and reports nothing pending when run again after success', async () => {
    const input = outboundInput(env.ref(), newAppId());
    const first = await ensureWithSecret(input);
    const mark = env.sandbox.journal.mark();
    // A later run (re-provisioning) of the same integration: nothing to write, and not its record.
    const second = await ensureServiceNowRecord({ ...input, instanceId: `${input.instanceId}-rerun` }, env.deps);
    expect(second).toMatchObject({ ok: true, created: false, mismatches: [] });
    if (!first.ok || !second.ok) throw new Error('unreachable');
    expect(second.sysId).toBe(first.sysId);
    expect(second.secretPending).toBeUndefined();
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
  });

  it('leaves one record when called twice (sequentially and concurrently)', async () => {
    const appId = newAppId();
    const input = outboundInput(env.ref(), appId);
    await ensureWithSecret(input);
    await ensureWithSecret(input);
    expect(rowsWith('oauth_entity', 'client_id', appId)).toHaveLength(1);

    const concurrentId = newAppId();
    const both = await Promise.all([
      ensureWithSecret(outboundInput(env.ref(), concurrentId)),
      ensureWithSecret(outboundInput(env.ref(), concurrentId)),
    ]);
    const rows = rowsWith('oauth_entity', 'client_id', concurrentId);
    expect(rows).toHaveLength(1);
    for (const r of both) expect(r).toMatchObject({ ok: true, sysId: rows[0].values.sys_id });
    expect(env.sandbox.servicenow.secretOf(instance, 'oauth_entity', rows[0].values.sys_id)).toBe(CANARY);
  });

  it('creates a record in the fewest calls: one look-up and the insert, whose answer is the read-back', async () => {
    const appId = newAppId();
    const input = outboundInput(env.ref(), appId);
    const mark = env.sandbox.journal.mark();
    const result = await ensureServiceNowRecord(input, env.deps, log);
    expect(result).toMatchObject({ ok: true, created: true, secretPending: true, mismatches: [] });
    const calls = env.sandbox.journal
      .entries({ since: mark })
      .filter((e) => e.service === 'servicenow' || e.service === 'keyvault')
      .map((e) => `${e.service} ${e.method} ${e.path.replace(/[0-9a-f]{32}$/, '{sys_id}')}`);
    expect(calls).toEqual([
      expect.stringMatching(/^servicenow GET .*\/table\/oauth_entity$/),
      expect.stringMatching(/^servicenow POST .*\/table\/oauth_entity$/),
    ]);
    // The insert answered with the non-secret fields only: the secret column never travels back.
    const insert = env.sandbox.journal.entries({ since: mark }).find((e) => e.method === 'POST')!;
    expect(insert.query.sysparm_fields?.split(',')).not.toContain('client_secret');
    expect(insert.query.sysparm_fields?.split(',')).toContain('token_url');

    // Without a secret: the same two calls, and nothing pending.
    const m2 = env.sandbox.journal.mark();
    const plain = await ensureServiceNowRecord(
      { ...outboundInput(env.ref(), newAppId()), secret: undefined },
      env.deps,
      log,
    );
    expect(plain).toMatchObject({ ok: true, created: true, mismatches: [] });
    expect(plain.ok && plain.secretPending).toBeFalsy();
    expect(env.sandbox.journal.entries({ service: 'servicenow', since: m2 }).map((e) => e.method)).toEqual([
      'GET',
      'POST',
    ]);
  });

  it('two overlapping executions inserting the same record end with one record: the second waits for the lock', async () => {
    // The insert is slow, so the second execution starts while the first one's insert is in flight.
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'POST',
      path: '/api/now/v2/table/oauth_entity$',
      action: { type: 'latency', ms: 400 },
      times: 1,
    });
    const appId = newAppId();
    const input = outboundInput(env.ref(), appId);
    const mark = env.sandbox.journal.mark();
    const first = ensureServiceNowRecord(input, env.deps);
    await new Promise((r) => setTimeout(r, 150));
    const second = ensureServiceNowRecord(input, env.deps);
    const both = await Promise.all([first, second]);
    const rows = rowsWith('oauth_entity', 'client_id', appId);
    expect(rows).toHaveLength(1);
    for (const r of both) expect(r).toMatchObject({ ok: true, created: true, sysId: rows[0].values.sys_id });
    expect(
      env.sandbox.journal.entries({ service: 'servicenow', since: mark }).filter((e) => e.method === 'POST'),
    ).toHaveLength(1);
  });

  it('keeps the oldest row of a shared record when one appeared without the lock while inserting', async () => {
    // ServiceNow's runtime access tracking (or a person) may create a cross-scope privilege without our lock.
    const ref = env.ref();
    const scope = randomBytes(16).toString('hex');
    const naturalKey = { source_scope: scope, target_name: 'oauth_entity', operation: 'read' };
    const fields = { ...naturalKey, target_scope: 'global', target_type: 'sys_db_object', status: 'allowed' };
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'POST',
      path: '/api/now/v2/table/sys_scope_privilege$',
      action: { type: 'latency', ms: 300 },
      times: 1,
    });
    const running = ensureServiceNowRecord(
      {
        ...ref,
        key: 'scopeReadOauthEntity',
        table: 'sys_scope_privilege',
        naturalKey,
        fields,
        shared: true,
        manualFallback: 'Cross scope privileges',
      },
      env.deps,
      log,
    );
    await new Promise((r) => setTimeout(r, 100));
    const tracked = env.sandbox.servicenow.seedRecord(instance, 'sys_scope_privilege', fields);
    const row = rowsWith('sys_scope_privilege', 'sys_id', tracked)[0];
    row.values.sys_created_on = '2001-01-01 00:00:00';
    const result = await running;
    expect(result).toMatchObject({ ok: true, sysId: tracked, shared: true });
    expect(rowsWith('sys_scope_privilege', 'source_scope', scope).map((r) => r.values.sys_id)).toEqual([tracked]);
    // Not created by an integration: never deleted by one.
    expect(await env.deps.ownership.getShared(instance, 'sys_scope_privilege', naturalKey)).toMatchObject({
      sysId: tracked,
      createdBy: '',
    });
  });

  it('activates a record this run wrote by its sys_id in one PATCH, and ensures it anew when it is gone', async () => {
    const ref = env.ref();
    const input = outboundInput(ref, newAppId());
    const inert = { ...input, fields: { ...input.fields, active: 'false' } };
    const first = await ensureWithSecret(inert);
    if (!first.ok) throw new Error('unreachable');
    const mark = env.sandbox.journal.mark();
    const activated = await ensureServiceNowRecord({ ...input, sysId: first.sysId }, env.deps, log);
    expect(activated.ok && activated.secretPending).toBeFalsy();
    expect(activated).toMatchObject({ ok: true, sysId: first.sysId, created: true, updated: true, mismatches: [] });
    expect(rowsWith('oauth_entity', 'sys_id', first.sysId!)[0].values.active).toBe('true');
    expect(env.sandbox.journal.entries({ service: 'servicenow', since: mark }).map((e) => e.method)).toEqual(['PATCH']);
    // Its secret was written: not written again.
    expect(env.sandbox.servicenow.secretOf(instance, 'oauth_entity', first.sysId!)).toBe(CANARY);

    // Removed behind our back: found missing (404), then looked up and inserted as any record.
    const gone = await ensureServiceNowRecord({ ...outboundInput(ref, newAppId()), secret: undefined }, env.deps);
    if (!gone.ok) throw new Error('unreachable');
    await env.deps.serviceNow(instance).remove('oauth_entity', gone.sysId!);
    const again = await ensureServiceNowRecord(
      { ...outboundInput(ref, newAppId()), secret: undefined, sysId: gone.sysId },
      env.deps,
    );
    expect(again).toMatchObject({ ok: true, created: true, mismatches: [] });
    if (!again.ok) throw new Error('unreachable');
    expect(again.sysId).not.toBe(gone.sysId);
  });

  it('reports created from the ownership ledger: true for every execution of the creating run, false for a later run', async () => {
    const ref = env.ref();
    const input = outboundInput(ref, newAppId());
    const first = await ensureServiceNowRecord(input, env.deps);
    const mark = env.sandbox.journal.mark();
    const again = await ensureServiceNowRecord(input, env.deps);
    expect(again).toMatchObject({ ok: true, created: true });
    if (!first.ok || !again.ok) throw new Error('unreachable');
    expect(again.sysId).toBe(first.sysId);
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
    const claim = await env.deps.ownership.getClaim(ref.integrationId, 'outboundProvider', ref.instanceId);
    expect(claim).toMatchObject({ createdRun: ref.instanceId, sysId: first.sysId, table: 'oauth_entity' });
    // A later run of the same integration (re-provisioning) finds the record: not its own.
    const later = await ensureServiceNowRecord({ ...input, instanceId: `${ref.instanceId}-rerun` }, env.deps);
    expect(later).toMatchObject({ ok: true, created: false, sysId: first.sysId });
  });

  it('adopts the record of its own claim when an execution stopped between the insert and recording the sys_id', async () => {
    const ref = env.ref();
    const appId = newAppId();
    const input = outboundInput(ref, appId);
    // The first execution claimed and inserted, then stopped before recording the sys_id in the ledger.
    await env.deps.ownership.updateClaim(ref.integrationId, 'outboundProvider', ref.instanceId, () => ({
      integrationId: ref.integrationId,
      key: 'outboundProvider',
      table: 'oauth_entity',
      serviceNowInstance: ref.serviceNowInstance,
      createdRun: ref.instanceId,
      sysId: '',
      claimedAt: env.sandbox.clock.date().toISOString(),
    }));
    const sysId = env.sandbox.servicenow.seedRecord(instance, 'oauth_entity', { ...input.fields });
    const result = await ensureServiceNowRecord(input, env.deps);
    expect(result).toMatchObject({ ok: true, created: true, sysId });
    expect(await env.deps.ownership.getClaim(ref.integrationId, 'outboundProvider', ref.instanceId)).toMatchObject({
      sysId,
    });
  });

  it('compensation removes what its run created, counts an already removed record, reports a refused DELETE', async () => {
    const ref = env.ref();
    const created = await ensureServiceNowRecord({ ...outboundInput(ref, newAppId()), secret: undefined }, env.deps);
    if (!created.ok) throw new Error('unreachable');
    const object = { kind: 'record' as const, key: created.key, table: created.table, sysId: created.sysId! };
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'DELETE',
      action: { type: 'status', status: 403 },
      times: 1,
    });
    const refused = await compensate({ ...ref, created: [object] }, env.deps);
    expect(refused.orphans).toEqual([{ object, reason: expect.stringMatching(/403/) }]);
    expect(rowsWith('oauth_entity', 'sys_id', object.sysId)).toHaveLength(1);
    expect(await compensate({ ...ref, created: [object] }, env.deps)).toEqual({ removed: [object], orphans: [] });
    expect(rowsWith('oauth_entity', 'sys_id', object.sysId)).toHaveLength(0);
    expect(await env.deps.ownership.getClaim(ref.integrationId, 'outboundProvider', ref.instanceId)).toBeUndefined();
    // At-least-once compensation: the record and its claim are gone, so a second run counts it removed.
    expect(await compensate({ ...ref, created: [object] }, env.deps)).toEqual({ removed: [object], orphans: [] });
  });

  it('finds a field ServiceNow did not keep from the answers it already has: the insert answer, the PATCH response', async () => {
    const appId = newAppId();
    const base = outboundInput(env.ref(), appId);
    // No secret (its own PATCH would come after those answers), and a field the table does not have: ServiceNow
    // ignores it on write and leaves it out of every answer.
    const { secret: _secret, ...plain } = base;
    const input = { ...plain, fields: { ...plain.fields, u_not_a_column: 'x' } };
    const byId = (since: number) =>
      env.sandbox.journal
        .entries({ service: 'servicenow', since })
        .filter((e) => e.method === 'GET' && /\/table\/oauth_entity\/[0-9a-f]{32}$/.test(e.path));

    const m1 = env.sandbox.journal.mark();
    const created = await ensureServiceNowRecord(input, env.deps, log);
    expect(created).toMatchObject({ ok: true, created: true, mismatches: ['u_not_a_column'] });
    expect(byId(m1)).toEqual([]); // no separate read-back

    // A field changed behind our back is patched; the PATCH answer shows what was kept.
    const row = rowsWith('oauth_entity', 'client_id', appId)[0];
    row.values.default_grant_type = 'password';
    const m2 = env.sandbox.journal.mark();
    const patched = await ensureServiceNowRecord(input, env.deps, log);
    expect(patched).toMatchObject({ ok: true, mismatches: ['u_not_a_column'] });
    expect(row.values.default_grant_type).toBe('client_credentials');
    expect(byId(m2)).toEqual([]);
  });

  it('patches a changed field back, only that field, and not the secret', async () => {
    const appId = newAppId();
    const input = outboundInput(env.ref(), appId);
    await ensureServiceNowRecord(input, env.deps);
    const row = rowsWith('oauth_entity', 'client_id', appId)[0];
    row.values.token_url = 'https://attacker.example/token';
    const mark = env.sandbox.journal.mark();
    const result = await ensureServiceNowRecord({ ...input, instanceId: `${input.instanceId}-rerun` }, env.deps);
    expect(result).toMatchObject({ ok: true, created: false, mismatches: [] });
    expect(row.values.token_url).toBe(input.fields.token_url);
    const writes = env.sandbox.journal.writes({ since: mark });
    expect(writes).toHaveLength(1);
    expect(writes[0].method).toBe('PATCH');
    expect(Object.keys(writes[0].body as object)).toEqual(['token_url']);
  });

  it('reports the secret pending again only when the field is empty (a run that stopped after the insert)', async () => {
    const appId = newAppId();
    const input = outboundInput(env.ref(), appId);
    const first = await ensureWithSecret(input);
    if (!first.ok) throw new Error('unreachable');
    const sysId = first.sysId!;
    // The field is set (read back masked): a plain re-run has nothing to write.
    const again = await ensureServiceNowRecord(input, env.deps);
    expect(again.ok && again.secretPending).toBeFalsy();
    // An empty field: pending, and the run's version fills it.
    await env.deps.serviceNow(instance).setPassword2('oauth_entity', sysId, 'client_secret', '');
    expect(env.sandbox.servicenow.secretOf(instance, 'oauth_entity', sysId)).toBeUndefined();
    const empty = await ensureServiceNowRecord(input, env.deps);
    expect(empty).toMatchObject({ ok: true, sysId, secretPending: true });
    expect(await writeSecretIfPending(input, empty)).toBe(true);
    expect(env.sandbox.servicenow.secretOf(instance, 'oauth_entity', sysId)).toBe(CANARY);
    // A record this run wrote before, patched by its sys_id (activation): the same rule.
    const known = await ensureServiceNowRecord({ ...input, sysId }, env.deps);
    expect(known).toMatchObject({ ok: true, sysId });
    expect(known.ok && known.secretPending).toBeFalsy();
  });

  it('a refused secret write (403) becomes a manual action naming the Key Vault secret and version, never its value', async () => {
    const input = outboundInput(env.ref(), newAppId());
    const result = await ensureServiceNowRecord(input, env.deps);
    if (!result.ok) throw new Error('unreachable');
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'PATCH',
      path: `/api/now/v2/table/oauth_entity/${result.sysId}$`,
      action: { type: 'status', status: 403, body: { error: { message: 'Operation Failed' }, status: 'failure' } },
    });
    const version = (await env.deps.secrets.getSecret(SECRET_NAME)).properties.version!;
    const consumer = { record: input.key, table: input.table, sysId: result.sysId!, field: 'client_secret' };
    const { manualFallback, ...ref } = input;
    const write = { ...ref, role: 'outbound', consumer, secret: { secretName: SECRET_NAME, version } };
    const handedOff = await setServiceNowSecret({ ...write, manualFallback }, env.deps, log);
    expect(handedOff).toMatchObject({ ok: true, written: false, manualAction: { actor: 'ServiceNow administrator' } });
    const steps = handedOff.ok ? (handedOff.manualAction?.steps ?? []) : [];
    expect(steps).toEqual(
      expect.arrayContaining([
        { label: 'sys_id', value: result.sysId },
        expect.objectContaining({ value: `${SECRET_NAME} (version ${version})` }),
      ]),
    );
    expect(JSON.stringify(handedOff)).not.toContain(CANARY);
    // Rotation names no fallback: the same refusal is a failure it hands off itself.
    expect(await setServiceNowSecret(write, env.deps, log)).toMatchObject({ ok: false, failure: { status: 403 } });
    expect(env.sandbox.servicenow.secretOf(instance, 'oauth_entity', result.sysId!)).toBeUndefined();
  });

  it('never picks a record through a natural-key field the table lacks', async () => {
    const ref = env.ref();
    const a = env.sandbox.servicenow.seedRecord(instance, 'oidc_provider_configuration', { name: 'Fabrikam Azure' });
    const b = env.sandbox.servicenow.seedRecord(instance, 'oidc_provider_configuration', { name: 'Tailspin Azure' });
    const before = env.sandbox.servicenow.records(instance, 'oidc_provider_configuration').length;
    const mark = env.sandbox.journal.mark();
    const result = await ensureServiceNowRecord(
      {
        ...ref,
        key: 'oidcProvider',
        table: 'oidc_provider_configuration',
        naturalKey: { nmae: 'Contoso Azure' }, // misspelled: ServiceNow drops the term and returns every row
        fields: { name: 'Contoso Azure', user_claim: 'appid' },
        manualFallback: 'System OAuth > OIDC Provider Configuration > New',
      },
      env.deps,
    );
    expect(result).toMatchObject({ ok: false, failure: { service: 'input', code: 'InvalidNaturalKey' } });
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
    expect(env.sandbox.servicenow.records(instance, 'oidc_provider_configuration')).toHaveLength(before);
    for (const id of [a, b])
      expect(
        env.sandbox.servicenow.records(instance, 'oidc_provider_configuration').find((r) => r.values.sys_id === id)
          ?.values.user_claim,
      ).not.toBe('appid');
  });

  it('fails without guessing when several records match, naming their sys_ids', async () => {
    const name = `Dup ${randomBytes(4).toString('hex')} Azure`;
    const a = env.sandbox.servicenow.seedRecord(instance, 'oidc_provider_configuration', { name });
    const b = env.sandbox.servicenow.seedRecord(instance, 'oidc_provider_configuration', { name });
    const result = await ensureServiceNowRecord(
      {
        ...env.ref(),
        key: 'oidcProvider',
        table: 'oidc_provider_configuration',
        naturalKey: { name },
        fields: { name, user_claim: 'appid' },
        manualFallback: 'x',
      },
      env.deps,
    );
    expect(result).toMatchObject({ ok: false, failure: { service: 'servicenow', code: 'AmbiguousRecord' } });
    if (result.ok) throw new Error('unreachable');
    expect(result.failure.message).toContain(a);
    expect(result.failure.message).toContain(b);
  });

  it('refuses a natural-key value with ^ or a line break as a non-retriable failure', async () => {
    const mark = env.sandbox.journal.mark();
    const result = await ensureServiceNowRecord(
      { ...outboundInput(env.ref(), 'x^ORclient_idISNOTEMPTY'), secret: undefined },
      env.deps,
    );
    expect(result).toMatchObject({ ok: false, failure: { service: 'input', code: 'ValidationError' } });
    expect(env.sandbox.journal.entries({ since: mark })).toEqual([]);
  });

  it('turns a 403 into a manual action with the exact values and the Key Vault secret name only', async () => {
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'POST',
      path: '/api/now/v2/table/oauth_entity$',
      action: {
        type: 'status',
        status: 403,
        body: {
          error: { message: 'Operation Failed', detail: 'ACL Exception Insert Failed due to security constraints' },
          status: 'failure',
        },
      },
    });
    const appId = newAppId();
    const input = outboundInput(env.ref(), appId);
    const result = await ensureServiceNowRecord(input, env.deps);
    expect(result).toMatchObject({ ok: true, created: false });
    if (!result.ok) throw new Error('unreachable');
    expect(result.sysId).toBeUndefined();
    const steps = result.manualAction?.steps ?? [];
    expect(steps).toEqual(
      expect.arrayContaining([
        { label: 'client_id', value: appId },
        { label: 'token_url', value: input.fields.token_url },
        expect.objectContaining({ value: SECRET_NAME }),
      ]),
    );
    expect(JSON.stringify(result)).not.toContain(CANARY);
    expect(rowsWith('oauth_entity', 'client_id', appId)).toHaveLength(0);
  });

  it('hands off when the table refuses writes (deniedWrites)', async () => {
    const denied = await startActivityEnv({ servicenow: { deniedWrites: ['sys_scope_privilege'] } });
    try {
      const result = await ensureServiceNowRecord(
        {
          ...denied.ref(),
          key: 'scopeReadOauthEntity',
          table: 'sys_scope_privilege',
          naturalKey: {
            source_scope: '6d05c93f1b7784507ddd4227cc4bcb9f',
            target_name: 'oauth_entity',
            operation: 'read',
          },
          fields: { target_scope: 'global', target_type: 'sys_db_object', status: 'allowed' },
          manualFallback: 'Cross scope privileges: allow x_mioms_m365_assis to read oauth_entity',
        },
        denied.deps,
      );
      expect(result).toMatchObject({ ok: true, created: false, manualAction: { actor: 'ServiceNow administrator' } });
    } finally {
      await denied.close();
    }
  });

  it('throws on 429 so the durable retry policy applies', async () => {
    env.sandbox.faults.add({
      service: 'servicenow',
      path: '/api/now/v2/table/oauth_entity',
      action: { type: 'status', status: 429, headers: { 'Retry-After': '3600' } },
    });
    await expect(ensureServiceNowRecord(outboundInput(env.ref(), newAppId()), env.deps)).rejects.toMatchObject({
      status: 429,
      retriable: true,
    });
  });

  it('a missing Key Vault version fails the secret write, not the record', async () => {
    const input = {
      ...outboundInput(env.ref(), newAppId()),
      secret: { field: 'client_secret', secretName: 'does-not-exist' },
    };
    const result = await ensureServiceNowRecord(input, env.deps);
    expect(result).toMatchObject({ ok: true, created: true, secretPending: true });
    if (!result.ok) throw new Error('unreachable');
    const write = await setServiceNowSecret(
      {
        ...input,
        role: 'outbound',
        consumer: { record: input.key, table: input.table, sysId: result.sysId!, field: 'client_secret' },
        secret: { secretName: 'does-not-exist', version: '0123456789abcdef0123456789abcdef' },
        manualFallback: input.manualFallback,
      },
      env.deps,
    );
    expect(write).toMatchObject({ ok: false, failure: { service: 'keyvault', status: 404 } });
  });
});
