"""The baseline of bench/runtime.py: bench/chooser.hgl written by hand as a plain Python if-chain.

It assumes a complete, valid case (no missing value, no unit to convert) and returns what the
compiled guideline decides for it: {option: role} and the flags.  It is the practical limit of
any guideline engine for this logic.
"""

from __future__ import annotations

_STRENGTH = {"avoid": 3, "preferred": 2, "alternative": 1}


def choose(case: dict) -> tuple[dict, list]:
    """({option: role}, [flags]) for a complete chooser case, by the combination rules of SPEC.md 3."""
    prior_lines = case["prior_lines"]
    prior_drugs = case["prior_drugs"]
    frail = case["frail"]
    first_line = prior_lines == 0
    later_line = prior_lines >= 1
    older = case["age_years"] >= 75
    roles: dict = {}

    def put(option, role):
        cur = roles.get(option)
        if cur is None or _STRENGTH[role] > _STRENGTH[cur]:
            roles[option] = role

    if first_line and not frail and case["score"] >= 5:
        put("opt_a", "preferred")
    if first_line and case["score"] < 5:
        put("opt_b", "preferred")
    if first_line and frail:
        put("opt_c", "preferred")
        put("opt_b", "alternative")
    if later_line and "a" not in prior_drugs and not older:
        put("opt_ab", "preferred")
    if later_line and "a" in prior_drugs:
        put("opt_c", "preferred")
    if prior_lines >= 2 or case["months_since_diagnosis"] > 24:
        put("trial", "alternative")
    if case["stage"] == "early" and case["resectable"] and not frail:
        put("surgery", "preferred")
    flags = ["review"] if older and frail else []
    if prior_lines >= 2 and "b" in prior_drugs and "opt_b" in roles:
        roles["opt_b"] = "avoid"
    return roles, flags
