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

import { getDeps, type Deps } from '../app/deps';
import { INTEGRATION_ID } from '../api/integration-request';
import type { RotationStatus } from '../orchestrators/rotation-types';
import { rotationInstancePrefix } from '../rotation/ids';
import { handleNearExpiry } from '../rotation/near-expiry';
import { rotationInput, startRotation } from '../rotation/start';
import { sweepOrphans, type OrphanSweepDeps } from '../rotation/orphans';
import { rolesOf, startDueRotations, type SweepResult } from '../rotation/sweep';
import { contentTooLarge, json, problem, readText, type Problem } from './http';
import type { EventGridClientHandler, HttpClientHandler, TimerClientHandler } from './triggers';

export type RotationDeps = Pick<Deps, 'config' | 'registry' | 'secrets' | 'now'>;

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

/** Validates the optional body `{ roles?: string[] }` against the integration's roles; every problem listed. */
export function parseRotateBody(
  body: unknown,
  known: string[],
): { ok: true; roles?: string[] } | { ok: false; problems: Problem[] } {
  if (body === undefined) return { ok: true };
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, problems: [{ field: '(body)', message: 'body must be a JSON object' }] };
  const problems: Problem[] = [];
  for (const key of Object.keys(body).slice(0, MAX_ECHOED))
    if (key !== 'roles')
      problems.push({ field: clip(key), message: `unknown field '${clip(key)}' (only roles is accepted)` });
  const roles = (body as { roles?: unknown }).roles;
  if (roles === undefined) return problems.length ? { ok: false, problems } : { ok: true };
  if (
    !Array.isArray(roles) ||
    roles.length === 0 ||
    roles.length > MAX_ROLES ||
    roles.some((r) => typeof r !== 'string')
  ) {
    problems.push({
      field: 'roles',
      message: `roles must be a non-empty array (at most ${MAX_ROLES}) of: ${known.join(', ')}`,
    });
    return { ok: false, problems };
  }
  (roles as string[]).forEach((r, i) => {
    if (!known.includes(r))
      problems.push({
        field: `roles[${i}]`,
        message: `unknown role '${clip(r)}' (this integration has: ${known.join(', ')})`,
      });
  });
  if (new Set(roles).size !== roles.length) problems.push({ field: 'roles', message: 'roles must not repeat' });
  if (problems.length) return { ok: false, problems };
  // The profile's order, whatever the request's.
  return { ok: true, roles: known.filter((r) => (roles as string[]).includes(r)) };
}

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
    if (!INTEGRATION_ID.test(id))
      return problem(400, 'Invalid request', [{ field: 'id', message: 'id must look like sn-{instance}-{8 hex}' }]);
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
    if (result === 'running') return json(409, { ...view, status: 'running' }, location);
    if (result === 'completed') return json(200, { ...view, status: 'completed' }, location);
    return json(202, { ...view, status: 'started' }, location);
  };

  const status: HttpClientHandler = async (req, client) => {
    const deps = depsOf();
    const id = req.params.id ?? '';
    const instanceId = req.params.instanceId ?? '';
    if (
      !INTEGRATION_ID.test(id) ||
      !instanceId.startsWith(rotationInstancePrefix(id)) ||
      !/^[\w-]{1,200}$/.test(instanceId)
    )
      return problem(404, 'No such rotation');
    const s = await orchestrationStatus(client, instanceId);
    if (!s) return problem(404, 'No such rotation');
    const custom = s.customStatus as Partial<RotationStatus> | null | undefined;
    return json(200, {
      id,
      instanceId,
      statusUrl: statusUrl(deps, id, instanceId),
      runtimeStatus: s.runtimeStatus,
      createdTime: s.createdTime,
      lastUpdatedTime: s.lastUpdatedTime,
      step: custom?.step,
      steps: custom?.steps ?? [],
      rotated: custom?.rotated ?? [],
      confirmed: custom?.confirmed ?? {},
      awaiting: custom?.awaiting,
      outcome: custom?.outcome,
      error: custom?.error,
      orphans: custom?.orphans ?? [],
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
