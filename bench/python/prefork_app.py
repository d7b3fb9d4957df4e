"""The WSGI app bench/python/prefork_pss.py runs under gunicorn --preload: the
provider (PREFORK_IMPL: native or peer) is made and made READY at import, in
the master, and the workers inherit it through fork(). Each request evaluates
two flags for the targeting key in its query (?key=...), or for `rounds`
keys derived from it (?rounds=N), and answers with the worker's pid.
Environment: PREFORK_IMPL, PREFORK_HTTP, PREFORK_GRPC, PREFORK_SECRET, PREFORK_KEY."""

import json
import os
import sys
from urllib.parse import parse_qs

from openfeature import api
from openfeature.evaluation_context import EvaluationContext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_providers  # noqa: E402

env = os.environ
provider = bench_providers.make_provider(env["PREFORK_IMPL"], int(env["PREFORK_HTTP"]), int(env["PREFORK_GRPC"]),
                                         env["PREFORK_SECRET"], env["PREFORK_KEY"])
api.set_provider_and_wait(provider)
client = api.get_client()
FLAGS = ("button-style.color", "new-checkout.enabled")


def wsgi(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    key, rounds = query["key"][0], int(query.get("rounds", ["1"])[0])
    answers = []
    for r in range(rounds):
        ctx = EvaluationContext(key if rounds == 1 else f"{key}-{r}", {"country": "SE", "app": {"version": "2.3.1"}})
        answers += [client.get_string_value(FLAGS[0], "default", ctx), client.get_boolean_value(FLAGS[1], False, ctx)]
    body = json.dumps({"pid": os.getpid(), "answers": answers}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
