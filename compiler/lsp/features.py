"""Editor edits and listings (language server): rename, quick fixes, semantic tokens, workspace symbols.

Plain Python over an `analysis.Analysis` and the text, positions as the compiler's 1-based
code-point spans; compiler/lsp/server.py converts them to the protocol's units and types.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hgl.compiler.front import parser
from hgl.compiler.front.format import comment_tokens
from hgl.compiler.front.source import Source, Span
from hgl.compiler.lsp import analysis as la

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class EditError(Exception):
    """An edit the server refuses, in words for the author (rename of a keyword, a taken name, …)."""


@lru_cache(maxsize=1)
def keywords() -> frozenset[str]:
    """Every word the grammar spells out (`rule`, `prefer`, `yes/no`, `else` …)."""
    words = set()
    for quoted in re.findall(r'"([^"\\]+)"', parser.grammar_text()):
        words.update(w for w in re.split(r"[ /]", quoted) if _IDENT.match(w))
    return frozenset(words)


# ---------------------------------------------------------------- rename

# namespaces whose names the language itself provides: nothing in the file declares them
_BUILTIN = {"unit": "a unit"}


def rename_target(a: la.Analysis, text: str, line: int, column: int) -> tuple[la.Target, Span]:
    """The declared name under a position and the span of that occurrence, or EditError saying why not."""
    occ = a.at(line, column)
    word = la.word_at(text, line, column)
    if occ is None:
        if word in keywords():
            raise EditError(f"'{word}' is a keyword of the language; only declared names can be renamed")
        raise EditError("no declared name here" if not word else f"'{word}' is not a declared name")
    if occ.target.ns in _BUILTIN or a.declaration(occ.target) is None:
        what = _BUILTIN.get(occ.target.ns, "built into the language or not declared in this file")
        raise EditError(f"'{occ.target.name}' is {what}; it cannot be renamed")
    return occ.target, occ.span


def rename(a: la.Analysis, text: str, line: int, column: int, new_name: str) -> list[Span]:
    """Spans to replace by `new_name`: the declaration and every reference in the file."""
    target, _ = rename_target(a, text, line, column)
    if not _IDENT.match(new_name) or new_name == "end":
        raise EditError(f"'{new_name}' is not a name: letters, digits and '_', starting with a letter or '_'")
    if new_name in keywords():
        raise EditError(f"'{new_name}' is a keyword of the language; choose another name")
    if new_name != target.name and la.Target(target.ns, new_name) in a.decls:
        line_no = a.declaration(la.Target(target.ns, new_name)).span.line
        raise EditError(f"'{new_name}' is already declared (line {line_no})")
    return sorted(set(a.references(target, include_decl=True)), key=lambda s: (s.line, s.column))


# ---------------------------------------------------------------- quick fixes

_DID_YOU_MEAN = re.compile(r"did you mean '([A-Za-z_][A-Za-z0-9_]*)'")


def quick_fix(message: str, written: str) -> str | None:
    """The name a did-you-mean diagnostic suggests instead of the written word, or None."""
    m = _DID_YOU_MEAN.search(message)
    if m is None or not _IDENT.match(written) or m.group(1) == written:
        return None
    return m.group(1)


# ---------------------------------------------------------------- semantic tokens

TOKEN_TYPES = ("keyword", "string", "number", "comment", "operator", "variable", "parameter", "function",
               "enumMember", "event", "namespace", "method", "property", "type", "decorator", "enum")
TOKEN_MODIFIERS = ("declaration",)
_NS_TYPES = {"option": "enumMember", "value": "enumMember", "flag": "event", "evidence": "property",
             "provenance": "decorator", "strength": "decorator", "section": "namespace", "group": "namespace",
             "guideline": "namespace", "rule": "method", "constraint": "property", "unit": "type",
             "vocabulary": "enum"}
_OPERATORS = frozenset({"COMPARE", "ADD_OP", "MUL_OP", "MINUS", "EQUAL"})


@dataclass(frozen=True)
class SemanticToken:
    line: int  # 1-based
    column: int  # 1-based code points
    length: int  # code points, within the line
    type: str
    declaration: bool = False


def _name_type(a: la.Analysis | None, occ: la.Occurrence | None, word: str) -> str | None:
    target = occ.target if occ is not None else (a.lookup(word) if a is not None else None)
    if target is None:
        return None
    if target.ns == "symbol":
        node = a.decls.get(target, (None, None))[1] if a is not None else None
        if getattr(node, "is_parameter", False):
            return "parameter"
        return "function" if type(node).__name__ == "Definition" else "variable"
    if target.ns.startswith(("enum:", "vocab:", "optref:")):
        return "enumMember"
    return _NS_TYPES.get(target.ns)


def semantic_tokens(a: la.Analysis | None, text: str, exact: bool) -> list[SemanticToken]:
    """Every token worth a colour, in text order; names by what they stand for (`exact`: `a` is of this text)."""
    tokens, _ = parser.concrete_syntax(text, partial=True)
    lines = la.split_lines(text)
    out: list[SemanticToken] = []
    starts = {(o.span.line, o.span.column): o for o in a.occurrences} if (a is not None and exact) else {}
    for tok in comment_tokens(text, tokens):
        kind, word = tok.kind, tok.text
        if kind == "COMMENT":
            typ = "comment"
        elif kind == "STRING":
            typ = "string"
        elif kind in ("NUMBER", "DATE"):
            typ = "number"
        elif kind in ("UCUM", "PERCENT"):
            typ = "type"
        elif kind in _OPERATORS:
            typ = "operator"
        elif kind == "NAME":
            occ = starts.get((tok.line, tok.col + 1))
            typ = _name_type(a, occ, word)
            if typ is None:
                continue
            out.append(SemanticToken(tok.line, tok.col + 1, len(word), typ, bool(occ and occ.is_decl)))
            continue
        elif re.fullmatch(r"[a-z][a-z/ \t]*", word):
            typ = "keyword"
        else:
            continue
        # a token over several lines (text in triple quotes) is one token a line
        for i, part in enumerate(word.split("\n")):
            line = tok.line + i
            col = tok.col + 1 if i == 0 else 1
            if i and line <= len(lines):
                part = lines[line - 1][: len(part)]
            if part.rstrip("\r"):
                out.append(SemanticToken(line, col, len(part.rstrip("\r")), typ))
    return out


# ---------------------------------------------------------------- workspace symbols

_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "build", "dist"})
MAX_FILES = 2000


@dataclass(frozen=True)
class WorkspaceSymbol:
    name: str
    kind: str  # an analysis kind word (option, input, rule …)
    path: str
    span: Span
    container: str | None


def hgl_files(roots: list[Path]) -> list[Path]:
    """The .hgl files under the workspace folders (hidden and build folders skipped), sorted."""
    found: list[Path] = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            found += [Path(folder) / f for f in sorted(files) if f.endswith(".hgl")]
            if len(found) >= MAX_FILES:
                return found[:MAX_FILES]
    return found


_OUTLINES: dict[str, tuple[object, list[WorkspaceSymbol]]] = {}


def file_symbols(path: Path, text: str | None = None) -> list[WorkspaceSymbol]:
    """The declarations of one file (syntax only: no checking), cached by its text or its size and time."""
    key = str(path)
    try:
        stamp = ("text", hash(text)) if text is not None else ("disk", path.stat().st_mtime_ns, path.stat().st_size)
    except OSError:
        return []
    cached = _OUTLINES.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        text = text if text is not None else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    guideline, _ = parser.parse(Source(key, text))
    symbols: list[WorkspaceSymbol] = []
    if guideline is not None:
        for item in la.outline(guideline):
            symbols.append(WorkspaceSymbol(item.name, item.kind, key, item.selection, None))
            symbols += [WorkspaceSymbol(c.name, c.kind, key, c.selection, item.name) for c in item.children]
    _OUTLINES[key] = (stamp, symbols)
    return symbols


def _matches(query: str, name: str) -> bool:
    """Case-insensitive: the query's characters appear in the name in order (as editors filter)."""
    it = iter(name.lower())
    return all(ch in it for ch in query.lower())


def workspace_symbols(roots: list[Path], open_texts: dict[str, str], query: str) -> list[WorkspaceSymbol]:
    paths = {str(p): p for p in hgl_files(roots)}
    for name in open_texts:
        paths.setdefault(name, Path(name))
    out = []
    for key in sorted(paths):
        out += [s for s in file_symbols(paths[key], open_texts.get(key)) if _matches(query, s.name)]
    return out
