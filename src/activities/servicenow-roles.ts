/**
 * Activity `ensureRoleGrant`: the user (sys_user.user_name) holds the role (sys_user_role.name) through a
 * `sys_user_has_role` row with columns `user` and `role` (servicenow-api.md §3.5; SN-REST). Idempotent: the grant
 * is looked up by (user sys_id, role sys_id) first, every lookup re-checked in code (§2.4). `incident_manager` needs
 * no elevation (SN-ELEV); a 403 (e.g. an elevated role) becomes a manual action, not a failure.
 */
import type { ActivityHandler } from 'durable-functions';
import type { InvocationContext } from '@azure/functions';

import type { SnRecord } from '../clients/servicenow';
import type { Failure, Outcome, RoleGrantInput, RoleGrantResult } from './contracts';
import { type Deps, getDeps } from './deps';
import {
  type ActivityLog,
  glideMs,
  failureOrThrow,
  logLine,
  lookup,
  manualAction,
  servicenowFailure,
  statusOf,
  text,
} from './servicenow-common';

async function oneSysId(
  client: ReturnType<Deps['serviceNow']>,
  table: string,
  key: Record<string, string>,
  what: string,
): Promise<string | { ok: false; failure: Failure }> {
  const found = await lookup<SnRecord>(client, table, key, []);
  if (found.unknownFields.length || found.matched.length === 0)
    return servicenowFailure('NotFound', `${what} does not exist on the ServiceNow instance`);
  if (found.matched.length > 1)
    return servicenowFailure(
      'AmbiguousRecord',
      `${what} matches ${found.matched.length} records (sys_ids ${found.matched.map((r) => text(r.sys_id)).join(', ')})`,
    );
  return text(found.matched[0].sys_id) ?? '';
}

export async function ensureRoleGrant(
  input: RoleGrantInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<RoleGrantResult>> {
  const base = { userName: input.userName, role: input.role };
  try {
    const client = deps.serviceNow(input.serviceNowInstance);
    const user = await oneSysId(client, 'sys_user', { user_name: input.userName }, `User '${input.userName}'`);
    if (typeof user !== 'string') return user;
    const role = await oneSysId(client, 'sys_user_role', { name: input.role }, `Role '${input.role}'`);
    if (typeof role !== 'string') return role;

    const grant = { user, role };
    try {
      const existing = await lookup<SnRecord>(client, 'sys_user_has_role', grant, ['user', 'role', 'sys_created_on']);
      if (existing.matched.length) {
        // Under at-least-once delivery the recorded result can be a second run's, which finds the grant the first
        // run inserted: a grant created since this provisioning run started is still ours (compensation removes it).
        const row = existing.matched[0];
        const since = input.createdSince ? Math.floor(Date.parse(input.createdSince) / 1000) * 1000 : NaN;
        return { ok: true, ...base, sysId: text(row.sys_id), created: glideMs(row.sys_created_on) >= since };
      }
      const row = await client.insert<SnRecord>('sys_user_has_role', grant, { fields: ['sys_id'] });
      logLine(log, 'info', `granted ${input.role} to ${input.userName}`);
      return { ok: true, ...base, sysId: text(row.sys_id), created: true };
    } catch (err) {
      if (statusOf(err) !== 403) throw err;
      logLine(log, 'warn', `granting ${input.role} to ${input.userName} refused (403), handing off`);
      return {
        ok: true,
        ...base,
        created: false,
        manualAction: manualAction(`ServiceNow: grant role ${input.role} to ${input.userName}`, [
          { label: 'Where', value: 'User Administration > Users > the user > Roles > Edit' },
          { label: 'User ID (user_name)', value: input.userName },
          { label: 'Role', value: input.role },
        ]),
      };
    }
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

export const ensureRoleGrantHandler: ActivityHandler = (input: unknown, ctx: InvocationContext) =>
  ensureRoleGrant(input as RoleGrantInput, getDeps(), ctx);
