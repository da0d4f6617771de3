/**
 * checkIntegrationHealth: the daily (and on-demand) health and drift check of one integration. Read-only towards
 * Entra, Key Vault and ServiceNow: it re-runs the profile's connectivity checks (`runChecks` asks Entra for tokens and
 * reads; it writes nothing) and compares what is live with what was approved (src/orchestrators/health-drift.ts),
 * rendering the approved values exactly as provisioning does (src/orchestrators/provision-values.ts) from the input
 * of the integration's last provisioning run that went live.
 *
 * The result goes on the registry row (`health`) and into the audit trail: `health-checked` every run,
 * `drift-found` once per new finding subject, `drift-cleared` when a subject disappears. With `repair`, repairable
 * findings (drifted or deleted records, removed role grants) are put back by a re-provisioning run of the same input
 * (a sub-orchestration of provisionIntegration: the same approved plan re-applies silently, a different plan goes
 * through the approval gate), then the check runs again and records what cleared (`repaired`). Credentials nobody
 * recorded as ours and roles added by hand are reported only.
 *
 * Deterministic: time from context.df.currentUtcDateTime, every read is an activity.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';

import type { AuditEvent, HealthFinding, HealthState } from '../contracts/fleet';
import type {
  HealthInput,
  HealthResult,
  InspectEntraInput,
  IntegrationSnapshot,
  ObservedApp,
} from '../contracts/health';
import type { AppResult, CheckOutcome, RecordResult, SecretResult } from '../contracts/provision';
import { permissionsFor } from '../approvals/plan';
import { getProfile } from '../profiles';
import { serviceNowNeeds } from '../profiles/needs';
import { renderRecord, renderTemplate, type TemplateValues } from '../profiles/template';
import type { IntegrationProfile } from '../profiles/types';
import { activities, call, RETRY } from './calls';
import { detectDrift, diffFindings, type ApprovedRecord } from './health-drift';
import { expectedRecordsOf, grantsOf, provisionValues, recordsOf } from './provision-values';
import { PROVISION_ORCHESTRATOR, type ProvisionStatus } from './provision-types';
import { firstLine } from './shared';

export { HEALTH_ORCHESTRATOR } from '../contracts/health';

export interface HealthStatus {
  integrationId: string;
  step: string;
  findings?: number;
  repairInstanceId?: string;
}

interface CheckPass {
  snapshot: IntegrationSnapshot;
  findings: HealthFinding[];
  /** The inspection itself failed (a service did not answer): nothing is cleared on its account. */
  incomplete?: boolean;
}

const message = (err: unknown) => firstLine(err instanceof Error ? err.message : String(err));

export const checkIntegrationHealth: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<HealthInput>();
  const { ref, provision } = input;
  const iso = () => context.df.currentUtcDateTime.toISOString();
  const status: HealthStatus = { integrationId: ref.integrationId, step: 'started' };
  const step = (name: string) => {
    status.step = name;
    context.df.setCustomStatus(status);
  };
  const result: HealthResult = {
    integrationId: ref.integrationId,
    instanceId: ref.instanceId,
    ok: false,
    findings: [],
    found: [],
    cleared: [],
  };
  const profile = getProfile(ref.profileId);
  if (!profile) {
    result.skipped = `unknown integration profile '${ref.profileId}'`;
    step('skipped');
    return result;
  }

  /** One pass of reads and comparisons; never throws for a service that does not answer (that is a finding). */
  function* checkOnce(p: IntegrationProfile): Generator<Task, CheckPass | undefined, unknown> {
    const snapshot = yield* call(
      context,
      activities.readIntegration,
      { integrationId: ref.integrationId },
      RETRY.light,
    );
    if (!snapshot.found) return undefined;
    try {
      step('preflight');
      const pre = yield* call(
        context,
        activities.preflight,
        {
          ...ref,
          ipAllowlist: provision.options.ipAllowlist,
          profile: {
            serviceNow: serviceNowNeeds(
              p,
              provision.options.grantUsers.map((g) => g.role),
            ),
            ...(p.apps.some((a) => a.applicationPermissions) ? { grantsPermissions: true } : {}),
          },
        },
        RETRY.service,
      );

      step('entra');
      const missingApps: ObservedApp[] = [];
      const appsIn: InspectEntraInput['apps'] = [];
      for (const spec of p.apps) {
        const reg = snapshot.apps[spec.role];
        if (spec.existing) appsIn.push({ role: spec.role, existing: true, appId: spec.existing.appId, objectId: '' });
        else if (reg?.objectId)
          appsIn.push({
            role: spec.role,
            appId: reg.appId,
            objectId: reg.objectId,
            ...(reg.secretName ? { secretName: reg.secretName } : {}),
            ...(reg.secretVersion ? { secretVersion: reg.secretVersion } : {}),
            ...(reg.keyId ? { keyId: reg.keyId } : {}),
            ...(reg.credential?.kind === 'certificate' ? { keyId: reg.credential.keyId } : {}),
            ...(reg.credential?.kind === 'federated'
              ? {
                  federated: {
                    name: reg.credential.name,
                    issuer: reg.credential.issuer,
                    subject: reg.credential.subject,
                  },
                }
              : {}),
          });
        else missingApps.push({ role: spec.role, exists: false, credentials: [], ownKeyIds: [] });
      }
      const entra = yield* call(context, activities.inspectEntra, { ...ref, apps: appsIn }, RETRY.graph);
      const observed = [...entra.apps, ...missingApps];

      // The approved values, rendered as provisioning renders them, with the ids that exist now.
      const values: TemplateValues = provisionValues(p, provision, pre);
      for (const app of observed) {
        const appId = app.appId ?? snapshot.apps[app.role]?.appId;
        if (appId) values[`apps.${app.role}.appId`] = appId;
        if (app.servicePrincipalId) values[`apps.${app.role}.servicePrincipalId`] = app.servicePrincipalId;
      }
      for (const [key, sysId] of Object.entries(snapshot.serviceNow)) values[`records.${key}.sysId`] = sysId;
      const specs = recordsOf(p, provision);
      const approved: ApprovedRecord[] = [];
      for (const spec of specs) {
        if (spec.lookup) continue;
        try {
          const fields = renderRecord({ ...spec.naturalKey, ...spec.fields, ...(spec.activate ?? {}) }, values);
          if (spec.secret) delete fields[spec.secret.field];
          const sysId = snapshot.serviceNow[spec.key];
          approved.push({
            key: spec.key,
            table: spec.table,
            ...(sysId ? { sysId } : {}),
            fields,
            naturalKey: Object.keys(spec.naturalKey),
          });
        } catch {
          // A value it needs is gone (an app or service principal): reported as such below.
        }
      }
      // IP allow rules the integration holds (shared, reference-counted): still there.
      if (provision.options.ipAllowlist)
        for (const [key, sysId] of Object.entries(snapshot.serviceNow))
          if (key.startsWith('ip:')) approved.push({ key, table: 'ip_access', sysId, fields: {}, naturalKey: [] });
      let grants: { userName: string; role: string }[] = [];
      let ownUsers: string[] = [];
      try {
        grants = grantsOf(p, provision, values).map((g) => ({ userName: g.userName, role: g.role }));
        ownUsers = [...new Set(p.serviceNow.roleGrants.map((g) => renderTemplate(g.userName, values)))];
      } catch {
        // As above.
      }

      step('servicenow');
      const sn = yield* call(
        context,
        activities.inspectServiceNow,
        {
          ...ref,
          records: approved.flatMap((r) =>
            r.sysId ? [{ key: r.key, table: r.table, sysId: r.sysId, fields: r.fields }] : [],
          ),
          grants,
          ownUsers,
        },
        RETRY.service,
      );

      step('checks');
      const checks = yield* runChecks(p, snapshot, observed, values);
      const inUse = Object.fromEntries(
        Object.entries(snapshot.apps).map(([role, a]) => [
          role,
          a.credential?.kind === 'certificate' ? a.credential.keyId : a.keyId,
        ]),
      );
      const findings = detectDrift(
        { records: approved, grants, ownUsers, serviceNow: sn, apps: observed, inUse, now: iso() },
        checks,
        pre.problems,
      );
      return { snapshot, findings };
    } catch (err) {
      // A service that did not answer through the retries: reported, and the earlier findings stand.
      const inspection: HealthFinding = {
        kind: 'check-failed',
        subject: 'check:inspection',
        detail: `the check could not read everything it compares: ${message(err)}`,
        repairable: false,
      };
      return {
        snapshot,
        findings: [...snapshot.previous.filter((f) => f.subject !== inspection.subject), inspection].sort((a, b) =>
          a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0,
        ),
        incomplete: true,
      };
    }
  }

  /** The profile's connectivity checks on the live ids, retried while a failure may pass (as provisioning does). */
  function* runChecks(
    p: IntegrationProfile,
    snapshot: IntegrationSnapshot,
    observed: ObservedApp[],
    values: TemplateValues,
  ): Generator<Task, CheckOutcome[], unknown> {
    const apps: AppResult[] = observed
      .filter((a) => a.exists && a.appId)
      .map((a) => {
        const spec = p.apps.find((x) => x.role === a.role);
        const wanted = spec ? permissionsFor(spec, provision.options.permissionTier) : undefined;
        return {
          role: a.role,
          appId: a.appId ?? '',
          objectId: snapshot.apps[a.role]?.objectId ?? '',
          servicePrincipalId: a.servicePrincipalId ?? '',
          uniqueName: '',
          created: false,
          ...(spec?.existing ? { existing: true } : {}),
          ...(wanted && spec?.applicationPermissions
            ? {
                permissions: {
                  resourceAppId: spec.applicationPermissions.resourceAppId,
                  resourceSpId: '',
                  values: wanted,
                  appRoleIds: [],
                },
              }
            : {}),
        };
      });
    const secrets: SecretResult[] = Object.entries(snapshot.apps).flatMap(([role, a]) =>
      a.secretName && a.secretVersion && a.keyId
        ? [{ role, secretName: a.secretName, version: a.secretVersion, keyId: a.keyId, expiresOn: '', created: false }]
        : [],
    );
    const specs = recordsOf(p, provision);
    const records: RecordResult[] = Object.entries(snapshot.serviceNow).map(([key, sysId]) => ({
      key,
      table: specs.find((s) => s.key === key)?.table ?? 'sys_user_has_role',
      sysId,
      created: false,
      mismatches: [],
    }));
    let expectedRecords: ReturnType<typeof expectedRecordsOf> = [];
    try {
      expectedRecords = expectedRecordsOf(specs, values);
    } catch {
      // Missing ids are findings of their own.
    }
    // Record drift is compared column by column above: the coarse `recordsConsistent` check would report it twice.
    const checks = p.checks.filter((c) => c.kind !== 'recordsConsistent');
    let results: CheckOutcome[] = [];
    for (let attempt = 1; attempt <= Math.max(1, provision.settings.checkAttempts); attempt++) {
      results = yield* call(
        context,
        activities.runChecks,
        { ...ref, apps, secrets, records, checks, expectedRecords },
        RETRY.service,
      );
      if (!results.some((c) => !c.ok && c.transient) || attempt >= provision.settings.checkAttempts) break;
      yield context.df.createTimer(
        new Date(context.df.currentUtcDateTime.getTime() + provision.settings.checkRetrySeconds * 1000),
      );
    }
    return results;
  }

  /** Records a pass on the registry row and in the audit trail; returns the subjects found new and cleared. */
  function* record(
    pass: CheckPass,
    extra: AuditEvent[] = [],
  ): Generator<Task, { found: string[]; cleared: string[] }, unknown> {
    const at = iso();
    const ok = pass.findings.length === 0;
    const diff = diffFindings(
      pass.snapshot.previous.map((f) => f.subject),
      pass.findings,
    );
    const cleared = pass.incomplete ? [] : diff.cleared;
    const health: HealthState = {
      checkedAt: at,
      instanceId: ref.instanceId,
      ok,
      ...(ok ? { lastGoodAt: at } : pass.snapshot.lastGoodAt ? { lastGoodAt: pass.snapshot.lastGoodAt } : {}),
      findings: pass.findings,
    };
    const base = { at, actor: 'system', instanceId: ref.instanceId };
    const audit: AuditEvent[] = [
      {
        ...base,
        kind: 'health-checked',
        detail: ok ? 'no findings' : `${pass.findings.length} finding(s)`,
        data: {
          ok,
          findings: pass.findings.length,
          reason: input.reason,
          ...(pass.incomplete ? { incomplete: true } : {}),
        },
      },
      ...diff.found.map((f): AuditEvent => ({
        ...base,
        kind: 'drift-found',
        detail: f.detail,
        data: { subject: f.subject, finding: f.kind, repairable: f.repairable },
      })),
      ...cleared.map((subject): AuditEvent => ({
        ...base,
        kind: 'drift-cleared',
        detail: `${subject} cleared`,
        data: { subject },
      })),
      ...extra.map((e) => ({ ...base, ...e, at })),
    ];
    yield* call(
      context,
      activities.updateRegistry,
      { integrationId: ref.integrationId, at, health, audit },
      RETRY.light,
    );
    return { found: diff.found.map((f) => f.subject), cleared };
  }

  const first = yield* checkOnce(profile);
  if (!first) {
    result.skipped = `integration ${ref.integrationId} is not registered`;
    step('skipped');
    return result;
  }
  const firstDiff = yield* record(first);
  Object.assign(result, { ok: first.findings.length === 0, findings: first.findings, ...firstDiff });
  status.findings = first.findings.length;
  step('recorded');

  const repairable = first.findings.filter((f) => f.repairable);
  if (input.repair && repairable.length && input.repairRun && !first.incomplete) {
    const run = input.repairRun;
    const instanceId = run.input.ref.instanceId;
    status.repairInstanceId = instanceId;
    step('repairing');
    const begun = yield* call(
      context,
      activities.beginRepairRun,
      {
        integrationId: ref.integrationId,
        expectInstanceId: run.expectInstanceId,
        instanceId,
        run: run.run,
        at: iso(),
      },
      RETRY.light,
    );
    if (!begun.started) {
      // Another run took the integration since the request: nothing is re-provisioned by this check.
      result.repair = {
        instanceId,
        outcome: `not started: ${begun.reason ?? 'another run holds the integration'}`,
        remaining: first.findings,
      };
    } else {
      let outcome: string;
      try {
        const out = (yield context.df.callSubOrchestrator(PROVISION_ORCHESTRATOR, run.input, instanceId)) as
          ProvisionStatus | undefined;
        outcome = out?.outcome ?? 'failed';
      } catch (err) {
        outcome = `failed: ${message(err)}`;
      }
      step('rechecking');
      const second = (yield* checkOnce(profile)) ?? first;
      const cleared = repairable.filter((f) => !second.findings.some((x) => x.subject === f.subject));
      const secondDiff = yield* record(second, [
        {
          kind: 'repaired',
          at: iso(),
          detail:
            `re-provisioning ${instanceId} ${outcome}; ${cleared.length} of ${repairable.length} repairable ` +
            'finding(s) cleared',
          data: { provisionInstanceId: instanceId, outcome, cleared: cleared.length, repairable: repairable.length },
        },
      ]);
      result.ok = second.findings.length === 0;
      result.findings = second.findings;
      result.found = [...new Set([...result.found, ...secondDiff.found])];
      result.cleared = [...new Set([...result.cleared, ...secondDiff.cleared])];
      result.repair = { instanceId, outcome, remaining: second.findings };
      status.findings = second.findings.length;
    }
  }
  // Alerts: evaluated now that the registry holds this check's findings (one alert per condition per day, a "resolved"
  // message when one clears). A delivery that fails is retried by the hourly alert sweep; it never fails the check.
  try {
    yield* call(context, activities.raiseAlerts, { integrationId: ref.integrationId, at: iso() }, RETRY.light);
  } catch (err) {
    result.alertError = firstLine(err instanceof Error ? err.message : String(err));
  }
  step(result.ok ? 'healthy' : 'findings');
  return result;
};
