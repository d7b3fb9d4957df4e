#!/usr/bin/env bash
# Creates the isolated virtualenv that holds the official Confidence resolver
# (PyPI confidence-openfeature-provider, WASM build) used as a differential-testing
# peer. It lives in its own venv because this project will ship a Python package
# that is also called `confidence`; the two must never share an interpreter.
#
# Usage: tools/oracle/setup_peer.sh        (idempotent; works from any directory)
# Env:   PEER_VENV   venv location, relative to the repo root unless absolute
#                    (default build/peer-venv)
#        PYTHON      interpreter used to create the venv (default python3)
set -euo pipefail

PEER_VERSION="0.15.3"
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"

venv="${PEER_VENV:-build/peer-venv}"
case "$venv" in
  /*) ;;
  *) venv="$repo_root/$venv" ;;
esac

peer_python="$venv/bin/python"

# The check imports the package from the venv only (-I: isolated mode ignores
# PYTHONPATH and the user site, so a `confidence` elsewhere cannot satisfy it)
# and insists on the exact version and on the bundled WASM binary.
peer_ready() {
  [ -x "$peer_python" ] || return 1
  "$peer_python" -I - "$PEER_VERSION" <<'PY' >/dev/null 2>&1
import sys, os
from importlib.metadata import version
import confidence.wasm_resolver  # noqa: F401  (fails if the package is missing)
import confidence
wasm = os.path.join(os.path.dirname(confidence.__file__), "wasm", "confidence_resolver.wasm")
sys.exit(0 if version("confidence-openfeature-provider") == sys.argv[1] and os.path.isfile(wasm) else 1)
PY
}

if peer_ready; then
  echo "peer venv ready: $venv (confidence-openfeature-provider==$PEER_VERSION)"
  exit 0
fi

if [ ! -x "$peer_python" ]; then
  echo "creating venv $venv"
  mkdir -p "$(dirname "$venv")"
  "${PYTHON:-python3}" -m venv "$venv"
fi

echo "installing confidence-openfeature-provider==$PEER_VERSION into $venv"
"$peer_python" -m pip install --quiet --disable-pip-version-check \
  "confidence-openfeature-provider==$PEER_VERSION"

if ! peer_ready; then
  echo "error: peer package still not importable from $venv" >&2
  exit 1
fi
echo "peer venv ready: $venv (confidence-openfeature-provider==$PEER_VERSION)"
