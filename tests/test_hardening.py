"""Issue 15: no record, file or cache entry can break a batch, exhaust memory or run code.

One row per defect of the issue: each reproduces the defect and passes now.  The rows share
nothing but the chooser guideline; each works in its own cache directory.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hgl.compiler.cli import main
from hgl.compiler.front import parser
from hgl.compiler.front.diagnostics import render_all
from hgl.compiler.front.source import Source
from hgl.compiler.pipeline import check_source, compile_source
from hgl.runtime import CaseError, api, batch, cache, load
from hgl.runtime.api import Guideline, load_module_source
from hgl.runtime.casefile import CaseFileError, load_case
from hgl.runtime.schema import MAX_TEXT, suggest

from .conftest import ROOT

CHOOSER = ROOT / "bench" / "chooser.hgl"
SMALL = ROOT / "tests" / "data" / "small.hgl"
FIT = {"stage": "advanced", "age_years": 60, "score": 7, "months_since_diagnosis": 3, "prior_lines": 0,
       "prior_drugs": [], "frail": False, "resectable": False}


class Ctx:
    """What a row gets: a private cache, a scratch folder, stderr."""

    def __init__(self, tmp_path, monkeypatch, capsys):
        self.tmp, self.mp, self.capsys = tmp_path, monkeypatch, capsys
        monkeypatch.setenv("HGL_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setattr(api, "_loaded", {})
        monkeypatch.setattr(cache, "_warned", set())

    def file(self, name, data) -> Path:
        p = self.tmp / name
        (p.write_bytes if isinstance(data, bytes) else lambda t: p.write_text(t, encoding="utf-8"))(data)
        return p

    def batch(self, name, data):
        out = io.StringIO()
        summary = batch.run_batch(load(CHOOSER), self.file(name, data), out, progress=False)
        return [json.loads(x) for x in out.getvalue().splitlines()], summary

    def err(self) -> str:
        return self.capsys.readouterr().err


def _fields(record):
    return [(f["field"], f["message"]) for f in record["fields"]]


# ---------------------------------------------------------------- one bad record aborts the batch

def lone_surrogate_in_jsonl(c: Ctx):
    good = json.dumps(FIT)
    rows, summary = c.batch("s.jsonl", good + "\n" + '{"stage": "\\ud800"}\n' + good + "\n")
    assert [r.get("status", "error") for r in rows] == ["recommendation", "error", "recommendation"]
    assert rows[1]["line"] == 2 and summary["errors"] == 1
    # through the CLI, to a real UTF-8 file: no UnicodeEncodeError, exit 1 (some records failed)
    out = c.tmp / "out.jsonl"
    assert main(["run", str(CHOOSER), "--cases", str(c.tmp / "s.jsonl"), "-o", str(out), "--no-progress"]) == 1
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def csv_row_with_extra_cell(c: Ctx):
    head = "stage,age_years,score,months_since_diagnosis,prior_lines,prior_drugs,frail,resectable\n"
    rows, summary = c.batch("x.csv", head + "advanced,60,7,3,0,,false,false,EXTRA\nadvanced,60,7,3,0,,false,false\n")
    assert rows[0]["line"] == 2 and "9 cells, but the header has 8" in rows[0]["fields"][0]["message"]
    assert rows[1]["status"] == "recommendation" and summary["errors"] == 1


def invalid_utf8(c: Ctx):
    good = json.dumps(FIT).encode()
    rows, _ = c.batch("u.jsonl", good + b"\n" + b'{"stage": "\xff\xfe"}\n' + good + b"\n")
    assert [r.get("status", "error") for r in rows] == ["recommendation", "error", "recommendation"]
    assert "not valid UTF-8" in rows[1]["fields"][0]["message"]
    head = b"stage,age_years,score,months_since_diagnosis,prior_lines,prior_drugs,frail,resectable\n"
    rows, _ = c.batch("u.csv", head + b"adv\xc3nced,60,7,3,0,,false,false\nadvanced,60,7,3,0,,false,false\n")
    assert [r.get("line") for r in rows] == [2, None] and rows[1]["status"] == "recommendation"


def summary_counts_and_exit_status(c: Ctx):
    path = c.file("m.jsonl", json.dumps(FIT) + "\n{broken\n")
    assert main(["run", str(CHOOSER), "--cases", str(path), "-o", str(c.tmp / "o.jsonl"), "--no-progress"]) == 1
    assert "2 case(s), 1 invalid" in c.err()


# ---------------------------------------------------------------- memory

def billion_laughs_yaml(c: Ctx):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = c.file("laughs.yaml", "\n".join(lines) + "\n")
    assert len(path.read_bytes()) < 700
    start = time.process_time()
    with pytest.raises(CaseFileError, match="aliases are expanded"):
        load_case(path)
    assert main(["run", str(CHOOSER), "--case", str(path)]) == 2
    assert time.process_time() - start < 5  # generous: it is refused before anything is built
    assert "aliases are expanded" in c.err()


def long_string_in_enum_field(c: Ctx):
    big = "x" * 4_000_000
    with pytest.raises(CaseError) as info:
        load(CHOOSER).evaluate({**FIT, "stage": big})
    assert info.value.errors[0]["field"] == "stage" and "longer than" in info.value.errors[0]["message"]
    assert len(str(info.value)) < 1000  # the value is not echoed back
    assert suggest("early" + "x" * MAX_TEXT, ["early"]) is None  # no suggestion work on a long word
    with pytest.raises(CaseError) as info:  # a long field name: cut in the error, no suggestion
        load(CHOOSER).evaluate({**FIT, "s" * 1_000_000: 1})
    assert len(info.value.errors[0]["field"]) <= MAX_TEXT + 1


def jsonl_line_too_long(c: Ctx):
    c.mp.setattr(batch, "MAX_LINE_BYTES", 1000)
    rows, summary = c.batch("l.jsonl", json.dumps({**FIT, "stage": "y" * 5000}) + "\n" + json.dumps(FIT) + "\n")
    assert rows[0] == {"line": 1, "error": "invalid_case",
                       "fields": [{"field": "(line)", "message": "line longer than 1000 bytes: not read"}]}
    assert rows[1]["status"] == "recommendation"
    head = "stage,age_years,score,months_since_diagnosis,prior_lines,prior_drugs,frail,resectable\n"
    rows, _ = c.batch("l.csv", head + "advanced," + "9" * 5000 + ",7,3,0,,false,false\nadvanced,60,7,3,0,,false,false\n")
    assert rows[0]["line"] == 2 and "longer than 1000" in rows[0]["fields"][0]["message"]
    assert rows[1]["status"] == "recommendation"


# ---------------------------------------------------------------- output

def output_equal_to_input(c: Ctx):
    path = c.file("same.jsonl", json.dumps(FIT) + "\n")
    before = path.read_bytes()
    assert main(["run", str(CHOOSER), "--cases", str(path), "-o", str(path), "--no-progress"]) == 2
    assert path.read_bytes() == before and "refusing to overwrite" in c.err()
    link = c.tmp / "link.jsonl"
    link.symlink_to(path)
    assert main(["run", str(CHOOSER), "--cases", str(path), "-o", str(link), "--no-progress"]) == 2
    assert main(["run", str(CHOOSER), "--cases", str(path), "-o", str(CHOOSER), "--no-progress"]) == 2
    assert path.read_bytes() == before


def output_is_atomic(c: Ctx):
    cases = c.file("a.jsonl", (json.dumps(FIT) + "\n") * 3)
    out = c.file("out.jsonl", "previous results\n")
    g = load(CHOOSER)
    calls = []

    def dies(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed mid-run
        return Guideline.evaluate(g, *a, **k)

    c.mp.setattr(g, "evaluate", dies)
    with pytest.raises(KeyboardInterrupt):
        with batch.output_file(out, (cases,)) as fh:
            batch.run_batch(g, cases, fh, progress=False)
    assert out.read_text(encoding="utf-8") == "previous results\n"
    assert [p.name for p in c.tmp.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------- numbers

def infinite_after_conversion(c: Ctx):
    for value in (1e308, 2.0**52, 2**52):  # finite in years, too large (or infinite) in months: checked after
        with pytest.raises(CaseError, match="months_since_diagnosis: (expected a finite number|number too large)"):
            load(CHOOSER).evaluate({**FIT, "months_since_diagnosis": {"value": value, "unit": "years"}})
    with pytest.raises(CaseError, match="months_since_diagnosis: expected a finite number"):
        load(CHOOSER).evaluate({**FIT, "months_since_diagnosis": float("inf")})


def big_integer_quantity(c: Ctx):
    for value in ({"value": 10**400, "unit": "years"}, 10**400, "1" * 400 + " months", "1" * 100 + " months"):
        with pytest.raises(CaseError, match="months_since_diagnosis: (number too large|text longer than)"):
            load(CHOOSER).evaluate({**FIT, "months_since_diagnosis": value})
    with pytest.raises(CaseError, match="prior_lines: number too large"):
        load(CHOOSER).evaluate({**FIT, "prior_lines": 10**30})


def huge_digit_string(c: Ctx):
    for text in ("9" * 4300 + " months", "9" * 5000):
        with pytest.raises(CaseError) as info:
            load(CHOOSER).evaluate({**FIT, "months_since_diagnosis": text})
        assert info.value.errors[0]["field"] == "months_since_diagnosis"
    head = "stage,age_years,score,months_since_diagnosis,prior_lines,prior_drugs,frail,resectable\n"
    rows, _ = c.batch("d.csv", head + "advanced,60,7," + "9" * 5000 + ",0,,false,false\n")
    assert rows[0]["fields"][0]["field"] == "months_since_diagnosis"
    path = c.file("d.json", '{"prior_lines": ' + "9" * 5000 + "}")
    assert main(["run", str(CHOOSER), "--case", str(path)]) == 2  # a clean error, not a traceback


# ---------------------------------------------------------------- the compile cache

def planted_module_is_not_executed(c: Ctx):
    digest = Source("x", CHOOSER.read_text(encoding="utf-8")).sha256
    marker = c.tmp / "pwned"
    planted = api.cache_path(digest)
    planted.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    planted.write_text(f"open({str(marker)!r}, 'w').write('x')\n# source sha256 {digest}\n"
                       f"# end of the module compiled from sha256 {digest}\n", encoding="utf-8")
    g = load(CHOOSER)
    assert not marker.exists() and g.evaluate(FIT).preferred == ["opt_a"]
    assert planted.with_name(planted.name + ".rejected").exists()  # the evidence is kept
    assert "not signed by your hgl" in c.err()


def planted_grammar_cache_is_not_unpickled(c: Ctx):
    import inspect

    assert "pickle" not in inspect.getsource(parser._lark) and "cache=" not in inspect.getsource(parser._lark)
    parser._lark.cache_clear()
    try:
        parser._lark()  # writes the JSON tables
        path = parser._cache_file(parser.grammar_text())
        assert path.suffix == ".json" and cache.read_signed(path) is not None
        path.write_bytes(b"\x80\x04cos\nsystem\n...")  # anything planted: refused, never read as tables
        parser._lark.cache_clear()
        assert check_source(Source("g.hgl", SMALL.read_text(encoding="utf-8"))).ok
        assert "not signed by your hgl" in c.err()
    finally:
        parser._lark.cache_clear()


def edited_module_keeps_true_hash(c: Ctx):
    g = load(CHOOSER)
    path = api.cache_path(g.sha256)
    text = path.read_text(encoding="utf-8")
    assert "'opt_a'" in text
    path.write_text(text.replace("'opt_a'", "'opt_b'", 1), encoding="utf-8")  # a recommendation changed
    c.mp.setattr(api, "_loaded", {})
    again = load(CHOOSER)
    assert again.evaluate(FIT).to_dict() == g.evaluate(FIT).to_dict()
    assert again.evaluate(FIT).receipt["guideline"]["sha256"] == Source("x", CHOOSER.read_text("utf-8")).sha256


def receipt_hash_checked_against_module(c: Ctx):
    code = compile_source(Source("chooser.hgl", CHOOSER.read_text(encoding="utf-8"))).code
    c.mp.setattr(api, "_compile", lambda path, text: code)  # a module that answers for another source
    with pytest.raises(RuntimeError, match="claims source sha256"):
        load(c.file("other.hgl", CHOOSER.read_text(encoding="utf-8") + "\n# changed\n"))


def planted_verification_findings(c: Ctx):
    from hgl.compiler.docs import site
    from hgl.compiler.pipeline import compile_source as cs

    result = cs(Source("chooser.hgl", CHOOSER.read_text(encoding="utf-8")))
    import hgl.compiler.verify.search as vs

    path = site._verification_cache(result, vs)
    assert path is not None and path.parent.name == "verify"
    fake = {"available": True, "reason": "", "findings": [{"code": "HGL501", "message": "planted"}], "seconds": 0}
    path.write_text(json.dumps({"key": path.stem, "findings": fake}), encoding="utf-8")
    c.mp.setattr(vs, "verify", lambda r: [])  # the recompute: no finding
    assert site.run_verification(result)["findings"] == []
    assert "not signed by your hgl" in c.err()
    assert site.run_verification(result)["findings"] == []  # now from the (signed) cache


def shared_cache_dir_refused(c: Ctx):
    folder = c.tmp / "cache"
    folder.mkdir()
    os.chmod(folder, 0o777)
    g = load(CHOOSER)
    assert g.evaluate(FIT).preferred == ["opt_a"]  # compiled in memory
    assert list(folder.iterdir()) == [] and "writable by others" in c.err()
    os.chmod(folder, 0o700)
    c.mp.setattr(api, "_loaded", {})
    load(CHOOSER)
    assert (folder / "key").stat().st_mode & 0o777 == 0o600 and list(folder.glob("*.py.signed"))


# ---------------------------------------------------------------- nesting

SHAPES = {  # an expression nested `d` deep (parser.MAX_EXPR_DEPTH) in each way the grammar allows
    "if_then": lambda d: "if fit then " * d + "true" + " else false" * d,
    "if_else": lambda d: "if fit then false else " * d + "true",
    "else_if": lambda d: "if fit then false " + "else if fit then false " * (d - 1) + "else true",
    "not": lambda d: "not " * d + "fit",
    "and_or": lambda d: "(fit and (" * d + "fit" + "))" * d,
    "sum": lambda d: "age" + " + 1 years" * (d - 1) + " > 3 years",
    "sum_right": lambda d: "(1 years + " * (d - 1) + "age" + ")" * (d - 1) + " > 3 years",
    "if_number": lambda d: "(" + "if fit then " * (d - 1) + "age" + " else 1 years" * (d - 1) + ") > 3 years",
}


def _with(expr: str) -> str:
    text = SMALL.read_text(encoding="utf-8")
    return text.replace('define older "older" = age >= 70 years',
                        f'define older "older" = age >= 70 years\ndefine deep "deep" = {expr}\n'
                        'constraint c_deep "deep" when deep and not fit')


def nesting_checks_and_runs_at_the_limit(c: Ctx):
    for name, shape in SHAPES.items():
        result = compile_source(Source("deep.hgl", _with(shape(parser.MAX_EXPR_DEPTH))))
        assert result.ok, (name, result.errors)
        g = Guideline(load_module_source(result.code, f"deep_{name}"))
        assert g.evaluate({"age": 50, "size": 10, "status": "positive", "months_since": 1}).status, name
        beyond = check_source(Source("deep.hgl", _with(shape(parser.MAX_EXPR_DEPTH + 1))))
        assert [d.code for d in beyond.diagnostics] == ["HGL100"], name
        assert beyond.diagnostics[0].span.line > 1, name  # with its position
    cond = "if " * parser.MAX_COND_IF + "fit" + " then true else false" * parser.MAX_COND_IF
    assert compile_source(Source("c.hgl", _with(cond))).ok
    beyond = check_source(Source("c.hgl", _with("if " + cond + " then true else false")))
    assert [d.code for d in beyond.diagnostics] == ["HGL100"]


def nesting_200_is_hgl100_not_a_crash(c: Ctx):
    for text in ("if fit then " * 200 + "true" + " else false" * 200, "(fit and (" * 1000 + "fit" + "))" * 1000,
                 "not " * 5000 + "fit", "(" * 3000 + "fit" + ")" * 3000 + " and " + "not " * 300 + "fit"):
        result = check_source(Source("deep.hgl", _with(text)))  # no InternalError (exit 3)
        assert [d.code for d in result.diagnostics] == ["HGL100"]
        assert result.diagnostics[0].span.line > 1
    path = c.file("deep.hgl", _with("if fit then " * 200 + "true" + " else false" * 200))
    assert main(["check", str(path)]) == 1 and main(["run", str(path), "--case", str(c.file("c.json", "{}"))]) == 1


def nested_if_blocks(c: Ctx):
    rule = "  rule r_deep\n    when fit\n" + "    if fit then\n" * 40 + "    flag discuss\n" + "    end\n" * 40 + "  end\n"
    text = SMALL.read_text(encoding="utf-8").replace("section main \"Main section\"\n",
                                                     "section main \"Main section\"\n" + rule, 1)
    result = check_source(Source("blocks.hgl", text))
    assert [d.code for d in result.errors] == ["HGL100"] and "'if' blocks nest" in result.errors[0].message


# ---------------------------------------------------------------- excerpts and case files

def escape_codes_in_excerpt(c: Ctx):
    source = Source("e\x1b[2Jvil.hgl", "define x = \x1b[31mred\x07 §\n")
    out = render_all(source, check_source(source).diagnostics)
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[31m" in out and "e\\x1b[2Jvil.hgl" in out
    line, caret = [x for x in out.splitlines() if x.startswith(("1 |", "  |"))][-2:]
    assert line.index("\\x1b") == caret.index("^")  # the caret under the escaped character


def malformed_case_files(c: Ctx):
    for name, data in (("bad.yaml", "a: [1, 2\n"), ("bad.json", "{nope"), ("bad2.yaml", b"\xff\xfe"),
                       ("deep.json", "[" * 100_000 + "]" * 100_000), ("deep.yaml", "[" * 5000 + "]" * 5000)):
        path = c.file(name, data)
        assert main(["run", str(CHOOSER), "--case", str(path)]) == 2, name
        assert "hgl run:" in c.err()
    cases = c.file("cases.yaml", "cases: [1, 2")
    assert main(["test", str(CHOOSER), "--cases", str(cases)]) == 2 and "not valid YAML" in c.err()


def layout_of_long_words_deep_in_a_document(c: Ctx):
    """compiler/python/layout.py `_chunks` never ends (and fills memory) when a long text is laid out deeper
    than the page width: `if` expressions 7 deep around a test whose explanation has long words.  Run in a
    subprocess with 2 GB of memory and a timeout; fixed by `size = max(size, 20)` in `_chunks`."""
    for expr in ("if fit then " * 7 + "(drug_a in received)" + " else false" * 7,
                 "if fit then " * 7 + "(if fit then age else 3 years) > 3 years" + " else false" * 7):
        code = ("import sys, resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
                "from hgl.compiler.pipeline import compile_source; from hgl.compiler.front.source import Source; "
                f"sys.exit(0 if compile_source(Source('d.hgl', {_with(expr)!r})).ok else 1)")
        try:
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60, check=True, capture_output=True)
        except subprocess.TimeoutExpired:
            pytest.fail("compiling did not end")


DEFECTS = [
    lone_surrogate_in_jsonl, csv_row_with_extra_cell, invalid_utf8, summary_counts_and_exit_status,
    billion_laughs_yaml, long_string_in_enum_field, jsonl_line_too_long,
    output_equal_to_input, output_is_atomic,
    infinite_after_conversion, big_integer_quantity, huge_digit_string,
    planted_module_is_not_executed, planted_grammar_cache_is_not_unpickled, edited_module_keeps_true_hash,
    receipt_hash_checked_against_module, planted_verification_findings, shared_cache_dir_refused,
    nesting_checks_and_runs_at_the_limit, nesting_200_is_hgl100_not_a_crash, nested_if_blocks,
    escape_codes_in_excerpt, malformed_case_files,
    layout_of_long_words_deep_in_a_document,
]


@pytest.mark.parametrize("defect", DEFECTS, ids=lambda f: f.__name__)
def test_defect(defect, tmp_path, monkeypatch, capsys):
    defect(Ctx(tmp_path, monkeypatch, capsys))
