/**
 * What a profile needs of a ServiceNow instance, derived from the profile itself: the roles (declared, granted to the
 * integration's users and grantable to named users) and, per table, the columns the records write (natural key,
 * fields, activation fields, the secret field) plus any the profile declares for reads. Preflight checks exactly
 * these (sys_user_role, sys_db_object, sys_dictionary) before anything is created, and the sandbox seeds an instance
 * with them, so a profile never has to list the same column twice.
 */
import type { IntegrationProfile } from './types';

export interface ServiceNowNeeds {
  requiredScope?: string;
  requiredRoles: string[];
  requiredColumns: Record<string, string[]>;
  requiredRecords?: { table: string; naturalKey: Record<string, string>; missing: string }[];
}

export function serviceNowNeeds(profile: IntegrationProfile, extraRoles: readonly string[] = []): ServiceNowNeeds {
  const sn = profile.serviceNow;
  const roles = new Set([
    ...sn.requiredRoles,
    ...sn.roleGrants.map((g) => g.role),
    ...Object.values(sn.grantableUserRoles),
    ...extraRoles,
  ]);
  const columns = new Map<string, Set<string>>();
  const need = (table: string, cols: Iterable<string>) => {
    const set = columns.get(table) ?? new Set<string>();
    for (const c of cols) set.add(c);
    columns.set(table, set);
  };
  for (const [table, cols] of Object.entries(sn.requiredColumns)) need(table, cols);
  for (const r of sn.records)
    need(r.table, [
      ...Object.keys(r.naturalKey),
      ...Object.keys(r.fields),
      ...Object.keys(r.activate ?? {}),
      ...(r.secret ? [r.secret.field] : []),
    ]);
  // Records found, never written, whose key is fixed (no placeholders): the preflight looks them up first.
  const requiredRecords = sn.records
    .filter((r) => r.lookup && !Object.values(r.naturalKey).some((v) => v.includes('{')))
    .map((r) => ({ table: r.table, naturalKey: { ...r.naturalKey }, missing: r.manualFallback }));
  return {
    ...(sn.requiredScope ? { requiredScope: sn.requiredScope } : {}),
    requiredRoles: [...roles],
    requiredColumns: Object.fromEntries([...columns].map(([t, c]) => [t, [...c]])),
    ...(requiredRecords.length ? { requiredRecords } : {}),
  };
}
