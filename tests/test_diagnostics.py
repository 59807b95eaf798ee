"""Diagnostics: rendering, ordering, JSON, golden renderings of broken files, and the diagnostics page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hgl.compiler.front.diagnostics import CODES, Diagnostic, dumps, render, render_all
from hgl.compiler.pipeline import InternalError, check_source, compile_source
from hgl.compiler.front.source import Source, Span

HERE = Path(__file__).parent
GOLDEN = HERE / "golden" / "compiler"
PAGE = HERE.parent / "site" / "pages" / "diagnostics.md"
BROKEN = sorted((HERE / "data").glob("broken_*.hgl"))


# ---------------------------------------------------------------- rendering

def test_render_shape():
    src = Source("g.hgl", "line one\n  when agee > 3\n")
    d = Diagnostic("HGL201", "unknown name 'agee'", Span(2, 8, 2, 12), "did you mean 'age'?")
    assert render(src, d) == (
        "g.hgl:2:8: error[HGL201]: unknown name 'agee'\n"
        "  |\n"
        "2 |   when agee > 3\n"
        "  |        ^^^^\n"
        "  = help: did you mean 'age'?"
    )


def test_colour_only_when_asked():
    src = Source("g.hgl", "x\n")
    d = Diagnostic("HGL201", "m", Span(1, 1, 1, 2))
    assert "\033[" not in render(src, d)
    assert "\033[" in render(src, d, color=True)


def test_sorted_by_position_with_summary():
    src = Source("g.hgl", "a\nb\nc\n")
    diags = [Diagnostic("HGL203", "w", Span(3, 1, 3, 2)), Diagnostic("HGL201", "e", Span(1, 1, 1, 2)),
             Diagnostic("HGL202", "e2", Span(2, 1, 2, 2))]
    out = render_all(src, diags)
    assert [line.split(":")[1] for line in out.splitlines() if line.startswith("g.hgl:")][:3] == ["1", "2", "3"]
    assert out.endswith("g.hgl: 2 error(s), 1 warning(s)")
    data = json.loads(dumps(src, diags))
    assert [x["line"] for x in data] == [1, 2, 3]
    assert data[0] == {"file": "g.hgl", "line": 1, "column": 1, "end_line": 1, "end_column": 2,
                       "severity": "error", "code": "HGL201", "message": "e", "hint": None}


def test_caret_never_runs_past_the_line_and_tabs_align():
    src = Source("g.hgl", "\tab\n")
    out = render(src, Diagnostic("HGL100", "m", Span(1, 2, 3, 1)))
    assert out.splitlines()[2:] == ["1 |  ab", "  |  ^"]


def test_every_code_has_a_severity():
    assert all(sev in ("error", "warning") and title for sev, title in CODES.values())


def test_internal_errors_are_not_user_errors(monkeypatch):
    from hgl.compiler.check import checks
    def boom(guideline):
        raise KeyError("bug")

    monkeypatch.setattr(checks, "check", boom)
    with pytest.raises(InternalError, match="KeyError"):
        check_source(Source("g.hgl", "input x: yes/no\n"))


def test_deep_nesting_is_a_diagnostic_not_a_crash():
    result = check_source(Source("g.hgl", "define x = " + "not " * 5000 + "true\n"))
    assert [d.code for d in result.diagnostics] == ["HGL100"]


# ---------------------------------------------------------------- golden renderings of broken files

@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_files_render_as_golden(path, golden):
    source = Source(f"tests/data/{path.name}", path.read_text(encoding="utf-8"))
    out = render_all(source, compile_source(source).diagnostics) + "\n"
    golden.check(GOLDEN / f"{path.stem}.txt", out)
    assert "$END" not in out and "__ANON" not in out


# ---------------------------------------------------------------- the diagnostics page

_EXAMPLE = re.compile(r"```hgl (check|whole|verify)\n(.*?)```\n\n```text\n(.*?)```", re.S)


def _prelude(page: str) -> str:
    return re.search(r"```hgl prelude\n(.*?)```", page, re.S).group(1)


def render_example(mode: str, snippet: str, prelude: str) -> tuple[str, list[str]]:
    """What `hgl check` prints about the example's own lines, and the codes it reports."""
    text = snippet if mode == "whole" else prelude + snippet
    first = 1 if mode == "whole" else prelude.count("\n") + 1
    source = Source("example.hgl", text)
    result = compile_source(source)
    diags = list(result.diagnostics)
    if mode == "verify":  # only the verifier's findings: the checker's are shown by the other examples
        from hgl.compiler.verify.search import verify

        assert result.ok, [d.message for d in result.errors]
        diags = verify(result)
        first = 0  # a gap belongs to the whole guideline: it is reported at its first line
    if result.program is not None:  # as `hgl check` prints them: accepted findings counted, not shown
        from hgl.compiler.check.accepts import partition

        diags = list(partition(result.program, diags, verified=mode == "verify").shown)
    mine = sorted((d for d in diags if d.span.line >= first or d.span.line == 0), key=Diagnostic.sort_key)
    return "".join(render(source, d) + "\n" for d in mine), [d.code for d in mine]


def _examples():
    page = PAGE.read_text(encoding="utf-8")
    prelude = _prelude(page)
    out = []
    for m in _EXAMPLE.finditer(page):
        code = re.findall(r"^### (HGL\d{3})", page[: m.start()], re.M)[-1]
        out.append((code, m.group(1), m.group(2), m.group(3), prelude, m))
    return page, out


def test_page_lists_every_code():
    page = PAGE.read_text(encoding="utf-8")
    listed = re.findall(r"^### (HGL\d{3}) ", page, re.M)
    assert sorted(listed) == sorted(CODES)
    for code in listed:
        title = re.search(rf"^### {code} (.*)$", page, re.M).group(1)
        assert title == CODES[code][1]


def test_page_examples_produce_their_codes(golden):
    page, examples = _examples()
    if any(e[1] == "verify" for e in examples):
        pytest.importorskip("z3")
    assert len(examples) >= 30
    # every example fence is followed by its output block: none is skipped by the pattern
    assert len(examples) == len(re.findall(r"^```hgl (?:check|whole|verify)$", page, re.M))
    new_page, shift = page, 0
    for code, mode, snippet, shown, prelude, m in examples:
        rendered, codes = render_example(mode, snippet, prelude)
        assert code in codes, (code, codes)
        if golden.update:
            start, end = m.start(3) + shift, m.end(3) + shift
            new_page = new_page[:start] + rendered + new_page[end:]
            shift += len(rendered) - (m.end(3) - m.start(3))
        else:
            assert shown == rendered, code
    if golden.update:
        PAGE.write_text(new_page, encoding="utf-8")
    # every code that something produces has an example (HGL901 is a bug, never an example)
    shown_codes = {e[0] for e in examples}
    assert set(CODES) - {"HGL901"} <= shown_codes


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x1c", "\r"])
def test_excerpt_counts_lines_as_the_parser_does(separator):
    text = f'flag f "a{separator}b"\ninput x: intger\n'
    source = Source("g.hgl", text)
    d = check_source(source).diagnostics[0]
    assert (d.code, d.span.line) == ("HGL100", 2)
    assert "input x: intger" in render(source, d)
