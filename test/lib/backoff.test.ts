import { backoffDelay, parseRetryAfter } from '../../src/lib/backoff';

describe('backoffDelay', () => {
  const policy = { baseMs: 500, maxMs: 8000 };

  it('grows exponentially with half the delay fixed and half jittered', () => {
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, policy, () => 0))).toEqual([250, 500, 1000, 2000]);
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, policy, () => 1))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(1, policy, () => 0.5)).toBe(750);
  });

  it('caps the delay at maxMs', () => {
    expect(backoffDelay(10, policy, () => 1)).toBe(8000);
    expect(backoffDelay(10, policy, () => 0)).toBe(4000);
  });

  it('honours a custom factor and clamps random draws outside 0..1', () => {
    expect(backoffDelay(2, { baseMs: 100, maxMs: 10_000, factor: 3 }, () => 1)).toBe(900);
    expect(backoffDelay(0, policy, () => 7)).toBe(500);
    expect(backoffDelay(-3, policy, () => -1)).toBe(250);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
  });

  it('reads an HTTP date relative to now, past dates as 0', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
  });

  it('ignores absent and malformed values', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('-1', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});
