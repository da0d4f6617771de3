import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';

/**
 * Single-use approval tokens for emailed links (lessons-from-peers §2): unguessable (256 random bits), bound to one
 * orchestration instance and one approver, expiring, and stored only as a SHA-256 hash. The raw token exists only in
 * the email and in the approver's browser; it is never an orchestration input, output, event payload or status.
 */
export type TokenPurpose = 'approval' | 'handoff';

export interface IssuedToken {
  /** The raw token, for the link only. */
  token: string;
  /** Hash prefix, safe to log and to keep in orchestration state. */
  tokenId: string;
}

export interface TokenRecord {
  tokenId: string;
  instanceId: string;
  approver: string;
  purpose: TokenPurpose;
  /** External event the decision is raised as. */
  eventName: string;
  expiresAt: string;
  usedAt?: string;
  decision?: string;
}

export type RedeemFailure = 'unknown' | 'expired' | 'used' | 'wrong-instance';
export type Inspection = { ok: true; record: TokenRecord } | { ok: false; reason: RedeemFailure };

const PARTITION = 'token';
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const hashOf = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

export class ApprovalTokenStore {
  private ensured?: Promise<void>;

  constructor(
    private readonly table: TableClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async ready(): Promise<void> {
    this.ensured ??= this.table.createTable().catch((err: unknown) => {
      this.ensured = undefined;
      throw err;
    });
    return this.ensured;
  }

  async issue(init: Omit<TokenRecord, 'tokenId' | 'usedAt' | 'decision'>): Promise<IssuedToken> {
    await this.ready();
    const token = randomBytes(32).toString('base64url');
    const hash = hashOf(token);
    const tokenId = hash.slice(0, 16);
    await this.table.createEntity({ partitionKey: PARTITION, rowKey: hash, tokenId, ...init });
    return { token, tokenId };
  }

  /** Read-only check for the confirmation page (a GET must change nothing: mail scanners prefetch links). */
  async inspect(token: string, instanceId: string): Promise<Inspection> {
    const found = await this.find(token);
    return found ? this.check(found.record, instanceId) : { ok: false, reason: 'unknown' };
  }

  /**
   * Uses the token once: checks and marks it used on the same snapshot under its ETag, so of two concurrent POSTs
   * exactly one succeeds. Returns the record the decision applies to.
   */
  async redeem(token: string, instanceId: string, decision: string): Promise<Inspection> {
    const found = await this.find(token);
    if (!found) return { ok: false, reason: 'unknown' };
    const checked = this.check(found.record, instanceId);
    if (!checked.ok) return checked;
    const usedAt = this.now().toISOString();
    try {
      await this.table.updateEntity({ partitionKey: PARTITION, rowKey: found.hash, usedAt, decision }, 'Merge', {
        etag: found.etag,
      });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 412) return { ok: false, reason: 'used' };
      throw err;
    }
    return { ok: true, record: { ...found.record, usedAt, decision } };
  }

  private check(record: TokenRecord, instanceId: string): Inspection {
    if (!safeEqual(record.instanceId, instanceId)) return { ok: false, reason: 'wrong-instance' };
    if (record.usedAt) return { ok: false, reason: 'used' };
    if (Date.parse(record.expiresAt) <= this.now().getTime()) return { ok: false, reason: 'expired' };
    return { ok: true, record };
  }

  /** Tokens of an instance that are still open (for reminders and for revoking after a decision). */
  async openFor(instanceId: string): Promise<TokenRecord[]> {
    await this.ready();
    const out: TokenRecord[] = [];
    const escaped = instanceId.replace(/'/g, "''");
    for await (const e of this.table.listEntities<TokenRecord>({
      queryOptions: { filter: `PartitionKey eq '${PARTITION}' and instanceId eq '${escaped}'` },
    }))
      if (!e.usedAt) out.push(strip(e));
    return out;
  }

  private async find(token: string): Promise<{ hash: string; etag: string; record: TokenRecord } | undefined> {
    if (!TOKEN_PATTERN.test(token)) return undefined;
    await this.ready();
    const hash = hashOf(token);
    try {
      const e = await this.table.getEntity<TokenRecord>(PARTITION, hash);
      return { hash, etag: e.etag, record: strip(e) };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }
}

function strip(e: TokenRecord): TokenRecord {
  const { tokenId, instanceId, approver, purpose, eventName, expiresAt, usedAt, decision } = e;
  return {
    tokenId,
    instanceId,
    approver,
    purpose,
    eventName,
    expiresAt,
    ...(usedAt ? { usedAt } : {}),
    ...(decision ? { decision } : {}),
  };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
