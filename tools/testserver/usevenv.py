"""Re-executes a script under the testserver venv when the current interpreter
lacks the dependencies, so `python3 tools/testserver/server.py` works from any
directory once tools/testserver/setup.sh has run.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))


def venv_python():
    venv = os.environ.get("TESTSERVER_VENV") or "build/testserver-venv"
    if not os.path.isabs(venv):
        venv = os.path.join(REPO_ROOT, venv)
    return os.path.join(venv, "bin", "python")


def ensure():
    try:
        import cryptography  # noqa: F401
        import google.protobuf  # noqa: F401
        import grpc  # noqa: F401
        import grpc_tools  # noqa: F401

        return
    except ImportError:
        pass
    py = venv_python()
    if os.path.abspath(sys.executable) == os.path.abspath(py) or not os.access(py, os.X_OK):
        sys.stderr.write(
            "testserver: grpcio/grpcio-tools/protobuf/cryptography missing; run "
            "tools/testserver/setup.sh (venv %s)\n" % py)
        sys.exit(2)
    os.execv(py, [py, os.path.abspath(sys.argv[0])] + sys.argv[1:])
