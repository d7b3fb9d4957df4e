#!/usr/bin/env bash
# The `confidence` command line: resolve, eval, bench, explain and version, their exit
# codes (0 ok, 1 failure, 2 usage) and output. Expected flag results follow
# RESOLVER_SPEC.md 3.10 (worked examples) and the demo state's JSON form.
# Usage: test_cli.sh path/to/confidence CONFORMANCE_DIR
set -u
cli=${1:?usage: test_cli.sh CLI CONFORMANCE_DIR}
data=${2:?usage: test_cli.sh CLI CONFORMANCE_DIR}
spec_state=$data/resolver-spec/state.pb
demo_state=$data/states/resolver_state_current.pb
enc_state=$data/states/resolver_state_encrypted.pb
key=$(tr -d ' \n\r' < "$data/states/encryption_key_test.hex")
demo_secret=mkjJruAATQWjeY7foFIWfVAcBWnci2YF

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
fail() { echo "FAIL (line ${BASH_LINENO[0]}): $*"; failed=$((failed + 1)); }
pass() { passed=$((passed + 1)); }
expect_eq() { # actual expected description
  if [ "$1" == "$2" ]; then pass; else fail "$3"; printf '  got:  %s\n  want: %s\n' "$1" "$2"; fi
}
expect_match() { # text regex description
  if [[ "$1" =~ $2 ]]; then pass; else fail "$3"; printf '  got: %s\n' "$1"; fi
}
expect_no_match() {
  if [[ "$1" =~ $2 ]]; then fail "$3"; printf '  got: %s\n' "$1"; else pass; fi
}
# run ARGS...: sets out, err and rc
run() {
  "$cli" "$@" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}

# ---- resolve: spec worked example 1 and its negative --------------------------
run resolve --state "$spec_state" --account test-account --secret test-secret \
  --context '{"targeting_key":"user1","country":"SE"}' --flag flags/simple-flag
expect_eq "$rc" 0 "resolve exits 0"
expect_eq "$out" '{"resolved":[{"flag":"flags/simple-flag","variant":"on","reason":"RESOLVE_REASON_MATCH","value":{"enabled":true},"should_apply":true}],"error":null}' \
  "resolve prints simple-flag's MATCH"
expect_eq "$err" "" "resolve is quiet on stderr"

run resolve --state "$spec_state" --account test-account --secret test-secret \
  --context '{"targeting_key":"user1","country":"NO"}' --flag flags/simple-flag
expect_eq "$out" '{"resolved":[{"flag":"flags/simple-flag","variant":"","reason":"RESOLVE_REASON_NO_SEGMENT_MATCH","value":null,"should_apply":false}],"error":null}' \
  "resolve prints NO_SEGMENT_MATCH"

# Example 2 (bucket 855 -> treatment), two flags at once.
run resolve --state "$spec_state" --account test-account --secret test-secret \
  --context '{"targeting_key":"user1","country":"SE"}' --flag flags/catch-all-50pct-flag --flag flags/simple-flag
expect_eq "$rc" 0 "resolve with two flags exits 0"
expect_match "$out" '"flag":"flags/catch-all-50pct-flag","variant":"treatment","reason":"RESOLVE_REASON_MATCH","value":\{"group":"treatment"\}' \
  "catch-all-50pct-flag buckets user1 into treatment"
expect_match "$out" '"flag":"flags/simple-flag","variant":"on"' "both flags are printed"

# A failed resolve (unknown secret) exits 1, prints the error, masks the secret.
run resolve --state "$spec_state" --account test-account --secret not-a-real-secret-42 \
  --context '{}' --flag flags/simple-flag
expect_eq "$rc" 1 "unknown secret exits 1"
expect_match "$out" '^\{"resolved":\[\],"error":".+"\}$' "unknown secret prints an error line"
expect_no_match "$out$err" 'not-a-real-secret-42' "the secret is masked"

# ---- eval: one output line per input line, in order ---------------------------
cat > "$tmp/cases.jsonl" <<'EOF'
{"client_secret":"test-secret","flags":["flags/simple-flag"],"context":{"targeting_key":"user1","country":"SE"}}
{"client_secret":"no-such-secret-1234","flags":["flags/simple-flag"],"context":{"targeting_key":"user1"}}
{"client_secret": "test-secret", "flags": [
{"client_secret":"test-secret","flags":["flags/catch-all-50pct-flag"],"context":{"targeting_key":"user1"}}
{"client_secret":"test-secret","flags":["flags/catch-all-50pct-flag"],"context":{"targeting_key":{}}}
{"client_secret":"test-secret","flags":["flags/catch-all-100pct-flag"],"context":{"targeting_key":{}}}
EOF
run eval --state "$spec_state" --account test-account --cases "$tmp/cases.jsonl"
expect_eq "$rc" 0 "eval exits 0 even when cases fail"
mapfile -t lines < "$tmp/out"
expect_eq "${#lines[@]}" 6 "eval prints one line per case"
expect_eq "${lines[0]:-}" '{"resolved":[{"flag":"flags/simple-flag","variant":"on","reason":"RESOLVE_REASON_MATCH","value":{"enabled":true},"should_apply":true}],"error":null}' \
  "eval line 1 is simple-flag's MATCH"
expect_match "${lines[1]:-}" '^\{"resolved":\[\],"error":"[^"]+' "eval line 2 reports the unknown secret"
expect_no_match "${lines[1]:-}" 'no-such-secret-1234' "eval masks the secret"
expect_match "${lines[2]:-}" '^\{"resolved":\[\],"error":"[^"]+' "eval line 3 reports invalid JSON"
expect_match "${lines[3]:-}" '"variant":"treatment"' "eval line 4 is treatment (bucket 855)"
expect_match "${lines[4]:-}" '"reason":"RESOLVE_REASON_TARGETING_KEY_ERROR","value":null,"should_apply":false' \
  "eval line 5 is a targeting key error (example 3)"
expect_match "${lines[5]:-}" '"variant":"on","reason":"RESOLVE_REASON_MATCH"' \
  "eval line 6: blank selector + full rollout forgives the key (example 3)"

run eval --state "$spec_state" --account test-account --cases "$tmp/missing.jsonl"
expect_eq "$rc" 1 "eval with a missing cases file exits 1"
expect_match "$err" 'missing\.jsonl' "the missing cases file is named"

# ---- usage errors: exit 2, usage on stderr, nothing on stdout ------------------
check_usage() {
  run "$@"
  expect_eq "$rc" 2 "usage error exits 2: $*"
  expect_match "$err" 'usage' "usage on stderr: $*"
  expect_eq "$out" "" "no stdout on usage error: $*"
}
check_usage
check_usage frobnicate
check_usage resolve --bogus x
check_usage resolve --state "$spec_state"
check_usage resolve --state "$spec_state" --account test-account --secret test-secret --context
check_usage bench --state "$spec_state" --account test-account --cases "$tmp/cases.jsonl" --iterations zero
run resolve --state "$spec_state" --account test-account --secret test-secret --context '{"unterminated'
expect_eq "$rc" 2 "bad --context JSON exits 2"
expect_match "$err" 'context' "bad --context is explained"
run resolve --state "$spec_state" --account test-account --secret test-secret --context '[1,2]'
expect_eq "$rc" 2 "a non-object --context exits 2"
run eval --state "$spec_state" --account test-account
expect_eq "$rc" 2 "eval without --cases exits 2"

# ---- missing or unreadable state: exit 1 with a clear message -------------------
run resolve --state "$tmp/no-such-state.pb" --account test-account --secret test-secret --context '{}'
expect_eq "$rc" 1 "missing state file exits 1"
expect_match "$err" 'no-such-state\.pb' "the missing state file is named"
expect_eq "$out" "" "nothing on stdout when the state is missing"
run eval --state "$tmp/no-such-state.pb" --account test-account --cases "$tmp/cases.jsonl"
expect_eq "$rc" 1 "eval with a missing state exits 1"
printf 'not a protobuf at all' > "$tmp/garbage.pb"
run resolve --state "$tmp/garbage.pb" --account test-account --secret test-secret --context '{}'
expect_eq "$rc" 1 "a corrupt state exits 1"
expect_match "$err" 'garbage\.pb' "the corrupt state file is named"

# ---- encrypted state ------------------------------------------------------------
tutorial='{"resolved":[{"flag":"flags/tutorial-feature","variant":"flags/tutorial-feature/variants/exciting-welcome","reason":"RESOLVE_REASON_MATCH","value":{"message":"We are very excited to welcome you to Confidence! This is a message from the tutorial flag.","title":"Welcome to Confidence!"},"should_apply":true}],"error":null}'
run resolve --state "$enc_state" --account "" --encryption-key "$key" --secret "$demo_secret" \
  --context '{"visitor_id":"tutorial_visitor"}' --flag flags/tutorial-feature
expect_eq "$rc" 0 "encrypted state resolves"
expect_eq "$out" "$tutorial" "encrypted state: tutorial override"
run resolve --state "$demo_state" --account confidence-test --secret "$demo_secret" \
  --context '{"visitor_id":"tutorial_visitor"}' --flag flags/tutorial-feature
expect_eq "$out" "$tutorial" "plain demo state: tutorial override"
# Every flag, many units: encrypted and plain answer alike.
: > "$tmp/demo.jsonl"
for i in $(seq 1 60); do
  printf '{"client_secret":"%s","context":{"visitor_id":"v%d"}}\n' "$demo_secret" "$i" >> "$tmp/demo.jsonl"
done
run eval --state "$enc_state" --account "" --encryption-key "$key" --cases "$tmp/demo.jsonl"
enc_out=$out
run eval --state "$demo_state" --account confidence-test --cases "$tmp/demo.jsonl"
expect_eq "$enc_out" "$out" "encrypted and plain states give the same answers"
expect_match "$out" 'RESOLVE_REASON_MATCH' "the demo units see some matches"
wrong_key=$(printf '%s' "$key" | tr '0123456789abcdef' '123456789abcdef0')
run resolve --state "$enc_state" --account "" --encryption-key "$wrong_key" --secret "$demo_secret" --context '{}'
expect_eq "$rc" 1 "a wrong key exits 1"
expect_match "$err" 'EDECRYPT|authentic|decrypt' "a wrong key is explained"
expect_no_match "$err" "$wrong_key" "the key is not printed"

# ---- explain -----------------------------------------------------------------------
# A bucketed flag: spec example 2, bucket 855 of 1000 falls in treatment's range.
run explain --state "$spec_state" --account test-account --secret test-secret \
  --context '{"targeting_key":"user1"}' --flag catch-all-50pct-flag
expect_eq "$rc" 0 "explain exits 0"
expect_match "$out" 'client clients/test-client, credential clients/test-client/credentials/cred1' "explain names the client"
expect_match "$out" 'targeting key from targeting_key: "user1" -> unit "user1"' "explain shows the unit"
expect_match "$out" 'bucket 855 of 1000 \(hash of "catch-all\|user1"\)' "explain shows the bucket"
expect_match "$out" '\* variant treatment \[500, 1000\)  <- bucket 855 falls here' "explain shows the range it fell in"
expect_match "$out" '  variant control \[0, 500\)' "explain lists the other ranges"
expect_match "$out" 'result: RESOLVE_REASON_MATCH, variant treatment' "explain ends with the result"
run explain --state "$spec_state" --account test-account --secret test-secret \
  --context '{"targeting_key":"user1"}' --flag flags/catch-all-50pct-flag --json
expect_match "$out" '"step":"bucket","depth":0,"rule":"flags/catch-all-50pct-flag/rules/rule1","bucket":855,"bucket_count":1000' \
  "explain --json: the bucket step"
expect_match "$out" '"assignment":"variant treatment","ranges":\[\[500,1000\]\],"selected":true' "explain --json: the range"
expect_match "$out" '"result":\{"reason":"RESOLVE_REASON_MATCH","variant":"treatment"' "explain --json: the result"
# Criteria with the value seen after coercion, a miss, and an error.
run explain --state "$spec_state" --account test-account --secret test-secret \
  --context '{"targeting_key":"user1","country":"NO"}' --flag simple-flag
expect_match "$out" 'criterion country eq "SE": context "NO" \(from the request\), as string "NO" -> no match' \
  "explain shows a criterion that missed"
expect_match "$out" '-> segment did not match' "explain says why the rule fell through"
expect_match "$out" 'result: RESOLVE_REASON_NO_SEGMENT_MATCH' "explain: no segment match"
run explain --state "$spec_state" --account test-account --secret test-secret \
  --context '{"targeting_key":"user1","age":"abc"}' --flag range-match-flag
expect_eq "$rc" 1 "explain of a failing resolve exits 1"
expect_match "$out" 'resolve failed: .*not a number' "explain reports the whole-request error"
run explain --state "$spec_state" --account test-account --secret test-secret --context '{}'
expect_eq "$rc" 2 "explain without --flag is a usage error"

# A client with a managed context (Client field 13): the spec state plus a
# client, credential, segment and flag appended on the wire (repeated fields
# concatenate), encoded here with the standard library only.
python3 - "$spec_state" "$tmp/managed.pb" <<'EOF'
import struct, sys
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out
def field(num, payload):  # length-delimited
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(num << 3 | 2) + varint(len(data)) + data
def vint(num, n):
    return varint(num << 3) + varint(n)
def value(v):  # google.protobuf.Value
    if v is None:
        return vint(1, 0)
    if isinstance(v, bool):
        return vint(4, int(v))
    if isinstance(v, (int, float)):
        return varint(2 << 3 | 1) + struct.pack("<d", v)
    if isinstance(v, str):
        return field(3, v)
    return field(5, b"".join(field(1, field(1, k) + field(2, value(x))) for k, x in v.items()))
managed = {"user.plan": "pro", "app": {"name": "checkout"}, "country": "SE"}
client = field(1, "clients/mc") + b"".join(field(13, field(1, k) + field(2, value(v))) for k, v in managed.items())
cred = field(1, "clients/mc/credentials/c") + field(3, field(1, "mc-secret")) + field(16, "production")
crit = field(1, field(1, "user.plan") + field(2, field(1, field(4, "pro"))))
segment = field(1, "segments/mc-plan") + field(2, field(1, field(1, "c1") + field(2, crit)) + field(2, field(1, "c1")))
rule = (field(1, "flags/mc-flag/rules/r1") + field(2, "segments/mc-plan") + vint(11, 1) +
        field(12, vint(1, 1000) + field(2, field(1, "a1") + field(2, field(1, "on")) + field(5, vint(2, 1000)))))
flag = (field(1, "flags/mc-flag") + field(3, field(1, "on") + field(2, field(1, field(1, "on") + field(2, value(True))))) +
        vint(4, 1) + field(5, rule) + field(12, "clients/mc") + field(12, "clients/test-client"))
data = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(data + field(6, client) + field(7, cred) + field(2, segment) + field(1, flag))
EOF
run explain --state "$tmp/managed.pb" --account test-account --secret mc-secret \
  --context '{"targeting_key":"u","user":{"plan":"free","country":"SE"}}' --flag mc-flag
expect_eq "$rc" 0 "explain on a managed-context client exits 0"
expect_match "$out" 'managed context \(unflattened; wins over the request\): \{"app":\{"name":"checkout"\},"country":"SE","user":\{"plan":"pro"\}\}' \
  "explain prints the unflattened managed context"
expect_match "$out" 'criterion user.plan eq "pro": context "pro" \(from the managed context\), as string "pro" -> match' \
  "explain shows the merged value that matched, and where it came from"
expect_match "$out" 'result: RESOLVE_REASON_MATCH, variant on' "the managed value decides"
run explain --state "$tmp/managed.pb" --account test-account --secret mc-secret \
  --context '{"targeting_key":"u"}' --flag mc-flag --json
expect_match "$out" '"attribute":"user.plan","rule":"eq \\"pro\\"","value":"pro","source":"managed context","coerced":\["string \\"pro\\""\],"result":"match"' \
  "explain --json: the managed value"
# The same flag for a client without a managed context sees the request only.
run explain --state "$tmp/managed.pb" --account test-account --secret test-secret \
  --context '{"targeting_key":"u","user":{"plan":"free"}}' --flag mc-flag
expect_match "$out" 'criterion user.plan eq "pro": context "free" \(from the request\)' "no managed context: the request's value"
expect_match "$out" 'result: RESOLVE_REASON_NO_SEGMENT_MATCH' "no managed context: no match"
# resolve agrees: managed wins over the request, request siblings survive.
run resolve --state "$tmp/managed.pb" --account test-account --secret mc-secret \
  --context '{"targeting_key":"u","user":{"plan":"free"},"country":"NO"}' --flag flags/mc-flag --flag flags/simple-flag
expect_match "$out" '"flag":"flags/mc-flag","variant":"on","reason":"RESOLVE_REASON_MATCH"' "resolve: managed user.plan wins"
expect_no_match "$out" 'flags/simple-flag' "resolve: simple-flag is not enabled for the managed client"

# ---- --store: sticky flags through a materialization store --------------------------
sticky_state=$data/states/resolver_state_with_multiple_sticky_flags.pb
sticky_account=$(tr -d ' \r\n' < "$data/states/account_id")
sticky_ctx='{"user_id":"cli-unit","country":"SE"}'
run resolve --state "$sticky_state" --account "$sticky_account" --secret test-secret --context "$sticky_ctx" \
  --flag flags/sticky-flag-1
expect_match "$out" '"reason":"RESOLVE_REASON_MATERIALIZATION_NOT_SUPPORTED"' "sticky flag without --store"
run resolve --state "$sticky_state" --account "$sticky_account" --secret test-secret --context "$sticky_ctx" \
  --flag flags/sticky-flag-1 --store memory
expect_eq "$rc" 0 "resolve --store memory exits 0"
expect_match "$out" '"flag":"flags/sticky-flag-1","variant":"flags/sticky-flag-1/variants/[a-z]+","reason":"RESOLVE_REASON_MATCH"' \
  "sticky flag assigned through the memory store"
printf '%s\n' "{\"client_secret\":\"test-secret\",\"flags\":[\"flags/sticky-flag-1\"],\"context\":$sticky_ctx}" \
  "{\"client_secret\":\"test-secret\",\"flags\":[\"flags/sticky-flag-1\"],\"context\":$sticky_ctx}" > "$tmp/sticky.jsonl"
run eval --state "$sticky_state" --account "$sticky_account" --cases "$tmp/sticky.jsonl" --store memory
first=$(printf '%s\n' "$out" | sed -n 1p) second=$(printf '%s\n' "$out" | sed -n 2p)
expect_match "$first" 'RESOLVE_REASON_MATCH' "eval --store memory assigns"
expect_eq "$second" "$first" "eval --store memory: the second case reads the first one's assignment"
run resolve --state "$sticky_state" --account "$sticky_account" --secret test-secret --context "$sticky_ctx" \
  --flag flags/sticky-flag-1 --store redis://127.0.0.1:1
expect_eq "$rc" 1 "resolve with an unreachable Redis store exits 1"
expect_match "$out" '"error":"materialization store read failed' "the store's failure is the case's error"
run resolve --state "$sticky_state" --account "$sticky_account" --secret test-secret --context "$sticky_ctx" \
  --flag flags/sticky-flag-1 --store ftp://nope
expect_eq "$rc" 2 "an unknown --store is a usage error"
expect_match "$err" 'memory or redis://' "and says what --store takes"

# ---- bench and version ------------------------------------------------------------
run bench --state "$spec_state" --account test-account --cases "$tmp/cases.jsonl" --iterations 50
expect_eq "$rc" 0 "bench exits 0"
last=$(printf '%s\n' "$out" | tail -n 1)
expect_match "$last" '^resolves/s=[0-9]+ mean_us=[0-9.]+$' "bench's last line"
run version
expect_eq "$rc" 0 "version exits 0"
expect_match "$out" '^confidence [0-9]+\.[0-9]+\.[0-9]+$' "version prints the version"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
