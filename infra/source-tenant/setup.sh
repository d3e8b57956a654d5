#!/usr/bin/env bash
# guest-sync: prepare a SOURCE tenant. Run by the source tenant's
# administrator (Global Administrator or Privileged Role Administrator, for
# the admin consent), in a terminal, with the Azure CLI signed in to the
# source tenant:
#
#   az login --tenant <source-tenant-id> --allow-no-subscriptions
#   ./setup.sh --host-name "Fabrikam" [--host-tenant-id ID] [--app-name NAME]
#              [--group-name NAME | --group-id ID] [--secret-months 12] [--no-secret]
#   ./setup.sh --secretless <host app id> [--host-tenant-id ID]
#              [--group-name NAME | --group-id ID]
#
# What it does (idempotent: re-running reuses the app and the group):
#   1. an app registration (single tenant) with exactly two Microsoft Graph
#      *application* permissions: GroupMember.Read.All and User.Read.All;
#   2. its service principal and the admin consent for those two permissions
#      (granted as app role assignments, which is what admin consent does);
#   3. a client secret with an expiry date (default 12 months, at most 24);
#   4. the security group whose members become guests in the host tenant
#      (or an existing group with --group-id);
#   *. with --host-tenant-id: the source's side of automatic redemption, the
#      outbound trust setting "Automatically redeem invitations with the
#      tenant" for the host (cross-tenant access partner entry for the host,
#      automaticUserConsentSettings.outboundAllowed = true; the entry is
#      created if missing). Needs Policy.ReadWrite.CrossTenantAccess, i.e. the
#      Security Administrator role at least; when refused, the script warns
#      and names the portal steps (guests then see a consent prompt once);
#   5. prints what the host administrator needs. The client secret is shown
#      ONCE, on the terminal only; pass it to the host admin through a
#      secure channel (not e-mail or chat), never store it in a file.
#
# The app this creates can write nothing in the source directory: it only
# reads users and group memberships.
set -euo pipefail

GRAPH_APP_ID="00000003-0000-0000-c000-000000000000"
# Microsoft Graph application role ids (stable, documented by Microsoft).
ROLE_GROUPMEMBER_READ_ALL="98830695-27a2-44f7-8c18-0c3ebc9698f6"
ROLE_USER_READ_ALL="df021288-bdef-4463-88db-98f22de89214"

APP_NAME="guest-sync source reader"
GROUP_NAME="guest-sync members"
GROUP_ID=""
HOST_NAME=""
HOST_TENANT_ID=""
SECRET_MONTHS=12
CREATE_SECRET=1
# --secretless: the host's multi-tenant app id (GUESTSYNC_FEDERATED_APP_ID):
# no app registration and no secret here, only the group and the consent URL.
SECRETLESS_APP=""

die() { echo "error: $*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*" >&2; }

usage() {
  sed -n '2,/^set -euo pipefail/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --app-name) APP_NAME="${2:?--app-name needs a value}"; shift 2 ;;
    --group-name) GROUP_NAME="${2:?--group-name needs a value}"; shift 2 ;;
    --group-id) GROUP_ID="${2:?--group-id needs a value}"; shift 2 ;;
    --host-name) HOST_NAME="${2:?--host-name needs a value}"; shift 2 ;;
    --host-tenant-id) HOST_TENANT_ID="${2:?--host-tenant-id needs a value}"; shift 2 ;;
    --secret-months) SECRET_MONTHS="${2:?--secret-months needs a value}"; shift 2 ;;
    --no-secret) CREATE_SECRET=0; shift ;;
    --secretless) SECRETLESS_APP="${2:?--secretless needs the host app id}"; CREATE_SECRET=0; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option: $1" >&2; usage 2 ;;
  esac
done

command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed: https://aka.ms/azcli"
case "$SECRET_MONTHS" in
  ''|*[!0-9]*) die "--secret-months must be a whole number of months (1-24), got '$SECRET_MONTHS'" ;;
esac
if [ "$SECRET_MONTHS" -lt 1 ] || [ "$SECRET_MONTHS" -gt 24 ]; then
  die "--secret-months must be 1-24 (Microsoft recommends less than 12), got $SECRET_MONTHS"
fi
GUID_RE='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
if [ -n "$SECRETLESS_APP" ] && ! [[ "$SECRETLESS_APP" =~ $GUID_RE ]]; then
  die "--secretless must be the host app's Application (client) ID, a GUID, got '$SECRETLESS_APP'"
fi
if [ -n "$GROUP_ID" ] && ! [[ "$GROUP_ID" =~ $GUID_RE ]]; then
  die "--group-id must be a GUID, got '$GROUP_ID'"
fi
if [ -n "$HOST_TENANT_ID" ] && ! [[ "$HOST_TENANT_ID" =~ $GUID_RE ]]; then
  die "--host-tenant-id must be a GUID (the host tenant's Directory (tenant) ID), got '$HOST_TENANT_ID'"
fi
# The secret goes to the terminal only: check there is one before creating it.
if [ "$CREATE_SECRET" = 1 ] && ! { : >/dev/tty; } 2>/dev/null; then
  die "no terminal to show the client secret on; run this interactively, or use --no-secret and create the secret in the portal"
fi

step "Checking the Azure CLI sign-in"
TENANT_ID="$(az account show --query tenantId -o tsv 2>/dev/null)" \
  || die "not signed in: run  az login --tenant <source-tenant-id> --allow-no-subscriptions"
TENANT_NAME="$(az rest --method GET --url 'https://graph.microsoft.com/v1.0/organization?$select=displayName' \
  --query 'value[0].displayName' -o tsv 2>/dev/null || echo "$TENANT_ID")"
echo "source tenant: $TENANT_NAME ($TENANT_ID)" >&2

if [ -n "$SECRETLESS_APP" ]; then
APP_ID="$SECRETLESS_APP"
step "1/5 App registration: none here (secretless: the host's app $APP_ID signs in)"
step "2/5 Admin consent: open the URL printed at the end and accept"
else
step "1/5 App registration '$APP_NAME' (GroupMember.Read.All + User.Read.All, application)"
MANIFEST="$(mktemp)"
trap 'rm -f "$MANIFEST"' EXIT
cat >"$MANIFEST" <<JSON
[{"resourceAppId": "$GRAPH_APP_ID",
  "resourceAccess": [
    {"id": "$ROLE_GROUPMEMBER_READ_ALL", "type": "Role"},
    {"id": "$ROLE_USER_READ_ALL", "type": "Role"}]}]
JSON
APP_ID="$(az ad app list --display-name "$APP_NAME" --query '[0].appId' -o tsv)"
if [ -z "$APP_ID" ]; then
  APP_ID="$(az ad app create --display-name "$APP_NAME" --sign-in-audience AzureADMyOrg \
    --required-resource-accesses "@$MANIFEST" --query appId -o tsv)"
  echo "created app $APP_ID" >&2
else
  # Reset the permission list to exactly the two (removes anything added by hand).
  az ad app update --id "$APP_ID" --required-resource-accesses "@$MANIFEST"
  echo "reusing app $APP_ID (permissions reset to exactly the two)" >&2
fi

step "2/5 Service principal and admin consent"
SP_ID="$(az ad sp list --filter "appId eq '$APP_ID'" --query '[0].id' -o tsv)"
if [ -z "$SP_ID" ]; then
  SP_ID="$(az ad sp create --id "$APP_ID" --query id -o tsv)"
fi
GRAPH_SP_ID="$(az ad sp show --id "$GRAPH_APP_ID" --query id -o tsv)"
grant_role() {
  local role="$1" tries=0 out
  # A new service principal takes a few seconds to replicate: retry.
  while :; do
    if out="$(az rest --method POST \
        --url "https://graph.microsoft.com/v1.0/servicePrincipals/$SP_ID/appRoleAssignments" \
        --headers 'Content-Type=application/json' \
        --body "{\"principalId\":\"$SP_ID\",\"resourceId\":\"$GRAPH_SP_ID\",\"appRoleId\":\"$role\"}" 2>&1)"; then
      return 0
    fi
    case "$out" in
      *"already exists"*) return 0 ;;
      *Authorization_RequestDenied*|*Forbidden*)
        die "admin consent refused: sign in as a Global Administrator or Privileged Role Administrator" ;;
    esac
    tries=$((tries + 1))
    [ "$tries" -ge 12 ] && die "could not grant app role $role after $tries attempts: $out"
    sleep 5
  done
}
grant_role "$ROLE_GROUPMEMBER_READ_ALL"
grant_role "$ROLE_USER_READ_ALL"
echo "consented: GroupMember.Read.All, User.Read.All (application)" >&2
fi

step "3/5 Security group"
if [ -z "$GROUP_ID" ]; then
  GROUP_ID="$(az ad group list --display-name "$GROUP_NAME" --query '[0].id' -o tsv)"
  if [ -z "$GROUP_ID" ]; then
    NICK="$(printf '%s' "$GROUP_NAME" | tr -cd 'A-Za-z0-9' | cut -c1-50)"
    GROUP_ID="$(az ad group create --display-name "$GROUP_NAME" --mail-nickname "${NICK:-guestsync}" \
      --description "Members become guests in ${HOST_NAME:-the host tenant} (guest-sync). Nested groups count." \
      --query id -o tsv)"
    echo "created group $GROUP_ID; add users (or groups of users) to it" >&2
  else
    echo "reusing group $GROUP_ID" >&2
  fi
else
  az ad group show --group "$GROUP_ID" --query id -o tsv >/dev/null \
    || die "group $GROUP_ID was not found in this tenant"
fi

EXPIRES=""
SECRET=""
if [ "$CREATE_SECRET" = 1 ]; then
  step "4/5 Client secret (valid $SECRET_MONTHS months)"
  EXPIRES="$(date -u -d "+$SECRET_MONTHS months" +%Y-%m-%d 2>/dev/null \
    || date -u -v+"$SECRET_MONTHS"m +%Y-%m-%d)"
  SECRET="$(az ad app credential reset --id "$APP_ID" --append \
    --display-name "guest-sync $(date -u +%Y-%m-%d)" --end-date "$EXPIRES" \
    --query password -o tsv 2>/dev/null)" || die "could not create the client secret"
else
  step "4/5 Client secret: skipped (--no-secret); create one under Certificates & secrets"
fi

step "Automatic redemption: outbound trust for the host tenant"
PORTAL_OUTBOUND="Entra admin center > External Identities > Cross-tenant access settings > Organizational settings > Add organization (the host tenant) > Outbound access > Trust settings > tick 'Automatically redeem invitations with the tenant'"
AUTO_REDEEM="not set"
# The source's partner entry for the host: PATCH it, or create it (POST)
# when Graph answers 404. A refusal is a warning: everything else is done.
set_outbound_auto_redeem() {
  local base="https://graph.microsoft.com/v1.0/policies/crossTenantAccessPolicy/partners"
  local out
  if out="$(az rest --method GET --url "$base/$HOST_TENANT_ID" 2>&1)"; then
    if out="$(az rest --method PATCH --url "$base/$HOST_TENANT_ID" \
        --headers 'Content-Type=application/json' \
        --body '{"automaticUserConsentSettings":{"outboundAllowed":true}}' 2>&1)"; then
      AUTO_REDEEM="on (partner entry for $HOST_TENANT_ID updated)"
    fi
  else
    case "$out" in
      *NotFound*|*"Not Found"*|*404*)
        if out="$(az rest --method POST --url "$base" \
            --headers 'Content-Type=application/json' \
            --body "{\"tenantId\":\"$HOST_TENANT_ID\",\"automaticUserConsentSettings\":{\"outboundAllowed\":true}}" 2>&1)"; then
          AUTO_REDEEM="on (partner entry for $HOST_TENANT_ID created)"
        fi ;;
    esac
  fi
  if [ "$AUTO_REDEEM" = "not set" ]; then
    case "$out" in
      *Forbidden*|*Authorization_RequestDenied*|*403*)
        echo "warning: not allowed to change the cross-tenant access settings (sign in as a Security Administrator). Until it is set, guests see a consent prompt at their first sign-in. Set it in the portal: $PORTAL_OUTBOUND" >&2 ;;
      *)
        echo "warning: could not set automatic redemption: $out" >&2
        echo "Set it in the portal: $PORTAL_OUTBOUND" >&2 ;;
    esac
  fi
}
if [ -z "$HOST_TENANT_ID" ]; then
  echo "skipped: no --host-tenant-id given. Re-run with --host-tenant-id <host tenant id>, or set it in the portal: $PORTAL_OUTBOUND" >&2
else
  set_outbound_auto_redeem
fi
echo "automatic redemption (outbound): $AUTO_REDEEM" >&2

step "5/5 Values for the host administrator"
SECRET_NAME="$(printf '%s' "$TENANT_NAME" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9' '-' | tr -s '-' | sed 's/^-//; s/-$//' | cut -c1-100)-app-secret"
if [ -n "$SECRETLESS_APP" ]; then
cat <<EOF
source tenant id : $TENANT_ID
group id         : $GROUP_ID
display name     : $TENANT_NAME

Grant admin consent to the host's app (GroupMember.Read.All, User.Read.All;
no secret exists): open this URL signed in as a Global Administrator and accept:
  https://login.microsoftonline.com/$TENANT_ID/v2.0/adminconsent?client_id=$APP_ID&scope=https://graph.microsoft.com/.default

The host administrator runs:
  guest-sync tenant add --secretless --tenant-id $TENANT_ID \\
    --group-id $GROUP_ID --name "$TENANT_NAME"
EOF
exit 0
fi
cat <<EOF
source tenant id : $TENANT_ID
app (client) id  : $APP_ID
group id         : $GROUP_ID
display name     : $TENANT_NAME
secret expires   : ${EXPIRES:-(create the secret in the portal)}
auto-redemption  : outbound $AUTO_REDEEM (the host admin sets inbound: infra/host-cross-tenant.sh)

The host administrator runs (and pastes the client secret when asked):
  guest-sync tenant add --tenant-id $TENANT_ID --client-id $APP_ID \\
    --group-id $GROUP_ID --name "$TENANT_NAME" --secret-name $SECRET_NAME \\
    --secret-stdin${EXPIRES:+ --secret-expires $EXPIRES}
EOF
if [ -n "$SECRET" ]; then
  {
    printf '\n!!! CLIENT SECRET: shown once, now. Copy it into a secure channel to the host\n'
    printf '!!! administrator (or straight into their Key Vault). Do not e-mail it, do not save it\n'
    printf '!!! in a file, clear your terminal scrollback afterwards.\n\n'
    printf '    %s\n\n' "$SECRET"
  } >/dev/tty
fi
unset SECRET
