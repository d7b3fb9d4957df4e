"""The provider's boundary with the SDK: a context value that cannot be
converted is an error result (the default, INVALID_CONTEXT and a message
naming the attribute), never an exception into the SDK, never a log record;
values that can be converted keep working; memory stays flat."""

import datetime
import decimal
import logging
import math
import time

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus

from confidence import ConfidenceProvider
from conftest import SECRET

FLAG = "new-checkout.enabled"


def ready(backend):
    p = ConfidenceProvider(SECRET, **backend.provider_kwargs())
    api.set_provider(p)
    p.initialize(None)
    assert api.get_client().get_provider_status() in (ProviderStatus.READY, ProviderStatus.NOT_READY)
    return p


class RaisingStr:
    def __str__(self):
        raise RuntimeError("no text for you")


class ClearsParent:
    """str() empties the container it sits in, while it is being converted."""

    def __init__(self):
        self.parent = None

    def __str__(self):
        self.parent.clear()
        return "cleared"


def nested(levels):
    v = "leaf"
    for _ in range(levels):
        v = [v]
    return v


def hostile():
    """(name, attributes, the attribute path the message must name)."""
    cyclic_dict = {}
    cyclic_dict["self"] = cyclic_dict
    cyclic_list = []
    cyclic_list.append(cyclic_list)
    in_list = ClearsParent()
    parent_list = ["a", in_list, "b"]
    in_list.parent = parent_list
    in_dict = ClearsParent()
    parent_dict = {"x": 1, "y": in_dict, "z": 2}
    in_dict.parent = parent_dict
    return [
        ("dict containing itself", {"user": cyclic_dict}, "user.self.self"),
        ("list containing itself", {"tags": cyclic_list}, "tags[0][0]"),
        ("lone surrogate value", {"name": "a\ud800b"}, "name"),
        ("lone surrogate key", {"\udc00": 1}, "<key>"),
        ("str() raises", {"obj": RaisingStr()}, "obj"),
        ("100,000 levels", {"deep": nested(100_000)}, "deep[0][0]"),
        ("int beyond a double", {"n": 10**400}, "n"),
        ("str() empties its list", {"l": parent_list}, None),
        ("str() empties its dict", {"d": parent_dict}, None),
    ]


@pytest.mark.parametrize("case", range(len(hostile())), ids=[h[0] for h in hostile()])
def test_unconvertible_context_is_an_error_result(fresh_backend, caplog, case):
    name, attrs, path = hostile()[case]
    caplog.set_level(logging.DEBUG)
    p = ready(fresh_backend)
    client = api.get_client()
    time.sleep(0.2)  # start-up logs arrive through the dispatcher thread
    caplog.clear()  # from here on: only what the evaluations cause
    ctx = EvaluationContext(targeting_key="alice", attributes=attrs)
    d = p.resolve_boolean_details(FLAG, True, ctx)  # straight: nothing may be raised
    c = client.get_boolean_details(FLAG, True, ctx)
    for r in (d, c):
        if path is None:  # mutation during conversion: converted or refused, never a crash
            assert r.error_code in (None, ErrorCode.INVALID_CONTEXT), (name, r)
            continue
        assert (r.value, r.reason, r.error_code, r.variant) == (True, Reason.ERROR, ErrorCode.INVALID_CONTEXT, None), r
        assert f"'{path}" in r.error_message, (name, r.error_message)
    bad = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert not bad, [rec.getMessage() for rec in bad]


def test_convertible_values_still_work(fresh_backend):
    p = ready(fresh_backend)
    attrs = {
        "when": datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.timezone.utc),
        "day": datetime.date(2026, 12, 7),
        "price": decimal.Decimal("9.99"),
        "raw": b"bytes",
        "pair": (1, 2),
        "set": {3},
        "big": 2**70,
        "nan": math.nan,
        "inf": math.inf,
        7: "non-str key",
        "country": "US",
    }
    d = p.resolve_boolean_details(FLAG, True, EvaluationContext(targeting_key="alice", attributes=attrs))
    assert d.error_code is None and d.reason != Reason.ERROR, d
    assert isinstance(d.value, bool)


def rss_bytes():
    with open("/proc/self/statm") as f:
        import os

        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_hostile_evaluations_keep_memory_flat(fresh_backend):
    p = ready(fresh_backend)
    contexts = [EvaluationContext(targeting_key="alice", attributes=a) for _, a, path in hostile() if path]
    for i in range(2_000):  # warm-up: caches, thread details
        p.resolve_boolean_details(FLAG, True, contexts[i % len(contexts)])
    before = rss_bytes()
    for i in range(100_000):
        d = p.resolve_boolean_details(FLAG, True, contexts[i % len(contexts)])
        assert d.error_code == ErrorCode.INVALID_CONTEXT
    grown = rss_bytes() - before
    assert grown <= 2 * 1024 * 1024, f"RSS grew by {grown} bytes over 100,000 hostile evaluations"


class BadBool:
    def __bool__(self):
        raise RuntimeError("no truth")


def test_targeting_key_of_another_type(fresh_backend):
    p = ready(fresh_backend)
    # As 0.15.3: a key that is not a string is an error (GENERAL), a falsy one
    # is no key; an object whose truth cannot be told is not a string either.
    for key in (12345, BadBool()):
        d = p.resolve_boolean_details(FLAG, True, EvaluationContext(targeting_key=key))
        assert (d.value, d.reason, d.error_code) == (True, Reason.ERROR, ErrorCode.GENERAL), d
        assert "targeting_key must be a string" in d.error_message
    d = p.resolve_boolean_details(FLAG, True, EvaluationContext(targeting_key=0, attributes={"country": "US"}))
    assert d.error_code is None, d
    p.track("checkout", EvaluationContext(targeting_key=BadBool()))  # never raises


class Opaque:
    """A default no getter can convert: it must come back as it went in."""

    def __bool__(self):
        raise RuntimeError("no truth")

    def __index__(self):
        raise RuntimeError("no number")

    __int__ = __float__ = __index__


def test_defaults_are_the_callers_objects(fresh_backend):
    p = ready(fresh_backend)
    se = EvaluationContext(targeting_key="alice", attributes={"country": "SE"})
    legacy = EvaluationContext(targeting_key="alice", attributes={"app_version": "1.0.0"})
    NO_VARIANT = "search-ranking.algorithm"  # its legacy rule assigns no variant
    opaque = Opaque()
    getters = (p.resolve_boolean_details, p.resolve_integer_details, p.resolve_float_details,
               p.resolve_string_details, p.resolve_object_details)
    for get in getters:
        # An error: the default untouched, of whatever type, never an exception.
        for dflt in (opaque, None, 2**80, [1], "x"):
            d = get("no-such-flag", dflt, se)
            assert d.value is dflt and d.error_code == ErrorCode.FLAG_NOT_FOUND, (get.__name__, dflt, d)
        # No variant: 0.15.3 checks the default as it would the flag's value.
        d = get(NO_VARIANT, opaque, legacy)
        assert d.value is opaque and d.error_code == ErrorCode.TYPE_MISMATCH, (get.__name__, d)
        assert d.error_message == "Value is not Opaque" and d.variant is None, d
    # ... and converts it: a whole float for an integer, an int for a float.
    d = p.resolve_integer_details(NO_VARIANT, 3.0, legacy)
    assert (d.value, type(d.value), d.reason, d.error_code) == (3, int, Reason.TARGETING_MATCH, None), d
    assert type(p.resolve_float_details(NO_VARIANT, 3, legacy).value) is float
    d = p.resolve_float_details(NO_VARIANT, 10**400, legacy)  # float() overflows: an error result
    assert d.value == 10**400 and d.error_code == ErrorCode.GENERAL and d.error_message, d
    # A variant whose value at the path is null: the default untouched, with the variant.
    for i in range(200):
        d = p.resolve_integer_details("button-style.size", opaque, EvaluationContext(targeting_key=f"u{i}"))
        if d.variant == "flags/button-style/variants/control":
            assert d.value is opaque and d.error_code is None and d.reason == Reason.TARGETING_MATCH, d
            break
    else:
        pytest.fail("no key of 200 landed in the control group")
    # The flag's value, when there is one, whatever the default.
    d = p.resolve_boolean_details(FLAG, opaque, se)
    assert d.error_code is None and type(d.value) is bool and d.variant, d


def test_flag_keys_that_name_no_flag(fresh_backend):
    p = ready(fresh_backend)
    ctx = EvaluationContext(targeting_key="alice", attributes={"country": "SE"})
    for key, code in ((None, ErrorCode.GENERAL), (42, ErrorCode.GENERAL), ("new\ud800", ErrorCode.GENERAL),
                      ("new-checkout\x00.enabled", ErrorCode.FLAG_NOT_FOUND)):
        d = p.resolve_boolean_details(key, True, ctx)
        assert (d.value, d.reason, d.error_code) == (True, Reason.ERROR, code), (key, d)
        assert d.error_message, d


class BadMapping(dict):
    def keys(self):
        raise RuntimeError("no keys")


class PlainDetails:
    """TrackingEventDetails' shape, for openfeature-sdk 0.8, which has no tracking module."""

    def __init__(self, value=None, attributes=None):
        self.value, self.attributes = value, attributes


def test_track_counts_what_it_cannot_send(fresh_backend, caplog):
    try:
        from openfeature.track import TrackingEventDetails
    except ImportError:
        TrackingEventDetails = PlainDetails

    p = ready(fresh_backend)
    time.sleep(0.2)
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    cyclic = {}
    cyclic["self"] = cyclic
    bad = [
        ("checkout", EvaluationContext(targeting_key="a", attributes={"x": cyclic}), None),
        ("checkout", EvaluationContext(targeting_key="a", attributes={"s": "\ud800"}), None),
        ("checkout", EvaluationContext(targeting_key="a"), TrackingEventDetails(value="not a number")),
        ("checkout", EvaluationContext(targeting_key="a"), TrackingEventDetails(attributes={"r": RaisingStr()})),
        ("check\ud800out", EvaluationContext(targeting_key="a"), None),
        (42, None, None),
    ]
    before = p.get_stats()
    for name, ctx, details in bad:
        p.track(name, ctx, details)  # never raises
    p.track("checkout", EvaluationContext(targeting_key="a", attributes={"ok": 1}), TrackingEventDetails(value=2.5))
    after = p.get_stats()
    assert after["events_invalid"] - before["events_invalid"] == len(bad), (before, after)
    assert after["events_tracked"] - before["events_tracked"] == len(bad) + 1, (before, after)
    noisy = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert not noisy, [rec.getMessage() for rec in noisy]


def test_callback_wait_takes_any_timeout():
    # In a process of its own: the callback queue is process-wide and a
    # dispatcher thread of another test would take the wake-up.
    import subprocess
    import sys

    code = """
import threading, time
from confidence import _native
for t in (float("nan"), -1.0, 0.0):
    s = time.monotonic(); assert _native.wait_callback(t) is None; assert time.monotonic() - s < 0.5, t
threading.Timer(0.3, _native.wake_callbacks).start()
s = time.monotonic(); assert _native.wait_callback(1e300) is None
took = time.monotonic() - s
assert 0.25 < took < 5, took  # waited until woken, neither at once nor for ever
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
