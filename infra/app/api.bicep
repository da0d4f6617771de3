// Function App on Flex Consumption (FC1), Node 22, user-assigned identity for everything: identity-based
// AzureWebJobsStorage (blob, queue and table service URIs, as Durable Functions on Azure Storage needs all three),
// identity-based deployment storage, Entra-authenticated Application Insights. Follows
// Azure-Samples/functions-quickstart-typescript-azd infra/app/api.bicep and Learn "Create and manage function apps in
// the Flex Consumption plan". On Flex Consumption the runtime lives in functionAppConfig.runtime, so
// FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION must not be app settings.
// With private networking the app is integrated into a subnet delegated to Microsoft.App/environments
// (virtualNetworkSubnetId; Learn "Create and manage function apps in the Flex Consumption plan", configure networking):
// its outbound calls to storage and Key Vault then use their private endpoints. Inbound (the HTTP API, approval links,
// Event Grid delivery) stays public.
param name string
param planName string
param location string
param tags object
@description('azd service name this app hosts (azure.yaml services.<name>).')
param serviceName string = 'api'

param identityId string
param identityClientId string
@description('Operator dashboard sign-in (infra/app/auth.bicep): the user-assigned identity whose federated credential Easy Auth presents instead of a client secret; empty = no sign-in.')
param authIdentityId string = ''
param authIdentityClientId string = ''
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string

// Product settings read by src/config.ts (SETTING_NAMES). Values only: no secret is ever passed here; the
// ServiceNow credentials and the client secrets the product creates live in Key Vault.
param tenantId string
param entraAuthorityHost string
param graphBaseUrl string
@description('KEY_VAULT_URL: the vault for the client secrets the app creates and rotates (Secrets Officer).')
param keyVaultUrl string
@description('SERVICENOW_CREDENTIALS_VAULT_URL: the vault holding the ServiceNow admin credentials (read-only for the app).')
param serviceNowCredentialsVaultUrl string
param serviceNowUrlTemplate string
@allowed([
  'entra'
  'basic'
  'oauth'
])
param serviceNowAuthMode string
@description('SERVICENOW_TOKEN_AUDIENCE: application ID URI api://<client id> the ServiceNow instances trust (entra mode).')
param serviceNowTokenAudience string = ''
@description('SERVICENOW_IDENTITY_OBJECT_ID: object id of the user-assigned identity (the `oid` claim of its tokens).')
param serviceNowIdentityObjectId string
param serviceNowCredentialSecretPrefix string
param mailSender string
@description('APPROVERS: approver email addresses separated by , or ; (at least one of APPROVERS, APPROVER_GROUPS).')
param approvers string = ''
@description('APPROVER_GROUPS: Entra group object ids whose members (nested too) may approve, separated by , or ;.')
param approverGroups string = ''
@description('APPROVAL_QUORUM: distinct approvals that decide go-live (any rejection rejects).')
param approvalQuorum int = 1
@description('GRANT_ADMIN_CONSENT: the app identity grants the application permissions a profile declares, after the approval.')
param grantAdminConsent bool = false
@description('ALLOWED_TENANTS: tenant ids besides AZURE_TENANT_ID that integrations may be provisioned for, comma-separated.')
param allowedTenants string = ''
@minValue(1)
@maxValue(300)
@description('ENTRA_TIMEOUT_SECONDS: deadline in seconds of one Entra token or metadata request (connect + response); a call that does not answer in time fails as retriable.')
param entraTimeoutSeconds int = 30
@minValue(1)
@maxValue(300)
@description('GRAPH_TIMEOUT_SECONDS: deadline in seconds of one Microsoft Graph request (connect + response); a call that does not answer in time fails as retriable.')
param graphTimeoutSeconds int = 60
@minValue(1)
@maxValue(300)
@description('KEY_VAULT_TIMEOUT_SECONDS: deadline in seconds of one Key Vault request (connect + response); a call that does not answer in time fails as retriable.')
param keyVaultTimeoutSeconds int = 30
@minValue(1)
@maxValue(300)
@description('SERVICENOW_TIMEOUT_SECONDS: deadline in seconds of one ServiceNow request (connect + response); a call that does not answer in time fails as retriable.')
param serviceNowTimeoutSeconds int = 60
@description('PUBLIC_BASE_URL; empty = https://<default host name of this app>.')
param publicBaseUrl string = ''
param taskHubName string
@description('ALERT_CHANNELS: email, webhook, both (comma-separated) or none.')
param alertChannels string = 'email'
@description('ALERT_EMAIL_RECIPIENTS: alert mail recipients; empty = the integration\'s approvers.')
param alertEmailRecipients string = ''
@description('ALERT_WEBHOOK_SECRET_NAME: the Key Vault secret (in KEY_VAULT_URL\'s vault) holding the alert webhook URL; required with the webhook channel.')
param alertWebhookSecretRef string = ''
@allowed([
  'teams'
  'json'
])
@description('ALERT_WEBHOOK_FORMAT: teams (a Teams Workflows webhook, Adaptive Card) or json (documented generic JSON).')
param alertWebhookFormat string = 'teams'

@description('Resource id of the subnet (delegated to Microsoft.App/environments) for virtual network integration; empty = none.')
param virtualNetworkSubnetId string = ''

param instanceMemoryMB int = 2048
param maximumInstanceCount int = 100

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    // The product's identity, plus (with dashboard sign-in) the identity used only by Easy Auth's client assertion.
    userAssignedIdentities: union({ '${identityId}': {} }, empty(authIdentityId) ? {} : { '${authIdentityId}': {} })
  }
  properties: {
    serverFarmId: plan.id
    virtualNetworkSubnetId: !empty(virtualNetworkSubnetId) ? virtualNetworkSubnetId : null
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Basic-auth publishing (FTP and SCM) off: azd deploys to Flex Consumption through the deployment container.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// Host settings: identity-based connections (Learn: "Connecting to host storage with an identity"; the
// __credential/__clientId pair selects the user-assigned identity) and Entra-authenticated Application Insights.
var hostSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Sandbox-only settings are deliberately absent: AZURE_CLIENT_SECRET (the app authenticates as the managed
// identity) and KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION (its production default, true, applies).
var productSettings = {
  AZURE_TENANT_ID: tenantId
  // DefaultAzureCredential / ManagedIdentityCredential pick the user-assigned identity by this client id.
  AZURE_CLIENT_ID: identityClientId
  ENTRA_AUTHORITY_HOST: entraAuthorityHost
  GRAPH_BASE_URL: graphBaseUrl
  KEY_VAULT_URL: keyVaultUrl
  SERVICENOW_CREDENTIALS_VAULT_URL: serviceNowCredentialsVaultUrl
  SERVICENOW_URL_TEMPLATE: serviceNowUrlTemplate
  SERVICENOW_AUTH_MODE: serviceNowAuthMode
  SERVICENOW_TOKEN_AUDIENCE: serviceNowTokenAudience
  SERVICENOW_IDENTITY_OBJECT_ID: serviceNowIdentityObjectId
  SERVICENOW_CREDENTIAL_SECRET_PREFIX: serviceNowCredentialSecretPrefix
  MAIL_SENDER: mailSender
  PUBLIC_BASE_URL: !empty(publicBaseUrl) ? publicBaseUrl : 'https://${functionApp.properties.defaultHostName}'
  TASKHUB_NAME: taskHubName
  // Provisioning defaults (src/config.ts DEFAULTS): approval deadline 72 h with daily reminders, roll back at the
  // deadline, six connectivity-check attempts ten seconds apart.
  APPROVAL_TIMEOUT_MINUTES: '4320'
  APPROVAL_REMINDER_MINUTES: '1440'
  APPROVAL_DEADLINE_ACTION: 'rollback'
  // The approver policy (never taken from a request): addresses, Entra groups, and how many must approve.
  APPROVERS: approvers
  APPROVER_GROUPS: approverGroups
  APPROVAL_QUORUM: string(approvalQuorum)
  // Tenants besides AZURE_TENANT_ID that a request may name (empty = only this tenant).
  ALLOWED_TENANTS: allowedTenants
  CHECK_ATTEMPTS: '6'
  CHECK_RETRY_SECONDS: '10'
  CERTIFICATE_VALIDITY_MONTHS: '12'
  // Application permissions a profile declares (e.g. the Entra ID spoke's Graph permissions) are granted by an
  // administrator through the admin-consent link the product hands off; 'true' lets this app's identity grant them
  // after the approval, which needs the Graph permission AppRoleAssignment.ReadWrite.All.
  GRANT_ADMIN_CONSENT: grantAdminConsent ? 'true' : 'false'
  // Rotation defaults (src/config.ts DEFAULTS): sweep daily at 02:00 UTC (the timer reads %ROTATION_SCHEDULE%),
  // rotate within 30 days of expiry or after 365 days, new secrets live 180 days, old ones are removed one day after
  // every consumer confirmed, hand-off reminders daily with a 7-day deadline, six token attempts ten seconds apart.
  ROTATION_SCHEDULE: '0 0 2 * * *'
  ROTATION_WINDOW_DAYS: '30'
  ROTATION_MAX_AGE_DAYS: '365'
  ROTATION_SECRET_LIFETIME_DAYS: '180'
  ROTATION_GRACE_MINUTES: '1440'
  HANDOFF_REMINDER_MINUTES: '1440'
  HANDOFF_DEADLINE_MINUTES: '10080'
  ROTATION_VERIFY_ATTEMPTS: '6'
  ROTATION_VERIFY_RETRY_SECONDS: '10'
  // The daily health and drift check (src/config.ts DEFAULTS): 03:30 UTC, after the rotation sweep (the timer reads
  // %HEALTH_SCHEDULE%). Read-only; repairs run only on request.
  HEALTH_SCHEDULE: '0 30 3 * * *'
  // Deadline of one outbound call per service (src/config.ts DEFAULTS: Entra 30 s, Graph 60 s, Key Vault 30 s,
  // ServiceNow 60 s): a call that never answers fails as retriable instead of stalling an orchestration.
  ENTRA_TIMEOUT_SECONDS: string(entraTimeoutSeconds)
  GRAPH_TIMEOUT_SECONDS: string(graphTimeoutSeconds)
  KEY_VAULT_TIMEOUT_SECONDS: string(keyVaultTimeoutSeconds)
  SERVICENOW_TIMEOUT_SECONDS: string(serviceNowTimeoutSeconds)
  // Operator dashboard sign-in (infra/app/auth.bicep): the dashboard trusts X-MS-CLIENT-PRINCIPAL-NAME and requires it
  // only when App Service Authentication fronts the app; Easy Auth reads the managed identity's client id from
  // OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID (its client secret setting name) to sign in without a secret.
  EASY_AUTH_ENABLED: !empty(authIdentityClientId) ? 'true' : 'false'
  OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID: authIdentityClientId
  // Alerts (src/config.ts DEFAULTS): sweep hourly (the timer reads %ALERT_SCHEDULE%), credentials a person must rotate
  // alerted 30, 14, 7 and 1 day(s) before expiry, approvals and hand-offs overdue after a day.
  ALERT_SCHEDULE: '0 0 * * * *'
  ALERT_EXPIRY_STAGES_DAYS: '30,14,7,1'
  ALERT_OVERDUE_MINUTES: '1440'
  ALERT_CHANNELS: alertChannels
  ALERT_EMAIL_RECIPIENTS: alertEmailRecipients
  ALERT_WEBHOOK_SECRET_NAME: alertWebhookSecretRef
  ALERT_WEBHOOK_FORMAT: alertWebhookFormat
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(hostSettings, productSettings)
}

output id string = functionApp.id
output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
