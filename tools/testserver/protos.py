"""Compiles the repository's .proto files with grpcio-tools and imports the result.

Generated code is never committed: it is written once per distinct set of .proto
contents (and protoc version) into a cache directory under build/, or a temp dir
when build/ is not writable, and put first on sys.path.
"""

import hashlib
import importlib
import os
import shutil
import sys
import tempfile
import threading
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
PROTO_ROOT = os.path.join(REPO_ROOT, "proto")
DEFAULT_CACHE = os.path.join(REPO_ROOT, "build", "testserver-proto")

_lock = threading.Lock()
_loaded = None


def _proto_files():
    """Our own .proto files, relative to PROTO_ROOT, sorted.

    The google/protobuf subsets in proto/ are deliberately not compiled: the
    protobuf runtime ships the well-known types, and generated code imports those.
    """
    found = []
    for dirpath, _dirs, files in os.walk(os.path.join(PROTO_ROOT, "confidence")):
        for name in files:
            if name.endswith(".proto"):
                found.append(os.path.relpath(os.path.join(dirpath, name), PROTO_ROOT))
    return sorted(found)


def _cache_key(files):
    """Changes with any .proto byte and with the grpcio-tools (protoc) version."""
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256()
    try:
        h.update(version("grpcio-tools").encode())
    except PackageNotFoundError:
        pass
    for rel in files:
        h.update(rel.encode() + b"\0")
        with open(os.path.join(PROTO_ROOT, rel), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def _compile(files, out_dir):
    from grpc_tools import protoc
    import grpc_tools

    # The official well-known types come first so imports of google/protobuf/*
    # resolve to the same descriptors the runtime already has loaded.
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = [
        "grpc_tools.protoc",
        "-I" + wkt,
        "-I" + PROTO_ROOT,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
    ] + files
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError("protoc failed (exit %d) compiling %s" % (rc, PROTO_ROOT))
    # Regular packages (not namespace ones) so a different `confidence` package
    # elsewhere on sys.path cannot shadow the generated code.
    for dirpath, _dirs, _files in os.walk(out_dir):
        if dirpath != out_dir:
            open(os.path.join(dirpath, "__init__.py"), "a").close()


def _ensure_generated(cache_root):
    files = _proto_files()
    if not files:
        raise RuntimeError("no .proto files under %s" % PROTO_ROOT)
    key = _cache_key(files)
    for root in (cache_root, os.path.join(tempfile.gettempdir(), "testserver-proto")):
        target = os.path.join(root, key)
        if os.path.isfile(os.path.join(target, ".complete")):
            return target
        try:
            os.makedirs(root, exist_ok=True)
            work = tempfile.mkdtemp(prefix=".gen-", dir=root)
        except OSError:
            continue
        try:
            _compile(files, work)
            open(os.path.join(work, ".complete"), "w").close()
            try:
                os.rename(work, target)
            except OSError:
                # Another process won the race; its copy is equivalent.
                shutil.rmtree(work, ignore_errors=True)
            return target
        except Exception:
            shutil.rmtree(work, ignore_errors=True)
            raise
    raise RuntimeError("no writable directory for generated protobuf code")


def load(cache_root=None):
    """Returns a namespace with the generated modules:

    admin     confidence.flags.admin.v1.resolver_pb2 (ClientResolverState, ResolverState)
    api       confidence.flags.resolver.v1.internal_api_pb2 (WriteFlagLogsRequest, ...)
    api_grpc  confidence.flags.resolver.v1.internal_api_pb2_grpc (stubs, servicer)
    events    confidence.events.v1.api_pb2 (PublishEventsRequest, ...)
    events_grpc confidence.events.v1.api_pb2_grpc (EventsService)
    path      the directory holding the generated code
    """
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        out = _ensure_generated(
            cache_root or os.environ.get("TESTSERVER_PROTO_CACHE") or DEFAULT_CACHE
        )
        if out not in sys.path:
            sys.path.insert(0, out)
        _loaded = types.SimpleNamespace(
            admin=importlib.import_module("confidence.flags.admin.v1.resolver_pb2"),
            api=importlib.import_module("confidence.flags.resolver.v1.internal_api_pb2"),
            api_grpc=importlib.import_module(
                "confidence.flags.resolver.v1.internal_api_pb2_grpc"
            ),
            events=importlib.import_module("confidence.events.v1.api_pb2"),
            events_grpc=importlib.import_module("confidence.events.v1.api_pb2_grpc"),
            path=out,
        )
        return _loaded


if __name__ == "__main__":
    print(load().path)
