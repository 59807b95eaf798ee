"""Formatting: `.hgl` text -> the same text laid out in the house style (`hgl fmt`).

The formatter works on the concrete syntax - the tokens the parser reads, the comments between
them and the parse tree's block structure - never on the AST, which has dropped the comments.
It is generic: any construct the grammar gains is laid out by the same few rules.

  * Indentation: two spaces per enclosing block (a block is a node closed by `end`); `end`
    and the branch keywords `else` / `else if` of an `if` block sit at the block's own depth.
  * Lines: a line break is never added or removed inside a declaration - long expressions stay
    as the author broke them.  A continuation line keeps its indentation relative to the first
    line of its clause; one that was not indented past it gets two spaces more.
  * Spaces: one between tokens, none inside `( )` and `{ }`, none before `,` and `:`, none
    after a unary minus, none between `min`/`max` and `(`.
  * Comments: kept verbatim; a trailing comment keeps its column (aligned comments stay
    aligned; re-indenting a line moves its comment too) but stands at least two spaces after
    the code; a comment line is indented like the line after it (like the block's body
    before `end` / `else`).
  * Blank lines: at most one in a row, none at the start or end of the file, none right after
    a block's opening line or right before its `end`.  One newline at the end of the file.

A layout never changes meaning: `format_text` re-parses its output and raises FormatError
(nothing is written) unless the parse tree is the one of the input.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from hgl.compiler.front import parser
from hgl.compiler.front.diagnostics import Diagnostic
from hgl.compiler.front.source import Source

INDENT = "  "
_MIDDLE = frozenset({"else", "else if"})  # branch keywords of an `if` block: at the block's depth
_NO_SPACE_AFTER = frozenset({"(", "{"})
_NO_SPACE_BEFORE = frozenset({")", "}", ",", ":"})
_CALLS = frozenset({"min", "max"})  # written like a function call: `min(a, b)`
_COMMENT = re.compile(r"#[^\n]*")


@dataclass(frozen=True)
class Formatted:
    """The result of formatting one text: the new text, or None with the syntax diagnostics."""

    text: str | None
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        return self.text is not None


@dataclass(frozen=True)
class _Tok:
    """A token or a comment, with its place in the original text (lines 1-based, columns 0-based)."""

    text: str
    kind: str
    line: int
    end_line: int
    col: int
    pos: int  # offset in the text


def comment_tokens(text: str, lark_tokens) -> list[_Tok]:
    """Every token and comment in text order (the language server colours them too)."""
    out: list[_Tok] = []
    pos = 0

    def comments(upto: int) -> None:  # between two tokens there is only white space and comments
        for m in _COMMENT.finditer(text, pos, upto):
            cline = text.count("\n", 0, m.start()) + 1
            col = m.start() - (text.rfind("\n", 0, m.start()) + 1)
            out.append(_Tok(m.group().rstrip(), "COMMENT", cline, cline, col, m.start()))

    for t in lark_tokens:
        comments(t.start_pos)
        out.append(_Tok(str(t), t.type, t.line, t.end_line, t.column - 1, t.start_pos))
        pos = t.end_pos
    comments(len(text))
    return out


def _structure(tree, lark_tokens):
    """The block structure, by offsets in the text.

    Returns (blocks, closers, middles, items): `blocks` maps a block's first offset to the
    offset where its `end` token starts; `closers` an `end` token's offset to its block;
    `middles` the offset of an `else` / `else if` branch to its block; `items` the first offset
    of each clause of a container (the file: -1, a block, or a block's branch) to the container's block.
    """
    end_start = {t.end_pos: t.start_pos for t in lark_tokens if t.type == "END"}
    first_tok = {t.start_pos: t for t in lark_tokens}
    owner: dict[int, tuple[int, int]] = {}  # an `end`: the innermost node closing there
    nodes = [node for node in tree.iter_subtrees() if node is not tree and not getattr(node.meta, "empty", True)]
    for node in nodes:
        m = node.meta
        if m.end_pos in end_start and (m.end_pos not in owner or owner[m.end_pos][0] < m.start_pos):
            owner[m.end_pos] = (m.start_pos, m.end_pos)
    blocks = {start: end_start[end] for start, end in owner.values()}
    closers = {end_start[end]: start for start, end in owner.values()}
    middles: dict[int, int] = {}
    items: dict[int, int] = {}

    def clauses(container, key):
        for c in container.children:
            if hasattr(c, "data") and not getattr(c.meta, "empty", True):
                items.setdefault(c.meta.start_pos, key)

    clauses(tree, -1)
    for node in nodes:
        m = node.meta
        if owner.get(m.end_pos) != (m.start_pos, m.end_pos):
            continue
        clauses(node, m.start_pos)
        for c in node.children:
            if hasattr(c, "data") and not getattr(c.meta, "empty", True):
                tok = first_tok.get(c.meta.start_pos)
                if tok is not None and _middle_word(str(tok)):
                    middles[c.meta.start_pos] = m.start_pos
                    clauses(c, m.start_pos)
    return blocks, closers, middles, items


def _middle_word(text: str) -> bool:
    return " ".join(text.split()) in _MIDDLE


def _space(prev: _Tok, tok: _Tok) -> str:
    if tok.kind == "COMMENT":
        return "  "
    if prev.text in _NO_SPACE_AFTER or tok.text in _NO_SPACE_BEFORE or prev.kind == "MINUS":
        return ""
    if tok.text == "(" and prev.text in _CALLS:
        return ""
    return " "


def _lines(toks: list[_Tok]) -> list[list[_Tok]]:
    """Tokens grouped by the line they start on (a token over several lines keeps its followers on its last)."""
    lines: list[list[_Tok]] = []
    prev_end_line = 0
    for t in toks:
        if t.line > prev_end_line or not lines:
            lines.append([t])
        else:
            lines[-1].append(t)
        prev_end_line = t.end_line
    return lines


def _layout(text: str, lark_tokens, tree) -> str:
    toks = comment_tokens(text, lark_tokens)
    if not toks:
        return ""
    blocks, closers, middles, items = _structure(tree, lark_tokens)
    end_line = {t.start_pos: t.line for t in lark_tokens if t.type == "END"}
    lines = _lines(toks)
    block_indent: dict[int, int] = {-1: -len(INDENT)}  # a block -> indentation of the line it opens on
    indents: list[int | None] = []  # None: a comment line, settled below
    roles: list[str] = []
    anchor_orig = anchor_new = 0
    for ln in lines:
        first = ln[0]
        if first.kind == "COMMENT":
            indents.append(None)
            roles.append("comment")
            continue
        off = first.pos
        if off in closers and closers[off] in block_indent:
            ind, role = block_indent[closers[off]], "close"
        elif off in middles and middles[off] in block_indent:
            ind, role = block_indent[middles[off]], "middle"
        elif off in items and items[off] in block_indent:
            ind, role = block_indent[items[off]] + len(INDENT), "item"
        else:  # a continuation: its offset from the clause's first line is the author's
            offset = first.col - anchor_orig
            ind, role = anchor_new + (offset if offset >= 1 else len(INDENT)), "cont"
        if role != "cont":
            anchor_orig, anchor_new = first.col, ind
        for t in ln:
            if t.pos in blocks:
                block_indent[t.pos] = ind
        indents.append(ind)
        roles.append(role)
    # comment lines: like the next code line; the body's depth before `end` / `else`
    nxt = 0
    for i in range(len(lines) - 1, -1, -1):
        if indents[i] is None:
            indents[i] = nxt
        else:
            nxt = indents[i] + (len(INDENT) if roles[i] in ("close", "middle") else 0)
    # lines that open a block (or an `else` branch) closed on a later line: no blank line after them
    opener_lines = {i for i, ln in enumerate(lines) for t in ln if t.kind != "COMMENT" and (
        (t.pos in blocks and end_line.get(blocks[t.pos], 0) > t.line) or t.pos in middles)}
    out: list[str] = []
    for i, ln in enumerate(lines):
        gap = ln[0].line - lines[i - 1][-1].end_line if i else 0
        if gap > 1 and i - 1 not in opener_lines and roles[i] not in ("close", "middle"):
            out.append("")
        line = " " * indents[i] + ln[0].text
        for a, b in zip(ln, ln[1:]):
            if b.kind == "COMMENT" and b.line == a.end_line:  # a trailing comment keeps its column if it can
                column = b.col + (indents[i] - ln[0].col if ln[0].line == b.line else 0)  # moved with its line
                line += " " * max(2, column - (len(line) - line.rfind("\n") - 1)) + b.text
            else:
                line += _space(a, b) + b.text
        out.append(line)
    return "\n".join(out) + "\n"


class FormatError(Exception):
    """A layout that would change the parse tree: a bug in the formatter, never written out."""


def format_text(text: str, name: str = "<text>") -> Formatted:
    """Lay out one text; None and the diagnostics when it does not parse."""
    syntax = parser.concrete_syntax(text)
    if syntax is None:
        return Formatted(None, _errors(text, name))
    tokens, tree = syntax
    try:
        out = _layout(text, tokens, tree)
        again = parser.concrete_syntax(out)
        same = again is not None and again[1] == tree
    except RecursionError:  # nested deeper than the language allows: parse() says so
        return Formatted(None, _errors(text, name))
    if not same:
        raise FormatError(f"{name}: formatting would change the parse tree")
    return Formatted(out)


def _errors(text: str, name: str) -> tuple[Diagnostic, ...]:
    _, diags = parser.parse(Source(name, text))
    return tuple(d for d in diags if d.severity == "error") or tuple(diags)


def unified_diff(old: str, new: str, name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"{name} (original)", f"{name} (formatted)"))


# ---------------------------------------------------------------- `hgl fmt`

def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Format .hgl files in place (the house style of the shipped guidelines: comments kept, "
                     "meaning unchanged). '-' reads standard input and writes standard output.")
    p.add_argument("files", nargs="+", metavar="FILE", help="a .hgl file, or - for standard input")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; name each file that would change and exit 1 if any (for CI)")
    mode.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")


def cli_main(args) -> int:
    from hgl.compiler.front.diagnostics import render_all

    color = sys.stderr.isatty()
    worst = 0
    changed = []
    for path in args.files:
        name = "<stdin>" if path == "-" else path
        try:
            raw = sys.stdin.read() if path == "-" else Path(path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            print(f"{name}: error: cannot read: {err}", file=sys.stderr)
            worst = max(worst, 2)
            continue
        try:
            result = format_text(raw, name)
        except FormatError as err:
            print(f"hgl fmt: internal error (a bug in hgl, not in your guideline): {err}; the file is left as it was",
                  file=sys.stderr)
            worst = max(worst, 3)
            continue
        if not result.ok:
            print(render_all(Source(name, raw), list(result.diagnostics), color), file=sys.stderr)
            print(f"{name}: not formatted (syntax error)", file=sys.stderr)
            worst = max(worst, 1)
            continue
        new = result.text
        if args.diff:
            sys.stdout.write(unified_diff(raw, new, name))
            changed += [name] if new != raw else []
        elif args.check:
            if new != raw:
                changed.append(name)
                print(f"{name}: would be reformatted")
        elif path == "-":
            sys.stdout.write(new)
        elif new != raw:
            Path(path).write_text(new, encoding="utf-8")
            changed.append(name)
            print(f"{name}: formatted")
    if args.check:
        if changed:
            print(f"{len(changed)} file(s) would be reformatted; run: hgl fmt " + " ".join(changed), file=sys.stderr)
            worst = max(worst, 1)
    return worst
