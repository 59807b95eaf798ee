"""Source text and spans: the positions every later stage reports against."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file; lines and columns are 1-based, the end exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


NO_SPAN = Span(0, 0, 0, 0)


@dataclass(frozen=True)
class Source:
    """One `.hgl` file: its display name and text."""

    name: str
    text: str

    @cached_property  # rendering many diagnostics must not split the text once per diagnostic
    def lines(self) -> list[str]:
        # split on "\n" only, as the parser counts lines: str.splitlines would also break at
        # \f, \x1c or U+2028 and show the wrong line under a diagnostic
        lines = [line.removesuffix("\r") for line in self.text.split("\n")]
        return lines[:-1] if lines and lines[-1] == "" else lines

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def line_text(self, line: int) -> str:
        lines = self.lines
        return lines[line - 1] if 1 <= line <= len(lines) else ""

    def end_span(self) -> Span:
        """The position just after the last character, for 'unexpected end of file'."""
        lines = self.lines or [""]
        n = len(lines)
        # the last non-empty line reads better than an empty trailing one
        while n > 1 and not lines[n - 1].strip():
            n -= 1
        col = len(lines[n - 1]) + 1
        return Span(n, col, n, col + 1)
