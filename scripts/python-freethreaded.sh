#!/usr/bin/env bash
# Builds a free-threaded CPython (./configure --disable-gil; no PGO, no LTO)
# from a Debian source package's upstream tarball, once, and prints the path
# of its python3 on stdout; everything else goes to stderr.
#
# usage: scripts/python-freethreaded.sh [BUILD_DIR]   (default: build)
#
# Cached under BUILD_DIR/python-freethreaded: a finished interpreter is
# reused as is, and a downloaded tarball is built again without the network.
# The source comes from Debian's mirror (the one this machine's apt uses):
# sid/experimental's python3.14 when the mirror has its files, else trixie's
# python3.13. apt runs with a private sources list, index and cache under the
# cache directory: the system's apt configuration is neither read nor changed.
# Takes about 7 minutes on 2 cores; the compiler runs under nice with at most
# 2 jobs, as the machines that run it are shared.
set -euo pipefail
shopt -s inherit_errexit nullglob
repo="$(cd "$(dirname "$0")/.." && pwd)"
source "$repo/scripts/lib.sh"
mkdir -p "${1:-$repo/build}"
top="$(cd "${1:-$repo/build}" && pwd)/python-freethreaded"
prefix="$top/prefix"
say() { echo "python-freethreaded: $*" >&2; }

# A finished interpreter: free-threaded, runs, has pip's dependencies.
usable() {
  [[ -x "$prefix/bin/python3" ]] && "$prefix/bin/python3" - <<'PY'
import sys, sysconfig
import ssl, zlib, ensurepip  # noqa: F401  what pip needs
sys.exit(0 if sysconfig.get_config_var("Py_GIL_DISABLED") else 1)
PY
}
if usable 2>/dev/null; then
  echo "$prefix/bin/python3"
  exit 0
fi

# The Debian mirror this machine's apt already uses (or DEBIAN_MIRROR).
system_mirror() {
  local lists=(/etc/apt/sources.list.d/*.sources)
  ((${#lists[@]})) && awk '$1 == "URIs:" && $2 !~ /security/ {print $2; exit}' "${lists[@]}"
  [[ -f /etc/apt/sources.list ]] && awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list
  return 0
}
mirror=${DEBIAN_MIRROR:-$(system_mirror | head -n1)}

fetch() {  # downloads one upstream tarball into $top/src unless one is there
  local tarball
  mkdir -p "$top/src"
  tarball=$(find "$top/src" -maxdepth 1 -name 'python3.1*.orig.tar.*' ! -name '*.asc' | sort -V | tail -n1)
  if [[ -n $tarball ]]; then
    echo "$tarball"
    return 0
  fi
  [[ -n $mirror ]] || { say "no Debian mirror found in /etc/apt (set DEBIAN_MIRROR)"; return 1; }
  local apt="$top/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
  cat >"$apt/sources.list" <<EOF
deb-src [trusted=yes] $mirror sid main
deb-src [trusted=yes] $mirror experimental main
deb-src [trusted=yes] $mirror trixie main
EOF
  local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=$apt/none"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root")
  say "reading the source index of $mirror (sid, experimental, trixie)"
  quiet apt-get "${opts[@]}" update
  local want
  for want in python3.14 python3.13/trixie; do
    # A package listed in the index whose files the mirror lacks fails here
    # (404): that is the reason to try the next one, so it is said, not hidden.
    local out rc=0
    out=$(cd "$top/src" && apt-get "${opts[@]}" source --download-only "$want" 2>&1) || rc=$?
    if ((rc == 0)); then
      tarball=$(find "$top/src" -maxdepth 1 -name 'python3.1*.orig.tar.*' ! -name '*.asc' | sort -V | tail -n1)
      if [[ -n $tarball ]]; then
        say "fetched $(basename "$tarball")"
        rm -rf "$apt" # the index (50 MB) is not needed again: the tarball is kept
        echo "$tarball"
        return 0
      fi
    fi
    say "could not fetch $want's source (the next candidate is tried):"
    grep -E '^(E|W):' <<<"$out" | head -n 5 >&2
    rm -f "$top/src"/python3.1*
  done
  say "no python3.14 or python3.13 source could be fetched from $mirror"
  return 1
}

tarball=$(fetch)
# Only the upstream tarball is built; Debian's patches are not applied.
version=$(basename "$tarball" | sed -n 's/^python3\.1[0-9]*_\([0-9.]*\)\.orig\.tar\..*/\1/p')
[[ -n $version ]] || { say "cannot read a version from $(basename "$tarball")"; exit 1; }
src="$top/Python-$version"
rm -rf "$src" "$prefix"
say "building CPython $version with --disable-gil into $prefix (about 7 minutes on 2 cores)"
start=$SECONDS
tar -C "$top" -xf "$tarball"
[[ -x $src/configure ]] || { say "$tarball has no Python-$version/configure"; exit 1; }
cd "$src"
quiet nice -n 19 ./configure --prefix="$prefix" --disable-gil --disable-test-modules
jobs=$(nproc)
((jobs > 2)) && jobs=2
quiet nice -n 19 make -j"$jobs"
quiet nice -n 19 make install
# `make install` names the free-threaded interpreter python3.13t; python3 is
# what callers ask for.
[[ -e $prefix/bin/python3 ]] || ln -s "$(cd "$prefix/bin" && ls python3.1*t | head -n1)" "$prefix/bin/python3"
cd "$top"
rm -rf "$src"
if ! usable; then
  say "the built interpreter at $prefix/bin/python3 is not free-threaded or lacks ssl/zlib (missing -dev packages? scripts/install-deps.sh)"
  exit 1
fi
say "built in $((SECONDS - start)) s"
echo "$prefix/bin/python3"
