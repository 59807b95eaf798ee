"""Case files (issue 10): stray keys are errors, and every expectation key is checked, as a table."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hgl.runtime.api import load
from hgl.runtime.casefile import CASE_KEYS, EXPECT_KEYS, run_case_file

ROOT = Path(__file__).resolve().parents[1]
BASE = {"stage": "advanced", "age_years": 60, "score": 7, "months_since_diagnosis": 3, "prior_lines": 0,
        "prior_drugs": [], "frail": False, "resectable": False}


@pytest.fixture(scope="module")
def chooser():
    return load(ROOT / "bench" / "chooser.hgl")


def _run(chooser, tmp_path, entry):
    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "cases": [{"id": "c1", "title": "t", **entry}]}), encoding="utf-8")
    return run_case_file(chooser, path)[0]


TABLE = [
    # (name, entry, passes, words in the failure)
    ("status and preferred", {"case": {}, "expect": {"status": "recommendation", "preferred": ["opt_a"]}}, True, None),
    ("roles, exact", {"case": {}, "expect": {"roles": {"opt_a": "preferred"}}}, True, None),
    ("roles, wrong role", {"case": {}, "expect": {"roles": {"opt_a": "alternative"}}}, False,
     "roles: expected opt_a alternative, got preferred"),
    ("absent option", {"case": {}, "expect": {"absent": ["opt_b"]}}, True, None),
    ("absent, but present", {"case": {}, "expect": {"absent": ["opt_a"]}}, False, "absent: expected opt_a absent"),
    ("not_flags holds", {"case": {}, "expect": {"not_flags": ["anything"]}}, True, None),
    ("flags_exactly, none", {"case": {}, "expect": {"flags_exactly": []}}, True, None),
    ("missing_exactly", {"case": {"frail": None}, "expect": {"status": "needs_data", "missing_exactly": ["frail"]}},
     True, None),
    ("missing_exactly, more expected", {"case": {"frail": None}, "expect": {"missing_exactly": ["frail", "score"]}},
     False, "missing_exactly"),
    # a field written beside `case:` would silently run the base case: it is an error naming the key
    ("field beside case", {"case": {}, "frail": None, "expect": {"status": "needs_data"}}, False,
     "unknown key(s) in the case entry: frail (a case's fields go under 'case:')"),
    ("expectation beside expect", {"case": {}, "status": "recommendation"}, False,
     "unknown key(s) in the case entry: status (expectations go under 'expect:')"),
    ("unknown expectation key", {"case": {}, "expect": {"prefered": ["opt_a"]}}, False,
     "unknown expectation keys: prefered"),
]


@pytest.mark.parametrize("name,entry,passes,words", TABLE, ids=[t[0] for t in TABLE])
def test_case_file_table(chooser, tmp_path, name, entry, passes, words):
    outcome = _run(chooser, tmp_path, entry)
    assert outcome.passed is passes, outcome.failures
    if words:
        assert any(words in f for f in outcome.failures), outcome.failures


def test_every_key_is_documented():
    page = (ROOT / "site" / "pages" / "testing.md").read_text(encoding="utf-8")
    for key in EXPECT_KEYS + CASE_KEYS:
        assert f"`{key}`" in page, key


@pytest.mark.parametrize("value, passes", [(False, True), (True, True), ("no", False), (0, False)])
def test_gallery_key_is_a_yes_no(chooser, tmp_path, value, passes):
    outcome = _run(chooser, tmp_path, {"id": "G1", "title": "t", "case": {}, "gallery": value})
    assert outcome.passed is passes, outcome.failures
    if not passes:
        assert "gallery: true or false" in outcome.failures[0]
