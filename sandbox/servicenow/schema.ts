/**
 * The tables the stand-in holds: columns with ServiceNow internal types, parents (table inheritance), display fields.
 * Column names follow docs/reference/servicenow.md#records-the-integration-writes (ServiceNowDocs and public XML
 * exports / type declarations such as the `oauth_entity` reference keys in public now-sdk typings); columns the product
 * never touches are left out.
 */
export type ColumnType =
  | 'GUID'
  | 'string'
  | 'boolean'
  | 'integer'
  | 'reference'
  | 'choice'
  | 'password2'
  | 'password'
  | 'journal_input'
  | 'glide_date_time'
  | 'sys_class_name'
  | 'url';

export interface ColumnDef {
  name: string;
  type: ColumnType;
  label: string;
  /** Target table of a reference column. */
  reference?: string;
  mandatory?: boolean;
  /** Default for inserts that leave the column out; otherwise the type's null value (""). */
  default?: string;
}

export interface TableDef {
  name: string;
  label: string;
  /** Parent table (ServiceNow "extends"); rows of a child appear in the parent's queries. */
  parent?: string;
  columns: ColumnDef[];
  /** Column whose value is the record's display value. */
  display?: string;
  /** Auto-numbering prefix and first number (task tables). */
  numberPrefix?: string;
  numberStart?: number;
}

const col = (name: string, type: ColumnType, label: string, extra: Partial<ColumnDef> = {}): ColumnDef => ({
  name,
  type,
  label,
  ...extra,
});
const ref = (name: string, table: string, label: string, extra: Partial<ColumnDef> = {}) =>
  col(name, 'reference', label, { reference: table, ...extra });
const bool = (name: string, label: string, def = 'false') => col(name, 'boolean', label, { default: def });

/** Every record carries these (docs/reference/servicenow.md#envelopes-and-record-fields; Table API samples). */
export const SYSTEM_COLUMNS: ColumnDef[] = [
  col('sys_id', 'GUID', 'Sys ID'),
  col('sys_created_on', 'glide_date_time', 'Created'),
  col('sys_created_by', 'string', 'Created by'),
  col('sys_updated_on', 'glide_date_time', 'Updated'),
  col('sys_updated_by', 'string', 'Updated by'),
  col('sys_mod_count', 'integer', 'Updates'),
  col('sys_class_name', 'sys_class_name', 'Class'),
];

/** Application files (extend sys_metadata) also carry the scope they belong to. */
const SCOPED = [ref('sys_scope', 'sys_scope', 'Application', { default: 'global' })];

export const TABLES: TableDef[] = [
  {
    name: 'sys_scope',
    label: 'Application',
    display: 'name',
    columns: [
      col('scope', 'string', 'Scope'),
      col('name', 'string', 'Name'),
      col('version', 'string', 'Version'),
      bool('active', 'Active', 'true'),
      col('vendor', 'string', 'Vendor'),
      col('short_description', 'string', 'Short description'),
    ],
  },
  {
    name: 'sys_user_role',
    label: 'Role',
    display: 'name',
    columns: [
      col('name', 'string', 'Name', { mandatory: true }),
      col('description', 'string', 'Description'),
      col('suffix', 'string', 'Suffix'),
      bool('elevated_privilege', 'Elevated privilege'),
      ...SCOPED,
    ],
  },
  {
    name: 'sys_user',
    label: 'User',
    display: 'name',
    columns: [
      col('user_name', 'string', 'User ID'),
      col('first_name', 'string', 'First name'),
      col('last_name', 'string', 'Last name'),
      col('name', 'string', 'Name'),
      col('email', 'string', 'Email'),
      bool('active', 'Active', 'true'),
      bool('locked_out', 'Locked out'),
      bool('web_service_access_only', 'Web service access only'),
      bool('internal_integration_user', 'Internal Integration User'),
      col('identity_type', 'choice', 'Identity type', { default: 'human' }),
      col('user_password', 'password', 'Password'),
    ],
  },
  {
    name: 'sys_user_has_role',
    label: 'User Role',
    columns: [
      ref('user', 'sys_user', 'User', { mandatory: true }),
      ref('role', 'sys_user_role', 'Role', { mandatory: true }),
      col('state', 'choice', 'State', { default: 'active' }),
      bool('inherited', 'Inherited'),
    ],
  },
  {
    name: 'task',
    label: 'Task',
    display: 'number',
    columns: [
      col('number', 'string', 'Number'),
      col('short_description', 'string', 'Short description'),
      col('description', 'string', 'Description'),
      col('state', 'integer', 'State', { default: '1' }),
      bool('active', 'Active', 'true'),
      col('priority', 'integer', 'Priority', { default: '4' }),
      col('impact', 'integer', 'Impact', { default: '3' }),
      col('urgency', 'integer', 'Urgency', { default: '3' }),
      ref('opened_by', 'sys_user', 'Opened by'),
      ref('assigned_to', 'sys_user', 'Assigned to'),
      col('opened_at', 'glide_date_time', 'Opened'),
      col('closed_at', 'glide_date_time', 'Closed'),
      col('close_notes', 'string', 'Close notes'),
      col('work_notes', 'journal_input', 'Work notes'),
      col('comments', 'journal_input', 'Additional comments'),
    ],
  },
  {
    name: 'incident',
    label: 'Incident',
    parent: 'task',
    display: 'number',
    numberPrefix: 'INC',
    numberStart: 10001,
    columns: [
      ref('caller_id', 'sys_user', 'Caller'),
      col('category', 'choice', 'Category', { default: 'inquiry' }),
      col('incident_state', 'integer', 'Incident state', { default: '1' }),
      col('severity', 'integer', 'Severity', { default: '3' }),
      col('close_code', 'choice', 'Resolution code'),
    ],
  },
  {
    name: 'sc_req_item',
    label: 'Requested Item',
    parent: 'task',
    display: 'number',
    numberPrefix: 'RITM',
    numberStart: 10001,
    columns: [
      col('stage', 'string', 'Stage', { default: 'request_approved' }),
      ref('requested_for', 'sys_user', 'Requested for'),
    ],
  },
  {
    name: 'change_request',
    label: 'Change Request',
    parent: 'task',
    display: 'number',
    numberPrefix: 'CHG',
    numberStart: 30001,
    columns: [
      col('type', 'choice', 'Type', { default: 'normal' }),
      col('risk', 'integer', 'Risk', { default: '3' }),
      ref('requested_by', 'sys_user', 'Requested by'),
    ],
  },
  {
    name: 'sys_db_object',
    label: 'Table',
    display: 'label',
    columns: [
      col('name', 'string', 'Name'),
      col('label', 'string', 'Label'),
      ref('super_class', 'sys_db_object', 'Extends table'),
      bool('is_extendable', 'Extensible'),
      // Application Access columns (docs/reference/servicenow.md#records-the-integration-writes; SN-APPACC, public XML
      // exports).
      col('access', 'choice', 'Accessible from', { default: 'public' }),
      bool('read_access', 'Can read', 'true'),
      bool('create_access', 'Can create'),
      bool('update_access', 'Can update'),
      bool('delete_access', 'Can delete'),
      bool('ws_access', 'Allow access to this table via web services', 'true'),
      col('caller_access', 'choice', 'Caller Access'),
      bool('alter_access', 'Allow configuration'),
      bool('actions_access', 'Allow UI actions'),
      bool('client_scripts_access', 'Allow client scripts'),
      bool('configuration_access', 'Can configure'),
      ...SCOPED,
    ],
  },
  {
    name: 'sys_dictionary',
    label: 'Dictionary Entry',
    display: 'column_label',
    columns: [
      col('name', 'string', 'Table'),
      col('element', 'string', 'Column name'),
      col('column_label', 'string', 'Column label'),
      col('internal_type', 'string', 'Type'),
      col('reference', 'string', 'Reference'),
      bool('mandatory', 'Mandatory'),
      bool('active', 'Active', 'true'),
      col('max_length', 'integer', 'Max length'),
      ...SCOPED,
    ],
  },
  {
    name: 'sys_choice',
    label: 'Choice',
    display: 'label',
    columns: [
      col('name', 'string', 'Table'),
      col('element', 'string', 'Element'),
      col('value', 'string', 'Value'),
      col('label', 'string', 'Label'),
      col('sequence', 'integer', 'Sequence'),
      bool('inactive', 'Inactive'),
      col('language', 'string', 'Language', { default: 'en' }),
    ],
  },
  {
    name: 'sys_auth_scope',
    label: 'REST API Auth Scope',
    display: 'name',
    columns: [
      col('name', 'string', 'Name'),
      col('auth_scope', 'string', 'Auth scope'),
      col('short_description', 'string', 'Description'),
      ...SCOPED,
    ],
  },
  {
    name: 'sys_properties',
    label: 'System Property',
    display: 'name',
    columns: [
      col('name', 'string', 'Name'),
      col('value', 'string', 'Value'),
      col('type', 'choice', 'Type', { default: 'string' }),
      col('description', 'string', 'Description'),
      col('read_roles', 'string', 'Read roles'),
      col('write_roles', 'string', 'Write roles'),
      ...SCOPED,
    ],
  },
  {
    name: 'oauth_entity',
    label: 'Application Registry',
    display: 'name',
    columns: [
      col('name', 'string', 'Name', { mandatory: true }),
      col('type', 'choice', 'Type'),
      col('client_id', 'string', 'Client ID'),
      col('client_secret', 'password2', 'Client Secret'),
      col('default_grant_type', 'choice', 'Default Grant type'),
      col('token_url', 'url', 'Token URL'),
      col('auth_url', 'url', 'Authorization URL'),
      col('redirect_url', 'url', 'Redirect URL'),
      col('revoke_token_url', 'url', 'Token Revocation URL'),
      col('refresh_token_lifespan', 'integer', 'Refresh Token Lifespan', { default: '8640000' }),
      col('access_token_lifespan', 'integer', 'Access Token Lifespan', { default: '1800' }),
      bool('active', 'Active', 'true'),
      col('logo_url', 'url', 'Logo URL'),
      col('comments', 'string', 'Comments'),
      col('send_client_credentials_as', 'choice', 'Send client credentials as'),
      col('oauth_api_script', 'string', 'OAuth API Script'),
      bool('use_mutual_auth', 'Use mutual authentication'),
      bool('public_client', 'Public Client'),
      col('code_challenge_method', 'choice', 'Code challenge method'),
      // "OAuth Application User" (SN-CC / add-oauth-application-user.md); column `user` per public now-sdk typings.
      ref('user', 'sys_user', 'OAuth Application User'),
      col('access', 'choice', 'Accessible from', { default: 'public' }),
      col('client_type', 'choice', 'Client type'),
      col('scope_restriction_status', 'choice', 'Scope restriction'),
      ...SCOPED,
    ],
  },
  {
    name: 'oauth_oidc_entity',
    label: 'OAuth OIDC Entity',
    parent: 'oauth_entity',
    display: 'name',
    columns: [ref('oidc_provider_configuration', 'oidc_provider_configuration', 'OAuth OIDC Provider Configuration')],
  },
  {
    name: 'oauth_entity_profile',
    label: 'OAuth Entity Profile',
    display: 'name',
    columns: [
      col('name', 'string', 'Name'),
      ref('oauth_entity', 'oauth_entity', 'OAuth Entity'),
      col('grant_type', 'choice', 'Grant type'),
      bool('default', 'Is default'),
      ...SCOPED,
    ],
  },
  {
    name: 'oidc_provider_configuration',
    label: 'OIDC Provider Configuration',
    display: 'name',
    columns: [
      col('name', 'string', 'OIDC Provider'),
      col('oidc_url', 'url', 'OIDC Metadata URL'),
      col('oidc_config_cache_life_span', 'integer', 'OIDC Configuration Cache Life Span', { default: '120' }),
      col('user_claim', 'string', 'User Claim', { default: 'sub' }),
      col('user_field', 'string', 'User Field', { default: 'user_name' }),
      bool('enable_jti_verification', 'Enable JTI claim verification'),
      ...SCOPED,
    ],
  },
  {
    name: 'oauth_entity_auth_scope_mapping',
    label: 'OAuth Entity Auth Scope',
    columns: [ref('oauth_entity', 'oauth_entity', 'OAuth Entity'), ref('auth_scope', 'sys_auth_scope', 'Auth scope')],
  },
  {
    name: 'sys_scope_privilege',
    label: 'Cross scope privilege',
    columns: [
      ref('source_scope', 'sys_scope', 'Source Scope'),
      col('target_scope', 'string', 'Target Scope'),
      col('target_name', 'string', 'Target Name'),
      col('target_type', 'choice', 'Target Type'),
      col('operation', 'choice', 'Operation'),
      col('status', 'choice', 'Status', { default: 'allowed' }),
      ...SCOPED,
    ],
  },
  {
    name: 'ip_access',
    label: 'IP Address Access Control',
    columns: [
      col('type', 'choice', 'Type', { default: 'allow' }),
      col('direction', 'choice', 'Direction', { default: 'inbound' }),
      bool('active', 'Active', 'true'),
      col('description', 'string', 'Description'),
      col('range_start', 'string', 'Range start'),
      col('range_end', 'string', 'Range end'),
    ],
  },
  {
    name: 'sys_journal_field',
    label: 'Journal Entry',
    columns: [
      col('name', 'string', 'Table name'),
      col('element', 'string', 'Element'),
      col('element_id', 'string', 'Element ID'),
      col('value', 'string', 'Value'),
    ],
  },
];

/** sys_choice rows (table, element, value, label); values per docs/reference/servicenow.md and the Table API samples. */
export const CHOICES: [string, string, string, string][] = [
  ['oauth_entity', 'type', 'client', 'OAuth Client'],
  ['oauth_entity', 'type', 'oauth_provider', 'OAuth Provider'],
  ['oauth_entity', 'type', 'snc_instance', 'ServiceNow Instance'],
  ['oauth_entity', 'type', 'auth_server', 'Authorization Server'],
  ['oauth_entity', 'type', 'oidc_provider', 'OIDC Provider'],
  ['oauth_entity', 'default_grant_type', 'authorization_code', 'Authorization Code'],
  ['oauth_entity', 'default_grant_type', 'password', 'Resource Owner Password Credentials'],
  ['oauth_entity', 'default_grant_type', 'client_credentials', 'Client Credentials'],
  ['oauth_entity', 'default_grant_type', 'jwt_bearer', 'JWT Bearer'],
  ['oauth_entity', 'access', 'public', 'All application scopes'],
  ['oauth_entity', 'access', 'package_private', 'This application scope only'],
  ['oauth_entity_profile', 'grant_type', 'authorization_code', 'Authorization Code'],
  ['oauth_entity_profile', 'grant_type', 'password', 'Resource Owner Password Credentials'],
  ['oauth_entity_profile', 'grant_type', 'client_credentials', 'Client Credentials'],
  ['sys_db_object', 'access', 'public', 'All application scopes'],
  ['sys_db_object', 'access', 'package_private', 'This application scope only'],
  ['sys_scope_privilege', 'operation', 'read', 'Read'],
  ['sys_scope_privilege', 'operation', 'write', 'Write'],
  ['sys_scope_privilege', 'operation', 'create', 'Create'],
  ['sys_scope_privilege', 'operation', 'delete', 'Delete'],
  ['sys_scope_privilege', 'operation', 'execute', 'Execute API'],
  ['sys_scope_privilege', 'status', 'requested', 'Requested'],
  ['sys_scope_privilege', 'status', 'allowed', 'Allowed'],
  ['sys_scope_privilege', 'status', 'denied', 'Denied'],
  ['sys_scope_privilege', 'target_type', 'sys_db_object', 'Table'],
  ['sys_scope_privilege', 'target_type', 'sys_script_include', 'Script Include'],
  ['ip_access', 'type', 'allow', 'Allow'],
  ['ip_access', 'type', 'deny', 'Deny'],
  ['ip_access', 'direction', 'inbound', 'Inbound'],
  ['ip_access', 'direction', 'outbound', 'Outbound'],
  ['ip_access', 'direction', 'bidirectional', 'Bidirectional'],
  ['sys_user', 'identity_type', 'human', 'Human'],
  ['sys_user', 'identity_type', 'machine', 'Machine'],
  ['task', 'state', '1', 'New'],
  ['task', 'state', '2', 'In Progress'],
  ['task', 'state', '3', 'On Hold'],
  ['task', 'state', '6', 'Resolved'],
  ['task', 'state', '7', 'Closed'],
  ['task', 'state', '8', 'Canceled'],
  ['incident', 'category', 'inquiry', 'Inquiry / Help'],
  ['incident', 'category', 'software', 'Software'],
  ['incident', 'category', 'hardware', 'Hardware'],
  ['incident', 'category', 'network', 'Network'],
  ['change_request', 'type', 'normal', 'Normal'],
  ['change_request', 'type', 'standard', 'Standard'],
  ['change_request', 'type', 'emergency', 'Emergency'],
];

const BY_NAME = new Map(TABLES.map((t) => [t.name, t]));

export const tableDef = (name: string): TableDef | undefined => BY_NAME.get(name);

/** The table and its ancestors, nearest first. */
export function lineage(name: string): TableDef[] {
  const out: TableDef[] = [];
  for (let t = BY_NAME.get(name); t; t = t.parent ? BY_NAME.get(t.parent) : undefined) out.push(t);
  return out;
}

/** True when `table` is `ancestor` or extends it. */
export const extendsTable = (table: string, ancestor: string): boolean =>
  lineage(table).some((t) => t.name === ancestor);

/** Every column a query on `table` sees: its own, its ancestors' and the system columns (not its children's). */
export function columnsOf(table: string): Map<string, ColumnDef> {
  const map = new Map<string, ColumnDef>();
  for (const c of SYSTEM_COLUMNS) map.set(c.name, c);
  for (const t of lineage(table).reverse()) for (const c of t.columns) map.set(c.name, c);
  return map;
}

/** The column giving a record's display value: the declared one, else `name`, else `number`, else sys_id. */
export function displayColumn(table: string): string {
  for (const t of lineage(table)) if (t.display) return t.display;
  const cols = columnsOf(table);
  return cols.has('name') ? 'name' : cols.has('number') ? 'number' : 'sys_id';
}
