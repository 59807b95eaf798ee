"""Units of measure at compile time: UCUM codes through pint (with ucumvert), resolved once per guideline.

A unit is written as a UCUM code (`mmol/L`, `mg/dL`, `mm[Hg]`, `/min`, `kg/m2`, `%`, `mo`) or
as one of the words HGL has always taken (`days`, `weeks`, `months`, `years`, `mm`, `cm`,
`%`).  The checker compares dimensions and computes conversion factors here, once; the
generated module carries, per numeric input, the table of units a case may give with their
factors, so the runtime converts with one multiplication and never imports pint.

The words keep their spelling (results say "12 months"); their factors are those of
hgl.runtime.units, which tests/test_units.py checks against pint.  pint is only loaded when a
guideline uses a unit outside those words (loading it takes about a second).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from hgl.runtime import units as words

# The HGL words and the UCUM code each stands for.
WORD_CODES = {"days": "d", "weeks": "wk", "months": "mo", "years": "a", "mm": "mm", "cm": "cm", "%": "%"}
# The dimensions of HGL's words, as pint names them (so a word and a UCUM code compare).
WORD_DIMENSIONS = {"time": "[time]", "length": "[length]", "fraction": "dimensionless"}
# Units a case may give for an input in addition to those the guideline writes, by dimension:
# the common clinical spellings (the factors still come from pint).
COMMON = ("mmol/L", "umol/L", "mg/dL", "mg/L", "g/dL", "g/L", "ug/L", "ng/mL", "mm[Hg]", "kPa", "/min", "/h",
          "kg", "g", "[lb_av]", "m", "cm", "mm", "[in_i]", "kg/m2", "mL/min", "L", "mL", "h", "min", "d", "wk",
          "mo", "a", "%")


# Spellings people write that are not UCUM codes, with the code to write instead (hints only).
SPELLINGS = {"mmHg": "mm[Hg]", "mmhg": "mm[Hg]", "inch": "[in_i]", "inches": "[in_i]", "in": "[in_i]",
             "lb": "[lb_av]", "lbs": "[lb_av]", "pound": "[lb_av]", "pounds": "[lb_av]", "bpm": "/min",
             "per_min": "/min", "kilograms": "kg", "kilogram": "kg", "grams": "g", "hours": "h", "hour": "h",
             "minutes": "min", "minute": "min", "mmol": "mmol/L", "mg_dl": "mg/dL", "mgdl": "mg/dL",
             "celsius": "Cel", "degC": "Cel", "bmi": "kg/m2"}


@dataclass(frozen=True)
class Unit:
    """A resolved unit: its spelling as written, its dimension (a readable key), and pint's view."""

    text: str
    dimension: str
    word: bool  # one of HGL's words (no pint needed)


class UnitError(ValueError):
    """A unit that UCUM does not know, or two units that cannot convert."""


@functools.cache
def _registry():
    from ucumvert import PintUcumRegistry

    return PintUcumRegistry()


@functools.cache
def _quantity(text: str):
    try:
        return _registry().from_ucum(WORD_CODES.get(text, text))
    except Exception as err:  # ucumvert raises lark and pint errors alike for an unknown code
        raise UnitError(f"unknown unit '{text}'") from err


def resolve(text: str) -> Unit:
    """A unit as written -> Unit; raises UnitError when it is neither an HGL word nor a UCUM code."""
    canon = words.canonical(text)
    if canon is not None:  # pint's name of the dimension, without loading pint
        return Unit(canon, WORD_DIMENSIONS[words.dimension(canon)], True)
    q = _quantity(text)
    return Unit(text, str(q.dimensionality), False)


def factor(a: Unit, b: Unit) -> float:
    """The number that turns a value in `a` into the same value in `b`; raises UnitError across dimensions."""
    if a.word and b.word:
        if a.dimension != b.dimension:
            raise UnitError(f"cannot convert {a.text} ({a.dimension}) to {b.text} ({b.dimension})")
        return words.convert(1.0, a.text, b.text)
    qa, qb = _quantity(a.text), _quantity(b.text)
    if qa.dimensionality != qb.dimensionality:
        raise UnitError(f"cannot convert {a.text} to {b.text}: they measure different things")
    try:
        one = (1 * qa).to(qb.units).magnitude / qb.magnitude
        zero = (0 * qa).to(qb.units).magnitude
    except Exception as err:  # an offset unit (Cel, [degF]) has no factor
        raise UnitError(f"cannot convert {a.text} to {b.text} by a factor (an offset unit)") from err
    if zero != 0:
        raise UnitError(f"cannot convert {a.text} to {b.text} by a factor (an offset unit)")
    return round(float(one), 12)


def dimension_words(u: Unit) -> str:
    """The dimension in words for a diagnostic."""
    return u.dimension if u.word else u.dimension.replace("[", "").replace("]", "").replace(" ** ", "^")


def suggestions(text: str, dimension: str | None = None) -> list[str]:
    """Units close to a misspelt one; only of `dimension` when it is given (never another dimension's)."""
    candidates = list(words.UNITS) + [c for c in COMMON if c not in WORD_CODES.values()]
    if dimension is None:
        return candidates
    out = []
    for c in candidates:
        try:
            if resolve(c).dimension == dimension:
                out.append(c)
        except UnitError:
            continue
    return out


def accepted(unit: Unit, also: tuple[str, ...] = ()) -> dict[str, float]:
    """The units a case may give for an input in `unit`, with the factor of each to `unit`.

    Those of one dimension among HGL's words, the common clinical codes and `also` (the units the
    guideline writes elsewhere).  For an input in one of HGL's words only the words are offered
    (no pint load for a guideline that needs none).
    """
    names = list(words.UNITS) + list(words.ALIASES)
    if not unit.word:
        names += list(COMMON) + list(also)
    out: dict[str, float] = {}
    for name in dict.fromkeys(names):
        try:
            out[name] = factor(resolve(name), unit)
        except UnitError:
            continue  # another dimension
    return out
