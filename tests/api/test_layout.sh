#!/usr/bin/env bash
# The layout rules the folders promise (docs/internals.md):
#  - the core folder includes only itself, the public headers, generated
#    protobuf headers and system headers (a provider header cannot slip in);
#  - no hand-written C file under src/, python/ or tools/cli is over 700 lines;
#  - docs/internals.md names every .c file under src/;
#  - code and tests cite concerns, not issue numbers.
# Usage: test_layout.sh REPO
set -uo pipefail
repo="$1"
cd "$repo" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for f in src/core/*.c src/core/*.h; do
  while read -r inc; do
    [[ -f "src/core/$inc" || -f "include/$inc" || "$inc" == *.pb-c.h ]] ||
      bad "$f includes \"$inc\", which is outside src/core, include/ and the generated headers"
  done < <(sed -n 's/^#include "\(.*\)".*/\1/p' "$f")
done

while read -r n f; do
  [[ "$f" == total ]] && continue
  ((n > 700)) && bad "$f has $n lines (the limit is 700)"
done < <(wc -l src/*/*.[ch] python/_native/*.[ch] tools/cli/*.[ch])

for f in src/*/*.c; do
  grep -q "\`$(basename "$f")\`" docs/internals.md || bad "docs/internals.md does not name $f"
done

hits=$(grep -rniE "issues? [0-9]+" src include python tests --include='*.[ch]' --include='*.py' \
  --include='*.sh' --include='*.txt' --include='*.cmake' --include='*.pyi' | grep -v "^tests/api/test_layout.sh")
[[ -z "$hits" ]] || bad "comments cite issue numbers:"$'\n'"$hits"

((fail)) && exit 1
echo "layout rules hold"
