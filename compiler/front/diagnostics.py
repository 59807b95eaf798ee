"""Diagnostics: the codes table, the Diagnostic record and its rendering."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hgl.compiler.front.source import Source, Span

# code -> (severity, title).  Codes are stable: never renumber, only add; a code nothing can
# produce is removed (HGL401 was: a rule without 'when' is legal and always applies).
# Families: 1xx syntax, 2xx names, 3xx types/units/values, 4xx clinical logic,
# 5xx verification findings, 9xx internal.
CODES: dict[str, tuple[str, str]] = {
    "HGL100": ("error", "syntax error"),
    "HGL101": ("error", "unexpected end of file"),
    "HGL102": ("error", "unterminated text"),
    "HGL103": ("error", "character not allowed here"),
    "HGL104": ("error", "block not closed"),
    "HGL201": ("error", "unknown name"),
    "HGL202": ("error", "duplicate declaration"),
    "HGL203": ("warning", "declared but never used"),
    "HGL204": ("error", "unknown provenance tag"),
    "HGL205": ("error", "unknown evidence entry"),
    "HGL206": ("error", "unknown option"),
    "HGL207": ("error", "unknown flag"),
    "HGL208": ("error", "unknown metadata field"),
    "HGL209": ("error", "missing required metadata"),
    "HGL210": ("error", "definitions depend on each other in a cycle"),
    "HGL211": ("error", "ambiguous name"),
    "HGL212": ("error", "unknown strength"),
    "HGL213": ("error", "unknown role"),
    "HGL214": ("warning", "guideline metadata a published guideline needs"),
    "HGL215": ("error", "invalid acknowledgement"),
    "HGL301": ("error", "type mismatch"),
    "HGL302": ("error", "unit mismatch"),
    "HGL303": ("error", "value not in the allowed set"),
    "HGL304": ("error", "value out of range"),
    "HGL305": ("error", "unknown unit"),
    "HGL306": ("error", "quantity needs a unit"),
    "HGL307": ("error", "invalid default"),
    "HGL402": ("error", "governing rule outside the governing order"),
    "HGL403": ("error", "a rule that reads the proposal cannot propose options"),
    "HGL404": ("error", "bad combination declaration"),
    "HGL405": ("warning", "rule has no outcome"),
    "HGL406": ("warning", "rule without provenance"),
    "HGL407": ("error", "outcome group used recursively"),
    "HGL408": ("error", "request names something that is not an input"),
    "HGL501": ("warning", "gap: a valid case gets no recommendation"),
    "HGL502": ("warning", "conflict: an option both proposed and avoided"),
    "HGL503": ("warning", "dead rule: can never fire"),
    "HGL504": ("warning", "dead rule: every outcome always overridden"),
    "HGL505": ("warning", "unreachable missing-data branch"),
    "HGL506": ("warning", "conflict: preferred options of an exclusive section overlap"),
    "HGL507": ("warning", "acknowledged finding not reported"),
    "HGL508": ("warning", "no preferred option for a valid case"),
    "HGL601": ("error", "FHIRPath expression does not parse"),
    "HGL602": ("error", "unknown FHIR resource type"),
    "HGL603": ("error", "FHIR binding does not fit its input"),
    "HGL604": ("error", "canonical base is not an absolute URL"),
    "HGL605": ("warning", "FHIR fact read by no input"),
    "HGL901": ("error", "internal compiler error"),
}


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a source file, positioned at a span."""

    code: str
    message: str
    span: Span
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())
    data: dict | None = None  # machine-readable extras, e.g. a witness case
    related: tuple[tuple[Span, str], ...] = field(default=())  # other places, e.g. where a block opens

    @property
    def severity(self) -> str:
        return CODES[self.code][0]

    def sort_key(self):
        return (self.span.line, self.span.column, self.code, self.message)


class HglError(Exception):
    """Raised with the diagnostics of a source that does not compile."""

    def __init__(self, source: Source, diagnostics: list[Diagnostic]):
        self.source = source
        self.diagnostics = diagnostics
        super().__init__(render_all(source, diagnostics))


def _shown(ch: str) -> str:
    """A character as an excerpt shows it: control and bidirectional-override characters escaped."""
    o = ord(ch)
    if o < 0x20 or 0x7F <= o < 0xA0:
        return f"\\x{o:02x}"
    if 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069 or o in (0x200E, 0x200F, 0x061C):
        return f"\\u{o:04x}"
    return ch


def safe_text(text: str) -> str:
    """Text for a terminal: a guideline cannot send escape codes through a diagnostic."""
    return "".join(map(_shown, text))


def render(source: Source, d: Diagnostic, color: bool = False) -> str:
    """GNU-style first line, then the source line with a caret under the span.

    Control characters anywhere (the line, the message, a hint, the file name) are shown
    escaped (\\x1b), and the caret stays under the escaped text.
    """
    sev = d.severity
    name, message = safe_text(source.name), safe_text(d.message)
    head = f"{name}:{d.span.line}:{d.span.column}: {sev}[{d.code}]: {message}"
    if color:
        c = "\033[1;31m" if sev == "error" else "\033[1;33m"
        head = f"\033[1m{name}:{d.span.line}:{d.span.column}:\033[0m {c}{sev}[{d.code}]\033[0m: {message}"
    out = [head]
    text = source.line_text(d.span.line)
    gutter = max([len(str(d.span.line))] + [len(str(sp.line)) for sp, _ in d.related])
    if d.span.line >= 1:
        num = str(d.span.line).rjust(gutter)
        pad = " " * len(num)
        width = 1
        if d.span.end_line == d.span.line and d.span.end_column > d.span.column:
            width = d.span.end_column - d.span.column
        width = max(1, min(width, max(1, len(text) - d.span.column + 1)))
        text = text.replace("\t", " ")
        start = d.span.column - 1
        before, under = safe_text(text[:start]), safe_text(text[start:start + width])
        out.append(f"{pad} |")
        out.append(f"{num} | {before}{safe_text(text[start:])}")
        out.append(f"{pad} | {' ' * (len(before) + max(0, start - len(text)))}{'^' * max(1, len(under))}")
    for span, note in d.related:  # a secondary excerpt, underlined with '-'
        out.extend(_excerpt(source, span, "-", note, gutter))
    for note in d.notes:
        out.append(f"  = note: {safe_text(note)}")
    if d.hint:
        out.append(f"  = help: {safe_text(d.hint)}")
    return "\n".join(out)


def _excerpt(source: Source, span: Span, mark: str, note: str, gutter: int) -> list[str]:
    text = source.line_text(span.line).replace("\t", " ")
    if span.line < 1:
        return [f"  = note: {safe_text(note)}"]
    num = str(span.line).rjust(gutter)
    start = span.column - 1
    width = span.end_column - span.column if span.end_line == span.line and span.end_column > span.column else 1
    before = safe_text(text[:start])
    under = mark * max(1, len(safe_text(text[start:start + width])))
    return [f"{' ' * len(num)} |", f"{num} | {safe_text(text)}", f"{' ' * len(num)} | {' ' * len(before)}{under} {safe_text(note)}"]


def render_all(source: Source, diagnostics: list[Diagnostic], color: bool = False) -> str:
    parts = [render(source, d, color) for d in sorted(diagnostics, key=Diagnostic.sort_key)]
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    if diagnostics:
        parts.append(f"{safe_text(source.name)}: {errors} error(s), {warnings} warning(s)")
    return "\n".join(parts)


def to_json(source: Source, diagnostics: list[Diagnostic]) -> list[dict]:
    out = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        item = {
            "file": source.name,
            "line": d.span.line,
            "column": d.span.column,
            "end_line": d.span.end_line,
            "end_column": d.span.end_column,
            "severity": d.severity,
            "code": d.code,
            "message": d.message,
            "hint": d.hint,
        }
        if d.notes:
            item["notes"] = list(d.notes)
        if d.data is not None:
            item["data"] = d.data
        if d.related:
            item["related"] = [{"line": sp.line, "column": sp.column, "end_line": sp.end_line,
                                "end_column": sp.end_column, "message": note} for sp, note in d.related]
        out.append(item)
    return out


def dumps(source: Source, diagnostics: list[Diagnostic]) -> str:
    return json.dumps(to_json(source, diagnostics), indent=2, ensure_ascii=False)


def closest(name: str, candidates) -> str | None:
    """The candidate closest to `name`: by edit similarity, else the one candidate `name` begins or names
    a word of (`lvef` -> `lvef_percent`, `percent` -> `lvef_percent`); None when nothing or several fit.

    Callers pass candidates of the one kind that can stand where `name` is (an evidence id only
    where an evidence id is expected), so a suggestion never crosses declaration kinds.
    """
    import difflib

    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return close[0]
    key = name.lower().strip("_")
    if len(key) < 3:
        return None
    words = [c for c in dict.fromkeys(candidates) if c.lower().startswith(key) or key in c.lower().split("_")
             or c.lower().replace("_", "") == key.replace("_", "")]
    return words[0] if len(words) == 1 else None


def did_you_mean(name: str, candidates) -> str | None:
    """The closest candidate, phrased as a hint."""
    found = closest(name, candidates)
    return f"did you mean '{found}'?" if found else None
