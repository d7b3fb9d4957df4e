#!/usr/bin/env bash
# Install tier: installs a build to a temporary prefix and builds examples/
# against it as a user would, in C and C++: with pkg-config (shared and
# static, provider and core) and with CMake find_package (shared and static
# targets). Runs the resolver example each way and checks that the
# installed static archives define no global symbol outside confidence_.
# Usage: scripts/install-check.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
build=$(cd "${1:-build}" && pwd)
src=$PWD
spec="$src/../shared/conformance/resolver-spec"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
quiet cmake --install "$build" --prefix "$prefix"
pcdir=$(dirname "$(find "$prefix" -name confidence.pc | head -1)")
libdir=$(dirname "$pcdir")
export PKG_CONFIG_PATH="$pcdir"
cc=${CC:-cc} cxx=${CXX:-c++}
warn="-Wall -Wextra -Werror -Wno-missing-field-initializers" # _INIT macros are {VERSION} (docs/api.md)
fail() { echo "install-check: FAIL: $*" >&2; exit 1; }

for a in libconfidence.a libconfidence-core.a; do
  syms=$(nm -g --defined-only "$libdir/$a")
  foreign=$(awk 'NF >= 3 && $3 !~ /^confidence_/ { print $3 }' <<<"$syms")
  [[ -z "$foreign" ]] || fail "$a defines symbols outside confidence_: $(echo $foreign | head -c 300)"
done
grep -q 'pcfiledir' "$pcdir/confidence.pc" || fail "confidence.pc is not relocatable"

account=$(tr -d '\r\n' < "$spec/account_id")
ctx='{"targeting_key":"user1","country":"SE"}'
check_run() { # binary: resolves the spec state's client
  local out
  out=$("$1" "$spec/state.pb" "$account" test-secret "$ctx") || fail "$1 failed"
  grep -q 'simple-flag' <<<"$out" || fail "$1 printed no simple-flag: $out"
}

# pkg-config, shared and static, C and C++.
for lang in c c++; do
  compiler=$cc std=-std=c11
  [[ $lang == c++ ]] && compiler=$cxx std=-std=c++17
  for pkg in confidence confidence-core; do
    lib=${pkg#confidence}; lib="confidence$lib"
    out="$tmp/rf-$pkg-$lang"
    $compiler -x "$lang" $std $warn "$src/examples/resolve_flags.c" -o "$out-shared" \
      $(pkg-config --cflags --libs "$pkg") -Wl,-rpath,"$libdir"
    check_run "$out-shared"
    static_libs=$(pkg-config --static --libs "$pkg" | sed "s/-l$lib\b/-l:lib$lib.a/")
    $compiler -x "$lang" $std $warn "$src/examples/resolve_flags.c" -o "$out-static" \
      $(pkg-config --cflags "$pkg") $static_libs
    ldd "$out-static" | grep -q "lib$lib\.so" && fail "$out-static links lib$lib.so"
    check_run "$out-static"
  done
  $compiler -x "$lang" $std $warn "$src/examples/quickstart.c" -o "$tmp/qs-$lang-shared" \
    $(pkg-config --cflags --libs confidence) -Wl,-rpath,"$libdir"
  $compiler -x "$lang" $std $warn "$src/examples/quickstart.c" -o "$tmp/qs-$lang-static" \
    $(pkg-config --cflags confidence) $(pkg-config --static --libs confidence | sed 's/-lconfidence\b/-l:libconfidence.a/')
done

# An application with its own protobuf-c copy of google/protobuf/struct.proto
# links against the static archive (ours is sealed inside it).
mkdir -p "$tmp/own-proto"
protoc-c --c_out="$tmp/own-proto" -I"$src/proto" google/protobuf/struct.proto
cat > "$tmp/own-proto/main.c" <<'C'
#include <confidence/confidence.h>
#include <stdio.h>
#include "google/protobuf/struct.pb-c.h"
int main(void)
{
  Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;
  printf("%s %zu\n", confidence_version(), protobuf_c_message_get_packed_size(&v.base));
  return 0;
}
C
$cc -std=c11 $warn -I"$tmp/own-proto" "$tmp/own-proto/main.c" "$tmp/own-proto/google/protobuf/struct.pb-c.c" \
  -o "$tmp/own-proto/app" $(pkg-config --cflags confidence) \
  $(pkg-config --static --libs confidence | sed 's/-lconfidence\b/-l:libconfidence.a/') \
  || fail "an application with its own struct.pb-c.c does not link with libconfidence.a"
"$tmp/own-proto/app" >/dev/null || fail "that application does not run"

# CMake find_package, shared and static targets, C and C++.
mkdir -p "$tmp/cmake-user"
cat > "$tmp/cmake-user/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(confidence_user C CXX)
find_package(confidence REQUIRED)
foreach(kind shared static)
  if(kind STREQUAL static)
    set(suffix _static)
  else()
    set(suffix "")
  endif()
  add_executable(rf_c_\${kind} $src/examples/resolve_flags.c)
  target_link_libraries(rf_c_\${kind} PRIVATE confidence::confidence\${suffix})
  add_executable(rf_core_\${kind} $src/examples/resolve_flags.c)
  target_link_libraries(rf_core_\${kind} PRIVATE confidence::confidence_core\${suffix})
  configure_file($src/examples/quickstart.c qs_\${kind}.cpp COPYONLY)
  add_executable(qs_cpp_\${kind} \${CMAKE_CURRENT_BINARY_DIR}/qs_\${kind}.cpp)
  target_link_libraries(qs_cpp_\${kind} PRIVATE confidence::confidence\${suffix})
endforeach()
CMAKE
quiet cmake -S "$tmp/cmake-user" -B "$tmp/cmake-user/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$warn" -DCMAKE_CXX_FLAGS="$warn"
quiet cmake --build "$tmp/cmake-user/build" -j2
for b in rf_c_shared rf_c_static rf_core_shared rf_core_static; do check_run "$tmp/cmake-user/build/$b"; done
ldd "$tmp/cmake-user/build/rf_c_static" | grep -q 'libconfidence\.so' && fail "static CMake target links the .so"
echo "install-check: installed to a prefix; examples built with pkg-config (shared, static) and CMake, in C and C++"
