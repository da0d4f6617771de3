/**
 * Request bodies have a fixed cap: a body larger than MAX_JSON_BODY_BYTES is refused with 413 and a problem document
 * (RFC 9457), without buffering it. A Content-Length over the cap is refused before a byte is read; a body without
 * Content-Length, or with one that understates it, is counted while it is read and abandoned at the cap.
 */
import { HttpRequest, InvocationContext, type HttpRequestInit } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import type { Deps } from '../../src/app/deps';
import { startIntegration } from '../../src/functions/integrations';
import { MAX_JSON_BODY_BYTES, readJson, readText } from '../../src/functions/http';

const CHUNK = 16 * 1024;

/** A streamed request body of `total` bytes in CHUNK pieces that records how much of it was pulled. */
function streamedRequest(total: number, headers: Record<string, string> = {}, fill = 0x20) {
  const stats = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const n = Math.min(CHUNK, total - stats.pulled);
        if (n <= 0) {
          controller.close();
          return;
        }
        stats.pulled += n;
        controller.enqueue(new Uint8Array(n).fill(fill));
      },
      cancel() {
        stats.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  const nativeRequest = new Request('https://app.example/api/integrations', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
    duplex: 'half',
  });
  // The worker builds HttpRequest around the host's native request the same way (nativeRequest).
  const request = new HttpRequest({ nativeRequest } as unknown as HttpRequestInit);
  return { request, stats };
}

const bufferedRequest = (text: string) =>
  new HttpRequest({
    method: 'POST',
    url: 'https://app.example/api/integrations',
    headers: { 'content-type': 'application/json' },
    body: { string: text },
  });

/** Deps and a durable client that record every use (a refused body must not reach them). */
const used: string[] = [];
const recorder = <T extends object>(what: string): T =>
  new Proxy({} as T, {
    get: (_t, prop) => {
      if (typeof prop === 'string') used.push(`${what}.${prop}`);
      return undefined;
    },
  });

describe('the shared body reader', () => {
  it('caps JSON API bodies at 64 KiB', () => {
    expect(MAX_JSON_BODY_BYTES).toBe(64 * 1024);
  });

  it('refuses a declared Content-Length over the cap without reading the body', async () => {
    const { request, stats } = streamedRequest(10 * 1024 * 1024, { 'content-length': String(10 * 1024 * 1024) });
    const r = await readJson(request);
    expect(r).toEqual({ ok: false, reason: 'too-large', limit: MAX_JSON_BODY_BYTES });
    expect(stats.pulled).toBe(0);
    expect(stats.cancelled).toBe(true);
  });

  it('counts a body without Content-Length and stops reading at the cap', async () => {
    const { request, stats } = streamedRequest(4 * 1024 * 1024);
    expect(request.headers.get('content-length')).toBeNull();
    const r = await readJson(request);
    expect(r).toEqual({ ok: false, reason: 'too-large', limit: MAX_JSON_BODY_BYTES });
    expect(stats.pulled).toBeLessThanOrEqual(MAX_JSON_BODY_BYTES + CHUNK);
    expect(stats.cancelled).toBe(true);
  });

  it('counts a body whose Content-Length understates it', async () => {
    const { request, stats } = streamedRequest(4 * 1024 * 1024, { 'content-length': '100' });
    const r = await readText(request);
    expect(r).toEqual({ ok: false, reason: 'too-large', limit: MAX_JSON_BODY_BYTES });
    expect(stats.pulled).toBeLessThanOrEqual(MAX_JSON_BODY_BYTES + CHUNK);
  });

  it('counts bytes, not characters', async () => {
    // 30,000 euro signs are 90,000 UTF-8 bytes: over the cap although the string is shorter than it.
    const text = JSON.stringify({ tenantName: '€'.repeat(30_000) });
    expect(text.length).toBeLessThan(MAX_JSON_BODY_BYTES);
    expect(await readJson(bufferedRequest(text))).toMatchObject({ ok: false, reason: 'too-large' });
  });

  it('reads a body of exactly the cap, and refuses one byte more', async () => {
    const exact = JSON.stringify({ pad: 'x'.repeat(MAX_JSON_BODY_BYTES - 10) });
    expect(Buffer.byteLength(exact)).toBe(MAX_JSON_BODY_BYTES);
    expect(await readJson(bufferedRequest(exact))).toEqual({ ok: true, value: JSON.parse(exact) });
    const over = JSON.stringify({ pad: 'x'.repeat(MAX_JSON_BODY_BYTES - 9) });
    expect(await readJson(bufferedRequest(over))).toMatchObject({ ok: false, reason: 'too-large' });
  });

  it('still tells invalid JSON and an empty body apart from a large one', async () => {
    expect(await readJson(bufferedRequest('{"tenant":'))).toEqual({ ok: false, reason: 'not-json' });
    expect(await readJson(bufferedRequest(''))).toEqual({ ok: true, value: undefined });
    expect(await readText(bufferedRequest('{"a":"é"}'))).toEqual({ ok: true, text: '{"a":"é"}' });
  });
});

describe('POST /api/integrations with a body over the cap', () => {
  const ctx = () => new InvocationContext({ functionName: 'startIntegration' });

  it.each([
    ['a declared Content-Length over the cap', { 'content-length': String(64 * 1024 + 1) }],
    ['no Content-Length', {}],
    ['an understated Content-Length', { 'content-length': '2' }],
  ])('answers 413 with a problem document for %s, touching nothing', async (_what, headers) => {
    const { request } = streamedRequest(256 * 1024, headers, 0x7b);
    used.length = 0;
    const res = await startIntegration(request, recorder<DurableClient>('client'), ctx(), recorder<Deps>('deps'));
    expect(used).toEqual([]);
    expect(res.status).toBe(413);
    expect((res.headers as Record<string, string>)['Content-Type']).toBe('application/problem+json');
    expect(res.jsonBody).toEqual({
      type: 'about:blank',
      title: 'Content Too Large',
      status: 413,
      errors: [{ field: '(body)', message: `body must be at most ${MAX_JSON_BODY_BYTES} bytes` }],
    });
  });
});
