/**
 * Rotation triggers (items 1 and 3 of docs/reference/rotation.md#requirements), handlers only: src/functions/index.ts
 * registers them (bindings in src/functions/triggers.ts).
 *
 *   timer  rotationSweep        schedule `%ROTATION_SCHEDULE%` (app setting, default daily 02:00 UTC)
 *   POST   /api/integrations/{id}/rotate                 on-demand rotation (function key); body `{ roles?: string[] }`
 *   GET    /api/integrations/{id}/rotations/{instanceId} a rotation's step log (function key)
 *   eventGrid secretNearExpiry  Key Vault `Microsoft.KeyVault.SecretNearExpiry` backstop
 *
 * All three starters start the same orchestration (`rotateCredentials`) under the same deterministic instance id
 * (src/rotation/ids.ts) through src/rotation/start.ts. No response carries a durable management URL (they hold the
 * system key, docs/reference/durable-functions.md#management-urls-stay-private) or a secret.
 */
import { orchestrationStatus } from '../lib/orchestration-status';
import type { InvocationContext } from '@azure/functions';
import * as z from 'zod';

import { getDeps, type Deps } from '../app/deps';
import { integrationIdSchema } from '../api/integration-request';
import type { RotationStatus } from '../orchestrators/rotation-types';
import { isRotationInstanceOf } from '../rotation/ids';
import { handleNearExpiry } from '../rotation/near-expiry';
import { rotationInput, startRotation } from '../rotation/start';
import { sweepOrphans, type OrphanSweepDeps } from '../rotation/orphans';
import { rolesOf, startDueRotations, type SweepDeps, type SweepResult } from '../rotation/sweep';
import { contentTooLarge, jsonAs, problem, readText, type Problem } from './http';
import type { EventGridClientHandler, HttpClientHandler, TimerClientHandler } from './triggers';

export type RotationDeps = Pick<Deps, 'config' | 'registry' | 'secrets' | 'now'> & Pick<SweepDeps, 'certificates'>;

export interface RotationHandlerOptions {
  deps?: () => RotationDeps;
  /** What the orphan sweep needs (removals through every client); production: the process-wide deps. */
  orphanDeps?: () => OrphanSweepDeps;
}

const MAX_BODY_BYTES = 4096;

const statusUrl = (deps: RotationDeps, id: string, instanceId: string): string =>
  `${deps.config.publicBaseUrl}/api/integrations/${id}/rotations/${instanceId}`;

/** One log line per decision, so an operator sees what the sweep did and why. */
function logSweep(ctx: InvocationContext, r: SweepResult): void {
  for (const s of r.rotations)
    ctx.log(`rotation ${s.result} for ${s.integrationId} (${s.roles.join(', ')}): instance ${s.instanceId}`);
  for (const c of r.reconcile) {
    const done = r.reconciled.includes(c);
    const line =
      `rotation reconcile ${c.integrationId} ${c.role}: Key Vault version ${c.latestVersion} (keyId ${c.latestKeyId}` +
      `${c.operation ? `, ${c.operation}` : ''}) is newer than the registry's keyId ${c.registryKeyId ?? '(none)'}` +
      (done ? '; registry updated' : '; its rotation is running');
    if (done) ctx.warn(line);
    else ctx.log(line);
  }
  for (const p of r.problems) ctx.warn(`rotation sweep ${p.integrationId}${p.role ? ` ${p.role}` : ''}: ${p.reason}`);
  const started = r.rotations.filter((s) => s.result === 'started').length;
  ctx.log(
    `rotation sweep: ${r.checked} active integrations, ${r.due.length} due, ${started} started, ` +
      `${r.reconciled.length} reconciled, ${r.problems.length} problems`,
  );
}

/** At most this many roles in a request (a profile has a handful), and of a refused value only its start is echoed. */
const MAX_ROLES = 16;
const MAX_ECHOED = 16;
const clip = (v: string): string => (v.length > 64 ? `${v.slice(0, 64)}…` : v);

/**
 * The body of `POST /api/integrations/{id}/rotate` for an integration whose roles are `known`: `{ roles?: string[] }`,
 * validated (every problem listed) and documented (OpenAPI, with no roles known) by this one schema.
 */
export function rotateBodySchema(known: readonly string[]) {
  const rolesMessage = `roles must be a non-empty array (at most ${MAX_ROLES}) of: ${known.join(', ')}`;
  return z
    .object(
      {
        roles: z
          .array(z.string({ error: rolesMessage }), { error: rolesMessage })
          .min(1, rolesMessage)
          .max(MAX_ROLES, rolesMessage)
          .superRefine((roles, ctx) => {
            roles.forEach((r, i) => {
              if (!known.includes(r))
                ctx.addIssue({
                  code: 'custom',
                  path: [i],
                  message: `unknown role '${clip(r)}' (this integration has: ${known.join(', ')})`,
                  params: { role: true },
                });
            });
            if (new Set(roles).size !== roles.length)
              ctx.addIssue({ code: 'custom', message: 'roles must not repeat', params: { role: true } });
          })
          .optional(),
      },
      { error: 'body must be a JSON object' },
    )
    .strict();
}

/** Validates the optional body `{ roles?: string[] }` against the integration's roles; every problem listed. */
export function parseRotateBody(
  body: unknown,
  known: string[],
): { ok: true; roles?: string[] } | { ok: false; problems: Problem[] } {
  if (body === undefined) return { ok: true };
  const r = rotateBodySchema(known).safeParse(body);
  if (r.success)
    // The profile's order, whatever the request's.
    return r.data.roles ? { ok: true, roles: known.filter((k) => r.data.roles!.includes(k)) } : { ok: true };
  const issues = r.error.issues;
  if (issues.some((i) => i.path.length === 0 && i.code === 'invalid_type'))
    return { ok: false, problems: [{ field: '(body)', message: 'body must be a JSON object' }] };
  const problems: Problem[] = issues
    .flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys : []))
    .slice(0, MAX_ECHOED)
    .map((key) => ({ field: clip(key), message: `unknown field '${clip(key)}' (only roles is accepted)` }));
  const roleIssues = issues.filter((i) => i.path[0] === 'roles');
  // A malformed roles value is one problem; each unknown role of a well-formed one is its own.
  const malformed = roleIssues.find((i) => i.code !== 'custom');
  if (malformed) problems.push({ field: 'roles', message: malformed.message });
  else
    for (const i of roleIssues)
      problems.push({ field: typeof i.path[1] === 'number' ? `roles[${i.path[1]}]` : 'roles', message: i.message });
  return { ok: false, problems };
}

/** The `{id}` and `{instanceId}` path parameters of the rotation routes. */
export const rotationInstanceIdSchema = z.string().regex(/^[\w-]{1,200}$/);

/** 200 (completed), 202 (started), 409 (running): the rotation and where to follow it. */
export const rotationStartedSchema = z.object({
  id: z.string(),
  instanceId: z.string(),
  roles: z.array(z.string()),
  statusUrl: z.string(),
  status: z.enum(['started', 'running', 'completed']),
});

/** `GET /api/integrations/{id}/rotations/{instanceId}`. */
export const rotationStatusSchema = z.object({
  id: z.string(),
  instanceId: z.string(),
  statusUrl: z.string(),
  runtimeStatus: z.string(),
  createdTime: z.string(),
  lastUpdatedTime: z.string(),
  step: z.string().optional(),
  steps: z.array(z.object({ name: z.string(), at: z.string() })),
  rotated: z.array(
    z.object({
      role: z.string(),
      /** A client secret or a certificate (then the keyIds are the app's key credentials). */
      kind: z.enum(['secret', 'certificate']),
      oldKeyId: z.string(),
      newKeyId: z.string(),
      oldVersion: z.string(),
      newVersion: z.string(),
      expiresOn: z.string(),
      oldRemoved: z.boolean(),
    }),
  ),
  confirmed: z.record(z.string(), z.array(z.string())),
  awaiting: z
    .object({ role: z.string(), approvers: z.array(z.string()), deadline: z.string(), reminders: z.number() })
    .optional(),
  outcome: z.enum(['rotated', 'reconciled', 'rolled-back', 'failed']).optional(),
  error: z.string().optional(),
  orphans: z.array(z.object({ what: z.string(), id: z.string(), reason: z.string() })),
  /** Roles with nothing to rotate (a federated credential stores nothing). */
  skipped: z.array(z.object({ role: z.string(), reason: z.string() })).optional(),
});

const isoTime = (t: Date | string): string => (t instanceof Date ? t.toISOString() : String(t));

export function createRotationHandlers(opts: RotationHandlerOptions = {}): {
  sweep: TimerClientHandler;
  rotate: HttpClientHandler;
  status: HttpClientHandler;
  nearExpiry: EventGridClientHandler;
} {
  const depsOf = opts.deps ?? getDeps;
  const orphanDepsOf = opts.orphanDeps ?? (opts.deps ? undefined : getDeps);

  const sweep: TimerClientHandler = async (timer, client, ctx) => {
    const deps = depsOf();
    if (timer.isPastDue) ctx.warn('rotation sweep is running late (past due)');
    logSweep(ctx, await startDueRotations(deps, client, deps.now()));
    // What earlier runs could not remove is tried again on every sweep.
    if (!orphanDepsOf) return;
    const orphans = await sweepOrphans(orphanDepsOf(), ctx);
    if (orphans.integrations)
      ctx.log(
        `orphan sweep: ${orphans.removed} removed, ${orphans.remaining} remaining, ${orphans.alerts.length} alert(s)`,
      );
  };

  const rotate: HttpClientHandler = async (req, client) => {
    const deps = depsOf();
    const id = req.params.id ?? '';
    const parsedId = integrationIdSchema.safeParse(id);
    if (!parsedId.success)
      return problem(400, 'Invalid request', [{ field: 'id', message: parsedId.error.issues[0].message }]);
    // Capped while reading: a declared or streamed body over the cap is refused (413) without being buffered.
    const read = await readText(req, MAX_BODY_BYTES);
    if (!read.ok) return contentTooLarge(read.limit);
    let body: unknown;
    try {
      body = read.text.trim() === '' ? undefined : (JSON.parse(read.text) as unknown);
    } catch {
      return problem(400, 'Invalid request', [{ field: '(body)', message: 'body must be JSON' }]);
    }
    const record = (await deps.registry.get(id))?.value;
    if (!record) return problem(404, `No integration ${id}`);
    const known = rolesOf(record) ?? [];
    const parsed = parseRotateBody(body, known);
    if (!parsed.ok) return problem(400, 'Invalid request', parsed.problems);
    if (record.status !== 'active')
      return problem(409, `Integration ${id} is ${record.status}; only an active integration is rotated`);
    if (!known.length) return problem(409, `Integration ${id} has no credentials to rotate`);

    const roles = parsed.roles ?? known;
    const now = deps.now();
    const input = rotationInput(deps.config, record, roles, now, 'on-demand');
    const { instanceId, result } = await startRotation(client, input);
    const view = { id, instanceId, roles, statusUrl: statusUrl(deps, id, instanceId) };
    const location = { Location: view.statusUrl };
    if (result === 'running') return jsonAs(rotationStartedSchema, 409, { ...view, status: 'running' }, location);
    if (result === 'completed') return jsonAs(rotationStartedSchema, 200, { ...view, status: 'completed' }, location);
    return jsonAs(rotationStartedSchema, 202, { ...view, status: 'started' }, location);
  };

  const status: HttpClientHandler = async (req, client) => {
    const deps = depsOf();
    const id = req.params.id ?? '';
    const instanceId = req.params.instanceId ?? '';
    if (
      !integrationIdSchema.safeParse(id).success ||
      !isRotationInstanceOf(id, instanceId) ||
      !rotationInstanceIdSchema.safeParse(instanceId).success
    )
      return problem(404, 'No such rotation');
    const s = await orchestrationStatus(client, instanceId);
    if (!s) return problem(404, 'No such rotation');
    const custom = s.customStatus as Partial<RotationStatus> | null | undefined;
    return jsonAs(rotationStatusSchema, 200, {
      id,
      instanceId,
      statusUrl: statusUrl(deps, id, instanceId),
      runtimeStatus: s.runtimeStatus,
      createdTime: isoTime(s.createdTime),
      lastUpdatedTime: isoTime(s.lastUpdatedTime),
      step: custom?.step,
      steps: custom?.steps ?? [],
      // A rotation written before credentials had kinds rotated client secrets.
      rotated: (custom?.rotated ?? []).map((r) => ({ ...r, kind: r.kind ?? 'secret' })),
      confirmed: custom?.confirmed ?? {},
      awaiting: custom?.awaiting,
      outcome: custom?.outcome,
      error: custom?.error,
      orphans: custom?.orphans ?? [],
      ...(custom?.skipped?.length ? { skipped: custom.skipped } : {}),
    });
  };

  const nearExpiry: EventGridClientHandler = async (event, client, ctx) => {
    const deps = depsOf();
    // A throw makes Event Grid redeliver (retry policy of the subscription); only retriable failures get here.
    const outcome = await handleNearExpiry(deps, client, event, deps.now());
    if (outcome.handled)
      ctx.log(
        `near-expiry event ${event.id}: rotation ${outcome.rotation.result} for ${outcome.rotation.integrationId} ` +
          `(${outcome.rotation.roles.join(', ')}): instance ${outcome.rotation.instanceId}`,
      );
    else ctx.log(`near-expiry event ${event.id} ignored: ${outcome.reason}`);
  };

  return { sweep, rotate, status, nearExpiry };
}
