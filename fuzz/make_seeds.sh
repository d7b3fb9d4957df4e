#!/usr/bin/env bash
# Writes seed corpora for the fuzz targets into OUT_DIR/<target>/, generated
# at fuzz time from the shared conformance data (never committed):
#   fuzz_state            the small shared states, raw and wrapped in a
#                         ClientResolverState envelope (plus the build's
#                         sample state when present)
#   fuzz_state_encrypted  those envelopes sealed with the harness key, and
#                         the plain envelopes (the harness seals them itself)
#   fuzz_context_json     every evaluation context of resolver-spec/tests.json
#                         and hand-written edge cases
#   fuzz_resolve_context  a few deterministic random builder programs
# usage: fuzz/make_seeds.sh BUILD_DIR OUT_DIR [CONFORMANCE_DIR]
set -euo pipefail

build=${1:?usage: make_seeds.sh BUILD_DIR OUT_DIR [CONFORMANCE_DIR]}
out=${2:?usage: make_seeds.sh BUILD_DIR OUT_DIR [CONFORMANCE_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
conf=${3:-${CONFIDENCE_CONFORMANCE_DIR:-$here/../../shared/conformance}}
[ -d "$conf/resolver-spec" ] || { echo "make_seeds: no conformance data at $conf" >&2; exit 1; }
seal="$build/fuzz/fuzz_seal"
[ -x "$seal" ] || { echo "make_seeds: $seal not built" >&2; exit 1; }
# Must match FIXED_KEY in fuzz_state.c.
key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

mkdir -p "$out"/{fuzz_state,fuzz_state_encrypted,fuzz_context_json,fuzz_resolve_context,fuzz_value_api}

python3 - "$conf" "$out" "${build}/sample/state.pb" "$here/json.dict" <<'PY'
import json, os, random, sys

conf, out, sample = sys.argv[1], sys.argv[2], sys.argv[3]

def varint(n):
    b = bytearray()
    while True:
        x = n & 0x7f
        n >>= 7
        if n:
            b.append(x | 0x80)
        else:
            b.append(x)
            return bytes(b)

def envelope(state, account, dests=()):
    e = b"\x0a" + varint(len(state)) + state
    a = account.encode()
    e += b"\x12" + varint(len(a)) + a
    for d in dests:
        e += b"\x20" + varint(d)
    return e

def write(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)

account = open(os.path.join(conf, "resolver-spec/account_id")).read().strip()
small = {
    "spec": "resolver-spec/state.pb",
    "custom_targeting": "states/resolver_state_with_custom_targeting_flag.pb",
    "sticky": "states/resolver_state_with_multiple_sticky_flags.pb",
}
for name, rel in small.items():
    data = open(os.path.join(conf, rel), "rb").read()
    write("fuzz_state", name + ".pb", data)
    env = envelope(data, account, (2, 1) if name == "spec" else ())
    write("fuzz_state", name + ".env", env)
    write("fuzz_state_encrypted", name + ".env", env)
if os.path.exists(sample):
    data = open(sample, "rb").read()
    write("fuzz_state", "sample.env", data)
    write("fuzz_state_encrypted", "sample.env", data)
write("fuzz_state", "empty", b"")
write("fuzz_state", "empty.env", envelope(b"", "acct"))

tests = json.load(open(os.path.join(conf, "resolver-spec/tests.json")))
seen = set()
for i, t in enumerate(tests):
    ctx = t.get("resolveRequest", {}).get("evaluationContext")
    if ctx is None:
        continue
    text = json.dumps(ctx, separators=(",", ":"), ensure_ascii=False)
    if text in seen:
        continue
    seen.add(text)
    write("fuzz_context_json", "spec%03d.json" % i, text.encode())
edge = [
    b"{}", b"[]", b"null", b"0", b'"x"', b"-0", b"1e308", b"4.9e-324", b"123456789012345678901234567890",
    b'{"targeting_key":"user1","country":"SE","a":{"b":{"c":[1,2.5,-0.0,1e21,"x",null,true]}}}',
    b'{"targeting_key":1e21}', b'{"targeting_key":12345678901234567890}', b'{"targeting_key":-0}',
    b'{"targeting_key":"' + b"k" * 101 + b'"}', b'{"targeting_key":"a\\u0000b","\\u0000":1}',
    b'{"targeting_key":"caf\xc3\xa9","x":"\\ud83d\\ude00"}', b'{"a":1,"a":2}',
    b'{"version":"1.2.3","ts":"2023-01-01T00:00:00Z","n":"1e5","b":"TRUE"}',
    b"[" * 50 + b"]" * 50, b'{"k":' * 40 + b"1" + b"}" * 40,
]
for i, e in enumerate(edge):
    write("fuzz_context_json", "edge%02d.json" % i, e)

rng = random.Random(20240501)
for i in range(24):
    n = rng.choice([8, 16, 32, 64, 128, 256])
    write("fuzz_resolve_context", "rand%02d" % i, bytes(rng.randrange(256) for _ in range(n)))
write("fuzz_resolve_context", "empty", b"")

# fuzz_value_api programs (one opcode byte, then its operands; see the
# target): a struct with a string set, deep wraps of every kind, a wide
# struct with repeating keys, each followed by copy/json/resolve checks.
T = lambda *b: bytes(b)
programs = {
    "struct_set": T(5, 3, 2) + b"SE" + T(7, 7) + b"country" + T(12, 14, 0, 15),
    "deep_lists": T(2, 0, 7, 9, 0xff, 0xff, 0, 9, 0xff, 0xff, 0, 12, 15, 14, 0),
    "deep_structs": T(5, 0, 9, 0x40, 0x9c, 1, 12, 15, 14, 1),
    "deep_mixed": T(3, 3) + b"abc" + T(9, 0xa0, 0x86, 2, 11, 12, 15, 14, 2, 13),
    "wide": T(5, 10, 0x20, 0xa1, 0x10, 0x27, 11, 12, 15, 14, 3, 8, 2) + b"w1",
    "under_key": T(5, 4, 2, 1, 5, 6, 9, 0xff, 0x7f, 0, 7, 3) + b"age" + T(14, 4),
}
for name, prog in programs.items():
    write("fuzz_value_api", name, prog)
for i in range(8):
    write("fuzz_value_api", "rand%02d" % i, bytes(rng.randrange(256) for _ in range(64)))

# JSON dictionary: the static tokens plus every attribute the state targets.
names = set()
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("attributeName", "targetingKeySelector") and isinstance(v, str) and v:
                names.add(v)
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.load(open(os.path.join(conf, "resolver-spec/state.json"))))
with open(os.path.join(out, "fuzz_context_json.dict"), "w") as f:
    f.write(open(sys.argv[4]).read())
    for n in sorted(names):
        f.write(json.dumps(json.dumps(n)) + "\n")
PY

for f in "$out"/fuzz_state_encrypted/*.env; do
  "$seal" "$key" <"$f" >"${f%.env}.sealed"
done
