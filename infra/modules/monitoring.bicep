// Log Analytics workspace + workspace-based Application Insights with local
// (instrumentation-key) authentication off: telemetry is accepted only with
// an Entra token (the app's managed identity, Monitoring Metrics Publisher).

@description('Azure region.')
param location string

@description('Log Analytics workspace name.')
param workspaceName string

@description('Application Insights component name.')
param appInsightsName string

@description('Days Log Analytics keeps data (30 is included in the price).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

@description('Application Insights resource id (scope of the alert rules and the workbook).')
output appInsightsId string = appInsights.id

@description('Application Insights component name.')
output appInsightsName string = appInsights.name

@description('Connection string: an ingestion endpoint and instrumentation key, not a credential (local auth is off, so ingestion needs an Entra token).')
output connectionString string = appInsights.properties.ConnectionString

@description('Log Analytics workspace resource id (diagnostic settings).')
output workspaceId string = workspace.id
