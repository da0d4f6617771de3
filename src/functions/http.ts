/**
 * Small helpers for triggers: the capped body reader, JSON, RFC 9457 problem documents, the settings check made once at
 * start-up with the guard every trigger runs behind, and the error boundary.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as z from 'zod';

import { ConfigError, loadConfig } from '../config';
import { ensureErrorType } from '../lib/errors';

export interface Problem {
  field: string;
  message: string;
}

/**
 * The error shape of every JSON operation: an RFC 9457 problem document (`application/problem+json`,
 * https://www.rfc-editor.org/rfc/rfc9457) with the extension member `errors`, every problem by field. `problem()`
 * builds exactly this (checked by the compiler); the OpenAPI document takes it from here.
 */
export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});

/**
 * Headers of every JSON answer: never cached (they describe live state), and `nosniff` so a browser never treats a
 * body that echoes request values as anything but its declared type
 * (https://developer.mozilla.org/docs/Web/HTTP/Reference/Headers/X-Content-Type-Options).
 */
const JSON_HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit => ({
  status,
  jsonBody: body,
  headers: { ...JSON_HEADERS, ...headers },
});

/**
 * A JSON answer whose body the compiler checks against the schema the OpenAPI document describes it with (a field
 * added to the answer but not to the schema, or missing from it, does not compile).
 */
export const jsonAs = <S extends z.ZodType>(
  _schema: S,
  status: number,
  body: z.input<S>,
  headers: Record<string, string> = {},
): HttpResponseInit => json(status, body, headers);

/** A problem document (RFC 9457) listing every problem. */
export function problem(status: number, title: string, problems: Problem[] = []): HttpResponseInit {
  return {
    status,
    jsonBody: {
      type: 'about:blank',
      title,
      status,
      ...(problems.length ? { errors: problems } : {}),
    } satisfies z.input<typeof problemSchema>,
    headers: { ...JSON_HEADERS, 'Content-Type': 'application/problem+json' },
  };
}

/**
 * The cap on JSON API bodies. A `POST /api/integrations` body is a few hundred bytes; the Functions host itself only
 * refuses requests over 100 MB (https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-http-webhook-trigger#limits),
 * so every trigger reads its body through `readText`/`readJson`, which stop at this cap.
 */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

export type BodyText = { ok: true; text: string } | { ok: false; reason: 'too-large'; limit: number };
export type JsonBody =
  { ok: true; value: unknown } | { ok: false; reason: 'not-json' } | { ok: false; reason: 'too-large'; limit: number };

/** 413 Content Too Large (RFC 9110 section 15.5.14) as a problem document. */
export const contentTooLarge = (limit: number): HttpResponseInit =>
  problem(413, 'Content Too Large', [{ field: '(body)', message: `body must be at most ${limit} bytes` }]);

/**
 * Reads a request body as UTF-8 text, at most `limit` bytes. A Content-Length over the limit is refused before a byte
 * is read; otherwise the bytes are counted as they arrive (Content-Length may be absent with chunked transfer coding,
 * or wrong) and reading stops, cancelling the stream, as soon as the count passes the limit.
 */
export async function readText(req: HttpRequest, limit = MAX_JSON_BODY_BYTES): Promise<BodyText> {
  const tooLarge = { ok: false, reason: 'too-large', limit } as const;
  const declared = req.headers.get('content-length')?.trim();
  if (declared && /^\d+$/.test(declared) && Number(declared) > limit) {
    await req.body?.cancel().catch(() => undefined);
    return tooLarge;
  }
  const stream = req.body;
  if (!stream) return { ok: true, text: '' };
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    const chunk = next.value;
    total += chunk.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return tooLarge;
    }
    chunks.push(chunk);
  }
  // As Request.text() does: UTF-8, invalid sequences replaced, a leading BOM dropped.
  return { ok: true, text: new TextDecoder('utf-8').decode(Buffer.concat(chunks, total)) };
}

/** Reads a JSON body of at most `limit` bytes; an empty body is `undefined` (the caller decides if that is valid). */
export async function readJson(req: HttpRequest, limit = MAX_JSON_BODY_BYTES): Promise<JsonBody> {
  const body = await readText(req, limit);
  if (!body.ok) return body;
  try {
    return { ok: true, value: body.text.trim() === '' ? undefined : (JSON.parse(body.text) as unknown) };
  } catch {
    return { ok: false, reason: 'not-json' };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Settings checked once at start-up

/** What the entry module found when it checked the settings; undefined until it checked (tests' own apps). */
let startup: { error?: ConfigError } | undefined;

/**
 * Validates the app settings once, when the entry module loads (src/functions/index.ts). Invalid settings are logged
 * once (each setting by name and reason, never a value: ConfigError carries only those) and remembered: from then on
 * every trigger refuses to run (see withErrorBoundary and failFast) until the app restarts with fixed settings, as
 * the Functions host restarts the app when its settings change
 * (https://learn.microsoft.com/azure/azure-functions/functions-how-to-use-azure-function-app-settings).
 */
export function checkSettingsAtStartup(
  env: Record<string, string | undefined> = process.env,
  log: (message: string) => void = (m) => console.error(m),
): ConfigError | undefined {
  try {
    loadConfig(env);
    startup = {};
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    startup = { error: err };
    log(`the app refuses to serve: ${err.message}`);
  }
  return startup.error;
}

/** The settings problem found at start-up, if any. */
export const startupSettingsError = (): ConfigError | undefined => startup?.error;

/**
 * 503 with a problem document naming each invalid setting and why (never its value): the app is deployed but cannot
 * serve until its settings are fixed (RFC 9110 section 15.6.4).
 */
export const settingsUnavailable = (err: ConfigError): HttpResponseInit =>
  problem(
    503,
    'Service Unavailable: the app settings are invalid',
    err.problems.map((p) => ({ field: p.name, message: p.reason })),
  );

/**
 * The guard of a non-HTTP trigger (timer, activity, Event Grid): with invalid settings it throws the start-up
 * ConfigError before the handler runs, so nothing is attempted with half a configuration.
 */
export function failFast<A extends unknown[], R>(handler: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => {
    const error = startupSettingsError();
    if (error) throw error;
    return handler(...args);
  };
}

/**
 * The error boundary and settings guard of every HTTP trigger: with settings found invalid at start-up it answers 503
 * listing them, without running the handler; input problems are answered by the handler itself; anything thrown here
 * is ours or a dependency's, logged redacted and answered 500 without details (never a secret, never a stack). A
 * ConfigError thrown by a handler (settings read late) is a 503 listing the settings, never a 500.
 */
export function withErrorBoundary<A extends unknown[]>(
  handler: (...args: A) => Promise<HttpResponseInit>,
): (...args: A) => Promise<HttpResponseInit> {
  return async (...args: A) => {
    const invalid = startupSettingsError();
    if (invalid) return settingsUnavailable(invalid);
    try {
      return await handler(...args);
    } catch (err) {
      const safe = ensureErrorType(err);
      const ctx = args.find((a): a is InvocationContext => typeof (a as InvocationContext)?.error === 'function');
      if (err instanceof ConfigError) {
        ctx?.error(`settings invalid: ${safe.message}`);
        return settingsUnavailable(err);
      }
      ctx?.error(`unhandled error: ${safe.name}: ${safe.message}`);
      return problem(500, 'Internal error');
    }
  };
}
