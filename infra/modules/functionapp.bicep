// The function app: a Flex Consumption (FC1, Linux) plan running the
// `custom` runtime (the Rust `handler` binary), or, with planKind =
// 'ElasticPremium', a Linux Elastic Premium (EP1) plan with
// FUNCTIONS_WORKER_RUNTIME=custom. Host storage, Key Vault, the store and
// Application Insights are all reached with the user-assigned identity: no
// key or connection secret appears in any app setting.

@description('Azure region.')
param location string

@description('Function app name.')
param appName string

@description('App Service plan name.')
param planName string

@description('FlexConsumption (FC1, default) or ElasticPremium (EP1, always-warm fallback).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param planKind string = 'FlexConsumption'

@description('Flex Consumption: most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 4

@description('Flex Consumption: memory per instance (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Storage account name (host storage, queues, tables, deployment container).')
param storageAccountName string

@description('Blob endpoint of the storage account (ends with /).')
param blobEndpoint string

@description('Queue endpoint of the storage account.')
param queueEndpoint string

@description('Table endpoint of the storage account.')
param tableEndpoint string

@description('Blob container holding the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Application Insights connection string (endpoint + instrumentation key; not a credential with local auth off).')
param appInsightsConnectionString string

@description('Key Vault URL (https://<vault>.vault.azure.net/).')
param keyVaultUrl string

@description('GUESTSYNC_HOST_TENANT_ID: the host tenant.')
param hostTenantId string

@description('GUESTSYNC_HOST_CLIENT_ID: the host app registration (client id).')
param hostClientId string

@description('GUESTSYNC_HOST_SECRET_NAME: Key Vault secret holding the host app client secret.')
param hostSecretName string

@description('GUESTSYNC_GRAPH_URL.')
param graphUrl string

@description('GUESTSYNC_AUTHORITY_URL.')
param authorityUrl string

@description('GUESTSYNC_INVITE_REDIRECT_URL (empty = the handler default, My Apps of the host tenant).')
param inviteRedirectUrl string

@description('GUESTSYNC_HOST_GROUP_ID (empty = no host group).')
param hostGroupId string

@description('GUESTSYNC_DEPROVISION: delete or disable.')
param deprovisionMode string

@description('GUESTSYNC_MAX_DEPROVISIONS: a count (50) or a percentage (10%).')
param maxDeprovisions string

@description('GUESTSYNC_DRY_RUN.')
param dryRun bool

@description('GUESTSYNC_SYNC_SCHEDULE (NCRONTAB, six fields).')
param syncSchedule string

@description('GUESTSYNC_PHOTO_SCHEDULE (NCRONTAB, six fields).')
param photoSchedule string

@description('GUESTSYNC_REDEMPTION_SCHEDULE (NCRONTAB, six fields).')
param redemptionSchedule string

@description('GUESTSYNC_DELTA_SCHEDULE (NCRONTAB, six fields).')
param deltaSchedule string

@description('GUESTSYNC_FULL_RECONCILE_HOURS: hours between full reads of both sides (0 = always full).')
param fullReconcileHours int

@description('GUESTSYNC_JOB_BUDGET_SECS: time budget of one tenant job.')
param jobBudgetSecs int

@description('GUESTSYNC_RETENTION_DAYS: run and audit history kept.')
param retentionDays int

@description('GUESTSYNC_ANCHOR_ATTRIBUTE: host attribute holding each managed guest\'s ownership anchor.')
param anchorAttribute string

@description('GUESTSYNC_FEDERATED_APP_ID: the multi-tenant app secretless source tenants consent to (empty = none).')
param federatedAppId string = ''

@description('GUESTSYNC_HOST_CREDENTIAL: secret (host app secret) or managed-identity (this app\'s identity holds the host roles).')
@allowed([
  'secret'
  'managed-identity'
])
param hostCredential string = 'secret'

var isFlex = planKind == 'FlexConsumption'

// Identity-based host storage (AzureWebJobsStorage__*): no account key.
var hostStorageSettings = [
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: blobEndpoint
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: queueEndpoint
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: tableEndpoint
  }
]

// Telemetry with Entra authentication (Application Insights local auth is off).
var telemetrySettings = [
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
]

// glibc's allocator in the handler process: two arenas and a fixed mmap
// threshold instead of one arena per thread (up to 8 per core) and a
// threshold that grows after the first large free. A full read of a large
// tenant holds its pictures for the whole run while pages are parsed and
// plan parts made around them; these two keep about 30 MB of freed memory
// from staying resident at 100,000 users (docs/benchmarks.md).
var allocatorSettings = [
  {
    name: 'MALLOC_ARENA_MAX'
    value: '2'
  }
  {
    name: 'MALLOC_MMAP_THRESHOLD_'
    value: '131072'
  }
]

// Every setting the handler reads (handler/src/settings.rs SETTING_NAMES;
// tests/infra mirrors the list). GUESTSYNC_LOCAL_SECRETS is left unset on
// purpose: the cloud reads secrets from Key Vault only.
var guestSyncSettings = [
  {
    name: 'GUESTSYNC_HOST_TENANT_ID'
    value: hostTenantId
  }
  {
    name: 'GUESTSYNC_HOST_CLIENT_ID'
    value: hostClientId
  }
  {
    name: 'GUESTSYNC_HOST_SECRET_NAME'
    value: hostSecretName
  }
  {
    name: 'GUESTSYNC_KEYVAULT_URL'
    value: keyVaultUrl
  }
  {
    name: 'GUESTSYNC_STORE'
    value: 'https://${storageAccountName}.table.${environment().suffixes.storage}'
  }
  {
    name: 'GUESTSYNC_GRAPH_URL'
    value: graphUrl
  }
  {
    name: 'GUESTSYNC_AUTHORITY_URL'
    value: authorityUrl
  }
  {
    name: 'GUESTSYNC_INVITE_REDIRECT_URL'
    value: inviteRedirectUrl
  }
  {
    name: 'GUESTSYNC_HOST_GROUP_ID'
    value: hostGroupId
  }
  {
    name: 'GUESTSYNC_DEPROVISION'
    value: deprovisionMode
  }
  {
    name: 'GUESTSYNC_MAX_DEPROVISIONS'
    value: maxDeprovisions
  }
  {
    name: 'GUESTSYNC_DRY_RUN'
    value: string(dryRun)
  }
  {
    name: 'GUESTSYNC_SYNC_SCHEDULE'
    value: syncSchedule
  }
  {
    name: 'GUESTSYNC_PHOTO_SCHEDULE'
    value: photoSchedule
  }
  {
    name: 'GUESTSYNC_REDEMPTION_SCHEDULE'
    value: redemptionSchedule
  }
  {
    name: 'GUESTSYNC_DELTA_SCHEDULE'
    value: deltaSchedule
  }
  {
    name: 'GUESTSYNC_FULL_RECONCILE_HOURS'
    value: string(fullReconcileHours)
  }
  {
    name: 'GUESTSYNC_JOB_BUDGET_SECS'
    value: string(jobBudgetSecs)
  }
  {
    name: 'GUESTSYNC_RETENTION_DAYS'
    value: string(retentionDays)
  }
  {
    name: 'GUESTSYNC_ANCHOR_ATTRIBUTE'
    value: anchorAttribute
  }
  {
    name: 'GUESTSYNC_FEDERATED_APP_ID'
    value: federatedAppId
  }
  {
    name: 'GUESTSYNC_HOST_CREDENTIAL'
    value: hostCredential
  }
  {
    name: 'GUESTSYNC_LOG_FORMAT'
    value: 'json'
  }
  {
    name: 'RUST_LOG'
    value: 'info'
  }
]

// Elastic Premium only: Flex Consumption takes the runtime from
// functionAppConfig and refuses these settings.
var premiumSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'custom'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE'
    value: '1'
  }
]

var planSettings = isFlex ? [] : premiumSettings

var flexSku = {
  name: 'FC1'
  tier: 'FlexConsumption'
}

var premiumSku = {
  name: 'EP1'
  tier: 'ElasticPremium'
}

var flexAppConfig = {
  deployment: {
    storage: {
      type: 'blobContainer'
      value: '${blobEndpoint}${deploymentContainerName}'
      authentication: {
        type: 'UserAssignedIdentity'
        userAssignedIdentityResourceId: identityId
      }
    }
  }
  scaleAndConcurrency: {
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  runtime: {
    name: 'custom'
    version: '1.0'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  kind: isFlex ? 'functionapp' : 'elastic'
  // checkov:skip=CKV_AZURE_225: zone redundancy needs a region that offers it for FC1 and at least 3 always-ready EP1 instances; the work is queue-driven and resumes after a zonal outage, so the default plan is not zone redundant.
  sku: isFlex ? flexSku : premiumSku
  properties: {
    reserved: true
    maximumElasticWorkerCount: isFlex ? null : 3
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222: the report and provision HTTP functions are called from outside (function key + HTTPS); timer and queue triggers need no inbound access. Put the app behind a private endpoint or access restrictions if only internal callers use them.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero and adds instances on demand; a missed timer tick is made up by the next one and queue items wait, so no minimum instance count is needed.
  // checkov:skip=CKV_AZURE_213: the custom handler serves function routes only; the Functions host monitors and restarts the handler process itself (health check path is not used with Flex Consumption).
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    publicNetworkAccess: 'Enabled'
    functionAppConfig: isFlex ? flexAppConfig : null
    siteConfig: {
      // checkov:skip=CKV_AZURE_17: client certificates do not fit timer/queue functions; the two HTTP functions (report, provision) need a function key and HTTPS.
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: concat(hostStorageSettings, telemetrySettings, allocatorSettings, guestSyncSettings, planSettings)
    }
  }
}

resource ftpOff 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

@description('Function app name.')
output name string = site.name

@description('Function app resource id.')
output id string = site.id

@description('Default host name (https://<name>.azurewebsites.net).')
output defaultHostName string = site.properties.defaultHostName
