"""Docs generation, text stage: guideline text made safe for Markdown, and conditions and outcomes in plain words.

Everything an author wrote (titles, rationale, labels, evidence fields) is data: `esc` turns
it into Markdown that renders as exactly that text, never as HTML, a link, a table cell
border or an emphasis.  Trusted fragments built here are `Md` strings; the Jinja
environment escapes every other string it prints (see docgen.make_env).
"""

from __future__ import annotations

import re

from markupsafe import Markup

from hgl.compiler.front import nodes as n
from hgl.compiler.explain.words import conjuncts, selector_text, unparse

# Characters that start Markdown (or Markdown-extension) syntax anywhere in a line.  Each
# becomes a numeric character reference: the browser shows the character, Markdown sees
# no syntax (a backslash escape would not work inside tables or raw HTML).
_ENTITIES = {c: f"&#{ord(c)};" for c in "\\`*_{}[]|!#~^="}
_ENTITIES.update({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})
_LINE_START = re.compile(r"^(\s*\d*)([-+.)])")
_OPS = {"=": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}


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


def anchor(kind: str, name: str) -> str:
    """A stable HTML id; guideline names are identifiers, so they are safe as they are."""
    return f"{kind}-{name}"


# ---------------------------------------------------------------- conditions in plain words


class Describer:
    """Plain-language text of conditions: labels for names, words for operators.

    The result is plain text (escaped by the caller); values of enums keep their names
    with underscores replaced, so a clinician reads `active untreated`, not code.
    """

    def __init__(self, model):
        self.m = model
        # values read better by their labels: a drug or an option, not its identifier
        self.values = {name: label for v in model.guideline.vocabularies for name, label in
                       ((e.text, lab) for e, lab in v.entries) if label}
        self.values.update({k: o.label for k, o in model.options.items()})

    def conditions(self, expr) -> list[str]:
        """One phrase per top-level conjunct (the parts that must all hold)."""
        return [self.text(c) for c in conjuncts(expr)]

    def text(self, e, top: bool = True) -> str:
        m = self.m
        if isinstance(e, n.Ref):
            kind, name = m.refs.get(id(e), ("", e.name.text))
            if kind in ("input", "parameter", "definition"):
                return m.label(name)
            return self.values.get(e.name.text, e.name.text.replace("_", " "))
        if isinstance(e, n.Quantity):
            return unparse(e, m)
        if isinstance(e, n.BoolLit):
            return "yes" if e.value else "no"
        if isinstance(e, n.SetLit):
            return "{" + ", ".join(i.text.replace("_", " ") for i in e.items) + "}"
        if isinstance(e, n.And):
            return self._join(e.operands, " and ", top)
        if isinstance(e, n.Or):
            return self._join(e.operands, " or ", top)
        if isinstance(e, n.Not):
            return "not " + self._sub(e.operand)
        if isinstance(e, n.Compare):
            parts = [self._sub(e.operands[0])]
            for op, x in zip(e.ops, e.operands[1:]):
                parts += [_OPS[op], self._sub(x)]
            return " ".join(parts)
        if isinstance(e, n.IsMissing):
            return f"{self._sub(e.operand)} is {'recorded' if e.negated else 'missing'}"
        if isinstance(e, n.IsEmpty):
            return f"{self._sub(e.operand)} is {'not ' if e.negated else ''}empty"
        if isinstance(e, n.Member):
            verb = "is not" if e.negated else "is"
            if isinstance(e.collection, n.SetLit):
                return f"{self._sub(e.element)} {verb} one of {self.text(e.collection)}"
            return f"{self._sub(e.element)} {verb} in {self._sub(e.collection)}"
        if isinstance(e, n.SetTest):
            return f"{self._sub(e.left)} has {e.quantifier} of {self._sub(e.right)}"
        if isinstance(e, n.Binary):
            return f"{self._sub(e.left)} {e.op} {self._sub(e.right)}"
        if isinstance(e, n.DrugsOf):
            return f"drugs of {self._sub(e.operand)}"
        if isinstance(e, n.HasRole):
            return f"{self._option(e.option.text)} is {e.role}"
        if isinstance(e, n.AnyOption):
            return f"any {e.role} option" + "".join(" " + self._filter(f) for f in e.filters)
        if isinstance(e, n.If):
            parts = []
            for i, (c, v) in enumerate(e.branches):
                parts.append(("if " if i == 0 else "else if ") + self.text(c, False) + " then " + self._sub(v))
            return "(" + " ".join(parts) + " else " + self._sub(e.otherwise) + ")"
        return unparse(e, m)  # pragma: no cover - every node kind is handled above

    def _join(self, items, word, top):
        text = word.join(self._sub(x) for x in items)
        return text if top else f"({text})"

    def _sub(self, e) -> str:
        return self.text(e, False)

    def _option(self, name: str) -> str:
        opt = self.m.options.get(name)
        return opt.label if opt else name.replace("_", " ")

    def _filter(self, f) -> str:
        if isinstance(f, n.Containing):
            return ("containing any of " if f.any_of else "containing ") + self._sub(f.value)
        if isinstance(f, n.AllDrugsIn):
            return "with all drugs in " + self._sub(f.value)
        return "in " + self._sub(f.value)

    def selector(self, sel) -> str:
        if isinstance(sel, n.SelectOption):
            return self._option(sel.option.text)
        text = "every option" + "".join(" " + self._filter(f) for f in sel.filters)
        if sel.except_:
            text += " except " + ", ".join(self._option(x.text) for x in sel.except_)
        return text


# ---------------------------------------------------------------- outcomes


ROLE_WORDS = {"preferred": "Preferred", "alternative": "Alternative"}
ACTION_WORDS = {"avoid": "Avoid", "demote": "Not preferred", "drop": "Not offered (dropped)"}


def outcome_items(outcomes, model, describer: Describer, depth: int = 0) -> list[dict]:
    """Outcomes as a tree of display items: {kind, role?, options?, flags?, text?, children?}.

    Items carry names only; templates make the links and labels.  `use` of a shared
    outcome group is expanded in place, under the group's label.
    """
    items: list[dict] = []
    for o in outcomes:
        if isinstance(o, n.Propose):
            items.append({"kind": "propose", "role": o.role, "options": [x.text for x in o.options]})
        elif isinstance(o, n.Restrict):
            sel = o.selector
            items.append({"kind": "restrict", "action": o.action,
                          "options": [sel.option.text] if isinstance(sel, n.SelectOption) else [],
                          "text": "" if isinstance(sel, n.SelectOption) else describer.selector(sel),
                          "hgl": selector_text(sel, model)})
        elif isinstance(o, n.RaiseFlag):
            items.append({"kind": "flag", "flags": [x.text for x in o.flags]})
        elif isinstance(o, n.Request):
            items.append({"kind": "request", "input": o.input.text, "label": model.label(o.input.text),
                          "flags": [o.flag.text] if o.flag else []})
        elif isinstance(o, n.Withhold):
            items.append({"kind": "withhold"})
        elif isinstance(o, n.Use):
            group = model.groups.get(o.group.text)
            children = outcome_items(group.outcomes, model, describer, depth + 1) if group and depth < 10 else []
            items.append({"kind": "use", "group": o.group.text,
                          "label": (group.label if group and group.label else o.group.text), "children": children})
        elif isinstance(o, n.OutcomeIf):
            for i, (cond, outs) in enumerate(o.branches):
                items.append({"kind": "if", "text": ("If " if i == 0 else "Otherwise, if ") + describer.text(cond),
                              "children": outcome_items(outs, model, describer, depth + 1)})
            if o.otherwise:
                items.append({"kind": "if", "text": "Otherwise",
                              "children": outcome_items(o.otherwise, model, describer, depth + 1)})
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
