/**
 * A test-only integration profile, added in this one file: one app whose client secret ServiceNow's outbound OAuth
 * provider holds, created inactive and activated after the approval, checked with a client-credentials token. Importing
 * this module registers it (the last line), so the stack a test starts afterwards seeds for it and the API accepts it.
 */
import { registerProfile } from '../../src/profiles';
import type { IntegrationProfile } from '../../src/profiles/types';

export const minimalProfile: IntegrationProfile = {
  id: 'test-minimal-outbound',
  title: 'Test: one outbound OAuth provider',
  source: 'https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow',
  apps: [
    {
      role: 'client',
      displayName: 'ServiceNow test outbound ({instance})',
      purpose: 'ServiceNow calls Microsoft Graph with client credentials',
      redirectUris: [],
      secretLifetimeDays: 90,
      secretConsumers: [{ kind: 'servicenow', record: 'provider', field: 'client_secret' }],
    },
  ],
  serviceNow: {
    requiredRoles: [],
    requiredColumns: {},
    records: [
      {
        key: 'provider',
        table: 'oauth_entity',
        naturalKey: { client_id: '{apps.client.appId}', type: 'oauth_provider' },
        fields: {
          name: '{tenantName} test outbound',
          type: 'oauth_provider',
          client_id: '{apps.client.appId}',
          default_grant_type: 'client_credentials',
          token_url: '{authorityHost}/{tenant}/oauth2/token',
          active: 'false',
        },
        activate: { active: 'true' },
        secret: { field: 'client_secret', fromApp: 'client' },
        manualFallback: 'System OAuth > Application Registry > New > Connect to a third party OAuth Provider',
      },
    ],
    roleGrants: [],
    grantableUserRoles: {},
    ipAllowlist: [],
    trust: [],
  },
  handOffs: [],
  checks: [{ kind: 'outboundToken', app: 'client' }, { kind: 'recordsConsistent' }],
};

export const unregisterMinimalProfile = registerProfile(minimalProfile);
