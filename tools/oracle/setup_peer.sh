#!/usr/bin/env bash
# Creates the isolated virtualenv that holds the official Confidence resolver
# (PyPI confidence-openfeature-provider, WASM build) used as a differential-testing
# peer. It lives in its own venv because this project will ship a Python package
# that is also called `confidence`; the two must never share an interpreter.
#
# Usage: tools/oracle/setup_peer.sh        (idempotent; works from any directory)
# Env:   PEER_VERSION  package version (default 0.15.3: it bundles resolver 0.26.1,
#                      today's official resolver; 0.11.1 bundles 0.22.1, the one
#                      RESOLVER_SPEC.md describes). A venv holding another version is
#                      switched to this one.
#        PEER_VENV     venv location, relative to the repo root unless absolute
#                      (default build/peer-venv); give each version its own, e.g.
#                      PEER_VERSION=0.11.1 PEER_VENV=build/peer-venv-0.11.1
#        PYTHON        interpreter used to create the venv (default python3)
set -euo pipefail

# Keep the default in step with DEFAULT_PEER_VERSION in peer.py.
PEER_VERSION="${PEER_VERSION:-0.15.3}"
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
source "$repo_root/scripts/lib.sh"

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

# A venv left half-made (no pip) is made again, not reused.
ensure_venv "$venv" "${PYTHON:-python3}"

echo "installing confidence-openfeature-provider==$PEER_VERSION into $venv"
quiet "$peer_python" -m pip install --disable-pip-version-check \
  "confidence-openfeature-provider==$PEER_VERSION"

# Some releases declare a protobuf floor older than the gencode they ship
# (0.11.1 says protobuf>=5.0.0 but its *_pb2.py need runtime >= 7.35.1), so an
# existing venv keeps a protobuf that cannot load them. Read the newest
# "Protobuf Python Version" among the package's *_pb2.py headers and raise the
# runtime to at least that. Prints the requirement, or nothing if it is met.
protobuf_floor=$("$peer_python" -I - <<'PY'
import importlib.util, re
from importlib.metadata import version
from pathlib import Path

def parse(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])

spec = importlib.util.find_spec("confidence")  # locates without importing
root = Path(next(iter(spec.submodule_search_locations)))
floors = []
for path in root.glob("proto/**/*_pb2.py"):
    match = re.search(r"^# Protobuf Python Version: ([0-9.]+)", path.read_text(), re.M)
    if match:
        floors.append(match.group(1))
if floors:
    floor = max(floors, key=parse)
    if parse(version("protobuf")) < parse(floor):
        print(f"protobuf>={floor}")
PY
)
if [ -n "$protobuf_floor" ]; then
  echo "raising the protobuf runtime to $protobuf_floor (the package's gencode needs it)"
  quiet "$peer_python" -m pip install --disable-pip-version-check "$protobuf_floor"
fi

if ! peer_ready; then
  echo "error: peer package still not importable from $venv" >&2
  exit 1
fi
echo "peer venv ready: $venv (confidence-openfeature-provider==$PEER_VERSION)"
