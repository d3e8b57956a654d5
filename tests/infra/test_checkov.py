"""checkov's Bicep rules pass, and every suppression says why.

checkov exits 0 when it cannot parse a file, so this also asserts that it
parsed everything and scanned the resources (test_syntax is the real syntax
gate)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import INFRA, REPO, bicep_files

SKIP = re.compile(r"checkov:skip=([A-Z0-9_,]+)(:?)(.*)")


@pytest.fixture(scope="module")
def report():
    checkov = Path(sys.executable).with_name("checkov")
    proc = subprocess.run(
        [str(checkov), "--framework", "bicep", "-d", str(INFRA), "--skip-download", "-o", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    data = json.loads(proc.stdout)
    data = data[0] if isinstance(data, list) else data
    return proc.returncode, data


def test_checkov_bicep_rules_pass(report):
    """No failed check, no parse error, and the resources were really scanned."""
    code, data = report
    summary = data["summary"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in data["results"].get("failed_checks", [])]
    assert summary["failed"] == 0 and not failed, failed
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 20 and summary["passed"] >= 15, summary
    assert code == 0


def test_every_suppression_is_justified_and_used(report):
    """Each checkov:skip names one check and a reason of a few words, and checkov honoured it."""
    _, data = report
    skipped = {(c["check_id"]) for c in data["results"].get("skipped_checks", [])}
    declared = set()
    for path in bicep_files():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = SKIP.search(line)
            if not m:
                continue
            where = f"{path.relative_to(INFRA)}:{n}"
            assert "," not in m.group(1), f"{where}: one check per suppression"
            assert m.group(2) == ":" and len(m.group(3).strip()) >= 20, f"{where}: suppression without a reason"
            declared.add(m.group(1))
    assert declared, "expected the documented suppressions"
    assert declared == skipped, f"declared {sorted(declared)} vs honoured {sorted(skipped)}"
