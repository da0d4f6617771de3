/**
 * Small helpers for HTTP triggers: the capped body reader, JSON, RFC 9457 problem documents, and the error boundary.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

import { ensureErrorType } from '../lib/errors';

export interface Problem {
  field: string;
  message: string;
}

const NO_STORE = { 'Cache-Control': 'no-store' };

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit => ({
  status,
  jsonBody: body,
  headers: { ...NO_STORE, ...headers },
});

/** A problem document (RFC 9457) listing every problem. */
export function problem(status: number, title: string, problems: Problem[] = []): HttpResponseInit {
  return {
    status,
    jsonBody: { type: 'about:blank', title, status, ...(problems.length ? { errors: problems } : {}) },
    headers: { ...NO_STORE, 'Content-Type': 'application/problem+json' },
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

/**
 * The error boundary of an HTTP trigger: input problems are answered by the handler itself; anything thrown here
 * is ours or a dependency's, logged redacted and answered 500 without details (never a secret, never a stack).
 */
export function withErrorBoundary<A extends unknown[]>(
  handler: (...args: A) => Promise<HttpResponseInit>,
): (...args: A) => Promise<HttpResponseInit> {
  return async (...args: A) => {
    try {
      return await handler(...args);
    } catch (err) {
      const safe = ensureErrorType(err);
      const ctx = args.find((a): a is InvocationContext => typeof (a as InvocationContext)?.error === 'function');
      ctx?.error(`unhandled error: ${safe.name}: ${safe.message}`);
      return problem(500, 'Internal error');
    }
  };
}
