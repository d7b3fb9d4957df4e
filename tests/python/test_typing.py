"""Static types: `mypy --strict` passes on the package's source (python/confidence,
with the extension's stub _native.pyi) and on this README's Python examples,
which import the installed package (so its wheel must carry py.typed and the stub);
stubtest finds the stub true to the built extension.
Typed against the newest openfeature-sdk: 0.8.0 types object flags differently
and has no api.set_provider_and_wait, which the README uses."""

import os
import re
import subprocess
import sys
from importlib.metadata import version

import pytest

from conftest import REPO


def sdk_version():
    return tuple(int(p) for p in version("openfeature-sdk").split(".")[:2])


def mypy(tool, *args, cwd):
    cmd = [sys.executable, "-m", tool, *args]
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def mypy_strict(*paths, cwd):
    mypy("mypy", "--strict", "--cache-dir", os.devnull, "--no-color-output", *paths, cwd=cwd)


newest_sdk = pytest.mark.skipif(sdk_version() < (0, 10), reason="typed against openfeature-sdk >= 0.10")


@newest_sdk
def test_package_source_is_strictly_typed():
    mypy_strict("confidence", cwd=os.path.join(REPO, "python"))


def test_installed_package_ships_its_types():
    import confidence

    pkg = os.path.dirname(confidence.__file__)
    for name in ("py.typed", "_native.pyi"):
        assert os.path.isfile(os.path.join(pkg, name)), f"{name} is not installed with the package"


def test_stub_matches_the_extension(tmp_path):
    # From an empty folder: the installed extension, not the source tree's stub alone.
    mypy("mypy.stubtest", "--mypy-config-file", os.devnull, "confidence._native", cwd=str(tmp_path))


@newest_sdk
def test_readme_examples_are_strictly_typed(tmp_path):
    with open(os.path.join(REPO, "README.md")) as f:  # as test_readme extracts them
        code = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert code, "no Python examples in README.md"
    paths = []
    for i, block in enumerate(code):
        path = tmp_path / f"readme_example_{i}.py"
        path.write_text(block)
        paths.append(str(path))
    mypy_strict(*paths, cwd=str(tmp_path))
