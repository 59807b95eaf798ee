"""The words of results, kept across cases, against the same words rendered afresh for each case.

Renderer.because and the words of missing data (Renderer._fact_words) keep what they render,
keyed on the values the words read (and the proposal, when read); Result.roles orders by a
table.  A key missing something the words depend on would give one patient another's words:
a silent wrong answer.  For many generated cases of the three shipped guidelines (their case
files, mixed field by field and with fields dropped, so values, unknowns and missing data vary;
realistic HER2 cohort records), every record at `full` and `short` and `to_dict()` must be the
same JSON as the reference: a renderer that keeps nothing across cases (and the roles sorted by
the key function).  Also with a tiny cache, so it is cleared again and again.
"""

from __future__ import annotations

import json
import random
import sys

import pytest

from hgl.runtime import load
from hgl.runtime.casefile import load_case_file, merged_case
from hgl.runtime.explain import Fact, Renderer, _fetcher, renderer
from hgl.runtime.logic import Unknown
from hgl.runtime.records import record
from hgl.runtime.result import Result
from hgl.runtime.schema import CaseError

from .conftest import ROOT

GUIDELINES = ROOT / "guidelines"


class _Fresh(Renderer):
    """The reference: every word rendered for the case at hand, nothing kept across cases."""

    def __init__(self, engine):
        super().__init__(engine, engine.m.EXPLAIN)
        self.role_key = {}  # Result.roles falls back to its key function

    def because(self, rule_id, branch, env, P, completed=True):
        fns = [self.compiled(c.fact.held) if type(c.fact) is Fact else self.compiled((c.fact,))
               for c in self.entries(rule_id, branch)]
        return self._render_because(rule_id, branch, fns, env, P, completed)

    def _fact_words(self, entry, env, P):
        return self._fact(entry, env, P)


class _FreshResult(Result):
    __slots__ = ()
    reference: dict = {}  # engine id -> (the engine, kept alive so the id stays its own; its _Fresh)

    @property
    def words(self):
        engine = self._g.engine
        r = self.reference.get(id(engine))
        if r is None:
            r = self.reference[id(engine)] = (engine, _Fresh(engine))
        return r[1]


def _case_file(name):
    base, cases = load_case_file(GUIDELINES / f"{name}.cases.yaml")
    return [(merged_case(base, c), c.get("params") or None) for c in cases]


def _mixed(name, n, drop, seed):
    """n cases made field by field from the case file's cases (each field's value from a case chosen
    at random), each field left out with probability `drop`; invalid mixtures are skipped later."""
    cases = _case_file(name)
    fields = sorted({k for c, _ in cases for k in c})
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        case = {}
        for f in fields:
            src, _prm = rnd.choice(cases)
            if f in src and rnd.random() >= drop:
                case[f] = src[f]
        out.append((case, rnd.choice(cases)[1]))
    return out


def _cohort(n, drop, seed):
    sys.path.insert(0, str(GUIDELINES))
    try:
        from her2_mbc_cohort import records
    finally:
        sys.path.remove(str(GUIDELINES))
    rnd = random.Random(seed)
    return [({k: v for k, v in r.items() if rnd.random() >= drop}, None) for r in records(n, seed=seed, extra=False)]


CASES = [  # (guideline, how the cases are made)
    ("her2_mbc", lambda: _cohort(400, 0.0, 11)),
    ("her2_mbc", lambda: _cohort(250, 0.4, 12)),
    ("her2_mbc", lambda: _case_file("her2_mbc")),
    ("her2_mbc", lambda: _mixed("her2_mbc", 300, 0.2, 13)),
    ("af_stroke", lambda: _case_file("af_stroke")),
    ("af_stroke", lambda: _mixed("af_stroke", 400, 0.0, 14)),
    ("af_stroke", lambda: _mixed("af_stroke", 400, 0.3, 15)),
    ("cap_site_of_care", lambda: _case_file("cap_site_of_care")),
    ("cap_site_of_care", lambda: _mixed("cap_site_of_care", 400, 0.0, 16)),
    ("cap_site_of_care", lambda: _mixed("cap_site_of_care", 400, 0.3, 17)),
]


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


@pytest.mark.parametrize("cached", [None, 16])
@pytest.mark.parametrize("name,make", CASES)
def test_kept_words_are_the_words_rendered_afresh(name, make, cached):
    g = load(GUIDELINES / f"{name}.hgl")
    kept = renderer(g.engine)
    if cached is not None:  # a tiny cache: cleared again and again
        kept.WORDS_CACHED = cached
    compared, needs_data = 0, 0
    try:
        for case, prm in make():
            try:
                r = g.evaluate(dict(case), prm)
            except CaseError:
                continue
            # the same decision, explained three ways by each: fresh results (their words are made once)
            args = (r._g, r._env, r.status, r.firing, r.missing, r.inconsistent, r._violated)
            ours = [r, Result(*args), Result(*args)]
            fresh = [_FreshResult(*args) for _ in range(3)]
            got = [_dumps(record(ours[0], "full")), _dumps(record(ours[1], "short")), _dumps(ours[2].to_dict())]
            want = [_dumps(record(fresh[0], "full")), _dumps(record(fresh[1], "short")), _dumps(fresh[2].to_dict())]
            assert got == want, case
            compared += 1
            needs_data += r.status == "needs_data"
    finally:
        if cached is not None:
            del kept.WORDS_CACHED
    assert compared >= 40


# values that are equal in Python but not in words: each pair must give two keys
_SAME_IN_PYTHON = [
    ("a float zero and its negative", 0.0, -0.0),
    ("an int and a float", 1, 1.0),
    ("true and one", True, 1),
    ("false and zero", False, 0),
    ("two unknowns, bounds 1 and 1.0", Unknown(frozenset({"x"}), 1, None), Unknown(frozenset({"x"}), 1.0, None)),
    ("two unknowns, other bounds", Unknown(frozenset({"x"}), 0, 5), Unknown(frozenset({"x"}), 0, 6)),
    ("two unknowns, other inputs", Unknown(frozenset({"x"})), Unknown(frozenset({"y"}))),
    ("an unknown and its inputs", Unknown(frozenset({"x"})), frozenset({"x"})),
]


@pytest.mark.parametrize("what,a,b", _SAME_IN_PYTHON)
def test_values_equal_in_python_are_different_keys(what, a, b):
    g = load(GUIDELINES / "her2_mbc.hgl")
    words = renderer(g.engine)
    name = next(iter(words.symbols))
    reads = (name,), False, _fetcher((name,), words.symbols)
    key_a, key_b = (words._key(("rule", 0), reads, {name: v}, None) for v in (a, b))
    assert key_a != key_b, what
    assert words._key(("rule", 0), reads, {name: a}, None) == key_a  # the same value: the same key
