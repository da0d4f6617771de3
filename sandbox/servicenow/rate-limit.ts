import type { SandboxResponse } from '../core/types';
import { snError } from './errors';

/**
 * Inbound REST API rate limiting (docs/reference/servicenow.md#rate-limiting-and-retries; SN-RATE): rules count
 * requests per user per hour; matching responses carry X-RateLimit-Limit / -Reset (Unix seconds of the next reset) /
 * -Rule (the rule's sys_id); a rejected call gets 429 + Retry-After and the documented body.
 */
export interface RateLimitRule {
  /** sys_id of the sys_rate_limit_rules record (X-RateLimit-Rule); generated when omitted. */
  sysId?: string;
  /** user_name the rule applies to; omitted = all users. */
  user?: string;
  requestsPerHour: number;
}

export interface ActiveRule {
  sysId: string;
  user?: string;
  requestsPerHour: number;
}

const HOUR_MS = 3600_000;

export class RateLimiter {
  private rules: ActiveRule[] = [];
  private readonly counts = new Map<string, number>();

  constructor(rules: RateLimitRule[] = []) {
    this.set(rules);
  }

  set(rules: RateLimitRule[]): void {
    this.rules = rules.map((r, i) => ({
      sysId: r.sysId ?? `5ad1e0c2c3a1f6d0${String(i).padStart(16, '0')}`,
      requestsPerHour: r.requestsPerHour,
      ...(r.user ? { user: r.user } : {}),
    }));
    this.counts.clear();
  }

  list(): ActiveRule[] {
    return this.rules.map((r) => ({ ...r }));
  }

  /** Counts one request; returns the headers to add, and a 429 when the rule's budget is spent. */
  check(user: string, nowMs: number): { headers: Record<string, string>; rejected?: SandboxResponse } {
    const rule = this.rules.find((r) => r.user === undefined || r.user === user);
    if (!rule) return { headers: {} };
    const windowStart = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
    const reset = windowStart + HOUR_MS;
    const key = `${rule.sysId}|${user}|${windowStart}`;
    const used = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, used);
    const headers = rateHeaders(rule.requestsPerHour, Math.floor(reset / 1000), rule.sysId);
    if (used <= rule.requestsPerHour) return { headers };
    const retryAfter = String(Math.max(1, Math.ceil((reset - nowMs) / 1000)));
    return { headers, rejected: tooMany(rule.requestsPerHour, { ...headers, 'Retry-After': retryAfter }) };
  }

  reset(): void {
    this.counts.clear();
  }
}

export const rateHeaders = (limit: number, resetEpochSeconds: number, ruleSysId: string): Record<string, string> => ({
  'X-RateLimit-Limit': String(limit),
  'X-RateLimit-Reset': String(resetEpochSeconds),
  'X-RateLimit-Rule': ruleSysId,
});

/** The documented 429 body (SN-RATE, docs/reference/servicenow.md#rate-limiting-and-retries). */
export const tooMany = (limit: number, headers: Record<string, string>): SandboxResponse =>
  snError(429, 'Rate limit exceeded', `Rate limit of ${limit} requests per hour for Table API exceeded`, headers);
