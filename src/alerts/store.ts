/**
 * The alert store (Azure Table Storage table `alerts`), one partition per integration:
 * - one **condition row** per condition key: whether it is active, since when, and whether an alert went out for it
 *   (only an alerted condition gets a "resolved" message when it clears);
 * - one **send marker** per (condition, send, channel), where a send is `day-YYYY-MM-DD` (a condition is alerted once
 *   a day), `stage-N` (an expiry stage, once) or `resolved-<since>` (once per episode). A marker is claimed with a
 *   conditional create before sending, completed after, and dropped when the delivery fails (so the next evaluation
 *   tries again), like the approval mails (src/approvals/tokens.ts `claimSend`): two overlapping evaluations send once.
 * Writes of existing rows carry the ETag they read (HTTP 412 when another writer came first).
 */
import type { TableClient } from '@azure/data-tables';

import type { AlertConditionKind } from '../contracts/fleet';
import { hashKey, TableBacked, tableStatus } from '../registry/table';

export interface ConditionRow {
  key: string;
  kind: AlertConditionKind;
  summary: string;
  active: boolean;
  /** ISO time the current episode began. */
  since: string;
  /** An alert of this episode was delivered on some channel. */
  alerted: boolean;
  etag: string;
}

export interface SendKey {
  integrationId: string;
  condition: string;
  /** `day-YYYY-MM-DD`, `stage-N` or `resolved-<since>`. */
  send: string;
  /** `email:<address>` or `webhook`. */
  channel: string;
}

export type SendClaim = 'claimed' | 'sent' | 'busy';

interface SendMarker {
  state: 'sending' | 'sent';
  claimedAt: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const toRow = (e: Record<string, unknown> & { etag?: string }): ConditionRow => ({
  key: str(e.key),
  kind: str(e.kind) as AlertConditionKind,
  summary: str(e.summary),
  active: e.active === true,
  since: str(e.since),
  alerted: e.alerted === true,
  etag: e.etag ?? '',
});

const conditionRowKey = (key: string) => `condition-${hashKey(key)}`;
const sendRowKey = (k: SendKey) => `send-${hashKey([k.condition, k.send, k.channel])}`;

export class AlertStore extends TableBacked {
  constructor(
    table: TableClient,
    private readonly now: () => Date = () => new Date(),
  ) {
    super(table);
  }

  /** Every condition row of the integration (active or not). */
  async conditions(integrationId: string): Promise<ConditionRow[]> {
    await this.ready();
    const out: ConditionRow[] = [];
    const q = integrationId.replace(/'/g, "''");
    for await (const e of this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${q}' and RowKey ge 'condition-' and RowKey lt 'condition.'` },
    }))
      out.push(toRow(e));
    return out;
  }

  /**
   * Records that the condition holds now: a new row, or a cleared one re-opened as a new episode (not alerted yet).
   * Returns the row as it is after the call.
   */
  async observe(
    integrationId: string,
    c: { key: string; kind: AlertConditionKind; summary: string },
    known?: ConditionRow,
  ): Promise<ConditionRow> {
    await this.ready();
    const rowKey = conditionRowKey(c.key);
    const fresh = {
      key: c.key,
      kind: c.kind,
      summary: c.summary,
      active: true,
      since: this.now().toISOString(),
      alerted: false,
    };
    if (known?.active) return known;
    if (!known) {
      try {
        const res = await this.table.createEntity({ partitionKey: integrationId, rowKey, ...fresh });
        return { ...fresh, etag: res.etag ?? '' };
      } catch (err) {
        if (tableStatus(err) !== 409) throw err;
      }
      return this.observe(integrationId, c, await this.read(integrationId, c.key));
    }
    try {
      const res = await this.table.updateEntity({ partitionKey: integrationId, rowKey, ...fresh }, 'Replace', {
        etag: known.etag,
      });
      return { ...fresh, etag: res.etag ?? '' };
    } catch (err) {
      if (tableStatus(err) !== 412) throw err;
      const current = await this.read(integrationId, c.key);
      return current?.active ? current : this.observe(integrationId, c, current);
    }
  }

  /** Marks the episode alerted (a delivery succeeded). */
  async markAlerted(integrationId: string, key: string): Promise<void> {
    await this.table.updateEntity(
      { partitionKey: integrationId, rowKey: conditionRowKey(key), alerted: true },
      'Merge',
    );
  }

  /** Closes the episode, if nobody changed the row since it was read (false otherwise: the next evaluation decides). */
  async clear(integrationId: string, row: ConditionRow): Promise<boolean> {
    try {
      await this.table.updateEntity(
        {
          partitionKey: integrationId,
          rowKey: conditionRowKey(row.key),
          active: false,
          clearedAt: this.now().toISOString(),
        },
        'Merge',
        { etag: row.etag },
      );
      return true;
    } catch (err) {
      if (tableStatus(err) === 412 || tableStatus(err) === 404) return false;
      throw err;
    }
  }

  private async read(integrationId: string, key: string): Promise<ConditionRow | undefined> {
    const e = await this.find<Record<string, unknown>>(integrationId, conditionRowKey(key));
    return e ? toRow(e) : undefined;
  }

  /**
   * Claims one delivery. `claimed`: deliver now, then `completeSend` or `abandonSend`; `sent`: delivered before;
   * `busy`: another evaluation holds a fresh claim. A claim older than `leaseMs` (an evaluation that crashed between
   * claim and delivery) is taken over under its ETag.
   */
  async claimSend(key: SendKey, leaseMs = 5 * 60_000): Promise<SendClaim> {
    await this.ready();
    const rowKey = sendRowKey(key);
    const now = this.now();
    const entity = {
      partitionKey: key.integrationId,
      rowKey,
      condition: key.condition,
      send: key.send,
      channel: key.channel,
      state: 'sending',
      claimedAt: now.toISOString(),
    };
    try {
      await this.table.createEntity(entity);
      return 'claimed';
    } catch (err) {
      if (tableStatus(err) !== 409) throw err;
    }
    const existing = await this.find<SendMarker>(key.integrationId, rowKey);
    if (!existing) return this.claimSend(key, leaseMs); // abandoned in between
    if (existing.state === 'sent') return 'sent';
    if (now.getTime() - Date.parse(existing.claimedAt) < leaseMs) return 'busy';
    try {
      await this.table.updateEntity(entity, 'Replace', { etag: existing.etag });
      return 'claimed';
    } catch (err) {
      if (tableStatus(err) === 412 || tableStatus(err) === 404) return 'busy';
      throw err;
    }
  }

  async completeSend(key: SendKey): Promise<void> {
    await this.table.updateEntity(
      { partitionKey: key.integrationId, rowKey: sendRowKey(key), state: 'sent', sentAt: this.now().toISOString() },
      'Merge',
    );
  }

  /** Drops a claim whose delivery failed, so the next evaluation delivers again. */
  async abandonSend(key: SendKey): Promise<void> {
    try {
      await this.table.deleteEntity(key.integrationId, sendRowKey(key));
    } catch (err) {
      if (tableStatus(err) !== 404) throw err;
    }
  }
}
