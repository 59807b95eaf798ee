"""Three-valued logic with provenance: the helpers every compiled condition calls.

A value is known (True, False, a number, a string, a frozenset) or an `Unknown`
that remembers which missing inputs made it unknown, so a result can name exactly
the inputs it needs.  `false and unknown` is false; `true and unknown` is unknown.

An unknown *number* may also carry bounds (`lo`, `hi`, None when open): a missing input
declared `from 0 to 10`, a count with some items missing, a sum of such.  A comparison
whose outcome is the same over the whole interval is decided: a score whose known part
already reaches its threshold is true whatever the missing items are (design page,
"Bounded unknowns").
"""

from __future__ import annotations

import datetime
import functools
from types import FunctionType as _FunctionType


class Unknown:
    """An undecided value; `inputs` are the missing inputs it depends on; `lo`/`hi` bound a number."""

    __slots__ = ("inputs", "lo", "hi")

    def __init__(self, inputs: frozenset[str], lo=None, hi=None):
        self.inputs = inputs
        self.lo = lo
        self.hi = hi

    def __or__(self, other: "Unknown") -> "Unknown":
        if other.inputs <= self.inputs and self.lo is None and self.hi is None:
            return self
        return Unknown(self.inputs | other.inputs)

    def __repr__(self) -> str:
        if self.lo is None and self.hi is None:
            return f"Unknown({sorted(self.inputs)})"
        return f"Unknown({sorted(self.inputs)}, {self.lo}..{self.hi})"

    def __bool__(self):  # a silent truth test would be a silent wrong answer
        raise TypeError("an Unknown has no truth value; use the three-valued helpers")

    def __eq__(self, other):
        return isinstance(other, Unknown) and other.inputs == self.inputs

    def __hash__(self):
        return hash(self.inputs)


def missing(name: str, lo=None, hi=None) -> Unknown:
    return Unknown(frozenset((name,)), lo, hi)


def _bounds(x):
    """(lo, hi) of a number or an unknown number; None for an open end."""
    if type(x) is Unknown:
        return x.lo, x.hi
    if type(x) is bool:
        return None, None
    return x, x


def _inputs(*xs) -> frozenset:
    out = frozenset()
    for x in xs:
        if type(x) is Unknown:
            out = out | x.inputs
    return out


def _bounded(lo, hi, *xs):
    """An unknown number over [lo, hi] depending on the unknowns among xs (an exact value when lo == hi)."""
    if lo is not None and lo == hi:
        return lo
    return Unknown(_inputs(*xs), lo, hi)


def _order(a, b):
    """-1 when a < b for sure, 1 when a > b for sure, 0 when they may be equal, None when undecided."""
    alo, ahi = _bounds(a)
    blo, bhi = _bounds(b)
    if ahi is not None and blo is not None and ahi < blo:
        return -1
    if alo is not None and bhi is not None and alo > bhi:
        return 1
    return None


def _merge(a, b):
    if type(a) is Unknown:
        return a | b if type(b) is Unknown else a
    return b


def and_(*xs):
    """Kleene conjunction: False wins, then Unknown, then True."""
    unknown = None
    for x in xs:
        if x is False:
            return False
        if x is not True:
            unknown = x if unknown is None else unknown | x
    return True if unknown is None else unknown


def or_(*xs):
    """Kleene disjunction: True wins, then Unknown, then False."""
    unknown = None
    for x in xs:
        if x is True:
            return True
        if x is not False:
            unknown = x if unknown is None else unknown | x
    return False if unknown is None else unknown


def not_(x):
    if x is True:
        return False
    if x is False:
        return True
    return x


def eq(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        if _open(a) or _open(b):
            return _merge(a, b)
        return False if _order(a, b) else _merge(a, b)  # bounds that cannot meet decide it
    return a == b


def ne(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        if _open(a) or _open(b):
            return _merge(a, b)
        return True if _order(a, b) else _merge(a, b)
    return a != b


def _open(x) -> bool:
    """An unknown with no bounds (an enum, a yes/no, a number without a declared range)."""
    return type(x) is Unknown and x.lo is None and x.hi is None


def _decided(a, b, strict_lt, lt_result):
    """A comparison of an unknown number that its bounds decide, or the merged unknown."""
    if _open(a) or _open(b):  # the common case: nothing to decide by
        return _merge(a, b)
    alo, ahi = _bounds(a)
    blo, bhi = _bounds(b)
    if ahi is not None and blo is not None and (ahi < blo or (not strict_lt and ahi <= blo)):
        return lt_result  # a is below b (or at most b) over the whole interval
    if alo is not None and bhi is not None and (alo > bhi or (strict_lt and alo >= bhi)):
        return not lt_result
    return Unknown(_inputs(a, b))


def lt(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _decided(a, b, True, True)
    return a < b


def le(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _decided(a, b, False, True)
    return a <= b


def gt(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _decided(b, a, True, True)
    return a > b


def ge(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _decided(b, a, False, True)
    return a >= b


def member(x, s):
    if type(x) is Unknown or type(s) is Unknown:
        return _merge(x, s)
    return x in s


def not_member(x, s):
    if type(x) is Unknown or type(s) is Unknown:
        return _merge(x, s)
    return x not in s


def has_any(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    return not a.isdisjoint(b)


def has_all(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    return b <= a


def is_empty(a):
    return a if type(a) is Unknown else not a


def is_missing(a):
    return type(a) is Unknown


def _plus(x, y):
    return None if x is None or y is None else x + y


def add(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        (alo, ahi), (blo, bhi) = _bounds(a), _bounds(b)
        return _bounded(_plus(alo, blo), _plus(ahi, bhi), a, b)
    return a + b


def sub(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        (alo, ahi), (blo, bhi) = _bounds(a), _bounds(b)
        return _bounded(_plus(alo, None if bhi is None else -bhi), _plus(ahi, None if blo is None else -blo), a, b)
    return a - b


def mul(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        if a == 0 or b == 0:  # zero times anything is zero
            return 0
        ends = [_bounds(a), _bounds(b)]
        if any(x is None for pair in ends for x in pair):
            return Unknown(_inputs(a, b))
        products = [x * y for x in ends[0] for y in ends[1]]
        return _bounded(min(products), max(products), a, b)
    return a * b


def div(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        (alo, ahi), (blo, bhi) = _bounds(a), _bounds(b)
        if None in (alo, ahi, blo, bhi) or blo <= 0 <= bhi:
            return Unknown(_inputs(a, b))
        quotients = [x / y for x in (alo, ahi) for y in (blo, bhi)]
        return _bounded(min(quotients), max(quotients), a, b)
    return a / b


def count_of(*xs):
    """How many of the yes/no values are true; with some unknown, bounded by what they may add."""
    known = 0
    unknown = None
    for x in xs:
        if x is True:
            known += 1
        elif x is not False:
            unknown = x if unknown is None else unknown | x
    if unknown is None:
        return known
    return _bounded(known, known + sum(1 for x in xs if type(x) is Unknown), *xs)


def _extreme(pick, xs):
    if not any(type(x) is Unknown for x in xs):
        return pick(xs)
    lows = [_bounds(x)[0] for x in xs]
    highs = [_bounds(x)[1] for x in xs]
    if pick is min:
        # the least upper bound bounds the minimum above; an open low end leaves it open below
        hi = min((h for h in highs if h is not None), default=None)
        lo = None if None in lows else min(lows)
    else:
        lo = max((x for x in lows if x is not None), default=None)
        hi = None if None in highs else max(highs)
    known = [x for x in xs if type(x) is not Unknown]
    if known:  # a known value that beats every possible unknown one is the answer
        best = pick(known)
        if all(_order(best, x) in ((-1,) if pick is min else (1,)) or
               (pick is min and _bounds(x)[0] is not None and best <= _bounds(x)[0]) or
               (pick is max and _bounds(x)[1] is not None and best >= _bounds(x)[1])
               for x in xs if type(x) is Unknown):
            return best
    return _bounded(lo, hi, *xs)


def min_(*xs):
    return _extreme(min, xs)


def max_(*xs):
    return _extreme(max, xs)


def union(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    return a | b


def if_(*args):
    """if_(c1, v1, c2, v2, …, otherwise): the value of the first true condition.

    An unknown condition reached before a true one makes the result unknown, unless
    every value still possible is the same.
    """
    pending = None
    possible = []
    for i in range(0, len(args) - 1, 2):
        c = args[i]
        if c is True:
            possible.append(args[i + 1])
            break
        if c is not False:
            pending = c if pending is None else pending | c
            possible.append(args[i + 1])
    else:
        possible.append(args[-1])
    if pending is None:
        return possible[-1]
    first = possible[0]
    if type(first) is not Unknown and all(type(v) is not Unknown and v == first for v in possible):
        return first
    # numbers: the value lies between the least and the greatest of those still possible
    ends = [_bounds(v) for v in possible if type(v) is not bool and type(v) is not frozenset and type(v) is not str]
    if len(ends) == len(possible) and all(lo is not None and hi is not None for lo, hi in ends):
        return Unknown(pending.inputs | _inputs(*possible), min(lo for lo, _ in ends), max(hi for _, hi in ends))
    # the value depends on the undecided conditions and on every still-possible value that is unknown
    values = _inputs(*possible)
    return pending if values <= pending.inputs else Unknown(pending.inputs | values)


def truth(x) -> str:
    """'true', 'false' or 'unknown', for explanations and tests."""
    return "true" if x is True else "false" if x is False else "unknown"


def drugs_of(value, options):
    """The drugs of an option-valued input (empty for 'none' or an option without drugs)."""
    if type(value) is Unknown:
        return value
    opt = options.get(value)
    return opt.drugs if opt is not None else frozenset()


@functools.lru_cache(maxsize=256)
def day(text: str) -> datetime.date:
    """A date literal of the guideline (ISO text, checked by the compiler)."""
    return datetime.date.fromisoformat(text)


def between(unit: str, a, b):
    """Whole years, months or days from date a to date b (an age: years between birth date and today)."""
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    if unit == "days":
        return (b - a).days
    months = (b.year - a.year) * 12 + (b.month - a.month) - (b.day < a.day)
    return months // 12 if unit == "years" else months


# ------------------------------------------------------------------ optimistic plain evaluation
# A realistic case leaves out what does not apply (no G8 score under 70), so few conditions
# read only present inputs; but most never reach the missing ones: `older and g8 <= 14` is
# false for a younger patient whatever the score.  The engine runs a condition's plain-Python
# variant (Python's own short-circuiting operators) on a copy of the case in which every
# missing value is ABSENT; reading ABSENT raises Touched, and the three-valued variant decides
# instead.  A plain variant that finishes without reading a missing value has given the
# answer of every completion of the case, which is the three-valued answer (Kleene `and`/`or`
# and `if` decide on what plain Python short-circuits on).  A plain variant that folds
# `x is missing` to a constant is never run this way (hgl.runtime.engine._optimistic).


class Touched(Exception):
    """A plain-Python condition read a missing value (ABSENT): the three-valued one decides."""


class _Absent:
    """A missing value for plain-Python code: any use of it raises Touched."""

    __slots__ = ()

    def _touch(self, *args):
        raise Touched

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _touch
    __bool__ = __len__ = __iter__ = __contains__ = __getattr__ = __index__ = __int__ = __float__ = _touch
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _touch
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = __rpow__ = __neg__ = __pos__ = __abs__ = _touch
    __or__ = __ror__ = __and__ = __rand__ = __xor__ = __rxor__ = __invert__ = _touch

    def __repr__(self):
        return "ABSENT"


ABSENT = _Absent()


def plain_first(opt, test, penv, env, P=None):
    """A condition's value: its plain variant `opt` on `penv` (missing values ABSENT) when it
    reads no missing value, else the three-valued `test` on `env` (engine, completions, words)."""
    if opt is not None:
        try:
            v = opt(penv, P)
        except Touched:
            return test(env, P)
        if v is not ABSENT:
            return v
    return test(env, P)


def code_names(code) -> set:
    """The global names a code object and the functions nested in it use."""
    names = set(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            names |= code_names(c)
    return names


def plain_to_try(fn, known: dict, tests_missing=None):
    """The plain variant of a compiled function (from the module's KNOWN table) to try on a case
    with missing values ABSENT, or None.

    A plain variant is written for cases where nothing is missing: it folds `x is missing` to a
    constant, so a function that tests for missing values is never tried this way.  Which do is
    the module's TESTS_MISSING table (`tests_missing`: the compiler states it, by function name);
    only a module without it (built by an older compiler) has it read from the code object, and
    then only of a Python function (python_code).
    """
    name = getattr(fn, "__name__", None)
    plain = known.get(name)
    if plain is None:
        return None
    if tests_missing is not None:
        return None if name in tests_missing else plain
    code = python_code(fn)
    if code is None or "is_missing" in code_names(code):
        return None
    return plain


def python_code(fn):
    """The code object of `fn` when it is a Python function that closes over nothing (as the
    compiler writes them), else None: what the code object of a compiled (e.g. Cython) function
    shows is not what it does, nor is a closure's (a wrapper made by a decorator: what it calls
    is a free variable), so nothing may be concluded from it (a function known only that way is
    never tried optimistically, and its words are not kept).  Only the fallback for a module
    without the compiler's tables (TESTS_MISSING, WORDS_READ) reads it."""
    return fn.__code__ if type(fn) is _FunctionType and fn.__closure__ is None else None
