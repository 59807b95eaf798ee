"""Evaluation: a validated case -> a Result, by the combination semantics of the guideline.

This module is where rule combination is defined (the verifier encodes the same steps).
Steps: definitions; consistency checks; phase-1 rules (they read the case); proposals merged
(the strongest role wins; a governing scenario replaces the other sections' options of the
kinds it governs, GOVERNED_KINDS;
`withhold` clears them); phase-2 rules (they read the proposal); then demotions, avoids and
drops, in that order; then every undecided condition is tried as true, and it counts as
missing data only if that would change the result.  A compiled module supplies the
conditions and the tables; for a condition whose inputs are all present it may also supply a
plain-Python variant (its KNOWN table), which gives the same answer faster.
"""

from __future__ import annotations

from .completion import Completions, _finite_domain
from .logic import ABSENT, Touched, Unknown, plain_first, plain_to_try
from .model import DEFAULT_ROLES
from .proposal import OptionView, Proposal  # noqa: F401 - Proposal: part of this module's API

ROLE_RANK_DEFAULT = ("avoid", "preferred", "alternative")
_new = object.__new__


class Firing:
    """The outcome of one combination run."""

    __slots__ = ("roles", "by", "proposed_by", "flags", "requests", "undecided", "governing", "proposal",
                 "decisive", "completed", "unknowns")

    def __init__(self):
        self.roles: dict = {}  # option -> final role
        self.by: dict = {}  # option -> (rule id, branch index) giving that role
        self.proposed_by: dict = {}  # option -> (rule ids proposing it)
        self.flags: dict = {}  # flag -> [(rule id, branch index)]
        self.requests: dict = {}  # input -> (rule id, branch index)
        self.undecided: list = []  # [(key, Unknown)] found in phase 2
        self.governing: str | None = None
        self.proposal: Proposal | None = None
        # rule id -> the missing inputs for which forcing that rule's undecided condition changed the
        # result (Engine.run); only the first such rule per group of inputs is tried, so a rule not
        # here may be decisive too: it was simply not needed to show that its inputs matter
        self.decisive: dict = {}
        # some condition behind it holds in every completion of the case but is unknown in the case
        # itself (Engine._settle, Engine._by_cases): its words must say so (Renderer.because)
        self.completed = False
        # a needs_data result's conditions left unknown in the case itself (not over completions):
        # {("r", rule id) or ("b", rule id, branch): Unknown}, phase 1 as evaluated on the case and
        # phase 2 on this proposal (Engine.run); the words of missing data read it (Renderer.missing_all)
        self.unknowns = None

    def signature(self):
        return (frozenset(self.roles.items()), frozenset(self.flags), frozenset(self.requests))


# The combination, step by step: the engine runs `_step_<name>` for each, in this order, after
# phase 1; the verifier (hgl.compiler.verify.combine) encodes each step with a method of the same
# name; tests/test_visitors.py checks that both have every step.
STEPS = ("govern", "propose", "withhold", "phase2", "restrict")
# The restrictions, in the order they apply: (the role an option must have, or None for any; the
# role it gets, or None: it is dropped).
RESTRICTIONS = {"demote": ("preferred", "alternative"), "avoid": (None, "avoid"), "drop": (None, None)}
_RESTRICT_RANK = {kind: i for i, kind in enumerate(RESTRICTIONS)}


def _restrict_rank(item):  # (rule, branch, outcome index, outcome) -> its kind's place in RESTRICTIONS
    return _RESTRICT_RANK[item[3].kind]


class _State:
    """One combination run: its inputs and what the steps build."""

    __slots__ = ("env", "fired_rules", "fired", "forced", "plain", "out", "gov", "proposed", "by", "proposed_by",
                 "restricts", "withhold", "views", "P", "penv", "missing")

    def __init__(self, env, fired_rules, fired, forced, plain):
        self.env, self.fired_rules, self.fired, self.forced, self.plain = env, fired_rules, fired, forced, plain
        self.out = Firing()
        self.gov = None
        # the proposals, option by option in the order first proposed: its role, the (rule, branch)
        # giving that role, the rules proposing it
        self.proposed: dict = {}
        self.by: dict = {}
        self.proposed_by: dict = {}
        self.restricts: list = []
        self.withhold = False


class Engine(Completions):
    """Evaluates one compiled guideline module (the completion search: hgl.runtime.completion)."""

    def __init__(self, module):
        self.m = module
        self.options = module.OPTIONS
        self.rules = {r.id: r for r in module.RULES}
        self.phase1 = tuple(r for r in module.RULES if r.phase == 1)
        self.phase2 = tuple(r for r in module.RULES if r.phase == 2)
        self.rank = {s: i for i, s in enumerate(module.GOVERNING_ORDER)}
        order = getattr(module, "ROLE_ORDER", ROLE_RANK_DEFAULT)
        self.role_strength = {role: len(order) - i for i, role in enumerate(order)}
        self.roles = getattr(module, "ROLES", DEFAULT_ROLES)
        self.negative = frozenset(r for r, role in self.roles.items() if role.negative)
        # how results list the roles: those for an option strongest first, then those against it
        shown = [r for r in order if r not in self.negative] + [r for r in order if r in self.negative]
        self.display_rank = {r: i for i, r in enumerate(shown)}
        # the option kinds a governing section replaces (a module from before kinds: the systemic ones)
        self.governed = frozenset(getattr(module, "GOVERNED_KINDS", ("systemic",)))
        self.input_order = {s.name: i for i, s in enumerate(module.INPUTS)}
        self.constraints = tuple(module.CONSTRAINTS)
        known = getattr(module, "KNOWN", {})

        optimistic = self.shortcuts
        tests_missing = getattr(module, "TESTS_MISSING", None)  # the compiler's word (hgl.runtime.logic)

        def plain(fn):
            return known.get(fn.__name__, fn) if fn is not None else None

        def opt(fn):  # the plain variant to try with missing values ABSENT, or None (hgl.runtime.logic)
            return plain_to_try(fn, known, tests_missing) if optimistic and fn is not None else None
        # (name, three-valued function, plain variant, inputs read, plain variant to try) per
        # definition, in dependency order
        self.defs = tuple((d.name, d.fn, plain(d.fn), frozenset(d.reads), opt(d.fn)) for d in module.DEFINITIONS)
        self.def_names = frozenset(d.name for d in module.DEFINITIONS)
        self._kept: dict = {}  # what the first combination steps gave, per list of what fired (_first_steps)
        self.plain_defs = tuple((d.name, plain(d.fn)) for d in module.DEFINITIONS)
        self.tests = tuple((c.test, plain(c.test), frozenset(c.inputs), opt(c.test)) for c in self.constraints)
        self.finite_domains = {s.name: _finite_domain(s) for s in module.INPUTS}
        self.proposes = {(r.id, i): frozenset(o.option for o in b.outcomes if o.kind == "propose")
                         for r in module.RULES for i, b in enumerate(r.branches)}
        # an option that stands for nothing looks the same to every filter: one view for all cases
        self.static_views = {o: OptionView(opt, None) for o, opt in self.options.items() if opt.stands_for is None}
        self.standing = tuple(o for o, opt in self.options.items() if opt.stands_for is not None)
        # each rule with its conditions: three-valued, and plain for when no input it reads is missing
        self.p1 = tuple((r, frozenset(r.reads), r.when, plain(r.when), opt(r.when),
                         tuple((i, b.guard, plain(b.guard), opt(b.guard)) for i, b in enumerate(r.branches)))
                        for r in self.phase1)
        self.p2 = tuple((r, r.when, plain(r.when), opt(r.when),
                         tuple((b.guard, plain(b.guard), opt(b.guard)) for b in r.branches)) for r in self.phase2)
        # phase 2 as _step_phase2 runs it: per rule, its key, the inputs it reads, and per branch its key
        self._p2 = tuple((r, ("r", r.id), frozenset(r.reads), when, plain_when, opt_when,
                          tuple((("b", r.id, i), *g) for i, g in enumerate(guards)))
                         for r, when, plain_when, opt_when, guards in self.p2)
        self.actions = {(r.id, i): _Actions(r, i, b, self.options, self.governed, self.negative) for r in module.RULES
                        for i, b in enumerate(r.branches)}
        self._steps = tuple(getattr(self, "_step_" + step) for step in STEPS)
        # each compiled condition and definition -> its plain variant to try with missing values ABSENT
        self.opt_of = {fn: opt(fn) for fn in [d.fn for d in module.DEFINITIONS] + [c.test for c in self.constraints]
                       + [x for r in module.RULES for x in (r.when, *(b.guard for b in r.branches))]
                       if fn is not None and opt(fn) is not None}

    # ------------------------------------------------------------------ public
    def decide(self, env: dict, known: bool | None = None) -> tuple:
        """(status, firing, missing, inconsistent, violated) for a validated case merged with parameters.

        `known`: whether every input has a value (the validator knows; None: look).
        """
        raw = self.run(env, known)
        return raw["status"], raw["firing"], raw["missing"], raw["inconsistent"], raw.get("violated", ())

    def derive(self, env: dict, missing=None, penv=None) -> dict:
        """Add the definitions to env; `missing`: the inputs without a value (None: use three-valued code only).

        `penv`: the case as plain code sees it (missing values ABSENT), kept up to date too.
        """
        if missing is None:
            for name, fn, _plain, _reads, _opt in self.defs:
                env[name] = fn(env)
        elif penv is None:
            for name, fn, plain, reads, _opt in self.defs:
                env[name] = plain(env) if not missing or missing.isdisjoint(reads) else fn(env)
        else:
            for name, fn, plain, reads, opt in self.defs:
                if opt is not None:  # the plain variant, unless it reads a missing value
                    try:
                        v = opt(penv)
                    except Touched:
                        v = fn(env)
                    else:
                        if v is ABSENT:
                            v = fn(env)
                elif missing.isdisjoint(reads):
                    v = plain(penv)
                else:
                    v = fn(env)
                env[name] = v
                penv[name] = ABSENT if type(v) is Unknown else v
        return env

    def run(self, env: dict, known: bool | None = None) -> dict:
        """Evaluate a validated case merged with parameters; returns the raw result parts."""
        U = frozenset() if known else frozenset([k for k, v in env.items() if type(v) is Unknown])
        env["__options__"] = self.options
        fast = self._straight
        if fast is None:
            fast = self._straight_code()
        if U:
            penv = dict(env)  # the case as plain code sees it: missing values ABSENT (None: not used)
            for k in U:
                penv[k] = ABSENT
            if not self.shortcuts:
                penv = None
            if fast and penv is not None:
                violated = fast[0](env, penv, U)
            else:
                self.derive(env, U, penv)
                violated = self._violated(env, penv, U)
        else:
            penv = env
            for name, plain in self.plain_defs:
                env[name] = plain(env)
            violated = [c for c, (_test, plain, _reads, _opt) in zip(self.constraints, self.tests) if plain(env, None)]
        if violated:
            names = []
            for c in violated:
                names.extend(x for x in c.inputs if x not in names)
            return {"status": "inconsistent_data", "inconsistent": names, "violated": violated,
                    "firing": None, "missing": [], "env": env}
        if fast and penv is not None:
            fired_rules, fired, undecided = fast[1](env, penv, U)
        else:
            fired_rules, fired, undecided = self._phase1(env, U, penv)
        phase1_undecided = undecided
        # the completion search's notes for this run; it starts from the case as plain code sees it
        truths: dict = {("penv",): penv} if penv is not None and penv is not env else {}
        settled = False
        if undecided and self.refine:
            before = fired
            fired_rules, fired, undecided = self._settle(env, fired_rules, fired, undecided, truths)
            settled = fired is not before  # new lists: some condition was decided over completions
        base = self._combine(env, fired_rules, fired, frozenset(), plain=not U, penv=penv, missing=U)
        if settled or not self.shortcuts:
            base.completed = True
        seen_inputs: set[str] = set()
        pending = undecided + base.undecided if (undecided or base.undecided) and self.relevance else ()
        sig = base.signature() if pending else None
        for key, unknown in pending:
            if unknown.inputs <= seen_inputs:
                continue
            known = truths.get(key)
            if not (known[0] if known is not None else self._truths(env, key, unknown, truths)[0]):
                continue
            trial = self._combine(env, fired_rules, fired, frozenset((key,)), undecided_phase1=undecided, penv=penv,
                                  missing=U)
            if trial.signature() != sig:
                seen_inputs |= unknown.inputs
                inputs = base.decisive.get(key[1])
                base.decisive[key[1]] = unknown.inputs if inputs is None else inputs | unknown.inputs
        for name in base.requests:
            seen_inputs.add(name)
        order = self.input_order
        missing = sorted(seen_inputs, key=lambda x: order.get(x, len(order))) if seen_inputs else []
        if missing and not base.requests and self.refine:
            firing = self._by_cases(env, missing)
            if firing is not None:
                firing.completed = True
                return {"status": "recommendation", "firing": firing, "missing": [], "inconsistent": [], "env": env}
        status = "needs_data" if missing else "recommendation"
        if missing:
            unknowns = dict(phase1_undecided)
            for key, unknown in base.undecided:
                if key[0] != "s":
                    unknowns[key] = unknown
            base.unknowns = unknowns
        return {"status": status, "firing": base, "missing": missing, "inconsistent": [], "env": env}

    # Straight-line code for definitions, checks and rules (hgl.runtime.straight), made after
    # STRAIGHT_AFTER runs; off: the loops only (the same results, tests/test_explain_identity.py).
    straight = True
    STRAIGHT_AFTER = 16
    _straight = None  # None: not made yet; False: none (off, or a module without its source)
    _runs = 0

    def _straight_code(self):
        self._runs += 1
        return self.make_straight() if self._runs >= self.STRAIGHT_AFTER else False

    def make_straight(self):
        """The straight-line code, made now if it is not yet (a batch makes it once before forking
        its workers), or False when it is off."""
        if not (self.straight and self.shortcuts):
            return False
        from .straight import made_for

        return made_for(self)

    def _violated(self, env, penv, U) -> list:
        """The consistency checks a case with missing inputs breaks for sure."""
        out = []
        for c, (test, plain, reads, opt) in zip(self.constraints, self.tests):
            if opt is not None and penv is not None:
                try:
                    v = opt(penv, None)
                except Touched:
                    v = test(env, None)
                else:
                    if v is ABSENT:
                        v = test(env, None)
            elif U.isdisjoint(reads):
                v = plain(env, None)
            else:
                v = test(env, None)
            if v is True:
                out.append(c)
        return out

    # Shortcuts that cannot change a result: the plain conditions tried first on a case with missing
    # values (hgl.runtime.logic, "optimistic plain evaluation"), and words that skip the check for
    # conditions left unknown when no condition was decided over completions (Firing.completed).
    # Off only to compare with the engine without them (tests/test_engine_shortcuts.py).
    shortcuts = True
    # Completions tried per undecided condition; past this the condition counts as possible.
    MAX_COMPLETIONS = 256
    # Decide conditions true in every completion, and cases every completion agrees on (design page,
    # "Bounded unknowns, completions and cases"); off only to compare with the verifier's encoding,
    # which leaves both undecided.
    refine = True
    # The relevance test of undecided conditions (the inputs a `needs_data` result asks for); off only
    # for callers that read the firing alone (the verifier's replays with refine off: the same firing).
    relevance = True

    # ------------------------------------------------------------------ phases
    def _phase1(self, env, missing, penv=None):
        fired_rules = []
        fired = []
        undecided = []
        # penv: the case with missing values ABSENT (env itself when none is), for the plain variants;
        # None: the shortcuts are off
        for r, reads, when, plain_when, opt_when, guards in self.p1:
            plain = None  # whether the rule reads no missing input (looked up only when needed)
            if when is None:
                v = True
            elif opt_when is not None and penv is not None:
                try:
                    v = opt_when(penv, None)
                except Touched:
                    v = when(env, None)
                else:
                    if v is ABSENT:
                        v = when(env, None)
            else:
                plain = not missing or missing.isdisjoint(reads)
                v = plain_when(env, None) if plain else when(env, None)
            if v is False:
                continue
            if v is True:
                fired_rules.append(r)
                for i, guard, plain_guard, opt_guard in guards:
                    if guard is None:
                        g = True
                    elif opt_guard is not None and penv is not None:
                        try:
                            g = opt_guard(penv, None)
                        except Touched:
                            g = guard(env, None)
                        else:
                            if g is ABSENT:
                                g = guard(env, None)
                    else:
                        if plain is None:
                            plain = not missing or missing.isdisjoint(reads)
                        g = plain_guard(env, None) if plain else guard(env, None)
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

    def _combine(self, env, fired_rules, fired, forced, undecided_phase1=(), plain=False, penv=None, missing=None):
        """The combination: each step of STEPS in order (see the module docstring).

        `forced`: undecided conditions taken as true (the relevance test); `plain`: no input is
        missing, so the plain conditions apply; `penv`: the case with missing values ABSENT, for
        trying the plain conditions first (None: three-valued only); `missing`: the missing
        inputs, when known (a rule that reads none of them runs its plain conditions).
        """
        if forced:
            fired_rules, fired = self._forced_phase1(env, forced, fired_rules, fired)
        s = _State(env, fired_rules, fired, forced, plain)
        s.penv = penv
        s.missing = missing
        steps = self._steps
        if self._straight:  # (made after a few runs, as the straight-line code)
            self._first_steps(s)
            steps = steps[2:]
        for step in steps:
            step(s)
        return s.out

    # The first two steps (govern, propose) read nothing but which phase-1 rules and branches
    # fired, and the guideline's tables: what they give is kept per list of those (at most
    # KEPT_LIMIT lists, then started afresh) and copied into every run with the same list.  On with
    # the straight-line code: tests/test_explain_identity.py compares it with the loops.
    KEPT_LIMIT = 4096

    def _first_steps(self, s):
        key = (tuple([r.id for r in s.fired_rules]), tuple([(r.id, i) for r, i in s.fired]))
        kept = self._kept
        got = kept.get(key)
        out = s.out
        if got is None:
            self._step_govern(s)
            self._step_propose(s)
            if len(kept) >= self.KEPT_LIMIT:
                kept.clear()
            kept[key] = (s.gov, s.withhold, dict(s.proposed), dict(s.by), dict(s.proposed_by),
                         tuple((f, tuple(keys)) for f, keys in out.flags.items()), dict(out.requests),
                         tuple(s.restricts))
            return
        gov, withhold, proposed, by, proposed_by, flags, requests, restricts = got
        s.gov = out.governing = gov
        s.withhold = withhold
        s.proposed, s.by, s.proposed_by = dict(proposed), dict(by), dict(proposed_by)  # (the rules: tuples)
        if flags:
            out.flags = {f: list(keys) for f, keys in flags}  # (phase 2 may add to them)
        if requests:
            out.requests = dict(requests)
        if restricts:
            s.restricts = list(restricts)

    def _step_govern(self, s):
        """The first section of the governing order with a fired governing rule governs."""
        best = None
        for r in s.fired_rules:
            if r.governs:
                rank = self.rank.get(r.section, 1 << 30)
                if best is None or rank < best:
                    best, s.gov = rank, r.section
        s.out.governing = s.gov

    def _step_propose(self, s):
        """Phase-1 branches that fired give their outcomes; each option keeps its strongest role."""
        for r, i in s.fired:
            s.withhold = self._collect(r, i, s) or s.withhold

    def _step_withhold(self, s):
        """A `withhold` clears every proposal; what is left is the proposal phase-2 rules read."""
        proposed = s.proposed
        if s.withhold:
            proposed.clear()
            s.by.clear()
            s.proposed_by.clear()
        # what filters see of the proposed options: the shared views, plus those that stand for an input
        views = self.static_views
        if proposed:
            standing = [o for o in self.standing if o in proposed]
            if standing:
                views = dict(views)
                for o in standing:
                    views[o] = OptionView(self.options[o], s.env, self.options)
        s.views = views
        s.out.proposal = s.P = Proposal(proposed, views, self.negative)

    def _step_phase2(self, s):
        """Rules that read the proposal fire (they flag, request and restrict; they cannot propose)."""
        env, P, forced, out, plain, penv, U = s.env, s.P, s.forced, s.out, s.plain, s.penv, s.missing
        fast = self._straight
        if fast and penv is not None:  # the same, as straight-line code (hgl.runtime.straight)
            for r, i in fast[2](env, penv, P, U, forced, plain, out.undecided):
                self._collect(r, i, s)
            return
        for r, key, reads, when, plain_when, opt_when, guards in self._p2:
            # like phase 1: the plain variant when the rule reads no missing input (penv: a case
            # with some missing; U: they are known)
            rplain = plain or (U is not None and U.isdisjoint(reads))
            if when is None or (forced and key in forced):
                v = True
            elif opt_when is not None and penv is not None:
                v = plain_first(opt_when, when, penv, env, P)
            elif rplain:
                v = plain_when(env, P)
            else:
                v = when(env, P)
            if v is False:
                continue
            if v is not True:
                out.undecided.append((key, v))
                continue
            for i, (bkey, guard, plain_guard, opt_guard) in enumerate(guards):
                if guard is None or (forced and bkey in forced):
                    g = True
                elif opt_guard is not None and penv is not None:
                    g = plain_first(opt_guard, guard, penv, env, P)
                elif rplain:
                    g = plain_guard(env, P)
                else:
                    g = guard(env, P)
                if g is True:
                    self._collect(r, i, s)
                elif g is not False:
                    out.undecided.append((bkey, g))

    def _step_restrict(self, s):
        """Demote, then avoid, then drop (RESTRICTIONS, in order), over the options proposed."""
        out, by = s.out, s.by  # (the proposal's roles stay as phase 2 saw them: out.proposal)
        roles = dict(s.proposed)
        if not s.restricts:
            out.roles, out.by, out.proposed_by = roles, by, s.proposed_by
            return
        dropped = set()
        env, views, forced = s.env, s.views, s.forced
        standing = self.standing
        restricts = s.restricts
        if len(restricts) > 1:  # in the order of RESTRICTIONS, each kind in the order given (a stable sort)
            restricts = sorted(restricts, key=_restrict_rank)
        for r, i, j, o in restricts:
            from_role, to_role = RESTRICTIONS[o.kind]
            sel = o.selector
            target = sel.option
            if target is None:
                candidates = list(roles)
            else:  # only the option itself, and those standing for it, can match: no other is tried
                candidates = [x for x in standing if x in roles and target in views[x].ids] if standing else []
                if target in roles and target not in candidates:
                    candidates.append(target)
            for opt in candidates:
                view = views[opt]
                if view.id in sel.except_:
                    continue
                hit = (target in view.ids) if target is not None else sel.test(env, view)
                if hit is not True:
                    if forced and ("s", r.id, i, j, opt) in forced:
                        hit = True  # the relevance test takes this undecided match as true
                    elif hit is False:
                        continue
                    else:
                        out.undecided.append((("s", r.id, i, j, opt), hit))
                        continue
                if to_role is None:
                    dropped.add(opt)
                elif roles[opt] != to_role and (from_role is None or roles[opt] == from_role):
                    roles[opt], by[opt] = to_role, (r.id, i)
        out.roles = roles
        if dropped:
            for opt in dropped:
                roles.pop(opt, None)
            out.by = {o: by[o] for o in roles}
            out.proposed_by = {o: s.proposed_by[o] for o in roles}
        else:
            out.by, out.proposed_by = by, s.proposed_by

    def _collect(self, r, i, s) -> bool:
        """Add what branch i of rule r gives; True when it withholds every proposal."""
        act = self.actions[(r.id, i)]
        key = act.key
        if act.proposes:
            proposed, strength = s.proposed, self.role_strength
            replaced = s.gov is not None and not (r.governs and r.section == s.gov)
            for option, role, governed in act.proposes:
                if governed and replaced:  # a governing scenario replaces the others' options of its kinds
                    continue
                cur = proposed.get(option)
                if cur is None:
                    proposed[option] = role
                    s.by[option] = key
                    s.proposed_by[option] = (r.id,)
                else:
                    if strength[role] > strength[cur]:
                        proposed[option] = role
                        s.by[option] = key
                    ids = s.proposed_by[option]
                    if r.id not in ids:
                        s.proposed_by[option] = ids + (r.id,)
        flags = s.out.flags
        for flag in act.flags:
            flags.setdefault(flag, []).append(key)
        for name in act.requests:
            s.out.requests.setdefault(name, key)
        for j, o in act.restricts:
            s.restricts.append((r, i, j, o))
        return act.withhold


class _Actions:
    """What one rule branch gives, sorted by kind once (outcomes in order within each kind)."""

    __slots__ = ("key", "proposes", "flags", "requests", "restricts", "withhold")

    def __init__(self, rule, i, branch, options, governed, negative):
        self.key = (rule.id, i)
        # (option, role, whether a governing scenario replaces it): advice against an option is
        # never replaced, only proposals of the governed kinds are
        self.proposes = tuple((o.option, o.role, options[o.option].kind in governed and o.role not in negative)
                              for o in branch.outcomes if o.kind == "propose")
        flags = []
        for o in branch.outcomes:  # a request's flag is raised where the request is, in outcome order
            if o.kind == "flag" or (o.kind == "request" and o.flag):
                flags.append(o.flag)
        self.flags = tuple(flags)
        self.requests = tuple(o.input for o in branch.outcomes if o.kind == "request")
        self.restricts = tuple((j, o) for j, o in enumerate(branch.outcomes) if o.kind in ("demote", "avoid", "drop"))
        self.withhold = any(o.kind == "withhold" for o in branch.outcomes)

