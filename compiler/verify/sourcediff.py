"""Versions, source side: which declarations two versions of a guideline add, remove or change.

`hgl diff` opens with this summary before the behavioural changes.  Each declaration is compared
by its own text (comments and layout left out), token by token, so an edit reads as what the
author changed: `define bm_needs_local_first: threshold 30 mm → 20 mm`.  Rules are compared one
by one; a section by its own lines (title, provenance, …), without its rules.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from hgl.compiler.front import nodes as n
from hgl.compiler.front.source import Source, Span

_TOKEN = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_/]*'
                    r"|<=|>=|!=|\S")
_NUMBER = re.compile(r"\d+(?:\.\d+)?\Z")
_WORD = re.compile(r"[A-Za-z_%][A-Za-z0-9_/%\[\]]*\Z")
MAX_EDITS = 3  # edits spelled out per declaration; more are counted


@dataclass(frozen=True)
class SourceChange:
    """One declaration added, removed or changed; `edits` says what changed, in the author's tokens."""

    change: str  # "added" | "removed" | "changed"
    kind: str  # "rule", "define", "input", …
    name: str
    edits: tuple[str, ...] = ()
    section: str = ""  # for a rule: its section
    meaning: bool = True  # False: only text in quotes or a FHIR binding changed (wording, not decisions)

    def describe(self) -> str:
        what = f"{self.change} {self.kind} {self.name}"
        return what + (": " + "; ".join(self.edits) if self.edits else "")

    def to_dict(self) -> dict:
        return {"change": self.change, "kind": self.kind, "name": self.name, "edits": list(self.edits),
                "section": self.section, "meaning": self.meaning}


def _slice(source: Source, span: Span) -> str:
    if span.line < 1:
        return ""
    lines = source.lines[span.line - 1: span.end_line]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][span.column - 1: span.end_column - 1]
    return "\n".join([lines[0][span.column - 1:], *lines[1:-1], lines[-1][: span.end_column - 1]])


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text) if not t.startswith("#")]


def _name(d) -> str:
    name = getattr(d, "name", None) or getattr(d, "id", None)
    return getattr(name, "text", str(name))


def declarations(g: n.Guideline, source: Source) -> dict[tuple[str, str], tuple[list[str], str]]:
    """(kind, name) -> (the declaration's tokens, its section for a rule), in source order."""
    out: dict[tuple[str, str], tuple[list[str], str]] = {}

    def add(kind: str, d, text: str | None = None, section: str = "") -> None:
        out[(kind, _name(d))] = (_tokens(text if text is not None else _slice(source, d.span)), section)

    if g.meta is not None:
        add("guideline", g.meta)
    for kind, items in (("provenance", g.provenance), ("strength", g.strengths), ("evidence", g.evidence),
                        ("vocabulary", g.vocabularies), ("kind", g.kinds), ("role", g.roles),
                        ("option", g.options), ("flag", g.flags), ("input", g.inputs),
                        ("parameter", g.parameters), ("define", g.definitions), ("constraint", g.constraints),
                        ("outcomes", g.groups)):
        for d in items:
            add(kind, d)
    for s in g.sections:
        text = _slice(source, s.span)
        for r in s.rules:  # the section's own lines: its text without its rules
            text = text.replace(_slice(source, r.span), "")
        add("section", s, text)
        for r in s.rules:
            add("rule", r, section=s.name.text)
    if g.combination is not None:
        out[("combination", "")] = (_tokens(_slice(source, g.combination.span)), "")
    for a in getattr(g, "accepts", ()):
        out[("accept", f"{a.code.text} on {a.rule.text}")] = (_tokens(_slice(source, a.span)), "")
    return out


# Declarations whose edits never change a recommendation: sources, evidence, metadata, acknowledgements.
_NO_DECISION = frozenset({"guideline", "provenance", "strength", "evidence", "accept"})


def _decisive(tokens: list[str], kind: str) -> list[str]:
    """The tokens that can change a decision: without texts in quotes, `fhir … end` bindings, and in a
    vocabulary the terminology codes of its terms (`code rxnorm "…"`, `members rxnorm "…", "…"`)."""
    out, skip, system = [], False, False
    for t in tokens:
        if t == "fhir":
            skip = True
        elif skip and t == "end":
            skip = False
        elif system:
            system = False  # the code system's name
        elif kind == "vocabulary" and t in ("code", "members"):
            system = True
        elif not skip and not t.startswith('"') and t != ",":
            out.append(t)
    return out


def _edits(old: list[str], new: list[str]) -> tuple[str, ...]:
    """What changed between two token lists, as short phrases (a number keeps its unit)."""
    m = difflib.SequenceMatcher(None, old, new, autojunk=False)
    ops = [op for op in m.get_opcodes() if op[0] != "equal"]
    out = []
    for tag, i1, i2, j1, j2 in ops[:MAX_EDITS]:
        a, b = old[i1:i2], new[j1:j2]
        threshold = len(a) == len(b) == 1 and _NUMBER.match(a[0]) and _NUMBER.match(b[0])
        if threshold and i2 < len(old) and j2 < len(new) and old[i2] == new[j2] and _is_unit(old[i2]):
            a, b = a + [old[i2]], b + [new[j2]]  # the unit after the number: 30 mm → 20 mm
        left, right = _short(" ".join(a)), _short(" ".join(b))
        if tag == "replace" and len(a) == len(b) == 1 and a[0][:1] == b[0][:1] == '"':
            left, right = _text_edit(a[0].strip('"'), b[0].strip('"'))
        if tag == "replace":
            out.append(("threshold " if threshold else "") + f"{left} → {right}")
        elif tag == "delete":
            out.append(f"removed {left}")
        else:
            out.append(f"added {right}")
    if len(ops) > MAX_EDITS:
        out.append(f"{len(ops) - MAX_EDITS} more edit(s)")
    counted = {e: out.count(e) for e in out}  # the same edit twice in one declaration: once, counted
    return tuple(e + (f" ({k} times)" if k > 1 else "") for e, k in counted.items())


def _text_edit(a: str, b: str, context: int = 3) -> tuple[str, str]:
    """Two versions of a text, cut to the words that differ with a few words around them."""
    wa, wb = a.split(), b.split()
    head = 0
    while head < min(len(wa), len(wb)) and wa[head] == wb[head]:
        head += 1
    tail = 0
    while tail < min(len(wa), len(wb)) - head and wa[-1 - tail] == wb[-1 - tail]:
        tail += 1
    start = max(0, head - context)

    def cut(words: list[str]) -> str:
        end = len(words) - max(0, tail - context)
        text = " ".join(words[start:end])
        shown = _short(text, 80)
        return ("…" if start else "") + shown + ("…" if end < len(words) and not shown.endswith("…") else "")

    return f'"{cut(wa)}"', f'"{cut(wb)}"'


def _is_unit(token: str) -> bool:
    """A word after a number that is its unit (`30 mm`), not the next keyword (`50 prefer`, `3 and`)."""
    from hgl.compiler.front.parser import keywords

    return bool(_WORD.match(token)) and token not in keywords()


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def source_changes(old_g: n.Guideline, old_src: Source, new_g: n.Guideline, new_src: Source) -> list[SourceChange]:
    """Declarations removed, changed and added, each group in source order (old order for removed)."""
    a, b = declarations(old_g, old_src), declarations(new_g, new_src)
    out = []
    for key, (tokens, section) in b.items():
        if key in a and a[key][0] != tokens:
            meaning = key[0] not in _NO_DECISION and _decisive(a[key][0], key[0]) != _decisive(tokens, key[0])
            out.append(SourceChange("changed", key[0], key[1], _edits(a[key][0], tokens), section, meaning))
    out += [SourceChange("removed", k[0], k[1], (), a[k][1], k[0] not in _NO_DECISION) for k in a if k not in b]
    out += [SourceChange("added", k[0], k[1], (), b[k][1], k[0] not in _NO_DECISION) for k in b if k not in a]
    return out


def summary_line(changes: list[SourceChange]) -> str:
    counts = {c: sum(x.change == c for x in changes) for c in ("changed", "added", "removed")}
    parts = [f"{v} {k}" for k, v in counts.items() if v]
    return "Source: " + (", ".join(parts) + " declaration(s)" if parts else "no declaration changed")
