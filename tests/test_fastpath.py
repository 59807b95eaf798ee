"""The fast path: the plain-Python conditions (a module's KNOWN) against the three-valued ones and the AST evaluator.

Where every input a condition reads is present, the engine calls the condition's plain-Python
variant; the decision must be the one the three-valued conditions give (roles, which rule gave
each role, who proposed each option, flags, requests, governing scenario, the proposal), and
the public result the AST evaluator's.  Cases: every combination of a synthetic guideline's
inputs, and the HER2 vignettes completed and pushed to the thresholds the guideline compares with.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings

import types

from hgl.compiler.check import program as p
from hgl.compiler.interpret.evaluator import interpret_file
from hgl.compiler.pipeline import compile_source
from hgl.compiler.front.source import Source
from hgl.runtime import load
from hgl.runtime.api import Guideline, load_module_source
from hgl.runtime.engine import Engine
from hgl.runtime.schema import CaseError, validate_case

from .conftest import GUIDELINE, ROOT
from .test_differential import cases, complete, params, vignette_cases

FASTPATH = ROOT / "tests" / "data" / "fastpath.hgl"
CHOOSER = ROOT / "bench" / "chooser.hgl"


def _firing_parts(f):
    """What a result is made of, in a form both firings share (proposed_by: lists)."""
    return {"roles": f.roles, "by": f.by, "proposed_by": {k: list(v) for k, v in f.proposed_by.items()},
            "flags": f.flags, "requests": f.requests, "governing": f.governing,
            "proposal": f.proposal.roles if f.proposal is not None else None}


_THREE_VALUED: dict = {}  # id(module) -> (module, engine): the module is kept, so its id is never reused


def three_valued(g: Guideline) -> Engine:
    """An engine over the same module without its plain-Python variants."""
    entry = _THREE_VALUED.get(id(g.module))
    if entry is None or entry[0] is not g.module:
        module = types.SimpleNamespace(**{**vars(g.module), "KNOWN": {}})
        entry = _THREE_VALUED[id(g.module)] = (g.module, Engine(module))
    return entry[1]


def same_decision(g: Guideline, case: dict, prm: dict | None = None) -> str:
    """The plain conditions and the three-valued ones give the same decision on a complete case; returns the status."""
    env, known = g._validate.with_known(case)
    assert known, case
    env.update(g.check_params(prm))
    status, firing, missing, inconsistent, _ = g.engine.decide(dict(env), True)
    raw = three_valued(g).run(dict(env))
    assert (status, missing, list(inconsistent)) == (raw["status"], raw["missing"], raw["inconsistent"])
    if status != "inconsistent_data":
        assert _firing_parts(firing) == _firing_parts(raw["firing"])
        assert raw["firing"].undecided == []
    return status


def test_every_condition_has_a_plain_variant():
    g = load(GUIDELINE, use_cache=False)
    m = g.module
    named = [d.fn for d in m.DEFINITIONS] + [r.when for r in m.RULES if r.when is not None]
    named += [b.guard for r in m.RULES for b in r.branches if b.guard is not None]
    assert all(fn.__name__ in m.KNOWN for fn in named)


def same_result(g: Guideline, ast: Guideline, case: dict, prm: dict | None = None) -> dict:
    """The public result (with trace and why not) is the AST evaluator's."""
    why_not = list(g.module.OPTIONS)[:4]
    a = g.evaluate(case, prm, trace=True, why_not=why_not).to_dict()
    b = ast.evaluate(case, prm, trace=True, why_not=why_not).to_dict()
    a.pop("receipt")
    b.pop("receipt")
    assert a == b
    return a


# ---------------------------------------------------------------- a synthetic guideline, every case
def _variant(roles: str) -> Guideline:
    text = FASTPATH.read_text(encoding="utf-8").replace("roles avoid over preferred over alternative", roles)
    result = compile_source(Source(str(FASTPATH), text))
    assert result.ok, [(d.span.line, d.message) for d in result.errors]
    return Guideline(load_module_source(result.code, "hgl_fastpath_test"))


ROLE_ORDERS = ["roles avoid over preferred over alternative", "roles avoid over alternative over preferred"]


@pytest.fixture(scope="module", params=ROLE_ORDERS, ids=["preferred-first", "alternative-first"])
def synthetic(request):
    return _variant(request.param)


def _all_synthetic_cases():
    sets = [[], ["d1"], ["d2"], ["d3"], ["d1", "d2"], ["d2", "d3"], ["d1", "d2", "d3"]]
    for kind, n_, b1, b2, given_, cur, strict in itertools.product(
            ("x", "y", "z"), range(6), (False, True), (False, True), sets,
            ("none", "o1", "o12", "o3"), (False, True)):
        yield {"kind": kind, "n": n_, "b1": b1, "b2": b2, "given": given_, "cur": cur}, {"strict": strict}


def test_synthetic_every_case(synthetic):
    statuses = {}
    for case, prm in _all_synthetic_cases():
        status = same_decision(synthetic, case, prm)
        statuses[status] = statuses.get(status, 0) + 1
    assert set(statuses) == {"recommendation", "needs_data", "inconsistent_data"}, statuses


def test_synthetic_exercises_every_construct(synthetic):
    """Each rule fires, each scenario governs, and each restriction changes a role, on some case."""
    fired, governing, restricted, withheld = set(), set(), set(), False
    for case, prm in _all_synthetic_cases():
        r = synthetic.evaluate(case, prm)
        if r.firing is None:
            continue
        f = r.firing
        fired |= {rule for flags in f.flags.values() for rule, _ in flags}
        fired |= {rule for rules in f.proposed_by.values() for rule in rules}
        fired |= {rule for rule, _ in f.requests.values()}
        fired |= {rule for rule, _ in f.by.values()}
        governing.add(f.governing)
        restricted |= {rule for o, (rule, _) in f.by.items() if rule not in f.proposed_by[o]}
        restricted |= {"r8" for _ in [0] if case["kind"] == "x" and prm["strict"] and "o12" not in f.roles}
        withheld = withheld or ("f3" in f.flags and not f.roles and case["kind"] == "z")
    rules = {r.id for r in synthetic.engine.rules.values()}
    assert rules - {"r6", "r7", "r8", "r9", "p2", "p3", "p4"} <= fired
    assert governing == {None, "gov_a", "gov_b", "gov_c"}
    assert {"r6", "r7", "r9", "p2", "p3", "r8"} <= restricted
    assert withheld


@pytest.mark.parametrize("roles", ROLE_ORDERS, ids=["preferred-first", "alternative-first"])
def test_synthetic_agrees_with_the_ast(roles, tmp_path):
    g = _variant(roles)
    path = tmp_path / "fastpath.hgl"
    path.write_text(FASTPATH.read_text(encoding="utf-8").replace(ROLE_ORDERS[0], roles), encoding="utf-8")
    ast = Guideline(interpret_file(path))
    for k, (case, prm) in enumerate(_all_synthetic_cases()):
        if k % 7 == 0:  # a seventh of them: the AST evaluator is slow
            same_result(g, ast, case, prm)


# ---------------------------------------------------------------- HER2: vignettes at the thresholds
def _thresholds(path) -> list[float]:
    """Every number the guideline compares with."""
    result = compile_source(Source(str(path), path.read_text(encoding="utf-8")))
    values = set()
    for node in _walk(result.program.sections):
        if isinstance(node, p.Num):
            values.add(node.value)
    for d in result.program.definitions:
        values |= {x.value for x in p.walk(d.expr) if isinstance(x, p.Num)}
    return sorted(values)


def _walk(obj, seen=None):
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    if isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _walk(x, seen)
    elif hasattr(obj, "__dataclass_fields__"):
        for name in obj.__dataclass_fields__:
            yield from _walk(getattr(obj, name), seen)


def _near(spec, thresholds):
    """Values of a numeric input at, just below and just above each threshold, within its range."""
    out = []
    for t in thresholds:
        for v in ((t - 1, t, t + 1) if spec.kind == "int" else (t - 1, t - 0.01, t, t + 0.01, t + 1)):
            v = int(v) if spec.kind == "int" else v
            if (spec.minimum is None or v >= spec.minimum) and (spec.maximum is None or v <= spec.maximum):
                out.append(v)
    return sorted(set(out))


@pytest.fixture(scope="module")
def her2_pair():
    return load(GUIDELINE, use_cache=False), Guideline(interpret_file(GUIDELINE))


@pytest.fixture(scope="module")
def her2_complete(her2_pair):
    g, _ = her2_pair
    return [(c, p) for c, (_, p) in zip(complete(g, [c for c, _ in vignette_cases()]), vignette_cases())]


def test_her2_vignettes_at_thresholds(her2_pair, her2_complete):
    """Each completed vignette with one input moved: numbers to every threshold ± a step, names to every value."""
    g, ast = her2_pair
    thresholds = _thresholds(GUIDELINE)
    statuses: dict = {}
    checked = 0
    for base, prm in her2_complete:
        for spec in g.inputs:
            if spec.kind in ("int", "number"):
                values = _near(spec, thresholds)
            elif spec.kind == "bool":
                values = [False, True]
            elif spec.kind == "set":
                values = [[], *[[x] for x in spec.values]]
            else:
                values = list(spec.values)
            for v in values:
                case = {**base, spec.name: v}
                status = same_decision(g, case, prm)
                statuses[status] = statuses.get(status, 0) + 1
                if checked % 97 == 0:  # a sample end to end against the AST evaluator
                    same_result(g, ast, case, prm)
                checked += 1
    assert checked > 5000
    assert set(statuses) == {"recommendation", "needs_data", "inconsistent_data"}, statuses


@pytest.mark.parametrize("prm", [{}, {"early_relapse_policy": "asco"}, {"include_post_publication": True},
                                 {"discontinuation_threshold_months": 6}])
def test_her2_vignettes_completed(her2_pair, her2_complete, prm):
    g, ast = her2_pair
    for case, own in her2_complete:
        same_decision(g, case, {**own, **prm})
        same_result(g, ast, case, {**own, **prm})


@pytest.mark.parametrize("path", [GUIDELINE, CHOOSER, FASTPATH], ids=["her2", "chooser", "fastpath"])
def test_random_complete_cases(path):
    g = load(path, use_cache=False)
    bases = complete(g, [c for c, _ in vignette_cases()]) if path == GUIDELINE else [{}]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=cases(g.inputs, 0.0, bases, p_change=0.1 if path == GUIDELINE else 1.0), prm=params(g.parameters))
    def check(case, prm):
        same_decision(g, case, prm)

    check()


# ---------------------------------------------------------------- when the fast path does not apply
CHOOSER_CASE = {"stage": "early", "age_years": 60, "score": 6, "months_since_diagnosis": 3, "prior_lines": 0,
                "prior_drugs": [], "frail": False, "resectable": True}


@pytest.mark.parametrize("change, known", [
    ({}, True),
    ({"prior_drugs": None}, False),  # null: missing, even with a default
    ({"score": None}, False),
    ({"-": "prior_drugs"}, True),  # absent, with a default
    ({"-": "score"}, False),  # absent, no default: missing
    ({"months_since_diagnosis": "13 weeks"}, True),  # a unit to convert: the slow path
    ({"age_years": 60.0}, True),  # a whole float for an integer: the slow path
    ({"prior_drugs": ("a", "b")}, True),
    ({"prior_lines": 2**53 - 1}, True),  # an integer with no maximum: up to 2^53 - 1 (larger is refused)
    ({"score": 10}, True),  # at the bound
    ({"score": 9.5, "age_years": 120}, True),
])
def test_validator_knows_whether_every_input_has_a_value(change, known):
    g = load(CHOOSER, use_cache=False)
    case = {k: v for k, v in CHOOSER_CASE.items() if k != change.get("-")}
    case.update({k: v for k, v in change.items() if k != "-"})
    env, k = g._validate.with_known(case)
    assert k is known
    assert env == g.validate(case)


@pytest.mark.parametrize("change, field", [
    ({"stage": ["early"]}, "stage"),  # unhashable where a name is expected
    ({"prior_drugs": [["a"]]}, "prior_drugs"),  # unhashable item
    ({"prior_drugs": ["a", "z"]}, "prior_drugs"),
    ({"frail": 1}, "frail"),
    ({"score": float("nan")}, "score"),
    ({"score": 11}, "score"),
    ({"score": 10.01}, "score"),
    ({"months_since_diagnosis": float("inf")}, "months_since_diagnosis"),  # a lower bound only
    ({"prior_lines": -1}, "prior_lines"),
    ({"prior_lines": True}, "prior_lines"),
    ({"prior_lines": 2.5}, "prior_lines"),
    ({"stage": "Early"}, "stage"),
    ({"stages": "early"}, "stages"),  # a field that is not an input, in place of another (same count)
])
def test_validator_rejects_what_the_slow_path_rejects(change, field):
    g = load(CHOOSER, use_cache=False)
    case = dict(CHOOSER_CASE)
    if "stages" in change:
        del case["stage"]
    case.update(change)
    with pytest.raises(CaseError) as err:
        g.evaluate(case)
    assert field in [e["field"] for e in err.value.errors]


@pytest.mark.parametrize("order", ["declared", "reversed"])
def test_key_order_of_a_case_does_not_matter(order):
    """The fast path copies the case: its key order must not change the validated case nor the result."""
    g = load(CHOOSER, use_cache=False)
    case = dict(CHOOSER_CASE, prior_drugs=["b", "a"], prior_lines=2)
    if order == "reversed":
        case = dict(reversed(list(case.items())))
    env = g.validate(case)
    assert env == validate_case(g.inputs, case) and env["prior_drugs"] == frozenset({"a", "b"})
    assert case["prior_drugs"] == ["b", "a"]  # the caller's case is not changed
    assert g.evaluate(case).to_dict() == g.evaluate(dict(CHOOSER_CASE, prior_drugs=["a", "b"], prior_lines=2)).to_dict()


def test_inconsistent_complete_case_is_worded_by_the_engine(her2_pair, her2_complete):
    g, ast = her2_pair
    case, prm = her2_complete[0]
    case = {**case, "bm_status": "none", "bm_count": 2}
    r = g.evaluate(case, prm)
    assert r.status == "inconsistent_data" and "bm_count" in r.inconsistent
    same_result(g, ast, case, prm)
