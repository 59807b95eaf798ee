"""Dates (issue 10): date inputs, `today` (the evaluation date, in the receipt), `years between`."""

from __future__ import annotations

import datetime

import pytest

from hgl.compiler.front.source import Source
from hgl.compiler.pipeline import check_source
from hgl.runtime import logic as L
from hgl.runtime.schema import CaseError
from .conftest import SMALL_HEADER, load_text

BETWEEN = [
    ("years", "1960-12-06", "2025-12-05", 64),  # the day before the birthday
    ("years", "1960-12-06", "2025-12-06", 65),
    ("years", "2000-02-29", "2001-02-28", 0),  # born on 29 February: a year old on 1 March
    ("years", "2000-02-29", "2001-03-01", 1),
    ("months", "2025-01-31", "2025-02-28", 0),
    ("months", "2025-01-31", "2025-03-01", 1),
    ("days", "2025-01-01", "2025-12-31", 364),
    ("days", "2025-03-01", "2025-01-01", -59),
]


@pytest.mark.parametrize("unit,a,b,want", BETWEEN, ids=[f"{u} {a}..{b}" for u, a, b, _ in BETWEEN])
def test_between(unit, a, b, want):
    assert L.between(unit, L.day(a), L.day(b)) == want


def test_between_a_missing_date_is_unknown():
    v = L.between("years", L.missing("birth_date"), L.day("2025-01-01"))
    assert type(v) is L.Unknown and v.inputs == {"birth_date"}


SOURCE = SMALL_HEADER + '''flag older "65 or older"
input birth_date: date
define age "age" = years between birth_date and today
section s "S"
  provenance t
  rule r "Older"
    when age >= 65 years and birth_date > 1900-01-01
    flag older
  end
end
'''


@pytest.fixture(scope="module")
def guideline():
    return load_text(SOURCE, "dates")


@pytest.mark.parametrize("today,flagged", [("2025-12-05", False), ("2025-12-06", True)])
def test_today_is_a_parameter_recorded_in_the_receipt(guideline, today, flagged):
    r = guideline.evaluate({"birth_date": "1960-12-06"}, {"today": today})
    assert (r.flag_ids == ["older"]) is flagged
    assert r.to_dict()["receipt"]["evaluation_date"] == today


def test_without_a_date_given_today_is_the_clock(guideline):
    r = guideline.evaluate({"birth_date": "1900-01-02"})
    assert r.to_dict()["receipt"]["evaluation_date"] == datetime.date.today().isoformat()


@pytest.mark.parametrize("bad", ["06/12/1960", "1960-13-01", 19601206, True])
def test_a_bad_date_is_a_case_error_naming_the_field(guideline, bad):
    with pytest.raises(CaseError) as err:
        guideline.evaluate({"birth_date": bad}, {"today": "2025-01-01"})
    assert "birth_date" in str(err.value)


@pytest.mark.parametrize("when,code", [
    ("years between birth_date and 3 > 1 years", "HGL301"),
    ("birth_date > 1900-02-30", "HGL307"),
    ("birth_date > 3", "HGL301"),
])
def test_date_checks(when, code):
    text = SOURCE.replace("age >= 65 years and birth_date > 1900-01-01", when)
    codes = [d.code for d in check_source(Source("g.hgl", text)).diagnostics if d.severity == "error"]
    assert code in codes
