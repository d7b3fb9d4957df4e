"""gRPC front end: confidence.flags.resolver.v1.InternalFlagLoggerService on an
insecure (HTTP/2 cleartext, prior knowledge) port. Every call checks the
`authorization: ClientSecret <secret>` metadata, honours injected faults and is
recorded with what it was answered.
"""

from concurrent import futures

import grpc

import events_service

FAULT_CODES = {
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "internal": grpc.StatusCode.INTERNAL,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "invalid_argument": grpc.StatusCode.INVALID_ARGUMENT,
}


def _servicer_class(backend):
    api = backend.pb.api
    base = backend.pb.api_grpc.InternalFlagLoggerServiceServicer

    class Servicer(base):
        def _gate(self, method, context):
            """Applies fault and auth; returns (authorization, None, "OK") to go on
            or (authorization, code, message) after which the caller records and
            aborts."""
            auth = dict(context.invocation_metadata()).get("authorization")
            fault = backend.faults.take("grpc", method=method)
            if fault is not None:
                if fault["mode"] == "slow":
                    backend.sleep(fault["seconds"])
                else:
                    code = FAULT_CODES[fault["mode"]]
                    if fault.get("echo"):
                        return auth, code, "request had authorization: %s" % auth
                    return auth, code, code.name
            if not backend.authorized(auth):
                return auth, grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"
            return auth, None, "OK"

        def ClientWriteFlagLogs(self, request, context):
            auth, code, message = self._gate("ClientWriteFlagLogs", context)
            answered = code.name if code else "OK"
            backend.recorder.flag_log("grpc", auth, request, code is None, answered)
            if code:
                context.abort(code, "testserver: " + message)
            return api.WriteFlagLogsResponse()

        def WriteMaterializedOperations(self, request, context):
            auth, code, _ = self._gate("WriteMaterializedOperations", context)
            response = None
            if code is None:
                backend.store.write(request.store_variant_op)
                response = api.WriteOperationsResult()
            answered = code.name if code else "OK"
            backend.recorder.materialization(
                "WriteMaterializedOperations", auth, request, response, code is None, answered)
            if code:
                context.abort(code, "testserver: " + answered)
            return response

        def ReadMaterializedOperations(self, request, context):
            auth, code, _ = self._gate("ReadMaterializedOperations", context)
            response = None
            if code is None:
                response = api.ReadOperationsResult(results=backend.store.read(api, request.ops))
            answered = code.name if code else "OK"
            backend.recorder.materialization(
                "ReadMaterializedOperations", auth, request, response, code is None, answered)
            if code:
                context.abort(code, "testserver: " + answered)
            return response

    return Servicer


def make_server(backend, port):
    """Returns (started grpc.Server, bound port)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="grpc"),
        options=[
            ("grpc.so_reuseport", 0),  # a fixed port in use must fail, not be shared
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ],
    )
    backend.pb.api_grpc.add_InternalFlagLoggerServiceServicer_to_server(
        _servicer_class(backend)(), server)
    events_service.register(backend, server)
    bound = server.add_insecure_port("127.0.0.1:%d" % port)
    if bound == 0:
        raise OSError("cannot listen for gRPC on 127.0.0.1:%d" % port)
    server.start()
    return server, bound
