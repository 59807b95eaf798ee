"""Evaluation: a validated case -> a Result, by the combination semantics of the guideline.

Steps (SPEC section 3): consistency checks; definitions; phase-1 rules (they read the
case); proposals merged, governing scenarios replacing the others' systemic options;
phase-2 rules (they read the proposal); demotions, avoids and drops; then every
undecided condition is tried as true, and it counts as missing data only if that would
change the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .logic import Unknown, truth
from .model import render_pieces

ROLE_RANK_DEFAULT = ("avoid", "preferred", "alternative")


class OptionView:
    """What a filter sees of a proposed option: its drugs and the ids it answers to."""

    __slots__ = ("id", "drugs", "ids")

    def __init__(self, option, env):
        self.id = option.id
        if option.stands_for is None:
            self.drugs = option.drugs
            self.ids = frozenset((option.id,))
        else:
            target = env.get(option.stands_for)
            self.drugs = _drugs_of(target, env["__options__"])
            self.ids = frozenset((option.id, target)) if isinstance(target, str) else frozenset((option.id,))


def _drugs_of(value, options):
    opt = options.get(value) if isinstance(value, str) else None
    return opt.drugs if opt is not None else frozenset()


class Proposal:
    """The options proposed after governing (step 2), as phase-2 conditions see them."""

    __slots__ = ("roles", "views")

    def __init__(self, roles: dict, views: dict):
        self.roles = roles
        self.views = views

    def has(self, option: str, role: str) -> bool:
        r = self.roles.get(option)
        return r is not None and (role == "proposed" or r == role)

    def any(self, role: str, test):
        result = False
        for opt, r in self.roles.items():
            if role != "proposed" and r != role:
                continue
            v = test(self.views[opt])
            if v is True:
                return True
            if v is not False:
                result = v if result is False else result | v
        return result


@dataclass
class Firing:
    """The outcome of one combination run."""

    roles: dict = field(default_factory=dict)  # option -> final role
    by: dict = field(default_factory=dict)  # option -> (rule id, branch index) giving that role
    proposed_by: dict = field(default_factory=dict)  # option -> [rule ids]
    flags: dict = field(default_factory=dict)  # flag -> [(rule id, branch index)]
    requests: dict = field(default_factory=dict)  # input -> (rule id, branch index)
    undecided: list = field(default_factory=list)  # [(key, Unknown)] found in phase 2
    governing: str | None = None
    proposal: Proposal | None = None

    def signature(self):
        return (frozenset(self.roles.items()), frozenset(self.flags), frozenset(self.requests))


class Engine:
    """Evaluates one compiled guideline module."""

    def __init__(self, module):
        self.m = module
        self.options = module.OPTIONS
        self.rules = {r.id: r for r in module.RULES}
        self.phase1 = tuple(r for r in module.RULES if r.phase == 1)
        self.phase2 = tuple(r for r in module.RULES if r.phase == 2)
        self.rank = {s: i for i, s in enumerate(module.GOVERNING_ORDER)}
        order = getattr(module, "ROLE_ORDER", ROLE_RANK_DEFAULT)
        self.role_strength = {role: len(order) - i for i, role in enumerate(order)}
        self.option_order = {o: i for i, o in enumerate(module.OPTIONS)}

    # ------------------------------------------------------------------ public
    def run(self, env: dict) -> dict:
        """Evaluate a validated case merged with parameters; returns the raw result parts."""
        m = self.m
        env["__options__"] = self.options
        m.derive(env)
        violated = [c for c in m.CONSTRAINTS if c.test(env, None) is True]
        if violated:
            names = []
            for c in violated:
                names.extend(x for x in c.inputs if x not in names)
            return {"status": "inconsistent_data", "inconsistent": names, "violated": violated,
                    "firing": None, "missing": [], "env": env}
        fired_rules, fired, undecided = self._phase1(env)
        base = self._combine(env, fired_rules, fired, frozenset())
        missing: list[str] = []
        sig = base.signature()
        seen_inputs: set[str] = set()
        for key, unknown in undecided + base.undecided:
            if unknown.inputs <= seen_inputs:
                continue
            trial = self._combine(env, fired_rules, fired, frozenset((key,)), undecided_phase1=undecided)
            if trial.signature() != sig:
                seen_inputs |= unknown.inputs
        for name in base.requests:
            seen_inputs.add(name)
        order = {s.name: i for i, s in enumerate(m.INPUTS)}
        missing = sorted(seen_inputs, key=lambda x: order.get(x, len(order)))
        status = "needs_data" if missing else "recommendation"
        return {"status": status, "firing": base, "missing": missing, "inconsistent": [], "env": env}

    # ------------------------------------------------------------------ phases
    def _phase1(self, env):
        fired_rules = []
        fired = []
        undecided = []
        for r in self.phase1:
            v = r.when(env, None) if r.when is not None else True
            if v is False:
                continue
            if v is True:
                fired_rules.append(r)
                for i, b in enumerate(r.branches):
                    g = b.guard(env, None) if b.guard is not None else True
                    if g is True:
                        fired.append((r, i))
                    elif g is not False:
                        undecided.append((("b", r.id, i), g))
            else:
                undecided.append((("r", r.id), v))
        return fired_rules, fired, undecided

    def _forced_phase1(self, env, forced, fired_rules, fired):
        fired_rules = list(fired_rules)
        fired = list(fired)
        for key in forced:
            if key[0] == "r" and self.rules[key[1]].phase == 1:
                r = self.rules[key[1]]
                fired_rules.append(r)
                for i, b in enumerate(r.branches):
                    if b.guard is None or b.guard(env, None) is True:
                        fired.append((r, i))
            elif key[0] == "b" and self.rules[key[1]].phase == 1:
                fired.append((self.rules[key[1]], key[2]))
        return fired_rules, fired

    def _combine(self, env, fired_rules, fired, forced, undecided_phase1=()):
        if forced:
            fired_rules, fired = self._forced_phase1(env, forced, fired_rules, fired)
        out = Firing()
        gov_section = None
        best = None
        for r in fired_rules:
            if r.governs:
                rank = self.rank.get(r.section, 1 << 30)
                if best is None or rank < best:
                    best, gov_section = rank, r.section
        out.governing = gov_section
        proposals: dict = {}
        restricts = []
        withhold = False
        for r, i in fired:
            withhold = self._collect(r, i, out, proposals, restricts, gov_section) or withhold
        if withhold:
            proposals.clear()
        views = {o: OptionView(self.options[o], env) for o in proposals}
        roles = {o: p[0] for o, p in proposals.items()}
        P = Proposal(roles, views)
        out.proposal = P
        for r in self.phase2:
            key = ("r", r.id)
            v = True if key in forced else (r.when(env, P) if r.when is not None else True)
            if v is False:
                continue
            if v is not True:
                out.undecided.append((key, v))
                continue
            for i, b in enumerate(r.branches):
                bkey = ("b", r.id, i)
                g = True if bkey in forced else (b.guard(env, P) if b.guard is not None else True)
                if g is True:
                    self._collect(r, i, out, proposals, restricts, gov_section)
                elif g is not False:
                    out.undecided.append((bkey, g))
        self._restrict(env, restricts, proposals, views, out, forced)
        return out

    def _collect(self, r, i, out, proposals, restricts, gov_section) -> bool:
        withhold = False
        for j, o in enumerate(r.branches[i].outcomes):
            kind = o.kind
            if kind == "propose":
                opt = self.options[o.option]
                if opt.kind == "systemic" and gov_section is not None and not (
                        r.governs and r.section == gov_section):
                    continue
                cur = proposals.get(o.option)
                if cur is None:
                    proposals[o.option] = [o.role, (r.id, i), [r.id]]
                else:
                    if self.role_strength[o.role] > self.role_strength[cur[0]]:
                        cur[0], cur[1] = o.role, (r.id, i)
                    if r.id not in cur[2]:
                        cur[2].append(r.id)
            elif kind == "flag":
                out.flags.setdefault(o.flag, []).append((r.id, i))
            elif kind == "request":
                out.requests.setdefault(o.input, (r.id, i))
                if o.flag:
                    out.flags.setdefault(o.flag, []).append((r.id, i))
            elif kind == "withhold":
                withhold = True
            else:
                restricts.append((r, i, j, o))
        return withhold

    def _restrict(self, env, restricts, proposals, views, out, forced):
        roles = {o: p[0] for o, p in proposals.items()}
        by = {o: p[1] for o, p in proposals.items()}
        dropped = set()
        for action in ("demote", "avoid", "drop"):
            for r, i, j, o in restricts:
                if o.kind != action:
                    continue
                for opt in list(roles):
                    hit = self._matches(env, o.selector, views[opt])
                    key = ("s", r.id, i, j, opt)
                    if hit is not True and key in forced:
                        hit = True
                    if hit is False:
                        continue
                    if hit is not True:
                        out.undecided.append((key, hit))
                        continue
                    if action == "demote":
                        if roles[opt] == "preferred":
                            roles[opt], by[opt] = "alternative", (r.id, i)
                    elif action == "avoid":
                        if roles[opt] != "avoid":
                            roles[opt], by[opt] = "avoid", (r.id, i)
                    else:
                        dropped.add(opt)
        for opt in dropped:
            roles.pop(opt, None)
        out.roles = roles
        out.by = {o: by[o] for o in roles}
        out.proposed_by = {o: proposals[o][2] for o in roles}

    @staticmethod
    def _matches(env, sel, view):
        if view.id in sel.except_:
            return False
        if sel.option is not None:
            return sel.option in view.ids
        return sel.test(env, view)

    # ------------------------------------------------------------------ explanations
    def because(self, env, rule_id: str, branch: int, proposal) -> list[str]:
        """The conditions that held for a rule (and its branch), in words with the case's values."""
        r = self.rules[rule_id]
        parts = []
        if r.why is not None:
            parts.extend(render_pieces(p) for p, v in r.why(env, proposal) if v is True)
        b = r.branches[branch]
        if b.why is not None:
            parts.extend(render_pieces(p) for p, v in b.why(env, proposal) if v is True)
        return parts

    def why_not(self, env, option: str, proposal) -> list[dict]:
        """For an option: each rule that could propose it and the first condition that did not hold."""
        out = []
        for r in self.m.RULES:
            for i, b in enumerate(r.branches):
                if not any(o.kind == "propose" and o.option == option for o in b.outcomes):
                    continue
                checks = list(r.why(env, proposal)) if r.why is not None else []
                if b.why is not None:
                    checks += list(b.why(env, proposal))
                failed = [(render_pieces(p), truth(v)) for p, v in checks if v is not True]
                out.append({"rule": r.id, "role": next(o.role for o in b.outcomes
                                                       if o.kind == "propose" and o.option == option),
                            "held": [render_pieces(p) for p, v in checks if v is True],
                            "failed": [{"condition": t, "value": v} for t, v in failed]})
        return out


def unknown_inputs(value) -> list[str]:
    return sorted(value.inputs) if isinstance(value, Unknown) else []
