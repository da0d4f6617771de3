/**
 * Activity `ensureIpAllowlist` (docs/reference/servicenow.md#records-the-integration-writes; SN-IPAC):
 * a client is blocked only when an active Deny rule matches and no Allow does, so allow rules are written only where
 * an active Deny rule exists (a fresh instance has none: then nothing is needed and nothing is written). One Allow
 * per address, Bidirectional, range_start = range_end (IP Address Access Control takes no wildcards or CIDR), with a
 * description marking it as ours. The addresses are the profile's seed list plus the current A records of
 * `resolveHost` (MS-AAD: "nslookup connector.rave.microsoft.com"), resolved with a bounded timeout; when the name
 * does not resolve, the seed list alone is used. Idempotent: an existing active Allow for the address is kept.
 *
 * An allow rule serves every integration that needs the address, so rules are shared records, reference-counted in
 * the ownership ledger per address: `held` lists every rule this integration references, `created` those whose
 * reference this run took (also when a repeated execution of the run finds them), which compensation releases. A
 * rule is deleted only when no integration references it any more and an integration created it; an allow rule that
 * existed before (an administrator's) is referenced but never deleted.
 */
import { Resolver } from 'node:dns/promises';
import { isIPv4 } from 'node:net';

import { encodedQuery, type SnRecord } from '../clients/servicenow';
import type { InsertLock } from '../registry/ownership';
import type { IpAllowlistInput, IpAllowlistResult, Outcome } from '../contracts/provision';
import type { Deps } from '../app/deps';
import { abandonShared, claimShared, holdShared, lookup, manualAction, settleShared, text } from './servicenow-common';
import { type ActivityLog, logLine } from './log';
import { failureOrThrow, inputFailure } from './failures';
import { httpStatusOf } from '../lib/errors';

const TABLE = 'ip_access';
/** The ip_access columns this activity writes (preflight checks them when the allow-list is requested). */
export const IP_ACCESS_COLUMNS: readonly string[] = [
  'type',
  'direction',
  'active',
  'description',
  'range_start',
  'range_end',
];
const DEFAULT_RESOLVE_TIMEOUT_MS = 3000;

/** The description of the rules this product writes; the integration id tells whose rule it is. */
export function ipRuleDescription(integrationId: string): string {
  return `M365 support integration (m365-snow-provisioner ${integrationId})`;
}

export interface IpAllowlistOptions {
  /** Bound on the DNS lookup of `resolveHost`. Default 3 s. */
  resolveTimeoutMs?: number;
  /** A records of a host (tests pass a fake). Default: node:dns with one try and the timeout. */
  resolve4?: (host: string, timeoutMs: number) => Promise<string[]>;
}

async function dnsResolve4(host: string, timeoutMs: number): Promise<string[]> {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((_resolve, reject) => {
    timer = setTimeout(() => {
      resolver.cancel();
      reject(new Error(`DNS lookup of ${host} timed out`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([resolver.resolve4(host), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The seed list plus the host's current A records (seed list alone when the host does not resolve in time). */
export async function allowlistAddresses(
  input: Pick<IpAllowlistInput, 'addresses' | 'resolveHost'>,
  opts: IpAllowlistOptions = {},
  log?: ActivityLog,
): Promise<string[]> {
  const out = [...input.addresses];
  if (input.resolveHost) {
    try {
      const found = await (opts.resolve4 ?? dnsResolve4)(
        input.resolveHost,
        opts.resolveTimeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS,
      );
      out.push(...found);
    } catch (err) {
      logLine(log, 'info', `${input.resolveHost} did not resolve (${(err as Error).message}); using the seed list`);
    }
  }
  return [...new Set(out.map((a) => a.trim()).filter((a) => a !== ''))];
}

export async function ensureIpAllowlist(
  input: IpAllowlistInput,
  deps: Deps,
  log?: ActivityLog,
  opts: IpAllowlistOptions = {},
): Promise<Outcome<IpAllowlistResult>> {
  const addresses = await allowlistAddresses(input, opts, log);
  const invalid = addresses.filter((a) => !isIPv4(a));
  if (invalid.length)
    return inputFailure('InvalidAddress', `not IPv4 addresses (no ranges or CIDR allowed): ${invalid.join(', ')}`);
  const description = ipRuleDescription(input.integrationId);
  const handOff = () =>
    manualAction('ServiceNow: allow Microsoft 365 support addresses (IP Address Access Control)', [
      { label: 'Where', value: 'System Security > IP Address Access Control > New (one rule per address)' },
      { label: 'Type', value: 'Allow' },
      { label: 'Direction', value: 'Bidirectional' },
      { label: 'Description', value: description },
      ...addresses.map((a) => ({ label: 'Range start = Range end', value: a })),
    ]);

  try {
    const client = deps.serviceNow(input.serviceNowInstance);
    let denies: SnRecord[];
    try {
      const q = encodedQuery().eq('type', 'deny').eq('active', 'true');
      const rows = await client.list(TABLE, { query: q, fields: ['sys_id', ...IP_ACCESS_COLUMNS] });
      denies = rows.filter((r) => q.matches(r));
    } catch (err) {
      if (httpStatusOf(err) !== 403) throw err;
      return { ok: true, needed: true, created: [], manualAction: handOff() };
    }
    if (!denies.length) {
      logLine(log, 'info', 'no active IP deny rule: no allow rule needed');
      return { ok: true, needed: false, created: [] };
    }

    const created: { address: string; sysId: string }[] = [];
    const held: { address: string; sysId: string }[] = [];
    const hold = (address: string, sysId: string, took: boolean) => {
      held.push({ address, sysId });
      if (took) created.push({ address, sysId });
    };
    let announced: { k: { table: string; naturalKey: Record<string, string> }; took: boolean } | undefined;
    let lock: InsertLock | undefined;
    try {
      for (const address of addresses) {
        const rule = { type: 'allow', direction: 'bidirectional', range_start: address, range_end: address };
        const k = { table: TABLE, naturalKey: rule };
        const find = async () => {
          const found = await lookup<SnRecord>(client, TABLE, rule, IP_ACCESS_COLUMNS);
          return {
            active: text(found.matched.find((r) => text(r.active) === 'true')?.sys_id),
            ours: text(found.matched.find((r) => text(r.description) === description)?.sys_id),
          };
        };
        let found = await find();
        if (!found.active && !found.ours) {
          // Insert under the lock, after looking again: another execution may have added the rule meanwhile.
          lock = await deps.ownership.lockInsert(input.serviceNowInstance, TABLE, rule, input.instanceId);
          found = await find();
        }
        const { active, ours } = found;
        if (active) {
          hold(address, active, await holdShared(deps.ownership, input, k, active));
        } else if (ours) {
          // Our own rule, switched off since: switch it back on.
          await client.patch(TABLE, ours, { active: 'true' }, { fields: ['sys_id'] });
          hold(address, ours, await holdShared(deps.ownership, input, k, ours));
        } else {
          announced = { k, took: await claimShared(deps.ownership, input, k) };
          const row = await client.insert<SnRecord>(
            TABLE,
            { ...rule, active: 'true', description },
            { fields: ['sys_id'] },
          );
          const sysId = text(row.sys_id) ?? '';
          logLine(log, 'info', `ip_access allow rule for ${address}: ${sysId || '?'}`);
          hold(address, sysId, await settleShared(deps.ownership, input, k, sysId, true));
          announced = undefined;
        }
        if (lock) await deps.ownership.unlockInsert(lock);
        lock = undefined;
      }
    } catch (err) {
      if (announced) await abandonShared(deps.ownership, input, announced.k, announced.took).catch(() => undefined);
      if (lock) await deps.ownership.unlockInsert(lock).catch(() => undefined);
      if (httpStatusOf(err) !== 403) throw err;
      return { ok: true, needed: true, created, held, manualAction: handOff() };
    }
    return { ok: true, needed: true, created, held };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}
