/**
 * Helpers of the decommissioning end-to-end tests: `DELETE /api/integrations/{id}` through the product's HTTP API,
 * the emailed approval link of the decommissioning instance, the local Functions host driven in virtual time, and
 * looks at the stand-ins (directory, Key Vault through the product's own SDK client, ServiceNow tables, journal).
 */
import type { InstanceStatus } from '../../sandbox/durable/engine';
import { TERMINAL } from '../../sandbox/durable/engine';
import type { LocalStack } from '../../sandbox/stack';
import { integrationTag } from '../../src/activities/entra-graph';
import { APPROVAL_EVENT } from '../../src/contracts/provision';
import { decommissionInstanceId, type DecommissionStatus } from '../../src/orchestrators/decommission-types';
import { api, mailsTo, openApprovalPage, postDecision, type ApiResponse } from './api-driver';

export { decommissionInstanceId };

/** DELETE /api/integrations/{id} with an optional JSON body. */
export function requestDecommission(stack: LocalStack, id: string, body?: unknown): Promise<ApiResponse> {
  return api(stack, 'DELETE', `/api/integrations/${id}`, body === undefined ? {} : { body });
}

/**
 * Lets the decommissioning run until `until` holds or it ends, advancing virtual time by `stepMs` whenever the engine
 * is idle (durable retries); never through the approval wait unless `throughApproval`.
 */
export async function runDecommission(
  stack: LocalStack,
  instanceId: string,
  { throughApproval = false, stepMs = 15_000, maxAdvanceMs = 3 * 60_000 } = {},
): Promise<InstanceStatus> {
  for (let advanced = 0; ; advanced += stepMs) {
    await stack.host.durable.waitForIdle(20_000);
    const s = stack.host.durable.getStatus(instanceId);
    if (!s) throw new Error(`no instance ${instanceId}`);
    if (TERMINAL.includes(s.runtimeStatus)) return s;
    if (!throughApproval && stack.host.durable.waitingFor(instanceId).includes(APPROVAL_EVENT)) return s;
    if (advanced >= maxAdvanceMs)
      throw new Error(`instance ${instanceId} still ${s.runtimeStatus} at ${decommissionStatus(s)?.step ?? '?'}`);
    await stack.host.advanceTime(stepMs);
  }
}

export const decommissionStatus = (s: InstanceStatus): DecommissionStatus | undefined =>
  (s.customStatus ?? s.output ?? undefined) as DecommissionStatus | undefined;

const unescape = (s: string) =>
  s
    .replace(/&amp;/g, '&')
    .replace(/&#x2F;/g, '/')
    .replace(/&#39;/g, "'");

/** The decommissioning approval mails to `address` for the instance (subject and body). */
export function decommissionMails(stack: LocalStack, address: string, instanceId: string) {
  return mailsTo(stack, address)
    .map((m) => m.message as { subject?: string; body?: { content?: string } })
    .map((m) => ({ subject: m.subject ?? '', body: m.body?.content ?? '' }))
    .filter((m) => m.body.includes(`/api/approvals/${instanceId}?`));
}

/** Opens the emailed link of the decommissioning instance and POSTs the decision; returns the page it showed. */
export async function decideDecommission(
  stack: LocalStack,
  approver: string,
  instanceId: string,
  decision: 'approve' | 'reject',
): Promise<{ page: string; status: number }> {
  const mail = decommissionMails(stack, approver, instanceId).at(-1);
  const link = mail && /(https?:\/\/[^"\\\s<>]+\/api\/approvals\/[^"\\\s<>]+)/.exec(mail.body)?.[1];
  if (!link) throw new Error(`no decommissioning link for ${instanceId} in mail to ${approver}`);
  const page = await openApprovalPage(unescape(link));
  if (page.status !== 200 || !page.action) throw new Error(`approval page answered ${page.status}: ${page.html}`);
  const form = new URLSearchParams(page.fields);
  form.set('decision', decision);
  const res = await postDecision(new URL(page.action, unescape(link)).toString(), form, page.cookie);
  return { page: page.html, status: res.status };
}

/** Live (not deleted) applications and service principals tagged with the integration. */
export function liveDirectoryObjectsOf(stack: LocalStack, integrationId: string) {
  const tag = integrationTag(integrationId);
  const d = stack.sandbox.directory;
  return {
    apps: [...d.applications.values()].filter((a) => a.deletedAt === null && a.tags.includes(tag)),
    servicePrincipals: [...d.servicePrincipals.values()].filter((s) => s.deletedAt === null && s.tags.includes(tag)),
  };
}
