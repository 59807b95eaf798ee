"""`missing` names only inputs that can change the result in a consistent completion of the case.

An undecided condition is tried with its missing yes/no and enum inputs filled in every way;
completions that break a consistency check (SPEC.md 4.0) do not count.  So a value that the
data checks already imply is not asked for, and one that can still matter is.
"""

from __future__ import annotations

import pytest

from hgl.runtime.casefile import load_case_file, merged_case

from .conftest import VIGNETTES

CASES = [
    # (name, changes to the base case, status, missing)
    ("response unknown while progressing: only a CR could matter, and CR with progression is "
     "inconsistent", {"current_regimen": "hp_maintenance", "current_response": None,
                      "months_since_metastatic_diagnosis": 20}, "recommendation", []),
    ("response unknown with controlled disease: every response is possible, and a CR would need its "
     "duration", {"current_regimen": "hp_maintenance", "current_response": None,
                  "extracranial_status": "controlled", "months_since_metastatic_diagnosis": 20},
     "needs_data", ["current_response", "cr_duration_months"]),
    ("brain-metastasis status unknown with a count of 0: the data checks imply 'none'",
     {"bm_status": None, "bm_count": 0}, "recommendation", []),
    ("brain-metastasis status unknown with 3 lesions: active or stable changes the result",
     {"bm_status": None, "bm_count": 3, "bm_max_diameter_mm": 10}, "needs_data", ["bm_status"]),
    ("HR status unknown at first line: cannot change THP", {"hr_status": None}, "recommendation", []),
]


@pytest.fixture(scope="module")
def base():
    b, _ = load_case_file(VIGNETTES)
    return b


@pytest.mark.parametrize("name,changes,status,missing", CASES, ids=[c[0][:40] for c in CASES])
def test_missing_is_exact(her2, base, name, changes, status, missing):
    result = her2.evaluate(merged_case(base, {"case": changes}))
    assert result.status == status, result.missing
    assert result.missing == missing
