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
  /** What is being approved (e.g. the integration id), shown on the confirmation page. Not secret. */
  subject?: string;
  usedAt?: string;
  decision?: string;
}

export type RedeemFailure = 'unknown' | 'expired' | 'used' | 'wrong-instance';
export type Inspection = { ok: true; record: TokenRecord } | { ok: false; reason: RedeemFailure };

const PARTITION = 'token';
const SENT_PARTITION = 'sent';

/** One email: an approval request round or the final report, to one recipient, for one instance. */
export interface SendKey {
  instanceId: string;
  kind: 'approval' | 'report' | 'handoff';
  round: number;
  /** Lower-cased address. */
  recipient: string;
}
export type SendClaim = { state: 'claimed' } | { state: 'sent'; tokenId?: string } | { state: 'busy' };

interface SentMarker {
  state: 'sending' | 'sent';
  claimedAt: string;
  tokenId?: string;
}

/** Row keys may not contain '/', '\\', '#', '?': hash the natural key. */
const sendRowKey = (k: SendKey) =>
  createHash('sha256')
    .update(JSON.stringify([k.instanceId, k.kind, k.round, k.recipient]), 'utf8')
    .digest('hex');
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

  /** Approvers of an instance who have used a token (decided), lower-cased; optionally for one event only. */
  async decidedFor(instanceId: string, eventName?: string): Promise<string[]> {
    await this.ready();
    const out = new Set<string>();
    const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;
    const filter = `PartitionKey eq '${PARTITION}' and instanceId eq ${quote(instanceId)}${
      eventName === undefined ? '' : ` and eventName eq ${quote(eventName)}`
    }`;
    for await (const e of this.table.listEntities<TokenRecord>({ queryOptions: { filter } }))
      if (e.usedAt) out.add(e.approver.toLowerCase());
    return [...out];
  }

  /**
   * Undoes a redemption whose decision could not be delivered (the event was not raised), so the approver can retry.
   * Conditional on the ETag of the used record: only the redemption that is being undone is reverted.
   */
  async release(token: string, instanceId: string): Promise<boolean> {
    const found = await this.find(token);
    if (!found?.record.usedAt || !safeEqual(found.record.instanceId, instanceId)) return false;
    const { usedAt: _u, decision: _d, ...rest } = found.record;
    try {
      await this.table.updateEntity({ partitionKey: PARTITION, rowKey: found.hash, ...rest }, 'Replace', {
        etag: found.etag,
      });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 412) return false;
      throw err;
    }
    return true;
  }

  // -------------------------------------------------------------------------------------------------------------
  // "Sent" markers: at most one email per (instance, round, recipient), also when an activity runs twice or
  // concurrently with itself. A marker is claimed with a conditional create before sending and completed after.

  /**
   * Claims the right to send `key`'s email. `claimed`: send now (then `completeSend` or `abandonSend`); `sent`: it was
   * sent before (its tokenId, if any); `busy`: another run holds a fresh claim (retry later). A claim older than
   * `leaseMs` (a run that crashed between claim and send) is taken over under its ETag.
   */
  async claimSend(key: SendKey, leaseMs = 5 * 60_000): Promise<SendClaim> {
    await this.ready();
    const rowKey = sendRowKey(key);
    const now = this.now();
    const entity = {
      partitionKey: SENT_PARTITION,
      rowKey,
      instanceId: key.instanceId,
      kind: key.kind,
      round: key.round,
      recipient: key.recipient,
      state: 'sending',
      claimedAt: now.toISOString(),
    };
    try {
      await this.table.createEntity(entity);
      return { state: 'claimed' };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
    }
    const existing = await this.table.getEntity<SentMarker>(SENT_PARTITION, rowKey);
    if (existing.state === 'sent') return { state: 'sent', ...(existing.tokenId ? { tokenId: existing.tokenId } : {}) };
    if (now.getTime() - Date.parse(existing.claimedAt) < leaseMs) return { state: 'busy' };
    try {
      await this.table.updateEntity(entity, 'Replace', { etag: existing.etag });
      return { state: 'claimed' };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 412) return { state: 'busy' };
      throw err;
    }
  }

  /** Marks `key`'s email as sent (with the tokenId of the link it carried). */
  async completeSend(key: SendKey, tokenId?: string): Promise<void> {
    await this.table.updateEntity(
      {
        partitionKey: SENT_PARTITION,
        rowKey: sendRowKey(key),
        state: 'sent',
        sentAt: this.now().toISOString(),
        ...(tokenId ? { tokenId } : {}),
      },
      'Merge',
    );
  }

  /** Drops a claim whose send failed, so a retry sends again. */
  async abandonSend(key: SendKey): Promise<void> {
    try {
      await this.table.deleteEntity(SENT_PARTITION, sendRowKey(key));
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
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
  const { tokenId, instanceId, approver, purpose, eventName, expiresAt, subject, usedAt, decision } = e;
  return {
    tokenId,
    instanceId,
    approver,
    purpose,
    eventName,
    expiresAt,
    ...(subject ? { subject } : {}),
    ...(usedAt ? { usedAt } : {}),
    ...(decision ? { decision } : {}),
  };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
