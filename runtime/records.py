"""One result as an output record, at an explanation level: full, short or none.

Batch and cohort output (`hgl run --cases`, `hgl cohort`, the columnar entry point) write one
record per case.  The level says how much of the explanation it carries:

- ``full``: the result contract of SPEC.md 3.1 without the receipt (`Result.to_dict(receipt=False)`),
  with `because` in words and `missing_because`;
- ``short``: the same fields without the words: each option's id, kind, role, label, rule,
  provenance, evidence, strength, proposing rules and the value it stands for; each flag's id,
  label, rule, provenance, whether it is a data request and the rules raising it;
- ``none``: the decision alone: status, options as {id, role, rule}, flag ids, missing and
  inconsistent inputs, the governing scenario (and the violated constraints' ids).

Only `full` renders words; the other two are table look-ups on the engine's firing.
"""

from __future__ import annotations

from .result import plain

LEVELS = ("full", "short", "none")


def record(result, explain: str = "full") -> dict:
    """The output record of one result at level `explain` (see the module docstring)."""
    if explain == "full":
        return result.to_dict(receipt=False)
    if explain == "short":
        return _short(result)
    if explain == "none":
        return _none(result)
    raise ValueError(f"explain must be one of {', '.join(LEVELS)}, got {explain!r}")


def option_triples(result) -> list:
    """[(option, role, rule)] in the order of `Result.roles` (preferred, alternative, avoid)."""
    firing = result.firing
    if firing is None:
        return []
    by = firing.by
    return [(oid, role, by[oid][0]) for oid, role in result.roles.items()]


def preferred_systemic(result) -> list:
    """The preferred options, of every kind (what a batch summary counts)."""
    if result.firing is None:
        return []
    return [o for o, r in result.roles.items() if r == "preferred"]


def _none(result) -> dict:
    d = {"status": result.status,
         "options": [{"id": o, "role": r, "rule": rule} for o, r, rule in option_triples(result)],
         "flags": result.flag_ids, "missing": result.missing, "inconsistent": result.inconsistent}
    if result._violated:
        d["violated"] = [c.id for c in result._violated]
    d["governing"] = result.governing
    return d


def _short(result) -> dict:
    g = result._g
    engine = g.engine
    firing = result.firing
    env = result._env
    options = []
    if firing is not None and firing.roles:
        rules, opts, by, proposers = engine.rules, engine.options, firing.by, firing.proposed_by
        for oid, role in result.roles.items():
            rule_id = by[oid][0]
            rule = rules[rule_id]
            opt = opts[oid]
            entry = {"id": oid, "kind": opt.kind, "role": role, "label": opt.label, "rule": rule_id,
                     "provenance": list(rule.provenance), "evidence": list(rule.evidence),
                     "proposed_by": list(proposers.get(oid, ())), "strength": rule.strength}
            if opt.stands_for:
                entry["stands_for"] = plain(env.get(opt.stands_for))
            options.append(entry)
    flags = []
    if firing is not None and firing.flags:
        words = result.words
        for fid in result.flag_ids:
            rule_id, _branch, requested, rules = result._flag_source(fid, words)
            flags.append({"id": fid, "label": engine.m.FLAGS[fid].label, "rule": rule_id,
                          "provenance": list(engine.rules[rule_id].provenance), "request": requested,
                          "rules": rules})
    d = {"guideline": result.guideline, "status": result.status, "options": options, "flags": flags,
         "missing": result.missing, "inconsistent": result.inconsistent}
    if result._violated:
        d["violated"] = result.violated
    d["governing"] = result.governing
    return d
