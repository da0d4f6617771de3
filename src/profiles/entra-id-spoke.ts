/**
 * Profile `entra-id-spoke`: the ServiceNow Microsoft Entra ID spoke (IntegrationHub) reaching Microsoft Graph with
 * client credentials. One app registration with Graph application permissions (granted only after the approval), its
 * client secret in Key Vault and in ServiceNow's Application Registry, and the chain the spoke's connection alias
 * `sn_azure_ad_spoke.AzureAD` uses: OAuth provider → default profile → `.default` scope → OAuth 2.0 credential → HTTP
 * connection on the alias.
 *
 * Sources: ServiceNow "Set up Microsoft Azure" and "Microsoft Azure AD spoke"
 * (https://www.servicenow.com/docs/r/zurich/integrate-applications/integration-hub/set-up-azure.html,
 * https://www.servicenow.com/docs/r/zurich/integrate-applications/integration-hub/microsoft-azure-ad-spoke.html; the
 * spoke needs an IntegrationHub subscription); least-privileged Graph permissions per spoke action
 * (https://learn.microsoft.com/graph/permissions-reference); client credentials at the v2 endpoint with
 * `scope=https://graph.microsoft.com/.default`
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
 *
 * Permission tiers: `read` (look up users and groups and their members) and `lifecycle` (also create and update users
 * and change group membership). A request picks one with `options.permissionTier`.
 */
import type { IntegrationProfile } from './types';

const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const ALIAS = 'sn_azure_ad_spoke.AzureAD';

export const entraIdSpoke: IntegrationProfile = {
  id: 'entra-id-spoke',
  title: 'ServiceNow Microsoft Entra ID spoke (IntegrationHub, client credentials)',
  source: 'https://www.servicenow.com/docs/r/zurich/integrate-applications/integration-hub/set-up-azure.html',
  apps: [
    {
      role: 'spoke',
      displayName: 'ServiceNow Entra ID spoke ({instance})',
      purpose: 'ServiceNow IntegrationHub calls Microsoft Graph with client credentials (Entra ID spoke)',
      redirectUris: ['{instanceUrl}/oauth_redirect.do'],
      secretLifetimeDays: 180,
      secretConsumers: [{ kind: 'servicenow', record: 'provider', field: 'client_secret' }],
      // ServiceNow's outbound OAuth signs a private-key JWT (Washington DC and later) or a workload identity
      // federation assertion (Brazil and later) instead of sending a secret, when the request asks.
      credentialKinds: ['secret', 'certificate', 'federated'],
      applicationPermissions: {
        resourceAppId: GRAPH_APP_ID,
        resourceName: 'Microsoft Graph',
        tiers: {
          read: ['User.Read.All', 'Group.Read.All', 'GroupMember.Read.All'],
          lifecycle: [
            'User.Read.All',
            'Group.Read.All',
            'GroupMember.Read.All',
            'User.ReadWrite.All',
            'GroupMember.ReadWrite.All',
          ],
        },
        defaultTier: 'read',
      },
    },
  ],
  serviceNow: {
    // The spoke's scoped app (IntegrationHub plugin); its alias must exist before anything is written.
    requiredScope: 'sn_azure_ad_spoke',
    requiredRoles: [],
    requiredColumns: {},
    records: [
      {
        // System OAuth > Application Registry > "Connect to a third party OAuth Provider", client credentials.
        key: 'provider',
        table: 'oauth_entity',
        naturalKey: { client_id: '{apps.spoke.appId}', type: 'oauth_provider' },
        fields: {
          name: '{tenantName} Microsoft Entra ID spoke',
          type: 'oauth_provider',
          client_id: '{apps.spoke.appId}',
          default_grant_type: 'client_credentials',
          token_url: '{authorityHost}/{tenantId}/oauth2/v2.0/token',
          redirect_url: '{instanceUrl}/oauth_redirect.do',
          active: 'false',
        },
        activate: { active: 'true' },
        secret: { field: 'client_secret', fromApp: 'spoke' },
        manualFallback:
          'System OAuth > Application Registry > New > Connect to a third party OAuth Provider (client credentials), with the values listed',
      },
      {
        key: 'providerProfile',
        table: 'oauth_entity_profile',
        naturalKey: { oauth_entity: '{records.provider.sysId}' },
        fields: {
          name: '{tenantName} Microsoft Entra ID spoke default_profile',
          oauth_entity: '{records.provider.sysId}',
          grant_type: 'client_credentials',
          default: 'true',
        },
        manualFallback: 'Open the OAuth provider and add its default profile with grant type Client Credentials',
      },
      {
        key: 'graphScope',
        table: 'oauth_entity_scope',
        naturalKey: { oauth_entity: '{records.provider.sysId}', name: 'graph_default' },
        fields: {
          name: 'graph_default',
          oauth_entity: '{records.provider.sysId}',
          oauth_entity_scope: '{graphUrl}/.default',
        },
        manualFallback: 'Open the OAuth provider, OAuth Entity Scopes: add graph_default = {graphUrl}/.default',
      },
      {
        key: 'profileScope',
        table: 'oauth_entity_profile_scope',
        naturalKey: {
          oauth_entity_profile: '{records.providerProfile.sysId}',
          oauth_entity_scope: '{records.graphScope.sysId}',
        },
        fields: {
          oauth_entity_profile: '{records.providerProfile.sysId}',
          oauth_entity_scope: '{records.graphScope.sysId}',
        },
        manualFallback: 'Open the default profile, OAuth Entity Profile Scopes: add graph_default',
      },
      {
        key: 'credential',
        table: 'oauth_2_0_credentials',
        naturalKey: { name: '{tenantName} Entra ID spoke credentials ({integrationId})' },
        fields: {
          name: '{tenantName} Entra ID spoke credentials ({integrationId})',
          oauth_entity_profile: '{records.providerProfile.sysId}',
          order: '100',
          active: 'false',
        },
        activate: { active: 'true' },
        manualFallback: 'Connections & Credentials > Credentials > New > OAuth 2.0 Credentials, with the values listed',
      },
      {
        // Installed with the spoke: found, never written.
        key: 'alias',
        table: 'sys_alias',
        naturalKey: { id: ALIAS },
        // What the installed alias holds (never written; the sandbox seeds it so).
        fields: { id: ALIAS, name: 'AzureAD', type: 'connection', connection_type: 'http_connection' },
        lookup: true,
        manualFallback: `Install and activate the Microsoft Entra ID spoke (it provides the connection alias ${ALIAS})`,
      },
      {
        // One active connection per alias: the alias is the natural key. Written only after the approval, and only
        // when this integration created it: a connection someone else set up is handed off, never changed.
        key: 'connection',
        table: 'http_connection',
        naturalKey: { connection_alias: '{records.alias.sysId}' },
        fields: {
          name: '{tenantName} Microsoft Entra ID',
          connection_alias: '{records.alias.sysId}',
          credential: '{records.credential.sysId}',
          connection_url: '{graphUrl}',
          active: 'true',
        },
        phase: 'activation',
        exclusive: true,
        manualFallback: `Workflow Studio > Integrations > Connections > ${ALIAS} > Configure, with the values listed`,
      },
    ],
    roleGrants: [],
    grantableUserRoles: {},
    ipAllowlist: [],
    trust: [],
  },
  handOffs: [
    {
      // No REST equivalent of the credential's "Get OAuth Token" UI action.
      title: 'ServiceNow: get the first OAuth token of the Entra ID spoke connection',
      actor: 'ServiceNow administrator',
      steps: [
        {
          label: 'Open',
          value: 'Connections & Credentials > Credentials > {tenantName} Entra ID spoke credentials ({integrationId})',
        },
        { label: 'Related link', value: 'Get OAuth Token (expect: OAuth token is available)' },
        {
          label: 'If it answers invalid_client, re-enter the client secret from Key Vault secret',
          value: '{apps.spoke.secretName}',
        },
      ],
    },
  ],
  checks: [{ kind: 'graphToken', app: 'spoke' }, { kind: 'recordsConsistent' }],
};
