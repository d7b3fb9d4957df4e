"""Confidence OpenFeature provider for Python, resolved natively in C.

A drop-in replacement for PyPI ``confidence-openfeature-provider``: the same
import names, constructor and behaviour, with libconfidence's C core doing
the resolving, syncing, exposure logging and tracking.
"""

from confidence.version import __version__
from confidence.provider import ConfidenceProvider, SnapshotConfig
from confidence.materialization import (
    MaterializationStore,
    MaterializationNotSupportedError,
    RemoteMaterializationStore,
    UnsupportedMaterializationStore,
)

__all__ = [
    "__version__",
    "ConfidenceProvider",
    "SnapshotConfig",
    "MaterializationStore",
    "MaterializationNotSupportedError",
    "RemoteMaterializationStore",
    "UnsupportedMaterializationStore",
]
