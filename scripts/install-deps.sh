#!/usr/bin/env bash
# Installs the Debian packages libconfidence builds and tests with. Quiet and
# idempotent: apt-get runs only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libprotobuf-c-dev protobuf-c-compiler   # protobuf-c runtime + code generator
  libjansson-dev                          # JSON
  zlib1g-dev libssl-dev                   # gzip bitsets, AES-GCM
  libcurl4-openssl-dev                    # HTTP/2 transport (CDN, gRPC, ingest)
  clang libclang-rt-14-dev                # libFuzzer and sanitizer runtimes
  valgrind python3 python3-venv
  openssl                                 # openssl rehash (test_tls)
  libhiredis-dev redis-server             # libconfidence_redis and its tests
)
if [[ "${1:-}" == "--build-only" ]]; then
  packages=(build-essential cmake pkg-config libprotobuf-c-dev protobuf-c-compiler libjansson-dev zlib1g-dev libssl-dev libcurl4-openssl-dev libhiredis-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# cmake and python3 may come from elsewhere (pip, pyenv); accept them on PATH.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    cmake) command -v cmake >/dev/null || filtered+=("$p") ;;
    python3) command -v python3 >/dev/null || filtered+=("$p") ;;
    python3-venv) python3 -c 'import venv, ensurepip' 2>/dev/null || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done
if ((${#filtered[@]})); then
  echo "install-deps: installing ${filtered[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
fi
