#!/usr/bin/env python3
"""Generate random resolve cases (JSONL) that exercise one resolver state.

  gen_cases.py --state F --account ID [--encryption-key HEX] --seed N --count N

The state is introspected (clients and secrets, flags and rules, targeting
key selectors, segment criteria reached through nested segments, sticky
materializations) and every case aims its context at the criteria of the
flags it asks for: values that match, that just miss, that sit on a range
boundary, or that arrive as another JSON type. Output is deterministic for
a given seed and state. Case format: see README.md.
"""

import argparse
import datetime
import json
import math
import random
import sys

import peer

peer.ensure_peer_interpreter()

# How often a case takes an unusual path. Error-inducing inputs (unknown
# secrets, unparsable numeric strings) fail the whole call, so they are kept
# rare enough that most cases still compare per-flag results.
P_BAD_SECRET = 0.06
P_MISSING_ATTRIBUTE = 0.12
P_RANDOM_TYPE = 0.08
P_AS_LIST = 0.08
P_RARE_VALUE = 0.06
P_DOT_PATH_MISS = 0.12
P_MISSING_KEY = 0.08
P_NOISE = 0.2
P_APPLY = 0.3
P_MATERIALIZATIONS = 0.5  # for flags that involve materializations
P_KEY_HINT = 0.15
MAX_CRITERIA_PER_CASE = 16
# Segments of an attribute path the request may nest (the official resolver
# traps on requests nesting more than 33 levels).
MAX_REQUEST_PATH = 30
UNICODE_WORDS = ["é", "e\u0301", "ß", "ユーザー", "用户", "👤", "Ω", "ñandú", "İ", "\u00a0"]


# --------------------------------------------------------------------------
# State introspection
# --------------------------------------------------------------------------

class StateModel:
    """What the generator needs to know about a ResolverState."""

    def __init__(self, state):
        self.flags = {flag.name: flag for flag in state.flags}
        self.segments = {seg.name: seg for seg in state.segments_no_bitsets}
        self.bloom_filters = sorted(b.materialized_segment for b in state.bloom_filters)
        self.secrets = _secret_table(state)
        self.secret_list = sorted(self.secrets)
        self.flags_by_client = {}
        for flag in state.flags:
            for client in flag.clients:
                self.flags_by_client.setdefault(client, []).append(flag.name)
        self.flag_names = sorted(self.flags)
        self.key_hints = self._key_hints(state)

    def _key_hints(self, state):
        """Units worth trying as targeting keys.

        Random keys almost never land in a bloom filter or in a segment that
        targets the key attribute itself, so collect the strings that eq/set
        criteria compare a key selector with, plus the `userN` units the
        conformance states use for their materialized segments.
        """
        selectors = {rule.targeting_key_selector or "targeting_key"
                     for flag in state.flags for rule in flag.rules}
        hints = ["user1", "user2", "user3", "user4"]
        for segment_name in sorted(self.segments):
            attributes, _ = self.segment_criteria(segment_name)
            for attribute in attributes:
                if attribute.attribute_name not in selectors:
                    continue
                kind = attribute.WhichOneof("rule")
                values = ([attribute.eq_rule.value] if kind == "eq_rule" else
                          list(attribute.set_rule.values) if kind == "set_rule" else [])
                hints += [v.string_value for v in values
                          if v.WhichOneof("value") == "string_value"]
        return sorted(set(hints))

    def segment_criteria(self, segment_name, path=()):
        """Attribute and materialized-segment criteria reachable from a segment.

        Follows segment references depth-first with a per-path guard, the way
        the resolver does, so cyclic states terminate.
        """
        segment = self.segments.get(segment_name)
        if segment is None or segment_name in path:
            return [], []
        attributes, materialized = [], []
        criteria = segment.targeting.criteria
        for key in sorted(criteria):
            criterion = criteria[key]
            kind = criterion.WhichOneof("criterion")
            if kind == "attribute":
                attributes.append(criterion.attribute)
            elif kind == "materialized_segment":
                materialized.append(criterion.materialized_segment.materialized_segment)
            elif kind == "segment":
                more_attrs, more_mats = self.segment_criteria(
                    criterion.segment.segment, path + (segment_name,))
                attributes += more_attrs
                materialized += more_mats
        return attributes, materialized

    def flag_targets(self, flag_name):
        """(attribute criteria, key selectors, materialized segments) of a flag."""
        flag = self.flags.get(flag_name)
        if flag is None:
            return [], [], []
        attributes, selectors, materialized = [], [], []
        for rule in flag.rules:
            selector = rule.targeting_key_selector or "targeting_key"
            if selector not in selectors:
                selectors.append(selector)
            attrs, mats = self.segment_criteria(rule.segment)
            attributes += attrs
            materialized += [m for m in mats if m not in materialized]
        return attributes, selectors, materialized

    def sticky_rules(self, flag_name):
        flag = self.flags.get(flag_name)
        if flag is None:
            return []
        return [rule for rule in flag.rules if rule.HasField("materialization_spec")]

    def variant_names(self, flag_name):
        """Variant names as assignments reference them, plus the table's names."""
        flag = self.flags.get(flag_name)
        if flag is None:
            return []
        names = [v.name for v in flag.variants]
        for rule in flag.rules:
            for assignment in rule.assignment_spec.assignments:
                if assignment.WhichOneof("assignment") == "variant":
                    if assignment.variant.variant not in names:
                        names.append(assignment.variant.variant)
        return names


def _secret_table(state):
    """secret -> client name, with the resolver's plain prefix matching (spec §2)."""
    secrets = {}
    for client in state.clients:
        for credential in state.client_credentials:
            if not credential.name.startswith(client.name):
                continue
            if credential.WhichOneof("credential") != "client_secret":
                continue
            secrets[credential.client_secret.secret] = client.name
    return secrets


# --------------------------------------------------------------------------
# Candidate values per Targeting.Value kind
# --------------------------------------------------------------------------
# Each function returns (common, rare): `rare` holds inputs that are legal
# but unusual, mostly ones that make the whole resolve call fail.

def bool_candidates(flag):
    common = [flag, not flag, "true", "false", "TRUE", "True", "FALSE", "1", None, "null"]
    rare = [1, 0, "yes", "", [flag], {"v": flag}]
    return common, rare


def number_candidates(x):
    common = [x, x + 1, x - 1, x + 0.5, x - 0.5, -x, 0, -0.0,
              math.nextafter(x, math.inf), math.nextafter(x, -math.inf),
              repr(float(x)), format(x, "e"), str(x * 10), None, "null", True]
    if float(x).is_integer() and abs(x) < 1e15:
        common += [int(x), str(int(x)), str(int(x) + 1), "+" + str(int(x)),
                   "0" + str(int(x)) if x >= 0 else str(int(x))]
    rare = ["abc", " " + repr(x), repr(x) + " ", "", "0x10", "1_000", "1e", ".",
            ".5", "5.", "inf", "-inf", "NaN", "infinity", "+Infinity", "1e400", "-1e400",
            1e308, -1e308, 5e-324, {"n": x}, [x, "text"]]
    return common, rare


def string_candidates(s):
    common = [s, s, s.upper(), s.lower(), s.swapcase(), s + "x", "x" + s, s[:-1], s[1:],
              "", "null", s + " ", None, [s], [s, "zz"], ["zz"]]
    try:
        number = float(s)
        if math.isfinite(number):
            common += [number, int(number) if number.is_integer() else number]
    except ValueError:
        pass
    rare = [[[s]], {"v": s}, True, 42, s * 3, s + "\u0000", s + "é"]
    return common, rare


def _timestamp_text(moment, fraction_digits, suffix="Z", sep="T"):
    text = moment.strftime("%Y-%m-%d" + sep + "%H:%M:%S")
    if fraction_digits:
        text += "." + f"{moment.microsecond:06d}"[:fraction_digits]
    return text + suffix


def timestamp_candidates(seconds, nanos):
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    try:
        exact = epoch + datetime.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        return ["2022-11-17T15:16:17Z", seconds], ["", "x"]
    ms = datetime.timedelta(milliseconds=1)
    sec = datetime.timedelta(seconds=1)
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    minus5 = datetime.timezone(datetime.timedelta(hours=-5))
    millis = seconds * 1000 + nanos // 1_000_000
    common = [
        _timestamp_text(exact, 3), _timestamp_text(exact, 6), _timestamp_text(exact + ms, 3),
        _timestamp_text(exact - ms, 3), _timestamp_text(exact + sec, 0),
        _timestamp_text(exact - sec, 0), _timestamp_text(exact, 0),
        _timestamp_text(exact.astimezone(plus2), 3, "+02:00"),
        _timestamp_text(exact.astimezone(minus5), 3, "-05:00"),
        _timestamp_text(exact, 3, "Z", " "),
        _timestamp_text(exact, 0, ""), _timestamp_text(exact, 3, ""),
        _timestamp_text(exact, 0, "", " "), exact.strftime("%Y-%m-%d"),
        (exact + datetime.timedelta(days=1)).strftime("%Y-%m-%d"),
        seconds, seconds + 1, seconds - 1, seconds + 0.9, millis, millis + 1, millis - 1,
        None, "",
    ]
    rare = [_timestamp_text(exact, 3, "z"), _timestamp_text(exact, 0, "Z", "t"),
            _timestamp_text(exact, 0, "+0200"), str(seconds), "2022-13-01T00:00:00Z",
            "2022-02-30", "2016-12-31T23:59:60Z", "2022-11-17T15:16:17.1234567891Z",
            "not a date", _timestamp_text(exact, 0, "", "  "), float(millis), -seconds,
            [_timestamp_text(exact, 3)], 10 ** 12, 10 ** 12 - 1]
    return common, rare


def version_candidates(version):
    core, _, _ = version.partition("-")
    parts = core.split(".")
    common = [version, version + "-alpha", core + ".0", "v" + version, "", None, "null",
              "10.0.0", "0.0.1"]
    if all(p.isdigit() for p in parts if p):
        for index, part in enumerate(parts):
            if not part.isdigit():
                continue
            for delta in (1, -1):
                if int(part) + delta < 0:
                    continue
                bumped = list(parts)
                bumped[index] = str(int(part) + delta)
                common.append(".".join(bumped))
        common += [".".join(parts[:2]), ".".join(parts + ["1"]), ".".join(parts[:2] + ["1000"])]
    rare = ["abc", "1..0", "1.2.3.4.5", "12345678901.0.0", 2, 2.5, [version], True]
    return common, rare


def value_candidates(target):
    """Candidates for one confidence.flags.types.v1.Targeting.Value."""
    kind = target.WhichOneof("value")
    if kind == "bool_value":
        return bool_candidates(target.bool_value)
    if kind == "number_value":
        return number_candidates(target.number_value)
    if kind == "string_value":
        return string_candidates(target.string_value)
    if kind == "timestamp_value":
        return timestamp_candidates(target.timestamp_value.seconds,
                                    target.timestamp_value.nanos)
    if kind == "version_value":
        return version_candidates(target.version_value.version)
    if kind == "list_value":
        items = [v for t in target.list_value.values for v in value_candidates(t)[0][:2]]
        return [items, items[:1], [], None] + items[:4], [[items], "x"]
    # A Value with no kind: only "null-ish" inputs are interesting.
    return [None, "null", "", 0, False, [], {}], ["x", [None]]


def string_rule_candidates(kind, pattern):
    """Candidates for starts_with / ends_with / contains with `pattern`."""
    if kind == "starts_with_rule":
        hits = [pattern + "tail", pattern, pattern + pattern]
        misses = ["x" + pattern, pattern[:-1], pattern.upper() + "tail", " " + pattern]
    elif kind == "ends_with_rule":
        hits = ["head" + pattern, pattern, pattern + pattern]
        misses = [pattern + "x", pattern[1:], "head" + pattern.upper(), pattern + " "]
    else:
        hits = ["pre" + pattern + "post", pattern, pattern + "," + pattern]
        misses = [pattern[:-1], pattern.swapcase(), "pre" + pattern[:1] + "_" + pattern[1:],
                  pattern.replace(".*", "x"), pattern.replace("é", "e\u0301")]
    common = hits + misses + ["", None, [hits[0]], [misses[0], hits[0]], [misses[0]], []]
    try:
        number = float(pattern + "2")
        common += [number, int(number) if number.is_integer() else number]
    except ValueError:
        pass
    rare = [[[hits[0]]], {"v": hits[0]}, True, 42, [hits[0], 7, None]]
    return common, rare


# --------------------------------------------------------------------------
# Choosing values for criteria
# --------------------------------------------------------------------------

def pick(rng, candidates):
    common, rare = candidates
    if rare and rng.random() < P_RARE_VALUE:
        return rng.choice(rare)
    return rng.choice(common)


def inner_rule_candidates(inner):
    kind = inner.WhichOneof("rule")
    if kind is None:
        return random_json_candidates()
    return rule_candidates(kind, getattr(inner, kind))


def rule_candidates(kind, rule):
    """Scalar candidates for an eq/set/range/string rule."""
    if kind == "eq_rule":
        return value_candidates(rule.value)
    if kind == "set_rule":
        if not rule.values:
            return random_json_candidates()
        common, rare = [], []
        for target in rule.values:
            more_common, more_rare = value_candidates(target)
            common += more_common
            rare += more_rare
        return common, rare
    if kind == "range_rule":
        return range_candidates(rule)
    if kind in ("starts_with_rule", "ends_with_rule", "contains_rule"):
        return string_rule_candidates(kind, rule.value)
    return random_json_candidates()


def range_candidates(rule):
    bounds = [getattr(rule, name) for name in
              ("start_inclusive", "start_exclusive", "end_inclusive", "end_exclusive")
              if rule.HasField(name)]
    if not bounds:
        return random_json_candidates()
    common, rare = [], []
    for bound in bounds:
        more_common, more_rare = value_candidates(bound)
        common += more_common
        rare += more_rare
    numbers = [b.number_value for b in bounds if b.WhichOneof("value") == "number_value"]
    if len(numbers) == 2:
        common.append((numbers[0] + numbers[1]) / 2)
    return common, rare


def list_for_quantifier(rng, inner):
    """A context value for an any/all rule: usually a list of inner candidates."""
    candidates = inner_rule_candidates(inner)
    roll = rng.random()
    if roll < 0.12:
        return []
    if roll < 0.2:
        return pick(rng, candidates)  # a scalar where a list is expected
    if roll < 0.25:
        return [[pick(rng, candidates)]]
    return [pick(rng, candidates) for _ in range(rng.randint(1, 4))]


def value_for_criterion(rng, attribute):
    kind = attribute.WhichOneof("rule")
    if rng.random() < P_RANDOM_TYPE:
        return random_json(rng)
    if kind in ("any_rule", "all_rule"):
        return list_for_quantifier(rng, getattr(attribute, kind).rule)
    if kind is None:
        return pick(rng, random_json_candidates())
    candidates = rule_candidates(kind, getattr(attribute, kind))
    if rng.random() < P_AS_LIST:
        return [pick(rng, candidates) for _ in range(rng.randint(0, 3))]
    return pick(rng, candidates)


def random_json_candidates():
    return ([None, True, False, 0, 1, -1, 2.5, "", "x", "null", "true", [], {}, ["a", 1]],
            [{"a": {"b": 1}}, [[]], "é", -0.0])


def random_json(rng, depth=0):
    roll = rng.random()
    if depth > 2 or roll < 0.6:
        return pick(rng, random_json_candidates())
    if roll < 0.8:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {random_word(rng): random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def random_word(rng, length=None):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(length or rng.randint(1, 10)))


# --------------------------------------------------------------------------
# Targeting keys
# --------------------------------------------------------------------------

def targeting_key_value(rng, hints):
    """A targeting-key value: mostly random strings so buckets spread out."""
    roll = rng.random()
    if hints and roll < P_KEY_HINT:
        return rng.choice(hints)
    if roll < 0.5:
        return rng.choice(["user-", "u", "visitor_", ""]) + random_word(rng, rng.randint(1, 24))
    if roll < 0.62:
        return rng.choice([rng.randint(0, 10 ** 9), rng.randint(-1000, 1000),
                           rng.randint(0, 2 ** 53)])
    special = [
        "user1", "user2", "", "0", 0, -0.0, 12345, 1.5, -7.25, 10 ** 15, 2 ** 53, 1e21,
        1e300, 1e-7, True, False, {}, {"id": "user1"}, [], ["user1"], "a" * 100, "a" * 101,
        "é" * 50, "é" * 50 + "a", "ü" * 34, "ユーザー42", "👤-1", "user|1", "user 1",
        "line\nbreak", "nul\u0000byte",
    ]
    return rng.choice(special)


def unit_text(key):
    """The unit the resolver derives from a key, or None if the key is unusable."""
    if isinstance(key, str):
        return key if len(key.encode("utf-8")) <= 100 else None
    if isinstance(key, bool) or not isinstance(key, (int, float)):
        return None
    if isinstance(key, float) and (not math.isfinite(key) or not key.is_integer()):
        return None
    text = "%.0f" % key
    return text if len(text) <= 100 else None


# --------------------------------------------------------------------------
# Building one case
# --------------------------------------------------------------------------

def set_path(context, path, value, rng):
    """Store `value` under a dot path, sometimes deliberately not quite there."""
    keys = path.split(".")
    if len(keys) > 1 and rng.random() < P_DOT_PATH_MISS:
        miss = rng.randrange(3)
        if miss == 0:
            context[path] = value  # flat key containing dots: unreachable
            return
        if miss == 1:
            context[keys[0]] = "not-a-struct"
            return
        context[keys[0]] = {}
        return
    node = context
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def get_path(context, path):
    node = context
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def pick_secret(rng, model):
    if not model.secret_list or rng.random() < P_BAD_SECRET:
        known = rng.choice(model.secret_list) if model.secret_list else "secret"
        bad = rng.choice(["", "unknown-" + random_word(rng), known.upper(), known + " ",
                          known[:-1], "x"])
        # Case changes may be no-ops for all-caps or digit secrets; fall back then.
        bad = bad if bad not in model.secrets else "unknown-secret"
        return bad, None
    secret = rng.choice(model.secret_list)
    return secret, model.secrets[secret]


def pick_flags(rng, model, client):
    own = model.flags_by_client.get(client, [])
    roll = rng.random()
    if own and roll < 0.55:
        return [rng.choice(own)]
    if own and roll < 0.67:
        chosen = rng.sample(own, min(len(own), rng.randint(2, 4)))
        if rng.random() < 0.2:
            chosen.append(chosen[0])  # duplicates must not matter
        return chosen
    if roll < 0.77:
        return []  # all flags of the client
    if roll < 0.87 and model.flag_names:
        return [rng.choice(model.flag_names)]  # possibly another client's or archived
    unknown = rng.choice(["flags/no-such-flag", "flags/" + random_word(rng), "",
                          "simple-flag", "flags/"])
    if own and rng.random() < 0.5:
        return [rng.choice(own), unknown]
    return [unknown]


def build_context(rng, model, flag_names):
    attributes, selectors = [], []
    for name in flag_names:
        attrs, sels, _ = model.flag_targets(name)
        attributes += attrs
        selectors += [s for s in sels if s not in selectors]
    if len(attributes) > MAX_CRITERIA_PER_CASE:
        attributes = rng.sample(attributes, MAX_CRITERIA_PER_CASE)
    context = {}
    for attribute in attributes:
        if rng.random() < P_MISSING_ATTRIBUTE:
            continue
        if attribute.attribute_name.count(".") >= MAX_REQUEST_PATH:
            continue  # deeper requests make the guest trap; managed contexts reach these
        if rng.random() < 0.05:
            set_path(context, attribute.attribute_name, None, rng)
            continue
        set_path(context, attribute.attribute_name, value_for_criterion(rng, attribute), rng)
    for selector in selectors or ["targeting_key"]:
        if rng.random() < P_MISSING_KEY:
            continue
        # A selector that is also a targeted attribute keeps its criterion value
        # half of the time, so targeting on the key itself gets hit too.
        if selector in context and rng.random() < 0.5:
            continue
        set_path(context, selector, targeting_key_value(rng, model.key_hints), rng)
    if rng.random() < P_NOISE:
        context[random_word(rng)] = random_json(rng)
    return context


def materialization_records(rng, model, flag_names, context):
    """Records for the flags' sticky rules and materialized segments, right or not."""
    records = []
    for name in flag_names:
        _, selectors, segment_mats = model.flag_targets(name)
        units = [unit_text(get_path(context, s)) for s in selectors]
        units = [u for u in units if u is not None] or ["user1"]
        variants = model.variant_names(name) + ["", "flags/nope/variants/nope"]
        for rule in model.sticky_rules(name):
            spec = rule.materialization_spec
            mats = [spec.read_materialization]
            if spec.write_materialization != spec.read_materialization:
                mats.append(spec.write_materialization)
            for mat in mats:
                if rng.random() < 0.3:
                    continue
                records.append({
                    "unit": rng.choice(units + ["other-unit"]),
                    "materialization": mat if rng.random() < 0.85 else "materializations/other",
                    "rule": rng.choice([rule.name] * 4 + ["", "flags/x/rules/other"]),
                    "variant": rng.choice(variants),
                })
        for mat in segment_mats:
            if rng.random() < 0.5:
                records.append({"unit": rng.choice(units + ["other-unit"]),
                                "materialization": mat, "rule": "",
                                "variant": rng.choice(["", ""] + variants)})
    rng.shuffle(records)
    return records


def involves_materializations(model, flag_names):
    return any(model.sticky_rules(name) or model.flag_targets(name)[2]
               for name in flag_names)


def make_case(rng, model):
    secret, client = pick_secret(rng, model)
    if client is None:
        client = model.secrets.get(rng.choice(model.secret_list)) if model.secret_list else None
    flags = pick_flags(rng, model, client)
    targets = flags or model.flags_by_client.get(client, [])
    case = {
        "client_secret": secret,
        "flags": flags,
        "context": build_context(rng, model, targets),
        "apply": rng.random() < P_APPLY,
    }
    if involves_materializations(model, targets):
        if rng.random() < P_MATERIALIZATIONS:
            case["materializations"] = materialization_records(rng, model, targets,
                                                               case["context"])
    elif rng.random() < 0.03:
        case["materializations"] = []  # static mode with nothing stored
    return case


def finite_json(value):
    """Replace non-finite floats (from nextafter/arithmetic) so output stays JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    peer.add_state_arguments(parser)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args(argv)

    peer.require_peer_package()
    import state_schema

    state, _ = peer.state_from_args(args)
    model = StateModel(state_schema.parse_resolver_state(state))
    rng = random.Random(args.seed)
    out = sys.stdout
    for _ in range(args.count):
        case = finite_json(make_case(rng, model))
        out.write(json.dumps(case, ensure_ascii=False, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
