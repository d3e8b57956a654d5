"""Every template parses: tree-sitter-bicep finds no ERROR or MISSING node,
pycep-parser (which checkov also uses) reads it, and it keeps to the plain
syntax both tools understand. The Bicep compiler is not available offline."""
from __future__ import annotations

import re

import pytest
import tree_sitter
import tree_sitter_bicep

from conftest import INFRA, bicep_files, strip_comments

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


def _bad_nodes(node, out):
    if node.is_error or node.is_missing:
        out.append(f"{'MISSING' if node.is_missing else 'ERROR'} at line {node.start_point[0] + 1}: {node.text[:60]!r}")
    for child in node.children:
        _bad_nodes(child, out)
    return out


def test_there_are_templates_to_check():
    """The main template and its modules exist (a check over nothing proves nothing)."""
    names = {str(f.relative_to(INFRA)) for f in bicep_files()}
    assert "main.bicep" in names
    assert len([n for n in names if n.startswith("modules/")]) >= 6, names


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses_with_tree_sitter_without_error_nodes(path):
    """tree-sitter-bicep reports no ERROR or MISSING node anywhere in the file."""
    tree = PARSER.parse(path.read_bytes())
    bad = _bad_nodes(tree.root_node, [])
    assert not bad and not tree.root_node.has_error, bad


def test_every_bicep_file_is_read_by_pycep(parsed):
    """pycep-parser turns each file into resources (checkov scans the same JSON)."""
    assert set(parsed) == {str(f.relative_to(INFRA)) for f in bicep_files()}
    for name, doc in parsed.items():
        assert doc.get("resources") or doc.get("modules"), f"{name}: nothing parsed"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_templates_keep_to_the_plain_syntax_the_offline_tools_parse(path):
    """No registry modules, no spread, no resourceInput<>, no multi-line ternaries."""
    text = strip_comments(path.read_text())
    assert "br/public:" not in text and not re.search(r"'br:", text), "registry module"
    assert "..." not in text, "spread operator"
    assert "resourceInput<" not in text and "resourceOutput<" not in text
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        assert not s.endswith("?") and not s.startswith("? ") and not re.match(r"^:\s", s), (
            f"line {n}: multi-line ternary"
        )


def test_module_paths_in_main_exist(parsed):
    """Every module main.bicep references is a file in infra/."""
    for name, module in parsed["main.bicep"]["modules"].items():
        assert (INFRA / module["detail"]["path"]).is_file(), f"module {name}: {module['detail']['path']} missing"


def test_example_parameters_match_the_main_template(parsed):
    """main.bicepparam sets only declared parameters and every required one.

    tree-sitter-bicep 1.1.0 has no grammar for `.bicepparam` assignments, so
    this reads the file line by line."""
    text = (INFRA / "main.bicepparam").read_text()
    assert re.search(r"(?m)^using\s+'\./main\.bicep'\s*$", text)
    set_names = set(re.findall(r"(?m)^param\s+(\w+)\s*=", text))
    declared = parsed["main.bicep"]["parameters"]
    assert set_names <= set(declared), set_names - set(declared)
    required = {n for n, p in declared.items() if p.get("default") is None}
    assert required <= set_names, f"required parameters not in the example: {required - set_names}"
