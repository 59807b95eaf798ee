"""Verification stage, encoding: a checked guideline -> z3 formulas for its inputs, rules and result.

Values are dual-rail so one encoder serves both spaces the verifier searches: a truth value
is a pair (T, F) of z3 formulas ("definitely true", "definitely false"), any other value a
pair (value, known).  In the two-valued space every input is present and F = not T; in the
three-valued space each input has a `present` variable and the pairs follow the runtime's
Kleene logic (hgl.runtime.logic).  The combination semantics follow hgl.runtime.engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import z3

from hgl.compiler.front import nodes as n
from hgl.compiler.python.codegen import _flatten_outcomes
from hgl.compiler.check.types import Model

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


def _or(xs):
    xs = [x for x in xs if not z3.is_false(x)]
    if any(z3.is_true(x) for x in xs):
        return TRUE
    return FALSE if not xs else xs[0] if len(xs) == 1 else z3.Or(*xs)


def _and(xs):
    xs = [x for x in xs if not z3.is_true(x)]
    if any(z3.is_false(x) for x in xs):
        return FALSE
    return TRUE if not xs else xs[0] if len(xs) == 1 else z3.And(*xs)


def _not(x):
    return FALSE if z3.is_true(x) else TRUE if z3.is_false(x) else z3.Not(x)


class Space:
    """The case variables, shared between the encoders of one search (two versions in a diff)."""

    def __init__(self, three_valued: bool = False):
        self.three = three_valued
        self.vars: dict[tuple, object] = {}
        self.enum_values: dict[str, list] = {}
        self.present: dict[str, object] = {}

    def var(self, name: str, kind: str, values=()):
        key = (name, kind)
        if key not in self.vars:
            tag = f"{name}:{kind}"
            if kind == "bool":
                self.vars[key] = z3.Bool(tag)
            elif kind == "int":
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


class Encoder:
    """The formulas of one guideline over a Space: definitions, constraints, rule firing, result."""

    def __init__(self, model: Model, space: Space):
        self.m = model
        self.g = model.guideline
        self.space = space
        self.domain: list = []  # validity of the variables (ranges, enum values)
        self.env: dict[str, object] = {}
        self.options = {o.name.text: o for o in self.g.options}
        self.option_drugs = {k: frozenset(d.text for d in o.drugs) for k, o in self.options.items()}
        self._inputs()
        for d in model.definition_order:
            self.env[d.name.text] = self.expr(d.expr, None)
        self.constraints = {c.name.text: self.truth(c.expr, None) for c in self.g.constraints}
        self.inconsistent = _or([b.t for b in self.constraints.values()])
        self._rules()

    # ------------------------------------------------------------------ inputs
    def _inputs(self):
        for d in list(self.g.inputs) + list(self.g.parameters):
            name, t = d.name.text, d.type
            k = self.space.is_present(name, d.is_parameter)
            if isinstance(t, n.BoolType):
                x = self.space.var(name, "bool")
                self.env[name] = B(_and([k, x]), _and([k, _not(x)]))
            elif isinstance(t, n.NumberType):
                x = self.space.var(name, "int" if t.integer else "number")
                if t.minimum is not None:
                    self.domain.append(x >= _num(t.minimum))
                if t.maximum is not None:
                    self.domain.append(x <= _num(t.maximum))
                self.env[name] = V("num", x, k)
            elif isinstance(t, (n.EnumType, n.OptionRefType)):
                if isinstance(t, n.EnumType):
                    values = [v.text for v in t.values]
                    kind = "enum"
                else:
                    values = list(self.m.domains[f"optref:{t.kind}"].values)  # includes "none"
                    kind = "option"
                x = self.space.var(name, kind, values)
                allv = self.space.enum_values[f"{name}:{kind}"]
                self.domain.append(_or([x == allv.index(v) for v in values]))
                self.env[name] = V("elem", {v: x == allv.index(v) for v in values}, k)
            else:
                vocab = next(v for v in self.g.vocabularies if v.name.text == t.vocabulary.text)
                values = [e.text for e, _ in vocab.entries]
                xs = self.space.var(name, "set", values)
                self.env[name] = V("set", {v: xs[v] for v in values}, k)

    # ------------------------------------------------------------------ expressions
    def truth(self, e, P) -> B:
        """A boolean expression as (T, F)."""
        r = self.expr(e, P)
        assert isinstance(r, B), type(e).__name__
        return r

    def expr(self, e, P):
        """Encode an expression; P is the proposal (phase-2 rules) or None."""
        if isinstance(e, n.Ref):
            kind, name = self.m.refs[id(e)]
            if kind == "value":
                return V("elem", {name: TRUE}, TRUE)
            return self.env[name]
        if isinstance(e, n.Quantity):
            return V("num", _num(self.m.literals.get(id(e), e.value)), TRUE)
        if isinstance(e, n.BoolLit):
            return B(TRUE, FALSE) if e.value else B(FALSE, TRUE)
        if isinstance(e, n.SetLit):
            return V("set", {x: TRUE for x in self.m.literals.get(id(e), ())}, TRUE)
        if isinstance(e, n.And):
            parts = [self.truth(x, P) for x in e.operands]
            return B(_and([p.t for p in parts]), _or([p.f for p in parts]))
        if isinstance(e, n.Or):
            parts = [self.truth(x, P) for x in e.operands]
            return B(_or([p.t for p in parts]), _and([p.f for p in parts]))
        if isinstance(e, n.Not):
            x = self.truth(e.operand, P)
            return B(x.f, x.t)
        if isinstance(e, n.Compare):
            vals = [self.expr(x, P) for x in e.operands]
            parts = [self._compare(op, a, b) for op, a, b in zip(e.ops, vals, vals[1:])]
            return B(_and([p.t for p in parts]), _or([p.f for p in parts]))
        if isinstance(e, n.IsMissing):
            k = self._known(self.expr(e.operand, P))
            return B(k, _not(k)) if e.negated else B(_not(k), k)
        if isinstance(e, n.IsEmpty):
            a = self.expr(e.operand, P)
            c = _and([_not(x) for x in a.v.values()])
            return self._known_bool(_not(c) if e.negated else c, a.k)
        if isinstance(e, n.Member):
            x, s = self.expr(e.element, P), self.expr(e.collection, P)
            c = _or([_and([cx, s.v[v]]) for v, cx in x.v.items() if v in s.v])
            return self._known_bool(_not(c) if e.negated else c, _and([x.k, s.k]))
        if isinstance(e, n.SetTest):
            a, b = self.expr(e.left, P), self.expr(e.right, P)
            return self._known_bool(_set_test(e.quantifier, a.v, b.v), _and([a.k, b.k]))
        if isinstance(e, n.Binary):
            a, b = self.expr(e.left, P), self.expr(e.right, P)
            k = _and([a.k, b.k])
            if e.op == "union":
                keys = list(dict.fromkeys(list(a.v) + list(b.v)))
                return V("set", {x: _or([a.v.get(x, FALSE), b.v.get(x, FALSE)]) for x in keys}, k)
            return V("num", a.v + b.v if e.op == "+" else a.v - b.v, k)
        if isinstance(e, n.DrugsOf):
            x = self.expr(e.operand, P)
            return V("set", self._drugs_of(x.v), x.k)
        if isinstance(e, n.HasRole):
            c = P.proposed(e.option.text) if e.role == "proposed" else P.preferred(e.option.text)
            return B(c, _not(c))
        if isinstance(e, n.AnyOption):
            ts, fs = [], []
            for o in self.options:
                inp = P.proposed(o) if e.role == "proposed" else P.preferred(o)
                if z3.is_false(inp):
                    continue
                f = self.filters(e.filters, o, P)
                ts.append(_and([inp, f.t]))
                fs.append(z3.Implies(inp, f.f) if not z3.is_true(inp) else f.f)
            return B(_or(ts), _and(fs))
        if isinstance(e, n.If):
            return self._if(e, P)
        raise AssertionError(f"no encoding for {type(e).__name__}")  # pragma: no cover

    def _known(self, x):
        if isinstance(x, B):
            return _or([x.t, x.f])
        return x.k

    @staticmethod
    def _known_bool(c, k):
        return B(_and([k, c]), _and([k, _not(c)]))

    def _compare(self, op, a: V, b: V) -> B:
        if isinstance(a, B) or isinstance(b, B):  # yes/no compared with yes/no
            eq = _or([_and([a.t, b.t]), _and([a.f, b.f])])
            ne = _or([_and([a.t, b.f]), _and([a.f, b.t])])
            return B(eq, ne) if op == "=" else B(ne, eq)
        k = _and([a.k, b.k])
        if a.kind == "num":
            c = {"=": lambda: a.v == b.v, "!=": lambda: a.v != b.v, "<": lambda: a.v < b.v,
                 "<=": lambda: a.v <= b.v, ">": lambda: a.v > b.v, ">=": lambda: a.v >= b.v}[op]()
        else:
            c = _or([_and([cx, b.v[v]]) for v, cx in a.v.items() if v in b.v])
            if op == "!=":
                c = _not(c)
        return self._known_bool(c, k)

    def _drugs_of(self, elem: dict) -> dict:
        drugs: dict = {}
        for o, c in elem.items():
            for d in self.option_drugs.get(o, ()):
                drugs.setdefault(d, []).append(c)
        return {d: _or(cs) for d, cs in drugs.items()}

    def _if(self, e: n.If, P):
        """First true condition wins; an undecided condition reached first makes the value unknown.

        Approximation: the runtime keeps the value when every still-possible value is equal;
        here it is unknown (only in the three-valued space; witnesses are re-run anyway).
        """
        reached, chosen, unknown = TRUE, [], []
        for c, v in e.branches:
            cb = self.truth(c, P)
            chosen.append((_and([reached, cb.t]), self.expr(v, P)))
            unknown.append(_and([reached, _not(cb.t), _not(cb.f)]))
            reached = _and([reached, cb.f])
        chosen.append((reached, self.expr(e.otherwise, P)))
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

    # ------------------------------------------------------------------ option filters
    def view(self, o: str):
        """(drugs, ids) of a proposed option as filters see it: dicts of conditions."""
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
        drugs, ids = self.view(o)
        parts = []
        for f in filters:
            v = self.expr(f.value, P)
            if isinstance(f, n.Containing):
                c = _set_test("any", drugs, v.v) if f.any_of else \
                    _or([_and([cx, drugs[x]]) for x, cx in v.v.items() if x in drugs])
            elif isinstance(f, n.AllDrugsIn):
                c = _and([_or(list(drugs.values())), _set_test("all", v.v, drugs)])
            else:
                c = _set_test("any", ids, v.v)
            parts.append(self._known_bool(c, v.k))
        return B(_and([p.t for p in parts]), _or([p.f for p in parts]))

    def selector_hit(self, sel, o: str, P) -> object:
        """Definitely selects option o (o assumed proposed)."""
        if isinstance(sel, n.SelectOption):
            return self.view(o)[1].get(sel.option.text, FALSE)
        if o in {x.text for x in sel.except_}:
            return FALSE
        return self.filters(sel.filters, o, P).t

    # ------------------------------------------------------------------ rules and combination
    def _rules(self):
        self.rules = []  # (section, rule, when B, [(guard B, outcomes)])
        for s, r in self.g.rules():
            phase = self.m.phase.get(r.name.text, 1)
            self.rules.append(RuleEnc(s.name.text, r, phase, _flatten_outcomes(r.outcomes, self.m.groups)))
        self.fired: dict[str, object] = {}
        self.branch_fired: dict[tuple, object] = {}
        for re_ in self.rules:
            if re_.phase == 1:
                self._fire(re_, None)
        order = [x.text for x in self.g.combination.governing_order] if self.g.combination else []
        roles = [x.text for x in self.g.combination.roles] if self.g.combination and self.g.combination.roles \
            else ["avoid", "preferred", "alternative"]
        self.role_rank = {r: i for i, r in enumerate(roles)}
        anygov = {s: _or([self.fired[x.name] for x in self.rules if x.governs and x.section == s])
                  for s in order}
        self.governing, earlier = {}, FALSE
        for s in order:
            self.governing[s] = _and([anygov[s], _not(earlier)])
            earlier = _or([earlier, anygov[s]])
        self.no_governing = _not(earlier)
        self.withhold = _or([self.branch_fired[(x.name, i)] for x in self.rules if x.phase == 1
                             for i, (_, outs) in enumerate(x.branches)
                             if any(isinstance(o, n.Withhold) for o in outs)])
        self.contrib: dict[tuple, list] = {}  # (option, role) -> [(rule, branch, condition)]
        for x in self.rules:
            if x.phase != 1:
                continue
            for i, (_, outs) in enumerate(x.branches):
                for o in outs:
                    if isinstance(o, n.Propose):
                        opt = o.options[0].text
                        self.contrib.setdefault((opt, o.role), []).append(
                            (x.name, i, _and([self.branch_fired[(x.name, i)], self.admitted(x, opt)])))
        self.P = Proposal(self)
        for x in self.rules:
            if x.phase == 2:
                self._fire(x, self.P)
        self._result()

    def admitted(self, x: "RuleEnc", opt: str):
        """A systemic option of a rule counts only if no section governs, or the rule governs in it."""
        if self.options[opt].kind != "systemic":
            return TRUE
        if x.governs and x.section in self.governing:
            return _or([self.no_governing, self.governing[x.section]])
        return self.no_governing

    def _fire(self, x: "RuleEnc", P):
        x.when = self.truth(x.rule.when, P) if x.rule.when is not None else B(TRUE, FALSE)
        self.fired[x.name] = x.when.t
        for i, (guards, _) in enumerate(x.branches):
            gs = [self.truth(g, P) for g in guards]
            x.guards.append(B(_and([g.t for g in gs]), _or([g.f for g in gs])))
            self.branch_fired[(x.name, i)] = _and([x.when.t] + [g.t for g in gs])

    def _result(self):
        P = self.P
        hits = {"demote": {}, "avoid": {}, "drop": {}}
        self.hit_by: dict[tuple, list] = {}  # (action, option) -> [(rule, condition)]
        for x in self.rules:
            for i, (_, outs) in enumerate(x.branches):
                for o in outs:
                    if not isinstance(o, n.Restrict):
                        continue
                    for opt in self.options:
                        c = _and([self.branch_fired[(x.name, i)], P.proposed(opt),
                                  self.selector_hit(o.selector, opt, P)])
                        if not z3.is_false(c):
                            hits[o.action].setdefault(opt, []).append(c)
                            self.hit_by.setdefault((o.action, opt), []).append((x.name, c))
        self.final = {}
        for opt in self.options:
            present = _and([P.proposed(opt), _not(_or(hits["drop"].get(opt, [])))])
            avoid = _and([present, _or(hits["avoid"].get(opt, []))])
            pref = _and([present, P.preferred(opt), _not(_or(hits["demote"].get(opt, []))), _not(avoid)])
            alt = _and([present, _not(avoid), _not(pref)])
            self.final[opt] = {"preferred": pref, "alternative": alt, "avoid": avoid}
        self.flags: dict[str, list] = {}
        self.requests: dict[str, list] = {}
        for x in self.rules:
            for i, (_, outs) in enumerate(x.branches):
                bf = self.branch_fired[(x.name, i)]
                for o in outs:
                    if isinstance(o, n.RaiseFlag):
                        self.flags.setdefault(o.flags[0].text, []).append(bf)
                    elif isinstance(o, n.Request):
                        self.requests.setdefault(o.input.text, []).append(bf)
                        if o.flag is not None:
                            self.flags.setdefault(o.flag.text, []).append(bf)
        self.flag = {f: _or(cs) for f, cs in self.flags.items()}
        self.request = {x: _or(cs) for x, cs in self.requests.items()}
        self.any_preferred = _or([r["preferred"] for r in self.final.values()])
        self.any_option = _or([c for r in self.final.values() for c in r.values()])
        self.any_flag = _or(list(self.flag.values()))
        self.any_request = _or(list(self.request.values()))


    def effect(self, x: "RuleEnc"):
        """The rule fires and some outcome of it reaches the result (an option kept, a flag, a hit)."""
        effective = []
        for i, (_, outs) in enumerate(x.branches):
            bf = self.branch_fired[(x.name, i)]
            for o in outs:
                if isinstance(o, n.Propose):
                    opt = o.options[0].text
                    kept = _not(_or([c for _, c in self.hit_by.get(("drop", opt), [])]))
                    effective.append(_and([bf, self.admitted(x, opt), _not(self.withhold), kept]))
                elif isinstance(o, n.Restrict):
                    effective.append(_and([bf, _or([c for (act, _), hits in self.hit_by.items()
                                                    if act == o.action for r, c in hits if r == x.name])]))
                else:
                    effective.append(bf)
        return _or(effective)

    def produces(self, x: "RuleEnc") -> bool:
        """Whether the rule can put something in a result by itself (an option, a flag, a request)."""
        return any(isinstance(o, (n.Propose, n.RaiseFlag, n.Request)) for _, outs in x.branches for o in outs)


class RuleEnc:
    """One rule's encoding: its firing condition and flattened branches."""

    def __init__(self, section: str, rule: n.Rule, phase: int, branches):
        self.section = section
        self.rule = rule
        self.name = rule.name.text
        self.phase = phase
        self.governs = rule.governs
        self.branches = branches
        self.when: B | None = None
        self.guards: list[B] = []


class Proposal:
    """The proposal after governing (what phase-2 rules read), as conditions per option."""

    def __init__(self, enc: Encoder):
        self.enc = enc
        self._pref, self._prop = {}, {}
        strong = min(("preferred", "alternative"), key=lambda r: enc.role_rank.get(r, 99))
        for opt in enc.options:
            by_role = {r: _or([c for _, _, c in enc.contrib.get((opt, r), [])]) for r in ("preferred", "alternative")}
            prop = _and([_not(enc.withhold), _or(list(by_role.values()))])
            self._prop[opt] = prop
            self._pref[opt] = _and([prop, by_role["preferred"]]) if strong == "preferred" else \
                _and([prop, _not(by_role["alternative"])])

    def proposed(self, opt: str):
        return self._prop.get(opt, FALSE)

    def preferred(self, opt: str):
        return self._pref.get(opt, FALSE)


def _set_test(quantifier: str, a: dict, b: dict):
    """has any / has all of two element-condition dicts."""
    if quantifier == "any":
        return _or([_and([c, a[x]]) for x, c in b.items() if x in a])
    return _and([z3.Implies(c, a.get(x, FALSE)) if not z3.is_true(c) else a.get(x, FALSE)
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
    frac = val.as_fraction() if z3.is_rational_value(val) else Fraction(val.as_decimal(12).rstrip("?"))
    return int(frac) if frac.denominator == 1 else float(frac)
