#!/usr/bin/env bash
# Python package tests: creates a venv under the build directory, installs
# openfeature-sdk (SDK=newest, or SDK=0.8.0 for the oldest supported), pytest, mypy
# and this package (pip install . builds the C core and confidence._native),
# then runs pytest against the local backend. Runs both SDKs unless SDK is set.
# Usage: tests/python/run.sh [BUILD_DIR] [pytest args...]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$repo/build}" && pwd)"
if (($#)); then shift; fi
source "$repo/scripts/lib.sh"
# Its stdout is the venv's path; what it says about its work goes to stderr.
"$repo/tools/testserver/setup.sh" >/dev/null
run_one() {
  local sdk="$1" venv="$build/python-test-venv-$1"
  shift
  ensure_venv "$venv"   # a half-made one is made again, not reused
  local spec="openfeature-sdk"
  [[ "$sdk" == newest ]] || spec="openfeature-sdk==$sdk"
  # Quiet unless it fails: a failed install fails the test (never pytest
  # against whatever was installed before).
  quiet "$venv/bin/python" -m pip install --disable-pip-version-check "$spec" pytest mypy==1.13.0 \
    -r "$repo/tests/python/servers/requirements.txt"
  quiet "$venv/bin/python" -m pip install --disable-pip-version-check "$repo"
  echo "== Python tests, openfeature-sdk $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("openfeature-sdk"))')"
  (cd "$repo" && CONFIDENCE_REPO="$repo" CONFIDENCE_BUILD_DIR="$build" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/tests/python" "$@")
}
if [[ -n "${SDK:-}" ]]; then
  run_one "$SDK" "$@"
else
  run_one newest "$@"
  run_one 0.8.0 "$@"
fi
