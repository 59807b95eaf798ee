"""FHIR input (runtime/fhirin.py): bindings from the compiled guideline, derivations, prefetch templates, one Synthea-style bundle per HER2 scenario, the CLI.

Each scenario bundle is built here, the way Synthea writes a patient (a collection Bundle of
Patient, Condition, Observation and MedicationStatement resources with urn:uuid fullUrls).  The
case derived from it is compared field by field, then completed with what the clinician enters
(the rest of the matching example case) and evaluated: it must give the same result as the
example case itself.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random

import pytest
import yaml

from hgl.runtime import fhirin
from hgl.compiler.cli import main

from .conftest import GUIDELINE, ROOT

TODAY = dt.date(2025, 6, 1)
LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
POS, NEG = "LA6576-8", "LA6577-6"
RX = {"trastuzumab": "224905", "pertuzumab": "1298944", "docetaxel": "72962", "paclitaxel": "56946",
      "letrozole": "72965", "t_dm1": "1371041", "capecitabine": "194000", "eribulin": "1045453"}


@pytest.fixture(scope="module")
def g():
    return fhirin.load(GUIDELINE)


# ---------------------------------------------------------------- Synthea-style resources


def patient(born):
    return {"resourceType": "Patient", "id": "pt", "gender": "female", "birthDate": born}


def condition(rid, code, onset, system=SNOMED, verification=None):
    res = {"resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/pt"},
           "code": {"coding": [{"system": system, "code": code}]}, "onsetDateTime": onset}
    if verification:
        res["verificationStatus"] = {"coding": [{"code": verification}]}
    return res


def obs(rid, loinc, day, *, answer=None, integer=None, text=None, quantity=None, status="final"):
    res = {"resourceType": "Observation", "id": rid, "status": status, "subject": {"reference": "Patient/pt"},
           "code": {"coding": [{"system": LOINC, "code": loinc}]}, "effectiveDateTime": day}
    if answer:
        res["valueCodeableConcept"] = {"coding": [{"system": LOINC, "code": answer}]}
    if integer is not None:
        res["valueInteger"] = integer
    if text:
        res["valueCodeableConcept"] = {"text": text}
    if quantity:
        res["valueQuantity"] = quantity
    return res


def med(rid, drug, status, start, end=None, kind="MedicationStatement"):
    res = {"resourceType": kind, "id": rid, "status": status, "subject": {"reference": "Patient/pt"},
           "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": RX[drug], "display": drug}]}}
    if kind == "MedicationRequest":
        res.update(intent="order", authoredOn=start)
    else:
        res["effectivePeriod"] = {"start": start, **({"end": end} if end else {})}
    return res


def bundle(*resources):
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{i:08d}-0000-4000-8000-000000000000", "resource": r}
                      for i, r in enumerate(resources)]}


def receptors(day, er, pr):
    return [obs("er", "85337-4", day, answer=er), obs("pr", "85339-0", day, answer=pr)]


def thp(status, start, end=None, prefix="l1", kind="MedicationStatement"):
    return [med(f"{prefix}-{d}", d, status, start, end, kind) for d in ("trastuzumab", "pertuzumab", "docetaxel")]


SCENARIOS = {
    "first_line": (
        bundle(patient("1972-09-15"), condition("met-liver", "94381002", "2025-06-01"),
               obs("her2-primary", "48676-1", "2019-03-01", answer=POS),
               obs("her2-ihc", "85319-2", "2025-06-01", text="3+"),
               obs("her2-met", "48676-1", "2025-06-01", answer=POS),
               *receptors("2025-06-01", NEG, NEG), obs("ecog", "89247-1", "2025-05-28", integer=0)),
        {"age_years": 52, "ecog": 0, "hr_status": "negative", "her2_ihc_metastatic": 3,
         "her2_status_primary": "positive", "her2_status_metastatic": "positive",
         "months_since_metastatic_diagnosis": 0.0},
    ),
    "second_line": (
        bundle(patient("1967-03-02"), condition("met", "128462008", "2024-02-01"),
               obs("her2-primary", "48676-1", "2018-01-10", answer=POS), *receptors("2024-02-03", NEG, NEG),
               obs("ecog-old", "89247-1", "2024-02-01", integer=0), obs("ecog", "89247-1", "2025-05-20", integer=1),
               *thp("active", "2024-03-01")),
        {"age_years": 58, "ecog": 1, "hr_status": "negative", "her2_status_primary": "positive",
         "months_since_metastatic_diagnosis": 16.0, "current_regimen": "thp"},
    ),
    "brain_metastases": (
        bundle(patient("1974-12-01"), condition("met", "94391008", "2023-10-01"),
               condition("bm", "94225005", "2025-05-15"),
               obs("her2-primary", "48676-1", "2021-01-01", answer=POS), *receptors("2023-10-05", NEG, NEG),
               obs("ecog", "89247-1", "2025-05-20", integer=1), *thp("completed", "2023-10-20", "2025-04-30")),
        {"age_years": 50, "ecog": 1, "hr_status": "negative", "her2_status_primary": "positive",
         "months_since_metastatic_diagnosis": 20.0, "prior_drugs_metastatic": ["trastuzumab", "pertuzumab", "taxane"]},
    ),
    "hr_maintenance": (
        bundle(patient("1984-01-20"), condition("met", "94222008", "2024-12-31"),
               obs("her2-primary", "48676-1", "2024-12-01", answer=POS), *receptors("2024-12-22", POS, NEG),
               obs("ecog", "89247-1", "2025-05-01", integer=0),
               *thp("active", "2025-01-05", kind="MedicationRequest")),
        {"age_years": 41, "ecog": 0, "hr_status": "positive", "her2_status_primary": "positive",
         "months_since_metastatic_diagnosis": 5.0, "current_regimen": "thp"},
    ),
    "early_relapse": (
        bundle(patient("1977-08-08"), condition("met", "94391008", "2025-06-01"),
               obs("her2-primary", "48676-1", "2023-05-01", answer=POS), *receptors("2023-05-01", NEG, NEG),
               obs("ecog", "89247-1", "2025-05-30", integer=1),
               *thp("completed", "2023-06-01", "2025-02-01", prefix="adj")),
        {"age_years": 47, "ecog": 1, "hr_status": "negative", "her2_status_primary": "positive",
         "months_since_metastatic_diagnosis": 0.0, "adjuvant_her2": ["trastuzumab", "pertuzumab", "taxane"]},
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_case_is_derived(g, name):
    bundle_, expected = SCENARIOS[name]
    case, sources = fhirin.case_from_fhir(g, [bundle_], TODAY)
    assert case == expected
    for field in case:  # every value names where it came from
        assert sources[field] and all(s["resource"] and s["path"] for s in sources[field]), field


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_with_clinician_entries_gives_the_example_result(g, name):
    example = yaml.safe_load((ROOT / "guidelines" / "examples" / f"{name}.yaml").read_text(encoding="utf-8"))
    case, _ = fhirin.case_from_fhir(g, [SCENARIOS[name][0]], TODAY)
    for field, value in case.items():  # what FHIR says agrees with the example, value for value
        assert g.validate({field: value})[field] == g.validate({field: example.get(field)})[field], field
    entered = {k: v for k, v in example.items() if k not in case}
    got, want = g.evaluate({**entered, **case}).to_dict(), g.evaluate(example).to_dict()
    assert (got["status"], got["options"], got["flags"]) == (want["status"], want["options"], want["flags"])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fhir_alone_asks_for_the_rest(g, name):
    case, _ = fhirin.case_from_fhir(g, [SCENARIOS[name][0]], TODAY)
    result = g.evaluate(case).to_dict()
    assert result["status"] == "needs_data" and result["missing"]
    assert not set(case) & {m if isinstance(m, str) else m.get("input") for m in result["missing"]}


def test_order_of_resources_does_not_matter(g):
    b, expected = SCENARIOS["second_line"]
    entries = list(b["entry"])
    for seed in range(3):
        random.Random(seed).shuffle(entries)
        case, sources = fhirin.case_from_fhir(g, [dict(b, entry=entries)], TODAY)
        assert case == expected
        assert sources == fhirin.case_from_fhir(g, [b], TODAY)[1]


# ---------------------------------------------------------------- single derivations


ONSET = condition("m", "94381002", "2024-12-01")  # the metastatic diagnosis (the anchor of the drug sets)


def undated(rid, drug, status):
    res = med(rid, drug, status, "2025-01-01")
    del res["effectivePeriod"]
    return res


@pytest.mark.parametrize("resources, field, expected", [
    # every record read: derived
    ([ONSET, med("a", "trastuzumab", "completed", "2025-01-01")], "prior_drugs_metastatic", ["trastuzumab"]),
    ([ONSET], "prior_drugs_metastatic", "absent"),  # no record at all: absent, the guideline's default applies
    # a record whose drug is not in the vocabulary may be one the guideline asks about: null (missing), so
    # the default ({}) cannot stand for it, and a partial set is never given
    ([ONSET, med("x", "eribulin", "completed", "2025-01-01")], "prior_drugs_metastatic", None),
    ([ONSET, med("a", "trastuzumab", "completed", "2025-01-01"), med("x", "eribulin", "completed", "2025-02-01")],
     "prior_drugs_metastatic", None),
    ([ONSET, med("a", "trastuzumab", "completed", "2024-01-01"), med("x", "eribulin", "completed", "2024-02-01")],
     "adjuvant_her2", None),
    # a record that cannot be placed before or after the metastatic diagnosis: not derived from the others
    ([ONSET, med("a", "trastuzumab", "completed", "2025-01-01"), undated("u", "pertuzumab", "completed")],
     "prior_drugs_metastatic", None),
    ([med("a", "trastuzumab", "completed", "2025-01-01")], "prior_drugs_metastatic", None),  # no anchor
])
def test_records_found_but_not_read_leave_the_input_missing(g, resources, field, expected):
    case, sources = fhirin.case_from_fhir(g, resources, TODAY)
    if expected == "absent":
        assert field not in case and field not in sources
        return
    assert case.get(field) == expected
    if expected is None:
        assert any(s.get("note") for s in sources[field])
        has_default = next(s for s in g.inputs if s.name == field).has_default
        assert (field in case) is has_default  # null where absent would mean the default


@pytest.mark.parametrize("resources, field, expected", [
    ([patient("1970-06-01")], "age_years", 55),          # birthday today
    ([patient("1970-06-02")], "age_years", 54),          # birthday tomorrow
    ([patient("1970")], "age_years", None),              # partial date: not guessed
    (receptors("2025-01-01", POS, NEG), "hr_status", "positive"),
    (receptors("2025-01-01", NEG, POS), "hr_status", "positive"),
    (receptors("2025-01-01", NEG, NEG), "hr_status", "negative"),
    ([obs("er", "85337-4", "2025-01-01", answer=NEG)], "hr_status", None),   # PR unknown: not negative
    ([obs("er", "85337-4", "2025-01-01", answer=POS)], "hr_status", "positive"),
    ([obs("e1", "89247-1", "2025-01-01", integer=2), obs("e2", "89247-1", "2025-03-01", integer=1)], "ecog", 1),
    ([obs("e1", "89247-1", "2025-03-01", integer=2, status="entered-in-error")], "ecog", None),
    ([obs("e1", "89247-1", "2025-03-01", integer=7)], "ecog", None),          # out of range: left out
    ([*thp("active", "2025-01-01")[:2]], "current_regimen", None),          # hp_alone or hp_maintenance?
    ([*thp("active", "2025-01-01"), med("x", "eribulin", "active", "2025-01-01")], "current_regimen", None),
    ([med("a", "t_dm1", "active", "2025-01-01")], "current_regimen", "t_dm1"),
    ([condition("bm", "94225005", "2025-01-01", verification="refuted")], "bm_status", "none"),
    ([condition("bm", "C79.31", "2025-01-01", system="http://hl7.org/fhir/sid/icd-10-cm")], "bm_status", None),
])
def test_derivations(g, resources, field, expected):
    case, sources = fhirin.case_from_fhir(g, resources, TODAY)
    assert case.get(field) == expected
    if expected is None and resources and field != "hr_status":
        assert any(s.get("note") for s in sources.get(field, [{"note": "none found"}]))


def test_metastatic_tests_need_the_metastatic_date(g):
    case, sources = fhirin.case_from_fhir(g, [obs("ihc", "85319-2", "2025-01-01", text="2+")], TODAY)
    assert "her2_ihc_metastatic" not in case
    assert "metastatic_onset is not in the record" in sources["her2_ihc_metastatic"][0]["note"]
    assert "her2_ish_metastatic" not in sources  # no FISH result at all: nothing to say
    with_date = [obs("ihc", "85319-2", "2025-01-01", text="2+"), condition("m", "94381002", "2024-12-01")]
    assert fhirin.case_from_fhir(g, with_date, TODAY)[0]["her2_ihc_metastatic"] == 2


UNIT_BINDINGS = {
    "format": fhirin.FORMAT, "systems": {"local": "http://example.org/codes"},
    "inputs": {"bm_max_diameter_mm": {"resource": "Observation", "code": {"local": ["bm-size"]},
                                      "value": "value.ofType(Quantity)", "units": {"mm": "mm", "cm": "cm"}}},
}


@pytest.mark.parametrize("quantity, expected", [
    ({"value": 12, "unit": "mm", "system": "http://unitsofmeasure.org", "code": "mm"}, 12),
    ({"value": 1.5, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}, 15),
    ({"value": 2, "unit": "in", "system": "http://unitsofmeasure.org", "code": "[in_i]"}, None),  # no such unit
])
def test_unit_conversion(g, quantity, expected):
    b = fhirin.parse_bindings(UNIT_BINDINGS)
    r = {"resourceType": "Observation", "id": "o", "status": "final", "effectiveDateTime": "2025-01-01",
         "code": {"coding": [{"system": "http://example.org/codes", "code": "bm-size"}]}, "valueQuantity": quantity}
    case, _ = fhirin.case_from_fhir(g, [r], TODAY, bindings=b)
    got = g.validate(case)["bm_max_diameter_mm"] if case else None
    assert got == expected


# ---------------------------------------------------------------- the bindings and prefetch


def test_prefetch_templates(g):
    t = fhirin.prefetch_templates(g)
    assert t["patient"] == "Patient/{{context.patientId}}"
    assert t["medicationStatements"] == "MedicationStatement?patient={{context.patientId}}"
    assert t["medicationRequests"] == "MedicationRequest?patient={{context.patientId}}"
    assert t["observations"].startswith("Observation?patient={{context.patientId}}&code=")
    for code in ("85319-2", "85318-4", "48676-1", "85337-4", "85339-0", "89247-1"):
        assert f"http://loinc.org|{code}" in t["observations"]
    assert "http://snomed.info/sct|94225005" in t["conditions"]
    assert fhirin.prefetch_templates(GUIDELINE) == t


def test_prefetch_results_are_read_as_given_by_cds_hooks(g):
    """Prefetch values are search Bundles, single resources or null."""
    b, expected = SCENARIOS["hr_maintenance"]
    res = [e["resource"] for e in b["entry"]]
    prefetch = {"patient": res[0], "conditions": {"resourceType": "Bundle", "type": "searchset",
                                                  "entry": [{"resource": r} for r in res if r["resourceType"] == "Condition"]},
                "observations": {"resourceType": "Bundle", "type": "searchset",
                                 "entry": [{"resource": r} for r in res if r["resourceType"] == "Observation"]},
                "medicationStatements": None,
                "medicationRequests": {"resourceType": "Bundle", "type": "searchset",
                                       "entry": [{"resource": r} for r in res if r["resourceType"] == "MedicationRequest"]}}
    assert fhirin.case_from_fhir(g, list(prefetch.values()), TODAY)[0] == expected


def test_bindings_fit_the_guideline(g):
    assert fhirin.check_against(g.fhir_bindings, g) == []
    spec = {s.name: s for s in g.inputs}
    assert {b.name for b in g.fhir_bindings.inputs} <= set(spec)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(colour="red"), "unknown key(s) colour"),
    (lambda d: d.update(format="v0"), "format must be"),
    (lambda d: d["inputs"]["ecog"].update(code={"lonic": ["89247-1"]}), "unknown code system 'lonic'"),
    (lambda d: d["inputs"]["ecog"].update(derive="guess"), "derive must be one of"),
    (lambda d: d["inputs"]["her2_ish_metastatic"].update(after="diagnosis"), "unknown fact 'diagnosis'"),
    (lambda d: d["inputs"]["ecog"].pop("value"), "needs a value"),
])
def test_bad_bindings_data_is_refused(change, message):
    data = copy.deepcopy(fhirin.load(GUIDELINE).module.FHIR)  # the compiled module's bindings, as data
    change(data)
    with pytest.raises(fhirin.BindingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fhirin.parse_bindings(data, "x")


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["inputs"].update(ldl={"resource": "Patient", "value": "birthDate"}), "ldl: not an input"),
    (lambda d: d["inputs"]["her2_ish_metastatic"]["map"].update({"LA1": "maybe"}), "'maybe' (for 'LA1') is not one of"),
    (lambda d: d["terminology"]["drug"].update(aspirin={"code": {"rxnorm": ["1191"]}}), "'aspirin' is not a value of 'drug'"),
])
def test_bindings_that_do_not_fit_the_guideline_are_named(g, change, problem):
    data = copy.deepcopy(fhirin.load(GUIDELINE).module.FHIR)  # the compiled module's bindings, as data
    change(data)
    problems = fhirin.check_against(fhirin.parse_bindings(data), g)
    assert any(problem in p for p in problems), problems


# ---------------------------------------------------------------- command line


def test_cli_text_and_json(tmp_path, capsys):
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(SCENARIOS["brain_metastases"][0]), encoding="utf-8")
    assert main(["case-from-fhir", str(GUIDELINE), str(path), "--date", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "reference date 2025-06-01" in out and "age_years: 50" in out
    assert "from Patient/pt birthDate = 1974-12-01" in out
    assert "found but not derived" in out and "Condition/bm" in out  # brain metastases: status to enter
    assert main(["case-from-fhir", str(GUIDELINE), str(path), "--date", "2025-06-01", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["case"] == SCENARIOS["brain_metastases"][1]
    assert {s["resource"] for s in data["sources"]["prior_drugs_metastatic"]} == {
        "MedicationStatement/l1-trastuzumab", "MedicationStatement/l1-pertuzumab", "MedicationStatement/l1-docetaxel"}


@pytest.mark.parametrize("args, code, err", [
    (["--date", "June"], 2, "not YYYY-MM-DD"),
    (["--nothing"], 2, ""),
])
def test_cli_errors(tmp_path, capsys, args, code, err):
    path = tmp_path / "p.json"
    path.write_text("{}", encoding="utf-8")
    try:
        rc = main(["case-from-fhir", str(GUIDELINE), str(path), *args])
    except SystemExit as exc:  # argparse
        rc = exc.code
    assert rc == code and err in capsys.readouterr().err


def test_cli_unreadable_bundle(tmp_path, capsys):
    assert main(["case-from-fhir", str(GUIDELINE), str(tmp_path / "none.json")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_example_bundle_of_the_fhir_page_is_the_second_line_scenario():
    """site/pages/fhir.md runs `hgl case-from-fhir` on this file: it stays the scenario tested above."""
    path = ROOT / "tests" / "data" / "fhir_second_line.bundle.json"
    assert json.loads(path.read_text(encoding="utf-8")) == SCENARIOS["second_line"][0]
    page = (ROOT / "site" / "pages" / "fhir.md").read_text(encoding="utf-8")
    case, _ = fhirin.case_from_fhir(GUIDELINE, [SCENARIOS["second_line"][0]], TODAY)
    for field, value in case.items():
        assert f"  {field}: {json.dumps(value)}\n" in page, field


def test_data_dictionary_page_shows_each_binding():
    from hgl.compiler.docs.pages import GuidelineDocs
    from hgl.compiler.docs.site import make_env
    from hgl.compiler.pipeline import compile_source, read_source

    result = compile_source(read_source(GUIDELINE, "guidelines/her2_mbc.hgl"))
    page = next(p for p in GuidelineDocs(result, "guidelines/her2_mbc.hgl").pages() if p.path.endswith("data.md"))
    text = make_env().get_template(page.template).render(**page.data)
    table = text[text.index("## Where each input comes from in FHIR"):]
    bound = [b.name for b in fhirin.load(GUIDELINE).fhir_bindings.inputs]
    for name in bound:
        assert f"(#input-{name})" in table, name
    assert "Observation loinc&#35;89247-1: <code>value.ofType(integer)</code>" in table  # system#code
    assert "er from Observation loinc&#35;85337-4" in table  # a derivation names the facts it reads
    assert "Entered by the clinician" in table and "<code>bm&#95;count</code>" in table
