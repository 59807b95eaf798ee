"""The consistent-completion search of the engine: conditions and cases decided over every
completion of a case's missing yes/no, enum and small-integer inputs (design page, "Bounded
unknowns, completions and cases").

`Completions` is a part of hgl.runtime.engine.Engine (its base class), kept here so that the
combination steps and this search each read in one place.
"""

from __future__ import annotations

from itertools import product

from .logic import ABSENT, Touched, Unknown, plain_first


class Completions:
    """Engine methods: _settle (phase-1 conditions true in every completion), _truths, _by_cases."""

    # Completions tried when deciding a case by cases; past this it stays undecided.
    MAX_CASES = 16

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
        for values in product(*domains):
            trial = {k: v for k, v in env.items() if not k.startswith("__")}
            for name, *_ in self.defs:
                trial.pop(name, None)
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
        `cache` (one run's `truths`) shares the completions of a set of inputs between conditions.
        """
        if key[0] not in ("r", "b"):
            return True, False
        rule = self.rules[key[1]]
        if rule.phase != 1:
            return True, False
        names = tuple(sorted(x for x in unknown.inputs if self.finite_domains.get(x) is not None))
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
            filled = _Filled(self, env, names, domains)
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
        i = 0
        while filled.load(i):
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


class _Filled:
    """The consistent completions of one set of a case's missing inputs, made as they are asked
    for and kept: every condition of the run that waits for the same inputs reads the same ones.

    Only what reads a filled input changes between completions (the definitions and consistency
    checks that read one); the rest keeps the case's values, and the case broke no consistency
    check, or it would not be here.  A completion is kept as the values of `keys` (the filled
    inputs, then those definitions), three-valued and as plain code sees them (missing: ABSENT).
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
        # the same completion as plain code sees it (missing values ABSENT; None: the shortcuts are off)
        self.ptrial = ({k: ABSENT if type(v) is Unknown else v for k, v in env.items()}
                       if engine.shortcuts else None)
        self._values = product(*domains)

    def load(self, i: int) -> bool:
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
