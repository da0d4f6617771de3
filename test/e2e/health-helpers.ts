/**
 * Helpers of the health and drift check end-to-end tests: provisioning an integration to `active`, running the daily
 * sweep and on-demand checks through the local host, and reading the audit trail and the registry.
 */
import { TERMINAL, type InstanceStatus } from '../../sandbox/durable/engine';
import type { LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import type { AuditEntry, HealthFinding } from '../../src/contracts/fleet';
import type { HealthResult } from '../../src/contracts/health';
import { resetConfigCache } from '../../src/config';
import { dailyHealthInstanceId } from '../../src/health/start';
import { api, approverOf, decideFromEmail, runToApproval, runToEnd, startProvisioning, view } from './stack-driver';

export const DAY = 24 * 60 * 60_000;

/** Provisions `request` to `active` (approved by the sandbox approver) and returns the integration id. */
export async function provisionActive(stack: LocalStack, request: Record<string, unknown>): Promise<string> {
  const id = await startProvisioning(stack, request);
  await runToApproval(stack, id);
  expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
  expect((await runToEnd(stack, id)).outcome).toBe('active');
  expect((await view(stack, id)).status).toBe('active');
  return id;
}

/** Runs an orchestration instance to its end, moving virtual time while it waits (check retries, durable retries). */
export async function runInstance(stack: LocalStack, instanceId: string, maxAdvanceMs = 10 * 60_000) {
  for (let advanced = 0; ; advanced += 15_000) {
    await stack.host.durable.waitForIdle(30_000);
    const s = stack.host.durable.getStatus(instanceId);
    if (!s) throw new Error(`no instance ${instanceId}`);
    if (TERMINAL.includes(s.runtimeStatus)) return s;
    if (advanced >= maxAdvanceMs) throw new Error(`instance ${instanceId} still ${s.runtimeStatus}`);
    await stack.host.advanceTime(15_000);
  }
}

export const resultOf = (s: InstanceStatus): HealthResult => {
  if (s.runtimeStatus !== 'Completed')
    throw new Error(`health check ended ${s.runtimeStatus}: ${JSON.stringify(s.output)}`);
  return s.output as HealthResult;
};

/** Runs the daily sweep (the timer through the local host) and today's check of `id` to its end. */
export async function dailyCheck(stack: LocalStack, id: string): Promise<HealthResult> {
  await stack.host.runTimer('healthSweep');
  const instanceId = dailyHealthInstanceId(id, getDeps().now());
  return resultOf(await runInstance(stack, instanceId));
}

/** Runs every daily check the sweep started (all active integrations). */
export async function dailySweep(stack: LocalStack, ids: string[]): Promise<Record<string, HealthResult>> {
  await stack.host.runTimer('healthSweep');
  const out: Record<string, HealthResult> = {};
  for (const id of ids) out[id] = resultOf(await runInstance(stack, dailyHealthInstanceId(id, getDeps().now())));
  return out;
}

/** Moves the sandbox clock (and the product's, which follows it) to the next day. */
export function nextDay(stack: LocalStack): void {
  stack.sandbox.clock.advance(DAY);
  resetConfigCache();
}

/** POST /api/integrations/{id}/health[?repair=…], then runs the check to its end. */
export async function checkNow(stack: LocalStack, id: string, repair?: boolean): Promise<HealthResult> {
  const res = await api(
    stack,
    'POST',
    `/api/integrations/${id}/health${repair === undefined ? '' : `?repair=${repair}`}`,
  );
  if (res.status !== 202) throw new Error(`POST health answered ${res.status}: ${res.text}`);
  const { instanceId } = res.json as { instanceId: string };
  return resultOf(await runInstance(stack, instanceId, 30 * 60_000));
}

export const auditOf = (id: string): Promise<AuditEntry[]> => getDeps().audit.list(id);

/** How many `kind` audit events name each subject. */
export async function subjectCounts(
  id: string,
  kind: 'drift-found' | 'drift-cleared',
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const e of await auditOf(id))
    if (e.kind === kind) {
      const s = String(e.data?.subject);
      out[s] = (out[s] ?? 0) + 1;
    }
  return out;
}

export const subjects = (findings: HealthFinding[]): string[] => findings.map((f) => f.subject).sort();
