#!/usr/bin/env python3
"""Derive a state whose clients carry a managed evaluation context.

  managed_states.py --state F [--account ID] [--encryption-key HEX] --seed N --out FILE

Resolver 0.25.0+ merges `Client.managed_context` (field 13, flat dot-path
keys -> google.protobuf.Value) into every request of that client, managed
wins (RESOLVER_CHANGES.md §1). The shared states have no managed context, so
this writes a plain ResolverState with:

* the original clients untouched (the control: no managed context);
* MANAGED_CLIENTS new clients `clients/managed-<i>` (secret
  `managed-secret-<i>`, environments copied from an original credential),
  enabled for every flag an original client has;
* probe flags `flags/mc-*` (one eq/null/range/any criterion each, 100 % to
  variant `on`) on the paths the structural keys below build: prefix
  collisions, struct-then-path, empty segments, 64- and 1,500-segment keys,
  struct values with literal dotted keys, lists;
* per new client, a deterministic mix of managed keys aimed at the flags'
  criteria (values that match or miss, at the leaf, at a prefix: scalars,
  nulls, kind-less Values, lists and structs replacing subtrees, deeper
  paths under a leaf), managed targeting keys and selector attributes, and
  a random subset of the structural keys.

gen_cases.py then aims request contexts at the same criteria, so requests
collide with the managed values. Deterministic per seed.

With --managed-json JSON (flat dot-path keys) there is one new client,
`clients/managed-0` (secret `managed-secret-0`), with exactly that managed
context and no probe flags: a fixed state for benchmarks (bench/run.sh).
"""

import argparse
import json
import random
import sys

import peer

peer.ensure_peer_interpreter()

import gen_cases  # noqa: E402

MANAGED_CLIENTS = 8
DEEP = ".".join(f"d{i}" for i in range(64))
DEEPER = ".".join(f"z{i}" for i in range(1500))

# (managed key, value) groups from RESOLVER_CHANGES §1.3; a client takes a
# random subset of the groups, so some clients see each probe unset.
STRUCTURAL = [
    [("env", "prod"), ("env.region", "eu")],
    [("cfg", {"a": 1, "b": 2}), ("cfg.b", 3)],
    [("p", {"r": 2}), ("p.q", 1)],
    [("k.l", "mid"), ("k.l.m", "deep")],
    [("a", {"b": {"c": 2, "d": 3}}), ("a.b", {"c": 1})],
    [("", "empty"), (".lead", "lead"), ("trail.", "trail"), ("a..b", "dd"), ("x", "xs"), ("x.", "xd"),
     ("sp ace", "sp")],
    [(DEEP, "deep64")],
    [(DEEPER, "deep1500")],
    [("device", {"os": "ios", "model": {"family": "iphone"}, "a.b": "lit"})],
    [("tags", ["beta", "internal"])],
    [("nattr", None), ("u", None)],
    [("kattr", "<kindless>")],
    [("tier", 3)],
    [("internal", True)],
    [("e", {})],
    [("user.plan", "pro"), ("app.version", "2.3.1")],
    [("app", "monolith")],
]

# Probe flags: (name, attribute, criterion) with criterion in targeting JSON.
def _eq(text):
    return {"eqRule": {"value": {"stringValue": text}}}


def _eq_num(x):
    return {"eqRule": {"value": {"numberValue": x}}}


IS_NULL = {"eqRule": {"value": {}}}
PROBES = [
    ("env", _eq("prod")), ("env.region", _eq("eu")), ("cfg.a", _eq_num(1)), ("cfg.b", _eq_num(3)),
    ("p.q", _eq_num(1)), ("p.r", _eq_num(2)), ("k.l", _eq("mid")), ("k.l.m", _eq("deep")),
    ("a.b.c", _eq_num(1)), ("a.b.d", _eq_num(3)), ("", _eq("empty")), (".lead", _eq("lead")),
    ("trail.", _eq("trail")), ("a..b", _eq("dd")), ("x", _eq("xs")), ("x.", _eq("xd")),
    ("sp ace", _eq("sp")), ("lead", _eq("lead")), (DEEP, _eq("deep64")), (DEEPER, _eq("deep1500")),
    ("device.os", _eq("ios")), ("device.model.family", _eq("iphone")), ("device.locale", _eq("sv")),
    ("device.a.b", _eq("lit")), ("device", IS_NULL),
    ("tags", {"anyRule": {"rule": {"eqRule": {"value": {"stringValue": "beta"}}}}}),
    ("tags", {"anyRule": {"rule": {"eqRule": {"value": {"stringValue": "x"}}}}}),
    ("nattr", IS_NULL), ("nattr", _eq("x")), ("u.x", _eq("r")), ("u", IS_NULL), ("kattr", IS_NULL),
    ("kattr", _eq("x")),
    ("tier", {"rangeRule": {"startInclusive": {"numberValue": 2}, "endExclusive": {"numberValue": 5}}}),
    ("internal", {"eqRule": {"value": {"boolValue": True}}}), ("e.x", _eq_num(1)), ("e", IS_NULL),
    ("user.plan", _eq("pro")), ("user.country", _eq("SE")), ("user", _eq("bob")),
    ("app.name", _eq("checkout")), ("app", _eq("monolith")),
    ("app.version", {"rangeRule": {"startInclusive": {"versionValue": {"version": "2.0.0"}}}}),
]

# Managed targeting keys (R8) and selector values.
KEYS = ["unit-A", "unit-B", "", 4242, 4242.0, 1.5, ["unit-A"], None, "<kindless>", "a" * 100, "a" * 101,
        True, {"id": "unit-A"}, "user1", "user2"]


def to_value(message, value):
    """Fill a google.protobuf.Value message (any descriptor pool) from JSON."""
    if value == "<kindless>":
        message.Clear()  # present, no kind set
        return
    from google.protobuf import struct_pb2
    proto = struct_pb2.Value()
    if value is None:
        proto.null_value = 0
    elif isinstance(value, bool):
        proto.bool_value = value
    elif isinstance(value, (int, float)):
        proto.number_value = value
    elif isinstance(value, str):
        proto.string_value = value
    elif isinstance(value, list):
        proto.list_value.SetInParent()
        for item in value:
            to_value(proto.list_value.values.add(), item)
    else:
        proto.struct_value.SetInParent()
        for k, v in value.items():
            to_value(proto.struct_value.fields[k], v)
    message.ParseFromString(proto.SerializeToString())


def add_probes(state):
    from google.protobuf import json_format
    names = []
    for index, (attribute, rule) in enumerate(PROBES):
        segment = f"segments/mc-probe-{index}"
        json_format.ParseDict({"name": segment, "targeting": {
            "criteria": {"c1": {"attribute": {"attributeName": attribute, **rule}}},
            "expression": {"ref": "c1"}}}, state.segments_no_bitsets.add())
        bitset = state.bitsets.add()
        bitset.segment = segment
        bitset.full_bitset = True
        name = f"flags/mc-probe-{index}"
        json_format.ParseDict({
            "name": name, "state": "ACTIVE",
            "variants": [{"name": "on", "value": {"on": True}}],
            "rules": [{"name": f"{name}/rules/r1", "segment": segment, "enabled": True,
                       "assignmentSpec": {"bucketCount": 1000, "assignments": [
                           {"assignmentId": "a1", "variant": {"variant": "on"},
                            "bucketRanges": [{"upper": 1000}]}]}}]}, state.flags.add())
        names.append(name)
    return names


def managed_entries(rng, model, client_flags):
    """A managed context (flat key -> JSON value) for one new client."""
    entries = {}
    attributes = []
    selectors = set()
    for name in client_flags:
        attrs, sels, _ = model.flag_targets(name)
        attributes += attrs
        selectors.update(sels)
    for attribute in rng.sample(attributes, min(len(attributes), rng.randint(0, 12))):
        path = attribute.attribute_name
        parts = path.split(".")
        roll = rng.random()
        if roll < 0.5:
            entries[path] = gen_cases.value_for_criterion(rng, attribute)
        elif roll < 0.6:
            entries[path] = rng.choice([None, "<kindless>"])
        elif roll < 0.75 and len(parts) > 1:  # something at a prefix replaces the subtree
            cut = rng.randrange(1, len(parts))
            entries[".".join(parts[:cut])] = rng.choice(
                ["scalar", 7, None, [1], {}, {parts[cut]: "via-struct"}, "<kindless>"])
        elif roll < 0.85:  # the leaf becomes a struct
            entries[path + "." + gen_cases.random_word(rng, 3)] = "under"
        else:
            entries[path] = gen_cases.random_json(rng)
    for selector in sorted(selectors):
        if rng.random() < 0.35:
            entries[selector] = rng.choice(KEYS)
    for group in STRUCTURAL:
        if rng.random() < 0.5:
            entries.update(group)
    if rng.random() < 0.1:
        entries = {}  # an empty map behaves as none
    return entries


def derive(state, rng, fixed=None):
    model = gen_cases.StateModel(state)
    originals = list(state.clients)
    probe_names = add_probes(state) if fixed is None else []
    by_client = {}
    for flag in state.flags:
        if flag.name not in probe_names:
            for c in flag.clients:
                by_client.setdefault(c, []).append(flag.name)
    new_names = [f"clients/managed-{i}" for i in range(MANAGED_CLIENTS if fixed is None else 1)]
    for flag in state.flags:
        if flag.name in probe_names or flag.clients:
            flag.clients.extend(new_names)
    credentials = list(state.client_credentials)
    for i, name in enumerate(new_names):
        base = originals[i % len(originals)]
        client = state.clients.add()
        client.name = name
        flags = by_client.get(base.name, []) + probe_names
        entries = managed_entries(rng, model, flags) if fixed is None else fixed
        for key, value in entries.items():
            to_value(client.managed_context[key], value)
        credential = state.client_credentials.add()
        credential.name = f"{name}/credentials/c"
        credential.client_secret.secret = f"managed-secret-{i}"
        template = next((c for c in credentials if c.name.startswith(base.name)), None)
        if template is not None:
            credential.environments.extend(template.environments)
    return state


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    peer.add_state_arguments(parser)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--managed-json", help="one client with exactly this managed context")
    args = parser.parse_args(argv)
    peer.require_peer_package()
    import state_schema

    data, _ = peer.load_state(args.state, args.encryption_key)
    fixed = json.loads(args.managed_json) if args.managed_json else None
    state = derive(state_schema.parse_resolver_state(data), random.Random(args.seed), fixed)
    with open(args.out, "wb") as handle:
        handle.write(state.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
