"""The typed AST: frozen dataclasses with source spans, built by parser.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from hgl.compiler.front.source import NO_SPAN, Span
from hgl.compiler.front.fhirnodes import (  # noqa: F401 - the FHIR bindings' nodes, re-exported as nodes.X
    FhirPath, Coding, MapEntry, UnitEntry, Derivation, FhirBinding, CodeSystem, DatePolicy, FhirFact, FhirRecord, ValueCodes)


@dataclass(frozen=True)
class Name:
    """An identifier as written, with its position."""

    text: str
    span: Span = NO_SPAN

    def __str__(self) -> str:
        return self.text


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Ref:
    name: Name
    span: Span


@dataclass(frozen=True)
class Quantity:
    value: int | float
    unit: Name | None
    span: Span


@dataclass(frozen=True)
class BoolLit:
    value: bool
    span: Span


@dataclass(frozen=True)
class SetLit:
    items: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class If:
    branches: tuple[tuple["Expr", "Expr"], ...]  # (condition, value)
    otherwise: "Expr"
    span: Span


@dataclass(frozen=True)
class And:
    operands: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class Or:
    operands: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class Not:
    operand: "Expr"
    span: Span


@dataclass(frozen=True)
class Compare:
    """A comparison chain: `a <= b < c` means `a <= b and b < c`."""

    operands: tuple["Expr", ...]
    ops: tuple[str, ...]  # normalised to = != < <= > >=
    span: Span


@dataclass(frozen=True)
class IsMissing:
    operand: "Expr"
    negated: bool
    span: Span


@dataclass(frozen=True)
class IsEmpty:
    operand: "Expr"
    negated: bool
    span: Span


@dataclass(frozen=True)
class Member:
    element: "Expr"
    collection: "Expr"
    negated: bool
    span: Span


@dataclass(frozen=True)
class SetTest:
    """`left has any of right` / `left has all of right`."""

    left: "Expr"
    quantifier: str  # "any" | "all"
    right: "Expr"
    span: Span


@dataclass(frozen=True)
class Count:
    """`count of (a, b, c)`: how many of the conditions hold; `at least N of (…)` sets `at_least`."""

    items: tuple["Expr", ...]
    span: Span
    at_least: "Quantity | None" = None


@dataclass(frozen=True)
class DateLit:
    """`2024-01-31` in an expression."""

    value: str
    span: Span


@dataclass(frozen=True)
class Between:
    """`years between a and b`: whole years (months, days) from date a to date b."""

    unit: str  # "years" | "months" | "days" (the checker says so)
    start: "Expr"
    end: "Expr"
    span: Span
    unit_span: Span = NO_SPAN


@dataclass(frozen=True)
class Extreme:
    """`min(a, b)` / `max(a, b)`."""

    fn: str  # "min" | "max"
    operands: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class Binary:
    op: str  # "+" | "-" | "*" | "/" | "union"
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True)
class DrugsOf:
    operand: "Expr"
    span: Span


@dataclass(frozen=True)
class HasRole:
    """`thp is proposed`: reads the proposal, so only phase-2 rules may use it."""

    option: Name
    role: str  # "proposed" | "preferred"
    span: Span


@dataclass(frozen=True)
class AnyOption:
    """`any proposed option containing t_dxd`."""

    role: str
    filters: tuple["Filter", ...]
    span: Span


Expr = Union[
    Ref, Quantity, BoolLit, SetLit, If, And, Or, Not, Compare, IsMissing, IsEmpty,
    Member, SetTest, Binary, Count, Extreme, DateLit, Between, DrugsOf, HasRole, AnyOption,
]


# ---------------------------------------------------------------- option filters and selectors


@dataclass(frozen=True)
class Containing:
    """Options whose drugs include the drug (or, with any_of, any drug of the set)."""

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
    option: Name
    span: Span


@dataclass(frozen=True)
class SelectEvery:
    filters: tuple[Filter, ...]
    except_: tuple[Name, ...]
    span: Span


Selector = Union[SelectOption, SelectEvery]


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Propose:
    """`prefer a, b`, `alternative a, b` or `propose a, b as <role>`."""

    role: str  # "preferred" | "alternative" | a role the guideline declares
    options: tuple[Name, ...]
    span: Span
    role_name: "Name | None" = None  # the role as written in `propose … as <role>`


@dataclass(frozen=True)
class Restrict:
    """`avoid`, `demote` or `drop` the options a selector picks from the proposal."""

    action: str  # "avoid" | "demote" | "drop"
    selector: Selector
    span: Span


@dataclass(frozen=True)
class RaiseFlag:
    flags: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class Request:
    input: Name
    flag: Name | None
    span: Span


@dataclass(frozen=True)
class Withhold:
    span: Span


@dataclass(frozen=True)
class Use:
    group: Name
    span: Span


@dataclass(frozen=True)
class OutcomeIf:
    branches: tuple[tuple[Expr, tuple["Outcome", ...]], ...]
    otherwise: tuple["Outcome", ...]
    span: Span


Outcome = Union[Propose, Restrict, RaiseFlag, Request, Withhold, Use, OutcomeIf]


# ---------------------------------------------------------------- types


@dataclass(frozen=True)
class BoolType:
    span: Span = NO_SPAN


@dataclass(frozen=True)
class NumberType:
    integer: bool
    unit: Name | None
    minimum: float | None
    maximum: float | None
    span: Span = NO_SPAN


@dataclass(frozen=True)
class EnumType:
    values: tuple[Name, ...]
    span: Span = NO_SPAN


@dataclass(frozen=True)
class SetType:
    vocabulary: Name
    span: Span = NO_SPAN


@dataclass(frozen=True)
class DateType:
    span: Span = NO_SPAN


@dataclass(frozen=True)
class OptionRefType:
    kind: "Name | None"  # a declared option kind, or None: an option of any kind
    span: Span = NO_SPAN


TypeExpr = Union[BoolType, NumberType, EnumType, SetType, DateType, OptionRefType]


# ---------------------------------------------------------------- literals in declarations


@dataclass(frozen=True)
class Literal:
    """A literal in metadata, defaults and evidence fields."""

    kind: str  # "string" | "number" | "bool" | "date" | "name" | "set"
    value: object
    span: Span
    unit: Name | None = None


@dataclass(frozen=True)
class Field:
    key: Name
    value: Literal
    span: Span


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class GuidelineMeta:
    id: Name
    fields: tuple[Field, ...]
    span: Span

    def get(self, key: str):
        for f in self.fields:
            if f.key.text == key:
                return f.value.value
        return None


@dataclass(frozen=True)
class ProvenanceTag:
    name: Name
    meaning: str
    caution: bool
    span: Span


@dataclass(frozen=True)
class StrengthDecl:
    name: Name
    meaning: str
    span: Span


@dataclass(frozen=True)
class EvidenceEntry:
    name: Name
    fields: tuple[Field, ...]
    span: Span

    def get(self, key: str):
        for f in self.fields:
            if f.key.text == key:
                return f.value.value
        return None


@dataclass(frozen=True)
class Vocabulary:
    name: Name
    label: str | None
    entries: tuple[tuple[Name, str | None], ...]
    span: Span
    codes: tuple[ValueCodes, ...] = ()  # standard codes of its values (FHIR in and out)


@dataclass(frozen=True)
class KindDecl:
    """`kind systemic "Systemic therapy"`: an option kind the guideline uses."""

    name: Name
    label: str
    span: Span


@dataclass(frozen=True)
class RoleDecl:
    """`role consider "Consider"` (`against`: a negative role, like avoid)."""

    name: Name
    label: str
    against: bool
    span: Span


@dataclass(frozen=True)
class OptionDecl:
    name: Name
    kind: str | None  # a declared kind, or None: an option of no kind
    label: str
    drugs: tuple[Name, ...]
    stands_for: Name | None
    span: Span
    kind_ref: Name | None = None  # the kind as written


@dataclass(frozen=True)
class FlagDecl:
    name: Name
    label: str
    span: Span


@dataclass(frozen=True)
class InputDecl:
    """An input (`is_parameter` False) or a policy parameter (True)."""

    name: Name
    type: TypeExpr
    label: str | None
    description: str | None
    default: Literal | None
    provenance: tuple[Name, ...]
    is_parameter: bool
    span: Span
    # `accepts mg/dL times 0.357`: an analyte-specific unit a case may give, and its factor
    accepts: "tuple[Name, float] | None" = None
    fhir: FhirBinding | None = None  # `fhir … end`: where it comes from in a FHIR record


@dataclass(frozen=True)
class Definition:
    name: Name
    label: str | None
    expr: Expr
    description: str | None
    span: Span
    values: tuple[Name, ...] | None = None  # `: one of a, b, c`, a derived category


@dataclass(frozen=True)
class Constraint:
    name: Name
    label: str | None
    expr: Expr
    span: Span


@dataclass(frozen=True)
class OutcomeGroup:
    name: Name
    label: str | None
    outcomes: tuple[Outcome, ...]
    span: Span


@dataclass(frozen=True)
class Rule:
    name: Name
    title: str | None
    when: Expr | None
    outcomes: tuple[Outcome, ...]
    governs: bool
    strength: Name | None
    provenance: tuple[Name, ...]
    evidence: tuple[Name, ...]
    rationale: str | None
    span: Span


@dataclass(frozen=True)
class Section:
    name: Name
    title: str | None
    spec: str | None
    description: str | None
    provenance: tuple[Name, ...]
    evidence: tuple[Name, ...]
    rules: tuple[Rule, ...]
    span: Span
    # `exclusive`: its rules should prefer at most one option per case (checked by the verifier)
    exclusive: bool = False


@dataclass(frozen=True)
class Combination:
    roles: tuple[Name, ...]
    governing_order: tuple[Name, ...]
    span: Span
    replaces: tuple[Name, ...] | None = None  # `governing replaces k1, k2`; None: every kind


@dataclass(frozen=True)
class Accept:
    """`accept HGL502 on rule_name because "reason"`: a warning the authors have read and accept."""

    code: Name
    rule: Name
    reason: str
    span: Span


@dataclass(frozen=True)
class Guideline:
    """A whole `.hgl` file, its declarations grouped by kind in source order."""

    meta: GuidelineMeta | None
    provenance: tuple[ProvenanceTag, ...] = field(default=())
    strengths: tuple[StrengthDecl, ...] = field(default=())
    evidence: tuple[EvidenceEntry, ...] = field(default=())
    vocabularies: tuple[Vocabulary, ...] = field(default=())
    kinds: tuple[KindDecl, ...] = field(default=())
    roles: tuple[RoleDecl, ...] = field(default=())
    options: tuple[OptionDecl, ...] = field(default=())
    flags: tuple[FlagDecl, ...] = field(default=())
    inputs: tuple[InputDecl, ...] = field(default=())
    parameters: tuple[InputDecl, ...] = field(default=())
    definitions: tuple[Definition, ...] = field(default=())
    constraints: tuple[Constraint, ...] = field(default=())
    groups: tuple[OutcomeGroup, ...] = field(default=())
    sections: tuple[Section, ...] = field(default=())
    combination: Combination | None = None
    accepts: tuple[Accept, ...] = field(default=())
    records: tuple[FhirRecord, ...] = field(default=())  # `record fhir` blocks (one allowed)

    def rules(self):
        for s in self.sections:
            for r in s.rules:
                yield s, r
