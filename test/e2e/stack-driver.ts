/**
 * Helpers for the end-to-end tests of part B (rejection, deadline, injected failures, compensation and orphans).
 * Everything goes through the product's HTTP API, the emailed approval link, the real DurableClient and the local
 * Functions host against the sandbox; the sandbox's in-process accessors are only used to look at the result.
 *
 * Each test uses its own ServiceNow instance (so its own integration id) instead of resetting the sandbox: a reset
 * moves the sandbox clock back, and tokens the product cached after a clock advance would then be "not yet valid"
 * (Entra back-dates nbf by 5 minutes only; sandbox/entra/tokens.ts).
 */
import type { InstanceStatus } from '../../sandbox/durable/engine';
import { TERMINAL } from '../../sandbox/durable/engine';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import { resetConfigCache } from '../../src/config';
import { EventType } from '../../sandbox/durable/history';
import type { AppResult, RecordResult, SecretResult } from '../../src/contracts/provision';
import type { ProvisionStatus } from '../../src/orchestrators/provision-types';
import { api, customStatus, latestInstanceIdOf, mailsTo } from './api-driver';

export { api, customStatus, decideFromEmail, instanceIdOf, mailsTo, waitForApproval } from './api-driver';

/** The open incident every seeded instance has (sandbox/servicenow/seed.ts). */
export const TICKET = { table: 'incident', number: 'INC0000046', sysId: 'a9e30c7dc61122760116894de7bcc7bd' };

/**
 * Starts the local stack serving `instances`. With token auth (the default) every instance trusts the Function
 * identity as if its administrator had run the bootstrap script, and no ServiceNow password exists anywhere; for
 * `withoutCredentials` the trust is revoked (the machine user deactivated, docs/deploy.md "Connect an instance"): a
 * preflight problem. With `serviceNowAuth: 'basic'` the admin credentials of each instance are stored in Key Vault
 * instead (a deployer stores them per instance), except for `withoutCredentials`.
 */
export async function startStackFor(
  instances: string[],
  opts: LocalStackOptions = {},
  withoutCredentials: string[] = [],
): Promise<LocalStack> {
  const stack = await startLocalStack({ ...opts, servicenow: { ...opts.servicenow, instances } });
  const sn = stack.sandbox.servicenow;
  if (opts.serviceNowAuth === 'basic') {
    for (const instance of instances.slice(1).filter((i) => !withoutCredentials.includes(i))) {
      stack.sandbox.keyvault.seedSecret(`servicenow-${instance}-username`, sn.adminUser, {
        purpose: 'servicenow-admin',
      });
      stack.sandbox.keyvault.seedSecret(`servicenow-${instance}-password`, sn.adminPassword, {
        purpose: 'servicenow-admin',
      });
    }
    return stack;
  }
  for (const instance of withoutCredentials) revokeTrust(stack, instance);
  return stack;
}

/** Deactivates the control plane's machine user on `instance`: the instance no longer accepts our tokens. */
export function revokeTrust(stack: LocalStack, instance: string): void {
  const oid = stack.env().SERVICENOW_IDENTITY_OBJECT_ID;
  const user = stack.sandbox.servicenow.records(instance, 'sys_user').find((r) => r.values.user_name === oid);
  if (!user) throw new Error(`no machine user ${oid} on ${instance}`);
  user.values.active = 'false';
}

/** Runs `fn` with app settings overridden (the HTTP starter reads them when the request arrives). */
export async function withSettings<T>(settings: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const previous = Object.fromEntries(Object.keys(settings).map((k) => [k, process.env[k]]));
  Object.assign(process.env, settings);
  resetConfigCache();
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetConfigCache();
  }
}

export const approverOf = (stack: LocalStack): string => `approver@${stack.env().SANDBOX_TENANT_DOMAIN}`;

/** A valid request for `instance`, from the seeded open incident. */
export function requestFor(stack: LocalStack, instance: string, extra: Record<string, unknown> = {}) {
  return {
    tenant: stack.env().SANDBOX_TENANT_DOMAIN,
    tenantName: 'Contoso',
    serviceNowInstance: instance,
    // Narrowed to two of the policy's approvers (a request may not narrow a round to the quorum alone).
    approvers: [approverOf(stack), `second.${approverOf(stack)}`],
    ticket: { table: TICKET.table, number: TICKET.number },
    options: { testEnvironment: true },
    ...extra,
  };
}

/** POST /api/integrations; expects 202 and returns the integration id. */
export async function startProvisioning(stack: LocalStack, request: Record<string, unknown>): Promise<string> {
  const res = await api(stack, 'POST', '/api/integrations', { body: request });
  if (res.status !== 202) throw new Error(`POST /api/integrations answered ${res.status}: ${res.text}`);
  return (res.json as { id: string }).id;
}

/** GET /api/integrations/{id} (the public view). */
export async function view(stack: LocalStack, id: string): Promise<IntegrationViewB> {
  const res = await api(stack, 'GET', `/api/integrations/${id}`);
  if (res.status !== 200) throw new Error(`GET /api/integrations/${id} answered ${res.status}: ${res.text}`);
  return res.json as IntegrationViewB;
}

/** The parts of the view these tests read (src/functions/integrations.ts integrationView). */
export interface IntegrationViewB {
  id: string;
  status: string;
  currentStep?: string;
  steps: { name: string; at: string }[];
  outcome?: string;
  error?: string;
  decision?: { decision: string; approver: string; at: string };
  orphans: { object: Record<string, string>; reason: string }[];
  pendingManualActions: { title: string; steps: { label: string; value?: string }[] }[];
  checks: { name: string; ok: boolean; detail: string; hint?: string }[];
  orchestration?: { runtimeStatus: string };
}

const isTerminal = (s: InstanceStatus) => TERMINAL.includes(s.runtimeStatus);

/**
 * Lets the orchestration run until `until` holds or it ends, advancing virtual time by `stepMs` whenever the engine
 * is idle (durable retry timers, check retries). `maxAdvanceMs` bounds the total advance (keep it below the approval
 * reminder interval when the orchestration may reach the approval wait).
 */
export async function runUntil(
  stack: LocalStack,
  id: string,
  until: (s: InstanceStatus) => boolean = () => false,
  { stepMs = 15_000, maxAdvanceMs = 3 * 60_000 }: { stepMs?: number; maxAdvanceMs?: number } = {},
): Promise<InstanceStatus> {
  const instanceId = latestInstanceIdOf(stack, id);
  for (let advanced = 0; ; advanced += stepMs) {
    await stack.host.durable.waitForIdle(20_000);
    const s = stack.host.durable.getStatus(instanceId);
    if (!s) throw new Error(`no instance ${instanceId}`);
    if (until(s) || isTerminal(s)) return s;
    if (advanced >= maxAdvanceMs)
      throw new Error(`instance ${instanceId} still ${s.runtimeStatus} at step ${customStatus(s)?.step ?? '?'}`);
    await stack.host.advanceTime(stepMs);
  }
}

/**
 * Runs to the end (Completed/Failed/Terminated) and returns the orchestration output. Reaching the approval wait
 * first is an error (time is not advanced through it), unless the caller decided or means the deadline to pass.
 */
export async function runToEnd(
  stack: LocalStack,
  id: string,
  opts: { stepMs?: number; maxAdvanceMs?: number; throughApproval?: boolean } = {},
) {
  const s = await runUntil(
    stack,
    id,
    (x) => !opts.throughApproval && customStatus(x)?.step === 'awaiting-approval',
    opts,
  );
  if (s.runtimeStatus !== 'Completed')
    throw new Error(
      `instance ended ${s.runtimeStatus} at step ${customStatus(s)?.step ?? '?'}: ${JSON.stringify(s.output).slice(0, 2000)}`,
    );
  return { ...(s.output as ProvisionStatus), ...runDetail(stack, s.instanceId) };
}

/** The apps, secrets and ServiceNow records a provisioning run holds, each with whether the run created it. */
export interface RunDetail {
  apps: AppResult[];
  secrets: SecretResult[];
  records: RecordResult[];
}

/**
 * What a provisioning run holds, from the activity results its orchestration history records (the run's custom status
 * and output are a summary with counts): the apps, secrets and records its activities reported (a record written
 * twice, inert then activated, once, created if either write created it; role grants as `grant:` records).
 */
export function runDetail(stack: LocalStack, instanceId: string): RunDetail {
  const results = <T>(name: string): T[] =>
    stack.host.durable
      .history(instanceId)
      .filter((e) => e.EventType === EventType.TaskCompleted && e.FunctionName === name && e.Result !== undefined)
      .map((e) => JSON.parse(e.Result!) as T & { ok?: boolean })
      .filter((r) => r.ok !== false)
      .map(({ ok: _ok, ...rest }) => rest as T);
  const last = <T>(items: T[], key: (x: T) => string): T[] => [...new Map(items.map((x) => [key(x), x])).values()];
  const records = new Map<string, RecordResult>();
  for (const r of results<RecordResult>('ensureServiceNowRecord')) {
    const before = records.get(r.key);
    records.set(
      r.key,
      before ? { ...r, created: before.created || r.created, updated: before.updated || r.updated } : r,
    );
  }
  for (const g of results<{ userName: string; role: string; sysId?: string; created: boolean }>('ensureRoleGrant'))
    if (g.sysId) {
      const key = `grant:${g.userName}:${g.role}`;
      records.set(key, { key, table: 'sys_user_has_role', sysId: g.sysId, created: g.created, mismatches: [] });
    }
  return {
    apps: last(results<AppResult>('ensureApp'), (a) => a.role),
    secrets: last(results<SecretResult>('ensureAppSecret'), (x) => x.role),
    records: [...records.values()],
  };
}

/** Runs until the orchestration waits for the approval decision (or ends). */
export async function runToApproval(stack: LocalStack, id: string, opts?: { stepMs?: number; maxAdvanceMs?: number }) {
  const s = await runUntil(stack, id, (x) => customStatus(x)?.step === 'awaiting-approval', opts);
  const status = customStatus(s);
  if (status?.step !== 'awaiting-approval')
    throw new Error(`expected awaiting-approval, got ${s.runtimeStatus} ${JSON.stringify(s.output).slice(0, 2000)}`);
  return { ...status, ...runDetail(stack, s.instanceId) };
}

// ---- looking at the sandbox ----

/** True when the application is gone from the directory or sits in deleted items. */
export function appRemoved(stack: LocalStack, objectId: string): boolean {
  const app = stack.sandbox.directory.applications.get(objectId);
  return app === undefined || app.deletedAt !== null;
}

export function recordExists(stack: LocalStack, instance: string, table: string, sysId: string): boolean {
  return stack.sandbox.servicenow.records(instance, table).some((r) => r.values.sys_id === sysId);
}

/** Key Vault state of a secret, asked through the product's own SecretClient (the SDK against the stand-in). */
export async function secretState(name: string): Promise<'live' | 'disabled' | 'soft-deleted' | 'absent'> {
  const secrets = getDeps().secrets;
  try {
    await secrets.getSecret(name);
    return 'live';
  } catch (err) {
    // Key Vault answers 403 (code Forbidden, "Operation get is not allowed on a disabled secret") for a disabled
    // current version.
    if ((err as { statusCode?: number }).statusCode === 403 && /disabled/i.test((err as Error).message))
      return 'disabled';
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  try {
    await secrets.getDeletedSecret(name);
    return 'soft-deleted';
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    return 'absent';
  }
}

/** The work notes on the seeded ticket of `instance`, oldest first. */
export function workNotes(stack: LocalStack, instance: string): string[] {
  return stack.sandbox.servicenow
    .records(instance, 'sys_journal_field')
    .map((r) => r.values)
    .filter((v) => v.element_id === TICKET.sysId && v.element === 'work_notes')
    .map((v) => v.value);
}

interface Message {
  subject?: string;
  body?: { content?: string };
}

/** Subjects and bodies of the emails to `address` whose subject names the integration. */
export function mails(stack: LocalStack, address: string, id: string): { subject: string; body: string }[] {
  return mailsTo(stack, address)
    .map((m) => m.message as Message)
    .map((m) => ({ subject: m.subject ?? '', body: m.body?.content ?? '' }))
    .filter((m) => m.subject.includes(id));
}

/** The final report emails for the integration (src/mail/report.ts subject). */
export const reportMails = (stack: LocalStack, address: string, id: string) =>
  mails(stack, address, id).filter((m) => m.subject.startsWith(`ServiceNow integration ${id}: `));

/** Product DELETE calls since a journal mark, per service. */
export function deletesSince(stack: LocalStack, mark: number) {
  return stack.sandbox.journal.writes({ since: mark }).filter((e) => e.method === 'DELETE');
}

/** What the provisioning recorded as created by this run (apps, secrets, ServiceNow records). */
export function createdBy(status: RunDetail) {
  return {
    apps: status.apps.filter((a) => a.created),
    secrets: status.secrets.filter((s) => s.created),
    records: status.records.filter((r) => r.created && r.sysId),
  };
}
