#!/usr/bin/env bash
# The Python tests against the built wheels, as users install them: for each
# CPython 3.9-3.13 under pyenv with the newest openfeature-sdk that Python gets,
# and with 0.8.0 (the oldest the package supports) on the oldest and newest
# CPython (ctest's python_package runs both SDKs on the build's Python; the
# three middle pairs cost 4.5 minutes of CI, ALL_PAIRS=1 runs them), a fresh
# venv takes
# openfeature-sdk, pytest and mypy from PyPI as binaries, then our wheel from
# dist/ alone (--no-index --only-binary :all:), and runs tests/python against
# it from outside the source tree. Each run first proves the wheel meant for
# that interpreter is what is installed and what the tests import.
# Run scripts/build-wheels.sh first.
#
# Usage: scripts/wheel-check.sh [pytest args...]
# Env:   PYTHON_VERSIONS  (default "3.9 3.10 3.11 3.12 3.13")
#        SDKS             openfeature-sdk versions (default "0.8.0 newest")
#        ALL_PAIRS=1      every Python with every SDK (default: the older SDKs
#                         only with the first and last of PYTHON_VERSIONS)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions=(${PYTHON_VERSIONS:-3.9 3.10 3.11 3.12 3.13})
sdks=(${SDKS:-0.8.0 newest})
dist="$repo/dist"
work="$repo/build/wheel-check"
native="$work/native"
die() { echo "wheel-check: ERROR: $*" >&2; exit 1; }
log() { echo "wheel-check: $*" >&2; }
source "$repo/scripts/lib.sh" # quiet: a step's output only when it fails
start=$SECONDS
shopt -s nullglob
wheels=("$dist"/libconfidence-*.whl)
((${#wheels[@]})) || die "no wheels in $dist (run scripts/build-wheels.sh)"
pkg_version="$(basename "${wheels[0]}" | cut -d- -f2)"

# What the tests need beside the package: the sample flag states and the CLI
# (a build of the C project with the system's libraries), and the backend.
log "building the sample states and the CLI in $native"
quiet cmake -S "$repo" -B "$native" -DCONFIDENCE_BUILD_TESTS=OFF -DCONFIDENCE_BUILD_BENCH=OFF ||
  die "cmake configure"
quiet cmake --build "$native" -j"${JOBS:-2}" --target sample_state confidence_cli || die "cmake build"
quiet "$repo/tools/testserver/setup.sh" || die "tools/testserver/setup.sh"

pyenv_root="$(pyenv root)"
python_for() { # the newest installed patch release of CPython $1
  local dir
  dir=$(find "$pyenv_root/versions" -mindepth 1 -maxdepth 1 -name "$1.*" -printf '%f\n' |
    grep -E "^$1\.[0-9]+$" | sort -V | tail -1)
  [[ -n "$dir" ]] || die "CPython $1 is not installed under $pyenv_root/versions"
  echo "$pyenv_root/versions/$dir/bin/python3"
}

results=()
failed=0
# One venv, one test run; returns non-zero when anything in it failed (it
# runs under `if`, where errexit is off: every step is checked).
check_one() {
  local v="$1" sdk="$2" t=$SECONDS
  shift 2
  local venv="$work/venv-$v-$sdk" spec="openfeature-sdk"
  [[ "$sdk" == newest ]] || spec="openfeature-sdk==$sdk"
  local python
  python="$(python_for "$v")" || return 1
  rm -rf "$venv"
  "$python" -m venv "$venv" || { log "$v/$sdk: venv failed"; return 1; }
  local pip=("$venv/bin/pip" install -q --disable-pip-version-check --only-binary :all:)
  quiet "${pip[@]}" "$spec" pytest mypy==1.13.0 -r "$repo/tests/python/servers/requirements.txt" ||
    { log "$v/$sdk: PyPI install failed"; return 1; }
  quiet "${pip[@]}" --no-index --find-links "$dist" "libconfidence==$pkg_version" ||
    { log "$v/$sdk: the wheel does not install"; return 1; }
  local scratch
  scratch="$(mktemp -d "$work/run-XXXXXX")" || return 1
  # From an empty folder, with the source tree nowhere on sys.path: the
  # package the tests import is the installed wheel's, for this interpreter.
  # The driver is a file, not stdin: spawned multiprocessing children re-import
  # __main__ from its path (a "<stdin>" main makes a pool replace dying children
  # for ever); its body runs only as __main__.
  cat >"$scratch/run_tests.py" <<'PY'
import os, sys, sysconfig
from importlib.metadata import distribution, version


def main():
    venv, repo, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    import confidence, confidence._native as native
    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    for mod in (confidence, native):
        path = os.path.realpath(mod.__file__)
        assert path.startswith(site + os.sep), f"{mod.__name__} from {path}, not {site}"
    src = os.path.realpath(os.path.join(repo, "python"))
    assert not any(os.path.realpath(p or ".") == src for p in sys.path), sys.path
    tag = [l.split(": ", 1)[1] for l in distribution("libconfidence").read_text("WHEEL").splitlines()
           if l.startswith("Tag: ")]
    want = "cp%d%d" % sys.version_info[:2]
    assert len(tag) == 1 and tag[0].startswith(f"{want}-{want}-manylinux_"), tag
    print(f"== CPython {sys.version.split()[0]}, openfeature-sdk {version('openfeature-sdk')}, "
          f"wheel {tag[0]}, {native.__file__}", flush=True)
    import pytest
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", os.path.join(repo, "tests", "python"),
                          os.path.join(repo, "tests", "python"), *args]))


if __name__ == "__main__":
    main()
PY
  (cd "$scratch" && CONFIDENCE_REPO="$repo" CONFIDENCE_BUILD_DIR="$native" \
    "$venv/bin/python" run_tests.py "$venv" "$repo" "$@")
  local rc=$?
  rm -rf "$scratch"
  log "$v/$sdk: exit $rc in $((SECONDS - t)) s"
  return $rc
}

for v in "${versions[@]}"; do
  for sdk in "${sdks[@]}"; do
    if [[ "${ALL_PAIRS:-0}" != 1 && "$sdk" != newest && "$v" != "${versions[0]}" &&
      "$v" != "${versions[-1]}" ]]; then
      continue
    fi
    t=$SECONDS
    if check_one "$v" "$sdk" "$@"; then
      results+=("PASS CPython $v openfeature-sdk $sdk ($((SECONDS - t)) s)")
    else
      results+=("FAIL CPython $v openfeature-sdk $sdk ($((SECONDS - t)) s)")
      failed=$((failed + 1))
    fi
  done
done
printf '%s\n' "${results[@]}"
log "done in $((SECONDS - start)) s"
((failed == 0)) || die "$failed of ${#results[@]} runs failed"
