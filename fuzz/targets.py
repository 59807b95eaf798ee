"""Fuzz targets (issue 15): compiling any text, and evaluating any case, ends in a result or a diagnostic.

Two targets, each a function of raw bytes, so both engines drive them the same way:

- `compile_target(data)`: the bytes as a `.hgl` text (UTF-8, undecodable bytes replaced);
  compiling may only give diagnostics (never an InternalError, a hang or a RecursionError),
  and a text that compiles must load and evaluate an empty case.
- `case_target(data)`: the bytes as one JSONL record (and as a CSV file) evaluated against
  the chooser guideline through the batch reader; every record gives a result or an error
  record, and the output line is valid JSON.

`python fuzz/run.py` runs them: coverage-guided by atheris (libFuzzer) when it is installed
(`pip install -e '.[fuzz]'`), otherwise by hypothesis, mutating the corpus in fuzz/corpus.
"""

from __future__ import annotations

import io
import json
import tempfile
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "corpus"
CHOOSER = ROOT / "bench" / "chooser.hgl"


def compile_target(data: bytes) -> None:
    from hgl.compiler.front.source import Source
    from hgl.compiler.pipeline import compile_source
    from hgl.runtime import CaseError
    from hgl.runtime.api import Guideline, load_module_source

    text = data.decode("utf-8", "replace")
    result = compile_source(Source("fuzz.hgl", text))  # an InternalError propagates: a finding
    lines = max(1, len(text.split("\n")))
    for d in result.diagnostics:
        assert d.code.startswith("HGL") and d.message, d
        assert d.span.line == 0 or 1 <= d.span.line <= lines, d
    if result.ok:
        g = Guideline(load_module_source(result.code, "hgl_fuzz"))
        try:
            json.dumps(g.evaluate({}).to_dict())
        except CaseError:
            pass


@lru_cache(maxsize=1)
def _chooser():
    from hgl.runtime import load

    return load(CHOOSER, use_cache=False)


def case_target(data: bytes) -> None:
    from hgl.runtime.batch import run_batch

    g = _chooser()
    with tempfile.TemporaryDirectory() as tmp:
        for name, payload in (("c.jsonl", data), ("c.csv", CSV_HEAD + data)):
            path = Path(tmp) / name
            path.write_bytes(payload)
            out = io.StringIO()
            summary = run_batch(g, path, out, progress=False)  # any other exception is a finding
            lines = out.getvalue().splitlines()
            assert len(lines) == summary["cases"]
            for line in lines:
                record = json.loads(line)
                assert "error" in record or "status" in record


CSV_HEAD = b"stage,age_years,score,months_since_diagnosis,prior_lines,prior_drugs,frail,resectable\n"
TARGETS = {"compile": compile_target, "cases": case_target}


def corpus(name: str) -> list[bytes]:
    """The seeds of a target: each file of fuzz/corpus/<name>, and each line of a .jsonl there."""
    seeds = []
    for p in sorted((CORPUS / name).iterdir()):
        data = p.read_bytes()
        seeds += data.splitlines() if p.suffix == ".jsonl" else [data]
    return seeds
