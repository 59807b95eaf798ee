"""Explanations, one condition: a resolved condition -> its phrases for a case and what it states with no case.

`Sayer` is a visitor over the resolved program's condition nodes.  For a case it gives the
held, failed and unknown phrases of the condition's Fact (with Slots for the patient's
values); with no case it gives what a rule card states (`says`) and its negation (`denies`).
Both come from the same method per node type, so the two vocabularies cannot drift apart.
The helpers it speaks with (labels, sets, filters) are `Words`' (compiler/explain/words.py).
"""

from __future__ import annotations

from typing import NamedTuple

from hgl.compiler.check import program as p
from hgl.compiler.check.program import Visitor
from hgl.compiler.explain.unparse import OPS as _OPS
from hgl.runtime.explain import Slot, Which

_WORD_OPS = {"=": "", "!=": "not ", "<": "< ", "<=": "≤ ", ">": "> ", ">=": "≥ "}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
# a comparison with no case: 'is' for equality, the symbol otherwise; its negation by the opposite operator
_SAY = {"=": "is", "!=": "is not", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}
_NEGATE = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


class Test:
    """A condition inside an explanation tree (an AST expression until code is made of it)."""

    __slots__ = ("expr",)

    def __init__(self, expr):
        self.expr = expr


class Said(NamedTuple):
    """One condition in words: the phrases for a case, and what it states with no case.

    `held`, `failed` and `unknown` are the phrases of the condition's Fact (with Slots for the
    case's values); `says` is the condition as a rule states it (labels where the case has
    values) and `denies` its negation, both plain text.
    """

    held: tuple
    failed: tuple
    unknown: tuple
    says: str
    denies: str


class Sayer(Visitor):
    """`said(e)`: one condition (not and/or/not/if) in words, by node type."""

    def __init__(self, words):
        self.w = words
        for name in ("sym", "label", "is_def", "const", "words", "option_word", "set_words", "set_text",
                     "filter_words", "filter_clauses", "option_clause", "text", "rn", "value_word", "m"):
            setattr(self, name, getattr(words, name))

    def said(self, e) -> Said:
        """A condition that is not and/or/not/if: its phrases for a case, and what it states with no case."""
        return self.visit(e)

    def visit_Var(self, e) -> Said:
        if e.type.kind != "bool":
            return self._fallback(e)
        name = e.name
        lab = self.label(name)
        held = (lab, *self.rn(name, " (", ")"))
        return Said(held, (lab + ": ", Slot(name), *self.rn(name, " (", ")")),
                    (lab + ": ", Slot(name), *self.rn(name, " (", ")")), lab, "not " + lab)

    def visit_Compare(self, e) -> Said:
        s = self.sym
        if len(e.ops) == 1:
            left, op, right = e.operands[0], e.ops[0], e.operands[1]
            if not s(left) and s(right):
                left, right, op = right, left, _FLIP[op]
            return self._compare(e, left, op, right)
        if len(e.ops) == 2 and s(e.operands[1]) and not s(e.operands[0]) and not s(e.operands[2]):
            name = s(e.operands[1])
            lo, hi = self.words(e.operands[0]), self.words(e.operands[2])
            lab, v, unknown = self._subject(name)
            if e.ops == ("<=", "<="):
                rng = f"{lo} to {hi}"
                says, denies = f"{lab} is {rng}", f"{lab} is not {rng}"
            else:
                rng = f"{_OPS[_FLIP[e.ops[0]]]} {lo} and {_OPS[e.ops[1]]} {hi}"
                says = f"{lab} {rng}"
                denies = f"not ({says})"
            return Said((lab + " is ", v, f" ({rng}", *self.rn(name, "; ", ""), ")"),
                        (lab + " is ", v, f", not {rng}", *self.rn(name, " (", ")")), unknown, says, denies)
        # any other chain: as written, in words
        parts = [self.text(e.operands[0], False)]
        for op, x in zip(e.ops, e.operands[1:]):
            parts += [_OPS[op], self.text(x, False)]
        says = " ".join(parts)
        return self._fallback(e, says, f"not ({says})")

    def visit_SetTest(self, e) -> Said:
        s = self.sym
        word = "one of" if e.quantifier == "any" else "all of"
        subject = self._subject_text(e.left)
        right = self.set_text(e.right, "or" if e.quantifier == "any" else "and")
        # with no values to show, 'one of' could read 'exactly one': say 'any of' and 'none of'
        if e.quantifier == "any":
            says, denies = f"{subject} include any of {right}", f"{subject} include none of {right}"
        else:
            says, denies = f"{subject} include all of {right}", f"{subject} do not include all of {right}"
        if not s(e.left):
            return self._fallback(e, says, denies)
        name = s(e.left)
        lab = self.label(name)
        right = self.words(e.right)
        base = (lab + " (", Slot(name), ")")
        return Said(base + (f" include {word} {right}",), base + (f" do not include {word} {right}",),
                    (lab + (" is unknown" if self.is_def(name) else " is missing"),), says, denies)

    def visit_IsMissing(self, e) -> Said:
        return self._state(e, "missing", lambda lab, name: ((lab + " is missing",), (lab + " is ", Slot(name))),
                           unknown_is_yes=True)

    def visit_IsEmpty(self, e) -> Said:
        return self._state(e, "empty", lambda lab, name: ((lab + ": none",), (lab + ": ", Slot(name))),
                           unknown_is_yes=False)

    def _state(self, e, word: str, phrases, unknown_is_yes: bool) -> Said:
        """`X is [not] missing` / `X is [not] empty`: `phrases(label, name)` gives (yes, no) for a case;
        an unknown X reads as the yes phrase for `missing` (it is missing) and as the no phrase for `empty`."""
        subject = self._subject_text(e.operand)
        says, denies = f"{subject} is {word}", f"{subject} is not {word}"
        if e.negated:
            says, denies = denies, says
        name = self.sym(e.operand)
        if not name:
            return self._fallback(e, says, denies)
        yes, no = phrases(self.label(name), name)
        unknown = yes if unknown_is_yes else no
        held, failed = (no, yes) if e.negated else (yes, no)
        return Said(held, failed, unknown, says, denies)

    def visit_HasRole(self, e) -> Said:
        opt = self.option_word(e.option)
        return Said((f"{opt} is {e.role}",), (f"{opt} is not {e.role}",), (f"{opt} is {e.role}: unknown",),
                    f"{opt} is {e.role}", f"{opt} is not {e.role}")

    def visit_AnyOption(self, e) -> Said:
        filters = "".join(" " + self.filter_words(f) for f in e.filters)
        held = (f"a {e.role} option{filters}",)
        clauses = " and ".join("".join(c) for c in self.filter_clauses(e.filters, False, case=False))
        if clauses:
            says, denies = f"a {e.role} option {clauses}", f"no {e.role} option {clauses}"
        else:
            says, denies = f"there is a {e.role} option", f"there is no {e.role} option"
        return Said((Which(Test(e), self.option_clause(e, False), self.option_clause(e, True), held),),
                    (f"no {e.role} option{filters}",), (f"a {e.role} option{filters}: unknown",), says, denies)

    def visit_Member(self, e) -> Said:
        return self._member(e)

    def _other(self, e) -> Said:
        return self._fallback(e)

    visit_Value = visit_Num = visit_Bool = visit_SetOf = visit_If = visit_And = visit_Or = visit_Not = _other
    visit_Binary = visit_Count = visit_Extreme = visit_Day = visit_Between = visit_DrugsOf = _other

    def _subject(self, name):
        """(label, value slot, unknown phrase) of the symbol a condition is about."""
        lab = self.label(name)
        missing = " is unknown" if self.is_def(name) else " is missing"
        return lab, Slot(name), (lab + missing, *self.rn(name, " (", ")"))

    def _subject_text(self, x) -> str:
        """What a condition is about, with no case: a symbol's label, else the expression in words."""
        return self.label(self.sym(x)) if self.sym(x) else self.text(x, False)

    def _compare(self, e, left, op, right) -> Said:
        name, rs = self.sym(left), self.sym(right)
        subject, other = self._subject_text(left), self._subject_text(right)
        says, denies = f"{subject} {_SAY[op]} {other}", f"{subject} {_SAY[_NEGATE[op]]} {other}"
        if not name:
            return self._fallback(e, says, denies)
        lab, v, unknown = self._subject(name)
        if rs:
            other = f"{_OPS[op]} {self.label(rs)} "
            return Said((lab + " is ", v, f" ({other}", Slot(rs), ")"),
                        (lab + " is ", v, f", not {other}", Slot(rs)), unknown, says, denies)
        k = self.const(right)
        if k is None:
            return self._fallback(e, says, denies)
        kind = self.m.symbols[name].type.kind
        if op == "=":
            return Said((lab + " is ", v, *self.rn(name, " (", ")")),
                        (lab + " is ", v, f", not {k}", *self.rn(name, " (", ")")), unknown, says, denies)
        if op == "!=" and kind != "num":
            return Said((lab + " is ", v, *self.rn(name, " (", ")")), (lab + " is ", v), unknown, says, denies)
        word = f"{_WORD_OPS[op]}{k}" if op != "!=" else f"≠ {k}"
        return Said((lab + " is ", v, f" ({word}", *self.rn(name, "; ", ""), ")"),
                    (lab + " is ", v, f", not {word}", *self.rn(name, " (", ")")), unknown, says, denies)

    def _member(self, e) -> Said:
        s = self.sym
        el, coll = e.element, e.collection
        # with no case: 'X is a or b' for a set written out, 'X is among <named set>' otherwise
        among = "" if isinstance(coll, p.SetOf) else "among "
        subject = self._subject_text(el)
        says = f"{subject} is {among}{self.set_text(coll)}"
        denies = f"{subject} is not {among}{self.set_text(coll)}"
        if isinstance(coll, p.SetOf) and len(coll.values) > 1:  # 'is not a or b' would read two ways
            *first, last = [self.value_word(v, coll.type.domain) for v in coll.values]
            denies = f"{subject} is neither {first[0]} nor {last}" if len(first) == 1 else \
                f"{subject} is none of {', '.join(first)} or {last}"
        if e.negated:
            says, denies = denies, says
        if s(coll) and not s(el):
            name = s(coll)
            lab = self.label(name)
            item = self.const(el) or self.words(el)
            value = (" (", Slot(name), ")")
            among, not_among = (f"{item} is among {lab}",) + value, (f"{item} is not among {lab}",) + value
            unknown = (lab + (" is unknown" if self.is_def(name) else " is missing"),)
            return Said(*((not_among, among, unknown) if e.negated else (among, not_among, unknown)), says, denies)
        if s(el):
            name = s(el)
            lab, v, unknown = self._subject(name)
            what = self.set_words(coll)
            if e.negated:
                return Said((lab + " is ", v, " (not ") + what + (")",), (lab + " is ", v, ", among ") + what, unknown,
                            says, denies)
            return Said((lab + " is ", v), (lab + " is ", v, ", not ") + what, unknown, says, denies)
        return self._fallback(e, says, denies)

    def _fallback(self, e, says: str | None = None, denies: str | None = None) -> Said:
        """Any other condition: in words, then the values it reads (with no case: `says`, else its words)."""
        text = self.words(e)
        names = []
        for x in reversed(list(p.walk(e))):
            name = self.sym(x)
            if name and name not in names:
                names.append(name)
        values: tuple = ()
        for i, name in enumerate(names[:4]):
            values += (" (" if i == 0 else ", ", f"{self.label(name)} ", Slot(name))
        if names:
            values += (")",)
        if says is None:  # a constant: RuleText says it itself
            says = self.text(e)
            denies = f"not ({says})"
        return Said((text,) + values, (f"not: {text}",) + values, (f"{text}: unknown",) + values, says, denies)
