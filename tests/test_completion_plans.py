"""The completion search on the module's dependency table gives exactly the reference search's results.

The engine decides a case with missing yes/no, enum and small-integer inputs over their
completions (hgl.runtime.completion).  With `Engine.dependency_plans` (the default) it computes
per completion only the definitions a condition reads, from the READS table of the compiled
module, each once per run and per values of the filled inputs it reads, and visits the
completions in a spread order; off, it runs the reference search (every definition and check that reads a
filled input recomputed per completion, in product order).  Every case below must give the same
`to_dict()` both ways, with the engine's shortcuts on and off: the FHIR-derived HER2 case, a
generated cohort with 0, 35 and 75% of its fields dropped, the public vignettes, and the AF and
CAP guidelines' own cases with the same fields dropped.  The table itself is checked too: it
covers every compiled function, and no function looks up a name its entry leaves out.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys

import pytest

from hgl.runtime import fhirin, load
from hgl.runtime.api import Guideline
from hgl.runtime.casefile import load_case_file, merged_case
from hgl.runtime.schema import CaseError

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "guidelines"))
from her2_mbc_cohort import records as cohort_records  # noqa: E402

GUIDELINES = ROOT / "guidelines"
N_COHORT = 300


def _dropped(cases, share: float, seed: int):
    """Each case with about `share` of its fields left out (seeded: the same cases every run)."""
    rnd = random.Random(seed)
    return [({k: v for k, v in c.items() if rnd.random() >= share}, prm) for c, prm in cases]


def _fhir_case():
    g = fhirin.load(GUIDELINES / "her2_mbc.hgl")
    bundle = json.loads((GUIDELINES / "examples" / "second_line.bundle.json").read_text(encoding="utf-8"))
    case, _ = fhirin.case_from_fhir(g, [bundle], dt.date(2025, 6, 1))
    return [(case, {})]


def _cohort(share: float):
    return _dropped([(r, {}) for r in cohort_records(N_COHORT, seed=7, extra=False)], share, seed=3)


def _case_file(path):
    base, cases = load_case_file(path)
    return [(merged_case(base, c), c.get("params") or {}) for c in cases]


def _own_cases(name: str, share: float):
    cases = _case_file(GUIDELINES / f"{name}.cases.yaml")
    return _dropped(cases, share, seed=5) if share else cases


CASE_SETS = {
    "fhir second_line": ("her2_mbc", _fhir_case),
    "cohort, none dropped": ("her2_mbc", lambda: _cohort(0.0)),
    "cohort, 35% dropped": ("her2_mbc", lambda: _cohort(0.35)),
    "cohort, 75% dropped": ("her2_mbc", lambda: _cohort(0.75)),
    "vignettes": ("her2_mbc", lambda: _case_file(ROOT.parent / "shared" / "clinical" / "vignettes.yaml")),
    "her2 own cases, 35% dropped": ("her2_mbc", lambda: _own_cases("her2_mbc", 0.35)),
    "af_stroke own cases": ("af_stroke", lambda: _own_cases("af_stroke", 0.0)),
    "af_stroke, 35% dropped": ("af_stroke", lambda: _own_cases("af_stroke", 0.35)),
    "af_stroke, 75% dropped": ("af_stroke", lambda: _own_cases("af_stroke", 0.75)),
    "cap_site_of_care own cases": ("cap_site_of_care", lambda: _own_cases("cap_site_of_care", 0.0)),
    "cap_site_of_care, 35% dropped": ("cap_site_of_care", lambda: _own_cases("cap_site_of_care", 0.35)),
    "cap_site_of_care, 75% dropped": ("cap_site_of_care", lambda: _own_cases("cap_site_of_care", 0.75)),
}

# (case set, engine shortcuts): the shortcuts off only where it stays quick
TABLE = [(name, True) for name in CASE_SETS] + [
    ("fhir second_line", False), ("cohort, 75% dropped", False), ("vignettes", False),
    ("af_stroke, 35% dropped", False), ("cap_site_of_care, 35% dropped", False)]


@pytest.fixture(scope="module")
def guidelines():
    """A private engine per guideline (the test switches its search)."""
    return {name: Guideline(load(GUIDELINES / f"{name}.hgl").module)
            for name in ("her2_mbc", "af_stroke", "cap_site_of_care")}


def _outcomes(g, cases) -> list:
    out = []
    for case, prm in cases:
        try:
            out.append(g.evaluate(case, prm).to_dict())
        except CaseError as e:
            out.append(("error", str(e)))
    return out


@pytest.mark.parametrize("name, shortcuts", TABLE, ids=[f"{n}{'' if s else ', shortcuts off'}" for n, s in TABLE])
def test_dependency_plans_give_the_reference_results(guidelines, name, shortcuts):
    gname, make = CASE_SETS[name]
    g = guidelines[gname]
    cases = make()
    engine = g.engine
    try:
        engine.shortcuts = shortcuts
        fast = _outcomes(g, cases)
        engine.dependency_plans = False
        reference = _outcomes(g, cases)
    finally:
        engine.dependency_plans = True
        engine.shortcuts = True
    assert len(fast) == len(cases)
    for case, a, b in zip(cases, fast, reference):
        assert a == b, case


@pytest.mark.parametrize("name", ["her2_mbc", "af_stroke", "cap_site_of_care"])
def test_every_compiled_function_has_its_dependencies(guidelines, name):
    """The READS table covers every definition, check and condition: no plan falls back to all."""
    g = guidelines[name]
    engine = g.engine
    plans = engine._plans_made()
    fns = [fn for _n, fn, *_ in engine.defs] + [c.test for c in engine.constraints] + [
        x for r in engine.rules.values() for x in (r.when, *(b.guard for b in r.branches)) if x is not None]
    assert len(fns) == len(g.module.READS)
    assert all(fn in plans.closure for fn in fns)


def test_searches_were_exercised(guidelines):
    """The FHIR case leaves 21 inputs to the clinician: its search fills some of them in."""
    g = guidelines["her2_mbc"]
    result = g.evaluate(*_fhir_case()[0])
    assert result.status == "needs_data" and len(result.missing) > 10
    assert any(k[0] == "p" for k in g.engine._plans_made().kept)  # a condition's plan was made


class _Recorder(dict):
    """A case that notes every name a compiled function looks up in it."""

    def __init__(self, env):
        super().__init__(env)
        self.read: set = set()

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)


READ_CHECKS = [("her2_mbc", "her2 own cases, 35% dropped"), ("her2_mbc", "fhir second_line"),
               ("af_stroke", "af_stroke, 35% dropped"), ("cap_site_of_care", "cap_site_of_care, 35% dropped")]


@pytest.mark.parametrize("name, case_set", READ_CHECKS)
def test_functions_read_nothing_beyond_their_table_entry(guidelines, name, case_set):
    """Run on real cases, no compiled definition, check or phase-1 condition looks up a name its
    READS entry leaves out (the direction that would make a plan miss a definition)."""
    g = guidelines[name]
    table = g.module.READS
    engine = g.engine
    fns = [(fn, False) for _n, fn, *_ in engine.defs] + [(c.test, True) for c in engine.constraints] + [
        (x, True) for r in engine.rules.values() if r.phase == 1 for x in (r.when, *(b.guard for b in r.branches))
        if x is not None]
    checked = 0
    for case, prm in CASE_SETS[case_set][1]():
        try:
            env = g.evaluate(case, prm)._env
        except CaseError:
            continue
        for fn, takes_p in fns:
            e = _Recorder(env)
            fn(e, None) if takes_p else fn(e)
            assert e.read <= set(table[fn.__name__]), fn.__name__
            checked += 1
    assert checked > 100
