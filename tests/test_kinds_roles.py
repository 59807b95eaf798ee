"""Kinds and roles declared by the guideline (issue 10), run end to end through the runtime."""

from __future__ import annotations

import pytest

from hgl.runtime.api import Guideline
from .conftest import SMALL_HEADER, load_text

HEADER = SMALL_HEADER

SITE_OF_CARE = HEADER + '''
kind site "Site of care"
kind antibiotic "Antibiotic"
role consider "Consider"
role not_recommended "Not recommended" against
option home site "Home"
option ward site "Ward"
option amoxicillin antibiotic "Amoxicillin"
option doxycycline antibiotic "Doxycycline"
flag review "Review"
input score: integer from 0 to 5
input allergy: yes/no
section severity "Severity"
  provenance t
  rule low "Low score"
    when score <= 1
    prefer home
    propose ward as consider
    prefer amoxicillin
  end
  rule high "High score"
    when score >= 3
    governs
    prefer ward
  end
end
section safety "Safety"
  provenance t
  rule allergic "Penicillin allergy"
    when allergy
    propose amoxicillin as not_recommended
    alternative doxycycline
  end
  rule read "Advice against is not a proposal"
    when amoxicillin is proposed
    flag review
  end
end
combination
  roles not_recommended over avoid over preferred over consider over alternative
  governing replaces site
  governing order severity
end
'''

NO_INPUTS = HEADER + '''
option always "Always this"
section s "S"
  provenance t
  rule r "Always"
    prefer always
  end
end
'''


def _load(text: str) -> Guideline:
    return load_text(text, "roles")


@pytest.fixture(scope="module")
def site_of_care():
    return _load(SITE_OF_CARE)


TABLE = [
    # (name, case, roles, flags)
    ("declared role", {"score": 0, "allergy": False},
     {"home": "preferred", "amoxicillin": "preferred", "ward": "consider"}, ["review"]),
    ("stand-alone advice against wins and is not 'proposed'", {"score": 0, "allergy": True},
     {"home": "preferred", "ward": "consider", "doxycycline": "alternative", "amoxicillin": "not_recommended"}, []),
    ("advice against an option nobody proposed", {"score": 2, "allergy": True},
     {"doxycycline": "alternative", "amoxicillin": "not_recommended"}, []),
    ("governing replaces only the kinds it names", {"score": 4, "allergy": True},
     {"ward": "preferred", "doxycycline": "alternative", "amoxicillin": "not_recommended"}, []),
]


@pytest.mark.parametrize("name,case,roles,flags", TABLE, ids=[t[0] for t in TABLE])
def test_declared_kinds_and_roles(site_of_care, name, case, roles, flags):
    r = site_of_care.evaluate(case)
    assert r.status == "recommendation"
    assert r.roles == roles
    assert [f["id"] for f in r.flags] == flags


def test_results_list_roles_for_an_option_first_then_against(site_of_care):
    r = site_of_care.evaluate({"score": 0, "allergy": True})
    assert [o["role"] for o in r.to_dict()["options"]] == ["preferred", "consider", "alternative", "not_recommended"]


def test_a_guideline_with_no_inputs_loads_and_runs():
    r = _load(NO_INPUTS).evaluate({})
    assert r.status == "recommendation" and r.roles == {"always": "preferred"}
