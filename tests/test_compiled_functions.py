"""A guideline module whose compiled functions are not Python functions (say, compiled by Cython),
or are wrapped by Python functions (a decorator, a back end's shim): the runtime must not read their
code objects (which functions test for a missing value, what the words read), so it gives the same
results and words as the module the compiler wrote.  The module states both (TESTS_MISSING,
WORDS_READ, READS_PROPOSAL); the runtime looks them up by the function's name."""

from __future__ import annotations

import functools
import sys
import types

import pytest

from hgl.runtime import load
from hgl.runtime.api import Guideline
from hgl.runtime.explain import NODE_TYPES, renderer
from hgl.runtime.logic import plain_to_try, python_code
from hgl.runtime.records import record

from .conftest import GUIDELINE, ROOT

sys.path.insert(0, str(ROOT / "guidelines"))
from her2_mbc_cohort import records as cohort_records  # noqa: E402

_BLANK = (lambda e, P=None: None).__code__  # a code object that reads nothing


class Compiled:
    """What a compiled function looks like to the runtime: callable, named, and with a code
    object that does not show what it does (Cython's functions have one like that)."""

    def __init__(self, fn):
        self.fn, self.__name__, self.__code__ = fn, fn.__name__, _BLANK

    def __call__(self, *args):
        return self.fn(*args)


def _tests_missing(e, P=None):
    return is_missing(e["x"])  # noqa: F821 - never called: only its code is read


def _reads_x(e, P=None):
    return e["x"] > 1


def decorated(fn):
    """A Python wrapper as a decorator makes it (tracing, timing): its code object shows only the call."""
    @functools.wraps(fn)
    def wrapper(*a, **k):
        return fn(*a, **k)
    return wrapper


def _call(*a, **k):
    return target(*a, **k)  # noqa: F821 - `target` is in the globals `bound` gives it


def bound(fn):
    """A Python wrapper that closes over nothing (what it calls is one of its globals), as a
    compiled back end's shim may be: nothing in the function itself shows what it calls."""
    return functools.update_wrapper(types.FunctionType(_call.__code__, {"target": fn}, fn.__name__), fn)


STATED = frozenset({"_tests_missing"})  # the module's TESTS_MISSING table


@pytest.mark.parametrize("fn, tests_missing, want", [
    (_reads_x, None, "plain"),  # a module without the table: a Python function that tests no missing value
    (_tests_missing, None, None),  # one that does: never tried with missing values ABSENT
    (Compiled(_reads_x), None, None),  # a compiled one: its code object cannot be trusted
    (Compiled(_tests_missing), None, None),
    (decorated(_reads_x), None, None),  # a closure: what it calls is not in its code object
    (_reads_x, STATED, "plain"),  # with the compiler's table: the table decides, by name
    (_tests_missing, STATED, None),
    (Compiled(_reads_x), STATED, "plain"),
    (Compiled(_tests_missing), STATED, None),
    (decorated(_reads_x), STATED, "plain"),
    (decorated(_tests_missing), STATED, None),
    (bound(_reads_x), STATED, "plain"),
    (bound(_tests_missing), STATED, None),
])
def test_plain_variant_to_try(fn, tests_missing, want):
    plain = object()
    got = plain_to_try(fn, {fn.__name__: plain}, tests_missing)
    assert (got is plain if want == "plain" else got is None)


@pytest.mark.parametrize("fn, readable", [
    (_reads_x, True),
    (Compiled(_reads_x), False),  # not a Python function
    (decorated(_reads_x), False),  # a closure
    (bound(_reads_x), True),  # what only the compiler's tables tell apart (the module's functions are named there)
])
def test_python_code(fn, readable):
    assert (python_code(fn) is not None) == readable


def _tree(node, wrap):
    """An EXPLAIN tree with every test wrapped."""
    if callable(node) and type(node) not in NODE_TYPES:
        return wrap(node)
    if type(node) in NODE_TYPES:
        return type(node)(*[_tree(getattr(node, f), wrap) for f in node.__dataclass_fields__])
    if type(node) is tuple:
        return tuple(_tree(x, wrap) for x in node)
    if type(node) is dict:
        return {k: _tree(v, wrap) for k, v in node.items()}
    return node


def _wrapped_module(wrap):
    """The HER2 module, freshly compiled, with every definition, check, rule, guard and test of
    the words wrapped by `wrap`."""
    module = load(GUIDELINE, use_cache=False).module
    for d in module.DEFINITIONS:
        object.__setattr__(d, "fn", wrap(d.fn))
    for c in module.CONSTRAINTS:
        object.__setattr__(c, "test", wrap(c.test))
    for r in module.RULES:
        if r.when is not None:
            object.__setattr__(r, "when", wrap(r.when))
        for b in r.branches:
            if b.guard is not None:
                object.__setattr__(b, "guard", wrap(b.guard))
    module.EXPLAIN = _tree(module.EXPLAIN, wrap)
    return module


@functools.cache
def _reference(explain: str) -> list:
    reference = load(GUIDELINE)
    return [record(reference.evaluate(dict(c)), explain) for c in _cases()]


@functools.cache
def _cases() -> tuple:
    return tuple(cohort_records(1500, seed=31, extra=False))


@pytest.mark.parametrize("wrap", [Compiled, decorated, bound])
@pytest.mark.parametrize("explain", ["full", "none"])
def test_wrapped_functions_give_the_same_records(wrap, explain):
    """Whatever wraps the module's functions, the same records: which functions test a missing
    value and what the words read come from the compiler's tables, not from code objects."""
    wrapped = Guideline(_wrapped_module(wrap))
    assert [record(wrapped.evaluate(dict(c)), explain) for c in _cases()] == _reference(explain)


@pytest.mark.parametrize("wrap", [Compiled, decorated, bound])
def test_words_read_the_same_names_wrapped(wrap):
    """What the words of each rule, branch and condition read (the keys of the words kept) is the
    same whatever wraps the tests: the module's WORDS_READ and READS_PROPOSAL, by name.  (From the
    wrappers' code objects, most would read nothing: words of one case kept for another.)"""
    reference, wrapped = load(GUIDELINE), Guideline(_wrapped_module(wrap))
    want, got = renderer(reference.engine), renderer(wrapped.engine)
    checked = 0
    for rule_id, (when, branches) in want.rules.items():
        for b in range(len(branches)):
            a, w = want._because_plan(rule_id, b), got._because_plan(rule_id, b)
            assert [a[2][:2], a[3][:2]] == [w[2][:2], w[3][:2]], (rule_id, b)
            for entry_a, entry_w in zip(want.entries(rule_id, b), got.entries(rule_id, b)):
                assert want._key_of((entry_a.fact,))[:2] == got._key_of((entry_w.fact,))[:2], (rule_id, b)
            checked += a[3][0] is not None
    assert checked == sum(len(branches) for _, branches in want.rules.values())  # every one is kept
