import type { Caller } from './auth';
import { extendsTable } from './schema';

/**
 * A minimal but real ACL model (docs/reference/servicenow.md#authentication-and-roles): tickets need itil,
 * incident_manager or admin; the OAuth/security tables need admin to read and to write; every other write needs admin;
 * other reads are open to any authenticated user. `admin` passes everything except tables configured as
 * write-protected.
 */
const TICKET_ROLES = ['itil', 'incident_manager', 'admin'];

const SECURITY_TABLES = new Set([
  'oauth_entity',
  'oauth_entity_profile',
  'oidc_provider_configuration',
  'oauth_entity_auth_scope_mapping',
  'sys_scope_privilege',
  'ip_access',
  'sys_journal_field',
  'sys_properties',
]);

const isSecurity = (table: string) => [...SECURITY_TABLES].some((t) => extendsTable(table, t));
const has = (caller: Caller, roles: string[]) => roles.some((r) => caller.roles.has(r));

export function canRead(caller: Caller, table: string): boolean {
  if (caller.roles.has('admin')) return true;
  if (extendsTable(table, 'task')) return has(caller, TICKET_ROLES);
  return !isSecurity(table);
}

export function canWrite(caller: Caller, table: string): boolean {
  if (caller.roles.has('admin')) return true;
  if (extendsTable(table, 'task')) return has(caller, TICKET_ROLES);
  return false;
}
