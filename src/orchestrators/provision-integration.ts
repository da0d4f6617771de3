/**
 * provisionIntegration: ticket → Entra apps → Key Vault → ServiceNow → emailed approval → connectivity checks →
 * report on the ticket. Deterministic: time from context.df.currentUtcDateTime, no I/O, no settings reads; every
 * side effect is an activity, every activity idempotent. What is integration-specific comes from the profile.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';

import {
  describeObject,
  type ApprovalDecision,
  type CheckOutcome,
  type CompensateResult,
  type CreatedObject,
  type ExpectedRecord,
  type IntegrationRef,
  type ManualAction,
  type Outcome,
  type RecordResult,
  type RegistryUpdateInput,
} from '../contracts/provision';
import { uniqueNameFor } from '../profiles/names';
import { buildPlan, permissionsFor, planDigest, planSourceOf, type PlanInput } from '../approvals/plan';
import { getProfile } from '../profiles';
import { serviceNowNeeds } from '../profiles/needs';
import { recordWaves } from '../profiles/dependencies';
import { renderRecord, renderTemplate, type TemplateValues } from '../profiles/template';
import type { CheckSpec, IntegrationProfile, ServiceNowRecordSpec } from '../profiles/types';
import { appSpec, firstLine } from './shared';
import { expectedRecordsOf, grantsOf, provisionValues, recordsOf, secretNameFor } from './provision-values';
import { consumerKey } from '../profiles/consumers';
import { activities, call, callAll, RETRY, schedule } from './calls';
import type { AuditEvent } from '../contracts/fleet';
import type { SetServiceNowSecretResult } from '../contracts/rotation';
import { awaitApproval } from './approval-gate';
import {
  ensureAppCredentials,
  ensureServiceNowCredentials,
  checkCredentials,
  checksFor,
  nonSecretKinds,
  type CredentialStage,
  type InstanceCredentialSupport,
} from './credential-stage';
import { credentialKinds } from '../profiles/credential-kinds';
import {
  provisionStatusOf,
  type GateMode,
  type ProvisionInput,
  type ProvisionOutcome,
  type ProvisionRunState,
} from './provision-types';

type RecordOutcome = Outcome<RecordResult>;

/** A failure the orchestrator reports as is (non-retriable outcome of an activity, or preflight problems). */
class ProvisionError extends Error {}
/** A first provisioning that was rejected or expired: handled (rolled back or kept inactive) where it happened. */
class GateClosed extends Error {}
/** A staged change of a live integration that was not approved: nothing was written. */
class StagedChangeRefused extends Error {}

export { secretNameFor };

/** How long the request's resolution of the tenant (its OpenID metadata) stands in for the preflight's own check. */
const TENANT_RESOLUTION_FRESH_MS = 10 * 60_000;

export const provisionIntegration: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ProvisionInput>();
  const { ref } = input;
  const profile = getProfile(ref.profileId);
  const now = () => context.df.currentUtcDateTime;
  const iso = () => now().toISOString();

  const status: ProvisionRunState = {
    integrationId: ref.integrationId,
    step: 'started',
    steps: [],
    apps: [],
    secrets: [],
    records: [],
    manualActions: [],
    checks: [],
    created: [],
    orphans: [],
  };
  // The custom status is a compact summary of the run's state (what readers need), never the state itself.
  const publish = () => context.df.setCustomStatus(provisionStatusOf(status));
  const step = (name: string) => {
    status.step = name;
    status.steps.push({ name, at: iso() });
    publish();
  };
  // A run of an approved integration stays silent unless it had to change something.
  const approvedBefore = input.approved !== undefined;
  const live = input.liveStatus === 'active';
  const changed = () =>
    status.created.length > 0 || status.records.some((r) => r.updated) || status.secrets.some((x) => x.created);
  let mode: GateMode = 'first';
  /** ServiceNow secret consumers this run wrote the app's secret into (confirmations for the registry). */
  const secretWrites: { role: string; consumer: string; at: string }[] = [];
  const quiet = () => (mode === 'silent' || mode === 'resume') && !changed();
  function* workNote(text: string): Generator<Task, void, unknown> {
    if (!input.ticket || quiet()) return;
    yield context.df.callActivity(activities.addWorkNote.name, { ...ref, ticket: input.ticket, note: text });
  }
  function* registry(update: Omit<RegistryUpdateInput, 'integrationId' | 'at'>): Generator<Task, void, unknown> {
    // Only the fields the registry row keeps of apps, secrets and records (history payloads stay small).
    const { apps, secrets, records, ...rest } = update;
    yield* call(
      context,
      activities.updateRegistry,
      {
        integrationId: ref.integrationId,
        at: iso(),
        ...rest,
        ...(apps ? { apps: apps.map((a) => ({ role: a.role, appId: a.appId, objectId: a.objectId })) } : {}),
        ...(secrets
          ? {
              secrets: secrets.map((x) => ({
                role: x.role,
                secretName: x.secretName,
                version: x.version,
                keyId: x.keyId,
                expiresOn: x.expiresOn,
                ...(x.createdOn ? { createdOn: x.createdOn } : {}),
              })),
            }
          : {}),
        ...(records ? { records: records.map((r) => ({ key: r.key, ...(r.sysId ? { sysId: r.sysId } : {}) })) } : {}),
      },
      RETRY.light,
    );
  }
  /** Keeps the source of the plan this run applies (the approval mail and the API build the plan from it). */
  function* keepPlan(input: PlanInput, digest: string, mode: GateMode, removes?: string[]) {
    const kept = yield* call(
      context,
      activities.recordPlan,
      {
        integrationId: ref.integrationId,
        instanceId: ref.instanceId,
        digest,
        mode,
        source: planSourceOf(input, removes),
      },
      RETRY.light,
    );
    if (!kept.ok) throw new ProvisionError(`plan: ${kept.failure.message}`);
  }
  // The approval gate: one round of links, closed as soon as it is decided or expires.
  let eligible: string[] = [];
  let roundOpen = false;
  function* gate(digest: string): Generator<Task, ApprovalDecision | undefined, unknown> {
    roundOpen = true;
    // The audit trail: the plan put to the approvers (each decision is recorded by the link it came through).
    yield* registry({
      audit: [
        {
          kind: 'approval-requested',
          at: iso(),
          actor: 'system',
          instanceId: ref.instanceId,
          planDigest: digest,
          detail: `approval of plan ${digest.slice(0, 12)} requested (${mode === 'staged' ? 'a change of a live integration' : 'go-live'})`,
        },
      ],
    });
    const result = yield* awaitApproval(
      context,
      input,
      status,
      step,
      'kept',
      digest,
      (sentTo) => {
        eligible = sentTo;
      },
      (m) => new ProvisionError(m),
      publish,
    );
    yield* call(
      context,
      activities.closeApprovalRound,
      {
        instanceId: ref.instanceId,
        reason: result ? 'decided' : 'expired',
        ...(result ? { decision: { decision: result.decision, approver: result.approver, at: result.at } } : {}),
      },
      RETRY.light,
    );
    roundOpen = false;
    if (!result)
      yield* registry({
        audit: [
          { kind: 'approval-expired', at: iso(), actor: 'system', instanceId: ref.instanceId, planDigest: digest },
        ],
      });
    return result;
  }
  function* recordApproval(d: ApprovalDecision & { approvers?: string[] }, digest: string) {
    yield* registry({
      approval: { approver: d.approver, at: d.at, planDigest: digest, approvers: d.approvers ?? [d.approver] },
      ...(eligible.length ? { approvers: eligible } : {}),
    });
    yield* workNote(`Approved by ${(d.approvers ?? [d.approver]).join(', ')} at ${d.at}.`);
  }

  /**
   * What earlier runs registered that this run's approved plan no longer has: a role grant taken out of the request,
   * the IP allow rules when the plan has none, a profile record replaced under a new natural key. Only what the plan
   * dropped: a record merely missing from this run (a 403 hand-off, allow rules not needed right now) stays.
   */
  function staleRecords(
    p: IntegrationProfile,
    grants: { userName: string; role: string }[],
    values: TemplateValues,
  ): CreatedObject[] {
    const byKey = new Map(status.records.map((r) => [r.key, r]));
    const granted = new Set(grants.map((g) => `grant:${g.userName}:${g.role}`));
    const priorValues: TemplateValues = { ...values };
    for (const [role, appId] of Object.entries(input.priorApps ?? {})) priorValues[`apps.${role}.appId`] = appId;
    const profileGrants = new Set(
      p.serviceNow.roleGrants.map((g) => `grant:${renderTemplate(g.userName, priorValues)}:${g.role}`),
    );
    const stale: CreatedObject[] = [];
    for (const [key, sysId] of Object.entries(input.priorRecords ?? {})) {
      const spec = p.serviceNow.records.find((r) => r.key === key);
      if (key.startsWith('grant:')) {
        if (granted.has(key)) continue;
        const shared = !profileGrants.has(key);
        stale.push({
          kind: 'record',
          key,
          table: 'sys_user_has_role',
          sysId,
          ...(shared ? { shared } : {}),
          retire: true,
        });
      } else if (key.startsWith('ip:')) {
        if (input.options.ipAllowlist) continue;
        stale.push({ kind: 'record', key, table: 'ip_access', sysId, shared: true, retire: true });
      } else if (spec && !spec.shared) {
        const now = byKey.get(key)?.sysId;
        if (now && now !== sysId) stale.push({ kind: 'record', key, table: spec.table, sysId, retire: true });
      }
    }
    return stale;
  }

  function* retireStale(stale: CreatedObject[]): Generator<Task, string[], unknown> {
    if (!stale.length) return [];
    step('retiring');
    const result = yield* removeObjects(context, ref, stale);
    status.orphans.push(...result.orphans);
    yield* workNote(
      `Retired what the approved change no longer has: ${result.removed.map((o) => describe(o)).join(', ') || 'nothing'}.`,
    );
    return result.removed.flatMap((o) => (o.kind === 'record' ? [o.key] : []));
  }

  /** Records whose inserts were under way when the run failed: compensation looks for them by natural key. */
  let inFlight: CreatedObject[] = [];
  let outcome: ProvisionOutcome | undefined;
  try {
    if (!profile) throw new ProvisionError(`unknown integration profile '${ref.profileId}'`);

    // a. Preflight: read-only, lists everything that is missing before anything is created.
    step('preflight');
    const grantUsers = input.options.grantUsers;
    const preflight = yield* call(
      context,
      activities.preflight,
      {
        ...ref,
        ipAllowlist: input.options.ipAllowlist,
        // The request read the tenant's OpenID metadata to resolve its domain: not again when that was just now (a run
        // replayed later from the same input, as a health repair does, checks the tenant again).
        ...(input.tenantResolvedAt && now().getTime() - Date.parse(input.tenantResolvedAt) < TENANT_RESOLUTION_FRESH_MS
          ? { tenantVerified: true }
          : {}),
        profile: {
          serviceNow: serviceNowNeeds(
            profile,
            grantUsers.map((g) => g.role),
          ),
          ...(profile.apps.some((a) => a.applicationPermissions) ? { grantsPermissions: true } : {}),
        },
      },
      RETRY.service,
    );
    if (preflight.problems.length)
      throw new ProvisionError(
        `preflight found ${preflight.problems.length} problem(s): ${preflight.problems.join('; ')}`,
      );

    // What the instance can do for a certificate or federated credential, read from its dictionary and choice lists
    // (never assumed from its release); a kind it cannot do is refused here, before anything is written.
    const kinds = nonSecretKinds(profile, input);
    // An app of a live integration that moved to a certificate or federation stays with it: re-provisioning does not
    // move its ServiceNow OAuth provider back to a client secret or across kinds (the provider would keep signing the
    // old way while the plan said otherwise), so such a change is refused before anything is written.
    const moved = Object.entries(input.priorCredentialKinds ?? {}).flatMap(([role, was]) =>
      kinds[role] === was
        ? []
        : [
            `the ${role} app uses a ${was} credential; re-provisioning cannot move it to ${kinds[role] ?? 'a client secret'} (ask for options.credential '${was}', or decommission and provision again)`,
          ],
    );
    if (moved.length) {
      status.problems = moved;
      throw new ProvisionError(`preflight found ${moved.length} problem(s): ${moved.join('; ')}`);
    }
    let support: InstanceCredentialSupport = {};
    if (Object.keys(kinds).length) {
      const r = yield* call(
        context,
        activities.serviceNowCredentialSupport,
        { ...ref, table: 'oauth_entity' },
        RETRY.service,
      );
      if (!r.ok) throw new ProvisionError(`ServiceNow credential support: ${r.failure.message}`);
      const wanted = new Set(Object.values(kinds));
      const refused = [...wanted].flatMap((k) => {
        const facts = k === 'certificate' ? r.certificate : r.federated;
        return facts.supported
          ? []
          : [`ServiceNow ${ref.serviceNowInstance} cannot use a ${k} credential: ${facts.reasons.join('; ')}`];
      });
      if (refused.length) {
        status.problems = refused;
        throw new ProvisionError(`preflight found ${refused.length} problem(s): ${refused.join('; ')}`);
      }
      support = {
        ...(r.certificate.sendAsValue ? { sendAsValue: r.certificate.sendAsValue } : {}),
        ...(r.certificate.providerColumn ? { providerColumn: r.certificate.providerColumn } : {}),
        ...(r.certificate.thumbprintColumn ? { thumbprintColumn: r.certificate.thumbprintColumn } : {}),
        ...(r.federated.connectionTable ? { connectionTable: r.federated.connectionTable } : {}),
        ...(r.federated.columns ? { columns: r.federated.columns } : {}),
      };
    }

    const values: TemplateValues = provisionValues(profile, input, preflight);
    const planInput = (): PlanInput => ({
      profile,
      integrationId: ref.integrationId,
      tenantId: preflight.tenantId ?? ref.tenant,
      tenantName: ref.tenantName,
      ...(input.tenantDomain ? { tenantDomain: input.tenantDomain } : {}),
      serviceNowInstance: ref.serviceNowInstance,
      instanceUrl: input.endpoints.instanceUrl,
      values,
      uniqueNames: Object.fromEntries(profile.apps.map((a) => [a.role, uniqueNameFor(ref.integrationId, a.role)])),
      grantUsers,
      ipAllowlist: input.options.ipAllowlist,
      requestedBy: input.requestedBy,
      ...(input.options.permissionTier ? { permissionTier: input.options.permissionTier } : {}),
      ...(Object.keys(kinds).length ? { credentials: kinds } : {}),
    });
    // The plan's digest decides the gate: the same plan as approved runs silently; another plan is staged.
    const digest = planDigest(planInput());
    mode = !approvedBefore
      ? 'first'
      : input.approved?.planDigest !== digest
        ? 'staged'
        : input.appliedDigest === digest
          ? 'silent'
          : 'resume';
    status.plan = { digest, mode, summary: buildPlan(planInput()) };
    if (mode === 'staged') {
      const keep = new Set(status.plan.summary.roleGrants.map((g) => `grant:${g.userName}:${g.role}`));
      const removes = Object.keys(input.priorRecords ?? {}).filter(
        (k) => (k.startsWith('grant:') && !keep.has(k)) || (k.startsWith('ip:') && !input.options.ipAllowlist),
      );
      if (removes.length)
        status.plan.summary.removes = removes.map((k) =>
          k.startsWith('grant:') ? `role grant ${k.slice('grant:'.length)}` : `IP allow rule ${k.slice('ip:'.length)}`,
        );
    }
    yield* keepPlan(planInput(), digest, mode, status.plan.summary.removes);
    if (mode !== 'silent')
      yield* workNote(
        `Provisioning of ${ref.integrationId} started (profile ${profile.id}, plan ${digest.slice(0, 12)}).`,
      );

    // b. A changed plan of an approved integration is staged: nothing is written before it is approved.
    if (mode === 'staged') {
      const decision = yield* gate(digest);
      if (decision?.decision !== 'approve') {
        outcome = decision ? 'rejected' : 'expired';
        throw new StagedChangeRefused(
          decision
            ? `the change was rejected by ${decision.approver} at ${decision.at}; nothing was changed`
            : 'no approval decision by the deadline; nothing was changed',
        );
      }
      yield* recordApproval(decision, digest);
    }

    // c. Entra: the apps in parallel (upsert by uniqueName, service principal, tags).
    step('entra-apps');
    const apps = yield* callAll(
      context,
      activities.ensureApp,
      profile.apps.map((app) => ({
        ...ref,
        role: app.role,
        displayName: renderTemplate(app.displayName, values),
        redirectUris: app.redirectUris.map((u) => renderTemplate(u, values)),
        ...(app.existing ? { existing: { appId: app.existing.appId, missing: app.existing.missing } } : {}),
        ...(app.applicationPermissions
          ? {
              permissions: {
                resourceAppId: app.applicationPermissions.resourceAppId,
                values: permissionsFor(app, input.options.permissionTier) ?? [],
              },
            }
          : {}),
      })),
      RETRY.graph,
    );
    // Record every app that exists before reporting the first failure, so compensation removes all of them.
    const createdBare = new Set<string>();
    for (const r of apps) {
      if (!r.ok) continue;
      const { createdNow, ...app } = stripOk(r);
      if (createdNow) createdBare.add(r.role);
      status.apps.push(app);
      if (r.created) status.created.push({ kind: 'app', role: r.role, objectId: r.objectId, appId: r.appId });
      values[`apps.${r.role}.appId`] = r.appId;
      values[`apps.${r.role}.servicePrincipalId`] = r.servicePrincipalId;
    }
    const appFailure = apps.find((r) => !r.ok);
    if (appFailure && !appFailure.ok) throw new ProvisionError(`Entra app: ${appFailure.failure.message}`);
    if (!live) yield* registry({ status: 'provisioning', apps: status.apps });
    else if (changed()) yield* registry({ apps: status.apps });
    yield* workNote(`Entra app registrations ready: ${status.apps.map((a) => `${a.role} ${a.appId}`).join(', ')}.`);

    // d. Secrets: addPassword and the Key Vault write happen in one activity; only names and versions come back.
    step('secrets');
    const secrets = yield* callAll(
      context,
      activities.ensureAppSecret,
      // Only apps with a client secret: an existing service principal, or an app without consumers, has none.
      status.apps
        .filter((app) => {
          const spec = appSpec(profile, app.role, (m) => new ProvisionError(m));
          return !spec.existing && spec.secretConsumers.length > 0 && kinds[app.role] === undefined;
        })
        .map((app) => ({
          ...ref,
          role: app.role,
          appObjectId: app.objectId,
          appId: app.appId,
          secretName: secretNameFor(ref.integrationId, app.role),
          // A request may shorten the profile's secret lifetime, never lengthen it.
          lifetimeDays: Math.min(
            input.options.secretLifetimeDays ?? Number.MAX_SAFE_INTEGER,
            appSpec(profile, app.role, (m) => new ProvisionError(m)).secretLifetimeDays,
          ),
          operation: input.operation,
          ...(createdBare.has(app.role) ? { appCreatedBare: true } : {}),
        })),
      RETRY.graph,
    );
    for (const r of secrets) {
      if (!r.ok) continue;
      const result = stripOk(r);
      status.secrets.push(result);
      if (r.created)
        status.created.push({
          kind: 'secret',
          role: r.role,
          secretName: r.secretName,
          appObjectId: status.apps.find((a) => a.role === r.role)?.objectId ?? '',
          keyId: r.keyId,
          version: r.version,
        });
    }
    const secretFailure = secrets.find((r) => !r.ok);
    if (secretFailure && !secretFailure.ok) throw new ProvisionError(`client secret: ${secretFailure.failure.message}`);
    if (changed()) yield* registry({ secrets: status.secrets });
    const credentialStage: CredentialStage = {
      context,
      ref,
      profile,
      input,
      status,
      values,
      fail: (m) => new ProvisionError(m),
      publish,
    };
    if (Object.keys(kinds).length) step('credentials');
    yield* ensureAppCredentials(credentialStage, status.apps, input.settings.certificateValidityMonths ?? 12);

    // e. ServiceNow: each record by natural key, in waves: a record waits for the records it references (their sys_ids
    // go into its fields), the others of a wave are written at once. Before the first approval only inert records
    // exist: the integration user inactive and locked, the OIDC entity and the outbound provider inactive; nothing that
    // grants (privileges, role grants, IP rules) exists yet.
    step('servicenow');
    const expectedRecords: ExpectedRecord[] = [];
    const inert = mode === 'first';
    function recordInput(spec: ServiceNowRecordSpec, fields: Record<string, string>, sysId?: string) {
      return {
        ...ref,
        key: spec.key,
        table: spec.table,
        naturalKey: renderRecord(spec.naturalKey, values),
        fields: renderRecord(fields, values),
        ...(spec.shared ? { shared: true } : {}),
        ...(spec.lookup ? { lookup: true } : {}),
        ...(spec.exclusive ? { exclusive: true } : {}),
        ...(spec.secret && kinds[spec.secret.fromApp] === undefined
          ? {
              secret: {
                field: spec.secret.field,
                secretName: secretNameFor(ref.integrationId, spec.secret.fromApp),
              },
            }
          : {}),
        ...(sysId ? { sysId } : {}),
        manualFallback: spec.manualFallback,
      };
    }
    /** Takes in one record's outcome; throws (after recording what the run created) when the run cannot go on. */
    function settleRecord(spec: ServiceNowRecordSpec, r: RecordOutcome): void {
      if (!r.ok) throw new ProvisionError(`ServiceNow ${spec.table}: ${r.failure.message}`);
      const { secretPending: _pending, ...record } = stripOk(r);
      // (A result of an earlier version of the activity, which wrote the secret itself.)
      if (record.secretWritten) secretWritten(spec);
      const i = status.records.findIndex((x) => x.key === record.key);
      if (i >= 0) {
        // Activation of an inert record: keep what the first write knew (created by this run).
        const before = status.records[i];
        status.records[i] = {
          ...record,
          created: before.created || record.created,
          updated: before.updated || record.updated,
        };
      } else status.records.push(record);
      if (record.manualAction) handOff(record.manualAction);
      if (
        record.created &&
        record.sysId &&
        !status.created.some((c) => c.kind === 'record' && c.sysId === record.sysId)
      )
        status.created.push({
          kind: 'record',
          key: record.key,
          table: record.table,
          sysId: record.sysId,
          ...(spec.shared ? { shared: true } : {}),
        });
      if (record.sysId) values[`records.${spec.key}.sysId`] = record.sysId;
      // A record that did not keep what was written (ServiceNow drops fields it will not write) may be live when it
      // must be inert, or differ from what was approved: never go on with it (what this run created is removed).
      if (record.mismatches.length)
        throw new ProvisionError(
          `ServiceNow ${spec.table} '${spec.key}' did not keep ${record.mismatches.join(', ')} as written`,
        );
    }
    /**
     * A manual action, listed once: a step ServiceNow refused before the approval is asked again at activation (a
     * secret field it would not let us write still reads back empty) and must not be listed twice.
     */
    function handOff(action: ManualAction): void {
      const same = JSON.stringify(action);
      if (!status.manualActions.some((m) => JSON.stringify(m) === same)) status.manualActions.push(action);
    }
    /** The record now holds the app's current secret: that consumer is confirmed for the run's credential. */
    function secretWritten(spec: ServiceNowRecordSpec): void {
      if (spec.secret)
        secretWrites.push({
          role: spec.secret.fromApp,
          consumer: consumerKey({ kind: 'servicenow', record: spec.key, field: spec.secret.field }),
          at: iso(),
        });
    }
    /**
     * Writes the run's Key Vault version into the secret fields of the records that need it, all at once
     * (setServiceNowSecret: the exact version, in a PATCH of its own). A refusal (403) is a manual action; any other
     * failure stops the run once every outcome is taken in.
     */
    function* writeRecordSecrets(
      pending: { spec: ServiceNowRecordSpec; sysId: string }[],
    ): Generator<Task, void, unknown> {
      const writes = pending.flatMap(({ spec, sysId }) => {
        const role = spec.secret?.fromApp;
        const secret = status.secrets.find((x) => x.role === role);
        if (!spec.secret || !role || !secret?.version)
          throw new ProvisionError(
            `ServiceNow ${spec.table} '${spec.key}': no client secret of ${role ?? '?'} to write`,
          );
        const input = {
          ...ref,
          role,
          consumer: { record: spec.key, table: spec.table, sysId, field: spec.secret.field },
          secret: { secretName: secret.secretName, version: secret.version },
          manualFallback: spec.manualFallback,
        };
        return [{ spec, task: schedule(context, activities.setServiceNowSecret, input, RETRY.service) }];
      });
      if (!writes.length) return;
      let failure: Error | undefined;
      try {
        yield context.df.Task.all(writes.map((w) => w.task));
      } catch (err) {
        failure = err instanceof Error ? err : new ProvisionError(String(err));
      }
      for (const { spec, task } of writes) {
        if (!task.isCompleted || task.isFaulted) continue;
        const r = task.result as SetServiceNowSecretResult;
        if (!r.ok) {
          failure ??= new ProvisionError(`ServiceNow ${spec.table} '${spec.key}': ${r.failure.message}`);
          continue;
        }
        if (r.manualAction) handOff(r.manualAction);
        if (!r.written) continue;
        secretWritten(spec);
        const record = status.records.find((x) => x.key === spec.key);
        if (record && !record.created) record.updated = true;
      }
      publish();
      if (failure) throw failure;
    }
    /**
     * Ensures `specs` wave by wave (src/profiles/dependencies.ts). Every outcome of a wave is taken in (in profile
     * order, so what this run created is listed parents first and compensation removes children first) before a
     * failure stops the run. An activity that exhausted its retries fails the wave as soon as it does: the outcomes
     * its siblings already returned are taken in, and the records still under way are left as candidates, found by
     * natural key and this run's ownership claim. The secret fields are written after the last wave, all at once: a
     * record that references another needs its sys_id, not its secret.
     */
    function* ensureRecords(
      specs: ServiceNowRecordSpec[],
      fieldsOf: (spec: ServiceNowRecordSpec) => Record<string, string>,
      sysIdOf: (spec: ServiceNowRecordSpec) => string | undefined = () => undefined,
    ): Generator<Task, void, unknown> {
      const pendingSecrets: { spec: ServiceNowRecordSpec; sysId: string }[] = [];
      for (const wave of recordWaves(specs)) {
        const inputs = wave.map((spec) => recordInput(spec, fieldsOf(spec), sysIdOf(spec)));
        const tasks = inputs.map((i) => schedule(context, activities.ensureServiceNowRecord, i, RETRY.service));
        let failure: Error | undefined;
        let results: (RecordOutcome | undefined)[];
        try {
          results = (yield context.df.Task.all(tasks)) as RecordOutcome[];
        } catch (err) {
          failure = err instanceof Error ? err : new ProvisionError(String(err));
          results = tasks.map((t) => (t.isCompleted && !t.isFaulted ? (t.result as RecordOutcome) : undefined));
        }
        // An insert whose activity did not answer may have landed (or land after a timeout).
        inFlight = wave.flatMap((spec, i): CreatedObject[] =>
          results[i] || spec.shared || spec.lookup
            ? []
            : [{ kind: 'recordCandidate', key: spec.key, table: spec.table, naturalKey: inputs[i].naturalKey }],
        );
        wave.forEach((spec, i) => {
          const r = results[i];
          if (!r) return;
          try {
            settleRecord(spec, r);
            if (r.ok && r.secretPending && r.sysId) pendingSecrets.push({ spec, sysId: r.sysId });
          } catch (err) {
            failure ??= err instanceof Error ? err : new ProvisionError(String(err));
          }
        });
        publish();
        if (failure) throw failure;
      }
      yield* writeRecordSecrets(pendingSecrets);
    }
    const records = recordsOf(profile, input);
    yield* ensureServiceNowCredentials(credentialStage, support, 'federated');
    yield* ensureRecords(
      records.filter((spec) => spec.phase !== 'activation'),
      (spec) => (inert ? spec.fields : { ...spec.fields, ...(spec.activate ?? {}) }),
    );
    yield* ensureServiceNowCredentials(credentialStage, support, 'certificate');
    yield* registry({ records: status.records });
    yield* workNote(
      `ServiceNow configured (inactive until approved): ${status.records.map((r) => `${r.table} ${r.sysId ?? '(manual)'}`).join(', ')}.`,
    );

    // f. Approval of a first provisioning: the plan with the real app ids, bound to every link by its digest.
    if (mode === 'first') {
      status.plan.summary = buildPlan(planInput());
      // The plan with the real app ids and sys_ids replaces the one kept before they existed.
      yield* keepPlan(planInput(), digest, mode);
      const decision = yield* gate(digest);
      if (!decision) {
        outcome = 'expired';
        yield* workNote(
          `No approval decision by the deadline; ${input.settings.onDeadline === 'rollback' ? 'rolling back' : 'kept inactive, marked expired'}.`,
        );
        if (input.settings.onDeadline === 'rollback') {
          step('rolling-back');
          yield* compensate(context, ref, status);
        }
        throw new GateClosed();
      }
      if (decision.decision === 'reject') {
        outcome = 'rejected';
        yield* workNote(`Rejected by ${decision.approver} at ${decision.at}; rolling back.`);
        step('rolling-back');
        yield* compensate(context, ref, status);
        throw new GateClosed();
      }
      yield* recordApproval(decision, digest);
    }

    // g. Activation, after the approval (idempotent: a silent re-run finds everything in place and writes nothing).
    step('activation');
    yield* ensureRecords(
      records.filter((spec) => spec.phase === 'activation' || (inert && spec.activate)),
      (spec) => ({ ...spec.fields, ...(spec.activate ?? {}) }),
      // A record this run wrote before the approval is patched by its sys_id (no look-up).
      (spec) => status.records.find((r) => r.key === spec.key && !r.manualAction)?.sysId,
    );
    const grants = grantsOf(profile, input, values);
    for (const grant of grants) {
      const r = yield* call(context, activities.ensureRoleGrant, { ...ref, ...grant }, RETRY.service);
      if (!r.ok) throw new ProvisionError(`role ${grant.role} for ${grant.userName}: ${r.failure.message}`);
      if (r.manualAction) handOff(r.manualAction);
      // Grants are ServiceNow records of the integration too: registered (so a re-run knows them) and removable.
      const key = `grant:${grant.userName}:${grant.role}`;
      const shared = 'shared' in grant && grant.shared ? { shared: true } : {};
      if (r.sysId)
        status.records.push({ key, table: 'sys_user_has_role', sysId: r.sysId, created: r.created, mismatches: [] });
      if (r.created && r.sysId)
        status.created.push({ kind: 'record', key, table: 'sys_user_has_role', sysId: r.sysId, ...shared });
    }
    if (input.options.ipAllowlist) {
      const r = yield* call(
        context,
        activities.ensureIpAllowlist,
        {
          ...ref,
          addresses: profile.serviceNow.ipAllowlist,
          ...(profile.serviceNow.ipAllowlistHost ? { resolveHost: profile.serviceNow.ipAllowlistHost } : {}),
        },
        RETRY.service,
      );
      if (!r.ok) throw new ProvisionError(`IP allow-list: ${r.failure.message}`);
      if (r.manualAction) handOff(r.manualAction);
      // Allow rules are records of the integration too (registered, so an approved change can retire them).
      for (const h of r.held ?? r.created)
        status.records.push({
          key: `ip:${h.address}`,
          table: 'ip_access',
          sysId: h.sysId,
          created: r.created.some((c) => c.sysId === h.sysId),
          shared: true,
          mismatches: [],
        });
      for (const c of r.created)
        status.created.push({
          kind: 'record',
          key: `ip:${c.address}`,
          table: 'ip_access',
          sysId: c.sysId,
          shared: true,
        });
    }
    // Application permissions: admin consent only now, after the approval. Granted by this app's identity where the
    // deployment allows it (GRANT_ADMIN_CONSENT), else handed to an administrator as the admin-consent link
    // (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent).
    for (const app of status.apps) {
      if (!app.permissions) continue;
      const r = yield* call(
        context,
        activities.grantAppPermissions,
        { ...ref, role: app.role, servicePrincipalId: app.servicePrincipalId, permissions: app.permissions },
        RETRY.graph,
      );
      if (!r.ok) throw new ProvisionError(`admin consent for the ${app.role} app: ${r.failure.message}`);
      if (!r.granted) {
        const spec = appSpec(profile, app.role, (m) => new ProvisionError(m));
        const redirect = spec.redirectUris.map((u) => renderTemplate(u, values))[0];
        const consent =
          `${input.endpoints.authorityHost}/${preflight.tenantId ?? ref.tenant}/v2.0/adminconsent` +
          `?client_id=${encodeURIComponent(app.appId)}` +
          `&scope=${encodeURIComponent(`${input.endpoints.graphUrl ?? 'https://graph.microsoft.com'}/.default`)}` +
          (redirect ? `&redirect_uri=${encodeURIComponent(redirect)}` : '');
        status.manualActions.push({
          title: `Grant admin consent to the ${app.role} app`,
          actor: 'Privileged Role Administrator or Global Administrator',
          steps: [
            { label: 'Open and accept', value: consent },
            { label: 'Application permissions', value: app.permissions.values.join(', ') },
          ],
        });
      }
    }
    for (const handOff of profile.handOffs)
      status.manualActions.push({
        title: handOff.title,
        actor: handOff.actor,
        steps: handOff.steps.map((s) => ({
          label: s.label,
          ...(s.value ? { value: renderTemplate(s.value, values) } : {}),
        })),
      });
    // An approved change takes away what the new plan no longer has (a role grant, the IP allow rules, a record
    // replaced under a new natural key): activation only adds, so without this the live integration would hold more
    // than the plan its approver saw.
    const retired =
      mode === 'staged' || mode === 'resume' ? yield* retireStale(staleRecords(profile, grants, values)) : [];
    if (changed() || retired.length) yield* registry({ dropRecords: retired, records: status.records });
    // The approved plan is live now: a re-run of it is silent.
    if (input.appliedDigest !== digest) yield* registry({ appliedDigest: digest });

    // h. Connectivity checks, retried while Entra propagates new secrets. The records must hold what was approved.
    expectedRecords.push(...expectedRecordsOf(records, values));
    step('checks');
    status.checks = yield* runChecks(context, input, status, checksFor(profile.checks, kinds), expectedRecords);
    outcome = status.checks.every((c) => c.ok) ? 'active' : 'checks-failed';
    // An app that moved from a client secret to a certificate or federation: the secret goes only now, after the new
    // credential was proven (from the app and from Key Vault; ServiceNow's field was cleared when it switched).
    const formerSecrets = (input.priorSecretRoles ?? []).filter((role) => kinds[role] !== undefined);
    if (outcome === 'active' && formerSecrets.length) {
      step('retiring-secrets');
      // The live OAuth provider moves to the proven certificate only now (it kept its secret until here).
      yield* ensureServiceNowCredentials(credentialStage, support, 'certificate', 'switch');
      const result = yield* removeObjects(
        context,
        ref,
        formerSecrets.map((role) => ({
          kind: 'secret' as const,
          role,
          secretName: secretNameFor(ref.integrationId, role),
          appObjectId: status.apps.find((a) => a.role === role)?.objectId ?? '',
          retire: true,
        })),
      );
      status.orphans.push(...result.orphans);
      status.retiredSecrets = result.removed.flatMap((o) => (o.kind === 'secret' ? [o.role] : []));
    }
    yield* workNote(
      `Connectivity checks: ${status.checks.map((c) => `${c.name} ${c.ok ? 'ok' : `FAILED (${c.hint ?? c.detail})`}`).join('; ')}.`,
    );
  } catch (err) {
    if (err instanceof GateClosed) {
      // Rejected or expired first provisioning: already rolled back (or kept inactive) above.
      outcome ??= 'rejected';
    } else if (err instanceof StagedChangeRefused) {
      // A staged change that was not approved: nothing was written, the live integration is as it was.
      status.error = err.message;
      outcome ??= 'rejected';
    } else {
      // Compensation on failure: remove what this run created, report what could not be removed. Our own failures
      // keep their whole text (every preflight problem); the host's wrapped activity errors carry stack traces, so
      // only their first line is kept.
      status.error =
        err instanceof ProvisionError ? err.message : firstLine(err instanceof Error ? err.message : String(err));
      // A parallel call that exhausted its retries leaves its siblings' results unknown: apps of this run are then
      // found by uniqueName (removed only with this run's creation tag), and secrets by this run's tag.
      if (status.step === 'entra-apps' && profile)
        for (const app of profile.apps)
          if (!app.existing && !status.apps.some((a) => a.role === app.role))
            status.created.push({ kind: 'appCandidate', role: app.role });
      if (status.step === 'secrets')
        for (const app of status.apps)
          if (
            !app.existing &&
            profile?.apps.find((a) => a.role === app.role)?.secretConsumers.length &&
            !status.secrets.some((x) => x.role === app.role) &&
            credentialKinds(profile, input.options.credential)[app.role] === 'secret'
          )
            status.created.push({
              kind: 'secret',
              role: app.role,
              secretName: secretNameFor(ref.integrationId, app.role),
              appObjectId: app.objectId,
            });
      status.created.push(...inFlight);
      step('compensating');
      yield* workNote(`Provisioning failed: ${status.error}. Rolling back what this run created.`);
      yield* compensate(context, ref, status);
      outcome = 'failed';
    }
  }
  if (roundOpen)
    yield* call(context, activities.closeApprovalRound, { instanceId: ref.instanceId, reason: 'ended' }, RETRY.light);

  // i. Reporting: registry, final email, work note. A live integration whose re-run did not succeed stays live:
  // the failure is recorded on it (lastRun), so rotation goes on.
  outcome ??= 'failed';
  status.outcome = outcome;
  step(outcome);
  const at = iso();
  const lastRun = { instanceId: ref.instanceId, outcome, at, ...(status.error ? { error: status.error } : {}) };
  // What could not be removed stays on the integration (the daily sweep tries again); an empty list clears this run's.
  const orphans = { instanceId: ref.instanceId, items: status.orphans };
  const audit: AuditEvent[] = [
    {
      kind: outcome === 'active' ? 'activated' : 'run-finished',
      at,
      actor: 'system',
      instanceId: ref.instanceId,
      ...(status.plan ? { planDigest: status.plan.digest } : {}),
      detail:
        outcome === 'active'
          ? quiet()
            ? 'run finished: active, nothing changed'
            : `active with plan ${status.plan?.digest.slice(0, 12) ?? '(none)'}`
          : `run finished: ${outcome}${status.error ? ` (${status.error})` : ''}`,
    },
  ];
  if (live && outcome !== 'active') yield* registry({ lastRun, orphans, audit });
  else
    yield* registry({
      status: outcome === 'checks-failed' ? 'failed' : outcome,
      checks: status.checks,
      apps: status.apps,
      secrets: status.secrets,
      ...(status.credentials?.length ? { credentials: status.credentials } : {}),
      ...(status.retiredSecrets?.length ? { retiredSecrets: status.retiredSecrets } : {}),
      confirmations: secretWrites.flatMap((w) => {
        const keyId = status.secrets.find((x) => x.role === w.role)?.keyId;
        return keyId ? [{ ...w, keyId, by: 'system' }] : [];
      }),
      records: status.records,
      lastRun,
      orphans,
      audit,
      // What the request named becomes the integration's only when the run went live (never before its approval).
      ...(outcome === 'active'
        ? {
            tenantName: ref.tenantName,
            ...(input.tenantDomain ? { tenantDomain: input.tenantDomain } : {}),
            ...(input.ticket ? { ticket: input.ticket } : {}),
          }
        : {}),
    });
  if (!quiet() || outcome !== 'active')
    yield* call(
      context,
      activities.sendReport,
      {
        ...ref,
        // Only people the approver policy names: this round's eligible approvers, else the integration's approvers.
        approvers: eligible.length ? eligible : (input.notify ?? []),
        ...(eligible.length ? { approversFromRound: true } : {}),
        outcome,
        summary: status.error
          ? [status.error, ...(status.problems ?? []).map((p) => `- ${p}`)].join('\n')
          : `Provisioning ${outcome}.`,
        checks: status.checks,
        orphans: status.orphans,
      },
      RETRY.light,
    );
  yield* workNote(
    `Provisioning finished: ${outcome}.${status.orphans.length ? ` Could not remove: ${status.orphans.map((o) => describe(o.object)).join(', ')}.` : ''}`,
  );
  return provisionStatusOf(status);
};

function stripOk<T extends { ok: true }>(r: T): Omit<T, 'ok'> {
  const { ok: _ok, ...rest } = r;
  return rest;
}

const describe = describeObject;

function* runChecks(
  context: OrchestrationContext,
  input: ProvisionInput,
  status: ProvisionRunState,
  checks: CheckSpec[],
  expectedRecords: ExpectedRecord[],
): Generator<Task, CheckOutcome[], unknown> {
  let results: CheckOutcome[] = [];
  for (let attempt = 1; attempt <= input.settings.checkAttempts; attempt++) {
    results = yield* call(
      context,
      activities.runChecks,
      {
        ...input.ref,
        // Only the fields the checks read.
        apps: status.apps.map((a) => ({
          role: a.role,
          appId: a.appId,
          objectId: a.objectId,
          servicePrincipalId: a.servicePrincipalId,
          ...(a.existing ? { existing: true } : {}),
          ...(a.permissions ? { permissions: a.permissions } : {}),
        })),
        secrets: status.secrets.map((x) => ({ role: x.role, secretName: x.secretName })),
        // The checks look records up by profile key: role grants and IP allow rules are not among them.
        records: status.records
          .filter((r) => !r.key.startsWith('grant:') && !r.key.startsWith('ip:'))
          .map((r) => ({
            key: r.key,
            ...(r.sysId ? { sysId: r.sysId } : {}),
            ...(r.manualAction ? { manualAction: { title: r.manualAction.title } } : {}),
          })),
        ...checkCredentials(status.credentials),
        checks,
        expectedRecords,
      },
      RETRY.service,
    );
    status.checks = results;
    context.df.setCustomStatus(provisionStatusOf(status));
    const retry = results.some((c) => !c.ok && c.transient);
    if (!retry || attempt === input.settings.checkAttempts) break;
    yield context.df.createTimer(
      new Date(context.df.currentUtcDateTime.getTime() + input.settings.checkRetrySeconds * 1000),
    );
  }
  return results;
}

function* compensate(
  context: OrchestrationContext,
  ref: IntegrationRef,
  status: ProvisionRunState,
): Generator<Task, void, unknown> {
  if (status.created.length === 0) return;
  const result = yield* removeObjects(context, ref, [...status.created].reverse());
  status.orphans.push(...result.orphans);
  status.created = status.created.filter((c) => !result.removed.some((r) => JSON.stringify(r) === JSON.stringify(c)));
  context.df.setCustomStatus(provisionStatusOf(status));
}

/**
 * Removes objects with the same durable retries as a forward step: the activity throws while a removal fails
 * transiently, so RETRY.service runs it again; when the retries are spent, a last attempt reports what is left as
 * orphans (recorded on the integration and retried by the daily sweep).
 */
export function* removeObjects(
  context: OrchestrationContext,
  ref: IntegrationRef,
  created: CreatedObject[],
): Generator<Task, CompensateResult, unknown> {
  try {
    return yield* call(context, activities.compensate, { ...ref, created }, RETRY.service);
  } catch {
    try {
      return yield* call(context, activities.compensate, { ...ref, created, final: true }, RETRY.light);
    } catch (err) {
      const reason = firstLine(err instanceof Error ? err.message : String(err));
      return { removed: [], orphans: created.map((object) => ({ object, reason, transient: true })) };
    }
  }
}
