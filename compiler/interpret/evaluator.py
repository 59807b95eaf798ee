"""The interpreter stage: a resolved `Program` -> a module-like namespace with the runtime contract
of a generated module, whose callables evaluate the program's expressions directly.

`hgl.runtime.Engine` runs it unchanged.  It shares no code with the code generator (only the
Program, the explanation table and hgl.runtime.logic): it exists so that the differential test
(tests/test_differential.py) can check that the compiled module and the program agree.  It
walks the tree for every condition, so it is slow and never used on the hot path.
"""

from __future__ import annotations

import types

from hgl.compiler.check import program as p
from hgl.compiler.check.program import Program
from hgl.compiler.explain.unparse import unparse
from hgl.compiler.explain.words import explanation_table, map_tests
from hgl.runtime import logic as L
from hgl.runtime.model import (
    Branch, Constraint, Definition, Flag, InputSpec, Option, Outcome, Role, Rule, Section, Selector,
)

INTERPRETER_VERSION = "interpret-0.2"

_CMP = {"=": L.eq, "!=": L.ne, "<": L.lt, "<=": L.le, ">": L.gt, ">=": L.ge}
_BIN = {"+": L.add, "-": L.sub, "*": L.mul, "/": L.div, "union": L.union}


def _and(thunks):
    """Kleene conjunction over lazily evaluated operands (written out rather than calling L.and_,
    so that the two can disagree)."""
    unknown = None
    for t in thunks:
        x = t()
        if x is False:
            return False
        if x is not True:
            unknown = x if unknown is None else unknown | x
    return True if unknown is None else unknown


def _or(thunks):
    unknown = None
    for t in thunks:
        x = t()
        if x is True:
            return True
        if x is not False:
            unknown = x if unknown is None else unknown | x
    return False if unknown is None else unknown


class Evaluator(p.Visitor):
    """The three-valued value of an expression (`visit(e, env, P)`), or of an option filter against
    one proposed option (`visit(f, env, P, view)`), by the semantics of hgl.runtime.logic.

    `env` maps inputs, parameters and the definitions computed so far to values (an `Unknown`
    when missing); `P` is the engine's Proposal (None in phase 1 and for definitions).
    """

    def __init__(self, options: dict):
        self.options = options  # the module's OPTIONS (runtime Option records, with their drugs)

    # ------------------------------------------------------------------ names and constants
    def visit_Var(self, e, env, P):
        return env[e.name]

    def visit_Value(self, e, env, P):
        return e.value

    def visit_Num(self, e, env, P):
        return e.value

    def visit_Bool(self, e, env, P):
        return e.value

    def visit_SetOf(self, e, env, P):
        return frozenset(e.values)

    # ------------------------------------------------------------------ logic
    def visit_If(self, e, env, P):
        args = []
        for cond, value in e.branches:
            args += [self.visit(cond, env, P), self.visit(value, env, P)]
        args.append(self.visit(e.otherwise, env, P))
        return L.if_(*args)

    def visit_And(self, e, env, P):
        return _and([lambda x=x: self.visit(x, env, P) for x in e.operands])

    def visit_Or(self, e, env, P):
        return _or([lambda x=x: self.visit(x, env, P) for x in e.operands])

    def visit_Not(self, e, env, P):
        return L.not_(self.visit(e.operand, env, P))

    # ------------------------------------------------------------------ tests
    def visit_Compare(self, e, env, P):
        values = [self.visit(x, env, P) for x in e.operands]
        return L.and_(*(_CMP[op](a, b) for op, a, b in zip(e.ops, values, values[1:])))

    def visit_IsMissing(self, e, env, P):
        v = L.is_missing(self.visit(e.operand, env, P))
        return not v if e.negated else v

    def visit_IsEmpty(self, e, env, P):
        v = L.is_empty(self.visit(e.operand, env, P))
        return L.not_(v) if e.negated else v

    def visit_Member(self, e, env, P):
        fn = L.not_member if e.negated else L.member
        return fn(self.visit(e.element, env, P), self.visit(e.collection, env, P))

    def visit_SetTest(self, e, env, P):
        fn = L.has_any if e.quantifier == "any" else L.has_all
        return fn(self.visit(e.left, env, P), self.visit(e.right, env, P))

    # ------------------------------------------------------------------ values
    def visit_Binary(self, e, env, P):
        return _BIN[e.op](self.visit(e.left, env, P), self.visit(e.right, env, P))

    def visit_Day(self, e, env, P):
        return L.day(e.value)

    def visit_Between(self, e, env, P):
        return L.between(e.unit, self.visit(e.start, env, P), self.visit(e.end, env, P))

    def visit_Count(self, e, env, P):
        return L.count_of(*(self.visit(x, env, P) for x in e.items))

    def visit_Extreme(self, e, env, P):
        return (L.min_ if e.fn == "min" else L.max_)(*(self.visit(x, env, P) for x in e.operands))

    def visit_DrugsOf(self, e, env, P):
        return L.drugs_of(self.visit(e.operand, env, P), self.options)

    # ------------------------------------------------------------------ the proposal (phase 2)
    def visit_HasRole(self, e, env, P):
        return P.has(e.option, e.role)

    def visit_AnyOption(self, e, env, P):
        return P.any(e.role, lambda view: self.filters(e.filters, env, P, view))

    # ------------------------------------------------------------------ option filters
    def filters(self, filters, env, P, view):
        """All filters hold for one proposed option (an engine OptionView: its drugs and ids)."""
        return _and([lambda f=f: self.visit(f, env, P, view) for f in filters])

    def visit_Containing(self, f, env, P, view):
        if f.any_of:
            return L.has_any(view.drugs, self.visit(f.value, env, P))
        return L.member(self.visit(f.value, env, P), view.drugs)

    def visit_AllDrugsIn(self, f, env, P, view):
        return bool(view.drugs) and L.has_all(self.visit(f.value, env, P), view.drugs)

    def visit_OptionIn(self, f, env, P, view):
        return L.has_any(view.ids, self.visit(f.value, env, P))

    # ------------------------------------------------------------------ closures for the module
    def condition(self, e):
        """(env, P) -> value: a rule's `when`, a constraint's test, an explanation's test."""
        return lambda env, P: self.visit(e, env, P)

    def guard(self, guards):
        """(env, P) -> value: all of a branch's guards hold (None: it has none)."""
        if not guards:
            return None
        return lambda env, P: _and([lambda g=g: self.visit(g, env, P) for g in guards])

    def definition(self, e):
        """env -> value: a definition, computed from the inputs and the definitions before it."""
        return lambda env: self.visit(e, env, None)


class Outcomes(p.Visitor):
    """A flat branch's outcomes and selectors -> the runtime's records (`visit(o)` gives a list)."""

    def __init__(self, ev: Evaluator):
        self.ev = ev

    def visit_Propose(self, o):
        return [Outcome("propose", option=x, role=o.role) for x in o.options]

    def visit_RaiseFlag(self, o):
        return [Outcome("flag", flag=x) for x in o.flags]

    def visit_Request(self, o):
        return [Outcome("request", input=o.input, flag=o.flag)]

    def visit_Withhold(self, o):
        return [Outcome("withhold")]

    def visit_Restrict(self, o):
        return [Outcome(o.action, selector=self.visit(o.selector))]

    def visit_SelectOption(self, s):
        return Selector(unparse(s), option=s.option)

    def visit_SelectEvery(self, s):
        filters, ev = s.filters, self.ev
        return Selector(unparse(s), test=lambda env, view: ev.filters(filters, env, None, view),
                        except_=frozenset(s.except_))


class _Interpreted(types.SimpleNamespace):
    """A module-like namespace (Engine and Guideline read attributes only)."""


def build(program: Program, source_name: str = "<ast>", sha256: str = "") -> _Interpreted:
    """A module-like object evaluating `program` directly."""
    g = program.guideline
    mod = _Interpreted()
    meta: dict = {}
    if program.meta:
        meta["id"] = program.meta.id.text
        for f in program.meta.fields:
            meta[f.key.text] = f.value.value.text if f.value.kind == "name" else f.value.value
    mod.GUIDELINE = meta
    mod.HGL_VERSION = INTERPRETER_VERSION
    mod.SOURCE = source_name
    mod.SOURCE_SHA256 = sha256
    mod.PROVENANCE = {x.name.text: {"meaning": x.meaning, "caution": x.caution} for x in g.provenance}
    mod.STRENGTHS = {s.name.text: s.meaning for s in g.strengths}
    mod.EVIDENCE = {e.name.text: {f.key.text: f.value.value.text if f.value.kind == "name" else f.value.value
                                  for f in e.fields} for e in g.evidence}
    mod.VOCABULARIES = {v.name.text: {x.text: label or x.text for x, label in v.entries} for v in g.vocabularies}
    mod.OPTIONS = {name: Option(name, o.kind, o.label, drugs=frozenset(d.text for d in o.drugs),
                                stands_for=o.stands_for.text if o.stands_for else None)
                   for name, o in program.options.items()}
    mod.FLAGS = {name: Flag(name, f.label) for name, f in program.flags.items()}
    mod.INPUTS = tuple(_spec(x) for x in program.inputs)
    mod.PARAMETERS = tuple(_spec(x) for x in program.parameters)

    ev = Evaluator(mod.OPTIONS)
    mod.DEFINITIONS = tuple(Definition(d.name, ev.definition(d.expr), d.reads, line=d.span.line)
                            for d in program.definitions)
    mod.CONSTRAINTS = tuple(Constraint(c.name, c.label or unparse(c.expr), ev.condition(c.expr), c.inputs,
                                       line=c.span.line)
                            for c in program.constraints)
    mod.SECTIONS = tuple(Section(s.name, s.title or s.name, spec=s.spec, description=s.description,
                                 provenance=s.provenance, evidence=s.evidence, line=s.span.line)
                         for s in program.sections)
    mod.GOVERNING_ORDER = program.governing_order
    mod.ROLE_ORDER = program.role_order
    mod.ROLES = {r: Role(r, *program.roles[r]) for r in program.role_order if r in program.roles}
    mod.KINDS = dict(program.kinds)
    mod.GOVERNED_KINDS = program.governed_kinds
    mod.USES_TODAY = p.uses_today(program)
    outcomes = Outcomes(ev)
    mod.RULES = tuple(_rule(r, ev, outcomes) for r in program.rules)
    mod.EXPLAIN = map_tests(explanation_table(program), ev.condition)
    return mod


def _rule(r: p.Rule, ev: Evaluator, outcomes: Outcomes) -> Rule:
    branches = tuple(Branch(ev.guard(b.guards), tuple(x for o in b.outcomes for x in outcomes.visit(o)))
                     for b in r.branches)
    return Rule(r.name, r.title or r.name, r.section, phase=r.phase, governs=r.governs,
                when=ev.condition(r.when) if r.when is not None else None, branches=branches,
                provenance=r.provenance, evidence=r.evidence, strength=r.strength, rationale=r.rationale,
                line=r.span.line, column=r.span.column, reads=r.reads)


def _spec(x: p.Input) -> InputSpec:
    t = x.type
    kw: dict = {}
    if x.description:
        kw["description"] = x.description
    if t.kind == "num":
        kw.update(unit=t.unit, minimum=x.minimum, maximum=x.maximum)
        if x.units:
            kw["units"] = dict(x.units)
    if t.kind in ("elem", "set"):
        kw["values"] = x.values
    if x.has_default:
        kw["default"] = x.default
    return InputSpec(x.name, x.kind, x.label, is_parameter=x.is_parameter, provenance=x.provenance,
                     line=x.span.line, **kw)


def interpret_file(path) -> _Interpreted:
    """Parse and check a `.hgl` file, then build its interpreted module; raises HglError on errors."""
    from hgl.compiler.front.diagnostics import HglError
    from hgl.compiler.pipeline import check_source, read_source

    source = read_source(path)
    result = check_source(source)
    if not result.ok:
        raise HglError(source, result.errors)
    return build(result.program, source.name, source.sha256)
