"""Case validation (every error kind names its field), quantities with units, and the JSON Schema export."""

from __future__ import annotations

import json

import pytest

from hgl.runtime import CaseError
from hgl.runtime.casefile import load_case_file, merged_case
from hgl.runtime.logic import Unknown

from .conftest import VIGNETTES


@pytest.fixture(scope="module")
def base():
    b, _ = load_case_file(VIGNETTES)
    return b


@pytest.mark.parametrize("field,value,text", [
    # wrong type
    ("visceral_crisis", "yes", "expected true or false"),
    ("visceral_crisis", 1, "expected true or false"),
    ("kps", "ninety", "expected a number"),
    ("kps", True, "expected a number"),
    ("kps", [90], "expected a number"),
    ("prior_drugs_metastatic", "trastuzumab", "expected a list"),
    ("hr_status", 1, "expected one of"),
    # outside the enum, set or range
    ("hr_status", "positiv", "'positiv' is not an allowed value"),
    ("prior_drugs_metastatic", ["trastuzumab", "aspirin"], "'aspirin' is not an allowed value"),
    ("current_regimen", "tdxd", "not an allowed value"),
    ("kps", 101, "above the maximum 100"),
    ("kps", -1, "below the minimum 0"),
    ("kps", 85.5, "expected a whole number"),
    ("months_since_metastatic_diagnosis", -2, "below the minimum 0"),
    ("lvef_percent", float("nan"), "finite"),
    # quantities
    ("months_since_adjuvant_her2", "6 mm", "'mm' is not a unit of time"),
    ("months_since_adjuvant_her2", {"value": 6, "unit": "parsecs"}, "unknown unit 'parsecs'"),
    ("months_since_adjuvant_her2", {"value": "6", "unit": "weeks"}, "expected {\"value\""),
    ("months_since_adjuvant_her2", "six weeks", "expected a number"),
    ("kps", "90 months", "this input has no unit"),
    ("months_since_adjuvant_her2", "-3 weeks", "below the minimum 0"),
])
def test_invalid_value_names_the_field(her2, base, field, value, text):
    with pytest.raises(CaseError) as err:
        her2.evaluate({**base, field: value})
    errors = err.value.errors
    assert [e["field"] for e in errors] == [field]
    assert text in errors[0]["message"]


@pytest.mark.parametrize("field,hint", [
    ("visceral_crisiss", "did you mean 'visceral_crisis'?"),
    ("KPS", "did you mean 'kps'?"),
    ("bm_max_diameter", "did you mean 'bm_max_diameter_mm'?"),
    ("zzzz", None),
])
def test_unknown_field_with_did_you_mean(her2, base, field, hint):
    with pytest.raises(CaseError) as err:
        her2.evaluate({**base, field: 1})
    e = err.value.errors[0]
    assert (e["field"], e["message"], e.get("hint")) == (field, "unknown field", hint)


@pytest.mark.parametrize("value,hint", [
    ("positiv", "did you mean 'positive'?"),
    ("neg", "did you mean 'negative'?"),
])
def test_enum_did_you_mean(her2, base, value, hint):
    with pytest.raises(CaseError) as err:
        her2.evaluate({**base, "hr_status": value})
    assert err.value.errors[0]["hint"].startswith(hint)


def test_all_errors_reported_at_once(her2, base):
    with pytest.raises(CaseError) as err:
        her2.evaluate({**base, "kps": 200, "hr_status": "x", "nope": 1})
    assert {e["field"] for e in err.value.errors} == {"kps", "hr_status", "nope"}
    assert err.value.to_dict()["error"] == "invalid_case"


@pytest.mark.parametrize("case", [None, [], "case", 3])
def test_a_case_is_an_object(her2, case):
    with pytest.raises(CaseError) as err:
        her2.evaluate(case)
    assert err.value.errors[0]["field"] == "(case)"


@pytest.mark.parametrize("value,months", [
    (4, 4),
    (4.5, 4.5),
    ("26 weeks", 26 * 7 / 30.4375),
    ({"value": 26, "unit": "weeks"}, 26 * 7 / 30.4375),
    ("1 year", 12),
    ("2 years", 24),
    ("61 days", 61 / 30.4375),
    ("6 months", 6),
    ("6month", 6),
    ({"value": 6.5, "unit": "months"}, 6.5),
])
def test_quantity_converted_to_the_declared_unit(her2, value, months):
    env = her2.validate({"months_since_adjuvant_her2": value})
    assert env["months_since_adjuvant_her2"] == pytest.approx(months, abs=1e-6)


def test_percent_and_length_units(her2):
    env = her2.validate({"lvef_percent": "55 %", "bm_max_diameter_mm": "3 cm"})
    assert env["lvef_percent"] == 55 and env["bm_max_diameter_mm"] == 30


def test_missing_defaults_and_null(her2):
    env = her2.validate({"kps": None})
    assert isinstance(env["kps"], Unknown) and env["kps"].inputs == {"kps"}
    assert isinstance(env["hr_status"], Unknown)
    assert env["prior_drugs_metastatic"] == frozenset()  # a default
    assert isinstance(her2.validate({"prior_drugs_metastatic": None})["prior_drugs_metastatic"], Unknown)


def test_units_in_a_case_change_the_decision_as_converted(her2, base):
    """26 weeks is 5.98 months: early relapse (<= 6 months) under the NCCN threshold."""
    case = {**base, "presentation": "recurrent", "adjuvant_her2": ["trastuzumab"]}
    a = her2.evaluate({**case, "months_since_adjuvant_her2": "26 weeks"}).to_dict()
    b = her2.evaluate({**case, "months_since_adjuvant_her2": 26 * 7 / 30.4375}).to_dict()
    assert a["options"] == b["options"]


# ---------------------------------------------------------------- JSON Schema


@pytest.fixture(scope="module")
def schema(her2):
    return her2.schema()


def test_schema_shape(her2, schema):
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {s.name for s in her2.inputs}
    assert schema["properties"]["hr_status"]["enum"] == ["positive", "negative", None]
    assert schema["properties"]["months_since_adjuvant_her2"]["x-unit"] == "months"
    json.dumps(schema)


jsonschema = pytest.importorskip("jsonschema")


def test_every_vignette_case_validates_against_the_schema(schema):
    base, cases = load_case_file(VIGNETTES)
    validator = jsonschema.Draft202012Validator(schema)
    for c in cases:
        errors = list(validator.iter_errors(merged_case(base, c)))
        assert not errors, (c["id"], [e.message for e in errors])


@pytest.mark.parametrize("field,value,valid", [
    ("kps", 90, True),
    ("kps", 101, False),
    ("kps", "high", False),
    ("hr_status", "positiv", False),
    ("hr_status", None, True),
    ("months_since_adjuvant_her2", "26 weeks", True),
    ("months_since_adjuvant_her2", {"value": 26, "unit": "weeks"}, True),
    ("months_since_adjuvant_her2", {"value": 26}, False),
    ("prior_drugs_metastatic", ["t_dxd"], True),
    ("prior_drugs_metastatic", ["aspirin"], False),
    ("visceral_crisis", "yes", False),
    ("not_an_input", 1, False),
])
def test_schema_agrees_with_the_validator(her2, base, schema, field, value, valid):
    case = {**base, field: value}
    assert jsonschema.Draft202012Validator(schema).is_valid(case) is valid
    try:
        her2.validate(case)
        runtime_valid = True
    except CaseError:
        runtime_valid = False
    assert runtime_valid is valid


# ---------------------------------------------------------------- the specialised validator


@pytest.mark.parametrize("field,value", [
    ("kps", 90), ("kps", 90.0), ("kps", 100), ("kps", 101), ("kps", True), ("kps", "90"), ("kps", None),
    ("lvef_percent", 55.5), ("lvef_percent", float("inf")), ("lvef_percent", float("nan")), ("lvef_percent", "55 %"),
    ("hr_status", "positive"), ("hr_status", "Positive"), ("hr_status", ["positive"]), ("hr_status", None),
    ("prior_drugs_metastatic", ["t_dxd"]), ("prior_drugs_metastatic", ("t_dxd",)), ("prior_drugs_metastatic", []),
    ("prior_drugs_metastatic", [["t_dxd"]]), ("prior_drugs_metastatic", {"t_dxd"}),
    ("visceral_crisis", False), ("visceral_crisis", 0),
    ("months_since_adjuvant_her2", "26 weeks"), ("months_since_adjuvant_her2", 7),
    ("current_regimen", "t_dxd"), ("current_regimen", "none"),
])
def test_specialised_validator_agrees_with_validate_case(her2, base, field, value):
    from hgl.runtime.schema import validate_case

    case = {**base, field: value}

    def outcome(fn):
        try:
            env = fn(case)
        except CaseError as err:
            return ("error", err.errors)
        return ("ok", {k: (("unknown", sorted(v.inputs)) if isinstance(v, Unknown) else v) for k, v in env.items()})

    assert outcome(her2.validate) == outcome(lambda c: validate_case(her2.inputs, c))
    assert outcome(her2._validate) == outcome(lambda c: validate_case(her2.inputs, c))
