"""Plain words for expressions: canonical HGL text, sentence templates, and explanation trees.

Shared by codegen and the interpreter (the EXPLAIN table every `because`, `why not` and
missing-data reason is rendered from; see `Words`) and docgen (rule cards, `unparse`).  The
older flat templates (`sentence`: literal text, or ("value", symbol name) slots) still feed
the modules' `why` functions, which the engine uses for modules built without EXPLAIN.
"""

from __future__ import annotations

from hgl.compiler.front import nodes as n
from hgl.compiler.check.types import Model

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
    from hgl.compiler.check.exprcheck import walk

    return [x for x in walk(e) if isinstance(x, n.Ref)][::-1]


# ---------------------------------------------------------------- explanation trees
#
# A `because` names the conditions that held in words, with the patient's values; Or
# conditions list only the disjuncts that held, if-expressions the branch that applied, and a
# derived fact (a definition) adds one level of the facts that made it so.  Which words apply
# depends on the case, so the compiler emits a tree and the runtime (hgl.runtime.result)
# renders it.  A phrase is a tuple of pieces: text, or a node, a tuple whose first item is
# one of the int tags below.  `Test(expr)` marks a condition the runtime evaluates: codegen
# writes it as `lambda e, P: ...`, the interpreter as a closure over the AST.

VALUE, FACT, MATCH, FIRST, REASON, SUM, WHICH = range(7)
# (VALUE, name)                     the value of an input, parameter or definition, with unit and labels
# (FACT, test, held, failed, unknown)  one condition: the phrase for its truth value
# (MATCH, test, sep, items)         items (test, phrase) whose truth equals the test's, joined by sep
# (FIRST, items, otherwise)         the phrase of the first item (test, phrase) that holds
# (REASON, name, prefix, suffix)    the facts behind a definition (depth 0 only), between prefix and suffix
# (SUM, items)                      terms (op, phrase) of a sum; empty terms are left out
# (WHICH, test, one, many, none)    the proposed options for which an `any ... option` test holds, by
#                                   name, then phrase one (a single option) or many; none if no option does


class Test:
    """A condition inside an explanation tree (an AST expression until code is made of it)."""

    __slots__ = ("expr",)

    def __init__(self, expr):
        self.expr = expr


_WORD_OPS = {"=": "", "!=": "not ", "<": "< ", "<=": "≤ ", ">": "> ", ">=": "≥ "}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


def _cap_off(label: str) -> str:
    """A label inside a sentence: 'Trastuzumab + pertuzumab' -> 'trastuzumab + pertuzumab', 'T-DXd' kept."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


class Words:
    """Builds the explanation trees of one checked guideline."""

    def __init__(self, model: Model):
        self.m = model
        g = model.guideline
        self.value_labels: dict[str, dict[str, str]] = {}
        for v in g.vocabularies:
            self.value_labels[f"vocab:{v.name.text}"] = {x.text: label or x.text.replace("_", " ")
                                                        for x, label in v.entries}
        options = {o.name.text: _cap_off(o.label) for o in g.options}
        for key in model.domains:
            if key == "option" or key.startswith("optref"):
                self.value_labels[key] = {**options, "none": "none"}

        # the definitions that have facts behind them (the others need no REASON node)
        self.reasoned = {d.name.text for d in model.definition_order}
        self.reasoned = {d.name.text for d in model.definition_order if self.reason(d.expr) is not None}

    def rn(self, name: str, prefix: str, suffix: str) -> tuple:
        """The REASON node of a symbol, as a 0- or 1-tuple to splice into a phrase."""
        return ((REASON, name, prefix, suffix),) if name in self.reasoned else ()

    # ------------------------------------------------------------------ names and constants
    def sym(self, x) -> str | None:
        if isinstance(x, n.Ref):
            kind, name = self.m.refs.get(id(x), ("", ""))
            if kind in ("input", "parameter", "definition"):
                return name
        return None

    def label(self, name: str) -> str:
        return self.m.label(name)

    def is_def(self, name: str) -> bool:
        return self.m.symbols[name].kind == "definition"

    def const(self, x) -> str | None:
        """Words for a constant: a value by its label, a quantity with its unit, a set as 'a or b'."""
        if isinstance(x, n.Ref) and self.m.refs.get(id(x), ("",))[0] == "value":
            return self.value_word(x.name.text, self.m.type_of(x).domain)
        if isinstance(x, n.Quantity):
            return unparse(x, self.m)
        if isinstance(x, n.BoolLit):
            return "yes" if x.value else "no"
        if isinstance(x, n.SetLit):
            dom = self.m.type_of(x).domain
            words = [self.value_word(i.text, dom) for i in x.items]
            return " or ".join(words) if words else "none"
        return None

    def value_word(self, value: str, domain) -> str:
        return self.value_labels.get(domain or "", {}).get(value, value.replace("_", " "))

    def words(self, e) -> str:
        """A condition or value in words, without the case's values (fallback and selectors)."""
        c = self.const(e)
        if c is not None:
            return c
        s = self.sym(e)
        if s:
            return self.label(s)
        if isinstance(e, n.Not):
            return "not " + self.words(e.operand)
        if isinstance(e, (n.And, n.Or)):
            sep = " and " if isinstance(e, n.And) else " or "
            return sep.join(self.words(x) for x in e.operands)
        if isinstance(e, n.Compare):
            parts = [self.words(e.operands[0])]
            for op, x in zip(e.ops, e.operands[1:]):
                parts += [_OPS[op], self.words(x)]
            return " ".join(parts)
        if isinstance(e, n.Member):
            return f"{self.words(e.element)} {'not ' if e.negated else ''}among {self.words(e.collection)}"
        if isinstance(e, n.DrugsOf):
            return f"the drugs of {self.words(e.operand)}"
        if isinstance(e, n.HasRole):
            return f"{self.option_word(e.option.text)} is {e.role}"
        if isinstance(e, n.AnyOption):
            return f"a {e.role} option" + "".join(" " + self.filter_words(f) for f in e.filters)
        if isinstance(e, n.Binary):
            op = {"+": "+", "-": "−", "union": "and"}[e.op]
            return f"{self.words(e.left)} {op} {self.words(e.right)}"
        return unparse(e, self.m).replace("_", " ")

    def option_word(self, oid: str) -> str:
        return self.value_labels.get("option", {}).get(oid, oid.replace("_", " "))

    def set_words(self, x) -> tuple:
        """A set in a selector or filter: its label, and its value when it depends on the case."""
        s = self.sym(x)
        if s and self.m.symbols[s].type.kind == "set" and self.m.reads.get(s):
            return (self.label(s) + " (", (VALUE, s), ")")
        return (self.words(x),)

    def filter_words(self, f) -> str:
        return "".join(p for p in self.filter_phrase(f) if type(p) is str)

    def filter_phrase(self, f) -> tuple:
        if isinstance(f, n.Containing):
            return ("containing one of the " if f.any_of else "containing ",) + self.set_words(f.value)
        if isinstance(f, n.AllDrugsIn):
            return ("with all its drugs among ",) + self.set_words(f.value)
        return ("among ",) + self.set_words(f.value)

    def option_clause(self, e, many: bool) -> tuple:
        """What follows the names of the options an `any ... option` test found: ' is preferred and contains …'."""
        out: tuple = (f" {'are' if many else 'is'} {e.role}",)
        for f in e.filters:
            if isinstance(f, n.Containing):
                # a named set reads as a plural noun ('one of the HER2 antibodies'); a literal as 'a or b'
                named = f.any_of and not isinstance(f.value, n.SetLit)
                verb = ("contain " if many else "contains ") + ("one of the " if named else "")
            elif isinstance(f, n.AllDrugsIn):
                verb = "have all their drugs among " if many else "has all its drugs among "
            else:
                verb = "are among " if many else "is among "
            out += (" and " + verb,) + self.set_words(f.value)
        return out

    def selector(self, sel) -> tuple:
        """A restriction's selector in words: 'every option containing trastuzumab deruxtecan (T-DXd)'."""
        if isinstance(sel, n.SelectOption):
            return (self.option_word(sel.option.text),)
        out: tuple = ("every option",)
        for f in sel.filters:
            out += (" ",) + self.filter_phrase(f)
        if sel.except_:
            out += (", except " + ", ".join(self.option_word(x.text) for x in sel.except_),)
        return out

    # ------------------------------------------------------------------ conditions
    def fact(self, e) -> tuple:
        """The node of one condition: held, failed and unknown phrases."""
        if isinstance(e, (n.And, n.Or)):
            return self.match(e, " and ")
        if isinstance(e, n.If):
            return self.if_fact(e)
        if isinstance(e, n.Not):
            inner = self.fact(e.operand)
            if inner[0] == FACT:
                return (FACT, Test(e), inner[3], inner[2], inner[4])
            return inner  # And/Or/if: the parts that decided the inner value say it
        held, failed, unknown = self._phrases(e)
        return (FACT, Test(e), held, failed, unknown)

    def match(self, e, sep: str) -> tuple:
        """And/Or: the operands whose truth decided it (all that held, or those that failed)."""
        items = tuple((Test(x), (self.fact(x),)) for x in _flat(e, type(e)))
        return (MATCH, Test(e), sep, items)

    def if_fact(self, e) -> tuple:
        """An if-expression as a condition: the branch that applied, with the conditions that chose it."""
        items = []
        before: tuple = ()
        for c, v in e.branches:
            chose = before + (self.fact(c), "; ")
            items.append((Test(c), chose + (self.fact(v),)))
            before += (self.fact(c), "; ")
        return (FIRST, tuple(items), before + (self.fact(e.otherwise),))

    def _subject(self, name):
        """(label, value slot, unknown phrase) of the symbol a condition is about."""
        lab = self.label(name)
        missing = " is unknown" if self.is_def(name) else " is missing"
        return lab, (VALUE, name), (lab + missing, *self.rn(name, " (", ")"))

    def _phrases(self, e):
        s = self.sym
        if isinstance(e, n.Ref) and s(e) and self.m.symbols[s(e)].type.kind == "bool":
            name = s(e)
            lab = self.label(name)
            held = (lab, *self.rn(name, " (", ")"))
            return held, (lab + ": ", (VALUE, name), *self.rn(name, " (", ")")), (lab + ": ", (VALUE, name),
                                                                                 *self.rn(name, " (", ")"))
        if isinstance(e, n.Compare) and len(e.ops) == 1:
            left, op, right = e.operands[0], e.ops[0], e.operands[1]
            if not s(left) and s(right):
                left, right, op = right, left, _FLIP[op]
            if s(left):
                return self._compare(e, s(left), op, right)
        if isinstance(e, n.Compare) and len(e.ops) == 2 and s(e.operands[1]) and not s(e.operands[0]) \
                and not s(e.operands[2]):
            name = s(e.operands[1])
            lo, hi = self.words(e.operands[0]), self.words(e.operands[2])
            if e.ops == ("<=", "<="):
                rng = f"{lo} to {hi}"
            else:
                rng = f"{_OPS[_FLIP[e.ops[0]]]} {lo} and {_OPS[e.ops[1]]} {hi}"
            lab, v, unknown = self._subject(name)
            return ((lab + " is ", v, f" ({rng}", *self.rn(name, "; ", ""), ")"),
                    (lab + " is ", v, f", not {rng}", *self.rn(name, " (", ")")), unknown)
        if isinstance(e, n.Member):
            return self._member(e)
        if isinstance(e, n.SetTest) and s(e.left):
            name = s(e.left)
            lab = self.label(name)
            right = self.words(e.right)
            word = "one of" if e.quantifier == "any" else "all of"
            base = (lab + " (", (VALUE, name), ")")
            return (base + (f" include {word} {right}",), base + (f" do not include {word} {right}",),
                    (lab + (" is unknown" if self.is_def(name) else " is missing"),))
        if isinstance(e, n.IsMissing) and s(e.operand):
            name = s(e.operand)
            lab = self.label(name)
            present = (lab + " is ", (VALUE, name))
            missing = (lab + " is missing",)
            return (present, missing, missing) if e.negated else (missing, present, missing)
        if isinstance(e, n.IsEmpty) and s(e.operand):
            name = s(e.operand)
            lab = self.label(name)
            full, empty = (lab + ": ", (VALUE, name)), (lab + ": none",)
            return (full, empty, full) if e.negated else (empty, full, full)
        if isinstance(e, n.HasRole):
            opt = self.option_word(e.option.text)
            return (f"{opt} is {e.role}",), (f"{opt} is not {e.role}",), (f"{opt} is {e.role}: unknown",)
        if isinstance(e, n.AnyOption):
            filters = "".join(" " + self.filter_words(f) for f in e.filters)
            held = (f"a {e.role} option{filters}",)
            return (((WHICH, Test(e), self.option_clause(e, False), self.option_clause(e, True), held),),
                    (f"no {e.role} option{filters}",), (f"a {e.role} option{filters}: unknown",))
        return self._fallback(e)

    def _compare(self, e, name, op, right):
        lab, v, unknown = self._subject(name)
        rs = self.sym(right)
        if rs:
            other = f"{_OPS[op]} {self.label(rs)} "
            return ((lab + " is ", v, f" ({other}", (VALUE, rs), ")"),
                    (lab + " is ", v, f", not {other}", (VALUE, rs)), unknown)
        k = self.const(right)
        if k is None:
            return self._fallback(e)
        kind = self.m.symbols[name].type.kind
        if op == "=":
            return ((lab + " is ", v, *self.rn(name, " (", ")")),
                    (lab + " is ", v, f", not {k}", *self.rn(name, " (", ")")), unknown)
        if op == "!=" and kind != "num":
            return ((lab + " is ", v, *self.rn(name, " (", ")")), (lab + " is ", v), unknown)
        word = f"{_WORD_OPS[op]}{k}" if op != "!=" else f"≠ {k}"
        return ((lab + " is ", v, f" ({word}", *self.rn(name, "; ", ""), ")"),
                (lab + " is ", v, f", not {word}", *self.rn(name, " (", ")")), unknown)

    def _member(self, e):
        s = self.sym
        el, coll = e.element, e.collection
        if s(coll) and not s(el):
            name = s(coll)
            lab = self.label(name)
            item = self.const(el) or self.words(el)
            value = (" (", (VALUE, name), ")")
            among, not_among = (f"{item} is among {lab}",) + value, (f"{item} is not among {lab}",) + value
            unknown = (lab + (" is unknown" if self.is_def(name) else " is missing"),)
            return (not_among, among, unknown) if e.negated else (among, not_among, unknown)
        if s(el):
            name = s(el)
            lab, v, unknown = self._subject(name)
            what = self.set_words(coll)
            if e.negated:
                return ((lab + " is ", v, " (not ") + what + (")",), (lab + " is ", v, ", among ") + what, unknown)
            return ((lab + " is ", v), (lab + " is ", v, ", not ") + what, unknown)
        return self._fallback(e)

    def _fallback(self, e):
        """Any other condition: in words, then the values it reads."""
        text = self.words(e)
        names = []
        for x in _refs(e):
            name = self.sym(x)
            if name and name not in names:
                names.append(name)
        values: tuple = ()
        for i, name in enumerate(names[:4]):
            values += (" (" if i == 0 else ", ", f"{self.label(name)} ", (VALUE, name))
        if names:
            values += (")",)
        return (text,) + values, (f"not: {text}",) + values, (f"{text}: unknown",) + values

    # ------------------------------------------------------------------ definitions
    def reason(self, e):
        """The facts behind a definition's value (one level), or None when its value says it all."""
        t = self.m.type_of(e)
        if isinstance(e, n.Not):
            return self.reason(e.operand)
        if t.kind == "bool":
            if isinstance(e, (n.And, n.Or)):
                return (self.match(e, "; "),)
            if isinstance(e, n.If):
                return (self.if_fact(e),)
            if isinstance(e, n.Ref):
                return None
            return (self.fact(e),)
        if t.kind == "num" and isinstance(e, (n.Binary, n.If)):
            return ((SUM, tuple(self._terms(e, "+"))),)
        if t.kind == "elem" and isinstance(e, n.If):
            return (self._choice(e),)
        return None

    def _terms(self, e, op):
        if isinstance(e, n.Binary) and e.op in "+-":
            return self._terms(e.left, op) + self._terms(e.right, e.op)
        return [(op, self._term(e))]

    def _term(self, e) -> tuple:
        s = self.sym(e)
        if s:
            return (f"{self.label(s)} ", (VALUE, s))
        if isinstance(e, n.If):
            return (self._choice(e, for_sum=True),)
        return (self.words(e),)

    def _choice(self, e, for_sum=False) -> tuple:
        """An if-valued term: the value of the branch that applied, and why (nothing for a 0 term)."""
        def value(v, cond):
            if for_sum and isinstance(v, n.Quantity) and v.value == 0:
                return ()
            word = (self.words(v),) if not self.sym(v) else ((VALUE, self.sym(v)),)
            return word + ((" for ", self.fact(cond)) if cond is not None else ())
        items = tuple((Test(c), value(v, c)) for c, v in e.branches)
        return (FIRST, items, value(e.otherwise, None))

    # ------------------------------------------------------------------ the table
    def table(self, branches_of) -> dict:
        """The EXPLAIN table of a module; `branches_of(rule)` gives [(guards, outcomes)] as codegen flattens them."""
        m = self.m
        symbols = {}
        for name, sym in m.symbols.items():
            t = sym.type
            symbols[name] = (sym.label, sym.kind, t.unit, t.domain if t.kind in ("elem", "set") else None)
        defs = {}
        for d in m.definition_order:
            r = self.reason(d.expr)
            if r is not None:
                defs[d.name.text] = r
        rules = {}
        for _s, r in m.guideline.rules():
            when = self.entries([r.when] if r.when is not None else [])
            branches = []
            for guards, outs in branches_of(r):
                words = tuple(self.selector(o.selector) if isinstance(o, n.Restrict) else None for o in outs)
                branches.append((self.entries(list(guards)), words))
            rules[r.name.text] = (when, tuple(branches))
        labels = {k: v for k, v in sorted(self.value_labels.items())}
        return {"symbols": symbols, "labels": labels, "defs": defs, "rules": rules}

    def entries(self, exprs) -> tuple:
        """(test, fact, as written) for each conjunct, aligned with the module's `conditions`."""
        return tuple((Test(x), self.fact(x), unparse(x, self.m)) for c in exprs for x in conjuncts(c))


def _flat(e, cls):
    out = []
    for x in e.operands:
        out.extend(_flat(x, cls) if isinstance(x, cls) else [x])
    return out


def explanation_table(model: Model, branches_of) -> dict:
    """The trees every `because` and `why not` of a guideline is rendered from (see Words)."""
    return Words(model).table(branches_of)


def map_tests(tree, fn):
    """The same tree with every Test replaced by fn(expr) (the interpreter's closures)."""
    if isinstance(tree, Test):
        return fn(tree.expr)
    if isinstance(tree, tuple):
        return tuple(map_tests(x, fn) for x in tree)
    if isinstance(tree, dict):
        return {k: map_tests(v, fn) for k, v in tree.items()}
    return tree


def tree_source(tree, code) -> str:
    """Python source of a tree; a Test becomes `lambda e, P: <code(expr)>` (code gives three-valued code)."""
    if isinstance(tree, Test):
        return f"lambda e, P: {code(tree.expr)}"
    if isinstance(tree, tuple):
        items = [tree_source(x, code) for x in tree]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {tree_source(v, code)}" for k, v in tree.items()) + "}"
    return repr(tree)
