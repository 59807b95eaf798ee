"""Blocks left open: which block an author forgot to close, read from the text's layout.

The parser only knows that it met a word an open block cannot contain (or the end of the file);
the indentation, which authors keep even when they forget an `end`, usually says which block
lacks it, and a declaration word at column 0 says where the next top-level block starts.
Plain text in, plain facts out: no parser types (syntaxmsg.py words the diagnostic, parser.py
uses `top_level_starts` to resume after a syntax error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dataclasses import replace as _replace

from hgl.compiler.front.source import Source, Span

# Blocks closed by `end`.  `evidence` inside a block is a field, not a block.
BLOCK_WORDS = ("guideline", "evidence", "vocabulary", "section", "rule", "outcomes", "combination")
# Blocks whose body is `name value` fields: a declaration swallowed by one is read as a field.
FIELD_BLOCKS = frozenset({"guideline", "evidence", "vocabulary"})
_TRIPLE = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""', re.S)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class OpenBlock:
    """A block as the layout shows it: `rule r1` opened at line 12, indented 2."""

    word: str
    name: str  # "" for an outcome `if`
    line: int
    indent: int

    def words(self) -> str:
        return f"{self.word} '{self.name}'" if self.name else f"the '{self.word}' block"

    def opener_span(self) -> Span:
        return Span(self.line, self.indent + 1, self.line, self.indent + 1 + len(self.word))


def string_lines(text: str) -> frozenset[int]:
    """Lines that start inside a triple-quoted text (a word there is text, not code)."""
    out: set[int] = set()
    for m in _TRIPLE.finditer(text):
        first = text.count("\n", 0, m.start()) + 1
        last = first + m.group(0).count("\n")
        out.update(range(first + 1, last + 1))
    return frozenset(out)


def _code(raw: str) -> str:
    return raw.split("#", 1)[0].rstrip() if '"' not in raw else raw.rstrip()


def scan(lines: list[str], first: int, stop: int, skip: frozenset[int] = frozenset()
         ) -> tuple[OpenBlock | None, OpenBlock | None, list[OpenBlock]]:
    """Blocks by indentation over lines first..stop-1 (1-based).

    Returns (the first block whose `end` does not line up with it, the end's line as a block,
    the blocks still open at `stop`).  An `end` that closes nothing stops the scan.
    """
    stack: list[OpenBlock] = []
    for number in range(first, min(stop, len(lines) + 1)):
        if number in skip:
            continue
        line = _code(lines[number - 1])
        words = line.split()
        if not words:
            continue
        indent = len(line) - len(line.lstrip())
        head = words[0]
        if head in BLOCK_WORDS and not (head == "evidence" and stack):
            name = words[1] if len(words) > 1 and _IDENT.match(words[1]) else ""
            stack.append(OpenBlock(head, name, number, indent))
        elif head == "if" and words[-1] == "then" and stack:
            stack.append(OpenBlock("if", "", number, indent))
        elif head == "end" and len(words) == 1:
            if not stack:
                return None, None, []
            block = stack.pop()
            if block.indent != indent:
                return block, OpenBlock("end", "", number, indent), stack
    return None, None, stack


def misaligned_block(text: str) -> tuple[str, int, int] | None:
    """(keyword, line, end line) of the first block whose `end` does not line up with it."""
    lines = text.splitlines()
    block, end, _ = scan(lines, 1, len(lines) + 1, string_lines(text))
    return (block.word, block.line, end.line) if block else None


def unclosed(text: str, first: int, stop: int) -> tuple[OpenBlock | None, int | None]:
    """The block most likely left open between line `first` and line `stop`, and the line of the `end`
    that was taken for its `end` (indented like an outer block), if any."""
    lines = text.splitlines()
    block, end, stack = scan(lines, first, stop, string_lines(text))
    if block is not None:
        return block, end.line
    return (stack[-1] if stack else None), None


def block_at(text: str, line: int) -> OpenBlock | None:
    """The block a line opens, as the layout shows it."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    raw = _code(lines[line - 1])
    words = raw.split()
    if not words:
        return None
    name = words[1] if len(words) > 1 and _IDENT.match(words[1]) and words[0] != "if" else ""
    return OpenBlock(words[0], name, line, len(raw) - len(raw.lstrip()))


def top_level_starts(text: str, declarations: frozenset[str]) -> list[int]:
    """Lines that start a top-level declaration: a declaration word at column 0, outside a text."""
    skip = string_lines(text)
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        if number in skip or not raw[:1].isalpha():
            continue
        head = raw.split(None, 1)[0] if raw.split() else ""
        if head in declarations:
            out.append(number)
    return out


def is_name(text: str) -> bool:
    return bool(_IDENT.match(text))


MAX_SYNTAX_ERRORS = 20


def later_errors(source: Source, first, first_error, declarations: frozenset[str]) -> list:
    """Syntax errors after the first one: each top-level block from the next one on is parsed again.

    Parsing resumes at the first declaration written at column 0 after the error (at the error
    itself when the error is such a declaration, as after a missing `end`), with the lines before
    it blanked so positions stay; each resumed parse (`first_error(source)`: its first syntax
    diagnostic or None) reports at most its first error, so one mistake is reported once, not as
    a cascade.
    """
    lines = source.text.split("\n")
    starts = top_level_starts(source.text, declarations)
    out: list = []
    error, last = first, 0
    while len(out) < MAX_SYNTAX_ERRORS:
        at, col = error.span.line, error.span.column
        resume = next((s for s in starts if s > at or (s == at and col == 1 and error.code == "HGL104")), None)
        if resume is None or resume <= last:
            break
        last = resume
        error = first_error(Source(source.name, "\n" * (resume - 1) + "\n".join(lines[resume - 1:])))
        if error is None:
            break
        if error.code == "HGL101" and error.span.line > len(lines):  # the blanked text's end is the file's
            error = _replace(error, span=source.end_span())
        out.append(error)
        if error.span.line < resume:  # no progress (cannot happen: blanked lines hold nothing)
            break
    return out
