"""Explanations with no case: resolved expressions -> the words a rule card or a FHIR description shows.

`RuleText` says a condition, value, filter or selector as a rule states it (what `Sayer`
says of each condition); `PlainWords` gives an expression's words with no case values for the
fallback phrases of explanations.  Both read their vocabulary from `Words`.
"""

from __future__ import annotations

from hgl.compiler.check import program as p
from hgl.compiler.check.program import Visitor
from hgl.compiler.explain.unparse import OPS as _OPS
from hgl.compiler.explain.unparse import unparse


_OP_WORDS = {"+": "+", "-": "−", "*": "×", "/": "÷", "union": "and"}


class PlainWords(Visitor):
    """An expression in words with no case values: labels for names, words for operators."""

    def __init__(self, words):
        self.w = words

    def visit_Var(self, e):
        return self.w.label(e.name)

    def visit_Value(self, e):
        return self.w.const(e)

    visit_Num = visit_Bool = visit_SetOf = visit_Value

    def visit_Not(self, e):
        return "not " + self.visit(e.operand)

    def visit_And(self, e):
        return " and ".join(self.visit(x) for x in e.operands)

    def visit_Or(self, e):
        return " or ".join(self.visit(x) for x in e.operands)

    def visit_Compare(self, e):
        parts = [self.visit(e.operands[0])]
        for op, x in zip(e.ops, e.operands[1:]):
            parts += [_OPS[op], self.visit(x)]
        return " ".join(parts)

    def visit_Member(self, e):
        return f"{self.visit(e.element)} {'not ' if e.negated else ''}among {self.visit(e.collection)}"

    def visit_DrugsOf(self, e):
        return f"the drugs of {self.visit(e.operand)}"

    def visit_HasRole(self, e):
        return f"{self.w.option_word(e.option)} is {e.role}"

    def visit_AnyOption(self, e):
        return f"a {e.role} option" + "".join(" " + self.w.filter_words(f) for f in e.filters)

    def visit_Binary(self, e):
        op = _OP_WORDS[e.op]
        return f"{self.visit(e.left)} {op} {self.visit(e.right)}"

    def visit_Count(self, e):
        return "the number of (" + "; ".join(self.visit(x) for x in e.items) + ") that hold"

    def visit_Day(self, e):
        return e.value

    def visit_Between(self, e):
        return f"whole {e.unit} from {self.visit(e.start)} to {self.visit(e.end)}"

    def visit_Extreme(self, e):
        return f"the {'lower' if e.fn == 'min' else 'higher'} of " + " and ".join(self.visit(x) for x in e.operands)

    def _as_written(self, e):
        return unparse(e).replace("_", " ")

    visit_If = visit_IsMissing = visit_IsEmpty = visit_SetTest = _as_written


class RuleText(Visitor):
    """A condition, value, filter or selector in words with no case (`Words.text`): rule cards, FHIR.

    A condition says what `Words.said` says of it (the shapes of the case's phrases, with the
    symbol's label where a case has its value); `not` says the condition's negation.  An and/or,
    an if-expression or a set of several values inside another expression is put in parentheses
    (`top` False), so nothing nested reads two ways.
    """

    def __init__(self, words):
        self.w = words

    def text(self, e, top: bool = True) -> str:
        return self.visit(e, top)

    # ------------------------------------------------------------ values
    def visit_Var(self, e, top):
        return self.w.label(e.name)

    def visit_Value(self, e, top):
        return self.w.const(e)

    visit_Num = visit_Bool = visit_Value

    def visit_SetOf(self, e, top):
        """A set as a value lists its members, as the case's values do ('a, b'); 'none' when empty."""
        words = [self.w.value_word(v, e.type.domain) for v in e.values]
        text = ", ".join(words) or "none"
        return f"({text})" if len(words) > 1 and not top else text

    def visit_Binary(self, e, top):
        op = _OP_WORDS[e.op]
        left, right = self.text(e.left, False), self.text(e.right, False)
        if isinstance(e.right, p.Binary):
            right = f"({right})"
        if e.op in ("*", "/") and isinstance(e.left, p.Binary) and e.left.op not in ("*", "/"):
            left = f"({left})"
        return f"{left} {op} {right}"

    def visit_Day(self, e, top):
        return e.value

    def visit_Between(self, e, top):
        return f"whole {e.unit} from {self.text(e.start, False)} to {self.text(e.end, False)}"

    def visit_Count(self, e, top):
        return "the number of (" + "; ".join(self.text(x, True) for x in e.items) + ") that hold"

    def visit_Extreme(self, e, top):
        return f"the {'lower' if e.fn == 'min' else 'higher'} of " + \
            " and ".join(self.text(x, False) for x in e.operands)

    def visit_DrugsOf(self, e, top):
        of = self.text(e.operand, False)
        return f"the drugs of ({of})" if isinstance(e.operand, p.Binary) else f"the drugs of {of}"

    def visit_If(self, e, top):
        # the condition between 'if' and 'then' needs no parentheses, unless it is an if itself
        parts = [f"if {self.text(c, not isinstance(c, p.If))} then {self.text(v, False)}" for c, v in e.branches]
        text = ", otherwise ".join(parts) + ", otherwise " + self.text(e.otherwise, False)
        return text if top else f"({text})"

    # ------------------------------------------------------------ conditions
    def _join(self, e, sep: str, top: bool) -> str:
        text = sep.join(self.text(x, False) for x in e.operands)
        return text if top else f"({text})"

    def visit_And(self, e, top):
        return self._join(e, " and ", top)

    def visit_Or(self, e, top):
        return self._join(e, " or ", top)

    def visit_Not(self, e, top):
        x = e.operand
        if isinstance(x, p.Not):
            return self.visit(x.operand, top)
        if isinstance(x, (p.And, p.Or, p.If)):
            return f"not ({self.text(x)})"
        return self._nested(x, self.w.said(x).denies, top)

    def _said(self, e, top):
        return self._nested(e, self.w.said(e).says, top)

    visit_Compare = visit_Member = visit_SetTest = visit_IsMissing = visit_IsEmpty = _said
    visit_HasRole = visit_AnyOption = _said

    @staticmethod
    def _nested(e, text: str, top: bool) -> str:
        """A condition whose own words have 'or'/'and' ('X is a or b', 'X > 6 and ≤ 12'), in parentheses inside another."""
        if top or not _joins(e) or text.startswith("not ("):  # 'not (…)' is whole already
            return text
        return f"({text})"

    # ------------------------------------------------------------ option filters and selectors
    def _filter(self, f, top):
        return "".join(self.w.filter_phrase(f, case=False))

    visit_Containing = visit_AllDrugsIn = visit_OptionIn = _filter

    def _selector(self, sel, top):
        return "".join(self.w.selector(sel, case=False))

    visit_SelectOption = visit_SelectEvery = _selector


def _joins(e) -> bool:
    """Whether a condition's words join parts with 'or'/'and': a choice of values written out, a range."""
    def several(x):
        return isinstance(x, p.SetOf) and len(x.values) > 1
    if isinstance(e, p.Member):
        return several(e.collection)
    if isinstance(e, p.SetTest):
        return several(e.right)
    if isinstance(e, p.AnyOption):
        return len(e.filters) > 1 or any(several(f.value) for f in e.filters)
    if isinstance(e, p.Compare):
        return len(e.ops) > 1 and e.ops != ("<=", "<=")
    return False
