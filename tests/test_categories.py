"""Derived categories and comparisons between inputs of one value set (issue 10)."""

from __future__ import annotations

import pytest

from hgl.compiler.front.source import Source
from hgl.compiler.pipeline import check_source
from .conftest import SMALL_HEADER, load_text

HEADER = SMALL_HEADER + '''flag f "F"
vocabulary drug "drug"
  a "A"
  b "B"
end
input score: integer from 0 to 5
input left: one of low, high
input right: one of low, high
input other: one of yes_, no_
input given: set of drug
input planned: set of drug
'''


def _source(decls: str, when: str) -> str:
    return HEADER + decls + f'section s "S"\n  provenance t\n  rule r "R"\n    when {when}\n    flag f\n  end\nend\n'


SEVERITY = 'define severity "severity": one of mild, moderate, severe =\n' \
           '  if score <= 1 then mild else if score = 2 then moderate else severe\n'

CHECKS = [
    # (name, declarations, condition, error code or None)
    ("two inputs of the same values", "", "left = right", None),
    ("two sets of one vocabulary", "", "given = planned", None),
    ("a derived category", SEVERITY, "severity = severe", None),
    ("inputs of different values", "", "left = other", "HGL301"),
    ("a value outside the category", SEVERITY, "severity = critical", "HGL303"),
    ("a category given a number", 'define bad "bad": one of x, y = score\n', "bad = x", "HGL301"),
]


@pytest.mark.parametrize("name,decls,when,code", CHECKS, ids=[c[0] for c in CHECKS])
def test_category_checks(name, decls, when, code):
    errors = [d.code for d in check_source(Source("g.hgl", _source(decls, when))).diagnostics if d.severity == "error"]
    assert errors == ([code] if code else [])


@pytest.mark.parametrize("case,flagged", [({"score": 4}, True), ({"score": 2}, False), ({"score": None}, None)])
def test_a_category_at_run_time(case, flagged):
    g = load_text(_source(SEVERITY, "severity = severe"), "cat")
    r = g.evaluate(case)
    if flagged is None:
        assert r.status == "needs_data" and r.missing == ["score"]
    else:
        assert (r.flag_ids == ["f"]) is flagged


def test_missing_names_every_input_an_if_depends_on():
    from hgl.runtime import logic as L

    v = L.if_(L.missing("a"), L.missing("b"), True)
    assert v.inputs == {"a", "b"}
