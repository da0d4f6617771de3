/**
 * Profile `copilot-servicenow-federated`: the Microsoft 365 Copilot connector for ServiceNow Knowledge with Federated
 * Auth. No app registration and no client secret: Microsoft's first-party app "Graph Connector Federated Credential
 * App" (appId 933838e2-bec1-440f-a634-9363c82e5b6d) has a service principal in the tenant, and ServiceNow trusts the
 * Entra v2 tokens issued to it (aud = that app id, `sub`/`oid` = the service principal's object id), mapped to a
 * machine user whose user_name is that object id.
 *
 * Sources: public repository MicrosoftDocs/copilot-connectors, `copilot-connectors/servicenow-knowledge-deployment.md`
 * ("Federated Auth": "without storing or rotating a client secret"); public repository
 * microsoft/copilot-servicenow-connector-setup-scripts (`federated_auth_setup.js`: the provider configuration, OIDC
 * entity, auth scope, machine user and roles; `row_level_acl_setup.js`: the crawl role and read ACLs); ServiceNow
 * "Configure a third-party ID token"
 * (https://www.servicenow.com/docs/r/zurich/platform-security/authentication/configure-a-third-party-id-token.html);
 * the token claims (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
 *
 * What stays manual: the service principal itself (Microsoft creates it when an administrator opens the Copilot
 * connectors gallery), the crawl role and read ACLs (the Table API answers 403 on ACL tables: a generated background
 * script), and creating the connection in the Microsoft 365 admin center.
 */
import type { IntegrationProfile } from './types';

/** Microsoft's "Graph Connector Federated Credential App" (first party, the same id in every tenant). */
export const COPILOT_FEDERATED_APP_ID = '933838e2-bec1-440f-a634-9363c82e5b6d';

/** The role the connector crawls with and the tables it reads (`row_level_acl_setup.js`, Simple flow included). */
export const CRAWL_ROLE = 'copilot_connector';
export const CRAWL_TABLES = [
  'kb_knowledge',
  'kb_knowledge_base',
  'kb_uc_can_read_mtom',
  'kb_uc_can_contribute_mtom',
  'kb_uc_cannot_read_mtom',
  'kb_uc_cannot_contribute_mtom',
  'user_criteria',
  'sys_user',
  'sys_user_group',
  'sys_user_role',
  'sys_user_has_role',
  'sys_attachment',
  'kb_feedback',
  'sys_properties',
  'sys_db_object',
  'sys_dictionary',
  'kb_knowledge_block',
  'm2m_kb_knowledge_to_block',
  'sys_user_grmember',
  'cmn_department',
  'cmn_location',
  'core_company',
];

/** The roles the connector user holds (`federated_auth_setup.js`). */
export const CONNECTOR_ROLES = ['knowledge_admin', 'user_criteria_admin', 'user_admin'];

const GALLERY = 'Microsoft 365 admin center > Copilot > Connectors > Gallery > ServiceNow Knowledge';

/**
 * The background script that creates the crawl role, grants it to the connector user and adds one read ACL per table
 * with that role (what `row_level_acl_setup.js` does). Idempotent: every record is looked up before it is inserted.
 * A template: `{apps.copilot.servicePrincipalId}` is the only placeholder (object literals keep a space after `{`).
 */
/** The description that marks the read ACLs this script creates (the marker Microsoft's setup script uses). */
export const ACL_MARKER = `AUTO-ACL for role=${CRAWL_ROLE} (KB-connector)`;

export function crawlAclScript(): string {
  return [
    '// System Definition > Scripts - Background, as an administrator elevated to security_admin.',
    '// Microsoft 365 Copilot connector (Federated Auth): crawl role, its grant and read ACLs. Safe to run again.',
    '(function () {',
    `  var ROLE = '${CRAWL_ROLE}';`,
    `  var ACL_MARKER = '${ACL_MARKER}';`,
    "  var USER = '{apps.copilot.servicePrincipalId}';",
    `  var TABLES = [${CRAWL_TABLES.map((t) => `'${t}'`).join(', ')}];`,
    '  function ensure(table, query, values) {',
    '    var gr = new GlideRecord(table);',
    '    for (var k in query) gr.addQuery(k, query[k]);',
    '    gr.query();',
    '    if (gr.next()) return gr.getUniqueValue();',
    '    gr.initialize();',
    '    for (var f in values) gr.setValue(f, values[f]);',
    '    return gr.insert();',
    '  }',
    "  var role = ensure('sys_user_role', { name: ROLE }, { name: ROLE, description: 'Microsoft 365 Copilot connector crawl' });",
    "  var user = new GlideRecord('sys_user');",
    "  if (!user.get('user_name', USER)) throw new Error('no sys_user with user_name ' + USER);",
    "  ensure('sys_user_has_role', { user: user.getUniqueValue(), role: role }, { user: user.getUniqueValue(), role: role });",
    // Only ACLs this script made (found by its marker) are reused: an instance's own read ACLs are never touched
    // (adding a role to a role-less ACL would close it to everyone else), as Microsoft's row_level_acl_setup.js does.
    '  var MARKER = ACL_MARKER;',
    '  TABLES.forEach(function (table) {',
    "    var acl = ensure('sys_security_acl', { name: table, type: 'record', operation: 'read', description: MARKER },",
    "      { name: table, type: 'record', operation: 'read', active: true, admin_overrides: true, description: MARKER });",
    "    ensure('sys_security_acl_role', { sys_security_acl: acl, sys_user_role: role }, { sys_security_acl: acl, sys_user_role: role });",
    '  });',
    "  gs.info('Copilot connector: role ' + ROLE + ' granted to ' + USER + '; read ACLs on ' + TABLES.length + ' tables');",
    '})();',
  ].join('\n');
}

export const copilotServiceNowFederated: IntegrationProfile = {
  id: 'copilot-servicenow-federated',
  title: 'Microsoft 365 Copilot connector for ServiceNow Knowledge (Federated Auth)',
  source: 'MicrosoftDocs/copilot-connectors copilot-connectors/servicenow-knowledge-deployment.md (Federated Auth)',
  apps: [
    {
      // Microsoft's first-party app: its service principal is found by appId, never created; no secret at all.
      role: 'copilot',
      displayName: 'Graph Connector Federated Credential App',
      purpose: 'Microsoft 365 Copilot connector identity: ServiceNow trusts the Entra v2 tokens issued to it',
      redirectUris: [],
      secretLifetimeDays: 0,
      secretConsumers: [],
      existing: {
        appId: COPILOT_FEDERATED_APP_ID,
        // Microsoft creates the service principal when an administrator opens the connector gallery (it can take a
        // while); creating it through Graph is undocumented (public repository
        // microsoft/Employee-Self-Service-Agent-Developer-Kit, `src/skills/connect/servicenow/step2-graph.md`).
        missing:
          `Hand-off: a Microsoft 365 administrator opens ${GALLERY}, starts the connection wizard and cancels it ` +
          '(Microsoft then creates the service principal of the Graph Connector Federated Credential App); retry ' +
          'provisioning once it exists.',
      },
    },
  ],
  serviceNow: {
    requiredRoles: [],
    requiredColumns: {},
    records: [
      {
        // `federated_auth_setup.js`: the Entra v2 metadata; the user is in `sub`, matched on user_name; Entra tokens
        // carry no jti to verify.
        key: 'oidcProvider',
        table: 'oidc_provider_configuration',
        naturalKey: { name: '{tenantName} Microsoft Entra ID Copilot ({integrationId})' },
        fields: {
          name: '{tenantName} Microsoft Entra ID Copilot ({integrationId})',
          oidc_url: '{authorityHost}/{tenantId}/v2.0/.well-known/openid-configuration',
          oidc_config_cache_life_span: '120',
          user_claim: 'sub',
          user_field: 'user_name',
          enable_jti_verification: 'false',
        },
        manualFallback: 'System OAuth > OIDC Provider Configuration > New, with the values listed',
      },
      {
        // The OIDC entity: its client id is the token audience (the first-party app id). Two integrations on one
        // instance share that client id, so the name (with the integration id) is part of the natural key.
        key: 'oidcEntity',
        table: 'oauth_oidc_entity',
        naturalKey: {
          name: '{tenantName} Microsoft 365 Copilot ({integrationId})',
          client_id: '{apps.copilot.appId}',
        },
        fields: {
          name: '{tenantName} Microsoft 365 Copilot ({integrationId})',
          client_id: '{apps.copilot.appId}',
          oidc_provider_configuration: '{records.oidcProvider.sysId}',
          scope_restriction_status: 'useraccount',
          active: 'false',
        },
        activate: { active: 'true' },
        manualFallback: 'System OAuth > Application Registry > New > Configure an OIDC provider to verify ID tokens',
      },
      {
        // The REST API auth scope every instance has: found, never written.
        key: 'authScope',
        table: 'sys_auth_scope',
        naturalKey: { name: 'useraccount' },
        fields: { name: 'useraccount', auth_scope: 'useraccount' },
        lookup: true,
        manualFallback: 'The instance has no REST API auth scope useraccount (System OAuth > REST API Auth Scope)',
      },
      {
        key: 'entityScope',
        table: 'oauth_entity_auth_scope_mapping',
        naturalKey: { oauth_entity: '{records.oidcEntity.sysId}', auth_scope: '{records.authScope.sysId}' },
        fields: { oauth_entity: '{records.oidcEntity.sysId}', auth_scope: '{records.authScope.sysId}' },
        manualFallback: 'Open the OIDC entity, Auth Scopes: add useraccount',
      },
      {
        // The machine user the tokens act as: user_name = the service principal's object id (`sub`), no password.
        key: 'connectorUser',
        table: 'sys_user',
        naturalKey: { user_name: '{apps.copilot.servicePrincipalId}' },
        fields: {
          user_name: '{apps.copilot.servicePrincipalId}',
          first_name: 'Microsoft 365 Copilot',
          last_name: 'Connector',
          identity_type: 'machine',
          web_service_access_only: 'true',
          active: 'false',
          locked_out: 'true',
        },
        activate: { active: 'true', locked_out: 'false' },
        // A user that already exists (a hand-made Federated Auth setup) is someone else's: never locked or renamed
        // by this run, handed off instead.
        exclusive: true,
        manualFallback: 'User Administration > Users > New, with the values listed',
      },
    ],
    roleGrants: CONNECTOR_ROLES.map((role) => ({ userName: '{apps.copilot.servicePrincipalId}', role })),
    grantableUserRoles: {},
    ipAllowlist: [],
    trust: [{ tokenApp: 'copilot', audienceApp: 'copilot', user: '{apps.copilot.servicePrincipalId}', claim: 'sub' }],
  },
  handOffs: [
    {
      // The Table API cannot write ACLs (403 without an elevated session): a script an elevated administrator runs.
      title: 'ServiceNow: crawl role and read ACLs for the Copilot connector (background script)',
      actor: 'ServiceNow administrator with security_admin (elevated)',
      steps: [
        { label: 'Elevate', value: 'User menu > Elevate role > security_admin' },
        { label: 'Open', value: 'System Definition > Scripts - Background' },
        { label: 'Run this script', value: crawlAclScript() },
      ],
    },
    {
      title: 'Microsoft 365 admin center: create the ServiceNow Knowledge connection (Federated Auth)',
      actor: 'Microsoft 365 administrator (AI administrator or Global Administrator)',
      steps: [
        { label: 'Open', value: GALLERY },
        { label: 'Instance URL', value: '{instanceUrl}' },
        { label: 'Authentication type', value: 'Federated Auth' },
        { label: 'Flow', value: 'Simple (the Advanced flow also needs the microsoft_copilot scripted REST API)' },
        { label: 'Rollout, then', value: 'Create' },
      ],
    },
  ],
  checks: [
    { kind: 'oidcMetadata', record: 'oidcProvider' },
    { kind: 'servicePrincipalUser', app: 'copilot', user: 'connectorUser', roles: CONNECTOR_ROLES },
    { kind: 'recordsConsistent' },
  ],
};
