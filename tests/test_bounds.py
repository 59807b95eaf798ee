"""Bounded unknowns (issue 10): scores, counts and arithmetic over missing values.

A table of decided and undecided cases, and a hypothesis search that the bounded logic never
claims a value (or bounds) that some completion of the missing inputs contradicts.
"""

from __future__ import annotations

from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgl.runtime import logic as L
from hgl.runtime.logic import Unknown, missing

X = missing("x", 0, 10)  # an integer input declared `from 0 to 10`, missing
B = missing("b")  # a missing yes/no


def _shown(v):
    return ("unknown", v.lo, v.hi) if type(v) is Unknown else v


CASES = [
    # (name, value, expected: a known value, or ("unknown", lo, hi))
    ("sum decided above its threshold", L.ge(L.add(X, 5), 5), True),
    ("sum not decided at a threshold inside", L.ge(L.add(X, 5), 6), ("unknown", None, None)),
    ("below the lower bound", L.lt(X, 0), False),
    ("at most the upper bound", L.le(X, 10), True),
    ("strictly above the upper bound", L.gt(X, 10), False),
    ("equal to a value outside the bounds", L.eq(X, 11), False),
    ("not equal to a value outside the bounds", L.ne(X, -1), True),
    ("subtraction flips the bounds", _shown(L.sub(20, X)), ("unknown", 10, 20)),
    ("scaling", _shown(L.mul(X, 2)), ("unknown", 0, 20)),
    ("negative scaling", _shown(L.mul(X, -1)), ("unknown", -10, 0)),
    ("zero times unknown", L.mul(X, 0), 0),
    ("division", _shown(L.div(X, 2)), ("unknown", 0, 5)),
    ("division by an interval holding zero", _shown(L.div(10, X)), ("unknown", None, None)),
    ("count with one missing item", _shown(L.count_of(True, B, False)), ("unknown", 1, 2)),
    ("count decides 'at least 1'", L.ge(L.count_of(True, B), 1), True),
    ("count cannot reach 3", L.ge(L.count_of(True, B, False), 3), False),
    ("count with every item known", L.count_of(True, False, True), 2),
    ("min of a known value below every unknown one", L.min_(-1, X), -1),
    ("min bounded by the known value", _shown(L.min_(3, X)), ("unknown", 0, 3)),
    ("max of a known value above every unknown one", L.max_(11, X), 11),
    ("points: if with an unknown condition", _shown(L.if_(B, 2, 0)), ("unknown", 0, 2)),
    ("an unbounded missing number stays unbounded", _shown(L.add(missing("y"), 1)), ("unknown", None, None)),
    ("bounds collapse to one value", L.add(missing("z", 3, 3), 1), 4),
]


@pytest.mark.parametrize("name,value,expected", CASES, ids=[c[0] for c in CASES])
def test_bounded_table(name, value, expected):
    assert _shown(value) == expected


def test_unknowns_keep_the_inputs_they_depend_on():
    v = L.add(L.count_of(B, True), X)
    assert v.inputs == {"b", "x"} and (v.lo, v.hi) == (1, 12)
    assert L.ge(v, 13) is False


# ---------------------------------------------------------------- soundness, by hypothesis
# An expression over two bounded integer inputs (x in 0..4, y in -2..2) and two yes/no inputs
# (p, q), evaluated once with some of them missing and once for every completion.
RANGES = {"x": (0, 4), "y": (-2, 2)}
BOOLS = ("p", "q")

leaf = st.one_of(st.integers(-3, 3).map(lambda k: ("const", k)), st.sampled_from(["x", "y"]).map(lambda n: ("var", n)))
cond_leaf = st.one_of(st.sampled_from(BOOLS).map(lambda n: ("bvar", n)), st.booleans().map(lambda b: ("bconst", b)))


def _num(children):
    return st.one_of(
        st.tuples(st.sampled_from(["add", "sub", "mul", "min_", "max_"]), children, children),
        st.tuples(st.just("count_of"), st.lists(cond_leaf, min_size=1, max_size=3)),
        st.tuples(st.just("if_"), cond_leaf, children, children),
    )


numbers = st.recursive(leaf, _num, max_leaves=6)
conditions = st.tuples(st.sampled_from(["lt", "le", "gt", "ge", "eq", "ne"]), numbers, numbers)


def _eval(e, env):
    op = e[0]
    if op == "const":
        return e[1]
    if op in ("var", "bvar"):
        return env[e[1]]
    if op == "bconst":
        return e[1]
    if op == "count_of":
        return L.count_of(*(_eval(x, env) for x in e[1]))
    if op == "if_":
        return L.if_(_eval(e[1], env), _eval(e[2], env), _eval(e[3], env))
    if op in ("lt", "le", "gt", "ge", "eq", "ne"):
        return getattr(L, op)(_eval(e[1], env), _eval(e[2], env))
    return getattr(L, op)(_eval(e[1], env), _eval(e[2], env))


@settings(max_examples=300, deadline=None)
@given(cond=conditions, known=st.fixed_dictionaries({
    "x": st.one_of(st.none(), st.integers(0, 4)), "y": st.one_of(st.none(), st.integers(-2, 2)),
    "p": st.one_of(st.none(), st.booleans()), "q": st.one_of(st.none(), st.booleans())}))
def test_bounded_logic_never_contradicts_a_completion(cond, known):
    env = {k: (missing(k, *RANGES[k]) if k in RANGES else missing(k)) if v is None else v for k, v in known.items()}
    claimed = _eval(cond, env)
    value = _eval(cond[1], env)
    gaps = [k for k, v in known.items() if v is None]
    domains = [range(RANGES[k][0], RANGES[k][1] + 1) if k in RANGES else (True, False) for k in gaps]
    for values in product(*domains):
        full = {**env, **dict(zip(gaps, values))}
        truth = _eval(cond, full)
        assert type(truth) is bool
        if type(claimed) is not Unknown:
            assert claimed == truth, (cond, known, values)
        actual = _eval(cond[1], full)
        if type(value) is Unknown:
            assert value.lo is None or actual >= value.lo, (cond[1], known, values)
            assert value.hi is None or actual <= value.hi, (cond[1], known, values)
        else:
            assert value == actual, (cond[1], known, values)
