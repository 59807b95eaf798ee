"""Every core for a batch: the same bytes as one process, in order, bounded; explanation levels; pickling."""

from __future__ import annotations

import io
import json
import pickle
import sys

import pytest

from hgl.runtime import load
from hgl.runtime.batch import run_batch
from hgl.runtime.casefile import load_case_file, merged_case
from hgl.runtime.parallel import ordered_map, resolve_jobs
from hgl.runtime.records import record

from .conftest import GUIDELINE, OWN_CASES, ROOT, VIGNETTES

sys.path.insert(0, str(ROOT / "guidelines"))
from her2_mbc_cohort import records as cohort_records  # noqa: E402


def all_cases():
    """Every HER2 case: the guideline's own cases and the public vignettes, with their parameters."""
    out = []
    for path in (OWN_CASES, VIGNETTES):
        base, cases = load_case_file(path)
        out += [(f"{path.stem}::{c.get('id')}", merged_case(base, c), c.get("params") or {}) for c in cases]
    return out


CASES = all_cases()


@pytest.fixture(scope="module")
def her2():
    return load(GUIDELINE)


def _batch_file(tmp_path, n=1500):
    """Generated records, vignettes (without parameters) and invalid lines, as JSON Lines."""
    lines = [json.dumps(r) for r in cohort_records(n, seed=3, extra=False)]
    lines[10:10] = [json.dumps(c) for _, c, p in CASES if not p]
    lines[5:5] = ["{not json", "", json.dumps({"age_years": "old"}), json.dumps([1])]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(g, path, **kw):
    out = io.StringIO()
    summary = run_batch(g, path, out, progress=False, **kw)
    return out.getvalue(), summary


@pytest.mark.parametrize("explain", ["full", "none"])
def test_two_workers_write_the_same_bytes_as_one_process(tmp_path, her2, explain):
    path = _batch_file(tmp_path, 1500 if explain == "full" else 600)
    one, s1 = _run(her2, path, jobs=1, explain=explain)
    two, s2 = _run(her2, path, jobs=2, explain=explain)
    assert one == two and s1 == s2
    assert s1["errors"] == 3 and s1["cases"] == one.count("\n")


_IN_A_FRESH_PROCESS = """
import io, json, sys
import hgl.runtime.parallel as par
from hgl.runtime import load
from hgl.runtime.batch import run_batch
guideline, path, method = sys.argv[1:]
if method == "spawn":
    par.start_method = lambda fork: "spawn"
else:  # a process that has loaded only hgl has no other thread: its workers are forked
    assert par.start_method(True) == "fork" and par.start_method(False) == "spawn"
out = io.StringIO()
summary = run_batch(load(guideline), path, out, progress=False, jobs=2, explain="full")
sys.stdout.write(json.dumps(summary) + "\\n" + out.getvalue())
"""


def test_forked_workers_write_the_same_bytes_as_spawned_ones(tmp_path):
    import subprocess

    path = _batch_file(tmp_path, 1200)
    outs = [subprocess.run([sys.executable, "-c", _IN_A_FRESH_PROCESS, str(GUIDELINE), str(path), method],
                           capture_output=True, text=True, check=True, cwd=ROOT).stdout for method in ("fork", "spawn")]
    assert outs[0] == outs[1]
    summary = json.loads(outs[0].split("\n", 1)[0])
    assert summary["cases"] == 1200 + len([c for c in CASES if not c[2]]) + 3 and summary["errors"] == 3  # (a blank line is no case)


_START_METHOD = """
import sys, threading
from hgl.runtime.parallel import start_method
fork, threads = sys.argv[1] == "True", int(sys.argv[2])
stop = threading.Event()
for _ in range(threads):
    threading.Thread(target=stop.wait).start()
print(start_method(fork))
stop.set()
"""


@pytest.mark.parametrize("fork, threads, want", [
    (False, 0, "spawn"),  # not asked for: every pool but a batch's
    (True, 0, "fork"),
    (True, 1, "spawn"),  # another thread could hold a lock the child would keep locked
])
@pytest.mark.skipif(sys.platform != "linux", reason="fork is used on Linux only")
def test_start_method(fork, threads, want):
    """In a fresh process (this one may have threads of its own)."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _START_METHOD, str(fork), str(threads)], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == want


def test_csv_in_two_workers(tmp_path):
    chooser = load(ROOT / "bench" / "chooser.hgl")
    header = "stage,age_years,score,months_since_diagnosis,prior_lines,prior_drugs,frail,resectable\n"
    rows = ["advanced,60,7,3,0,,false,false", "advanced,60,7,26 weeks,1,a;b,no,no", "advanced,sixty,7,3,0,,false,false",
            "advanced,60,7,null,0,[],false,false"] * 400
    path = tmp_path / "cases.csv"
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    one, s1 = _run(chooser, path, jobs=1)
    two, s2 = _run(chooser, path, jobs=2)
    assert one == two and s1 == s2 and s1["errors"] == 400


@pytest.mark.parametrize("name, case, params", CASES, ids=[c[0] for c in CASES])
def test_explain_levels_agree_with_the_full_result(her2, name, case, params):
    result = her2.evaluate(case, params)
    full = result.to_dict(receipt=False)
    short = record(result, "short")
    # short: the full record without the words
    want = {k: v for k, v in full.items() if k != "missing_because"}
    want["options"] = [{k: v for k, v in o.items() if k not in ("because", "stands_for_label")} for o in full["options"]]
    want["flags"] = [{k: v for k, v in f.items() if k != "because"} for f in full["flags"]]
    assert short == want
    none = record(result, "none")
    assert none["options"] == [{"id": o["id"], "role": o["role"], "rule": o["rule"]} for o in full["options"]]
    assert none["flags"] == [f["id"] for f in full["flags"]]
    assert (none["status"], none["missing"], none["inconsistent"], none["governing"]) == \
        (full["status"], full["missing"], full["inconsistent"], full["governing"])
    assert none.get("violated", []) == [v["constraint"] for v in full.get("violated", [])]


def test_unknown_level_is_refused(her2):
    with pytest.raises(ValueError, match="explain must be one of"):
        record(her2.evaluate(CASES[0][1]), "brief")


def test_ordered_map_keeps_order_and_bounds_what_is_in_flight():
    taken = []

    def items():
        for i in range(400):
            taken.append(i)
            yield i

    seen = []
    for i, x in enumerate(ordered_map(abs, items(), jobs=2, window=6)):
        seen.append(x)
        assert len(taken) <= i + 1 + 6  # never more than the window read ahead of the output
    assert seen == list(range(400))


def test_ordered_map_in_process_runs_the_initializer():
    calls = []
    out = list(ordered_map(abs, [-1, -2], jobs=1, initializer=calls.append, initargs=("init",)))
    assert out == [1, 2] and calls == ["init"]


@pytest.mark.parametrize("jobs, size, want", [(3, 10, 3), (1, 10 ** 9, 1), (None, 100, 1), (0, 100, 1)])
def test_resolve_jobs(tmp_path, jobs, size, want):
    path = tmp_path / "f.jsonl"
    with open(path, "wb") as fh:
        fh.truncate(size)
    assert resolve_jobs(jobs, path) == want


def test_resolve_jobs_every_core_for_a_large_file(tmp_path):
    from hgl.runtime.parallel import SMALL_INPUT, default_jobs

    path = tmp_path / "f.jsonl"
    with open(path, "wb") as fh:
        fh.truncate(SMALL_INPUT)
    assert resolve_jobs(None, path) == default_jobs()


def test_a_guideline_pickles_by_its_module_source(her2):
    data = pickle.dumps(her2)
    assert len(data) < 2 * len(her2.module.__hgl_code__)  # the source, not a graph of objects
    again = pickle.loads(data)
    assert again.sha256 == her2.sha256 and pickle.loads(data) is again  # executed once per process
    for _, case, params in CASES[:20]:
        assert again.evaluate(case, params).to_dict() == her2.evaluate(case, params).to_dict()


def test_a_built_module_pickles_too(tmp_path, her2):
    built = tmp_path / "her2_built.py"
    built.write_text(her2.module.__hgl_code__, encoding="utf-8")
    g = load(built)
    again = pickle.loads(pickle.dumps(g))
    _, case, params = CASES[0]
    assert again.evaluate(case, params).to_dict() == g.evaluate(case, params).to_dict()


def test_cli_jobs_and_explain(tmp_path, capsys):
    from hgl.compiler.cli import main

    path = _batch_file(tmp_path, 300)
    outs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}.jsonl"
        main(["run", str(GUIDELINE), "--cases", str(path), "-o", str(out), "--jobs", jobs, "--explain", "short",
              "--no-progress"])
        outs[jobs] = out.read_text(encoding="utf-8")
    assert outs["1"] == outs["2"]
    first = json.loads(outs["1"].splitlines()[0])
    assert "because" not in json.dumps(first) and "options" in first
    n = 300 + sum(1 for _, _, p in CASES if not p) + 3  # generated, own cases and vignettes, bad lines
    assert f"{n} case(s), 3 invalid" in capsys.readouterr().err
