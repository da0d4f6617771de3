// User-assigned managed identity: the Function App uses it for everything (storage, Key Vault, App Insights,
// Microsoft Graph), as in Azure-Samples/functions-quickstart-typescript-azd.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
