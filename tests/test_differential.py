"""Differential test: the compiled module and the program evaluator (compiler/interpret/evaluator.py) agree on random valid cases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hgl.compiler.interpret.evaluator import interpret_file
from hgl.runtime import load
from hgl.runtime.api import Guideline

from .conftest import GUIDELINE, ROOT

CHOOSER = ROOT / "bench" / "chooser.hgl"
# thresholds the guidelines compare with, so boundaries are hit often
INTERESTING = (0, 1, 2, 3, 4, 5, 6, 12, 24, 30, 50, 70, 75, 100)


def _value(spec):
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind in ("int", "number"):
        lo = int(spec.minimum) if spec.minimum is not None else 0
        hi = int(spec.maximum) if spec.maximum is not None else 120
        near = st.sampled_from([x for x in INTERESTING if lo <= x <= hi] or [lo])
        whole = st.integers(lo, hi)
        if spec.kind == "int":
            return st.one_of(near, whole)
        return st.one_of(near, whole, st.floats(lo, hi, allow_nan=False, allow_infinity=False),
                         near.map(lambda x: x + 0.01 if x + 0.01 <= hi else x))
    if spec.kind in ("enum", "option"):
        return st.sampled_from(spec.values)
    return st.frozensets(st.sampled_from(spec.values), max_size=4).map(sorted)


def cases(inputs, p_missing=0.1, bases=({},), p_change=1.0):
    """Random valid cases: one of `bases` with each input, with probability p_change, redrawn:
    a valid value, or (with probability p_missing) null or absent.  With p_missing 0 every
    input gets a value (the runtime's fast path for complete cases)."""
    values = {spec.name: _value(spec) for spec in inputs}

    @st.composite
    def build(draw):
        case = dict(draw(st.sampled_from(bases)))
        for name, strategy in values.items():
            if p_change < 1 and draw(st.floats(0, 1)) >= p_change:
                if p_missing == 0 and case.get(name) is None:
                    case[name] = draw(strategy)
                continue
            coin = draw(st.floats(0, 1)) if p_missing else 1.0
            if coin < p_missing / 2:
                case[name] = None  # missing, even where there is a default
            elif coin >= p_missing:
                case[name] = draw(strategy)
            else:
                case.pop(name, None)  # absent: the default, or missing
        return case

    return build()


def vignette_cases():
    from hgl.runtime.casefile import load_case_file, merged_case

    from .conftest import VIGNETTES

    base, vignettes = load_case_file(VIGNETTES)
    return [(merged_case(base, c), c.get("params") or {}) for c in vignettes]


def complete(guideline, bases):
    """Each base with every absent input given a value, greedily kept consistent (for the fast path)."""
    out = []
    for base in bases:
        case = dict(base)
        for spec in guideline.inputs:
            if case.get(spec.name) is not None:
                continue
            if spec.kind == "bool":
                candidates = [False, True]
            elif spec.kind in ("int", "number"):
                candidates = [x for x in INTERESTING if (spec.minimum is None or x >= spec.minimum)
                              and (spec.maximum is None or x <= spec.maximum)]
            elif spec.kind == "set":
                candidates = [[]]
            else:
                candidates = list(spec.values)
            for value in candidates:
                case[spec.name] = value
                if guideline.evaluate(case).status != "inconsistent_data":
                    break
        out.append(case)
    return out


def params(parameters):
    return st.fixed_dictionaries({}, optional={s.name: _value(s) for s in parameters})


@pytest.fixture(scope="module", params=[GUIDELINE, CHOOSER], ids=["her2", "chooser"])
def pair(request):
    # no cache: the module under test is the one the current compiler generates
    return load(request.param, use_cache=False), Guideline(interpret_file(request.param))


def _same(compiled, interpreted, case, prm):
    why_not = list(compiled.module.OPTIONS)[:3]
    a = compiled.evaluate(case, prm, trace=True, why_not=why_not).to_dict()
    b = interpreted.evaluate(case, prm, trace=True, why_not=why_not).to_dict()
    a.pop("receipt")
    b.pop("receipt")
    assert a == b
    assert compiled.definitions(case, prm) == interpreted.definitions(case, prm)
    return a


@pytest.mark.parametrize("p_missing", [0.0, 0.15, 0.5])
def test_compiled_and_ast_agree(pair, p_missing):
    """Cases drawn from scratch (HER2: mostly inconsistent) and near the vignettes (mostly consistent)."""
    compiled, interpreted = pair
    statuses = []
    bases = [c for c, _ in vignette_cases()] if compiled.id == "her2_mbc" else [{}]
    if p_missing == 0:
        bases = complete(compiled, bases)

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=st.one_of(cases(compiled.inputs, p_missing),
                          cases(compiled.inputs, p_missing, bases, p_change=0.04 if p_missing == 0 else 0.15)),
           prm=params(compiled.parameters))
    def check(case, prm):
        d = _same(compiled, interpreted, case, prm)
        statuses.append((d["status"], tuple(o["id"] for o in d["options"] if o["role"] == "preferred")))

    check()
    assert statuses and (len(set(statuses)) >= 2 or p_missing >= 0.5)  # it saw more than one kind of result


def test_the_vignettes_agree():
    compiled, interpreted = load(GUIDELINE, use_cache=False), Guideline(interpret_file(GUIDELINE))
    for case, prm in vignette_cases():
        _same(compiled, interpreted, case, prm)
