/**
 * POST /users/{id | userPrincipalName}/sendMail → 202, empty body; the message lands in the outbox [doc user-sendmail].
 *
 * - Needs the Mail.Send application permission; without it Exchange answers 403 `ErrorAccessDenied` "Access is denied.
 *   Check credentials and try again." [observed Outlook REST error].
 * - Unknown mailbox: 404 `ErrorInvalidUser` "The requested user '<x>' is invalid." [public-code
 *   InnoGE/laravel-msgraph-mail#16, microsoftgraph/aspnet-snippets-sample#25].
 * - `/me` with an app-only token: 400 `BadRequest` "/me request is only valid with delegated authentication flow."
 *   [public-code microsoftgraph/msgraph-sdk-php#1163].
 * - Unknown properties: 400 "The property 'x' does not exist on type 'microsoft.graph.message'…" (RequestBodyRead).
 * - No recipients: 400 `ErrorInvalidRecipients` [observed Exchange error for a message without recipients].
 * - `saveToSentItems` is Edm.Boolean; the documented example sends the string "false", which Graph accepts.
 * - `body.contentType`: `Text` | `HTML` (CSDL enum bodyType `text`/`html`; case-insensitive).
 * - `internetMessageHeaders`: only custom headers, whose names start with `x-` or `X-`, may be set
 *   (https://learn.microsoft.com/graph/api/resources/internetmessageheader, message resource); any other name (e.g.
 *   `In-Reply-To`) is refused with 400 `InvalidInternetMessageHeader` "The internet message header name '<name>'
 *   should start with 'x-' or 'X-'." [wording as public reports quote Graph's answer].
 */
import type { SandboxResponse } from '../core/types';
import { GraphError, emptyResponse, invalidValue } from './errors';
import { type Env, type Json, jsonBody } from './env';

const MESSAGE_PROPERTIES = [
  'id',
  'categories',
  'changeKey',
  'createdDateTime',
  'lastModifiedDateTime',
  'bccRecipients',
  'body',
  'bodyPreview',
  'ccRecipients',
  'conversationId',
  'conversationIndex',
  'flag',
  'from',
  'hasAttachments',
  'importance',
  'inferenceClassification',
  'internetMessageHeaders',
  'internetMessageId',
  'isDeliveryReceiptRequested',
  'isDraft',
  'isRead',
  'isReadReceiptRequested',
  'parentFolderId',
  'receivedDateTime',
  'replyTo',
  'sender',
  'sentDateTime',
  'subject',
  'toRecipients',
  'uniqueBody',
  'webLink',
  // navigation properties that may be sent inline
  'attachments',
  'extensions',
  'multiValueExtendedProperties',
  'singleValueExtendedProperties',
];

const bodyRead = (message: string) => new GraphError(400, 'RequestBodyRead', message);
const noSuchProperty = (name: string, type: string) =>
  bodyRead(
    `The property '${name}' does not exist on type '${type}'. Make sure to only use property names that are defined by the type or mark the type as open type.`,
  );
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

const invalidRecipients = () =>
  new GraphError(
    400,
    'ErrorInvalidRecipients',
    "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
  );

function checkRecipients(name: string, value: unknown, required: boolean): void {
  if (value === undefined || value === null) {
    if (required) throw invalidRecipients();
    return;
  }
  if (!Array.isArray(value)) throw invalidValue(name, 'Collection(microsoft.graph.recipient)');
  if (required && value.length === 0) throw invalidRecipients();
  for (const r of value) {
    if (!isObject(r)) throw invalidValue(name, 'microsoft.graph.recipient');
    for (const k of Object.keys(r)) if (k !== 'emailAddress') throw noSuchProperty(k, 'microsoft.graph.recipient');
    const email = r.emailAddress;
    if (!isObject(email)) throw invalidRecipients();
    for (const k of Object.keys(email))
      if (k !== 'address' && k !== 'name') throw noSuchProperty(k, 'microsoft.graph.emailAddress');
    if (typeof email.address !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email.address))
      throw new GraphError(
        400,
        'ErrorInvalidRecipients',
        "At least one recipient isn't valid., Recipient '' is not resolved. All recipients must be resolved before a message can be submitted.",
      );
  }
}

function checkInternetMessageHeaders(value: unknown): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value))
    throw invalidValue('internetMessageHeaders', 'Collection(microsoft.graph.internetMessageHeader)');
  for (const h of value) {
    if (!isObject(h)) throw invalidValue('internetMessageHeaders', 'microsoft.graph.internetMessageHeader');
    for (const k of Object.keys(h))
      if (k !== 'name' && k !== 'value') throw noSuchProperty(k, 'microsoft.graph.internetMessageHeader');
    const name = typeof h.name === 'string' ? h.name : '';
    if (!/^x-/i.test(name))
      throw new GraphError(
        400,
        'InvalidInternetMessageHeader',
        `The internet message header name '${name}' should start with 'x-' or 'X-'.`,
      );
    if (h.value !== undefined && h.value !== null && typeof h.value !== 'string')
      throw invalidValue('value', 'Edm.String');
  }
}

function validateMessage(message: Json): void {
  for (const k of Object.keys(message))
    if (!k.startsWith('@') && !MESSAGE_PROPERTIES.includes(k)) throw noSuchProperty(k, 'microsoft.graph.message');
  checkRecipients('toRecipients', message.toRecipients, true);
  checkRecipients('ccRecipients', message.ccRecipients, false);
  checkRecipients('bccRecipients', message.bccRecipients, false);
  checkRecipients('replyTo', message.replyTo, false);
  checkInternetMessageHeaders(message.internetMessageHeaders);
  if (message.subject !== undefined && message.subject !== null && typeof message.subject !== 'string')
    throw invalidValue('subject', 'Edm.String');
  const body = message.body;
  if (body !== undefined && body !== null) {
    if (!isObject(body)) throw invalidValue('body', 'microsoft.graph.itemBody');
    for (const k of Object.keys(body))
      if (k !== 'content' && k !== 'contentType') throw noSuchProperty(k, 'microsoft.graph.itemBody');
    const ct = body.contentType;
    if (ct !== undefined && (typeof ct !== 'string' || !['text', 'html'].includes(ct.toLowerCase())))
      throw bodyRead(`Requested value '${typeof ct === 'string' ? ct : JSON.stringify(ct)}' was not found.`);
    if (body.content !== undefined && body.content !== null && typeof body.content !== 'string')
      throw invalidValue('content', 'Edm.String');
  }
}

function parseSaveToSentItems(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && ['true', 'false'].includes(v.toLowerCase())) return v.toLowerCase() === 'true';
  throw invalidValue('SaveToSentItems', 'Edm.Boolean');
}

export function meNotAllowed(): never {
  throw new GraphError(400, 'BadRequest', '/me request is only valid with delegated authentication flow.');
}

export function sendMail(env: Env, userKey: string): SandboxResponse {
  if (!env.caller.roles.includes('Mail.Send'))
    throw new GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
  const k = userKey.toLowerCase();
  const user = [...env.directory.users.values()].find(
    (u) => u.id.toLowerCase() === k || u.userPrincipalName.toLowerCase() === k || u.mail.toLowerCase() === k,
  );
  const body = jsonBody(env);
  let message: unknown;
  let save: unknown;
  for (const [key, value] of Object.entries(body)) {
    // Action parameters are matched case-insensitively (CSDL names them Message and SaveToSentItems).
    if (key.toLowerCase() === 'message') message = value;
    else if (key.toLowerCase() === 'savetosentitems') save = value;
    else
      throw bodyRead(
        `The parameter '${key}' in the request payload is not a valid parameter for the operation 'sendMail'.`,
      );
  }
  if (!isObject(message)) throw bodyRead("The parameter 'Message' in the request payload is missing or null.");
  validateMessage(message);
  const saveToSentItems = parseSaveToSentItems(save);
  if (!user) throw new GraphError(404, 'ErrorInvalidUser', `The requested user '${userKey}' is invalid.`);
  env.outbox.push({ at: env.clock.date().toISOString(), from: user.mail, message, saveToSentItems });
  return emptyResponse(env.ids, 202);
}
