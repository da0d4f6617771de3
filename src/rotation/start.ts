/**
 * Starting a rotation orchestration exactly once per integration and due date, whoever asks (the sweep, the
 * on-demand endpoint, the Event Grid backstop, two hosts at once):
 * 1. another rotation of the integration running under any id → not started (`running`);
 * 2. getStatus of the deterministic id: Pending/Running → `running`; Completed → `completed` (a Failed or
 *    Terminated instance is started again under the same id, which the Durable runtime allows for non-running
 *    states: overridableExistingInstanceStates = NonRunningStates, Durable Functions 2.x default);
 * 3. startNew; HTTP 409 (an instance with that id started between 2 and 3) → `running`.
 * The Durable HTTP API answers a duplicate start of a running id with 409
 * (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api#start-orchestration);
 * durable-functions 3.5.0 surfaces it as "unexpected status code: 409" (lib/src/durableClient/DurableClient.js).
 */
import { orchestrationStatus } from '../lib/orchestration-status';
import { OrchestrationRuntimeStatus, type DurableClient } from 'durable-functions';

import { serviceNowInstanceUrl, type AppConfig } from '../config';
import { ROTATION_ORCHESTRATOR, type RotationInput } from '../orchestrators/rotation-types';
import type { IntegrationRecord } from '../registry/types';
import { rotationInstanceId, rotationInstancePrefix, rotationOperation } from './ids';

export type StartResult = 'started' | 'running' | 'completed';

const ACTIVE: OrchestrationRuntimeStatus[] = [
  OrchestrationRuntimeStatus.Pending,
  OrchestrationRuntimeStatus.Running,
  OrchestrationRuntimeStatus.ContinuedAsNew,
];

/** The orchestration input for a rotation of `roles` of one integration, due on `dueDate`. */
export function rotationInput(
  config: Pick<AppConfig, 'rotation' | 'entra' | 'serviceNow'> & {
    provisioning?: Pick<AppConfig['provisioning'], 'certificateValidityMonths'>;
  },
  record: IntegrationRecord,
  roles: string[],
  dueDate: Date,
  reason: RotationInput['reason'],
): RotationInput {
  const r = config.rotation;
  return {
    ref: {
      integrationId: record.id,
      instanceId: rotationInstanceId(record.id, dueDate),
      profileId: record.profile,
      tenant: record.tenant,
      tenantName: record.tenantName,
      serviceNowInstance: record.serviceNowInstance,
    },
    roles,
    operation: rotationOperation(dueDate),
    reason,
    approvers: record.approvers ?? [],
    ...(record.ticket ? { ticket: record.ticket } : {}),
    settings: {
      secretLifetimeDays: r.secretLifetimeDays,
      graceMinutes: r.graceMinutes,
      handoffReminderMinutes: r.handoffReminderMinutes,
      handoffDeadlineMinutes: r.handoffDeadlineMinutes,
      verifyAttempts: r.verifyAttempts,
      verifyRetrySeconds: r.verifyRetrySeconds,
      ...(config.provisioning?.certificateValidityMonths
        ? { certificateValidityMonths: config.provisioning.certificateValidityMonths }
        : {}),
    },
    endpoints: {
      authorityHost: config.entra.authorityHost,
      instanceUrl: serviceNowInstanceUrl(config, record.serviceNowInstance),
    },
  };
}

const isConflict = (err: unknown): boolean => /status code: 409/.test(err instanceof Error ? err.message : String(err));

/**
 * Ids of the rotation instances now pending or running, by integration. durable-functions 3.5.0 does not pass an
 * instance-id prefix to the Durable HTTP API, so the runtime-status query is filtered here.
 */
export async function runningRotations(client: DurableClient): Promise<Map<string, string>> {
  const statuses = await client.getStatusBy({ runtimeStatus: ACTIVE });
  const out = new Map<string, string>();
  for (const s of statuses) {
    const m = /^rotate-(.+)-\d{8}$/.exec(s.instanceId);
    if (m) out.set(m[1], s.instanceId);
  }
  return out;
}

/**
 * Starts the rotation once. `running` (a map from runningRotations) lets a caller that starts many reuse one query;
 * without it the query runs here.
 */
export async function startRotation(
  client: DurableClient,
  input: RotationInput,
  running?: Map<string, string>,
): Promise<{ instanceId: string; result: StartResult }> {
  const instanceId = input.ref.instanceId;
  const other = (running ?? (await runningRotations(client))).get(input.ref.integrationId);
  if (other !== undefined) return { instanceId: other, result: 'running' };
  if (!instanceId.startsWith(rotationInstancePrefix(input.ref.integrationId)))
    throw new Error(`rotation instance id ${instanceId} does not belong to ${input.ref.integrationId}`);
  const status = (await orchestrationStatus(client, instanceId))?.runtimeStatus;
  if (status !== undefined && ACTIVE.includes(status)) return { instanceId, result: 'running' };
  if (status === OrchestrationRuntimeStatus.Completed) return { instanceId, result: 'completed' };
  try {
    await client.startNew(ROTATION_ORCHESTRATOR, { instanceId, input });
  } catch (err) {
    if (isConflict(err)) return { instanceId, result: 'running' };
    throw err;
  }
  return { instanceId, result: 'started' };
}
