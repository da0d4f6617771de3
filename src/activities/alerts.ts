import { evaluateIntegration, type AlertEvaluation } from '../alerts/evaluate';
import type { Deps } from '../app/deps';
import type { RaiseAlertsInput } from '../contracts/fleet';
import { logLine, type ActivityLog } from './log';

/**
 * Evaluates the alerts of one integration (the health check calls it at its end; the hourly `alertSweep` timer does
 * the same for every integration). `at` is the caller's time (an orchestrator's currentUtcDateTime): the evaluation
 * runs as of then, so a retried activity decides the same day and records the same audit events. Activities have no
 * durable client, so the overdue approval and hand-off conditions are left to the sweep (never resolved from here).
 * A delivery that fails is reported in the result and retried by the next evaluation; it does not fail the activity.
 */
export async function raiseAlerts(
  input: RaiseAlertsInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<AlertEvaluation | { integrationId: string; found: false }> {
  const row = await deps.registry.get(input.integrationId);
  if (!row) return { integrationId: input.integrationId, found: false };
  const at = new Date(input.at);
  const result = await evaluateIntegration(deps, row.value, undefined, Number.isNaN(at.getTime()) ? deps.now() : at);
  if (result.sent.length || result.failed.length)
    logLine(
      log,
      result.failed.length ? 'warn' : 'info',
      `alerts of ${input.integrationId}: ${result.sent.length} sent, ${result.failed.length} failed${result.failed.length ? ` (${result.failed.map((f) => `${f.channel}: ${f.reason}`).join('; ')})` : ''}`,
    );
  return result;
}
