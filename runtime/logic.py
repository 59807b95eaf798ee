"""Three-valued logic with provenance: the helpers every compiled condition calls.

A value is known (True, False, a number, a string, a frozenset) or an `Unknown`
that remembers which missing inputs made it unknown, so a result can name exactly
the inputs it needs.  `false and unknown` is false; `true and unknown` is unknown.
"""

from __future__ import annotations


class Unknown:
    """An undecided value; `inputs` are the missing inputs it depends on."""

    __slots__ = ("inputs",)

    def __init__(self, inputs: frozenset[str]):
        self.inputs = inputs

    def __or__(self, other: "Unknown") -> "Unknown":
        if other.inputs <= self.inputs:
            return self
        return Unknown(self.inputs | other.inputs)

    def __repr__(self) -> str:
        return f"Unknown({sorted(self.inputs)})"

    def __bool__(self):  # a silent truth test would be a silent wrong answer
        raise TypeError("an Unknown has no truth value; use the three-valued helpers")

    def __eq__(self, other):
        return isinstance(other, Unknown) and other.inputs == self.inputs

    def __hash__(self):
        return hash(self.inputs)


def missing(name: str) -> Unknown:
    return Unknown(frozenset((name,)))


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
        return _merge(a, b)
    return a == b


def ne(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    return a != b


def lt(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    return a < b


def le(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    return a <= b


def gt(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    return a > b


def ge(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
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


def add(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    return a + b


def sub(a, b):
    if type(a) is Unknown or type(b) is Unknown:
        return _merge(a, b)
    return a - b


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
    return pending


def truth(x) -> str:
    """'true', 'false' or 'unknown', for explanations and tests."""
    return "true" if x is True else "false" if x is False else "unknown"


def drugs_of(value, options):
    """The drugs of an option-valued input (empty for 'none' or an option without drugs)."""
    if type(value) is Unknown:
        return value
    opt = options.get(value)
    return opt.drugs if opt is not None else frozenset()
