"""Fixtures for the Python package's tests: the local Confidence backend
(tools/testserver) serving the sample state, and providers pointed at it.
Environment (set by run.sh): CONFIDENCE_REPO, CONFIDENCE_BUILD_DIR."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

REPO = os.environ.get("CONFIDENCE_REPO") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CONFIDENCE_BUILD_DIR") or os.path.join(REPO, "build")
SAMPLE_STATE = os.path.join(BUILD, "sample", "state.pb")
SAMPLE_STATE_V2 = os.path.join(BUILD, "sample", "state-v2.pb")
STATES = os.path.abspath(os.path.join(REPO, "..", "shared", "conformance", "states"))
STICKY_STATE = os.path.join(STATES, "resolver_state_with_multiple_sticky_flags.pb")
STICKY_ACCOUNT = "confidence-demo-june"
SECRET = "demo-client-secret"


class Backend:
    def __init__(self, proc, http, grpc, https=None):
        self.proc, self.http, self.grpc = proc, http, grpc
        self.cdn = f"http://127.0.0.1:{http}"
        # the same routes over TLS, with start_backend(tls=...)
        self.cdn_https = f"https://127.0.0.1:{https}" if https else None
        self.grpc_url = f"http://127.0.0.1:{grpc}"

    def _req(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.cdn + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
        return json.loads(text) if text else None

    def reset(self):
        self._req("POST", "/control/reset", {})

    def summary(self):
        return self._req("GET", "/control/summary")

    def events(self):
        return self._req("GET", "/control/events")

    def set_state(self, path):
        with open(path, "rb") as f:
            return self._req("POST", "/control/state", raw=f.read())

    def faults(self, faults):
        return self._req("POST", "/control/faults", faults)

    def provider_kwargs(self):
        return {"cdn_base_url": self.cdn, "flag_log_url": self.grpc_url, "events_url": self.grpc_url}


def exposures_per_key(summary, flag, variant_of=None):
    """The exposures a backend summary holds, summed per targeting key; every
    one must be of `flag` and, for a key in `variant_of`, of that variant."""
    got = {}
    for a in summary["applied"]:
        assert a["flag"] == flag, a
        got[a["targeting_key"]] = got.get(a["targeting_key"], 0) + a["count"]
        if variant_of and a["targeting_key"] in variant_of:
            assert a["variant"] == variant_of[a["targeting_key"]], a
    return got


def count_mismatches(expected, got):
    """{key: (expected, received)} for every key whose counts differ."""
    return {k: (expected.get(k, 0), got.get(k, 0))
            for k in set(expected) | set(got) if got.get(k, 0) != expected.get(k, 0)}


def start_backend(state, secret, tmp, encryption_key=None, tls=None):
    """tls=(cert_file, key_file) adds the HTTPS listener (Backend.cdn_https)."""
    ports = os.path.join(tmp, f"ports-{os.getpid()}-{time.monotonic_ns()}.json")
    key = ["--encryption-key", encryption_key] if encryption_key else []
    if tls:
        key += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    proc = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "tools", "testserver", "server.py"), "--state", state,
         "--secret", secret, "--ports-file", ports, "--max-lifetime", "900", "--exit-on-stdin-eof", *key],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    assert line.startswith("READY"), f"testserver did not start: {line!r}"
    with open(ports) as f:
        p = json.load(f)
    return Backend(proc, p["http"], p["grpc"], p.get("https"))


@pytest.fixture(scope="session")
def backend(tmp_path_factory):
    assert os.path.isfile(SAMPLE_STATE), f"{SAMPLE_STATE} missing: build the project first"
    b = start_backend(SAMPLE_STATE, SECRET, str(tmp_path_factory.mktemp("backend")))
    yield b
    b.proc.terminate()
    b.proc.wait(10)


@pytest.fixture
def fresh_backend(backend):
    backend.reset()
    backend.set_state(SAMPLE_STATE)
    return backend


@pytest.fixture
def endpoints(fresh_backend, monkeypatch):
    """The README examples take no endpoints: point them at the backend via the environment."""
    monkeypatch.setenv("CONFIDENCE_CDN_URL", fresh_backend.cdn)
    monkeypatch.setenv("CONFIDENCE_FLAG_LOG_URL", fresh_backend.grpc_url)
    monkeypatch.setenv("CONFIDENCE_EVENTS_URL", fresh_backend.grpc_url)
    return fresh_backend


@pytest.fixture(autouse=True)
def _openfeature_cleanup():
    yield
    from openfeature import api
    api.shutdown()
    if hasattr(api, "clear_providers"):
        api.clear_providers()
