"""Docs generation, text stage: outcomes -> display items, and guideline text -> inert Markdown.

Conditions, selectors and values are said by the explanation builder
(hgl.compiler.explain.words.Words.text), the same words a `because` uses, without a case's values.

Everything an author wrote (titles, rationale, labels, evidence fields) is data: `esc` turns
it into Markdown that renders as exactly that text, never as HTML, a link, a table cell
border or an emphasis.  Trusted fragments built here are `Md` strings; the Jinja
environment escapes every other string it prints (see site.make_env).
"""

from __future__ import annotations

import re

from markupsafe import Markup

from hgl.compiler.check import program as p
from hgl.compiler.check.program import Program
from hgl.compiler.explain.unparse import unparse
from hgl.compiler.explain.words import Words

# Characters that start Markdown (or Markdown-extension) syntax anywhere in a line.  Each
# becomes a numeric character reference: the browser shows the character, Markdown sees
# no syntax (a backslash escape would not work inside tables or raw HTML).
_ENTITIES = {c: f"&#{ord(c)};" for c in "\\`*_{}[]|!#~^="}
_ENTITIES.update({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})
_LINE_START = re.compile(r"^(\s*\d*)([-+.)])")


class Md(Markup):
    """A trusted Markdown/HTML fragment: printed as it is (Jinja treats it as safe)."""

    __slots__ = ()


def esc(text) -> Md:
    """Guideline text as inert Markdown: HTML-escaped, Markdown syntax neutralised, one line."""
    if text is None:
        return Md("")
    s = " ".join(str(text).split())  # a newline could end a table row or start a block
    s = "".join(_ENTITIES.get(c, c) for c in s)  # one pass: an entity is never escaped again
    # a leading list marker, quote or ordered-list number would start a block
    s = _LINE_START.sub(lambda m: m.group(1) + f"&#{ord(m.group(2))};", s)
    return Md(s)


def code(text) -> Md:
    """An identifier shown as code (raw HTML, so the escaped entities still render)."""
    return Md(f"<code>{esc(text)}</code>")


def attr(text) -> str:
    """A value for an HTML/SVG attribute or element text inside raw HTML."""
    return "".join(_ENTITIES.get(c, c) if c in "&<>\"'" else c for c in str(text))


def chip_label(tag: str, meaning: str) -> str:
    """A provenance tag's short label for its chip, from its name and its declared meaning.

    Each part of the name (split at `_`) is shown as the meaning spells it when the meaning has
    a word that is, or starts with, that part ("esmo" -> "ESMO", "sys" -> "systemic"); a short
    part the meaning does not spell is an abbreviation ("bm" -> "BM"); any other part is a word.
    """
    words = re.findall(r"[A-Za-z][A-Za-z0-9]*", meaning or "")
    out = []
    for i, part in enumerate(p for p in str(tag).split("_") if p):
        low = part.lower()
        spelt = next((w for w in words if w.lower() == low), None)
        if spelt is None and len(low) >= 3:
            spelt = next((w for w in words if w.lower().startswith(low) and w.islower()), None)
        if spelt is None:
            spelt = part.upper() if len(part) <= 3 else part.lower()
        out.append(spelt[0].upper() + spelt[1:] if i == 0 else spelt)
    return " ".join(out) or str(tag)


def anchor(kind: str, name: str) -> str:
    """A stable HTML id; guideline names are identifiers, so they are safe as they are."""
    return f"{kind}-{name}"


# ---------------------------------------------------------------- outcomes


def outcome_items(outcomes, program: Program, words: Words, depth: int = 0) -> list[dict]:
    """Outcomes as written -> a tree of display items: {kind, role?, options?, flags?, text?, children?}.

    Items carry names only; templates make the links and labels.  `use` of a shared
    outcome group is expanded in place, under the group's label.  Selectors and `if`
    conditions are in the explanation's words (`words.text`).
    """
    items: list[dict] = []
    for o in outcomes:
        if isinstance(o, p.Propose):
            label = program.roles[o.role][0] if o.role in program.roles else o.role
            items.append({"kind": "propose", "role": o.role, "label": label, "options": list(o.options)})
        elif isinstance(o, p.Restrict):
            one = isinstance(o.selector, p.SelectOption)
            items.append({"kind": "restrict", "action": o.action, "options": [o.selector.option] if one else [],
                          "text": "" if one else words.text(o.selector), "hgl": unparse(o.selector)})
        elif isinstance(o, p.RaiseFlag):
            items.append({"kind": "flag", "flags": list(o.flags)})
        elif isinstance(o, p.Request):
            items.append({"kind": "request", "input": o.input, "label": program.label(o.input),
                          "flags": [o.flag] if o.flag else []})
        elif isinstance(o, p.Withhold):
            items.append({"kind": "withhold"})
        elif isinstance(o, p.Use):
            group = program.groups.get(o.group)
            children = outcome_items(group.outcomes, program, words, depth + 1) if group and depth < 10 else []
            items.append({"kind": "use", "group": o.group, "label": (group.label if group and group.label else o.group),
                          "children": children})
        elif isinstance(o, p.OutcomeIf):
            for i, (cond, outs) in enumerate(o.branches):
                items.append({"kind": "if", "text": ("If " if i == 0 else "Otherwise, if ") + words.text(cond),
                              "children": outcome_items(outs, program, words, depth + 1)})
            if o.otherwise:
                items.append({"kind": "if", "text": "Otherwise",
                              "children": outcome_items(o.otherwise, program, words, depth + 1)})
    return items


def options_in(items) -> list[str]:
    """Every option an outcome tree names, in order, once."""
    seen: list[str] = []
    for it in items:
        for o in it.get("options", []):
            if o not in seen:
                seen.append(o)
        for o in options_in(it.get("children", [])):
            if o not in seen:
                seen.append(o)
    return seen
