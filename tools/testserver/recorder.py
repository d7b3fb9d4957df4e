"""Everything the backend received, in arrival order, and the exposure summary
integration tests compare their evaluations against.
"""

import threading
import time

from google.protobuf import json_format


def to_dict(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


class Recorder:
    def __init__(self):
        self._lock = threading.Lock()
        self._clear()

    def _clear(self):
        self._flag_logs = []  # (entry dict, parsed WriteFlagLogsRequest or None)
        self._cdn = []
        self._materialization = []
        self._events = []  # PublishEvents calls

    def reset(self):
        with self._lock:
            self._clear()

    def flag_log(self, transport, authorization, request, accepted, answered, **extra):
        """request: a WriteFlagLogsRequest, or None when the body did not parse."""
        entry = {
            "transport": transport,
            "authorization": authorization,
            "time": time.time(),
            "accepted": bool(accepted),
            "answered": answered,
        }
        entry.update(extra)
        with self._lock:  # "request" is rendered when read: big batches arrive fast
            self._flag_logs.append((entry, request))

    def cdn(self, path, if_none_match, status, **extra):
        entry = {"path": path, "if_none_match": if_none_match, "status": status, "time": time.time()}
        entry.update(extra)
        with self._lock:
            self._cdn.append(entry)

    def materialization(self, rpc, authorization, request, response, accepted, answered):
        entry = {
            "rpc": rpc,
            "authorization": authorization,
            "time": time.time(),
            "request": to_dict(request),
            "response": to_dict(response) if response is not None else None,
            "accepted": bool(accepted),
            "answered": answered,
        }
        with self._lock:
            self._materialization.append(entry)

    def events(self, authorization, request, accepted, answered):
        """request: a PublishEventsRequest."""
        entry = {
            "authorization": authorization,
            "time": time.time(),
            "request": to_dict(request),
            "accepted": bool(accepted),
            "answered": answered,
        }
        with self._lock:
            self._events.append(entry)

    def events_summary(self):
        """Every call, and the events of accepted ones in arrival order."""
        with self._lock:
            calls = [dict(e) for e in self._events]
        events = [ev for c in calls if c["accepted"] for ev in c["request"].get("events", [])]
        return {"calls": len(calls), "accepted_calls": sum(c["accepted"] for c in calls),
                "events": events, "requests": calls}

    def received(self):
        with self._lock:
            return {
                "flag_logs": [dict(e, request=to_dict(r) if r is not None else None)
                              for e, r in self._flag_logs],
                "cdn": [dict(e) for e in self._cdn],
                "materialization": [dict(e) for e in self._materialization],
                "events": [dict(e) for e in self._events],
            }

    def summary(self):
        """Aggregates accepted flag logs only (what a real backend would have kept)."""
        with self._lock:
            accepted = [(e, r) for e, r in self._flag_logs if e["accepted"] and r is not None]
        applied = {}
        resolve = {}
        rules = {}
        by_transport = {}
        flag_assigned = 0
        client_resolve_info = 0
        for entry, req in accepted:
            by_transport[entry["transport"]] = by_transport.get(entry["transport"], 0) + 1
            flag_assigned += len(req.flag_assigned)
            for fa in req.flag_assigned:
                for f in fa.flags:
                    variant = f.assignment_info.variant if f.HasField("assignment_info") else ""
                    key = (f.flag, variant, f.targeting_key)
                    applied[key] = applied.get(key, 0) + 1
            client_resolve_info += len(req.client_resolve_info)
            for fri in req.flag_resolve_info:
                for v in fri.variant_resolve_info:
                    key = (fri.flag, v.variant)
                    resolve[key] = resolve.get(key, 0) + v.count
                for r in fri.rule_resolve_info:
                    key = (fri.flag, r.rule)
                    rules[key] = rules.get(key, 0) + r.count
        return {
            "requests": len(accepted),
            "by_transport": by_transport,
            "flag_assigned": flag_assigned,
            "applied": [
                {"flag": k[0], "variant": k[1], "targeting_key": k[2], "count": n}
                for k, n in sorted(applied.items())
            ],
            "flag_resolve_info": [
                {"flag": k[0], "variant": k[1], "count": n} for k, n in sorted(resolve.items())
            ],
            "rule_resolve_info": [
                {"flag": k[0], "rule": k[1], "count": n} for k, n in sorted(rules.items())
            ],
            "client_resolve_info": client_resolve_info,
        }
