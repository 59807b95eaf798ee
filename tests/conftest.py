"""Shared fixtures: paths, the loaded HER2 guideline, a private compile cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDELINE = ROOT / "guidelines" / "her2_mbc.hgl"
SHARED = ROOT.parent / "shared" / "clinical"
VIGNETTES = SHARED / "vignettes.yaml"
OWN_CASES = ROOT / "guidelines" / "her2_mbc.cases.yaml"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current output instead of comparing")


def pytest_configure(config):
    os.environ.setdefault("HGL_CACHE_DIR", str(ROOT / ".hgl-cache"))
    config.addinivalue_line("markers", "browser: needs headless Chromium")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(scope="session")
def her2():
    from hgl.runtime import load

    return load(GUIDELINE)
