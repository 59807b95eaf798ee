"""Bad input never crashes the runtime and never yields a silent wrong answer (property tests).

Whatever JSON a caller sends as a case or as parameters, `evaluate` either returns a Result
or raises CaseError naming the offending fields; never another exception.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgl.runtime import CaseError
from hgl.runtime.casefile import load_case_file, merged_case

from .conftest import VIGNETTES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def base_case():
    base, cases = load_case_file(VIGNETTES)
    return merged_case(base, cases[0])


def _names(her2):
    return [s.name for s in her2.inputs]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_json_in_any_field_gives_a_result_or_a_named_error(her2, base_case, data):
    names = _names(her2)
    case = dict(base_case)
    for _ in range(data.draw(st.integers(1, 4))):
        key = data.draw(st.sampled_from(names) | st.text(min_size=1, max_size=10))
        case[key] = data.draw(json_values)
    try:
        result = her2.evaluate(case)
    except CaseError as err:
        assert err.errors, "a CaseError names at least one field"
        for e in err.errors:
            assert e["field"] and e["message"]
            assert e["field"] in case or e["field"] == "(case)"
        json.dumps(err.to_dict())  # serialisable for batch output
        return
    d = result.to_dict()
    assert d["status"] in ("recommendation", "needs_data", "inconsistent_data")
    json.dumps(d)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.text(max_size=30), json_values, max_size=3))
def test_any_parameters_give_a_result_or_a_named_error(her2, base_case, params):
    try:
        her2.evaluate(base_case, params)
    except CaseError as err:
        assert all(e["field"] in params for e in err.errors)


@pytest.mark.parametrize("case", [None, [], "text", 3, [{"kps": 3}]])
def test_a_case_that_is_not_an_object_is_a_named_error(her2, case):
    with pytest.raises(CaseError) as info:
        her2.evaluate(case)
    assert info.value.errors[0]["field"] == "(case)"
