/**
 * Health and drift check triggers, handlers only: src/functions/index.ts registers them (bindings in
 * src/functions/triggers.ts).
 *
 *   timer  healthSweep                                  schedule `%HEALTH_SCHEDULE%` (default daily 03:30 UTC): one
 *                                                       check per active integration and day
 *   POST   /api/integrations/{id}/health[?repair=true]  an on-demand check (function key), optionally repairing
 *   GET    /api/integrations/{id}/health/{instanceId}   a check's status and result (function key)
 *
 * No response carries a durable management URL or a secret.
 */
import type { InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import { getDeps, type Deps } from '../app/deps';
import { INTEGRATION_ID } from '../api/integration-request';
import type { HealthResult } from '../contracts/health';
import {
  ACTIVE_STATES,
  dailyHealthInstanceId,
  healthInput,
  isHealthInstanceOf,
  lastLiveProvisionInput,
  onDemandHealthInstanceId,
  provisioningRunning,
  runningHealthCheck,
  startHealthCheck,
} from '../health/start';
import { ensureErrorType } from '../lib/errors';
import { orchestrationStatus } from '../lib/orchestration-status';
import type { HealthStatus } from '../orchestrators/check-health';
import * as z from 'zod';

import { jsonAs, problem, type Problem } from './http';
import type { HttpClientHandler, TimerClientHandler } from './triggers';

export type HealthDeps = Pick<Deps, 'config' | 'registry' | 'now'>;

/** `POST /api/integrations/{id}/health`: the query the handler validates. */
export const healthQuerySchema = z.object({
  repair: z.enum(['true', 'false'], { error: 'repair must be true or false' }).optional(),
});

/** 202 (started) and 409 (a check is running): the check and where to follow it. */
export const healthStartedSchema = z.object({
  id: z.string(),
  instanceId: z.string(),
  repair: z.boolean().optional(),
  statusUrl: z.string(),
  status: z.string(),
});

const findingSchema = z.object({ kind: z.string(), subject: z.string(), detail: z.string(), repairable: z.boolean() });

/** `GET /api/integrations/{id}/health/{instanceId}`: a check's step and, once it ended, its result. */
export const healthStatusSchema = z.object({
  id: z.string(),
  instanceId: z.string(),
  statusUrl: z.string(),
  runtimeStatus: z.string(),
  createdTime: z.string(),
  lastUpdatedTime: z.string(),
  step: z.string().optional(),
  repairInstanceId: z.string().optional(),
  ok: z.boolean().optional(),
  findings: z.array(findingSchema).optional(),
  found: z.array(z.string()).optional(),
  cleared: z.array(z.string()).optional(),
  repair: z.object({ instanceId: z.string(), outcome: z.string(), remaining: z.array(findingSchema) }).optional(),
  skipped: z.string().optional(),
});

const isoTime = (t: Date | string): string => (t instanceof Date ? t.toISOString() : String(t));

const statusUrl = (deps: HealthDeps, id: string, instanceId: string): string =>
  `${deps.config.publicBaseUrl}/api/integrations/${id}/health/${instanceId}`;

/** The daily sweep: starts today's check of every active integration (idempotent across sweeps and hosts). */
export async function sweepHealth(
  deps: HealthDeps,
  client: DurableClient,
  ctx: Pick<InvocationContext, 'log' | 'warn'>,
): Promise<{ started: string[]; skipped: string[]; problems: string[] }> {
  const now = deps.now();
  const out = { started: [] as string[], skipped: [] as string[], problems: [] as string[] };
  // One query for the whole sweep: which instances are pending or running (provisioning runs, earlier checks).
  const running = (await client.getStatusBy({ runtimeStatus: ACTIVE_STATES })).map((s) => s.instanceId);
  for (const record of (await deps.registry.list()).filter((r) => r.status === 'active')) {
    try {
      if (running.includes(record.instanceId)) {
        out.skipped.push(record.id);
        ctx.log(`health sweep: ${record.id} is being provisioned; checked on the next sweep`);
        continue;
      }
      const provision = await lastLiveProvisionInput(client, record);
      if (!provision) {
        out.problems.push(record.id);
        ctx.warn(`health sweep: ${record.id} has no provisioning run that went live to compare with`);
        continue;
      }
      const input = healthInput(record, provision, dailyHealthInstanceId(record.id, now), false, 'daily');
      const { instanceId, result } = await startHealthCheck(client, input, running);
      if (result === 'started') out.started.push(instanceId);
      else out.skipped.push(record.id);
      ctx.log(`health check ${result} for ${record.id}: instance ${instanceId}`);
    } catch (err) {
      out.problems.push(record.id);
      ctx.warn(`health sweep ${record.id}: ${ensureErrorType(err).message}`);
    }
  }
  ctx.log(
    `health sweep: ${out.started.length} started, ${out.skipped.length} skipped, ${out.problems.length} problem(s)`,
  );
  return out;
}

export function createHealthHandlers(opts: { deps?: () => HealthDeps } = {}): {
  sweep: TimerClientHandler;
  check: HttpClientHandler;
  status: HttpClientHandler;
} {
  const depsOf = opts.deps ?? getDeps;

  const sweep: TimerClientHandler = async (timer, client, ctx) => {
    if (timer.isPastDue) ctx.warn('health sweep is running late (past due)');
    await sweepHealth(depsOf(), client, ctx);
  };

  const check: HttpClientHandler = async (req, client) => {
    const deps = depsOf();
    const id = req.params.id ?? '';
    const problems: Problem[] = [];
    if (!INTEGRATION_ID.test(id)) problems.push({ field: 'id', message: 'id must look like sn-{instance}-{8 hex}' });
    const query = healthQuerySchema.safeParse({ repair: req.query.get('repair') ?? undefined });
    if (req.query.getAll('repair').length > 1)
      problems.push({ field: 'repair', message: 'repair must be given at most once' });
    else if (!query.success)
      problems.push(...query.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })));
    if (problems.length || !query.success) return problem(400, 'Invalid request', problems);
    const repair = query.data.repair === 'true';
    const record = (await deps.registry.get(id))?.value;
    if (!record) return problem(404, `No integration ${id}`);
    if (record.status !== 'active')
      return problem(409, `Integration ${id} is ${record.status}; only an active integration is checked`);
    const running = await runningHealthCheck(client, id);
    if (running)
      return jsonAs(
        healthStartedSchema,
        409,
        { id, instanceId: running, status: 'running', statusUrl: statusUrl(deps, id, running) },
        { Location: statusUrl(deps, id, running) },
      );
    if (await provisioningRunning(client, record))
      return problem(409, `Integration ${id} is being provisioned (${record.instanceId}); check it when that run ends`);
    const provision = await lastLiveProvisionInput(client, record);
    if (!provision) return problem(409, `Integration ${id} has no provisioning run that went live to compare with`);
    const input = healthInput(record, provision, onDemandHealthInstanceId(id, deps.now()), repair, 'on-demand');
    const { instanceId, result } = await startHealthCheck(client, input);
    const view = { id, instanceId, repair, statusUrl: statusUrl(deps, id, instanceId) };
    const location = { Location: view.statusUrl };
    if (result !== 'started') return jsonAs(healthStartedSchema, 409, { ...view, status: 'running' }, location);
    return jsonAs(healthStartedSchema, 202, { ...view, status: 'started' }, location);
  };

  const status: HttpClientHandler = async (req, client) => {
    const deps = depsOf();
    const id = req.params.id ?? '';
    const instanceId = req.params.instanceId ?? '';
    if (!INTEGRATION_ID.test(id) || !isHealthInstanceOf(id, instanceId) || !/^[\w-]{1,200}$/.test(instanceId))
      return problem(404, 'No such health check');
    const s = await orchestrationStatus(client, instanceId);
    if (!s) return problem(404, 'No such health check');
    const custom = s.customStatus as Partial<HealthStatus> | null | undefined;
    const output = s.output as HealthResult | null | undefined;
    return jsonAs(healthStatusSchema, 200, {
      id,
      instanceId,
      statusUrl: statusUrl(deps, id, instanceId),
      runtimeStatus: s.runtimeStatus,
      createdTime: isoTime(s.createdTime),
      lastUpdatedTime: isoTime(s.lastUpdatedTime),
      step: custom?.step,
      ...(custom?.repairInstanceId ? { repairInstanceId: custom.repairInstanceId } : {}),
      ...(output && typeof output === 'object'
        ? {
            ok: output.ok,
            findings: output.findings,
            found: output.found,
            cleared: output.cleared,
            ...(output.repair ? { repair: output.repair } : {}),
            ...(output.skipped ? { skipped: output.skipped } : {}),
          }
        : {}),
    });
  };

  return { sweep, check, status };
}
