// Storage for the Functions host (AzureWebJobsStorage: blob leases, Durable Functions queues and tables), the
// product's registry tables and the Flex Consumption deployment package. Shared-key access is disabled, so every
// caller must use Microsoft Entra ID (Learn: "Prevent Shared Key authorization for an Azure Storage account").
// With privateNetworking, public network access is disabled and the Function App reaches blob, queue and table through
// private endpoints (infra/app/network.bicep), as in Azure-Samples/functions-quickstart-typescript-azd (vnetEnabled).
param name string
param location string
param tags object
param deploymentContainerName string
@description('Disable public network access; blob, queue and table are then reachable only through private endpoints.')
param privateNetworking bool = false
@description('Tables of the product: integration registry, approval tokens, leases, the ownership ledger, the audit trail and the alert store (src/registry, src/alerts, src/approvals; src/app/deps.ts names them).')
param tableNames array = [
  'integrations'
  'approvals'
  'leases'
  'ownership'
  'audit'
  'alerts'
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
      bypass: privateNetworking ? 'None' : 'AzureServices'
    }
  }

  resource blobServices 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }

  resource tableServices 'tableServices' = {
    name: 'default'

    resource tables 'tables' = [
      for table in tableNames: {
        name: table
      }
    ]
  }
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
