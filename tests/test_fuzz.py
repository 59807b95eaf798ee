"""Property tests: no text, however broken, makes the compiler fail with anything but diagnostics."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgl.compiler.pipeline import compile_source
from hgl.compiler.front.source import Source
from tests.conftest import GUIDELINE

HER2 = GUIDELINE.read_text(encoding="utf-8")
LINES = HER2.splitlines(keepends=True)
WORDS = ["end", "rule", "section", "when", "prefer", "if", "then", "else", "and", "or", "not", "in", "is",
         "missing", "governs", "{", "}", "(", ")", '"', '"""', ",", "=", "<", "≥", "months", "mm", "-", "#",
         "every option containing", "t_dxd", "line", "received", "12", "3.5", "\n", "\t", "\\"]


def _compile_never_crashes(text: str) -> None:
    # pipeline.InternalError would propagate and fail the test: only diagnostics are allowed
    result = compile_source(Source("fuzz.hgl", text))
    lines = text.splitlines()
    for d in result.diagnostics:
        assert d.code.startswith("HGL") and d.message
        assert d.span.line == 0 or 1 <= d.span.line <= max(1, len(lines))
    if result.ok:
        assert result.code is not None


SETTINGS = settings(max_examples=int(os.environ.get("HGL_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text(text):
    _compile_never_crashes(text)


@SETTINGS
@given(st.lists(st.sampled_from(WORDS), max_size=60).map(" ".join))
def test_keyword_soup(text):
    _compile_never_crashes(text)


@SETTINGS
@given(st.data())
def test_mutated_her2(data):
    lines = list(LINES)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate"]))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "insert":
            lines.insert(i, " ".join(data.draw(st.lists(st.sampled_from(WORDS), max_size=6))) + "\n")
        else:
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))] + "\n"
    _compile_never_crashes("".join(lines))


@SETTINGS
@given(st.text(alphabet=st.sampled_from("(not a)or{}"), max_size=2000))
def test_deep_nesting(text):
    _compile_never_crashes("define x = " + text)
