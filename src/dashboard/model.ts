/**
 * What the operator dashboard shows, computed from one registry listing and one query of the running orchestrations
 * (no call per integration on the overview, so it stays fast on a large fleet), and for the detail page from one
 * registry row, its audit trail and its orchestrations' custom status. Pure functions: the HTTP handler
 * (src/functions/dashboard.ts) does the reads. Only ids, names, versions, times and outcomes are kept: the registry and
 * the custom status never hold a secret, and nothing here copies a manual step's values or a durable management URL.
 */
import type { AuditEntry, HealthFinding, HealthState } from '../contracts/fleet';
import type { ProvisionStatus } from '../orchestrators/provision-types';
import type { RotationStatus } from '../orchestrators/rotation-types';
import { rotationInstancePrefix } from '../rotation/ids';
import type { AppCredentialState, CheckResult, IntegrationRecord, IntegrationStatus } from '../registry/types';

/** Every status, in the order the dashboard lists them (live first, then in flight, then ended). */
export const STATUS_ORDER: readonly IntegrationStatus[] = [
  'active',
  'provisioning',
  'awaiting-approval',
  'checking',
  'failed',
  'rejected',
  'expired',
  'rolled-back',
  'decommissioning',
  'decommissioned',
];

/** Statuses whose credentials no longer matter (nothing to expire, nothing to fix). */
const ENDED: ReadonlySet<IntegrationStatus> = new Set(['decommissioned']);

/** The part of a durable instance status the dashboard reads (durable-functions' DurableOrchestrationStatus fits). */
export interface InstanceSnapshot {
  instanceId: string;
  runtimeStatus: string;
  customStatus?: unknown;
  output?: unknown;
  createdTime?: Date | string;
  lastUpdatedTime?: Date | string;
}

export interface IntegrationRow {
  id: string;
  tenantName: string;
  tenant: string;
  serviceNowInstance: string;
  profile: string;
  status: IntegrationStatus;
  /** The health check's verdict: ok, the number of findings, or not checked yet. */
  health: { state: 'ok' | 'findings' | 'unchecked'; findings: number; checkedAt?: string };
  /** The credential that expires first (ISO), if any. */
  nextExpiry?: string;
  updatedAt: string;
}

export interface ExpiringCredential {
  id: string;
  tenantName: string;
  role: string;
  appId: string;
  secretName: string;
  expiresOn: string;
  /** Whole days from now until it expires (negative: expired). */
  daysLeft: number;
}

export type AttentionKind = 'finding' | 'check' | 'rotation' | 'run' | 'orphans';

export interface AttentionItem {
  id: string;
  tenantName: string;
  status: IntegrationStatus;
  kind: AttentionKind;
  /** The finding kind, check name or outcome. */
  what: string;
  detail: string;
  at?: string;
}

export interface PendingApproval {
  id: string;
  tenantName: string;
  serviceNowInstance: string;
  instanceId: string;
  approvers: string[];
  approvedBy: string[];
  quorum?: number;
  since?: string;
  deadline?: string;
  reminders?: number;
}

export interface PendingHandoff {
  id: string;
  tenantName: string;
  instanceId: string;
  role: string;
  approvers: string[];
  deadline?: string;
  reminders?: number;
}

export interface OverviewModel {
  generatedAt: string;
  total: number;
  counts: { status: IntegrationStatus; count: number }[];
  integrations: IntegrationRow[];
  /** The credentials that expire soonest (at most `EXPIRING_SHOWN`), and how many more carry an expiry. */
  expiring: ExpiringCredential[];
  expiringMore: number;
  attention: AttentionItem[];
  approvals: PendingApproval[];
  handoffs: PendingHandoff[];
  /** The running orchestrations could not be read: approvals and hand-offs come from the registry alone. */
  orchestrationsUnavailable: boolean;
}

export const EXPIRING_SHOWN = 15;

const DAY_MS = 24 * 60 * 60 * 1000;

const daysBetween = (from: Date, iso: string): number => Math.floor((Date.parse(iso) - from.getTime()) / DAY_MS);

const validTime = (iso: string | undefined): iso is string => !!iso && !Number.isNaN(Date.parse(iso));

function earliestExpiry(apps: Record<string, AppCredentialState>): string | undefined {
  let first: string | undefined;
  for (const a of Object.values(apps ?? {}))
    if (validTime(a.expiresOn) && (!first || Date.parse(a.expiresOn) < Date.parse(first))) first = a.expiresOn;
  return first;
}

function healthOf(h: HealthState | undefined): IntegrationRow['health'] {
  if (!h) return { state: 'unchecked', findings: 0 };
  const findings = h.findings?.length ?? 0;
  return { state: h.ok && !findings ? 'ok' : 'findings', findings, checkedAt: h.checkedAt };
}

/** What needs an operator on one integration: health findings, failing checks, a failed rotation or run, orphans. */
export function attentionOf(r: IntegrationRecord): AttentionItem[] {
  if (ENDED.has(r.status)) return [];
  const base = { id: r.id, tenantName: r.tenantName, status: r.status };
  const out: AttentionItem[] = [];
  const findings: HealthFinding[] = r.health?.findings ?? [];
  for (const f of findings)
    out.push({ ...base, kind: 'finding', what: f.kind, detail: `${f.subject}: ${f.detail}`, at: r.health?.checkedAt });
  if (r.health && !r.health.ok && !findings.length)
    out.push({
      ...base,
      kind: 'finding',
      what: 'health-check',
      detail: 'the last health check failed',
      at: r.health.checkedAt,
    });
  for (const c of r.checks ?? [])
    if (!c.ok)
      out.push({
        ...base,
        kind: 'check',
        what: c.name,
        detail: c.hint ? `${c.detail} (${c.hint})` : c.detail,
        at: c.at,
      });
  const rot = r.lastRotation;
  if (rot && rot.outcome !== 'rotated' && rot.outcome !== 'reconciled')
    out.push({
      ...base,
      kind: 'rotation',
      what: rot.outcome,
      detail: rot.error ?? `rotation ${rot.instanceId}`,
      at: rot.at,
    });
  if (r.status === 'failed' || (r.lastRun && r.lastRun.outcome === 'failed'))
    out.push({
      ...base,
      kind: 'run',
      what: r.lastRun?.outcome ?? r.status,
      detail: r.lastRun?.error ?? `provisioning ${r.lastRun?.instanceId ?? r.instanceId} failed`,
      at: r.lastRun?.at,
    });
  if (r.orphans?.length)
    out.push({
      ...base,
      kind: 'orphans',
      what: `${r.orphans.length} orphan${r.orphans.length === 1 ? '' : 's'}`,
      detail: r.orphans.map((o) => o.reason).join('; '),
      at: r.orphans[0].since,
    });
  return out;
}

const asProvision = (s: InstanceSnapshot | undefined): ProvisionStatus | undefined =>
  (s?.customStatus ?? s?.output ?? undefined) as ProvisionStatus | undefined;
const asRotation = (s: InstanceSnapshot | undefined): RotationStatus | undefined =>
  (s?.customStatus ?? undefined) as RotationStatus | undefined;

/** The integration a rotation instance belongs to (`rotate-{integrationId}-{YYYYMMDD}`, src/rotation/ids.ts). */
export function rotationIntegrationId(instanceId: string, known: ReadonlyMap<string, unknown>): string | undefined {
  const m = /^rotate-(.+)-\d{8}$/.exec(instanceId);
  if (!m || !known.has(m[1])) return undefined;
  return instanceId.startsWith(rotationInstancePrefix(m[1])) ? m[1] : undefined;
}

function approvalOf(r: IntegrationRecord, s: InstanceSnapshot | undefined): PendingApproval {
  const a = asProvision(s)?.awaiting;
  return {
    id: r.id,
    tenantName: r.tenantName,
    serviceNowInstance: r.serviceNowInstance,
    instanceId: r.instanceId,
    approvers: a?.approvers ?? r.approvers ?? [],
    approvedBy: a?.approvedBy ?? [],
    ...(a ? { quorum: a.quorum, since: a.since, deadline: a.deadline, reminders: a.reminders } : {}),
  };
}

/**
 * The overview from the registry listing and the running orchestrations (`running`: one `getStatusBy` query, or
 * undefined when it failed). Pending approvals are the rows in `awaiting-approval` (also a live integration whose
 * re-provisioning waits for a new round); hand-offs are running rotations whose custom status has `awaiting`.
 */
export function overviewModel(
  records: readonly IntegrationRecord[],
  running: readonly InstanceSnapshot[] | undefined,
  now: Date,
): OverviewModel {
  const byInstance = new Map((running ?? []).map((s) => [s.instanceId, s]));
  const byId = new Map(records.map((r) => [r.id, r]));

  const counts = STATUS_ORDER.map((status) => ({ status, count: records.filter((r) => r.status === status).length }));
  const integrations: IntegrationRow[] = records.map((r) => ({
    id: r.id,
    tenantName: r.tenantName,
    tenant: r.tenant,
    serviceNowInstance: r.serviceNowInstance,
    profile: r.profile,
    status: r.status,
    health: healthOf(r.health),
    nextExpiry: ENDED.has(r.status) ? undefined : earliestExpiry(r.apps),
    updatedAt: r.updatedAt,
  }));

  const allExpiring: ExpiringCredential[] = [];
  for (const r of records) {
    if (ENDED.has(r.status)) continue;
    for (const [role, a] of Object.entries(r.apps ?? {}))
      if (validTime(a.expiresOn))
        allExpiring.push({
          id: r.id,
          tenantName: r.tenantName,
          role,
          appId: a.appId,
          secretName: a.secretName,
          expiresOn: a.expiresOn,
          daysLeft: daysBetween(now, a.expiresOn),
        });
  }
  allExpiring.sort((x, y) => Date.parse(x.expiresOn) - Date.parse(y.expiresOn) || x.id.localeCompare(y.id));

  // A provisioning run waiting for its round: the row says so, or (a re-provisioning of a live integration) its
  // running instance's custom status does.
  const approvals: PendingApproval[] = records
    .filter((r) => r.status === 'awaiting-approval' || !!asProvision(byInstance.get(r.instanceId))?.awaiting)
    .map((r) => approvalOf(r, byInstance.get(r.instanceId)));

  const handoffs: PendingHandoff[] = [];
  for (const s of running ?? []) {
    const id = rotationIntegrationId(s.instanceId, byId);
    const awaiting = id ? asRotation(s)?.awaiting : undefined;
    if (!id || !awaiting) continue;
    handoffs.push({
      id,
      tenantName: byId.get(id)!.tenantName,
      instanceId: s.instanceId,
      role: awaiting.role,
      approvers: awaiting.approvers ?? [],
      deadline: awaiting.deadline,
      reminders: awaiting.reminders,
    });
  }
  handoffs.sort((x, y) => (x.deadline ?? '').localeCompare(y.deadline ?? '') || x.id.localeCompare(y.id));

  return {
    generatedAt: now.toISOString(),
    total: records.length,
    counts,
    integrations,
    expiring: allExpiring.slice(0, EXPIRING_SHOWN),
    expiringMore: Math.max(0, allExpiring.length - EXPIRING_SHOWN),
    attention: records.flatMap(attentionOf),
    approvals,
    handoffs,
    orchestrationsUnavailable: running === undefined,
  };
}

export interface TimelineStep {
  name: string;
  at: string;
}

export interface RunView {
  instanceId: string;
  runtimeStatus?: string;
  currentStep?: string;
  steps: TimelineStep[];
  outcome?: string;
  error?: string;
  awaiting?: { what: string; approvers: string[]; deadline?: string; approvedBy?: string[]; quorum?: number };
  /** Titles of the manual actions the run handed off (their values stay in the emails and the API). */
  manualActions: { title: string; actor: string }[];
}

export interface DetailModel {
  generatedAt: string;
  record: IntegrationRecord;
  provisioning?: RunView;
  /** Running rotations of this integration. */
  rotations: RunView[];
  checks: CheckResult[];
  credentials: (AppCredentialState & { role: string; daysLeft?: number })[];
  attention: AttentionItem[];
  audit: AuditEntry[];
  orchestrationsUnavailable: boolean;
}

function provisionRun(s: InstanceSnapshot): RunView {
  const c = asProvision(s);
  return {
    instanceId: s.instanceId,
    runtimeStatus: s.runtimeStatus,
    currentStep: c?.step,
    steps: (c?.steps ?? []).map((x) => ({ name: x.name, at: x.at })),
    outcome: c?.outcome,
    error: c?.error,
    ...(c?.awaiting
      ? {
          awaiting: {
            what: 'approval',
            approvers: c.awaiting.approvers,
            deadline: c.awaiting.deadline,
            approvedBy: c.awaiting.approvedBy,
            quorum: c.awaiting.quorum,
          },
        }
      : {}),
    manualActions: (c?.manualActions ?? []).map((m) => ({ title: m.title, actor: m.actor })),
  };
}

function rotationRun(s: InstanceSnapshot): RunView {
  const c = asRotation(s);
  return {
    instanceId: s.instanceId,
    runtimeStatus: s.runtimeStatus,
    currentStep: c?.step,
    steps: (c?.steps ?? []).map((x) => ({ name: x.name, at: x.at })),
    outcome: c?.outcome,
    error: c?.error,
    ...(c?.awaiting
      ? {
          awaiting: {
            what: `hand-off of ${c.awaiting.role}`,
            approvers: c.awaiting.approvers,
            deadline: c.awaiting.deadline,
          },
        }
      : {}),
    manualActions: [],
  };
}

/** The detail page of one integration: its row, the provisioning run's timeline, running rotations, audit trail. */
export function detailModel(
  record: IntegrationRecord,
  provisioning: InstanceSnapshot | undefined,
  running: readonly InstanceSnapshot[] | undefined,
  audit: readonly AuditEntry[],
  now: Date,
): DetailModel {
  const run = provisioning ? provisionRun(provisioning) : undefined;
  const custom = asProvision(provisioning);
  const known = new Map([[record.id, record]]);
  const checks: CheckResult[] = custom?.checks?.length
    ? custom.checks.map((c) => ({
        name: c.name,
        ok: c.ok,
        detail: c.detail,
        hint: c.hint,
        at: provisioningTime(provisioning),
      }))
    : (record.checks ?? []);
  return {
    generatedAt: now.toISOString(),
    record,
    provisioning: run,
    rotations: (running ?? []).filter((s) => rotationIntegrationId(s.instanceId, known) === record.id).map(rotationRun),
    checks,
    credentials: Object.entries(record.apps ?? {}).map(([role, a]) => ({
      ...a,
      role,
      ...(validTime(a.expiresOn) ? { daysLeft: daysBetween(now, a.expiresOn) } : {}),
    })),
    attention: attentionOf(record),
    audit: [...audit],
    orchestrationsUnavailable: running === undefined,
  };
}

function provisioningTime(s: InstanceSnapshot | undefined): string {
  const t = s?.lastUpdatedTime;
  return t instanceof Date ? t.toISOString() : (t ?? '');
}
