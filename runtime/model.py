"""The records a compiled guideline module is made of: the tables the engine and the docs read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .logic import Unknown

NO_DEFAULT = object()


@dataclass(frozen=True, slots=True)
class Role:
    """A role an option can have: preferred, alternative, avoid, or one the guideline declares."""

    id: str
    label: str
    negative: bool = False  # like avoid: the option is advised against


# What a module without a ROLES table (compiled before roles were declared) means.
DEFAULT_ROLES = {"avoid": Role("avoid", "Avoid", True), "preferred": Role("preferred", "Preferred"),
                 "alternative": Role("alternative", "Alternative")}


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    kind: str | None  # one of the guideline's option kinds (None: it declares none)
    label: str
    drugs: frozenset = frozenset()
    stands_for: str | None = None  # an input whose value (an option) this option stands for


@dataclass(frozen=True, slots=True)
class Flag:
    id: str
    label: str


@dataclass(frozen=True)
class InputSpec:
    """One input or policy parameter, as the case validator and the schema need it."""

    name: str
    kind: str  # "bool" | "int" | "number" | "enum" | "set" | "option"
    label: str
    description: str | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    values: tuple = ()
    default: object = NO_DEFAULT
    is_parameter: bool = False
    provenance: tuple = ()
    line: int = 0
    units: dict | None = None  # unit a case may give -> factor to `unit` (None: HGL's unit words)

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True, slots=True)
class Outcome:
    """One outcome of a rule branch."""

    kind: str  # "propose" | "avoid" | "demote" | "drop" | "flag" | "request" | "withhold"
    option: str | None = None
    role: str | None = None
    flag: str | None = None
    input: str | None = None
    selector: "Selector | None" = None


@dataclass(frozen=True, slots=True)
class Selector:
    """Picks proposed options: one option by id, or every option passing `test`."""

    text: str
    option: str | None = None
    test: Callable | None = None  # (env, OptionView) -> bool | Unknown
    except_: frozenset = frozenset()


@dataclass(frozen=True, slots=True)
class Branch:
    """One path through a rule's outcome blocks: when `guard` holds (None: always), the outcomes apply."""

    guard: Callable | None  # (env, proposal) -> bool | Unknown
    outcomes: tuple


@dataclass(frozen=True)
class Rule:
    """A rule as the engine combines it (the guideline's semantics: hgl.runtime.engine)."""

    id: str
    title: str
    section: str
    phase: int  # 1: reads the case; 2: also reads the proposal
    governs: bool
    when: Callable | None  # (env, proposal) -> bool | Unknown; None: always
    branches: tuple
    provenance: tuple = ()
    evidence: tuple = ()
    strength: str | None = None
    rationale: str | None = None
    line: int = 0
    column: int = 0
    reads: tuple = ()  # the inputs its conditions depend on


@dataclass(frozen=True, slots=True)
class Definition:
    """A derived value: `fn(env)` computes it from the inputs and the definitions before it."""

    name: str
    fn: Callable
    reads: tuple = ()  # the inputs it depends on
    line: int = 0


@dataclass(frozen=True)
class Constraint:
    id: str
    label: str
    test: Callable
    inputs: tuple
    line: int = 0


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    spec: str | None = None
    description: str | None = None
    provenance: tuple = ()
    evidence: tuple = ()
    line: int = 0


def format_value(value, unit=None) -> str:
    if isinstance(value, Unknown):
        return "missing"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}" if value else "none"
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".")
    else:
        text = str(value)
    if unit:
        return f"{text} %" if unit == "%" else f"{text} {unit}"
    return text
