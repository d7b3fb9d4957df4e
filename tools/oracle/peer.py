"""Shared plumbing for the differential-testing oracle.

Owns three things: running inside the isolated peer venv, turning a state file
(plain, CDN envelope or encrypted) into ResolverState bytes, and driving the
official resolver's WASM build through the classes its Python package ships.
"""

import os
import sys
from pathlib import Path

ORACLE_DIR = Path(__file__).resolve().parent
REPO_ROOT = ORACLE_DIR.parent.parent
DEFAULT_PEER_VENV = "build/peer-venv"
# confidence-openfeature-provider 0.15.3 bundles resolver 0.26.1, the official
# resolver of today (0.11.1 bundles 0.22.1, the one RESOLVER_SPEC.md describes).
# Keep in step with setup_peer.sh.
DEFAULT_PEER_VERSION = "0.15.3"
PEER_PACKAGE = "confidence-openfeature-provider"


# --------------------------------------------------------------------------
# Interpreter selection
# --------------------------------------------------------------------------

def peer_version():
    """The package version the oracle insists on (env PEER_VERSION)."""
    return os.environ.get("PEER_VERSION", "").strip() or DEFAULT_PEER_VERSION


def peer_venv_path():
    venv = Path(os.environ.get("PEER_VENV", DEFAULT_PEER_VENV))
    return venv if venv.is_absolute() else REPO_ROOT / venv


def ensure_peer_interpreter():
    """Re-exec the running script under the peer venv's python if it exists.

    Must run before anything imports `confidence`: this project will ship its
    own package of that name, so the official one is only trusted from the
    venv that setup_peer.sh builds. Without that venv we stay in the current
    interpreter and require_peer_package() decides whether it will do.
    """
    venv = peer_venv_path()
    python = venv / "bin" / "python"
    if not python.exists():
        return
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    env = dict(os.environ)
    # A PYTHONPATH pointing at the project's own `confidence` would shadow the peer.
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    os.execve(str(python), [str(python), *sys.argv], env)


def require_peer_package():
    """Import the official package, or exit with a hint if it is not the one.

    The installed version must be exactly peer_version(): results differ
    between releases, so a venv left over from another PEER_VERSION must not
    answer silently.
    """
    from importlib.metadata import PackageNotFoundError, version

    hint = (f"run PEER_VERSION={peer_version()} PEER_VENV={peer_venv_path()} "
            "tools/oracle/setup_peer.sh")
    try:
        import confidence
        import confidence.wasm_resolver  # noqa: F401
        installed = version(PEER_PACKAGE)
    except (ImportError, PackageNotFoundError) as err:
        sys.exit(f"oracle: official resolver not importable ({err}); {hint}")
    wasm = Path(confidence.__file__).resolve().parent / "wasm" / "confidence_resolver.wasm"
    if not wasm.is_file():
        sys.exit(f"oracle: {confidence.__file__} is not the official package "
                 f"(no wasm/confidence_resolver.wasm); {hint}")
    if installed != peer_version():
        sys.exit(f"oracle: {sys.prefix} holds {PEER_PACKAGE}=={installed}, but PEER_VERSION "
                 f"is {peer_version()}; set PEER_VERSION/PEER_VENV to match, or {hint}")
    return wasm


# --------------------------------------------------------------------------
# State files
# --------------------------------------------------------------------------

def read_account(value):
    """--account takes the bare id; allow a path to a file holding it too."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return path.read_text().strip()
    return value.strip()


def decrypt_state(blob, key_hex):
    """AES-256-GCM, layout nonce(12) || ciphertext || tag(16), no associated data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = bytes.fromhex(key_hex.strip())
    if len(blob) < 12 + 16:
        raise ValueError("encrypted state too short")
    return AESGCM(key).decrypt(blob[:12], blob[12:], None)


def _has_unknown_fields(message):
    from google.protobuf import unknown_fields
    return len(unknown_fields.UnknownFieldSet(message)) > 0


def _parse_envelope(data):
    """Return the ClientResolverState in `data`, or None if it is not one.

    A raw ResolverState can occasionally parse as an envelope (both start with
    a length-delimited field 1), so the inner bytes must themselves be a
    non-trivial ResolverState and nothing may be left over as unknown fields.
    """
    from google.protobuf.message import DecodeError
    from confidence.proto.confidence.flags.admin.v1 import resolver_pb2

    envelope = resolver_pb2.ClientResolverState()
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        return None
    if not envelope.state or _has_unknown_fields(envelope):
        return None
    inner = resolver_pb2.ResolverState()
    try:
        inner.ParseFromString(envelope.state)
    except DecodeError:
        return None
    if not inner.flags and not inner.clients:
        return None
    return envelope


def load_state(path, key_hex=None):
    """Return (ResolverState bytes, account id carried by the envelope or None)."""
    data = Path(path).read_bytes()
    if key_hex:
        data = decrypt_state(data, key_hex)
        envelope = _parse_envelope(data)
        if envelope is None:
            raise ValueError("decrypted state is not a ClientResolverState")
        return envelope.state, envelope.account or None
    envelope = _parse_envelope(data)
    if envelope is not None:
        return envelope.state, envelope.account or None
    return data, None


def add_state_arguments(parser):
    parser.add_argument("--state", required=True, help="ResolverState, ClientResolverState "
                        "or (with --encryption-key) encrypted ClientResolverState file")
    parser.add_argument("--account", help="bare account id (or a file holding it); "
                        "defaults to the one inside a ClientResolverState")
    parser.add_argument("--encryption-key", help="AES-256 key as 64 hex chars")


def state_from_args(args):
    """Resolve --state/--account/--encryption-key into (state bytes, account)."""
    state, embedded_account = load_state(args.state, args.encryption_key)
    account = read_account(args.account) or embedded_account
    if not account:
        sys.exit("oracle: --account is required (the state carries no account id)")
    return state, account


# --------------------------------------------------------------------------
# JSON <-> google.protobuf.Struct
# --------------------------------------------------------------------------

def json_to_value(obj, out):
    """Fill google.protobuf.Value `out` from a JSON-decoded Python object.

    Empty objects and lists need SetInParent(): without it the Value would
    have no kind at all, which the resolver treats like a missing attribute.
    """
    if obj is None:
        out.null_value = 0
    elif isinstance(obj, bool):  # before int: bool is an int subclass
        out.bool_value = obj
    elif isinstance(obj, (int, float)):
        out.number_value = float(obj)  # JSON numbers are doubles in a Struct
    elif isinstance(obj, str):
        out.string_value = obj
    elif isinstance(obj, dict):
        out.struct_value.SetInParent()
        json_to_struct(obj, out.struct_value)
    elif isinstance(obj, list):
        out.list_value.SetInParent()
        for item in obj:
            json_to_value(item, out.list_value.values.add())
    else:
        raise TypeError(f"unsupported JSON value {obj!r}")


def json_to_struct(obj, out):
    if not isinstance(obj, dict):
        raise TypeError("evaluation context must be a JSON object")
    for key, item in obj.items():
        json_to_value(item, out.fields[key])


def value_to_json(value):
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_json(value.struct_value)
    return [value_to_json(item) for item in value.list_value.values]


def struct_to_json(struct):
    # Map order is arbitrary in protobuf; sort so outputs diff cleanly.
    return {key: value_to_json(struct.fields[key]) for key in sorted(struct.fields)}


# --------------------------------------------------------------------------
# Requests and responses
# --------------------------------------------------------------------------

MODES = ("static", "deferred", "without")


def case_mode(case):
    """Materialization mode of a case: explicit `mode`, else static iff it has
    a `materializations` key, else without."""
    mode = case.get("mode")
    if mode is None:
        return "static" if "materializations" in case else "without"
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
    if mode != "static" and case.get("materializations"):
        raise ValueError(f"mode {mode!r} takes no materialization records")
    return mode


def build_request(case):
    """Turn one case (decoded JSONL object) into a ResolveProcessRequest.

    static: static_materializations over exactly the case's records (none or
    an empty list means "nothing stored"); deferred: deferred_materializations
    (DISCOVERY: the resolver may suspend, asking for records); without:
    without_materializations, where any materialization access is an error
    for that flag.
    """
    from confidence.proto.confidence.wasm import wasm_api_pb2

    request = wasm_api_pb2.ResolveProcessRequest()
    mode = case_mode(case)
    if mode == "static":
        static = request.static_materializations
        inner = static.resolve_request
        for record in case.get("materializations") or []:
            static.materializations.add(
                unit=record.get("unit", ""),
                materialization=record.get("materialization", ""),
                rule=record.get("rule", ""),
                variant=record.get("variant", ""))
    elif mode == "deferred":
        inner = request.deferred_materializations
    else:
        inner = request.without_materializations
    inner.flags.extend(case.get("flags") or [])
    inner.client_secret = case.get("client_secret", "")
    inner.apply = bool(case.get("apply", False))
    if case.get("context") is not None:
        json_to_struct(case["context"], inner.evaluation_context)
    else:
        inner.evaluation_context.SetInParent()
    return request


def reason_name(reason):
    from confidence.proto.confidence.flags.resolver.v1 import types_pb2
    try:
        return types_pb2.ResolveReason.Name(reason)
    except ValueError:
        return str(reason)


def resolved_flag_to_json(flag):
    return {
        "flag": flag.flag,
        "variant": flag.variant,
        "reason": reason_name(flag.reason),
        # Presence matters: a client-default match carries an empty Struct.
        "value": struct_to_json(flag.value) if flag.HasField("value") else None,
        "should_apply": flag.should_apply,
    }


def response_to_json(response):
    if response.WhichOneof("result") != "resolved":
        reads = len(response.suspended.materializations_to_read)
        return error_json(f"resolver suspended (asked for {reads} materialization records)")
    flags = response.resolved.response.resolved_flags
    resolved = sorted((resolved_flag_to_json(f) for f in flags), key=lambda f: f["flag"])
    return {"resolved": resolved, "error": None}


def error_json(message):
    return {"resolved": [], "error": message}


# --------------------------------------------------------------------------
# The WASM peer
# --------------------------------------------------------------------------

class ResolveError(Exception):
    """The whole resolve call failed (the resolver's own error or a trap)."""


class PeerResolver:
    """The official WASM resolver with one state loaded.

    Uses the package's WasmResolver, which implements the guest's wasm-msg
    ABI (length-prefixed Request/Response envelopes, host clock import).
    LocalResolver is not used: it reloads the module on every error response
    (e.g. an unknown client secret), which would make error cases cost a
    recompile; here only a real trap rebuilds the instance.
    """

    def __init__(self, wasm_path, state, account):
        self._wasm_bytes = Path(wasm_path).read_bytes()
        self._state = state
        self._account = account
        self.state_error = None
        self._start()

    def _start(self):
        from confidence.proto.confidence.flags.resolver.v1 import types_pb2
        from confidence.wasm_resolver import WasmResolver
        from confidence.version import __version__

        self._resolver = WasmResolver(self._wasm_bytes)
        # Same knobs the Python provider sends by default; none of them changes
        # resolve results. enable_apply_dedup is left to the package's default,
        # which is the provider's default too: off in 0.11.1 (experimental
        # there), on from later releases.
        sdk = types_pb2.Sdk(id=types_pb2.SdkId.SDK_ID_PYTHON_PROVIDER, version=__version__)
        try:
            self._resolver.set_resolver_state(self._state, self._account, sdk,
                                              disable_exposure_collection=False)
            self.state_error = None
        except RuntimeError as err:
            # Keep going: every resolve then fails with "Resolver state not set",
            # which is exactly what the peer does with a rejected state.
            self.state_error = str(err)

    def resolve(self, request):
        import wasmtime

        try:
            return self._resolver.resolve_process(request)
        except RuntimeError as err:
            raise ResolveError(_strip_prefix(str(err))) from None
        except (wasmtime.Trap, wasmtime.WasmtimeError) as err:
            # A trap leaves the guest's heap in an unknown state: start afresh.
            self._start()
            raise ResolveError(f"wasm trap: {err}") from None

    def drain_logs(self):
        """Empty the guest's exposure/resolve-info queues.

        bounded_flush_logs hands out at most 4 MiB of FlagAssigned events per
        call, so keep calling until a flush carries none; bounded_flush_assign
        is called too because it owns the same queue under load.
        """
        from confidence.proto.confidence.flags.resolver.v1 import internal_api_pb2

        while True:
            batch = internal_api_pb2.WriteFlagLogsRequest()
            batch.ParseFromString(self._resolver.flush_logs())
            if not batch.flag_assigned:
                break
        self._resolver.flush_assigned()

    def resolver_version(self):
        """The version the guest reports in its telemetry; drains the logs."""
        return reported_resolver_version(self._resolver)


def reported_resolver_version(wasm_resolver):
    """Flush a WasmResolver's logs and return the resolver_version its
    TelemetryData carries ("" if none).

    Read from the raw flush bytes: older packages' TelemetryData copies lack
    field 8, so their classes would drop it into unknown fields.
    """
    versions = set()
    while True:
        data = wasm_resolver.flush_logs()
        for telemetry in wire_submessages(data, 2):  # WriteFlagLogsRequest.telemetry_data
            versions.update(wire_strings(telemetry, 8))  # TelemetryData.resolver_version
        if not wire_submessages(data, 1):  # WriteFlagLogsRequest.flag_assigned
            break
    wasm_resolver.flush_assigned()
    return ", ".join(sorted(versions))


def peer_identity(wasm_path):
    """Package version, WASM digest and the resolver version the guest reports."""
    import hashlib
    from importlib.metadata import version
    from confidence.wasm_resolver import WasmResolver

    wasm_bytes = Path(wasm_path).read_bytes()
    return {
        "package": f"{PEER_PACKAGE}=={version(PEER_PACKAGE)}",
        "wasm": str(wasm_path),
        "wasm_sha256": hashlib.sha256(wasm_bytes).hexdigest(),
        "resolver_version": reported_resolver_version(WasmResolver(wasm_bytes)),
    }


# --------------------------------------------------------------------------
# Protobuf wire format, for messages the package ships no classes for
# --------------------------------------------------------------------------

def _read_varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def wire_fields(data):
    """Yield (field number, wire type, value) for each field of an encoded
    message: varints as int, length-delimited as bytes, fixed32/64 as bytes."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            value, pos = bytes(data[pos:pos + size]), pos + size
        elif wire_type == 2:
            size, pos = _read_varint(data, pos)
            value, pos = bytes(data[pos:pos + size]), pos + size
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        if pos > end:
            raise ValueError("truncated field")
        yield number, wire_type, value


def wire_submessages(data, number):
    return [value for n, kind, value in wire_fields(data) if n == number and kind == 2]


def wire_strings(data, number):
    return [value.decode("utf-8") for value in wire_submessages(data, number)]


def wire_varint(data, number, default=0):
    values = [value for n, kind, value in wire_fields(data) if n == number and kind == 0]
    return values[-1] if values else default


def _last_string(data, number):
    values = wire_strings(data, number)
    return values[-1] if values else ""


def decode_resolve_token(token):
    """Map flag name -> assigned-flag fields of a WASM resolve token.

    The WASM guest does not encrypt tokens: they are encoded ResolveToken
    messages { 1 token_v1: ResolveTokenV1 { 2 assignments: map<string,
    AssignedFlag>, 3 resolve_id } } with AssignedFlag { 1 flag,
    2 targeting_key, 3 segment, 4 variant, 5 rule, 6 reason, 8 assignment_id,
    10 targeting_key_selector }. Raises ValueError if it does not parse.
    """
    assignments = {}
    for token_v1 in wire_submessages(token, 1):
        for entry in wire_submessages(token_v1, 2):
            key = _last_string(entry, 1)
            values = wire_submessages(entry, 2)
            flag = values[-1] if values else b""
            assignments[key] = {
                "flag": _last_string(flag, 1),
                "targeting_key": _last_string(flag, 2),
                "segment": _last_string(flag, 3),
                "variant": _last_string(flag, 4),
                "rule": _last_string(flag, 5),
                "reason": wire_varint(flag, 6),
                "assignment_id": _last_string(flag, 8),
                "targeting_key_selector": _last_string(flag, 10),
            }
    return assignments


def _strip_prefix(message):
    prefix = "WASM error: "
    return message[len(prefix):] if message.startswith(prefix) else message
