/**
 * Evaluating the alerts of one integration, or of all: derive the conditions (./conditions.ts), remember them in the
 * alert store, deliver each due message once on every configured channel, and send one "resolved" message for a
 * condition that was alerted and cleared. A delivery that fails is not marked sent, so the next evaluation retries it;
 * every delivery that succeeds is recorded in the audit trail (`alert-sent`). Safe to run twice or overlapping: each
 * delivery is claimed in the store before it is made.
 */
import { OrchestrationRuntimeStatus, type DurableClient } from 'durable-functions';

import type { Deps } from '../app/deps';
import type { AuditEvent } from '../contracts/fleet';
import { ensureErrorType } from '../lib/errors';
import { orchestrationStatus } from '../lib/orchestration-status';
import type { ProvisionStatus } from '../orchestrators/provision-types';
import type { RotationStatus } from '../orchestrators/rotation-types';
import { getProfile } from '../profiles';
import type { IntegrationRecord } from '../registry/types';
import { runningRotations } from '../rotation/start';
import { postWebhook, sendAlertMail, teamsPayload, jsonPayload, webhookUrl, type AlertMessage } from './channels';
import { deriveConditions, DURABLE_KINDS, type AlertCondition, type DurableFacts } from './conditions';
import type { SendKey } from './store';

export type AlertDeps = Pick<Deps, 'config' | 'registry' | 'alerts' | 'audit' | 'graph' | 'secrets' | 'now'>;

/** Deadline of one webhook POST. */
export const WEBHOOK_TIMEOUT_MS = 30_000;

export interface AlertDelivery {
  condition: string;
  state: 'raised' | 'resolved';
  /** `email:<address>` or `webhook`. */
  channel: string;
}

export interface AlertEvaluation {
  integrationId: string;
  /** The condition keys that hold now. */
  conditions: string[];
  sent: AlertDelivery[];
  /** Deliveries that failed (retried next time), with a reason that never holds a secret. */
  failed: (AlertDelivery & { reason: string })[];
  /** Whether the overdue approval and hand-off conditions were evaluated (a durable client was at hand). */
  durableEvaluated: boolean;
}

const ACTIVE = new Set<string>([
  OrchestrationRuntimeStatus.Pending,
  OrchestrationRuntimeStatus.Running,
  OrchestrationRuntimeStatus.ContinuedAsNew,
]);

/**
 * What the durable client says about the integration: its provisioning instance waiting for approvers, its running
 * rotation waiting for hand-off confirmations (custom status, as GET /api/integrations/{id} reads it).
 */
export async function durableFacts(
  client: DurableClient,
  record: IntegrationRecord,
  rotations?: Map<string, string>,
): Promise<DurableFacts> {
  const facts: DurableFacts = {};
  // The round that may be waiting: the decommissioning's while the integration is being decommissioned.
  const gated =
    record.status === 'decommissioning' && record.decommission ? record.decommission.instanceId : record.instanceId;
  const prov = await orchestrationStatus(client, gated);
  const custom = prov?.customStatus as Partial<ProvisionStatus> | undefined;
  if (prov && ACTIVE.has(prov.runtimeStatus) && custom?.awaiting)
    facts.approval = {
      instanceId: gated,
      since: custom.awaiting.since,
      deadline: custom.awaiting.deadline,
      approvers: custom.awaiting.approvers ?? [],
    };
  const rotationId = (rotations ?? (await runningRotations(client))).get(record.id);
  if (rotationId) {
    const rot = await orchestrationStatus(client, rotationId);
    const status = rot?.customStatus as Partial<RotationStatus> | undefined;
    const since = status?.steps?.filter((s) => s.name === 'handoff').at(-1)?.at;
    if (rot && ACTIVE.has(rot.runtimeStatus) && status?.awaiting && since)
      facts.handoff = {
        instanceId: rotationId,
        since,
        roles: status.awaiting.role,
        deadline: status.awaiting.deadline,
      };
  }
  return facts;
}

function message(
  deps: AlertDeps,
  record: IntegrationRecord,
  state: AlertMessage['state'],
  c: AlertMessage['condition'],
  at: string,
): AlertMessage {
  return {
    state,
    condition: c,
    integration: {
      id: record.id,
      profile: record.profile,
      tenant: record.tenant,
      tenantName: record.tenantName,
      serviceNowInstance: record.serviceNowInstance,
      status: record.status,
    },
    at,
    statusUrl: `${deps.config.publicBaseUrl}/api/integrations/${record.id}`,
  };
}

/** The channels of this deployment for one integration: `email:<address>` per recipient, and `webhook`. */
function channelsFor(deps: AlertDeps, record: IntegrationRecord): string[] {
  const a = deps.config.alerts;
  const out: string[] = [];
  if (a.channels.includes('email')) {
    const to = a.emailRecipients.length ? a.emailRecipients : (record.approvers ?? []).map((x) => x.toLowerCase());
    for (const addr of [...new Set(to)]) out.push(`email:${addr}`);
  }
  if (a.channels.includes('webhook') && a.webhook) out.push('webhook');
  return out;
}

/** Delivers `m` on `channel`, once per send key. True when it is delivered (now or before). */
async function deliver(
  deps: AlertDeps,
  key: SendKey,
  m: AlertMessage,
  result: AlertEvaluation,
  audit: AuditEvent[],
): Promise<boolean> {
  const claim = await deps.alerts.claimSend(key);
  if (claim === 'sent') return true;
  if (claim === 'busy') return false; // another evaluation is delivering it
  const what: AlertDelivery = { condition: m.condition.key, state: m.state, channel: key.channel };
  try {
    if (key.channel.startsWith('email:'))
      await sendAlertMail(deps.graph, deps.config.mail.sender, m, key.channel.slice('email:'.length));
    else {
      const hook = deps.config.alerts.webhook!;
      const url = await webhookUrl(deps.secrets, hook.secretName);
      await postWebhook(url, hook.format === 'teams' ? teamsPayload(m) : jsonPayload(m), WEBHOOK_TIMEOUT_MS);
    }
  } catch (err) {
    await deps.alerts.abandonSend(key).catch(() => undefined);
    result.failed.push({ ...what, reason: ensureErrorType(err).message });
    return false;
  }
  await deps.alerts.completeSend(key);
  result.sent.push(what);
  audit.push({
    kind: 'alert-sent',
    at: m.at,
    actor: 'system',
    detail: `${m.state === 'resolved' ? 'Resolved' : 'Alert'} ${m.condition.kind} sent by ${key.channel.startsWith('email:') ? 'email' : 'webhook'}: ${m.condition.summary}`,
    data: {
      condition: m.condition.key,
      state: m.state,
      channel: key.channel,
      send: key.send,
      ...(m.condition.stage !== undefined ? { stageDays: m.condition.stage } : {}),
    },
  });
  return true;
}

/**
 * Evaluates one integration at `now`. `durable` (facts read through the durable client) undefined: the overdue
 * conditions are not evaluated, and an alert raised for one of them is left as it is (neither re-sent nor resolved).
 */
export async function evaluateIntegration(
  deps: AlertDeps,
  record: IntegrationRecord,
  durable?: DurableFacts,
  now: Date = deps.now(),
): Promise<AlertEvaluation> {
  const at = now.toISOString();
  const day = at.slice(0, 10);
  const result: AlertEvaluation = {
    integrationId: record.id,
    conditions: [],
    sent: [],
    failed: [],
    durableEvaluated: durable !== undefined,
  };
  const a = deps.config.alerts;
  const channels = channelsFor(deps, record);
  if (!channels.length) return result; // alerting is off for this deployment (or nobody to tell)
  const conditions = deriveConditions(record, getProfile(record.profile), now, a, durable);
  result.conditions = conditions.map((c) => c.key);
  const rows = new Map((await deps.alerts.conditions(record.id)).map((r) => [r.key, r]));
  const audit: AuditEvent[] = [];

  for (const c of conditions) {
    const row = await deps.alerts.observe(record.id, c, rows.get(c.key));
    const send = c.stage !== undefined ? `stage-${c.stage}` : `day-${day}`;
    const m = message(deps, record, 'raised', c, at);
    let delivered = false;
    for (const channel of channels)
      if (await deliver(deps, { integrationId: record.id, condition: c.key, send, channel }, m, result, audit))
        delivered = true;
    if (delivered && !row.alerted) await deps.alerts.markAlerted(record.id, c.key);
  }

  const holding = new Set(conditions.map((c) => c.key));
  for (const row of rows.values()) {
    if (!row.active || holding.has(row.key)) continue;
    if (!durable && DURABLE_KINDS.includes(row.kind)) continue; // not evaluated this time
    if (!row.alerted) {
      await deps.alerts.clear(record.id, row);
      continue;
    }
    const c: AlertCondition = { kind: row.kind, key: row.key, summary: row.summary, details: [] };
    const m = message(deps, record, 'resolved', c, at);
    let all = true;
    for (const channel of channels)
      if (
        !(await deliver(
          deps,
          { integrationId: record.id, condition: row.key, send: `resolved-${row.since}`, channel },
          m,
          result,
          audit,
        ))
      )
        all = false;
    if (all) await deps.alerts.clear(record.id, row);
  }
  if (audit.length) await deps.audit.append(record.id, audit);
  return result;
}

/** Evaluates every integration (the alert sweep); one that fails is reported and the others go on. */
export async function evaluateAll(
  deps: AlertDeps,
  client: DurableClient | undefined,
): Promise<{ evaluations: AlertEvaluation[]; problems: { integrationId: string; reason: string }[] }> {
  if (!deps.config.alerts.channels.length) return { evaluations: [], problems: [] }; // ALERT_CHANNELS=none
  // Decommissioned integrations too: they derive no condition, so what was alerted before gets its "resolved".
  const records = await deps.registry.list();
  const rotations = client ? await runningRotations(client) : undefined;
  const evaluations: AlertEvaluation[] = [];
  const problems: { integrationId: string; reason: string }[] = [];
  for (const record of records) {
    try {
      // A decommissioned integration runs nothing any more: no durable query, and no durable condition holds.
      const facts = client
        ? record.status === 'decommissioned'
          ? {}
          : await durableFacts(client, record, rotations)
        : undefined;
      evaluations.push(await evaluateIntegration(deps, record, facts));
    } catch (err) {
      problems.push({ integrationId: record.id, reason: ensureErrorType(err).message });
    }
  }
  return { evaluations, problems };
}
