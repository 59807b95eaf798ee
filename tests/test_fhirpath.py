"""runtime/fhirpath.py: the fast FHIRPath subset gives exactly what fhirpathpy gives.

Every expression of the shipped bindings (values, filters, dates) and a table of the subset's
shapes, over the resources of the test patients and over malformed ones (missing elements,
lists where one value is expected, two choice types, wrong types, nulls).
"""

from __future__ import annotations

import copy
import itertools

import pytest

from hgl.runtime import fhirin
from hgl.runtime.fhirpath import Unsupported, _Parser, compile_path

from .conftest import GUIDELINE
from .test_fhirin import SCENARIOS

SHAPES = [
    "status", "birthDate", "Patient.birthDate", "code.coding.code", "value.ofType(integer)",
    "value.ofType(Quantity)", "value.ofType(Quantity).value", "value.ofType(CodeableConcept).text",
    "effective.ofType(Period).start | issued", "status = 'final'", "status = 'final' or status = 'amended'",
    "status = 'final' and issued = 'x'", "verificationStatus.coding.code.exists().not()",
    "code.coding.where(system = 'http://loinc.org').code", "code.coding.code = '85337-4'",
    "value",  # a choice element without ofType: the subset hands it to fhirpathpy, per resource
]
NOT_IN_SUBSET = ["status != 'final'", "value.ofType(integer) > 2", "code.coding.first().code",
                 "%resource.id", "(status)", "status = 'it\\'s'"]


def _expressions() -> list[str]:
    b = fhirin.load(GUIDELINE).fhir_bindings
    found = {expr for _, expr in b.dates}
    for x in (*b.facts, *b.inputs):
        found.update(e for e in (x.where, x.value) if e)
    return sorted(found) + SHAPES


def _malformed(r: dict) -> list[dict]:
    out = []
    for key in list(r):
        if key in ("resourceType",):
            continue
        gone = copy.deepcopy(r)
        del gone[key]
        out.append(gone)
        nulled = copy.deepcopy(r)
        nulled[key] = None
        out.append(nulled)
        listed = copy.deepcopy(r)
        listed[key] = [r[key], r[key]]
        out.append(listed)
        wrong = copy.deepcopy(r)
        wrong[key] = 7 if isinstance(r[key], str) else "seven"
        out.append(wrong)
    two = copy.deepcopy(r)
    two.update(valueString="2+", valueInteger=2, valueQuantity={"value": 1.5, "unit": "cm"},
               effectivePeriod={"start": "2024-01-01"}, onsetPeriod={"start": "2020-02"})
    out.append(two)
    codes = copy.deepcopy(r)
    codes["verificationStatus"] = {"coding": [{"code": "confirmed"}, {"code": "refuted"}]}
    codes["status"] = "amended"
    out.append(codes)
    return out


def _resources() -> list[dict]:
    seen, out = set(), []
    for bundle, _ in SCENARIOS.values():
        for entry in bundle["entry"]:
            for r in (entry["resource"], *_malformed(entry["resource"])):
                key = repr(r)
                if key not in seen:
                    seen.add(key)
                    out.append(r)
    return out


def _plain(results):
    return [str(x) if not isinstance(x, (dict, list)) else fhirin._plain(x) for x in results] \
        if results is not None else None


def _slow(expr, r):
    try:
        return _plain(compile_path(expr).slow(r) if hasattr(compile_path(expr), "slow") else compile_path(expr)(r))
    except Exception as err:  # noqa: BLE001 - both must fail alike
        return type(err).__name__


def _fast(expr, r):
    try:
        return _plain(compile_path(expr)(r))
    except Exception as err:  # noqa: BLE001
        return type(err).__name__


@pytest.mark.parametrize("expr", _expressions())
def test_fast_subset_agrees_with_fhirpathpy(expr):
    f = compile_path(expr)
    assert hasattr(f, "fast"), f"{expr!r} should be in the fast subset"
    resources = _resources()
    assert len(resources) > 100
    for r in resources:
        assert _fast(expr, r) == _slow(expr, r), (expr, r)


@pytest.mark.parametrize("expr", NOT_IN_SUBSET)
def test_other_expressions_go_to_fhirpathpy(expr):
    with pytest.raises(Unsupported):
        _Parser(expr).parse()
    assert not hasattr(compile_path(expr), "fast")


def test_the_bindings_expressions_are_all_fast():
    """The point of the subset: every FHIRPath of the shipped bindings avoids the interpreter."""
    slow = [e for e in _expressions() if not hasattr(compile_path(e), "fast")]
    assert slow == []


@pytest.mark.parametrize("a, b", list(itertools.combinations(["status = 'final'", "issued"], 2)))
def test_union_and_comparison_of_empty_collections(a, b):
    r = {"resourceType": "Observation"}
    assert _fast(f"{a} | {b}", r) == _slow(f"{a} | {b}", r)
