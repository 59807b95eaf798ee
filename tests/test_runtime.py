"""The runtime: loading and caching, status semantics, explanations, why-not, receipts, parameters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hgl.runtime import CaseError, load
from hgl.runtime import api

from .conftest import ROOT

CHOOSER = ROOT / "bench" / "chooser.hgl"
GOLDEN = Path(__file__).parent / "golden" / "runtime"

# a complete first-line chooser case: every rule decided
FIT = {"stage": "advanced", "age_years": 60, "score": 7, "months_since_diagnosis": 3, "prior_lines": 0,
       "prior_drugs": [], "frail": False, "resectable": False}


@pytest.fixture(scope="module")
def chooser():
    return load(CHOOSER)


# ---------------------------------------------------------------- loading


def test_runtime_imports_nothing_from_the_compiler():
    code = "import sys, hgl.runtime, hgl.runtime.batch, hgl.runtime.report, hgl.runtime.casefile; " \
           "bad = [m for m in sys.modules if m.startswith('hgl.compiler')]; assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _fresh(tmp_path, monkeypatch, text=None) -> Path:
    monkeypatch.setenv("HGL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(api, "_loaded", {})
    src = tmp_path / "chooser.hgl"
    src.write_text(text if text is not None else CHOOSER.read_text(encoding="utf-8"), encoding="utf-8")
    return src


def test_cache_file_is_written_and_reused(tmp_path, monkeypatch):
    src = _fresh(tmp_path, monkeypatch)
    load(src)
    files = list((tmp_path / "cache").glob("*.py.signed"))
    assert len(files) == 1
    # a second load (memory cache cleared) must use this very file: compiling is made to fail
    monkeypatch.setattr(api, "_loaded", {})
    monkeypatch.setattr(api, "_compile", lambda *a: 1 / 0)
    assert load(src).evaluate(FIT).preferred == ["opt_a"]


def test_changed_source_recompiles(tmp_path, monkeypatch):
    src = _fresh(tmp_path, monkeypatch)
    first = load(src)
    src.write_text(src.read_text(encoding="utf-8").replace('"1.0.0"', '"1.0.1"'), encoding="utf-8")
    second = load(src)
    assert (first.version, second.version) == ("1.0.0", "1.0.1")
    assert first.sha256 != second.sha256
    assert len(list((tmp_path / "cache").glob("*.py.signed"))) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "other_hash"])
def test_damaged_cache_file_is_ignored(tmp_path, monkeypatch, damage):
    src = _fresh(tmp_path, monkeypatch)
    good = load(src)
    cache = api.cache_path(good.sha256)
    text = cache.read_text(encoding="utf-8")
    cache.write_text({"garbage": f"# source sha256 {good.sha256}\n)))(((\n",
                      "truncated": text[: len(text) // 2],
                      "empty": "",
                      "other_hash": text.replace(good.sha256, "0" * 64)}[damage], encoding="utf-8")
    monkeypatch.setattr(api, "_loaded", {})
    again = load(src)
    assert again.evaluate(FIT).preferred == ["opt_a"]
    assert cache.read_text(encoding="utf-8") == text  # rewritten by the recompile


def test_load_built_module(tmp_path, chooser):
    from hgl.compiler.cli import main

    assert main(["build", str(CHOOSER), "-o", str(tmp_path)]) == 0
    built = load(tmp_path / "chooser.py")
    assert built.sha256 == chooser.sha256
    assert built.evaluate(FIT).to_dict() == chooser.evaluate(FIT).to_dict()


def test_built_module_runs_without_the_compiler(tmp_path):
    from hgl.compiler.cli import main

    assert main(["build", str(CHOOSER), "-o", str(tmp_path)]) == 0
    code = ("import sys, json; from hgl.runtime import load; "
            f"g = load({str(tmp_path / 'chooser.py')!r}); print(json.dumps(g.evaluate({FIT!r}).preferred)); "
            "assert not [m for m in sys.modules if m.startswith('hgl.compiler')]")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True)
    assert json.loads(out.stdout) == ["opt_a"]


# ---------------------------------------------------------------- status and missing


@pytest.mark.parametrize("change,status,missing", [
    ({}, "recommendation", []),
    # age feeds only `older`, read with frail (false) and with a later line (false): cannot matter
    ({"age_years": None}, "recommendation", []),
    ({"stage": None}, "recommendation", []),  # surgery needs resectable, which is false
    ({"resectable": None}, "recommendation", []),  # surgery also needs stage early
    # the trial rule is undecided and would add an option
    ({"months_since_diagnosis": None}, "needs_data", ["months_since_diagnosis"]),
    # ... but not when another disjunct already fires it
    ({"months_since_diagnosis": None, "prior_lines": 2, "prior_drugs": ["a"]}, "recommendation", []),
    # frail unknown: first_a, first_frail (and the surgery rule when early) are undecided
    ({"frail": None}, "needs_data", ["frail"]),
    ({"stage": "early", "resectable": None}, "needs_data", ["resectable"]),
    ({"prior_lines": None}, "needs_data", ["prior_lines"]),
    ({"prior_lines": None, "months_since_diagnosis": None}, "needs_data", ["months_since_diagnosis", "prior_lines"]),
    ({"score": None}, "needs_data", ["score"]),
    ({"score": None, "frail": True}, "needs_data", ["score"]),  # first_b would still add opt_b preferred
])
def test_status_and_exact_missing(chooser, change, status, missing):
    r = chooser.evaluate({**FIT, **change})
    assert (r.status, r.missing) == (status, missing)


def test_missing_is_provisional_not_silent(chooser):
    r = chooser.evaluate({**FIT, "months_since_diagnosis": None})
    assert r.preferred == ["opt_a"]  # what did apply is still shown
    assert "trial" not in r.alternatives


@pytest.mark.parametrize("case_id,status,field,names", [
    ("P034", "needs_data", "missing", ["complete_staging"]),  # a data request, though the value is given
    ("P050", "inconsistent_data", "inconsistent", ["bm_status", "bm_count"]),
    ("P051", "inconsistent_data", "inconsistent", ["prior_her2_lines", "prior_drugs_metastatic"]),
    ("P002", "recommendation", "missing", []),
])
def test_her2_status(her2, vignettes, case_id, status, field, names):
    case, params = vignettes[case_id]
    d = her2.evaluate(case, params).to_dict()
    assert d["status"] == status
    assert d[field] == names
    if status == "inconsistent_data":
        assert d["options"] == [] and d["flags"] == []


def test_a_missing_input_that_cannot_matter_is_not_asked_for(her2, vignettes):
    case, params = vignettes["P002"]
    # g8 and the CGA only matter for older patients; this one is not
    assert her2.evaluate({**case, "g8_score": None, "cga_category": None}, params).status == "recommendation"


# ---------------------------------------------------------------- explanations


@pytest.fixture(scope="module")
def vignettes():
    from hgl.runtime.casefile import load_case_file, merged_case

    from .conftest import VIGNETTES

    base, cases = load_case_file(VIGNETTES)
    return {c["id"]: (merged_case(base, c), c.get("params") or {}) for c in cases}


def test_every_option_and_flag_is_explained(her2, vignettes):
    for case, params in vignettes.values():
        d = her2.evaluate(case, params).to_dict()
        for entry in d["options"] + d["flags"]:
            assert entry["rule"] in her2.engine.rules
            assert entry["provenance"], entry
            assert isinstance(entry.get("evidence", []), list)
        for o in d["options"]:
            assert o["because"] and all(isinstance(b, str) and b for b in o["because"]), o


@pytest.mark.parametrize("case_id,option,sentence", [
    ("P002", "t_dxd", "line of therapy is 2 (finished HER2-directed metastatic lines 0 + 1 + 1 for early relapse)"),
    ("P002", "t_dxd", "a new line is needed (on therapy: no)"),
    ("P003", "t_dxd", "months since (neo)adjuvant HER2 therapy is 6.01 months (> 6 months and ≤ 12 months)"),
    ("P003", "t_dxd", "early-relapse policy is nccn"),
    # a role given by a restriction says so, and who proposed the option
    ("P064", "abemaciclib_trastuzumab_fulvestrant",
     "not preferred: every option with all its drugs among finished drugs (trastuzumab, pertuzumab, a taxane, "
     "trastuzumab deruxtecan (T-DXd), endocrine therapy, a CDK4/6 inhibitor), except continue the current regimen"),
    ("P064", "abemaciclib_trastuzumab_fulvestrant", "proposed by the rule “HR-positive later lines”"),
])
def test_because_names_the_patients_values(her2, vignettes, case_id, option, sentence):
    case, params = vignettes[case_id]
    d = her2.evaluate(case, params).to_dict()
    because = next(o["because"] for o in d["options"] if o["id"] == option)
    assert sentence in because


@pytest.mark.parametrize("change,option,sentence", [
    ({"months_since_diagnosis": 30}, "trial", "months since diagnosis is 30 months (> 24 months)"),
    ({"prior_lines": 3, "prior_drugs": ["a"]}, "opt_c", "drug A is among prior drugs (drug A)"),
])
def test_because_in_the_chooser(chooser, change, option, sentence):
    d = chooser.evaluate({**FIT, **change}).to_dict()
    because = next(o["because"] for o in d["options"] if o["id"] == option)
    assert any(sentence in b for b in because), because


def test_why_not(chooser):
    r = chooser.evaluate(FIT, why_not=["opt_ab", "opt_b"])
    ab = r.why_not["opt_ab"]
    assert [x["rule"] for x in ab] == ["second_ab"]
    assert {"condition": "a later line: no (prior lines is 0, not ≥ 1)", "value": "false",
            "as_written": "later_line"} in ab[0]["failed"]
    assert {x["rule"] for x in r.why_not["opt_b"]} == {"first_b", "first_frail"}
    low = next(x for x in r.why_not["opt_b"] if x["rule"] == "first_b")
    assert low["held"] == ["first line (prior lines is 0)"]
    assert low["failed"][0]["value"] == "false"


def test_why_not_shows_the_condition_as_written(her2, vignettes):
    case, params = vignettes["P064"]
    rules = {x["rule"]: x for x in her2.evaluate(case, params, why_not=["t_dxd"]).why_not["t_dxd"]}
    # the words say the line the rule needs, and the condition as written is kept
    assert {"condition": "line of therapy is 4, not 2 (finished HER2-directed metastatic lines 2 + 1 + 1 for "
                         "progressing on therapy)", "value": "false", "as_written": "line = 2"} \
        in rules["second_line_tdxd"]["failed"]


def test_why_not_unknown_option_is_an_error(chooser):
    with pytest.raises(CaseError) as err:
        chooser.evaluate(FIT, why_not=["opt_z"])
    assert err.value.errors[0]["field"] == "opt_z"


def test_receipt(chooser):
    d = chooser.evaluate({**FIT, "age_years": "60 years"}).to_dict()
    rc = d["receipt"]
    assert rc["guideline"] == {"id": "chooser", "version": "1.0.0", "sha256": chooser.sha256}
    assert rc["parameters"] == {}
    assert rc["input"]["age_years"] == 60 and rc["input"]["prior_drugs"] == []
    assert set(rc["input"]) == {s.name for s in chooser.inputs}


# ---------------------------------------------------------------- parameters


def test_parameter_override_changes_the_result(her2, vignettes):
    case, _ = vignettes["P006"]
    nccn = her2.evaluate(case)
    asco = her2.evaluate(case, {"early_relapse_policy": "asco"})
    assert nccn.to_dict()["options"] != asco.to_dict()["options"]
    assert asco.receipt["parameters"]["early_relapse_policy"] == "asco"
    assert nccn.receipt["parameters"]["early_relapse_policy"] == "nccn"


@pytest.mark.parametrize("params,field,text", [
    ({"early_relapse_polcy": "asco"}, "early_relapse_polcy", "did you mean 'early_relapse_policy'"),
    ({"early_relapse_policy": "esmo"}, "early_relapse_policy", "not an allowed value"),
    ({"include_post_publication": "maybe"}, "include_post_publication", "expected true or false"),
    ({"discontinuation_threshold_months": "6 mm"}, "discontinuation_threshold_months", "not a unit of time"),
])
def test_bad_parameter(her2, vignettes, params, field, text):
    case, _ = vignettes["P002"]
    with pytest.raises(CaseError) as err:
        her2.evaluate(case, params)
    e = err.value.errors[0]
    assert e["field"] == field
    assert text in e["message"] + " " + e.get("hint", "")


def test_parameter_from_command_line_text(her2):
    assert her2.check_params({"discontinuation_threshold_months": "2 years"})["discontinuation_threshold_months"] \
        == pytest.approx(24, abs=0.01)
    assert her2.check_params({"include_post_publication": "true"})["include_post_publication"] is True


# ---------------------------------------------------------------- golden results


CHOOSER_CASES = {
    "fit_first_line": FIT,
    "frail_older": {**FIT, "frail": True, "age_years": 80},
    "third_line_b_given": {**FIT, "prior_lines": 3, "prior_drugs": ["a", "b"], "frail": True},
    "needs_months": {**FIT, "months_since_diagnosis": None},
    "early_resectable": {**FIT, "stage": "early", "resectable": True, "score": 2},
}


def _golden(golden, name: str, d: dict):
    d = dict(d)
    d.pop("receipt")
    d["guideline"] = {k: v for k, v in d["guideline"].items() if k != "sha256"}
    golden.check(GOLDEN / f"{name}.json", json.dumps(d, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


@pytest.mark.parametrize("name", CHOOSER_CASES)
def test_golden_chooser(golden, chooser, name):
    _golden(golden, f"chooser_{name}", chooser.evaluate(CHOOSER_CASES[name], why_not=["opt_ab"]).to_dict())


@pytest.mark.parametrize("case_id", ["P002", "P034", "P050", "P064"])
def test_golden_her2(golden, her2, vignettes, case_id):
    case, params = vignettes[case_id]
    _golden(golden, f"her2_{case_id}", her2.evaluate(case, params).to_dict())


def test_evaluate_many_keeps_order_and_errors(chooser):
    out = list(chooser.evaluate_many([FIT, {"stage": "late"}, {**FIT, "prior_lines": 1}]))
    assert out[0].preferred == ["opt_a"]
    assert isinstance(out[1], CaseError)
    assert out[2].preferred == ["opt_ab"]


def test_evaluate_many_checks_parameters_first(chooser):
    with pytest.raises(CaseError):
        chooser.evaluate_many([FIT], {"no_such_parameter": 1})
