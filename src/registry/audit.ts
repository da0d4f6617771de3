import type { AuditEntry, AuditEvent } from '../contracts/fleet';
import { hashKey, TableBacked, tableStatus } from './table';

/**
 * The audit trail (Azure Table Storage table `audit`): one partition per integration, one row per event, only ever
 * inserted. The row key orders the log (the event's time, then the order it was recorded in) and ends with a hash of
 * the event, so an activity that runs twice, or an orchestrator replay, records the event once: the second insert is
 * refused by the service (409) and ignored. Nothing here updates or deletes a row; in Azure the app's identity could,
 * so deployments that need tamper evidence export the table (docs/operations.md, "Audit trail").
 *
 * Row keys may not contain '/', '\\', '#' or '?'
 * (https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model#characters-disallowed-in-key-fields):
 * ISO times and hex are safe.
 */
const SCALAR_FIELDS = ['kind', 'at', 'actor', 'instanceId', 'planDigest', 'tokenId', 'round', 'detail'] as const;

/** The sortable position of the `index`-th event of a batch. */
export function auditSeq(event: AuditEvent, index: number): string {
  const at = new Date(event.at);
  if (Number.isNaN(at.getTime())) throw new Error(`audit event ${event.kind} has no valid time`);
  return `${at.toISOString()}-${String(index).padStart(3, '0')}-${hashKey(event).slice(0, 16)}`;
}

export class AuditLog extends TableBacked {
  /** Appends events in order; an event already recorded (same time, place and content) is not recorded again. */
  async append(integrationId: string, events: readonly AuditEvent[]): Promise<void> {
    if (!events.length) return;
    await this.ready();
    for (const [i, event] of events.entries()) {
      const entity: Record<string, unknown> & { partitionKey: string; rowKey: string } = {
        partitionKey: integrationId,
        rowKey: auditSeq(event, i),
      };
      for (const k of SCALAR_FIELDS) if (event[k] !== undefined) entity[k] = event[k];
      if (event.data) entity.data = JSON.stringify(event.data);
      try {
        await this.table.createEntity(entity);
      } catch (err) {
        if (tableStatus(err) !== 409) throw err; // already recorded
      }
    }
  }

  /** The integration's log, oldest first. */
  async list(integrationId: string): Promise<AuditEntry[]> {
    await this.ready();
    const out: AuditEntry[] = [];
    const q = integrationId.replace(/'/g, "''");
    for await (const e of this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${q}'` },
    })) {
      const entry: Record<string, unknown> = { integrationId, seq: e.rowKey };
      for (const k of SCALAR_FIELDS) if (e[k] !== undefined) entry[k] = e[k];
      if (typeof e.data === 'string') entry.data = JSON.parse(e.data);
      out.push(entry as unknown as AuditEntry);
    }
    return out.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  }
}
