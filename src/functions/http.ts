/** Small response helpers for HTTP triggers: JSON, RFC 9457 problem documents, and the error boundary. */
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

/** Reads a JSON body; undefined when it is not JSON (the caller answers 400). */
export async function readJson(req: HttpRequest): Promise<{ ok: true; value: unknown } | { ok: false }> {
  try {
    const text = await req.text();
    return { ok: true, value: text.trim() === '' ? undefined : (JSON.parse(text) as unknown) };
  } catch {
    return { ok: false };
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
