import { randomUUID } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';

import { hashKey, TableBacked, tableStatus } from './table';

/**
 * Short leases on Azure Table Storage: at most one holder per (scope, key) at a time, for work that must not run
 * concurrently with itself (e.g. adding a client secret for one app, which at-least-once activity delivery can run
 * twice at once).
 *
 * - Claim: a conditional create (Insert Entity answers 409 Conflict when the row exists).
 * - A lease past its expiry (a holder that crashed) is taken over with an update conditional on the ETag that was
 *   read (If-Match; 412 Precondition Failed when another claimant got there first), so exactly one claimant wins.
 * - Release: a delete conditional on the holder's own ETag, so a holder whose lease expired and was taken over never
 *   drops the new holder's lease.
 *
 * Table service REST reference: Insert Entity (409 when the entity exists)
 * https://learn.microsoft.com/rest/api/storageservices/insert-entity, Update Entity and Delete Entity with If-Match
 * (412 when the ETag does not match) https://learn.microsoft.com/rest/api/storageservices/update-entity2 and
 * https://learn.microsoft.com/rest/api/storageservices/delete-entity1.
 */
export interface Lease {
  scope: string;
  key: string[];
  /** Random per claim: two executions of the same run are two different holders. */
  holder: string;
  etag: string;
  expiresAt: string;
}

export type LeaseClaim = { ok: true; lease: Lease } | { ok: false; heldBy?: string; expiresAt?: string };

interface LeaseRow {
  scope: string;
  key: string;
  holder: string;
  owner: string;
  acquiredAt: string;
  expiresAt: string;
}

export class LeaseStore extends TableBacked {
  constructor(
    table: TableClient,
    private readonly now: () => Date = () => new Date(),
  ) {
    super(table);
  }

  /**
   * Claims (scope, key) for `ttlMs`. `owner` is a non-secret label for diagnostics (e.g. the orchestration instance
   * id). Returns `{ ok: false }` while another holder's lease is unexpired.
   */
  async acquire(scope: string, key: string[], ttlMs: number, owner = ''): Promise<LeaseClaim> {
    await this.ready();
    const rowKey = hashKey(key);
    const holder = randomUUID();
    const now = this.now();
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
    const row: LeaseRow = {
      scope,
      key: JSON.stringify(key),
      holder,
      owner,
      acquiredAt: now.toISOString(),
      expiresAt,
    };
    const entity = { partitionKey: scope, rowKey, ...row };
    // A lease released between our create and our read: create again (bounded; each pass is a fresh race).
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await this.table.createEntity(entity);
        return { ok: true, lease: { scope, key, holder, etag: res.etag ?? '', expiresAt } };
      } catch (err) {
        if (tableStatus(err) !== 409) throw err;
      }
      let existing: LeaseRow & { etag: string };
      try {
        existing = await this.table.getEntity<LeaseRow>(scope, rowKey);
      } catch (err) {
        if (tableStatus(err) === 404) continue;
        throw err;
      }
      if (Date.parse(existing.expiresAt) > now.getTime())
        return { ok: false, heldBy: existing.owner, expiresAt: existing.expiresAt };
      try {
        const res = await this.table.updateEntity(entity, 'Replace', { etag: existing.etag });
        return { ok: true, lease: { scope, key, holder, etag: res.etag ?? '', expiresAt } };
      } catch (err) {
        const status = tableStatus(err);
        if (status === 412) return { ok: false };
        if (status === 404) continue;
        throw err;
      }
    }
    return { ok: false };
  }

  /** Releases a lease this holder still has; true when it did. A lease taken over since is left alone. */
  async release(lease: Lease): Promise<boolean> {
    await this.ready();
    try {
      await this.table.deleteEntity(lease.scope, hashKey(lease.key), { etag: lease.etag });
      return true;
    } catch (err) {
      const status = tableStatus(err);
      if (status === 404 || status === 412) return false;
      throw err;
    }
  }

  /** The current holder of (scope, key), if any (expired or not); for tests and diagnostics. */
  async peek(scope: string, key: string[]): Promise<{ owner: string; expiresAt: string } | undefined> {
    await this.ready();
    try {
      const e = await this.table.getEntity<LeaseRow>(scope, hashKey(key));
      return { owner: e.owner, expiresAt: e.expiresAt };
    } catch (err) {
      if (tableStatus(err) === 404) return undefined;
      throw err;
    }
  }
}
