import type { Caller } from './auth';
import { extendsTable } from './schema';

/**
 * A minimal but real ACL model (docs/reference/servicenow.md#authentication-and-roles): tickets need itil,
 * incident_manager or admin; the OAuth, credential, connection and security tables need admin to read and to write;
 * every other write needs admin; other reads are open to any authenticated user. `admin` passes everything except
 * tables configured as write-protected and the access-control tables below.
 */
const TICKET_ROLES = ['itil', 'incident_manager', 'admin'];

const SECURITY_TABLES = new Set([
  'oauth_entity',
  'oauth_entity_profile',
  'oauth_entity_scope',
  'oauth_entity_profile_scope',
  'oidc_provider_configuration',
  'oauth_entity_auth_scope_mapping',
  'sys_scope_privilege',
  'ip_access',
  'sys_journal_field',
  'sys_properties',
  'sys_alias',
  'discovery_credentials',
  'sys_connection',
  'sys_security_acl',
  'sys_security_acl_role',
]);

/**
 * Access controls themselves: changing them takes the security_admin role, an elevated privilege that must be
 * elevated to within a user session (SN-ELEV, https://www.servicenow.com/docs/r/australia/platform-security/c_ElevatedPrivilege.html:
 * "lets users create and change access controls"). A Table API call has no interactive session to elevate, so every
 * insert, update and delete answers 403, even for admin (microsoft/Employee-Self-Service-Agent-Developer-Kit
 * `step2-graph.md`: "ACLs CANNOT be created via the ServiceNow Table REST API (returns 403)"); the supported route is
 * a background script run by an elevated administrator.
 */
const ELEVATED_WRITE_TABLES = ['sys_security_acl', 'sys_security_acl_role'];

const isSecurity = (table: string) => [...SECURITY_TABLES].some((t) => extendsTable(table, t));
const has = (caller: Caller, roles: string[]) => roles.some((r) => caller.roles.has(r));

const needsElevation = (table: string): boolean => ELEVATED_WRITE_TABLES.some((t) => extendsTable(table, t));

export function canRead(caller: Caller, table: string): boolean {
  if (caller.roles.has('admin')) return true;
  if (extendsTable(table, 'task')) return has(caller, TICKET_ROLES);
  return !isSecurity(table);
}

export function canWrite(caller: Caller, table: string): boolean {
  if (needsElevation(table)) return false;
  if (caller.roles.has('admin')) return true;
  if (extendsTable(table, 'task')) return has(caller, TICKET_ROLES);
  return false;
}
