"""Explanations: the `because` of options and flags, `why not`, and why data is missing, in exact words.

The small guideline tests/data/explain.hgl has one condition of each kind; a few HER2
vignettes check the sentences clinicians read.  Both are loaded without the compile cache,
so the words come from the current compiler.
"""

from __future__ import annotations

import re

import pytest

from hgl.compiler.explain.words import explanation_table, tree_source
from hgl.compiler.interpret.evaluator import interpret_file
from hgl.compiler.pipeline import check_source, read_source
from hgl.runtime import load
from hgl.runtime.api import Guideline
from hgl.runtime.report import format_result

from .conftest import GUIDELINE, ROOT, VIGNETTES

DEMO = ROOT / "tests" / "data" / "explain.hgl"
BASE = {"status": "positive", "crisis": False, "contraindicated": False, "lines": 0, "progressing": False,
        "given": [], "months": 3, "lesions": 0, "size": 10}
SECOND = {"lines": 1, "given": ["drug_a"], "current": "opt_a", "progressing": True}


@pytest.fixture(scope="module")
def demo():
    return load(DEMO, use_cache=False)


@pytest.fixture(scope="module")
def demo_ast():
    return Guideline(interpret_file(DEMO))


@pytest.fixture(scope="module")
def her2_fresh():
    return load(GUIDELINE, use_cache=False)


@pytest.fixture(scope="module")
def vignettes():
    from hgl.runtime.casefile import load_case_file, merged_case

    base, cases = load_case_file(VIGNETTES)
    return {c["id"]: (merged_case(base, c), c.get("params") or {}) for c in cases}


def _because(result, oid):
    return next(e["because"] for e in result.options + result.flags if e["id"] == oid)


# ---------------------------------------------------------------- because: one kind of condition each

@pytest.mark.parametrize("change,params,oid,because", [
    # a bool definition with the fact behind it; a sum with its terms; `x = value`; `not flag`
    ({}, None, "opt_a", ["a new line is needed (on therapy: no)", "line of therapy is 1 (finished lines 0 + 1)",
                         "receptor status is positive", "crisis: no"]),
    # the Or of a definition lists only the disjunct that held; an if-term says why it added 1;
    # membership in a set of drugs by the vocabulary's labels, with the set's value
    (SECOND, None, "opt_b", ["a new line is needed (progressing)",
                             "line of therapy is 3 (≥ 2; finished lines 1 + 1 + 1 for on therapy and progressing)",
                             "drug B is not among drugs given (drug A (DA))"]),
    # the branch of an outcome `if`, held and not held
    ({**SECOND, "contraindicated": True}, None, "opt_ab",
     ["a new line is needed (progressing)",
      "line of therapy is 3 (≥ 2; finished lines 1 + 1 + 1 for on therapy and progressing)",
      "drug B is not among drugs given (drug A (DA))", "drug C contraindicated"]),
    (SECOND, None, "opt_c", ["a new line is needed (progressing)",
                             "line of therapy is 3 (≥ 2; finished lines 1 + 1 + 1 for on therapy and progressing)",
                             "drug B is not among drugs given (drug A (DA))", "drug C contraindicated: no"]),
    # a range with its unit-less bounds; an Or condition names only the disjunct that held, with its unit
    ({"lesions": 4, "size": 25}, None, "scan", ["number of lesions is 4 (1 to 4)", "largest lesion is 25 mm (> 20 mm)"]),
    ({"lesions": 2, "crisis": True}, None, "review", ["number of lesions is 2 (1 to 4)", "crisis"]),
    ({"lesions": 2, "crisis": True, "size": 30}, None, "review",
     ["number of lesions is 2 (1 to 4)", "largest lesion is 30 mm (> 20 mm) and crisis"]),
    # an if-expression condition: the branch that applied and the condition that chose it; the
    # restriction that gave the role, in words, and who proposed the option
    ({}, None, "opt_ab", ["option A + B is proposed", "region is north; line of therapy is 1 (< 3; finished lines 0 + 1)",
                          "avoided: every option containing drug B", "proposed by the rule “Early relapse”"]),
    # a definition with an if-expression: the branch the policy chose; a value in a constant set
    ({"months": 9}, {"policy": "loose"}, "opt_ab",
     ["option A + B is proposed", "region is north; line of therapy is 1 (< 3; finished lines 0 + 1)",
      "avoided: every option containing drug B", "proposed by the rule “Early relapse”"]),
    # an option value by its label (the definition's fact), `not flag`
    ({"current": "opt_a"}, None, "keep", ["on therapy (current regimen is option A)", "progressing: no"]),
    # a demotion by a selector whose set depends on the case: its value is shown
    ({"given": ["drug_a"]}, None, "opt_a",
     ["not preferred: every option with all its drugs among drugs given (drug A (DA)), except continue the current regimen",
      "proposed by the rule “First line”"]),
])
def test_because(demo, change, params, oid, because):
    assert _because(demo.evaluate({**BASE, **change}, params), oid) == because


@pytest.mark.parametrize("change,params,oid,because", [
    # the early-relapse definition explains the policy branch that applied (one level)
    ({"status": "not_done", "months": 9, "region": "south"}, {"policy": "loose"}, "opt_ab",
     ["early relapse (finished lines is 0; policy is loose; months since surgery is 9 months (≤ 12 months))",
      "receptor status is not done"]),
    ({"status": "not_done", "months": 5, "region": "south"}, None, "opt_ab",
     ["early relapse (finished lines is 0; policy is strict, not loose; months since surgery is 5 months (≤ 6 months))",
      "receptor status is not done"]),
])
def test_because_of_a_definition_with_a_policy(demo, change, params, oid, because):
    assert _because(demo.evaluate({**BASE, **change}, params), oid) == because


def test_stands_for_is_shown_by_its_label(demo):
    entry = next(o for o in demo.evaluate({**BASE, "current": "opt_a"}).options if o["id"] == "keep")
    assert (entry["stands_for"], entry["stands_for_label"]) == ("opt_a", "option A")
    assert "Continue the current regimen (option A)" in format_result(demo.evaluate({**BASE, "current": "opt_a"}))


# ---------------------------------------------------------------- why not

@pytest.mark.parametrize("change,option,rule,held,failed", [
    ({}, "opt_b", "second", ["a new line is needed (on therapy: no)", "drug B is not among drugs given (none)"],
     [("line of therapy is 1, not ≥ 2 (finished lines 0 + 1)", "false", "line ≥ 2")]),
    ({"current": "opt_a"}, "opt_b", "second", ["drug B is not among drugs given (none)"],
     [("a new line is needed: no (on therapy; progressing: no)", "false", "new_line"),
      ("line of therapy is 1, not ≥ 2 (finished lines 0 + 1)", "false", "line ≥ 2")]),
    ({**SECOND, "given": ["drug_a", "drug_b"]}, "opt_b", "second",
     ["a new line is needed (progressing)",
      "line of therapy is 3 (≥ 2; finished lines 1 + 1 + 1 for on therapy and progressing)"],
     [("drug B is among drugs given (drug A (DA), drug B)", "false", "drug_b not in given")]),
    # a missing input: the condition says so, and its value is "unknown"
    ({"lines": 0, "months": None, "status": "not_done"}, "opt_ab", "early_rule", ["receptor status is not done"],
     [("early relapse: unknown (policy is strict, not loose; months since surgery is missing)", "unknown", "early")]),
    ({"lines": 1}, "opt_ab", "early_rule", ["receptor status is positive"],
     [("early relapse: no (finished lines is 1, not 0)", "false", "early")]),
    ({"status": "negative", "lines": 0}, "opt_ab", "early_rule",
     ["early relapse (finished lines is 0; policy is strict, not loose; months since surgery is 3 months (≤ 6 months))"],
     [("receptor status is negative, not positive or not done", "false", "status in {positive, not_done}")]),
])
def test_why_not(demo, change, option, rule, held, failed):
    entries = {w["rule"]: w for w in demo.evaluate({**BASE, **change}, why_not=[option]).why_not[option]}
    w = entries[rule]
    assert w["held"] == held
    assert [(f["condition"], f["value"], f["as_written"]) for f in w["failed"]] == failed


@pytest.mark.parametrize("change,option,rule,note", [
    ({}, "opt_ab", "early_rule", "it is in the result as avoid (rule label_rule)"),
    ({**SECOND, "contraindicated": True}, "opt_ab", "second", "it is in the result as alternative (rule second)"),
])
def test_why_not_when_every_condition_held(demo, change, option, rule, note):
    entries = {w["rule"]: w for w in demo.evaluate({**BASE, **change}, why_not=[option]).why_not[option]}
    assert entries[rule]["failed"] == [] and entries[rule]["note"] == note


def test_why_not_in_the_text_report(demo):
    text = format_result(demo.evaluate({**BASE, "current": "opt_a"}, why_not=["opt_b"]))
    assert text.endswith("Why not opt_b:\n"
                         "  - rule second (Second line) would make it preferred, but:\n"
                         "      a new line is needed: no (on therapy; progressing: no)\n"
                         "      line of therapy is 1, not ≥ 2 (finished lines 0 + 1)")


# ---------------------------------------------------------------- which rule needed which missing input

@pytest.mark.parametrize("change,missing", [
    ({"months": None, "status": "not_done"},
     [{"input": "months", "label": "months since surgery", "requested_by": [],
       "undecided": [{"rule": "early_rule", "title": "Early relapse", "changes_result": True,
                      "conditions": ["early relapse: unknown (policy is strict, not loose; months since surgery is missing)"]}]}]),
    # the engine stops at the first rule that shows `status` matters: the other is listed, not shown to
    ({"status": None},
     [{"input": "status", "label": "receptor status", "requested_by": [],
       "undecided": [{"rule": "first", "title": "First line", "conditions": ["receptor status is missing"],
                      "changes_result": True},
                     {"rule": "early_rule", "title": "Early relapse", "conditions": ["receptor status is missing"],
                      "changes_result": False}]}]),
])
def test_missing_because(demo, change, missing):
    d = demo.evaluate({**BASE, **change}).to_dict()
    assert d["status"] == "needs_data"
    assert d["missing_because"] == missing


def test_missing_in_the_text_report(demo):
    text = format_result(demo.evaluate({**BASE, "status": None}))
    assert ("Missing data: status\n"
            "  - receptor status (status):\n"
            "      would change the result: rule first (First line), undecided: receptor status is missing\n"
            "      leaves rule early_rule (Early relapse) undecided: receptor status is missing") in text


def test_no_missing_because_without_missing_data(demo):
    assert "missing_because" not in demo.evaluate(BASE).to_dict()


# ---------------------------------------------------------------- the compiled module and the AST agree

@pytest.mark.parametrize("change", [{}, SECOND, {**SECOND, "contraindicated": True}, {"months": None},
                                    {"status": None}, {"current": "opt_a"}, {"given": ["drug_a"]},
                                    {"lesions": 2, "crisis": True, "size": 30}])
def test_compiled_and_interpreted_words_agree(demo, demo_ast, change):
    options = ["opt_a", "opt_b", "opt_ab", "keep"]
    a = demo.evaluate({**BASE, **change}, why_not=options).to_dict(receipt=False)
    b = demo_ast.evaluate({**BASE, **change}, why_not=options).to_dict(receipt=False)
    assert a == b


def test_the_table_source_is_deterministic_python():
    def source():
        return tree_source(explanation_table(check_source(read_source(DEMO)).program), lambda e: "True")
    first = source()
    assert first == source()
    import hgl.runtime.explain as nodes

    table = eval(first, vars(nodes))  # noqa: S307 - the test's own output: node types, literals, `lambda e, P: True`
    assert set(table) == {"symbols", "labels", "defs", "rules"}
    assert table["labels"]["vocab:drug"] == {"drug_a": "drug A (DA)", "drug_b": "drug B", "drug_c": "drug C"}
    assert set(table["defs"]) == {"on_therapy", "new_line", "line", "early"}


# ---------------------------------------------------------------- HER2: the sentences clinicians read

@pytest.mark.parametrize("case_id,oid,because", [
    ("P002", "t_dxd", ["a new line is needed (on therapy: no)",
                       "line of therapy is 2 (finished HER2-directed metastatic lines 0 + 1 + 1 for early relapse)",
                       "trastuzumab deruxtecan (T-DXd) is not among drugs received (trastuzumab, a taxane)"]),
    ("P013", "t_dxd", ["a new line is needed (progressing on therapy)",
                       "line of therapy is 2 (finished HER2-directed metastatic lines 0 + 1 + 1 for progressing on therapy)",
                       "trastuzumab deruxtecan (T-DXd) is not among drugs received (trastuzumab, pertuzumab, a taxane)"]),
    ("P003", "t_dxd", ["first metastatic decision after (neo)adjuvant HER2 therapy (finished HER2-directed metastatic "
                       "lines is 0; on therapy: no; presentation is recurrent; (neo)adjuvant drugs (trastuzumab) include "
                       "one of HER2-directed drugs)",
                       "early-relapse policy is nccn",
                       "trastuzumab is among (neo)adjuvant drugs (trastuzumab)",
                       "pertuzumab is not among (neo)adjuvant drugs (trastuzumab)",
                       "months since (neo)adjuvant HER2 therapy is 6.01 months (> 6 months and ≤ 12 months)"]),
    ("P008", "thp", ["early relapse (first metastatic decision after (neo)adjuvant HER2 therapy; early-relapse policy "
                     "is nccn, not asco; pertuzumab is among (neo)adjuvant drugs (trastuzumab, pertuzumab, a taxane, "
                     "trastuzumab deruxtecan (T-DXd)); months since (neo)adjuvant HER2 therapy is 5 months (≤ 12 months))",
                     "trastuzumab deruxtecan (T-DXd) is among (neo)adjuvant drugs (trastuzumab, pertuzumab, a taxane, "
                     "trastuzumab deruxtecan (T-DXd))"]),
    ("P039", "hp_endocrine", ["a first-line choice is needed (a new line is needed; line of therapy is 1)",
                              "hormone-receptor status is positive", "low-burden, indolent disease",
                              "visceral crisis: no", "declines chemotherapy"]),
    ("P021", "neurosurgical_resection",
     ["active brain metastases (brain metastases is active untreated)",
      "brain metastases need local therapy first (brain metastases symptomatic; mass effect; "
      "largest brain metastasis is 42 mm (> 30 mm))",
      "number of brain metastases is 1 and largest brain metastasis is 42 mm (> 30 mm) and mass effect"]),
    ("P002", "not_available_in_jurisdiction",
     ["tucatinib + trastuzumab + capecitabine is proposed",
      "jurisdiction is EU, not US; prior lines (for labels) is 1 (< 2; line of therapy 2 − 1)"]),
    ("P064", "abemaciclib_trastuzumab_fulvestrant",
     ["not preferred: every option with all its drugs among finished drugs (trastuzumab, pertuzumab, a taxane, "
      "trastuzumab deruxtecan (T-DXd), endocrine therapy, a CDK4/6 inhibitor), except continue the current regimen",
      "proposed by the rule “HR-positive later lines”"]),
])
def test_her2_because(her2_fresh, vignettes, case_id, oid, because):
    case, params = vignettes[case_id]
    assert _because(her2_fresh.evaluate(case, params), oid) == because


def test_her2_why_not_names_the_line_it_needed(her2_fresh, vignettes):
    case, params = vignettes["P064"]
    rules = {w["rule"]: w for w in her2_fresh.evaluate(case, params, why_not=["t_dxd"]).why_not["t_dxd"]}
    assert rules["second_line_tdxd"]["failed"][0] == {
        "condition": "line of therapy is 4, not 2 (finished HER2-directed metastatic lines 2 + 1 + 1 for progressing on therapy)",
        "value": "false", "as_written": "line = 2"}


def test_her2_missing_names_the_data_request(her2_fresh, vignettes):
    case, params = vignettes["P034"]
    d = her2_fresh.evaluate(case, params).to_dict()
    assert d["missing_because"] == [{"input": "complete_staging", "label": "complete staging",
                                     "requested_by": [{"rule": "oligo_unstaged",
                                                       "title": "Oligometastatic, staging incomplete"}],
                                     "undecided": []}]


def test_her2_sentences_have_no_code(her2_fresh, vignettes):
    """No identifier (snake_case), no set braces, no `is true/false` in any because, why-not or missing reason."""
    code = re.compile(r"[a-z0-9]_[a-z]|[{}]|\bis (true|false)\b")
    options = ["t_dxd", "thp", "t_dm1", "tucatinib_trastuzumab_capecitabine"]
    for case_id, (case, params) in vignettes.items():
        r = her2_fresh.evaluate(case, params, why_not=options if _sampled(case_id) else ())
        d = r.to_dict()
        sentences = [b for e in d["options"] + d["flags"] for b in e["because"]]
        sentences += [f["condition"] for w in (d.get("why_not") or {}).values() for x in w for f in x["failed"]]
        sentences += [c for m in d.get("missing_because", []) for u in m["undecided"] for c in u["conditions"]]
        bad = [s for s in sentences if code.search(s)]
        assert not bad, (case_id, bad)


def _sampled(case_id: str) -> bool:
    """why-not on a sample of the vignettes (it evaluates every rule: keep the test short)."""
    return int(case_id[1:]) % 4 == 0


# ---------------------------------------------------------------- HER2: which rule's missing input matters

@pytest.mark.parametrize("case_id,name,undecided", [
    # decided, the early-relapse threshold conflict changes the result; the line rules are only left undecided
    # (the third-line rules are decided: the line is bounded whatever the months are)
    ("P005", "months_since_adjuvant_her2",
     [("threshold_conflict", True), ("first_line_thp", False), ("second_line_tdxd", False),
      ("second_line_tdm1", False), ("second_line_ttc", False), ("clinical_trial_option", False)]),
    ("P040", "hr_status", [("maintenance_hr_positive", True), ("maintenance_hr_negative", False)]),
    ("P042", "cr_duration_months", [("remission_discuss", True), ("remission_continue", False)]),
])
def test_her2_missing_says_which_rule_changes_the_result(her2_fresh, vignettes, case_id, name, undecided):
    case, params = vignettes[case_id]
    d = her2_fresh.evaluate(case, params).to_dict()
    entry = next(m for m in d["missing_because"] if m["input"] == name)
    assert [(u["rule"], u["changes_result"]) for u in entry["undecided"]] == undecided


@pytest.mark.parametrize("undecided,lines", [
    ([{"rule": "r1", "title": "One", "conditions": ["x is missing"], "changes_result": True}],
     ["      would change the result: rule r1 (One), undecided: x is missing"]),
    ([{"rule": "r2", "title": "Two", "conditions": ["x is missing", "y is missing"], "changes_result": False}],
     ["      leaves rule r2 (Two) undecided: x is missing; y is missing"]),
    # a result made before changes_result existed (a stored JSON) reads as "not shown to"
    ([{"rule": "r3", "title": "Three", "conditions": ["x is missing"]}],
     ["      leaves rule r3 (Three) undecided: x is missing"]),
])
def test_missing_lines_of_the_text_report(undecided, lines):
    from hgl.runtime.report import _missing_lines

    m = {"input": "x", "label": "the x", "requested_by": [], "undecided": undecided}
    assert _missing_lines(m) == ["  - the x (x):"] + lines


# ---------------------------------------------------------------- the proposal, in sentences that name the options

WHICH = '''
guideline which_demo
  title "Proposal sentences demo"
  version "1.0.0"
  status draft
  source "none: a test"
  doi "none"
  panel "none"
  date 2025-01-01
  disclaimer "Test only, no clinical meaning."
end

provenance test "test only"

vocabulary drug "drug"
  drug_a "drug A (DA)"
  drug_b "drug B"
end

option opt_a systemic "Option A" drugs drug_a
option opt_b systemic "Option B" drugs drug_b
option opt_ab systemic "Option A + B" drugs drug_a, drug_b
option keep systemic "Continue the current regimen" stands for current
kind systemic "Systemic therapy"

flag has_a "An option with drug A"
flag pref_ab "A preferred option with drug A or B"
flag all_given "An option of given drugs only"
flag among "Option A or B proposed"
flag two "Two filters"
flag no_b "No option with drug B"
flag a_proposed "Option A proposed"

input a: yes/no
  label "A wanted"
input b: yes/no
  label "B wanted"
input ab: yes/no
  label "A + B wanted"
input current: systemic option or none
  label "current regimen"
  default none
input given: set of drug
  label "drugs given"
  default {}

section main "Main"
  provenance test
  rule r_a "A"
    when a
    prefer opt_a
  end
  rule r_b "B"
    when b
    alternative opt_b
  end
  rule r_ab "A + B"
    when ab
    alternative opt_ab
  end
  rule r_keep "Keep"
    when current != none
    prefer keep
  end
  rule f_has_a "Has A"
    when any proposed option containing drug_a
    flag has_a
  end
  rule f_pref "Preferred A or B"
    when any preferred option containing any of {drug_a, drug_b}
    flag pref_ab
  end
  rule f_all "All given"
    when any proposed option with all drugs in given
    flag all_given
  end
  rule f_among "Among"
    when any proposed option in {opt_a, opt_b}
    flag among
  end
  rule f_two "Two filters"
    when any proposed option containing drug_a with all drugs in given
    flag two
  end
  rule f_no_b "No B"
    when not any proposed option containing drug_b
    flag no_b
  end
  rule f_a "A proposed"
    when opt_a is proposed
    flag a_proposed
  end
end
'''
NONE = {"a": False, "b": False, "ab": False}
ALL = {"a": True, "b": True, "ab": True, "given": ["drug_a", "drug_b"]}
KEEP = {"a": False, "b": True, "ab": True, "current": "opt_a", "given": ["drug_a"]}


@pytest.fixture(scope="module")
def which_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("which") / "which.hgl"
    path.write_text(WHICH, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def which(which_path):
    return load(which_path, use_cache=False)


@pytest.mark.parametrize("case,flag,because", [
    # one option: singular; `containing` a drug by its label
    ({**NONE, "a": True}, "has_a", ["option A is proposed and contains drug A (DA)"]),
    # several: plural, in declaration order
    (ALL, "has_a", ["option A and option A + B are proposed and contain drug A (DA)"]),
    # `preferred` counts preferred options only; `containing any of` a literal set reads "a or b"
    (ALL, "pref_ab", ["option A is preferred and contains drug A (DA) or drug B"]),
    # `with all drugs in` a set the case gives: its value is shown
    (ALL, "all_given", ["option A, option B and option A + B are proposed and have all their drugs among "
                        "drugs given (drug A (DA), drug B)"]),
    ({**NONE, "a": True, "given": ["drug_a"]}, "all_given",
     ["option A is proposed and has all its drugs among drugs given (drug A (DA))"]),
    # `in` a set of options
    (ALL, "among", ["option A and option B are proposed and are among option A or option B"]),
    # two filters, both said
    (ALL, "two", ["option A and option A + B are proposed and contain drug A (DA) and have all their drugs "
                  "among drugs given (drug A (DA), drug B)"]),
    # an option that stands for an input is named with its value
    (KEEP, "has_a", ["option A + B and continue the current regimen (option A) are proposed and contain drug A (DA)"]),
    (KEEP, "pref_ab", ["continue the current regimen (option A) is preferred and contains drug A (DA) or drug B"]),
    # `not any ... option`: no option to name
    ({**NONE, "a": True}, "no_b", ["no proposed option containing drug B"]),
    (NONE, "no_b", ["no proposed option containing drug B"]),
    # `X is proposed`
    ({**NONE, "a": True}, "a_proposed", ["option A is proposed"]),
])
def test_proposal_sentences_name_the_options(which, case, flag, because):
    assert _because(which.evaluate(case), flag) == because


@pytest.mark.parametrize("case", [NONE, {**NONE, "a": True}, ALL, KEEP])
def test_proposal_sentences_compiled_and_interpreted_agree(which, which_path, case):
    ast = Guideline(interpret_file(which_path))
    assert which.evaluate(case).to_dict(receipt=False) == ast.evaluate(case).to_dict(receipt=False)


@pytest.mark.parametrize("case_id,flag,because", [
    ("P015", "ild_assessment_required",
     "trastuzumab deruxtecan (T-DXd) is preferred and contains trastuzumab deruxtecan (T-DXd)"),
    ("P047", "cardiac_assessment_required",
     "trastuzumab + pertuzumab + taxane is proposed and contains one of the HER2 antibodies and conjugates"),
    ("P010", "not_available_in_jurisdiction", "trastuzumab + pertuzumab + taxane is proposed and contains pertuzumab"),
    ("P062", "ild_assessment_required", "continue the current regimen (trastuzumab deruxtecan (T-DXd)) is preferred "
                                        "and contains trastuzumab deruxtecan (T-DXd)"),
])
def test_her2_proposal_sentences(her2_fresh, vignettes, case_id, flag, because):
    case, params = vignettes[case_id]
    assert because in _because(her2_fresh.evaluate(case, params), flag)


def test_her2_needs_data_example_names_the_proposed_options(her2_fresh):
    import yaml

    case = yaml.safe_load((ROOT / "guidelines" / "examples" / "needs_data.yaml").read_text(encoding="utf-8"))
    result = her2_fresh.evaluate(case)
    assert _because(result, "cardiac_assessment_required")[0] == (
        "trastuzumab deruxtecan (T-DXd), trastuzumab emtansine (T-DM1) and tucatinib + trastuzumab + capecitabine "
        "are proposed and contain one of the HER2 antibodies and conjugates")
    assert _because(result, "ild_assessment_required")[0] == (
        "trastuzumab deruxtecan (T-DXd) is preferred and contains trastuzumab deruxtecan (T-DXd)")
