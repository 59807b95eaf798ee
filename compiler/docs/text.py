"""Docs generation, text stage: the resolved program's conditions and outcomes -> plain words, and guideline text -> inert Markdown.

Everything an author wrote (titles, rationale, labels, evidence fields) is data: `esc` turns
it into Markdown that renders as exactly that text, never as HTML, a link, a table cell
border or an emphasis.  Trusted fragments built here are `Md` strings; the Jinja
environment escapes every other string it prints (see site.make_env).
"""

from __future__ import annotations

import re

from markupsafe import Markup

from hgl.compiler.check import program as p
from hgl.compiler.check.program import Program, Visitor, conjuncts
from hgl.compiler.explain.unparse import OPS, unparse

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


def anchor(kind: str, name: str) -> str:
    """A stable HTML id; guideline names are identifiers, so they are safe as they are."""
    return f"{kind}-{name}"


# ---------------------------------------------------------------- conditions in plain words


class Describer(Visitor):
    """Plain-language text of conditions, filters and selectors: labels for names, words for operators.

    `text(e)` visits the resolved program's nodes (`visit_<Class>(node, top)`; `top` is False
    for an operand, which puts a nested `and`/`or`/`if` in parentheses).  The result is plain
    text (escaped by the caller); enum values keep their names with underscores replaced, so
    a clinician reads `active untreated`, not code.  Unlike the explanation's `Words`, it
    keeps the guideline's structure (parentheses, `any of`, `one of {…}`) and labels as
    declared: a rule card lists the conditions without a case's values.
    """

    def __init__(self, program: Program):
        self.program = program
        # values read better by their labels: a drug or an option, not its identifier.  By name, as
        # the pages always did: an option's label wins over a vocabulary term of the same name
        # (her2_mbc's drug `t_dxd` reads as the option 'Trastuzumab deruxtecan (T-DXd)').
        self.value_labels = {e.text: label for v in program.guideline.vocabularies for e, label in v.entries if label}
        self.value_labels.update((name, o.label) for name, o in program.options.items())

    def conditions(self, expr) -> list[str]:
        """One phrase per top-level conjunct (the parts that must all hold)."""
        return [self.text(c) for c in conjuncts(expr)]

    def text(self, e, top: bool = True) -> str:
        """A condition, value, filter or selector in words; an operand (`top` False) in parentheses if needed."""
        return self.visit(e, top)

    def sub(self, e) -> str:
        return self.visit(e, False)

    def selector(self, sel) -> str:
        return self.visit(sel, True)

    def option(self, name: str) -> str:
        opt = self.program.options.get(name)
        return opt.label if opt else name.replace("_", " ")

    # ------------------------------------------------------------ values
    def visit_Var(self, e, top):
        return self.program.label(e.name)

    def visit_Value(self, e, top):
        return self.value_labels.get(e.value, e.value.replace("_", " "))

    def visit_Num(self, e, top):
        return e.written

    def visit_Bool(self, e, top):
        return "yes" if e.value else "no"

    def visit_SetOf(self, e, top):
        return "{" + ", ".join(v.replace("_", " ") for v in e.values) + "}"

    def visit_Binary(self, e, top):
        return f"{self.sub(e.left)} {e.op} {self.sub(e.right)}"

    def visit_DrugsOf(self, e, top):
        return f"drugs of {self.sub(e.operand)}"

    def visit_If(self, e, top):
        parts = [("if " if i == 0 else "else if ") + self.sub(c) + " then " + self.sub(v)
                 for i, (c, v) in enumerate(e.branches)]
        return "(" + " ".join(parts) + " else " + self.sub(e.otherwise) + ")"

    # ------------------------------------------------------------ conditions
    def _join(self, operands, word: str, top: bool) -> str:
        text = word.join(self.sub(x) for x in operands)
        return text if top else f"({text})"

    def visit_And(self, e, top):
        return self._join(e.operands, " and ", top)

    def visit_Or(self, e, top):
        return self._join(e.operands, " or ", top)

    def visit_Not(self, e, top):
        return "not " + self.sub(e.operand)

    def visit_Compare(self, e, top):
        parts = [self.sub(e.operands[0])]
        for op, x in zip(e.ops, e.operands[1:]):
            parts += [OPS[op], self.sub(x)]
        return " ".join(parts)

    def visit_IsMissing(self, e, top):
        return f"{self.sub(e.operand)} is {'recorded' if e.negated else 'missing'}"

    def visit_IsEmpty(self, e, top):
        return f"{self.sub(e.operand)} is {'not ' if e.negated else ''}empty"

    def visit_Member(self, e, top):
        verb = "is not" if e.negated else "is"
        if isinstance(e.collection, p.SetOf):  # a set written out reads as a choice: 'is one of {a, b}'
            return f"{self.sub(e.element)} {verb} one of {self.text(e.collection)}"
        return f"{self.sub(e.element)} {verb} in {self.sub(e.collection)}"

    def visit_SetTest(self, e, top):
        return f"{self.sub(e.left)} has {e.quantifier} of {self.sub(e.right)}"

    def visit_HasRole(self, e, top):
        return f"{self.option(e.option)} is {e.role}"

    def visit_AnyOption(self, e, top):
        return f"any {e.role} option" + "".join(" " + self.sub(f) for f in e.filters)

    # ------------------------------------------------------------ option filters and selectors
    def visit_Containing(self, f, top):
        return ("containing any of " if f.any_of else "containing ") + self.sub(f.value)

    def visit_AllDrugsIn(self, f, top):
        return "with all drugs in " + self.sub(f.value)

    def visit_OptionIn(self, f, top):
        return "in " + self.sub(f.value)

    def visit_SelectOption(self, sel, top):
        return self.option(sel.option)

    def visit_SelectEvery(self, sel, top):
        text = "every option" + "".join(" " + self.sub(f) for f in sel.filters)
        if sel.except_:
            text += " except " + ", ".join(self.option(x) for x in sel.except_)
        return text


# ---------------------------------------------------------------- outcomes


def outcome_items(outcomes, program: Program, describer: Describer, depth: int = 0) -> list[dict]:
    """Outcomes as written -> a tree of display items: {kind, role?, options?, flags?, text?, children?}.

    Items carry names only; templates make the links and labels.  `use` of a shared
    outcome group is expanded in place, under the group's label.
    """
    items: list[dict] = []
    for o in outcomes:
        if isinstance(o, p.Propose):
            items.append({"kind": "propose", "role": o.role, "options": list(o.options)})
        elif isinstance(o, p.Restrict):
            one = isinstance(o.selector, p.SelectOption)
            items.append({"kind": "restrict", "action": o.action, "options": [o.selector.option] if one else [],
                          "text": "" if one else describer.selector(o.selector), "hgl": unparse(o.selector)})
        elif isinstance(o, p.RaiseFlag):
            items.append({"kind": "flag", "flags": list(o.flags)})
        elif isinstance(o, p.Request):
            items.append({"kind": "request", "input": o.input, "label": program.label(o.input),
                          "flags": [o.flag] if o.flag else []})
        elif isinstance(o, p.Withhold):
            items.append({"kind": "withhold"})
        elif isinstance(o, p.Use):
            group = program.groups.get(o.group)
            children = outcome_items(group.outcomes, program, describer, depth + 1) if group and depth < 10 else []
            items.append({"kind": "use", "group": o.group, "label": (group.label if group and group.label else o.group),
                          "children": children})
        elif isinstance(o, p.OutcomeIf):
            for i, (cond, outs) in enumerate(o.branches):
                items.append({"kind": "if", "text": ("If " if i == 0 else "Otherwise, if ") + describer.text(cond),
                              "children": outcome_items(outs, program, describer, depth + 1)})
            if o.otherwise:
                items.append({"kind": "if", "text": "Otherwise",
                              "children": outcome_items(o.otherwise, program, describer, depth + 1)})
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
