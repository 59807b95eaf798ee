"""The command line of the runtime: `hgl run` (one case, a batch), `hgl test`, `hgl schema`."""

from __future__ import annotations

import json

import pytest
import yaml

from hgl.compiler.cli import main

from .conftest import GUIDELINE, ROOT

CHOOSER = str(ROOT / "bench" / "chooser.hgl")
FIT = {"stage": "advanced", "age_years": 60, "score": 7, "months_since_diagnosis": 3, "prior_lines": 0,
       "prior_drugs": [], "frail": False, "resectable": False}


@pytest.fixture
def case_json(tmp_path):
    def write(case, name="case.json"):
        p = tmp_path / name
        p.write_text(json.dumps(case) if name.endswith(".json") else yaml.safe_dump(case), encoding="utf-8")
        return str(p)
    return write


def test_run_text(case_json, capsys):
    assert main(["run", CHOOSER, "--case", case_json(FIT)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chooser 1.0.0: RECOMMENDATION")
    assert "Preferred:\n  - opt_a: Option A" in out
    assert "because first line" in out


def test_run_text_needs_data_lists_missing(case_json, capsys):
    assert main(["run", CHOOSER, "--case", case_json({**FIT, "months_since_diagnosis": None})]) == 0
    out = capsys.readouterr().out
    assert "NEEDS DATA" in out and "Missing data: months_since_diagnosis" in out


def test_run_yaml_and_json(case_json, capsys):
    assert main(["run", CHOOSER, "--case", case_json(FIT, "case.yaml"), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["status"] == "recommendation"
    assert set(d) >= {"guideline", "status", "options", "flags", "missing", "inconsistent", "receipt"}
    assert d["receipt"]["input"]["score"] == 7


def test_run_why_not(case_json, capsys):
    assert main(["run", CHOOSER, "--case", case_json(FIT), "--why-not", "opt_ab"]) == 0
    out = capsys.readouterr().out
    assert "Why not opt_ab:" in out and ("rule second_ab (Later line) would make it preferred, but:\n"
                                         "      a later line: no (prior lines is 0, not ≥ 1)") in out


def test_run_trace(case_json, capsys):
    assert main(["run", CHOOSER, "--case", case_json(FIT), "--format", "json", "--trace"]) == 0
    trace = json.loads(capsys.readouterr().out)["trace"]
    assert {t["rule"]: t["value"] for t in trace}["first_a"] == "true"


def test_run_param(tmp_path, capsys):
    from hgl.runtime.casefile import load_case_file, merged_case

    from .conftest import VIGNETTES

    base, cases = load_case_file(VIGNETTES)
    p = tmp_path / "case.json"
    p.write_text(json.dumps(merged_case(base, cases[0])), encoding="utf-8")
    assert main(["run", str(GUIDELINE), "--case", str(p), "--format", "json",
                 "--param", "early_relapse_policy=asco", "--param", "include_post_publication=true"]) == 0
    params = json.loads(capsys.readouterr().out)["receipt"]["parameters"]
    assert params["early_relapse_policy"] == "asco" and params["include_post_publication"] is True


@pytest.mark.parametrize("param,text", [
    ("early_relapse_polcy=asco", "did you mean 'early_relapse_policy'"),
    ("early_relapse_policy=esmo", "'esmo' is not an allowed value"),
])
def test_run_bad_param(case_json, capsys, param, text):
    assert main(["run", str(GUIDELINE), "--case", case_json({}), "--param", param]) == 2
    err = capsys.readouterr().err
    assert "invalid parameter" in err and text in err


def test_run_param_without_value(case_json):
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        main(["run", CHOOSER, "--case", case_json(FIT), "--param", "early_relapse_policy"])


def test_run_invalid_case(case_json, capsys):
    path = case_json({**FIT, "scor": 3})
    assert main(["run", CHOOSER, "--case", path]) == 2
    assert "scor: unknown field (did you mean 'score'?)" in capsys.readouterr().err
    assert main(["run", CHOOSER, "--case", path, "--format", "json"]) == 2
    assert json.loads(capsys.readouterr().out)["fields"][0]["field"] == "scor"


def test_run_batch_to_file(tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps(FIT) + "\n" + json.dumps({"frail": "no"}) + "\n"
                     + json.dumps({**FIT, "prior_lines": 1}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    # exit 1: some records were invalid (issue 15); the others still ran
    assert main(["run", CHOOSER, "--cases", str(cases), "--format", "jsonl", "-o", str(out), "--progress"]) == 1
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x.get("status", "error") for x in lines] == ["recommendation", "error", "recommendation"]
    err = capsys.readouterr().err
    assert "3 case(s), 1 invalid" in err
    assert "by status: recommendation 2" in err
    assert "by preferred option: opt_a 1, opt_ab 1" in err
    assert "3/3 cases" in err


def test_run_needs_a_case(capsys):
    assert main(["run", CHOOSER]) == 2


def test_test_command_reports_failures(tmp_path, capsys):
    cases = {"base": FIT, "cases": [
        {"id": "ok", "title": "fit", "expect": {"status": "recommendation", "preferred": ["opt_a"]}},
        {"id": "wrong", "title": "wrong on purpose", "case": {"prior_lines": 1},
         "expect": {"preferred": ["opt_a"], "status": "needs_data"}},
        {"id": "bad", "case": {"stage": "late"}, "expect": {}},
    ]}
    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump(cases), encoding="utf-8")
    assert main(["test", CHOOSER, "--cases", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {path}::wrong wrong on purpose" in out
    assert "status: expected needs_data, got recommendation" in out
    assert "preferred: expected opt_a preferred, got absent" in out
    assert f"FAIL {path}::bad" in out and "invalid case: stage" in out
    assert "::ok" not in out
    assert out.rstrip().endswith("1 passed, 2 failed")


def test_test_command_passes_on_the_vignettes(capsys):
    from .conftest import VIGNETTES

    assert main(["test", str(GUIDELINE), "--cases", str(VIGNETTES)]) == 0
    assert " 0 failed" in capsys.readouterr().out


def test_schema_command(capsys):
    assert main(["schema", CHOOSER]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$id"] == "urn:hgl:chooser:case"
    assert schema["properties"]["stage"]["enum"] == ["early", "advanced", None]
