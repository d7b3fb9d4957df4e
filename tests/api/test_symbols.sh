#!/usr/bin/env bash
# The shared library exports only the public API: every defined dynamic
# symbol starts with confidence_ (STYLE.md rule 1). Linker-provided symbols
# starting with '_' (_init, _fini, _edata, _end, __bss_start, ...) are ignored.
# Usage: test_symbols.sh path/to/libconfidence.so
set -u
lib=${1:?usage: test_symbols.sh LIBRARY}
if ! command -v nm >/dev/null 2>&1; then
  echo "nm not found; skipping"
  exit 77
fi
if ! listing=$(nm -D --defined-only "$lib"); then
  echo "nm failed on $lib"
  exit 1
fi
# "ADDRESS TYPE NAME[@VERSION]" -> NAME
names=$(printf '%s\n' "$listing" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u)
passed=0 failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
pass() { passed=$((passed + 1)); }

foreign=$(printf '%s\n' "$names" | grep -v '^_' | grep -v '^confidence_' || true)
if [ -n "$foreign" ]; then
  fail "symbols outside the confidence_ prefix are exported:"
  printf '  %s\n' $foreign
else
  pass
fi
# The listing is real: the public entry points are there.
for sym in confidence_state_load confidence_resolve confidence_value_from_json confidence_version \
           confidence_strerror confidence_resolve_resume; do
  if printf '%s\n' "$names" | grep -qx "$sym"; then pass; else fail "$sym is not exported"; fi
done
# Internals stay hidden.
for prefix in cf_ protobuf_c_ confidence__; do
  if printf '%s\n' "$names" | grep -q "^$prefix"; then fail "internal symbols ($prefix*) are exported"; else pass; fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
