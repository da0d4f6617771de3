/**
 * Starting health checks: one deterministic instance per integration and day for the daily sweep
 * (`health-{integrationId}-{yyyymmdd}`; starting an existing one is a no-op, as src/rotation/start.ts does for
 * rotations), and one per request for the on-demand endpoint. A check compares the live state with what the
 * integration's last provisioning run that went live applied, so its input is read back from that run (the durable
 * status with its input, https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api#get-instance-status).
 */
import { priorState } from '../registry/prior';
import { randomBytes } from 'node:crypto';

import { OrchestrationRuntimeStatus, type DurableClient, type DurableOrchestrationStatus } from 'durable-functions';

import { HEALTH_ORCHESTRATOR, type HealthInput } from '../contracts/health';
import { provisionInstanceId } from '../functions/integrations';
import type { ProvisionInput, ProvisionStatus } from '../orchestrators/provision-types';
import type { IntegrationRecord } from '../registry/types';
import { yyyymmdd } from '../rotation/ids';

export type HealthStartResult = 'started' | 'running' | 'completed';

export const ACTIVE_STATES: OrchestrationRuntimeStatus[] = [
  OrchestrationRuntimeStatus.Pending,
  OrchestrationRuntimeStatus.Running,
  OrchestrationRuntimeStatus.ContinuedAsNew,
];

export const healthInstancePrefix = (integrationId: string): string => `health-${integrationId}-`;
/**
 * Whether `instanceId` is a health check of this integration (daily or on demand). The prefix alone is not enough: an
 * integration id may extend another's (`sn-dev1-0a1b2c3d` and `sn-dev1-0a1b2c3d-1f2e3d4c` for instance
 * `dev1-0a1b2c3d`), so what follows it must be the check's own suffix.
 */
export const isHealthInstanceOf = (integrationId: string, instanceId: string): boolean =>
  instanceId.startsWith(healthInstancePrefix(integrationId)) &&
  /^\d{8}(?:t\d{6}-[0-9a-f]{6})?$/.test(instanceId.slice(healthInstancePrefix(integrationId).length));
/** The daily check: `health-{integrationId}-{yyyymmdd}`. */
export const dailyHealthInstanceId = (integrationId: string, day: Date): string =>
  `${healthInstancePrefix(integrationId)}${yyyymmdd(day)}`;
/** An on-demand check: `health-{integrationId}-{yyyymmdd}t{hhmmss}-{6 hex}`, one per request. */
export const onDemandHealthInstanceId = (integrationId: string, now: Date): string =>
  `${healthInstancePrefix(integrationId)}${now.toISOString().slice(0, 19).replace(/[-:]/g, '').toLowerCase()}-${randomBytes(3).toString('hex')}`;

const isNotFound = (err: unknown): boolean => /HTTP 404/.test(err instanceof Error ? err.message : String(err));
const isConflict = (err: unknown): boolean => /status code: 409/.test(err instanceof Error ? err.message : String(err));

async function statusWithInput(
  client: DurableClient,
  instanceId: string,
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput: true });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The input of the newest provisioning run of the integration that ended active (the applied, approved plan). */
export async function lastLiveProvisionInput(
  client: DurableClient,
  record: IntegrationRecord,
): Promise<ProvisionInput | undefined> {
  for (let run = record.runs ?? 1; run >= 1; run--) {
    const s = await statusWithInput(client, provisionInstanceId(record.id, run));
    const output = s?.output as Partial<ProvisionStatus> | null | undefined;
    if (s?.runtimeStatus === OrchestrationRuntimeStatus.Completed && output?.outcome === 'active' && s.input)
      return s.input as ProvisionInput;
  }
  return undefined;
}

/** True while the provisioning run the registry row names is pending or running. */
export async function provisioningRunning(client: DurableClient, record: IntegrationRecord): Promise<boolean> {
  const s = await statusWithInput(client, record.instanceId);
  return s !== undefined && ACTIVE_STATES.includes(s.runtimeStatus);
}

/** The health check of the integration now pending or running, if any. */
export async function runningHealthCheck(client: DurableClient, integrationId: string): Promise<string | undefined> {
  const statuses = await client.getStatusBy({ runtimeStatus: ACTIVE_STATES });
  return statuses.find((s) => isHealthInstanceOf(integrationId, s.instanceId))?.instanceId;
}

/** The check's input; with `repair`, the re-provisioning run a repair would start (as `?reprovision=true` builds it). */
export function healthInput(
  record: IntegrationRecord,
  provision: ProvisionInput,
  instanceId: string,
  repair: boolean,
  reason: HealthInput['reason'],
): HealthInput {
  const input: HealthInput = {
    ref: { ...provision.ref, instanceId, tenantName: record.tenantName },
    provision,
    repair,
    reason,
  };
  if (!repair) return input;
  const run = (record.runs ?? 1) + 1;
  const re: ProvisionInput = {
    ...provision,
    ref: { ...provision.ref, instanceId: provisionInstanceId(record.id, run) },
    liveStatus: record.status,
  };
  Object.assign(re, priorState(record));
  input.repairRun = { input: re, run, expectInstanceId: record.instanceId };
  return input;
}

/**
 * Starts the check once: another check of the integration running → `running`; the id pending or running →
 * `running`; completed → `completed` (a no-op); failed or terminated → started again under the same id; a start
 * that loses a race (HTTP 409) → `running`.
 */
export async function startHealthCheck(
  client: DurableClient,
  input: HealthInput,
  /** The instances pending or running, when the caller (the sweep) listed them once for every integration. */
  running?: readonly string[],
): Promise<{ instanceId: string; result: HealthStartResult }> {
  const instanceId = input.ref.instanceId;
  const other = running
    ? running.find((id) => id.startsWith(healthInstancePrefix(input.ref.integrationId)))
    : await runningHealthCheck(client, input.ref.integrationId);
  if (other !== undefined) return { instanceId: other, result: 'running' };
  const status = (await statusWithInput(client, instanceId))?.runtimeStatus;
  if (status !== undefined && ACTIVE_STATES.includes(status)) return { instanceId, result: 'running' };
  if (status === OrchestrationRuntimeStatus.Completed) return { instanceId, result: 'completed' };
  try {
    await client.startNew(HEALTH_ORCHESTRATOR, { instanceId, input });
  } catch (err) {
    if (isConflict(err)) return { instanceId, result: 'running' };
    throw err;
  }
  return { instanceId, result: 'started' };
}
