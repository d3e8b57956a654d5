// The storage account: Functions host storage (identity-based), the Flex
// Consumption deployment container, the work queue and its poison queue, and
// the tables of the guest-sync store. Shared-key access is off: every client
// (host, handler, `func` publish) authenticates with Entra ID.

@description('Azure region.')
param location string

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

// Queue names: functions/*/function.json bind these (tests/infra checks it).
var queueNames = [
  'guestsync-work'
  'guestsync-work-poison'
  'guestsync-quarantine'
]

// Table names of the Azure Table store (handler/src/store; tests/infra checks it).
var tableNames = [
  'GuestSyncTenants'
  'GuestSyncGuests'
  'GuestSyncRuns'
  'GuestSyncAudit'
  'GuestSyncLeases'
  'GuestSyncSnapshots'
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  kind: 'StorageV2'
  sku: {
    // checkov:skip=CKV_AZURE_206: the queue and tables hold re-creatable state (a full sync rebuilds it from the source tenants); LRS keeps cost low. Use Standard_ZRS/GRS by editing here if wanted.
    name: 'Standard_LRS'
  }
  // checkov:skip=CKV_AZURE_59: the Flex Consumption app has no VNet integration here and reaches storage over the public endpoint; shared keys are off, so every request needs an Entra token and a data role.
  // checkov:skip=CKV_AZURE_43: the name is take('st<baseName><uniqueString>', 24) in main.bicep (lowercase letters and digits, 3-24 characters, @minLength/@maxLength above); checkov cannot evaluate the expression.
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // checkov:skip=CKV_AZURE_35: Flex Consumption without VNet integration reaches storage over the public endpoint; access is Entra-only (shared keys off). Add VNet integration + private endpoints to close it.
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for q in queueNames: {
  parent: queueService
  name: q
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for t in tableNames: {
  parent: tableService
  name: t
}]

@description('Storage account name.')
output name string = storage.name

@description('Storage account resource id.')
output id string = storage.id

@description('Blob service endpoint (https://<account>.blob.<suffix>/).')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

@description('Queue service endpoint.')
output queueEndpoint string = storage.properties.primaryEndpoints.queue

@description('Table service endpoint.')
output tableEndpoint string = storage.properties.primaryEndpoints.table
