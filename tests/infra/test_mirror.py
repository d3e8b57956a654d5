"""Mirror checks: lists that must agree between the templates and the code.

- app settings <-> handler/src/settings.rs SETTING_NAMES
- queues <-> functions/*/function.json (and handler/src/protocol/names.rs)
- function folders <-> docs/design.md's table (and FUNCTION_NAMES)
- tables <-> the store's table-name constants (handler/src/store)
Each fails, rather than skips, when the code side is missing."""
from __future__ import annotations

import json
import re

import pytest

from conftest import HANDLER_SRC, REPO, docs_dir, rust_str_list

# Settings the handler reads that the cloud deployment leaves unset on purpose.
DELIBERATELY_UNSET = {
    "GUESTSYNC_LOCAL_SECRETS": "the local secret file is for development only; in Azure every secret comes from Key Vault (GUESTSYNC_KEYVAULT_URL is always set)",
    "GUESTSYNC_ALLOW_HTTP": "plain-http Graph and authority URLs are for the local simulator only; in Azure they are https (the default false)",
    "GUESTSYNC_TLS_CA_FILE": "an extra trusted CA is for the local simulator's https listener only (refused for non-loopback URLs)",
}

# The store's tables when the Rust source has no table-name list yet
# (docs/store.md, issue of the store engineer).
DOCUMENTED_TABLES = ["GuestSyncTenants", "GuestSyncGuests", "GuestSyncRuns", "GuestSyncAudit", "GuestSyncLeases", "GuestSyncSnapshots"]


def _setting_map(app_settings):
    out = {}
    for var, settings in app_settings.items():
        for s in settings:
            assert s["name"] not in out or var == "premiumSettings", f"{s['name']} set twice"
            out[s["name"]] = s["value"]
    return out


def test_app_settings_cover_every_setting_the_handler_reads(app_settings):
    """Every name in SETTING_NAMES is an app setting, except the few listed with a reason."""
    names = rust_str_list(HANDLER_SRC / "settings.rs", "SETTING_NAMES")
    assert len(names) >= 10
    stale = set(DELIBERATELY_UNSET) - set(names)
    assert not stale, f"DELIBERATELY_UNSET names settings the handler no longer reads: {stale}"
    settings = _setting_map(app_settings)
    missing = [n for n in names if n not in settings and n not in DELIBERATELY_UNSET]
    assert not missing, f"app settings missing from modules/functionapp.bicep: {missing}"
    assert not set(DELIBERATELY_UNSET) & set(settings), "a deliberately unset setting is set"


def test_required_settings_come_from_parameters_and_the_store_is_the_table_endpoint(parsed, app_settings):
    """REQUIRED_SETTINGS are fed by template parameters; GUESTSYNC_STORE is https://<account>.table.<suffix>; the vault URL is the vault's."""
    settings = _setting_map(app_settings)
    params = parsed["modules/functionapp.bicep"]["parameters"]
    for name in rust_str_list(HANDLER_SRC / "settings.rs", "REQUIRED_SETTINGS"):
        assert settings[name] in params, f"{name} should be a parameter, got {settings[name]!r}"
    assert settings["GUESTSYNC_STORE"] == "https://${storageAccountName}.table.${environment().suffixes.storage}"
    assert settings["GUESTSYNC_KEYVAULT_URL"] == "keyVaultUrl"
    main = parsed["main.bicep"]
    assert main["modules"]["app"]["config"]["params"]["keyVaultUrl"]["operator"]["operands"]["operand_1"] == "vault"


def test_main_passes_every_parameter_the_app_module_needs(parsed):
    """main.bicep gives the function-app module every parameter that has no default."""
    module_params = parsed["modules/functionapp.bicep"]["parameters"]
    given = parsed["main.bicep"]["modules"]["app"]["config"]["params"]
    required = {n for n, p in module_params.items() if p.get("default") is None}
    assert required <= set(given), required - set(given)
    assert set(given) <= set(module_params), set(given) - set(module_params)


def _function_defs():
    root = REPO / "functions"
    assert root.is_dir(), "functions/ is missing: merge the function-app branch (fnapp) before running these checks"
    defs = {d.name: json.loads((d / "function.json").read_text()) for d in sorted(root.iterdir()) if (d / "function.json").is_file()}
    assert defs, "functions/ holds no function.json"
    return defs


def test_queue_names_match_the_function_definitions(parsed):
    """The storage module creates exactly the queues functions/*/function.json bind."""
    created = parsed["modules/storage.bicep"]["variables"]["queueNames"]["value"]
    bound = {b["queueName"] for d in _function_defs().values() for b in d["bindings"] if "queueName" in b}
    assert set(created) == bound, f"template {sorted(created)} vs functions/ {sorted(bound)}"
    text = (HANDLER_SRC / "protocol" / "names.rs").read_text()
    for const in ("WORK_QUEUE", "POISON_QUEUE"):
        m = re.search(rf'const {const}: &str = "([^"]+)"', text)
        assert m and m.group(1) in created, const


def test_queue_bindings_use_the_identity_based_connection():
    """Queue bindings name AzureWebJobsStorage, which the __ settings configure."""
    for name, d in _function_defs().items():
        for b in d["bindings"]:
            if "queueName" in b:
                assert b.get("connection", "AzureWebJobsStorage") == "AzureWebJobsStorage", name


def test_timer_schedules_are_app_settings(app_settings):
    """Each %SETTING% a timer binding uses is an app setting."""
    settings = _setting_map(app_settings)
    for name, d in _function_defs().items():
        for b in d["bindings"]:
            for ref in re.findall(r"%(\w+)%", b.get("schedule", "")):
                assert ref in settings, f"{name}: {ref} is not an app setting"


def test_function_folders_match_the_design_and_the_code():
    """functions/ holds the functions of docs/design.md's table (and of FUNCTION_NAMES)."""
    folders = set(_function_defs())
    names_rs = HANDLER_SRC / "protocol" / "names.rs"
    assert folders == set(rust_str_list(names_rs, "FUNCTION_NAMES"))
    docs = docs_dir()
    table = set(re.findall(r"(?m)^\| `([a-z][a-z0-9-]+)` \|", (docs / "design.md").read_text()))
    assert folders == table, f"functions/ {sorted(folders)} vs design.md {sorted(table)}"


def _store_table_names():
    """The store's table names from handler/src/store (TABLE_NAMES and its constants), or None."""
    store = HANDLER_SRC / "store"
    for path in sorted(store.rglob("*.rs")) if store.is_dir() else []:
        text = path.read_text()
        m = re.search(r"const\s+TABLE_NAMES\s*:\s*&\[&str\]\s*=\s*&\[(.*?)\];", text, re.S)
        if not m:
            continue
        consts = dict(re.findall(r'const\s+(\w+)\s*:\s*&str\s*=\s*"([^"]+)"', text))
        items = [i.strip() for i in m.group(1).split(",") if i.strip()]
        return [i.strip('"') if i.startswith('"') else consts[i] for i in items]
    return None


def test_tables_match_the_store(parsed):
    """The storage module creates the tables the Azure Table store opens."""
    created = parsed["modules/storage.bicep"]["variables"]["tableNames"]["value"]
    from_code = _store_table_names()
    expected = from_code if from_code is not None else DOCUMENTED_TABLES
    assert sorted(created) == sorted(expected), f"template {created} vs {'store code' if from_code else 'documented list'} {expected}"


def test_default_job_budget_fits_in_the_function_timeout(parsed):
    """jobBudgetSecs' default leaves room before host.json's functionTimeout kills the handler."""
    host = json.loads((REPO / "host.json").read_text())
    h, m, s = (int(x) for x in host["functionTimeout"].split(":"))
    budget = parsed["main.bicep"]["parameters"]["jobBudgetSecs"]["default"]
    assert budget + 60 <= h * 3600 + m * 60 + s, f"budget {budget}s vs functionTimeout {host['functionTimeout']}"
