// guest-sync: one deployment from an empty resource group to a running,
// least-privilege, monitored function app. See infra/README.md.
//
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
//
// Resources: user-assigned identity; storage (host storage, deployment
// container, work + poison queues, store tables; shared keys off); Key Vault
// (RBAC, purge protection); Log Analytics + Application Insights (local auth
// off); Flex Consumption (FC1) or Elastic Premium (EP1) function app with the
// custom runtime; role assignments; action group, alert rules, workbook.

targetScope = 'resourceGroup'

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Short name used in resource names (lowercase letters and digits).')
@minLength(3)
@maxLength(11)
param baseName string = 'guestsync'

@description('FlexConsumption (FC1 Linux, default) or ElasticPremium (EP1 Linux, always warm, FUNCTIONS_WORKER_RUNTIME=custom).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param planKind string = 'FlexConsumption'

@description('Flex Consumption: most instances the app scales out to. The host tenant\'s Graph write budget (shared by all instances), not compute, is the limit; 4 instances x 6 jobs each cover 24 tenants at once (infra/README.md, "Scale-out, memory and the write budget").')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 4

@description('GUESTSYNC_HOST_TENANT_ID: the host tenant (default: this subscription\'s tenant).')
param hostTenantId string = tenant().tenantId

@description('GUESTSYNC_HOST_CLIENT_ID: client id of the host app registration (User.Invite.All, User.ReadWrite.All).')
@minLength(36)
@maxLength(36)
param hostClientId string

@description('GUESTSYNC_HOST_SECRET_NAME: Key Vault secret holding the host app\'s client secret (you add it after deploying).')
param hostSecretName string = 'host-app-secret'

@description('E-mail address receiving the alerts.')
param alertEmail string

@description('Object id of the administrator (user, group or service principal) who gets Key Vault Secrets Officer (add tenant secrets) and Storage Table Data Contributor (the CLI writes the tenant registry); empty = none.')
param adminObjectId string = ''

@description('Principal type of adminObjectId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param adminPrincipalType string = 'User'

@description('GUESTSYNC_GRAPH_URL (national clouds).')
param graphUrl string = 'https://graph.microsoft.com'

@description('GUESTSYNC_AUTHORITY_URL (national clouds).')
param authorityUrl string = 'https://login.microsoftonline.com'

@description('GUESTSYNC_INVITE_REDIRECT_URL; empty = https://myapplications.microsoft.com/?tenantid=<host>.')
param inviteRedirectUrl string = ''

@description('GUESTSYNC_HOST_GROUP_ID: host group every managed guest joins; empty = none (then the host app needs no GroupMember.ReadWrite.All).')
param hostGroupId string = ''

@description('GUESTSYNC_DEPROVISION: delete (soft delete, restorable 30 days) or disable (block sign-in).')
@allowed([
  'delete'
  'disable'
])
param deprovisionMode string = 'delete'

@description('GUESTSYNC_MAX_DEPROVISIONS: most guests one run may remove, a count (50) or a percentage of managed guests (10%).')
param maxDeprovisions string = '10%'

@description('GUESTSYNC_DRY_RUN: plan and report only, write nothing to Graph (a safe first deployment).')
param dryRun bool = false

@description('GUESTSYNC_SYNC_SCHEDULE (NCRONTAB, six fields).')
param syncSchedule string = '0 */30 * * * *'

@description('GUESTSYNC_PHOTO_SCHEDULE (NCRONTAB, six fields).')
param photoSchedule string = '0 0 3 * * *'

@description('GUESTSYNC_REDEMPTION_SCHEDULE (NCRONTAB, six fields); also checks secret expiry.')
param redemptionSchedule string = '0 15 */4 * * *'

@description('GUESTSYNC_DELTA_SCHEDULE (NCRONTAB, six fields): the delta-timer, which enqueues the same reconcile work items as the sync timer, more often.')
param deltaSchedule string = '0 */2 * * * *'

@description('GUESTSYNC_FULL_RECONCILE_HOURS: a reconcile reads only changes (Graph delta queries) between full reads of both sides made every this many hours; 0 = always full.')
@minValue(0)
@maxValue(720)
param fullReconcileHours int = 24

@description('GUESTSYNC_JOB_BUDGET_SECS: one tenant job\'s time budget; keep it under host.json functionTimeout (10 min).')
@minValue(60)
@maxValue(3600)
param jobBudgetSecs int = 480

@description('GUESTSYNC_RETENTION_DAYS: days of run and audit history kept in the store.')
@minValue(1)
@maxValue(3650)
param retentionDays int = 90

@description('GUESTSYNC_ANCHOR_ATTRIBUTE: where each managed guest carries its ownership anchor: extensionAttribute1..15 (nothing to create; the default), a directory extension extension_<appId>_<name> created on the host app (see infra/README.md), or none.')
param anchorAttribute string = 'extensionAttribute15'

@description('GUESTSYNC_FEDERATED_APP_ID: client id of the multi-tenant app that trusts this deployment\'s managed identity (infra/secretless.sh creates it after the first deployment; empty = no secretless source tenants).')
param federatedAppId string = ''

@description('GUESTSYNC_HOST_CREDENTIAL: secret (the host app\'s client secret) or managed-identity (infra/secretless.sh assigns the host\'s Graph roles to the identity; no host secret).')
@allowed([
  'secret'
  'managed-identity'
])
param hostCredential string = 'secret'

@description('Days Log Analytics keeps the logs.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Throttled Graph responses per 15 minutes that count as throttling for the alert.')
@minValue(1)
param throttleAlertThreshold int = 50

var suffix = uniqueString(resourceGroup().id, baseName)
var appName = 'func-${baseName}-${suffix}'
var storageAccountName = take('st${baseName}${suffix}', 24)
var vaultName = take('kv-${baseName}-${suffix}', 24)
var deploymentContainerName = 'app-package'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${baseName}-${suffix}'
  location: location
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: 'log-${baseName}-${suffix}'
    appInsightsName: 'appi-${baseName}-${suffix}'
    retentionInDays: logRetentionDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    storageAccountName: storageAccountName
    deploymentContainerName: deploymentContainerName
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    vaultName: vaultName
    workspaceId: monitoring.outputs.workspaceId
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: identity.properties.principalId
    storageAccountName: storage.outputs.name
    vaultName: vault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    adminObjectId: adminObjectId
    adminPrincipalType: adminPrincipalType
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  dependsOn: [
    roles
  ]
  params: {
    location: location
    appName: appName
    planName: 'plan-${baseName}-${suffix}'
    planKind: planKind
    maximumInstanceCount: maximumInstanceCount
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUrl: vault.outputs.uri
    hostTenantId: hostTenantId
    hostClientId: hostClientId
    hostSecretName: hostSecretName
    graphUrl: graphUrl
    authorityUrl: authorityUrl
    inviteRedirectUrl: inviteRedirectUrl
    hostGroupId: hostGroupId
    deprovisionMode: deprovisionMode
    maxDeprovisions: maxDeprovisions
    dryRun: dryRun
    syncSchedule: syncSchedule
    photoSchedule: photoSchedule
    redemptionSchedule: redemptionSchedule
    deltaSchedule: deltaSchedule
    fullReconcileHours: fullReconcileHours
    jobBudgetSecs: jobBudgetSecs
    retentionDays: retentionDays
    anchorAttribute: anchorAttribute
    federatedAppId: federatedAppId
    hostCredential: hostCredential
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    appInsightsId: monitoring.outputs.appInsightsId
    namePrefix: baseName
    alertEmail: alertEmail
    throttleThreshold: throttleAlertThreshold
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    appInsightsId: monitoring.outputs.appInsightsId
  }
}

@description('Function app name (for func azure functionapp publish).')
output functionAppName string = app.outputs.name

@description('Key Vault URL (GUESTSYNC_KEYVAULT_URL for the CLI).')
output keyVaultUrl string = vault.outputs.uri

@description('Storage account name.')
output storageAccountName string = storage.outputs.name

@description('Principal (object) id of the app\'s managed identity: the subject of the secretless app\'s federated credential (infra/secretless.sh).')
output identityPrincipalId string = identity.properties.principalId

@description('Client id of the app\'s managed identity.')
output identityClientId string = identity.properties.clientId

@description('What to run next (no secrets: the host secret is typed in, never passed through the deployment).')
output nextCommands array = [
  'az keyvault secret set --vault-name ${vault.outputs.name} --name ${hostSecretName} --file /dev/stdin --expires <YYYY-MM-DDT00:00:00Z>   # type the host app secret, Enter, Ctrl-D'
  'scripts/package.sh --musl && cd dist/functionapp && func azure functionapp publish ${app.outputs.name}'
  'export GUESTSYNC_KEYVAULT_URL=${vault.outputs.uri} GUESTSYNC_STORE=https://${storage.outputs.name}.table.${environment().suffixes.storage} GUESTSYNC_HOST_TENANT_ID=${hostTenantId} GUESTSYNC_HOST_CLIENT_ID=${hostClientId} GUESTSYNC_HOST_SECRET_NAME=${hostSecretName}'
  'guest-sync tenant add --tenant-id <source-tenant-id> --client-id <source-app-id> --group-id <source-group-id> --name <name> --secret-name <name>-app-secret --secret-stdin --secret-expires <YYYY-MM-DD>'
]
