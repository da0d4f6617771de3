/**
 * provisionIntegration: ticket → Entra apps → Key Vault → ServiceNow → emailed approval → connectivity checks →
 * report on the ticket. Deterministic: time from context.df.currentUtcDateTime, no I/O, no settings reads; every
 * side effect is an activity, every activity idempotent. What is integration-specific comes from the profile.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';

import {
  APPROVAL_EVENT,
  type ApprovalDecision,
  type CheckOutcome,
  type CreatedObject,
  type ExpectedRecord,
  type IntegrationRef,
  type RegistryUpdateInput,
} from '../activities/contracts';
import { getProfile } from '../profiles';
import { renderRecord, renderTemplate, type TemplateValues } from '../profiles/template';
import type { CheckSpec, IntegrationProfile } from '../profiles/types';
import { activities, call, callAll, RETRY } from './calls';
import type { ProvisionInput, ProvisionOutcome, ProvisionStatus } from './provisionTypes';

/** A failure the orchestrator reports as is (non-retriable outcome of an activity, or preflight problems). */
class ProvisionError extends Error {}

const MINUTE = 60_000;

export const secretNameFor = (integrationId: string, role: string): string => `${integrationId}-${role}`.toLowerCase();

export const provisionIntegration: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ProvisionInput>();
  const { ref } = input;
  const profile = getProfile(ref.profileId);
  const now = () => context.df.currentUtcDateTime;
  const iso = () => now().toISOString();
  const startedAt = iso();

  const status: ProvisionStatus = {
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
  const step = (name: string) => {
    status.step = name;
    status.steps.push({ name, at: iso() });
    context.df.setCustomStatus(status);
  };
  // A re-run of an approved integration stays silent unless it had to change something.
  const rerun = input.priorApproval !== undefined;
  const changed = () =>
    status.created.length > 0 || status.records.some((r) => r.updated) || status.secrets.some((x) => x.created);
  function* workNote(text: string): Generator<Task, void, unknown> {
    if (!input.ticket || (rerun && !changed())) return;
    yield context.df.callActivity(activities.addWorkNote.name, { ...ref, ticket: input.ticket, note: text });
  }
  function* registry(update: Omit<RegistryUpdateInput, 'integrationId' | 'at'>): Generator<Task, void, unknown> {
    yield* call(
      context,
      activities.updateRegistry,
      { integrationId: ref.integrationId, at: iso(), ...update },
      RETRY.light,
    );
  }

  let outcome: ProvisionOutcome;
  try {
    if (!profile) throw new ProvisionError(`unknown integration profile '${ref.profileId}'`);

    // a. Preflight: read-only, lists everything that is missing before anything is created.
    step('preflight');
    const preflight = yield* call(
      context,
      activities.preflight,
      {
        ...ref,
        ipAllowlist: input.options.ipAllowlist,
        profile: {
          serviceNow: {
            ...(profile.serviceNow.requiredScope ? { requiredScope: profile.serviceNow.requiredScope } : {}),
            requiredRoles: [
              ...new Set([...profile.serviceNow.requiredRoles, ...input.options.grantUsers.map((g) => g.role)]),
            ],
            requiredColumns: profile.serviceNow.requiredColumns,
          },
        },
      },
      RETRY.service,
    );
    if (preflight.problems.length)
      throw new ProvisionError(
        `preflight found ${preflight.problems.length} problem(s): ${preflight.problems.join('; ')}`,
      );
    yield* workNote(`Provisioning of ${ref.integrationId} started (profile ${profile.id}).`);

    const values: TemplateValues = {
      tenant: ref.tenant,
      tenantId: preflight.tenantId,
      tenantName: ref.tenantName,
      instance: ref.serviceNowInstance,
      instanceUrl: input.endpoints.instanceUrl,
      authorityHost: input.endpoints.authorityHost,
      integrationId: ref.integrationId,
      redirectUri: input.options.redirectUri ?? `${input.endpoints.instanceUrl}/auth_redirect.do`,
      scopeSysId: preflight.scopeSysId,
      testEnvironment: input.options.testEnvironment ? 'Yes' : 'No',
    };

    // b. Entra: the apps in parallel (upsert by uniqueName, service principal, tags).
    step('entra-apps');
    const apps = yield* callAll(
      context,
      activities.ensureApp,
      profile.apps.map((app) => ({
        ...ref,
        role: app.role,
        displayName: renderTemplate(app.displayName, values),
        redirectUris: app.redirectUris.map((u) => renderTemplate(u, values)),
      })),
      RETRY.graph,
    );
    // Record every app that exists before reporting the first failure, so compensation removes all of them.
    for (const r of apps) {
      if (!r.ok) continue;
      status.apps.push(stripOk(r));
      if (r.created) status.created.push({ kind: 'app', role: r.role, objectId: r.objectId, appId: r.appId });
      values[`apps.${r.role}.appId`] = r.appId;
      values[`apps.${r.role}.secretName`] = secretNameFor(ref.integrationId, r.role);
    }
    const appFailure = apps.find((r) => !r.ok);
    if (appFailure && !appFailure.ok) throw new ProvisionError(`Entra app: ${appFailure.failure.message}`);
    yield* registry({ status: 'provisioning', apps: status.apps });
    yield* workNote(`Entra app registrations ready: ${status.apps.map((a) => `${a.role} ${a.appId}`).join(', ')}.`);

    // c. Secrets: addPassword and the Key Vault write happen in one activity; only names and versions come back.
    step('secrets');
    const secrets = yield* callAll(
      context,
      activities.ensureAppSecret,
      status.apps.map((app) => ({
        ...ref,
        role: app.role,
        appObjectId: app.objectId,
        appId: app.appId,
        secretName: secretNameFor(ref.integrationId, app.role),
        lifetimeDays: input.options.secretLifetimeDays ?? appSpec(profile, app.role).secretLifetimeDays,
        operation: input.operation,
      })),
      RETRY.graph,
    );
    for (const r of secrets) {
      if (!r.ok) continue;
      status.secrets.push(stripOk(r));
      // The secret of an app this run created is this run's, even when a repeated activity reported it reused.
      const appCreated = status.apps.some((a) => a.role === r.role && a.created);
      if (r.created || appCreated) status.created.push({ kind: 'secret', role: r.role, secretName: r.secretName });
    }
    const secretFailure = secrets.find((r) => !r.ok);
    if (secretFailure && !secretFailure.ok) throw new ProvisionError(`client secret: ${secretFailure.failure.message}`);
    yield* registry({ secrets: status.secrets });

    // d. ServiceNow: each record by natural key, in profile order (later records reference earlier sys_ids).
    step('servicenow');
    const expectedRecords: ExpectedRecord[] = [];
    for (const spec of profile.serviceNow.records) {
      if (spec.when === 'ipAllowlist' && !input.options.ipAllowlist) continue;
      const r = yield* call(
        context,
        activities.ensureServiceNowRecord,
        {
          ...ref,
          key: spec.key,
          table: spec.table,
          naturalKey: renderRecord(spec.naturalKey, values),
          fields: renderRecord(spec.fields, values),
          ...(spec.secret
            ? {
                secret: { field: spec.secret.field, secretName: secretNameFor(ref.integrationId, spec.secret.fromApp) },
              }
            : {}),
          manualFallback: spec.manualFallback,
          createdSince: startedAt,
        },
        RETRY.service,
      );
      if (!r.ok) throw new ProvisionError(`ServiceNow ${spec.table}: ${r.failure.message}`);
      expectedRecords.push({ key: spec.key, table: spec.table, fields: renderRecord(spec.fields, values) });
      const record = stripOk(r);
      status.records.push(record);
      if (record.manualAction) status.manualActions.push(record.manualAction);
      // A record an earlier run registered is never this run's, whatever the at-least-once rule inferred.
      if (record.created && record.sysId && input.priorRecords?.[spec.key] === record.sysId) record.created = false;
      if (record.created && record.sysId)
        status.created.push({ kind: 'record', key: record.key, table: record.table, sysId: record.sysId });
      if (record.sysId) values[`records.${spec.key}.sysId`] = record.sysId;
      context.df.setCustomStatus(status);
    }
    const grants = [
      ...profile.serviceNow.roleGrants.map((g) => ({ userName: renderTemplate(g.userName, values), role: g.role })),
      ...input.options.grantUsers,
    ];
    for (const grant of grants) {
      const r = yield* call(
        context,
        activities.ensureRoleGrant,
        { ...ref, ...grant, createdSince: startedAt },
        RETRY.service,
      );
      if (!r.ok) throw new ProvisionError(`role ${grant.role} for ${grant.userName}: ${r.failure.message}`);
      if (r.manualAction) status.manualActions.push(r.manualAction);
      // Grants are ServiceNow records of the integration too: registered (so a re-run knows them) and removable.
      const key = `grant:${grant.userName}:${grant.role}`;
      const created = r.created && !!r.sysId && input.priorRecords?.[key] !== r.sysId;
      if (r.sysId) status.records.push({ key, table: 'sys_user_has_role', sysId: r.sysId, created, mismatches: [] });
      if (created && r.sysId) status.created.push({ kind: 'record', key, table: 'sys_user_has_role', sysId: r.sysId });
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
      if (r.manualAction) status.manualActions.push(r.manualAction);
      for (const c of r.created)
        status.created.push({ kind: 'record', key: `ip:${c.address}`, table: 'ip_access', sysId: c.sysId });
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
    yield* registry({ records: status.records });
    yield* workNote(
      `ServiceNow configured: ${status.records.map((r) => `${r.table} ${r.sysId ?? '(manual)'}`).join(', ')}.`,
    );

    // e. Approval: emailed single-use links; the decision arrives as an external event raced against a deadline.
    // An integration approved before keeps its approval when re-provisioned.
    const decision: ApprovalDecision | undefined = input.priorApproval
      ? { decision: 'approve', ...input.priorApproval, tokenId: '' }
      : yield* awaitApproval(context, input, status, step);
    if (decision?.decision === 'approve' && !input.priorApproval)
      yield* registry({ approval: { approver: decision.approver, at: decision.at } });
    if (!decision) {
      outcome = 'expired';
      yield* workNote(
        `No approval decision by the deadline; ${input.settings.onDeadline === 'rollback' ? 'rolling back' : 'kept, marked expired'}.`,
      );
      if (input.settings.onDeadline === 'rollback') yield* compensate(context, ref, status);
    } else if (decision.decision === 'reject') {
      outcome = 'rejected';
      yield* workNote(`Rejected by ${decision.approver} at ${decision.at}; rolling back.`);
      yield* compensate(context, ref, status);
    } else {
      if (!input.priorApproval) yield* workNote(`Approved by ${decision.approver} at ${decision.at}.`);
      // f. Connectivity checks, retried while Entra propagates new secrets.
      step('checks');
      status.checks = yield* runChecks(context, input, status, profile.checks, expectedRecords);
      outcome = status.checks.every((c) => c.ok) ? 'active' : 'checks-failed';
      yield* workNote(
        `Connectivity checks: ${status.checks.map((c) => `${c.name} ${c.ok ? 'ok' : `FAILED (${c.hint ?? c.detail})`}`).join('; ')}.`,
      );
    }
  } catch (err) {
    // h. Compensation on failure: remove what this integration created, report what could not be removed.
    // Our own failures keep their whole text (every preflight problem); the host's wrapped activity errors carry
    // stack traces, so only their first line is kept.
    status.error =
      err instanceof ProvisionError ? err.message : firstLine(err instanceof Error ? err.message : String(err));
    // A parallel call that exhausted its retries leaves its siblings' results unknown: apps of this run are then
    // found by uniqueName (removed only with this run's creation tag), and the secrets of apps this run created.
    if (status.step === 'entra-apps' && profile)
      for (const app of profile.apps)
        if (!status.apps.some((a) => a.role === app.role))
          status.created.push({ kind: 'appCandidate', role: app.role });
    if (status.step === 'secrets')
      for (const app of status.apps)
        if (app.created && !status.secrets.some((x) => x.role === app.role))
          status.created.push({
            kind: 'secret',
            role: app.role,
            secretName: secretNameFor(ref.integrationId, app.role),
          });
    step('compensating');
    yield* workNote(`Provisioning failed: ${status.error}. Rolling back what this run created.`);
    yield* compensate(context, ref, status);
    outcome = 'failed';
  }

  // g. Reporting: registry, final email, work note.
  status.outcome = outcome;
  step(outcome);
  yield* registry({
    status: outcome === 'checks-failed' ? 'failed' : outcome,
    checks: status.checks,
    apps: status.apps,
    secrets: status.secrets,
    records: status.records,
  });
  if (!rerun || changed() || outcome !== 'active')
    yield* call(
      context,
      activities.sendReport,
      {
        ...ref,
        approvers: input.approvers,
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
  return status;
};

/** Durable wraps activity failures with the stack; the status keeps the first line (bounded). */
function firstLine(message: string): string {
  const line = message.split('\n')[0]?.trim() ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

function appSpec(profile: IntegrationProfile, role: string) {
  const spec = profile.apps.find((a) => a.role === role);
  if (!spec) throw new ProvisionError(`profile ${profile.id} has no app role ${role}`);
  return spec;
}

function stripOk<T extends { ok: true }>(r: T): Omit<T, 'ok'> {
  const { ok: _ok, ...rest } = r;
  return rest;
}

function describe(o: CreatedObject): string {
  if (o.kind === 'app') return `app ${o.role} (${o.appId})`;
  if (o.kind === 'appCandidate') return `app ${o.role}`;
  if (o.kind === 'secret') return `Key Vault secret ${o.secretName}`;
  return `${o.table} ${o.sysId}`;
}

function* awaitApproval(
  context: OrchestrationContext,
  input: ProvisionInput,
  status: ProvisionStatus,
  step: (name: string) => void,
): Generator<Task, ApprovalDecision | undefined, unknown> {
  const { ref, settings } = input;
  const since = context.df.currentUtcDateTime;
  const deadline = new Date(since.getTime() + settings.approvalTimeoutMinutes * MINUTE);
  status.awaiting = {
    approvers: input.approvers,
    since: since.toISOString(),
    deadline: deadline.toISOString(),
    reminders: 0,
  };
  step('awaiting-approval');
  function* request(round: number): Generator<Task, void, unknown> {
    const sent = yield* call(
      context,
      activities.sendApprovalRequests,
      {
        ...ref,
        approvers: input.approvers,
        expiresAt: deadline.toISOString(),
        round,
        apps: status.apps,
        secrets: status.secrets,
        records: status.records,
        manualActions: status.manualActions,
      },
      RETRY.light,
    );
    if (!sent.ok) throw new ProvisionError(`approval email: ${sent.failure.message}`);
  }
  yield* request(0);
  yield* call(
    context,
    activities.updateRegistry,
    { integrationId: ref.integrationId, status: 'awaiting-approval', at: since.toISOString() },
    RETRY.light,
  );
  if (input.ticket)
    yield context.df.callActivity(activities.addWorkNote.name, {
      ...ref,
      ticket: input.ticket,
      note: `Awaiting approval from ${input.approvers.join(', ')} until ${deadline.toISOString()}.`,
    });

  // One wait for the whole race (a re-created wait could miss or double-consume events, lessons-from-peers §1.7).
  const decisionTask = context.df.waitForExternalEvent(APPROVAL_EVENT);
  for (let round = 1; ; round++) {
    const nextAt = Math.min(since.getTime() + round * settings.reminderIntervalMinutes * MINUTE, deadline.getTime());
    const timer = context.df.createTimer(new Date(nextAt));
    const winner: unknown = yield context.df.Task.any([decisionTask, timer]);
    if (winner === decisionTask) {
      if (!timer.isCompleted) timer.cancel();
      const decision = decisionTask.result as ApprovalDecision;
      status.decision = { decision: decision.decision, approver: decision.approver, at: decision.at };
      delete status.awaiting;
      context.df.setCustomStatus(status);
      return decision;
    }
    if (nextAt >= deadline.getTime()) {
      delete status.awaiting;
      return undefined;
    }
    status.awaiting.reminders = round;
    context.df.setCustomStatus(status);
    yield* request(round);
  }
}

function* runChecks(
  context: OrchestrationContext,
  input: ProvisionInput,
  status: ProvisionStatus,
  checks: CheckSpec[],
  expectedRecords: ExpectedRecord[],
): Generator<Task, CheckOutcome[], unknown> {
  let results: CheckOutcome[] = [];
  for (let attempt = 1; attempt <= input.settings.checkAttempts; attempt++) {
    results = yield* call(
      context,
      activities.runChecks,
      { ...input.ref, apps: status.apps, secrets: status.secrets, records: status.records, checks, expectedRecords },
      RETRY.service,
    );
    status.checks = results;
    context.df.setCustomStatus(status);
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
  status: ProvisionStatus,
): Generator<Task, void, unknown> {
  if (status.created.length === 0) return;
  const result = yield* call(
    context,
    activities.compensate,
    { ...ref, created: [...status.created].reverse() },
    RETRY.service,
  );
  status.orphans = result.orphans;
  status.created = status.created.filter((c) => !result.removed.some((r) => JSON.stringify(r) === JSON.stringify(c)));
  context.df.setCustomStatus(status);
}
