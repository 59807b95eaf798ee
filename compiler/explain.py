"""Plain words for expressions: canonical HGL text and sentence templates with value slots.

Shared by codegen (the `because` of a result) and docgen (rule cards).  A template is a
list of pieces: literal text, or ("value", symbol name) for a slot the runtime fills.
"""

from __future__ import annotations

from . import nodes as n
from .types import Model

_OPS = {"=": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}
_PREC = {n.Or: 1, n.And: 2, n.Not: 3}


def unparse(e, model: Model | None = None) -> str:
    """Canonical HGL text of an expression (names as written)."""
    return _Unparser(model).go(e, 0)


class _Unparser:
    def __init__(self, model):
        self.m = model

    def go(self, e, prec: int) -> str:
        text, p = self._text(e)
        return f"({text})" if p < prec else text

    def _text(self, e):
        if isinstance(e, n.Ref):
            return e.name.text, 9
        if isinstance(e, n.Quantity):
            v = e.value
            num = str(v)
            if e.unit is None:
                return num, 9
            return (f"{num} %" if e.unit.text == "%" else f"{num} {e.unit.text}"), 9
        if isinstance(e, n.BoolLit):
            return ("true" if e.value else "false"), 9
        if isinstance(e, n.SetLit):
            return "{" + ", ".join(i.text for i in e.items) + "}", 9
        if isinstance(e, n.Or):
            return " or ".join(self.go(x, 2) for x in e.operands), 1
        if isinstance(e, n.And):
            return " and ".join(self.go(x, 3) for x in e.operands), 2
        if isinstance(e, n.Not):
            return "not " + self.go(e.operand, 4), 3
        if isinstance(e, n.Compare):
            parts = [self.go(e.operands[0], 5)]
            for op, x in zip(e.ops, e.operands[1:]):
                parts += [_OPS[op], self.go(x, 5)]
            return " ".join(parts), 4
        if isinstance(e, n.IsMissing):
            return f"{self.go(e.operand, 5)} is {'not ' if e.negated else ''}missing", 4
        if isinstance(e, n.IsEmpty):
            return f"{self.go(e.operand, 5)} is {'not ' if e.negated else ''}empty", 4
        if isinstance(e, n.Member):
            return f"{self.go(e.element, 5)} {'not in' if e.negated else 'in'} {self.go(e.collection, 5)}", 4
        if isinstance(e, n.SetTest):
            return f"{self.go(e.left, 5)} has {e.quantifier} of {self.go(e.right, 5)}", 4
        if isinstance(e, n.Binary):
            return f"{self.go(e.left, 5)} {e.op} {self.go(e.right, 6)}", 5
        if isinstance(e, n.DrugsOf):
            return f"drugs of {self.go(e.operand, 9)}", 9
        if isinstance(e, n.HasRole):
            return f"{e.option.text} is {e.role}", 4
        if isinstance(e, n.AnyOption):
            return f"any {e.role} option" + "".join(" " + filter_text(f, self.m) for f in e.filters), 9
        if isinstance(e, n.If):
            parts = []
            for i, (c, v) in enumerate(e.branches):
                parts.append(("if " if i == 0 else "else if ") + self.go(c, 0) + " then " + self.go(v, 1))
            return " ".join(parts) + " else " + self.go(e.otherwise, 1), 0
        return "?", 9  # pragma: no cover


def filter_text(f, model=None) -> str:
    if isinstance(f, n.Containing):
        return ("containing any of " if f.any_of else "containing ") + unparse(f.value, model)
    if isinstance(f, n.AllDrugsIn):
        return "with all drugs in " + unparse(f.value, model)
    return "in " + unparse(f.value, model)


def selector_text(sel, model=None) -> str:
    if isinstance(sel, n.SelectOption):
        return sel.option.text
    text = "every option" + "".join(" " + filter_text(f, model) for f in sel.filters)
    if sel.except_:
        text += " except " + ", ".join(x.text for x in sel.except_)
    return text


def conjuncts(e) -> list:
    """Top-level conjuncts of a condition: the parts a `because` lists one by one."""
    if isinstance(e, n.And):
        out = []
        for x in e.operands:
            out.extend(conjuncts(x))
        return out
    return [e]


def sentence(e, model: Model) -> list:
    """A template for one conjunct: text pieces and ("value", name) slots."""
    label = model.label

    def sym(x):
        if isinstance(x, n.Ref):
            kind, name = model.refs.get(id(x), ("", ""))
            if kind in ("input", "parameter", "definition"):
                return name
        return None

    def rhs(x):
        return unparse(x, model).replace("_", " ") if isinstance(x, (n.Ref, n.SetLit)) else unparse(x, model)

    if isinstance(e, n.Ref) and sym(e):
        name = sym(e)
        if model.symbols[name].type.kind == "bool":
            return [label(name)]
        return [f"{label(name)} is ", ("value", name)]
    if isinstance(e, n.Not) and isinstance(e.operand, n.Ref) and sym(e.operand):
        return [f"not: {label(sym(e.operand))}"]
    if isinstance(e, n.Compare) and len(e.ops) == 1 and sym(e.operands[0]):
        name, op, right = sym(e.operands[0]), e.ops[0], e.operands[1]
        if sym(right):
            return [f"{label(name)} is ", ("value", name), f" ({_OPS[op]} {label(sym(right))}, ",
                    ("value", sym(right)), ")"]
        if op == "=":
            return [f"{label(name)} is ", ("value", name)]
        return [f"{label(name)} is ", ("value", name), f" ({_OPS[op]} {rhs(right)})"]
    if isinstance(e, n.Compare) and len(e.ops) == 2 and sym(e.operands[1]):
        name = sym(e.operands[1])
        return [f"{label(name)} is ", ("value", name),
                f" ({unparse(e.operands[0], model)} {_OPS[e.ops[0]]} … {_OPS[e.ops[1]]} "
                f"{unparse(e.operands[2], model)})"]
    if isinstance(e, n.Member) and sym(e.element):
        name = sym(e.element)
        return [f"{label(name)} is ", ("value", name),
                f" ({'not ' if e.negated else ''}one of {rhs(e.collection)})"]
    if isinstance(e, n.Member) and sym(e.collection) and not sym(e.element):
        return [f"{unparse(e.element, model)} {'not ' if e.negated else ''}in {label(sym(e.collection))}"]
    if isinstance(e, n.IsMissing) and sym(e.operand):
        return [f"{label(sym(e.operand))} is {'recorded' if e.negated else 'missing'}"]
    if isinstance(e, n.IsEmpty) and sym(e.operand):
        return [f"{label(sym(e.operand))} is {'not ' if e.negated else ''}empty"]
    # fallback: the condition as written, then the values it reads
    pieces: list = [unparse(e, model)]
    names = []
    for x in _refs(e):
        s = sym(x)
        if s and s not in names:
            names.append(s)
    for i, s in enumerate(names[:4]):
        pieces += [" (" if i == 0 else ", ", f"{label(s)} ", ("value", s)]
    if names:
        pieces.append(")")
    return pieces


def _refs(e):
    from .exprcheck import walk

    return [x for x in walk(e) if isinstance(x, n.Ref)][::-1]
