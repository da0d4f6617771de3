/**
 * Activity `ensureRoleGrant`: the user (sys_user.user_name) holds the role (sys_user_role.name) through a
 * `sys_user_has_role` row with columns `user` and `role` (docs/reference/servicenow.md#authentication-and-roles;
 * SN-REST). Idempotent: the grant is looked up by (user sys_id, role sys_id) first, every lookup re-checked in code
 * (servicenow.md#encoded-queries). `incident_manager` needs no elevation (SN-ELEV); a 403 (e.g. an elevated role)
 * becomes a manual action, not a failure.
 *
 * Ownership is recorded in the ownership ledger, never inferred from `sys_created_on`. A grant to the integration's
 * own user is claimed before the insert under `grantKey(user, role)`. A grant to a person named in the request
 * (`shared`) may be wanted by several integrations: it is reference-counted like a shared record, `created` meaning
 * this run took the reference, and it is revoked only when the last integration goes and an integration created it.
 */

import type { SnRecord } from '../clients/servicenow';
import type { InsertLock } from '../registry/ownership';
import type { Failure, Outcome, RoleGrantInput, RoleGrantResult } from '../contracts/provision';
import type { Deps } from '../app/deps';
import {
  abandonShared,
  answered,
  awaitUnansweredInsert,
  claimShared,
  claimUnshared,
  holdShared,
  lookup,
  manualAction,
  ownsUnshared,
  settleShared,
  settleUnshared,
  text,
} from './servicenow-common';
import { type ActivityLog, logLine } from './log';
import { failureOrThrow, servicenowFailure } from './failures';
import { httpStatusOf } from '../lib/errors';

const GRANT_TABLE = 'sys_user_has_role';

/** The ledger key of an unshared grant (the record key the orchestrator registers grants under). */
export function grantKey(userName: string, role: string): string {
  return `grant:${userName}:${role}`;
}

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
    // The user and the role are independent reads: at once (a missing user is reported first, as before).
    const [user, role] = await Promise.all([
      oneSysId(client, 'sys_user', { user_name: input.userName }, `User '${input.userName}'`),
      oneSysId(client, 'sys_user_role', { name: input.role }, `Role '${input.role}'`),
    ]);
    if (typeof user !== 'string') return user;
    if (typeof role !== 'string') return role;

    const grant = { user, role };
    const shared = input.shared === true;
    const k = { table: GRANT_TABLE, naturalKey: grant };
    const key = grantKey(input.userName, input.role);
    const sharedFlag = shared ? { shared } : {};
    let announced: { took: boolean } | undefined;
    let lock: InsertLock | undefined;
    try {
      const existing = async () =>
        text((await lookup<SnRecord>(client, GRANT_TABLE, grant, ['user', 'role'])).matched[0]?.sys_id);
      // The insert lock before the one look-up: every execution that inserts this grant holds it from its look-up to
      // its insert's answer, so what another one granted is found (an unanswered insert is awaited below).
      lock = await deps.ownership.lockInsert(input.serviceNowInstance, GRANT_TABLE, grant, input.instanceId);
      let found = await existing();
      found ??= await awaitUnansweredInsert(
        deps,
        input,
        { shared, key, table: GRANT_TABLE, naturalKey: grant },
        existing,
      );
      if (found) {
        // A repeated execution of this run finds the grant its first execution inserted: the ledger says whose it is.
        const ours = shared
          ? await holdShared(deps.ownership, input, k, found)
          : await ownsUnshared(deps.ownership, input, key, found);
        return { ok: true, ...base, sysId: found, created: ours, ...sharedFlag };
      }
      if (shared) announced = { took: await claimShared(deps.ownership, input, k) };
      else await claimUnshared(deps.ownership, input, key, GRANT_TABLE);
      const row = await client.insert<SnRecord>(GRANT_TABLE, grant, { fields: ['sys_id'] });
      const sysId = text(row.sys_id);
      if (!sysId) return servicenowFailure('NoSysId', `ServiceNow returned no sys_id for ${GRANT_TABLE}`);
      const ours = shared
        ? await settleShared(deps.ownership, input, k, sysId, true)
        : await settleUnshared(deps.ownership, input, key, GRANT_TABLE, sysId, true);
      announced = undefined;
      logLine(log, 'info', `granted ${input.role} to ${input.userName}`);
      return { ok: true, ...base, sysId, created: ours, ...sharedFlag };
    } catch (err) {
      // An insert that got no answer may still land: its announcement stays, so the next attempt waits for it.
      if (announced && answered(err))
        await abandonShared(deps.ownership, input, k, announced.took).catch(() => undefined);
      if (httpStatusOf(err) !== 403) throw err;
      logLine(log, 'warn', `granting ${input.role} to ${input.userName} refused (403), handing off`);
      return {
        ok: true,
        ...base,
        created: false,
        ...sharedFlag,
        manualAction: manualAction(`ServiceNow: grant role ${input.role} to ${input.userName}`, [
          { label: 'Where', value: 'User Administration > Users > the user > Roles > Edit' },
          { label: 'User ID (user_name)', value: input.userName },
          { label: 'Role', value: input.role },
        ]),
      };
    } finally {
      if (lock) await deps.ownership.unlockInsert(lock).catch(() => undefined);
    }
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}
