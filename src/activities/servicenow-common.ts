/**
 * Shared helpers of the ServiceNow activities: ownership claims of shared and unshared records, reconciling an insert
 * that got no answer, manual actions, and the natural-key lookup that re-checks
 * in code what ServiceNow returned (an invalid encoded-query term is silently dropped, so a misspelled field can
 * return every row: docs/reference/servicenow.md#encoded-queries, SN-TABLE).
 */

import { encodedQuery, type EncodedQuery, type ServiceNowClient, type SnRecord } from '../clients/servicenow';
import { ValidationError } from '../lib/errors';
import { OwnershipBusyError, PRE_EXISTING, type OwnershipLedger, type SharedEntry } from '../registry/ownership';
import type { IntegrationRef, ManualAction } from '../contracts/provision';
import type { Deps } from '../app/deps';
import { logLine, type ActivityLog } from './log';

/** Who does a hand-off when ServiceNow refuses a write. */
export const SERVICENOW_ADMIN = 'ServiceNow administrator';

/** The raw string of a Table API value (`sysparm_exclude_reference_link=true` gives strings; `{value}` tolerated). */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object' && typeof (v as { value?: unknown }).value === 'string')
    return (v as { value: string }).value;
  return undefined;
}

/** Builds the AND query of a natural key; throws ValidationError for `^`, CR, LF or bad field names. */
export function naturalKeyQuery(naturalKey: Record<string, string>): EncodedQuery {
  const entries = Object.entries(naturalKey);
  if (!entries.length) throw new ValidationError('the natural key is empty: it would match every record');
  return entries.reduce((q, [field, value]) => q.eq(field, value), encodedQuery());
}

export interface LookupResult<T extends SnRecord> {
  /** Rows whose values really equal every natural-key value. */
  matched: T[];
  /** Natural-key fields missing from the rows ServiceNow returned: not columns of the table (or hidden by ACL). */
  unknownFields: string[];
}

/**
 * Reads the rows of `table` matching `naturalKey` and keeps only those that really match
 * (docs/reference/servicenow.md#encoded-queries: every lookup is re-checked in code against the values searched). A
 * natural-key field absent from every returned row means ServiceNow dropped that term: the caller must not pick any of
 * those rows.
 */
export async function lookup<T extends SnRecord>(
  client: ServiceNowClient,
  table: string,
  naturalKey: Record<string, string>,
  fields: readonly string[],
  maxRecords = 1000,
): Promise<LookupResult<T>> {
  const query = naturalKeyQuery(naturalKey);
  const wanted = [...new Set(['sys_id', ...Object.keys(naturalKey), ...fields])];
  const rows = await client.list<T>(table, { query, fields: wanted, pageSize: 100, maxRecords });
  const unknownFields = Object.keys(naturalKey).filter((f) => rows.length > 0 && rows.every((r) => !(f in r)));
  return { matched: unknownFields.length ? [] : rows.filter((r) => query.matches(r)), unknownFields };
}

/** A manual hand-off from label/value pairs (values never secret: Key Vault secret names only). */
export function manualAction(title: string, steps: { label: string; value?: string }[]): ManualAction {
  return { title, actor: SERVICENOW_ADMIN, steps };
}

// ---------------------------------------------------------------------------------------------------------------
// Ownership: who created a record is recorded in the ownership ledger (src/registry/ownership.ts), never inferred
// from sys_created_on: several integrations provision on one instance at the same time.

/** Who takes a claim or a reference: the integration and its provisioning run. */
export type OwnerRef = Pick<IntegrationRef, 'integrationId' | 'instanceId' | 'serviceNowInstance'>;

/** What a shared record is known by in the ledger. */
export interface SharedKey {
  table: string;
  naturalKey: Record<string, string>;
}

const busy = (k: SharedKey) =>
  new OwnershipBusyError(`${k.table} ${JSON.stringify(k.naturalKey)} is being removed by a compensation; retry later`);

const sameEntry = (a: SharedEntry | undefined, b: SharedEntry) =>
  a !== undefined && JSON.stringify(a) === JSON.stringify(b);

/**
 * Takes this integration's reference to a shared record found on the instance (`sysId`). Returns true when the
 * reference is this run's (taken now or by an earlier execution of the same run), false when an earlier run of the
 * integration holds it. Who created the record is kept when the ledger knows it; a record the ledger does not know
 * existed before any integration referenced it (`pre-existing`, never deleted by us).
 */
export async function holdShared(
  ledger: OwnershipLedger,
  ref: OwnerRef,
  k: SharedKey,
  sysId: string,
): Promise<boolean> {
  const entry = await ledger.updateShared(ref.serviceNowInstance, k.table, k.naturalKey, (cur) => {
    // A removal decided to delete this record (no reference was left): wait for it, then ensure it anew, instead of
    // taking a reference to a record that is about to go.
    if (cur && ledger.isDeleting(cur)) throw busy(k);
    let createdBy = PRE_EXISTING;
    let createdRun = '';
    if (cur?.sysId === sysId) {
      createdBy = cur.createdBy;
      createdRun = cur.createdRun;
    } else if (cur?.pendingRun === ref.instanceId && cur.pendingBy === ref.integrationId) {
      // An earlier execution of this run announced its insert and stopped before recording the sys_id.
      createdBy = ref.integrationId;
      createdRun = ref.instanceId;
    } else if (cur?.pendingRun) {
      // Another run announced an insert: it records who created the record. Until then: unknown, never deleted.
      createdBy = '';
    }
    const mine = cur?.pendingRun === ref.instanceId && cur.pendingBy === ref.integrationId;
    const next: SharedEntry = {
      serviceNowInstance: ref.serviceNowInstance,
      table: k.table,
      naturalKey: k.naturalKey,
      sysId,
      createdBy,
      createdRun,
      ...(cur?.pendingRun && !mine
        ? { pendingBy: cur.pendingBy, pendingRun: cur.pendingRun, pendingSince: cur.pendingSince }
        : {}),
      holders: { [ref.integrationId]: ref.instanceId, ...(cur?.holders ?? {}) },
    };
    return sameEntry(cur, next) ? undefined : next;
  });
  return entry?.holders[ref.integrationId] === ref.instanceId;
}

/**
 * Announces an insert of a shared record (none matched its natural key) and takes this integration's reference.
 * Returns true when the reference was taken by this call (so `abandonShared` may drop it if the insert fails).
 */
export async function claimShared(ledger: OwnershipLedger, ref: OwnerRef, k: SharedKey): Promise<boolean> {
  let took = false;
  await ledger.updateShared(ref.serviceNowInstance, k.table, k.naturalKey, (cur) => {
    if (ledger.isDeleting(cur)) throw busy(k);
    // One inserter at a time per natural key: two concurrent inserts could both survive (each re-lookup seeing only
    // its own row), so another run's fresh announcement makes this one wait for the durable retry.
    if (ledger.isPendingForOther(cur, ref.instanceId))
      throw new OwnershipBusyError(
        `${k.table} ${JSON.stringify(k.naturalKey)} is being created by another run; retry later`,
      );
    took = cur?.holders[ref.integrationId] === undefined;
    return {
      serviceNowInstance: ref.serviceNowInstance,
      table: k.table,
      naturalKey: k.naturalKey,
      // A sys_id recorded here is of a record our lookup no longer found (gone) or a concurrent insert: settled later.
      sysId: cur?.sysId ?? '',
      createdBy: cur?.createdBy ?? '',
      createdRun: cur?.createdRun ?? '',
      pendingBy: ref.integrationId,
      pendingRun: ref.instanceId,
      pendingSince: ledger.nowIso(),
      holders: { [ref.integrationId]: ref.instanceId, ...(cur?.holders ?? {}) },
    };
  });
  return took;
}

/**
 * Records the outcome of an announced insert: `sysId` is the record kept after the concurrent-insert resolution,
 * `inserted` whether it is the row this execution inserted. Returns true when the reference is this run's.
 */
export async function settleShared(
  ledger: OwnershipLedger,
  ref: OwnerRef,
  k: SharedKey,
  sysId: string,
  inserted: boolean,
): Promise<boolean> {
  const entry = await ledger.updateShared(ref.serviceNowInstance, k.table, k.naturalKey, (cur) => {
    const mine = cur?.pendingRun === ref.instanceId && cur.pendingBy === ref.integrationId;
    const known = cur?.sysId === sysId;
    return {
      serviceNowInstance: ref.serviceNowInstance,
      table: k.table,
      naturalKey: k.naturalKey,
      sysId,
      // Our insert survived: ours. Another's survived: what the ledger knows of it, else unknown (never deleted).
      createdBy: inserted ? ref.integrationId : known ? cur.createdBy : '',
      createdRun: inserted ? ref.instanceId : known ? cur.createdRun : '',
      ...(cur?.pendingRun && !mine
        ? { pendingBy: cur.pendingBy, pendingRun: cur.pendingRun, pendingSince: cur.pendingSince }
        : {}),
      holders: { [ref.integrationId]: ref.instanceId, ...(cur?.holders ?? {}) },
    };
  });
  return entry?.holders[ref.integrationId] === ref.instanceId;
}

/** Withdraws an announced insert that did not happen (refused, failed); drops the reference if `took` it. */
export async function abandonShared(
  ledger: OwnershipLedger,
  ref: OwnerRef,
  k: SharedKey,
  took: boolean,
): Promise<void> {
  await ledger.updateShared(ref.serviceNowInstance, k.table, k.naturalKey, (cur) => {
    if (!cur) return undefined;
    const mine = cur.pendingRun === ref.instanceId && cur.pendingBy === ref.integrationId;
    const holders = { ...cur.holders };
    if (took && !cur.sysId && holders[ref.integrationId] === ref.instanceId) delete holders[ref.integrationId];
    if (!Object.keys(holders).length && !cur.sysId) return null;
    const { pendingBy: _b, pendingRun: _r, pendingSince: _s, ...rest } = cur;
    const next: SharedEntry = { ...(mine ? rest : cur), holders };
    return sameEntry(cur, next) ? undefined : next;
  });
}

/** Outcome of removing a listed record: done, or left in place with the reason. */
export type RecordRemoval = 'removed' | { reason: string };

async function goneFromInstance(client: ServiceNowClient, table: string, sysId: string): Promise<boolean> {
  return (await client.get(table, sysId, { fields: ['sys_id'] })) === undefined;
}

/**
 * Compensation of one listed ServiceNow record (`compensate`): deletes only what the ownership ledger says this run
 * created, and releases shared references.
 *
 * - Unshared: deleted (404 counts) when the ledger's claim names this run (`ref.instanceId`) and this sys_id; the
 *   claim is dropped with it. Otherwise left in place with the reason (it is another run's or a person's record, so
 *   it is not an orphan). A record already gone with no claim left counts as removed (compensation ran before).
 * - Shared: this integration's reference is released if this run took it. The record is deleted only when no
 *   integration holds a reference any more and an integration created it (never a pre-existing one); before the
 *   DELETE the entry is marked (tombstone) so a concurrent ensure waits instead of referencing a record being
 *   deleted. An entry nobody references is dropped from the ledger.
 */
export async function removeOwnedRecord(
  deps: Pick<Deps, 'ownership' | 'serviceNow'>,
  ref: OwnerRef,
  o: { table: string; sysId: string; shared?: boolean; retire?: boolean },
  log?: ActivityLog,
): Promise<RecordRemoval> {
  const client = deps.serviceNow(ref.serviceNowInstance);
  const ledger = deps.ownership;
  // Retiring (an approved plan no longer has it): what any run of this integration created or referenced goes.
  const ours = (run: string | undefined) => run === ref.instanceId || (o.retire === true && run !== undefined);
  if (!o.shared) {
    const claim = await ledger.findClaim(ref.integrationId, o.table, o.sysId);
    if (!claim) {
      if (await goneFromInstance(client, o.table, o.sysId)) return 'removed';
      return {
        reason: `the ownership ledger has no record of provisioning run ${ref.instanceId} creating it; left in place (not ours, so not an orphan)`,
      };
    }
    if (!ours(claim.createdRun))
      return {
        reason: `created by provisioning run ${claim.createdRun}, not ${ref.instanceId}; left in place (not an orphan)`,
      };
    await client.remove(o.table, o.sysId);
    await ledger.updateClaim(ref.integrationId, claim.key, claim.createdRun, (cur) =>
      cur?.createdRun === claim.createdRun && cur.sysId === o.sysId ? null : undefined,
    );
    return 'removed';
  }

  const entry = await ledger.findShared(ref.serviceNowInstance, o.table, o.sysId);
  if (!entry) {
    if (await goneFromInstance(client, o.table, o.sysId)) return 'removed';
    return { reason: 'no integration references it in the ownership ledger; left in place (not an orphan)' };
  }
  const k = { table: entry.table, naturalKey: entry.naturalKey };
  const holder = entry.holders[ref.integrationId];
  if (holder !== undefined && !ours(holder))
    return {
      reason: `the reference of integration ${ref.integrationId} was taken by provisioning run ${holder}; left in place (not an orphan)`,
    };
  let deleteIt = false;
  const after = await ledger.updateShared(ref.serviceNowInstance, k.table, k.naturalKey, (cur) => {
    deleteIt = false;
    if (!cur || cur.sysId !== o.sysId) return undefined;
    const holders = { ...cur.holders };
    if (ours(holders[ref.integrationId])) delete holders[ref.integrationId];
    if (Object.keys(holders).length) return sameEntry(cur, { ...cur, holders }) ? undefined : { ...cur, holders };
    const createdByIntegration = cur.createdBy !== '' && cur.createdBy !== PRE_EXISTING;
    if (!createdByIntegration) return null;
    deleteIt = true;
    return { ...cur, holders, deletingSince: cur.deletingSince ?? ledger.nowIso() };
  });
  if (!deleteIt) {
    const others = Object.keys(after?.holders ?? {}).length;
    logLine(
      log,
      'info',
      `${o.table} ${o.sysId}: reference of ${ref.integrationId} released; ${
        others ? `${others} integration(s) still reference it` : 'not created by an integration, left in place'
      }`,
    );
    return 'removed';
  }
  await client.remove(o.table, o.sysId);
  await ledger.updateShared(ref.serviceNowInstance, k.table, k.naturalKey, (cur) =>
    cur?.sysId === o.sysId && !Object.keys(cur.holders).length ? null : undefined,
  );
  return 'removed';
}

export { answered } from '../lib/errors';

/**
 * When an earlier attempt of this run got no answer to its insert (timeout, reset; the ledger still holds its claim or
 * announcement), that insert may still land: look again until one client deadline has passed before inserting anew,
 * so a slow instance does not get the record twice. Returns what `find` found last (undefined: insert).
 */
export async function awaitUnansweredInsert<T>(
  deps: Pick<Deps, 'ownership' | 'config'>,
  ref: OwnerRef,
  o: { shared: boolean; key: string; table: string; naturalKey: Record<string, string> },
  find: () => Promise<T | undefined>,
): Promise<T | undefined> {
  const unanswered = o.shared
    ? (await deps.ownership.getShared(ref.serviceNowInstance, o.table, o.naturalKey))?.pendingRun === ref.instanceId
    : (await deps.ownership.getClaim(ref.integrationId, o.key, ref.instanceId))?.sysId === '';
  if (!unanswered) return undefined;
  const until = Date.now() + deps.config.serviceNow.timeoutMs;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    const found = await find();
    if (found !== undefined) return found;
  }
  return undefined;
}

/** How long an insert may still land after its run gave up on it (a request in flight, a slow instance). */
export const LATE_INSERT_MS = 15 * 60_000;

/**
 * Removes a record this run was inserting when it failed: found by its natural key, deleted when the ledger's claim
 * of (integration, key) is this run's (with no sys_id yet, or that sys_id). Nothing found: done once the claim is old
 * enough that the insert cannot land any more; before that, a reason (the sweep looks again).
 */
export async function removeRecordCandidate(
  deps: Pick<Deps, 'ownership' | 'serviceNow'>,
  ref: OwnerRef,
  o: { key: string; table: string; naturalKey: Record<string, string> },
  keep: readonly string[] = [],
): Promise<RecordRemoval> {
  const ledger = deps.ownership;
  const claim = await ledger.getClaim(ref.integrationId, o.key, ref.instanceId);
  if (claim?.createdRun !== ref.instanceId) return 'removed'; // this run never claimed it: it cannot have created it
  const client = deps.serviceNow(ref.serviceNowInstance);
  const found = await lookup<SnRecord & { sys_id?: unknown }>(client, o.table, o.naturalKey, ['sys_id']);
  const mine = found.matched.filter(
    (r) => !keep.includes(text(r.sys_id) ?? '') && (claim.sysId === '' || text(r.sys_id) === claim.sysId),
  );
  for (const row of mine) {
    const sysId = text(row.sys_id);
    if (sysId) await client.remove(o.table, sysId);
  }
  // An insert that got no answer (sys_id unknown) may still land: look again later, until it cannot any more.
  if (claim.sysId === '' && Date.parse(ledger.nowIso()) - Date.parse(claim.claimedAt) < LATE_INSERT_MS)
    return {
      reason: `the insert of ${o.table} '${o.key}' got no answer and may still land; the sweep looks for it again`,
    };
  await ledger.updateClaim(ref.integrationId, o.key, ref.instanceId, (cur) =>
    cur?.createdRun === ref.instanceId ? null : undefined,
  );
  return 'removed';
}

/**
 * True when the ledger's claim of (integration, `key`) names this run and `sysId`. A claim of this run with no sys_id
 * yet (an earlier execution inserted and stopped before recording it) adopts `sysId`: the natural key of an unshared
 * record is unique to the integration, and one run of an integration provisions at a time.
 */
export async function ownsUnshared(
  ledger: OwnershipLedger,
  ref: OwnerRef,
  key: string,
  sysId: string,
): Promise<boolean> {
  const claim = await ledger.getClaim(ref.integrationId, key, ref.instanceId);
  if (claim?.createdRun !== ref.instanceId) return false;
  if (claim.sysId === sysId) return true;
  if (claim.sysId !== '') return false;
  const after = await ledger.updateClaim(ref.integrationId, key, ref.instanceId, (cur) =>
    cur?.createdRun === ref.instanceId && cur.sysId === '' ? { ...cur, sysId } : undefined,
  );
  return after?.createdRun === ref.instanceId && after.sysId === sysId;
}

/** Drops this run's claim of `key` while it has no sys_id (its insert was refused: nothing was created). */
export async function releaseUnsharedClaim(ledger: OwnershipLedger, ref: OwnerRef, key: string): Promise<void> {
  await ledger.updateClaim(ref.integrationId, key, ref.instanceId, (cur) =>
    cur?.createdRun === ref.instanceId && cur.sysId === '' ? null : undefined,
  );
}

/** Records, before the insert, that this run is about to create the unshared record `key` of `table`. */
export async function claimUnshared(ledger: OwnershipLedger, ref: OwnerRef, key: string, table: string): Promise<void> {
  await ledger.updateClaim(ref.integrationId, key, ref.instanceId, (cur) =>
    cur?.createdRun === ref.instanceId && cur.sysId === ''
      ? undefined
      : {
          integrationId: ref.integrationId,
          key,
          table,
          serviceNowInstance: ref.serviceNowInstance,
          createdRun: ref.instanceId,
          sysId: '',
          claimedAt: ledger.nowIso(),
        },
  );
}

/**
 * Records the outcome of the insert: `sysId` is the record kept after the concurrent-insert resolution, `inserted`
 * whether this execution inserted it. Returns true when the ledger says this run created it.
 */
export async function settleUnshared(
  ledger: OwnershipLedger,
  ref: OwnerRef,
  key: string,
  table: string,
  sysId: string,
  inserted: boolean,
): Promise<boolean> {
  if (!inserted) {
    // A concurrent insert won. It is this run's only if another execution of this run recorded it (never adopted:
    // the winner may be anyone's).
    const claim = await ledger.getClaim(ref.integrationId, key, ref.instanceId);
    return claim?.createdRun === ref.instanceId && claim.sysId === sysId;
  }
  const after = await ledger.updateClaim(ref.integrationId, key, ref.instanceId, (cur) => ({
    integrationId: ref.integrationId,
    key,
    table,
    serviceNowInstance: ref.serviceNowInstance,
    createdRun: ref.instanceId,
    sysId,
    claimedAt: cur?.claimedAt ?? ledger.nowIso(),
  }));
  return after?.sysId === sysId;
}
