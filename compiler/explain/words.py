"""Explanations: conditions in words, as trees the runtime renders per case and as rule text.

One explanation system: `Words` builds, for every rule and branch, a tree per condition (see
the tags below); the generated module carries them as its EXPLAIN table and hgl.runtime.result
renders them with the patient's values.  The same builder says each condition without a case
(`Words.text`, `Words.conditions`): the rule cards of the documentation site and the FHIR
export's descriptions use those words, so a clinician reads one vocabulary everywhere.
"""

from __future__ import annotations

from dataclasses import fields
from typing import NamedTuple

from hgl.compiler.check import program as p
from hgl.compiler.check.program import Program, Visitor, conjuncts
from hgl.compiler.explain.unparse import OPS as _OPS
from hgl.compiler.explain.unparse import unparse

from hgl.runtime.explain import NODE_TYPES, Condition, Fact, First, Match, Reason, Slot, Sum, Which


# ---------------------------------------------------------------- explanation trees
#
# A `because` names the conditions that held in words, with the patient's values; Or
# conditions list only the disjuncts that held, if-expressions the branch that applied, and a
# derived fact (a definition) adds one level of the facts that made it so.  Which words apply
# depends on the case, so the compiler emits a tree and the runtime (hgl.runtime.result)
# renders it.  A phrase is a tuple of pieces: text, or a node, a tuple whose first item is
# one of the int tags below.  `Test(expr)` marks a condition the runtime evaluates: codegen
# writes it as `lambda e, P: ...`, the interpreter as a closure over the AST.

# The node types are hgl.runtime.explain's (Slot, Fact, Match, First, Reason, Sum, Which, Condition).


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


_WORD_OPS = {"=": "", "!=": "not ", "<": "< ", "<=": "≤ ", ">": "> ", ">=": "≥ "}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
# a comparison with no case: 'is' for equality, the symbol otherwise; its negation by the opposite operator
_SAY = {"=": "is", "!=": "is not", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}
_NEGATE = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _cap_off(label: str) -> str:
    """A label inside a sentence: 'Trastuzumab + pertuzumab' -> 'trastuzumab + pertuzumab', 'T-DXd' kept."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


class Words:
    """Builds the explanation trees of one checked guideline."""

    def __init__(self, program: Program):
        self.m = program
        self.value_labels: dict[str, dict[str, str]] = {}
        for v in program.guideline.vocabularies:
            self.value_labels[f"vocab:{v.name.text}"] = {x.text: label or x.text.replace("_", " ")
                                                        for x, label in v.entries}
        options = {name: _cap_off(o.label) for name, o in program.options.items()}
        for key in program.domains:
            if key == "option" or key.startswith("optref"):
                self.value_labels[key] = {**options, "none": "none"}

        # the definitions that have facts behind them (the others need no REASON node); a
        # definition's REASON may name others, so all count as reasoned while the set is made
        self._plain = PlainWords(self)
        self._rule_text = RuleText(self)
        self.reasoned = {d.name for d in program.definitions}
        self.reasoned = {d.name for d in program.definitions if self.reason(d.expr) is not None}

    def rn(self, name: str, prefix: str, suffix: str) -> tuple:
        """The REASON node of a symbol, as a 0- or 1-tuple to splice into a phrase."""
        return (Reason(name, prefix, suffix),) if name in self.reasoned else ()

    # ------------------------------------------------------------------ names and constants
    @staticmethod
    def sym(x) -> str | None:
        return x.name if isinstance(x, p.Var) else None

    def label(self, name: str) -> str:
        return self.m.label(name)

    def is_def(self, name: str) -> bool:
        return self.m.symbols[name].kind == "definition"

    def const(self, x) -> str | None:
        """Words for a constant: a value by its label, a quantity with its unit, a set as 'a or b'."""
        if isinstance(x, p.Value):
            return self.value_word(x.value, x.type.domain)
        if isinstance(x, p.Num):
            return x.written
        if isinstance(x, p.Bool):
            return "yes" if x.value else "no"
        if isinstance(x, p.SetOf):
            dom = x.type.domain
            words = [self.value_word(i, dom) for i in x.values]
            return " or ".join(words) if words else "none"
        return None

    def value_word(self, value: str, domain) -> str:
        return self.value_labels.get(domain or "", {}).get(value, value.replace("_", " "))

    def words(self, e) -> str:
        """A condition or value in words, without the case's values (fallback and selectors)."""
        return self._plain.visit(e)

    def option_word(self, oid: str) -> str:
        return self.value_labels.get("option", {}).get(oid, oid.replace("_", " "))

    def set_words(self, x, case: bool = True, joiner: str = "or") -> tuple:
        """A set in a selector or filter: its label, and (for a case) its value when it depends on the case."""
        if not case:
            return (self.set_text(x, joiner),)
        s = self.sym(x)
        if s and self.m.symbols[s].type.kind == "set" and self.m.reads_of(s):
            return (self.label(s) + " (", Slot(s), ")")
        return (self.words(x),)

    def set_text(self, x, joiner: str = "or") -> str:
        """A set as a condition names it, with no case: its label or words; a literal as a choice, 'a or b',
        or (joiner 'and') as the whole collection, 'a and b'."""
        if not isinstance(x, p.SetOf):
            return self.text(x, False)
        words = [self.value_word(v, x.type.domain) for v in x.values]
        if len(words) < 2:
            return words[0] if words else "none"
        return ", ".join(words[:-1]) + f" {joiner} " + words[-1]

    def filter_words(self, f) -> str:
        return "".join(p for p in self.filter_phrase(f) if type(p) is str)

    def filter_phrase(self, f, case: bool = True) -> tuple:
        if isinstance(f, p.Containing):
            # with no case, a literal set reads 'containing a or b' (the case's words keep 'one of the')
            the = f.any_of and (case or _named(f))
            return ("containing one of the " if the else "containing ",) + self.set_words(f.value, case)
        if isinstance(f, p.AllDrugsIn):
            return ("with all its drugs among ",) + self.set_words(f.value, case, "and")
        return ("among ",) + self.set_words(f.value, case, "and")

    def option_clause(self, e, many: bool) -> tuple:
        """What follows the names of the options an `any ... option` test found: ' is preferred and contains …'."""
        out: tuple = (f" {'are' if many else 'is'} {e.role}",)
        for clause in self.filter_clauses(e.filters, many):
            out += (" and " + clause[0],) + clause[1:]
        return out

    def filter_clauses(self, filters, many: bool, case: bool = True) -> list[tuple]:
        """Each filter as what an option does: 'contains one of the HER2 antibodies', 'is among …'."""
        out = []
        for f in filters:
            if isinstance(f, p.Containing):
                # a named set reads as a plural noun ('one of the HER2 antibodies'); a literal as 'a or b'
                verb = ("contain " if many else "contains ") + ("one of the " if _named(f) else "")
            elif isinstance(f, p.AllDrugsIn):
                verb = "have all their drugs among " if many else "has all its drugs among "
            else:
                verb = "are among " if many else "is among "
            out.append((verb,) + self.set_words(f.value, case, "or" if isinstance(f, p.Containing) else "and"))
        return out

    def selector(self, sel, case: bool = True) -> tuple:
        """A restriction's selector in words: 'every option containing trastuzumab deruxtecan (T-DXd)'."""
        if isinstance(sel, p.SelectOption):
            return (self.option_word(sel.option),)
        out: tuple = ("every option",)
        for f in sel.filters:
            out += (" ",) + self.filter_phrase(f, case)
        if sel.except_:
            out += (", except " + ", ".join(self.option_word(x) for x in sel.except_),)
        return out

    # ------------------------------------------------------------------ with no case
    def text(self, e, top: bool = True) -> str:
        """A condition, value, filter or selector in words with no case: what a rule card states.

        The same shapes as the case's phrases (`said`), a symbol's label where the case has its
        value; an and/or/if inside another is put in parentheses (`top` False for an operand).
        """
        return self._rule_text.visit(e, top)

    def conditions(self, e) -> list[str]:
        """A rule's condition with no case: one text per top-level conjunct (the parts a `because` lists)."""
        return [self.text(c) for c in conjuncts(e)]

    # ------------------------------------------------------------------ conditions
    def fact(self, e) -> tuple:
        """The node of one condition: held, failed and unknown phrases."""
        if isinstance(e, (p.And, p.Or)):
            return self.match(e, " and ")
        if isinstance(e, p.If):
            return self.if_fact(e)
        if isinstance(e, p.Not):
            inner = self.fact(e.operand)
            if type(inner) is Fact:
                return Fact(Test(e), inner.failed, inner.held, inner.unknown)
            return inner  # And/Or/if: the parts that decided the inner value say it
        held, failed, unknown, _says, _denies = self.said(e)
        return Fact(Test(e), held, failed, unknown)

    def match(self, e, sep: str) -> tuple:
        """And/Or: the operands whose truth decided it (all that held, or those that failed)."""
        items = tuple((_own_test(f, x), (f,)) for x, f in ((x, self.fact(x)) for x in e.operands))
        return Match(Test(e), sep, items)

    def if_fact(self, e) -> tuple:
        """An if-expression as a condition: the branch that applied, with the conditions that chose it."""
        items = []
        before: tuple = ()
        for c, v in e.branches:
            chose = before + (self.fact(c), "; ")
            items.append((Test(c), chose + (self.fact(v),)))
            before += (self.fact(c), "; ")
        return First(tuple(items), before + (self.fact(e.otherwise),))

    def _subject(self, name):
        """(label, value slot, unknown phrase) of the symbol a condition is about."""
        lab = self.label(name)
        missing = " is unknown" if self.is_def(name) else " is missing"
        return lab, Slot(name), (lab + missing, *self.rn(name, " (", ")"))

    def said(self, e) -> Said:
        """A condition that is not and/or/not/if: its phrases for a case, and what it states with no case."""
        s = self.sym
        if s(e) and e.type.kind == "bool":
            name = s(e)
            lab = self.label(name)
            held = (lab, *self.rn(name, " (", ")"))
            return Said(held, (lab + ": ", Slot(name), *self.rn(name, " (", ")")),
                        (lab + ": ", Slot(name), *self.rn(name, " (", ")")), lab, "not " + lab)
        if isinstance(e, p.Compare) and len(e.ops) == 1:
            left, op, right = e.operands[0], e.ops[0], e.operands[1]
            if not s(left) and s(right):
                left, right, op = right, left, _FLIP[op]
            return self._compare(e, left, op, right)
        if isinstance(e, p.Compare) and len(e.ops) == 2 and s(e.operands[1]) and not s(e.operands[0]) \
                and not s(e.operands[2]):
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
        if isinstance(e, p.Compare):  # any other chain: as written, in words
            parts = [self.text(e.operands[0], False)]
            for op, x in zip(e.ops, e.operands[1:]):
                parts += [_OPS[op], self.text(x, False)]
            says = " ".join(parts)
            return self._fallback(e, says, f"not ({says})")
        if isinstance(e, p.Member):
            return self._member(e)
        if isinstance(e, p.SetTest):
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
        if isinstance(e, p.IsMissing):
            subject = self._subject_text(e.operand)
            says, denies = f"{subject} is missing", f"{subject} is not missing"
            if e.negated:
                says, denies = denies, says
            if not s(e.operand):
                return self._fallback(e, says, denies)
            name = s(e.operand)
            lab = self.label(name)
            present = (lab + " is ", Slot(name))
            missing = (lab + " is missing",)
            return Said(*((present, missing, missing) if e.negated else (missing, present, missing)), says, denies)
        if isinstance(e, p.IsEmpty):
            subject = self._subject_text(e.operand)
            says, denies = f"{subject} is empty", f"{subject} is not empty"
            if e.negated:
                says, denies = denies, says
            if not s(e.operand):
                return self._fallback(e, says, denies)
            name = s(e.operand)
            lab = self.label(name)
            full, empty = (lab + ": ", Slot(name)), (lab + ": none",)
            return Said(*((full, empty, full) if e.negated else (empty, full, full)), says, denies)
        if isinstance(e, p.HasRole):
            opt = self.option_word(e.option)
            return Said((f"{opt} is {e.role}",), (f"{opt} is not {e.role}",), (f"{opt} is {e.role}: unknown",),
                        f"{opt} is {e.role}", f"{opt} is not {e.role}")
        if isinstance(e, p.AnyOption):
            filters = "".join(" " + self.filter_words(f) for f in e.filters)
            held = (f"a {e.role} option{filters}",)
            clauses = " and ".join("".join(c) for c in self.filter_clauses(e.filters, False, case=False))
            if clauses:
                says, denies = f"a {e.role} option {clauses}", f"no {e.role} option {clauses}"
            else:
                says, denies = f"there is a {e.role} option", f"there is no {e.role} option"
            return Said((Which(Test(e), self.option_clause(e, False), self.option_clause(e, True), held),),
                        (f"no {e.role} option{filters}",), (f"a {e.role} option{filters}: unknown",), says, denies)
        return self._fallback(e)

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

    # ------------------------------------------------------------------ definitions
    def reason(self, e):
        """The facts behind a definition's value (one level), or None when its value says it all."""
        t = e.type
        if isinstance(e, p.Not):
            return self.reason(e.operand)
        if t.kind == "bool":
            if isinstance(e, (p.And, p.Or)):
                return (self.match(e, "; "),)
            if isinstance(e, p.If):
                return (self.if_fact(e),)
            if isinstance(e, p.Var):
                return None
            return (self.fact(e),)
        if t.kind == "num" and isinstance(e, (p.Binary, p.If)):
            return (Sum(tuple(self._terms(e, "+"))),)
        if t.kind == "elem" and isinstance(e, p.If):
            return (self._choice(e),)
        return None

    def _terms(self, e, op):
        if isinstance(e, p.Binary) and e.op in "+-":
            return self._terms(e.left, op) + self._terms(e.right, e.op)
        return [(op, self._term(e))]

    def _term(self, e) -> tuple:
        s = self.sym(e)
        if s:
            return (f"{self.label(s)} ", Slot(s))
        if isinstance(e, p.If):
            return (self._choice(e, for_sum=True),)
        return (self.words(e),)

    def _choice(self, e, for_sum=False) -> tuple:
        """An if-valued term: the value of the branch that applied, and why (nothing for a 0 term)."""
        def value(v, cond):
            if for_sum and isinstance(v, p.Num) and v.value == 0:
                return ()
            word = (self.words(v),) if not self.sym(v) else (Slot(self.sym(v)),)
            return word + ((" for ", self.fact(cond)) if cond is not None else ())
        items = tuple((Test(c), value(v, c)) for c, v in e.branches)
        return First(items, value(e.otherwise, None))

    # ------------------------------------------------------------------ the table
    def table(self) -> dict:
        """The EXPLAIN table of a module."""
        m = self.m
        symbols = {}
        for name, sym in m.symbols.items():
            t = sym.type
            symbols[name] = (sym.label, sym.kind, t.unit, t.domain if t.kind in ("elem", "set") else None)
        defs = {}
        for d in m.definitions:
            r = self.reason(d.expr)
            if r is not None:
                defs[d.name] = r
        rules = {}
        for r in m.rules:
            when = self.entries([r.when] if r.when is not None else [])
            branches = []
            for b in r.branches:
                words = tuple(self.selector(o.selector) if isinstance(o, p.Restrict) else None for o in b.outcomes)
                branches.append((self.entries(list(b.guards)), words))
            rules[r.name] = (when, tuple(branches))
        labels = {k: v for k, v in sorted(self.value_labels.items())}
        return {"symbols": symbols, "labels": labels, "defs": defs, "rules": rules}

    def entries(self, exprs) -> tuple:
        """(test, fact, as written) for each conjunct, aligned with the module's `conditions`."""
        out = []
        for c in exprs:
            for x in conjuncts(c):
                fact = self.fact(x)
                out.append(Condition(_own_test(fact, x), fact, unparse(x)))
        return tuple(out)


class PlainWords(Visitor):
    """An expression in words with no case values: labels for names, words for operators."""

    def __init__(self, words: Words):
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
        op = {"+": "+", "-": "−", "union": "and"}[e.op]
        return f"{self.visit(e.left)} {op} {self.visit(e.right)}"

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

    def __init__(self, words: Words):
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
        op = {"+": "+", "-": "−", "union": "and"}[e.op]
        right = self.text(e.right, False)
        if isinstance(e.right, p.Binary):
            right = f"({right})"
        return f"{self.text(e.left, False)} {op} {right}"

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


def _named(f) -> bool:
    """A `containing any of` filter on a named set: it reads as a plural noun ('one of the HER2 antibodies')."""
    return f.any_of and not isinstance(f.value, p.SetOf)


def _own_test(fact, expr):
    """None when the fact tests this very expression (the module then holds the test once), else a Test of it."""
    own = getattr(fact, "test", None)
    return None if own is not None and own.expr is expr else Test(expr)


def explanation_table(program: Program) -> dict:
    """The trees every `because` and `why not` of a guideline is rendered from (see Words)."""
    return Words(program).table()


def map_tests(tree, fn):
    """The same tree with every Test replaced by fn(expr) (the interpreter's closures)."""
    if isinstance(tree, Test):
        return fn(tree.expr)
    if isinstance(tree, NODE_TYPES):
        return type(tree)(*(map_tests(getattr(tree, f.name), fn) for f in fields(tree)))
    if isinstance(tree, tuple):
        return tuple(map_tests(x, fn) for x in tree)
    if isinstance(tree, dict):
        return {k: map_tests(v, fn) for k, v in tree.items()}
    return tree


def tree_source(tree, code) -> str:
    """Python source of a tree; a Test becomes `lambda e, P: <code(expr)>` (code gives three-valued code)."""
    if isinstance(tree, Test):
        return f"lambda e, P: {code(tree.expr)}"
    if isinstance(tree, NODE_TYPES):
        return type(tree).__name__ + "(" + ", ".join(tree_source(getattr(tree, f.name), code)
                                                      for f in fields(tree)) + ")"
    if isinstance(tree, tuple):
        items = [tree_source(x, code) for x in tree]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {tree_source(v, code)}" for k, v in tree.items()) + "}"
    return repr(tree)
