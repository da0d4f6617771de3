import type { TableEntity } from '@azure/data-tables';

import { TableBacked, tableStatus } from './table';

import type { IntegrationRecord } from './types';

const PARTITION = 'integration';
/**
 * Complex properties are stored as JSON strings (a table property is a scalar; 64 KiB each is plenty). Every array or
 * object field of IntegrationRecord must be listed: @azure/data-tables refuses one with "Unknown EDM type object"
 * (found by the e2e tests when `approvers` was added to the record).
 */
const JSON_FIELDS = [
  'ticket',
  'approvers',
  'apps',
  'serviceNow',
  'checks',
  'approval',
  'lastRun',
  'orphans',
  'lastRotation',
  'health',
  'decommission',
] as const;

export class RegistryConflictError extends Error {
  constructor(readonly id: string) {
    super(`integration ${id} is already registered`);
    this.name = 'RegistryConflictError';
  }
}

/** Another writer changed the record since it was read (ETag mismatch, HTTP 412). */
export class RegistryConcurrencyError extends Error {
  constructor(readonly id: string) {
    super(`integration ${id} was changed by another writer`);
    this.name = 'RegistryConcurrencyError';
  }
}

export interface Versioned<T> {
  value: T;
  etag: string;
}

function toEntity(record: IntegrationRecord): TableEntity<Record<string, unknown>> {
  const entity: TableEntity<Record<string, unknown>> = { partitionKey: PARTITION, rowKey: record.id };
  for (const [k, v] of Object.entries(record)) {
    if (v === undefined) continue;
    entity[k] = (JSON_FIELDS as readonly string[]).includes(k) ? JSON.stringify(v) : v;
  }
  return entity;
}

function fromEntity(entity: Record<string, unknown>): IntegrationRecord {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entity)) {
    if (['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.metadata'].includes(k)) continue;
    out[k] = (JSON_FIELDS as readonly string[]).includes(k) && typeof v === 'string' ? JSON.parse(v) : v;
  }
  return out as unknown as IntegrationRecord;
}

/**
 * The integration registry: one row per integration in Azure Table Storage, written with optimistic concurrency
 * (ETags), so two hosts never overwrite each other's changes silently.
 */
export class IntegrationRegistry extends TableBacked {
  async get(id: string): Promise<Versioned<IntegrationRecord> | undefined> {
    const entity = await this.find<Record<string, unknown>>(PARTITION, id);
    return entity ? { value: fromEntity(entity), etag: entity.etag } : undefined;
  }

  async list(): Promise<IntegrationRecord[]> {
    await this.ready();
    const out: IntegrationRecord[] = [];
    const pages = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${PARTITION}'` },
    });
    for await (const entity of pages) out.push(fromEntity(entity));
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Registers a new integration; refuses an id that exists. */
  async create(record: IntegrationRecord): Promise<string> {
    await this.ready();
    try {
      const res = await this.table.createEntity(toEntity(record));
      return res.etag ?? '';
    } catch (err) {
      if (tableStatus(err) === 409) throw new RegistryConflictError(record.id);
      throw err;
    }
  }

  /** Replaces the record if nobody changed it since `etag` was read. */
  async replace(record: IntegrationRecord, etag: string): Promise<string> {
    await this.ready();
    try {
      const res = await this.table.updateEntity(toEntity(record), 'Replace', { etag });
      return res.etag ?? '';
    } catch (err) {
      if (tableStatus(err) === 412) throw new RegistryConcurrencyError(record.id);
      throw err;
    }
  }

  /**
   * Read-modify-write with optimistic concurrency, retried on conflicts. `mutate` gets the current record (or
   * undefined) and returns the new one; it may run more than once, so it must be a pure function of its input.
   */
  async update(
    id: string,
    mutate: (current: IntegrationRecord | undefined) => IntegrationRecord,
    attempts = 5,
  ): Promise<IntegrationRecord> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(id);
      const next = mutate(current?.value);
      if (next.id !== id) throw new Error(`update of ${id} returned a record for ${next.id}`);
      try {
        if (current) await this.replace(next, current.etag);
        else await this.create(next);
        return next;
      } catch (err) {
        const retriable = err instanceof RegistryConcurrencyError || err instanceof RegistryConflictError;
        if (!retriable || attempt >= attempts) throw err;
      }
    }
  }
}
