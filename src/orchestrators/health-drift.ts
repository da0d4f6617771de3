/**
 * The drift comparison of the health check: pure functions of what was approved and what the read-only activities
 * observed, so the same drift gives the same findings (same `subject`) on every day it persists. Replay-safe.
 *
 * Subjects:
 *   record:{key}                      a record of the plan is gone (or was never created)
 *   record:{key}:{column}             a column differs from the approved value (deactivated = `active` differs)
 *   grant:{user}:{role}               a role grant of the plan was removed
 *   grant-added:{user}:{role}         a role on the integration's own user that the plan does not hold
 *   app:{role}                        an app registration (or the used service principal) is gone
 *   credential:{role}:{keyId}         a credential on our app whose keyId the product never recorded as its own
 *   credential-missing:{role}:{keyId} the credential in use is no longer on the app
 *   credential-expired:{role}:{keyId} the credential in use has expired
 *   secret:{role}:{version}           the Key Vault version the registry names is missing, disabled or expired
 *   check:{name}                      a profile check (or the preflight) failed
 */
import type { HealthFinding } from '../contracts/fleet';
import type { InspectServiceNowResult, ObservedApp } from '../contracts/health';
import type { CheckOutcome } from '../contracts/provision';

export interface ApprovedRecord {
  key: string;
  table: string;
  /** The sys_id the registry records for it, if any. */
  sysId?: string;
  /** Approved values of every column the profile writes (natural key, fields, activation; never the secret). */
  fields: Record<string, string>;
  /** Natural-key columns: drift there is not repaired (a re-run would find no record and create a second one). */
  naturalKey: string[];
}

export interface DriftInput {
  records: ApprovedRecord[];
  grants: { userName: string; role: string }[];
  /** The integration's own users: roles on them beyond the plan are reported. */
  ownUsers: string[];
  serviceNow: InspectServiceNowResult;
  apps: ObservedApp[];
  /** Per role, the keyId the registry names as in use. */
  inUse: Record<string, string | undefined>;
  /** ISO time of the check (the orchestrator's clock). */
  now: string;
}

const lower = (s: string) => s.toLowerCase();

/** Findings about ServiceNow records and role grants. */
/** The longest live value a finding quotes (anyone who may write the shared instance chooses it). */
const QUOTED_MAX = 200;
const quoted = (v: string): string =>
  v.length > QUOTED_MAX ? `'${v.slice(0, QUOTED_MAX)}…' (${v.length} characters)` : `'${v}'`;

export function serviceNowDrift(input: Pick<DriftInput, 'records' | 'grants' | 'ownUsers' | 'serviceNow'>) {
  const out: HealthFinding[] = [];
  const observed = new Map(input.serviceNow.records.map((r) => [r.key, r]));
  for (const rec of input.records) {
    const live = rec.sysId ? observed.get(rec.key) : undefined;
    if (!rec.sysId || !live?.found) {
      out.push({
        kind: 'record-missing',
        subject: `record:${rec.key}`,
        detail: rec.sysId
          ? `ServiceNow ${rec.table} '${rec.key}' (${rec.sysId}) no longer exists`
          : `ServiceNow ${rec.table} '${rec.key}' was never created (a manual step may be pending)`,
        repairable: true,
      });
      continue;
    }
    for (const [column, approved] of Object.entries(rec.fields)) {
      const now = live.values[column] ?? '';
      if (now === approved) continue;
      const key = rec.naturalKey.includes(column);
      out.push({
        kind: 'record-drift',
        subject: `record:${rec.key}:${column}`,
        detail:
          `ServiceNow ${rec.table} '${rec.key}' (${rec.sysId}): ${column} is ${quoted(now)}, approved '${approved}'` +
          (key ? ' (a natural-key column: put it back by hand; a re-run would create a second record)' : ''),
        repairable: !key,
      });
    }
  }
  const missingUsers = new Set(input.serviceNow.missingUsers);
  const held = (user: string) => new Set((input.serviceNow.roles[user] ?? []).map(lower));
  for (const g of input.grants) {
    if (!missingUsers.has(g.userName) && held(g.userName).has(lower(g.role))) continue;
    out.push({
      kind: 'grant-removed',
      subject: `grant:${g.userName}:${g.role}`,
      detail: missingUsers.has(g.userName)
        ? `ServiceNow user ${g.userName} no longer exists, so it lacks the role ${g.role} the plan grants`
        : `ServiceNow user ${g.userName} no longer holds the role ${g.role} the plan grants`,
      repairable: true,
    });
  }
  for (const user of input.ownUsers) {
    const planned = new Set(input.grants.filter((g) => g.userName === user).map((g) => lower(g.role)));
    for (const role of input.serviceNow.roles[user] ?? []) {
      if (planned.has(lower(role))) continue;
      out.push({
        kind: 'grant-added',
        subject: `grant-added:${user}:${role}`,
        detail:
          `ServiceNow user ${user} (the integration's own) holds the role ${role}, which the approved plan does not ` +
          'grant: remove it, or request it through a change that an approver sees',
        repairable: false,
      });
    }
  }
  return out;
}

/** Findings about the apps, their credentials and the Key Vault versions. */
export function entraDrift(input: Pick<DriftInput, 'apps' | 'inUse' | 'now'>): HealthFinding[] {
  const out: HealthFinding[] = [];
  const now = Date.parse(input.now);
  for (const app of input.apps) {
    if (!app.exists) {
      out.push({
        kind: 'app-missing',
        subject: `app:${app.role}`,
        detail: `the ${app.role} app registration${app.appId ? ` (appId ${app.appId})` : ''} no longer exists`,
        repairable: false,
      });
      continue;
    }
    const own = new Set(app.ownKeyIds.map(lower));
    for (const c of app.credentials) {
      if (own.has(lower(c.keyId))) continue;
      out.push({
        kind: 'unknown-credential',
        subject: `credential:${app.role}:${lower(c.keyId)}`,
        detail:
          `the ${app.role} app (appId ${app.appId ?? '?'}) has a ${c.type === 'key' ? 'certificate' : 'client secret'} ` +
          `credential ${c.keyId}${c.displayName ? ` ('${c.displayName}')` : ''} that this product did not create: ` +
          'find out who added it and remove it if it is not wanted (it is not removed automatically)',
        repairable: false,
      });
    }
    const keyId = input.inUse[app.role];
    if (keyId) {
      const used = app.credentials.find((c) => lower(c.keyId) === lower(keyId));
      const what = used?.type === 'key' || app.secret === undefined ? 'credential' : 'client secret';
      if (!used)
        out.push({
          kind: 'credential-missing',
          subject: `credential-missing:${app.role}:${lower(keyId)}`,
          detail: `the ${what} in use (keyId ${keyId}) is no longer on the ${app.role} app: rotate it`,
          repairable: false,
        });
      else if (used.endDateTime && Date.parse(used.endDateTime) <= now)
        out.push({
          kind: 'credential-expired',
          subject: `credential-expired:${app.role}:${lower(keyId)}`,
          detail: `the ${what} in use (keyId ${keyId}) on the ${app.role} app expired at ${used.endDateTime}: rotate it`,
          repairable: false,
        });
    }
    for (const o of app.otherFederated ?? [])
      out.push({
        kind: 'unknown-credential',
        subject: `credential:${app.role}:federated:${lower(o.id)}`,
        detail:
          `the ${app.role} app (appId ${app.appId ?? '?'}) has a federated identity credential '${o.name}' ` +
          `(issuer ${o.issuer}, subject ${o.subject}) that this product did not create: tokens of that issuer act as ` +
          'the app; find out who added it and remove it if it is not wanted (it is not removed automatically)',
        repairable: false,
      });
    const f = app.federated;
    if (f) {
      const differs = !f.found
        ? ['missing']
        : [
            ...(f.found.issuer !== f.expected.issuer ? [`issuer ${f.found.issuer}`] : []),
            ...(f.found.subject !== f.expected.subject ? [`subject ${f.found.subject}`] : []),
            ...(f.found.audiences.length !== 1 || f.found.audiences[0] !== 'api://AzureADTokenExchange'
              ? [`audiences ${f.found.audiences.join(', ')}`]
              : []),
          ];
      if (differs.length)
        out.push({
          kind: 'federated-drift',
          subject: `federated:${app.role}:${f.name}`,
          detail: f.found
            ? `the federated credential ${f.name} of the ${app.role} app now has ${differs.join('; ')} (approved: issuer ${f.expected.issuer}, subject ${f.expected.subject})`
            : `the federated credential ${f.name} of the ${app.role} app is gone: ServiceNow can no longer get tokens`,
          repairable: true,
        });
    }
    const s = app.secret;
    if (s) {
      const expired = s.expiresOn !== undefined && Date.parse(s.expiresOn) <= now;
      if (!s.found || s.enabled === false || expired)
        out.push({
          kind: !s.found ? 'secret-missing' : s.enabled === false ? 'secret-disabled' : 'secret-expired',
          subject: `secret:${app.role}:${s.version}`,
          detail: `Key Vault secret ${s.name} version ${s.version} (the one in use) is ${
            !s.found ? 'missing' : s.enabled === false ? 'disabled' : `expired since ${s.expiresOn ?? '?'}`
          }`,
          repairable: false,
        });
    }
  }
  return out;
}

/** Findings of the profile's checks (and the preflight's problems). */
export function checkFindings(checks: CheckOutcome[], preflightProblems: string[]): HealthFinding[] {
  const out: HealthFinding[] = [];
  if (preflightProblems.length)
    out.push({
      kind: 'check-failed',
      subject: 'check:preflight',
      detail: preflightProblems.join('; '),
      repairable: false,
    });
  for (const c of checks)
    if (!c.ok)
      out.push({
        kind: 'check-failed',
        subject: `check:${c.name}`,
        detail: c.hint ? `${c.detail} (${c.hint})` : c.detail,
        repairable: false,
      });
  return out;
}

/** Every finding, one per subject, sorted by subject (stable across days). */
export function detectDrift(input: DriftInput, checks: CheckOutcome[] = [], preflightProblems: string[] = []) {
  const all = [...serviceNowDrift(input), ...entraDrift(input), ...checkFindings(checks, preflightProblems)];
  const bySubject = new Map<string, HealthFinding>();
  for (const f of all) if (!bySubject.has(f.subject)) bySubject.set(f.subject, f);
  return [...bySubject.values()].sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
}

/** What changed since the last check: subjects found new, and subjects cleared. */
export function diffFindings(previous: readonly string[], current: readonly HealthFinding[]) {
  const before = new Set(previous);
  const now = new Set(current.map((f) => f.subject));
  return {
    found: current.filter((f) => !before.has(f.subject)),
    cleared: [...before].filter((s) => !now.has(s)).sort(),
  };
}
