// Key Vault SecretNearExpiry backstop for the daily rotation sweep (src/rotation/nearExpiry.ts): an Event Grid system
// topic on the vault and, when enabled, one event subscription delivering Microsoft.KeyVault.SecretNearExpiry (client
// secrets) and Microsoft.KeyVault.CertificateNearExpiry (certificate credentials) to the
// Event Grid-triggered function `secretNearExpiry` (src/functions/triggers.ts TRIGGERS.secretNearExpiry).
// Shapes follow Learn "Microsoft.EventGrid systemTopics" and "Microsoft.EventGrid systemTopics/eventSubscriptions"
// (Bicep reference, apiVersion 2025-02-15), "Azure Key Vault as Event Grid source" (topic type
// Microsoft.KeyVault.vaults, event types) and "Event handlers: Azure Functions" (endpointType AzureFunction, resourceId
// <function app id>/functions/<function name>). The system topic needs no identity: Event Grid delivers to an
// AzureFunction endpoint with its own access, so no key or URL with a code= secret appears in the template.
//
// Deployment order: Event Grid validates an AzureFunction endpoint when the subscription is created, so the function
// must already be deployed. azd provisions infra before it deploys code, so the subscription is off on the first
// `azd up` and turned on with ENABLE_SECRET_NEAR_EXPIRY_EVENTS=true and a second `azd provision` (docs/deploy.md).
// Microsoft's azd Event Grid samples (Azure-Samples/functions-quickstart-typescript-azd-eventgrid-blob) solve the same
// problem the same way in spirit: the system topic in Bicep, the subscription only after the code is deployed.
param location string
param tags object

@description('Name of the Event Grid system topic on the vault.')
param systemTopicName string

@description('Name of the existing Key Vault whose events are published.')
param keyVaultName string

@description('Name of the existing Function App hosting the Event Grid-triggered function.')
param functionAppName string

@description('Event Grid-triggered function (src/functions/triggers.ts TRIGGERS.secretNearExpiry).')
param functionName string = 'secretNearExpiry'

@description('Create the event subscription. Only once the function is deployed: Event Grid validates the endpoint.')
param enableSubscription bool = false

@description('Delivery attempts before Event Grid drops an event (Learn "Event Grid message delivery and retry": 1-30, default 30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an undelivered event is retried (Learn "Event Grid message delivery and retry": 1-1440, default 1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// A system topic lives in the region of its source resource (Learn "System topics in Azure Event Grid"); the vault is
// deployed to `location`, so both share it.
resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: location
  tags: tags
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

// Only the two near-expiry types: the handler ignores every other type, and SecretNewVersionCreated /
// CertificateNewVersionCreated would fire on each rotation the app itself performs. The Event Grid schema matches the trigger's EventGridEvent; one event per batch
// because the handler takes a single event. No dead-letter destination: the daily sweep is the primary mechanism,
// so an event that exhausts its retries is caught by the next sweep.
resource nearExpirySubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (enableSubscription) {
  parent: systemTopic
  name: 'secret-near-expiry'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionApp.id}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.CertificateNearExpiry'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
  }
}

output systemTopicName string = systemTopic.name
output subscriptionEnabled bool = enableSubscription
