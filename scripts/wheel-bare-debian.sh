#!/usr/bin/env bash
# The cp311 wheel on a bare Debian bookworm, as a new user would get it: a
# debootstrap minbase system (../shared/tools/bare-debian.sh) with nothing
# added but `python3 python3-venv` (bookworm's python3 is 3.11), where pip
# installs the wheel from dist/ offline (--no-index: the wheel and a
# wheelhouse of openfeature-sdk's binary wheels, downloaded on the host from
# PyPI). The system is checked to have no compiler and none of the -dev
# packages or C libraries the source build needs. Then the README's Python
# Quick Start runs inside it, as written but for the secret and the flag name
# (as tests/python/test_readme.py adapts it), against the local backend on
# the host's loopback (shared with the system), every endpoint pointed there
# with the CONFIDENCE_*_URL variables; the backend must report its exposure.
# The system is removed at the end, whether the check passed or not.
#
# Needs root (chroot, mounts) and Debian's mirror; the first debootstrap is
# cached by bare-debian.sh in /var/cache/bare-debian. Run
# scripts/build-wheels.sh first.
#
# Usage: scripts/wheel-bare-debian.sh
# Env:   CONFIDENCE_BUILD_DIR  a CMake build of this project that has (or
#                              gets) the sample state (default: the one
#                              scripts/wheel-check.sh makes)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/lib.sh"
bare="$repo/../shared/tools/bare-debian.sh"
work="$repo/build/wheel-bare-debian"
root="$work/root"
native="${CONFIDENCE_BUILD_DIR:-$repo/build/wheel-check/native}"
secret=demo-client-secret
die() { echo "wheel-bare-debian: ERROR: $*" >&2; exit 1; }
log() { echo "wheel-bare-debian: $*" >&2; }
start=$SECONDS

[[ $(id -u) == 0 ]] || die "needs root (debootstrap and chroot); CI runs it as root"
command -v debootstrap >/dev/null || die "debootstrap is missing (scripts/install-deps.sh installs it)"
[[ -x "$bare" ]] || die "$bare not found (../shared beside the repository)"
shopt -s nullglob
wheels=("$repo"/dist/libconfidence-*-cp311-cp311-manylinux_*_x86_64.whl)
((${#wheels[@]} == 1)) || die "${#wheels[@]} cp311 wheels in dist/ (run scripts/build-wheels.sh)"
wheel="${wheels[0]}"
pkg_version="$(basename "$wheel" | cut -d- -f2)"

pyenv_root="$(pyenv root)"
py311=$(find "$pyenv_root/versions" -mindepth 1 -maxdepth 1 -name '3.11.*' -printf '%f\n' |
  grep -E '^3\.11\.[0-9]+$' | sort -V | tail -1)
[[ -n "$py311" ]] || die "CPython 3.11 is not installed under $pyenv_root/versions"

backend=""
cleanup() {
  local rc=$?
  set +e # every step of the cleanup runs; the backend's status after kill is not news
  if [[ -n "$backend" ]]; then
    kill "$backend"
    wait "$backend" 2>/dev/null
  fi
  if [[ -e "$root" ]]; then
    "$bare" remove "$root" || { log "could not remove $root"; rc=1; }
  fi
  exit "$rc"
}
trap cleanup EXIT
# A system left by a run that was killed before its trap ran.
[[ -e "$root" ]] && quiet "$bare" remove "$root"
rm -rf "$work"
mkdir -p "$work"

# ---- on the host: what the system will need --------------------------------
log "the sample state and the local backend's venv"
quiet cmake -S "$repo" -B "$native" -DCONFIDENCE_BUILD_TESTS=OFF -DCONFIDENCE_BUILD_BENCH=OFF
quiet cmake --build "$native" -j"${JOBS:-2}" --target sample_state
state="$native/sample/state.pb"
[[ -s "$state" ]] || die "no sample state at $state"
quiet "$repo/tools/testserver/setup.sh"

log "a wheelhouse of openfeature-sdk and its dependencies for CPython 3.11 manylinux (PyPI)"
# Binary wheels only, chosen for the target's interpreter and platform, not
# the host's: what a user would copy to a machine with no network.
quiet "$pyenv_root/versions/$py311/bin/python3" -m pip download -q --disable-pip-version-check \
  --only-binary :all: --python-version 3.11 --implementation cp --abi cp311 \
  --platform manylinux2014_x86_64 -d "$work/wheelhouse" openfeature-sdk
log "  $(cd "$work/wheelhouse" && echo *.whl)"

# ---- the bare system -------------------------------------------------------
t=$SECONDS
log "a bare Debian bookworm in $root, with python3 python3-venv"
quiet "$bare" create "$root" bookworm
quiet "$bare" install "$root" python3 python3-venv
log "  made in $((SECONDS - t)) s"

# The Python package must need none of the source build's tools: no
# compiler, no -dev package (those scripts/install-deps.sh names for the
# build), and none of the C libraries the extension links statically.
"$bare" run "$root" '
  set -eu
  for tool in gcc cc c99 cmake; do
    if command -v "$tool"; then echo "$tool is installed" >&2; exit 1; fi
  done
  for pkg in libcurl4-openssl-dev libcurl4-gnutls-dev libssl-dev libprotobuf-c-dev libjansson-dev \
             zlib1g-dev libhiredis-dev python3-dev libpython3.11-dev build-essential; do
    if [ "$(dpkg-query -W -f="\${Status}" "$pkg" 2>/dev/null)" = "install ok installed" ]; then
      echo "$pkg is installed" >&2; exit 1
    fi
  done
  libs=$(ldconfig -p)
  for lib in libcurl.so libnghttp2.so libprotobuf-c.so libjansson.so libhiredis.so; do
    if printf "%s\n" "$libs" | grep -F "$lib"; then echo "$lib is installed" >&2; exit 1; fi
  done
  python3 --version' || die "the bare system is not bare"

# One folder with our wheel and openfeature-sdk's, as the README has it.
cp "$wheel" "$work/wheelhouse/"
cp -r "$work/wheelhouse" "$root/root/dist"
log "pip install --no-index $(basename "$wheel") in a venv of the bare system"
quiet "$bare" run "$root" "python3 -m venv /root/venv && /root/venv/bin/pip install -q --disable-pip-version-check \
  --no-index --only-binary :all: --find-links /root/dist libconfidence==$pkg_version"
"$bare" run "$root" '/root/venv/bin/python -c "
import confidence._native as n, openfeature, importlib.metadata as m
print(\"installed:\", n.__file__, \"openfeature-sdk\", m.version(\"openfeature-sdk\"))"'

# ---- the Quick Start against the local backend ------------------------------
# The README's first Python block, with the sample state's secret and one of
# its flags in place of the placeholders (tests/python/test_readme.py).
"$repo/build/testserver-venv/bin/python" - "$repo/README.md" "$secret" >"$root/root/quickstart.py" <<'PY'
import re, sys
blocks = re.findall(r"```python\n(.*?)```", open(sys.argv[1]).read(), re.S)
assert blocks, "README.md has no Python block"
code = blocks[0]
for placeholder in ("your-client-secret", "test-flag.enabled"):
    assert placeholder in code, f"the README's Quick Start no longer has {placeholder!r}"
print(code.replace("your-client-secret", sys.argv[2]).replace("test-flag.enabled", "new-checkout.enabled"))
PY

ports="$work/backend.ports"
"$repo/build/testserver-venv/bin/python" "$repo/tools/testserver/server.py" --state "$state" \
  --secret "$secret" --ports-file "$ports" --max-lifetime 300 >"$work/backend.log" 2>&1 &
backend=$!
for _ in $(seq 300); do
  [[ -s "$ports" ]] && break
  kill -0 "$backend" 2>/dev/null || break
  sleep 0.1
done
[[ -s "$ports" ]] || { cat "$work/backend.log" >&2; die "the local backend did not start"; }
http=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$ports")
grpc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' "$ports")
log "local backend on 127.0.0.1: HTTP :$http, gRPC :$grpc"

# Every endpoint at the backend (the ingest and events defaults are https):
# nothing here needs a CA. The one line the Quick Start may log (Python's
# last-resort handler prints WARNING and above on stderr) is the provider's
# warning that it has no encryption key; anything else fails the check.
log "the README's Python Quick Start, in the bare system"
"$bare" run "$root" "CONFIDENCE_CDN_URL=http://127.0.0.1:$http \
  CONFIDENCE_FLAG_LOG_URL=http://127.0.0.1:$grpc CONFIDENCE_EVENTS_URL=http://127.0.0.1:$grpc \
  CONFIDENCE_INGEST_URL=http://127.0.0.1:$http/v1/flagLogs:ingest \
  /root/venv/bin/python /root/quickstart.py >/root/quickstart.out 2>/root/quickstart.err" ||
  { cat "$root/root/quickstart.out" "$root/root/quickstart.err" >&2; die "the Quick Start failed"; }
out="$(cat "$root/root/quickstart.out")"
err="$(cat "$root/root/quickstart.err")"
printf '  %s\n' "$out" >&2
[[ -z "$err" || "$err" == "no encryption key: the state is downloaded unencrypted" ]] ||
  { printf '%s\n' "$err" >&2; die "the Quick Start logged more than the no-encryption-key warning (above)"; }
[[ "$out" =~ ^Flag\ value:\ (True|False)$ ]] || die "the Quick Start printed '$out'"

# api.shutdown() sends the exposure before returning: it is there now.
summary="$("$repo/build/testserver-venv/bin/python" "$repo/tools/testserver/client.py" --port "$http" summary)"
"$repo/build/testserver-venv/bin/python" - "$summary" <<'PY' || die "the exposure did not arrive: $summary"
import json, sys
s = json.loads(sys.argv[1])
applied = [(a["flag"], a["targeting_key"], a["count"]) for a in s["applied"]]
assert s["flag_assigned"] == 1 and applied == [("flags/new-checkout", "user-123", 1)], s
print(f"wheel-bare-debian: the backend got the exposure: {s['applied'][0]}", file=sys.stderr)
PY
log "passed in $((SECONDS - start)) s"
