/**
 * The alert channels: an email through Graph sendMail (the layout and escaping of src/mail/), and a webhook, either a
 * Microsoft Teams Workflows trigger ("Post to a channel when a webhook request is received") or a generic JSON
 * receiver. The webhook URL carries its own credential (a Workflows URL's `sig` query parameter signs the request), so
 * it is a secret: read from Key Vault at send time, registered with the redactor, and never put in a log line, an
 * error message, an audit entry or a payload.
 */
import axios from 'axios';
import type { Client } from '@microsoft/microsoft-graph-client';
import type { SecretClient } from '@azure/keyvault-secrets';

import { toKeyVaultError } from '../clients/keyvault';
import { AppError } from '../lib/errors';
import { registerSecret } from '../lib/redact';
import { html } from '../mail/html';
import { code, document, table } from '../mail/layout';
import { sendMail } from '../mail/message';
import type { IntegrationRecord } from '../registry/types';
import type { AlertCondition } from './conditions';

/** One message: a condition raised (or reminded of, the next day) or resolved. */
export interface AlertMessage {
  state: 'raised' | 'resolved';
  condition: Pick<AlertCondition, 'kind' | 'key' | 'summary' | 'details' | 'stage'>;
  integration: Pick<IntegrationRecord, 'id' | 'profile' | 'tenant' | 'tenantName' | 'serviceNowInstance' | 'status'>;
  /** ISO time of the evaluation. */
  at: string;
  /** The integration's status in the API (function key protected; no token in it). */
  statusUrl: string;
}

/** A delivery that failed: retried by the next evaluation. Its message names the channel and status, never the URL. */
export class AlertDeliveryError extends AppError {
  constructor(message: string) {
    super(message, 'AlertDeliveryError');
  }
}

const title = (m: AlertMessage) =>
  m.state === 'resolved'
    ? `Resolved: ${m.condition.kind} on ${m.integration.id}`
    : `Alert: ${m.condition.kind} on ${m.integration.id}`;

const facts = (m: AlertMessage): [string, string][] => [
  ['Integration', m.integration.id],
  ['Profile', m.integration.profile],
  ['Tenant', `${m.integration.tenantName} (${m.integration.tenant})`],
  ['ServiceNow instance', m.integration.serviceNowInstance],
  ['Condition', m.condition.kind + (m.condition.stage !== undefined ? ` (stage ${m.condition.stage} days)` : '')],
  ['At', m.at],
];

// ---------------------------------------------------------------------------------------------------------------
// Email

export function alertMail(m: AlertMessage, to: string): { to: string; subject: string; html: string } {
  const lead = m.state === 'resolved' ? `This condition has cleared: ${m.condition.summary}` : m.condition.summary;
  return {
    to,
    subject: `[${m.state === 'resolved' ? 'Resolved' : 'Alert'}] ${m.condition.kind}: ${m.integration.id}`,
    html: document(
      title(m),
      html`<h2>${title(m)}</h2>
        <p>${lead}</p>
        ${
          m.condition.details.length
            ? html`<ul>
                ${m.condition.details.map((d) => html`<li>${d}</li>`)}
              </ul>`
            : ''
        }
        ${table(
          ['Field', 'Value'],
          facts(m).map(([k, v]) => [k, v]),
        )}
        <p>Status: ${code(m.statusUrl)}</p>`,
    ),
  };
}

export async function sendAlertMail(graph: Client, sender: string, m: AlertMessage, to: string): Promise<void> {
  await sendMail(graph, sender, alertMail(m, to));
}

// ---------------------------------------------------------------------------------------------------------------
// Webhook payloads

/**
 * The message the Teams Workflows template "Post to a channel when a webhook request is received" posts: a `message`
 * whose `attachments` each hold an Adaptive Card (`contentType` `application/vnd.microsoft.card.adaptive`); the flow
 * runs "Post card in a chat or channel" for each attachment's `content`
 * (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook, "Send
 * Adaptive Cards using an Incoming Webhook"; the Workflows flow fails its run with "Property 'type' must be
 * 'AdaptiveCard'" for anything else, and does not render cards above schema 1.4, as reported in
 * https://github.com/Skitionek/notify-microsoft-teams/issues/107). Only TextBlock, RichTextBlock and FactSet elements.
 */
/** A RichTextBlock of one TextRun: shown as it is (Adaptive Cards 1.2). */
const plainText = (text: string) => ({ type: 'RichTextBlock', inlines: [{ type: 'TextRun', text }] });

export function teamsPayload(m: AlertMessage): Record<string, unknown> {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            {
              type: 'TextBlock',
              size: 'Medium',
              weight: 'Bolder',
              color: m.state === 'resolved' ? 'Good' : 'Attention',
              text: title(m),
              wrap: true,
            },
            // Summary and details quote outside text (a ServiceNow column's live value, a service's error): plain
            // TextRuns, never Markdown (TextBlock text is Markdown in Teams, links included; a TextRun is not,
            // https://learn.microsoft.com/adaptive-cards/schema-explorer/text-run).
            plainText(m.condition.summary),
            ...m.condition.details.map((d) => ({ ...plainText(`- ${d}`), spacing: 'None' })),
            { type: 'FactSet', facts: facts(m).map(([t, value]) => ({ title: t, value })) },
            { type: 'TextBlock', text: `Status: ${m.statusUrl}`, wrap: true, isSubtle: true, size: 'Small' },
          ],
        },
      },
    ],
  };
}

/** The generic JSON payload (docs in README, "Alerts"): schema `m365-snow-provisioner/alert@1`. */
export function jsonPayload(m: AlertMessage): Record<string, unknown> {
  return {
    schema: 'm365-snow-provisioner/alert@1',
    state: m.state,
    at: m.at,
    condition: {
      kind: m.condition.kind,
      key: m.condition.key,
      ...(m.condition.stage !== undefined ? { stageDays: m.condition.stage } : {}),
    },
    summary: m.condition.summary,
    details: m.condition.details,
    integration: {
      id: m.integration.id,
      profile: m.integration.profile,
      tenant: m.integration.tenant,
      tenantName: m.integration.tenantName,
      serviceNowInstance: m.integration.serviceNowInstance,
      status: m.integration.status,
    },
    statusUrl: m.statusUrl,
  };
}

/** Reads the webhook URL from Key Vault (never cached: a rotated URL is used at once) and registers it as a secret. */
export async function webhookUrl(secrets: SecretClient, secretName: string): Promise<string> {
  let value: string | undefined;
  try {
    value = (await secrets.getSecret(secretName)).value;
  } catch (err) {
    throw toKeyVaultError(err, `read the alert webhook secret '${secretName}'`);
  }
  registerSecret(value);
  if (!value) throw new AlertDeliveryError(`the alert webhook secret '${secretName}' is empty`);
  try {
    if (new URL(value).protocol !== 'https:') throw new Error('not https');
  } catch {
    throw new AlertDeliveryError(`the alert webhook secret '${secretName}' does not hold an https URL`);
  }
  return value;
}

/**
 * POSTs the payload as JSON. Success is any 2xx (a Workflows trigger answers 202 Accepted). A failure is reported by
 * status or network error code only: the URL, the request and the answer's body are never copied.
 */
export async function postWebhook(url: string, payload: unknown, timeoutMs: number): Promise<void> {
  let status: number;
  try {
    const res = await axios.post(url, JSON.stringify(payload), {
      headers: { 'content-type': 'application/json' },
      transformRequest: [(d: unknown) => d],
      timeout: timeoutMs,
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: (d: unknown) => d,
    });
    status = res.status;
  } catch (err) {
    const codeOf = (err as { code?: unknown })?.code;
    throw new AlertDeliveryError(
      `the alert webhook did not answer (${typeof codeOf === 'string' && /^[A-Z_]+$/.test(codeOf) ? codeOf : 'network error'})`,
    );
  }
  if (status < 200 || status > 299) throw new AlertDeliveryError(`the alert webhook answered HTTP ${status}`);
}
