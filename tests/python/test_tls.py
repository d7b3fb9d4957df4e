"""TLS from Python against the local backend's HTTPS CDN (a throwaway CA): the
provider trusts what SSL_CERT_FILE names, set in os.environ before it is made;
an unrelated CA is a TLS verify error in ProviderNotReadyError; no CA at all is
ProviderFatalError naming the variable. The search over the distributions'
paths is tests/provider/test_tls.py."""

import os
import subprocess
import sys

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ProviderFatalError, ProviderNotReadyError
from openfeature.provider import ProviderStatus

from confidence import ConfidenceProvider
from conftest import REPO, SAMPLE_STATE, SECRET, start_backend

ALICE = EvaluationContext(targeting_key="alice", attributes={"user": {"plan": "premium"}, "country": "US",
                                                            "app": {"version": "2.3.1"}})
CA_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "CONFIDENCE_TEST_CA_ROOT")


@pytest.fixture(scope="module")
def tls_backend(tmp_path_factory):
    certs = tmp_path_factory.mktemp("certs")
    # a child process: tls_certs.py re-executes itself in the testserver venv
    subprocess.run([sys.executable, os.path.join(REPO, "tools", "testserver", "tls_certs.py"), str(certs)],
                   check=True, stdout=subprocess.PIPE)
    b = start_backend(SAMPLE_STATE, SECRET, str(tmp_path_factory.mktemp("tls-backend")),
                      tls=(str(certs / "server.pem"), str(certs / "server-key.pem")))
    b.ca, b.wrong_ca = str(certs / "ca.pem"), str(certs / "wrong-ca.pem")
    yield b
    b.proc.terminate()
    b.proc.wait(10)


@pytest.fixture
def tls_env(monkeypatch, tmp_path):
    """No CA variable set, the built-in paths under an empty root, no proxy."""
    for name in CA_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONFIDENCE_TEST_CA_ROOT", str(tmp_path / "empty-root"))
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")
    return monkeypatch


def https_provider(backend, **kw):
    return ConfidenceProvider(SECRET, cdn_base_url=backend.cdn_https, flag_log_url=backend.grpc_url,
                              events_url=backend.grpc_url, **kw)


def test_ssl_cert_file_verifies_the_cdn(tls_backend, tls_env):
    tls_env.setenv("SSL_CERT_FILE", tls_backend.ca)
    p = https_provider(tls_backend)
    try:
        p.initialize(None)
        assert p.get_status() == ProviderStatus.READY
        # the sample state, as served over HTTPS, decides for alice
        d = p.resolve_boolean_details("new-checkout.enabled", False, ALICE)
        assert d.variant == "flags/new-checkout/variants/on" and d.value is True
    finally:
        p.shutdown()


def test_unrelated_ca_is_a_verify_error(tls_backend, tls_env):
    tls_env.setenv("SSL_CERT_FILE", tls_backend.wrong_ca)
    p = https_provider(tls_backend, initialize_timeout=2.0)
    try:
        with pytest.raises(ProviderNotReadyError, match="SSL certificate problem"):
            p.initialize(None)
        assert p.get_status() == ProviderStatus.NOT_READY
    finally:
        p.shutdown()


def test_no_ca_is_fatal_and_names_the_variable(tls_backend, tls_env):
    p = https_provider(tls_backend)
    try:
        with pytest.raises(ProviderFatalError, match="set SSL_CERT_FILE to a PEM file of trusted CAs"):
            p.initialize(None)
        assert p.get_status() == ProviderStatus.FATAL
    finally:
        p.shutdown()
    # decided per provider: the variable set now is seen by the next one
    tls_env.setenv("SSL_CERT_FILE", tls_backend.ca)
    q = https_provider(tls_backend)
    try:
        q.initialize(None)
        assert q.get_status() == ProviderStatus.READY
    finally:
        q.shutdown()
