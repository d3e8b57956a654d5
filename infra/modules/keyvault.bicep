// Key Vault for the host app's and every source tenant's client secret.
// RBAC mode (no access policies), soft delete + purge protection, audit log
// to Log Analytics.

@description('Azure region.')
param location string

@description('Key Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param vaultName string

@description('Log Analytics workspace receiving the vault audit log.')
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // checkov:skip=CKV_AZURE_109: the Flex Consumption app (no VNet integration) and the admin's `guest-sync tenant add` reach the vault over its public endpoint; every call needs an Entra token and an RBAC role. Add a private endpoint to close it.
      // checkov:skip=CKV_AZURE_189: public network access stays on for the Flex Consumption app without VNet integration and the admin's CLI; RBAC + Entra tokens guard every call. Add a private endpoint to close it.
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

@description('Key Vault name.')
output name string = vault.name

@description('Key Vault resource id.')
output id string = vault.id

@description('Vault URL (https://<vault>.vault.azure.net/).')
output uri string = vault.properties.vaultUri
