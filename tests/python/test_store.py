"""Materialization stores from Python: a user's store called from C (sticky
assignment, writes), a store that raises (default + GENERAL + its message),
Ctrl-C during a slow read (raised by the store, and a real SIGINT: re-raised,
never swallowed), the in-memory store, the Redis store shared by two providers
(a real redis-server), the remote store against the local backend, and the
markers' types."""

import threading
import time

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from confidence import ConfidenceProvider, MaterializationNotSupportedError, RemoteMaterializationStore, UnsupportedMaterializationStore
from confidence.materialization import (
    InclusionReadOp, InclusionReadResult, InMemoryMaterializationStore, VariantReadOp, VariantReadResult, VariantWriteOp,
)
from conftest import STICKY_ACCOUNT, STICKY_STATE, start_backend


class DictStore:
    def __init__(self):
        self.variants, self.reads, self.writes = {}, [], []
        self.lock = threading.Lock()

    def read(self, ops):
        out = []
        with self.lock:
            self.reads.append(list(ops))
            for op in ops:
                if isinstance(op, VariantReadOp):
                    out.append(VariantReadResult(op.unit, op.materialization, op.rule,
                                                 self.variants.get((op.unit, op.materialization, op.rule))))
                else:
                    assert isinstance(op, InclusionReadOp)
                    out.append(InclusionReadResult(op.unit, op.materialization,
                                                   any(k[0] == op.unit and k[1] == op.materialization for k in self.variants)))
        return out

    def write(self, ops):
        with self.lock:
            for op in ops:
                assert isinstance(op, VariantWriteOp)
                self.writes.append(op)
                self.variants[(op.unit, op.materialization, op.rule)] = op.variant


def sticky_provider(store=None, **kw):
    p = ConfidenceProvider("test-secret", state_file=STICKY_STATE, account_id=STICKY_ACCOUNT, disable_state_sync=True,
                           disable_exposure_collection=True, materialization_store=store, **kw)
    p.initialize(None)
    return p


def ctx(unit, country=None):
    # The sticky state's targeting key is the user_id attribute.
    attrs = {"user_id": unit}
    if country:
        attrs["country"] = country
    return EvaluationContext(attributes=attrs)


def test_without_store_the_flag_needs_materializations():
    p = sticky_provider()
    d = p.resolve_string_details("sticky-flag-1.variant", "dflt", ctx("u1", "SE"))
    assert d.value == "dflt" and d.error_code == ErrorCode.GENERAL
    assert "materializ" in d.error_message


def test_python_store_sticky_assignment():
    store = DictStore()
    p = sticky_provider(store)
    first = p.resolve_object_details("sticky-flag-1", {}, ctx("u1", "SE"))
    assert first.error_code is None and first.variant, first
    assert store.writes and store.writes[0].unit == "u1" and store.writes[0].variant == first.variant
    assert all(isinstance(op, (VariantReadOp, InclusionReadOp)) for op in store.reads[0])
    # Targeting no longer matches, but the stored assignment is sticky.
    unsticky = sticky_provider().resolve_object_details("sticky-flag-1", {}, ctx("u1", "US"))
    again = p.resolve_object_details("sticky-flag-1", {}, ctx("u1", "US"))
    assert again.variant == first.variant and again.error_code is None
    assert unsticky.variant != first.variant or unsticky.error_code is not None
    st = p.get_stats()
    assert st["store_reads"] >= 2 and st["store_writes"] >= 1


class SleepyStore(DictStore):
    """Answers after `seconds`."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def read(self, ops):
        time.sleep(self.seconds)
        return super().read(ops)


class RaisingStore:
    def read(self, ops):
        raise ConnectionError("backend on fire")

    def write(self, ops):
        raise AssertionError("never reached")


def test_store_that_raises():
    p = sticky_provider(RaisingStore())
    d = p.resolve_string_details("sticky-flag-1.variant", "dflt", ctx("u2", "SE"))
    assert (d.value, d.reason, d.error_code) == ("dflt", Reason.ERROR, ErrorCode.GENERAL)
    assert "backend on fire" in d.error_message
    # MaterializationNotSupportedError behaves the same (0.15.3's default store raises it).
    d = sticky_provider(UnsupportedMaterializationStore()).resolve_string_details("sticky-flag-1.variant", "x", ctx("u", "SE"))
    assert d.error_code == ErrorCode.GENERAL


class SlowStore(DictStore):
    """Slow, and interrupted (Ctrl-C) during its first read only."""

    interrupted = False

    def read(self, ops):
        time.sleep(0.3)
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        return super().read(ops)


def test_keyboard_interrupt_during_slow_read_propagates():
    p = sticky_provider(SlowStore(), materialization_read_timeout=5)
    with pytest.raises(KeyboardInterrupt):
        p.resolve_string_details("sticky-flag-1.variant", "dflt", ctx("u3", "SE"))
    # The provider is unharmed afterwards: the next read answers normally.
    d = p.resolve_object_details("sticky-flag-1", {}, ctx("u3", "SE"))
    assert d.error_code is None and d.variant and d.value != {}


def test_keyboard_interrupt_during_resolve_all_propagates():
    p = sticky_provider(SlowStore(), materialization_read_timeout=5)
    with pytest.raises(KeyboardInterrupt):
        p.resolve_all(ctx("u3", "SE"))
    assert "resolvedFlags" in p.resolve_all(ctx("u3", "SE"))


class EvaluatingStore(DictStore):
    """Evaluates a flag of its own (which needs no store) inside read, then is
    interrupted: the outer evaluation must still see the interrupt."""

    def __init__(self, provider_box):
        super().__init__()
        self.box = provider_box

    def read(self, ops):
        inner = self.box[0].resolve_boolean_details("no-such-flag", True, ctx("u9"))
        assert inner.error_code == ErrorCode.FLAG_NOT_FOUND
        raise KeyboardInterrupt


def test_keyboard_interrupt_after_a_nested_evaluation_propagates():
    box = []
    p = sticky_provider(EvaluatingStore(box), materialization_read_timeout=5)
    box.append(p)
    with pytest.raises(KeyboardInterrupt):
        p.resolve_string_details("sticky-flag-1.variant", "dflt", ctx("u4", "SE"))


class NestingStore(DictStore):
    """Evaluates a flag of its own, with another context, inside each read."""

    def __init__(self, provider_box):
        super().__init__()
        self.box, self.inner = provider_box, []

    def read(self, ops):
        self.inner.append(self.box[0].resolve_string_details("no-such-flag.x", "inner", ctx("someone-else", "US")))
        return super().read(ops)


def test_nested_evaluation_leaves_the_outer_one_intact():
    # An evaluation started inside another on the same thread gets a context
    # and details of its own: the outer answer is the one a store that does
    # not nest gives, and the store saw the outer context's unit.
    box = []
    nesting = NestingStore(box)
    box.append(sticky_provider(nesting))
    plain = DictStore()
    baseline = sticky_provider(plain)
    for unit in ("u5", "u6"):
        got = box[0].resolve_object_details("sticky-flag-1", {}, ctx(unit, "SE"))
        want = baseline.resolve_object_details("sticky-flag-1", {}, ctx(unit, "SE"))
        assert (got.value, got.variant, got.reason, got.error_code, got.error_message, got.flag_metadata) == \
            (want.value, want.variant, want.reason, want.error_code, want.error_message, want.flag_metadata), (got, want)
        assert got.error_code is None and got.variant
    assert [w.unit for w in nesting.writes] == [w.unit for w in plain.writes] == ["u5", "u6"]
    assert nesting.inner and all(d.value == "inner" and d.error_code == ErrorCode.FLAG_NOT_FOUND for d in nesting.inner)


def test_real_sigint_during_slow_read():
    # Ctrl-C for real: SIGINT while the store sleeps in its read, called from C
    # on this (the main) thread; the evaluation ends at once with KeyboardInterrupt.
    import os
    import signal

    p = sticky_provider(SleepyStore(5), materialization_read_timeout=10)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        p.resolve_string_details("sticky-flag-1.variant", "dflt", ctx("u5", "SE"))
    assert time.monotonic() - t < 3
    timer.join()


def test_store_over_read_timeout_is_bounded():
    p = sticky_provider(SleepyStore(0.5), materialization_read_timeout=0.1)
    t = time.monotonic()
    d = p.resolve_string_details("sticky-flag-1.variant", "dflt", ctx("u4", "SE"))
    assert d.error_code == ErrorCode.GENERAL and "timed out" in d.error_message
    assert time.monotonic() - t < 2


def test_in_memory_store_is_sticky():
    p = sticky_provider(InMemoryMaterializationStore())
    first = p.resolve_object_details("sticky-flag-1", {}, ctx("m1", "SE"))
    assert first.error_code is None and first.variant
    assert p.resolve_object_details("sticky-flag-1", {}, ctx("m1", "US")).variant == first.variant


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_server():
    """A real redis-server on loopback (password, db 3), stopped after the test."""
    import shutil
    import subprocess

    assert shutil.which("redis-server"), "redis-server missing: scripts/install-deps.sh installs it"
    port, password = free_port(), "py-test-password"
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--requirepass", password, "--loglevel", "warning"],
                            stdout=subprocess.DEVNULL)
    cli = ["redis-cli", "-p", str(port), "-a", password, "--no-auth-warning", "-n", "3"]
    deadline = time.monotonic() + 10
    while subprocess.run(cli + ["PING"], capture_output=True, text=True).stdout.strip() != "PONG":
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield f"redis://:{password}@127.0.0.1:{port}/3", cli, proc
    proc.terminate()
    proc.wait(10)


def test_redis_store_is_shared_by_providers(redis_server):
    import subprocess

    from confidence.materialization import RedisMaterializationStore

    url, cli, proc = redis_server
    a = sticky_provider(RedisMaterializationStore(url))
    first = a.resolve_object_details("sticky-flag-1", {}, ctx("fleet-1", "SE"))
    assert first.error_code is None and first.variant
    assert int(subprocess.run(cli + ["DBSIZE"], capture_output=True, text=True).stdout) > 0
    # A second provider (another instance of the fleet) sees the assignment
    # through Redis alone: targeting no longer matches, the variant sticks.
    b = sticky_provider(RedisMaterializationStore(url))
    again = b.resolve_object_details("sticky-flag-1", {}, ctx("fleet-1", "US"))
    assert again.error_code is None and again.variant == first.variant
    # Redis gone: the default and GENERAL with a message, no crash.
    proc.terminate()
    proc.wait(10)
    d = b.resolve_string_details("sticky-flag-1.variant", "dflt", ctx("fleet-2", "SE"))
    assert (d.value, d.error_code) == ("dflt", ErrorCode.GENERAL) and d.error_message


def test_remote_store_against_the_backend(tmp_path):
    b = start_backend(STICKY_STATE, "test-secret", str(tmp_path))
    try:
        for store_args in ({"use_remote_materialization_store": True},
                           {"materialization_store": RemoteMaterializationStore(client_secret="test-secret")}):
            p = ConfidenceProvider("test-secret", state_file=STICKY_STATE, account_id=STICKY_ACCOUNT,
                                   disable_state_sync=True, flag_log_url=b.grpc_url, **store_args)
            p.initialize(None)
            first = p.resolve_object_details("sticky-flag-1", {}, ctx("r1", "SE"))
            assert first.error_code is None and first.variant
            assert p.resolve_object_details("sticky-flag-1", {}, ctx("r1", "US")).variant == first.variant
            p.shutdown()
        stored = b._req("GET", "/control/materializations")["variants"]
        assert any(v["unit"] == "r1" for v in stored)
    finally:
        b.proc.terminate()
        b.proc.wait(10)


def test_marker_types():
    with pytest.raises(TypeError):
        RemoteMaterializationStore(channel=object())
    with pytest.raises(MaterializationNotSupportedError):
        RemoteMaterializationStore().read([])
    with pytest.raises(TypeError):
        ConfidenceProvider("s", materialization_store=object())


def test_store_refused_late_is_released_once():
    # Creating a provider can fail after it took the store (here: the
    # process's thread-local keys run out, as with about a thousand live
    # providers). The store is then released exactly once, by the C
    # provider; the extension must not release it again.
    import gc
    import sys

    from confidence import _native

    class Store:
        def read(self, ops):
            return []

        def write(self, ops):
            pass

    base = {"client_secret": "s", "max_queued_exposures": 2, "max_queued_events": 2}
    live = []
    try:
        while len(live) < 4096:
            try:
                live.append(_native.Provider(dict(base)))
            except _native.NativeError:
                break
        assert len(live) < 4096, "the thread-local keys never ran out"
        store = Store()
        refs = sys.getrefcount(store)
        with pytest.raises(_native.NativeError):
            _native.Provider(dict(base, store_kind="python", store=store))
        gc.collect()
        assert sys.getrefcount(store) == refs
    finally:
        live.clear()
        gc.collect()
    _native.Provider(dict(base))  # the keys came back
