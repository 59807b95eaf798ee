"""Verification stage, confirmation: run witness cases through the real runtime (hgl.runtime)."""

from __future__ import annotations

from hgl.runtime.api import Guideline, load_module_source
from hgl.runtime.logic import truth
from hgl.runtime.schema import validate_case, validate_params


class Runner:
    """The compiled guideline loaded once; evaluates witnesses exactly as `hgl run` would."""

    def __init__(self, code: str, sha256: str):
        self.guideline = Guideline(load_module_source(code, f"hgl_verify_{sha256[:12]}"))

    def evaluate(self, case: dict, params: dict):
        """The public Result of a witness."""
        return self.guideline.evaluate(case, params)

    def raw(self, case: dict, params: dict) -> dict:
        """The engine's raw result: the firing keeps the proposal before restrictions."""
        g = self.guideline
        env = validate_case(g.inputs, case)
        env.update(validate_params(g.parameters, params))
        return g.engine.run(env)

    def rule_fires(self, case: dict, params: dict, rule: str) -> bool:
        """Whether the rule's condition is true for the witness (phase-2 rules read the proposal)."""
        raw = self.raw(case, params)
        if raw["firing"] is None:
            return False
        r = self.guideline.engine.rules[rule]
        if r.when is None:
            return True
        return truth(r.when(raw["env"], raw["firing"].proposal)) == "true"

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
