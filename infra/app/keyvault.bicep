// A Key Vault with Azure RBAC authorization only (no access policies); soft delete and purge protection keep a
// deleted secret recoverable (Learn: "Azure Key Vault soft-delete overview", "Azure RBAC for Key Vault data plane
// operations"). main.bicep deploys this module twice: the vault holding the client secrets the app creates and rotates,
// and the vault holding the ServiceNow admin credentials an admin stores (the app may only read that one).
// With privateNetworking, public network access is disabled and the vault is reached through a private endpoint
// (infra/app/network.bicep; Learn: "Integrate Key Vault with Azure Private Link").
param name string
param location string
param tags object

@description('Disable public network access; the vault is then reachable only through its private endpoint.')
param privateNetworking bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
