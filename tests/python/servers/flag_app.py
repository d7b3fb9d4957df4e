"""The app the server tests run: one module, a WSGI and an ASGI callable.

As users do, the provider is created and initialised when the module is
imported, so under gunicorn --preload that happens once, in the master, and
every worker inherits it through fork(). Each request evaluates one flag for
the targeting key in its query (?key=...) and answers with the worker's pid,
so the test knows which process sent which exposure.
Environment: CONFIDENCE_CDN_URL / CONFIDENCE_FLAG_LOG_URL / CONFIDENCE_EVENTS_URL
(the local backend), FLAG_APP_SECRET, FLAG_APP_IMPORT_KEY and FLAG_APP_EXIT
("lifespan": the ASGI lifespan shutdown shuts OpenFeature down; see
gunicorn_conf.py for "worker_exit").
"""

import json
import os
from urllib.parse import parse_qs

from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from confidence import ConfidenceProvider

FLAG = "new-checkout.enabled"

provider = ConfidenceProvider(client_secret=os.environ["FLAG_APP_SECRET"])
if hasattr(api, "set_provider_and_wait"):
    api.set_provider_and_wait(provider)
else:  # openfeature-sdk 0.8.0
    api.set_provider(provider)
    provider.initialize(None)
client = api.get_client()
IMPORTED_IN = os.getpid()
# Evaluated (and its exposure sent) by the process that imports this module,
# before any fork.
client.get_boolean_value(FLAG, False, EvaluationContext(os.environ["FLAG_APP_IMPORT_KEY"], {"country": "SE"}))
if not provider.flush(10):
    raise RuntimeError("the preload exposure was not delivered")


def evaluate(query):
    key = parse_qs(query)["key"][0]
    d = client.get_boolean_details(FLAG, False, EvaluationContext(key, {"country": "SE"}))
    return json.dumps({
        "pid": os.getpid(),
        "imported_in": IMPORTED_IN,
        "key": key,
        "value": d.value,
        "variant": d.variant,
        "error": d.error_code and str(d.error_code),
    }).encode()


def wsgi(environ, start_response):
    body = evaluate(environ.get("QUERY_STRING", ""))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":  # nothing to set up: the provider is ready at import
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # The last moment a uvicorn worker runs Python code: after
                # a graceful shutdown on SIGTERM, uvicorn raises the signal
                # again and the process dies of it (no atexit, no
                # worker_exit hook). Blocking here is fine, nothing is served.
                if os.environ.get("FLAG_APP_EXIT") == "lifespan":
                    api.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = evaluate(scope["query_string"].decode())
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
