"""Verification stage, no-preferred regions (HGL508): valid cases that get options but none preferred.

`hgl check --verify` reports them against the acknowledged ones (issue 14). A region is a kind of
patient: the set of rules whose outcomes reach the result (an option kept, a restriction that hits),
as for the gap search (search.py, `_gaps`). Each region is reported at the rule that answers for it:
the first rule, in source order, whose restriction (avoid, demote, drop) takes away an option the
proposal has as preferred, else the first rule whose outcome reaches the result. `accept HGL508 on
<rule> because "..."` acknowledges the regions reported at that rule; they are still found (the
verification page lists them, with the reason, through compiler/check/accepts.py) but `check` no
longer shows them. An acknowledged region is looked for once per `accept` statement (one witness,
minimised in one pass only): enough to list it and to tell a stale acknowledgement; new regions are all
looked for (up to the cap), first, and their witnesses minimised as usual.

The regions of no acknowledged rule are searched first, so the cap on regions never hides a new one
behind known ones. Known limitation: a region is told apart by its rules, not by its cases, so an
edit that leaves nothing preferred for more patients through the same rules (e.g. a narrower
condition on a preferring rule) stays inside a region already acknowledged; `hgl diff` against the
previous version shows those cases.
"""

from __future__ import annotations

import z3

from hgl.compiler.check import program as p
from hgl.compiler.verify.encode import _and, _not, _or

CODE = "HGL508"


def acknowledged(program) -> set[str]:
    """The rules with an `accept HGL508 on <rule>` statement."""
    return {a.rule.text for a in getattr(program, "accepts", ()) if a.code.text == CODE}


def _restricts(x) -> bool:
    return any(isinstance(o, p.Restrict) for b in x.branches for o in b.outcomes)


def search(v) -> None:
    """Find the no-preferred regions of the verifier `v` (search._Verifier); new ones first."""
    enc = v.two.enc
    rules = [x for x in enc.rules if enc.produces(x) or _restricts(x)]
    effects = {x.name: enc.effect(x) for x in rules}
    # who answers for a region: a restriction that took a preferred option away, else (source
    # order) the first rule whose outcome reaches the result
    culprits = [(x, _took_preferred(enc, x)) for x in rules if _restricts(x)]
    ranked = [(x, c) for x, c in culprits if not z3.is_false(c)] + [(x, effects[x.name]) for x in rules]
    base = [_not(enc.any_request), enc.any_option, _not(enc.any_preferred), _not(enc.any_flag)]
    accepted = acknowledged(v.program)
    earlier, known, acknowledged_scopes = [], [], []
    for x, c in ranked:  # the region is reported at x: x answers for it and no rule ranked before it does
        if x.name in accepted:
            scope = _and([c, _not(_or(earlier))])
            known.append(scope)
            if not z3.is_false(scope):
                acknowledged_scopes.append((x, scope))
        earlier.append(c)
    _regions(v, base + [_not(_or(known))], rules, ranked, effects)
    # an acknowledged region is looked for once per acknowledgement: enough for the page to list it
    # and for `check` to tell a stale acknowledgement (HGL507); its witness is minimised in one pass
    for x, scope in acknowledged_scopes:
        _regions(v, base + [scope], rules, ranked, effects, limit=1, passes=1)


def _took_preferred(enc, x):
    """The rule's restriction hits an option the proposal has as preferred."""
    return _or([_and([c, enc.P.preferred(opt)]) for (_action, opt), hits in enc.hit_by.items()
                for rule, c in hits if rule == x.name])


def _regions(v, conds, rules, ranked, effects, limit=None, passes=3):
    marks = [effects[x.name] for x in rules] + [c for _, c in ranked]
    blocks: list = []
    found = 0
    while not z3.is_false(conds[-1]):
        zm = v._find(v.two, *conds, *blocks)
        if zm is None:
            return
        seen: dict = {}  # a rule's effect is often its rank too: evaluate each formula once
        pattern = [seen[c.get_id()] if c.get_id() in seen else
                   seen.setdefault(c.get_id(), z3.is_true(zm.eval(c, model_completion=True))) for c in marks]
        blocks.append(_not(_and([c if on else _not(c) for on, c in zip(pattern, marks)])))
        on = {x.name for x, hit in zip(rules, pattern) if hit}
        at = next(x for (x, _), hit in zip(ranked, pattern[len(rules):]) if hit)
        case, params = v.two.witness(zm)
        behind = _reproduces(v, case, params)
        if behind is None:
            v.report.unconfirmed.append(("no_preferred", None, case))
            continue
        case, params = v._simplify(case, params, lambda c, q: _reproduces(v, c, q) == behind,
                                   rules=sorted(on), passes=passes)
        res = v.runner.evaluate(case, params)
        found += 1
        if found > v.gap_cap:
            v.report.gaps_capped = True
            return
        if limit is not None and found > limit:
            return
        listed = [x.name for x in rules if x.name in on]
        shown = [f"{o['id']} ({o['role']})" for o in res.options]
        v._add(CODE, f"no preferred option: a valid case gets options but none preferred, no flag and no request "
                     f"(rules: {', '.join(listed)})",
               at.rule.name_span, case, params,
               hint="result: " + ", ".join(shown) + f"; if this is intended, acknowledge it: "
                    f"accept {CODE} on {at.name} because \"...\"",
               rules=listed)


def _reproduces(v, case, params):
    """The rules whose options the runtime shows when the witness has options, none preferred, no flag
    and no request; else None."""
    res = v.runner.evaluate(case, params)
    if res.status != "recommendation" or res.flags or res.preferred or not res.options:
        return None
    return {o["rule"] for o in res.options}
