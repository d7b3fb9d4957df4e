#!/usr/bin/env bash
# Python package tests: creates a venv under the build directory, installs
# openfeature-sdk (SDK=newest, or SDK=0.8.0 for the oldest supported), pytest, mypy
# and this package (pip install . builds the C core and confidence._native),
# then runs pytest against the local backend. Runs both SDKs unless SDK is set.
# Usage: tests/python/run.sh [BUILD_DIR] [pytest args...]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$repo/build}" && pwd)"
shift || true
"$repo/tools/testserver/setup.sh" >/dev/null
# pip, quiet unless it fails (a failed install must fail the test, not run
# pytest against whatever was installed before).
pip_quiet() {
  local out
  out=$("$@" 2>&1) || { printf '%s\n' "$out" | grep -v '^WARNING: Location' >&2; return 1; }
}
run_one() {
  local sdk="$1" venv="$build/python-test-venv-$1"
  shift
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  local spec="openfeature-sdk"
  [[ "$sdk" == newest ]] || spec="openfeature-sdk==$sdk"
  pip_quiet "$venv/bin/pip" install -q --disable-pip-version-check "$spec" pytest mypy==1.13.0 \
    -r "$repo/tests/python/servers/requirements.txt"
  pip_quiet "$venv/bin/pip" install -q --disable-pip-version-check "$repo"
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
