/**
 * What is wrong with an integration now, derived from state the product already keeps: the registry row
 * (`lastRotation`, `health`, `orphans`, the apps' credentials) and, when the caller has a durable client, the custom
 * status of the integration's running provisioning and rotation instances. Pure: no I/O, the time is an argument, so
 * the same state always gives the same conditions (and they can be evaluated at any time).
 *
 * Each condition has a stable key within its integration; the alert store (./store.ts) remembers which keys were
 * alerted, so an alert is sent once per condition per day (or once per expiry stage), and once more, "resolved", when
 * the key is no longer derived.
 */
import type { AlertConditionKind, HealthFinding } from '../contracts/fleet';
import type { CreatedObject } from '../contracts/provision';
import type { IntegrationProfile } from '../profiles/types';
import type { IntegrationRecord } from '../registry/types';
import { ORPHAN_ALERT_MS } from '../rotation/orphans';

const DAY_MS = 24 * 3600_000;
const MINUTE_MS = 60_000;

export interface AlertCondition {
  kind: AlertConditionKind;
  /** Stable within the integration while the condition lasts: `<kind>:<subject>`. */
  key: string;
  /** One line a person reads (ids, names, times; never a secret or a URL with a token). */
  summary: string;
  /** More lines (findings, orphans), each one a person reads. */
  details: string[];
  /** Expiry stages: the stage (days before expiry; 0 = expired) now reached. Each stage is alerted once. */
  stage?: number;
}

/** What the durable client says about the integration's running instances (absent: it was not asked). */
export interface DurableFacts {
  /** The provisioning instance of the row, when it is running and waits for approvers. */
  approval?: { instanceId: string; since: string; deadline?: string; approvers: string[] };
  /** The running rotation instance, when it waits for hand-off confirmations. */
  handoff?: { instanceId: string; since: string; roles: string; deadline?: string };
}

export interface AlertPolicy {
  /** Days before expiry, largest first. */
  expiryStagesDays: number[];
  overdueMinutes: number;
}

/** Kinds that need the durable client; without it they are neither raised nor resolved. */
export const DURABLE_KINDS: readonly AlertConditionKind[] = ['approval-overdue', 'handoff-overdue'];

/**
 * The roles whose client secret cannot be rotated without a person, and why.
 *
 * A role has a client secret when its app is one the profile registers (`existing` unset) and the secret has a
 * consumer (the secrets step creates none otherwise; src/profiles/validate.ts). Rotation (rotateCredentials) updates
 * `servicenow` consumers through the Table API, but:
 * - a `manual` consumer (e.g. the Microsoft 365 admin center repository of the `m365-support-aad` profile's `restApi`
 *   and `restUser` apps) has no API: rotation emails a hand-off and waits for a person to paste the new secret and
 *   confirm, and rolls back at the hand-off deadline; the credential is replaced only if someone acts;
 * - a `servicenow` consumer whose record has no sys_id on the registry row (ServiceNow refused the write and a person
 *   created it by hand from the manual fallback) cannot be switched at all: rotation stops with "ServiceNow record …
 *   is not registered" and rolls back.
 * A role that is only consumed through the API (the Entra ID spoke's `spoke`, m365's `outbound`) rotates by itself
 * and is not listed; an `existing` app (the Copilot connector's first-party app) has no secret to expire.
 */
export function rolesNeedingPeople(
  profile: IntegrationProfile,
  record: Pick<IntegrationRecord, 'serviceNow'>,
): { role: string; reason: string }[] {
  const out: { role: string; reason: string }[] = [];
  for (const app of profile.apps) {
    if (app.existing || !app.secretConsumers.length) continue;
    const manual = app.secretConsumers.filter((c) => c.kind === 'manual');
    const unregistered = app.secretConsumers.filter((c) => c.kind === 'servicenow' && !record.serviceNow[c.record]);
    if (manual.length)
      out.push({ role: app.role, reason: `a person pastes it in ${manual.map((c) => c.where).join('; ')}` });
    else if (unregistered.length)
      out.push({
        role: app.role,
        reason: `ServiceNow record ${unregistered.map((c) => (c.kind === 'servicenow' ? c.record : '')).join(', ')} is not registered, so rotation cannot switch it`,
      });
  }
  return out;
}

/**
 * The expiry stage reached `daysLeft` days before expiry: the smallest configured stage that is at least `daysLeft`
 * (with 30,14,7,1: 20 days left → 30, 10 → 14, 7 → 7, 0.5 → 1), 0 once expired, undefined before the first stage.
 */
export function expiryStage(daysLeft: number, stagesDays: readonly number[]): number | undefined {
  if (daysLeft <= 0) return 0;
  const reached = stagesDays.filter((s) => daysLeft <= s);
  return reached.length ? Math.min(...reached) : undefined;
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function findingLine(f: HealthFinding): string {
  return `${f.subject}: ${f.detail}${f.repairable ? ' (repairable)' : ''}`;
}

/**
 * Every condition of one integration now. `durable` undefined = the overdue kinds were not evaluated (see
 * DURABLE_KINDS). A decommissioned integration has none.
 */
export function deriveConditions(
  record: IntegrationRecord,
  profile: IntegrationProfile | undefined,
  now: Date,
  policy: AlertPolicy,
  durable?: DurableFacts,
): AlertCondition[] {
  if (record.status === 'decommissioned') return [];
  const out: AlertCondition[] = [];
  const t = now.getTime();
  const live = record.status === 'active';

  // Rotation failed or rolled back (the last rotation's outcome; a later successful one clears it).
  const rot = record.lastRotation;
  if (live && rot && (rot.outcome === 'failed' || rot.outcome === 'rolled-back'))
    out.push({
      kind: 'rotation-failed',
      key: 'rotation-failed:rotation',
      summary: `Secret rotation ${rot.instanceId} ${rot.outcome === 'failed' ? 'failed' : 'was rolled back'} at ${rot.at}; the old secrets stay in use.`,
      details: rot.error ? [rot.error] : [],
    });

  // The last health check: failed checks, and drift (everything else it finds).
  const findings = live ? (record.health?.findings ?? []) : [];
  const failedChecks = findings.filter((f) => f.kind === 'check-failed');
  const drift = findings.filter((f) => f.kind !== 'check-failed');
  if (failedChecks.length)
    out.push({
      kind: 'check-failed',
      key: 'check-failed:health',
      summary: `${failedChecks.length} check(s) failed in the health check of ${record.health!.checkedAt}.`,
      details: failedChecks.map(findingLine),
    });
  if (drift.length)
    out.push({
      kind: 'drift',
      key: 'drift:health',
      summary: `The health check of ${record.health!.checkedAt} found ${drift.length} difference(s) from the approved state.`,
      details: drift.map((f) => `${f.kind} ${findingLine(f)}`),
    });

  // Credentials a person must rotate, at the configured stages before they expire.
  if (live && profile)
    for (const { role, reason } of rolesNeedingPeople(profile, record)) {
      const app = record.apps[role];
      const expires = app?.expiresOn ? Date.parse(app.expiresOn) : NaN;
      if (!app || Number.isNaN(expires)) continue;
      const stage = expiryStage((expires - t) / DAY_MS, policy.expiryStagesDays);
      if (stage === undefined) continue;
      out.push({
        kind: 'credential-expiring',
        // Per credential: a new secret (another keyId) is another condition, and this one clears.
        key: `credential-expiring:${role}:${app.keyId ?? app.secretVersion ?? app.expiresOn}`,
        summary:
          stage === 0
            ? `The client secret of ${role} expired on ${isoDay(expires)} and cannot be rotated automatically.`
            : `The client secret of ${role} expires on ${isoDay(expires)} (within ${stage} day(s)) and cannot be rotated automatically.`,
        details: [`Why: ${reason}.`, `Key Vault secret ${app.secretName}${app.keyId ? `, keyId ${app.keyId}` : ''}.`],
        stage,
      });
    }

  // Overdue approvals and hand-offs.
  const overdue = (since: string) => t - Date.parse(since) > policy.overdueMinutes * MINUTE_MS;
  if (durable?.approval && overdue(durable.approval.since))
    out.push({
      kind: 'approval-overdue',
      key: `approval-overdue:${durable.approval.instanceId}`,
      summary: `${durable.approval.instanceId.startsWith('decommission-') ? 'Decommissioning' : 'Provisioning'} ${durable.approval.instanceId} has waited for approval since ${durable.approval.since}.`,
      details: [
        `Approvers: ${durable.approval.approvers.join(', ') || '(none)'}.`,
        ...(durable.approval.deadline ? [`Deadline: ${durable.approval.deadline}.`] : []),
      ],
    });
  if (durable?.handoff && overdue(durable.handoff.since))
    out.push({
      kind: 'handoff-overdue',
      key: `handoff-overdue:${durable.handoff.instanceId}`,
      summary: `Rotation ${durable.handoff.instanceId} has waited since ${durable.handoff.since} for a person to confirm the new secret of ${durable.handoff.roles}.`,
      details: durable.handoff.deadline ? [`Hand-off deadline: ${durable.handoff.deadline}.`] : [],
    });

  // Orphans that stay longer than a day (the orphan sweep retries them daily).
  const stale = (record.orphans ?? []).filter((o) => t - Date.parse(o.since) > ORPHAN_ALERT_MS);
  if (stale.length)
    out.push({
      kind: 'orphans',
      key: 'orphans:orphans',
      summary: `${stale.length} object(s) that runs could not remove are still there after a day.`,
      details: stale.map((o) => `${describeObject(o.object)} (run ${o.instanceId}, since ${o.since}): ${o.reason}`),
    });
  return out;
}

function describeObject(o: CreatedObject): string {
  const fields = o as unknown as Record<string, unknown>;
  const id = ['objectId', 'keyId', 'sysId', 'secretName', 'table', 'role']
    .map((k) => fields[k])
    .find((v): v is string => typeof v === 'string');
  return `${o.kind}${id ? ` ${id}` : ''}`;
}
