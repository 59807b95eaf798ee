"""Units (issue 10): UCUM codes through pint/ucumvert at compile time, factors in the module at run time."""

from __future__ import annotations

import pytest

from hgl.compiler.check import units
from hgl.compiler.front.source import Source
from hgl.compiler.pipeline import check_source, compile_source
from hgl.runtime import units as words
from hgl.runtime.api import Guideline, load_module_source
from hgl.runtime.schema import CaseError


@pytest.mark.parametrize("word,code", sorted(units.WORD_CODES.items()))
def test_hgl_unit_words_agree_with_the_units_library(word, code):
    """The runtime's hand table of HGL's words must give pint's factors (UCUM mo = a/12, a = 365.25 d)."""
    reg = units._registry()
    for other in words.UNITS:
        if words.dimension(other) != words.dimension(word):
            continue
        want = (1 * reg.from_ucum(code)).to(reg.from_ucum(units.WORD_CODES[other]).units).magnitude
        assert words.convert(1.0, word, other) == pytest.approx(want, rel=1e-9, abs=1e-9)  # rounded to 9 places


FACTORS = [
    ("mmol/L", "umol/L", 1000.0),
    ("mm[Hg]", "kPa", 0.133322387415),
    ("kPa", "mm[Hg]", 7.500615758457),
    ("/min", "/h", 60.0),
    ("kg", "[lb_av]", 2.204622621849),
    ("[in_i]", "cm", 2.54),
    ("cm", "mm", 10.0),
    ("a", "mo", 12.0),
    ("kg/m2", "g/cm2", 0.1),
]


@pytest.mark.parametrize("a,b,factor", FACTORS, ids=[f"{a}->{b}" for a, b, _ in FACTORS])
def test_conversion_factors(a, b, factor):
    assert units.factor(units.resolve(a), units.resolve(b)) == pytest.approx(factor, rel=1e-9)


@pytest.mark.parametrize("a,b", [("mg/dL", "mmol/L"), ("mm[Hg]", "mm"), ("kg", "/min"), ("Cel", "[degF]")])
def test_no_factor_across_dimensions_or_offsets(a, b):
    with pytest.raises(units.UnitError):
        units.factor(units.resolve(a), units.resolve(b))


HEADER = 'guideline g\n  title "T"\n  version "1"\n  status draft\n  source "S"\n  disclaimer "D"\nend\n' \
         'provenance t "t"\nflag f "F"\n'


def _rule(when, decls):
    return HEADER + decls + f'section s "S"\n  provenance t\n  rule r "R"\n    when {when}\n    flag f\n  end\nend\n'


CHECKS = [
    # (name, declarations, condition, code or None, words)
    ("UCUM pressure", "input sbp: number in mm[Hg]\n", "sbp < 90 mm[Hg]", None, None),
    ("kPa compared with mm[Hg] converts", "input sbp: number in mm[Hg]\n", "sbp < 12 kPa", None, None),
    ("per minute", "input rr: integer in /min\n", "rr >= 30 /min", None, None),
    ("two inputs of one dimension convert", "input a: number in cm\ninput b: number in mm\n", "a > b", None, None),
    ("sum across units of one dimension", "input a: number in cm\ninput b: number in mm\n", "a + b > 3 cm", None,
     None),
    ("mmHg is not UCUM: did you mean within the dimension", "input sbp: number in mm[Hg]\n", "sbp < 90 mmHg",
     "HGL305", "write 'mm[Hg]'"),
    ("unknown unit in a type", "input u: number in mmoll/L\n", "u > 1 mmol/L", "HGL305", "unknown unit 'mmoll/L'"),
    ("across dimensions", "input u: number in mmol/L\n", "u > 7 mg/dL", "HGL302", "cannot compare mmol/L with mg/dL"),
    ("analyte conversion needs a unit", "input u: number\n  accepts mg/dL times 0.357\n", "u > 1", "HGL302",
     "has no unit, so it accepts no other"),
]


@pytest.mark.parametrize("name,decls,when,code,words_", CHECKS, ids=[c[0] for c in CHECKS])
def test_unit_checks(name, decls, when, code, words_):
    errors = [d for d in check_source(Source("g.hgl", _rule(when, decls))).diagnostics if d.severity == "error"]
    if code is None:
        assert not errors, [(d.code, d.message) for d in errors]
    else:
        assert any(d.code == code and words_ in d.message + (d.hint or "") for d in errors), \
            [(d.code, d.message, d.hint) for d in errors]


UREA = _rule("urea > 7 mmol/L", "input urea: number in mmol/L from 0 to 100\n  accepts mg/dL times 0.357\n")


@pytest.fixture(scope="module")
def urea():
    result = compile_source(Source("g.hgl", UREA))
    assert result.ok
    return Guideline(load_module_source(result.code, f"hgl_units_{result.source.sha256[:12]}"))


CASES = [
    ("7.5 mmol/L", True),
    ({"value": 7.5, "unit": "mmol/L"}, True),
    ({"value": 6500, "unit": "umol/L"}, False),
    ({"value": 19, "unit": "mg/dL"}, False),  # BUN 19 mg/dL = 6.78 mmol/L urea
    ({"value": 21, "unit": "mg/dL"}, True),  # 7.50 mmol/L
    (7.1, True),
]


@pytest.mark.parametrize("value,flagged", CASES, ids=[str(c[0]) for c in CASES])
def test_case_values_in_any_accepted_unit(urea, value, flagged):
    r = urea.evaluate({"urea": value})
    assert (r.flag_ids == ["f"]) is flagged


def test_a_unit_of_another_dimension_is_a_case_error_naming_the_field(urea):
    with pytest.raises(CaseError) as err:
        urea.evaluate({"urea": "7 mm[Hg]"})
    assert "urea" in str(err.value) and "mm[Hg]" in str(err.value)


def test_a_common_spelling_gets_its_ucum_code_but_never_one_of_another_dimension():
    def hint(decls, when):
        d = [x for x in check_source(Source("g.hgl", _rule(when, decls))).diagnostics if x.code == "HGL305"][0]
        return d.hint or ""

    assert "'[in_i]'" in hint("input size: number in mm\n", "size > 3 inches")
    assert "[in_i]" not in hint("input w: number in kg\n", "w > 3 inches")  # a weight is not measured in inches
