// Example parameters: copy, fill in the <...> values, then
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
using './main.bicep'

param baseName = 'guestsync'
param planKind = 'FlexConsumption'
param hostClientId = '00000000-0000-0000-0000-000000000000' // <host app registration client id>
param hostSecretName = 'host-app-secret'
param alertEmail = 'guest-sync-ops@example.com' // <operator mailbox>
param adminObjectId = '' // <your object id: az ad signed-in-user show --query id -o tsv>
param deprovisionMode = 'delete'
param maxDeprovisions = '10%'
param dryRun = true // first deployment: plan and report only; set false when the report looks right
