"""Structural assertions on the parsed templates: the runtime, identity-only
storage, the RBAC vault, telemetry without local auth, no secret in any
output or app setting, and least-privilege role assignments."""
from __future__ import annotations

import json
import re

from conftest import INFRA, bicep_files, strip_comments

# Built-in role definition ids allowed in the templates (infra/README.md, Permissions).
ROLE_IDS = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
# What the app's own identity gets, and on what (the resource symbol in roles.bicep).
APP_ROLES = {
    ("Storage Blob Data Owner", "storage"),
    ("Storage Queue Data Contributor", "storage"),
    ("Storage Table Data Contributor", "storage"),
    ("Key Vault Secrets User", "vault"),
    ("Monitoring Metrics Publisher", "appInsights"),
}

# What the optional admin (adminObjectId) gets: secrets for `guest-sync tenant
# add`, and the store's tables, which that CLI writes directly.
ADMIN_ROLES = {
    ("Key Vault Secrets Officer", "vault"),
    ("Storage Table Data Contributor", "storage"),
}


def _resources(parsed, rtype):
    for fname, doc in parsed.items():
        for name, res in doc.get("resources", {}).items():
            if res["type"].lower() == rtype.lower() and not res.get("existing"):
                cfg = res["config"]
                if "condition" in cfg and "config" in cfg:  # `= if (...) {` and loops
                    cfg = {**cfg["config"], "__condition__": cfg["condition"]}
                yield fname, name, cfg


def test_flex_consumption_runs_the_custom_runtime(functionapp):
    """FC1 plan with functionAppConfig.runtime custom 1.0 and identity-authenticated deployment storage."""
    flex = functionapp["variables"]["flexAppConfig"]["value"]
    assert flex["runtime"] == {"name": "custom", "version": "1.0"}
    storage = flex["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert functionapp["variables"]["flexSku"]["value"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = functionapp["resources"]["site"]["config"]
    assert site["properties"]["functionAppConfig"]["operator"]["operands"]["true_value"] == "flexAppConfig"
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "UserAssigned"
    assert site["properties"]["httpsOnly"] is True
    assert functionapp["resources"]["plan"]["config"]["properties"]["reserved"] is True


def test_plan_kind_defaults_to_flex_and_premium_sets_the_worker_runtime(parsed, functionapp, app_settings):
    """planKind is FlexConsumption by default; ElasticPremium gets EP1 and FUNCTIONS_WORKER_RUNTIME=custom."""
    for doc in (parsed["main.bicep"], functionapp):
        p = doc["parameters"]["planKind"]
        assert p["default"] == "FlexConsumption"
        allowed = [d["argument"] for d in p["decorators"] if d["type"] == "allowed"][0]
        assert sorted(allowed) == ["ElasticPremium", "FlexConsumption"]
    assert functionapp["variables"]["premiumSku"]["value"] == {"name": "EP1", "tier": "ElasticPremium"}
    premium = {s["name"]: s["value"] for s in app_settings["premiumSettings"]}
    assert premium["FUNCTIONS_WORKER_RUNTIME"] == "custom"
    # Flex Consumption refuses these: they may only come with the premium branch.
    for var, settings in app_settings.items():
        if var != "premiumSettings":
            names = {s["name"] for s in settings}
            assert not names & {"FUNCTIONS_WORKER_RUNTIME", "WEBSITE_RUN_FROM_PACKAGE", "FUNCTIONS_EXTENSION_VERSION"}, var


def test_storage_allows_no_shared_key_and_no_public_blobs(parsed):
    """Shared-key access off, TLS 1.2, HTTPS only, no anonymous blob access."""
    (_, _, acct), = list(_resources(parsed, "Microsoft.Storage/storageAccounts"))
    props = acct["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False
    assert props["supportsHttpsTrafficOnly"] is True
    for _, _, c in _resources(parsed, "Microsoft.Storage/storageAccounts/blobServices/containers"):
        assert c["properties"]["publicAccess"] == "None"


def test_host_storage_is_identity_based(app_settings):
    """AzureWebJobsStorage__* with the managed identity; no AzureWebJobsStorage connection string."""
    host = {s["name"]: s["value"] for s in app_settings["hostStorageSettings"]}
    assert host["AzureWebJobsStorage__credential"] == "managedidentity"
    for suffix in ("clientId", "blobServiceUri", "queueServiceUri", "tableServiceUri"):
        assert f"AzureWebJobsStorage__{suffix}" in host
    all_names = {s["name"] for v in app_settings.values() for s in v}
    assert "AzureWebJobsStorage" not in all_names
    assert "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING" not in all_names


def test_key_vault_is_rbac_with_soft_delete_and_purge_protection(parsed):
    """Standard SKU, enableRbacAuthorization, soft delete and purge protection, no access policies."""
    (_, _, vault), = list(_resources(parsed, "Microsoft.KeyVault/vaults"))
    props = vault["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True
    assert props["sku"]["name"] == "standard"
    assert "accessPolicies" not in props


def test_application_insights_is_workspace_based_with_local_auth_off(parsed, app_settings):
    """DisableLocalAuth and a workspace; the app authenticates with its identity (AAD)."""
    (_, _, ai), = list(_resources(parsed, "Microsoft.Insights/components"))
    assert ai["properties"]["DisableLocalAuth"] is True
    assert ai["properties"]["WorkspaceResourceId"]
    telemetry = {s["name"]: s["value"] for s in app_settings["telemetrySettings"]}
    assert telemetry["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"
    assert telemetry["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "appInsightsConnectionString"
    assert telemetry["AZURE_CLIENT_ID"] == "identityClientId"


SECRET_PATTERNS = [
    r"\blist\w*\(",  # listKeys(), listSecrets(), listCredentials() ...
    r"AccountKey\s*=",
    r"SharedAccessKey",
    r"SharedAccessSignature",
    r"Password\s*=",
    r"\.getSecret\(",
    r"InstrumentationKey\s*=",
]


def test_no_template_reads_keys_or_builds_keyed_connection_strings():
    """No listKeys()/listSecrets(), AccountKey=, SAS or getSecret() anywhere in the templates."""
    for path in bicep_files():
        text = strip_comments(path.read_text())
        for pat in SECRET_PATTERNS:
            assert not re.search(pat, text, re.I), f"{path.relative_to(INFRA)}: {pat}"


def test_no_secret_in_outputs_or_app_settings(parsed, app_settings):
    """Outputs and app settings carry no key, password or secure parameter."""
    secure_params = {
        n for doc in parsed.values() for n, p in doc.get("parameters", {}).items()
        if any(d["type"] == "secure" for d in p["decorators"])
    }
    for fname, doc in parsed.items():
        for name, out in doc.get("outputs", {}).items():
            blob = json.dumps(out["value"])
            assert not any(re.search(p, blob, re.I) for p in SECRET_PATTERNS), f"{fname} output {name}"
            assert '"list' not in blob, f"{fname} output {name} calls a list* function"
            assert not any(f'"{p}"' in blob for p in secure_params), f"{fname} output {name}"
            assert not any(d["type"] == "secure" for d in out["decorators"]), f"{fname} output {name} is secure"
    for var, settings in app_settings.items():
        for s in settings:
            blob = json.dumps(s["value"])
            assert not any(re.search(p, blob, re.I) for p in SECRET_PATTERNS), s["name"]
            assert '"list' not in blob, s["name"]
            # Names only: a *_SECRET_NAME holds the Key Vault secret's name, never a value.
            if re.search(r"SECRET|PASSWORD|KEY$", s["name"]) and not s["name"].endswith("_SECRET_NAME"):
                raise AssertionError(f"{s['name']}: a secret-looking setting")


def _role_assignments(parsed):
    for fname, name, cfg in _resources(parsed, "Microsoft.Authorization/roleAssignments"):
        variables = parsed[fname].get("variables", {})
        rd = cfg["properties"]["roleDefinitionId"]["function"]
        assert rd["type"] == "subscription_resource_id", f"{name}: use subscriptionResourceId(...)"
        role = rd["parameters"]["resource_name_1"]
        role_id = variables[role]["value"] if role in variables else role
        yield fname, name, cfg, role, role_id


def test_every_role_assignment_uses_an_expected_role_id(parsed):
    """Each roleDefinitionId is one of the documented built-in roles (and infra/README.md still lists them)."""
    found = list(_role_assignments(parsed))
    assert len(found) >= 6
    for fname, name, _, _, role_id in found:
        assert role_id in ROLE_IDS, f"{fname} {name}: unexpected role {role_id}"
    readme = INFRA / "README.md"
    listed = set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", readme.read_text()))
    assert set(ROLE_IDS) <= listed, "the role list drifted from infra/README.md"


def test_role_assignments_are_least_privilege_and_deterministically_named(parsed):
    """The app identity gets exactly five data-plane roles; names are guid(scope.id, principal, role); the admin gets Secrets Officer (and table access for the CLI) only when asked."""
    app_roles, admin_roles = set(), set()
    for fname, name, cfg, role_var, role_id in _role_assignments(parsed):
        guid = cfg["name"]["function"]
        assert guid["type"] == "guid"
        scope = cfg["scope"]
        base = guid["parameters"]["base_string"]["operator"]["operands"]
        assert base == {"operand_1": scope, "operand_2": "id"}, f"{name}: name must start with {scope}.id"
        principal = cfg["properties"]["principalId"]
        assert guid["parameters"]["extra_string_1"] == principal
        assert guid["parameters"]["extra_string_2"] == role_var
        if principal == "principalId":
            assert cfg["properties"]["principalType"] == "ServicePrincipal"
            assert "__condition__" not in cfg
            app_roles.add((ROLE_IDS[role_id], scope))
        else:
            assert principal == "adminObjectId", name
            assert cfg["__condition__"] is not None, "the admin's roles must be optional"
            admin_roles.add((ROLE_IDS[role_id], scope))
    assert app_roles == APP_ROLES
    assert admin_roles == ADMIN_ROLES
