#!/usr/bin/env bash
# guest-sync: the HOST side of secretless sign-in, run once after the first
# `az deployment group create` by a host administrator (Application
# Administrator + Privileged Role Administrator, or Global Administrator),
# with the Azure CLI signed in to the host tenant:
#
#   ./infra/secretless.sh --identity-principal-id <output identityPrincipalId> \
#       [--app-name "guest-sync secretless reader"] [--host-roles]
#
# Why a script and not Bicep: the Microsoft Graph Bicep extension
# (`extension microsoftGraphV1`, Microsoft.Graph/applications, …) cannot be
# checked offline here (the tree-sitter grammar of tests/infra rejects the
# `extension` statement and no Bicep compiler is installed), so the Graph
# objects are created with `az rest` against Microsoft Graph v1.0 instead.
#
# What it does (idempotent: re-running reuses the app):
#   1. a MULTI-TENANT app registration (signInAudience AzureADMultipleOrgs)
#      requiring exactly GroupMember.Read.All and User.Read.All
#      (application); it has no secret and never gets one;
#   2. a federated identity credential on it trusting the function app's
#      user-assigned managed identity: issuer
#      https://login.microsoftonline.com/<host tenant>/v2.0, subject = the
#      identity's principal id, audience api://AzureADTokenExchange;
#   3. with --host-roles: the host's Graph application roles
#      (User.Invite.All, User.ReadWrite.All, GroupMember.ReadWrite.All)
#      assigned to the managed identity's service principal, so the host
#      needs no app secret either (GUESTSYNC_HOST_CREDENTIAL=managed-identity);
#   4. prints the parameters to deploy again with: federatedAppId=<app id>
#      (and hostCredential=managed-identity with --host-roles).
set -euo pipefail

GRAPH_APP_ID="00000003-0000-0000-c000-000000000000"
# Microsoft Graph application role ids (stable, documented by Microsoft).
ROLE_GROUPMEMBER_READ_ALL="98830695-27a2-44f7-8c18-0c3ebc9698f6"
ROLE_USER_READ_ALL="df021288-bdef-4463-88db-98f22de89214"
ROLE_USER_INVITE_ALL="09850681-111b-4a89-9bed-3f2cae46d706"
ROLE_USER_READWRITE_ALL="741f803b-c850-494e-b5df-cde7c675a1ca"
ROLE_GROUPMEMBER_READWRITE_ALL="dbaae8cf-10b5-4b86-a4a1-f871c94c6695"
GRAPH="https://graph.microsoft.com/v1.0"

APP_NAME="guest-sync secretless reader"
PRINCIPAL_ID=""
HOST_ROLES=0

die() { echo "error: $*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*" >&2; }
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --identity-principal-id) PRINCIPAL_ID="${2:?--identity-principal-id needs a value}"; shift 2 ;;
    --app-name) APP_NAME="${2:?--app-name needs a value}"; shift 2 ;;
    --host-roles) HOST_ROLES=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option: $1" >&2; usage 2 ;;
  esac
done

GUID_RE='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
[[ "$PRINCIPAL_ID" =~ $GUID_RE ]] || die "--identity-principal-id: give the deployment output identityPrincipalId (a GUID)"
command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed: https://aka.ms/azcli"
TENANT_ID="$(az account show --query tenantId -o tsv 2>/dev/null)" \
  || die "not signed in: az login --tenant <host-tenant-id>"

step "1/4 Multi-tenant app '$APP_NAME' (GroupMember.Read.All + User.Read.All, application; no secret)"
APP_OBJ="$(az ad app list --display-name "$APP_NAME" --query '[0].id' -o tsv)"
BODY=$(cat <<JSON
{"displayName": "$APP_NAME", "signInAudience": "AzureADMultipleOrgs",
 "requiredResourceAccess": [{"resourceAppId": "$GRAPH_APP_ID", "resourceAccess": [
   {"id": "$ROLE_GROUPMEMBER_READ_ALL", "type": "Role"},
   {"id": "$ROLE_USER_READ_ALL", "type": "Role"}]}]}
JSON
)
if [ -z "$APP_OBJ" ]; then
  APP_OBJ="$(az rest --method POST --url "$GRAPH/applications" --body "$BODY" --query id -o tsv)"
  echo "created app object $APP_OBJ" >&2
else
  az rest --method PATCH --url "$GRAPH/applications/$APP_OBJ" --body "$BODY" >/dev/null
  echo "reusing app object $APP_OBJ (audience and permissions reset)" >&2
fi
APP_ID="$(az rest --method GET --url "$GRAPH/applications/$APP_OBJ" --query appId -o tsv)"

step "2/4 Federated identity credential trusting the managed identity $PRINCIPAL_ID"
ISSUER="https://login.microsoftonline.com/$TENANT_ID/v2.0"
EXISTING="$(az rest --method GET --url "$GRAPH/applications/$APP_OBJ/federatedIdentityCredentials" \
  --query "value[?subject=='$PRINCIPAL_ID'].id | [0]" -o tsv)"
if [ -z "$EXISTING" ]; then
  az rest --method POST --url "$GRAPH/applications/$APP_OBJ/federatedIdentityCredentials" --body "$(cat <<JSON
{"name": "guest-sync-function-app", "issuer": "$ISSUER", "subject": "$PRINCIPAL_ID",
 "audiences": ["api://AzureADTokenExchange"],
 "description": "The guest-sync function app's user-assigned managed identity"}
JSON
)" >/dev/null
  echo "trusted: issuer $ISSUER, subject $PRINCIPAL_ID, audience api://AzureADTokenExchange" >&2
else
  echo "already trusted ($EXISTING)" >&2
fi

if [ "$HOST_ROLES" = 1 ]; then
  step "3/4 Host Graph roles for the managed identity (no host secret)"
  GRAPH_SP="$(az ad sp show --id "$GRAPH_APP_ID" --query id -o tsv)"
  for role in "$ROLE_USER_INVITE_ALL" "$ROLE_USER_READWRITE_ALL" "$ROLE_GROUPMEMBER_READWRITE_ALL"; do
    have="$(az rest --method GET --url "$GRAPH/servicePrincipals/$PRINCIPAL_ID/appRoleAssignments" \
      --query "value[?appRoleId=='$role'].id | [0]" -o tsv)"
    if [ -z "$have" ]; then
      az rest --method POST --url "$GRAPH/servicePrincipals/$GRAPH_SP/appRoleAssignedTo" --body \
        "{\"principalId\": \"$PRINCIPAL_ID\", \"resourceId\": \"$GRAPH_SP\", \"appRoleId\": \"$role\"}" >/dev/null
    fi
  done
  echo "assigned: User.Invite.All, User.ReadWrite.All, GroupMember.ReadWrite.All" >&2
else
  step "3/4 Host Graph roles: skipped (the host keeps its app secret; --host-roles to drop it)"
fi

step "4/4 Deploy again with"
cat <<EOF
  -p federatedAppId=$APP_ID$( [ "$HOST_ROLES" = 1 ] && printf ' hostCredential=managed-identity' )

Then register secretless source tenants with
  guest-sync tenant add --secretless --tenant-id <source> --group-id <group> --name <name>
which prints the admin-consent URL for each source administrator:
  https://login.microsoftonline.com/<source>/v2.0/adminconsent?client_id=$APP_ID&scope=https://graph.microsoft.com/.default
EOF
