/**
 * `DELETE /api/integrations/{id}` (function key): starts the decommissioning of an integration
 * (src/orchestrators/decommission-integration.ts). Optional body `{ requestedBy?, reason? }`.
 *
 * - 400: a bad id or body, every problem listed; 413 for a body over 4 KiB; 404: no such integration.
 * - 409: a provisioning, rotation or health run of it is running, or its decommissioning is (Location: the status).
 * - 200: already decommissioned: the outcome (a repeated DELETE changes nothing; DELETE is idempotent,
 *   https://www.rfc-editor.org/rfc/rfc9110#section-9.2.2).
 * - 202: started (or resumed after a rejected, expired or failed one), with the status URL
 *   (`GET /api/integrations/{id}` shows the run's steps under `decommission`).
 *
 * The registry row is set to `decommissioning` here, under its ETag, before the orchestration starts, so a rotation,
 * the rotation sweep, the Key Vault backstop and re-provisioning (which serve only their own statuses) refuse it from
 * that moment. The durable management URLs are never returned.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import { parseDecommissionRequest } from '../api/decommission-request';
import { INTEGRATION_ID } from '../api/integration-request';
import { getDeps, type Deps } from '../app/deps';
import { isHealthInstanceOf } from '../health/start';
import { orchestrationStatus } from '../lib/orchestration-status';
import {
  DECOMMISSION_ORCHESTRATOR,
  decommissionAttempt,
  decommissionInstanceId,
  type DecommissionInput,
} from '../orchestrators/decommission-types';
import type { IntegrationRecord } from '../registry/types';
import * as z from 'zod';

import { contentTooLarge, jsonAs, problem, readText, type Problem } from './http';

/** The answers of `DELETE /api/integrations/{id}`: 202 started, 200 done (with the outcome), 409 running. */
export const decommissionAnswerSchema = z.object({
  id: z.string(),
  status: z.string(),
  statusUrl: z.string(),
  instanceId: z.string().optional(),
  // The registry's record of the decommissioning (instance, when, who asked, why, the status it started from).
  decommission: z
    .object({
      instanceId: z.string(),
      at: z.string(),
      requestedBy: z.string().optional(),
      reason: z.string().optional(),
      previousStatus: z.string().optional(),
      outcome: z.string().optional(),
    })
    .optional(),
  reason: z.string().optional(),
});

const ACTIVE = ['Pending', 'Running', 'ContinuedAsNew'];
const MAX_BODY_BYTES = 4096;

/**
 * The integration's runs that are pending or running: its provisioning run (the row's instance id), its rotations
 * (`rotate-{id}-YYYYMMDD`) and health checks (`health-{id}…`). One runtime-status query, filtered here
 * (durable-functions does not pass an instance-id prefix to the Durable HTTP API).
 */
async function runningRunsOf(client: DurableClient, record: IntegrationRecord): Promise<string[]> {
  const statuses = await client.getStatusBy({ runtimeStatus: ACTIVE as never });
  const id = record.id;
  return statuses
    .map((s) => s.instanceId)
    .filter(
      (i) =>
        i === record.instanceId ||
        (i.startsWith(`rotate-${id}-`) && /^\d{8}$/.test(i.slice(`rotate-${id}-`.length))) ||
        i === `health-${id}` ||
        isHealthInstanceOf(id, i),
    );
}

export function createDecommissionHandler(depsOf: () => Deps = getDeps) {
  return async function deleteIntegration(
    request: HttpRequest,
    client: DurableClient,
    _context: InvocationContext,
  ): Promise<HttpResponseInit> {
    const deps = depsOf();
    const problems: Problem[] = [];
    const id = request.params.id ?? '';
    if (!INTEGRATION_ID.test(id)) problems.push({ field: 'id', message: 'id must look like sn-{instance}-{8 hex}' });
    const read = await readText(request, MAX_BODY_BYTES);
    if (!read.ok) return contentTooLarge(read.limit);
    let body: unknown;
    let parsedJson = true;
    try {
      body = read.text.trim() === '' ? undefined : (JSON.parse(read.text) as unknown);
    } catch {
      parsedJson = false;
      problems.push({ field: '(body)', message: 'body must be JSON' });
    }
    const parsed = parsedJson ? parseDecommissionRequest(body) : undefined;
    if (parsed && !parsed.ok) problems.push(...parsed.problems);
    if (problems.length || !parsed?.ok) return problem(400, 'Invalid request', problems);

    const statusUrl = `${deps.config.publicBaseUrl}/api/integrations/${id}`;
    const location = { Location: statusUrl };
    const found = await deps.registry.get(id);
    if (!found) return problem(404, `No integration ${id}`);
    const record = found.value;
    const view = (r: IntegrationRecord) => ({ id, status: r.status, decommission: r.decommission, statusUrl });

    if (record.status === 'decommissioned') return jsonAs(decommissionAnswerSchema, 200, view(record), location);
    const current = record.decommission?.instanceId;
    if (current) {
      const s = await orchestrationStatus(client, current);
      if (s && ACTIVE.includes(s.runtimeStatus))
        return jsonAs(
          decommissionAnswerSchema,
          409,
          { ...view(record), reason: 'its decommissioning is running' },
          location,
        );
    }
    const running = await runningRunsOf(client, record);
    if (running.length)
      return jsonAs(
        decommissionAnswerSchema,
        409,
        { ...view(record), reason: `a run of it is in progress (${running.join(', ')}); try again when it ends` },
        location,
      );

    const attempt = current ? decommissionAttempt(current) + 1 : 1;
    const instanceId = decommissionInstanceId(id, attempt);
    // A decommissioning that failed half-way resumes with the status it started from.
    const previousStatus =
      record.status === 'decommissioning' ? (record.decommission?.previousStatus ?? 'active') : record.status;
    const at = deps.now().toISOString();
    const requestedBy = parsed.value.requestedBy?.toLowerCase();
    const decommission = {
      instanceId,
      at,
      previousStatus,
      ...(requestedBy ? { requestedBy } : {}),
      ...(parsed.value.reason ? { reason: parsed.value.reason } : {}),
    };
    // Compare-and-set: of two requests that read the same row, the second finds another run on it and answers 409.
    let raced = false;
    await deps.registry.update(id, (cur): IntegrationRecord => {
      if (!cur) throw new Error(`registry row ${id} disappeared`);
      // A re-provisioning or a health repair names its run on the row (a live integration stays `active`).
      raced =
        cur.decommission?.instanceId !== current ||
        cur.status !== record.status ||
        cur.instanceId !== record.instanceId;
      if (raced) return cur;
      return { ...cur, status: 'decommissioning', decommission, updatedAt: at };
    });
    if (raced) return jsonAs(decommissionAnswerSchema, 409, { id, status: 'decommissioning', statusUrl }, location);
    // A rotation or check whose handler read the row before it was written may have started since the query above
    // (they write nothing on the row first): asked again now, it is either seen here, or started after the write and
    // finds the row `decommissioning` (a rotation then rotates nothing; a repair is refused).
    const started = await runningRunsOf(client, record);
    if (started.length) {
      // Only what this request wrote goes back (the status and the decommissioning it named).
      await deps.registry.update(id, (cur) => {
        if (cur?.decommission?.instanceId !== instanceId) return cur ?? record;
        const { decommission: _ours, ...rest } = cur;
        return {
          ...rest,
          status: record.status,
          ...(record.decommission ? { decommission: record.decommission } : {}),
        };
      });
      return jsonAs(
        decommissionAnswerSchema,
        409,
        { ...view(record), reason: `a run of it is in progress (${started.join(', ')}); try again when it ends` },
        location,
      );
    }

    const input: DecommissionInput = {
      ref: {
        integrationId: id,
        instanceId,
        profileId: record.profile,
        tenant: record.tenant,
        tenantName: record.tenantName,
        serviceNowInstance: record.serviceNowInstance,
      },
      requestedBy: requestedBy ? [requestedBy] : [],
      ...(parsed.value.reason ? { reason: parsed.value.reason } : {}),
      ...(record.ticket ? { ticket: record.ticket } : {}),
      settings: {
        quorum: deps.config.approvals.quorum,
        approvalTimeoutMinutes: deps.config.provisioning.approvalTimeoutMinutes,
        reminderIntervalMinutes: deps.config.provisioning.reminderIntervalMinutes,
      },
      previousStatus,
    };
    try {
      await client.startNew(DECOMMISSION_ORCHESTRATOR, { instanceId, input });
    } catch (err) {
      if (/\b409\b/.test((err as Error).message))
        return jsonAs(decommissionAnswerSchema, 409, { id, status: 'decommissioning', statusUrl }, location);
      // Never started: the row gets its previous value back.
      await deps.registry
        .update(id, (cur) => (cur?.decommission?.instanceId === instanceId ? record : (cur ?? record)))
        .catch(() => undefined);
      throw err;
    }
    return jsonAs(decommissionAnswerSchema, 202, { id, status: 'decommissioning', instanceId, statusUrl }, location);
  };
}

export const deleteIntegration = createDecommissionHandler();
