/**
 * What every store on Azure Table Storage here shares: the table created once on first use (a failed creation is
 * tried again on the next call), the HTTP status of a Table service error, and row keys from natural keys.
 *
 * Row keys may not contain '/', '\\', '#', '?' or control characters
 * (https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model#characters-disallowed-in-key-fields),
 * so natural keys are hashed.
 */
import { createHash } from 'node:crypto';

import type { TableClient, TableEntityResult } from '@azure/data-tables';

/** The HTTP status of a Table service error (404 not found, 409 exists, 412 ETag mismatch), if any. */
export const tableStatus = (err: unknown): number | undefined => (err as { statusCode?: number })?.statusCode;

/** A row key for a natural key: hex SHA-256 of its JSON. */
export const hashKey = (parts: unknown): string =>
  createHash('sha256')
    .update(typeof parts === 'string' ? parts : JSON.stringify(parts), 'utf8')
    .digest('hex');

export abstract class TableBacked {
  private ensured?: Promise<void>;

  constructor(protected readonly table: TableClient) {}

  /** Creates the table on first use (idempotent on the service side). */
  protected async ready(): Promise<void> {
    this.ensured ??= this.table.createTable().catch((err: unknown) => {
      this.ensured = undefined;
      throw err;
    });
    return this.ensured;
  }

  /** One entity, or undefined when it does not exist. */
  protected async find<T extends object>(
    partitionKey: string,
    rowKey: string,
  ): Promise<TableEntityResult<T> | undefined> {
    await this.ready();
    try {
      return await this.table.getEntity<T>(partitionKey, rowKey);
    } catch (err) {
      if (tableStatus(err) === 404) return undefined;
      throw err;
    }
  }
}
