"""Shared fixtures of the offline infra checks: where the repository, the
templates, the handler sources and the team docs are, and every template
parsed once with pycep-parser (slow: a few seconds per file)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
HANDLER_SRC = REPO / "handler" / "src"


def bicep_files() -> list[Path]:
    """Every .bicep file under infra/ (modules included)."""
    return sorted(INFRA.rglob("*.bicep"))


def docs_dir() -> Path:
    """The repository's own design docs (docs/design.md holds the function
    table the checks compare with)."""
    return REPO / "docs"


def rust_str_list(path: Path, const: str) -> list[str]:
    """The string literals of `pub const CONST: &[&str] = &[...]` in a Rust file."""
    text = path.read_text()
    m = re.search(rf"const\s+{const}\s*:\s*&\[&str\]\s*=\s*&\[(.*?)\];", text, re.S)
    assert m, f"{path}: no const {const} list"
    return re.findall(r'"([^"]*)"', m.group(1))


def strip_comments(text: str) -> str:
    """Bicep source without // line comments (not inside strings: good enough
    for our templates, whose strings hold no //, except URLs, which are kept)."""
    return re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", text)


@pytest.fixture(scope="session")
def parsed() -> dict[str, dict]:
    """pycep-parser JSON of every .bicep file, keyed by path relative to infra/."""
    from pycep import BicepParser

    out = {}
    for f in bicep_files():
        out[str(f.relative_to(INFRA))] = json.loads(json.dumps(BicepParser().parse(file_path=f), default=str))
    return out


@pytest.fixture(scope="session")
def functionapp(parsed) -> dict:
    return parsed["modules/functionapp.bicep"]


@pytest.fixture(scope="session")
def app_settings(functionapp) -> dict[str, list[dict]]:
    """The app-setting arrays concatenated into siteConfig.appSettings, by
    variable name, as [{name, value}] (values as pycep renders them)."""
    site = functionapp["resources"]["site"]["config"]["properties"]
    concat = site["siteConfig"]["appSettings"]["function"]
    assert concat["type"] == "concat", "appSettings should be concat(<setting arrays>)"
    out = {}
    for var in concat["parameters"].values():
        value = functionapp["variables"][var]["value"]
        if isinstance(value, dict) and "operator" in value:  # planSettings: isFlex ? [] : premiumSettings
            ops = value["operator"]["operands"]
            for branch in (ops["true_value"], ops["false_value"]):
                if isinstance(branch, str):
                    out[branch] = functionapp["variables"][branch]["value"]
            continue
        out[var] = value
    return out
