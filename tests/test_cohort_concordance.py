"""`hgl cohort --concordance`: each patient in one category, under one rule and one section; a stable page."""

from __future__ import annotations

import csv
import sys

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("matplotlib")

from hgl.runtime import load  # noqa: E402
from hgl.runtime.cohort import run_local  # noqa: E402
from hgl.runtime.columnar import write_parquet  # noqa: E402
from hgl.runtime.concordance import NO_RULE, categories, classify, write_report  # noqa: E402

from .conftest import GUIDELINE, ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "guidelines"))
from her2_mbc_cohort import records as cohort_records  # noqa: E402

OPTS = [{"id": "a", "role": "preferred", "rule": "r1"}, {"id": "b", "role": "alternative", "rule": "r2"},
        {"id": "c", "role": "avoid", "rule": "r3"}]

CLASSIFY = [
    ("preferred", ("recommendation", OPTS, "a"), ("preferred", "r1")),
    ("alternative", ("recommendation", OPTS, "b"), ("alternative", "r2")),
    ("avoided", ("recommendation", OPTS, "c"), ("avoid", "r3")),
    ("unlisted: under the first preferred option's rule", ("recommendation", OPTS, "zzz"), ("unlisted", "r1")),
    ("unlisted, nothing preferred", ("recommendation", OPTS[1:], "zzz"), ("unlisted", NO_RULE)),
    ("needs data", ("needs_data", OPTS, "a"), ("lacked_data", NO_RULE)),
    ("inconsistent data", ("inconsistent_data", [], "a"), ("lacked_data", NO_RULE)),
    ("not recorded", ("recommendation", OPTS, None), ("not_recorded", NO_RULE)),
    ("empty", ("recommendation", OPTS, ""), ("not_recorded", NO_RULE)),
    ("invalid row", (None, None, "a"), ("invalid", NO_RULE)),
]


@pytest.mark.parametrize("what, args, want", CLASSIFY, ids=[c[0] for c in CLASSIFY])
def test_classify(what, args, want):
    assert classify(*args) == want


@pytest.fixture(scope="module")
def her2():
    return load(GUIDELINE)


@pytest.fixture(scope="module")
def report(tmp_path_factory, her2):
    folder = tmp_path_factory.mktemp("cohort")
    source = folder / "cohort.parquet"
    write_parquet(her2, cohort_records(800, seed=4), source, extra=("patient_id", "treatment_started"))
    results = folder / "results.parquet"
    run_local(her2, source, results, jobs=1)
    return results, write_report(her2, results, "treatment_started", folder / "report")


def test_every_patient_counts_once_per_level(her2, report):
    _, page = report
    with open(page.parent / "concordance.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cats = categories(her2)
    assert list(rows[0])[4:] == cats
    for level in ("cohort", "section", "rule"):
        mine = [r for r in rows if r["level"] == level]
        assert sum(int(r["patients"]) for r in mine) == 800
        assert all(sum(int(r[c]) for c in cats) == int(r["patients"]) for r in mine)
    cohort = rows[0]
    assert cohort["level"] == "cohort" and int(cohort["preferred"]) > 0 and int(cohort["lacked_data"]) > 0
    sections = {s.id for s in her2.module.SECTIONS} | {NO_RULE}
    assert {r["key"] for r in rows if r["level"] == "section"} <= sections


def test_the_page_has_its_plots_and_is_stable(her2, report, tmp_path):
    results, page = report
    text = page.read_text(encoding="utf-8")
    assert text.count("<svg") == 2 and "Decision support, not a medical device" in text
    again = write_report(her2, results, "treatment_started", tmp_path / "again")
    assert again.read_text(encoding="utf-8") == text
    assert (tmp_path / "again" / "concordance.parquet").is_file()


def test_the_cli_writes_results_and_report(tmp_path, her2, capsys):
    import pyarrow.parquet as pq

    from hgl.compiler.cli import main

    source = tmp_path / "cohort.parquet"
    write_parquet(her2, cohort_records(150, seed=8), source, extra=("patient_id", "treatment_started"))
    assert main(["cohort", str(GUIDELINE), "--input", str(source), "--concordance", "treatment_started",
                 "--jobs", "1", "--explain", "short"]) == 0
    err = capsys.readouterr().err
    assert "150 patient(s), 0 invalid" in err and "concordance report:" in err
    table = pq.read_table(tmp_path / "cohort.results.parquet")
    assert table.column_names[:2] == ["patient_id", "treatment_started"] and "result" in table.column_names
    assert (tmp_path / "cohort.report" / "index.html").is_file()


def test_an_unknown_column_is_named(tmp_path, her2, report):
    results, _ = report
    with pytest.raises(SystemExit, match="no column 'given'"):
        write_report(her2, results, "given", tmp_path / "r")
