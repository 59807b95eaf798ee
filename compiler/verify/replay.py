"""Verification stage, confirmation: a compiled module and witness cases -> the real runtime's results for them.

Runs witnesses exactly as `hgl run` would (hgl.runtime); also simplifies a witness towards a
reference case, keeping each change the runtime still reproduces (`minimise`).
"""

from __future__ import annotations


from hgl.runtime.api import Guideline, load_module_source
from hgl.runtime.logic import truth
from hgl.runtime.schema import CaseError, validate_case, validate_params

NEAR = 8  # a case differing from the last one replayed in at most this many inputs is validated input by input


class Runner:
    """The compiled guideline loaded once; evaluates witnesses exactly as `hgl run` would."""

    def __init__(self, code: str, sha256: str):
        self.guideline = Guideline(load_module_source(code, f"hgl_verify_{sha256[:12]}"))
        self.specs = {s.name: s for s in self.guideline.inputs}
        self._last = None  # (case, validated case) of the last replay (raw)

    def validate(self, case: dict) -> dict:
        """The validated case, as the guideline's validator gives it (`hgl run`).

        Minimising a witness replays cases that differ from the one before in an input or two:
        validation is input by input (`validate_case` reads each input alone), so such a case is
        the last one's validated case with those inputs validated again, by `validate_case` itself
        (issue 13: validating the whole case was a third of a replay on a large guideline).
        Anything else, and anything that does not validate, goes the whole way.  (A value is
        compared by identity: the verifier never changes a case in place once it is replayed.)"""
        last = self._last
        if last is not None and type(case) is dict:
            before, env = last
            changed = [k for k in before.keys() | case.keys() if case.get(k, _NONE) is not before.get(k, _NONE)]
            if len(changed) <= NEAR and all(k in self.specs for k in changed):
                try:
                    env = dict(env)
                    for k in sorted(changed):  # (any order gives the same: every input has its place in env)
                        one = {k: case[k]} if k in case else {}
                        env[k] = validate_case((self.specs[k],), one)[k]
                except (CaseError, TypeError, ValueError):
                    env = None
                if env is not None:
                    self._last = (dict(case), env)
                    return dict(env)
        env = self.guideline.validate(case)  # the guideline's own validator (validate_case's result)
        if type(case) is dict:
            self._last = (dict(case), dict(env))
        return env

    def evaluate(self, case: dict, params: dict):
        """The public Result of a witness."""
        return self.guideline.evaluate(case, params)

    def raw(self, case: dict, params: dict, refine: bool = True) -> dict:
        """The engine's raw result: the firing keeps the proposal before restrictions.

        refine=False: without deciding conditions over the completions of missing inputs, as
        the encoding does (Kleene logic and bounds only); a witness with missing inputs is
        confirmed that way, and far faster on a large guideline.  Only the firing and the env
        are read then: the relevance test of the missing inputs (`needs_data`'s list, most of
        the cost of a case with many missing inputs) is skipped, so `status` and `missing` do
        not tell.  The firing is the same (Engine.relevance)."""
        g = self.guideline
        env = self.validate(case)
        env.update(validate_params(g.parameters, params))
        if refine:
            return g.engine.run(env)
        engine = g.engine
        before = engine.refine, engine.relevance
        engine.refine = engine.relevance = False
        try:
            return engine.run(env)
        finally:
            engine.refine, engine.relevance = before

    def rule_fires(self, case: dict, params: dict, rule: str) -> bool:
        """Whether the rule's condition is true for the witness (phase-2 rules read the proposal)."""
        return self.fires_in(self.raw(case, params), rule)

    def fires_in(self, raw: dict, rule: str) -> bool:
        """Whether the rule's condition is true in an engine run already made (`raw`)."""
        if raw["firing"] is None:
            return False
        r = self.guideline.engine.rules[rule]
        if r.when is None:
            return True
        return truth(r.when(raw["env"], raw["firing"].proposal)) == "true"

    def fired(self, case: dict, params: dict, rules) -> set:
        """Which of the rules have a true condition for the witness (one engine run for all of them)."""
        raw = self.raw(case, params)
        if raw["firing"] is None:
            return set()
        out = set()
        for name in rules:
            r = self.guideline.engine.rules[name]
            if r.when is None or truth(r.when(raw["env"], raw["firing"].proposal)) == "true":
                out.add(name)
        return out

    def prefers(self, case: dict, params: dict, rule: str, option: str) -> bool:
        """Whether a (phase-1) rule proposes the option as preferred for the witness, and the proposal kept it."""
        raw = self.raw(case, params)
        f = raw["firing"]
        if f is None or rule not in f.proposed_by.get(option, ()):
            return False  # not fired, or its systemic options replaced by a governing section
        r = self.guideline.engine.rules[rule]
        return any(truth(b.guard(raw["env"], f.proposal)) == "true" if b.guard is not None else True
                   for b in r.branches
                   if any(o.kind == "propose" and o.option == option and o.role == "preferred" for o in b.outcomes))


# ---------------------------------------------------------------- witness minimisation
ABSENT = object()  # a reference "value" meaning: leave the input out, the runtime reads its default
_NONE = object()  # an input left out of a case (Runner.validate)


def minimise(case: dict, params: dict, order, reference: dict, reproduces, passes: int = 3, focus=None):
    """The witness simplified towards the reference case, keeping only replacements that still reproduce.

    focus: the inputs the finding is about (those its rules read), or None.  Every other input
    is first put back to the reference in one step, kept when the finding still reproduces; the
    greedy passes then only try the inputs left (issue 13: one replay per input of a large
    guideline, for every finding, made minimising grow as size³).  Parameters are never in
    that first step.

    order: (name, is_parameter) in declaration order; reference: name -> value (None = missing,
    ABSENT = the declared default); reproduces(case, params) -> bool is the finding's own
    confirmation through the runtime.  Greedy passes in declaration order, repeated while one
    changes something (a replacement refused early may be accepted once later inputs are back
    to the reference), at most `passes`: at most that many replays per input and parameter, and
    no time limit, so the witness never depends on how busy the machine is.
    """
    case, params = dict(case), dict(params)
    if focus is not None:
        trial = dict(case)
        for name, is_param in order:
            ref = reference.get(name, ABSENT)
            if is_param or name in focus or _same(trial.get(name, ABSENT), ref):
                continue
            if ref is ABSENT:
                del trial[name]
            else:
                trial[name] = ref
        if trial != case:
            try:
                ok = reproduces(trial, params)
            except (CaseError, TypeError):
                ok = False
            if ok:
                case = trial
    for _ in range(passes):
        changed = False
        for name, is_param in order:
            ref = reference.get(name, ABSENT)
            target = params if is_param else case
            if _same(target.get(name, ABSENT), ref):
                continue
            trial = dict(target)
            if ref is ABSENT:
                del trial[name]
            else:
                trial[name] = ref
            tc, tp = (case, trial) if is_param else (trial, params)
            try:
                ok = reproduces(tc, tp)
            except (CaseError, TypeError):  # a reference value this guideline rejects
                ok = False
            if ok:
                case, params = tc, tp
                changed = True
        if not changed:
            break
    return case, params


def differences(case: dict, params: dict, order, reference: dict) -> dict:
    """The inputs and parameters of a witness that differ from the reference case, in declaration order."""
    out = {}
    for name, is_param in order:
        value = (params if is_param else case).get(name, ABSENT)
        if not _same(value, reference.get(name, ABSENT)):
            out[name] = value
    return out


def describe_differences(diffs: dict) -> str:
    """`kps 50, lmd_status confirmed, sites [bone, liver], ecog missing` (or `nothing`)."""
    def show(v):
        if v is None:
            return "missing"
        if v is ABSENT:
            return "default"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(map(str, v)) + "]"
        return str(v)
    return ", ".join(f"{k} {show(v)}" for k, v in diffs.items()) or "nothing"


def _same(a, b) -> bool:
    if a is ABSENT or b is ABSENT:
        return a is b
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    return a == b and isinstance(a, bool) == isinstance(b, bool)
