"""Parsing, shared by the tree-to-node callbacks (parser, exprsyntax, fhirsyntax): source spans
of Lark tokens and tree nodes, string and number literals, and a clause with its position."""

from __future__ import annotations

import re
import textwrap

from lark import Token

from hgl.compiler.front import nodes as n
from hgl.compiler.front.source import Span


def span_tok(tok: Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + len(tok))


def span_meta(meta) -> Span:
    if getattr(meta, "empty", True):
        return n.NO_SPAN
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def decode_string(raw: str) -> str:
    """Text between quotes; escapes \\" \\\\ \\n \\t; triple quotes are dedented."""
    if raw.startswith('"""'):
        body = re.sub(r"^[ \t]*\n", "", raw[3:-3])  # text starting on the line after the quotes
        body = textwrap.dedent(re.sub(r"\n[ \t]*$", "", body))  # closing quotes on a line of their own
    else:
        body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body, flags=re.S)


def number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


class Clause(tuple):
    """A (key, value) clause of a declaration, rule or section, with its position."""

    def __new__(cls, pair, meta):
        self = super().__new__(cls, pair)
        self.span = span_meta(meta)
        return self
