"""A guideline module whose compiled functions are not Python functions (say, compiled by Cython):
the runtime must not read their code objects (which functions test for a missing value, what the
words read), so it gives the same results and words as the module the compiler wrote."""

from __future__ import annotations

import sys

import pytest

from hgl.runtime import load
from hgl.runtime.api import Guideline
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


@pytest.mark.parametrize("fn, want", [
    (_reads_x, "plain"),  # a Python function that tests no missing value: its plain variant is tried
    (_tests_missing, None),  # one that does: never tried with missing values ABSENT
    (Compiled(_reads_x), None),  # a compiled one: its code object cannot be trusted
    (Compiled(_tests_missing), None),
])
def test_plain_variant_to_try(fn, want):
    plain = object()
    got = plain_to_try(fn, {fn.__name__: plain})
    assert (got is plain if want == "plain" else got is None)
    assert (python_code(fn) is not None) == (type(fn) is not Compiled)


def _compiled_module():
    """The HER2 module, freshly compiled, with every definition, check, rule and guard made Compiled."""
    module = load(GUIDELINE, use_cache=False).module
    for d in module.DEFINITIONS:
        object.__setattr__(d, "fn", Compiled(d.fn))
    for c in module.CONSTRAINTS:
        object.__setattr__(c, "test", Compiled(c.test))
    for r in module.RULES:
        if r.when is not None:
            object.__setattr__(r, "when", Compiled(r.when))
        for b in r.branches:
            if b.guard is not None:
                object.__setattr__(b, "guard", Compiled(b.guard))
    return module


@pytest.mark.parametrize("explain", ["full", "none"])
def test_compiled_functions_give_the_same_records(explain):
    reference, compiled = load(GUIDELINE), Guideline(_compiled_module())
    cases = list(cohort_records(1500, seed=31, extra=False))
    assert [record(compiled.evaluate(dict(c)), explain) for c in cases] == \
        [record(reference.evaluate(dict(c)), explain) for c in cases]
