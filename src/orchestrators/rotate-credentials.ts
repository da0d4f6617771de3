/**
 * rotateCredentials: rotates the client secrets of one integration with no moment when any consumer holds a secret
 * that does not work (docs/reference/rotation.md):
 *   a. add the new credential and a new Key Vault version (the old ones stay valid);
 *   b. prove the new secret yields a token (bounded retries while Entra propagates it);
 *   c. switch the API consumers (ServiceNow password2 fields) to it;
 *   d. hand off the consumers without an API (emailed "done" link, reminders, deadline), then run the inbound check;
 *   e. only when every consumer is confirmed, after a grace period: remove the old credential, disable its version;
 *   f. report: registry, ticket work note, email.
 * A failure before (e) rolls the role back to its old secret everywhere and removes the new credential, except for
 * a role whose manual consumer already confirmed the new secret: that one keeps both secrets valid and is reported.
 *
 * A role whose credential is a certificate (private_key_jwt, https://learn.microsoft.com/entra/identity-platform/certificate-credentials)
 * goes through the same phases: (a) a new Key Vault certificate version, added to the app's key credentials next to
 * the old one (addKey, proof of possession signed by the old certificate,
 * https://learn.microsoft.com/graph/api/application-addkey); (b) a token proven with the new certificate (AADSTS700027
 * while Entra propagates the key: durable timer, asked again); (c) a new keystore and JWT key in ServiceNow and the
 * app's one JWT provider re-pointed to it, then read back; (e) after the grace period the old key credential removed
 * (removeKey, proof signed by the new certificate), the old sys_certificate deactivated, the old version disabled. A
 * failure before (e) first puts ServiceNow back on the old keystore (the old certificate never stopped working), then
 * removes the new key credential and disables the new version; when ServiceNow cannot be put back, the new credential
 * stays valid and is reported, never removed under a consumer that uses it. A federated credential stores nothing: its
 * role is skipped. Deterministic: time from context.df.currentUtcDateTime, no I/O; every side effect is an idempotent
 * activity.
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';

import type { CertificateResult } from '../contracts/credentials';
import type { AppResult, CheckOutcome, SecretResult } from '../contracts/provision';
import {
  handoffEventName,
  type HandoffConfirmation,
  type ServiceNowSecretConsumer,
  type CredentialState,
} from '../contracts/rotation';
import { getProfile } from '../profiles';
import { consumerKey } from '../profiles/consumers';
import { serviceNowConsumerRecord } from '../profiles/credential-kinds';
import type { ConsumerConfirmation } from '../registry/types';
import type { AppSpec, IntegrationProfile } from '../profiles/types';
import { appSpec, firstLine, MINUTE } from './shared';
import { activities, call, RETRY } from './calls';
import type { RotatedCredential, RotationInput, RotationOutcome, RotationStatus } from './rotation-types';

class RotationError extends Error {}

interface RoleWork {
  role: string;
  spec: AppSpec;
  state: CredentialState;
  newSecret?: SecretResult;
  /** ServiceNow consumers switched to the new secret (rolled back on failure). */
  switched: ServiceNowSecretConsumer[];
  /** A manual consumer confirmed the new secret: never roll this role back. */
  manualConfirmed: boolean;
  /** Consumers confirmed to hold the new secret (recorded on the registry when the role is rotated). */
  confirmations: ConsumerConfirmation[];
  /** A certificate credential's rotation (kind `certificate`). */
  cert?: CertWork;
}

interface CertWork {
  /** The registry's certificate (in use until the switch). */
  current: NonNullable<CredentialState['certificate']>;
  oauthEntity: { table: string; sysId: string };
  target?: {
    tokenUrl: string;
    clientId: string;
    sendAsValue: string;
    providerColumn: string;
    thumbprintColumn?: string;
  };
  /** The new Key Vault version (ensureCertificate with afterVersion = current). */
  next?: CertificateResult;
  /** Its key credential on the app. */
  nextKeyId?: string;
  /** ServiceNow was asked to switch (it may have, even when the call failed): roll it back to the current keystore. */
  switchTried: boolean;
  serviceNow?: { certificateSysId: string; keystoreAliasSysId: string; providerSysId: string };
}

export const rotateCredentials: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RotationInput>();
  const { ref, settings } = input;
  const iso = () => context.df.currentUtcDateTime.toISOString();
  const status: RotationStatus = {
    integrationId: ref.integrationId,
    step: 'started',
    steps: [],
    rotated: [],
    confirmed: {},
    orphans: [],
  };
  const step = (name: string) => {
    status.step = name;
    status.steps.push({ name, at: iso() });
    context.df.setCustomStatus(status);
  };
  function* workNote(text: string): Generator<Task, void, unknown> {
    if (!input.ticket) return;
    yield* call(context, activities.addWorkNote, { ...ref, ticket: input.ticket, note: text }, RETRY.light);
  }

  const work: RoleWork[] = [];
  let outcome: RotationOutcome;
  try {
    const profile = getProfile(ref.profileId);
    if (!profile) throw new RotationError(`unknown integration profile '${ref.profileId}'`);

    // Re-check before acting: a credential newer than the registry's, written by another operation, means an
    // earlier rotation already happened (reconcile, don't rotate again).
    step('inspect');
    const current = yield* call(
      context,
      activities.inspectCredentials,
      { ...ref, roles: input.roles, operation: input.operation },
      RETRY.service,
    );
    if (!current.found) throw new RotationError(`integration ${ref.integrationId} is not registered`);
    // Started in the moment a DELETE took the row: nothing is rotated on what is being removed.
    if (current.status === 'decommissioning' || current.status === 'decommissioned')
      throw new RotationError(`integration ${ref.integrationId} is ${current.status}; nothing is rotated`);
    const reconciled: CredentialState[] = [];
    for (const state of current.credentials) {
      if (state.kind === 'federated') {
        (status.skipped ??= []).push({ role: state.role, reason: 'federated credential: nothing stored to rotate' });
        continue;
      }
      if (state.kind === 'certificate') {
        const spec = appSpec(profile, state.role, (m) => new RotationError(m));
        const record = serviceNowConsumerRecord(profile, spec);
        const table = profile.serviceNow.records.find((r) => r.key === record)?.table;
        const sysId = record ? current.serviceNow[record] : undefined;
        if (!state.certificate || !table || !sysId)
          throw new RotationError(`the certificate or ServiceNow record of ${state.role} is not registered`);
        work.push({
          role: state.role,
          spec,
          state,
          switched: [],
          manualConfirmed: false,
          confirmations: [],
          cert: { current: state.certificate, oauthEntity: { table, sysId }, switchTried: false },
        });
        continue;
      }
      const newer =
        state.latestKeyId !== undefined &&
        state.latestKeyId !== state.registryKeyId &&
        state.latestOperation !== input.operation;
      if (newer) reconciled.push(state);
      else
        work.push({
          role: state.role,
          spec: appSpec(profile, state.role, (m) => new RotationError(m)),
          state,
          switched: [],
          manualConfirmed: false,
          confirmations: [],
        });
    }
    if (reconciled.length) {
      yield* call(
        context,
        activities.updateRegistry,
        {
          integrationId: ref.integrationId,
          at: iso(),
          secrets: reconciled.map((s) => ({
            role: s.role,
            secretName: s.secretName,
            version: s.latestVersion ?? s.registryVersion,
            keyId: s.latestKeyId ?? s.registryKeyId,
            expiresOn: s.expiresOn ?? '',
            created: false,
          })),
        },
        RETRY.light,
      );
    }
    if (work.length === 0) {
      outcome = 'reconciled';
      context.df.setCustomStatus(status);
    } else {
      yield* workNote(
        `${work.some((w) => w.cert) ? 'Credential' : 'Secret'} rotation ${input.operation} started for ${work.map((w) => w.role).join(', ')} (${input.reason}).`,
      );

      // a + b + c, per role: add, prove, switch the API consumers.
      for (const w of work) {
        if (w.cert) {
          yield* rotateCertificate(context, input, w, w.cert, step);
          continue;
        }
        step(`add:${w.role}`);
        const added = yield* call(
          context,
          activities.ensureAppSecret,
          {
            ...ref,
            role: w.role,
            appObjectId: w.state.appObjectId,
            appId: w.state.appId,
            secretName: w.state.secretName,
            lifetimeDays: settings.secretLifetimeDays,
            operation: input.operation,
          },
          RETRY.graph,
        );
        if (!added.ok) throw new RotationError(`new secret for ${w.role}: ${added.failure.message}`);
        const { ok: _ok, ...secret } = added;
        w.newSecret = secret;

        step(`verify:${w.role}`);
        yield* verify(context, input, w);

        for (const consumer of serviceNowConsumers(w.spec, current.serviceNow, profile)) {
          step(`update:${w.role}:${consumer.record}`);
          const r = yield* call(
            context,
            activities.setServiceNowSecret,
            { ...ref, role: w.role, consumer, secret: { secretName: secret.secretName, version: secret.version } },
            RETRY.service,
          );
          if (!r.ok) throw new RotationError(`ServiceNow ${consumer.table} ${consumer.sysId}: ${r.failure.message}`);
          w.switched.push(consumer);
          w.confirmations.push({
            consumer: consumerKey({ kind: 'servicenow', record: consumer.record, field: consumer.field }),
            keyId: secret.keyId,
            at: iso(),
            by: 'system',
          });
          (status.confirmed[w.role] ??= []).push(`servicenow:${consumer.record}`);
          context.df.setCustomStatus(status);
        }
      }

      // d. Consumers without an API: emailed hand-offs, confirmed by "done" links, with reminders and a deadline.
      const manual = work.filter((w) => !w.cert && w.spec.secretConsumers.some((c) => c.kind === 'manual'));
      if (manual.length) {
        yield* handOff(context, input, status, manual, step);
        step('inbound-check');
        const checks = yield* inboundChecks(context, input, profile, work);
        const failed = checks.filter((c) => !c.ok);
        if (failed.length)
          throw new RotationError(
            `after the hand-off: ${failed.map((c) => `${c.name}: ${c.hint ?? c.detail}`).join('; ')}`,
          );
      }

      // e. Every consumer is confirmed: after the grace period, retire the old credentials.
      step('grace');
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + settings.graceMinutes * MINUTE));
      for (const w of work) {
        step(`retire:${w.role}`);
        if (w.cert) {
          status.rotated.push(yield* retireCertificate(context, input, status, w, w.cert));
          continue;
        }
        const r = yield* call(
          context,
          activities.retireCredential,
          {
            ...ref,
            role: w.role,
            appObjectId: w.state.appObjectId,
            keyId: w.state.registryKeyId,
            secret: { secretName: w.state.secretName, version: w.state.registryVersion },
          },
          RETRY.graph,
        );
        const rotated: RotatedCredential = {
          role: w.role,
          kind: 'secret',
          oldKeyId: w.state.registryKeyId,
          newKeyId: w.newSecret!.keyId,
          oldVersion: w.state.registryVersion,
          newVersion: w.newSecret!.version,
          expiresOn: w.newSecret!.expiresOn,
          oldRemoved: r.ok,
        };
        if (!r.ok)
          status.orphans.push({
            what: `old credential of ${w.role}`,
            id: w.state.registryKeyId,
            reason: r.failure.message,
          });
        status.rotated.push(rotated);
      }
      outcome = 'rotated';
    }
  } catch (err) {
    status.error = firstLine(err instanceof Error ? err.message : String(err));
    step('rolling-back');
    yield* rollback(context, input, status, work);
    outcome = work.some((w) => w.manualConfirmed) ? 'failed' : 'rolled-back';
  }

  // f. Report.
  status.outcome = outcome;
  step(outcome);
  const done = status.rotated;
  // The outcome goes on the registry row (`lastRotation`, which alerting reads) and into the audit trail, for every
  // outcome but `reconciled` (nothing was rotated by this run).
  if (done.length || outcome !== 'reconciled')
    yield* call(
      context,
      activities.updateRegistry,
      {
        integrationId: ref.integrationId,
        at: iso(),
        secrets: work.filter((w) => w.newSecret && done.some((d) => d.role === w.role)).map((w) => w.newSecret!),
        credentials: work
          .filter((w) => w.cert?.next && w.cert.nextKeyId && done.some((d) => d.role === w.role))
          .map((w) => ({
            role: w.role,
            kind: 'certificate' as const,
            certificateName: w.cert!.next!.certificateName,
            version: w.cert!.next!.version,
            x5t: w.cert!.next!.x5t,
            notAfter: w.cert!.next!.notAfter,
            keyId: w.cert!.nextKeyId!,
            ...(w.cert!.serviceNow ? { serviceNow: w.cert!.serviceNow } : {}),
          })),
        ...(outcome !== 'reconciled'
          ? {
              lastRotation: {
                instanceId: ref.instanceId,
                outcome,
                at: iso(),
                ...(status.error ? { error: status.error } : {}),
              },
              audit: [
                {
                  kind: outcome === 'rotated' ? ('rotated' as const) : ('rotation-failed' as const),
                  at: iso(),
                  actor: 'system',
                  instanceId: ref.instanceId,
                  detail:
                    outcome === 'rotated'
                      ? `Rotated ${done.map((d) => d.role).join(', ')}.`
                      : `Rotation ${outcome}: ${status.error ?? outcome}`,
                  data: { outcome, roles: work.map((w) => w.role).join(',') },
                },
              ],
            }
          : {}),
        confirmations: work
          .filter((w) => done.some((d) => d.role === w.role))
          .flatMap((w) => w.confirmations.map((c) => ({ role: w.role, ...c }))),
      },
      RETRY.light,
    );
  if (outcome !== 'reconciled') {
    const summary =
      outcome === 'rotated'
        ? `Rotated ${done.map((d) => `${d.role} (new keyId ${d.newKeyId}, expires ${d.expiresOn})`).join(', ')}; old credentials ${done.every((d) => d.oldRemoved) ? 'removed' : 'partly kept (see orphans)'}.`
        : `Rotation ${input.operation} did not complete: ${status.error ?? outcome}. The old ${work.some((w) => w.cert) ? 'credentials' : 'secrets'} stay in use.`;
    yield* workNote(summary);
    yield* call(
      context,
      activities.sendReport,
      {
        ...ref,
        approvers: input.approvers,
        outcome: `rotation ${outcome}`,
        summary,
        checks: [],
        orphans: status.orphans.map((o) => ({
          object: { kind: 'secret' as const, role: o.what, secretName: o.id },
          reason: o.reason,
        })),
      },
      RETRY.light,
    );
  }
  return status;
};

function serviceNowConsumers(
  spec: AppSpec,
  sysIds: Record<string, string>,
  profile: IntegrationProfile,
): ServiceNowSecretConsumer[] {
  const out: ServiceNowSecretConsumer[] = [];
  for (const c of spec.secretConsumers) {
    if (c.kind !== 'servicenow') continue;
    const record = profile.serviceNow.records.find((r) => r.key === c.record);
    const sysId = sysIds[c.record];
    if (!record || !sysId) throw new RotationError(`ServiceNow record ${c.record} of ${spec.role} is not registered`);
    out.push({ record: c.record, table: record.table, sysId, field: c.field });
  }
  return out;
}

function* verify(context: OrchestrationContext, input: RotationInput, w: RoleWork): Generator<Task, void, unknown> {
  const { settings } = input;
  for (let attempt = 1; ; attempt++) {
    const r = yield* call(
      context,
      activities.verifyCredential,
      {
        ...input.ref,
        role: w.role,
        appId: w.state.appId,
        secret: { secretName: w.newSecret!.secretName, version: w.newSecret!.version },
      },
      RETRY.service,
    );
    if (r.ok) return;
    if (!r.transient || attempt >= settings.verifyAttempts)
      throw new RotationError(`the new ${w.role} secret yields no token: ${r.detail}`);
    yield context.df.createTimer(
      new Date(context.df.currentUtcDateTime.getTime() + settings.verifyRetrySeconds * 1000),
    );
  }
}

function* handOff(
  context: OrchestrationContext,
  input: RotationInput,
  status: RotationStatus,
  manual: RoleWork[],
  step: (name: string) => void,
): Generator<Task, void, unknown> {
  const { ref, settings } = input;
  const since = context.df.currentUtcDateTime.getTime();
  const deadline = since + settings.handoffDeadlineMinutes * MINUTE;
  const send = function* (w: RoleWork, round: number): Generator<Task, void, unknown> {
    const r = yield* call(
      context,
      activities.sendHandoffRequests,
      {
        ...ref,
        role: w.role,
        approvers: input.approvers,
        consumers: w.spec.secretConsumers.flatMap((c) =>
          c.kind === 'manual' ? [{ where: c.where, field: c.field }] : [],
        ),
        secret: { secretName: w.newSecret!.secretName, version: w.newSecret!.version },
        expiresAt: new Date(deadline).toISOString(),
        round,
      },
      RETRY.light,
    );
    if (!r.ok) throw new RotationError(`hand-off email for ${w.role}: ${r.failure.message}`);
  };
  step('handoff');
  for (const w of manual) yield* send(w, 0);
  // One wait per role for the whole race, each with its own event name
  // (docs/reference/durable-functions.md#distinct-event-names).
  const waits = new Map(manual.map((w) => [w, context.df.waitForExternalEvent(handoffEventName(w.role))]));
  const pending = new Set(manual);
  status.awaiting = {
    role: manual.map((w) => w.role).join(','),
    approvers: input.approvers,
    deadline: new Date(deadline).toISOString(),
    reminders: 0,
  };
  context.df.setCustomStatus(status);
  for (let round = 1; pending.size > 0;) {
    const nextAt = Math.min(since + round * settings.handoffReminderMinutes * MINUTE, deadline);
    const timer = context.df.createTimer(new Date(nextAt));
    const winner: unknown = yield context.df.Task.any([...[...pending].map((w) => waits.get(w)!), timer]);
    const confirmed = [...pending].find((w) => waits.get(w) === winner);
    if (confirmed) {
      if (!timer.isCompleted) timer.cancel();
      const c = waits.get(confirmed)!.result as HandoffConfirmation;
      confirmed.manualConfirmed = true;
      // One "done" link per role confirms every manual consumer of the role (the email lists them all).
      for (const mc of confirmed.spec.secretConsumers)
        if (mc.kind === 'manual')
          confirmed.confirmations.push({
            consumer: consumerKey(mc),
            keyId: confirmed.newSecret!.keyId,
            at: c.at,
            by: c.approver,
          });
      pending.delete(confirmed);
      (status.confirmed[confirmed.role] ??= []).push(`manual:${c.approver}@${c.at}`);
      context.df.setCustomStatus(status);
      continue;
    }
    if (nextAt >= deadline)
      throw new RotationError(
        `hand-off not confirmed by the deadline for ${[...pending].map((w) => w.role).join(', ')}`,
      );
    status.awaiting.reminders = round;
    context.df.setCustomStatus(status);
    for (const w of pending) yield* send(w, round);
    round++;
  }
  delete status.awaiting;
}

function* inboundChecks(
  context: OrchestrationContext,
  input: RotationInput,
  profile: IntegrationProfile,
  work: RoleWork[],
): Generator<Task, CheckOutcome[], unknown> {
  const roles = new Set(work.map((w) => w.role));
  const checks = profile.checks.filter(
    (c) => c.kind === 'inboundTableRead' && (roles.has(c.clientApp) || roles.has(c.resourceApp)),
  );
  if (!checks.length) return [];
  const apps: AppResult[] = work.map((w) => ({
    role: w.role,
    appId: w.state.appId,
    objectId: w.state.appObjectId,
    servicePrincipalId: '',
    uniqueName: '',
    created: false,
  }));
  return yield* call(
    context,
    activities.runChecks,
    {
      ...input.ref,
      apps,
      // The new client secrets (a certificate role has none: its consumer is ServiceNow's keystore).
      secrets: work.flatMap((w) => (w.newSecret ? [w.newSecret] : [])),
      records: [],
      checks,
      expectedRecords: [],
    },
    RETRY.service,
  );
}

function* rollback(
  context: OrchestrationContext,
  input: RotationInput,
  status: RotationStatus,
  work: RoleWork[],
): Generator<Task, void, unknown> {
  for (const w of work) {
    if (w.cert) {
      yield* rollbackCertificate(context, input, status, w, w.cert);
      continue;
    }
    // A credential other than the registry's is this rotation's (its operation tag), even when a repeated activity
    // reported it reused: roll it back.
    if (!w.newSecret || w.newSecret.keyId === w.state.registryKeyId) continue;
    if (w.manualConfirmed) {
      // A person already put the new secret in place: keep both valid rather than break that consumer.
      status.orphans.push({
        what: `rotation of ${w.role} left both secrets valid (a manual consumer already uses the new one)`,
        id: w.newSecret.keyId,
        reason: status.error ?? 'rotation failed',
      });
      continue;
    }
    const r = yield* call(
      context,
      activities.rollbackRotation,
      {
        ...input.ref,
        role: w.role,
        appObjectId: w.state.appObjectId,
        newKeyId: w.newSecret.keyId,
        newSecret: { secretName: w.newSecret.secretName, version: w.newSecret.version },
        oldSecret: { secretName: w.state.secretName, version: w.state.registryVersion },
        serviceNowConsumers: w.switched,
      },
      RETRY.service,
    );
    status.orphans.push(...r.orphans);
  }
  context.df.setCustomStatus(status);
}

// ---- certificates ----

function* rotateCertificate(
  context: OrchestrationContext,
  input: RotationInput,
  w: RoleWork,
  c: CertWork,
  step: (name: string) => void,
): Generator<Task, void, unknown> {
  const { ref, settings } = input;
  step(`target:${w.role}`);
  const target = yield* call(
    context,
    activities.certificateRotationTarget,
    { ...ref, role: w.role, oauthEntity: c.oauthEntity },
    RETRY.service,
  );
  if (!target.ok) throw new RotationError(`ServiceNow consumer of ${w.role}: ${target.failure.message}`);
  const { ok: _t, ...t } = target;
  c.target = t;

  // a. A new version next to the current one (a version newer than it, when an earlier run already made one).
  step(`certificate:${w.role}`);
  const made = yield* call(
    context,
    activities.ensureCertificate,
    {
      integrationId: ref.integrationId,
      role: w.role,
      appId: w.state.appId,
      certificateName: c.current.certificateName,
      subject: `CN=${w.state.appId}`,
      validityMonths: settings.certificateValidityMonths ?? 12,
      afterVersion: c.current.version,
    },
    RETRY.service,
  );
  if (!made.ok) throw new RotationError(`new certificate for ${w.role}: ${made.failure.message}`);
  const { ok: _m, ...next } = made;
  if (next.version === c.current.version)
    throw new RotationError(`Key Vault returned the certificate in use for ${w.role}, not a new version`);
  c.next = next;

  step(`register:${w.role}`);
  const registered = yield* call(
    context,
    activities.registerCertificate,
    {
      integrationId: ref.integrationId,
      role: w.role,
      appObjectId: w.state.appObjectId,
      appId: w.state.appId,
      certificateName: next.certificateName,
      version: next.version,
      proof: { certificateName: c.current.certificateName, version: c.current.version },
    },
    RETRY.graph,
  );
  if (!registered.ok) throw new RotationError(`key credential for ${w.role}: ${registered.failure.message}`);
  c.nextKeyId = registered.keyId;

  // b. Entra issues a token to the new certificate before anything uses it.
  step(`verify:${w.role}`);
  yield* verifyCertificate(context, input, w, c, 'the new certificate yields no token');

  // c. ServiceNow: the new keystore and JWT key, the provider re-pointed; then read back.
  step(`switch:${w.role}`);
  c.switchTried = true;
  const sn = yield* call(
    context,
    activities.ensureServiceNowCertificate,
    {
      ...ref,
      role: w.role,
      certificateName: next.certificateName,
      version: next.version,
      x5t: next.x5t,
      clientId: t.clientId,
      tokenUrl: t.tokenUrl,
      oauthEntity: c.oauthEntity,
      sendAsValue: t.sendAsValue,
      providerColumn: t.providerColumn,
      ...(t.thumbprintColumn ? { thumbprintColumn: t.thumbprintColumn } : {}),
    },
    RETRY.service,
  );
  if (!sn.ok) throw new RotationError(`ServiceNow keystore for ${w.role}: ${sn.failure.message}`);
  if (sn.manualAction) throw new RotationError(`ServiceNow keystore for ${w.role}: ${sn.manualAction.title}`);
  c.serviceNow = {
    certificateSysId: sn.certificateSysId,
    keystoreAliasSysId: sn.keystoreAliasSysId,
    providerSysId: sn.providerSysId,
  };

  step(`confirm:${w.role}`);
  const confirmed = yield* call(
    context,
    activities.confirmServiceNowCertificate,
    {
      ...ref,
      role: w.role,
      oauthEntity: c.oauthEntity,
      providerColumn: t.providerColumn,
      expected: c.serviceNow,
    },
    RETRY.service,
  );
  if (!confirmed.ok) throw new RotationError(`after the switch of ${w.role}: ${confirmed.detail}`);
  yield* verifyCertificate(context, input, w, c, 'after the switch, the new certificate yields no token');
}

function* verifyCertificate(
  context: OrchestrationContext,
  input: RotationInput,
  w: RoleWork,
  c: CertWork,
  what: string,
): Generator<Task, void, unknown> {
  const { settings } = input;
  for (let attempt = 1; ; attempt++) {
    const r = yield* call(
      context,
      activities.verifyCertificateCredential,
      {
        ...input.ref,
        role: w.role,
        appId: w.state.appId,
        certificate: { certificateName: c.next!.certificateName, version: c.next!.version },
        tokenUrl: c.target!.tokenUrl,
      },
      RETRY.service,
    );
    if (r.ok) return;
    if (!r.transient || attempt >= settings.verifyAttempts) throw new RotationError(`${what} (${w.role}): ${r.detail}`);
    yield context.df.createTimer(
      new Date(context.df.currentUtcDateTime.getTime() + settings.verifyRetrySeconds * 1000),
    );
  }
}

function* retireCertificate(
  context: OrchestrationContext,
  input: RotationInput,
  status: RotationStatus,
  w: RoleWork,
  c: CertWork,
): Generator<Task, RotatedCredential, unknown> {
  const next = c.next!;
  const problems: string[] = [];
  const removed = yield* call(
    context,
    activities.removeCertificate,
    {
      appObjectId: w.state.appObjectId,
      keyId: c.current.keyId,
      proof: { certificateName: next.certificateName, version: next.version },
    },
    RETRY.graph,
  );
  if (!removed.ok) problems.push(`key credential: ${removed.failure.message}`);
  const retired = yield* call(
    context,
    activities.retireCertificateVersion,
    {
      ...input.ref,
      role: w.role,
      certificate: { certificateName: c.current.certificateName, version: c.current.version },
    },
    RETRY.service,
  );
  if (!retired.ok) problems.push(`sys_certificate / Key Vault version: ${retired.failure.message}`);
  if (problems.length)
    status.orphans.push({
      what: `old certificate of ${w.role}`,
      id: `${c.current.keyId} (${c.current.version})`,
      reason: problems.join('; '),
    });
  return {
    role: w.role,
    kind: 'certificate',
    oldKeyId: c.current.keyId,
    newKeyId: c.nextKeyId!,
    oldVersion: c.current.version,
    newVersion: next.version,
    expiresOn: next.notAfter,
    oldRemoved: problems.length === 0,
  };
}

function* rollbackCertificate(
  context: OrchestrationContext,
  input: RotationInput,
  status: RotationStatus,
  w: RoleWork,
  c: CertWork,
): Generator<Task, void, unknown> {
  const { ref } = input;
  // ServiceNow back on the current keystore first: the current certificate is registered and valid throughout.
  if (c.switchTried) {
    const t = c.target!;
    const back = yield* call(
      context,
      activities.ensureServiceNowCertificate,
      {
        ...ref,
        role: w.role,
        certificateName: c.current.certificateName,
        version: c.current.version,
        x5t: c.current.x5t,
        clientId: t.clientId,
        tokenUrl: t.tokenUrl,
        oauthEntity: c.oauthEntity,
        sendAsValue: t.sendAsValue,
        providerColumn: t.providerColumn,
        ...(t.thumbprintColumn ? { thumbprintColumn: t.thumbprintColumn } : {}),
      },
      RETRY.service,
    );
    if (!back.ok || back.manualAction) {
      // The instance may still sign with the new certificate: it stays valid rather than break that consumer.
      status.orphans.push({
        what: `rotation of ${w.role} left both certificates valid (ServiceNow could not be put back on the old one)`,
        id: c.nextKeyId ?? c.next?.version ?? '',
        reason: back.ok ? back.manualAction!.title : back.failure.message,
      });
      return;
    }
  }
  const r = yield* call(
    context,
    activities.rollbackCertificateRotation,
    {
      ...ref,
      role: w.role,
      appObjectId: w.state.appObjectId,
      current: { certificateName: c.current.certificateName, version: c.current.version },
      ...(c.next && c.next.version !== c.current.version ? { newVersion: c.next.version } : {}),
    },
    RETRY.service,
  );
  status.orphans.push(...r.orphans);
}
