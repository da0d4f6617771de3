/**
 * Activity `ensureServiceNowRecord`: one ServiceNow record ensured by its natural key
 * (docs/reference/servicenow.md#order-of-operations: look up by natural key → create or patch → read back and compare,
 * never secrets).
 *
 * - Lookup with the encoded-query builder; rows are re-checked in code, since ServiceNow drops invalid terms and can
 *   return every row (servicenow.md#encoded-queries, SN-TABLE). More than one real match is a failure naming the
 *   sys_ids: we never guess.
 * - Create (POST) with the natural key and fields, or PATCH only the differing non-secret fields.
 * - The secret (password2, e.g. `oauth_entity.client_secret`) is not written here: the result says `secretPending`
 *   when the record needs it (it was created, or its field reads back empty: a previous run stopped before writing it;
 *   reads are masked, so emptiness is all we learn), and the orchestrator writes the exact Key Vault version with
 *   `setServiceNowSecret` (src/activities/rotation-servicenow.ts: its own PATCH with `sysparm_input_display_value=true`,
 *   servicenow.md#encrypted-and-password2-fields) once every record exists, so a record that references this one need
 *   not wait for that PATCH. The secret is never read, compared or logged here.
 * - 403 (ACL, security tables; such 403s are manual steps, servicenow.md#authentication-and-roles) → `ok: true` with a
 *   manual action holding the exact values (the Key Vault secret NAME for the secret). 429/5xx/network → thrown for the
 *   durable retry.
 * - Ownership is recorded in the ownership ledger (src/registry/ownership.ts), never inferred from `sys_created_on`
 *   (other integrations, and people, create records on the same instance at the same time). Unshared record: the run
 *   claims it before the insert and records the sys_id after, so `created` is true exactly when this run created it,
 *   also in a repeated execution. Shared record (`shared`): this integration takes a reference; `created` is true
 *   when this run took it, and compensation releases exactly that reference.
 */

import type { ServiceNowClient, SnRecord } from '../clients/servicenow';
import { ensureErrorType, httpStatusOf } from '../lib/errors';
import type { InsertLock } from '../registry/ownership';
import type { Failure, ManualAction, Outcome, RecordResult } from '../contracts/provision';
import type { Deps } from '../app/deps';
import type { EnsureRecordActivityInput } from '../contracts/provision';
import {
  abandonShared,
  answered,
  awaitUnansweredInsert,
  claimShared,
  claimUnshared,
  releaseUnsharedClaim,
  holdShared,
  lookup,
  manualAction,
  naturalKeyQuery,
  ownsUnshared,
  settleShared,
  settleUnshared,
  text,
} from './servicenow-common';
import { type ActivityLog, logLine } from './log';
import { failureOrThrow, inputFailure, servicenowFailure } from './failures';

type Row = SnRecord & { sys_id?: unknown; sys_created_on?: unknown };

/** Non-secret fields to write and compare: the natural key and the fields, without the secret column. */
function desiredValues(input: EnsureRecordActivityInput): Record<string, string> {
  const out: Record<string, string> = { ...input.naturalKey, ...input.fields };
  if (input.secret) delete out[input.secret.field];
  return out;
}

function differing(row: SnRecord, desired: Record<string, string>): string[] {
  return Object.entries(desired)
    .filter(([field, value]) => text(row[field]) !== value)
    .map(([field]) => field);
}

function handOff(input: EnsureRecordActivityInput, desired: Record<string, string>, sysId?: string): ManualAction {
  return manualAction(`ServiceNow: ${sysId ? 'update' : 'create'} ${input.table} record '${input.key}'`, [
    { label: 'Where', value: input.manualFallback },
    { label: 'Table', value: input.table },
    ...(sysId ? [{ label: 'sys_id', value: sysId }] : []),
    ...Object.entries(desired).map(([label, value]) => ({ label, value })),
    ...(input.secret
      ? [
          {
            label: `${input.secret.field} (paste the value of this Key Vault secret)`,
            value: input.secret.secretName,
          },
        ]
      : []),
  ]);
}

/** Oldest first (sys_created_on, then sys_id): every concurrent run picks the same survivor. */
function survivor(rows: Row[]): Row {
  const key = (r: Row) => `${text(r.sys_created_on) ?? ''}|${text(r.sys_id) ?? ''}`;
  return [...rows].sort((a, b) => key(a).localeCompare(key(b)))[0];
}

/** Withdraws an announced shared insert that did not happen; a ledger failure here must not hide the first error. */
async function withdraw(
  deps: Deps,
  input: EnsureRecordActivityInput,
  k: { table: string; naturalKey: Record<string, string> },
  took: boolean,
  log?: ActivityLog,
): Promise<void> {
  try {
    await abandonShared(deps.ownership, input, k, took);
  } catch (err) {
    logLine(
      log,
      'warn',
      `${input.table} '${input.key}': could not withdraw the ledger claim: ${(err as Error).message}`,
    );
  }
}

/** A record the integration needs and never writes: exactly one match by natural key, else a failure naming the fix. */
async function findRecord(
  input: EnsureRecordActivityInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<RecordResult>> {
  try {
    const found = await lookup<Row>(deps.serviceNow(input.serviceNowInstance), input.table, input.naturalKey, []);
    const where = `${input.table} ${Object.entries(input.naturalKey)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`;
    if (found.unknownFields.length || found.matched.length !== 1)
      return servicenowFailure(
        'LookupFailed',
        `${found.matched.length > 1 ? `${found.matched.length} records match` : 'no record matches'} ${where}: ${input.manualFallback}`,
      );
    const sysId = text(found.matched[0].sys_id);
    logLine(log, 'info', `found ${where} (${sysId ?? '?'}) for ${input.integrationId}`);
    return {
      ok: true,
      key: input.key,
      table: input.table,
      ...(sysId ? { sysId } : {}),
      created: false,
      mismatches: [],
    };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

export async function ensureServiceNowRecord(
  input: EnsureRecordActivityInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<RecordResult>> {
  const desired = desiredValues(input);
  const fields = [
    ...new Set(['sys_id', 'sys_created_on', ...Object.keys(desired), ...(input.secret ? [input.secret.field] : [])]),
  ];
  /** What an answer to a write must show to stand for the read-back: the non-secret fields, never the secret. */
  const readBack = ['sys_id', 'sys_created_on', ...Object.keys(desired)];
  const base = { key: input.key, table: input.table };
  try {
    naturalKeyQuery(input.naturalKey); // refuse ^/CR/LF before any call
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
  if (input.lookup) return findRecord(input, deps, log);

  let client: ServiceNowClient;
  let sysId: string | undefined;
  /** This execution inserted the record that was kept. */
  let created = false;
  /** The ledger says this run created the record (unshared) or took its reference (shared). */
  let ours = false;
  let changed: string[] = [];
  const shared = input.shared === true;
  const k = { table: input.table, naturalKey: input.naturalKey };
  /** A shared insert announced in the ledger and not settled yet; withdrawn if the insert fails. */
  let announced: { took: boolean } | undefined;
  let lock: InsertLock | undefined;
  /**
   * The record as ServiceNow stored this run's last write, from that write's own answer: POST and PATCH answer with
   * the record as stored (its `sysparm_fields`), unless `X-no-response-body` suppresses it
   * (https://www.servicenow.com/docs/r/australia/api-reference/rest-apis/c_TableAPI.html). It is the read-back.
   */
  let stored: Row | undefined;
  try {
    const snClient = deps.serviceNow(input.serviceNowInstance);
    client = snClient;
    const pick = async (): Promise<{ row?: Row } | { failure: { ok: false; failure: Failure } }> => {
      const found = await lookup<Row>(snClient, input.table, input.naturalKey, fields);
      if (found.unknownFields.length)
        return {
          failure: inputFailure(
            'InvalidNaturalKey',
            `ServiceNow ignored the natural-key field(s) ${found.unknownFields.join(', ')} of ${input.table} (not a column, or hidden by ACL): no record is picked`,
          ),
        };
      if (found.matched.length > 1)
        return {
          failure: servicenowFailure(
            'AmbiguousRecord',
            `${found.matched.length} ${input.table} records match the natural key of '${input.key}' (sys_ids ${found.matched
              .map((r) => text(r.sys_id))
              .join(', ')}); remove the duplicates, none was changed`,
          ),
        };
      return { row: found.matched[0] };
    };
    let row: Row | undefined;
    // A record this run wrote before (its sys_id is known): patched straight away, no look-up.
    const known = input.sysId && !input.exclusive ? input.sysId : undefined;
    if (known) {
      ours = shared
        ? await holdShared(deps.ownership, input, k, known)
        : await ownsUnshared(deps.ownership, input, input.key, known);
      try {
        stored = await client.patch<Row>(input.table, known, desired, {
          fields: [...readBack, ...(input.secret ? [input.secret.field] : [])],
        });
        row = stored;
        sysId = known;
        changed = Object.keys(desired);
        logLine(log, 'info', `${input.table} '${input.key}' ${sysId}: patched ${changed.join(', ')}`);
      } catch (err) {
        if (httpStatusOf(err) !== 404) throw err;
        logLine(log, 'warn', `${input.table} '${input.key}' ${known} is gone: ensuring it anew`);
      }
    }
    if (!row) {
      // The insert lock first: every execution that inserts this natural key holds it from its look-up to its insert's
      // answer, so one look-up tells whether to insert (another execution's insert is either answered and visible, or
      // unanswered and awaited below).
      lock = await deps.ownership.lockInsert(input.serviceNowInstance, input.table, input.naturalKey, input.instanceId);
      let picked = await pick();
      if (!('failure' in picked) && !picked.row) {
        const late = await awaitUnansweredInsert(
          deps,
          input,
          { shared, key: input.key, table: input.table, naturalKey: input.naturalKey },
          async () => {
            const again = await pick();
            return 'failure' in again || again.row ? again : undefined;
          },
        );
        if (late) picked = late;
      }
      if ('failure' in picked) return picked.failure;

      row = picked.row;
      if (row) {
        sysId = text(row.sys_id);
        if (!sysId) return servicenowFailure('NoSysId', `ServiceNow returned no sys_id for ${input.table}`);
        ours = shared
          ? await holdShared(deps.ownership, input, k, sysId)
          : await ownsUnshared(deps.ownership, input, input.key, sysId);
        changed = differing(row, desired);
        if (input.exclusive && !ours && changed.length) {
          // Someone else's (another integration's, or set up by hand): never changed by this run.
          logLine(log, 'warn', `${input.table} '${input.key}' ${sysId} is not this integration's: handing off`);
          return {
            ok: true,
            ...base,
            sysId,
            created: false,
            mismatches: [],
            manualAction: manualAction(
              `${input.manualFallback} (the record ${sysId} exists and is not this integration's)`,
              [
                { label: 'Record', value: `${input.table} ${sysId}` },
                ...changed.map((f) => ({ label: f, value: desired[f] })),
              ],
            ),
          };
        }
        if (changed.length && sysId) {
          logLine(log, 'info', `${input.table} '${input.key}' ${sysId}: patching ${changed.join(', ')}`);
          stored = await client.patch<Row>(
            input.table,
            sysId,
            Object.fromEntries(changed.map((f) => [f, desired[f]])),
            {
              fields: readBack,
            },
          );
        }
      } else {
        if (shared) announced = { took: await claimShared(deps.ownership, input, k) };
        else await claimUnshared(deps.ownership, input, input.key, input.table);
        let inserted: Row;
        try {
          // The insert answers with the record as stored: it serves as the read-back.
          inserted = await client.insert<Row>(input.table, desired, { fields: readBack });
        } catch (err) {
          // ServiceNow answered (a status, no timeout): nothing was inserted, so the claim goes. Without an answer
          // (timeout, reset) the insert may have landed or land later: the claim stays for compensation to look for it.
          if (!shared && answered(err))
            await releaseUnsharedClaim(deps.ownership, input, input.key).catch(() => undefined);
          throw err;
        }
        sysId = text(inserted.sys_id);
        created = true;
        stored = inserted;
        logLine(log, 'info', `${input.table} '${input.key}' created: ${sysId ?? '?'}`);
        if (shared) {
          // A shared record's natural key is not the integration's alone: ServiceNow itself, or a person, may insert a
          // row with it without our lock (with runtime access tracking set to Tracking or Enforcing, the system creates
          // a cross-scope privilege record when a script first accesses another application:
          // https://www.servicenow.com/docs/r/australia/application-development/c_CrossScopePrivilegeRecord.html).
          // Every run keeps the oldest match and removes only the row it inserted itself. An unshared record's natural
          // key names this integration's own objects (its app ids, its id, its records' sys_ids), and every execution
          // that inserts it holds the insert lock from its look-up on: no second row can appear.
          const again = await lookup<Row>(client, input.table, input.naturalKey, fields);
          if (again.matched.length > 1) {
            const keep = survivor(again.matched);
            if (text(keep.sys_id) !== sysId && sysId) {
              logLine(log, 'warn', `${input.table} '${input.key}': a concurrent insert won; removing ${sysId}`);
              await client.remove(input.table, sysId);
              sysId = text(keep.sys_id);
              created = false;
              row = keep;
              stored = undefined;
              changed = differing(keep, desired);
            }
          }
        }
        if (!sysId) return servicenowFailure('NoSysId', `ServiceNow returned no sys_id for ${input.table}`);
        ours = shared
          ? await settleShared(deps.ownership, input, k, sysId, created)
          : await settleUnshared(deps.ownership, input, input.key, input.table, sysId, created);
        announced = undefined;
      }
    }

    if (!sysId) return servicenowFailure('NoSysId', `ServiceNow returned no sys_id for ${input.table}`);
    // A hidden field (absent) tells nothing: only an explicit "" means "never written".
    const secretPending =
      input.secret !== undefined && (created || (row !== undefined && text(row[input.secret.field]) === ''));

    let mismatches: string[] = [];
    if (created || changed.length) {
      const back = stored ?? (await client.get<Row>(input.table, sysId, { fields: Object.keys(desired) }));
      mismatches = back ? differing(back, desired) : Object.keys(desired);
      if (mismatches.length)
        logLine(log, 'warn', `${input.table} '${input.key}' ${sysId}: read-back differs in ${mismatches.join(', ')}`);
    }
    const updated = !created && changed.length > 0;
    return {
      ok: true,
      ...base,
      sysId,
      created: ours,
      ...(shared ? { shared } : {}),
      ...(updated ? { updated } : {}),
      ...(secretPending ? { secretPending } : {}),
      mismatches,
    };
  } catch (err) {
    // An insert that got no answer may still land: its announcement stays, so the next attempt waits for it.
    if (announced && answered(err)) await withdraw(deps, input, k, announced.took, log);
    if (httpStatusOf(err) === 403) {
      logLine(log, 'warn', `${input.table} '${input.key}': ServiceNow refused (403), handing off`);
      return {
        ok: true,
        ...base,
        ...(sysId ? { sysId } : {}),
        created: ours,
        ...(shared ? { shared } : {}),
        mismatches: created ? [] : changed,
        manualAction: handOff(input, desired, sysId),
      };
    }
    return { ok: false, failure: failureOrThrow(ensureErrorType(err)) };
  } finally {
    if (lock) await deps.ownership.unlockInsert(lock).catch(() => undefined);
  }
}
