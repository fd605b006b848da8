#!/usr/bin/env bash
# Run checkov from its own virtualenv (.venv-checkov).
#
# checkov and python-hcl2 (used by the tests) both install a top-level module
# named `hcl2` with different versions, so they cannot share the project venv.
# The venv is created on first use from PyPI; later runs reuse it.
#
# Usage: tools/checkov.sh [checkov args]   (default: -d terraform --compact --quiet)
set -euo pipefail

CHECKOV_VERSION="3.3.30"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CHECKOV_VENV:-$repo_root/.venv-checkov}"
python_bin="${PYTHON:-python3}"

if ! "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "checkov.sh: installing checkov==$CHECKOV_VERSION into $venv" >&2
  "$python_bin" -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "checkov==$CHECKOV_VERSION" >"$venv/install.log" 2>&1; then
    cat "$venv/install.log" >&2
    echo "checkov.sh: installing checkov failed (log above)" >&2
    exit 1
  fi
fi

cd "$repo_root"
if [ "$#" -eq 0 ]; then
  set -- -d terraform --framework terraform --compact --quiet
fi
# No network: skip the Bridgecrew platform, the version check and remote module download.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
exec "$venv/bin/checkov" --skip-download "$@"
