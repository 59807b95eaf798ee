"""Three-valued logic: Kleene truth tables, with the missing inputs carried along."""

from __future__ import annotations

import pytest

from hgl.runtime.logic import Unknown, and_, eq, if_, le, member, missing, not_, or_

U = missing("x")
V = missing("y")


@pytest.mark.parametrize("a,b,expected", [
    (True, True, True), (True, False, False), (False, True, False), (False, False, False),
    (True, U, U), (U, True, U), (False, U, False), (U, False, False), (U, U, U),
])
def test_and(a, b, expected):
    assert and_(a, b) == expected


@pytest.mark.parametrize("a,b,expected", [
    (True, True, True), (True, False, True), (False, True, True), (False, False, False),
    (True, U, True), (U, True, True), (False, U, U), (U, False, U), (U, U, U),
])
def test_or(a, b, expected):
    assert or_(a, b) == expected


@pytest.mark.parametrize("a,expected", [(True, False), (False, True), (U, U)])
def test_not(a, expected):
    assert not_(a) == expected


def test_unknowns_merge_their_inputs():
    assert and_(U, V).inputs == {"x", "y"}
    assert or_(U, V).inputs == {"x", "y"}
    assert le(U, 3) == U
    assert eq(U, V).inputs == {"x", "y"}


def test_unknown_has_no_truth_value():
    with pytest.raises(TypeError):
        bool(U)


@pytest.mark.parametrize("args,expected", [
    ((True, 1, 0), 1), ((False, 1, 0), 0), ((U, 1, 0), U), ((U, 1, 1), 1),
    ((False, 1, True, 2, 3), 2), ((False, 1, U, 2, 3), U),
])
def test_if(args, expected):
    assert if_(*args) == expected


def test_member_of_unknown_set():
    assert member("a", U) == U
    assert member("a", frozenset({"a"})) is True
    assert isinstance(member(U, frozenset()), Unknown)
