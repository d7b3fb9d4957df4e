#!/usr/bin/env bash
# Installs the Debian packages libconfidence builds and tests with, on a bare
# Debian (bookworm) as well: every package is named here, none is assumed.
# Quiet and idempotent: apt-get runs only when a package is missing, and its
# output is shown when it fails.
#
# usage: scripts/install-deps.sh [--build-only]
#   --build-only  what scripts/demo.sh needs: the C build, the Python package
#                 (pip install . compiles the extension) and the local backend
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

build=(
  build-essential cmake pkg-config
  libprotobuf-c-dev protobuf-c-compiler   # protobuf-c runtime + code generator
  libjansson-dev                          # JSON
  zlib1g-dev libssl-dev                   # gzip bitsets, AES-GCM
  libcurl4-openssl-dev                    # HTTP/2 transport (CDN, gRPC, ingest)
  libhiredis-dev                          # libconfidence_redis
  python3 python3-venv                    # venvs: the local backend, the demo, the Python tests
  python3-dev                             # Python.h for the extension (bookworm: from libpython3.11-dev)
)
tests=(
  clang libclang-rt-14-dev                # libFuzzer and sanitizer runtimes
  valgrind
  redis-server                            # the Redis store's tests
  openssl                                 # openssl rehash (test_tls)
)
packages=("${build[@]}")
[[ "${1:-}" == --build-only ]] || packages+=("${tests[@]}")

# Debian's packages are checked even when another python3 or cmake (pyenv,
# pip) comes first on PATH: a bare machine has only Debian's.
missing=()
for p in "${packages[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  quiet "${sudo[@]}" apt-get update
  quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The scripts run whichever python3 is first on PATH: it must make venvs with
# pip and have the headers the extension compiles against.
python3 - <<'PY'
import os, sys, sysconfig
try:
    import ensurepip, venv  # noqa: F401
except ImportError as e:
    sys.exit("install-deps: %s (python3 on PATH) cannot make venvs (%s): Debian: python3-venv"
             % (sys.executable, e))
header = os.path.join(sysconfig.get_paths()["include"], "Python.h")
if not os.path.isfile(header):
    sys.exit("install-deps: %s (python3 on PATH) has no %s: install its development headers "
             "(Debian: python3-dev)" % (sys.executable, header))
PY
