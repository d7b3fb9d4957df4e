"""Materialization stores: the protocol and types of Confidence's Python provider.

A store written in Python (anything with ``read(ops)`` and optionally
``write(ops)``) is called by the C core through its store interface, on the
evaluating thread, with the GIL held for the call. An exception it raises
makes that evaluation return the default value with error code GENERAL and
the exception's message. The shipped stores are markers that select the C
implementations: Confidence's remote store, an in-memory store and Redis.
"""

from dataclasses import dataclass
from typing import List, Optional, Protocol, Union


@dataclass
class VariantReadOp:
    """Which variant, if any, ``unit`` was assigned by ``rule`` of ``materialization``."""

    unit: str
    materialization: str
    rule: str


@dataclass
class VariantReadResult:
    """The answer to a VariantReadOp; ``variant`` None means no assignment."""

    unit: str
    materialization: str
    rule: str
    variant: Optional[str] = None


@dataclass
class VariantWriteOp:
    """``unit`` was assigned ``variant`` by ``rule`` of ``materialization``."""

    unit: str
    materialization: str
    rule: str
    variant: str


@dataclass
class InclusionReadOp:
    """Whether ``unit`` is in the materialized segment ``materialization``."""

    unit: str
    materialization: str


@dataclass
class InclusionReadResult:
    """The answer to an InclusionReadOp."""

    unit: str
    materialization: str
    included: bool


class MaterializationNotSupportedError(Exception):
    """Raised by a store that does not support an operation.

    The evaluation that needed it returns the default value (GENERAL).
    """

    def __init__(self, message: str = "materialization operation not supported") -> None:
        super().__init__(message)
        self.message = message


ReadOp = Union[VariantReadOp, InclusionReadOp]
ReadResult = Union[VariantReadResult, InclusionReadResult]


class MaterializationStore(Protocol):
    """Storage for sticky assignments and materialized segments.

    Implementations must be thread-safe: evaluations call them concurrently.
    """

    def read(self, ops: List[ReadOp]) -> List[ReadResult]:
        """Answers a batch of reads (results are matched to ops by their fields)."""
        ...

    def write(self, ops: List[VariantWriteOp]) -> None:
        """Persists a batch of variant assignments."""
        ...


class UnsupportedMaterializationStore:
    """No materializations (the default): such flags return the default value."""

    def read(self, ops: List[ReadOp]) -> List[ReadResult]:
        raise MaterializationNotSupportedError("materialization read not supported")

    def write(self, ops: List[VariantWriteOp]) -> None:
        raise MaterializationNotSupportedError("materialization write not supported")


class _NativeStore:
    """A store implemented in C; only usable through ConfidenceProvider."""

    def read(self, ops: List[ReadOp]) -> List[ReadResult]:
        raise MaterializationNotSupportedError(
            f"{type(self).__name__} runs inside the C core; pass it to ConfidenceProvider"
        )

    def write(self, ops: List[VariantWriteOp]) -> None:
        raise MaterializationNotSupportedError(
            f"{type(self).__name__} runs inside the C core; pass it to ConfidenceProvider"
        )

    def close(self) -> None:
        pass


class RemoteMaterializationStore(_NativeStore):
    """Confidence's remote store (over the flag-log gRPC endpoint).

    Same as ``ConfidenceProvider(use_remote_materialization_store=True)``.
    ``client_secret`` is accepted for compatibility (the provider's is used);
    a gRPC ``channel`` cannot be honoured by the C core.
    """

    def __init__(self, client_secret: Optional[str] = None, channel: object = None) -> None:
        if channel is not None:
            raise TypeError(
                "RemoteMaterializationStore(channel=...) is not supported: the C core "
                "speaks gRPC itself (set flag_log_url on ConfidenceProvider instead)"
            )
        self.client_secret = client_secret


class InMemoryMaterializationStore(_NativeStore):
    """libconfidence's in-memory store (this process only; ``max_entries`` 0: unlimited)."""

    def __init__(self, max_entries: int = 0) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries


class RedisMaterializationStore(_NativeStore):
    """libconfidence_redis: ``url`` is ``redis://[[user]:password@]host[:port][/db]``."""

    def __init__(self, url: str = "redis://127.0.0.1:6379") -> None:
        self.url = url


__all__ = [
    "VariantReadOp",
    "VariantReadResult",
    "VariantWriteOp",
    "InclusionReadOp",
    "InclusionReadResult",
    "MaterializationNotSupportedError",
    "ReadOp",
    "ReadResult",
    "MaterializationStore",
    "UnsupportedMaterializationStore",
    "RemoteMaterializationStore",
    "InMemoryMaterializationStore",
    "RedisMaterializationStore",
]
