"""A fast evaluator for the small part of FHIRPath that input bindings use; fhirpathpy for the rest.

fhirpathpy interprets a parsed tree node by node (about a millisecond per expression on a
resource), which made deriving a case from a CDS Hooks prefetch the cost of a request.  The
bindings use a handful of shapes -- a path of element names, `ofType(T)` after a choice
element, `where(name = 'text')`, `exists()`, `not()`, `|`, `= 'text'`, `and`, `or` -- so those
are compiled here into plain Python functions over the JSON, with fhirpathpy's semantics
(choice elements resolved through its R4 model, decimals as it gives them, union without
duplicates, empty collections propagating through `=`, `and`, `or`).  Any other expression is
compiled by fhirpathpy itself.  tests/test_fhirpath.py checks both agree on every expression of
the shipped bindings over the test patients and malformed resources.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<str>'[^'\\]*')|(?P<op>[.|=()]))")
_TYPE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")


class Unsupported(ValueError):
    """An expression outside the fast subset: fhirpathpy compiles it."""


@functools.cache
def _choices() -> dict[str, tuple[str, ...]]:
    from fhirpathpy.models import models

    return {k: tuple(v) for k, v in models["r4"]["choiceTypePaths"].items()}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise Unsupported(text)
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out


class _Parser:
    """Recursive descent over the subset; builds closures `f(items, resource) -> list`."""

    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, value=None):
        if self.i < len(self.toks):
            kind, v = self.toks[self.i]
            if value is None or v == value:
                return kind, v
        return None

    def take(self, value=None):
        t = self.peek(value)
        if t is None:
            raise Unsupported(value or "end")
        self.i += 1
        return t

    def parse(self):
        f = self.or_()
        if self.i != len(self.toks):
            raise Unsupported("trailing")
        return f

    def or_(self):
        f = self.and_()
        while self.peek("or") and self.toks[self.i][0] == "name":
            self.i += 1
            f = _or(f, self.and_())
        return f

    def and_(self):
        f = self.eq()
        while self.peek("and") and self.toks[self.i][0] == "name":
            self.i += 1
            f = _and(f, self.eq())
        return f

    def eq(self):
        f = self.union()
        if self.peek("="):
            self.i += 1
            kind, lit = self.take()
            if kind != "str":
                raise Unsupported("= needs a string")
            f = _equals(f, lit[1:-1])
        return f

    def union(self):
        f = self.path()
        while self.peek("|"):
            self.i += 1
            f = _union(f, self.path())
        return f

    def path(self):
        kind, name = self.take()
        if kind != "name" or name in ("or", "and"):
            raise Unsupported(name)
        steps = [("name", name)]
        while self.peek("."):
            self.i += 1
            kind, name = self.take()
            if kind != "name":
                raise Unsupported(name)
            if self.peek("("):
                self.i += 1
                if name == "ofType":
                    _, t = self.take()
                    if not _TYPE_KEY.fullmatch(t):
                        raise Unsupported(t)
                    steps.append(("ofType", t))
                elif name == "where":
                    k, field = self.take()
                    self.take("=")
                    k2, lit = self.take()
                    if k != "name" or k2 != "str":
                        raise Unsupported("where")
                    steps.append(("where", (field, lit[1:-1])))
                elif name in ("exists", "not"):
                    steps.append((name, None))
                else:
                    raise Unsupported(name)
                self.take(")")
            else:
                steps.append(("name", name))
        return _path(tuple(steps))


def _plainnum(v):
    """A JSON number as fhirpathpy gives it: every decimal a Decimal (from its text, as JSON wrote it)."""
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, dict):
        return {k: _plainnum(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plainnum(x) for x in v]
    return v


def _children(items: list, name: str) -> list:
    out = []
    for it in items:
        if isinstance(it, dict):
            v = it.get(name)
            if v is None:
                continue
            if isinstance(v, list):
                out.extend(x for x in v if x is not None)
            else:
                out.append(v)
    return out


def _path(steps):
    first = steps[0][1]
    rest = steps[1:]

    def run(resource: dict) -> list:
        rtype = resource.get("resourceType")
        choice = _choices().get(f"{rtype}.{first}") if isinstance(rtype, str) else None
        typed = None
        if choice is not None:  # a choice element: the first type present, in the model's order
            items = []
            for t in choice:
                v = resource.get(first + t)
                if v is not None:
                    items, typed = (list(v) if isinstance(v, list) else [v]), t
                    break
        else:
            if first == rtype:  # `Patient.birthDate`: the resource itself
                items = [resource]
            else:
                items = _children([resource], first)
        for kind, arg in rest:
            if kind == "ofType":
                if typed is None:
                    raise _Fallback()
                items = items if typed.lower() == arg.lower() else []
                typed = None
                continue
            if typed is not None:  # a choice element used without ofType: fhirpathpy's rules
                raise _Fallback()
            if kind == "name":
                items = _children(items, arg)
            elif kind == "where":
                field, lit = arg
                items = [it for it in items if isinstance(it, dict) and it.get(field) == lit]
            elif kind == "exists":
                items = [bool(items)]
            elif kind == "not":
                items = [not items[0]] if len(items) == 1 and isinstance(items[0], bool) else _not(items)
        if typed is not None:
            raise _Fallback()
        return [_plainnum(x) for x in items]

    return run


class _Fallback(Exception):
    """A shape this resource needs fhirpathpy for (a choice element without ofType, …)."""


def _not(items):
    if not items:
        return []
    raise _Fallback()


def _union(f, g):
    def run(resource):
        out = []
        for x in (*f(resource), *g(resource)):
            if x not in out:
                out.append(x)
        return out

    return run


def _equals(f, lit: str):
    def run(resource):
        left = f(resource)
        if not left:
            return []
        if len(left) == 1 and not isinstance(left[0], str):
            raise _Fallback()  # a date, a number: fhirpathpy's typed comparison
        return [left == [lit]]

    return run


def _truth(items):
    if not items:
        return None
    if len(items) == 1 and isinstance(items[0], bool):
        return items[0]
    raise _Fallback()


def _or(f, g):
    def run(resource):
        a, b = _truth(f(resource)), _truth(g(resource))
        if a is True or b is True:
            return [True]
        if a is False and b is False:
            return [False]
        return []

    return run


def _and(f, g):
    def run(resource):
        a, b = _truth(f(resource)), _truth(g(resource))
        if a is False or b is False:
            return [False]
        if a is True and b is True:
            return [True]
        return []

    return run


@functools.lru_cache(maxsize=4096)
def compile_path(text: str):
    """A function resource -> list of FHIRPath results (fhirpathpy's, faster where it can)."""
    from fhirpathpy import compile as fp_compile
    from fhirpathpy.models import models

    slow = fp_compile(text, models["r4"])
    try:
        fast = _Parser(text).parse()
    except Unsupported:
        return slow

    def run(resource):
        try:
            return fast(resource)
        except _Fallback:
            return list(slow(resource))

    run.fast = fast
    run.slow = slow
    return run
