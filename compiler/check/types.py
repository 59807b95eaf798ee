"""The checker's static types, value domains and symbols."""

from __future__ import annotations

from dataclasses import dataclass, field

from hgl.compiler.front import nodes as n
@dataclass(frozen=True)
class T:
    """A static type.  `elem` and `set` carry the domain their values come from."""

    kind: str  # "bool" | "num" | "date" | "elem" | "set" | "empty_set" | "error"
    unit: str | None = None
    integer: bool = False
    domain: str | None = None

    def describe(self, domains: dict[str, "Domain"] | None = None) -> str:
        if self.kind == "bool":
            return "yes/no"
        if self.kind == "date":
            return "date"
        if self.kind == "num":
            base = "integer" if self.integer else "number"
            return f"{base} in {self.unit}" if self.unit else base
        if self.kind in ("elem", "set"):
            label = domains[self.domain].label if domains and self.domain in domains else self.domain
            return f"set of {label}" if self.kind == "set" else label
        if self.kind == "empty_set":
            return "empty set"
        return "unknown type"


def input_kind(t: T) -> str:
    """The runtime's InputSpec kind for an input's type: bool, int, number, set, option or enum."""
    if t.kind == "bool":
        return "bool"
    if t.kind == "date":
        return "date"
    if t.kind == "num":
        return "int" if t.integer else "number"
    if t.kind == "set":
        return "set"
    if t.domain and t.domain.startswith("optref"):
        return "option"
    return "enum"


BOOL = T("bool")
ERROR = T("error")


@dataclass(frozen=True)
class Domain:
    """A closed set of names: a vocabulary, the options, or one input's enum."""

    key: str
    label: str
    values: tuple[str, ...]


def domains_compatible(a: str | None, b: str | None, domains: dict | None = None) -> bool:
    """Whether values of two domains can meet in a comparison or a membership test."""
    if a == b:
        return True
    if domains is not None and a in domains and b in domains and \
            str(a).startswith("enum:") and str(b).startswith("enum:") and \
            set(domains[a].values) == set(domains[b].values):
        return True  # two inputs of the same `one of` values
    pair = {str(a).split(":")[0], str(b).split(":")[0]}
    if pair == {"optref", "option"}:
        return True
    if "values" in pair and domains is not None and a in domains and b in domains:
        # an untyped set of enum values meets any enum holding all of them
        small, big = (a, b) if str(a).startswith("values:") else (b, a)
        return set(domains[small].values) <= set(domains[big].values)
    return False


@dataclass
class Symbol:
    """A name usable in expressions: an input, a parameter or a definition."""

    kind: str  # "input" | "parameter" | "definition"
    name: str
    type: T
    label: str
    decl: object


@dataclass
class Model:
    """The checker's symbol tables, filled while checking (the resolved program is what it gives)."""

    guideline: n.Guideline
    symbols: dict[str, Symbol] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    options: dict[str, n.OptionDecl] = field(default_factory=dict)
    flags: dict[str, n.FlagDecl] = field(default_factory=dict)
    groups: dict[str, n.OutcomeGroup] = field(default_factory=dict)
