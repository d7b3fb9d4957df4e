"""Version of the Python package: the C library's own (include/confidence/version.h,
which the package metadata is read from as well), so the two cannot differ."""

from confidence._native import version as _library_version

__version__: str = _library_version()
