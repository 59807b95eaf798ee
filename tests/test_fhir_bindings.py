"""FHIR bindings in the language (`record fhir`, an input's `fhir … end`, vocabulary `code`/`members`):
parsing, the checks (each a diagnostic at its place), the module's FHIR table, the export's canonical base."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hgl.compiler.cli import main
from hgl.compiler.fhir import export as fhir
from hgl.compiler.pipeline import compile_source
from hgl.compiler.front.source import Source
from hgl.runtime import fhirin

from tests.conftest import SMALL_HEADER

HEAD = SMALL_HEADER + '''vocabulary drug "drug"
  a "A" code rxnorm "11" code atc "L01"
  b "B" members rxnorm "21", "22"
end
option opt_a "A" drugs a
option opt_b "B" drugs b
record fhir
  system loinc "http://loinc.org"
  system rxnorm "http://www.nlm.nih.gov/research/umls/rxnorm"
  system atc "http://www.whocc.no/atc"
  date Observation "effective.ofType(dateTime) | issued"
  fact onset
    from Condition code loinc "1-1"
    value "onset.ofType(dateTime)"
    earliest
  end
  fact er
    from Observation code loinc "2-2"
    value "value.ofType(CodeableConcept).coding.code"
    map "P" as positive, "N" as negative
  end
end
'''
# each input is used by the rule, so no HGL203 warning hides among the findings
RULE = '''section s
  provenance t
  rule r
    when {uses}
    prefer opt_a, opt_b
  end
end
'''
LINE0 = HEAD.count("\n")  # an input written right after HEAD starts on line LINE0 + 1


def compile_text(inputs: str, uses: str = "true"):
    return compile_source(Source("t.hgl", HEAD + inputs + RULE.format(uses=uses)))


def findings(result):
    """(code, line from the first input line, column, message); HEAD's facts that the inputs under test
    do not read (HGL605, tested by UNREAD below) are left out."""
    return [(d.code, d.span.line - LINE0, d.span.column, d.message) for d in result.diagnostics
            if not (d.code == "HGL605" and d.span.line <= LINE0)]


GOOD = '''input hr: one of positive, negative
  fhir derive any of (er) is positive, all are negative end
input size: number in mm at least 0
  fhir
    from Observation code loinc "3-3" code loinc "4-4"
    where "status = 'final'"
    value "value.ofType(Quantity)"
    units "cm" as cm, "mm" as mm
    after onset
    note "measured"
  end
input received: set of drug
  fhir from MedicationStatement or MedicationRequest value "medication.ofType(CodeableConcept).coding.code" derive drugs end
input months: number in months at least 0
  fhir derive months since onset end
'''


def test_bindings_compile_to_the_module_table():
    result = compile_text(GOOD, "hr = positive and size > 1 mm and received is empty and months > 1 months")
    assert result.ok and not result.diagnostics, findings(result)
    data = result.program.fhir
    assert data["systems"] == {"loinc": "http://loinc.org", "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
                               "atc": "http://www.whocc.no/atc"}
    assert data["dates"] == {"Observation": "effective.ofType(dateTime) | issued"}
    assert data["terminology"] == {"drug": {"a": {"code": {"rxnorm": ["11"], "atc": ["L01"]}},
                                            "b": {"members": {"rxnorm": ["21", "22"]}}}}
    assert data["facts"]["onset"] == {"resource": "Condition", "code": {"loinc": ["1-1"]},
                                      "value": "onset.ofType(dateTime)", "select": "earliest"}
    assert data["inputs"] == {
        "hr": {"derive": "any_of", "facts": ["er"], "positive": "positive", "negative": "negative"},
        "size": {"resource": "Observation", "code": {"loinc": ["3-3", "4-4"]}, "where": "status = 'final'",
                 "value": "value.ofType(Quantity)", "units": {"cm": "cm", "mm": "mm"}, "after": "onset",
                 "note": "measured"},
        "received": {"resource": ["MedicationStatement", "MedicationRequest"],
                  "value": "medication.ofType(CodeableConcept).coding.code", "derive": "drugs", "vocabulary": "drug"},
        "months": {"derive": "months_since", "facts": ["onset"]}}
    # the runtime reads them back from the generated module, as the same records
    assert "\nFHIR = {" in result.code
    b = fhirin.program_bindings(result.program)
    a, cls = b.concepts("drug")
    assert (a.rxnorm, a.atc, a.is_class) == (("11",), "L01", False)
    assert (cls.rxnorm, cls.atc, cls.is_class) == (("21", "22"), None, True)
    assert b.describe("size")[0] == "Observation loinc#3-3, loinc#4-4"


def test_a_guideline_without_bindings_has_no_table():
    result = compile_source(Source("t.hgl", HEAD.split("record fhir")[0].replace(' code rxnorm "11" code atc "L01"', "")
                                   .replace(' members rxnorm "21", "22"', "") + RULE.format(uses="true")))
    assert result.ok and result.program.fhir is None and "FHIR =" not in result.code


# (inputs, expected findings: (code, line from the first input line, column, words of the message))
BAD = [
    ('input x: number at least 0\n  fhir from Observation value "value.ofType(integer" end\n',
     [("HGL601", 2, 52, "does not parse")]),
    ('input x: number at least 0\n  fhir from Observation value "value.foo()" end\n',
     [("HGL601", 2, 32, "unknown function 'foo'")]),
    ('input x: number at least 0\n  fhir from Observaton value "value" end\n',
     [("HGL602", 2, 13, "'Observaton' is not a FHIR R4 resource type")]),
    ('input x: number at least 0\n  fhir from Observation code lonc "1" value "value" end\n',
     [("HGL201", 2, 30, "unknown code system 'lonc'")]),
    ('input x: number at least 0\n  fhir from Observation value "value" after onst end\n',
     [("HGL201", 2, 45, "unknown fact 'onst'")]),
    ('input x: one of yes_, no_\n  fhir from Observation value "value" map "1" as yes_, "0" as nope end\n',
     [("HGL303", 2, 63, "'nope' is not a value of 'x'")]),
    ('input x: one of positive, negative\n  fhir derive any of (er) is positve, all are negative end\n',
     [("HGL303", 2, 30, "'positve' is not a value of 'x'")]),
    ('input x: number in mm at least 0\n  fhir from Observation value "value" units "s" as s end\n',
     [("HGL302", 2, 52, "'s' cannot be read as mm")]),
    ('input x: number in mm at least 0\n  fhir from Observation value "value" units "ft" as furlong end\n',
     [("HGL305", 2, 53, "unknown unit 'furlong'")]),
    ('input x: yes/no\n  fhir from Patient value "birthDate" derive age end\n',
     [("HGL603", 2, 46, "'derive age' gives a number of years")]),
    ('input x: number in weeks at least 0\n  fhir derive months since onset end\n',
     [("HGL603", 2, 15, "'derive months since' gives a number of months, but 'x' is number in weeks")]),
    ('input x: number at least 0\n  fhir from Observation end\n',
     [("HGL603", 2, 3, "gives no value")]),
    ('input x: number at least 0\n  fhir where "true" end\n',
     [("HGL603", 2, 3, "names no resource")]),
    ('input x: number at least 0\n  fhir from Observation value "value" value "issued" end\n',
     [("HGL202", 2, 39, "two 'value' lines")]),
]


@pytest.mark.parametrize("inputs, expected", BAD, ids=[e[0][0] for _, e in BAD])
def test_bad_bindings_are_diagnostics_at_their_place(inputs, expected):
    got = findings(compile_text(inputs, "x is not missing"))
    assert [(c, ln, col) for c, ln, col, _ in got] == [(c, ln, col) for c, ln, col, _ in expected], got
    for (_, _, _, message), (_, _, _, words) in zip(got, expected):
        assert words in message


def test_a_parameter_cannot_come_from_fhir():
    got = findings(compile_text('parameter x: yes/no\n  default false\n  fhir from Patient value "active" end\n', "x"))
    assert [c for c, *_ in got] == ["HGL603"] and "parameter 'x'" in got[0][3]


# ---------------------------------------------------------------- facts no input reads (HGL605)

FACT = '  fact {name}\n    from Observation code loinc "{code}"\n    value "effective.ofType(dateTime)"{extra}\n  end\n'
ONSET, LATER = FACT.format(name="onset", code="1-1", extra=""), FACT.format(name="later", code="2-2", extra="\n    after onset")
RECORD_ER = FACT.format(name="er", code="3-3", extra="")
MONTHS = "input months: number in months at least 0\n  fhir derive months since {fact} end\n"
SIZE = 'input size: number at least 0\n  fhir from Observation code loinc "4-4" value "value" after {fact} end\n'

# (facts of the record, inputs, the facts reported as read by no input, other codes expected)
UNREAD = [
    ("two facts, each read", ONSET + RECORD_ER,
     MONTHS.format(fact="onset") + "input hr: one of positive, negative\n"
                                   "  fhir derive any of (er) is positive, all are negative end\n", [], []),
    ("one of two read", ONSET + RECORD_ER, MONTHS.format(fact="onset"), ["er"], []),
    ("no input bound", ONSET + RECORD_ER, "input plain: yes/no\n", ["onset", "er"], []),
    ("read through another fact", ONSET + LATER, SIZE.format(fact="later"), [], []),
    ("only another unread fact reads it", ONSET + LATER, "input plain: yes/no\n", ["onset", "later"], []),
    ("a fact read only by itself", FACT.format(name="loop", code="1-1", extra="\n    after loop"),
     "input plain: yes/no\n", ["loop"], []),
    ("a misspelt fact: the unknown name only, no cascade", ONSET, SIZE.format(fact="onst"), [], ["HGL201"]),
]


@pytest.mark.parametrize("facts, inputs, unread, others", [c[1:] for c in UNREAD], ids=[c[0] for c in UNREAD])
def test_a_fact_no_input_reads_is_a_warning(facts, inputs, unread, others):
    head = HEAD.split("  date ")[0] + facts + "end\n"  # HEAD's vocabulary, options and code systems
    text = head + inputs + RULE.format(uses="true")
    result = compile_source(Source("t.hgl", text))
    got = [d for d in result.diagnostics if d.code != "HGL203"]  # inputs the rule does not read: not this test's
    warned = [d for d in got if d.code == "HGL605"]
    assert [d.message.split("'")[1] for d in warned] == unread
    assert sorted(d.code for d in got if d.code != "HGL605") == others
    lines = text.splitlines()
    for d in warned:  # at the fact's name, with a hint
        name = d.message.split("'")[1]
        assert d.severity == "warning" and d.hint
        assert lines[d.span.line - 1][d.span.column - 1:d.span.end_column - 1] == name
        assert lines[d.span.line - 1].strip() == f"fact {name}"


def test_the_her2_bindings_are_the_former_sidecar_file():
    """The bindings moved into guidelines/her2_mbc.hgl: what the sidecar said, code for code, and the drug
    codes verified since (ATC for neratinib, margetuximab, capecitabine, vinorelbine, cyclophosphamide and
    the taxane class; RxNorm for cyclophosphamide, T-DXd, tucatinib and fulvestrant: their sources are in
    the guideline's comments)."""
    g = fhirin.load("guidelines/her2_mbc.hgl")
    b = g.fhir_bindings
    assert {c.value: (c.rxnorm, c.atc, c.is_class) for c in b.concepts("drug")} == {
        "trastuzumab": (("224905",), "L01FD01", False), "pertuzumab": (("1298944",), "L01FD02", False),
        "taxane": (("72962", "56946"), "L01CD", True), "t_dm1": (("1371041",), "L01FD03", False),
        "t_dxd": (("2267582",), "L01FD04", False), "tucatinib": (("2361285",), "L01EH03", False),
        "lapatinib": (("480167",), "L01EH01", False), "neratinib": (("1940643",), "L01EH02", False),
        "capecitabine": (("194000",), "L01BC06", False), "margetuximab": ((), "L01FD06", False),
        "vinorelbine": (("39541",), "L01CA04", False), "cyclophosphamide": (("3002",), "L01AA01", False),
        "endocrine": (("84857", "258494", "72965", "10324", "282357"), "L02", True),
        "cdk46_inhibitor": (("1601374", "1873916", "1946825"), None, True)}
    assert {x.name: x.codes for x in b.facts}["er"] == (("http://loinc.org", "85337-4"),)
    assert [x.name for x in b.inputs] == [
        "her2_status_primary", "her2_status_metastatic", "her2_ihc_metastatic", "her2_ish_metastatic", "hr_status",
        "months_since_metastatic_diagnosis", "bm_status", "adjuvant_her2", "prior_drugs_metastatic",
        "current_regimen", "age_years", "ecog"]


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MET_ONSET = {"resourceType": "Condition", "id": "met", "subject": {"reference": "Patient/pt"},  # the anchor
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "94381002"}]},
             "onsetDateTime": "2024-12-01"}


def _statement(code, status, start, end=None):
    return {"resourceType": "MedicationStatement", "id": f"m-{code}", "status": status,
            "subject": {"reference": "Patient/pt"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
            "effectivePeriod": {"start": start, **({"end": end} if end else {})}}


@pytest.mark.parametrize("code, drug", [
    ("224905", "trastuzumab"),
    ("3002", "cyclophosphamide"),
    ("2267582", "t_dxd"),        # trastuzumab deruxtecan, RxNorm ingredient
    ("2361285", "tucatinib"),
    ("56946", "taxane"),         # paclitaxel, a member of the class
    ("282357", "endocrine"),     # fulvestrant, a member of the class
])
def test_a_her2_medication_record_is_read_as_its_drug(code, drug):
    """An ingredient-coded MedicationStatement of a finished metastatic line gives its drug."""
    g = fhirin.load("guidelines/her2_mbc.hgl")
    finished = _statement(code, "completed", "2025-01-01", "2025-03-01")
    case, sources = fhirin.case_from_fhir(g, [MET_ONSET, finished], dt.date(2025, 6, 1))
    assert case["prior_drugs_metastatic"] == [drug]
    assert [s["as"] for s in sources["prior_drugs_metastatic"]] == [drug]


@pytest.mark.parametrize("code", ["2267574", "2361290"])  # T-DXd precise ingredient, a tucatinib tablet
def test_a_record_coded_below_the_ingredient_is_not_read(code):
    """Only ingredient codes are bound: a precise-ingredient or product code is not taken for the drug."""
    g = fhirin.load("guidelines/her2_mbc.hgl")
    finished = _statement(code, "completed", "2025-01-01", "2025-03-01")
    case, _ = fhirin.case_from_fhir(g, [MET_ONSET, finished], dt.date(2025, 6, 1))
    assert case.get("prior_drugs_metastatic") is None


# ---------------------------------------------------------------- canonical base of the export


@pytest.mark.parametrize("field, option, expected", [
    (None, None, fhir.CANONICAL_BASE),
    ('  canonical "https://fhir.example-hospital.org/hgl/"\n', None, "https://fhir.example-hospital.org/hgl"),
    ('  canonical "https://fhir.example-hospital.org/hgl"\n', "https://other.example.org/kb",
     "https://other.example.org/kb"),
    (None, "https://other.example.org/kb", "https://other.example.org/kb"),
])
def test_canonical_base_from_the_option_then_the_guideline(tmp_path, capsys, field, option, expected):
    text = HEAD.replace('  disclaimer "D"\n', '  disclaimer "D"\n' + (field or "")) + RULE.format(uses="true")
    path = tmp_path / "g.hgl"
    path.write_text(text, encoding="utf-8")
    assert main(["export", str(path), *(["--canonical-base", option] if option else [])]) == 0
    bundle = json.loads(capsys.readouterr().out)
    plan = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "PlanDefinition")
    assert plan["url"] == f"{expected}/PlanDefinition/g"


@pytest.mark.parametrize("field, code", [('"fhir.example.org"', "HGL604"), ('"https://x.org/a?b"', "HGL604"),
                                         ("2025-01-01", "HGL301")])  # not text: the metadata check says so
def test_a_bad_canonical_field_is_a_diagnostic(field, code):
    text = HEAD.replace('  disclaimer "D"\n', f'  disclaimer "D"\n  canonical {field}\n') + RULE.format(uses="true")
    result = compile_source(Source("t.hgl", text))
    assert [(d.code, d.span.line) for d in result.diagnostics
            if d.code != "HGL605"] == [(code, 7)]  # HEAD's facts: no input here reads them


def test_a_bad_canonical_option_is_refused(capsys):
    assert main(["export", "tests/data/small.hgl", "--canonical-base", "not a url"]) == 2
    assert "not an absolute http(s) URL" in capsys.readouterr().err


def test_case_from_fhir_needs_a_guideline_with_bindings(tmp_path, capsys):
    bundle = tmp_path / "b.json"
    bundle.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}', encoding="utf-8")
    assert main(["case-from-fhir", "tests/data/small.hgl", str(bundle)]) == 1
    assert "declares no FHIR bindings" in capsys.readouterr().err
