// The Azure Monitor workbook (infra/workbook.json) linked to Application
// Insights: runs per tenant and outcome, guests created / updated /
// deprovisioned / photos copied over time, redemption rate, failures and
// throttling, all from the handler's structured log events.

@description('Azure region.')
param location string

@description('Application Insights resource id (the workbook\'s data source).')
param appInsightsId string

@description('Workbook display name.')
param displayName string = 'guest-sync operations'

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsightsId, 'guest-sync-workbook')
  location: location
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: loadTextContent('../workbook.json')
    version: '1.0'
  }
}

@description('Workbook resource id.')
output id string = workbook.id
