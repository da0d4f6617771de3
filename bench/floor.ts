/**
 * `npm run bench:floor` (and the first part of `npm run bench`, after the provisioning table): provisioning measured against its physical floor.
 *
 *   P1  the stand-ins answer after modelled per-service latencies (sandbox/core/faults.ts: Entra 90 ms, Graph 120 ms,
 *       Key Vault 60 ms, ServiceNow 250 ms unless overridden); the critical-path floor of one provisioning is derived
 *       from the profile and the orchestrator's stages (the longest chain of calls that must happen one after another;
 *       parallel branches count once) and compared with the wall time, request → awaiting approval and approval →
 *       active.
 *   P2  calls per service per provisioning and per re-provisioning, next to the minimum the profile needs (derived the
 *       same way), and the writes of a re-provisioning of an unchanged integration (must be 0).
 *   P5  orchestration history of one provisioning and one rotation (the local durable engine keeps it as the Durable
 *       Task Framework does): events, the largest event payload, the custom status size (the real backend caps custom
 *       status at 16 KB: https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-custom-orchestration-status).
 *
 * The floor assumes a warm app: its own access tokens for Graph and Key Vault are cached (the SDK credential keeps a
 * token for about an hour), so one unmeasured provisioning runs first. Table Storage (Azurite) has no modelled latency.
 * Figures, not assertions.
 *
 * Usage: node dist/bench/floor.js [--json] [--runs N] [--no-rotation] [--latency off]
 *   SANDBOX_LATENCY_<ENTRA|GRAPH|KEYVAULT|SERVICENOW>_MS override a service's latency.
 * With --json the last line is `{"p1":{...},"p2":{...},"p5":{...}}` (bench/results.schema.json).
 */
import { performance } from 'node:perf_hooks';

import { DEFAULT_LATENCY_MS, type LatencyModel } from '../sandbox/core/faults';
import { EventType, eventTypeName, type HistoryEvent } from '../sandbox/durable/history';
import type { InstanceStatus } from '../sandbox/durable/engine';
import { startLocalStack, type LocalStack } from '../sandbox/stack';
import { resetConfigCache } from '../src/config';
import { APPROVAL_EVENT } from '../src/contracts/provision';
import { getProfile } from '../src/profiles';
import { recordDependencies } from '../src/profiles/dependencies';
import type { IntegrationProfile, ServiceNowRecordSpec } from '../src/profiles/types';
import { ROTATION_ORCHESTRATOR } from '../src/orchestrators/rotation-types';

export const SERVICES = ['entra', 'graph', 'keyvault', 'servicenow'] as const;
export type Service = (typeof SERVICES)[number];
export type Counts = Record<Service, number>;

/** One call, or calls made at the same time (the slowest one counts). */
export type Hop = Service | Service[];
/** Calls that must happen one after another. */
export interface Branch {
  name: string;
  hops: Hop[];
}
/** A stage of the orchestrator: its branches run in parallel, the stage ends when the slowest one does. */
export interface Stage {
  name: string;
  why: string;
  branches: Branch[];
}

export interface FloorModel {
  toApproval: Stage[];
  toActive: Stage[];
  /** The fewest calls per service the profile needs: first provisioning, and a re-run of an unchanged one. */
  minimum: { provision: Counts; reprovision: Counts };
  /** How each minimum is made up, per service. */
  minimumWhy: { provision: Record<Service, string[]>; reprovision: Record<Service, string[]> };
}

export interface FloorContext {
  /** The request names the tenant by a verified domain (resolved through its OpenID metadata). */
  tenantByDomain: boolean;
  /** Approvers come (partly) from groups resolved through Graph. */
  approverGroups: boolean;
  /** Approval emails: one per eligible approver (each carries its own link). */
  approvalMails: number;
  /**
   * How the product authenticates to ServiceNow (SERVICENOW_AUTH_MODE): `entra` (the default) with its own Entra token,
   * so no ServiceNow credential is read from Key Vault; `basic` or `oauth` with two credential secrets read first.
   */
  serviceNowAuth: 'entra' | 'basic' | 'oauth';
}

const zero = (): Counts => ({ entra: 0, graph: 0, keyvault: 0, servicenow: 0 });
const whyZero = (): Record<Service, string[]> => ({ entra: [], graph: [], keyvault: [], servicenow: [] });

/**
 * The floor of one first provisioning of `profile`, stage by stage as the orchestrator runs them
 * (src/orchestrators/provision-integration.ts), each stage with the fewest calls it needs:
 *   request      the tenant domain resolved to its id (Entra OpenID metadata), when the request names a domain;
 *   preflight    one ServiceNow read that proves the product's access (with token auth, the default, beside the vault
 *                check; with basic or oauth auth after the admin credentials are read from Key Vault), then the other
 *                checks at once (the columns after the tables' lineage);
 *   entra-apps   per app (in parallel): upsert the app by uniqueName, then its service principal;
 *   secrets      per app with a secret (in parallel): addPassword, then the Key Vault write;
 *   servicenow   per record: look it up by natural key (with its secret read from Key Vault at the same time), insert
 *                it, then its password2 field in a PATCH of its own; a record waits only for the inserts of the
 *                records it references, not for their password2 PATCHes;
 *   approval     the approver groups' members, then the emails (in parallel);
 *   activation   per activated record one PATCH, per activation-phase record and role grant a look-up and an insert,
 *                all at once;
 *   checks       every check at once, each its own chain (secret → token → call);
 *   report       one email to the approvers already known.
 */
export function floorModel(profile: IntegrationProfile, ctx: FloorContext): FloorModel {
  const records = profile.serviceNow.records.filter((r) => !r.lookup);
  const inert = records.filter((r) => r.phase !== 'activation');
  const secretApps = profile.apps.filter((a) => !a.existing && a.secretConsumers.length > 0);
  const newApps = profile.apps.filter((a) => !a.existing);

  // ServiceNow records in dependency order: a record waits for the inserts of the records it references (their
  // sys_ids go into its fields), not for their secret fields; its own secret field is one PATCH after its insert.
  const insertHops = (r: ServiceNowRecordSpec): Hop[] =>
    r.secret ? [['servicenow', 'keyvault'], 'servicenow'] : ['servicenow', 'servicenow'];
  const inserted = new Map<string, Branch>();
  const insertChainOf = (r: ServiceNowRecordSpec): Branch => {
    const known = inserted.get(r.key);
    if (known) return known;
    const parents = recordDependencies(r)
      .map((k) => inert.find((x) => x.key === k))
      .filter((x): x is ServiceNowRecordSpec => x !== undefined)
      .map(insertChainOf);
    const longest = parents.sort((a, b) => b.hops.length - a.hops.length)[0];
    const branch = {
      name: longest ? `${longest.name} → ${r.key}` : r.key,
      hops: [...(longest?.hops ?? []), ...insertHops(r)],
    };
    inserted.set(r.key, branch);
    return branch;
  };
  const recordChains = inert.map((r): Branch => {
    const chain = insertChainOf(r);
    return r.secret ? { name: `${chain.name} (secret)`, hops: [...chain.hops, 'servicenow'] } : chain;
  });

  const checkBranches: Branch[] = profile.checks.map((c) => {
    switch (c.kind) {
      case 'outboundToken':
      case 'graphToken':
        return { name: `${c.kind} (secret → token)`, hops: ['keyvault', 'entra'] };
      case 'oidcMetadata':
        return { name: 'oidcMetadata (record → metadata)', hops: ['servicenow', 'entra'] };
      case 'inboundTableRead':
        return { name: 'inboundTableRead (secret → token → table read)', hops: ['keyvault', 'entra', 'servicenow'] };
      case 'recordsConsistent':
        return { name: 'recordsConsistent (records and apps read at once)', hops: [['servicenow', 'graph']] };
      default:
        return { name: c.kind, hops: ['servicenow'] };
    }
  });

  const tokenAuth = ctx.serviceNowAuth === 'entra';
  const toApproval: Stage[] = [
    ...(ctx.tenantByDomain
      ? [
          {
            name: 'request',
            why: 'tenant domain → tenant id (OpenID metadata)',
            branches: [{ name: 'tenant', hops: ['entra' as Hop] }],
          },
        ]
      : []),
    tokenAuth
      ? {
          name: 'preflight',
          why:
            "the vault check beside one ServiceNow read with the identity's token (it proves the trust), then the " +
            "other checks at once, the columns after the tables' lineage; nothing is created before it ends",
          branches: [
            { name: 'roles → tables → columns', hops: ['servicenow', 'servicenow', 'servicenow'] },
            { name: 'roles → scope', hops: ['servicenow', 'servicenow'] },
            { name: 'vault check', hops: ['keyvault'] },
          ],
        }
      : {
          name: 'preflight',
          why:
            'admin credentials (Key Vault, beside the vault check), one ServiceNow read that proves them (a wrong ' +
            'password is tried once: failed logins count toward locking the account), then the other checks at ' +
            "once, the columns after the tables' lineage; nothing is created before it ends",
          branches: [
            {
              name: 'credentials → roles → tables → columns',
              hops: ['keyvault', 'servicenow', 'servicenow', 'servicenow'],
            },
            { name: 'credentials → roles → scope', hops: ['keyvault', 'servicenow', 'servicenow'] },
          ],
        },
    {
      name: 'entra-apps',
      why: `${newApps.length} app(s) in parallel: app upsert → service principal`,
      branches: newApps.map((a) => ({ name: a.role, hops: ['graph', 'graph'] })),
    },
    {
      name: 'secrets',
      why: `${secretApps.length} secret(s) in parallel: addPassword → Key Vault set`,
      branches: secretApps.map((a) => ({ name: a.role, hops: ['graph', 'keyvault'] })),
    },
    {
      name: 'servicenow',
      why: `${inert.length} record(s) in dependency order: look-up → insert, a record after the inserts it references (→ its password2 PATCH)`,
      branches: recordChains,
    },
    {
      name: 'approval',
      why: `${ctx.approverGroups ? 'approver group members → ' : ''}${ctx.approvalMails} email(s) at once`,
      branches: [{ name: 'approvers → emails', hops: ctx.approverGroups ? ['graph', 'graph'] : ['graph'] }],
    },
  ];
  const activation = records.filter((r) => r.phase === 'activation');
  const activated = inert.filter((r) => r.activate);
  const toActive: Stage[] = [
    {
      name: 'activation',
      why: `${activated.length} PATCH(es), ${activation.length} record(s) and ${profile.serviceNow.roleGrants.length} role grant(s), all at once`,
      branches: [
        ...activated.map((r): Branch => ({ name: `activate ${r.key}`, hops: ['servicenow'] })),
        ...activation.map((r) => ({ name: r.key, hops: ['servicenow', 'servicenow'] as Hop[] })),
        ...profile.serviceNow.roleGrants.map((g) => ({
          name: `grant ${g.role}`,
          hops: ['servicenow', 'servicenow'] as Hop[],
        })),
      ],
    },
    { name: 'checks', why: `${profile.checks.length} check(s) at once`, branches: checkBranches },
    { name: 'report', why: 'one email to the approvers already known', branches: [{ name: 'mail', hops: ['graph'] }] },
  ];

  // The minimum calls: every hop of every branch of every stage, plus what runs beside the critical chains.
  const provision = zero();
  const pWhy = whyZero();
  const add = (c: Counts, w: Record<Service, string[]>, s: Service, n: number, why: string) => {
    if (n <= 0) return;
    c[s] += n;
    w[s].push(`${n} ${why}`);
  };
  if (ctx.tenantByDomain) add(provision, pWhy, 'entra', 1, 'tenant metadata');
  const preflightVault = (c: Counts, w: Record<Service, string[]>) => {
    add(c, w, 'keyvault', 1, 'vault check (preflight: nothing is created before the vault is known usable)');
    if (!tokenAuth)
      add(
        c,
        w,
        'keyvault',
        2,
        `ServiceNow admin ${ctx.serviceNowAuth === 'oauth' ? 'client id and secret' : 'username and password'}`,
      );
  };
  preflightVault(provision, pWhy);
  add(provision, pWhy, 'servicenow', 4, 'preflight queries (roles, scope, tables, columns)');
  add(provision, pWhy, 'graph', 2 * newApps.length, 'app and service principal upserts');
  add(provision, pWhy, 'graph', secretApps.length, 'addPassword');
  add(provision, pWhy, 'keyvault', secretApps.length, 'secret writes');
  add(provision, pWhy, 'servicenow', 2 * inert.length, 'record look-ups and inserts');
  const secretRecords = inert.filter((r) => r.secret).length;
  add(provision, pWhy, 'keyvault', secretRecords, 'secret reads for ServiceNow records');
  add(provision, pWhy, 'servicenow', secretRecords, 'password2 PATCHes');
  if (ctx.approverGroups) add(provision, pWhy, 'graph', 1, 'approver group members');
  add(provision, pWhy, 'graph', ctx.approvalMails, 'approval emails');
  add(provision, pWhy, 'servicenow', activated.length, 'activation PATCHes');
  add(provision, pWhy, 'servicenow', 2 * activation.length, 'activation-phase look-ups and inserts');
  add(provision, pWhy, 'servicenow', 2 * profile.serviceNow.roleGrants.length, 'role grant look-ups and inserts');
  // ServiceNow validates inbound tokens with the issuer's metadata and keys, which it caches: in a warm run (the bench
  // measures after a warm-up) it makes no call to Entra of its own.
  const checkCalls = (n: Counts, w: Record<Service, string[]>) => {
    for (const b of checkBranches)
      for (const hop of b.hops)
        for (const s of Array.isArray(hop) ? hop : [hop])
          if (b.name.startsWith('recordsConsistent')) continue;
          else add(n, w, s, 1, `check ${b.name.split(' ')[0]}`);
    if (profile.checks.some((c) => c.kind === 'recordsConsistent')) {
      add(n, w, 'servicenow', records.length, 'check recordsConsistent (one read per record)');
      add(n, w, 'graph', newApps.length, 'check recordsConsistent (one read per app)');
    }
  };
  checkCalls(provision, pWhy);
  add(provision, pWhy, 'graph', 1, 'report email');

  // A re-run of an unchanged, approved integration: reads only, no email.
  const reprovision = zero();
  const rWhy = whyZero();
  if (ctx.tenantByDomain) add(reprovision, rWhy, 'entra', 1, 'tenant metadata');
  preflightVault(reprovision, rWhy);
  add(reprovision, rWhy, 'servicenow', 4, 'preflight queries');
  add(reprovision, rWhy, 'graph', 2 * newApps.length, 'app (with its passwordCredentials) and service principal reads');
  add(reprovision, rWhy, 'keyvault', secretApps.length, 'current secret version reads');
  add(reprovision, rWhy, 'servicenow', records.length, 'record look-ups');
  add(reprovision, rWhy, 'servicenow', profile.serviceNow.roleGrants.length, 'role grant look-ups');
  checkCalls(reprovision, rWhy);
  return {
    toApproval,
    toActive,
    minimum: { provision, reprovision },
    minimumWhy: { provision: pWhy, reprovision: rWhy },
  };
}

export const hopMs = (hop: Hop, latency: LatencyModel): number =>
  Math.max(...(Array.isArray(hop) ? hop : [hop]).map((s) => latency[s] ?? 0));
export const branchMs = (b: Branch, latency: LatencyModel): number =>
  b.hops.reduce((sum, h) => sum + hopMs(h, latency), 0);
/** A stage's floor and the branch that sets it. */
export function stageFloor(stage: Stage, latency: LatencyModel): { ms: number; branch?: Branch } {
  let best: { ms: number; branch?: Branch } = { ms: 0 };
  for (const b of stage.branches) {
    const ms = branchMs(b, latency);
    if (ms > best.ms) best = { ms, branch: b };
  }
  return best;
}
export const pathMs = (stages: Stage[], latency: LatencyModel): number =>
  stages.reduce((sum, s) => sum + stageFloor(s, latency).ms, 0);

// ---------------------------------------------------------------- measurement

export interface FloorOptions {
  /** Measured provisionings (after one unmeasured warm-up). */
  runs: number;
  /** Modelled latency; `{}` = none (a tiny run). */
  latency: LatencyModel;
  /** Also run one rotation (P5). */
  rotation: boolean;
}

export interface FloorResult {
  p1: {
    floorMs: number;
    wallMs: number;
    wallOverFloor: number;
    activeFloorMs: number;
    activeWallMs: number;
    activeWallOverFloor: number;
    latencyMs: Counts;
    runs: number;
    /** Where the wall time of the first measured provisioning went, per activity (both phases, approval wait excluded). */
    byActivity: ActivityShare[];
  };
  p2: {
    calls: Counts;
    minimum: Counts;
    ratio: Ratios;
    reprovisionCalls: Counts;
    reprovisionMinimum: Counts;
    reprovisionRatio: Ratios;
    rerunWrites: number;
  };
  p5: {
    provisionEvents: number;
    rotationEvents: number | null;
    maxEventBytes: number;
    maxEvent: string;
    customStatusBytes: number;
    /** The largest custom status of a provisioning, bytes per top-level field (largest first). */
    customStatusFields: Record<string, number>;
    /** Event payloads over 4 KB: which event, its largest size, how often. */
    eventsOver4KB: string[];
  };
}

export interface ActivityShare {
  activity: string;
  /** Episodes that ended with this activity (parallel calls of it count once). */
  steps: number;
  wallMs: number;
  calls: Counts;
}

interface EpisodeMark {
  instanceId: string;
  t: number;
  seq: number;
  /** The activities whose completion started this episode; an external event, a timer: their own names. */
  after: string[];
}

/**
 * The time between two episodes of an instance is the work its previous episode scheduled: the activities whose
 * completions start the next one. Summed per activity name, with the calls journalled meanwhile.
 */
function byActivity(stack: LocalStack, marks: EpisodeMark[], instanceId: string): ActivityShare[] {
  const own = marks.filter((m) => m.instanceId === instanceId);
  const out = new Map<string, ActivityShare>();
  for (let i = 1; i < own.length; i++) {
    const names = [...new Set(own[i].after)];
    if (!names.length || names.includes('(event)') || names.includes('(timer)')) continue;
    const key = names.join(' + ');
    const share = out.get(key) ?? { activity: key, steps: 0, wallMs: 0, calls: zero() };
    share.steps++;
    share.wallMs += own[i].t - own[i - 1].t;
    const c = callsSince(stack, own[i - 1].seq, own[i].seq).calls;
    for (const s of SERVICES) share.calls[s] += c[s];
    out.set(key, share);
  }
  return [...out.values()].map((x) => ({ ...x, wallMs: Math.round(x.wallMs) })).sort((a, b) => b.wallMs - a.wallMs);
}

interface Measured {
  toApprovalMs: number;
  toActiveMs: number;
  instanceId: string;
  id: string;
  approvalMails: number;
}

const bytes = (v: unknown) => (v === undefined ? 0 : Buffer.byteLength(typeof v === 'string' ? v : JSON.stringify(v)));

/** The payloads (Input, Result, Reason, Details) of a history, largest first, with the event carrying each. */
function eventPayloads(history: readonly HistoryEvent[]): { bytes: number; what: string }[] {
  const out: { bytes: number; what: string }[] = [];
  for (const e of history)
    for (const field of ['Input', 'Result', 'Reason', 'Details'] as const) {
      const n = bytes(e[field]);
      if (!n) continue;
      const ev = e as HistoryEvent & { FunctionName?: string };
      out.push({
        bytes: n,
        what: `${eventTypeName(e.EventType)} ${ev.Name ?? ev.FunctionName ?? ''} ${field}`.replace(/ +/g, ' '),
      });
    }
  return out.sort((a, b) => b.bytes - a.bytes);
}
const largestEvent = (history: readonly HistoryEvent[]) => eventPayloads(history)[0] ?? { bytes: 0, what: '' };
/** Payloads over `limit` bytes, by event (a repeated event once, with how often). */
function overLimit(history: readonly HistoryEvent[], limit: number, where: string): string[] {
  const counts = new Map<string, { n: number; max: number }>();
  for (const p of eventPayloads(history))
    if (p.bytes > limit) {
      const c = counts.get(p.what) ?? { n: 0, max: 0 };
      counts.set(p.what, { n: c.n + 1, max: Math.max(c.max, p.bytes) });
    }
  return [...counts].map(([what, c]) => `${where}: ${what} ${c.max} bytes${c.n > 1 ? ` (${c.n}×)` : ''}`);
}

function callsSince(stack: LocalStack, from: number, to?: number): { calls: Counts; writes: number } {
  const calls = zero();
  let writes = 0;
  for (const e of stack.sandbox.journal.entries({ since: from })) {
    if (to !== undefined && e.seq > to) break;
    if (!(SERVICES as readonly string[]).includes(e.service)) continue;
    calls[e.service as Service]++;
    // Token requests to Entra change nothing; every other non-GET is a write.
    if (e.service !== 'entra' && !['GET', 'HEAD'].includes(e.method)) writes++;
  }
  return { calls, writes };
}

const API = (stack: LocalStack, method: string, path: string, body?: unknown) =>
  fetch(`${stack.host.baseUrl}${path}`, {
    method,
    headers: { 'x-functions-key': stack.host.functionKey, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

function request(stack: LocalStack, instance: string) {
  const env = stack.env();
  return {
    tenant: env.SANDBOX_TENANT_DOMAIN,
    tenantName: 'Contoso',
    serviceNowInstance: instance,
    approvers: [`approver@${env.SANDBOX_TENANT_DOMAIN}`, `second.approver@${env.SANDBOX_TENANT_DOMAIN}`],
    requestedBy: `requester@${env.SANDBOX_TENANT_DOMAIN}`,
  };
}

const awaitingApproval = (stack: LocalStack) => (s: InstanceStatus) =>
  (s.customStatus as { step?: string } | null)?.step === 'awaiting-approval' &&
  stack.host.durable.waitingFor(s.instanceId).includes(APPROVAL_EVENT);
const ended = (s: InstanceStatus) => !['Running', 'Pending'].includes(s.runtimeStatus);

async function provisionOnce(stack: LocalStack, instance: string): Promise<Measured> {
  const t0 = performance.now();
  const res = await API(stack, 'POST', '/api/integrations', request(stack, instance));
  if (res.status !== 202) throw new Error(`POST /api/integrations answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const instanceId = `provision-${id}`;
  const waiting = await stack.host.durable.waitForStatus(instanceId, awaitingApproval(stack), 300_000);
  const t1 = performance.now();
  const cs = waiting.customStatus as { plan?: { digest: string }; awaiting?: { approvers: string[] } };
  stack.host.durable.raiseEvent(instanceId, APPROVAL_EVENT, {
    decision: 'approve',
    approver: cs.awaiting?.approvers[0] ?? request(stack, instance).approvers[0],
    at: stack.sandbox.clock.date().toISOString(),
    tokenId: 'bench',
    planDigest: cs.plan?.digest,
  });
  const end = await stack.host.durable.waitForStatus(instanceId, ended, 300_000);
  const t2 = performance.now();
  const outcome = (end.output as { outcome?: string } | null)?.outcome ?? end.runtimeStatus;
  if (outcome !== 'active') throw new Error(`provisioning of ${instance} ended ${outcome}`);
  return {
    toApprovalMs: t1 - t0,
    toActiveMs: t2 - t1,
    instanceId,
    id,
    approvalMails: cs.awaiting?.approvers.length ?? 0,
  };
}

/** Runs one rotation of `id` to its end: hand-offs confirmed as soon as they are awaited, virtual time moved. */
async function rotateOnce(stack: LocalStack, id: string): Promise<string> {
  const res = await API(stack, 'POST', `/api/integrations/${id}/rotate`, {});
  if (res.status >= 300) throw new Error(`POST rotate answered ${res.status}: ${await res.text()}`);
  const body = (await res.json().catch(() => ({}))) as { instanceId?: string };
  const find = () =>
    body.instanceId ??
    stack.host.durable
      .query({})
      .filter((s) => s.name === ROTATION_ORCHESTRATOR && s.instanceId.includes(id))
      .sort((a, b) => Date.parse(b.createdTime) - Date.parse(a.createdTime))[0]?.instanceId;
  for (let i = 0; i < 500; i++) {
    await stack.host.durable.waitForIdle(60_000);
    const instanceId = find();
    if (!instanceId) throw new Error(`no rotation instance of ${id}`);
    const s = stack.host.durable.getStatus(instanceId);
    if (s && ended(s)) {
      if (s.runtimeStatus !== 'Completed') throw new Error(`rotation ${instanceId} ended ${s.runtimeStatus}`);
      return instanceId;
    }
    const handoffs = stack.host.durable.waitingFor(instanceId).filter((e) => e !== APPROVAL_EVENT);
    if (handoffs.length) {
      for (const e of handoffs)
        stack.host.durable.raiseEvent(instanceId, e, {
          decision: 'done',
          approver: request(stack, '').approvers[0],
          at: stack.sandbox.clock.date().toISOString(),
          tokenId: 'bench',
        });
      continue;
    }
    const next = stack.host.durable
      .timers(instanceId)
      .filter((t) => t.state === 'pending')
      .map((t) => t.fireAt.getTime())
      .sort((a, b) => a - b)[0];
    if (next === undefined) throw new Error(`rotation ${instanceId} is stuck (no pending timer, no hand-off)`);
    stack.sandbox.clock.advance(Math.max(next - stack.sandbox.clock.now(), 0) + 1);
    resetConfigCache();
    stack.host.durable.fireDueTimers();
  }
  throw new Error(`rotation of ${id} did not settle`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (x: number, d = 2) => Number(x.toFixed(d));
/** actual / minimum per service; null where the minimum is 0 and calls were made anyway. */
export type Ratios = Record<Service, number | null>;
const ratios = (a: Counts, b: Counts): Ratios =>
  Object.fromEntries(SERVICES.map((s) => [s, b[s] ? round(a[s] / b[s]) : a[s] ? null : 1])) as Ratios;
const scale = (c: Counts, by: number): Counts =>
  Object.fromEntries(SERVICES.map((s) => [s, round(c[s] / by, 1)])) as Counts;

/** SERVICENOW_AUTH_MODE as the app reads it (blank: the default, token auth). */
const serviceNowAuthOf = (mode: string | undefined): FloorContext['serviceNowAuth'] =>
  mode === 'basic' || mode === 'oauth' ? mode : 'entra';

export async function measureFloor(
  opts: FloorOptions,
  print: (line: string) => void,
): Promise<{ result: FloorResult; model: FloorModel; profile: IntegrationProfile }> {
  const profile = getProfile('m365-support-aad');
  if (!profile) throw new Error('profile m365-support-aad is not registered');
  const instances = Array.from({ length: opts.runs + 1 }, (_, i) => `floor${String(i).padStart(3, '0')}`);
  const customStatusMax = new Map<string, number>();
  const marks: EpisodeMark[] = [];
  const ref: { stack?: LocalStack } = {};
  const stack = await startLocalStack({
    timers: 'virtual',
    latency: false,
    servicenow: { instances },
    settings: { CHECK_RETRY_SECONDS: '1', ROTATION_GRACE_MINUTES: '60', HANDOFF_REMINDER_MINUTES: '30' },
    // The custom status as each episode starts (the previous episode's last value): its largest size.
    onEpisode: (instanceId, _name, events) => {
      if (ref.stack)
        marks.push({
          instanceId,
          t: performance.now(),
          seq: ref.stack.sandbox.journal.mark(),
          after: events.map((e) => {
            const ev = e as HistoryEvent & { FunctionName?: string };
            return e.EventType === EventType.TaskCompleted || e.EventType === EventType.TaskFailed
              ? (ev.FunctionName ?? '?')
              : e.EventType === EventType.TimerFired
                ? '(timer)'
                : '(event)';
          }),
        });
      const cs = ref.stack?.host.durable.getStatus(instanceId)?.customStatus;
      if (cs !== undefined && cs !== null)
        customStatusMax.set(instanceId, Math.max(customStatusMax.get(instanceId) ?? 0, bytes(cs)));
    },
  });
  ref.stack = stack;
  try {
    const sn = stack.sandbox.servicenow;
    for (const i of instances.slice(1)) {
      stack.sandbox.keyvault.seedSecret(`servicenow-${i}-username`, sn.adminUser);
      stack.sandbox.keyvault.seedSecret(`servicenow-${i}-password`, sn.adminPassword);
    }
    print(`  warm-up provisioning (unmeasured, no latency): ${instances[0]}`);
    await provisionOnce(stack, instances[0]);
    stack.sandbox.latency.set(Object.keys(opts.latency).length ? opts.latency : false);

    const runs: Measured[] = [];
    const perRun: Counts[] = [];
    for (const i of instances.slice(1)) {
      const m0 = stack.sandbox.journal.mark();
      const r = await provisionOnce(stack, i);
      runs.push(r);
      perRun.push(callsSince(stack, m0).calls);
      print(
        `  ${i}: request → awaiting approval ${r.toApprovalMs.toFixed(0)} ms, approval → active ${r.toActiveMs.toFixed(0)} ms`,
      );
    }
    const calls = zero();
    for (const p of perRun) for (const s of SERVICES) calls[s] += p[s];

    // Re-provisioning of the first measured integration, unchanged: reads only.
    const first = runs[0];
    const m1 = stack.sandbox.journal.mark();
    const re = await API(stack, 'POST', '/api/integrations?reprovision=true', request(stack, instances[1]));
    if (re.status !== 202) throw new Error(`re-provisioning answered ${re.status}: ${await re.text()}`);
    const reId = ((await re.json()) as { instanceId?: string }).instanceId ?? first.instanceId;
    await stack.host.durable.waitForStatus(reId, ended, 300_000);
    await stack.host.durable.waitForIdle(60_000);
    const rerun = callsSince(stack, m1);

    stack.sandbox.latency.set(false);
    const history = stack.host.durable.history(first.instanceId);
    const provisionLargest = largestEvent(history);
    let rotationEvents: number | null = null;
    let rotationLargest = { bytes: 0, what: '' };
    const over = overLimit(history, 4096, 'provisioning');
    let rotationStatusBytes = 0;
    if (opts.rotation) {
      const rotationId = await rotateOnce(stack, first.id);
      const rh = stack.host.durable.history(rotationId);
      rotationEvents = rh.length;
      rotationLargest = largestEvent(rh);
      over.push(...overLimit(rh, 4096, 'rotation'));
      rotationStatusBytes = Math.max(
        customStatusMax.get(rotationId) ?? 0,
        bytes(stack.host.durable.getStatus(rotationId)?.customStatus ?? undefined),
      );
    }
    const finalStatus = stack.host.durable.getStatus(first.instanceId)?.customStatus;
    const customStatusFields = Object.fromEntries(
      Object.entries((finalStatus ?? {}) as Record<string, unknown>)
        .map(([k, v]) => [k, bytes(v)] as const)
        .sort((a, b) => b[1] - a[1]),
    );
    const provisionStatusBytes = Math.max(
      customStatusMax.get(first.instanceId) ?? 0,
      bytes(stack.host.durable.getStatus(first.instanceId)?.customStatus ?? undefined),
    );

    const model = floorModel(profile, {
      tenantByDomain: true,
      approverGroups: Boolean(stack.env().APPROVER_GROUPS),
      approvalMails: first.approvalMails,
      serviceNowAuth: serviceNowAuthOf(stack.env().SERVICENOW_AUTH_MODE),
    });
    const latency = { ...zero(), ...opts.latency } as Counts;
    const floorMs = pathMs(model.toApproval, latency);
    const activeFloorMs = pathMs(model.toActive, latency);
    const wallMs = median(runs.map((r) => r.toApprovalMs));
    const activeWallMs = median(runs.map((r) => r.toActiveMs));
    const perProvision = scale(calls, runs.length);
    const largest =
      rotationLargest.bytes > provisionLargest.bytes
        ? { ...rotationLargest, in: 'rotation' }
        : { ...provisionLargest, in: 'provisioning' };
    const result: FloorResult = {
      p1: {
        floorMs: round(floorMs, 0),
        wallMs: round(wallMs, 0),
        wallOverFloor: floorMs ? round(wallMs / floorMs) : 0,
        activeFloorMs: round(activeFloorMs, 0),
        activeWallMs: round(activeWallMs, 0),
        activeWallOverFloor: activeFloorMs ? round(activeWallMs / activeFloorMs) : 0,
        latencyMs: latency,
        runs: runs.length,
        byActivity: byActivity(stack, marks, first.instanceId),
      },
      p2: {
        calls: perProvision,
        minimum: model.minimum.provision,
        ratio: ratios(perProvision, model.minimum.provision),
        reprovisionCalls: rerun.calls,
        reprovisionMinimum: model.minimum.reprovision,
        reprovisionRatio: ratios(rerun.calls, model.minimum.reprovision),
        rerunWrites: rerun.writes,
      },
      p5: {
        provisionEvents: history.length,
        rotationEvents,
        maxEventBytes: largest.bytes,
        maxEvent: largest.what ? `${largest.in}: ${largest.what}` : '',
        customStatusBytes: Math.max(provisionStatusBytes, rotationStatusBytes),
        customStatusFields,
        eventsOver4KB: over,
      },
    };
    return { result, model, profile };
  } finally {
    await stack.close();
  }
}

// ---------------------------------------------------------------- output

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

/** The latency model of a run: the defaults, SANDBOX_LATENCY_<SERVICE>_MS overrides, or none with `--latency off`. */
export function latencyOf(argv: string[], env: Record<string, string | undefined> = process.env): LatencyModel {
  if (option(argv, '--latency') === 'off') return {};
  const model: LatencyModel = { ...DEFAULT_LATENCY_MS };
  for (const s of SERVICES) {
    const raw = env[`SANDBOX_LATENCY_${s.toUpperCase()}_MS`];
    if (raw === undefined || raw === '') continue;
    const ms = Number(raw);
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`SANDBOX_LATENCY_${s.toUpperCase()}_MS must be >= 0: ${raw}`);
    model[s] = ms;
  }
  return model;
}

export function report(r: FloorResult, model: FloorModel, print: (line: string) => void): void {
  const L = r.p1.latencyMs;
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  print(
    `P1 critical path (latency: ${SERVICES.map((s) => `${s} ${L[s]} ms`).join(', ')}; median of ${r.p1.runs} run(s))`,
  );
  for (const [title, stages] of [
    ['request → awaiting approval', model.toApproval],
    ['approval → active', model.toActive],
  ] as const) {
    print(`  floor of ${title}, stage by stage (parallel branches count once; the slowest branch shown):`);
    for (const s of stages) {
      const f = stageFloor(s, L);
      const hops = f.branch?.hops.map((h) => (Array.isArray(h) ? `(${h.join(' ∥ ')})` : h)).join(' → ') ?? '';
      print(`    ${s.name.padEnd(11)} ${ms(f.ms).padStart(8)}  ${s.why}; slowest: ${f.branch?.name ?? '-'}: ${hops}`);
    }
  }
  print(
    `  request → awaiting approval: wall ${ms(r.p1.wallMs)}, floor ${ms(r.p1.floorMs)}, wall/floor ${r.p1.wallOverFloor} (target ≤ 1.25)`,
  );
  print(
    `  approval → active:           wall ${ms(r.p1.activeWallMs)}, floor ${ms(r.p1.activeFloorMs)}, wall/floor ${r.p1.activeWallOverFloor}`,
  );
  print('  where the wall time went (first measured run; activities in the order of their share):');
  for (const a of r.p1.byActivity)
    print(
      `    ${a.activity.padEnd(34)} ${String(a.steps).padStart(3)}× ${ms(a.wallMs).padStart(9)}  calls: ${SERVICES.filter(
        (s) => a.calls[s],
      )
        .map((s) => `${s} ${a.calls[s]}`)
        .join(', ')}`,
    );
  print('P2 calls per service (actual / minimum = ratio; target ≤ 1.2)');
  print(`  ${'service'.padEnd(11)} ${'provisioning'.padEnd(22)} re-provisioning`);
  for (const s of SERVICES)
    print(
      `  ${s.padEnd(11)} ${`${r.p2.calls[s]} / ${r.p2.minimum[s]} = ${r.p2.ratio[s]}`.padEnd(22)} ${r.p2.reprovisionCalls[s]} / ${r.p2.reprovisionMinimum[s]} = ${r.p2.reprovisionRatio[s]}`,
    );
  print(`  re-provisioning writes: ${r.p2.rerunWrites} (must be 0)`);
  print('  minimum per provisioning, derived from the profile:');
  for (const s of SERVICES) print(`    ${s.padEnd(10)} ${model.minimumWhy.provision[s].join('; ') || '0'}`);
  print('  minimum per re-provisioning of an unchanged integration:');
  for (const s of SERVICES) print(`    ${s.padEnd(10)} ${model.minimumWhy.reprovision[s].join('; ') || '0'}`);
  print(
    'P5 orchestration history (targets: ≤ 150 events per provisioning, no payload over 4 KB, custom status < 4 KB)',
  );
  print(`  events per provisioning: ${r.p5.provisionEvents}; per rotation: ${r.p5.rotationEvents ?? '(not run)'}`);
  print(`  largest event payload: ${r.p5.maxEventBytes} bytes (${r.p5.maxEvent || '-'})`);
  print(`  largest custom status: ${r.p5.customStatusBytes} bytes (the backend's limit is 16 KB)`);
  print(`  event payloads over 4 KB: ${r.p5.eventsOver4KB.length ? r.p5.eventsOver4KB.join('; ') : 'none'}`);
  print(
    `  provisioning custom status by field: ${Object.entries(r.p5.customStatusFields)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
  );
}

/** The command line; resolves to the exit code. `print` receives each output line. */
export async function main(argv: string[], print: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const runs = Number(option(argv, '--runs') ?? process.env.BENCH_FLOOR_RUNS ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const latency = latencyOf(argv);
  print(`provisioning against its physical floor (Node ${process.version}), ${runs} measured run(s)`);
  const { result, model } = await measureFloor({ runs, latency, rotation: !argv.includes('--no-rotation') }, print);
  report(result, model, print);
  if (argv.includes('--json')) print(JSON.stringify(result));
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
