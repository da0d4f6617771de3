/**
 * Activity `ensureServiceNowRecord`: one ServiceNow record ensured by its natural key (servicenow-api.md §7: look up
 * by natural key → create or patch → read back and compare, never secrets).
 *
 * - Lookup with the encoded-query builder; rows are re-checked in code, since ServiceNow drops invalid terms and can
 *   return every row (§2.4, SN-TABLE). More than one real match is a failure naming the sys_ids: we never guess.
 * - Create (POST) with the natural key and fields, or PATCH only the differing non-secret fields.
 * - The secret (password2, e.g. `oauth_entity.client_secret`) is read from Key Vault here and written in its own PATCH
 *   with `sysparm_input_display_value=true` (§2.8; without the flag ServiceNow silently drops it, SN-TABLE): when the
 *   record was created, when the field reads back empty (a previous attempt stopped before writing it; reads are
 *   masked, so emptiness is all we learn), or when asked to (`secret.rewrite`, rotation). Never compared or logged.
 * - 403 (ACL, security tables, §2.9 "report such 403s as manual steps") → `ok: true` with a manual action holding
 *   the exact values (the Key Vault secret NAME for the secret). 429/5xx/network → thrown for the durable retry.
 */
import type { ActivityHandler } from 'durable-functions';
import type { InvocationContext } from '@azure/functions';

import { readSecretValue } from '../clients/keyvault';
import type { ServiceNowClient, SnRecord } from '../clients/servicenow';
import { ensureErrorType } from '../lib/errors';
import type { EnsureRecordInput, ManualAction, Outcome, RecordResult } from './contracts';
import { type Deps, getDeps } from './deps';
import {
  type ActivityLog,
  failureOrThrow,
  glideMs,
  inputFailure,
  logLine,
  lookup,
  manualAction,
  naturalKeyQuery,
  servicenowFailure,
  statusOf,
  text,
} from './servicenow-common';

/** The contract's input, plus an explicit request to write the secret again (secret rotation). */
export type EnsureRecordActivityInput = Omit<EnsureRecordInput, 'secret'> & {
  secret?: NonNullable<EnsureRecordInput['secret']> & {
    /** Write the Key Vault value even though the record exists and its secret field is set. */
    rewrite?: boolean;
  };
  /**
   * ISO start of the provisioning run (the orchestrator's currentUtcDateTime at start). A record found with
   * `sys_created_on` (UTC) at or after it counts as `created`: under at-least-once delivery the second run of this
   * activity finds the record the first run inserted, and compensation must still remove it.
   */
  createdSince?: string;
};

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

export async function ensureServiceNowRecord(
  input: EnsureRecordActivityInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<RecordResult>> {
  const desired = desiredValues(input);
  const fields = [
    ...new Set(['sys_id', 'sys_created_on', ...Object.keys(desired), ...(input.secret ? [input.secret.field] : [])]),
  ];
  const base = { key: input.key, table: input.table };
  try {
    naturalKeyQuery(input.naturalKey); // refuse ^/CR/LF before any call
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }

  let client: ServiceNowClient;
  let sysId: string | undefined;
  let created = false;
  let changed: string[] = [];
  try {
    client = deps.serviceNow(input.serviceNowInstance);
    const found = await lookup<Row>(client, input.table, input.naturalKey, fields);
    if (found.unknownFields.length)
      return inputFailure(
        'InvalidNaturalKey',
        `ServiceNow ignored the natural-key field(s) ${found.unknownFields.join(', ')} of ${input.table} (not a column, or hidden by ACL): no record is picked`,
      );
    if (found.matched.length > 1)
      return servicenowFailure(
        'AmbiguousRecord',
        `${found.matched.length} ${input.table} records match the natural key of '${input.key}' (sys_ids ${found.matched
          .map((r) => text(r.sys_id))
          .join(', ')}); remove the duplicates, none was changed`,
      );

    let row = found.matched[0];
    if (row) {
      sysId = text(row.sys_id);
      changed = differing(row, desired);
      if (changed.length && sysId) {
        logLine(log, 'info', `${input.table} '${input.key}' ${sysId}: patching ${changed.join(', ')}`);
        await client.patch(input.table, sysId, Object.fromEntries(changed.map((f) => [f, desired[f]])), {
          fields: ['sys_id'],
        });
      }
    } else {
      const inserted = await client.insert<Row>(input.table, desired, { fields: ['sys_id', 'sys_created_on'] });
      sysId = text(inserted.sys_id);
      created = true;
      logLine(log, 'info', `${input.table} '${input.key}' created: ${sysId ?? '?'}`);
      // At-least-once: a concurrent run of this activity may have inserted too. Every run keeps the oldest match and
      // removes only the row it inserted itself.
      const again = await lookup<Row>(client, input.table, input.naturalKey, fields);
      if (again.matched.length > 1) {
        const keep = survivor(again.matched);
        if (text(keep.sys_id) !== sysId && sysId) {
          logLine(log, 'warn', `${input.table} '${input.key}': a concurrent insert won; removing ${sysId}`);
          await client.remove(input.table, sysId);
          sysId = text(keep.sys_id);
          created = false;
          row = keep;
          changed = differing(keep, desired);
        }
      }
    }
    // Glide times have whole seconds: compare against the start rounded down to the second.
    const since = input.createdSince !== undefined ? Math.floor(Date.parse(input.createdSince) / 1000) * 1000 : NaN;
    const ours = created || (row !== undefined && glideMs(row.sys_created_on) >= since);
    if (!sysId) return servicenowFailure('NoSysId', `ServiceNow returned no sys_id for ${input.table}`);

    let secretWritten = false;
    if (input.secret) {
      // A hidden field (absent) tells nothing: only an explicit "" means "never written".
      const current = row ? text(row[input.secret.field]) : undefined;
      if (created || current === '' || input.secret.rewrite) {
        secretWritten = true;
        const value = await readSecretValue(deps.secrets, input.secret.secretName);
        await client.setPassword2(input.table, sysId, input.secret.field, value);
        logLine(log, 'info', `${input.table} '${input.key}' ${sysId}: ${input.secret.field} written from Key Vault`);
      }
    }

    let mismatches: string[] = [];
    if (created || changed.length) {
      const back = await client.get<Row>(input.table, sysId, { fields: Object.keys(desired) });
      mismatches = back ? differing(back, desired) : Object.keys(desired);
      if (mismatches.length)
        logLine(log, 'warn', `${input.table} '${input.key}' ${sysId}: read-back differs in ${mismatches.join(', ')}`);
    }
    const updated = !created && (changed.length > 0 || secretWritten);
    return { ok: true, ...base, sysId, created: ours, ...(updated ? { updated } : {}), mismatches };
  } catch (err) {
    if (statusOf(err) === 403) {
      logLine(log, 'warn', `${input.table} '${input.key}': ServiceNow refused (403), handing off`);
      return {
        ok: true,
        ...base,
        ...(sysId ? { sysId } : {}),
        created,
        mismatches: created ? [] : changed,
        manualAction: handOff(input, desired, sysId),
      };
    }
    return { ok: false, failure: failureOrThrow(ensureErrorType(err)) };
  }
}

export const ensureServiceNowRecordHandler: ActivityHandler = (input: unknown, ctx: InvocationContext) =>
  ensureServiceNowRecord(input as EnsureRecordActivityInput, getDeps(), ctx);
