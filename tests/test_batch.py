"""Batch evaluation: JSON Lines and CSV in, one result per line in order, errors in place, a summary."""

from __future__ import annotations

import io
import json

import pytest

from hgl.runtime import load
from hgl.runtime.batch import run_batch

from .conftest import ROOT

CHOOSER = ROOT / "bench" / "chooser.hgl"
FIT = {"stage": "advanced", "age_years": 60, "score": 7, "months_since_diagnosis": 3, "prior_lines": 0,
       "prior_drugs": [], "frail": False, "resectable": False}


@pytest.fixture(scope="module")
def chooser():
    return load(CHOOSER)


def _run(chooser, path, **kw):
    out = io.StringIO()
    summary = run_batch(chooser, path, out, progress=kw.pop("progress", False), **kw)
    return [json.loads(line) for line in out.getvalue().splitlines()], summary


def test_jsonl_in_order_with_invalid_lines(tmp_path, chooser):
    lines = [
        json.dumps(FIT),
        json.dumps({**FIT, "stage": "late"}),  # value outside the enum
        "{not json",
        "",  # blank lines are skipped, not results
        json.dumps({**FIT, "prior_lines": 1}),
        json.dumps({**FIT, "months_since_diagnosis": None}),
        json.dumps([1, 2]),  # not an object
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results, summary = _run(chooser, path)
    assert len(results) == 6
    assert [r.get("status") for r in results] == ["recommendation", None, None, "recommendation", "needs_data", None]
    assert results[1]["error"] == "invalid_case" and results[1]["line"] == 2
    assert results[1]["fields"][0]["field"] == "stage"
    assert results[2]["line"] == 3 and "not valid JSON" in results[2]["fields"][0]["message"]
    assert results[5]["line"] == 7
    assert [o["id"] for o in results[0]["options"] if o["role"] == "preferred"] == ["opt_a"]
    assert [o["id"] for o in results[3]["options"] if o["role"] == "preferred"] == ["opt_ab"]
    assert summary == {"cases": 6, "errors": 3, "by_status": {"recommendation": 2, "needs_data": 1},
                       "by_preferred": {"opt_a": 2, "opt_ab": 1}}


def test_results_match_single_evaluation(tmp_path, chooser):
    cases = [FIT, {**FIT, "frail": True, "age_years": 80}, {**FIT, "prior_lines": 3, "prior_drugs": ["a"]}]
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    results, _ = _run(chooser, path)
    for case, got in zip(cases, results):
        want = chooser.evaluate(case).to_dict()
        want.pop("receipt")
        assert got == want


def test_csv(tmp_path, chooser):
    path = tmp_path / "cases.csv"
    path.write_text(
        "stage,age_years,score,months_since_diagnosis,prior_lines,prior_drugs,frail,resectable\n"
        "advanced,60,7,3,0,,false,false\n"          # prior_drugs empty cell: absent, takes its default
        "advanced,60,7,26 weeks,1,a;b,no,no\n"      # units and ;-separated sets
        "advanced,sixty,7,3,0,,false,false\n"       # invalid
        "advanced,60,7,null,0,[],false,false\n",    # null: missing
        encoding="utf-8")
    results, summary = _run(chooser, path)
    assert [r.get("status") for r in results] == ["recommendation", "recommendation", None, "needs_data"]
    assert results[2]["line"] == 4 and results[2]["fields"][0]["field"] == "age_years"
    assert results[3]["missing"] == ["months_since_diagnosis"]
    assert [o["id"] for o in results[1]["options"]] == ["opt_c"]  # a given: second_c
    assert summary["errors"] == 1


def test_progress_bar_on_stderr(tmp_path, chooser, capsys):
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(FIT) + "\n", encoding="utf-8")
    _run(chooser, path, progress=True)
    err = capsys.readouterr().err
    assert "1/1 cases" in err and "[" in err


def test_batch_parameters(tmp_path, her2):
    from hgl.runtime.casefile import load_case_file, merged_case

    from .conftest import VIGNETTES

    base, cases = load_case_file(VIGNETTES)
    case = merged_case(base, next(c for c in cases if c["id"] == "P006"))
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(case) + "\n", encoding="utf-8")
    out = io.StringIO()
    run_batch(her2, path, out, {"early_relapse_policy": "asco"}, progress=False)
    want = her2.evaluate(case, {"early_relapse_policy": "asco"}).to_dict()
    want.pop("receipt")
    assert json.loads(out.getvalue()) == want
