"""The typed AST of FHIR bindings (`record fhir … end`, an input's `fhir … end`, a vocabulary
value's codes): frozen dataclasses with source spans, built by fhirsyntax.py, re-exported by nodes.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hgl.compiler.front.source import Span

if TYPE_CHECKING:  # annotations only: nodes.py imports this module
    from hgl.compiler.front.nodes import Name


@dataclass(frozen=True)
class FhirPath:
    """A FHIRPath expression, written as a string; `span` is the string's (quotes included)."""

    text: str
    span: Span


@dataclass(frozen=True)
class Coding:
    """`code loinc "85337-4", "85339-0"`: codes of one declared code system."""

    system: Name
    codes: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class MapEntry:
    """`"LA6576-8" as positive`: a raw FHIR value and the input's value it means."""

    raw: str
    value: object  # Name | int | float | bool
    span: Span


@dataclass(frozen=True)
class UnitEntry:
    """`"cm" as cm`: the UCUM code of a Quantity and the unit of the language it is read in."""

    code: str
    unit: Name
    span: Span


@dataclass(frozen=True)
class Derivation:
    """`derive age`, `months since f`, `any of (a, b) is x, all are y`, `drugs`, `regimen`."""

    kind: str  # "age" | "months_since" | "any_of" | "drugs" | "regimen"
    facts: tuple[Name, ...]
    positive: Name | None
    negative: Name | None
    span: Span


@dataclass(frozen=True)
class FhirBinding:
    """Where an input (or a fact) comes from in a FHIR record: the body of `fhir … end` / `fact … end`."""

    resources: tuple[Name, ...]
    codes: tuple[Coding, ...]
    where: FhirPath | None
    value: FhirPath | None
    mapping: tuple[MapEntry, ...]
    units: tuple[UnitEntry, ...]
    after: Name | None
    before: Name | None
    select: str | None  # "latest" | "earliest" | None (latest)
    derive: Derivation | None
    note: str | None
    span: Span


@dataclass(frozen=True)
class CodeSystem:
    """`system loinc "http://loinc.org"`."""

    name: Name
    url: str
    span: Span


@dataclass(frozen=True)
class DatePolicy:
    """`date Observation "effective.ofType(dateTime) | issued"`: the date a resource type is placed at."""

    resource: Name
    path: FhirPath
    span: Span


@dataclass(frozen=True)
class FhirFact:
    """`fact er … end`: a named value read from the record that inputs are derived from."""

    name: Name
    binding: FhirBinding
    span: Span


@dataclass(frozen=True)
class FhirRecord:
    """`record fhir … end`: code systems, date policy and facts, once per guideline."""

    systems: tuple[CodeSystem, ...]
    dates: tuple[DatePolicy, ...]
    facts: tuple[FhirFact, ...]
    span: Span


@dataclass(frozen=True)
class ValueCodes:
    """A vocabulary value's standard codes: its own (`code`) and, for a class, its members' (`members`)."""

    value: Name
    codes: tuple[Coding, ...]
    members: tuple[Coding, ...]
    span: Span
