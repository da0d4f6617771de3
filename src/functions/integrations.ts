/**
 * The integrations API (thin triggers; function-key auth):
 *   POST /api/integrations         start provisioning (202), or 409 while running, or 200 when already done
 *   GET  /api/integrations/{id}    current step, what was created (ids, names, versions), manual actions, checks,
 *                                  and the decommissioning run when there is one (its steps, plan, removals)
 *   DELETE /api/integrations/{id}  decommission (./decommission.ts)
 *   GET  /api/integrations         every integration in the registry with status and credential expiry
 * Never returns or emails the durable management URLs (they carry the system key,
 * docs/reference/durable-functions.md#management-urls-stay-private).
 */
import { priorState } from '../registry/prior';
import { orchestrationStatus } from '../lib/orchestration-status';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import * as z from 'zod';

import { getDeps, type Deps } from '../app/deps';
import {
  integrationIdFor,
  integrationIdSchema,
  parseIntegrationRequest,
  type NormalisedRequest,
} from '../api/integration-request';
import { canonicalTenant } from '../api/tenant';
import { serviceNowInstanceUrl } from '../config';
import { getProfile } from '../profiles';
import { PROVISION_ORCHESTRATOR, type ProvisionInput, type ProvisionStatus } from '../orchestrators/provision-types';
import type { Versioned } from '../registry/registry';
import type { IntegrationRecord } from '../registry/types';
import type { DecommissionStatus } from '../orchestrators/decommission-types';
import { describeObject, type ApprovalPlan } from '../contracts/provision';
import { resolvePlan } from '../approvals/plan';
import { contentTooLarge, jsonAs, problem, readJson } from './http';

const ACTIVE = new Set(['Pending', 'Running', 'ContinuedAsNew']);

/**
 * The durable instance id of a provisioning run. Each run has its own (`provision-{id}`, then `provision-{id}-r{n}`
 * for re-provisioning): what a run creates is tagged with its instance id, and its approval tokens and email markers
 * are bound to it, so a re-run never takes an earlier run's objects for its own or accepts its links.
 */
export const provisionInstanceId = (integrationId: string, run = 1): string =>
  run <= 1 ? `provision-${integrationId}` : `provision-${integrationId}-r${run}`;

/**
 * Undoes the registry write of a run whose orchestration never started (startNew failed and the durable API knows
 * no such instance), so the row does not stay `provisioning` with no run behind it: an existing row gets its
 * previous value back, a new one is marked failed (the registry has no delete). Best effort: the caller rethrows the
 * start error either way.
 */
async function releaseUnstarted(
  deps: Deps,
  client: DurableClient,
  id: string,
  instanceId: string,
  prior: IntegrationRecord | undefined,
  at: string,
): Promise<void> {
  try {
    if (await orchestrationStatus(client, instanceId).catch(() => undefined)) return; // it started after all
    await deps.registry.update(id, (cur): IntegrationRecord => {
      if (cur && cur.instanceId !== instanceId) return cur; // a later run owns the row now
      if (prior) return prior;
      if (!cur) throw new Error(`registry row ${id} disappeared`);
      return { ...cur, status: 'failed', updatedAt: at };
    });
  } catch {
    // The start error is what the caller reports.
  }
}

function statusUrl(deps: Deps, id: string): string {
  return `${deps.config.publicBaseUrl}/api/integrations/${id}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas of this module's requests and answers (the OpenAPI document is generated from them,
// src/functions/api-operations.ts; the handlers' bodies are checked against them by the compiler).

/** The query of `POST /api/integrations` (other parameters are ignored). */
export const startQuerySchema = z.object({
  reprovision: z.enum(['true', 'false'], { error: 'reprovision must be true or false' }).optional(),
});

/** 202 (started), 409 (running): where to follow the run. */
export const integrationAcceptedSchema = z.object({ id: z.string(), status: z.string(), statusUrl: z.string() });

const appStateSchema = z.object({
  appId: z.string(),
  objectId: z.string(),
  secretName: z.string(),
  secretVersion: z.string().optional(),
  keyId: z.string().optional(),
  expiresOn: z.string().optional(),
  createdOn: z.string().optional(),
  confirmations: z
    .array(z.object({ consumer: z.string(), keyId: z.string(), at: z.string(), by: z.string() }))
    .optional(),
  /** A certificate or federated credential instead of a client secret (names, versions and thumbprints only). */
  credential: z
    .discriminatedUnion('kind', [
      z.object({
        kind: z.literal('certificate'),
        certificateName: z.string(),
        version: z.string(),
        x5t: z.string(),
        keyId: z.string(),
        expiresOn: z.string(),
      }),
      z.object({ kind: z.literal('federated'), name: z.string(), issuer: z.string(), subject: z.string() }),
    ])
    .optional(),
});
const checkSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  detail: z.string(),
  hint: z.string().optional(),
  at: z.string().optional(),
});
const runSchema = z.object({
  instanceId: z.string(),
  outcome: z.string(),
  at: z.string(),
  error: z.string().optional(),
});

/** `GET /api/integrations/{id}/audit`: the integration's audit trail (AuditEntry of src/contracts/fleet.ts), oldest first. */
export const auditListSchema = z.object({
  id: z.string(),
  entries: z.array(
    z.object({
      seq: z.string(),
      kind: z.string(),
      at: z.string(),
      actor: z.string().optional(),
      instanceId: z.string().optional(),
      planDigest: z.string().optional(),
      tokenId: z.string().optional(),
      round: z.number().optional(),
      detail: z.string().optional(),
      data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    }),
  ),
});

/** `GET /api/integrations/{id}` (and 200 of a repeated request). Nested run details are described loosely. */
export const integrationViewSchema = z.object({
  id: z.string(),
  status: z.string(),
  statusUrl: z.string(),
  profile: z.string(),
  tenant: z.string(),
  tenantName: z.string(),
  serviceNowInstance: z.string(),
  ticket: z.object({ table: z.string(), sysId: z.string().optional(), number: z.string().optional() }).optional(),
  orchestration: z
    .object({ runtimeStatus: z.string(), createdTime: z.string(), lastUpdatedTime: z.string() })
    .optional(),
  currentStep: z.string().optional(),
  steps: z.array(z.object({ name: z.string(), at: z.string() })),
  awaiting: z.record(z.string(), z.unknown()).optional(),
  decision: z.record(z.string(), z.unknown()).optional(),
  plan: z.object({ digest: z.string(), mode: z.string(), summary: z.unknown() }).optional(),
  approval: z
    .object({
      approver: z.string(),
      at: z.string(),
      planDigest: z.string().optional(),
      approvers: z.array(z.string()).optional(),
    })
    .optional(),
  lastRun: runSchema.optional(),
  // The last health and drift check (HealthState, src/contracts/fleet.ts).
  health: z
    .object({
      checkedAt: z.string(),
      instanceId: z.string(),
      ok: z.boolean(),
      lastGoodAt: z.string().optional(),
      findings: z.array(
        z.object({ kind: z.string(), subject: z.string(), detail: z.string(), repairable: z.boolean() }),
      ),
    })
    .optional(),
  // The decommissioning run (the registry's `decommission` and the run's step log); described loosely.
  decommission: z
    .object({ instanceId: z.string(), at: z.string(), steps: z.array(z.object({ name: z.string(), at: z.string() })) })
    .loose()
    .optional(),
  created: z.object({ apps: z.record(z.string(), appStateSchema), serviceNow: z.record(z.string(), z.string()) }),
  pendingManualActions: z.array(
    z.object({
      title: z.string(),
      actor: z.string(),
      steps: z.array(z.object({ label: z.string(), value: z.string().optional() })),
    }),
  ),
  checks: z.array(checkSchema),
  outcome: z.string().optional(),
  error: z.string().optional(),
  problems: z.array(z.string()),
  orphans: z.array(z.object({ object: z.unknown(), reason: z.string(), transient: z.boolean().optional() })),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type IntegrationViewBody = z.input<typeof integrationViewSchema>;

/** `GET /api/integrations`. */
export const integrationListSchema = z.object({
  integrations: z.array(
    z.object({
      id: z.string(),
      status: z.string(),
      profile: z.string(),
      tenant: z.string(),
      serviceNowInstance: z.string(),
      statusUrl: z.string(),
      credentials: z.array(
        z.object({
          role: z.string(),
          appId: z.string(),
          secretName: z.string(),
          expiresOn: z.string().optional(),
        }),
      ),
      updatedAt: z.string(),
    }),
  ),
});

/** A durable status time (a Date from the client, a string after JSON): ISO text either way. */
const isoTime = (t: Date | string): string => (t instanceof Date ? t.toISOString() : String(t));

/** The public view of an integration: registry state plus the orchestration's step log. Never a secret. */
export function integrationView(
  deps: Deps,
  record: IntegrationRecord,
  status?: DurableOrchestrationStatus,
  decommissioning?: DurableOrchestrationStatus,
  plan?: ApprovalPlan,
): IntegrationViewBody {
  const custom = (status?.customStatus ?? status?.output) as ProvisionStatus | undefined;
  // The run's status names its plan by digest; the plan itself is what the run keeps (runPlan, below). A run that
  // published its whole plan in its status (before the status was a summary) still shows it.
  const published = custom?.plan;
  const publishedSummary = (published as { summary?: unknown } | undefined)?.summary;
  return {
    id: record.id,
    status: record.status,
    statusUrl: statusUrl(deps, record.id),
    profile: record.profile,
    tenant: record.tenant,
    tenantName: record.tenantName,
    serviceNowInstance: record.serviceNowInstance,
    ticket: record.ticket,
    orchestration: status
      ? {
          runtimeStatus: status.runtimeStatus,
          createdTime: isoTime(status.createdTime),
          lastUpdatedTime: isoTime(status.lastUpdatedTime),
        }
      : undefined,
    currentStep: custom?.step,
    steps: custom?.steps ?? [],
    awaiting: custom?.awaiting,
    decision: custom?.decision,
    // The plan the run applies (what an approver agrees to) and who approved the live one.
    plan: published ? { digest: published.digest, mode: published.mode, summary: plan ?? publishedSummary } : undefined,
    approval: record.approval,
    lastRun: record.lastRun,
    // The last health and drift check (src/orchestrators/check-health.ts).
    health: record.health,
    created: {
      apps: record.apps,
      serviceNow: record.serviceNow,
    },
    pendingManualActions: custom?.manualActions ?? [],
    checks: custom?.checks?.length ? custom.checks : record.checks,
    outcome: custom?.outcome,
    error: custom?.error,
    problems: custom?.problems ?? [],
    orphans: custom?.orphans ?? [],
    ...(record.decommission ? { decommission: decommissionView(record.decommission, decommissioning) } : {}),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** The decommissioning run: what the row records and the run's step log, plan, decision, removals and orphans. */
function decommissionView(
  decommission: NonNullable<IntegrationRecord['decommission']>,
  status?: DurableOrchestrationStatus,
) {
  const custom = (status?.customStatus ?? status?.output) as DecommissionStatus | undefined;
  return {
    ...decommission,
    ...(status ? { runtimeStatus: status.runtimeStatus } : {}),
    currentStep: custom?.step,
    steps: custom?.steps ?? [],
    awaiting: custom?.awaiting,
    decision: custom?.decision,
    plan: custom?.plan
      ? {
          digest: custom.plan.digest,
          remove: custom.plan.remove.map(describeObject),
          keep: custom.plan.keep.map((k) => `${k.what}: ${k.reason}`),
        }
      : undefined,
    removed: (custom?.removed ?? []).map(describeObject),
    orphans: custom?.orphans ?? [],
    outcome: custom?.outcome,
    error: custom?.error,
  };
}

/**
 * The plan the provisioning run `status` applies, built from the source the run keeps, only when it has the digest the
 * run's status holds (src/approvals/plan.ts resolvePlan); undefined otherwise.
 */
export async function runPlan(deps: Deps, status?: DurableOrchestrationStatus): Promise<ApprovalPlan | undefined> {
  const digest = ((status?.customStatus ?? status?.output) as ProvisionStatus | undefined)?.plan?.digest;
  if (!status || !digest) return undefined;
  const kept = await deps.approvalTokens.runPlan(status.instanceId);
  if (!kept || kept.digest !== digest) return undefined;
  const resolved = resolvePlan(kept.source, digest);
  return resolved.ok ? resolved.plan : undefined;
}

function provisionInput(
  deps: Deps,
  req: NormalisedRequest,
  tenant: { tenantId: string; domain?: string },
  integrationId: string,
  instanceId: string,
  operation: string,
): ProvisionInput {
  const { config } = deps;
  return {
    ref: {
      integrationId,
      instanceId,
      profileId: req.profile,
      tenant: tenant.tenantId,
      tenantName: req.tenantName,
      serviceNowInstance: req.serviceNowInstance,
    },
    ...(tenant.domain ? { tenantDomain: tenant.domain, tenantResolvedAt: deps.now().toISOString() } : {}),
    ...(req.approvers ? { approvers: [...new Set(req.approvers.map((a) => a.toLowerCase()))] } : {}),
    requestedBy: req.requestedBy ? [req.requestedBy.toLowerCase()] : [],
    ...(req.ticket ? { ticket: req.ticket } : {}),
    options: {
      testEnvironment: req.options?.testEnvironment ?? false,
      ipAllowlist: req.options?.ipAllowlist ?? false,
      // The profile maps request roles to ServiceNow role names (x_mioms_m365_assis.insights_user, ...): only roles
      // it declares can be granted.
      grantUsers: (req.options?.grantUsers ?? []).map((g) => ({
        userName: g.userName,
        role: grantableRole(req.profile, g.role),
      })),
      ...(req.options?.secretLifetimeDays ? { secretLifetimeDays: req.options.secretLifetimeDays } : {}),
      ...(req.options?.redirectUri ? { redirectUri: req.options.redirectUri } : {}),
      ...(req.options?.permissionTier ? { permissionTier: req.options.permissionTier } : {}),
      ...(req.options?.credential ? { credential: req.options.credential } : {}),
    },
    settings: {
      quorum: config.approvals.quorum,
      approvalTimeoutMinutes: config.provisioning.approvalTimeoutMinutes,
      reminderIntervalMinutes: config.provisioning.reminderIntervalMinutes,
      onDeadline: config.provisioning.onDeadline,
      checkAttempts: config.provisioning.checkAttempts,
      checkRetrySeconds: config.provisioning.checkRetrySeconds,
      certificateValidityMonths: config.provisioning.certificateValidityMonths,
    },
    endpoints: {
      authorityHost: config.entra.authorityHost,
      instanceUrl: serviceNowInstanceUrl(config, req.serviceNowInstance),
      graphUrl: config.graph.baseUrl,
    },
    operation,
  };
}

/**
 * Redirect URIs must stay on the instance's own host (https): an Entra app whose redirect URI points elsewhere could
 * send authorization codes to a stranger (https://learn.microsoft.com/entra/identity-platform/reply-url).
 */
function redirectUriProblem(deps: Deps, req: NormalisedRequest): { field: string; message: string } | undefined {
  const uri = req.options?.redirectUri;
  if (!uri) return undefined;
  const instance = new URL(serviceNowInstanceUrl(deps.config, req.serviceNowInstance));
  const u = new URL(uri);
  if (u.protocol === 'https:' && u.host === instance.host) return undefined;
  return {
    field: 'options.redirectUri',
    message: `redirectUri must be an https URL on the instance's own host ${instance.host}`,
  };
}

export async function startIntegration(
  request: HttpRequest,
  client: DurableClient,
  _context: InvocationContext,
  deps: Deps = getDeps(),
): Promise<HttpResponseInit> {
  // Every problem at once: the query parameter's and the body's.
  const problems: { field: string; message: string }[] = [];
  const query = startQuerySchema.safeParse({ reprovision: request.query.get('reprovision') ?? undefined });
  if (request.query.getAll('reprovision').length > 1)
    problems.push({ field: 'reprovision', message: 'reprovision must be given at most once' });
  else if (!query.success)
    problems.push(...query.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })));
  const reprovisionParam = query.data?.reprovision;
  const body = await readJson(request);
  if (!body.ok && body.reason === 'too-large') return contentTooLarge(body.limit);
  const parsed = body.ok ? parseIntegrationRequest(body.value) : undefined;
  if (!body.ok) problems.push({ field: '(body)', message: 'body must be JSON' });
  else if (parsed && !parsed.ok) problems.push(...parsed.problems);
  if (problems.length || !parsed?.ok) return problem(400, 'Invalid request', problems);
  const req = parsed.value;
  const redirect = redirectUriProblem(deps, req);
  if (redirect) return problem(400, 'Invalid request', [redirect]);
  // One tenant, one id: a domain and the tenant's id name the same integration.
  const tenant = await canonicalTenant(deps.config, req.tenant);
  if (!tenant.ok)
    return tenant.status === 400
      ? problem(400, 'Invalid request', [{ field: 'tenant', message: tenant.message }])
      : problem(503, 'Tenant could not be resolved', [{ field: 'tenant', message: tenant.message }]);
  const id = integrationIdFor(tenant.tenantId, req.serviceNowInstance, req.profile);
  const existing = await deps.registry.get(id);
  // A decommissioned integration is a record of what was; one being decommissioned is on its way there.
  if (existing && (existing.value.status === 'decommissioning' || existing.value.status === 'decommissioned'))
    return problem(409, `Integration ${id} is ${existing.value.status}; it is not provisioned again`);
  const running = await orchestrationStatus(client, existing?.value.instanceId ?? provisionInstanceId(id));
  if (running && ACTIVE.has(running.runtimeStatus))
    return jsonAs(
      integrationAcceptedSchema,
      409,
      { id, status: existing?.value.status ?? 'provisioning', statusUrl: statusUrl(deps, id) },
      { Location: statusUrl(deps, id) },
    );
  if (existing && running && reprovisionParam !== 'true')
    return jsonAs(
      integrationViewSchema,
      200,
      integrationView(deps, existing.value, running, undefined, await runPlan(deps, running)),
      {
        Location: statusUrl(deps, id),
      },
    );

  const at = deps.now().toISOString();
  const runs = existing ? (existing.value.runs ?? 1) + 1 : 1;
  const instanceId = provisionInstanceId(id, runs);
  const input = provisionInput(deps, req, tenant, id, instanceId, 'provision');
  const prior = existing?.value;
  if (prior) Object.assign(input, priorState(prior), { liveStatus: prior.status });
  // A live integration stays live while it is re-provisioned (rotation keeps going); anything else is provisioning.
  // Compare-and-set on the run: of two requests that read the same state, the second finds another run named on the
  // row and answers 409 (it never starts a second run). What an existing integration was approved with (ticket,
  // tenant name) stays until a run of the new request ends active.
  let raced = false;
  await deps.registry.update(id, (cur): IntegrationRecord => {
    // A decommissioning that took the row since it was read keeps it (its run removes what this one would write).
    raced =
      (cur?.instanceId ?? undefined) !== (prior?.instanceId ?? undefined) ||
      cur?.status === 'decommissioning' ||
      cur?.status === 'decommissioned';
    if (raced && cur) return cur;
    return {
      ...(cur ?? { apps: {}, serviceNow: {}, checks: [], createdAt: at }),
      id,
      profile: req.profile,
      tenant: tenant.tenantId,
      ...(!cur && tenant.domain ? { tenantDomain: tenant.domain } : {}),
      ...(!cur && req.ticket ? { ticket: req.ticket } : {}),
      tenantName: cur?.tenantName ?? req.tenantName,
      serviceNowInstance: req.serviceNowInstance,
      status: cur?.status === 'active' ? 'active' : 'provisioning',
      instanceId,
      runs,
      updatedAt: at,
    };
  });
  if (raced)
    return jsonAs(
      integrationAcceptedSchema,
      409,
      { id, status: 'provisioning', statusUrl: statusUrl(deps, id) },
      { Location: statusUrl(deps, id) },
    );
  try {
    // The request enters the audit trail before its run starts: nothing happens that the trail does not show.
    await deps.audit.append(id, [
      {
        kind: 'requested',
        at,
        actor: input.requestedBy[0] ?? 'unknown',
        instanceId,
        detail:
          `${runs > 1 ? 're-provisioning' : 'provisioning'} requested: profile ${req.profile}, tenant ${tenant.tenantId}, ` +
          `instance ${req.serviceNowInstance}${req.ticket?.number ? `, ticket ${req.ticket.number}` : ''}`,
        data: { run: runs },
      },
    ]);
    await client.startNew(PROVISION_ORCHESTRATOR, { instanceId, input });
  } catch (err) {
    // Two requests raced past the status check: the second start is refused by the durable API (409).
    if (/\b409\b/.test((err as Error).message))
      return jsonAs(
        integrationAcceptedSchema,
        409,
        { id, status: 'provisioning', statusUrl: statusUrl(deps, id) },
        { Location: statusUrl(deps, id) },
      );
    await releaseUnstarted(deps, client, id, instanceId, prior, at);
    throw err;
  }
  return jsonAs(
    integrationAcceptedSchema,
    202,
    { id, status: 'provisioning', statusUrl: statusUrl(deps, id) },
    { Location: statusUrl(deps, id) },
  );
}

function grantableRole(profileId: string, role: string): string {
  return getProfile(profileId)?.serviceNow.grantableUserRoles[role] ?? role;
}

/** The integration the route's `{id}` names: 400 for a malformed id, 404 for one not registered. */
async function registered(
  request: HttpRequest,
  deps: Deps,
): Promise<{ ok: false; response: HttpResponseInit } | { ok: true; id: string; record: Versioned<IntegrationRecord> }> {
  const parsedId = integrationIdSchema.safeParse(request.params.id ?? '');
  if (!parsedId.success)
    return {
      ok: false,
      response: problem(400, 'Invalid request', [{ field: 'id', message: parsedId.error.issues[0].message }]),
    };
  const id = parsedId.data;
  const record = await deps.registry.get(id);
  return record ? { ok: true, id, record } : { ok: false, response: problem(404, `No integration ${id}`) };
}

export async function getIntegration(
  request: HttpRequest,
  client: DurableClient,
  _context: InvocationContext,
  deps: Deps = getDeps(),
): Promise<HttpResponseInit> {
  const found = await registered(request, deps);
  if (!found.ok) return found.response;
  const { record } = found;
  const decommission = record.value.decommission?.instanceId;
  const status = await orchestrationStatus(client, record.value.instanceId);
  return jsonAs(
    integrationViewSchema,
    200,
    integrationView(
      deps,
      record.value,
      status,
      decommission ? await orchestrationStatus(client, decommission) : undefined,
      await runPlan(deps, status),
    ),
  );
}

/** GET /api/integrations/{id}/audit: the integration's audit trail, oldest first. */
export async function getAudit(
  request: HttpRequest,
  _client: DurableClient,
  _context: InvocationContext,
  deps: Deps = getDeps(),
): Promise<HttpResponseInit> {
  const found = await registered(request, deps);
  if (!found.ok) return found.response;
  const { id } = found;
  const entries = await deps.audit.list(id);
  return jsonAs(auditListSchema, 200, { id, entries: entries.map(({ integrationId: _id, ...e }) => e) });
}

export async function listIntegrations(
  _request: HttpRequest,
  _client: DurableClient,
  _context: InvocationContext,
  deps: Deps = getDeps(),
): Promise<HttpResponseInit> {
  const records = await deps.registry.list();
  const body: z.input<typeof integrationListSchema> = {
    integrations: records.map((r) => ({
      id: r.id,
      status: r.status,
      profile: r.profile,
      tenant: r.tenant,
      serviceNowInstance: r.serviceNowInstance,
      statusUrl: statusUrl(deps, r.id),
      credentials: Object.entries(r.apps).map(([role, a]) => ({
        role,
        appId: a.appId,
        secretName: a.secretName,
        expiresOn: a.expiresOn,
      })),
      updatedAt: r.updatedAt,
    })),
  };
  return jsonAs(integrationListSchema, 200, body);
}
