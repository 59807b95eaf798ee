"""Case validation (every error kind names its field), quantities with units, and the JSON Schema export."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgl.runtime import CaseError, load
from hgl.runtime.casefile import load_case_file, merged_case
from hgl.runtime.logic import Unknown
from hgl.runtime.schema import Validator, validate_case

from .conftest import ROOT, VIGNETTES


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
    case = {**base, field: value}

    def outcome(fn):
        try:
            env = fn(case)
        except CaseError as err:
            return ("error", err.errors)
        return ("ok", {k: (("unknown", sorted(v.inputs)) if isinstance(v, Unknown) else v) for k, v in env.items()})

    assert outcome(her2.validate) == outcome(lambda c: validate_case(her2.inputs, c))
    assert outcome(her2._validate) == outcome(lambda c: validate_case(her2.inputs, c))


# ---------------------------------------------------------------- the specialised validator, any case

CHOOSER = ROOT / "bench" / "chooser.hgl"


def _plain_env(env):
    return {k: (("unknown", sorted(v.inputs)) if isinstance(v, Unknown) else (type(v), v)) for k, v in env.items()}


def _values_near(spec):
    """Values around an input's canonical form: edge ones and wrong ones, of the input's kind first."""
    common = [None, True, 1, "x", [], {}, ["x"], [[]]]
    if spec.kind in ("int", "number"):
        edges = [float("nan"), float("inf"), -float("inf"), 10**400, -1, 2.5, 60.0, 1e308, "5 months", "5",
                 {"value": 3, "unit": "weeks"}, {"value": 3}]
        edges += [b + d for b in (spec.minimum, spec.maximum) if b is not None for d in (0, -1, 1, 0.5, -0.5, 0.0)]
    elif spec.kind == "bool":
        edges = [0, 1, "true", 1.0]
    else:
        edges = [x.upper() for x in spec.values] + [tuple(spec.values[:1]), set(spec.values[:1]),
                                                     list(spec.values) + ["?"], spec.values[0] + " "]
    words = st.sampled_from(list(spec.values) + ["?"]) if spec.values else st.just("?")
    return st.one_of(st.sampled_from(edges), st.sampled_from(edges + common), st.floats(allow_nan=True),
                     st.integers(-5, 200), words, st.lists(st.one_of(words, st.lists(words, max_size=1)), max_size=3))


def _canonical(spec):
    """Values already in canonical form: what the specialised function takes as they are."""
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind in ("int", "number"):
        lo = -1000 if spec.minimum is None else spec.minimum
        hi = 1000 if spec.maximum is None else spec.maximum
        ints = st.integers(int(lo), int(hi)).filter(lambda x: lo <= x <= hi)
        return ints if spec.kind == "int" else st.one_of(ints, st.floats(lo, hi))
    if spec.kind in ("enum", "option"):
        return st.sampled_from(spec.values)
    names = st.sampled_from(spec.values)
    return st.one_of(st.lists(names, max_size=4), st.lists(names, max_size=3).map(tuple))


def _cases(inputs):
    """A canonical case with up to three inputs changed (absent, or a near value), sometimes a field too many."""
    canonical = st.fixed_dictionaries({s.name: _canonical(s) for s in inputs})
    near = {s.name: _values_near(s) for s in inputs}
    names = [s.name for s in inputs]

    @st.composite
    def case(draw):
        out = draw(canonical)
        for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
            if draw(st.integers(0, 3)) == 0:
                del out[name]
            else:
                out[name] = draw(near[name])
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.sampled_from(["stages", "kps_", "x"]))] = draw(st.sampled_from([1, "early", None]))
        return out
    return case()


@pytest.mark.parametrize("which", ["chooser", "her2"])
def test_specialised_validator_returns_what_validate_case_returns_or_declines(her2, which):
    """For any case the specialised function gives validate_case's env (same types, same Unknown markers) or None."""
    g = her2 if which == "her2" else load(CHOOSER, use_cache=False)
    fast = Validator(g.inputs)._fast

    @settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_cases(g.inputs))
    def check(case):
        try:
            expected = ("ok", _plain_env(validate_case(g.inputs, case)))
        except CaseError as err:
            expected = ("error", err.errors)
        out = fast(case)
        if out is not None:
            env, known = out
            assert ("ok", _plain_env(env)) == expected
            assert known is not any(isinstance(v, Unknown) for v in env.values())
        try:
            got = ("ok", _plain_env(g.validate(case)))
        except CaseError as err:
            got = ("error", err.errors)
        assert got == expected

    check()


@pytest.mark.parametrize("case, declined", [
    ({"stage": "early", "age_years": 60, "score": 6, "months_since_diagnosis": 3, "prior_lines": 10**30,
      "prior_drugs": ["a"], "frail": False, "resectable": True}, True),  # beyond MAX_INT: the slow path refuses it
    ({"stage": "early", "age_years": 60, "score": 6, "months_since_diagnosis": float("inf"), "prior_lines": 0,
      "prior_drugs": ["a"], "frail": False, "resectable": True}, True),  # a one-sided bound still rejects infinity
    ({"stage": "early", "age_years": 60, "score": 6, "months_since_diagnosis": 3, "prior_lines": 0,
      "prior_drugs": ["a"], "frail": False, "resectable": 1}, True),
])
def test_specialised_validator_bounds(case, declined):
    g = load(CHOOSER, use_cache=False)
    out = Validator(g.inputs)._fast(case)
    assert (out is None) is declined
    if out is not None:
        assert out[0] == validate_case(g.inputs, case) and out[0]["prior_drugs"] == frozenset({"a"})
