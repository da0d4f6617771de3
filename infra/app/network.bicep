// Optional private networking (main.bicep privateNetworking = true): a virtual network with two subnets, private
// endpoints for both Key Vaults and for the storage account's blob, queue and table services, and the private DNS
// zones that make the usual host names (<vault>.vault.azure.net, <account>.blob.core.windows.net, ...) resolve to
// those endpoints inside the network. The Function App joins the network through the app subnet (api.bicep
// virtualNetworkSubnetId), so its storage and Key Vault traffic stays private while the vaults and the storage account
// refuse public network access (keyvault.bicep, storage.bicep).
//
// Sources: Learn "Create and manage function apps in the Flex Consumption plan" (configure networking: the integration
// subnet is delegated to Microsoft.App/environments, is used for nothing else, and one app can use up to 40 addresses),
// Learn "Azure Private Endpoint private DNS zone values" (group ids vault, blob, queue, table; zones
// privatelink.vaultcore.azure.net and privatelink.{blob,queue,table}.core.windows.net in Azure public cloud), and the
// vnetEnabled option of Azure-Samples/functions-quickstart-typescript-azd (app/vnet.bicep,
// app/storage-PrivateEndpoint.bicep). Zone names follow the cloud through environment().suffixes.
param location string
param tags object

@description('Name of the virtual network.')
param virtualNetworkName string

@description('Prefix of the private endpoint names (abbreviations.json networkPrivateEndpoints).')
param privateEndpointNamePrefix string = 'pep-'

@description('The vault holding the client secrets the app creates and rotates.')
param keyVaultName string

@description('The vault holding the ServiceNow admin credentials.')
param credentialsVaultName string

@description('The storage account of the Functions host, Durable Functions and the registry tables.')
param storageAccountName string

@description('Address space of the virtual network; change it when it overlaps a network you peer with.')
param addressPrefix string = '10.0.0.0/16'

@description('Subnet for the Flex Consumption virtual network integration (a /26 leaves room for the 40 addresses one app may use).')
param appSubnetPrefix string = '10.0.1.0/26'

@description('Subnet for the five private endpoints.')
param privateEndpointSubnetPrefix string = '10.0.2.0/27'

// Subnet names without underscores (a Flex Consumption limitation noted in its how-to).
var appSubnetName = 'snet-app'
var privateEndpointSubnetName = 'snet-private-endpoints'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource credentialsVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: credentialsVaultName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: virtualNetworkName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

var privateEndpointSubnetId = '${vnet.id}/subnets/${privateEndpointSubnetName}'

// --- Private DNS zones, each linked to the virtual network (no auto-registration). ---

resource keyVaultZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  // privatelink.vaultcore.azure.net in Azure public cloud (keyvaultDns is '.vault.azure.net').
  name: 'privatelink.vaultcore.${replace(environment().suffixes.keyvaultDns, '.vault.', '')}'
  location: 'global'
  tags: tags

  resource link 'virtualNetworkLinks' = {
    name: virtualNetworkName
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
}

resource blobZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: 'privatelink.blob.${environment().suffixes.storage}'
  location: 'global'
  tags: tags

  resource link 'virtualNetworkLinks' = {
    name: virtualNetworkName
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
}

resource queueZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: 'privatelink.queue.${environment().suffixes.storage}'
  location: 'global'
  tags: tags

  resource link 'virtualNetworkLinks' = {
    name: virtualNetworkName
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
}

resource tableZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: 'privatelink.table.${environment().suffixes.storage}'
  location: 'global'
  tags: tags

  resource link 'virtualNetworkLinks' = {
    name: virtualNetworkName
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
}

// --- Private endpoints, each registering its A record in its zone through a DNS zone group. ---

resource vaultEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: '${privateEndpointNamePrefix}${keyVaultName}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: 'vault'
        properties: {
          privateLinkServiceId: vault.id
          groupIds: [
            'vault'
          ]
        }
      }
    ]
  }

  resource dns 'privateDnsZoneGroups' = {
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: 'vault'
          properties: {
            privateDnsZoneId: keyVaultZone.id
          }
        }
      ]
    }
  }
}

resource credentialsVaultEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: '${privateEndpointNamePrefix}${credentialsVaultName}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: 'vault'
        properties: {
          privateLinkServiceId: credentialsVault.id
          groupIds: [
            'vault'
          ]
        }
      }
    ]
  }

  resource dns 'privateDnsZoneGroups' = {
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: 'vault'
          properties: {
            privateDnsZoneId: keyVaultZone.id
          }
        }
      ]
    }
  }
}

resource blobEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: '${privateEndpointNamePrefix}${storageAccountName}-blob'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: 'blob'
        properties: {
          privateLinkServiceId: storage.id
          groupIds: [
            'blob'
          ]
        }
      }
    ]
  }

  resource dns 'privateDnsZoneGroups' = {
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: 'blob'
          properties: {
            privateDnsZoneId: blobZone.id
          }
        }
      ]
    }
  }
}

resource queueEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: '${privateEndpointNamePrefix}${storageAccountName}-queue'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: 'queue'
        properties: {
          privateLinkServiceId: storage.id
          groupIds: [
            'queue'
          ]
        }
      }
    ]
  }

  resource dns 'privateDnsZoneGroups' = {
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: 'queue'
          properties: {
            privateDnsZoneId: queueZone.id
          }
        }
      ]
    }
  }
}

resource tableEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: '${privateEndpointNamePrefix}${storageAccountName}-table'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: 'table'
        properties: {
          privateLinkServiceId: storage.id
          groupIds: [
            'table'
          ]
        }
      }
    ]
  }

  resource dns 'privateDnsZoneGroups' = {
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: 'table'
          properties: {
            privateDnsZoneId: tableZone.id
          }
        }
      ]
    }
  }
}

output virtualNetworkName string = vnet.name
// The Function App joins this subnet. main.bicep passes this output to the api module, which therefore waits for this
// whole module, endpoints and DNS records included (the host needs storage as soon as it starts).
output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'
