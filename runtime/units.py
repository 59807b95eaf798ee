"""Units of measure shared by the compiler (literals) and the runtime (case values)."""

from __future__ import annotations

# unit -> (dimension, factor to the dimension's base unit)
UNITS: dict[str, tuple[str, float]] = {
    "days": ("time", 1.0),
    "weeks": ("time", 7.0),
    "months": ("time", 30.4375),
    "years": ("time", 365.25),
    "mm": ("length", 1.0),
    "cm": ("length", 10.0),
    "%": ("fraction", 1.0),
}
ALIASES = {"day": "days", "week": "weeks", "month": "months", "year": "years", "percent": "%"}


def canonical(unit: str) -> str | None:
    """The canonical spelling of a unit, or None when it is not known."""
    unit = ALIASES.get(unit, unit)
    return unit if unit in UNITS else None


def dimension(unit: str) -> str:
    return UNITS[canonical(unit)][0]


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert between units of one dimension; raises ValueError across dimensions."""
    a, b = canonical(from_unit), canonical(to_unit)
    if a is None or b is None:
        raise ValueError(f"unknown unit {from_unit if a is None else to_unit!r}")
    (da, fa), (db, fb) = UNITS[a], UNITS[b]
    if da != db:
        raise ValueError(f"cannot convert {a} ({da}) to {b} ({db})")
    if a == b:
        return value
    result = value * fa / fb
    return round(result, 9)
