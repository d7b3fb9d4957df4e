"""ConfidenceProvider against the local backend through the real openfeature-sdk:
types, reasons and error codes, exposures, tracking, metrics, status and events,
configuration errors, logging, and equality with the C resolver (CLI)."""

import asyncio
import json
import logging
import os
import random
import subprocess
import threading
import time

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus

from confidence import ConfidenceProvider, SnapshotConfig
from conftest import BUILD, SAMPLE_STATE, SAMPLE_STATE_V2, SECRET

ALICE = EvaluationContext(targeting_key="alice", attributes={"user": {"plan": "premium"}, "country": "US", "app": {"version": "2.3.1"}})


def ready_provider(backend, **kw):
    p = ConfidenceProvider(SECRET, **backend.provider_kwargs(), **kw)
    api.set_provider(p)
    p.initialize(None)
    deadline = time.monotonic() + 5
    while api.get_client().get_provider_status() != ProviderStatus.READY and time.monotonic() < deadline:
        time.sleep(0.01)
    return p


def test_typed_resolutions(fresh_backend):
    ready_provider(fresh_backend)
    c = api.get_client()
    d = c.get_boolean_details("new-checkout.enabled", False, ALICE)
    assert (d.value, d.reason, d.error_code) == (True, Reason.TARGETING_MATCH, None)
    assert d.variant == "flags/new-checkout/variants/on"
    assert d.flag_metadata["rule"] == "flags/new-checkout/rules/beta"
    s = c.get_string_details("button-style.color", "x", ALICE)
    assert isinstance(s.value, str) and s.value in ("grey", "blue", "green")
    o = c.get_object_details("button-style", {}, ALICE)
    assert o.value["color"] == s.value
    assert c.get_float_details("button-style.size", 1.5, ALICE).error_code in (None, ErrorCode.TYPE_MISMATCH)
    nf = c.get_boolean_details("no-such-flag.enabled", False, ALICE)
    assert (nf.value, nf.reason, nf.error_code) == (False, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    tm = c.get_integer_details("button-style.color", 7, ALICE)
    assert (tm.value, tm.error_code) == (7, ErrorCode.TYPE_MISMATCH)
    path = c.get_boolean_details("new-checkout.missing", True, ALICE)
    assert path.error_code == ErrorCode.FLAG_NOT_FOUND and path.value is True


def test_async_resolutions(fresh_backend):
    p = ready_provider(fresh_backend)

    async def run():
        return await asyncio.gather(
            p.resolve_boolean_details_async("new-checkout.enabled", False, ALICE),
            p.resolve_string_details_async("button-style.color", "", ALICE),
            p.resolve_integer_details_async("nope.x", 3, ALICE),
            p.resolve_float_details_async("nope.x", 3.5, ALICE),
            p.resolve_object_details_async("button-style", {}, ALICE),
        )

    b, s, i, f, o = asyncio.run(run())
    assert b.value is True and s.value == o.value["color"]
    assert (i.value, i.error_code, f.value) == (3, ErrorCode.FLAG_NOT_FOUND, 3.5)


def test_exposures_received_equal_evaluations_that_apply(fresh_backend):
    p = ready_provider(fresh_backend)
    c = api.get_client()
    applied = set()
    for n in range(40):
        ctx = EvaluationContext(targeting_key=f"user-{n}", attributes={"country": "SE"})
        d = c.get_string_details("button-style.color", "x", ctx)
        assert d.error_code is None
        applied.add((f"user-{n}", d.variant))
        # skip-apply: evaluated, never exposed
        skip = EvaluationContext(targeting_key=f"skip-{n}", attributes={"_confidence_skip_apply": True})
        assert c.get_string_details("button-style.color", "x", skip).error_code is None
    api.shutdown()
    summary = fresh_backend.summary()
    got = {(a["targeting_key"], a["variant"]) for a in summary["applied"] if a["flag"] == "flags/button-style"}
    assert got == applied
    assert summary["flag_assigned"] == 40
    st = p.get_stats()
    assert st["exposures_sent"] == 40 and st["exposures_dropped"] == 0


def test_disable_exposure_collection(fresh_backend):
    p = ready_provider(fresh_backend, disable_exposure_collection=True)
    assert api.get_client().get_boolean_value("new-checkout.enabled", False, ALICE) is True
    api.shutdown()
    assert fresh_backend.summary()["flag_assigned"] == 0
    assert p.get_stats()["exposures_sent"] == 0


def test_track_and_metrics(fresh_backend):
    p = ready_provider(fresh_backend)
    try:
        from openfeature.track import TrackingEventDetails
        api.get_client().track("purchase", ALICE, TrackingEventDetails(value=19.99, attributes={"sku": "a-1"}))
    except ImportError:  # openfeature-sdk 0.8.0 has no Tracking API: call the provider directly
        p.track("purchase", ALICE, None)
    p.track("signup", ALICE, None)
    assert api.get_client().get_boolean_value("new-checkout.enabled", False, ALICE)
    text = p.get_prometheus_metrics()
    assert "confidence_resolves_total" in text and "confidence_evaluations_total" in text
    assert p.get_prometheus_metrics(SnapshotConfig(openmetrics=True)).rstrip().endswith("# EOF")
    api.shutdown()
    events = fresh_backend.events()["events"]
    names = sorted(e.get("event_definition") or e.get("eventDefinition") for e in events)
    assert names == ["eventDefinitions/purchase", "eventDefinitions/signup"], events
    assert p.get_stats()["events_sent"] == 2


def test_ready_is_emitted_once(fresh_backend):
    # The SDK emits READY when initialize returns; the core's own first READY
    # is the same event and must not reach handlers a second time.
    ready = []
    api.add_handler(ProviderEvent.PROVIDER_READY, ready.append)
    try:
        p = ready_provider(fresh_backend)
        time.sleep(0.5)  # the core's event arrives through the dispatcher thread
        assert p.get_status() == ProviderStatus.READY
        ours = [d for d in ready if d.provider_name == p.get_metadata().name]  # not the no-op's
        assert len(ours) == 1, ready
    finally:
        api.remove_handler(ProviderEvent.PROVIDER_READY, ready.append)


def test_not_ready_while_cdn_down(fresh_backend):
    # CDN down at start: the SDK must never say READY without a state. The
    # provider's initialize ends abnormally (PROVIDER_NOT_READY), so the SDK
    # reports ERROR, and set_provider_and_wait tells its caller.
    fresh_backend.faults({"cdn": {"mode": "status", "status": 503}})
    p = ConfidenceProvider(SECRET, **fresh_backend.provider_kwargs(), initialize_timeout=0.3)
    client = api.get_client()
    ready = []
    client.add_handler(ProviderEvent.PROVIDER_READY, lambda details: ready.append(details))
    if hasattr(api, "set_provider_and_wait"):
        with pytest.raises(ProviderNotReadyError):
            api.set_provider_and_wait(p)
    else:  # openfeature-sdk 0.8: set_provider initializes synchronously and never raises
        api.set_provider(p)
    assert client.get_provider_status() == ProviderStatus.ERROR
    d = client.get_boolean_details("new-checkout.enabled", False, ALICE)
    assert (d.value, d.reason, d.error_code) == (False, Reason.ERROR, ErrorCode.PROVIDER_NOT_READY)
    seen = len(ready)
    time.sleep(3)  # several retries fail: still not READY
    assert client.get_provider_status() == ProviderStatus.ERROR
    fresh_backend.faults({})
    recovered = time.monotonic()
    deadline = recovered + 15
    while (len(ready) == seen or client.get_provider_status() != ProviderStatus.READY) and time.monotonic() < deadline:
        time.sleep(0.02)
    took = time.monotonic() - recovered
    assert client.get_provider_status() == ProviderStatus.READY
    assert len(ready) == seen + 1, "READY not emitted once, when the CDN answered"
    # Retries while not ready are at most 2 s apart (the poll interval is 30 s).
    assert took < 3.0, took
    assert client.get_boolean_value("new-checkout.enabled", False, ALICE) is True


def test_events_configuration_changed_and_stale(fresh_backend):
    changed, stale = [], threading.Event()
    p = ready_provider(fresh_backend, state_poll_interval=0.2, stale_after=0.6)
    client = api.get_client()
    client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, lambda d: changed.append(d.flags_changed))
    client.add_handler(ProviderEvent.PROVIDER_STALE, lambda d: stale.set())
    fresh_backend.set_state(SAMPLE_STATE_V2)
    deadline = time.monotonic() + 10
    while not changed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert changed and "new-checkout" in changed[-1]
    fresh_backend.faults({"cdn": {"mode": "status", "status": 503}})
    assert stale.wait(10), "STALE not emitted while the CDN fails"
    assert p.get_status() == ProviderStatus.STALE
    fresh_backend.faults({})


def test_configuration_errors():
    for name in ("http_client", "grpc_channel", "state_fetcher", "flag_logger", "wasm_bytes"):
        with pytest.raises(TypeError, match=name):
            ConfidenceProvider(SECRET, **{name: object()})
    with pytest.raises(ValueError):
        ConfidenceProvider(SECRET, encryption_key="not-hex")
    with pytest.raises(ValueError):
        ConfidenceProvider("")
    ConfidenceProvider(SECRET, encryption_key="00" * 32)  # a valid key is accepted


def test_fatal_bootstrap(tmp_path):
    from openfeature.exception import ProviderFatalError
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"not a state")
    p = ConfidenceProvider(SECRET, state_file=str(bad), disable_state_sync=True)
    with pytest.raises(ProviderFatalError):
        p.initialize(None)
    assert p.get_status() == ProviderStatus.FATAL
    assert p.resolve_boolean_details("new-checkout.enabled", False).error_code == ErrorCode.PROVIDER_FATAL


def test_logs_reach_python_logging(fresh_backend, caplog):
    caplog.set_level(logging.DEBUG, logger="confidence")
    p = ready_provider(fresh_backend)
    p.resolve_boolean_details("new-checkout.enabled", False, ALICE)
    assert p.flush(10)
    deadline = time.monotonic() + 5
    while not any("flag state loaded" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.05)
    # On 0.15.3's child loggers (confidence.state_fetcher for the state), which
    # a level set on "confidence" governs.
    assert any(r.name == "confidence.state_fetcher" and "flag state loaded" in r.getMessage() for r in caplog.records)
    deadline = time.monotonic() + 5
    while not any(r.name == "confidence.flag_logger" for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(r.name == "confidence.flag_logger" and "sent a flag log batch" in r.getMessage() for r in caplog.records)
    assert all(r.name.startswith("confidence.") for r in caplog.records if r.name.startswith("confidence"))
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def cli_resolve(ctx):
    out = subprocess.check_output([os.path.join(BUILD, "confidence"), "resolve", "--state", SAMPLE_STATE,
                                   "--account", "demo-shop-account", "--secret", SECRET, "--context", json.dumps(ctx)])
    return {f["flag"][6:]: f for f in json.loads(out)["resolved"]}


def test_answers_equal_the_c_resolver(tmp_path):
    p = ConfidenceProvider(SECRET, state_file=SAMPLE_STATE, account_id="demo-shop-account", disable_state_sync=True,
                           disable_exposure_collection=True)
    p.initialize(None)
    rnd = random.Random(12)
    for n in range(150):
        attrs = {}
        if rnd.random() < 0.7:
            attrs["country"] = rnd.choice(["US", "SE", "DE", "GB"])
        if rnd.random() < 0.5:
            attrs["user"] = {"plan": rnd.choice(["premium", "free"])}
        if rnd.random() < 0.6:
            attrs["app"] = {"version": rnd.choice(["1.9.0", "2.0.0", "2.3.1", "3.0"])}
        tk = f"unit-{rnd.randrange(10**6)}"
        expected = cli_resolve(dict(attrs, targeting_key=tk))
        for flag, f in expected.items():
            d = p.resolve_object_details(flag, {"dflt": True}, EvaluationContext(targeting_key=tk, attributes=attrs))
            assert (d.variant or "") == f["variant"], (flag, attrs)
            if f["variant"]:
                want = json.loads(json.dumps(f["value"]), parse_int=float)
                assert d.value == want
    p.shutdown()


def test_metadata_is_one_object_per_provider():
    # The SDK asks for the metadata on every evaluation: it is made once, with
    # the class's PROVIDER_NAME (a subclass's own when it sets one).
    class Renamed(ConfidenceProvider):
        PROVIDER_NAME = "renamed"

    p = ConfidenceProvider(SECRET, state_file=SAMPLE_STATE, disable_state_sync=True, disable_exposure_collection=True)
    r = Renamed(SECRET, state_file=SAMPLE_STATE, disable_state_sync=True, disable_exposure_collection=True)
    assert p.get_metadata() is p.get_metadata()
    assert p.get_metadata().name == "confidence-sdk-python-local" and r.get_metadata().name == "renamed"
    p.shutdown()
    r.shutdown()
