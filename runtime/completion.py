"""The consistent-completion search of the engine: conditions and cases decided over every
completion of a case's missing yes/no, enum and small-integer inputs (design page, "Bounded
unknowns, completions and cases"; what each completion recomputes: "Dependency tables and the
completion search").

`Completions` is a part of hgl.runtime.engine.Engine (its base class), kept here so that the
combination steps and this search each read in one place.
"""

from __future__ import annotations

from itertools import product
from math import gcd
from operator import itemgetter

from .logic import ABSENT, Touched, Unknown, plain_first


class Completions:
    """Engine methods: _settle (phase-1 conditions true in every completion), _truths, _by_cases."""

    # Completions tried when deciding a case by cases; past this it stays undecided.
    MAX_CASES = 16
    # Per completion, compute only the definitions a condition reads (the module's READS table),
    # each once per run and per values of the filled inputs it reads; off: the reference search,
    # which recomputes every definition that reads a filled input (tests/test_completion_plans.py).
    dependency_plans = True
    _plans = None  # this guideline's _Plans, made at the first search

    def _by_cases(self, env, missing):
        """The firing every consistent completion of the missing inputs agrees on, or None.

        The relevance test forces one undecided condition at a time; when the answer is the same
        whichever value a missing input takes (an option proposed in one branch and avoided in
        both), it is decided: the case is run once per completion of the missing yes/no, enum
        and small-integer inputs, and if every consistent completion gives one result (roles,
        flags, requests), that result stands, without asking for data (issue 11, item 5).
        """
        domains = [self.finite_domains.get(x) for x in missing]
        if any(d is None for d in domains):
            return None
        total = 1
        for d in domains:
            total *= len(d)
        if total > self.MAX_CASES:
            return None
        agreed = None
        derived = self.def_names
        base = {k: v for k, v in env.items() if k not in derived and not k.startswith("__")}  # the case itself
        for values in product(*domains):
            trial = base.copy()
            trial.update(zip(missing, values))
            raw = self.run(trial)
            if raw["status"] == "inconsistent_data":
                continue
            if raw["status"] != "recommendation":
                return None
            sig = raw["firing"].signature()
            if agreed is None:
                agreed = (sig, raw["firing"])
            elif agreed[0] != sig:
                return None
        return agreed[1] if agreed is not None else None

    def _settle(self, env, fired_rules, fired, undecided, truths):
        """Phase-1 conditions true in every consistent completion of the case fire (they are decided).

        `truths` keeps (possible, always) per condition for the relevance test that follows, and
        the completions themselves (one `_Filled` per set of filled inputs), which every condition
        waiting for the same inputs shares.
        """
        settled = []
        for key, unknown in undecided:
            t = truths[key] = self._truths(env, key, unknown, truths)
            if t[1]:
                settled.append(key)
        if not settled:
            return fired_rules, fired, undecided
        fired_rules, fired = list(fired_rules), list(fired)
        rest = [x for x in undecided if x[0] not in settled]
        for key in settled:
            rule = self.rules[key[1]]
            if key[0] == "b":
                fired.append((rule, key[2]))
                continue
            fired_rules.append(rule)
            for i, b in enumerate(rule.branches):
                g = True if b.guard is None else b.guard(env, None)
                if g is True:
                    fired.append((rule, i))
                elif g is not False:
                    bkey = ("b", rule.id, i)
                    t = truths[bkey] = self._truths(env, bkey, g, truths)
                    if t[1]:
                        fired.append((rule, i))
                    else:
                        rest.append((bkey, g))
        return fired_rules, fired, rest

    def _possible(self, env, key, unknown) -> bool:
        return self._truths(env, key, unknown)[0]

    def _truths(self, env, key, unknown, cache: dict | None = None) -> tuple[bool, bool]:
        """(possible, always): whether an undecided phase-1 condition holds in some / in every
        consistent completion of the case.

        Only its missing yes/no, enum and small-integer inputs are filled in, each way; numbers
        and sets stay missing (three-valued).  A condition that is false in every completion, or
        whose every completion breaks a consistency check, cannot change the result, so its
        inputs are not asked for; one that is true in every completion (and reads no other
        missing input) is decided true.  Anything else counts as possible (the conservative answer).
        `cache` (one run's `truths`) shares the completions of a set of inputs between conditions,
        and the definitions' values by the filled inputs they read.
        """
        if key[0] not in ("r", "b"):
            return True, False
        rule = self.rules[key[1]]
        if rule.phase != 1:
            return True, False
        if self.dependency_plans:  # the filled inputs of a set of missing ones: made once per guideline
            plans = self._plans_made()
            names = plans.kept.get(("n", unknown.inputs))
            if names is None:
                names = plans.get(("n", unknown.inputs), lambda: self._fillable(unknown.inputs))
        else:
            names = self._fillable(unknown.inputs)
        if not names:
            return True, False
        filled = cache.get(("c", names)) if cache is not None else None
        if filled is None:
            domains = [self.finite_domains[x] for x in names]
            total = 1
            for d in domains:
                total *= len(d)
            if total > self.MAX_COMPLETIONS:
                return True, False
            if self.dependency_plans:
                run = cache.get(("m",)) if cache is not None else None
                if run is None:  # per run: the values memoised, and the case as plain code sees it
                    pbase = cache.get(("penv",)) if cache is not None else None  # (Engine.run's, when it made one)
                    if pbase is None and self.shortcuts:
                        pbase = {k: ABSENT if type(v) is Unknown else v for k, v in env.items()}
                    run = (plans, {}, pbase if self.shortcuts else None)
                    if cache is not None:
                        cache[("m",)] = run
                filled = _Filled(self, env, names, domains, *run)
            else:
                filled = _Recomputed(self, env, names, domains)
            if cache is not None:
                cache[("c", names)] = filled
        complete = len(names) == len(unknown.inputs)  # every input it waits for was filled in
        possible, always, consistent = False, complete, False
        trial, ptrial = filled.trial, filled.ptrial
        when = rule.when
        guard = rule.branches[key[2]].guard if key[0] == "b" else None
        if ptrial is not None:
            opt_of = self.opt_of
            wopt, gopt = opt_of.get(when), opt_of.get(guard)
        plan = filled.plan(when, guard)
        i = 0
        while filled.load(i, plan):
            i += 1
            if ptrial is None:
                v = when(trial, None) if when is not None else True
                if v is not False and guard is not None:
                    v = guard(trial, None)
            else:
                v = plain_first(wopt, when, ptrial, trial) if when is not None else True
                if v is not False and guard is not None:
                    v = plain_first(gopt, guard, ptrial, trial)
            consistent = True
            if v is not False:
                possible = True
            if v is not True:
                always = False
            if possible and not always:
                break
        return possible, always and consistent

    def _fillable(self, inputs) -> tuple:
        """The inputs of a set that have a small finite domain, sorted."""
        return tuple(sorted(x for x in inputs if self.finite_domains.get(x) is not None))

    def _plans_made(self) -> "_Plans":
        """This guideline's plans (they depend only on the guideline), made at the first use."""
        plans = self._plans
        if plans is None:
            plans = self._plans = _Plans(self)
        return plans


class _Plans:
    """What the completion search needs of a guideline, made as it is asked for and kept.

    From the module's READS table (the names each compiled function reads itself: inputs,
    parameters and definitions, hgl.compiler.python.codegen) the definitions each condition reads, directly or
    through other definitions; then per set of filled inputs and condition the `plan`: those of
    them that read a filled input, in dependency order, each with a picker of its filled inputs'
    values.  A module without the table (an interpreted one), or a function missing from it,
    gets every definition that reads a filled input (the exact, slower answer).
    """

    # entries kept before starting afresh (a long-running server meets many sets of missing inputs)
    LIMIT = 4096

    def __init__(self, engine):
        self.engine = engine
        self.kept: dict = {}
        self.closure: dict = {}  # compiled function -> the definitions it reads, at any depth
        table = getattr(engine.m, "READS", None)
        if table is None:
            return
        every = engine.def_names
        defs: dict = {}  # definition -> the definitions it reads, at any depth
        for name, fn, *_ in engine.defs:  # in dependency order: what a definition reads is closed
            got = self._closed(table.get(fn.__name__), defs, every)
            if got is not None:
                defs[name] = self.closure[fn] = got
        for fn in [c.test for c in engine.constraints] + [
                x for r in engine.rules.values() for x in (r.when, *(b.guard for b in r.branches)) if x is not None]:
            got = self._closed(table.get(fn.__name__), defs, every)
            if got is not None:
                self.closure[fn] = got

    @staticmethod
    def _closed(direct, defs: dict, every: set) -> frozenset | None:
        """The definitions read through `direct` (a READS entry), at any depth; None when the
        entry, or that of a definition it reads, is missing."""
        if direct is None:
            return None
        got = set()
        for x in direct:
            if x in defs:
                got.add(x)
                got |= defs[x]
            elif x in every:  # a definition without its closure
                return None
        return frozenset(got)  # the other names: inputs and parameters

    def get(self, key, make):
        got = self.kept.get(key)
        if got is None:
            if len(self.kept) >= self.LIMIT:
                self.kept.clear()
            got = self.kept[key] = make()
        return got

    def plan(self, names: tuple, fns) -> tuple:
        """(name, fn, plain variant to try, picker of its filled inputs, memo key) per definition
        that `fns` read and that reads one of `names`, in dependency order."""
        needed: set | None = set()
        for f in fns:
            got = self.closure.get(f)
            if got is None:
                needed = None
                break
            needed |= got
        return tuple((name, fn, opt, *_rel(names, "d", name, reads)) for name, fn, _plain, reads, opt
                     in self.engine.defs if (needed is None or name in needed) and not reads.isdisjoint(names))

    def tests(self, names: tuple) -> tuple:
        """(test, plain variant to try, picker of its filled inputs, memo key, plan) per consistency
        check that reads one of `names`."""
        engine = self.engine
        return tuple((c.test, opt, *_rel(names, "t", i, reads), self.plan(names, (c.test,)))
                     for i, (c, (_test, _plain, reads, opt)) in enumerate(zip(engine.constraints, engine.tests))
                     if not reads.isdisjoint(names))


class _Filled:
    """The consistent completions of one set of a case's missing inputs, made as they are asked
    for and kept: every condition of the run that waits for the same inputs reads the same ones.

    A completion is kept as the values of the filled inputs only.  A definition's value depends
    only on the filled inputs it reads (the rest of the case is the same in every completion of
    the run), so it is computed once per such values and kept in `memo` (one run's, shared by
    every _Filled of the run), as is each consistency check's; a condition sets only the
    definitions it reads (its plan, hgl.runtime.completion._Plans) before it is evaluated.  The
    case broke no consistency check, or it would not be here.
    """

    __slots__ = ("names", "rows", "trial", "ptrial", "_order", "_next", "_memo", "_tests", "_plans")

    def __init__(self, engine, env, names, domains, plans, memo, pbase):
        self.names = names
        self._plans = plans
        self._memo = memo
        self._tests = plans.get(("t", names), lambda: plans.tests(names))
        self.rows: list[tuple] = []
        self.trial = dict(env)  # one copy: each completion overwrites the filled inputs and the definitions read
        # the same completion as plain code sees it (missing values ABSENT; None: the shortcuts are off)
        self.ptrial = pbase.copy() if pbase is not None else None
        self._order = plans.get(("o", names), lambda: _Order(domains))
        self._next = 0  # the next completion of the order to try

    def plan(self, when, guard) -> tuple:
        """The definitions the conditions read that read a filled input, in dependency order."""
        names, plans = self.names, self._plans
        key = ("p", names, when, guard)
        got = plans.kept.get(key)
        if got is None:
            got = plans.get(key, lambda: plans.plan(names, [f for f in (when, guard) if f is not None]))
        return got

    def _set(self, values, plan) -> None:
        trial, ptrial, memo = self.trial, self.ptrial, self._memo
        for name, fn, opt, pick, mkey in plan:
            k = (mkey, pick(values))
            got = memo.get(k)
            if got is None:
                if ptrial is None:
                    got = memo[k] = (fn(trial), None)
                else:
                    x = _value(opt, fn, ptrial, trial)
                    got = memo[k] = (x, ABSENT if type(x) is Unknown else x)
            trial[name] = got[0]
            if ptrial is not None:
                ptrial[name] = got[1]

    def load(self, i: int, plan=()) -> bool:
        """Put completion `i` into trial/ptrial, with the definitions of `plan`; False when there
        are fewer consistent ones."""
        rows, trial, ptrial, names = self.rows, self.trial, self.ptrial, self.names
        if i < len(rows):
            values = rows[i]
            trial.update(zip(names, values))
            if ptrial is not None:
                ptrial.update(zip(names, values))
            if plan:
                self._set(values, plan)
            return True
        memo, order = self._memo, self._order
        while self._next < order.total:
            values = order.at(self._next)
            self._next += 1
            trial.update(zip(names, values))
            if ptrial is not None:
                ptrial.update(zip(names, values))
            broken = False
            for test, opt, pick, mkey, tplan in self._tests:
                k = (mkey, pick(values))
                v = memo.get(k)
                if v is None:
                    self._set(values, tplan)
                    if ptrial is None:
                        v = memo[k] = test(trial, None) is True
                    else:
                        v = memo[k] = plain_first(opt, test, ptrial, trial) is True
                if v:
                    broken = True
                    break
            if broken:
                continue
            rows.append(values)
            if plan:
                self._set(values, plan)
            return True
        return False


class _Recomputed:
    """The reference search (Engine.dependency_plans off): each completion recomputes every
    definition and consistency check that reads a filled input, in the order of the product.

    A completion is kept as the values of `keys` (the filled inputs, then those definitions),
    three-valued and as plain code sees them (missing: ABSENT).
    """

    __slots__ = ("keys", "rows", "trial", "ptrial", "_values", "_defs", "_tests")

    def __init__(self, engine, env, names, domains):
        filled = frozenset(names)
        self._defs = [(name, fn, opt) for name, fn, _plain, reads, opt in engine.defs if not filled.isdisjoint(reads)]
        self._tests = [(c.test, opt) for c, (_test, _plain, reads, opt) in zip(engine.constraints, engine.tests)
                       if not filled.isdisjoint(reads)]
        self.keys = names + tuple(name for name, _fn, _opt in self._defs)
        self.rows: list[tuple] = []
        self.trial = dict(env)  # one copy: each completion overwrites `keys`
        self.ptrial = ({k: ABSENT if type(v) is Unknown else v for k, v in env.items()}
                       if engine.shortcuts else None)
        self._values = product(*domains)

    def plan(self, when, guard) -> tuple:
        return ()

    def load(self, i: int, plan=()) -> bool:
        """Put completion `i` into trial/ptrial; False when there are fewer consistent ones."""
        rows, trial, ptrial = self.rows, self.trial, self.ptrial
        if i < len(rows):
            row, prow = rows[i]
            trial.update(zip(self.keys, row))
            if ptrial is not None:
                ptrial.update(zip(self.keys, prow))
            return True
        n = len(self.keys) - len(self._defs)
        names = self.keys[:n]
        for values in self._values:
            trial.update(zip(names, values))
            if ptrial is None:
                for name, fn, _opt in self._defs:
                    trial[name] = fn(trial)
                if any(test(trial, None) is True for test, _opt in self._tests):
                    continue
                rows.append((tuple(trial[k] for k in self.keys), None))
            else:
                ptrial.update(zip(names, values))
                for name, fn, opt in self._defs:
                    x = _value(opt, fn, ptrial, trial)
                    trial[name] = x
                    ptrial[name] = ABSENT if type(x) is Unknown else x
                if any(plain_first(opt, test, ptrial, trial) is True for test, opt in self._tests):
                    continue
                rows.append((tuple(trial[k] for k in self.keys), tuple(ptrial[k] for k in self.keys)))
            return True
        return False


def _rel(names, kind, name, reads) -> tuple:
    """(a function picking the values of the filled inputs a definition or check reads from the
    values of `names`, its memo key).  It reads at least one of them."""
    rel = tuple(i for i, x in enumerate(names) if x in reads)
    return itemgetter(*rel), (kind, name, tuple(names[i] for i in rel))


class _Order:
    """Every combination of `domains` once, in an order that changes every input early (a stride
    through the product, coprime with its size), so that a condition true in some completions and
    false in others shows both soon (the search stops there; what it answers does not depend on
    the order).  The k-th is made when first asked for and kept: a search rarely goes far, and
    the order of a set of inputs serves every run (threads included: `at` is a pure function)."""

    __slots__ = ("domains", "total", "stride", "made")

    def __init__(self, domains):
        self.domains = tuple(domains)
        total = 1
        for d in domains:
            total *= len(d)
        stride = max(1, int(total * 0.618))
        while gcd(stride, total) != 1:
            stride -= 1
        self.total, self.stride, self.made = total, stride, {}

    def at(self, k: int) -> tuple:
        got = self.made.get(k)
        if got is None:
            i = k * self.stride % self.total
            values = []
            for d in self.domains:
                i, j = divmod(i, len(d))
                values.append(d[j])
            got = self.made[k] = tuple(values)
        return got


def _value(opt, fn, penv, env):
    """A definition's value: its plain variant when it reads no missing value, else three-valued."""
    if opt is not None:
        try:
            v = opt(penv)
        except Touched:
            return fn(env)
        if v is not ABSENT:
            return v
    return fn(env)


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
