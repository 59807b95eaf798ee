"""The fuzz targets of fuzz/ (issue 15), run briefly: every corpus seed, then a few derandomized mutations.

The long run is `make fuzz` (FUZZ_SECONDS per target; coverage-guided with atheris when installed).
"""

from __future__ import annotations

import sys

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "fuzz"))

import run  # noqa: E402
import targets  # noqa: E402


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_fuzz_target_briefly(name):
    assert targets.corpus(name)
    run.run_hypothesis(name, seconds=4, examples=40)
