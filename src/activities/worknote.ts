/**
 * Activity `addWorkNote`: appends a progress note to the originating ticket
 * (docs/reference/servicenow.md#tickets-and-work-notes). The ticket is an `incident`, `sc_req_item` or `change_request`
 * (all extend `task`), or the generic `task` table; it is found by sys_id or by number. The note is written with `PATCH
 * {table}/{sys_id} {"work_notes": …}` (each PATCH appends a journal entry; SN-TABLE's PATCH example uses the sibling
 * journal field `comments`).
 *
 * A note never fails the orchestration: a closed or locked ticket (403 ACL or data policy, 400 data policy; SN-CODES
 * wording) or a ticket that is not found gives `{ written: false, reason }`. Only retriable errors (429/5xx/network)
 * are thrown, for the durable retry. Because the activity may run twice, the ticket's existing work notes are read
 * first (sys_journal_field, readable by admin; same page) and an identical note is not written again; if the journal is
 * not readable, the note is written (a duplicate progress note is harmless).
 */

import { encodedQuery, type ServiceNowClient, type SnRecord } from '../clients/servicenow';
import { ensureErrorType, ExternalServiceError, httpStatusOf } from '../lib/errors';
import type { WorkNoteInput, WorkNoteResult } from '../contracts/provision';
import type { Deps } from '../app/deps';
import { lookup, text } from './servicenow-common';
import { type ActivityLog, logLine } from './log';

export const TICKET_TABLES: readonly string[] = ['incident', 'sc_req_item', 'change_request', 'task'];
const SYS_ID = /^[0-9a-f]{32}$/;

async function findTicket(
  client: ServiceNowClient,
  input: WorkNoteInput,
): Promise<{ sysId: string; number: string } | string> {
  const { table, sysId, number } = input.ticket;
  if (sysId !== undefined) {
    if (!SYS_ID.test(sysId)) return `ticket sys_id '${sysId}' is not 32 hex characters`;
    const row = await client.get(table, sysId, { fields: ['sys_id', 'number'] });
    if (!row) return `ticket ${table}/${sysId} not found (or hidden by ACL)`;
    return { sysId, number: text(row.number) ?? '' };
  }
  if (number === undefined || number === '') return 'the ticket has neither sys_id nor number';
  const found = await lookup<SnRecord>(client, table, { number }, ['number']);
  if (found.matched.length === 0) return `ticket ${table} ${number} not found (or hidden by ACL)`;
  if (found.matched.length > 1) return `ticket number ${number} matches ${found.matched.length} ${table} records`;
  return { sysId: text(found.matched[0].sys_id) ?? '', number };
}

/** Whether the ticket already carries this exact work note (best effort: undefined when the journal is unreadable). */
async function alreadyNoted(client: ServiceNowClient, table: string, sysId: string, note: string): Promise<boolean> {
  try {
    const q = encodedQuery().eq('element_id', sysId).eq('element', 'work_notes');
    const rows = await client.list('sys_journal_field', {
      query: q,
      fields: ['element_id', 'element', 'name', 'value'],
      maxRecords: 2000,
    });
    return rows.some((r) => q.matches(r) && text(r.value) === note && [table, 'task'].includes(text(r.name) ?? ''));
  } catch (err) {
    if (err instanceof ExternalServiceError && err.retriable) throw err;
    return false;
  }
}

export async function addWorkNote(input: WorkNoteInput, deps: Deps, log?: ActivityLog): Promise<WorkNoteResult> {
  const { table } = input.ticket;
  if (!TICKET_TABLES.includes(table))
    return { written: false, reason: `ticket table '${table}' is not one of ${TICKET_TABLES.join(', ')}` };
  if (input.note.trim() === '') return { written: false, reason: 'the note is empty' };
  try {
    const client = deps.serviceNow(input.serviceNowInstance);
    const ticket = await findTicket(client, input);
    if (typeof ticket === 'string') {
      logLine(log, 'warn', `work note not written: ${ticket}`);
      return { written: false, reason: ticket };
    }
    if (await alreadyNoted(client, table, ticket.sysId, input.note)) return { written: true };
    await client.patch(table, ticket.sysId, { work_notes: input.note }, { fields: ['sys_id'] });
    logLine(log, 'info', `work note added to ${table} ${ticket.number || ticket.sysId}`);
    return { written: true };
  } catch (err) {
    const e = ensureErrorType(err);
    if (e instanceof ExternalServiceError && e.retriable) throw e;
    const status = httpStatusOf(e);
    const reason =
      status === 403 || status === 400
        ? `ServiceNow refused the work note (${status}: closed or locked ticket, ACL or data policy): ${e.message}`
        : status === 404
          ? `ticket not found: ${e.message}`
          : `work note not written: ${e.message}`;
    logLine(log, 'warn', reason);
    return { written: false, reason };
  }
}
