"""Verification stage, combination: the resolved program's rules -> z3 formulas for rule firing and the result.

The combination is defined by hgl.runtime.engine: its STEPS table names the steps in order and
its RESTRICTIONS table what demote, avoid and drop do.  This module encodes each step as
formulas with a `_step_<name>` method of the same name, run in the engine's order from the same
table (tests/test_visitors.py checks that every step has its method here and in the engine);
the symbolic encoding cannot share the concrete engine's code, so every finding's witness is
re-run through the runtime and must reproduce, and tests/test_verify.py checks the encoding
against the runtime on sample cases.
"""

from __future__ import annotations

import z3

from hgl.compiler.check import program as p
from hgl.compiler.verify.encode import FALSE, TRUE, B, ExprEncoder, Space, _and, _not, _or
from hgl.runtime.engine import RESTRICTIONS, STEPS


class RuleEnc:
    """One rule's encoding in one space: its firing condition and the guards of its branches."""

    def __init__(self, rule: p.Rule):
        self.rule = rule
        self.name = rule.name
        self.section = rule.section
        self.phase = rule.phase
        self.governs = rule.governs
        self.branches = rule.branches  # program.Branch(guards, outcomes), flattened
        self.when: B | None = None
        self.guards: list[B] = []


class Encoder(ExprEncoder):
    """The formulas of one guideline over a Space: definitions, constraints, rule firing, result."""

    def __init__(self, program: p.Program, space: Space):
        super().__init__(program, space)
        self._rules()

    def _rules(self):
        self.rules = [RuleEnc(r) for r in self.program.rules]
        self.fired: dict[str, object] = {}
        self.branch_fired: dict[tuple, object] = {}
        for x in self.rules:
            if x.phase == 1:
                self._fire(x, None)
        self.role_rank = {r: i for i, r in enumerate(self.program.role_order)}
        for step in STEPS:
            getattr(self, "_step_" + step)()
        self._outcomes()

    def _step_govern(self):
        """The governing section is the first of the governing order with a fired governing rule."""
        order = self.program.governing_order
        anygov = {s: _or([self.fired[x.name] for x in self.rules if x.governs and x.section == s])
                  for s in order}
        self.governing, earlier = {}, FALSE
        for s in order:
            self.governing[s] = _and([anygov[s], _not(earlier)])
            earlier = _or([earlier, anygov[s]])
        self.no_governing = _not(earlier)

    def _step_propose(self):
        """Phase-1 branches that fired propose their options (admitted by governing)."""
        self.contrib: dict[tuple, list] = {}  # (option, role) -> [(rule, branch, condition)]
        for x in self.rules:
            if x.phase != 1:
                continue
            for i, b in enumerate(x.branches):
                for o in b.outcomes:
                    if isinstance(o, p.Propose):
                        opt = o.options[0]
                        self.contrib.setdefault((opt, o.role), []).append(
                            (x.name, i, _and([self.branch_fired[(x.name, i)], self.admitted(x, opt, o.role)])))

    def _step_withhold(self):
        """A phase-1 `withhold` clears the proposal; what is left is what phase-2 rules read."""
        self.withhold = _or([self.branch_fired[(x.name, i)] for x in self.rules if x.phase == 1
                             for i, b in enumerate(x.branches)
                             if any(isinstance(o, p.Withhold) for o in b.outcomes)])
        self.P = Proposal(self)

    def _step_phase2(self):
        for x in self.rules:
            if x.phase == 2:
                self._fire(x, self.P)

    def admitted(self, x: RuleEnc, opt: str, role: str):
        """An option of a governed kind counts only if no section governs, or it governs there (Engine._collect);
        advice against an option (a negative role) always counts."""
        if self.options[opt].kind not in self.program.governed_kinds or self.program.roles[role][1]:
            return TRUE
        if x.governs and x.section in self.governing:
            return _or([self.no_governing, self.governing[x.section]])
        return self.no_governing

    def _fire(self, x: RuleEnc, P):
        x.when = self.truth(x.rule.when, P) if x.rule.when is not None else B(TRUE, FALSE)
        self.fired[x.name] = x.when.t
        for i, b in enumerate(x.branches):
            gs = [self.truth(g, P) for g in b.guards]
            x.guards.append(B(_and([g.t for g in gs]), _or([g.f for g in gs])))
            self.branch_fired[(x.name, i)] = _and([x.when.t] + [g.t for g in gs])

    def _step_restrict(self):
        """The final roles: each restriction of RESTRICTIONS in order, over the options proposed."""
        P = self.P
        hits = {action: {} for action in RESTRICTIONS}
        self.hit_by: dict[tuple, list] = {}  # (action, option) -> [(rule, condition)]
        for x in self.rules:
            for i, b in enumerate(x.branches):
                for o in b.outcomes:
                    if not isinstance(o, p.Restrict):
                        continue
                    for opt in self.options:
                        c = _and([self.branch_fired[(x.name, i)], P.present(opt),
                                  self.selector_hit(o.selector, opt, P)])
                        if not z3.is_false(c):
                            hits[o.action].setdefault(opt, []).append(c)
                            self.hit_by.setdefault((o.action, opt), []).append((x.name, c))
        self.final = {}
        for opt in self.options:
            present = P.present(opt)
            roles = {r: P.role(opt, r) for r in self.program.role_order}
            for action, (from_role, to_role) in RESTRICTIONS.items():
                hit = _or(hits[action].get(opt, []))
                if z3.is_false(hit):
                    continue
                if to_role is None:  # dropped
                    present = _and([present, _not(hit)])
                    continue
                moved = _and([hit, roles[from_role] if from_role is not None else _not(roles[to_role])])
                roles = {role: _or([c, moved]) if role == to_role else _and([c, _not(moved)])
                         for role, c in roles.items()}
            self.final[opt] = {role: _and([present, c]) for role, c in roles.items()}

    def _outcomes(self):
        """Flags and requests of the branches that fired; summaries for the searches."""
        self.flags: dict[str, list] = {}
        self.requests: dict[str, list] = {}
        for x in self.rules:
            for i, b in enumerate(x.branches):
                bf = self.branch_fired[(x.name, i)]
                for o in b.outcomes:
                    if isinstance(o, p.RaiseFlag):
                        self.flags.setdefault(o.flags[0], []).append(bf)
                    elif isinstance(o, p.Request):
                        self.requests.setdefault(o.input, []).append(bf)
                        if o.flag is not None:
                            self.flags.setdefault(o.flag, []).append(bf)
        self.flag = {f: _or(cs) for f, cs in self.flags.items()}
        self.request = {x: _or(cs) for x, cs in self.requests.items()}
        self.any_preferred = _or([r["preferred"] for r in self.final.values()])
        self.any_option = _or([c for r in self.final.values() for c in r.values()])
        self.any_flag = _or(list(self.flag.values()))
        self.any_request = _or(list(self.request.values()))

    def effect(self, x: RuleEnc):
        """The rule fires and some outcome of it reaches the result (an option kept, a flag, a hit)."""
        effective = []
        for i, b in enumerate(x.branches):
            bf = self.branch_fired[(x.name, i)]
            for o in b.outcomes:
                if isinstance(o, p.Propose):
                    opt = o.options[0]
                    kept = _not(_or([c for _, c in self.hit_by.get(("drop", opt), [])]))
                    effective.append(_and([bf, self.admitted(x, opt, o.role), _not(self.withhold), kept]))
                elif isinstance(o, p.Restrict):
                    effective.append(_and([bf, _or([c for (act, _), hits in self.hit_by.items()
                                                    if act == o.action for r, c in hits if r == x.name])]))
                else:
                    effective.append(bf)
        return _or(effective)

    @staticmethod
    def produces(x: RuleEnc) -> bool:
        """Whether the rule can put something in a result by itself (an option, a flag, a request)."""
        return any(isinstance(o, (p.Propose, p.RaiseFlag, p.Request)) for b in x.branches for o in b.outcomes)


class Proposal:
    """The proposal after governing (what phase-2 rules read), as conditions per option (engine.Proposal)."""

    def __init__(self, enc: Encoder):
        self.enc = enc
        roles = enc.program.role_order  # strongest first: of the roles an option is given, the first wins
        negative = {r for r, (_label, neg) in enc.program.roles.items() if neg}
        self._present, self._prop, self._role = {}, {}, {}
        for opt in enc.options:
            by_role = {r: _or([c for _, _, c in enc.contrib.get((opt, r), [])]) for r in roles}
            present = _and([_not(enc.withhold), _or(list(by_role.values()))])
            self._present[opt] = present
            stronger = []
            for r in roles:
                self._role[(opt, r)] = _and([present, by_role[r], _not(_or(stronger))])
                stronger.append(by_role[r])
            self._prop[opt] = _or([self._role[(opt, r)] for r in roles if r not in negative])

    def present(self, opt: str):
        """Given any role, negative ones included."""
        return self._present.get(opt, FALSE)

    def proposed(self, opt: str):
        """Given a role that is not negative (what `is proposed` asks)."""
        return self._prop.get(opt, FALSE)

    def role(self, opt: str, role: str):
        return self._role.get((opt, role), FALSE)

    def preferred(self, opt: str):
        return self.role(opt, "preferred")
