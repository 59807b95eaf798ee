"""Evaluation: a validated case -> a Result, by the combination semantics of the guideline.

Steps (SPEC section 3): consistency checks; definitions; phase-1 rules (they read the
case); proposals merged, governing scenarios replacing the others' systemic options;
phase-2 rules (they read the proposal); demotions, avoids and drops; then every
undecided condition is tried as true, and it counts as missing data only if that would
change the result.  A case with no missing value needs none of that: the module's generated
`decide_known` (hgl.compiler.python.codegen_fast) makes the same decision in straight-line code, and
`Engine.decide` uses it; `Engine.run` is the table-driven path for every case.
"""

from __future__ import annotations

from itertools import product

from .logic import Unknown, truth
from .model import format_value, render_pieces

ROLE_RANK_DEFAULT = ("avoid", "preferred", "alternative")
_new = object.__new__


class OptionView:
    """What a filter sees of a proposed option: its drugs and the ids it answers to."""

    __slots__ = ("id", "drugs", "ids")

    def __init__(self, option, env, options=None):
        self.id = option.id
        if option.stands_for is None:
            self.drugs = option.drugs
            self.ids = frozenset((option.id,))
        else:
            target = env.get(option.stands_for)
            self.drugs = _drugs_of(target, env["__options__"] if options is None else options)
            self.ids = frozenset((option.id, target)) if isinstance(target, str) else frozenset((option.id,))


def _drugs_of(value, options):
    opt = options.get(value) if isinstance(value, str) else None
    return opt.drugs if opt is not None else frozenset()


class Views(dict):
    """The options as filters see them, each made on first use (most options look the same to every case)."""

    __slots__ = ("env", "options", "static")

    def __init__(self, env, options, static):
        super().__init__()
        self.env, self.options, self.static = env, options, static

    def __missing__(self, option):
        view = self[option] = self.static.get(option) or OptionView(self.options[option], self.env, self.options)
        return view


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


class Firing:
    """The outcome of one combination run."""

    __slots__ = ("roles", "by", "proposed_by", "flags", "requests", "undecided", "governing", "proposal",
                 "decisive")

    def __init__(self):
        self.roles: dict = {}  # option -> final role
        self.by: dict = {}  # option -> (rule id, branch index) giving that role
        self.proposed_by: dict = {}  # option -> [rule ids]
        self.flags: dict = {}  # flag -> [(rule id, branch index)]
        self.requests: dict = {}  # input -> (rule id, branch index)
        self.undecided: list = []  # [(key, Unknown)] found in phase 2
        self.governing: str | None = None
        self.proposal: Proposal | None = None
        # rule id -> the missing inputs for which forcing that rule's undecided condition changed the
        # result (Engine.run); only the first such rule per group of inputs is tried, so a rule not
        # here may be decisive too: it was simply not needed to show that its inputs matter
        self.decisive: dict = {}

    def signature(self):
        return (frozenset(self.roles.items()), frozenset(self.flags), frozenset(self.requests))


class KnownFiring:
    """A Firing made by the generated decide_known: its parts as that function returned them.

    Nothing is undecided in a case with no missing value; the proposal (read only by
    explanations of phase-2 rules) is made when first read.
    """

    __slots__ = ("parts", "env", "views", "_proposal")
    roles = property(lambda self: self.parts[0])  # the fields of Firing, in the order of decide_known
    by = property(lambda self: self.parts[1])
    proposed_by = property(lambda self: self.parts[2])  # option -> (rule ids): tuples, not lists
    flags = property(lambda self: self.parts[3])
    requests = property(lambda self: self.parts[4])
    governing = property(lambda self: self.parts[5])
    undecided = ()
    decisive: dict = {}  # nothing undecided, so no rule was tried (read-only: shared by every instance)

    @property
    def proposal(self) -> Proposal:
        p = self._proposal
        if p is None:
            p = self._proposal = Proposal(self.parts[6], self.views(self.env))
        return p


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
        self.input_order = {s.name: i for i, s in enumerate(module.INPUTS)}
        self.constraints = tuple(module.CONSTRAINTS)
        self.finite_domains = {s.name: _finite_domain(s) for s in module.INPUTS}
        self.case_names = tuple(s.name for s in module.INPUTS) + tuple(s.name for s in module.PARAMETERS)
        self._templates: dict = {}  # (rule, branch) -> prepared `because` templates
        self.proposes = {(r.id, i): frozenset(o.option for o in b.outcomes if o.kind == "propose")
                         for r in module.RULES for i, b in enumerate(r.branches)}
        self.fast = getattr(module, "derive_known", None) is not None and \
            getattr(module, "phase1_known", None) is not None
        self.mixed = self.fast and getattr(module, "derive_mixed", None) is not None and \
            getattr(module, "phase1_mixed", None) is not None
        # an option that stands for nothing looks the same to every filter: one view for all cases
        self.static_views = {o: OptionView(opt, None) for o, opt in self.options.items() if opt.stands_for is None}
        self.p1 = tuple((r, r.when, tuple((i, b.guard) for i, b in enumerate(r.branches))) for r in self.phase1)
        # the generated straight-line decision for a case with no missing value (compiler/python/codegen_fast.py)
        self.decide_known = getattr(module, "decide_known", None) if self.fast else None
        options, static = self.options, self.static_views

        def views(env):
            return Views(env, options, static)
        self.views = views

    # ------------------------------------------------------------------ public
    def decide(self, env: dict, known: bool | None = None) -> tuple:
        """(status, firing, missing, inconsistent, violated) for a validated case merged with parameters.

        `known`: whether every input has a value (the validator knows; None: look).  Such a case
        goes through the generated decide_known, unless a consistency rule is violated.
        """
        if known is None:
            known = self.fast and not any(type(v) is Unknown for v in env.values())
        if known and self.decide_known is not None:
            out = self.decide_known(env, self.views, Proposal)
            if out is not None:
                f = _new(KnownFiring)
                f.parts, f.env, f.views, f._proposal = out, env, self.views, out[7]
                if out[4]:  # with no missing value, only data requests make it needs_data
                    order = self.input_order
                    missing = sorted(out[4], key=lambda x: order.get(x, len(order)))
                    return "needs_data", f, missing, (), ()
                return "recommendation", f, [], (), ()
        raw = self.run(env)
        return raw["status"], raw["firing"], raw["missing"], raw["inconsistent"], raw.get("violated", ())

    def run(self, env: dict) -> dict:
        """Evaluate a validated case merged with parameters; returns the raw result parts."""
        m = self.m
        # The generated fast paths: plain Python operators for a case with no missing value, and
        # for the rules and definitions that read no missing input of the others.
        U = {k for k, v in env.items() if type(v) is Unknown} if self.fast else None
        known = self.fast and not U
        mixed = self.mixed and not known
        env["__options__"] = self.options
        if known:
            m.derive_known(env)
        elif mixed:
            m.derive_mixed(env, U)
        else:
            m.derive(env)
        violated = [c for c in self.constraints if c.test(env, None) is True]
        if violated:
            names = []
            for c in violated:
                names.extend(x for x in c.inputs if x not in names)
            return {"status": "inconsistent_data", "inconsistent": names, "violated": violated,
                    "firing": None, "missing": [], "env": env}
        if known:
            fired_rules, fired = m.phase1_known(env)
            undecided = []
        elif mixed:
            fired_rules, fired, undecided = m.phase1_mixed(env, U)
        else:
            fired_rules, fired, undecided = self._phase1(env)
        base = self._combine(env, fired_rules, fired, frozenset())
        seen_inputs: set[str] = set()
        pending = undecided + base.undecided if undecided or base.undecided else ()
        sig = base.signature() if pending else None
        for key, unknown in pending:
            if unknown.inputs <= seen_inputs:
                continue
            if not self._possible(env, key, unknown):
                continue
            trial = self._combine(env, fired_rules, fired, frozenset((key,)), undecided_phase1=undecided)
            if trial.signature() != sig:
                seen_inputs |= unknown.inputs
                inputs = base.decisive.get(key[1])
                base.decisive[key[1]] = unknown.inputs if inputs is None else inputs | unknown.inputs
        for name in base.requests:
            seen_inputs.add(name)
        order = self.input_order
        missing = sorted(seen_inputs, key=lambda x: order.get(x, len(order))) if seen_inputs else []
        status = "needs_data" if missing else "recommendation"
        return {"status": status, "firing": base, "missing": missing, "inconsistent": [], "env": env}

    # Completions tried per undecided condition; past this the condition counts as possible.
    MAX_COMPLETIONS = 256

    def _possible(self, env, key, unknown) -> bool:
        """Whether an undecided phase-1 condition can hold in some consistent completion of the case.

        Only its missing yes/no, enum and small-integer inputs are filled in, each way; numbers
        and sets stay missing (three-valued).  A condition that is false in every completion, or
        whose every completion breaks a consistency check, cannot change the result, so its
        inputs are not asked for.  Anything else counts as possible (the conservative answer).
        """
        if key[0] not in ("r", "b"):
            return True
        rule = self.rules[key[1]]
        if rule.phase != 1:
            return True
        names = sorted(x for x in unknown.inputs if self.finite_domains.get(x) is not None)
        domains = [self.finite_domains[x] for x in names]
        if not names:
            return True
        total = 1
        for d in domains:
            total *= len(d)
        if total > self.MAX_COMPLETIONS:
            return True
        base = {k: env[k] for k in self.case_names}
        base["__options__"] = self.options
        for values in product(*domains):
            trial = dict(base)
            trial.update(zip(names, values))
            self.m.derive(trial)
            if any(c.test(trial, None) is True for c in self.constraints):
                continue
            v = rule.when(trial, None) if rule.when is not None else True
            if v is not False and key[0] == "b":
                guard = rule.branches[key[2]].guard
                v = guard(trial, None) if guard is not None else True
            if v is not False:
                return True
        return False

    # ------------------------------------------------------------------ phases
    def _phase1(self, env):
        fired_rules = []
        fired = []
        undecided = []
        for r, when, guards in self.p1:
            v = when(env, None) if when is not None else True
            if v is False:
                continue
            if v is True:
                fired_rules.append(r)
                for i, guard in guards:
                    g = guard(env, None) if guard is not None else True
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
        static = self.static_views
        views = {o: static.get(o) or OptionView(self.options[o], env) for o in proposals}
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
        if not restricts:
            out.roles, out.by = roles, by
            out.proposed_by = {o: p[2] for o, p in proposals.items()}
            return
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
        b = r.branches[branch]
        if r.because is not None and b.because is not None:  # compiled templates: no re-evaluation
            items = self._templates.get((rule_id, branch))
            if items is None:
                items = self._templates[(rule_id, branch)] = _prepare(r.because + b.because)
            return [t if type(t) is str else t[0].format(*[format_value(env[n], u) for n, u in t[1]])
                    for t in items]
        parts = []
        if r.why is not None:
            parts.extend(render_pieces(p) for p, v in r.why(env, proposal) if v is True)
        b = r.branches[branch]
        if b.why is not None:
            parts.extend(render_pieces(p) for p, v in b.why(env, proposal) if v is True)
        return parts

    def why_not(self, env, option: str, proposal) -> list[dict]:
        """For an option: each rule that could propose it, the conditions that held and those that did not.

        A condition is given in words with the case's values, and as written in the guideline
        (`as_written`) when the module carries it: "line of therapy is 4" alone hides the 2 it needed.
        """
        out = []
        for r in self.m.RULES:
            for i, b in enumerate(r.branches):
                roles = [o.role for o in b.outcomes if o.kind == "propose" and o.option == option]
                if not roles:
                    continue
                checks = list(r.why(env, proposal)) if r.why is not None else []
                if b.why is not None:
                    checks += list(b.why(env, proposal))
                texts = None
                if r.conditions is not None and b.conditions is not None:
                    texts = r.conditions + b.conditions
                failed = []
                for k, (p, v) in enumerate(checks):
                    if v is not True:
                        entry = {"condition": render_pieces(p), "value": truth(v)}
                        if texts is not None:
                            entry["as_written"] = texts[k]
                        failed.append(entry)
                out.append({"rule": r.id, "role": roles[0],
                            "held": [render_pieces(p) for p, v in checks if v is True], "failed": failed})
        return out


def _prepare(templates) -> list:
    """`because` templates -> plain strings, or (format string, [(name, unit)]) for those with slots."""
    out = []
    for t in templates:
        if all(type(p) is str for p in t):
            out.append("".join(t))
        else:
            fmt = "".join(p.replace("{", "{{").replace("}", "}}") if type(p) is str else "{}" for p in t)
            out.append((fmt, [p for p in t if type(p) is not str]))
    return out


def unknown_inputs(value) -> list[str]:
    return sorted(value.inputs) if isinstance(value, Unknown) else []


def _finite_domain(spec) -> tuple | None:
    """The values an input can take when there are few of them (yes/no, enums, small integer ranges)."""
    if spec.kind == "bool":
        return (True, False)
    if spec.kind in ("enum", "option"):
        return tuple(spec.values)
    if spec.kind == "int" and spec.minimum is not None and spec.maximum is not None \
            and spec.maximum - spec.minimum <= 10:
        return tuple(range(int(spec.minimum), int(spec.maximum) + 1))
    return None
