#!/usr/bin/env bash
# Every public header compiles on its own as C11 (-pedantic) and as C++17,
# and a C++ client using every _INIT macro builds and runs against the core
# library. -Wno-missing-field-initializers: the _INIT macros are `{VERSION}`
# by design (docs/api.md), which that -Wextra warning flags in every caller.
# Usage: test_headers.sh SOURCE_DIR BUILD_DIR STATE_FILE ACCOUNT_ID [SANITIZERS]
set -u
src=$(cd "${1:?usage}" && pwd) build=$(cd "${2:?usage}" && pwd) state=$(realpath "${3:?usage}") account=${4:?usage}
cc=${CC:-cc} cxx=${CXX:-c++}
sanitize=${5:+-fsanitize=$5} # the library's sanitizer runtime, when it has one
command -v "$cxx" >/dev/null || { echo "FAIL: no C++ compiler ($cxx)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
pass() { passed=$((passed + 1)); }
cd "$src/include"
for h in $(find confidence -name '*.h' | sort); do
  printf '#include <%s>\n' "$h" > "$tmp/one.c"
  if "$cc" -std=c11 -pedantic -Wall -Wextra -Werror -I. -c "$tmp/one.c" -o "$tmp/one.o" 2> "$tmp/err"; then pass
  else fail "$h as C11 -pedantic"; cat "$tmp/err"; fi
  cp "$tmp/one.c" "$tmp/one.cpp"
  if "$cxx" -std=c++17 -pedantic -Wall -Wextra -Werror -I. -c "$tmp/one.cpp" -o "$tmp/one.o" 2> "$tmp/err"; then pass
  else fail "$h as C++17"; cat "$tmp/err"; fi
done
if "$cxx" -std=c++17 -pedantic -Wall -Wextra -Werror -Wno-missing-field-initializers -I. "$src/tests/api/cpp_client.cpp" \
     $sanitize -o "$tmp/cpp_client" -L"$build" -lconfidence-core -Wl,-rpath,"$build" 2> "$tmp/err"; then
  pass
  out=$("$tmp/cpp_client" "$state" "$account")
  if [ "$out" = ok ]; then pass; else fail "cpp_client: $out"; fi
else
  fail "the C++ client does not build"; cat "$tmp/err"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
