"""The installed package carries the one version of include/confidence/version.h:
its distribution metadata (what pip shows), confidence.__version__ and the
extension's confidence_version() agree with the header it was built from."""

import os
import re
from importlib.metadata import version

import confidence
from confidence import _native

from conftest import REPO


def header_version():
    with open(os.path.join(REPO, "include", "confidence", "version.h")) as f:
        text = f.read()
    parts = [re.search(r"^#define CONFIDENCE_VERSION_%s (\d+)$" % p, text, re.M) for p in ("MAJOR", "MINOR", "PATCH")]
    assert all(parts), "version.h lacks a CONFIDENCE_VERSION_MAJOR/MINOR/PATCH line"
    return ".".join(m.group(1) for m in parts)


def test_one_version_everywhere():
    want = header_version()
    assert version("libconfidence") == want
    assert confidence.__version__ == want
    assert _native.version() == want
