"""Verification stage, encoding: the resolved program's inputs, definitions and constraints -> z3 formulas.

Values are dual-rail so one encoder serves both spaces the verifier searches: a truth value
is a pair (T, F) of z3 formulas ("definitely true", "definitely false"), any other value a
pair (value, known).  In the two-valued space every input is present and F = not T; in the
three-valued space each input has a `present` variable and the pairs follow the runtime's
Kleene logic (hgl.runtime.logic).  The rule combination is encoded on top of this, in
compiler/verify/combine.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import datetime
import re

import z3

from hgl.compiler.check import program as p

TRUE = z3.BoolVal(True)
FALSE = z3.BoolVal(False)


@dataclass
class B:
    """A three-valued truth: t = definitely true, f = definitely false."""

    t: object
    f: object


@dataclass
class V:
    """A number (z3 term) or a set/element (dict value -> z3 condition), with `known`."""

    kind: str  # "num" | "elem" | "set"
    v: object
    k: object
    # a number's bounds while it is unknown (z3 terms, None: open), as the runtime keeps them for a
    # missing input with a declared range and through + and - (hgl.runtime.logic, Unknown.lo/hi)
    lo: object = None
    hi: object = None


# The formulas are built once per guideline and are large (the result of every option combines
# every rule that can touch it): the helpers below build exactly the terms z3.And/Or/Not would,
# without z3's generic argument handling (issue 13: most of the encoding time).  The constants
# true and false are unique in a context (z3 shares equal terms), so comparing the address of a
# term's AST finds them without a call into z3.
_CTX = z3.main_ctx()
_REF = _CTX.ref()
_T, _F = TRUE.as_ast().value, FALSE.as_ast().value


def _fast(xs) -> bool:
    """Whether every item is a formula of the main context (else z3's own functions decide)."""
    return all(type(x) is z3.BoolRef and x.ctx is _CTX for x in xs)


def _mk(fn, xs):
    arr = (z3.Ast * len(xs))(*[x.ast for x in xs])
    return z3.BoolRef(fn(_REF, len(xs), arr), _CTX)


def _junction(xs, unit, zero, is_unit, is_zero, unit_v, zero_v, slow, mk):
    """An n-ary or/and (unit: its neutral element, zero: its absorbing one), simplified."""
    xs = list(xs)
    if not _fast(xs):
        xs = [x for x in xs if not is_unit(x)]
        if any(is_zero(x) for x in xs):
            return zero
        return unit if not xs else xs[0] if len(xs) == 1 else slow(*xs)
    xs = [x for x in xs if x.ast.value != unit_v]
    if any(x.ast.value == zero_v for x in xs):
        return zero
    return unit if not xs else xs[0] if len(xs) == 1 else _mk(mk, xs)


def _or(xs):
    return _junction(xs, FALSE, TRUE, z3.is_false, z3.is_true, _F, _T, z3.Or, z3.Z3_mk_or)


def _and(xs):
    return _junction(xs, TRUE, FALSE, z3.is_true, z3.is_false, _T, _F, z3.And, z3.Z3_mk_and)


def _implies(a, b):
    if not _fast((a, b)):
        return z3.Implies(a, b)
    return z3.BoolRef(z3.Z3_mk_implies(_REF, a.ast, b.ast), _CTX)


def _not(x):
    if not _fast((x,)):
        return FALSE if z3.is_true(x) else TRUE if z3.is_false(x) else z3.Not(x)
    a = x.ast.value
    return FALSE if a == _T else TRUE if a == _F else z3.BoolRef(z3.Z3_mk_not(_REF, x.ast), _CTX)


DATE_MIN = datetime.date(1900, 1, 1).toordinal()  # the dates a witness may take
DATE_MAX = datetime.date(2100, 12, 31).toordinal()


class Space:
    """The case variables, shared between the encoders of one search (two versions in a diff)."""

    def __init__(self, three_valued: bool = False):
        self.three = three_valued
        self.vars: dict[tuple, object] = {}
        self.enum_values: dict[str, list] = {}
        self.present: dict[str, object] = {}

    def var(self, name: str, kind: str, values=()):
        """The variable of an input of an `Input.kind` (bool, int, number, enum, option, set)."""
        key = (name, kind)
        if key not in self.vars:
            tag = f"{name}:{kind}"
            if kind == "bool":
                self.vars[key] = z3.Bool(tag)
            elif kind in ("int", "date"):
                self.vars[key] = z3.Int(tag)
            elif kind == "number":
                self.vars[key] = z3.Real(tag)
            elif kind in ("enum", "option"):
                self.vars[key] = z3.Int(tag)
                self.enum_values[tag] = []
            else:  # set: one boolean per element, created on demand
                self.vars[key] = {}
        v = self.vars[key]
        if kind in ("enum", "option"):
            vals = self.enum_values[f"{name}:{kind}"]
            vals.extend(x for x in values if x not in vals)
        if kind == "set":
            for x in values:
                if x not in v:
                    v[x] = z3.Bool(f"{name}:set:{x}")
        return v

    def is_present(self, name: str, parameter: bool):
        if parameter or not self.three:
            return TRUE
        if name not in self.present:
            self.present[name] = z3.Bool(f"{name}:present")
        return self.present[name]


class ExprEncoder(p.Visitor):
    """The formulas of a program's expressions over a Space: one `visit_<Class>` per expression,
    filter and selector class of hgl.compiler.check.program.

    Expressions are visited as `visit(e, P)`, P being the proposal a phase-2 rule reads (None
    elsewhere); filters as `visit(f, drugs, ids, P)` for one option's view; selectors as
    `visit(sel, option, P)`, giving the condition that the selector definitely picks the option.
    """

    def __init__(self, program: p.Program, space: Space):
        self.program = program
        self.space = space
        self.domain: list = []  # validity of the variables (ranges, enum values)
        self.env: dict[str, object] = {}
        self.options = dict(program.options)
        # declaration order, not a frozenset: the order of the drugs reaches the formulas, and so z3's models
        self.option_drugs = {k: tuple(dict.fromkeys(d.text for d in o.drugs)) for k, o in self.options.items()}
        self._inputs()
        for d in program.definitions:
            self.env[d.name] = self.visit(d.expr, None)
        self.constraints = {c.name: self.truth(c.expr, None) for c in program.constraints}
        self.inconsistent = _or([b.t for b in self.constraints.values()])

    # ------------------------------------------------------------------ inputs
    def _inputs(self):
        for d in self.program.inputs + self.program.parameters:
            name, kind = d.name, d.kind
            k = self.space.is_present(name, d.is_parameter)
            if kind == "bool":
                x = self.space.var(name, "bool")
                self.env[name] = B(_and([k, x]), _and([k, _not(x)]))
            elif kind == "date":  # days since year 1 (date.toordinal), within 1900-2100
                x = self.space.var(name, "date")
                self.domain.extend([x >= DATE_MIN, x <= DATE_MAX])
                self.env[name] = V("num", x, k)
            elif kind in ("int", "number"):
                x = self.space.var(name, kind)
                if d.minimum is not None:
                    self.domain.append(x >= _num(d.minimum))
                if d.maximum is not None:
                    self.domain.append(x <= _num(d.maximum))
                self.env[name] = V("num", x, k,
                                   _num(d.minimum) if d.minimum is not None else None,
                                   _num(d.maximum) if d.maximum is not None else None)
            elif kind in ("enum", "option"):  # an option input's values include "none"
                values = list(d.values)
                x = self.space.var(name, kind, values)
                allv = self.space.enum_values[f"{name}:{kind}"]
                self.domain.append(_or([x == allv.index(v) for v in values]))
                self.env[name] = V("elem", {v: x == allv.index(v) for v in values}, k)
            else:
                values = list(d.values)
                xs = self.space.var(name, "set", values)
                self.env[name] = V("set", {v: xs[v] for v in values}, k)

    # ------------------------------------------------------------------ expressions
    def truth(self, e, P) -> B:
        """A boolean expression as (T, F)."""
        r = self.visit(e, P)
        assert isinstance(r, B), type(e).__name__
        return r

    def visit_Var(self, e: p.Var, P):
        if e.name == "today" and "today" not in self.env:  # the evaluation date: free, within the date range
            x = self.space.var("today", "date")
            self.domain.extend([x >= DATE_MIN, x <= DATE_MAX])
            self.env["today"] = V("num", x, TRUE)
        return self.env[e.name]

    def visit_Value(self, e: p.Value, P):
        return V("elem", {e.value: TRUE}, TRUE)

    def visit_Num(self, e: p.Num, P):
        return V("num", _num(e.value), TRUE)

    def visit_Day(self, e: p.Day, P):
        return V("num", z3.IntVal(datetime.date.fromisoformat(e.value).toordinal()), TRUE)

    def visit_Between(self, e: p.Between, P):
        """Days exactly; years and months approximately (4 years are 1,461 days): witnesses are re-run."""
        a, b = self.visit(e.start, P), self.visit(e.end, P)
        days = b.v - a.v
        value = days if e.unit == "days" else days * 4 / 1461 if e.unit == "years" else days * 48 / 1461
        return V("num", value, _and([a.k, b.k]))

    def visit_Bool(self, e: p.Bool, P):
        return B(TRUE, FALSE) if e.value else B(FALSE, TRUE)

    def visit_SetOf(self, e: p.SetOf, P):
        return V("set", {x: TRUE for x in e.values}, TRUE)

    def visit_And(self, e: p.And, P):
        parts = [self.truth(x, P) for x in e.operands]
        return B(_and([q.t for q in parts]), _or([q.f for q in parts]))

    def visit_Or(self, e: p.Or, P):
        parts = [self.truth(x, P) for x in e.operands]
        return B(_or([q.t for q in parts]), _and([q.f for q in parts]))

    def visit_Not(self, e: p.Not, P):
        x = self.truth(e.operand, P)
        return B(x.f, x.t)

    def visit_Compare(self, e: p.Compare, P):
        vals = [self.visit(x, P) for x in e.operands]
        parts = [self._compare(op, a, b) for op, a, b in zip(e.ops, vals, vals[1:])]
        return B(_and([q.t for q in parts]), _or([q.f for q in parts]))

    def visit_IsMissing(self, e: p.IsMissing, P):
        k = _known(self.visit(e.operand, P))
        return B(k, _not(k)) if e.negated else B(_not(k), k)

    def visit_IsEmpty(self, e: p.IsEmpty, P):
        a = self.visit(e.operand, P)
        c = _and([_not(x) for x in a.v.values()])
        return _known_bool(_not(c) if e.negated else c, a.k)

    def visit_Member(self, e: p.Member, P):
        x, s = self.visit(e.element, P), self.visit(e.collection, P)
        c = _or([_and([cx, s.v[v]]) for v, cx in x.v.items() if v in s.v])
        return _known_bool(_not(c) if e.negated else c, _and([x.k, s.k]))

    def visit_SetTest(self, e: p.SetTest, P):
        a, b = self.visit(e.left, P), self.visit(e.right, P)
        return _known_bool(_set_test(e.quantifier, a.v, b.v), _and([a.k, b.k]))

    def visit_Binary(self, e: p.Binary, P):
        a, b = self.visit(e.left, P), self.visit(e.right, P)
        k = _and([a.k, b.k])
        if e.op == "union":
            keys = list(dict.fromkeys(list(a.v) + list(b.v)))
            return V("set", {x: _or([a.v.get(x, FALSE), b.v.get(x, FALSE)]) for x in keys}, k)
        if e.op == "/":  # x / 0 is undecided at run time: known only where the divisor is not 0
            left = z3.ToReal(a.v) if z3.is_expr(a.v) and z3.is_int(a.v) else a.v  # not integer division
            return V("num", left / b.v, _and([k, b.v != 0]))
        value = {"+": lambda: a.v + b.v, "-": lambda: a.v - b.v, "*": lambda: a.v * b.v}[e.op]()
        if e.op == "*" or z3.is_true(k):
            return V("num", value, k)
        (alo, ahi), (blo, bhi) = _ends(a), _ends(b)  # runtime add/sub: interval arithmetic
        if e.op == "-":
            blo, bhi = (None if bhi is None else -bhi), (None if blo is None else -blo)
        return V("num", value, k, None if alo is None or blo is None else alo + blo,
                 None if ahi is None or bhi is None else ahi + bhi)

    def visit_Count(self, e: p.Count, P):
        """Approximation: known only when every item is decided (the runtime bounds it; witnesses re-run)."""
        items = [self.truth(x, P) for x in e.items]
        total = z3.Sum([z3.If(b.t, z3.IntVal(1), z3.IntVal(0)) for b in items]) if items else z3.IntVal(0)
        return V("num", total, _and([_or([b.t, b.f]) for b in items]))

    def visit_Extreme(self, e: p.Extreme, P):
        values = [self.visit(x, P) for x in e.operands]
        best = values[0].v
        for x in values[1:]:
            best = z3.If(x.v < best, x.v, best) if e.fn == "min" else z3.If(x.v > best, x.v, best)
        return V("num", best, _and([x.k for x in values]))

    def visit_DrugsOf(self, e: p.DrugsOf, P):
        x = self.visit(e.operand, P)
        return V("set", self._drugs_of(x.v), x.k)

    def visit_HasRole(self, e: p.HasRole, P):
        c = P.proposed(e.option) if e.role == "proposed" else P.preferred(e.option)
        return B(c, _not(c))

    def visit_AnyOption(self, e: p.AnyOption, P):
        ts, fs = [], []
        for o in self.options:
            inp = P.proposed(o) if e.role == "proposed" else P.preferred(o)
            if z3.is_false(inp):
                continue
            f = self.filters(e.filters, o, P)
            ts.append(_and([inp, f.t]))
            fs.append(_implies(inp, f.f) if not z3.is_true(inp) else f.f)
        return B(_or(ts), _and(fs))

    def visit_If(self, e: p.If, P):
        """First true condition wins; an undecided condition reached first makes the value unknown.

        Approximation: the runtime keeps the value when every still-possible value is equal;
        here it is unknown (only in the three-valued space; witnesses are re-run anyway).
        """
        reached, chosen, unknown = TRUE, [], []
        for c, v in e.branches:
            cb = self.truth(c, P)
            chosen.append((_and([reached, cb.t]), self.visit(v, P)))
            unknown.append(_and([reached, _not(cb.t), _not(cb.f)]))
            reached = _and([reached, cb.f])
        chosen.append((reached, self.visit(e.otherwise, P)))
        undecided = _or(unknown)
        first = chosen[0][1]
        if isinstance(first, B):
            t = _or([_and([c, v.t]) for c, v in chosen])
            f = _or([_and([c, v.f]) for c, v in chosen])
            return B(_and([_not(undecided), t]), _and([_not(undecided), f]))
        k = _and([_not(undecided), _or([_and([c, v.k]) for c, v in chosen])])
        if first.kind == "num":
            val = chosen[-1][1].v
            for c, v in reversed(chosen[:-1]):
                val = z3.If(c, v.v, val)
            return V("num", val, k)
        keys = list(dict.fromkeys(x for _, v in chosen for x in v.v))
        return V(first.kind, {x: _or([_and([c, v.v.get(x, FALSE)]) for c, v in chosen]) for x in keys}, k)

    def _compare(self, op, a, b) -> B:
        if isinstance(a, B) or isinstance(b, B):  # yes/no compared with yes/no
            eq = _or([_and([a.t, b.t]), _and([a.f, b.f])])
            ne = _or([_and([a.t, b.f]), _and([a.f, b.t])])
            return B(eq, ne) if op == "=" else B(ne, eq)
        k = _and([a.k, b.k])
        if a.kind == "num":
            c = {"=": lambda: a.v == b.v, "!=": lambda: a.v != b.v, "<": lambda: a.v < b.v,
                 "<=": lambda: a.v <= b.v, ">": lambda: a.v > b.v, ">=": lambda: a.v >= b.v}[op]()
            if not z3.is_true(k) and (_bounded(a) or _bounded(b)):
                return _compare_bounds(op, a, b, c, k)
        else:
            c = _or([_and([cx, b.v[v]]) for v, cx in a.v.items() if v in b.v])
            if op == "!=":
                c = _not(c)
        return _known_bool(c, k)

    def _drugs_of(self, elem: dict) -> dict:
        drugs: dict = {}
        for o, c in elem.items():
            for d in self.option_drugs.get(o, ()):
                drugs.setdefault(d, []).append(c)
        return {d: _or(cs) for d, cs in drugs.items()}

    # ------------------------------------------------------------------ option filters and selectors
    def view(self, o: str):
        """(drugs, ids) of a proposed option as filters see it: dicts of conditions (built once per option)."""
        views = self.__dict__.setdefault("_views", {})
        if o not in views:
            views[o] = self._view(o)
        return views[o]

    def _view(self, o: str):
        decl = self.options[o]
        if decl.stands_for is None:
            return {d: TRUE for d in self.option_drugs[o]}, {o: TRUE}
        target = self.env[decl.stands_for.text]
        # a missing target has no drugs and only its own id (runtime.engine.OptionView)
        ids = {o: TRUE}
        for v, c in target.v.items():
            ids[v] = _or([ids.get(v, FALSE), _and([target.k, c])])
        drugs = {d: _and([target.k, c]) for d, c in self._drugs_of(target.v).items()}
        return drugs, ids

    def filters(self, filters, o: str, P) -> B:
        """Whether option o passes every filter (conjunction of the filters' truths)."""
        drugs, ids = self.view(o)
        parts = [self.visit(f, drugs, ids, P) for f in filters]
        return B(_and([q.t for q in parts]), _or([q.f for q in parts]))

    def visit_Containing(self, f: p.Containing, drugs, ids, P) -> B:
        v = self.visit(f.value, P)
        c = _set_test("any", drugs, v.v) if f.any_of else \
            _or([_and([cx, drugs[x]]) for x, cx in v.v.items() if x in drugs])
        return _known_bool(c, v.k)

    def visit_AllDrugsIn(self, f: p.AllDrugsIn, drugs, ids, P) -> B:
        v = self.visit(f.value, P)
        return _known_bool(_and([_or(list(drugs.values())), _set_test("all", v.v, drugs)]), v.k)

    def visit_OptionIn(self, f: p.OptionIn, drugs, ids, P) -> B:
        v = self.visit(f.value, P)
        return _known_bool(_set_test("any", ids, v.v), v.k)

    def selector_hit(self, sel, o: str, P):
        """Definitely selects option o (o assumed proposed)."""
        return self.visit(sel, o, P)

    def visit_SelectOption(self, sel: p.SelectOption, o: str, P):
        return self.view(o)[1].get(sel.option, FALSE)

    def visit_SelectEvery(self, sel: p.SelectEvery, o: str, P):
        if o in sel.except_:
            return FALSE
        return self.filters(sel.filters, o, P).t


def _bounded(a) -> bool:
    return a.lo is not None or a.hi is not None


def _ends(a):
    """(lo, hi) of a number as the runtime sees it: the value when known, else its bounds (None: open)."""
    lo = a.v if a.lo is None and z3.is_true(a.k) else None if a.lo is None else z3.If(a.k, a.v, a.lo)
    hi = a.v if a.hi is None and z3.is_true(a.k) else None if a.hi is None else z3.If(a.k, a.v, a.hi)
    return lo, hi


def _compare_bounds(op, a, b, c, k) -> B:
    """A comparison with an unknown side that its bounds may decide (runtime: logic._decided, eq, ne).

    A side's end exists when the side is known or has that bound; a side that is unknown with
    no bound at all leaves the comparison undecided, as in the runtime."""
    def end(x, which):
        bound = x.lo if which == "lo" else x.hi
        if bound is None:
            return x.k, x.v  # exists only when known
        return TRUE, z3.If(x.k, x.v, bound)

    open_ = _or([_and([_not(x.k), FALSE if _bounded(x) else TRUE]) for x in (a, b)])
    (alo_ok, alo), (ahi_ok, ahi) = end(a, "lo"), end(a, "hi")
    (blo_ok, blo), (bhi_ok, bhi) = end(b, "lo"), end(b, "hi")
    below = _and([ahi_ok, blo_ok, ahi < blo])  # a < b over both intervals
    above = _and([alo_ok, bhi_ok, alo > bhi])
    at_most = _and([ahi_ok, blo_ok, ahi <= blo])
    at_least = _and([alo_ok, bhi_ok, alo >= bhi])
    yes, no = {"<": (below, at_least), "<=": (at_most, above), ">": (above, at_most),
               ">=": (at_least, below), "=": (FALSE, _or([below, above])),
               "!=": (_or([below, above]), FALSE)}[op]
    decided = _and([_not(k), _not(open_)])
    return B(_or([_and([k, c]), _and([decided, yes])]), _or([_and([k, _not(c)]), _and([decided, no])]))


def _known(x):
    if isinstance(x, B):
        return _or([x.t, x.f])
    return x.k


def _known_bool(c, k) -> B:
    return B(_and([k, c]), _and([k, _not(c)]))


def _set_test(quantifier: str, a: dict, b: dict):
    """has any / has all of two element-condition dicts."""
    if quantifier == "any":
        return _or([_and([c, a[x]]) for x, c in b.items() if x in a])
    return _and([_implies(c, a.get(x, FALSE)) if not z3.is_true(c) else a.get(x, FALSE)
                 for x, c in b.items()])


def _num(x):
    if isinstance(x, int):
        return z3.IntVal(x)
    return z3.RealVal(Fraction(x).limit_denominator(10**9))


def model_value(zmodel, x, kind: str, values=()):
    """A witness value (JSON-able) of one variable from a z3 model."""
    if kind == "bool":
        return z3.is_true(zmodel.eval(x, model_completion=True))
    if kind in ("enum", "option"):
        return values[zmodel.eval(x, model_completion=True).as_long()]
    if kind == "set":
        return sorted(v for v, b in x.items() if z3.is_true(zmodel.eval(b, model_completion=True)))
    val = zmodel.eval(x, model_completion=True)
    if kind == "int":
        return val.as_long()
    if kind == "date":
        return datetime.date.fromordinal(val.as_long()).isoformat()
    frac = val.as_fraction() if z3.is_rational_value(val) else Fraction(val.as_decimal(12).rstrip("?"))
    return int(frac) if frac.denominator == 1 else float(frac)


# ---------------------------------------------------------------- reading a whole model at once
_DEFINE = re.compile(r"\(define-fun (\|[^|]*\||[^\s()|]+) \(\) (Int|Real|Bool)\s+(.*?)\)"
                     r"(?=\n\(define-fun |\s*\Z)", re.S)
_RATIO = re.compile(r"\(/ (\d+)(?:\.0)? (\d+)(?:\.0)?\)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class ModelTable:
    """The values of a z3 model's constants, read from its text in one call (a witness reads every
    input: one `eval` per variable made extracting witnesses grow with the guideline).

    `value(tag)` gives a bool or a Fraction, the default z3's model completion gives (false, 0) for
    a constant the model leaves out, or None for a value this reader does not parse (then the caller
    evaluates it the slow way).  tests/test_verify_scale.py checks it against `model_value`.
    """

    def __init__(self, zmodel):
        self.values = {}
        for name, sort, text in _DEFINE.findall(zmodel.sexpr()):
            self.values[name.strip("|")] = _parse_value(text.strip(), sort)

    def value(self, tag: str, sort: str):
        if tag not in self.values:
            return False if sort == "Bool" else Fraction(0)
        return self.values[tag]


def _parse_value(text: str, sort: str):
    if sort == "Bool":
        return True if text == "true" else False if text == "false" else None
    if text.isascii() and text.isdigit():  # the common case: a natural number (an int equals its Fraction, and has .denominator)
        return int(text)
    sign = 1
    if text.startswith("(- ") and text.endswith(")"):
        sign, text = -1, text[3:-1].strip()
    m = _RATIO.fullmatch(text)
    if m:
        return sign * Fraction(int(m.group(1)), int(m.group(2)))
    if _NUMBER.fullmatch(text):
        return sign * Fraction(text)
    return None


def table_value(table: ModelTable, tag: str, kind: str, values=()):
    """A witness value like `model_value`, from a ModelTable; None when the table cannot tell."""
    if kind == "set":
        out = []
        for v, t in values:
            b = table.value(t, "Bool")
            if b is None:
                return None
            if b:
                out.append(v)
        return sorted(out)
    raw = table.value(tag, "Bool" if kind == "bool" else "Real" if kind == "number" else "Int")
    if raw is None:
        return None
    if kind == "bool":
        return raw
    if kind in ("enum", "option"):
        return values[int(raw)]
    if kind == "int":
        return int(raw)
    if kind == "date":
        return datetime.date.fromordinal(int(raw)).isoformat()
    return int(raw) if raw.denominator == 1 else float(raw)
