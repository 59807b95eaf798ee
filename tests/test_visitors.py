"""Every back end covers every node type of the resolved program (and the checker every AST expression).

A back end is a `program.Visitor`: adding a node type to compiler/check/program.py without a
`visit_<Class>` in each back end fails here, not on some guideline that happens to use it.
"""

from __future__ import annotations

import typing

import pytest

from hgl.compiler.check import program as p
from hgl.compiler.check.exprcheck import ExprChecker
from hgl.compiler.explain.unparse import Unparser
from hgl.compiler.explain.said import Sayer
from hgl.compiler.explain.text import PlainWords, RuleText
from hgl.compiler.front import nodes as n
from hgl.compiler.front.source import NO_SPAN
from hgl.compiler.interpret.evaluator import Evaluator, Outcomes
from hgl.compiler.lsp.analysis import ResolvedNames
from hgl.compiler.python.exprs import Plain, ThreeValued
from hgl.compiler.verify.encode import ExprEncoder

EXPR = p.EXPR_TYPES
FILTERS = p.FILTER_TYPES
SELECTORS = p.SELECTOR_TYPES

BACK_ENDS = [
    ("python: three-valued code", ThreeValued, EXPR + FILTERS),
    ("python: plain code (fast path)", Plain, EXPR + FILTERS),
    ("interpreter: expressions", Evaluator, EXPR + FILTERS),
    ("interpreter: outcomes", Outcomes, p.SIMPLE_OUTCOME_TYPES + SELECTORS),
    ("verifier: z3 encoding", ExprEncoder, EXPR + FILTERS + SELECTORS),
    ("explanations: conditions as written", Unparser, EXPR + FILTERS + SELECTORS),
    ("explanations: plain words", PlainWords, EXPR),
    ("explanations: one condition, for a case and as stated", Sayer, EXPR),
    ("explanations: conditions with no case (docs, FHIR)", RuleText, EXPR + FILTERS + SELECTORS),
    ("language server: names under the cursor", ResolvedNames,
     EXPR + FILTERS + SELECTORS + p.SIMPLE_OUTCOME_TYPES + (p.Use, p.OutcomeIf)),
]


@pytest.mark.parametrize("name, visitor, types", BACK_ENDS, ids=[b[0] for b in BACK_ENDS])
def test_back_end_covers_every_node_type(name, visitor, types):
    assert issubclass(visitor, p.Visitor)
    missing = [t.__name__ for t in types if not callable(getattr(visitor, "visit_" + t.__name__, None))]
    assert not missing, f"{name} ({visitor.__qualname__}) has no visit_ method for {missing}"


def test_the_type_tuples_are_the_unions():
    assert set(EXPR) == set(typing.get_args(p.Expr))
    assert set(FILTERS) == set(typing.get_args(p.Filter))
    assert set(SELECTORS) == set(typing.get_args(p.Selector))
    assert set(p.SIMPLE_OUTCOME_TYPES) == set(typing.get_args(p.SimpleOutcome))


def test_checker_resolves_every_ast_expression():
    missing = [t.__name__ for t in typing.get_args(n.Expr) if not callable(getattr(ExprChecker, "_" + t.__name__, None))]
    assert not missing


def test_no_visitor_method_for_a_type_that_does_not_exist():
    known = {t.__name__ for t in EXPR + FILTERS + SELECTORS + p.SIMPLE_OUTCOME_TYPES + (p.Use, p.OutcomeIf)}
    for name, visitor, _types in BACK_ENDS:
        stray = [m for m in dir(visitor) if m.startswith("visit_") and m[6:] not in known]
        assert not stray, f"{name}: {stray}"


def test_walk_reaches_every_node_once():
    a = p.Var("a", "input", p.BOOL, NO_SPAN)
    b = p.Var("b", "input", p.BOOL, NO_SPAN)
    e = p.And((a, p.Not(b, NO_SPAN)), NO_SPAN)
    assert [type(x).__name__ for x in p.walk(e)] == ["And", "Var", "Not", "Var"]
    assert p.conjuncts(e) == [a, p.Not(b, NO_SPAN)]


# ---------------------------------------------------------------- the combination, step by step
from hgl.runtime.engine import RESTRICTIONS, STEPS, Engine  # noqa: E402
from hgl.compiler.verify.combine import Encoder  # noqa: E402


@pytest.mark.parametrize("implementation", [Engine, Encoder], ids=["runtime engine", "verifier (z3)"])
def test_every_combination_step_is_implemented(implementation):
    missing = [s for s in STEPS if not callable(getattr(implementation, "_step_" + s, None))]
    assert not missing, f"{implementation.__qualname__} lacks {missing}"
    stray = [m[6:] for m in dir(implementation) if m.startswith("_step_") and m[6:] not in STEPS]
    assert not stray


def test_restrictions_apply_in_the_documented_order():
    assert list(RESTRICTIONS) == ["demote", "avoid", "drop"]
