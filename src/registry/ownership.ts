import { randomUUID } from 'node:crypto';

import type { TableClient, TableEntity } from '@azure/data-tables';

import { AppError } from '../lib/errors';
import { hashKey, TableBacked, tableStatus } from './table';

/**
 * The ownership ledger (Azure Table Storage table `ownership`): who created which ServiceNow record, recorded when it
 * happens and never inferred from timestamps. Several integrations share one ServiceNow instance, so a record found
 * by its natural key may be this run's, an earlier run's, another integration's or a person's; only the ledger tells.
 *
 * - Unshared records (a natural key unique to the integration): one row per (integration, record key). The run
 *   records a claim before it inserts and the sys_id after, so a repeated execution of the same run (at-least-once)
 *   still knows the record is its own, and compensation deletes only what its own run created.
 * - Shared records (the profile's cross-scope privileges, role grants to people named in a request, IP allow rules):
 *   one row per (instance, table, natural key) with the sys_id, who created it (an integration id, or
 *   `pre-existing` when it existed before any integration referenced it) and the integrations holding a reference
 *   (each with the run that took it). The record is deleted only when the last reference goes and an integration
 *   created it.
 *
 * Every change is a read-modify-write under the row's ETag (HTTP 412 on a concurrent change, 409 on a concurrent
 * create), retried with a fresh read: Azure Table Storage optimistic concurrency,
 * https://learn.microsoft.com/azure/storage/tables/table-storage-design-patterns#optimistic-concurrency (and
 * https://learn.microsoft.com/rest/api/storageservices/update-entity2 for If-Match).
 */

/** `createdBy` of a shared record that existed before any integration referenced it: never deleted by us. */
export const PRE_EXISTING = 'pre-existing';

const RECORD_PARTITION = 'record';
const INSERT_PARTITION = 'insert';
const SHARED_PARTITION = 'shared';
const DEFAULT_ATTEMPTS = 10;
/**
 * A removal in progress (tombstone) or an announced insert older than this was abandoned by a crashed execution:
 * others take over.
 */
export const LEASE_MS = 5 * 60_000;

/** The claim of an unshared record by the run that creates it. */
export interface RecordClaim {
  integrationId: string;
  /** Record key (profile key, or e.g. `grant:<user>:<role>`). */
  key: string;
  table: string;
  serviceNowInstance: string;
  /** Orchestration instance id of the run that claimed (and then created) the record. */
  createdRun: string;
  /** Empty until the run recorded the sys_id its insert returned. */
  sysId: string;
  claimedAt: string;
}

/** A reference-counted shared record. */
export interface SharedEntry {
  serviceNowInstance: string;
  table: string;
  naturalKey: Record<string, string>;
  /** Empty while unknown (an insert is pending, or the record went away). */
  sysId: string;
  /** An integration id, `pre-existing`, or empty when not known (then never deleted). */
  createdBy: string;
  /** The run of `createdBy` that inserted it (empty for `pre-existing`). */
  createdRun: string;
  /** An insert announced before it is made (cleared when its result is recorded). */
  pendingBy?: string;
  pendingRun?: string;
  /** ISO time of the announcement: other runs wait for it (one inserter at a time) until the lease ends. */
  pendingSince?: string;
  /** Integration id → the run that took its reference. */
  holders: Record<string, string>;
  /** ISO time a compensation decided to delete the record (tombstone); references wait for it. */
  deletingSince?: string;
}

/** An insert lock held by one execution (see `lockInsert`). */
export interface InsertLock {
  rowKey: string;
  token: string;
}

/** A shared record is being removed by another integration's compensation: retry later (durable retry). */
export class OwnershipBusyError extends AppError {
  constructor(message: string) {
    super(message, 'OwnershipBusy');
  }
}

/** Read-modify-write gave up after `attempts` concurrent changes. */
export class OwnershipConcurrencyError extends Error {
  constructor(what: string) {
    super(`the ownership ledger row of ${what} kept changing under concurrent writers`);
    this.name = 'OwnershipConcurrencyError';
  }
}

/** Natural keys compared independently of property order. */
function canonical(naturalKey: Record<string, string>): [string, string][] {
  return Object.entries(naturalKey).sort(([a], [b]) => a.localeCompare(b));
}

const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;

type Row = Record<string, unknown> & { etag?: string };

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function toClaim(e: Row): RecordClaim {
  return {
    integrationId: str(e.integrationId),
    key: str(e.key),
    table: str(e.table),
    serviceNowInstance: str(e.serviceNowInstance),
    createdRun: str(e.createdRun),
    sysId: str(e.sysId),
    claimedAt: str(e.claimedAt),
  };
}

function toShared(e: Row): SharedEntry {
  const parse = <T>(v: unknown, fallback: T): T => (typeof v === 'string' && v ? (JSON.parse(v) as T) : fallback);
  return {
    serviceNowInstance: str(e.serviceNowInstance),
    table: str(e.table),
    naturalKey: parse<Record<string, string>>(e.naturalKey, {}),
    sysId: str(e.sysId),
    createdBy: str(e.createdBy),
    createdRun: str(e.createdRun),
    ...(e.pendingBy ? { pendingBy: str(e.pendingBy) } : {}),
    ...(e.pendingRun ? { pendingRun: str(e.pendingRun) } : {}),
    ...(e.pendingSince ? { pendingSince: str(e.pendingSince) } : {}),
    holders: parse<Record<string, string>>(e.holders, {}),
    ...(e.deletingSince ? { deletingSince: str(e.deletingSince) } : {}),
  };
}

function sharedEntity(rowKey: string, s: SharedEntry): TableEntity<Record<string, unknown>> {
  return {
    partitionKey: SHARED_PARTITION,
    rowKey,
    serviceNowInstance: s.serviceNowInstance,
    table: s.table,
    naturalKey: JSON.stringify(Object.fromEntries(canonical(s.naturalKey))),
    sysId: s.sysId,
    createdBy: s.createdBy,
    createdRun: s.createdRun,
    pendingBy: s.pendingBy ?? '',
    pendingRun: s.pendingRun ?? '',
    pendingSince: s.pendingSince ?? '',
    holders: JSON.stringify(s.holders),
    deletingSince: s.deletingSince ?? '',
  };
}

/** What a mutation returns: the new value, `null` to delete the row, or `undefined` to leave it unchanged. */
export type Mutation<T> = T | null | undefined;

export class OwnershipLedger extends TableBacked {
  constructor(
    table: TableClient,
    private readonly now: () => Date = () => new Date(),
  ) {
    super(table);
  }

  nowIso(): string {
    return this.now().toISOString();
  }

  private read(partition: string, rowKey: string): Promise<Row | undefined> {
    return this.find<Record<string, unknown>>(partition, rowKey);
  }

  /**
   * Read-modify-write of one row under its ETag, retried with a fresh read on a concurrent change. `mutate` may run
   * more than once: it must be a pure function of the row it is given.
   */
  private async modify<T>(
    partition: string,
    rowKey: string,
    what: string,
    decode: (e: Row) => T,
    encode: (v: T) => TableEntity<Record<string, unknown>>,
    mutate: (current: T | undefined) => Mutation<T>,
    attempts = DEFAULT_ATTEMPTS,
  ): Promise<T | undefined> {
    await this.ready();
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const row = await this.read(partition, rowKey);
      const current = row ? decode(row) : undefined;
      const next = mutate(current);
      if (next === undefined) return current;
      try {
        if (next === null) {
          if (row) await this.table.deleteEntity(partition, rowKey, { etag: row.etag ?? '*' });
          return undefined;
        }
        if (row) await this.table.updateEntity(encode(next), 'Replace', { etag: row.etag ?? '*' });
        else await this.table.createEntity(encode(next));
        return next;
      } catch (err) {
        const s = tableStatus(err);
        // 412: changed since read; 409: created concurrently; 404: deleted concurrently.
        if (s !== 412 && s !== 409 && s !== 404) throw err;
      }
    }
    throw new OwnershipConcurrencyError(what);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Unshared records: the creating run, claimed before the insert.

  /**
   * One claim per (integration, record key, run): a later run that creates the record again under the same key (the
   * earlier one was left behind) never erases what an earlier run created, so each run's removal finds its own.
   */
  private claimKey = (integrationId: string, key: string, run: string) => hashKey([integrationId, key, run]);

  async getClaim(integrationId: string, key: string, run: string): Promise<RecordClaim | undefined> {
    await this.ready();
    const row = await this.read(RECORD_PARTITION, this.claimKey(integrationId, key, run));
    return row ? toClaim(row) : undefined;
  }

  /** Updates the claim of (integration, key, run); see `modify`. */
  async updateClaim(
    integrationId: string,
    key: string,
    run: string,
    mutate: (current: RecordClaim | undefined) => Mutation<RecordClaim>,
  ): Promise<RecordClaim | undefined> {
    return this.modify(
      RECORD_PARTITION,
      this.claimKey(integrationId, key, run),
      `${integrationId} ${key} ${run}`,
      toClaim,
      (c) => ({ partitionKey: RECORD_PARTITION, rowKey: this.claimKey(c.integrationId, c.key, c.createdRun), ...c }),
      mutate,
    );
  }

  /** The claim of an integration on the record `sysId` of `table` (compensation knows only the sys_id). */
  async findClaim(integrationId: string, table: string, sysId: string): Promise<RecordClaim | undefined> {
    await this.ready();
    const filter = `PartitionKey eq ${quote(RECORD_PARTITION)} and integrationId eq ${quote(integrationId)} and sysId eq ${quote(sysId)}`;
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      const claim = toClaim(e);
      if (claim.table === table) return claim;
    }
    return undefined;
  }

  /** Every claim of an integration, oldest first (decommissioning removes what any of its runs created). */
  async claimsOf(integrationId: string): Promise<RecordClaim[]> {
    await this.ready();
    const filter = `PartitionKey eq ${quote(RECORD_PARTITION)} and integrationId eq ${quote(integrationId)}`;
    const out: RecordClaim[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } }))
      out.push(toClaim(e));
    return out.sort((a, b) => a.claimedAt.localeCompare(b.claimedAt) || a.key.localeCompare(b.key));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Shared records: reference-counted per (instance, table, natural key).

  private sharedKey = (instance: string, table: string, naturalKey: Record<string, string>) =>
    hashKey([instance, table, canonical(naturalKey)]);

  async getShared(
    instance: string,
    table: string,
    naturalKey: Record<string, string>,
  ): Promise<SharedEntry | undefined> {
    await this.ready();
    const row = await this.read(SHARED_PARTITION, this.sharedKey(instance, table, naturalKey));
    return row ? toShared(row) : undefined;
  }

  /** Updates the shared entry of (instance, table, natural key); see `modify`. */
  async updateShared(
    instance: string,
    table: string,
    naturalKey: Record<string, string>,
    mutate: (current: SharedEntry | undefined) => Mutation<SharedEntry>,
  ): Promise<SharedEntry | undefined> {
    const rowKey = this.sharedKey(instance, table, naturalKey);
    return this.modify(
      SHARED_PARTITION,
      rowKey,
      `${instance} ${table} ${JSON.stringify(canonical(naturalKey))}`,
      toShared,
      (s) => sharedEntity(rowKey, s),
      mutate,
    );
  }

  /** The shared entry holding `sysId` of `table` on `instance` (compensation knows only the sys_id). */
  async findShared(instance: string, table: string, sysId: string): Promise<SharedEntry | undefined> {
    await this.ready();
    const filter = `PartitionKey eq ${quote(SHARED_PARTITION)} and serviceNowInstance eq ${quote(instance)} and sysId eq ${quote(sysId)}`;
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      const entry = toShared(e);
      if (entry.table === table) return entry;
    }
    return undefined;
  }

  /**
   * The shared entries of `instance` an integration holds a reference to (decommissioning releases each). Holders are
   * a JSON column, so the instance's entries are read and filtered here.
   */
  async sharedHeldBy(instance: string, integrationId: string): Promise<SharedEntry[]> {
    await this.ready();
    const filter = `PartitionKey eq ${quote(SHARED_PARTITION)} and serviceNowInstance eq ${quote(instance)}`;
    const out: SharedEntry[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      const entry = toShared(e);
      if (Object.hasOwn(entry.holders, integrationId)) out.push(entry);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Insert locks: one execution at a time inserts a record with a given natural key. Without it two concurrent
  // inserts can both survive (each re-lookup seeing only its own row, so each keeps it).

  /**
   * Takes the insert lock of (instance, table, natural key), waiting up to `waitMs` for another execution to finish
   * (then the caller looks the record up again and finds what it inserted). A lock older than the lease was left by
   * a crashed execution and is taken over under its ETag. Throws OwnershipBusyError when the wait ends.
   */
  async lockInsert(
    instance: string,
    table: string,
    naturalKey: Record<string, string>,
    run: string,
    waitMs = 10_000,
    pollMs = 100,
  ): Promise<InsertLock> {
    await this.ready();
    const rowKey = hashKey([instance, table, canonical(naturalKey)]);
    const token = randomUUID();
    const deadline = Date.now() + waitMs;
    for (;;) {
      const entity = { partitionKey: INSERT_PARTITION, rowKey, token, run, since: this.nowIso() };
      try {
        await this.table.createEntity(entity);
        return { rowKey, token };
      } catch (err) {
        if (tableStatus(err) !== 409) throw err;
      }
      const held = await this.read(INSERT_PARTITION, rowKey);
      if (held && !this.fresh(str(held.since))) {
        try {
          await this.table.updateEntity(entity, 'Replace', { etag: held.etag ?? '*' });
          return { rowKey, token };
        } catch (err) {
          if (tableStatus(err) !== 412 && tableStatus(err) !== 404) throw err;
        }
      }
      if (Date.now() >= deadline)
        throw new OwnershipBusyError(
          `another execution is inserting a ${table} record with this natural key; retry later`,
        );
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Releases an insert lock this execution holds (a lock taken over by another execution is left alone). */
  async unlockInsert(lock: InsertLock): Promise<void> {
    const held = await this.read(INSERT_PARTITION, lock.rowKey);
    if (!held || held.token !== lock.token) return;
    try {
      await this.table.deleteEntity(INSERT_PARTITION, lock.rowKey, { etag: held.etag ?? '*' });
    } catch (err) {
      if (tableStatus(err) !== 412 && tableStatus(err) !== 404) throw err;
    }
  }

  /** True when a tombstone is fresh (its compensation may still be deleting the record). */
  isDeleting(entry: SharedEntry | undefined): boolean {
    return this.fresh(entry?.deletingSince);
  }

  /** True when another run announced an insert that may still be under way. */
  isPendingForOther(entry: SharedEntry | undefined, run: string): boolean {
    return !!entry?.pendingRun && entry.pendingRun !== run && this.fresh(entry.pendingSince);
  }

  private fresh(since: string | undefined): boolean {
    return !!since && this.now().getTime() - Date.parse(since) < LEASE_MS;
  }
}
