"""ConfidenceProvider: the OpenFeature provider, adapting the C core's provider.

Everything that resolves, syncs, logs exposures, tracks or stores runs in
libconfidence (confidence._native); this module maps the OpenFeature
interface onto it: arguments to options, contexts to value trees, C reasons
and error codes to OpenFeature's, C events to provider events and C log
lines to the children of ``logging.getLogger("confidence")``.
"""

import atexit
import logging
import os
import threading
import weakref
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union, overload

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode, ProviderFatalError, ProviderNotReadyError
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata, ProviderStatus

from confidence import _native
from confidence.materialization import (
    InclusionReadOp,
    InMemoryMaterializationStore,
    RedisMaterializationStore,
    RemoteMaterializationStore,
    UnsupportedMaterializationStore,
    VariantReadOp,
    VariantWriteOp,
)

try:  # openfeature-sdk >= 0.8.1 has the Tracking API
    from openfeature.track import TrackingEventDetails
except ImportError:  # pragma: no cover - depends on the SDK version
    TrackingEventDetails = Any  # type: ignore

logger = logging.getLogger(__name__)  # confidence.provider, as in 0.15.3

_native.set_store_types(VariantReadOp, InclusionReadOp, VariantWriteOp)

DEFAULT_STATE_POLL_INTERVAL = 30.0
DEFAULT_LOG_POLL_INTERVAL = 10.0
DEFAULT_ASSIGN_POLL_INTERVAL = 0.1

_BOOL, _INT, _FLOAT, _STRING, _OBJECT = range(5)
# An object flag's value (and default): a structure or a list.
_Object = Union[Sequence[Any], Mapping[str, Any]]

# C enum order (confidence/provider.h) -> OpenFeature.
# Older SDKs lack some members (0.8.0 has no Reason.STALE): the reason is then
# the plain string, which FlagResolutionDetails accepts.
_REASONS = [
    getattr(Reason, name, name)
    for name in ("UNKNOWN", "TARGETING_MATCH", "DEFAULT", "DISABLED", "STALE", "ERROR", "STATIC", "SPLIT", "CACHED")
]
_ERROR_CODES = [None] + [
    getattr(ErrorCode, name, ErrorCode.GENERAL)
    for name in ("PROVIDER_NOT_READY", "FLAG_NOT_FOUND", "PARSE_ERROR", "TYPE_MISMATCH", "TARGETING_KEY_MISSING",
                 "INVALID_CONTEXT", "PROVIDER_FATAL", "GENERAL")
]
_RESOLVERS = {
    _BOOL: "resolve_boolean_details",
    _INT: "resolve_integer_details",
    _FLOAT: "resolve_float_details",
    _STRING: "resolve_string_details",
    _OBJECT: "resolve_object_details",
}


def _plain_dataclass(cls: type) -> bool:
    """Whether an instance can be filled in field by field without calling the
    class: a dataclass with exactly these fields and nothing run at creation."""
    import dataclasses

    try:
        names = [f.name for f in dataclasses.fields(cls)]
    except TypeError:
        return False
    return (
        names == ["value", "error_code", "error_message", "reason", "variant", "flag_metadata"]
        and not hasattr(cls, "__post_init__")
        and getattr(cls, "__setattr__") is object.__setattr__
        and getattr(cls, "__new__") is object.__new__
        and "__slots__" not in vars(cls)
    )


_native.set_sdk_types(FlagResolutionDetails, tuple(_REASONS), tuple(_ERROR_CODES), _plain_dataclass(FlagResolutionDetails))

_STATUSES = [
    ProviderStatus.NOT_READY,
    ProviderStatus.READY,
    ProviderStatus.ERROR,
    ProviderStatus.STALE,
    ProviderStatus.FATAL,
]
_LOG_LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]
_EV_READY, _EV_ERROR, _EV_STALE, _EV_CHANGED = 1, 2, 3, 4
_EINVAL = -1

# The 0.15.3 injection points: the C core has its own HTTP/gRPC stack, fetcher,
# logger and resolver, so objects for them cannot be used.
_UNSUPPORTED_INJECTIONS = {
    "http_client": "the C core fetches the state with its own HTTP client (use cdn_base_url)",
    "grpc_channel": "the C core speaks gRPC itself (use flag_log_url / events_url)",
    "state_fetcher": "the C core syncs the state itself (use state_file / state_bytes to bootstrap)",
    "flag_logger": "the C core sends exposures itself (use flag_log_url / ingest_url)",
    "wasm_bytes": "there is no WASM resolver: resolution is native",
}


class SnapshotConfig:
    """Options for :meth:`ConfidenceProvider.get_prometheus_metrics`.

    ``openmetrics``: OpenMetrics 1.0 text instead of Prometheus text;
    ``instance``: the ``resolver_id`` label.
    """

    def __init__(self, openmetrics: bool = False, instance: Optional[str] = None) -> None:
        self.openmetrics = openmetrics
        self.instance = instance


# ---- callbacks from C: one dispatcher thread for every provider --------------------

# A WeakValueDictionary is safe under the GIL only: on free-threaded CPython
# providers are added on the threads that make them while the dispatcher
# reads, so every use holds _providers_lock.
_providers: "weakref.WeakValueDictionary[int, ConfidenceProvider]" = weakref.WeakValueDictionary()
_providers_lock = threading.Lock()
_dispatcher_lock = threading.Lock()
_dispatcher: Optional[threading.Thread] = None


def _provider_of(pid: int) -> "Optional[ConfidenceProvider]":
    with _providers_lock:
        return _providers.get(pid)


def _all_providers() -> "List[ConfidenceProvider]":
    with _providers_lock:
        return list(_providers.values())


# The core's log lines go to the child loggers 0.15.3 uses for the same work,
# so that a logging configuration written for it applies unchanged.
_LOG_CHANNELS = (
    (("flag log", "exposure"), logging.getLogger("confidence.flag_logger")),
    (("state",), logging.getLogger("confidence.state_fetcher")),
    (("PublishEvents", "event"), logging.getLogger("confidence.event_tracker")),
)


def _log_channel(message: str) -> logging.Logger:
    for words, channel in _LOG_CHANNELS:
        if any(w in message for w in words):
            return channel
    return logger


def _dispatch_loop() -> None:
    while True:
        item = _native.wait_callback(0.5)
        if item is None:
            continue
        pid, kind, code, status, message, flags = item
        provider = _provider_of(pid)
        try:
            if kind == _native.CB_LOG:
                level = _LOG_LEVELS[code] if 0 <= code < len(_LOG_LEVELS) else logging.ERROR
                channel = _log_channel(message)
                if channel.isEnabledFor(level):
                    channel.log(level, "%s", message)
            elif provider is not None:
                provider._on_native_event(code, status, message, flags)
        except Exception:  # a handler's bug must not stop delivery
            logger.exception("confidence: event handler failed")


def _ensure_dispatcher() -> None:
    global _dispatcher
    with _dispatcher_lock:
        if _dispatcher is None or not _dispatcher.is_alive():
            _dispatcher = threading.Thread(target=_dispatch_loop, name="confidence-callbacks", daemon=True)
            _dispatcher.start()


def _after_fork_in_child() -> None:
    # The C library restarts its own threads in the child (pthread_atfork);
    # the Python thread that delivers its callbacks is started again here.
    # Only this thread exists in the child: a lock another thread held at
    # the fork would stay held forever, so both are made anew.
    global _dispatcher, _dispatcher_lock, _providers_lock
    _dispatcher = None
    _dispatcher_lock = threading.Lock()
    _providers_lock = threading.Lock()
    if _all_providers():
        _ensure_dispatcher()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# Attributes the native side refuses (not a dict): an event that cannot be
# converted is counted invalid there like every other refused event.
_NOT_A_MAPPING = ()


@atexit.register
def _shutdown_all() -> None:
    for provider in _all_providers():
        try:
            provider._native.shutdown(2000)
        except Exception:
            pass


def _truthy(value: Any) -> bool:
    """bool(value), True when its __bool__ raises (a caller's object, never an exception here)."""
    try:
        return bool(value)
    except Exception:
        return True


@overload
def _seconds_to_ms(name: str, value: float) -> int: ...


@overload
def _seconds_to_ms(name: str, value: Optional[float]) -> Optional[int]: ...


def _seconds_to_ms(name: str, value: Optional[float]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds")
    if value <= 0:
        raise ValueError(f"{name} must be > 0")
    return max(1, int(round(value * 1000)))


class ConfidenceProvider(AbstractProvider):
    """Confidence OpenFeature provider: local resolution in libconfidence.

    The arguments of PyPI confidence-openfeature-provider 0.15.3 keep their
    meaning (``encryption_key`` is optional here and validated when given;
    ``assign_poll_interval`` is accepted and has no effect: exposures leave
    every ``log_poll_interval`` and on shutdown). Its injection points
    (``http_client``, ``grpc_channel``, ``state_fetcher``, ``flag_logger``,
    ``wasm_bytes``) raise TypeError. Additions, keyword-only:

    * ``cdn_base_url``, ``flag_log_url`` (gRPC, ``http://host:port`` is h2c),
      ``ingest_url``, ``events_url``: endpoints; when not given, the
      environment variables CONFIDENCE_CDN_URL, CONFIDENCE_FLAG_LOG_URL,
      CONFIDENCE_INGEST_URL and CONFIDENCE_EVENTS_URL, else Confidence's own.
    * ``state_file`` / ``state_bytes`` (+ ``account_id`` for a bare
      ResolverState) bootstrap; ``disable_state_sync`` never contacts the CDN.
    * ``initialize_timeout`` (10 s): how long ``initialize`` waits for READY
      (it returns either way; the state keeps being fetched in the background);
      ``shutdown_timeout`` (10 s); ``http_timeout``; ``stale_after``.
    * ``materialization_read_timeout`` / ``_write_timeout``,
      ``async_materialization_writes``.
    * ``release_gil``: release the GIL around each evaluation (default: only
      with the remote or Redis store, where an evaluation may wait on the network).
    """

    PROVIDER_NAME = "confidence-sdk-python-local"

    def __init__(
        self,
        client_secret: str,
        encryption_key: Optional[str] = None,
        state_poll_interval: float = DEFAULT_STATE_POLL_INTERVAL,
        log_poll_interval: float = DEFAULT_LOG_POLL_INTERVAL,
        assign_poll_interval: float = DEFAULT_ASSIGN_POLL_INTERVAL,
        materialization_store: Optional[Any] = None,
        use_remote_materialization_store: bool = False,
        http_client: Any = None,
        grpc_channel: Any = None,
        state_fetcher: Any = None,
        flag_logger: Any = None,
        wasm_bytes: Optional[bytes] = None,
        enable_apply_dedup: bool = True,
        disable_exposure_collection: bool = False,
        *,
        cdn_base_url: Optional[str] = None,
        flag_log_url: Optional[str] = None,
        ingest_url: Optional[str] = None,
        events_url: Optional[str] = None,
        state_file: Optional[Union[str, "os.PathLike[str]"]] = None,
        state_bytes: Optional[bytes] = None,
        account_id: Optional[str] = None,
        disable_state_sync: bool = False,
        initialize_timeout: float = 10.0,
        shutdown_timeout: float = 10.0,
        http_timeout: Optional[float] = None,
        stale_after: Optional[float] = None,
        materialization_read_timeout: Optional[float] = None,
        materialization_write_timeout: Optional[float] = None,
        async_materialization_writes: bool = False,
        release_gil: Optional[bool] = None,
    ) -> None:
        super().__init__()
        # The SDK asks for it on every evaluation: one object, not one per call.
        self._metadata = Metadata(name=self.PROVIDER_NAME)
        injected = {
            "http_client": http_client,
            "grpc_channel": grpc_channel,
            "state_fetcher": state_fetcher,
            "flag_logger": flag_logger,
            "wasm_bytes": wasm_bytes,
        }
        for name, value in injected.items():
            if value is not None:
                raise TypeError(f"ConfidenceProvider({name}=...) is not supported: {_UNSUPPORTED_INJECTIONS[name]}")
        if not isinstance(client_secret, str) or not client_secret:
            raise ValueError("client_secret is required")
        if encryption_key is not None and not isinstance(encryption_key, str):
            raise TypeError("encryption_key must be a str of 64 hex characters")
        _seconds_to_ms("assign_poll_interval", assign_poll_interval)
        self._initialize_timeout_ms = _seconds_to_ms("initialize_timeout", initialize_timeout)
        self._shutdown_timeout_ms = _seconds_to_ms("shutdown_timeout", shutdown_timeout)

        opts: Dict[str, Any] = {
            "client_secret": client_secret,
            "encryption_key_hex": encryption_key or None,
            "state_poll_interval_ms": _seconds_to_ms("state_poll_interval", state_poll_interval),
            "log_poll_interval_ms": _seconds_to_ms("log_poll_interval", log_poll_interval),
            "disable_apply_dedup": not enable_apply_dedup,
            "disable_exposure_collection": bool(disable_exposure_collection),
            "cdn_base_url": cdn_base_url or os.environ.get("CONFIDENCE_CDN_URL") or None,
            "flag_log_grpc_url": flag_log_url or os.environ.get("CONFIDENCE_FLAG_LOG_URL") or None,
            "ingest_url": ingest_url or os.environ.get("CONFIDENCE_INGEST_URL") or None,
            "events_grpc_url": events_url or os.environ.get("CONFIDENCE_EVENTS_URL") or None,
            "state_file": os.fspath(state_file) if state_file is not None else None,
            "state_bytes": bytes(state_bytes) if state_bytes is not None else None,
            "account_id": account_id,
            "disable_state_sync": bool(disable_state_sync),
            "http_timeout_ms": _seconds_to_ms("http_timeout", http_timeout),
            "stale_after_ms": _seconds_to_ms("stale_after", stale_after),
            "materialization_read_timeout_ms": _seconds_to_ms(
                "materialization_read_timeout", materialization_read_timeout
            ),
            "materialization_write_timeout_ms": _seconds_to_ms(
                "materialization_write_timeout", materialization_write_timeout
            ),
            "async_materialization_writes": bool(async_materialization_writes),
        }
        # 0.15.3's precedence: an explicit store wins over the remote flag.
        store = materialization_store
        self._store = store
        self._python_store = False
        if store is None or isinstance(store, UnsupportedMaterializationStore):
            opts["use_remote_materialization_store"] = bool(use_remote_materialization_store) and store is None
        elif isinstance(store, RemoteMaterializationStore):
            opts["use_remote_materialization_store"] = True
        elif isinstance(store, InMemoryMaterializationStore):
            opts["store_kind"] = "memory"
            opts["memory_max_entries"] = store.max_entries
        elif isinstance(store, RedisMaterializationStore):
            opts["store_kind"] = "redis"
            opts["store_url"] = store.url
        else:
            if not callable(getattr(store, "read", None)):
                raise TypeError("materialization_store must have a read(ops) method")
            opts["store_kind"] = "python"
            opts["store"] = store
            self._python_store = True
        # The GIL is released around evaluation only where the C side may block
        # on the network (remote / Redis store); otherwise holding it is faster.
        opts["release_gil"] = bool(opts.get("use_remote_materialization_store")) or opts.get("store_kind") == "redis"
        if release_gil is not None:
            opts["release_gil"] = bool(release_gil)
        try:
            self._native = _native.Provider(opts)
        except _native.NativeError as e:
            code, name, message = e.args
            if code == _EINVAL:
                raise ValueError(f"invalid ConfidenceProvider configuration: {message or name}") from None
            raise RuntimeError(f"cannot create the Confidence provider: {name}: {message}") from None
        self._id = self._native.id()
        self._started = False
        self._shut_down = False
        self._lifecycle = threading.Lock()
        # The SDK emits READY itself when initialize returns: the core's first
        # READY, if it comes during initialize, is that same event.
        self._ready_lock = threading.Lock()
        self._ready_owed_to_sdk = False
        with _providers_lock:
            _providers[self._id] = self
        # The SDK calls provider.resolve_*_details: let it reach the extension
        # directly, unless a subclass overrides the method.
        for name in _RESOLVERS.values():
            if getattr(type(self), name) is getattr(ConfidenceProvider, name):
                setattr(self, name, getattr(self._native, name))
        _ensure_dispatcher()

    # ---- lifecycle ---------------------------------------------------------------------

    def get_metadata(self) -> Metadata:
        return self._metadata

    def get_provider_hooks(self) -> List[Any]:
        return []

    def get_status(self) -> ProviderStatus:
        """NOT_READY until a state is served, then READY / STALE (FATAL: no state can load)."""
        return _STATUSES[self._native.status()]

    def initialize(self, evaluation_context: Optional[EvaluationContext] = None) -> None:
        """Starts syncing and waits up to ``initialize_timeout`` for READY.

        Raises ProviderNotReadyError when no state arrived in time, so the
        SDK reports ERROR rather than READY (``set_provider_and_wait``
        raises it); the provider keeps retrying and emits READY when the
        state loads, which moves the SDK to READY. Raises ProviderFatalError
        when no state can ever load (a rejected bootstrap with
        ``disable_state_sync``; no CA certificates for an https CDN: the
        message says to set ``SSL_CERT_FILE``, see the README's TLS section).
        """
        with self._lifecycle:
            if self._started:
                return
            self._started = True
            with self._ready_lock:
                self._ready_owed_to_sdk = True
            rc, message = self._native.start(self._initialize_timeout_ms)
        # Decided under the lock the READY handler takes: either the state is
        # here (initialize returns, the SDK emits READY, the core's READY is
        # dropped), or a READY handled from now on is news to the SDK.
        with self._ready_lock:
            status = self._native.status()
            if status != 1:
                self._ready_owed_to_sdk = False
        if status == 4:  # FATAL
            raise ProviderFatalError(f"Confidence state cannot load: {message}")
        if status != 1:
            raise ProviderNotReadyError(
                f"no Confidence flag state within {self._initialize_timeout_ms} ms"
                f" ({message or rc}); retrying in the background, READY follows when it loads"
            )

    def shutdown(self) -> None:
        """Stops the background threads and sends every queued exposure and event."""
        with self._lifecycle:
            if self._shut_down:
                return
            self._shut_down = True
        rc = self._native.shutdown(self._shutdown_timeout_ms)
        if rc != 0:
            logger.warning("ConfidenceProvider shutdown: not everything was delivered (code %d)", rc)
        close = getattr(self._store, "close", None)
        if callable(close):
            try:
                close()
            except Exception as e:
                logger.error("Failed to close materialization store: %s", e)

    def flush(self, timeout: float = 10.0) -> bool:
        """Sends every exposure queued so far; True when nothing is left to send."""
        return self._native.flush(int(timeout * 1000)) == 0

    def _on_native_event(self, event: int, status: int, message: str, flags: Tuple[str, ...]) -> None:
        if event == _EV_READY:
            with self._ready_lock:
                owed, self._ready_owed_to_sdk = self._ready_owed_to_sdk, False
            if not owed:
                self.emit_provider_ready(ProviderEventDetails(message=message))
        elif event == _EV_STALE:
            self.emit_provider_stale(ProviderEventDetails(message=message))
        elif event == _EV_ERROR:
            code = ErrorCode.PROVIDER_FATAL if status == 4 else ErrorCode.GENERAL
            self.emit_provider_error(ProviderEventDetails(message=message, error_code=code))
        elif event == _EV_CHANGED:
            keys = [f[6:] if f.startswith("flags/") else f for f in flags]
            self.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=keys, message=message))

    # ---- evaluation --------------------------------------------------------------------

    # The typed resolutions run in the extension (python/_native/resolve_details.c):
    # the targeting key's type, the attributes as a dict, the context's
    # conversion, the evaluation and the FlagResolutionDetails, with no Python
    # frame. __init__ installs them on the instance; these methods are what a
    # subclass overrides and what type checkers see.

    def _resolve(
        self, kind: int, flag_key: str, default_value: Any, evaluation_context: Optional[EvaluationContext]
    ) -> FlagResolutionDetails[Any]:
        resolver: Callable[..., FlagResolutionDetails[Any]] = getattr(self._native, _RESOLVERS[kind])
        return resolver(flag_key, default_value, evaluation_context)

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[bool]:
        return self._native.resolve_boolean_details(flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[str]:
        return self._native.resolve_string_details(flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[int]:
        return self._native.resolve_integer_details(flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[float]:
        return self._native.resolve_float_details(flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: _Object,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[_Object]:
        return self._native.resolve_object_details(flag_key, default_value, evaluation_context)

    async def _resolve_async(
        self, kind: int, flag_key: str, default_value: Any, evaluation_context: Optional[EvaluationContext]
    ) -> FlagResolutionDetails[Any]:
        # Evaluation never blocks unless a Python store does I/O: only then
        # is it worth a worker thread.
        if self._python_store:
            import asyncio  # loaded already in async code; not at import (memory)

            return await asyncio.get_running_loop().run_in_executor(
                None, self._resolve, kind, flag_key, default_value, evaluation_context
            )
        return self._resolve(kind, flag_key, default_value, evaluation_context)

    async def resolve_boolean_details_async(
        self, flag_key: str, default_value: bool, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[bool]:
        return await self._resolve_async(_BOOL, flag_key, default_value, evaluation_context)

    async def resolve_string_details_async(
        self, flag_key: str, default_value: str, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[str]:
        return await self._resolve_async(_STRING, flag_key, default_value, evaluation_context)

    async def resolve_integer_details_async(
        self, flag_key: str, default_value: int, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[int]:
        return await self._resolve_async(_INT, flag_key, default_value, evaluation_context)

    async def resolve_float_details_async(
        self, flag_key: str, default_value: float, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[float]:
        return await self._resolve_async(_FLOAT, flag_key, default_value, evaluation_context)

    async def resolve_object_details_async(
        self, flag_key: str, default_value: _Object, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[_Object]:
        return await self._resolve_async(_OBJECT, flag_key, default_value, evaluation_context)

    def resolve_all(self, evaluation_context: Optional[EvaluationContext] = None, apply: bool = False) -> Dict[str, Any]:
        """Every flag of the client for one context, in the resolve API's shape
        (``{"resolvedFlags": [...]}``); ``apply`` sends one exposure per flag."""
        tk = evaluation_context.targeting_key if evaluation_context else None
        attrs = dict(evaluation_context.attributes) if evaluation_context and evaluation_context.attributes else None
        try:
            import json

            flags: Dict[str, Any] = json.loads(self._native.evaluate_all(tk, attrs, apply))
            return flags
        except _native.NativeError as e:
            raise RuntimeError(f"resolve_all failed: {e.args[1]}: {e.args[2]}") from None

    # ---- tracking, metrics -----------------------------------------------------------------

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: Optional[EvaluationContext] = None,
        tracking_event_details: Optional["TrackingEventDetails"] = None,
    ) -> None:
        """OpenFeature tracking: one Confidence event (never blocks, never raises).

        An event that cannot be converted is counted in ``get_stats()["events_invalid"]``
        instead, without a log record: this runs on the request path."""
        tk: object
        attrs: object
        value: object
        data: object
        try:
            tk = evaluation_context.targeting_key if evaluation_context else None
            attrs = evaluation_context.attributes if evaluation_context else None
            if attrs is not None and type(attrs) is not dict:
                attrs = dict(attrs)
            value = getattr(tracking_event_details, "value", None) if tracking_event_details else None
            data = getattr(tracking_event_details, "attributes", None) if tracking_event_details else None
            if data is not None and type(data) is not dict:
                data = dict(data)
        except Exception:  # the caller's objects: refused by the native side, and counted
            tk, attrs, value, data = None, _NOT_A_MAPPING, None, None
        self._native.track(tracking_event_name, tk, attrs, value, data or None)

    def get_prometheus_metrics(self, request: Optional[SnapshotConfig] = None) -> str:
        """Prometheus text (OpenMetrics with ``SnapshotConfig(openmetrics=True)``)."""
        openmetrics = bool(getattr(request, "openmetrics", False))
        instance = getattr(request, "instance", None)
        return self._native.metrics(openmetrics, instance)

    def get_stats(self) -> Dict[str, int]:
        """The C provider's counters (evaluations, exposures, events, store)."""
        return self._native.stats()
