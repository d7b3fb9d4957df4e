#!/usr/bin/env bash
# The resolver-only library needs no network and no threads: it does not
# link libcurl, defines no provider symbol, and the CLI's `eval` (built on
# it) runs without libcurl.
# Usage: test_core_lib.sh LIBCONFIDENCE_CORE_SO CLI RESOLVER_SPEC_DIR
set -u
lib=${1:?usage} cli=${2:?usage} spec=${3:?usage}
passed=0 failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
pass() { passed=$((passed + 1)); }
if ldd "$lib" | grep -q libcurl; then fail "$lib links libcurl"; else pass; fi
if ldd "$cli" | grep -q libcurl; then fail "$cli links libcurl"; else pass; fi
# Dynamic symbols the core needs from elsewhere: none from curl or pthread_create.
undef=$(nm -D --undefined-only "$lib" | awk '{print $NF}')
if printf '%s\n' "$undef" | grep -Eq '^(curl_|pthread_create)'; then fail "core needs curl or threads"; else pass; fi
defs=$(nm -D --defined-only "$lib" | awk '{print $NF}')
if printf '%s\n' "$defs" | grep -q '^confidence_resolve$'; then pass; else fail "confidence_resolve missing"; fi
if printf '%s\n' "$defs" | grep -q '^confidence_provider_'; then fail "provider symbols in the core"; else pass; fi
account=$(tr -d '\r\n' < "$spec/account_id")
# test-secret and simple-flag: the resolver-spec state's own client.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
printf '{"client_secret": "test-secret", "flags": ["flags/simple-flag"], "context": {"targeting_key": "u1", "country": "SE"}}\n' > "$tmp"
if out=$("$cli" eval --state "$spec/state.pb" --account "$account" --cases "$tmp") && \
   printf '%s' "$out" | grep -q '"flag":"flags/simple-flag"'; then pass; else fail "eval did not resolve: $out"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
