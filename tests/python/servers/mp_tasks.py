"""Functions that tests/python/test_processes.py runs in multiprocessing
children; a module of their own so that spawned children can import them.
Environment: CONFIDENCE_*_URL (the local backend) and FLAG_APP_SECRET."""

import os
from multiprocessing import util

from openfeature import api
from openfeature.evaluation_context import EvaluationContext

FLAG = "new-checkout.enabled"


def make_provider():
    """A spawned child inherits nothing: it makes its own provider."""
    from confidence import ConfidenceProvider

    provider = ConfidenceProvider(client_secret=os.environ["FLAG_APP_SECRET"])
    if hasattr(api, "set_provider_and_wait"):
        api.set_provider_and_wait(provider)
    else:  # openfeature-sdk 0.8.0
        api.set_provider(provider)
        provider.initialize(None)


def shutdown_at_exit():
    """A forked pool worker leaves through os._exit(): atexit handlers never
    run, multiprocessing's own finalizers do (when the pool is closed and
    joined, not terminated)."""
    util.Finalize(None, api.shutdown, exitpriority=10)


def provider_and_finalizer():
    """A forkserver child: its own provider, and, as it too leaves through
    os._exit(), a finalizer."""
    make_provider()
    shutdown_at_exit()


def evaluate(key):
    d = api.get_client().get_boolean_details(FLAG, False, EvaluationContext(key, {"country": "SE"}))
    return {"pid": os.getpid(), "key": key, "variant": d.variant, "error": d.error_code and str(d.error_code)}


def evaluate_then_shutdown(keys):
    for key in keys:
        evaluate(key)
    api.shutdown()
