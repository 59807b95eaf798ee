"""`hgl run` output (issue 14, CLI): CSV when asked for CSV, the format never guessed, an unknown
--why-not option named as such, a failed batch leaving no output file, the shipped sample files,
and the service's index at `/`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from hgl.compiler.cli import main
from hgl.runtime.output import OutputFormatError, batch_format

from .conftest import GUIDELINE, ROOT

CHOOSER = str(ROOT / "bench" / "chooser.hgl")
EXAMPLES = ROOT / "guidelines" / "examples"
FIT = {"stage": "advanced", "age_years": 60, "score": 7, "months_since_diagnosis": 3, "prior_lines": 0,
       "prior_drugs": [], "frail": False, "resectable": False}
HEADER = ["case", "status", "preferred", "alternative", "avoid", "flags", "missing", "inconsistent",
          "governing", "error"]


def _jsonl(tmp_path, records, name="cases.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
                    encoding="utf-8")
    return str(path)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


# ---------------------------------------------------------------- which format

FORMATS = [  # (-o, --format, the format, or the start of the error)
    (None, None, "jsonl"),
    (None, "csv", "csv"),
    ("out.jsonl", None, "jsonl"),
    ("out.ndjson", None, "jsonl"),
    ("out.csv", None, "csv"),
    ("OUT.CSV", None, "csv"),
    ("out.csv", "csv", "csv"),
    ("out.tsv", "csv", "csv"),           # an unknown name with --format: as told
    ("out", "jsonl", "jsonl"),
    ("out.txt", None, "-o out.txt: extension .txt; name the file .jsonl, .ndjson, .csv, or give --format"),
    ("results", None, "-o results: no extension"),
    ("out.json", None, "-o out.json: extension .json"),  # a .json file would not hold JSON lines
    ("out.csv", "jsonl", "-o out.csv names a csv file but --format jsonl was given"),
    ("out.jsonl", "csv", "-o out.jsonl names a jsonl file but --format csv was given"),
    ("out.jsonl", "json", "--format json is for one case (--case)"),
    (None, "text", "--format text is for one case (--case)"),
]


@pytest.mark.parametrize("output, fmt, want", FORMATS)
def test_batch_format(output, fmt, want):
    if want in ("jsonl", "csv"):
        assert batch_format(output, fmt) == want
    else:
        with pytest.raises(OutputFormatError) as err:
            batch_format(output, fmt)
        assert str(err.value).startswith(want)


# ---------------------------------------------------------------- CSV rows

CSV_CASES = [  # (records, expected rows without the header: case, status, preferred, alternative, ..., error)
    ([FIT], [["1", "recommendation", "opt_a", "", "", "", "", "", "", ""]]),
    ([{**FIT, "months_since_diagnosis": None}],
     [["1", "needs_data", "opt_a", "", "", "", "months_since_diagnosis", "", "", ""]]),  # provisional
    ([{**FIT, "frail": True}],
     [["1", "recommendation", "opt_c", "opt_b", "", "", "", "", "", ""]]),
    ([FIT, "{broken", {**FIT, "stage": "late"}, FIT],
     [["1", "recommendation", "opt_a", "", "", "", "", "", "", ""],
      ["2", "invalid_case", "", "", "", "", "", "", "",
       "line 2: (line): not valid JSON: Expecting property name enclosed in double quotes at column 2"],
      ["3", "invalid_case", "", "", "", "", "", "", "", "line 3: stage: 'late' is not an allowed value (allowed: early, advanced)"],
      ["4", "recommendation", "opt_a", "", "", "", "", "", "", ""]]),
]


@pytest.mark.parametrize("records, rows", CSV_CASES)
def test_csv_output_one_row_per_case(tmp_path, capsys, records, rows):
    out = tmp_path / "results.csv"
    rc = main(["run", CHOOSER, "--cases", _jsonl(tmp_path, records), "-o", str(out), "--no-progress"])
    assert rc == (1 if any(r[1] == "invalid_case" for r in rows) else 0)
    got = _rows(out)
    assert got[0] == HEADER
    assert [r[:len(HEADER)] for r in got[1:]] == rows
    assert out.read_bytes().count(b"\n") == len(rows) + 1 and b"\r" not in out.read_bytes()


@pytest.mark.parametrize("args", [["--format", "csv"], ["-o", "{tmp}/r.csv"], ["-o", "{tmp}/r.dat", "--format", "csv"]])
def test_csv_same_rows_to_a_file_or_standard_output(tmp_path, capsys, args):
    cases = _jsonl(tmp_path, [FIT, {**FIT, "frail": True}])
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["run", CHOOSER, "--cases", cases, "--no-progress", *args]) == 0
    text = capsys.readouterr().out if "-o" not in args else open(args[1], encoding="utf-8").read()
    assert list(csv.reader(io.StringIO(text)))[0] == HEADER
    assert [r[1:3] for r in list(csv.reader(io.StringIO(text)))[1:]] == [["recommendation", "opt_a"],
                                                                        ["recommendation", "opt_c"]]


def test_csv_of_the_shipped_cohort_matches_its_jsonl(tmp_path):
    """The CSV row of each case says what its JSON line says (HER2, the 200 shipped patients)."""
    cases = str(EXAMPLES / "her2_mbc_cohort.jsonl")
    assert main(["run", str(GUIDELINE), "--cases", cases, "-o", str(tmp_path / "r.jsonl"), "--no-progress"]) == 0
    assert main(["run", str(GUIDELINE), "--cases", cases, "-o", str(tmp_path / "r.csv"), "--no-progress"]) == 0
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = _rows(tmp_path / "r.csv")
    assert rows[0] == HEADER and len(rows) == len(records) + 1 == 201
    for i, (rec, row) in enumerate(zip(records, rows[1:]), 1):
        cell = dict(zip(HEADER, row))
        assert cell["case"] == str(i) and cell["status"] == rec["status"]
        for role in ("preferred", "alternative", "avoid"):
            assert cell[role] == ";".join(o["id"] for o in rec["options"] if o["role"] == role)
        assert cell["flags"] == ";".join(f["id"] for f in rec["flags"])
        assert cell["missing"] == ";".join(rec["missing"])
    assert {dict(zip(HEADER, r))["status"] for r in rows[1:]} == {"recommendation", "needs_data"}


def test_one_case_as_csv_and_as_one_json_line(tmp_path, capsys):
    case = tmp_path / "case.json"
    case.write_text(json.dumps(FIT), encoding="utf-8")
    assert main(["run", CHOOSER, "--case", str(case), "--format", "csv"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [
        HEADER, ["1", "recommendation", "opt_a", "", "", "", "", "", "", ""]]
    assert main(["run", CHOOSER, "--case", str(case), "--format", "jsonl"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and json.loads(out)["status"] == "recommendation"


# ---------------------------------------------------------------- refused before anything runs

REFUSED = [  # (arguments after `hgl run CHOOSER`, start of the message on standard error)
    (["--cases", "{cases}", "-o", "{tmp}/results.txt"], "hgl run: -o {tmp}/results.txt: extension .txt"),
    (["--cases", "{cases}", "-o", "{tmp}/results.csv", "--format", "jsonl"], "hgl run: -o {tmp}/results.csv names a csv"),
    (["--cases", "{cases}", "-o", "{tmp}/no/such/folder/r.csv"], "hgl run: -o {tmp}/no/such/folder/r.csv: the folder"),
    (["--cases", "{cases}", "-o", "{tmp}/r.jsonl", "--param", "nope=1"], "hgl run: invalid parameter"),
    (["--cases", "{tmp}/absent.jsonl", "-o", "{tmp}/r.jsonl"], "hgl: {tmp}/absent.jsonl: no such file"),
    (["--case", "{case}", "-o", "{tmp}/r.json"], "hgl run: -o is for a batch (--cases)"),
    (["--case", "{case}", "--why-not", "trail"], "hgl run: --why-not trail: no option 'trail' in guideline chooser "
                                                 "(did you mean 'trial'?)"),
    (["--case", "{case}", "--why-not", "opt"], "hgl run: --why-not opt: no option 'opt' in guideline chooser "
                                               "(did you mean 'opt_a'?)"),
    (["--case", "{case}", "--why-not", "zzz"], "hgl run: --why-not zzz: no option 'zzz' in guideline chooser "
                                               "(its options: opt_a, opt_b, opt_c, opt_ab, trial, surgery)"),
    # the option is checked before the case is read: an invalid case does not hide it
    (["--case", "{bad_case}", "--why-not", "surgeri"], "hgl run: --why-not surgeri: no option 'surgeri' in guideline "
                                                       "chooser (did you mean 'surgery'?)"),
    (["--cases", "{cases}", "--why-not", "opt_x"], "hgl run: --why-not opt_x: no option"),
]


@pytest.mark.parametrize("args, message", REFUSED)
def test_refused_with_a_message_and_no_output_file(tmp_path, capsys, args, message):
    case = tmp_path / "case.json"
    case.write_text(json.dumps(FIT), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**FIT, "stage": "late"}), encoding="utf-8")
    names = {"tmp": str(tmp_path), "cases": _jsonl(tmp_path, [FIT]), "case": str(case), "bad_case": str(bad)}
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["run", CHOOSER, *(a.format(**names) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(**names)), err
    assert "invalid case" not in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary file left


def test_failed_batch_keeps_the_previous_output(tmp_path, capsys, monkeypatch):
    """A batch that fails half-way leaves the previous -o as it was, and no temporary file."""
    from hgl.runtime import batch

    out = tmp_path / "results.csv"
    out.write_text("previous\n", encoding="utf-8")
    cases = _jsonl(tmp_path, [FIT] * 5)
    real = batch.evaluate_record
    calls = []

    def failing(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(*a, **kw)

    monkeypatch.setattr(batch, "evaluate_record", failing)
    with pytest.raises(OSError):
        main(["run", CHOOSER, "--cases", cases, "-o", str(out), "--no-progress", "--jobs", "1"])
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.jsonl", "results.csv"]


def test_why_not_unknown_option_in_json_mode(tmp_path, capsys):
    case = tmp_path / "case.json"
    case.write_text(json.dumps(FIT), encoding="utf-8")
    assert main(["run", CHOOSER, "--case", str(case), "--format", "json", "--why-not", "opt_a", "--why-not", "trail"]) == 2
    assert json.loads(capsys.readouterr().out) == {"error": "unknown_option", "fields": [
        {"field": "why_not", "message": "no option 'trail' in guideline chooser", "hint": "did you mean 'trial'?"}]}


def test_why_not_a_known_option_still_explains(tmp_path, capsys):
    case = tmp_path / "case.json"
    case.write_text(json.dumps(FIT), encoding="utf-8")
    assert main(["run", CHOOSER, "--case", str(case), "--why-not", "opt_b"]) == 0
    assert "Why not opt_b:" in capsys.readouterr().out


# ---------------------------------------------------------------- the shipped sample files

def test_shipped_cohort_is_what_the_generator_gives():
    sys.path.insert(0, str(ROOT / "guidelines"))
    try:
        import her2_mbc_cohort as gen
    finally:
        sys.path.remove(str(ROOT / "guidelines"))
    want = "".join(json.dumps(r) + "\n" for r in gen.records(200, seed=1, extra=False))
    assert (EXAMPLES / "her2_mbc_cohort.jsonl").read_text(encoding="utf-8") == want
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(EXAMPLES / "her2_mbc_cohort.parquet")
    full = list(gen.records(200, seed=1))
    assert table.num_rows == 200
    assert table.column("patient_id").to_pylist() == [r["patient_id"] for r in full]
    assert table.column("treatment_started").to_pylist() == [r["treatment_started"] for r in full]
    assert table.column("age_years").to_pylist() == [r.get("age_years") for r in full]


def test_previous_guideline_is_a_committed_version():
    """her2_mbc.previous.hgl is `git show <commit>:guidelines/her2_mbc.hgl` plus its comment."""
    text = (EXAMPLES / "her2_mbc.previous.hgl").read_text(encoding="utf-8")
    head, body = text.split("\n\n", 1)
    commit = head.split("committed in ", 1)[1].split()[0]
    try:
        shown = subprocess.run(["git", "show", f"{commit}:guidelines/her2_mbc.hgl"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git history here (an exported tree)")
    assert body == shown


# ---------------------------------------------------------------- the service's index

def test_service_root_lists_the_endpoints():
    import urllib.request

    from hgl.runtime import load
    from hgl.runtime.service import Running, make_app

    srv = Running(make_app([load(CHOOSER)]))
    try:
        with urllib.request.urlopen(srv.url + "/") as response:
            assert response.status == 200
            index = json.load(response)
        with urllib.request.urlopen(srv.url + "/openapi.json") as response:
            paths = json.load(response)["paths"]
    finally:
        srv.stop()
    assert index["service"] == "hgl" and [g["id"] for g in index["guidelines"]] == ["chooser"]
    listed = {(e["method"], e["path"]) for e in index["endpoints"]}
    assert {("GET", "/"), ("GET", "/openapi.json"), ("GET", "/health"), ("GET", "/cds-services"),
            ("POST", "/guidelines/chooser/evaluate")} <= listed
    assert {(m.upper(), p) for p, ops in paths.items() for m in ops} <= listed
