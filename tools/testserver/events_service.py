"""gRPC confidence.events.v1.EventsService/PublishEvents (track events), on the
same port as the flag logger. A call is accepted when its `client_secret` (the
official providers send it in the body) or its authorization metadata names the
backend's secret; faults of target "events" apply; every call is recorded.
"""

import grpc

FAULT_CODES = {
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "internal": grpc.StatusCode.INTERNAL,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
}


def _servicer_class(backend):
    events = backend.pb.events

    class Servicer(backend.pb.events_grpc.EventsServiceServicer):
        def PublishEvents(self, request, context):
            auth = dict(context.invocation_metadata()).get("authorization")
            fault = backend.faults.take("events")
            code = None
            if fault is not None and fault["mode"] == "slow":
                backend.sleep(fault["seconds"])
            elif fault is not None and fault["mode"] in FAULT_CODES:
                code = FAULT_CODES[fault["mode"]]
            if code is None and request.client_secret != backend.secret and not backend.authorized(auth):
                code = grpc.StatusCode.UNAUTHENTICATED
            response = events.PublishEventsResponse()
            if code is None and fault is not None and fault["mode"] == "reject":
                for i in range(len(request.events)):
                    response.errors.add(index=i, reason=1, message="testserver: rejected")
            answered = code.name if code else ("REJECTED" if response.errors else "OK")
            backend.recorder.events(auth, request, code is None, answered)
            if code:
                context.abort(code, "testserver: " + answered)
            return response

    return Servicer


def register(backend, server):
    backend.pb.events_grpc.add_EventsServiceServicer_to_server(_servicer_class(backend)(), server)
