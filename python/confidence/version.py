"""Version of the Python package (the C library's is confidence._native.version())."""

__version__ = "0.1.0"
