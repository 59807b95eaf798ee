"""The resolved program: what checking gives every back end (code, evaluator, verifier, docs, FHIR, LSP).

Names are resolved (a `Var` is an input, parameter or definition; a `Value` is an element of a
named set), every expression node carries its static type, numbers are in the canonical unit of
what they are compared with, `and`/`or` are flattened, and each rule's nested `if`/`use`
outcome blocks are also given flat, as branches of guards and simple outcomes.  Nodes are frozen
dataclasses with source spans; no back end reads a table keyed by `id()`.

Back ends are visitors (`Visitor`): one `visit_<Class>` method per node type, checked by
tests/test_visitors.py against the tuples at the end of this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Union

from hgl.compiler.check.types import BOOL, Domain, Symbol, T
from hgl.compiler.front import nodes as n
from hgl.compiler.front.source import Span

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Var:
    """An input, a parameter or a definition, read by name."""

    name: str
    kind: str  # "input" | "parameter" | "definition"
    type: T
    span: Span


@dataclass(frozen=True)
class Value:
    """One value of a closed set: an enum value, a vocabulary term or an option."""

    value: str
    type: T
    span: Span


@dataclass(frozen=True)
class Num:
    """A number, in the canonical unit of `type` (`written` keeps the author's number and unit)."""

    value: int | float
    written: str
    type: T
    span: Span


@dataclass(frozen=True)
class Bool:
    value: bool
    type: T
    span: Span


@dataclass(frozen=True)
class SetOf:
    """A set written out: `{a, b}` (values deduplicated, in the order written)."""

    values: tuple[str, ...]
    type: T
    span: Span


@dataclass(frozen=True)
class If:
    branches: tuple[tuple["Expr", "Expr"], ...]  # (condition, value)
    otherwise: "Expr"
    type: T
    span: Span


@dataclass(frozen=True)
class And:
    """All operands hold; never directly inside another And."""

    operands: tuple["Expr", ...]
    span: Span
    type: T = BOOL


@dataclass(frozen=True)
class Or:
    """Some operand holds; never directly inside another Or."""

    operands: tuple["Expr", ...]
    span: Span
    type: T = BOOL


@dataclass(frozen=True)
class Not:
    operand: "Expr"
    span: Span
    type: T = BOOL


@dataclass(frozen=True)
class Compare:
    """A comparison chain: `a <= b < c` means `a <= b and b < c`; ops are = != < <= > >=."""

    operands: tuple["Expr", ...]
    ops: tuple[str, ...]
    span: Span
    type: T = BOOL


@dataclass(frozen=True)
class IsMissing:
    operand: "Expr"
    negated: bool
    span: Span
    type: T = BOOL


@dataclass(frozen=True)
class IsEmpty:
    operand: "Expr"
    negated: bool
    span: Span
    type: T = BOOL


@dataclass(frozen=True)
class Member:
    element: "Expr"
    collection: "Expr"
    negated: bool
    span: Span
    type: T = BOOL


@dataclass(frozen=True)
class SetTest:
    """`left has any of right` / `left has all of right`."""

    left: "Expr"
    quantifier: str  # "any" | "all"
    right: "Expr"
    span: Span
    type: T = BOOL


@dataclass(frozen=True)
class Binary:
    op: str  # "+" | "-" | "*" | "/" | "union"
    left: "Expr"
    right: "Expr"
    type: T
    span: Span


@dataclass(frozen=True)
class Count:
    """`count of (a, b, c)`: how many of the yes/no items are true (missing ones bound it)."""

    items: tuple["Expr", ...]
    span: Span
    type: T = T("num", None, True)


@dataclass(frozen=True)
class Day:
    """A date literal (ISO text)."""

    value: str
    span: Span
    type: T = T("date")


@dataclass(frozen=True)
class Between:
    """Whole years, months or days from one date to another (an age from a birth date and `today`)."""

    unit: str  # "years" | "months" | "days"
    start: "Expr"
    end: "Expr"
    type: T
    span: Span


@dataclass(frozen=True)
class Extreme:
    """`min(a, b, …)` / `max(a, b, …)`."""

    fn: str  # "min" | "max"
    operands: tuple["Expr", ...]
    type: T
    span: Span


@dataclass(frozen=True)
class DrugsOf:
    operand: "Expr"
    type: T
    span: Span


@dataclass(frozen=True)
class HasRole:
    """`thp is proposed`: reads the proposal, so only phase-2 rules use it."""

    option: str
    role: str  # "proposed" | "preferred"
    span: Span
    type: T = BOOL


@dataclass(frozen=True)
class AnyOption:
    """`any proposed option containing t_dxd`."""

    role: str
    filters: tuple["Filter", ...]
    span: Span
    type: T = BOOL


Expr = Union[Var, Value, Num, Bool, SetOf, If, And, Or, Not, Compare, IsMissing, IsEmpty, Member, SetTest,
             Binary, Count, Extreme, Day, Between, DrugsOf, HasRole, AnyOption]

# ---------------------------------------------------------------- option filters and selectors


@dataclass(frozen=True)
class Containing:
    """Options whose drugs include the drug (with any_of: any drug of the set)."""

    value: Expr
    any_of: bool
    span: Span


@dataclass(frozen=True)
class AllDrugsIn:
    """Options that have drugs, every one of them in the set."""

    value: Expr
    span: Span


@dataclass(frozen=True)
class OptionIn:
    """Options in a set of options (an option that stands for an input matches by its value too)."""

    value: Expr
    span: Span


Filter = Union[Containing, AllDrugsIn, OptionIn]


@dataclass(frozen=True)
class SelectOption:
    option: str
    span: Span


@dataclass(frozen=True)
class SelectEvery:
    filters: tuple[Filter, ...]
    except_: tuple[str, ...]
    span: Span


Selector = Union[SelectOption, SelectEvery]

# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Propose:
    """`prefer a, b` / `alternative a, b`; in a flat branch, one option each."""

    role: str  # "preferred" | "alternative"
    options: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Restrict:
    """`avoid`, `demote` or `drop` the options a selector picks from the proposal."""

    action: str  # "avoid" | "demote" | "drop"
    selector: Selector
    span: Span


@dataclass(frozen=True)
class RaiseFlag:
    """`flag a, b`; in a flat branch, one flag each."""

    flags: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Request:
    input: str
    flag: str | None
    span: Span


@dataclass(frozen=True)
class Withhold:
    span: Span


@dataclass(frozen=True)
class Use:
    """`use group`: only in outcomes as written (`Rule.outcomes`); branches have the group's outcomes."""

    group: str
    span: Span


@dataclass(frozen=True)
class OutcomeIf:
    """An `if` block of outcomes: only in outcomes as written; branches have it flattened."""

    branches: tuple[tuple[Expr, tuple["Outcome", ...]], ...]
    otherwise: tuple["Outcome", ...]
    span: Span


SimpleOutcome = Union[Propose, Restrict, RaiseFlag, Request, Withhold]
Outcome = Union[Propose, Restrict, RaiseFlag, Request, Withhold, Use, OutcomeIf]

# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Input:
    """An input of a case, or (is_parameter) a policy parameter; `default` in the canonical unit."""

    name: str
    kind: str  # the runtime's InputSpec kind: bool, int, number, enum, set, option
    type: T
    label: str
    description: str | None
    values: tuple[str, ...]  # enum, option and set inputs: the allowed values
    minimum: float | None
    maximum: float | None
    default: object  # None: no default
    has_default: bool
    is_parameter: bool
    provenance: tuple[str, ...]
    decl: n.InputDecl
    span: Span
    units: dict | None = None  # the units a case may give (UCUM inputs, `accepts`), with their factors


@dataclass(frozen=True)
class Definition:
    name: str
    label: str
    expr: Expr
    description: str | None
    reads: frozenset[str]  # the inputs it depends on
    span: Span


@dataclass(frozen=True)
class Constraint:
    name: str
    label: str | None
    expr: Expr
    inputs: tuple[str, ...]  # the inputs it reads, in declaration order
    span: Span


@dataclass(frozen=True)
class Branch:
    """One path through a rule's outcome blocks: all guards hold, then these outcomes apply."""

    guards: tuple[Expr, ...]
    outcomes: tuple[SimpleOutcome, ...]


@dataclass(frozen=True)
class Rule:
    name: str
    title: str | None
    section: str
    when: Expr | None
    outcomes: tuple[Outcome, ...]  # as written
    branches: tuple[Branch, ...]  # flattened, one per distinct path
    governs: bool
    phase: int  # 1: reads the case; 2: also reads the proposal
    reads: frozenset[str]
    strength: str | None
    provenance: tuple[str, ...]  # the rule's tags, or else its section's
    evidence: tuple[str, ...]  # the rule's entries, or else its section's
    rationale: str | None
    name_span: Span
    span: Span
    decl: n.Rule


@dataclass(frozen=True)
class Section:
    name: str
    title: str | None
    spec: str | None
    description: str | None
    provenance: tuple[str, ...]
    evidence: tuple[str, ...]
    rules: tuple[Rule, ...]
    exclusive: bool
    span: Span


@dataclass(frozen=True)
class Group:
    name: str
    label: str | None
    outcomes: tuple[Outcome, ...]
    span: Span


@dataclass(frozen=True)
class Program:
    """A checked guideline, resolved: every back end reads this."""

    guideline: n.Guideline  # the source structure, for tools that show declarations as written
    meta: n.GuidelineMeta | None
    inputs: tuple[Input, ...]
    parameters: tuple[Input, ...]
    definitions: tuple[Definition, ...]  # each after those it reads
    constraints: tuple[Constraint, ...]
    groups: dict[str, Group]
    sections: tuple[Section, ...]
    role_order: tuple[str, ...]  # strongest first
    governing_order: tuple[str, ...]
    symbols: dict[str, Symbol]
    domains: dict[str, Domain]
    options: dict[str, n.OptionDecl]
    flags: dict[str, n.FlagDecl]
    kinds: dict[str, str] = field(default_factory=dict)  # option kind -> label
    roles: dict[str, tuple[str, bool]] = field(default_factory=dict)  # role -> (label, negative)
    governed_kinds: tuple = (None,)  # the kinds a governing section replaces (None: options of no kind)
    rules_by_name: dict[str, Rule] = field(default_factory=dict)
    fhir: dict | None = None  # FHIR bindings as plain data (check/fhirbind.py; the module's FHIR table)
    # `accept CODE on rule because "…"` statements that passed checking (compiler/check/accepts.py)
    accepts: tuple[n.Accept, ...] = ()

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for s in self.sections for r in s.rules)

    def rule(self, name: str) -> Rule:
        return self.rules_by_name[name]

    def label(self, name: str) -> str:
        sym = self.symbols.get(name)
        return sym.label if sym else name.replace("_", " ")

    def definition(self, name: str) -> Definition | None:
        return next((d for d in self.definitions if d.name == name), None)

    def reads_of(self, name: str) -> frozenset[str]:
        """The inputs a symbol depends on: itself for an input, none for a parameter."""
        sym = self.symbols.get(name)
        if sym is None or sym.kind == "parameter":
            return frozenset()
        if sym.kind == "input":
            return frozenset((name,))
        d = self.definition(name)
        return d.reads if d is not None else frozenset()


# ---------------------------------------------------------------- traversal


def children(node) -> list:
    """The expression, filter and selector nodes directly inside a node, in field order."""
    out = []
    for f in fields(node):
        if f.name in ("type", "span"):
            continue
        _collect(getattr(node, f.name), out)
    return out


def _collect(value, out) -> None:
    if isinstance(value, NODE_TYPES):
        out.append(value)
    elif isinstance(value, tuple):
        for x in value:
            _collect(x, out)


def walk(node):
    """Every node below and including `node` (expressions, filters, selectors), depth first."""
    stack = [node]
    while stack:
        x = stack.pop()
        yield x
        stack.extend(reversed(children(x)))


def conjuncts(e) -> list:
    """The top-level conjuncts of a condition: the parts a `because` lists one by one."""
    return list(e.operands) if isinstance(e, And) else [e]


def uses_today(program) -> bool:
    """Whether some definition, constraint or rule reads the evaluation date (`today`)."""
    exprs = [d.expr for d in program.definitions] + [c.expr for c in program.constraints]
    for r in program.rules:
        exprs += ([r.when] if r.when is not None else []) + [g for b in r.branches for g in b.guards]
    return any(isinstance(x, Var) and x.name == "today" and x.kind == "parameter" for e in exprs for x in walk(e))


def reads_proposal(e) -> bool:
    return any(isinstance(x, (HasRole, AnyOption)) for x in walk(e))


def names_read(e) -> frozenset[str]:
    """The inputs, parameters (`today` among them) and definitions an expression reads by name
    itself, not through the definitions it reads (those are their own reads).  The dependency
    table of the generated module (READS, compiler/python/codegen.py) is this."""
    return frozenset(x.name for x in walk(e) if isinstance(x, Var))


class Visitor:
    """Dispatch on the node's class name, as Jinja's NodeVisitor does: `visit_<Class>(node, *args)`."""

    def visit(self, node, *args, **kwargs):
        return getattr(self, "visit_" + type(node).__name__)(node, *args, **kwargs)


EXPR_TYPES = (Var, Value, Num, Bool, SetOf, If, And, Or, Not, Compare, IsMissing, IsEmpty, Member, SetTest,
              Binary, Count, Extreme, Day, Between, DrugsOf, HasRole, AnyOption)
FILTER_TYPES = (Containing, AllDrugsIn, OptionIn)
SELECTOR_TYPES = (SelectOption, SelectEvery)
SIMPLE_OUTCOME_TYPES = (Propose, Restrict, RaiseFlag, Request, Withhold)
NODE_TYPES = EXPR_TYPES + FILTER_TYPES + SELECTOR_TYPES
