"""Fuzz target for the Python boundary of confidence._native, run by
scripts/fuzz-python.sh against an AddressSanitizer/UBSan build of the
extension. Hypothesis draws arbitrary nested Python values — cycles, lone
surrogates, huge ints, NaN, bytes, sets, dates, deep nesting, objects whose
__str__ raises or empties the container it sits in, keys whose __eq__ and
__hash__ raise — and uses them as evaluation contexts, defaults, flag keys,
track() names, values and data, and as what a Python materialization store
returns. What must hold: nothing leaves an evaluation or track() as an
exception, an error result hands back the caller's default itself, and the
sanitizers report nothing (any report aborts the process).

Usage: python fuzz_boundary.py STATE_DIR [EXAMPLES]
STATE_DIR holds state.pb (the sample state) and the sticky state of the
conformance data is read from CONFIDENCE_CONFORMANCE_DIR."""

import logging
import os
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.track import TrackingEventDetails

from confidence import ConfidenceProvider
from confidence.materialization import InclusionReadResult, VariantReadResult


class RaisingStr:
    def __str__(self):
        raise RuntimeError("no text")

    __repr__ = __str__


class EmptiesParent:
    """str() clears the container it was put in, during the conversion."""

    parent = None

    def __str__(self):
        if isinstance(self.parent, (list, dict, set)):
            self.parent.clear()
        return "emptied"


class RaisingKey:
    __hash__ = object.__hash__  # a dict holds it; only comparing it raises

    def __eq__(self, other):
        raise RuntimeError("no equality")

    def __str__(self):
        raise RuntimeError("no text")


class RaisingBool:
    def __bool__(self):
        raise RuntimeError("no truth")

    def __index__(self):
        raise RuntimeError("no number")

    __float__ = __int__ = __index__


ODD_TEXT = st.sampled_from(["\ud800", "a\udfffb", "\x00", "é" * 300, "", "targeting_key", "x" * 5000])
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([2**64, -(2**63) - 1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), ODD_TEXT, st.binary(max_size=40),
    st.dates(), st.datetimes(), st.decimals(allow_nan=True),
    st.builds(RaisingStr), st.builds(EmptiesParent), st.builds(RaisingBool),
)
KEYS = st.one_of(st.text(max_size=12), ODD_TEXT, st.integers(), st.builds(RaisingKey), st.none(), st.booleans())
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.tuples(inner, inner), st.dictionaries(KEYS, inner, max_size=6),
        st.frozensets(st.one_of(st.integers(), st.text(max_size=8)), max_size=4),
    ),
    max_leaves=25,
)


def adopt(v, seen=None):
    """Points every EmptiesParent at the container holding it."""
    seen = seen if seen is not None else set()
    if id(v) in seen:
        return
    seen.add(id(v))
    items = list(v.values()) if isinstance(v, dict) else list(v) if isinstance(v, (list, tuple)) else []
    for x in items:
        if isinstance(x, EmptiesParent):
            x.parent = v
        adopt(x, seen)


@st.composite
def hostile_values(draw):
    v = draw(VALUES)
    adopt(v)
    twist = draw(st.integers(0, 9))
    if twist == 0 and isinstance(v, list):
        v.append(v)  # a cycle
    elif twist == 1 and isinstance(v, dict):
        v["self"] = v
    elif twist == 2:
        for _ in range(draw(st.sampled_from([63, 64, 65, 1000, 100_000]))):
            v = [v]
    return v


FLAG_KEYS = st.one_of(
    st.sampled_from(["new-checkout.enabled", "new-checkout", "button-style.color", "button-style.size",
                     "search-ranking.algorithm", "search-ranking", "no-such-flag", "flags/new-checkout.enabled",
                     "button-style.", ".x", "sticky-flag-1.variant", "sticky-flag-1"]),
    st.text(max_size=30), ODD_TEXT, st.integers(), st.none(),
)
TARGETING_KEYS = st.one_of(st.none(), st.text(max_size=120), ODD_TEXT, hostile_values())


@st.composite
def contexts(draw):
    attrs = draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=10), hostile_values(), max_size=5),
                           hostile_values()))
    if isinstance(attrs, dict) and draw(st.booleans()):
        attrs["country"] = draw(st.sampled_from(["SE", "US", "DE"]))
    tk = draw(TARGETING_KEYS)
    try:
        return EvaluationContext(targeting_key=tk, attributes=attrs)
    except Exception:  # the SDK's own checks, not ours
        return EvaluationContext(targeting_key=None, attributes={"v": attrs})


class HostileStore:
    """A Python materialization store answering with drawn results."""

    answers = []

    reads = 0

    def read(self, ops):
        HostileStore.reads += 1
        out = []
        for op, a in zip(ops, self.answers or [None]):
            kind = a if isinstance(a, int) else 0
            unit = getattr(op, "unit", None)
            mat = getattr(op, "materialization", None)
            if kind % 4 == 0:
                out.append(VariantReadResult(unit, mat, getattr(op, "rule", None), a))
            elif kind % 4 == 1:
                out.append(InclusionReadResult(unit, mat, a))
            elif kind % 4 == 2:
                out.append(a)
            else:
                raise RuntimeError("store down")
        return out if len(self.answers) % 3 else self.answers

    def write(self, ops):
        if len(self.answers) % 2:
            raise RuntimeError("write refused")


GETTERS = ("boolean", "integer", "float", "string", "object")


SEEN = {}  # error code (None: a value) -> results; the run must reach each kind below


def check(details, default):
    SEEN[details.error_code] = SEEN.get(details.error_code, 0) + 1
    if details.error_code is not None:
        assert isinstance(details.error_code, ErrorCode), details
        assert details.value is default, (details, default)
        assert details.variant is None, details


def main():
    logging.getLogger("confidence").setLevel(logging.CRITICAL)  # the sinks are down on purpose
    state_dir = sys.argv[1]
    examples = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    conformance = os.environ["CONFIDENCE_CONFORMANCE_DIR"]
    plain = ConfidenceProvider("demo-client-secret", state_file=os.path.join(state_dir, "state.pb"),
                               disable_state_sync=True, flag_log_url="http://127.0.0.1:9",
                               events_url="http://127.0.0.1:9", http_timeout=0.2)
    plain.initialize(None)
    store = HostileStore()
    sticky = ConfidenceProvider("test-secret", materialization_store=store, disable_state_sync=True,
                                flag_log_url="http://127.0.0.1:9", events_url="http://127.0.0.1:9",
                                state_file=os.path.join(conformance, "states",
                                                        "resolver_state_with_multiple_sticky_flags.pb"),
                                account_id="confidence-demo-june", disable_exposure_collection=True)
    sticky.initialize(None)

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(getter=st.sampled_from(GETTERS), key=FLAG_KEYS, default=hostile_values(), ctx=contexts(),
           answers=st.lists(hostile_values(), max_size=3), name=st.one_of(st.text(max_size=20), ODD_TEXT, LEAVES),
           value=hostile_values(), data=hostile_values(), sticky_ctx=hostile_values())
    def one(getter, key, default, ctx, answers, name, value, data, sticky_ctx):
        for p in (plain, sticky):
            check(getattr(p, f"resolve_{getter}_details")(key, default, ctx), default)
        store.answers = answers
        sctx = EvaluationContext(attributes={"user_id": sticky_ctx if isinstance(sticky_ctx, str) else "u1",
                                             "country": "SE", "extra": sticky_ctx})
        check(sticky.resolve_string_details("sticky-flag-1.variant", default, sctx), default)
        plain.track(name, ctx, TrackingEventDetails(value=value, attributes=data)
                    if isinstance(data, dict) else TrackingEventDetails(value=value))
        try:
            plain.resolve_all(ctx)  # an extra of ours: may refuse a context, must not crash
        except Exception:
            pass

    one()
    for p in (plain, sticky):
        p.shutdown()
    stats = plain.get_stats()
    # Not a vacuous run: values, refused contexts, type mismatches and store answers all came up.
    for code in (None, ErrorCode.INVALID_CONTEXT, ErrorCode.TYPE_MISMATCH, ErrorCode.GENERAL):
        assert SEEN.get(code), (code, SEEN)
    assert HostileStore.reads > 0 and stats["events_invalid"] > 0, (HostileStore.reads, stats)
    print(f"fuzz_boundary: {examples} examples, {stats['evaluations']} evaluations, "
          f"{stats['events_tracked']} track calls ({stats['events_invalid']} invalid), no finding")


if __name__ == "__main__":
    main()
