"""Injected faults, one per target ("cdn", "grpc", "ingest", "rest", "events"), each with an
optional remaining count. POST /control/faults replaces the whole set.
"""

import copy
import threading

MODES = {
    "cdn": {"status", "timeout", "slow", "corrupt", "truncate", "wrong_key"},
    "grpc": {"unavailable", "internal", "slow", "unauthenticated", "invalid_argument"},
    "ingest": {"status"},
    "rest": {"status"},
    # EventsService/PublishEvents; "reject" answers OK with every event refused
    "events": {"unavailable", "internal", "slow", "unauthenticated", "reject"},
}
GRPC_METHODS = {"ClientWriteFlagLogs", "WriteMaterializedOperations", "ReadMaterializedOperations"}


def _validate(target, spec):
    if target not in MODES:
        raise ValueError("unknown fault target %r (one of %s)" % (target, sorted(MODES)))
    if not isinstance(spec, dict):
        raise ValueError("fault for %r must be an object" % target)
    mode = spec.get("mode")
    if mode not in MODES[target]:
        raise ValueError("fault %r: mode must be one of %s" % (target, sorted(MODES[target])))
    # echo: the error answer repeats the request's Authorization (as some
    # proxies and frameworks do), to check that clients never log it.
    known = {"mode", "count", "status", "seconds", "echo"}
    if target == "cdn":
        known.add("enc")
    if target == "grpc":
        known.add("method")
    extra = set(spec) - known
    if extra:
        raise ValueError("fault %r: unknown keys %s" % (target, sorted(extra)))
    out = {"mode": mode, "count": None, "echo": bool(spec.get("echo", False))}
    if spec.get("count") is not None:
        count = spec["count"]
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("fault %r: count must be a positive integer" % target)
        out["count"] = count
    if mode == "status":
        status = spec.get("status", 503)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("fault %r: status must be an HTTP status code" % target)
        out["status"] = status
    if "seconds" in spec or mode in ("slow", "timeout"):
        seconds = spec.get("seconds", 2.0 if mode == "slow" else None)
        if seconds is not None:
            if not isinstance(seconds, (int, float)) or seconds < 0:
                raise ValueError("fault %r: seconds must be a non-negative number" % target)
            seconds = float(seconds)
        out["seconds"] = seconds
    if "enc" in spec:
        if not isinstance(spec["enc"], bool):
            raise ValueError("fault 'cdn': enc must be true or false")
        out["enc"] = spec["enc"]
    if "method" in spec:
        if spec["method"] not in GRPC_METHODS:
            raise ValueError("fault 'grpc': method must be one of %s" % sorted(GRPC_METHODS))
        out["method"] = spec["method"]
    return out


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = {}

    def replace(self, config):
        """Validates everything first, so a bad request changes nothing."""
        if not isinstance(config, dict):
            raise ValueError("faults must be a JSON object")
        validated = {t: _validate(t, s) for t, s in config.items() if s is not None}
        with self._lock:
            self._faults = validated

    def clear(self):
        with self._lock:
            self._faults = {}

    def snapshot(self):
        with self._lock:
            return copy.deepcopy(self._faults)

    def take(self, target, enc=None, method=None):
        """The fault that applies to this request (a copy), consuming one count."""
        with self._lock:
            fault = self._faults.get(target)
            if fault is None:
                return None
            if "enc" in fault and enc is not None and fault["enc"] != enc:
                return None
            if fault["mode"] == "wrong_key" and not enc:
                return None  # only an encrypted body can have a wrong key
            if "method" in fault and fault["method"] != method:
                return None
            if fault["count"] is not None:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    del self._faults[target]
            return dict(fault)
