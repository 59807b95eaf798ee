"""Explanations: conditions in words, as trees the runtime renders per case and as rule text.

One explanation system: `Words` builds, for every rule and branch, a tree per condition (see
the tags below); the generated module carries them as its EXPLAIN table and hgl.runtime.result
renders them with the patient's values.  The same builder says each condition without a case
(`Words.text`, `Words.conditions`): the rule cards of the documentation site and the FHIR
export's descriptions use those words, so a clinician reads one vocabulary everywhere.
"""

from __future__ import annotations

from dataclasses import fields

from hgl.compiler.check import program as p
from hgl.compiler.check.program import Program, conjuncts
from hgl.compiler.explain.said import Said, Sayer, Test
from hgl.compiler.explain.text import PlainWords, RuleText
from hgl.compiler.explain.unparse import unparse
from hgl.runtime.explain import NODE_TYPES, Condition, Fact, First, Match, Reason, Slot, Sum


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
        self._sayer = Sayer(self)
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
        sym = self.m.symbols.get(name)
        return sym is not None and sym.kind == "definition"

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
    def said(self, e) -> Said:
        """A condition that is not and/or/not/if in words (compiler/explain/said.py)."""
        return self._sayer.said(e)

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
        if p.uses_today(m):
            symbols["today"] = ("today", "parameter", None, None)
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
