// Azure role assignments for the Function App identity, each scoped to the one resource it needs, named
// guid(scope, principal, role) as in the azd Functions templates. Role definition IDs are Azure built-in roles
// (Learn: "Azure built-in roles"):
//   Storage Blob Data Owner            b7e6dc6d-f1e8-4753-8033-0f276bb0955b  host leases/secrets, deployment package
//   Storage Queue Data Contributor     974c5e8b-45b9-4653-ba55-5f855dd0fb88  Durable Functions control/work-item queues
//   Storage Table Data Contributor     0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3  Durable history/instances, registry tables
//   Key Vault Secrets Officer          b86a8fe4-4576-4b2f-8dfa-1e8b0f7f0bba  set/read/delete the client secrets, on the
//                                                                            secrets vault only
//   Key Vault Secrets User             4633458b-17de-408a-b874-0445c86b69e6  read the ServiceNow admin credentials, on the
//                                                                            credentials vault only (never Officer there)
//   Key Vault Certificates Officer     a4417e6f-fecd-4de8-b567-7b0420556985  create the apps' self-signed certificates and
//                                                                            read them and their policy, secrets vault only
//   Key Vault Crypto User              12338af0-0e69-4776-bea7-57ae8d297424  sign with a certificate's key (client assertions,
//                                                                            proofs of possession), secrets vault only
// A certificate's PFX is read as the secret of the same name: Secrets Officer on that vault already allows it (Learn:
// "Azure built-in roles for Key Vault data plane operations", https://learn.microsoft.com/azure/key-vault/general/rbac-guide).
//   Monitoring Metrics Publisher       3913510d-42f4-4e42-8a64-420c390055eb  Entra-authenticated App Insights ingestion
param storageAccountName string
@description('The vault holding the client secrets the app creates and rotates (the identity is Secrets Officer there).')
param keyVaultName string
@description('The vault holding the ServiceNow admin credentials (the identity may only read them: Secrets User).')
param credentialsVaultName string
param applicationInsightsName string
@description('Principal (object) id of the Function App user-assigned identity.')
param identityPrincipalId string
@description('Object id of the deploying user or service principal; empty for none.')
param deployerPrincipalId string = ''
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'
@description('Give the deploying principal Key Vault Secrets Officer on the credentials vault, to store the ServiceNow credentials.')
param grantDeployerSecretsOfficer bool = false

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource credentialsVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: credentialsVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource identityBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
    )
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource identityQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
    )
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource identityTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
    )
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource identitySecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, 'b86a8fe4-4576-4b2f-8dfa-1e8b0f7f0bba')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      'b86a8fe4-4576-4b2f-8dfa-1e8b0f7f0bba'
    )
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Certificates: create/get/list versions/policy (certificates/*), not keys or secrets (Learn: "Azure built-in roles for
// Key Vault data plane operations").
resource identityCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, 'a4417e6f-fecd-4de8-b567-7b0420556985')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      'a4417e6f-fecd-4de8-b567-7b0420556985'
    )
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Signing with a certificate's key, which never leaves the vault: Crypto User allows keys/read and keys/sign/action
// (and the other cryptographic operations), not creating, importing, deleting or purging keys (Crypto Officer).
resource identityCryptoUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, '12338af0-0e69-4776-bea7-57ae8d297424')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      '12338af0-0e69-4776-bea7-57ae8d297424'
    )
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Read-only on the ServiceNow admin credentials: Secrets User allows getting secret values and reading their
// metadata, not setting, deleting or purging them (Learn: "Azure built-in roles for Key Vault data plane operations").
resource identityCredentialsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(credentialsVault.id, identityPrincipalId, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: credentialsVault
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      '4633458b-17de-408a-b874-0445c86b69e6'
    )
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource identityMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      '3913510d-42f4-4e42-8a64-420c390055eb'
    )
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Only when asked, and only on the credentials vault: the deployer can then `az keyvault secret set` the ServiceNow
// credentials (docs/deploy.md). The client secrets vault needs no human writer.
resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeployerSecretsOfficer && !empty(deployerPrincipalId)) {
  name: guid(credentialsVault.id, deployerPrincipalId, 'b86a8fe4-4576-4b2f-8dfa-1e8b0f7f0bba')
  scope: credentialsVault
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      'b86a8fe4-4576-4b2f-8dfa-1e8b0f7f0bba'
    )
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}
