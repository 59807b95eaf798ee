"""`hgl fmt` (compiler/front/format.py): the layout rules as a table, meaning kept (the parse tree
of every shipped and test guideline is the same before and after), idempotence, and the CLI."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgl.compiler.front import parser
from hgl.compiler.front.format import format_text

ROOT = Path(__file__).resolve().parent.parent
GUIDELINES = sorted((ROOT / "guidelines").glob("*.hgl"))
TEST_DATA = sorted((ROOT / "tests" / "data").rglob("*.hgl"))
PARSING = [p for p in GUIDELINES + TEST_DATA if parser.concrete_syntax(p.read_text(encoding="utf-8")) is not None]

HEAD = "guideline g\n  title \"T\"\nend\n"


def fmt(text: str) -> str:
    result = format_text(text)
    assert result.ok, result.diagnostics
    return result.text


# (what, input, expected output)
CASES = [
    ("block indentation: two spaces a depth",
     "guideline   g\n      title \"T\"\n end\n",
     "guideline g\n  title \"T\"\nend\n"),
    ("no space before ':' and ',', none inside braces",
     "input s : set of drug\ninput a: one of x ,y , z\n  default {x,y}\n",
     "input s: set of drug\ninput a: one of x, y, z\n  default {x, y}\n"),
    ("operators spaced, parentheses tight",
     "define b \"B\" =a>=2 and(a<=5 or a=-1)\n",
     "define b \"B\" = a >= 2 and (a <= 5 or a = -1)\n"),
    ("unary minus, binary minus, min/max like calls, count of ( spaced",
     "define c \"c\" = max( a - 1 , -2 ) + count of(a > 1, b)\n",
     "define c \"c\" = max(a - 1, -2) + count of (a > 1, b)\n"),
    ("units, % and UCUM codes stay tokens",
     "input u: number in %  from 0 to 100\ndefine k \"k\" = u >   30 mm[Hg] and u < 5 mmol/L\n",
     "input u: number in % from 0 to 100\ndefine k \"k\" = u > 30 mm[Hg] and u < 5 mmol/L\n"),
    ("rules and outcome blocks: end and else at the block's depth",
     "section s \"S\"\nrule r \"R\"\nwhen b\nif b then\nprefer x\nelse if c then\nalternative y\nelse\navoid z\nend\nend\nend\n",
     "section s \"S\"\n  rule r \"R\"\n    when b\n    if b then\n      prefer x\n    else if c then\n"
     "      alternative y\n    else\n      avoid z\n    end\n  end\nend\n"),
    ("continuation lines keep their offset from the clause's first line",
     "section s\n    rule r\n        when a\n         and b\n        prefer x\n    end\nend\n",
     "section s\n  rule r\n    when a\n     and b\n    prefer x\n  end\nend\n"),
    ("a continuation not indented past its clause gets two spaces",
     "define d \"d\" =\na and\nb\n",
     "define d \"d\" =\n  a and\n  b\n"),
    ("line breaks are never added or removed",
     "section s rule r when a prefer x end end\n",
     "section s rule r when a prefer x end end\n"),
    ("comments kept: comment lines indented like the next line (the body's before end)",
     "# head\nguideline g\n# about the title\n      title \"T\"\n        # before end\nend\n   # tail\n",
     "# head\nguideline g\n  # about the title\n  title \"T\"\n  # before end\nend\n# tail\n"),
    ("trailing comments keep their column, at least two spaces after the code",
     "flag a \"A\"        # aligned\nflag bb \"B\"       # aligned\nflag c \"C\"# tight\n",
     "flag a \"A\"        # aligned\nflag bb \"B\"       # aligned\nflag c \"C\"  # tight\n"),
    ("re-indenting a line moves its trailing comment with it",
     "guideline g\ntitle \"T\"    # c\n      version \"1\"  # d\nend\n",
     "guideline g\n  title \"T\"    # c\n  version \"1\"  # d\nend\n"),
    ("blank lines: one at most, none at the ends, none after an opener or before end",
     "\n\nflag a \"A\"\n\n\n\nflag b \"B\"\nsection s\n\n  rule r\n    prefer x\n\n  end\nend\n\n\n",
     "flag a \"A\"\n\nflag b \"B\"\nsection s\n  rule r\n    prefer x\n  end\nend\n"),
    ("strings (triple-quoted too) and keyword spellings are verbatim",
     "flag f \"a  b\"\nsection s\n  rule r\n    rationale \"\"\"\n      two  spaces\n        kept\n    \"\"\"\n"
     "    prefer x\n  end\nend\n",
     "flag f \"a  b\"\nsection s\n  rule r\n    rationale \"\"\"\n      two  spaces\n        kept\n    \"\"\"\n"
     "    prefer x\n  end\nend\n"),
    ("tabs, CRLF and trailing white space",
     "guideline g\r\n\ttitle \"T\"   \r\nend",
     "guideline g\n  title \"T\"\nend\n"),
    ("an empty file stays empty; a comment-only file keeps its comments",
     "\n\n", ""),
    ("comments only", "   # a\n\n\n# b\n", "# a\n\n# b\n"),
]


@pytest.mark.parametrize("what, text, expected", CASES, ids=[c[0] for c in CASES])
def test_layout(what, text, expected):
    out = fmt(text)
    assert out == expected
    assert fmt(out) == out  # idempotent
    if text.strip("\n"):
        assert parser.concrete_syntax(out)[1] == parser.concrete_syntax(text)[1]


@pytest.mark.parametrize("path", PARSING, ids=[str(p.relative_to(ROOT)) for p in PARSING])
def test_meaning_kept_and_idempotent(path):
    text = path.read_text(encoding="utf-8")
    out = fmt(text)
    assert parser.concrete_syntax(out)[1] == parser.concrete_syntax(text)[1]  # Lark trees compare without positions
    assert fmt(out) == out


def _scramble(text: str, seed: int) -> str:
    """The same tokens with random spacing inside lines and more blank lines where there was one."""
    rng = random.Random(seed)
    tokens, _ = parser.concrete_syntax(text)
    out, pos = [], 0
    for t in tokens:
        gap = text[pos:t.start_pos]
        rest_of_line = text[t.start_pos:text.find("\n", t.start_pos) % (len(text) + 1)]
        if gap and "\n" not in gap and "#" not in rest_of_line and out:  # a trailing comment keeps its column
            gap = " " * rng.randint(1, 4)
        elif gap.endswith("\n\n"):
            gap += "\n" * rng.randint(0, 2)
        out.append(gap + str(t))
        pos = t.end_pos
    return "".join(out) + text[pos:]


@pytest.mark.parametrize("path, seed", [(p, s) for p in GUIDELINES for s in (1, 2)],
                         ids=[f"{p.name}-{s}" for p in GUIDELINES for s in (1, 2)])
def test_scrambled_spacing_comes_back(path, seed):
    text = fmt(path.read_text(encoding="utf-8"))
    assert fmt(_scramble(text, seed)) == text


@pytest.mark.parametrize("path", GUIDELINES, ids=[p.name for p in GUIDELINES])
def test_shipped_guidelines_are_formatted(path):
    text = path.read_text(encoding="utf-8")
    assert fmt(text) == text, f"run: hgl fmt {path.relative_to(ROOT)}"


def test_a_syntax_error_gives_the_diagnostic_and_no_text():
    result = format_text(HEAD + "section s\n  rule r\n    prefer x\nend\n", "broken.hgl")
    assert not result.ok
    assert [d.code for d in result.diagnostics][:1] == ["HGL101"]


def _hgl(*args, stdin: str | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "hgl.compiler.cli", "fmt", *args], input=stdin,
                          capture_output=True, text=True, cwd=cwd, timeout=120)


MESSY = HEAD + "input a : integer\n"
TIDY = HEAD + "input a: integer\n"
BROKEN = HEAD + "section s\n  rule r\n    prefer x\nend\n"


# (arguments, files before, exit status, files after, in stdout, in stderr)
CLI = [
    (["--check", "a.hgl", "b.hgl"], {"a.hgl": MESSY, "b.hgl": TIDY}, 1, {"a.hgl": MESSY, "b.hgl": TIDY},
     "a.hgl: would be reformatted", "hgl fmt a.hgl"),
    (["--check", "b.hgl"], {"b.hgl": TIDY}, 0, {"b.hgl": TIDY}, "", ""),
    (["--diff", "a.hgl"], {"a.hgl": MESSY}, 0, {"a.hgl": MESSY}, "+input a: integer", ""),
    (["a.hgl", "b.hgl"], {"a.hgl": MESSY, "b.hgl": TIDY}, 0, {"a.hgl": TIDY, "b.hgl": TIDY}, "a.hgl: formatted", ""),
    (["c.hgl", "a.hgl"], {"c.hgl": BROKEN, "a.hgl": MESSY}, 1, {"c.hgl": BROKEN, "a.hgl": TIDY},
     "", "c.hgl:7:4: error[HGL101]"),
    (["--check", "c.hgl"], {"c.hgl": BROKEN}, 1, {"c.hgl": BROKEN}, "", "not formatted (syntax error)"),
    (["nowhere.hgl"], {}, 2, {}, "", "nowhere.hgl: error: cannot read"),
]


@pytest.mark.parametrize("args, before, status, after, out, err", CLI)
def test_cli(tmp_path, args, before, status, after, out, err):
    for name, text in before.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    proc = _hgl(*args, cwd=tmp_path)
    assert proc.returncode == status, proc.stderr
    assert out in proc.stdout and err in proc.stderr
    for name, text in after.items():
        assert (tmp_path / name).read_text(encoding="utf-8") == text


@pytest.mark.parametrize("stdin, status, stdout", [(MESSY, 0, TIDY), (BROKEN, 1, "")])
def test_cli_stdin_to_stdout(stdin, status, stdout):
    proc = _hgl("-", stdin=stdin)
    assert (proc.returncode, proc.stdout) == (status, stdout)


# ---------------------------------------------------------------- property: re-indented pieces of the guidelines

def _chunks(text: str) -> list[str]:
    """Top-level declarations with their comments (a chunk starts at a line in column 0 that is not `end`)."""
    chunks: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if not chunks or (line[:1] not in (" ", "\n", "") and not line.startswith("end")):
            chunks.append([])
        chunks[-1].append(line)
    return ["".join(c) for c in chunks]


CHUNKS = [c for p in GUIDELINES for c in _chunks(p.read_text(encoding="utf-8"))]


@settings(max_examples=int(os.environ.get("HGL_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CHUNKS), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_any_reindented_guideline_piece_formats_idempotently(chunks, rng):
    text = "".join(" " * rng.randint(0, 6) + line.lstrip(" ") for c in chunks for line in c.splitlines(keepends=True))
    result = format_text(text)  # raises FormatError if the layout changed the parse tree
    if result.ok:
        assert fmt(result.text) == result.text
        assert all(not line.endswith(" ") for line in result.text.splitlines())
