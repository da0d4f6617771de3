/**
 * The fault matrix (test/faults/matrix.ts): one cell per external operation × fault. Each cell runs its flow through
 * the product's HTTP API, the emailed links and the local durable host against the sandbox with the fault armed on
 * that operation, finishes it (approves or rejects, confirms hand-offs, moves virtual time through durable retries),
 * clears the faults and checks the invariants:
 * - the run ended `active`/`failed`/`rejected` (provisioning) or `rotated`/`rolled-back` (rotation), never a crashed
 *   orchestration;
 * - nothing is left over unless it is recorded as an orphan on the integration: no Entra app of a failed run, no
 *   credential or enabled Key Vault version beyond the one in use, no ServiceNow record the integration does not use;
 *   after one `sweepOrphans`, nothing at all;
 * - no duplicates: one app per role, one credential per app, one record per natural key;
 * - an active integration that was re-run or rotated is still active and its credential in use yields a token.
 *
 * `FAULT_MATRIX_SAMPLE` picks the cells (default: a seeded sample of 12 for the CI lane; `npm run faults`: all).
 * The summary matrix is printed at the end.
 */
import type { SecretProperties } from '@azure/keyvault-secrets';

import { TERMINAL, type InstanceStatus } from '../../sandbox/durable/engine';
import type { LocalStack } from '../../sandbox/stack';
import { APPROVAL_EVENT, type CreatedObject, type RecordedOrphan } from '../../src/contracts/provision';
import { getDeps } from '../../src/app/deps';
import { requestTokenV2 } from '../../src/clients/entra';
import { resetConfigCache } from '../../src/config';
import type { ProvisionStatus } from '../../src/orchestrators/provision-types';
import type { RotationStatus } from '../../src/orchestrators/rotation-types';
import { uniqueNameFor } from '../../src/profiles/names';
import type { IntegrationRecord } from '../../src/registry/types';
import { sweepOrphans } from '../../src/rotation/orphans';
import { api, customStatus, openApprovalPage, postDecision } from '../e2e/api-driver';
import { approverOf, decideFromEmail, requestFor, runUntil, startStackFor, withSettings } from '../e2e/stack-driver';
import { handoffMails, quietSchedule, ROTATION_SETTINGS, rotateNow, rotationsOf } from '../e2e/rotation-helpers';
import {
  ALL_CELLS,
  DEADLINE_SETTINGS,
  faultRule,
  LATE_MS,
  OPERATIONS,
  selectCells,
  summary,
  type Cell,
  type Flow,
} from './matrix';

jest.setTimeout(240_000);

const MINUTE = 60_000;
const cells = selectCells();
const instanceOf = (i: number) => `fm${String(i).padStart(3, '0')}`;

/** The tables the product writes, and the natural key of each (src/profiles/m365-support-aad.ts). */
const NATURAL_KEYS: Record<string, string[]> = {
  oauth_entity: ['client_id', 'type'],
  oauth_entity_profile: ['oauth_entity'],
  oidc_provider_configuration: ['name'],
  oauth_oidc_entity: ['client_id'],
  sys_user: ['user_name'],
  sys_user_has_role: ['user', 'role'],
  sys_scope_privilege: ['source_scope', 'target_name', 'operation'],
  ip_access: ['start_address', 'end_address', 'type'],
};

const results = new Map<string, boolean>();
let stack: LocalStack;

beforeAll(async () => {
  stack = await startStackFor(['dev00000', 'fmclean', ...cells.map((_, i) => instanceOf(i))], {
    settings: {
      ROTATION_SCHEDULE: quietSchedule(new Date()),
      HEALTH_SCHEDULE: quietSchedule(new Date()),
      ...ROTATION_SETTINGS,
    },
  });
});
afterAll(async () => {
  if (results.size) process.stdout.write(`\n${summary(results)}\n`);
  await stack?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- flows

/** Runs a provisioning instance until `until` or its end, moving virtual time through durable retries. */
const settle = (id: string, until: (s: InstanceStatus) => boolean = () => false) =>
  runUntil(stack, id, until, { stepMs: 15_000, maxAdvanceMs: 60 * MINUTE });
/** At the approval step and listening for the decision (the emails are out; not between retries of sending them). */
const awaitingApproval = (s: InstanceStatus) =>
  customStatus(s)?.step === 'awaiting-approval' && stack.host.durable.waitingFor(s.instanceId).includes(APPROVAL_EVENT);

/** A client that answers 5xx while a dependency is failing is asked again, as the ServiceNow flow step would. */
async function again<T extends { status: number }>(what: string, ok: number[], fn: () => Promise<T>): Promise<T> {
  let last: T | undefined;
  for (let attempt = 0; attempt < 4; attempt++) {
    last = await fn();
    if (ok.includes(last.status)) return last;
    if (last.status < 500) break;
    await stack.host.durable.waitForIdle(20_000);
  }
  throw new Error(`${what} answered ${last?.status}`);
}

async function startRun(instance: string, reprovision = false): Promise<string> {
  const res = await again('POST /api/integrations', [202], () =>
    api(stack, 'POST', `/api/integrations${reprovision ? '?reprovision=true' : ''}`, {
      body: requestFor(stack, instance),
    }),
  );
  return (res.json as { id: string }).id;
}

async function decide(id: string, decision: 'approve' | 'reject') {
  let why = '';
  try {
    await again(`the ${decision} decision`, [200], async () => {
      try {
        return await decideFromEmail(stack, approverOf(stack), id, decision);
      } catch (err) {
        why = (err as Error).message; // no link in the mail, or the page itself failed to render
        return { status: 503, html: '' };
      }
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}${why ? ` (${why})` : ''}`, { cause: err });
  }
}

/** Provisions to the end; approves (or rejects) when asked. Returns the final status. */
async function provision(
  id: string,
  decision: 'approve' | 'reject',
  beforeDecision?: () => void,
): Promise<InstanceStatus> {
  const s = await settle(id, awaitingApproval);
  if (TERMINAL.includes(s.runtimeStatus)) return s;
  beforeDecision?.();
  await decide(id, decision);
  return settle(id);
}

async function provisionActive(instance: string): Promise<string> {
  const id = await startRun(instance);
  const s = await provision(id, 'approve');
  const out = s.output as ProvisionStatus | undefined;
  if (out?.outcome !== 'active') throw new Error(`setup provisioning of ${instance} ended ${out?.outcome}`);
  return id;
}

/** Drives the latest rotation of `id`: confirms hand-offs when asked, else moves to the next durable timer. */
async function rotate(id: string): Promise<InstanceStatus> {
  await again('POST /api/integrations/{id}/rotate', [202], () => rotateNow(stack, id));
  const confirmed = new Set<string>();
  for (let i = 0; i < 500; i++) {
    await stack.host.durable.waitForIdle(30_000);
    const s = rotationsOf(stack, id).at(-1);
    if (!s) throw new Error(`no rotation of ${id}`);
    if (TERMINAL.includes(s.runtimeStatus)) return s;
    const waiting = stack.host.durable.waitingFor(s.instanceId);
    const ready = handoffMails(stack, s.instanceId).filter(
      (m) => !confirmed.has(m.link) && waiting.some((e) => e.endsWith(`-${m.role}`)),
    );
    if (ready.length) {
      for (const m of ready) {
        await again(`the ${m.role} hand-off confirmation`, [200], async () => {
          const page = await openApprovalPage(m.link);
          if (page.status !== 200 || !page.action) return { status: page.status >= 500 ? page.status : 599 };
          const form = new URLSearchParams(page.fields);
          form.set('decision', 'done');
          return postDecision(new URL(page.action, m.link).toString(), form, page.cookie);
        });
        confirmed.add(m.link);
      }
      continue;
    }
    const next = stack.host.durable
      .timers(s.instanceId)
      .filter((x) => x.state === 'pending')
      .map((x) => x.fireAt.getTime())
      .sort((a, b) => a - b)[0];
    if (next === undefined) throw new Error(`rotation ${s.instanceId} is stuck (no pending timer, no hand-off)`);
    stack.sandbox.clock.advance(Math.max(next - stack.sandbox.clock.now(), 0) + 1);
    resetConfigCache();
    stack.host.durable.fireDueTimers();
  }
  throw new Error(`rotation of ${id} did not settle`);
}

// ---------------------------------------------------------------- looking at the result

type Snapshot = Record<string, Set<string>>;

function snapshotRecords(instance: string): Snapshot {
  const out: Snapshot = {};
  for (const table of Object.keys(NATURAL_KEYS))
    out[table] = new Set(stack.sandbox.servicenow.records(instance, table).map((r) => String(r.values.sys_id)));
  return out;
}

interface Leftover {
  what: string;
  matches: (o: CreatedObject) => boolean;
}

async function registryOf(id: string): Promise<IntegrationRecord | undefined> {
  return (await getDeps().registry.get(id))?.value;
}

async function versionsOf(secretName: string): Promise<SecretProperties[]> {
  const out: SecretProperties[] = [];
  try {
    for await (const v of getDeps().secrets.listPropertiesOfSecretVersions(secretName)) out.push(v);
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  return out;
}

const ROLES = ['outbound', 'restApi', 'restUser'];
/** The Key Vault secret of a role: `{integrationId}-{role}`, lower case (the provisioning's naming). */
const secretNameFor = (id: string, role: string) => `${id}-${role}`.toLowerCase();
const same = (a?: string, b?: string) => a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

/**
 * Everything of the integration the sandbox holds that the integration does not use now (its registry entry when it
 * is active): live apps, credentials, enabled Key Vault versions, ServiceNow records not in `baseline`.
 */
async function leftovers(id: string, instance: string, baseline: Snapshot): Promise<Leftover[]> {
  const record = await registryOf(id);
  const live = record?.status === 'active' ? record : undefined;
  const out: Leftover[] = [];
  const { directory } = stack.sandbox;
  for (const role of ROLES) {
    const uniqueName = uniqueNameFor(id, role);
    const apps = [...directory.applications.values()].filter(
      (a) => a.deletedAt === null && a.uniqueName?.toLowerCase() === uniqueName.toLowerCase(),
    );
    const used = live?.apps[role];
    for (const app of apps) {
      if (!used || used.objectId !== app.id) {
        out.push({
          what: `app ${role} ${app.id}`,
          matches: (o) => (o.kind === 'app' && o.objectId === app.id) || (o.kind === 'appCandidate' && o.role === role),
        });
        continue;
      }
      for (const c of app.passwordCredentials)
        if (!same(c.keyId, used.keyId))
          out.push({
            what: `credential ${c.keyId} on the ${role} app`,
            matches: (o) => o.kind === 'secret' && o.role === role && (o.keyId === undefined || same(o.keyId, c.keyId)),
          });
    }
    const secretName = secretNameFor(id, role);
    for (const v of await versionsOf(secretName))
      if (v.enabled !== false && !(used && same(v.version, used.secretVersion)))
        out.push({
          what: `enabled Key Vault version ${secretName}/${v.version}`,
          matches: (o) =>
            o.kind === 'secret' &&
            o.secretName === secretName &&
            (o.version === undefined || same(o.version, v.version)),
        });
  }
  const usedRecords = new Set(Object.values(live?.serviceNow ?? {}));
  for (const [table, before] of Object.entries(baseline))
    for (const row of stack.sandbox.servicenow.records(instance, table)) {
      const sysId = String(row.values.sys_id);
      if (before.has(sysId) || usedRecords.has(sysId)) continue;
      out.push({
        what: `${table} record ${sysId}`,
        matches: (o) =>
          (o.kind === 'record' && o.sysId === sysId) ||
          (o.kind === 'recordCandidate' &&
            o.table === table &&
            Object.entries(o.naturalKey).every(([k, v]) => String(row.values[k]) === v)),
      });
    }
  return out;
}

/** Natural keys held by more than one record, apps per role, credentials per used app. */
async function duplicates(id: string, instance: string): Promise<string[]> {
  const out: string[] = [];
  for (const [table, key] of Object.entries(NATURAL_KEYS)) {
    const seen = new Map<string, number>();
    for (const row of stack.sandbox.servicenow.records(instance, table)) {
      const k = key.map((f) => String(row.values[f] ?? '')).join('|');
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    for (const [k, n] of seen) if (n > 1) out.push(`${n} ${table} records with ${key.join(',')} = ${k}`);
  }
  const record = await registryOf(id);
  for (const role of ROLES) {
    const apps = [...stack.sandbox.directory.applications.values()].filter(
      (a) => a.deletedAt === null && a.uniqueName?.toLowerCase() === uniqueNameFor(id, role).toLowerCase(),
    );
    if (apps.length > 1) out.push(`${apps.length} apps for role ${role}`);
    const used = record?.status === 'active' ? record.apps[role] : undefined;
    const app = used && stack.sandbox.directory.applications.get(used.objectId);
    if (app && app.passwordCredentials.length > 1)
      out.push(`${app.passwordCredentials.length} credentials on the ${role} app`);
    if (used) {
      const enabled = (await versionsOf(used.secretName)).filter((v) => v.enabled !== false);
      if (enabled.length > 1) out.push(`${enabled.length} enabled Key Vault versions of ${used.secretName}`);
    }
  }
  return out;
}

/** The credential each role uses: its keyId and Key Vault value (read with faults cleared). */
async function inUse(id: string): Promise<Record<string, { keyId?: string; value: string; appId: string }>> {
  const record = await registryOf(id);
  const out: Record<string, { keyId?: string; value: string; appId: string }> = {};
  for (const [role, app] of Object.entries(record?.apps ?? {})) {
    const secret = await getDeps().secrets.getSecret(app.secretName, { version: app.secretVersion ?? '' });
    out[role] = { keyId: app.keyId, value: secret.value ?? '', appId: app.appId };
  }
  return out;
}

async function yieldsToken(appId: string, secret: string): Promise<boolean> {
  const deps = getDeps();
  const r = await requestTokenV2({
    authorityHost: deps.config.entra.authorityHost,
    tenant: deps.config.tenantId,
    clientId: appId,
    clientSecret: secret,
    scope: deps.config.graph.scope,
  });
  return r.ok;
}

// ---------------------------------------------------------------- one cell

async function runCell(cell: Cell, instance: string): Promise<string[]> {
  const problems: string[] = [];
  const { flow } = cell.op;
  const arm = () => stack.sandbox.faults.add(faultRule(cell, instance));
  let id: string;
  let before: Record<string, { keyId?: string; value: string; appId: string }> | undefined;
  let fault: ReturnType<typeof arm> | undefined;
  let ended: InstanceStatus;
  let baseline: Snapshot;

  if (flow === 'provision' || flow === 'reject') {
    baseline = snapshotRecords(instance);
    if (flow === 'provision') fault = arm();
    id = await startRun(instance);
    ended = await provision(id, flow === 'reject' ? 'reject' : 'approve', () => {
      if (flow === 'reject') fault = arm();
    });
  } else {
    id = await provisionActive(instance);
    baseline = snapshotRecords(instance);
    before = await inUse(id);
    fault = arm();
    if (flow === 'rerun') {
      await startRun(instance, true);
      ended = await provision(id, 'approve');
    } else ended = await rotate(id);
  }
  const applied =
    stack.sandbox.faults.list().find((f) => f.id === fault?.id)?.applied ?? (fault ? Number.POSITIVE_INFINITY : 0);
  stack.sandbox.faults.clear();
  // A write held past its deadline lands after the client gave up: let it land before looking.
  if (cell.fault === 'late') await sleep(LATE_MS + 500);

  if (applied === 0) problems.push(`the fault never hit ${cell.op.method} ${cell.op.path}`);
  if (ended.runtimeStatus !== 'Completed')
    problems.push(`the orchestration ended ${ended.runtimeStatus}: ${JSON.stringify(ended.output).slice(0, 500)}`);
  const outcome =
    flow === 'rotate'
      ? (ended.customStatus as RotationStatus | undefined)?.outcome
      : (ended.output as ProvisionStatus | undefined)?.outcome;
  const allowed: Record<Flow, string[]> = {
    provision: ['active', 'failed'],
    reject: ['rejected'],
    rerun: ['active', 'failed'],
    rotate: ['rotated', 'rolled-back'],
  };
  if (!outcome || !allowed[flow].includes(outcome)) problems.push(`outcome ${outcome ?? '(none)'}`);

  const record = await registryOf(id);
  const expectedStatus = flow === 'rerun' || flow === 'rotate' ? 'active' : outcome;
  if (record?.status !== expectedStatus) problems.push(`registry status ${record?.status}, expected ${expectedStatus}`);

  // Nothing left over unless recorded as an orphan on the integration.
  const orphans: RecordedOrphan[] = record?.orphans ?? [];
  for (const l of await leftovers(id, instance, baseline))
    if (!orphans.some((o) => l.matches(o.object))) problems.push(`left over and not recorded as an orphan: ${l.what}`);
  problems.push(...(await duplicates(id, instance)).map((d) => `duplicate: ${d}`));

  // The previous state of a live integration is intact: same (or, after a rotation, the new) credential works.
  if (before) {
    const after = await inUse(id);
    for (const role of ROLES) {
      const now = after[role];
      if (!now) {
        problems.push(`no ${role} credential in the registry`);
        continue;
      }
      const rotated = flow === 'rotate' && outcome === 'rotated';
      if (!rotated && (!same(now.keyId, before[role]?.keyId) || now.value !== before[role]?.value))
        problems.push(`the ${role} credential in use changed (${before[role]?.keyId} → ${now.keyId})`);
      if (rotated && same(now.keyId, before[role]?.keyId)) problems.push(`the ${role} credential was not rotated`);
      if (!(await yieldsToken(now.appId, now.value))) problems.push(`the ${role} credential in use yields no token`);
    }
  }

  // One sweep with the faults cleared removes every orphan.
  await stack.host.advanceTime(20 * MINUTE);
  resetConfigCache();
  await sweepOrphans(getDeps());
  const afterSweep = await registryOf(id);
  if (afterSweep?.orphans?.length)
    problems.push(
      `after the sweep, orphans remain: ${afterSweep.orphans.map((o) => JSON.stringify(o.object)).join('; ')}`,
    );
  for (const l of await leftovers(id, instance, baseline)) problems.push(`after the sweep, left over: ${l.what}`);
  return problems;
}

// ---------------------------------------------------------------- the tests

describe('fault matrix', () => {
  it('the matrix covers every call of a clean provisioning, re-run, rotation and rejection, and each operation is used by its flow', async () => {
    await withSettings(DEADLINE_SETTINGS, async () => {
      const journal = (since: number) => stack.sandbox.journal.entries({ since });
      const sections: Record<Flow, ReturnType<typeof journal>> = {
        provision: [],
        reject: [],
        rotate: [],
        rerun: [],
      };
      let mark = stack.sandbox.journal.mark();
      const id = await provisionActive('fmclean');
      sections.provision = journal(mark);
      mark = stack.sandbox.journal.mark();
      resetConfigCache();
      await startRun('fmclean', true);
      expect(((await provision(id, 'approve')).output as ProvisionStatus).outcome).toBe('active');
      sections.rerun = journal(mark);
      mark = stack.sandbox.journal.mark();
      resetConfigCache();
      expect((await rotate(id)).customStatus).toMatchObject({ outcome: 'rotated' });
      sections.rotate = journal(mark);
      mark = stack.sandbox.journal.mark();
      resetConfigCache();
      const rejected = await startRun('dev00000');
      expect(((await provision(rejected, 'reject')).output as ProvisionStatus).outcome).toBe('rejected');
      sections.reject = journal(mark);

      const matchesOp = (op: (typeof OPERATIONS)[number], e: { service: string; method: string; path: string }) =>
        op.service === e.service &&
        op.method === e.method &&
        new RegExp(op.path.replace('{instance}', '[^/]+')).test(e.path);
      const uncovered = Object.values(sections)
        .flat()
        .filter((e) => !OPERATIONS.some((op) => matchesOp(op, e)))
        .map((e) => `${e.service} ${e.method} ${e.path}`);
      expect([...new Set(uncovered)]).toEqual([]);
      const unused = OPERATIONS.filter((op) => !sections[op.flow].some((e) => matchesOp(op, e))).map((op) => op.id);
      expect(unused).toEqual([]);
    });
  });

  it(`runs ${cells.length} of ${ALL_CELLS.length} cells`, () => {
    expect(cells.length).toBeGreaterThan(0);
  });

  cells.forEach((cell, i) => {
    it(`${cell.id} (${cell.op.flow})`, async () => {
      let problems: string[];
      try {
        problems = await withSettings(DEADLINE_SETTINGS, () => runCell(cell, instanceOf(i)));
      } catch (err) {
        problems = [`the cell could not finish: ${(err as Error).message.slice(0, 1000)}`];
      } finally {
        stack.sandbox.faults.clear();
      }
      results.set(cell.id, problems.length === 0);
      expect(problems).toEqual([]);
    });
  });
});
