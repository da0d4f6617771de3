// m365-snow-provisioner: everything `azd up` deploys, at subscription scope, in the style of Microsoft's azd
// TypeScript Functions templates (Azure-Samples/functions-quickstart-typescript-azd,
// Azure-Samples/durable-functions-quickstart-typescript-azd): environmentName/location/principalId parameters,
// resourceToken, abbreviations.json, azd-env-name tags, UPPER_SNAKE outputs. Least privilege: one user-assigned
// identity with data-plane roles on its own storage account, vaults and App Insights only (Secrets Officer,
// Certificates Officer and Crypto User on the vault of the client secrets and certificates it creates, read-only
// Secrets User on the separate vault of the ServiceNow admin credentials);
// Graph Mail.Send off unless asked for; optional private networking; no keys or secrets in app settings or outputs.
// Not compiled here (no Bicep compiler offline): see docs/deploy.md "Verifying the templates".
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds resourceToken and tags every resource (azd-env-name).')
param environmentName string

@minLength(1)
@description('Primary location for all resources (a region that offers Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying user or service principal (azd sets AZURE_PRINCIPAL_ID).')
param principalId string = deployer().objectId

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

// Optional overrides of generated names.
param resourceGroupName string = ''
param functionAppName string = ''
param appServicePlanName string = ''
param identityName string = ''
param storageAccountName string = ''
param keyVaultName string = ''
param serviceNowCredentialsVaultName string = ''
param virtualNetworkName string = ''
param logAnalyticsName string = ''
param applicationInsightsName string = ''
param eventGridSystemTopicName string = ''

// --- Product settings (src/config.ts); production defaults, overridable for sovereign clouds (docs/deploy.md). ---
// An empty value (an unset azd variable) means the production default below.
@description('ENTRA_AUTHORITY_HOST. Empty = the current cloud\'s login endpoint (environment().authentication.loginEndpoint).')
param entraAuthorityHost string = ''

@description('GRAPH_BASE_URL without version. Empty = https://graph.microsoft.com; national clouds differ (docs/deploy.md).')
param graphBaseUrl string = ''

@description('SERVICENOW_URL_TEMPLATE; must contain {instance}. Empty = https://{instance}.service-now.com.')
param serviceNowUrlTemplate string = ''

@allowed([
  'entra'
  'basic'
  'oauth'
])
@description('SERVICENOW_AUTH_MODE: entra (default) = Entra tokens of the managed identity, no ServiceNow credential; basic/oauth = credentials stored in Key Vault.')
param serviceNowAuthMode string = 'entra'

@description('SERVICENOW_TOKEN_AUDIENCE: application ID URI api://<client id> of the control-plane audience app (created with az CLI, docs/deploy.md "Connect an instance"). Required with serviceNowAuthMode entra.')
param serviceNowTokenAudience string = ''

@description('SERVICENOW_CREDENTIAL_SECRET_PREFIX: Key Vault secret names are <prefix><instance>-username etc.')
param serviceNowCredentialSecretPrefix string = 'servicenow-'

@minLength(3)
@description('MAIL_SENDER: UPN of the Exchange Online mailbox that sends approval mail.')
param mailSender string

@description('PUBLIC_BASE_URL of the HTTP functions (approval links); empty = the Function App default host name.')
param publicBaseUrl string = ''

@description('APPROVERS: email addresses that may approve go-live, separated by , or ; (set APPROVERS or APPROVER_GROUPS, or both; the app refuses to start with neither).')
param approvers string = ''

@description('APPROVER_GROUPS: Entra group object ids whose members, nested groups included, may approve (read through Graph: GroupMember.Read.All and User.ReadBasic.All).')
param approverGroups string = ''

@description('ALLOWED_TENANTS: tenant ids besides this tenant (AZURE_TENANT_ID) that integrations may be provisioned for, comma-separated; empty = this tenant only.')
param allowedTenants string = ''

@minValue(1)
@maxValue(10)
@description('APPROVAL_QUORUM: distinct approvals that decide go-live; any rejection rejects.')
param approvalQuorum int = 1

@description('GRANT_ADMIN_CONSENT: the app identity grants, after the approval, the application permissions a profile declares (needs the Graph roles AppRoleAssignment.ReadWrite.All and Application.Read.All, granted by an administrator); false = an administrator gets the admin-consent link.')
param grantAdminConsent bool = false

@minValue(1)
@maxValue(300)
@description('ENTRA_TIMEOUT_SECONDS: deadline in seconds of one Entra token or metadata request (connect + response).')
param entraTimeoutSeconds int = 30

@minValue(1)
@maxValue(300)
@description('GRAPH_TIMEOUT_SECONDS: deadline in seconds of one Microsoft Graph request (connect + response).')
param graphTimeoutSeconds int = 60

@minValue(1)
@maxValue(300)
@description('KEY_VAULT_TIMEOUT_SECONDS: deadline in seconds of one Key Vault request (connect + response).')
param keyVaultTimeoutSeconds int = 30

@minValue(1)
@maxValue(300)
@description('SERVICENOW_TIMEOUT_SECONDS: deadline in seconds of one ServiceNow request (connect + response).')
param serviceNowTimeoutSeconds int = 60

@description('ALERT_CHANNELS: where alerts go: email, webhook, both (comma-separated) or none.')
param alertChannels string = 'email'

@description('ALERT_EMAIL_RECIPIENTS: alert mail recipients separated by , or ; (empty = each integration\'s approvers).')
param alertEmailRecipients string = ''

@description('ALERT_WEBHOOK_SECRET_NAME: name of the Key Vault secret (in the app\'s vault) that holds the alert webhook URL, e.g. a Teams Workflows trigger URL; the URL is a credential, so it is never an app setting itself.')
param alertWebhookSecretRef string = ''

@allowed([
  'teams'
  'json'
])
@description('ALERT_WEBHOOK_FORMAT: teams (Teams Workflows "Post to a channel when a webhook request is received", Adaptive Card) or json (generic).')
param alertWebhookFormat string = 'teams'

@minLength(3)
@maxLength(45)
@description('TASKHUB_NAME: Durable Functions task hub (host.json hubName %TASKHUB_NAME%).')
param taskHubName string = 'provisionerhub'

// --- Permissions that need more than subscription rights. ---
@description('Grant the identity its Microsoft Graph application permissions through the Graph Bicep extension. Needs Privileged Role Administrator (or Global Administrator); false = an admin runs the commands in docs/deploy.md.')
param grantGraphAppRoles bool = true

@description('Also grant Graph Mail.Send in Entra: tenant-wide, the identity could send as any mailbox. Default false: an Exchange admin grants "Application Mail.Send" scoped to the MAIL_SENDER mailbox with RBAC for Applications (docs/deploy.md).')
param grantEntraMailSend bool = false

@description('Give the deploying principal Key Vault Secrets Officer on the ServiceNow credentials vault (to store the credentials there).')
param grantDeployerSecretsOfficer bool = false

// --- Network (infra/app/network.bicep). ---
@description('Private networking: a virtual network, private endpoints and DNS zones for both vaults and storage (blob, queue, table), public network access disabled on them, and the Function App integrated into the network. Inbound HTTP stays public.')
param privateNetworking bool = false

// --- Key Vault SecretNearExpiry backstop (infra/app/keyvault-events.bicep). ---
@description('Subscribe the secretNearExpiry function to the vault\'s Microsoft.KeyVault.SecretNearExpiry events. Event Grid validates the function when the subscription is created, so leave false on the first azd up (infra runs before code) and set true for a second azd provision (docs/deploy.md).')
param enableSecretNearExpiryEvents bool = false

// --- Operator dashboard sign-in (infra/app/auth.bicep, docs/deploy.md "Operator dashboard sign-in"). ---
@description('Client (application) id of the Entra app registration operators sign in to the dashboard with (App Service Authentication). Empty = no sign-in: the dashboard is guarded by its function key only.')
param dashboardAuthClientId string = ''
@description('Object id of the Entra security group of operators: only its members may open the dashboard.')
param operatorGroupObjectId string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

var names = {
  resourceGroup: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  functionApp: !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}api-${resourceToken}'
  appServicePlan: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
  identity: !empty(identityName) ? identityName : '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
  authIdentity: '${abbrs.managedIdentityUserAssignedIdentities}auth-${resourceToken}'
  storageAccount: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
  keyVault: !empty(keyVaultName) ? keyVaultName : '${abbrs.keyVaultVaults}${resourceToken}'
  serviceNowCredentialsVault: !empty(serviceNowCredentialsVaultName) ? serviceNowCredentialsVaultName : '${abbrs.keyVaultVaults}sn-${resourceToken}'
  virtualNetwork: !empty(virtualNetworkName) ? virtualNetworkName : '${abbrs.networkVirtualNetworks}${resourceToken}'
  logAnalytics: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
  applicationInsights: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
  eventGridSystemTopic: !empty(eventGridSystemTopicName) ? eventGridSystemTopicName : '${abbrs.eventGridSystemTopics}kv-${resourceToken}'
}
var settings = {
  entraAuthorityHost: !empty(entraAuthorityHost) ? entraAuthorityHost : environment().authentication.loginEndpoint
  graphBaseUrl: !empty(graphBaseUrl) ? graphBaseUrl : 'https://graph.microsoft.com'
  serviceNowUrlTemplate: !empty(serviceNowUrlTemplate) ? serviceNowUrlTemplate : 'https://{instance}.service-now.com'
}
// Sign-in needs both the app registration and the operator group; with either missing the dashboard keeps only its key.
var dashboardSignIn = !empty(dashboardAuthClientId) && !empty(operatorGroupObjectId)
var deploymentContainerName = 'app-package-${toLower(take(names.functionApp, 32))}-${take(resourceToken, 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

// The identity Easy Auth signs in with (a federated credential on the dashboard's app registration): assigned to the
// Function App only, and used for nothing else (Learn: "Use a managed identity instead of a secret").
module authIdentity 'app/identity.bicep' = if (dashboardSignIn) {
  name: 'auth-identity'
  scope: rg
  params: {
    name: names.authIdentity
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storageAccount
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    privateNetworking: privateNetworking
  }
}

// The client secrets and certificates the app creates and rotates: the identity is Secrets Officer, Certificates
// Officer and Crypto User here (rbac.bicep).
module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    privateNetworking: privateNetworking
  }
}

// The ServiceNow admin credentials an admin stores: the identity may only read them (Secrets User, rbac.bicep), so a
// compromised app cannot replace or delete them. Same module, same hardening.
module credentialsVault 'app/keyvault.bicep' = {
  name: 'keyvault-servicenow-credentials'
  scope: rg
  params: {
    name: names.serviceNowCredentialsVault
    location: location
    tags: tags
    privateNetworking: privateNetworking
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    credentialsVaultName: credentialsVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    grantDeployerSecretsOfficer: grantDeployerSecretsOfficer
  }
}

module graphPermissions 'app/graph-permissions.bicep' = if (grantGraphAppRoles) {
  name: 'graph-permissions'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    grantEntraMailSend: grantEntraMailSend
    // Non-empty approver groups add the Graph permissions that resolve their members.
    approverGroups: approverGroups
  }
}

module network 'app/network.bicep' = if (privateNetworking) {
  name: 'network'
  scope: rg
  params: {
    location: location
    tags: tags
    virtualNetworkName: names.virtualNetwork
    privateEndpointNamePrefix: abbrs.networkPrivateEndpoints
    keyVaultName: keyVault.outputs.name
    credentialsVaultName: credentialsVault.outputs.name
    storageAccountName: storage.outputs.name
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.appServicePlan
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    authIdentityId: authIdentity.?outputs.id ?? ''
    authIdentityClientId: authIdentity.?outputs.clientId ?? ''
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    tenantId: tenant().tenantId
    entraAuthorityHost: settings.entraAuthorityHost
    graphBaseUrl: settings.graphBaseUrl
    keyVaultUrl: keyVault.outputs.uri
    serviceNowCredentialsVaultUrl: credentialsVault.outputs.uri
    serviceNowUrlTemplate: settings.serviceNowUrlTemplate
    serviceNowAuthMode: serviceNowAuthMode
    serviceNowTokenAudience: serviceNowTokenAudience
    // The managed identity's object id is the `oid` of its tokens: the ServiceNow machine user's user_name.
    serviceNowIdentityObjectId: identity.outputs.principalId
    serviceNowCredentialSecretPrefix: serviceNowCredentialSecretPrefix
    mailSender: mailSender
    approvers: approvers
    approverGroups: approverGroups
    approvalQuorum: approvalQuorum
    grantAdminConsent: grantAdminConsent
    allowedTenants: allowedTenants
    entraTimeoutSeconds: entraTimeoutSeconds
    graphTimeoutSeconds: graphTimeoutSeconds
    keyVaultTimeoutSeconds: keyVaultTimeoutSeconds
    serviceNowTimeoutSeconds: serviceNowTimeoutSeconds
    publicBaseUrl: publicBaseUrl
    taskHubName: taskHubName
    alertChannels: alertChannels
    alertEmailRecipients: alertEmailRecipients
    alertWebhookSecretRef: alertWebhookSecretRef
    alertWebhookFormat: alertWebhookFormat
    // Empty without private networking; otherwise the app subnet (this makes the app wait for the network module).
    virtualNetworkSubnetId: network.?outputs.appSubnetId ?? ''
  }
  // The host must not start before it may read its storage (the azd templates order these the same way).
  dependsOn: [
    rbac
  ]
}

// Event Grid system topic on the vault, plus (when enabled) the SecretNearExpiry subscription to the function. Taking
// the Function App name from api.outputs makes this module wait for the app; the function inside it exists only
// after `azd deploy`, hence enableSecretNearExpiryEvents (see the module header).
module keyVaultEvents 'app/keyvault-events.bicep' = {
  name: 'keyvault-events'
  scope: rg
  params: {
    location: location
    tags: tags
    systemTopicName: names.eventGridSystemTopic
    keyVaultName: keyVault.outputs.name
    functionAppName: api.outputs.name
    enableSubscription: enableSecretNearExpiryEvents
  }
}

// azd reads these into the environment (.azure/<env>/.env). Identifiers and URLs only, never secrets.
// Easy Auth in front of the operator dashboard, only for members of the operator group (needs the app deployed).
module dashboardAuth 'app/auth.bicep' = if (dashboardSignIn) {
  name: 'dashboard-auth'
  scope: rg
  params: {
    functionAppName: api.outputs.name
    clientId: dashboardAuthClientId
    operatorGroupObjectId: operatorGroupObjectId
    tenantId: tenant().tenantId
    authorityHost: settings.entraAuthorityHost
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output SERVICENOW_CREDENTIALS_VAULT_NAME string = credentialsVault.outputs.name
output SERVICENOW_CREDENTIALS_VAULT_URL string = credentialsVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output GRAPH_APP_ROLES_GRANTED bool = grantGraphAppRoles
output ENTRA_MAIL_SEND_GRANTED bool = grantGraphAppRoles && grantEntraMailSend
output PRIVATE_NETWORKING_ENABLED bool = privateNetworking
output AZURE_VIRTUAL_NETWORK_NAME string = privateNetworking ? names.virtualNetwork : ''
output AZURE_KEY_VAULT_EVENTS_TOPIC_NAME string = keyVaultEvents.outputs.systemTopicName
output SECRET_NEAR_EXPIRY_EVENTS_ENABLED bool = keyVaultEvents.outputs.subscriptionEnabled
output DASHBOARD_SIGN_IN_ENABLED bool = dashboardSignIn
// For the federated credential on the dashboard's app registration (docs/deploy.md): its subject is this object id.
output DASHBOARD_AUTH_IDENTITY_PRINCIPAL_ID string = authIdentity.?outputs.principalId ?? ''
output DASHBOARD_SIGN_IN_URL string = dashboardAuth.?outputs.signInUrl ?? ''
