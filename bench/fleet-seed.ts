/**
 * A fleet of N active integrations in the sandbox, seeded quickly (shared by bench/health.ts and
 * bench/rotation-fleet.ts).
 *
 * `real` integrations (default 2) are provisioned for real through the API (the approval raised on the instance with
 * the digest of the plan it shows). The rest are replicas of them, one ServiceNow instance each (the integration id
 * derives from tenant, instance and profile), written through the stand-ins' in-process APIs: the Entra apps and
 * service principals (new ids; the credential in use added with a new keyId and secret text), the Key Vault version
 * of each secret (the new text, the `keyId` tag, the same expiry), the ServiceNow records the template created (new
 * sys_ids; seeded rows they reference, such as roles, mapped to the replica instance's), the registry row, and the
 * provisioning run (imported into the durable engine as a completed instance with its history). Every template
 * identifier (integration id, instance, app ids, object ids, keyIds, versions, sys_ids, secret texts) is replaced by
 * the replica's, in every one of those. Not replicated: the audit trail and the ownership ledger, and the plan digest
 * (the replicas carry the template's).
 *
 * Optional per replica: drift (a ServiceNow record column edited, or a password credential added by hand), and the
 * recorded times of a credential in use (`CredentialTimes`: the Graph credential's start/end, the Key Vault version's
 * created/expires attributes and the registry's `createdOn`/`expiresOn` all agree), so a benchmark can make some
 * credentials due for rotation.
 */
import { performance } from 'node:perf_hooks';

import type { Application } from '../sandbox/directory';
import { newAppRoleAssignmentId } from '../sandbox/directory';
import { newGuid, newSysId } from '../sandbox/core/random';
import { TERMINAL, type InstanceStatus } from '../sandbox/durable/engine';
import type { HistoryEvent } from '../sandbox/durable/history';
import { lineage, TABLES } from '../sandbox/servicenow/schema';
import { startLocalStack, type LocalStack } from '../sandbox/stack';
import { integrationIdFor } from '../src/api/integration-request';
import { getDeps } from '../src/app/deps';
import { APPROVAL_EVENT } from '../src/contracts/provision';
import type { IntegrationRecord } from '../src/registry/types';

/** Instance names of equal width with a non-hex letter, so one never occurs inside another or inside an id. */
export const instanceName = (i: number): string => `bh${String(i).padStart(5, '0')}`;

export async function provisionReal(stack: LocalStack, instance: string): Promise<string> {
  const env = stack.env();
  const res = await fetch(`${stack.host.baseUrl}/api/integrations`, {
    method: 'POST',
    headers: { 'x-functions-key': stack.host.functionKey, 'content-type': 'application/json' },
    body: JSON.stringify({
      tenant: env.SANDBOX_TENANT_DOMAIN,
      tenantName: 'Contoso',
      serviceNowInstance: instance,
      approvers: [`approver@${env.SANDBOX_TENANT_DOMAIN}`, `second.approver@${env.SANDBOX_TENANT_DOMAIN}`],
      requestedBy: `requester@${env.SANDBOX_TENANT_DOMAIN}`,
    }),
  });
  if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const instanceId = `provision-${id}`;
  const durable = stack.host.durable;
  await durable.waitForStatus(instanceId, () => durable.waitingFor(instanceId).includes(APPROVAL_EVENT), 120_000);
  const custom = durable.getStatus(instanceId)?.customStatus as { plan?: { digest?: string } } | null;
  durable.raiseEvent(instanceId, APPROVAL_EVENT, {
    decision: 'approve',
    approver: `approver@${env.SANDBOX_TENANT_DOMAIN}`,
    at: stack.sandbox.clock.date().toISOString(),
    tokenId: 'bench',
    planDigest: custom?.plan?.digest,
  });
  const end = await runToEnd(stack, [instanceId]);
  const out = end[0].output as { outcome?: string } | null;
  if (out?.outcome !== 'active') throw new Error(`${instanceId} ended ${end[0].runtimeStatus} ${out?.outcome}`);
  return id;
}

/** Runs instances to their end, moving virtual time while the engine is idle (check retries, durable retries). */
export async function runToEnd(
  stack: LocalStack,
  ids: string[],
  maxAdvanceMs = 30 * 60_000,
): Promise<InstanceStatus[]> {
  const durable = stack.host.durable;
  for (let advanced = 0; ; advanced += 15_000) {
    await durable.waitForIdle(600_000);
    const all = ids.map((id) => durable.getStatus(id));
    if (all.every((s) => s && TERMINAL.includes(s.runtimeStatus))) return all as InstanceStatus[];
    if (advanced >= maxAdvanceMs) throw new Error(`instances still running after ${maxAdvanceMs} ms of virtual time`);
    await stack.host.advanceTime(15_000);
  }
}

/** Replaces every template identifier by the replica's in a JSON-able value (longest first). */
function rewriter(map: Map<string, string>): <T>(value: T) => T {
  const keys = [...map.keys()].filter(Boolean).sort((a, b) => b.length - a.length);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(keys.map(escape).join('|'), 'g');
  return <T>(value: T): T => {
    if (value === undefined) return value;
    return JSON.parse(JSON.stringify(value).replace(re, (m) => JSON.stringify(map.get(m)).slice(1, -1))) as T;
  };
}

export interface Template {
  id: string;
  instance: string;
  row: IntegrationRecord;
  provision: InstanceStatus;
  history: readonly HistoryEvent[];
  /** Key Vault: per role, the current version's text, tags, content type and expiry. */
  secrets: Record<string, { value: string; tags: Record<string, string>; contentType?: string; exp?: number }>;
  /** ServiceNow rows the provisioning created (not seeded), in insertion order, with their secret columns. */
  rows: { table: string; values: Record<string, string>; secrets: Record<string, string> }[];
  /** Seeded rows the created rows reference: sys_id → (table, position among the seeded rows of that table). */
  seededRefs: Map<string, { table: string; index: number }>;
}

export async function readTemplate(stack: LocalStack, id: string): Promise<Template> {
  const deps = getDeps();
  const row = (await deps.registry.get(id))?.value;
  if (!row) throw new Error(`no registry row ${id}`);
  const instanceId = row.instanceId;
  const provision = stack.host.durable.getStatus(instanceId, { showInput: true });
  if (!provision) throw new Error(`no instance ${instanceId}`);
  const secrets: Template['secrets'] = {};
  for (const [role, app] of Object.entries(row.apps)) {
    if (!app.secretName) continue;
    const s = await deps.secrets.getSecret(app.secretName, app.secretVersion ? { version: app.secretVersion } : {});
    secrets[role] = {
      value: s.value ?? '',
      tags: { ...(s.properties.tags ?? {}) },
      ...(s.properties.contentType ? { contentType: s.properties.contentType } : {}),
      ...(s.properties.expiresOn ? { exp: Math.floor(s.properties.expiresOn.getTime() / 1000) } : {}),
    };
  }
  const sn = stack.sandbox.servicenow;
  const seen = new Set<string>();
  const all: { table: string; values: Record<string, string> }[] = [];
  for (const t of TABLES)
    for (const r of sn.records(row.serviceNowInstance, t.name))
      if (!seen.has(r.values.sys_id)) {
        seen.add(r.values.sys_id);
        all.push({ table: r.table, values: r.values });
      }
  const created = all.filter((r) => r.values.sys_created_by !== 'system');
  const createdIds = new Set(created.map((r) => r.values.sys_id));
  const seededRefs = new Map<string, { table: string; index: number }>();
  const seededByTable = new Map<string, string[]>();
  for (const r of all.filter((x) => !createdIds.has(x.values.sys_id))) {
    const list = seededByTable.get(r.table) ?? [];
    list.push(r.values.sys_id);
    seededByTable.set(r.table, list);
  }
  for (const r of created)
    for (const v of Object.values(r.values))
      if (/^[0-9a-f]{32}$/.test(v) && !createdIds.has(v) && !seededRefs.has(v))
        for (const [table, ids] of seededByTable) {
          const index = ids.indexOf(v);
          if (index >= 0) seededRefs.set(v, { table, index });
        }
  const rows = created.map((r) => {
    const secretCols = lineage(r.table)
      .flatMap((t) => t.columns)
      .filter((c) => c.type === 'password2' || c.type === 'password');
    const sec: Record<string, string> = {};
    for (const c of secretCols) {
      const v = sn.secretOf(row.serviceNowInstance, r.table, r.values.sys_id, c.name);
      if (v !== undefined) sec[c.name] = v;
    }
    return { table: r.table, values: { ...r.values }, secrets: sec };
  });
  return {
    id,
    instance: row.serviceNowInstance,
    row,
    provision,
    history: stack.host.durable.history(instanceId),
    secrets,
    rows,
    seededRefs,
  };
}

export type Drift = 'record' | 'credential' | undefined;

/** The recorded times of a credential in use (Graph start/end, Key Vault created/expires, the registry's copy). */
export interface CredentialTimes {
  expiresOn?: Date;
  createdOn?: Date;
}

/** Writes replica `instance` of `t` into the stand-ins, the registry and the durable engine; returns its id. */
export async function replicate(
  stack: LocalStack,
  t: Template,
  instance: string,
  drift: Drift,
  times: Record<string, CredentialTimes> = {},
): Promise<string> {
  const { directory, keyvault, servicenow } = stack.sandbox;
  const now = stack.sandbox.clock.now();
  const id = integrationIdFor(t.row.tenant, instance, t.row.profile);
  const map = new Map<string, string>([
    [t.id, id],
    [t.instance, instance],
  ]);
  // Entra: apps and service principals with new ids, then the credential in use with a new keyId and text.
  const apps: Record<string, Application> = {};
  const sps: { from: string; to: string }[] = [];
  for (const [role, reg] of Object.entries(t.row.apps)) {
    const app = directory.applications.get(reg.objectId);
    if (!app) continue;
    map.set(app.id, newGuid());
    map.set(app.appId, newGuid());
    const sp = directory.spByAppId(app.appId);
    if (sp) {
      const to = newGuid();
      map.set(sp.id, to);
      sps.push({ from: sp.id, to });
    }
    apps[role] = app;
  }
  const rewrite0 = rewriter(map);
  const newApps: Record<string, Application> = {};
  for (const [role, app] of Object.entries(apps)) {
    const clone = rewrite0({ ...app, passwordCredentials: [] });
    clone.createdAt = now;
    directory.applications.set(clone.id, clone);
    newApps[role] = clone;
    const sp = directory.spByAppId(app.appId);
    if (sp) {
      const spClone = rewrite0(sp);
      spClone.createdAt = now;
      directory.servicePrincipals.set(spClone.id, spClone);
    }
    const inUse = t.row.apps[role]?.keyId?.toLowerCase();
    for (const c of app.passwordCredentials) {
      const own = c.keyId.toLowerCase() === inUse ? times[role] : undefined;
      const added = directory.addPassword(clone, {
        displayName: c.displayName,
        startDateTime: own?.createdOn?.getTime() ?? c.startDateTime,
        endDateTime: own?.expiresOn?.getTime() ?? c.endDateTime,
      });
      map.set(c.keyId, added.credential.keyId);
      if (c.keyId.toLowerCase() === inUse && t.secrets[role]) map.set(t.secrets[role].value, added.secretText);
    }
  }
  for (const a of [...directory.appRoleAssignments]) {
    const from = sps.find((s) => s.from === a.principalId);
    if (!from) continue;
    directory.appRoleAssignments.push({
      ...a,
      id: newAppRoleAssignmentId(from.to),
      principalId: from.to,
      resourceId: sps.find((s) => s.from === a.resourceId)?.to ?? a.resourceId,
      createdAt: now,
    });
  }
  // ServiceNow: fresh sys_ids for the created rows; seeded rows they reference mapped by position.
  for (const r of t.rows) map.set(r.values.sys_id, newSysId());
  const seeded = new Map<string, string[]>();
  for (const [from, ref] of t.seededRefs) {
    let ids = seeded.get(ref.table);
    if (!ids) {
      ids = servicenow
        .records(instance, ref.table)
        .filter((r) => r.table === ref.table)
        .map((r) => r.values.sys_id);
      seeded.set(ref.table, ids);
    }
    const to = ids[ref.index];
    if (!to) throw new Error(`replica ${instance} has no seeded ${ref.table} #${ref.index}`);
    map.set(from, to);
  }
  // Key Vault versions: new ids are known only once written, so write them before the final rewrite.
  const rewrite1 = rewriter(map);
  for (const [role, s] of Object.entries(t.secrets)) {
    const reg = t.row.apps[role];
    if (!reg?.secretName) continue;
    const own = times[role];
    const exp = own?.expiresOn ? Math.floor(own.expiresOn.getTime() / 1000) : s.exp;
    const version = keyvault.seedSecretVersion(rewrite1(reg.secretName), map.get(s.value) ?? s.value, {
      tags: rewrite1(s.tags),
      ...(s.contentType ? { contentType: s.contentType } : {}),
      ...(exp !== undefined ? { exp } : {}),
      ...(own?.createdOn ? { created: Math.floor(own.createdOn.getTime() / 1000) } : {}),
    });
    if (reg.secretVersion) map.set(reg.secretVersion, version);
  }
  const rewrite = rewriter(map);
  for (const r of t.rows) {
    const values: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.values)) if (k === 'sys_id' || !k.startsWith('sys_')) values[k] = v;
    const copy = rewrite(values);
    for (const [k, v] of Object.entries(r.secrets)) copy[k] = map.get(v) ?? v;
    if (drift === 'record' && r.table === 'oauth_entity' && copy.sys_id === map.get(t.row.serviceNow.outboundProvider))
      copy.redirect_url = `https://example.invalid/${instance}/edited_by_hand.do`;
    servicenow.seedRecord(instance, r.table, copy);
  }
  if (drift === 'credential' && newApps.outbound)
    directory.addPassword(newApps.outbound, { displayName: 'added by hand' });
  // The registry row and the provisioning run that went live.
  const row = rewrite(t.row);
  for (const [role, own] of Object.entries(times)) {
    const app = row.apps[role];
    if (!app) continue;
    if (own.expiresOn) app.expiresOn = new Date(Math.floor(own.expiresOn.getTime() / 1000) * 1000).toISOString();
    if (own.createdOn) app.createdOn = new Date(Math.floor(own.createdOn.getTime() / 1000) * 1000).toISOString();
  }
  await getDeps().registry.create(row);
  const p = t.provision;
  stack.host.durable.importInstance({
    name: p.name,
    instanceId: rewrite(p.instanceId),
    runtimeStatus: p.runtimeStatus as 'Completed',
    input: rewrite(p.input),
    output: rewrite(p.output),
    customStatus: rewrite(p.customStatus),
    createdTime: new Date(p.createdTime),
    lastUpdatedTime: new Date(p.lastUpdatedTime),
    history: t.history.map((e) => {
      const c = rewrite({ ...e });
      return { ...c, Timestamp: new Date(e.Timestamp), ...(e.FireAt ? { FireAt: new Date(e.FireAt) } : {}) };
    }),
  });
  return id;
}

export interface FleetOptions {
  n: number;
  /** Provisioned through the API (at least 1, at most n); the rest are replicas. */
  real?: number;
  log?: (line: string) => void;
  /** Drift of replica `i` (index among all n), if any. */
  drift?: (i: number) => Drift;
  /** Recorded credential times of replica `i`, per role (the template's when omitted). */
  times?: (i: number) => Record<string, CredentialTimes> | undefined;
  /** Called once the real ones are provisioned, before any replica is written. */
  onTemplates?: (stack: LocalStack, rows: IntegrationRecord[]) => void;
}

export interface Fleet {
  stack: LocalStack;
  /** Integration ids, index i = instance `instanceName(i)`; the first `real` were provisioned for real. */
  ids: string[];
  real: number;
  seedMs: number;
}

/** Starts a local stack (virtual timers) with n ServiceNow instances and seeds n active integrations. */
export async function seedFleet(opts: FleetOptions): Promise<Fleet> {
  const n = opts.n;
  const real = Math.max(1, Math.min(opts.real ?? 2, n));
  const log = opts.log ?? (() => undefined);
  const instances = Array.from({ length: n }, (_, i) => instanceName(i));
  const t0 = performance.now();
  const stack = await startLocalStack({ timers: 'virtual', servicenow: { instances } });
  try {
    const sn = stack.sandbox.servicenow;
    for (const i of instances.slice(1)) {
      stack.sandbox.keyvault.seedSecret(`servicenow-${i}-username`, sn.adminUser, { purpose: 'servicenow-admin' });
      stack.sandbox.keyvault.seedSecret(`servicenow-${i}-password`, sn.adminPassword, { purpose: 'servicenow-admin' });
    }
    log(`stack with ${n} ServiceNow instances up in ${(performance.now() - t0).toFixed(0)} ms`);
    const ids: string[] = [];
    for (const i of instances.slice(0, real)) ids.push(await provisionReal(stack, i));
    log(`${real} provisioned through the API in ${(performance.now() - t0).toFixed(0)} ms`);
    const templates: Template[] = [];
    for (const id of ids) templates.push(await readTemplate(stack, id));
    opts.onTemplates?.(
      stack,
      templates.map((t) => t.row),
    );
    for (let i = real; i < n; i++) {
      ids.push(
        await replicate(stack, templates[i % templates.length], instances[i], opts.drift?.(i), opts.times?.(i) ?? {}),
      );
      if ((i + 1 - real) % 100 === 0) log(`replicated ${i + 1 - real} of ${n - real}`);
    }
    return { stack, ids, real, seedMs: performance.now() - t0 };
  } catch (err) {
    await stack.close();
    throw err;
  }
}
