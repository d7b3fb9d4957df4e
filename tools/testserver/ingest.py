"""HTTP flag-log endpoints (spec 4.8):
POST /v1/flagLogs:ingest       IngestFlagLogsRequest{account_id, batch} (Cloudflare)
POST /v1/clientFlagLogs:write  WriteFlagLogsRequest (REST binding of the Edge RPC)
Both need `Authorization: ClientSecret <secret>` and a protobuf Content-Type.
Every attempt is recorded, whatever it was answered.
"""

from google.protobuf.message import DecodeError

PATHS = {"/v1/flagLogs:ingest": "ingest", "/v1/clientFlagLogs:write": "rest"}
CONTENT_TYPES = {"application/protobuf", "application/x-protobuf"}


def handle(backend, handler, path, body):
    transport = PATHS.get(path)
    if transport is None:
        return False
    api = backend.pb.api
    auth = handler.headers.get("Authorization")
    ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    extra = {"content_type": ctype, "size": len(body)}

    request, account_id, error = None, None, None
    try:
        if transport == "ingest":
            ingest = api.IngestFlagLogsRequest()
            ingest.ParseFromString(body)
            request, account_id = ingest.batch, ingest.account_id
        else:
            request = api.WriteFlagLogsRequest()
            request.ParseFromString(body)
    except DecodeError as e:
        request, error = None, "body is not a valid protobuf: %s" % e
    if transport == "ingest":
        extra["account_id"] = account_id

    fault = backend.faults.take(transport)
    if fault is not None:
        status, message = fault["status"], "injected fault"
        if fault.get("echo"):
            message += "; request had Authorization: %s" % auth
    elif not backend.authorized(auth):
        status, message = 401, "missing or wrong Authorization: ClientSecret <secret>"
    elif ctype not in CONTENT_TYPES:
        status, message = 415, "Content-Type must be application/protobuf or application/x-protobuf"
    elif error is not None:
        status, message = 400, error
    else:
        status, message = 200, None

    accepted = status == 200
    backend.recorder.flag_log(transport, auth, request, accepted, status, **extra)
    if accepted:
        # A protobuf-speaking client gets an empty WriteFlagLogsResponse.
        handler.send_bytes(200, b"", "application/x-protobuf")
    else:
        handler.send_plain(status, (message + "\n").encode())
    return True
