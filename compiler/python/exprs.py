"""Python code for resolved expressions: three-valued (`ThreeValued`), and plain Python for known values (`Plain`).

`ThreeValued` calls the runtime's null-aware helpers (hgl.runtime.logic), so a missing input
gives Unknown rather than a guess.  `Plain` is the same generator with the operators that need
no such care: it is only used where every input an expression reads is present (then no value
is Unknown and both agree; tests/test_fastpath.py checks it).  Both give layout documents.
"""

from __future__ import annotations

from hgl.compiler.check.program import Visitor
from hgl.compiler.python.layout import Call, Chain, Lam, Lit, flat

_CMP = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_PY_CMP = {"=": " == ", "!=": " != ", "<": " < ", "<=": " <= ", ">": " > ", ">=": " >= "}
_ARITH = {"+": "add", "-": "sub", "*": "mul", "/": "div", "union": "union"}
_PY_ARITH = {"+": " + ", "-": " - ", "*": " * ", "union": " | "}  # `/` stays div(): x / 0 is undecided

RUNTIME_NAMES = (
    "add", "and_", "between", "count_of", "day", "div", "drugs_of", "eq", "ge", "gt", "has_all", "has_any", "if_", "is_empty",
    "is_missing", "le", "lt", "max_", "member", "min_", "mul", "ne", "not_", "not_member", "or_", "sub", "union",
)


class ThreeValued(Visitor):
    """Expression -> code that may meet missing values; `constant(values)` names a set of values."""

    def __init__(self, constant):
        self.constant = constant

    def code(self, e):
        return self.visit(e)

    # ------------------------------------------------------------------ leaves (shared by Plain)
    def visit_Var(self, e):
        return f"e[{e.name!r}]"

    def visit_Value(self, e):
        return repr(e.value)

    def visit_Num(self, e):
        return repr(e.value)

    def visit_Bool(self, e):
        return repr(e.value)

    def visit_SetOf(self, e):
        return self.constant(e.values)

    def visit_DrugsOf(self, e):
        return Call("drugs_of", [self.visit(e.operand), "OPTIONS"])

    def visit_HasRole(self, e):
        return Call("P.has", [repr(e.option), repr(e.role)])

    def visit_AnyOption(self, e):
        return Call("P.any", [repr(e.role), Lam("o", self.filters(e.filters))])

    # ------------------------------------------------------------------ three-valued logic
    def visit_And(self, e):
        return Call("and_", [self.visit(x) for x in e.operands])

    def visit_Or(self, e):
        return Call("or_", [self.visit(x) for x in e.operands])

    def visit_Not(self, e):
        return Call("not_", [self.visit(e.operand)])

    def visit_Compare(self, e):
        parts = [Call(_CMP[op], [self.visit(a), self.visit(b)])
                 for op, a, b in zip(e.ops, e.operands, e.operands[1:])]
        return parts[0] if len(parts) == 1 else Call("and_", parts)

    def visit_IsMissing(self, e):
        inner = Call("is_missing", [self.visit(e.operand)])
        return Call("not_", [inner]) if e.negated else inner

    def visit_IsEmpty(self, e):
        inner = Call("is_empty", [self.visit(e.operand)])
        return Call("not_", [inner]) if e.negated else inner

    def visit_Member(self, e):
        return Call("not_member" if e.negated else "member", [self.visit(e.element), self.visit(e.collection)])

    def visit_SetTest(self, e):
        return Call("has_any" if e.quantifier == "any" else "has_all", [self.visit(e.left), self.visit(e.right)])

    def visit_Binary(self, e):
        return Call(_ARITH[e.op], [self.visit(e.left), self.visit(e.right)])

    def visit_Count(self, e):
        return Call("count_of", [self.visit(x) for x in e.items])

    def visit_Day(self, e):
        return Call("day", [repr(e.value)])

    def visit_Between(self, e):
        return Call("between", [repr(e.unit), self.visit(e.start), self.visit(e.end)])

    def visit_Extreme(self, e):
        return Call(e.fn + "_", [self.visit(x) for x in e.operands])

    def visit_If(self, e):
        args = []
        for c, v in e.branches:
            args += [self.visit(c), self.visit(v)]
        return Call("if_", args + [self.visit(e.otherwise)])

    # ------------------------------------------------------------------ option filters (the view `o`)
    def filters(self, filters):
        parts = [self.visit(f) for f in filters]
        if not parts:
            return "True"
        return parts[0] if len(parts) == 1 else Call("and_", parts)

    def visit_Containing(self, f):
        v = self.visit(f.value)
        return Call("has_any", ["o.drugs", v]) if f.any_of else Call("member", [v, "o.drugs"])

    def visit_AllDrugsIn(self, f):
        return Call("and_", ["bool(o.drugs)", Call("has_all", [self.visit(f.value), "o.drugs"])])

    def visit_OptionIn(self, f):
        return Call("has_any", ["o.ids", self.visit(f.value)])


class Plain(ThreeValued):
    """The same expressions for known values: Python's own operators, short-circuiting."""

    def visit_And(self, e):
        return Chain(("" if i == 0 else " and ", self.visit(x)) for i, x in enumerate(e.operands))

    def visit_Or(self, e):
        return Chain(("" if i == 0 else " or ", self.visit(x)) for i, x in enumerate(e.operands))

    def visit_Not(self, e):
        return Chain([("not ", self.visit(e.operand))])

    def visit_Compare(self, e):
        parts = [("", self.visit(e.operands[0]))]
        parts += [(_PY_CMP[op], self.visit(x)) for op, x in zip(e.ops, e.operands[1:])]
        return Chain(parts)

    def visit_IsMissing(self, e):
        return Lit(bool(e.negated))  # nothing is missing here

    def visit_IsEmpty(self, e):
        return Call("bool", [self.visit(e.operand)]) if e.negated else Chain([("not ", self.visit(e.operand))])

    def visit_Member(self, e):
        return Chain([("", self.visit(e.element)), (" not in " if e.negated else " in ", self.visit(e.collection))])

    def visit_SetTest(self, e):
        left, right = self.visit(e.left), self.visit(e.right)
        if e.quantifier == "any":
            return Chain([("not ", Call(_method(left, "isdisjoint"), [right]))])
        return Chain([("", right), (" <= ", left)])

    def visit_Binary(self, e):
        if e.op not in _PY_ARITH:
            return super().visit_Binary(e)
        return Chain([("", self.visit(e.left)), (_PY_ARITH[e.op], self.visit(e.right))])

    def visit_Count(self, e):
        return Chain(("" if i == 0 else " + ", self.visit(x)) for i, x in enumerate(e.items))

    def visit_Extreme(self, e):
        return Call(e.fn, [self.visit(x) for x in e.operands])

    def visit_If(self, e):
        parts = []
        for c, v in e.branches:
            parts += [(" else " if parts else "", self.visit(v)), (" if ", self.visit(c))]
        return Chain(parts + [(" else ", self.visit(e.otherwise))])

    def filters(self, filters):
        parts = [self.visit(f) for f in filters]
        if not parts:
            return "True"
        return parts[0] if len(parts) == 1 else Chain(("" if i == 0 else " and ", x) for i, x in enumerate(parts))

    def visit_Containing(self, f):
        v = self.visit(f.value)
        if f.any_of:
            return Chain([("not ", Call("o.drugs.isdisjoint", [v]))])
        return Chain([("", v), (" in ", "o.drugs")])

    def visit_AllDrugsIn(self, f):
        return Chain([("", "bool(o.drugs)"), (" and ", Chain([("", "o.drugs"), (" <= ", self.visit(f.value))]))])

    def visit_OptionIn(self, f):
        return Chain([("not ", Call("o.ids.isdisjoint", [self.visit(f.value)]))])


def _method(receiver, name: str) -> str:
    """`receiver.name`: the receiver is a name, a subscript, a call or a parenthesised chain."""
    return f"{flat(receiver)}.{name}"
