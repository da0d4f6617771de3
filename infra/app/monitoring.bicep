// Log Analytics + workspace-based Application Insights with local (instrumentation-key) authentication disabled:
// telemetry is accepted only with a Microsoft Entra token (Learn: "Microsoft Entra authentication for Application
// Insights"); the identity gets Monitoring Metrics Publisher in rbac.bicep.
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output applicationInsightsId string = applicationInsights.id
output applicationInsightsName string = applicationInsights.name
// Not a secret: the connection string only locates the ingestion endpoint; with DisableLocalAuth ingestion also
// needs an Entra token (Learn: "Connection strings in Application Insights").
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsId string = logAnalytics.id
