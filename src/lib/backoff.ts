/**
 * Jittered, capped exponential backoff ("equal jitter", AWS Architecture Blog "Exponential Backoff And Jitter") and
 * Retry-After parsing (RFC 9110 section 10.2.3: delay-seconds or an HTTP-date). Sleep and random are injectable for
 * tests.
 */

export interface BackoffPolicy {
  /** Delay before the first retry, before jitter. */
  baseMs: number;
  /** Upper bound of any computed delay. */
  maxMs: number;
  /** Growth per attempt (default 2). */
  factor?: number;
}

export type Sleep = (ms: number) => Promise<void>;
export type Random = () => number;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Delay before retry number `retry` (0 = first retry): half of the capped exponential value fixed, the other half
 * jittered, so retries never collapse to zero and concurrent callers spread out.
 */
export function backoffDelay(retry: number, policy: BackoffPolicy, random: Random = Math.random): number {
  const factor = policy.factor ?? 2;
  const exp = Math.min(policy.maxMs, policy.baseMs * Math.pow(factor, Math.max(0, retry)));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(exp / 2 + (exp / 2) * r);
}

/** Milliseconds from a Retry-After header value, or undefined if absent or unparseable. Past dates give 0. */
export function parseRetryAfter(value: string | undefined | null, now: number = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
