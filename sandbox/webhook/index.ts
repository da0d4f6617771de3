/**
 * Webhook receivers for alerts, captured like the Graph outbox captures sendMail:
 *
 * 1. A Microsoft Teams **Workflows** trigger, as the template "Post to a channel when a webhook request is received"
 *    creates it: a Power Automate / Logic Apps request trigger
 *    `POST /workflows/{id}/triggers/manual/paths/invoke?api-version=…&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=…`.
 *    The `sig` query parameter is the URL's shared-access signature (the URL is the credential)
 *    (https://learn.microsoft.com/azure/connectors/connectors-native-reqres). Its answers:
 *    - `202 Accepted`, empty body, for a JSON request: the trigger only starts the flow; the run happens afterwards, so
 *      a payload the flow cannot post still gets 202 and only the run fails (observed by users, e.g.
 *      https://github.com/secureCodeBox/secureCodeBox/issues/2664 "Normally the endpoint returns a 202 Accepted");
 *    - `400` with a Logic Apps error document when the body is not JSON (a form-encoded body is refused with 400, same
 *      issue) or cannot be parsed;
 *    - `401` without a valid `sig`.
 *    The run then does what the template does: "for each" over `body.attachments` (a missing array fails the run with
 *    "the result of the evaluation of 'foreach' expression '@triggerOutputs()?['body']?['attachments']' is of type
 *    'Null'", https://github.com/bgptools/issues/issues/203) and "Post card in a chat or channel" with each
 *    attachment's `content`, which must be an Adaptive Card ("Property 'type' must be 'AdaptiveCard'",
 *    https://github.com/ffind-dev/pve-ups/issues/4) of schema version 1.4 or lower (a 1.5 card is refused:
 *    https://github.com/Skitionek/notify-microsoft-teams/issues/107). Runs are kept in `runs` with their outcome.
 * 2. A **generic JSON receiver** `POST /hooks/{id}?token=…`: 401 without the token, 400 for a body that is not JSON,
 *    otherwise 200 `{"received":true}`; deliveries kept in `deliveries`.
 */
import { randomBytes } from 'node:crypto';

import type { SandboxRequest, SandboxResponse, StandIn } from '../core/types';

export interface WorkflowRun {
  at: string;
  workflowId: string;
  status: 'Succeeded' | 'Failed';
  error?: string;
  /** The Adaptive Cards the run posted to the channel. */
  cards: Record<string, unknown>[];
}

export interface GenericDelivery {
  at: string;
  hookId: string;
  body: unknown;
}

export interface WebhookStandIn extends StandIn {
  readonly runs: WorkflowRun[];
  readonly deliveries: GenericDelivery[];
  /** Registers a workflow and returns its trigger URL (with its signature) on `origin`. */
  workflow(origin: string, id?: string): string;
  /** Registers a generic hook and returns its URL (with its token) on `origin`. */
  hook(origin: string, id?: string): string;
}

const WORKFLOW_PATH = /^\/workflows\/([0-9a-f]{32})\/triggers\/manual\/paths\/invoke$/;
const HOOK_PATH = /^\/hooks\/([A-Za-z0-9-]+)$/;

const logicAppsError = (status: number, code: string, message: string): SandboxResponse => ({
  status,
  body: { error: { code, message } },
});

const isJson = (req: SandboxRequest) => /^application\/json\b/i.test(String(req.headers['content-type'] ?? ''));

/** The Adaptive Card schema versions the Teams flow renders (1.0 through 1.4). */
const CARD_VERSION = /^1\.[0-4]$/;

function runOf(body: unknown): Pick<WorkflowRun, 'status' | 'error' | 'cards'> {
  const attachments = (body as { attachments?: unknown } | null)?.attachments;
  if (!Array.isArray(attachments))
    return {
      status: 'Failed',
      error: `The execution of template action 'Send_each_adaptive_card' failed: the result of the evaluation of 'foreach' expression '@triggerOutputs()?['body']?['attachments']' is of type '${attachments === undefined || attachments === null ? 'Null' : typeof attachments === 'object' ? 'Object' : 'String'}'. The result must be a valid array.`,
      cards: [],
    };
  const cards: Record<string, unknown>[] = [];
  for (const a of attachments as { contentType?: unknown; content?: unknown }[]) {
    const card = a?.content as Record<string, unknown> | undefined;
    if (!card || typeof card !== 'object' || card.type !== 'AdaptiveCard')
      return {
        status: 'Failed',
        error:
          "Action 'Post_card_in_a_chat_or_channel' failed: The specified Teams flowbot adaptive card request is missing or invalid. AdaptiveCards.AdaptiveSerializationException: Property 'type' must be 'AdaptiveCard'",
        cards,
      };
    if (typeof card.version !== 'string' || !CARD_VERSION.test(card.version) || !Array.isArray(card.body))
      return {
        status: 'Failed',
        error: `Action 'Post_card_in_a_chat_or_channel' failed: The specified Teams flowbot adaptive card request is missing or invalid (card version '${String(card.version)}').`,
        cards,
      };
    cards.push(card);
  }
  return { status: 'Succeeded', cards };
}

export function createWebhookReceivers(): WebhookStandIn {
  const workflows = new Map<string, string>(); // id → sig
  const hooks = new Map<string, string>(); // id → token
  const runs: WorkflowRun[] = [];
  const deliveries: GenericDelivery[] = [];
  let n = 0;
  const random = (len: number) => randomBytes(len).toString('base64url').slice(0, len);

  return {
    service: 'webhook',
    runs,
    deliveries,
    workflow(origin, id = `${(++n).toString(16).padStart(8, '0')}${'0'.repeat(24)}`) {
      const sig = random(43);
      workflows.set(id, sig);
      return `${origin}/workflows/${id}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`;
    },
    hook(origin, id = `hook-${++n}`) {
      const token = random(32);
      hooks.set(id, token);
      return `${origin}/hooks/${id}?token=${token}`;
    },
    async handle(req, ctx) {
      const at = ctx.clock.date().toISOString();
      const wf = WORKFLOW_PATH.exec(req.path);
      if (wf) {
        if (req.method !== 'POST')
          return logicAppsError(
            405,
            'TriggerRequestMethodNotValid',
            `The HTTP method for this request is not valid: expected 'Post' and actual '${req.method}'.`,
          );
        const sig = workflows.get(wf[1]);
        if (!sig || req.query.get('sig') !== sig)
          return logicAppsError(
            401,
            'DirectApiAuthorizationRequired',
            'The request must be authenticated only by Shared Access scheme.',
          );
        if (!isJson(req))
          return logicAppsError(
            400,
            'InvalidRequestContent',
            "The request content is not valid and could not be deserialized: 'the content type is not application/json'.",
          );
        let body: unknown;
        try {
          body = JSON.parse(req.body.toString('utf8'));
        } catch {
          return logicAppsError(
            400,
            'InvalidRequestContent',
            "The request content is not valid and could not be deserialized: 'Unexpected character encountered while parsing value'.",
          );
        }
        runs.push({ at, workflowId: wf[1], ...runOf(body) });
        return { status: 202 };
      }
      const hook = HOOK_PATH.exec(req.path);
      if (hook && req.method === 'POST') {
        const token = hooks.get(hook[1]);
        if (!token || req.query.get('token') !== token) return { status: 401, body: { error: 'unauthorized' } };
        if (!isJson(req)) return { status: 400, body: { error: 'expected application/json' } };
        let body: unknown;
        try {
          body = JSON.parse(req.body.toString('utf8'));
        } catch {
          return { status: 400, body: { error: 'malformed JSON' } };
        }
        deliveries.push({ at, hookId: hook[1], body });
        return { status: 200, body: { received: true } };
      }
      return { status: 404 };
    },
    reset() {
      runs.length = 0;
      deliveries.length = 0;
    },
  };
}
