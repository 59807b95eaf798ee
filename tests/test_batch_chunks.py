"""Issue 13: the reading process only cuts the input into chunks; workers parse and evaluate them.

Whatever the chunk size and the number of workers, a batch writes the same bytes, the same
error records (with their line numbers), the same summary (counts in the same order) and
exits with the same code as one process reading line by line.
"""

from __future__ import annotations

import io
import json

import pytest

from hgl.compiler.cli import main
from hgl.runtime import batch, load
from hgl.runtime.batch import chunk_records, run_batch
from hgl.runtime.schema import CaseError

from .conftest import GUIDELINE, ROOT

CHOOSER = ROOT / "bench" / "chooser.hgl"
FIT = {"stage": "advanced", "age_years": 60, "score": 7, "months_since_diagnosis": 3, "prior_lines": 0,
       "prior_drugs": [], "frail": False, "resectable": False}
GOOD = json.dumps(FIT).encode()


def _reference(path):
    """The records as the line-by-line reader read them (before chunks): the contract."""
    out = []
    with open(path, "rb") as fh:
        for i, line in batch._lines(fh):
            if isinstance(line, CaseError):
                out.append((i, line))
            elif line.strip():
                try:
                    out.append((i, json.loads(line)))
                except json.JSONDecodeError as err:
                    out.append(batch._line_error(i, f"not valid JSON: {err.msg} at column {err.colno}"))
                except RecursionError:
                    out.append(batch._line_error(i, "not valid JSON: nested too deeply"))
    return out


def _plain(records):
    return [(i, r.errors if isinstance(r, CaseError) else r) for i, r in records]


# (name, bytes of the file); MAX_LINE_BYTES is 40 in this table
READING = [
    ("good lines", GOOD[:30] + b"\n" + b'{"a": 1}\n' * 5),
    ("no final newline", b'{"a": 1}\n{"b": 2}'),
    ("blank and whitespace lines", b'\n  \n{"a": 1}\n\t\r\n\n{"b": 2}\n\n'),
    ("CRLF", b'{"a": 1}\r\n{"b": [1, 2]}\r\n'),
    ("byte order mark", b'\xef\xbb\xbf{"a": 1}\n\xef\xbb\xbf{"b": 2}\n'),
    ("invalid JSON, error at the end of the line", b'{"a":\n{not json}\n[1,\n{"a": 1}\n'),
    ("invalid JSON without a final newline", b'{"a": 1}\n{"a":'),
    ("invalid UTF-8", b'{"a": "\xff\xfe"}\n{"a": "\xe2\x82"}\n{"a": 1}\n'),
    ("line of exactly the limit", b"[" + b"1," * 19 + b"]\n" + b"[" + b"1," * 19 + b"1]\n{}\n"),
    ("lines longer than the limit", b'{"a": 1}\n' + b"[" + b"1," * 60 + b"1]\n" + b'{"b": 2}\n' + b"x" * 200),
    ("a long line at the very start, no newline", b"y" * 41),
    ("separator characters in strings", '{"a": "x\u2028y\x85z"}\n{"b": 1}\n'.encode()),
    ("nested too deeply", b"[" * 50 + b"]" * 50 + b"\n" + b"[" * 100000 + b"\n{}\n"),
    ("empty file", b""),
    ("only newlines", b"\n\n\n"),
]


@pytest.mark.parametrize("size", [1, 3, 16, 41, 1 << 17])
@pytest.mark.parametrize("name, data", READING, ids=[r[0] for r in READING])
def test_chunks_read_what_the_line_reader_reads(tmp_path, monkeypatch, name, data, size):
    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 40)
    path = tmp_path / "cases.jsonl"
    path.write_bytes(data)
    chunks = list(batch._jsonl_chunks(path, size=size))
    got = [r for chunk in chunks for r in chunk_records(chunk)]
    assert _plain(got) == _plain(_reference(path))
    if size > 40:  # a chunk holds whole lines: at most size + one line more
        assert all(len(c[2]) <= size + 41 for c in chunks)


def _lines(*items) -> bytes:
    return b"\n".join(i if isinstance(i, bytes) else json.dumps(i).encode() for i in items) + b"\n"


BAD = [  # (name, guideline, file bytes, explain)
    ("bad lines", CHOOSER, _lines(FIT, b"{not json", b"", {**FIT, "age_years": "old"}, {**FIT, "stage": "late"},
                                  {**FIT, "colour": "red"}, [1, 2], b"   ", {**FIT, "prior_lines": 1},
                                  {**FIT, "months_since_diagnosis": None}, b'{"stage": "\xff"}', FIT) * 40, "full"),
    ("lone surrogate in an error", CHOOSER, _lines(FIT, b'{"stage": "\\ud800"}', FIT) * 30, "full"),
    ("explain none", CHOOSER, _lines(FIT, {**FIT, "frail": True, "age_years": 80}, b"[", FIT) * 60, "none"),
    ("explain short, no final newline", CHOOSER, _lines(FIT, {**FIT, "prior_lines": 3, "prior_drugs": ["a"]}) * 50
     + GOOD, "short"),
    ("HER2 realistic", GUIDELINE, None, "full"),
]


def _her2_lines() -> bytes:
    import sys

    sys.path.insert(0, str(ROOT / "guidelines"))
    from her2_mbc_cohort import records

    return _lines(*records(300, seed=5, extra=False), b"{}", b'{"her2_status_primary": 3}')


@pytest.mark.parametrize("name, guideline, data, explain", BAD, ids=[b[0] for b in BAD])
def test_two_workers_write_the_bytes_of_one_process(tmp_path, monkeypatch, capsys, name, guideline, data, explain):
    monkeypatch.setattr(batch, "CHUNK_BYTES", 700)  # many chunks: every worker gets some
    path = tmp_path / "cases.jsonl"
    path.write_bytes(data if data is not None else _her2_lines())
    outs, codes, summaries = [], [], []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}.jsonl"
        codes.append(main(["run", str(guideline), "--cases", str(path), "-o", str(out), "--no-progress",
                           "--jobs", jobs, "--explain", explain]))
        outs.append(out.read_bytes())
        summaries.append(capsys.readouterr().err)
    assert outs[0] == outs[1] and codes[0] == codes[1] and summaries[0] == summaries[1]
    assert outs[0].count(b"\n") > 40


def _summary_items(s):
    return [(k, list(v.items()) if isinstance(v, dict) else v) for k, v in s.items()]


def test_summary_counts_in_the_same_order(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "CHUNK_BYTES", 500)
    chooser = load(CHOOSER)
    cases = [FIT, {**FIT, "prior_lines": 1}, {**FIT, "months_since_diagnosis": None}, {**FIT, "frail": True},
             {**FIT, "prior_lines": 3, "prior_drugs": ["a"]}]
    path = tmp_path / "cases.jsonl"
    path.write_bytes(_lines(*(cases[i % 5] for i in range(7, 400))))
    got = []
    for jobs in (1, 2):
        out = io.StringIO()
        summary = _summary_items(run_batch(chooser, path, out, progress=False, jobs=jobs))
        got.append((out.getvalue(), summary))
    assert got[0] == got[1]


CSV_HEAD = "stage,age_years,score,months_since_diagnosis,prior_lines,prior_drugs,frail,resectable\n"
CSV = [  # (name, text)
    ("rows and bad rows", CSV_HEAD + ("advanced,60,7,3,0,,false,false\n" "advanced,60,7,26 weeks,1,a;b,no,no\n"
                                      "advanced,sixty,7,3,0,,false,false\n" "advanced,60,7,null,0,[],false,false\n"
                                      "advanced,60,7,3,0,,false,false,EXTRA\n" "\n") * 60),
    ("quoted cells across lines", CSV_HEAD + ('advanced,60,7,3,0,"a;\nb",false,false\n'
                                              '"adv\nanced",60,7,3,0,,false,false\n'
                                              'advanced,60,7,3,0,,"fal""se",false\n') * 80),
    ("blank lines before the header", "\n\n" + CSV_HEAD + "advanced,60,7,3,0,,false,false\n" * 300),
]


@pytest.mark.parametrize("name, text", CSV, ids=[c[0] for c in CSV])
def test_csv_in_two_workers_writes_the_bytes_of_one_process(tmp_path, monkeypatch, name, text):
    monkeypatch.setattr(batch, "CSV_ROWS", 7)
    chooser = load(CHOOSER)
    path = tmp_path / "cases.csv"
    path.write_text(text, encoding="utf-8")
    got = []
    for jobs in (1, 2):
        out = io.StringIO()
        summary = _summary_items(run_batch(chooser, path, out, progress=False, jobs=jobs))
        got.append((out.getvalue(), summary))
    assert got[0] == got[1] and got[0][0].count("\n") >= 240


def test_a_file_of_one_chunk_runs_in_this_process(tmp_path, monkeypatch):
    def no_workers(*a, **kw):
        raise AssertionError("workers started for one chunk")

    monkeypatch.setattr(batch, "batch_results", no_workers)
    path = tmp_path / "cases.jsonl"
    path.write_bytes(_lines(FIT, FIT))
    out = io.StringIO()
    assert run_batch(load(CHOOSER), path, out, progress=False, jobs=2)["cases"] == 2


def test_the_progress_bar_counts_every_case(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(batch, "CHUNK_BYTES", 300)
    path = tmp_path / "cases.jsonl"
    path.write_bytes(_lines(*[FIT] * 50))
    run_batch(load(CHOOSER), path, io.StringIO(), progress=True, jobs=1)
    assert "50/50 cases" in capsys.readouterr().err


COHORT = [  # (name, explain, batch size: None = hgl.runtime.cohort.batch_rows)
    ("explain none, small batches", "none", 37),
    ("explain full, small batches", "full", 64),
    ("explain short, default batches", "short", None),
]


@pytest.mark.parametrize("name, explain, size", COHORT, ids=[c[0] for c in COHORT])
def test_a_parquet_cohort_in_two_workers_is_the_file_of_one_process(tmp_path, name, explain, size):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import sys

    from hgl.runtime.cohort import run_local
    from hgl.runtime.columnar import GIVEN, table_from_records

    sys.path.insert(0, str(ROOT / "guidelines"))
    from her2_mbc_cohort import records

    her2 = load(GUIDELINE)
    table = table_from_records(her2, records(600, seed=11), extra=("patient_id", "treatment_started"))
    # invalid rows: a value where the mask says not given
    name_given = next(n for n in table.schema.names if n.endswith(GIVEN)
                      and any(v is not None for v in table.column(n[: -len(GIVEN)]).to_pylist()))
    mask = table.column(name_given).to_pylist()
    base = name_given[: -len(GIVEN)]
    values = table.column(base).to_pylist()
    fill = next(v for v in values if v is not None)
    for i in range(5, 600, 97):
        mask[i], values[i] = False, fill
    table = table.set_column(table.schema.get_field_index(name_given), name_given, pa.array(mask, pa.bool_()))
    table = table.set_column(table.schema.get_field_index(base), base, pa.array(values, table.schema.field(base).type))
    source = tmp_path / "cohort.parquet"
    pq.write_table(table, source, row_group_size=250)
    files, summaries = [], []
    for jobs in (1, 2):
        out = tmp_path / f"results{jobs}.parquet"
        summaries.append(run_local(her2, source, out, explain=explain, jobs=jobs, batch_size=size))
        files.append(out.read_bytes())
    assert files[0] == files[1] and summaries[0] == summaries[1]
    assert summaries[0]["cases"] == 600 and summaries[0]["errors"] >= 6



@pytest.mark.parametrize("total, want", [(0, 1 << 17), (1 << 20, 1 << 17), (20 << 20, (20 << 20) // 64),
                                         (100 << 20, 1 << 19)])
def test_chunk_bytes(total, want):
    assert batch.chunk_bytes(total) == want


@pytest.mark.parametrize("rows, want", [(10, 256), (8192, 256), (20000, 625), (100_000, 3125), (10 ** 7, 4096)])
def test_cohort_batch_rows(rows, want):
    from hgl.runtime.cohort import batch_rows

    assert batch_rows(rows) == want


@pytest.mark.parametrize("jobs, rows, want", [(None, 600, 1), (2, 600, 2), (None, 9000, "every core")])
def test_cohort_jobs_for_a_small_file(tmp_path, monkeypatch, jobs, rows, want):
    pytest.importorskip("pyarrow")
    import sys

    from hgl.runtime import parallel
    from hgl.runtime.cohort import run_local
    from hgl.runtime.columnar import write_parquet

    sys.path.insert(0, str(ROOT / "guidelines"))
    from her2_mbc_cohort import records

    her2 = load(GUIDELINE)
    source = tmp_path / "cohort.parquet"
    write_parquet(her2, records(rows, seed=2), source, extra=("patient_id", "treatment_started"))
    used = []

    def spy(fn, items, jobs, *a, **kw):
        used.append(jobs)
        return iter(())

    monkeypatch.setattr(parallel, "ordered_map", spy)
    run_local(her2, source, tmp_path / "out.parquet", jobs=jobs)
    assert used == [parallel.default_jobs() if want == "every core" else want]
