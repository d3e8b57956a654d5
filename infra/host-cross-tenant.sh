#!/usr/bin/env bash
# guest-sync: the HOST tenant's side of automatic redemption. Run by the host
# tenant's administrator (Security Administrator at least: it changes the
# cross-tenant access settings, Policy.ReadWrite.CrossTenantAccess), with the
# Azure CLI signed in to the host tenant:
#
#   az login --tenant <host-tenant-id> --allow-no-subscriptions
#   ./host-cross-tenant.sh <source-tenant-id>...
#   ./host-cross-tenant.sh --registered     # every tenant `guest-sync tenant list --json` shows
#
# For each source tenant (idempotent):
#   - its partner entry in the host's cross-tenant access settings is created
#     when missing (POST /policies/crossTenantAccessPolicy/partners);
#   - inbound automatic redemption is allowed: the trust setting
#     "Automatically redeem invitations with the tenant"
#     (automaticUserConsentSettings.inboundAllowed = true, PATCH);
#   - inbound B2B collaboration blocked for that tenant (in the entry, or
#     inherited from the default) is reported, not changed: that is a
#     decision for the host's security administrator (the portal steps are
#     printed).
# Guests are redeemed without a consent prompt only when the source admin
# has set the outbound side too (infra/source-tenant/setup.sh
# --host-tenant-id). Afterwards, `guest-sync tenant test <id>` reads and
# stores the result (the dashboard shows it; the daily check refreshes it).
set -euo pipefail

GRAPH="https://graph.microsoft.com/v1.0/policies/crossTenantAccessPolicy"
GUID_RE='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
PORTAL="Entra admin center > External Identities > Cross-tenant access settings > Organizational settings"

die() { echo "error: $*" >&2; exit 1; }
usage() {
  sed -n '2,/^set -euo pipefail/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

TENANTS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --registered)
      command -v guest-sync >/dev/null 2>&1 || die "--registered needs guest-sync on the PATH (and its GUESTSYNC_* settings)"
      mapfile -t found < <(guest-sync tenant list --json | grep -o '"tenantId": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
      TENANTS+=("${found[@]}")
      shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option: $1" >&2; usage 2 ;;
    *) TENANTS+=("$1"); shift ;;
  esac
done
[ "${#TENANTS[@]}" -gt 0 ] || { echo "no source tenant given" >&2; usage 2; }
for t in "${TENANTS[@]}"; do
  [[ "$t" =~ $GUID_RE ]] || die "'$t' is not a tenant id (a GUID: the source's Directory (tenant) ID)"
done
command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed: https://aka.ms/azcli"
HOST_ID="$(az account show --query tenantId -o tsv 2>/dev/null)" \
  || die "not signed in: run  az login --tenant <host-tenant-id> --allow-no-subscriptions"
echo "host tenant: $HOST_ID" >&2

refused() {
  case "$1" in
    *Forbidden*|*Authorization_RequestDenied*|*403*)
      die "not allowed to change the cross-tenant access settings: sign in as a Security Administrator (or set it in the portal: $PORTAL > the tenant > Inbound access > Trust settings)" ;;
  esac
}

FAILED=0
for t in "${TENANTS[@]}"; do
  if [ "$t" = "$HOST_ID" ]; then
    echo "$t: the host tenant itself; skipped" >&2
    continue
  fi
  if out="$(az rest --method GET --url "$GRAPH/partners/$t" 2>&1)"; then
    entry="$out"
    if out="$(az rest --method PATCH --url "$GRAPH/partners/$t" \
        --headers 'Content-Type=application/json' \
        --body '{"automaticUserConsentSettings":{"inboundAllowed":true}}' 2>&1)"; then
      echo "$t: inbound automatic redemption on (partner entry updated)"
    else
      refused "$out"; echo "$t: could not update the partner entry: $out" >&2; FAILED=1; continue
    fi
  else
    refused "$out"
    case "$out" in
      *NotFound*|*"Not Found"*|*404*)
        entry=""
        if out="$(az rest --method POST --url "$GRAPH/partners" \
            --headers 'Content-Type=application/json' \
            --body "{\"tenantId\":\"$t\",\"automaticUserConsentSettings\":{\"inboundAllowed\":true}}" 2>&1)"; then
          echo "$t: inbound automatic redemption on (partner entry created; other settings inherit the default)"
        else
          refused "$out"; echo "$t: could not create the partner entry: $out" >&2; FAILED=1; continue
        fi ;;
      *) echo "$t: could not read the partner entry: $out" >&2; FAILED=1; continue ;;
    esac
  fi
  # Inbound B2B collaboration: the entry's own setting, else the default's.
  b2b="$(printf '%s' "$entry" | tr -d ' \n' | grep -o '"b2bCollaborationInbound":{"usersAndGroups":{"accessType":"[a-z]*"' || true)"
  if [ -z "$b2b" ]; then
    b2b="$(az rest --method GET --url "$GRAPH/default" 2>/dev/null | tr -d ' \n' \
      | grep -o '"b2bCollaborationInbound":{"usersAndGroups":{"accessType":"[a-z]*"' || true)"
  fi
  case "$b2b" in
    *'"blocked"')
      echo "$t: WARNING inbound B2B collaboration is blocked for this tenant: guest-sync tenant add refuses it and its guests cannot sign in. To allow: $PORTAL > $t > Inbound access > B2B collaboration > Allow access" >&2 ;;
  esac
done
[ "$FAILED" = 0 ] || exit 1
echo "Done. Check with: guest-sync tenant test <source-tenant-id> (reads and stores the setting)." >&2
