/**
 * The tables the stand-in holds: columns with ServiceNow internal types, parents (table inheritance), display fields.
 *
 * Every table the product reads or writes carries its documented column set, so a query on a real column is never
 * dropped as an "unknown field" (the quirk query.ts models for misspelled names). Sources, cited per table:
 * - ServiceNow's own published records: the Table API samples (SN-TABLE, `api-reference/rest-apis/c_TableAPI`: a
 *   problem and an incident), the Change Management API sample (`api-reference/rest-apis/change-management-api`: a
 *   change_request), the Contact API sample (`api-reference/rest-apis/contact-api`: sys_user fields), all at
 *   https://www.servicenow.com/docs/r/australia/<path>.html; and the Personal Developer Instance records and form
 *   field lists ServiceNow Research publishes in ServiceNow/WorkArena (`src/browsergym/workarena/data_files`:
 *   incidents, users, requested-item and change-request forms).
 * - Documentation forms and scripts: SN-OIDC (`platform-security/authentication/add-OIDC-entity`), the connections and
 *   credentials pages (`platform-security/connections-and-credentials/create-https-connection`, `connection-alias`,
 *   `oauth-2-credentials`, `docusign-example`), the ServiceNow Fluent ACL and Role APIs
 *   (`application-development/servicenow-sdk/acl-api-now-ts`, `role-api-now-ts`), docs/reference/servicenow.md.
 * - Public code where the docs give only labels: microsoft/copilot-servicenow-connector-setup-scripts
 *   (`federated_auth_setup.js`, `row_level_acl_setup.js`, "verified against Zurich") and the Puppet
 *   servicenow_change_requests module (`sys_alias`, `sys_connection`, `discovery_credentials` inserts).
 * Columns known only by a form label (no public column name) are left out rather than guessed; the few names taken
 * from a label are marked [inferred].
 */
import { NEWEST_RELEASE, releaseHas, type Release } from './release';

export type ColumnType =
  | 'GUID'
  | 'string'
  | 'boolean'
  | 'integer'
  | 'decimal'
  | 'reference'
  | 'choice'
  | 'password2'
  | 'password'
  | 'journal_input'
  /** A journal written by the platform (approval history): reads back "" like journal_input. */
  | 'journal'
  /** A composite journal view (comments and work notes): reads back "", takes no writes. */
  | 'journal_list'
  | 'glide_list'
  | 'glide_date'
  | 'glide_date_time'
  | 'glide_duration'
  | 'timer'
  | 'user_input'
  | 'table_name'
  | 'script'
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
  /** The release that brought the column (absent before it). */
  since?: Release;
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
  /** The release that brought the table (absent before it). */
  since?: Release;
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

const str = (name: string, label: string, extra: Partial<ColumnDef> = {}) => col(name, 'string', label, extra);
const int = (name: string, label: string, def?: string) =>
  col(name, 'integer', label, def === undefined ? {} : { default: def });
const gdt = (name: string, label: string) => col(name, 'glide_date_time', label);
const choice = (name: string, label: string, def?: string) =>
  col(name, 'choice', label, def === undefined ? {} : { default: def });

/** Domain columns the Table API samples show on task and sys_user records (`sys_domain` is `global` by default). */
const DOMAIN = [
  ref('sys_domain', 'sys_user_group', 'Domain', { default: 'global' }),
  str('sys_domain_path', 'Domain Path', { default: '/' }),
  str('sys_tags', 'Tags'),
];

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
    // Role form: name, description, suffix, elevated privilege, and the ServiceNow Fluent Role API's properties
    // (assignableBy, canDelegate, grantable, scopedAdmin; `role-api-now-ts`) under their column names.
    name: 'sys_user_role',
    label: 'Role',
    display: 'name',
    columns: [
      col('name', 'string', 'Name', { mandatory: true }),
      col('description', 'string', 'Description'),
      col('suffix', 'string', 'Suffix'),
      bool('elevated_privilege', 'Elevated privilege'),
      ref('assignable_by', 'sys_user_role', 'Assignable by'),
      bool('can_delegate', 'Can delegate', 'true'),
      bool('grantable', 'Grantable', 'true'),
      bool('scoped_admin', 'Application Administrator'),
      str('includes_roles', 'Includes roles'),
      ...SCOPED,
    ],
  },
  {
    // The columns of real user records: ServiceNow/WorkArena `expected_user_columns.json` and its PDI users, the same
    // set the Contact API sample shows (SN-CONTACT); `identity_type` came with Zurich (SN-IDTYPE; the Copilot
    // connector scripts set it to `machine`).
    name: 'sys_user',
    label: 'User',
    display: 'name',
    columns: [
      col('user_name', 'string', 'User ID'),
      col('first_name', 'string', 'First name'),
      col('middle_name', 'string', 'Middle name'),
      col('last_name', 'string', 'Last name'),
      col('name', 'string', 'Name'),
      col('email', 'string', 'Email'),
      bool('active', 'Active', 'true'),
      bool('locked_out', 'Locked out'),
      bool('web_service_access_only', 'Web service access only'),
      bool('internal_integration_user', 'Internal Integration User'),
      col('identity_type', 'choice', 'Identity type', { default: 'human' }),
      col('user_password', 'password', 'Password'),
      bool('password_needs_reset', 'Password needs reset'),
      bool('enable_multifactor_authn', 'Enable Multifactor Authentication'),
      int('failed_attempts', 'Failed login attempts', '0'),
      col('last_login', 'glide_date', 'Last login'),
      gdt('last_login_time', 'Last login time'),
      ref('ldap_server', 'ldap_server_config', 'LDAP server'),
      str('source', 'Source'),
      str('employee_number', 'Employee number'),
      str('title', 'Title'),
      ref('manager', 'sys_user', 'Manager'),
      ref('company', 'core_company', 'Company'),
      ref('department', 'cmn_department', 'Department'),
      ref('cost_center', 'cmn_cost_center', 'Cost center'),
      ref('location', 'cmn_location', 'Location'),
      ref('building', 'cmn_building', 'Building'),
      str('street', 'Street'),
      str('city', 'City'),
      str('state', 'State / Province'),
      str('zip', 'Zip / Postal code'),
      choice('country', 'Country code'),
      str('phone', 'Business phone'),
      str('mobile_phone', 'Mobile phone'),
      str('home_phone', 'Home phone'),
      choice('gender', 'Gender'),
      choice('introduction', 'Prefix'),
      bool('vip', 'VIP'),
      str('photo', 'Photo'),
      str('avatar', 'Avatar'),
      choice('preferred_language', 'Language'),
      choice('time_zone', 'Time zone'),
      choice('date_format', 'Date format'),
      choice('time_format', 'Time format'),
      int('calendar_integration', 'Calendar integration', '1'),
      int('notification', 'Notification', '2'),
      ref('default_perspective', 'sys_perspective', 'Default perspective'),
      ref('schedule', 'cmn_schedule', 'Schedule'),
      str('roles', 'Roles'),
      ...DOMAIN,
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
    // Every task column the SN-TABLE samples show (a problem record holds only task columns) plus the ones newer
    // releases add on both incident and change_request records (ServiceNow/WorkArena PDI incidents, the Change
    // Management API sample): contract, route_reason, service_offering, task_effective_number, universal_request.
    name: 'task',
    label: 'Task',
    display: 'number',
    columns: [
      col('number', 'string', 'Number'),
      str('task_effective_number', 'Effective number'),
      col('short_description', 'string', 'Short description'),
      col('description', 'string', 'Description'),
      col('state', 'integer', 'State', { default: '1' }),
      bool('active', 'Active', 'true'),
      col('priority', 'integer', 'Priority', { default: '4' }),
      col('impact', 'integer', 'Impact', { default: '3' }),
      col('urgency', 'integer', 'Urgency', { default: '3' }),
      int('escalation', 'Escalation', '0'),
      ref('opened_by', 'sys_user', 'Opened by'),
      ref('assigned_to', 'sys_user', 'Assigned to'),
      ref('assignment_group', 'sys_user_group', 'Assignment group'),
      col('additional_assignee_list', 'glide_list', 'Additional assignee list'),
      col('group_list', 'glide_list', 'Group list'),
      col('watch_list', 'glide_list', 'Watch list'),
      col('work_notes_list', 'glide_list', 'Work notes list'),
      col('opened_at', 'glide_date_time', 'Opened'),
      col('closed_at', 'glide_date_time', 'Closed'),
      ref('closed_by', 'sys_user', 'Closed by'),
      col('close_notes', 'string', 'Close notes'),
      gdt('activity_due', 'Activity due'),
      gdt('due_date', 'Due date'),
      gdt('expected_start', 'Expected start'),
      gdt('follow_up', 'Follow up'),
      gdt('sla_due', 'SLA due'),
      gdt('work_start', 'Actual start'),
      gdt('work_end', 'Actual end'),
      col('business_duration', 'glide_duration', 'Business duration'),
      col('calendar_duration', 'glide_duration', 'Duration'),
      col('time_worked', 'timer', 'Time worked'),
      bool('made_sla', 'Made SLA', 'true'),
      bool('knowledge', 'Knowledge'),
      choice('approval', 'Approval', 'not requested'),
      col('approval_history', 'journal', 'Approval history'),
      gdt('approval_set', 'Approval set'),
      choice('upon_approval', 'Upon approval', 'proceed'),
      choice('upon_reject', 'Upon reject', 'cancel'),
      ref('rejection_goto', 'task', 'Rejection goto'),
      ref('parent', 'task', 'Parent'),
      int('order', 'Order'),
      int('reassignment_count', 'Reassignment count', '0'),
      choice('contact_type', 'Contact type'),
      ref('company', 'core_company', 'Company'),
      ref('location', 'cmn_location', 'Location'),
      ref('cmdb_ci', 'cmdb_ci', 'Configuration item'),
      ref('business_service', 'cmdb_ci_service', 'Service'),
      ref('service_offering', 'service_offering', 'Service offering'),
      ref('contract', 'ast_contract', 'Contract'),
      str('correlation_id', 'Correlation ID'),
      str('correlation_display', 'Correlation display'),
      ref('delivery_plan', 'sc_cat_item_delivery_plan', 'Delivery plan'),
      ref('delivery_task', 'sc_cat_item_delivery_task', 'Delivery task'),
      ref('wf_activity', 'wf_activity', 'Workflow activity'),
      ref('universal_request', 'universal_request', 'Universal Request'),
      str('route_reason', 'Transfer reason'),
      col('user_input', 'user_input', 'User input'),
      col('work_notes', 'journal_input', 'Work notes'),
      col('comments', 'journal_input', 'Additional comments'),
      col('comments_and_work_notes', 'journal_list', 'Comments and Work notes'),
      ...DOMAIN,
    ],
  },
  {
    // SN-TABLE incident samples and ServiceNow/WorkArena PDI incidents.
    name: 'incident',
    label: 'Incident',
    parent: 'task',
    display: 'number',
    numberPrefix: 'INC',
    numberStart: 10001,
    columns: [
      ref('caller_id', 'sys_user', 'Caller'),
      col('category', 'choice', 'Category', { default: 'inquiry' }),
      choice('subcategory', 'Subcategory'),
      col('incident_state', 'integer', 'Incident state', { default: '1' }),
      col('severity', 'integer', 'Severity', { default: '3' }),
      int('notify', 'Notify', '1'),
      choice('hold_reason', 'On hold reason'),
      col('close_code', 'choice', 'Resolution code'),
      gdt('resolved_at', 'Resolved'),
      ref('resolved_by', 'sys_user', 'Resolved by'),
      int('reopen_count', 'Reopen count', '0'),
      ref('reopened_by', 'sys_user', 'Last reopened by'),
      gdt('reopened_time', 'Last reopened at'),
      int('child_incidents', 'Child Incidents', '0'),
      ref('parent_incident', 'incident', 'Parent Incident'),
      ref('problem_id', 'problem', 'Problem'),
      ref('rfc', 'change_request', 'Change Request'),
      ref('caused_by', 'change_request', 'Caused by Change'),
      str('cause', 'Probable cause'),
      str('business_impact', 'Business impact'),
      int('business_stc', 'Business resolve time'),
      int('calendar_stc', 'Resolve time'),
      str('origin_id', 'Origin'),
      col('origin_table', 'table_name', 'Origin table'),
    ],
  },
  {
    // The request a requested item belongs to: `request.requested_for` is documented dot-walking
    // (ServiceNow docs scripts use `current.request.requested_for`); delivery address and special instructions are the
    // request's other documented columns.
    name: 'sc_request',
    label: 'Request',
    parent: 'task',
    display: 'number',
    numberPrefix: 'REQ',
    numberStart: 10001,
    columns: [
      ref('requested_for', 'sys_user', 'Requested for'),
      str('delivery_address', 'Delivery address'),
      str('special_instructions', 'Special instructions'),
    ],
  },
  {
    // The requested item form of a PDI (ServiceNow/WorkArena `expected_request_item_form_fields.json`) and the
    // columns WorkArena writes through the Table API (`api/requested_items.py`: quantity, billable, cat_item).
    name: 'sc_req_item',
    label: 'Requested Item',
    parent: 'task',
    display: 'number',
    numberPrefix: 'RITM',
    numberStart: 10001,
    columns: [
      ref('request', 'sc_request', 'Request'),
      ref('cat_item', 'sc_cat_item', 'Item'),
      ref('requested_for', 'sys_user', 'Requested for'),
      col('stage', 'string', 'Stage', { default: 'request_approved' }),
      int('quantity', 'Quantity', '1'),
      gdt('estimated_delivery', 'Estimated delivery'),
      bool('backordered', 'Backordered'),
      ref('order_guide', 'sc_cat_item_guide', 'Order guide'),
      ref('configuration_item', 'cmdb_ci', 'Configuration item'),
      bool('billable', 'Billable'),
    ],
  },
  {
    // The change_request record of the Change Management API sample (every column that is not a task column) and the
    // PDI change form (ServiceNow/WorkArena `expected_change_request_form_fields.json`, which adds cab_date_time).
    name: 'change_request',
    label: 'Change Request',
    parent: 'task',
    display: 'number',
    numberPrefix: 'CHG',
    numberStart: 30001,
    columns: [
      col('type', 'choice', 'Type', { default: 'normal' }),
      choice('category', 'Category', 'Other'),
      ref('chg_model', 'chg_model', 'Model'),
      ref('std_change_producer_version', 'std_change_producer_version', 'Standard change template version'),
      ref('requested_by', 'sys_user', 'Requested by'),
      gdt('requested_by_date', 'Requested by date'),
      col('risk', 'integer', 'Risk', { default: '3' }),
      str('risk_value', 'Risk value'),
      int('scope', 'Scope', '3'),
      choice('reason', 'Reason'),
      str('justification', 'Justification'),
      str('implementation_plan', 'Implementation plan'),
      str('backout_plan', 'Backout plan'),
      str('test_plan', 'Test plan'),
      str('risk_impact_analysis', 'Risk and impact analysis'),
      str('change_plan', 'Change plan'),
      gdt('start_date', 'Planned start date'),
      gdt('end_date', 'Planned end date'),
      choice('phase', 'Phase', 'requested'),
      choice('phase_state', 'Phase state', 'open'),
      bool('on_hold', 'On hold'),
      str('on_hold_reason', 'On hold reason'),
      col('on_hold_task', 'glide_list', 'Change tasks on hold'),
      bool('cab_required', 'CAB required'),
      col('cab_date', 'glide_date', 'CAB date'),
      gdt('cab_date_time', 'CAB date'),
      ref('cab_delegate', 'sys_user', 'CAB delegate'),
      str('cab_recommendation', 'CAB recommendation'),
      choice('conflict_status', 'Conflict status', 'Not Run'),
      gdt('conflict_last_run', 'Conflict last run'),
      bool('outside_maintenance_schedule', 'Outside maintenance schedule'),
      col('ci_class', 'table_name', 'CI class', { default: 'cmdb_ci' }),
      bool('production_system', 'Production system'),
      bool('unauthorized', 'Unauthorized'),
      bool('is_bulk', 'Is bulk'),
      str('proposed_change', 'Proposed change'),
      col('skills', 'glide_list', 'Skills'),
      choice('review_status', 'Review status'),
      gdt('review_date', 'Review date'),
      str('review_comments', 'Review comments'),
      col('close_code', 'choice', 'Close code'),
      str('variables', 'Variables'),
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
      // The "JWT Provider" reference of an Application Registry record whose Send Credentials is "As Private Key JWT"
      // (Washington DC on: `config-private-key-jwt-outbound-oauth`). Column name [inferred]; the product finds it in
      // sys_dictionary by `reference = jwt_provider`, never by this name.
      ref('jwt_provider', 'jwt_provider', 'JWT Provider', { since: 'washingtondc' }),
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
  {
    // OAuth Entity Scopes (the provider's scopes) and the profile-to-scope mapping: the `oauth_entity_scope` and
    // `oauth_entity_profile_scope` entries of ServiceNow's configuration template example (SN-TPL, docusign-example).
    name: 'oauth_entity_scope',
    label: 'OAuth Entity Scope',
    display: 'name',
    columns: [
      col('name', 'string', 'Name'),
      col('oauth_entity_scope', 'string', 'OAuth scope'),
      ref('oauth_entity', 'oauth_entity', 'OAuth Entity'),
      ...SCOPED,
    ],
  },
  {
    name: 'oauth_entity_profile_scope',
    label: 'OAuth Entity Profile Scope',
    columns: [
      ref('oauth_entity_profile', 'oauth_entity_profile', 'OAuth Entity Profile'),
      ref('oauth_entity_scope', 'oauth_entity_scope', 'OAuth Entity Scope'),
      ...SCOPED,
    ],
  },
  {
    // Connection & Credential aliases (`connection-alias`): Name, ID (`scope.name`, or the name in global), Type
    // (credential or connection), Application, Connection type, Support Multiple Active Connections, Configuration
    // Template; column names as the Puppet servicenow_change_requests module inserts them (`type: connection`,
    // `connection_type: http_connection`, `multiple_connections`, `configuration_template`). Child aliases point at
    // their parent [inferred column name].
    name: 'sys_alias',
    label: 'Connection & Credential Alias',
    display: 'name',
    columns: [
      col('name', 'string', 'Name', { mandatory: true }),
      col('id', 'string', 'ID'),
      choice('type', 'Type', 'connection'),
      choice('connection_type', 'Connection type', 'http_connection'),
      bool('multiple_connections', 'Support Multiple Active Connections'),
      ref('configuration_template', 'cc_spoke_configuration_template', 'Configuration Template'),
      ref('parent', 'sys_alias', 'Parent alias'),
      ...SCOPED,
    ],
  },
  {
    // Credentials (`t_CreateCredential`, `r-credentials`): every credential type extends this table; name, active,
    // order, type as the Puppet module writes them. The alias reference is the form's "Credential alias" [inferred
    // column name].
    name: 'discovery_credentials',
    label: 'Credentials',
    display: 'name',
    columns: [
      col('name', 'string', 'Name', { mandatory: true }),
      bool('active', 'Active', 'true'),
      int('order', 'Order', '100'),
      choice('type', 'Type'),
      ref('credential_alias', 'sys_alias', 'Credential alias'),
      ...DOMAIN.slice(0, 2),
      ...SCOPED,
    ],
  },
  {
    // OAuth 2.0 credentials (`oauth-2-credentials`): Name, Active, Order, Credential alias (inherited) and the OAuth
    // Entity Profile the credential obtains tokens with (`oauth_entity_profile` [inferred column name from the label]).
    name: 'oauth_2_0_credentials',
    label: 'OAuth 2.0 Credentials',
    parent: 'discovery_credentials',
    display: 'name',
    columns: [ref('oauth_entity_profile', 'oauth_entity_profile', 'OAuth Entity Profile')],
  },
  {
    // Connections: name, credential, connection alias, connection URL, active, use MID server, protocol, host, port,
    // timeout (`create-https-connection`; column names as the Puppet module and ServiceNow's template example
    // write them: use_mid, connection_url, connection_alias, credential, connection_timeout).
    name: 'sys_connection',
    label: 'Connection',
    display: 'name',
    columns: [
      col('name', 'string', 'Name', { mandatory: true }),
      ref('credential', 'discovery_credentials', 'Credential'),
      ref('connection_alias', 'sys_alias', 'Connection alias'),
      col('connection_url', 'url', 'Connection URL'),
      bool('active', 'Active', 'true'),
      bool('use_mid', 'Use MID server'),
      ref('mid_server', 'ecc_agent', 'MID Server'),
      str('protocol', 'Protocol'),
      str('host', 'Host'),
      int('port', 'Port'),
      int('connection_timeout', 'Connection timeout'),
      ...DOMAIN.slice(0, 2),
      ...SCOPED,
    ],
  },
  {
    // HTTP(s) connections (`create-https-connection`): the sys_connection columns plus mutual authentication.
    name: 'http_connection',
    label: 'HTTP(s) Connection',
    parent: 'sys_connection',
    display: 'name',
    columns: [bool('use_mutual_auth', 'Mutual authentication')],
  },
  {
    // Knowledge bases and articles, the tables the Microsoft 365 Copilot connector for ServiceNow Knowledge crawls
    // (public repository microsoft/copilot-servicenow-connector-setup-scripts, `row_level_acl_setup.js`). Only the
    // columns the tests read; the rest of the real column set is left out rather than guessed.
    name: 'kb_knowledge_base',
    label: 'Knowledge Base',
    display: 'title',
    columns: [str('title', 'Title'), bool('active', 'Active', 'true'), ...SCOPED],
  },
  {
    name: 'kb_knowledge',
    label: 'Knowledge',
    display: 'number',
    numberPrefix: 'KB',
    numberStart: 10001,
    columns: [
      str('number', 'Number'),
      str('short_description', 'Short description'),
      ref('kb_knowledge_base', 'kb_knowledge_base', 'Knowledge base'),
      choice('workflow_state', 'Workflow', 'draft'),
      bool('active', 'Active', 'true'),
      ...SCOPED,
    ],
  },
  {
    // Access control rules. Columns as ServiceNow's Fluent ACL API defines them (`acl-api-now-ts`: operation, type,
    // active, admin overrides, script, condition, description, decision type, local or existing) and as the Microsoft
    // connector script inserts them (`row_level_acl_setup.js`: type, name, operation, active, admin_overrides, order,
    // script, description). Writing them needs the elevated security_admin role (acl.ts).
    name: 'sys_security_acl',
    label: 'Access Control',
    display: 'name',
    columns: [
      col('name', 'string', 'Name', { mandatory: true }),
      choice('type', 'Type', 'record'),
      choice('operation', 'Operation', 'read'),
      bool('active', 'Active', 'true'),
      bool('admin_overrides', 'Admin overrides', 'true'),
      choice('decision_type', 'Decision type', 'allow'),
      bool('advanced', 'Advanced'),
      col('condition', 'string', 'Condition'),
      col('script', 'script', 'Script'),
      int('order', 'Order'),
      str('description', 'Description'),
      choice('local_or_existing', 'Local or existing', 'Existing'),
      ...SCOPED,
    ],
  },
  {
    // The ACL's required roles (`row_level_acl_setup.js`: sys_security_acl, sys_user_role).
    name: 'sys_security_acl_role',
    label: 'Access Role',
    columns: [
      ref('sys_security_acl', 'sys_security_acl', 'Access control', { mandatory: true }),
      ref('sys_user_role', 'sys_user_role', 'Role', { mandatory: true }),
      ...SCOPED,
    ],
  },
  // ---- Certificates and outbound JWT (private_key_jwt) --------------------------------------------------------------
  {
    // System Definition > Certificates. Form fields per the docs (`platform-security/authentication/JWT-Bearer-token-support`,
    // `platform-administration/dynamic-translation/attach-jks-google-translator`): Name, Notify on expiration, Warn in
    // days to expire, Active, Type, Expires in days, Key store password, Short description; the keystore itself is an
    // attachment. Column names other than `name`, `active`, `type`, `short_description` and `key_store_password` are
    // [inferred] from the labels; `expires`, `valid_from`, `subject` and `issuer` are what the instance fills when it
    // parses the store ("Validate Stores/Certificates") [inferred].
    name: 'sys_certificate',
    label: 'Certificate',
    display: 'name',
    columns: [
      str('name', 'Name', { mandatory: true }),
      col('notify_on_expiration', 'glide_list', 'Notify on expiration'),
      int('warn_in_days', 'Warn in days to expire', '30'),
      bool('active', 'Active', 'true'),
      choice('type', 'Type', 'trust_store'),
      choice('format', 'Format', 'pem'),
      col('pem_certificate', 'string', 'PEM Certificate'),
      int('expires_in', 'Expires in days'),
      col('key_store_password', 'password2', 'Key store password'),
      str('short_description', 'Short description'),
      col('expires', 'glide_date_time', 'Expires'),
      col('valid_from', 'glide_date_time', 'Valid from'),
      str('subject', 'Subject'),
      str('issuer', 'Issuer'),
      ...SCOPED,
    ],
  },
  {
    // Attachment [sys_attachment]: the columns of the Attachment API's documented metadata (`c_AttachmentAPI`).
    name: 'sys_attachment',
    label: 'Attachment',
    display: 'file_name',
    columns: [
      str('file_name', 'File name'),
      col('table_name', 'table_name', 'Table name'),
      str('table_sys_id', 'Table sys ID'),
      str('content_type', 'Content type'),
      str('size_bytes', 'Size bytes'),
      str('size_compressed', 'Size compressed'),
      bool('compressed', 'Compressed', 'true'),
      str('average_image_color', 'Average image color'),
      str('image_height', 'Image height'),
      str('image_width', 'Image width'),
      str('hash', 'Hash'),
    ],
  },
  {
    // System OAuth > JWT Keys (`JWT-Bearer-token-support`); stored names from the configuration template example
    // (`connections-and-credentials/docusign-example`: name, kid, signing_keystore, signing_algorithm "rsa_256",
    // signing_key_password). The x5t column ("X.509 Certificate SHA-1 Thumbprint int (x5t)", added to the form by
    // configuration) is named [inferred, weak source]; the product finds it by its label.
    name: 'jwt_keystore_aliases',
    label: 'JWT Key',
    display: 'name',
    columns: [
      str('name', 'Name', { mandatory: true }),
      ref('signing_keystore', 'sys_certificate', 'Signing Keystore'),
      col('signing_key_password', 'password2', 'Signing Key Password'),
      str('kid', 'Key Id'),
      choice('signing_algorithm', 'Signing Algorithm', 'rsa_256'),
      str('certificate_thumbprint', 'X.509 Certificate SHA-1 Thumbprint int (x5t)'),
      bool('active', 'Active', 'true'),
      // Brazil: Key Source "KMF Cryptographic Module" (`platform-security/platform-encryption/import-key-webservice-1`,
      // `configure-wif-azure`) [inferred column names].
      choice('key_source', 'Key Source', 'keystore'),
      ...SCOPED,
    ],
  },
  {
    // System OAuth > JWT Providers; the key reference is named after the template's nesting (docusign-example:
    // jwt_provider.jwt_keystore_aliases) [inferred], as is the claims' back-reference.
    name: 'jwt_provider',
    label: 'JWT Provider',
    display: 'name',
    columns: [
      str('name', 'Name', { mandatory: true }),
      ref('jwt_keystore_aliases', 'jwt_keystore_aliases', 'Signing Configuration'),
      int('expiry_interval', 'Expiry Interval (sec)', '3600'),
      bool('active', 'Active', 'true'),
      ...SCOPED,
    ],
  },
  {
    // Standard claims of a JWT provider (docusign-example: jwt_claim_validation rows {name, value, is_standard}).
    name: 'jwt_claim_validation',
    label: 'JWT Claim',
    display: 'name',
    columns: [
      ref('jwt_provider', 'jwt_provider', 'JWT Provider'),
      str('name', 'Name'),
      str('value', 'Value'),
      bool('is_standard', 'Standard claim'),
      ...SCOPED,
    ],
  },
  {
    // Brazil: System OAuth > Workload Identity Connections (`platform-security/authentication/configure-wif-azure`,
    // `workload-identity-federation`). The docs give the form labels only: the table and column names are [inferred];
    // the product finds the table by its label and the columns by theirs. A business rule creates the OAuth entity.
    name: 'oauth_workload_identity_connection',
    label: 'Workload Identity Connection',
    display: 'name',
    since: 'brazil',
    columns: [
      str('name', 'Connection Name', { mandatory: true }),
      choice('cloud_provider', 'Cloud provider', 'azure'),
      str('client_id', 'Application (Client) ID', { mandatory: true }),
      str('tenant_id', 'Directory (Tenant) ID', { mandatory: true }),
      str('subject', 'Subject to send in the token', { mandatory: true }),
      col('azure_url_override', 'url', 'Azure URL Override'),
      ref('oauth_entity', 'oauth_entity', 'OAuth Entity'),
      ...SCOPED,
    ],
  },
];

/**
 * sys_choice rows that exist only from a release on (table, element, value, label, since). The stored value of
 * "As Private Key JWT" is not public: `private_key_jwt` here is [inferred]; the product finds it by its label.
 */
export const RELEASE_CHOICES: [string, string, string, string, Release | undefined][] = [
  ['oauth_entity', 'send_client_credentials_as', 'request_body_parameter', 'As Request Body Parameters', undefined],
  [
    'oauth_entity',
    'send_client_credentials_as',
    'basic_authorization_header',
    'As Basic Authorization Header',
    undefined,
  ],
  ['oauth_entity', 'send_client_credentials_as', 'private_key_jwt', 'As Private Key JWT', 'washingtondc'],
  ['sys_certificate', 'type', 'trust_store', 'Trust Store Cert', undefined],
  ['sys_certificate', 'type', 'java_key_store', 'Java Key Store', undefined],
  ['sys_certificate', 'type', 'pkcs12_key_store', 'PKCS12 Key Store', undefined],
  ['sys_certificate', 'format', 'pem', 'PEM', undefined],
  ['sys_certificate', 'format', 'der', 'DER', undefined],
  ['jwt_keystore_aliases', 'signing_algorithm', 'rsa_256', 'RSA 256', undefined],
  ['jwt_keystore_aliases', 'key_source', 'keystore', 'Keystore', undefined],
  ['jwt_keystore_aliases', 'key_source', 'kmf', 'KMF Cryptographic Module', 'brazil'],
  ['oauth_workload_identity_connection', 'cloud_provider', 'azure', 'Microsoft Azure', 'brazil'],
  ['oauth_workload_identity_connection', 'cloud_provider', 'gcp', 'Google Cloud', 'brazil'],
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
  // Values and labels as the Change Management API sample and the WorkArena PDI records show them.
  ['task', 'approval', 'not requested', 'Not Yet Requested'],
  ['task', 'approval', 'requested', 'Requested'],
  ['task', 'approval', 'approved', 'Approved'],
  ['task', 'approval', 'rejected', 'Rejected'],
  ['task', 'upon_approval', 'proceed', 'Proceed to Next Task'],
  ['task', 'upon_reject', 'cancel', 'Cancel all future Tasks'],
  ['task', 'contact_type', 'phone', 'Phone'],
  ['task', 'contact_type', 'email', 'Email'],
  ['task', 'contact_type', 'self-service', 'Self-service'],
  ['task', 'contact_type', 'chat', 'Chat'],
  ['change_request', 'category', 'Other', 'Other'],
  ['change_request', 'phase', 'requested', 'Requested'],
  ['change_request', 'phase_state', 'open', 'Open'],
  ['change_request', 'close_code', 'successful', 'Successful'],
  ['change_request', 'conflict_status', 'Not Run', 'Not Run'],
  // Alias types (`connection-alias`; stored values as the Puppet module writes them).
  ['sys_alias', 'type', 'credential', 'Credential'],
  ['sys_alias', 'type', 'connection', 'Connection and Credential'],
  ['sys_alias', 'connection_type', 'http_connection', 'HTTP'],
  // ACL types, operations and decisions (ServiceNow Fluent ACL API, `acl-api-now-ts`).
  ...[
    'record',
    'rest_endpoint',
    'ui_page',
    'processor',
    'graphql',
    'pd_action',
    'ux_data_broker',
    'ux_page',
    'ux_route',
    'client_callable_flow_object',
    'client_callable_script_include',
  ].map((v): [string, string, string, string] => ['sys_security_acl', 'type', v, v]),
  ...[
    'execute',
    'create',
    'read',
    'write',
    'delete',
    'conditional_table_query_range',
    'data_fabric',
    'query_match',
    'query_range',
    'edit_task_relations',
    'edit_ci_relations',
    'save_as_template',
    'add_to_list',
    'report_on',
    'list_edit',
    'report_view',
    'personalize_choices',
  ].map((v): [string, string, string, string] => ['sys_security_acl', 'operation', v, v]),
  ['sys_security_acl', 'decision_type', 'allow', 'Allow If'],
  ['sys_security_acl', 'decision_type', 'deny', 'Deny Unless'],
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

/**
 * Every column a query on `table` sees: its own, its ancestors' and the system columns (not its children's), as of
 * `release` (a column a release does not have is absent: writes to it are ignored, as for any unknown field).
 */
export function columnsOf(table: string, release: Release = NEWEST_RELEASE): Map<string, ColumnDef> {
  const map = new Map<string, ColumnDef>();
  for (const c of SYSTEM_COLUMNS) map.set(c.name, c);
  for (const t of lineage(table).reverse())
    for (const c of t.columns) if (releaseHas(release, c.since)) map.set(c.name, c);
  return map;
}

/** The table's definition when `release` has it. */
export const tableIn = (name: string, release: Release): TableDef | undefined => {
  const def = BY_NAME.get(name);
  return def && releaseHas(release, def.since) ? def : undefined;
};

/** The sys_choice rows an instance of `release` has. */
export const choicesIn = (release: Release): [string, string, string, string][] => [
  ...CHOICES,
  ...RELEASE_CHOICES.filter((c) => releaseHas(release, c[4])).map(([t, e, v, l]): [string, string, string, string] => [
    t,
    e,
    v,
    l,
  ]),
];

/** The column giving a record's display value: the declared one, else `name`, else `number`, else sys_id. */
export function displayColumn(table: string): string {
  for (const t of lineage(table)) if (t.display) return t.display;
  const cols = columnsOf(table);
  return cols.has('name') ? 'name' : cols.has('number') ? 'number' : 'sys_id';
}
