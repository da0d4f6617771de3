/**
 * Seed profile: "Configure Microsoft 365 support integration with Azure AD Auth token"
 * (https://learn.microsoft.com/microsoft-365/admin/manage/servicenow-aad-oauth-token; its steps are numbered in
 * docs/reference/m365-support-integration.md, and the step numbers A1–B6 below refer to it). Column names follow
 * docs/reference/servicenow.md#records-the-integration-writes.
 */
import type { IntegrationProfile } from './types';

const M365_REPOSITORY =
  'Microsoft 365 admin center > Settings > Org settings > Organization profiles > Support integration > Repositories';

export const m365SupportAad: IntegrationProfile = {
  id: 'm365-support-aad',
  title: 'Microsoft 365 support integration (Azure AD auth token)',
  source: 'MicrosoftDocs/microsoft-365-docs microsoft-365/admin/manage/servicenow-aad-oauth-token.md',
  retired: {
    on: '2025-05-30',
    note: 'Microsoft retired the Microsoft 365 support integration service; the ServiceNow and Entra records can still be provisioned and checked.',
  },
  apps: [
    {
      // A1/A2: outbound, ServiceNow calls Microsoft with client credentials.
      role: 'outbound',
      displayName: 'ServiceNow M365 Support - Outbound ({instance})',
      purpose: 'ServiceNow outbound OAuth provider (client credentials to Microsoft)',
      redirectUris: ['{redirectUri}'],
      secretLifetimeDays: 180,
      secretConsumers: [{ kind: 'servicenow', record: 'outboundProvider', field: 'client_secret' }],
      // ServiceNow's outbound OAuth signs a private-key JWT (Washington DC and later) or a workload identity
      // federation assertion (Brazil and later) instead of sending a secret, when the request asks.
      credentialKinds: ['secret', 'certificate', 'federated'],
    },
    {
      // A3/A4: the inbound Rest API app; its app id is the audience ServiceNow's OIDC entity accepts.
      role: 'restApi',
      displayName: 'ServiceNow M365 Support - Rest API ({instance})',
      purpose: 'Audience of the inbound tokens ServiceNow validates (OIDC entity client id)',
      redirectUris: [],
      secretLifetimeDays: 180,
      secretConsumers: [
        { kind: 'servicenow', record: 'oidcEntity', field: 'client_secret' },
        { kind: 'manual', where: M365_REPOSITORY, field: 'Client secret' },
      ],
    },
    {
      // A5/A6: the Rest User app; its app id is the ServiceNow integration user's user_name.
      role: 'restUser',
      displayName: 'ServiceNow M365 Support - Rest User ({instance})',
      purpose: 'Caller identity of inbound requests (mapped to the ServiceNow integration user)',
      redirectUris: [],
      secretLifetimeDays: 180,
      secretConsumers: [{ kind: 'manual', where: M365_REPOSITORY, field: 'Rest user password' }],
    },
  ],
  serviceNow: {
    requiredScope: 'x_mioms_m365_assis',
    requiredRoles: ['incident_manager', 'x_mioms_m365_assis.insights_user', 'x_mioms_m365_assis.administrator'],
    requiredColumns: {
      oauth_entity: [
        'name',
        'type',
        'client_id',
        'client_secret',
        'default_grant_type',
        'token_url',
        'redirect_url',
        'active',
      ],
      oauth_entity_profile: ['name', 'oauth_entity', 'grant_type', 'default'],
      oidc_provider_configuration: ['name', 'oidc_url', 'user_claim', 'user_field', 'enable_jti_verification'],
      oauth_oidc_entity: ['oidc_provider_configuration'],
      sys_user: [
        'user_name',
        'first_name',
        'last_name',
        'web_service_access_only',
        'internal_integration_user',
        'active',
        'locked_out',
      ],
      sys_user_has_role: ['user', 'role'],
      sys_scope_privilege: ['source_scope', 'target_scope', 'target_name', 'target_type', 'operation', 'status'],
      sys_db_object: ['name', 'access', 'read_access'],
    },
    records: [
      {
        // B1: "Connect to a third party OAuth Provider".
        key: 'outboundProvider',
        table: 'oauth_entity',
        naturalKey: { client_id: '{apps.outbound.appId}', type: 'oauth_provider' },
        fields: {
          name: '{tenantName} M365 Support Outbound',
          type: 'oauth_provider',
          client_id: '{apps.outbound.appId}',
          default_grant_type: 'client_credentials',
          token_url: '{authorityHost}/{tenant}/oauth2/token',
          redirect_url: '{redirectUri}',
          active: 'false',
        },
        activate: { active: 'true' },
        secret: { field: 'client_secret', fromApp: 'outbound' },
        manualFallback:
          'System OAuth > Application Registry > New > Connect to a third party OAuth Provider, with the values listed',
      },
      {
        // The default profile the UI creates with the provider
        // (docs/reference/servicenow.md#records-the-integration-writes); the guided setup asks for it.
        key: 'outboundProfile',
        table: 'oauth_entity_profile',
        naturalKey: { oauth_entity: '{records.outboundProvider.sysId}' },
        fields: {
          name: '{tenantName} M365 Support Outbound default_profile',
          oauth_entity: '{records.outboundProvider.sysId}',
          grant_type: 'client_credentials',
          default: 'true',
        },
        manualFallback:
          'Open the outbound provider and add a default OAuth Entity Profile with grant type Client Credentials',
      },
      {
        // B2: OIDC provider configuration, v1 metadata (tokens are v1: the caller is in `appid`).
        key: 'oidcProvider',
        table: 'oidc_provider_configuration',
        // The name carries the integration id: two integrations on one instance (other tenants that share a display
        // name, other profiles) never find each other's configuration.
        naturalKey: { name: '{tenantName} Azure ({integrationId})' },
        fields: {
          name: '{tenantName} Azure ({integrationId})',
          oidc_url: '{authorityHost}/{tenant}/.well-known/openid-configuration',
          user_claim: 'appid',
          user_field: 'user_name',
          enable_jti_verification: 'false',
        },
        manualFallback: 'System OAuth > OIDC Provider Configuration > New, with the values listed',
      },
      {
        // B3: "Configure an OIDC provider to verify ID tokens"; client id = the token audience (Rest API app id).
        key: 'oidcEntity',
        table: 'oauth_oidc_entity',
        naturalKey: { client_id: '{apps.restApi.appId}' },
        fields: {
          name: '{tenantName}_application_inbound_api',
          client_id: '{apps.restApi.appId}',
          oidc_provider_configuration: '{records.oidcProvider.sysId}',
          redirect_url: '{instanceUrl}/oauth_redirect.do',
          active: 'false',
        },
        activate: { active: 'true' },
        secret: { field: 'client_secret', fromApp: 'restApi' },
        manualFallback: 'System OAuth > Application Registry > New > Configure an OIDC provider to verify ID tokens',
      },
      {
        // B4: the integration user; user_name = Rest User app id, matched by the `appid` claim.
        key: 'integrationUser',
        table: 'sys_user',
        naturalKey: { user_name: '{apps.restUser.appId}' },
        fields: {
          user_name: '{apps.restUser.appId}',
          first_name: 'M365 Support',
          last_name: 'Integration',
          web_service_access_only: 'true',
          internal_integration_user: 'true',
          active: 'false',
          locked_out: 'true',
        },
        activate: { active: 'true', locked_out: 'false' },
        manualFallback: 'User Administration > Users > New, with the values listed',
      },
      {
        // B6: the app scope reads oauth_entity and oauth_entity_profile (cross-scope privileges).
        key: 'scopeReadOauthEntity',
        table: 'sys_scope_privilege',
        phase: 'activation',
        shared: true,
        naturalKey: { source_scope: '{scopeSysId}', target_name: 'oauth_entity', operation: 'read' },
        fields: {
          source_scope: '{scopeSysId}',
          target_scope: 'global',
          target_name: 'oauth_entity',
          target_type: 'sys_db_object',
          operation: 'read',
          status: 'allowed',
        },
        manualFallback: 'Cross scope privileges: allow x_mioms_m365_assis to read oauth_entity',
      },
      {
        key: 'scopeReadOauthEntityProfile',
        table: 'sys_scope_privilege',
        phase: 'activation',
        shared: true,
        naturalKey: { source_scope: '{scopeSysId}', target_name: 'oauth_entity_profile', operation: 'read' },
        fields: {
          source_scope: '{scopeSysId}',
          target_scope: 'global',
          target_name: 'oauth_entity_profile',
          target_type: 'sys_db_object',
          operation: 'read',
          status: 'allowed',
        },
        manualFallback: 'Cross scope privileges: allow x_mioms_m365_assis to read oauth_entity_profile',
      },
    ],
    roleGrants: [{ userName: '{apps.restUser.appId}', role: 'incident_manager' }],
    grantableUserRoles: {
      insights_user: 'x_mioms_m365_assis.insights_user',
      administrator: 'x_mioms_m365_assis.administrator',
    },
    // B5: Microsoft's service addresses (seed list); the live list is the A records of connector.rave.microsoft.com.
    ipAllowlist: ['52.149.152.32', '40.83.232.243', '40.83.114.39', '13.76.138.31', '13.79.229.170', '20.105.151.142'],
    ipAllowlistHost: 'connector.rave.microsoft.com',
    trust: [{ tokenApp: 'restUser', audienceApp: 'restApi', user: '{apps.restUser.appId}', claim: 'appid' }],
  },
  handOffs: [
    {
      // C: the scoped app's guided setup has no public API.
      title: 'ServiceNow: Microsoft 365 Support > Setup (guided setup)',
      actor: 'ServiceNow administrator',
      steps: [
        { label: 'Accept consent; test environment', value: '{testEnvironment}' },
        { label: 'Use Basic auth', value: 'No' },
        { label: 'Tenant domain', value: '{tenantDomain}' },
        { label: 'Outbound OAuth provider', value: '{tenantName} M365 Support Outbound' },
        { label: 'Outbound OAuth profile', value: '{tenantName} M365 Support Outbound default_profile' },
        { label: 'Inbound: OIDC entity', value: '{tenantName}_application_inbound_api' },
        { label: 'Integration user', value: '{apps.restUser.appId}' },
        {
          label: 'Note the values shown in step 6',
          value: 'Outbound App ID, Repository ID, Endpoint, Client ID, User Name',
        },
      ],
    },
    {
      // D: Microsoft 365 admin center, no public API.
      title: 'Microsoft 365 admin center: Support integration',
      actor: 'Microsoft 365 global administrator',
      steps: [
        { label: 'Basic information: Internal support tool', value: 'ServiceNow' },
        { label: 'Application ID to issue auth token', value: '{apps.outbound.appId}' },
        { label: 'Repositories > New: Repository', value: 'Repository ID from the guided setup, step 6' },
        { label: 'Endpoint', value: 'Endpoint from the guided setup, step 6' },
        { label: 'Authentication type', value: 'AAD Auth' },
        { label: 'Client ID', value: '{apps.restApi.appId}' },
        { label: 'Client secret (Key Vault secret name)', value: '{apps.restApi.secretName}' },
        { label: 'Rest username', value: '{apps.restUser.appId}' },
        { label: 'Rest user password (Key Vault secret name)', value: '{apps.restUser.secretName}' },
      ],
    },
  ],
  checks: [
    { kind: 'outboundToken', app: 'outbound' },
    { kind: 'oidcMetadata', record: 'oidcProvider' },
    { kind: 'inboundTableRead', clientApp: 'restUser', resourceApp: 'restApi', table: 'incident' },
    { kind: 'recordsConsistent' },
  ],
};
