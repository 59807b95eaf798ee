"""Conditions as written: a resolved expression -> canonical HGL text (names as the author wrote them).

Modelled on CPython's `ast.unparse`: each node has a precedence level, and an operand is put
in parentheses exactly when its level is below what its position requires.
"""

from __future__ import annotations

from enum import IntEnum

from hgl.compiler.check.program import Visitor

OPS = {"=": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}


class Prec(IntEnum):
    """Binding strength, loosest first."""

    IF = 0
    OR = 1
    AND = 2
    NOT = 3
    TEST = 4  # comparisons, membership, `is missing`, `has any of`
    ARITH = 5
    ARITH_RIGHT = 6
    PRODUCT = 7
    PRODUCT_RIGHT = 8
    ATOM = 9


class Unparser(Visitor):
    """`text(e)`: the canonical text of an expression, filter or selector."""

    def text(self, e, prec: Prec = Prec.IF) -> str:
        text, own = self.visit(e)
        return f"({text})" if own < prec else text

    def visit_Var(self, e):
        return e.name, Prec.ATOM

    def visit_Value(self, e):
        return e.value, Prec.ATOM

    def visit_Num(self, e):
        return e.written, Prec.ATOM

    def visit_Bool(self, e):
        return ("true" if e.value else "false"), Prec.ATOM

    def visit_SetOf(self, e):
        return "{" + ", ".join(e.values) + "}", Prec.ATOM

    def visit_Or(self, e):
        return " or ".join(self.text(x, Prec.AND) for x in e.operands), Prec.OR

    def visit_And(self, e):
        return " and ".join(self.text(x, Prec.NOT) for x in e.operands), Prec.AND

    def visit_Not(self, e):
        return "not " + self.text(e.operand, Prec.TEST), Prec.NOT

    def visit_Compare(self, e):
        parts = [self.text(e.operands[0], Prec.ARITH)]
        for op, x in zip(e.ops, e.operands[1:]):
            parts += [OPS[op], self.text(x, Prec.ARITH)]
        return " ".join(parts), Prec.TEST

    def visit_IsMissing(self, e):
        return f"{self.text(e.operand, Prec.ARITH)} is {'not ' if e.negated else ''}missing", Prec.TEST

    def visit_IsEmpty(self, e):
        return f"{self.text(e.operand, Prec.ARITH)} is {'not ' if e.negated else ''}empty", Prec.TEST

    def visit_Member(self, e):
        word = "not in" if e.negated else "in"
        return f"{self.text(e.element, Prec.ARITH)} {word} {self.text(e.collection, Prec.ARITH)}", Prec.TEST

    def visit_SetTest(self, e):
        return f"{self.text(e.left, Prec.ARITH)} has {e.quantifier} of {self.text(e.right, Prec.ARITH)}", Prec.TEST

    def visit_Binary(self, e):
        if e.op in ("*", "/"):
            return f"{self.text(e.left, Prec.PRODUCT)} {e.op} {self.text(e.right, Prec.PRODUCT_RIGHT)}", Prec.PRODUCT
        return f"{self.text(e.left, Prec.ARITH)} {e.op} {self.text(e.right, Prec.ARITH_RIGHT)}", Prec.ARITH

    def visit_Day(self, e):
        return e.value, Prec.ATOM

    def visit_Between(self, e):
        return f"{e.unit} between {self.text(e.start, Prec.ARITH)} and {self.text(e.end, Prec.ARITH)}", Prec.ATOM

    def visit_Count(self, e):
        return "count of (" + ", ".join(self.text(x) for x in e.items) + ")", Prec.ATOM

    def visit_Extreme(self, e):
        return f"{e.fn}(" + ", ".join(self.text(x) for x in e.operands) + ")", Prec.ATOM

    def visit_DrugsOf(self, e):
        return f"drugs of {self.text(e.operand, Prec.ATOM)}", Prec.ATOM

    def visit_HasRole(self, e):
        return f"{e.option} is {e.role}", Prec.TEST

    def visit_AnyOption(self, e):
        return f"any {e.role} option" + "".join(" " + self.text(f) for f in e.filters), Prec.ATOM

    def visit_If(self, e):
        parts = []
        for i, (c, v) in enumerate(e.branches):
            parts.append(("if " if i == 0 else "else if ") + self.text(c) + " then " + self.text(v, Prec.OR))
        return " ".join(parts) + " else " + self.text(e.otherwise, Prec.OR), Prec.IF

    def visit_Containing(self, f):
        return ("containing any of " if f.any_of else "containing ") + self.text(f.value), Prec.ATOM

    def visit_AllDrugsIn(self, f):
        return "with all drugs in " + self.text(f.value), Prec.ATOM

    def visit_OptionIn(self, f):
        return "in " + self.text(f.value), Prec.ATOM

    def visit_SelectOption(self, sel):
        return sel.option, Prec.ATOM

    def visit_SelectEvery(self, sel):
        text = "every option" + "".join(" " + self.text(f) for f in sel.filters)
        if sel.except_:
            text += " except " + ", ".join(sel.except_)
        return text, Prec.ATOM


_UNPARSER = Unparser()


def unparse(e) -> str:
    """Canonical HGL text of an expression, filter or selector."""
    return _UNPARSER.text(e)
