/**
 * Helpers for the end-to-end tests of part A (happy path, safety, API validation): they drive the product only
 * through its HTTP API and the emailed approval link, like a ServiceNow ticket and a person would, against the local
 * Functions host (real entry module, real DurableClient) and the sandbox.
 */
import { APPROVAL_EVENT } from '../../src/contracts/provision';
import { openApiChecker } from '../helpers/openapi-check';
import type { InstanceStatus } from '../../sandbox/durable/engine';
import type { LocalStack } from '../../sandbox/stack';
import type { ProvisionStatus } from '../../src/orchestrators/provision-types';

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined when the body is empty or not JSON. */
  json: unknown;
}

/** Every HTTP response body (and header value) the helpers received in this test file, for the canary scan. */
const received: string[] = [];
export const receivedHttp = (): readonly string[] => received;
/**
 * Keeps what was received, and checks it against the app's OpenAPI document (test/helpers/openapi-check.ts): an
 * answer the document does not describe (operation, status, media type, JSON body) throws, failing the test.
 */
const keep = (res: Response, text: string, method: string, url: string) => {
  received.push(text, JSON.stringify([...res.headers.entries()]));
  openApiChecker().assertDocumented({
    method,
    url,
    status: res.status,
    contentType: res.headers.get('content-type'),
    body: text,
  });
};

function parse(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

/** One call to the product's HTTP API with the function key (or `key: null` to leave it out). */
export async function api(
  stack: LocalStack,
  method: string,
  path: string,
  opts: { body?: unknown; rawBody?: string; key?: string | null } = {},
): Promise<ApiResponse> {
  const key = opts.key === undefined ? stack.host.functionKey : opts.key;
  const body = opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await fetch(`${stack.host.baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key !== null ? { 'x-functions-key': key } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  keep(res, text, method, path);
  return { status: res.status, headers: res.headers, text, json: parse(text) };
}

/** The body of `GET /api/integrations/{id}` (src/functions/integrations.ts integrationView). */
export interface IntegrationView {
  id: string;
  status: string;
  statusUrl: string;
  currentStep?: string;
  steps: { name: string; at: string }[];
  created: {
    apps: Record<
      string,
      {
        appId: string;
        objectId: string;
        secretName: string;
        secretVersion?: string;
        keyId?: string;
        expiresOn?: string;
      }
    >;
    serviceNow: Record<string, string>;
  };
  pendingManualActions: { title: string; steps: { label: string; value?: string }[] }[];
  checks: { name: string; ok: boolean; detail: string; hint?: string }[];
  outcome?: string;
  error?: string;
  orphans: unknown[];
  orchestration?: { runtimeStatus: string };
}

/** The first provisioning run's instance id (re-provisioning runs are `provision-{id}-r{n}`). */
export const instanceIdOf = (integrationId: string): string => `provision-${integrationId}`;

/** The newest provisioning run of an integration (first run or a re-provisioning). */
export function latestInstanceIdOf(stack: LocalStack, integrationId: string): string {
  const runs = stack.host.durable
    .query({ instanceIdPrefix: `provision-${integrationId}` })
    .filter(
      (s) => s.instanceId === `provision-${integrationId}` || s.instanceId.startsWith(`provision-${integrationId}-r`),
    )
    .sort((a, b) => a.createdTime.localeCompare(b.createdTime) || a.instanceId.length - b.instanceId.length);
  return runs.at(-1)?.instanceId ?? instanceIdOf(integrationId);
}

export const customStatus = (s: InstanceStatus): ProvisionStatus | undefined =>
  (s.customStatus ?? undefined) as ProvisionStatus | undefined;

const ENDED = ['Completed', 'Failed', 'Terminated'];

/**
 * Waits (no sleeping: re-checked after every episode and activity) until the instance really waits for the approval
 * event (the emails are sent by then), or ended.
 */
export function waitForApproval(stack: LocalStack, integrationId: string, timeoutMs = 20_000): Promise<InstanceStatus> {
  const instanceId = latestInstanceIdOf(stack, integrationId);
  return stack.host.durable.waitForStatus(
    instanceId,
    (s) => ENDED.includes(s.runtimeStatus) || stack.host.durable.waitingFor(instanceId).includes(APPROVAL_EVENT),
    timeoutMs,
  );
}

/** Waits until the instance finished (Completed, Failed or Terminated). */
export function waitForEnd(stack: LocalStack, integrationId: string, timeoutMs = 20_000): Promise<InstanceStatus> {
  return stack.host.durable.waitForStatus(
    latestInstanceIdOf(stack, integrationId),
    (s) => ENDED.includes(s.runtimeStatus),
    timeoutMs,
  );
}

const recipients = (message: unknown): string[] =>
  ((message as { toRecipients?: { emailAddress?: { address?: string } }[] }).toRecipients ?? []).map(
    (r) => r.emailAddress?.address?.toLowerCase() ?? '',
  );

/** Outbox messages addressed to `address`. */
export function mailsTo(stack: LocalStack, address: string) {
  return stack.sandbox.graph.outbox.filter((m) => recipients(m.message).includes(address.toLowerCase()));
}

const unescape = (s: string) =>
  s
    .replace(/&amp;/g, '&')
    .replace(/&#x2F;/g, '/')
    .replace(/&#39;/g, "'");

/** The approval link of the latest approval email to `address` for the given integration instance. */
export function approvalLink(stack: LocalStack, address: string, integrationId: string): string {
  const instance = latestInstanceIdOf(stack, integrationId);
  const links = mailsTo(stack, address)
    .map((m) => /(https?:\/\/[^"\\\s<>]+\/api\/approvals\/[^"\\\s<>]+)/.exec(JSON.stringify(m.message))?.[1])
    .filter((l): l is string => l !== undefined)
    .map(unescape)
    .filter((l) => new URL(l).pathname.endsWith(`/api/approvals/${instance}`));
  const link = links.at(-1);
  if (!link) throw new Error(`no approval link for ${instance} in mail to ${address}`);
  return link;
}

export interface ApprovalPage {
  status: number;
  html: string;
  cookie: string;
  action?: string;
  fields: URLSearchParams;
}

/** GET on an approval link, as a browser (or a mail scanner) does; parses the form if there is one. */
export async function openApprovalPage(link: string, method: 'GET' | 'HEAD' = 'GET'): Promise<ApprovalPage> {
  const res = await fetch(link, { method });
  const html = await res.text();
  keep(res, html, method, link);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const fields = new URLSearchParams();
  for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]+)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1];
    if (name) fields.set(name, unescape(value ?? ''));
  }
  const action = /<form[^>]*action="([^"]+)"/i.exec(html)?.[1];
  return { status: res.status, html, cookie, fields, ...(action ? { action: unescape(action) } : {}) };
}

/** POSTs a decision as the confirmation page's form does (cookie + hidden fields + same-origin Origin header). */
export async function postDecision(
  target: string,
  form: URLSearchParams,
  cookie: string,
): Promise<{ status: number; html: string }> {
  const url = new URL(target);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: url.origin },
    body: form.toString(),
    redirect: 'manual',
  });
  const html = await res.text();
  keep(res, html, 'POST', url.toString());
  return { status: res.status, html };
}

/** A person's full approval: open the emailed link, then POST the page's form with the decision. */
export async function decideFromEmail(
  stack: LocalStack,
  approver: string,
  integrationId: string,
  decision: 'approve' | 'reject' = 'approve',
): Promise<{ status: number; html: string }> {
  const link = approvalLink(stack, approver, integrationId);
  const page = await openApprovalPage(link);
  if (page.status !== 200 || !page.action) throw new Error(`approval page answered ${page.status}: ${page.html}`);
  const form = new URLSearchParams(page.fields);
  form.set('decision', decision);
  return postDecision(new URL(page.action, link).toString(), form, page.cookie);
}

export const PRODUCT_SERVICES: readonly string[] = ['graph', 'keyvault', 'servicenow'];

/** Writes to Graph, Key Vault and ServiceNow since a journal mark (token requests to Entra are not writes). */
export function productWrites(stack: LocalStack, since: number) {
  return stack.sandbox.journal.writes({ since }).filter((e) => PRODUCT_SERVICES.includes(e.service));
}

/** A minimal valid request for the sandbox tenant and instance. */
export function provisionRequest(stack: LocalStack, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const env = stack.env();
  return {
    tenant: env.SANDBOX_TENANT_DOMAIN,
    tenantName: 'Contoso',
    serviceNowInstance: env.SANDBOX_SERVICENOW_INSTANCE,
    // Narrowed to two of the policy's approvers (a request may not narrow a round to the quorum alone).
    approvers: [`approver@${env.SANDBOX_TENANT_DOMAIN}`, `second.approver@${env.SANDBOX_TENANT_DOMAIN}`],
    requestedBy: `requester@${env.SANDBOX_TENANT_DOMAIN}`,
    options: { testEnvironment: true },
    ...extra,
  };
}

/** An open incident of the seeded instance to use as the originating ticket. */
export function openIncident(stack: LocalStack, instance: string): { sysId: string; number: string } {
  const rows = stack.sandbox.servicenow.records(instance, 'incident').map((r) => r.values);
  const open = rows.find((i) => i.state !== '7' && i.active !== 'false') ?? rows[0];
  if (!open) throw new Error(`no incident seeded on ${instance}`);
  return { sysId: open.sys_id, number: open.number };
}
