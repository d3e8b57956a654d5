#!/usr/bin/env bash
# Offline checks of infra/ (the Bicep compiler cannot be installed here):
# tree-sitter-bicep syntax, pycep-parser structural assertions, mirror checks
# against the handler's code and functions/, and checkov's Bicep rules.
#
#   bash tests/infra/run.sh [pytest args...]
#
# Creates <repo>/.tools/venv on first use and (re)installs the pinned
# requirements whenever tests/infra/requirements.txt changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.tools/venv"
req="$here/requirements.txt"
stamp="$venv/.infra-requirements.sha256"

if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv"
  mkdir -p "$repo/.tools"
  python3 -m venv "$venv"
fi
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "==> installing tests/infra/requirements.txt"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

cd "$repo"
# checkov: no telemetry or guideline download (the registry hosts only are reachable).
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
exec "$venv/bin/python" -m pytest "$here" -q -p no:cacheprovider "$@"
