"""Control API (JSON, same HTTP port): lets tests swap the state, inject faults,
read what the backend received, and reset between cases.

GET  /control/health            {"ok": true, ...}
GET  /control/received          every recorded request, in arrival order
GET  /control/summary           aggregated exposures from accepted flag logs
GET  /control/events            PublishEvents calls and the events of accepted ones
GET  /control/state             the served state's ETags and source
POST /control/state             body = state bytes (raw or envelope); ?account=&log_destinations=
GET  /control/faults            faults still in force (with remaining counts)
POST /control/faults            replaces all faults; {} clears
POST /control/reset             clears recordings, faults and the materialization store
                                (body {"keep_materializations": true} keeps the store)
GET  /control/materializations  the store's contents
POST /control/materializations  merges {"variants": [...], "inclusions": [...]} into it
POST /control/shutdown          stops the server (as SIGTERM does)
"""

import json
import urllib.parse

from state import parse_log_destinations


class BadRequest(Exception):
    pass


def _json_body(body):
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise BadRequest("body is not JSON: %s" % e)
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object")
    return doc


def _get(backend, route, query):
    if route == "health":
        return {"ok": True, "state": backend.state.describe()}
    if route == "received":
        return backend.recorder.received()
    if route == "summary":
        return backend.recorder.summary()
    if route == "events":
        return backend.recorder.events_summary()
    if route == "state":
        return backend.state.describe()
    if route == "faults":
        return backend.faults.snapshot()
    if route == "materializations":
        return backend.store.dump()
    return None


def _post(backend, route, query, body):
    if route == "state":
        account = query.get("account", [None])[-1]
        dests = query.get("log_destinations", [None])[-1]
        try:
            dests = None if dests is None else parse_log_destinations(dests)
            served = backend.set_state(body, account=account, log_destinations=dests)
        except ValueError as e:
            raise BadRequest(str(e))
        return served.describe()
    if route == "faults":
        try:
            backend.faults.replace(_json_body(body))
        except ValueError as e:
            raise BadRequest(str(e))
        return backend.faults.snapshot()
    if route == "reset":
        doc = _json_body(body)
        backend.reset(keep_materializations=bool(doc.get("keep_materializations")))
        return {"ok": True}
    if route == "materializations":
        backend.store.seed(_json_body(body))
        return backend.store.dump()
    if route == "shutdown":
        backend.stop.set()
        return {"ok": True}
    return None


def handle(backend, handler, method, path, query, body=b""):
    """Answers a /control/ request; False when the path is not a control path."""
    if not path.startswith("/control/"):
        return False
    route = path[len("/control/"):]
    query = urllib.parse.parse_qs(query, keep_blank_values=True)
    try:
        if method == "GET":
            result = _get(backend, route, query)
        else:
            result = _post(backend, route, query, body)
    except BadRequest as e:
        handler.send_json(400, {"error": str(e)})
        return True
    if result is None:
        handler.send_json(404, {"error": "no such control endpoint: %s %s" % (method, path)})
    else:
        handler.send_json(200, result)
    return True
