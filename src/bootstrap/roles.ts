/**
 * The ServiceNow roles the control plane's machine user needs, derived from what the registered profiles write
 * (src/profiles/needs.ts) plus the one write every integration makes (work notes on the request's ticket). Each table
 * maps to the least role ServiceNow documents for writing it; the union over the profiles is what the bootstrap script
 * grants, nothing more. A table missing here is a compile-time-free gap a test catches (test/bootstrap).
 */
import type { IntegrationProfile } from '../profiles/types';

export interface TableRole {
  role: string;
  /** Why the role covers the table, with its public source. */
  why: string;
}

/** Tables no Table API call can write (an elevated `security_admin` session is needed): never granted, handed off. */
export const ELEVATED_TABLES: Readonly<Record<string, string>> = {
  ip_access:
    'IP Address Access Control needs an elevated security_admin session, which a REST call cannot open ' +
    '(ServiceNow "Elevated privilege roles"); the product reports a 403 there as a manual step, so no role is granted for it',
};

const OAUTH_ADMIN: TableRole = {
  role: 'oauth_admin',
  why:
    'OAuth application registry: outbound providers, profiles and scopes, OIDC provider configurations and entities ' +
    '(ServiceNow "Configure an OAuth OIDC provider for accepting third-party token": Role required: oauth_admin)',
};
const USER_ADMIN: TableRole = {
  role: 'user_admin',
  why:
    'integration users and their role grants (ServiceNow "Create a user" and "Assign a role to a user": Role required: ' +
    'user_admin); it cannot grant admin or the elevated security_admin',
};
const ADMIN: TableRole = {
  role: 'admin',
  why:
    'cross-scope privileges (sys_scope_privilege) have no narrower role (ServiceNow "Cross-scope privilege ' +
    'management": Role required: admin); only a profile that writes them brings this role in',
};

/** The role each table the profiles write needs. */
export const TABLE_WRITE_ROLES: Readonly<Record<string, TableRole>> = {
  oauth_entity: OAUTH_ADMIN,
  oauth_entity_profile: OAUTH_ADMIN,
  oauth_entity_scope: OAUTH_ADMIN,
  oauth_entity_profile_scope: OAUTH_ADMIN,
  oauth_oidc_entity: OAUTH_ADMIN,
  oidc_provider_configuration: OAUTH_ADMIN,
  oauth_entity_auth_scope_mapping: OAUTH_ADMIN,
  sys_user: USER_ADMIN,
  sys_user_has_role: USER_ADMIN,
  sys_scope_privilege: ADMIN,
  oauth_2_0_credentials: {
    role: 'credential_admin',
    why: 'credential records (ServiceNow "Connections and Credentials": the credential_admin role manages credentials)',
  },
  http_connection: {
    role: 'connection_admin',
    why: 'HTTP connection records (ServiceNow "Connections and Credentials": the connection_admin role manages connections)',
  },
};

/** What every integration writes besides its profile: work notes on the requesting ticket (incident, RITM, change). */
export const PRODUCT_WRITES: Readonly<Record<string, TableRole>> = {
  task: {
    role: 'itil',
    why: 'work notes on the request ticket (incident, sc_req_item, change_request extend task; ServiceNow "Base system roles": itil works tasks)',
  },
};

/** The tables a profile writes: its records (lookups excepted), role grants, and IP allow rules when it has any. */
export function tablesWritten(profile: IntegrationProfile): string[] {
  const sn = profile.serviceNow;
  const tables = new Set<string>(sn.records.filter((r) => !r.lookup).map((r) => r.table));
  if (sn.roleGrants.length || Object.keys(sn.grantableUserRoles).length) tables.add('sys_user_has_role');
  if (sn.ipAllowlist.length) tables.add('ip_access');
  return [...tables].sort();
}

export interface ControlPlaneRole {
  role: string;
  why: string;
  /** The tables it is needed for, and the profiles that write them (`product` for work notes). */
  tables: string[];
  profiles: string[];
}

/**
 * The union of the roles the given profiles' writes need, plus itil for work notes; in a stable order. Throws for a
 * written table without a known role, so a new profile cannot silently need more than the script grants.
 */
export function controlPlaneRoles(profiles: readonly IntegrationProfile[]): ControlPlaneRole[] {
  const byRole = new Map<string, ControlPlaneRole>();
  const add = (need: TableRole, table: string, profile: string) => {
    const entry = byRole.get(need.role) ?? { role: need.role, why: need.why, tables: [], profiles: [] };
    if (!entry.tables.includes(table)) entry.tables.push(table);
    if (!entry.profiles.includes(profile)) entry.profiles.push(profile);
    byRole.set(need.role, entry);
  };
  for (const profile of profiles)
    for (const table of tablesWritten(profile)) {
      if (table in ELEVATED_TABLES) continue;
      const need = TABLE_WRITE_ROLES[table];
      if (!need)
        throw new Error(
          `profile ${profile.id} writes ${table}, whose ServiceNow role is not known (src/bootstrap/roles.ts)`,
        );
      add(need, table, profile.id);
    }
  for (const [table, need] of Object.entries(PRODUCT_WRITES)) add(need, table, 'product');
  return [...byRole.values()].sort((a, b) => a.role.localeCompare(b.role));
}
