"""Batch output JSON: the fast encoder writes exactly the bytes of the standard one (format decision).

`hgl.runtime.batch.dumps_record` encodes result records with orjson where it gives the same
bytes as `json` (compact separators, non-ASCII as is), and with `json` for what orjson would
write differently (floats in exponent form) or refuses (integers past 64 bits, lone surrogates).
"""

from __future__ import annotations

import json
import sys

import pytest

from hgl.runtime.batch import _dumps, dumps_record
from hgl.runtime.records import LEVELS, record

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "guidelines"))
from her2_mbc_cohort import records as cohort_records  # noqa: E402

EDGE = [
    ("non-ASCII text", {"status": "needs_data", "because": ["≥ 2 lines – “quoted”", "naïve 🧬"]}),
    ("escapes", {"because": ["tab\there", "quote \" and backslash \\", "newline\n", "\x00\x1f", "\x7f", "\u2028\u2029"]}),
    ("whole numbers", {"options": [{"id": "a", "stands_for": 3}], "n": -12, "big": 2**63 - 1}),
    ("integer past 64 bits", {"options": [], "big": 2**70}),
    ("float stands_for, exponent form", {"options": [{"id": "a", "stands_for": 1e-05}]}),
    ("float stands_for, plain form", {"options": [{"id": "a", "stands_for": 0.1}]}),
    ("lone surrogate", {"because": ["\ud800"]}),
    ("nested empties and nulls", {"options": [], "flags": [], "missing": [], "governing": None, "x": {}}),
    ("booleans", {"flags": [{"id": "f", "request": True}, {"id": "g", "request": False}]}),
]


@pytest.mark.parametrize("name, rec", EDGE, ids=[e[0] for e in EDGE])
def test_fast_encoder_writes_the_standard_bytes(name, rec):
    assert dumps_record(rec) == _dumps(rec)


@pytest.mark.parametrize("explain", LEVELS)
def test_fast_encoder_on_cohort_records(her2, explain):
    for case in cohort_records(300, seed=23, extra=False):
        rec = record(her2.evaluate(case), explain)
        line = dumps_record(rec)
        assert line == _dumps(rec)
        assert json.loads(line) == rec
