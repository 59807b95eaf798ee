"""Batch JSON: the fast encoder writes exactly the bytes of the standard one (format decision), and
the fast decoder reads each line to exactly the value of the standard one.

`hgl.runtime.batch.dumps_record` encodes result records with orjson where it gives the same
bytes as `json` (compact separators, non-ASCII as is), and with `json` for what orjson would
write differently (floats in exponent form) or refuses (integers past 64 bits, lone surrogates).
"""

from __future__ import annotations

import json
import sys

import pytest

from hgl.runtime.batch import _dumps, dumps_record, loads_line
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


# Lines the fast decoder (orjson) reads differently or refuses, and what json.loads makes of them
LINES = [
    ("integer past 64 bits", '{"age_years": 18446744073709551616}'),
    ("negative integer past 64 bits, 19 digits", '{"age_years": -9223372036854775809}'),
    ("integer within 64 bits, 19 digits", '{"age_years": 9999999999999999999}'),
    ("twenty digits after the point", '{"x": 0.12345678901234567890}'),
    ("NaN and infinities", '{"a": NaN, "b": Infinity, "c": -Infinity}'),
    ("overflowing exponent", '{"x": 1e400}'),
    ("underflowing exponent", '{"x": 1e-400}'),
    ("lone surrogate", '{"x": "\\ud800"}'),
    ("duplicate key: the last wins", '{"a": 1, "a": 2}'),
    ("minus zero", '[-0, -0.0, 0e0, 1E5, 1.0]'),
    ("escapes and non-ASCII", '{"x": "tab\\t \\u00e9 é 🧬 \\u2028"}'),
    ("nested", '{"a": [[[[{"b": [true, false, null]}]]]]}'),
    ("deeply nested", "[" * 600 + "]" * 600),
    ("trailing comma", '{"a": 1,}'),
    ("text after the value", '{"a": 1} x'),
    ("control character in a string", '{"a": "x\x01y"}'),
    ("single quotes", "{'a': 1}"),
    ("not an object", "[1, 2]"),
]


def _same(a, b):
    """Equal values of the same types, all the way down (1 == 1.0 == True is not enough)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert repr(a) == repr(b)


def _read(line):
    """What the standard and the fast decoder make of a line: (value or (error message, column))."""
    out = []
    for reader in (json.loads, lambda text: loads_line(text.encode("utf-8", "surrogatepass"), text)):
        try:
            out.append(("value", reader(line)))
        except json.JSONDecodeError as err:
            out.append(("error", (err.msg, err.colno)))
    return out


@pytest.mark.parametrize("name, line", LINES, ids=[x[0] for x in LINES])
def test_fast_decoder_reads_the_standard_value(name, line):
    (kind, standard), (fast_kind, fast) = _read(line + "\n")
    assert kind == fast_kind
    _same(standard, fast)


def test_fast_decoder_on_generated_numbers_and_cohort_lines():
    import random
    import struct

    rnd = random.Random(7)
    lines = [json.dumps(c) for c in cohort_records(500, seed=29, extra=False)]
    for _ in range(3000):
        bits = struct.unpack("d", struct.pack("Q", rnd.getrandbits(64)))[0]
        if bits == bits and abs(bits) != float("inf"):
            lines.append(f"[{bits!r}, {rnd.randint(-2**63, 2**64 - 1)}, {rnd.randint(0, 10**9)}.{rnd.randint(0, 10**17)}]")
    for line in lines:
        (kind, standard), (fast_kind, fast) = _read(line)
        assert kind == fast_kind == "value"
        _same(standard, fast)
