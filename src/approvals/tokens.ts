import { randomBytes, timingSafeEqual } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';

import { hashKey, TableBacked, tableStatus } from '../registry/table';

import type { ApprovalPlan } from '../contracts/provision';
import type { PlanSource } from './plan';

/**
 * Single-use approval tokens for emailed links: unguessable (256 random bits), bound to one orchestration instance and
 * one approver, expiring, and stored only as a SHA-256 hash. The raw token exists only in the email and in the
 * approver's browser; it is never an orchestration input, output, event payload or status.
 *
 * A provisioning run keeps the source of the plan it applies (partition `plan`, one row per instance, replaced when
 * the run learns the real app ids and sys_ids): the approval activity builds the plan from it, and the integrations
 * API shows it, each after checking it against the digest the run holds (src/approvals/plan.ts `resolvePlan`).
 *
 * Each instance also has one approval round row (partition `round`): the decisions recorded so far and, once the round
 * is decided (a rejection, or `quorum` distinct approvals) or closed by the orchestrator (decided, expired, ended), who
 * decided and when. Every change to it is conditional on its ETag, so of two decisions made at the same moment the
 * second sees the first (https://learn.microsoft.com/rest/api/storageservices/update-entity2, If-Match).
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
  /** Digest of the plan the link asks about (src/approvals/plan.ts); carried into the decision event. */
  planDigest?: string;
  /** Lower-cased addresses of the people who asked for the change: never approvers of it. */
  requesters?: string[];
  /** Distinct approvals that decide the round (stored with the link in case the round row is missing). */
  quorum?: number;
  /** The integration the link decides for (its audit trail records the decision). */
  integrationId?: string;
  /** The round of links this one was mailed in (0 = the first mail, then reminders): recorded with the decision. */
  round?: number;
}

export type RoundCloseReason = 'decided' | 'expired' | 'ended';

export interface RoundDecision {
  approver: string;
  decision: 'approve' | 'reject';
  at: string;
  tokenId: string;
  planDigest?: string;
}

/** The approval round of one instance. */
export interface RoundState {
  instanceId: string;
  quorum: number;
  planDigest?: string;
  state: 'open' | 'closed';
  reason?: RoundCloseReason;
  /** The decision that closed the round (absent when it expired or ended undecided). */
  decidedBy?: string;
  decidedAt?: string;
  decision?: 'approve' | 'reject';
  decisions: RoundDecision[];
}

export type RecordOutcome =
  /** Recorded; `decided` when this decision decided the round; `remaining` approvals still needed otherwise. */
  | { outcome: 'recorded'; round: RoundState; decided: boolean; remaining: number }
  /** The round was already closed: nothing recorded. */
  | { outcome: 'closed'; round: RoundState }
  /** This approver already decided in this round (through another of their links): nothing recorded. */
  | { outcome: 'duplicate'; round: RoundState };

export type RedeemFailure = 'unknown' | 'expired' | 'used' | 'wrong-instance';
export type Inspection = { ok: true; record: TokenRecord } | { ok: false; reason: RedeemFailure };

const PARTITION = 'token';
const SENT_PARTITION = 'sent';
const ROUND_PARTITION = 'round';
const PLAN_PARTITION = 'plan';

/** The plan a provisioning run applies, as kept per instance (partition `plan`): its source and the run's digest. */
export interface RunPlanRecord {
  instanceId: string;
  digest: string;
  /** How the run treats the approval gate (first, staged, silent, resume). */
  mode: string;
  source: PlanSource;
}

/** A round as stored: its decisions and plan as JSON strings (a table property is a scalar). */
interface RoundEntity extends Omit<RoundState, 'decisions'> {
  /** The token whose decision closed the round (so an undelivered decision can be undone). */
  decidedByToken?: string;
  decisionsJson: string;
  /** The plan the links ask about, for the confirmation page (not secret). */
  planJson?: string;
}

/** Table Storage string properties hold at most 64 KiB (32K UTF-16 characters); a larger plan is not kept. */
const MAX_PLAN_CHARS = 30_000;

/** Distinct approvers who approved the round's plan. */
function approvalsOf(round: RoundState): number {
  const approvers = new Set<string>();
  for (const d of round.decisions)
    if (d.decision === 'approve' && (round.planDigest === undefined || d.planDigest === round.planDigest))
      approvers.add(d.approver.toLowerCase());
  return approvers.size;
}

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
const sendRowKey = (k: SendKey) => hashKey([k.instanceId, k.kind, k.round, k.recipient]);
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export class ApprovalTokenStore extends TableBacked {
  constructor(
    table: TableClient,
    private readonly now: () => Date = () => new Date(),
  ) {
    super(table);
  }

  async issue(init: Omit<TokenRecord, 'tokenId' | 'usedAt' | 'decision'>): Promise<IssuedToken> {
    await this.ready();
    const token = randomBytes(32).toString('base64url');
    const hash = hashKey(token);
    const tokenId = hash.slice(0, 16);
    const { requesters, ...rest } = init;
    // Table Storage has no array type: the requesters are stored as JSON.
    await this.table.createEntity({
      partitionKey: PARTITION,
      rowKey: hash,
      tokenId,
      ...rest,
      ...(requesters ? { requestersJson: JSON.stringify(requesters) } : {}),
    });
    return { token, tokenId };
  }

  /** Read-only check for the confirmation page (a GET must change nothing: mail scanners prefetch links). */
  async inspect(token: string, instanceId: string): Promise<Inspection> {
    const found = await this.findToken(token);
    return found ? this.check(found.record, instanceId) : { ok: false, reason: 'unknown' };
  }

  /**
   * Uses the token once: checks and marks it used on the same snapshot under its ETag, so of two concurrent POSTs
   * exactly one succeeds. Returns the record the decision applies to.
   */
  async redeem(token: string, instanceId: string, decision: string): Promise<Inspection> {
    const found = await this.findToken(token);
    if (!found) return { ok: false, reason: 'unknown' };
    const checked = this.check(found.record, instanceId);
    if (!checked.ok) return checked;
    const usedAt = this.now().toISOString();
    try {
      await this.table.updateEntity({ partitionKey: PARTITION, rowKey: found.hash, usedAt, decision }, 'Merge', {
        etag: found.etag,
      });
    } catch (err) {
      if (tableStatus(err) === 412) return { ok: false, reason: 'used' };
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
    const found = await this.findToken(token);
    if (!found?.record.usedAt || !safeEqual(found.record.instanceId, instanceId)) return false;
    const { usedAt: _u, decision: _d, requesters, ...rest } = found.record;
    try {
      const entity = {
        partitionKey: PARTITION,
        rowKey: found.hash,
        ...rest,
        ...(requesters ? { requestersJson: JSON.stringify(requesters) } : {}),
      };
      await this.table.updateEntity(entity, 'Replace', {
        etag: found.etag,
      });
    } catch (err) {
      if (tableStatus(err) === 412) return false;
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
      if (tableStatus(err) !== 409) throw err;
    }
    const existing = await this.table.getEntity<SentMarker>(SENT_PARTITION, rowKey);
    if (existing.state === 'sent') return { state: 'sent', ...(existing.tokenId ? { tokenId: existing.tokenId } : {}) };
    if (now.getTime() - Date.parse(existing.claimedAt) < leaseMs) return { state: 'busy' };
    try {
      await this.table.updateEntity(entity, 'Replace', { etag: existing.etag });
      return { state: 'claimed' };
    } catch (err) {
      if (tableStatus(err) === 412) return { state: 'busy' };
      throw err;
    }
  }

  /** Recipients whose email of `kind` for an instance is marked sent (one query over the instance's markers). */
  async sentTo(instanceId: string, kind: SendKey['kind']): Promise<string[]> {
    await this.ready();
    const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;
    const filter = `PartitionKey eq '${SENT_PARTITION}' and instanceId eq ${quote(instanceId)} and kind eq ${quote(kind)}`;
    const out: string[] = [];
    for await (const e of this.table.listEntities<SentMarker & { recipient: string }>({ queryOptions: { filter } }))
      if (e.state === 'sent') out.push(e.recipient);
    return out;
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
      if (tableStatus(err) !== 404) throw err;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // The approval round of an instance: decisions recorded so far, and who closed it when.

  /** The round of an instance, or undefined when none was opened and nothing was decided yet. */
  async round(instanceId: string): Promise<RoundState | undefined> {
    const found = await this.readRound(instanceId);
    return found && toRound(found.entity);
  }

  /** The plan the instance's links ask about, when the round keeps it. */
  async roundPlan(instanceId: string): Promise<ApprovalPlan | undefined> {
    const found = await this.readRound(instanceId);
    if (!found?.entity.planJson) return undefined;
    try {
      return JSON.parse(found.entity.planJson) as ApprovalPlan;
    } catch {
      return undefined;
    }
  }

  /** Keeps (replaces) the plan source of a provisioning run. */
  async savePlan(record: RunPlanRecord): Promise<void> {
    await this.ready();
    const sourceJson = JSON.stringify(record.source);
    if (sourceJson.length > MAX_PLAN_CHARS) throw new Error(`the plan of ${record.instanceId} is too large to keep`);
    await this.table.upsertEntity(
      {
        partitionKey: PLAN_PARTITION,
        rowKey: hashKey(record.instanceId),
        instanceId: record.instanceId,
        digest: record.digest,
        mode: record.mode,
        sourceJson,
      },
      'Replace',
    );
  }

  /** The plan source a provisioning run keeps, when it keeps one. */
  async runPlan(instanceId: string): Promise<RunPlanRecord | undefined> {
    const e = await this.find<{ instanceId: string; digest: string; mode: string; sourceJson: string }>(
      PLAN_PARTITION,
      hashKey(instanceId),
    );
    if (!e || e.instanceId !== instanceId) return undefined;
    try {
      return { instanceId, digest: e.digest, mode: e.mode, source: JSON.parse(e.sourceJson) as PlanSource };
    } catch {
      return undefined;
    }
  }

  /** Opens the round of an instance (sending the links does); an existing round is left as it is. */
  async openRound(instanceId: string, quorum: number, planDigest?: string, plan?: ApprovalPlan): Promise<RoundState> {
    await this.ready();
    const planJson = plan ? JSON.stringify(plan) : undefined;
    const entity: RoundEntity = {
      instanceId,
      quorum,
      ...(planDigest ? { planDigest } : {}),
      state: 'open',
      decisionsJson: '[]',
      ...(planJson && planJson.length <= MAX_PLAN_CHARS ? { planJson } : {}),
    };
    try {
      await this.table.createEntity({ partitionKey: ROUND_PARTITION, rowKey: hashKey(instanceId), ...entity });
      return toRound(entity);
    } catch (err) {
      if (tableStatus(err) !== 409) throw err;
    }
    return (await this.round(instanceId)) ?? toRound(entity);
  }

  /**
   * Records a decision in the instance's round, under the round's ETag: of two decisions made at the same moment each
   * sees the other, so exactly one of them decides a quorum-1 round and the other finds it closed. A rejection
   * decides the round; so do `quorum` distinct approvals of the round's plan.
   */
  async recordDecision(instanceId: string, d: RoundDecision, defaultQuorum = 1): Promise<RecordOutcome> {
    return this.updateRound<RecordOutcome>(instanceId, defaultQuorum, d.planDigest, (round) => {
      if (round.state === 'closed') return { result: { outcome: 'closed', round } };
      if (round.decisions.some((x) => x.approver.toLowerCase() === d.approver.toLowerCase()))
        return { result: { outcome: 'duplicate', round } };
      const next: RoundState = { ...round, decisions: [...round.decisions, d] };
      const approvals = approvalsOf(next);
      const decided = d.decision === 'reject' || approvals >= next.quorum;
      if (decided)
        Object.assign(next, {
          state: 'closed',
          reason: 'decided',
          decidedBy: d.approver,
          decidedAt: d.at,
          decision: d.decision,
        });
      return {
        next,
        decidedByToken: decided ? d.tokenId : undefined,
        result: { outcome: 'recorded', round: next, decided, remaining: Math.max(0, next.quorum - approvals) },
      };
    });
  }

  /** Takes back a recorded decision that could not be delivered; a round it decided opens again. */
  async undoDecision(instanceId: string, tokenId: string): Promise<void> {
    await this.updateRound<undefined>(instanceId, 1, undefined, (round, entity) => {
      if (!round.decisions.some((x) => x.tokenId === tokenId)) return { result: undefined };
      const next: RoundState = { ...round, decisions: round.decisions.filter((x) => x.tokenId !== tokenId) };
      if (entity?.decidedByToken === tokenId) {
        next.state = 'open';
        delete next.reason;
        delete next.decidedBy;
        delete next.decidedAt;
        delete next.decision;
      }
      return { next, result: undefined };
    });
  }

  /**
   * Closes the round of an instance (the orchestrator: decided, expired, ended). A round already closed keeps who
   * closed it and when; `decision` names the decider when the round was not closed by a recorded decision.
   */
  async closeRound(
    instanceId: string,
    reason: RoundCloseReason,
    decision?: { decision: 'approve' | 'reject'; approver: string; at: string },
  ): Promise<RoundState> {
    return this.updateRound<RoundState>(instanceId, 1, undefined, (round) => {
      if (round.state === 'closed') return { result: round };
      const next: RoundState = {
        ...round,
        state: 'closed',
        reason,
        ...(decision ? { decidedBy: decision.approver, decidedAt: decision.at, decision: decision.decision } : {}),
      };
      if (!decision) next.decidedAt = this.now().toISOString();
      return { next, result: next };
    });
  }

  private async readRound(instanceId: string): Promise<{ etag: string; entity: RoundEntity } | undefined> {
    const e = await this.find<RoundEntity>(ROUND_PARTITION, hashKey(instanceId));
    return e ? { etag: e.etag, entity: e } : undefined;
  }

  /** Read, change, write conditionally; on a conflict read again (bounded). */
  private async updateRound<T>(
    instanceId: string,
    defaultQuorum: number,
    planDigest: string | undefined,
    change: (
      round: RoundState,
      entity: RoundEntity | undefined,
    ) => { next?: RoundState; decidedByToken?: string; result: T },
  ): Promise<T> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const found = await this.readRound(instanceId);
      const round: RoundState = found
        ? toRound(found.entity)
        : { instanceId, quorum: defaultQuorum, ...(planDigest ? { planDigest } : {}), state: 'open', decisions: [] };
      const { next, decidedByToken, result } = change(round, found?.entity);
      if (!next) return result;
      const entity: RoundEntity & { partitionKey: string; rowKey: string } = {
        partitionKey: ROUND_PARTITION,
        rowKey: hashKey(instanceId),
        instanceId,
        quorum: next.quorum,
        ...(next.planDigest ? { planDigest: next.planDigest } : {}),
        state: next.state,
        ...(next.reason ? { reason: next.reason } : {}),
        ...(next.decidedBy ? { decidedBy: next.decidedBy } : {}),
        ...(next.decidedAt ? { decidedAt: next.decidedAt } : {}),
        ...(next.decision ? { decision: next.decision } : {}),
        ...((decidedByToken ?? (next.state === 'closed' ? found?.entity.decidedByToken : undefined))
          ? { decidedByToken: decidedByToken ?? found?.entity.decidedByToken }
          : {}),
        decisionsJson: JSON.stringify(next.decisions),
        ...(found?.entity.planJson ? { planJson: found.entity.planJson } : {}),
      };
      try {
        if (found) await this.table.updateEntity(entity, 'Replace', { etag: found.etag });
        else await this.table.createEntity(entity);
        return result;
      } catch (err) {
        if (tableStatus(err) === 412 || tableStatus(err) === 409) continue;
        throw err;
      }
    }
    throw new Error(`approval round of ${instanceId}: too many concurrent updates`);
  }

  private async findToken(token: string): Promise<{ hash: string; etag: string; record: TokenRecord } | undefined> {
    if (!TOKEN_PATTERN.test(token)) return undefined;
    const hash = hashKey(token);
    const e = await this.find<TokenRecord>(PARTITION, hash);
    return e ? { hash, etag: e.etag, record: strip(e) } : undefined;
  }
}

function strip(e: TokenRecord & { requestersJson?: string }): TokenRecord {
  const { tokenId, instanceId, approver, purpose, eventName, expiresAt, subject, usedAt, decision } = e;
  const { planDigest, quorum, requestersJson, integrationId, round } = e;
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
    ...(planDigest ? { planDigest } : {}),
    ...(typeof quorum === 'number' ? { quorum } : {}),
    ...(integrationId ? { integrationId } : {}),
    ...(typeof round === 'number' ? { round } : {}),
    ...(requestersJson ? { requesters: parseStrings(requestersJson) } : {}),
  };
}

function parseStrings(json: string): string[] {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function toRound(e: RoundEntity): RoundState {
  let decisions: RoundDecision[] = [];
  try {
    const v: unknown = JSON.parse(e.decisionsJson);
    if (Array.isArray(v)) decisions = v as RoundDecision[];
  } catch {
    decisions = [];
  }
  return {
    instanceId: e.instanceId,
    quorum: e.quorum,
    ...(e.planDigest ? { planDigest: e.planDigest } : {}),
    state: e.state,
    ...(e.reason ? { reason: e.reason } : {}),
    ...(e.decidedBy ? { decidedBy: e.decidedBy } : {}),
    ...(e.decidedAt ? { decidedAt: e.decidedAt } : {}),
    ...(e.decision ? { decision: e.decision } : {}),
    decisions,
  };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
