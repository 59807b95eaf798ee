"""Results: the engine's firing for one case -> the result contract of SPEC.md 3.1, explained on demand.

A Result is cheap to make: the roles are known at once, and the explanation (`because`
with the patient's values, the receipt) is only assembled when `options`, `flags`,
`receipt` or `to_dict()` is first read, so a caller that only needs the decision does
not pay for the words.
"""

from __future__ import annotations

from datetime import date as _date

from .explain import renderer
from .logic import Unknown, truth

_RESTRICT_WORDS = {"demote": "not preferred", "avoid": "avoided"}
_ROLE_ACTION = {"alternative": "demote", "avoid": "avoid"}


def plain(value):
    """A value as JSON shows it: missing -> None, sets -> sorted lists."""
    if type(value) is Unknown:
        return None
    if type(value) is frozenset:
        return sorted(value)
    if type(value) is _date:
        return value.isoformat()
    return value


class Result:
    """One evaluated case; `to_dict()` gives the result contract of SPEC.md 3.1."""

    __slots__ = ("_g", "_env", "status", "firing", "missing", "inconsistent", "_violated",
                 "_options", "_flags", "_receipt", "trace", "why_not")

    def __init__(self, guideline, env, status, firing=None, missing=(), inconsistent=(), violated=()):
        self._g = guideline
        self._env = env
        self.status = status
        self.firing = firing
        self.missing = list(missing)
        self.inconsistent = list(inconsistent)
        self._violated = violated
        self._options = None
        self._flags = None
        self._receipt = None
        self.trace = None
        self.why_not = None

    # ------------------------------------------------------------------ the decision (cheap)
    @property
    def guideline(self) -> dict:
        return self._g.header

    @property
    def governing(self):
        return self.firing.governing if self.firing is not None else None

    @property
    def roles(self) -> dict:
        """{option: role}: the roles for an option strongest first (preferred, alternative…), then those
        against it (avoid…); within a role, in declaration order."""
        if self.firing is None:
            return {}
        roles = self.firing.roles
        if len(roles) < 2:
            return dict(roles)
        try:  # the same order, looked up: (role's display rank, option's place) per (option, role)
            return dict(sorted(roles.items(), key=self.words.role_key.__getitem__))
        except (KeyError, AttributeError):
            rank = self._g.option_rank
            role_rank = self._g.engine.display_rank
            return dict(sorted(roles.items(), key=lambda kv: (role_rank[kv[1]], rank[kv[0]])))

    def ids(self, role: str) -> list[str]:
        return [o for o, r in self.roles.items() if r == role]

    @property
    def preferred(self):
        return self.ids("preferred")

    @property
    def alternatives(self):
        return self.ids("alternative")

    @property
    def avoid(self):
        return self.ids("avoid")

    @property
    def flag_ids(self):
        if self.firing is None:
            return []
        flags = self.firing.flags
        if len(flags) < 2:
            return list(flags)
        return sorted(flags, key=self._g.flag_rank.__getitem__)

    @property
    def violated(self) -> list:
        return [{"constraint": c.id, "label": c.label, "inputs": list(c.inputs)} for c in self._violated]

    # ------------------------------------------------------------------ the explanation (on demand)
    @property
    def options(self) -> list:
        if self._options is None:
            self._options = self._option_entries()
        return self._options

    @property
    def flags(self) -> list:
        if self._flags is None:
            self._flags = self._flag_entries()
        return self._flags

    @property
    def receipt(self) -> dict:
        """Guideline id, version and source hash; the parameters used; the input as validated."""
        if self._receipt is None:
            g, env = self._g, self._env
            self._receipt = {"guideline": g.header, "hgl_version": g.module.HGL_VERSION,
                             "parameters": {n: plain(env[n]) for n in g.parameter_names},
                             "input": {n: plain(env[n]) for n in g.input_names}}
            if g.uses_today:  # the evaluation date the result depends on
                self._receipt["evaluation_date"] = plain(env.get("today"))
        return self._receipt

    def to_dict(self, receipt: bool = True) -> dict:
        """The result contract of SPEC.md 3.1 (plus governing, trace, why_not; the receipt unless told not)."""
        d = {
            "guideline": self.guideline,
            "status": self.status,
            "options": self.options,
            "flags": self.flags,
            "missing": self.missing,
            "inconsistent": self.inconsistent,
        }
        if self.missing and self.firing is not None and self.words is not None:
            d["missing_because"] = self.missing_because
        if self._violated:
            d["violated"] = self.violated
        d["governing"] = self.governing
        if receipt:
            d["receipt"] = self.receipt
        if self.trace is not None:
            d["trace"] = self.trace
        if self.why_not is not None:
            d["why_not"] = self.why_not
        return d

    @property
    def words(self):
        """The renderer of the module's explanation trees (None for a module built without them)."""
        return renderer(self._g.engine)

    def _because(self, rule_id: str, branch: int, words=False) -> list[str]:
        if words is False:
            words = self.words
        # only a phase-2 rule's conditions read the proposal (the checker sees to it), and a
        # firing may make its proposal only when asked: do not ask for phase-1 rules
        P = self.firing.proposal if self._g.engine.rules[rule_id].phase == 2 else None
        return words.because(rule_id, branch, self._env, P, getattr(self.firing, "completed", True))

    @property
    def missing_because(self) -> list:
        """For each missing input: the data request that asked for it, the rules it left undecided."""
        words = self.words
        if words is None or self.firing is None:
            return []
        return words.missing_all(self.missing, self) if self.missing else []

    def missing_rules(self) -> list:
        """`missing_because` without each rule's `conditions` in words (nothing rendered): for a
        caller that shows only which data request asked and which rules wait (CDS Hooks cards)."""
        words = self.words
        if words is None or self.firing is None:
            return []
        return words.missing_all(self.missing, self, words=False) if self.missing else []

    def _option_entries(self) -> list:
        if self.firing is None:
            return []
        g, env, firing = self._g, self._env, self.firing
        engine = g.engine
        words = self.words
        rules, options, proposes, by, proposers = engine.rules, engine.options, engine.proposes, firing.by, \
            firing.proposed_by
        out = []
        said: dict = {}  # (rule, branch) -> its `because`, rendered once for this result
        for oid, role in self.roles.items():
            rule_id, branch = key = by[oid]
            rule = rules[rule_id]
            opt = options[oid]
            because = said.get(key)
            if because is None:
                because = said[key] = self._because(rule_id, branch, words)
            because = list(because)  # each entry its own list (a restriction adds to it)
            proposed_by = proposers.get(oid, ())
            if oid not in proposes[key]:
                outcomes = rule.branches[branch].outcomes
                # the role comes from a restriction: say which, and who proposed the option
                action = _ROLE_ACTION.get(role)
                for j, o in enumerate(outcomes):
                    if o.kind == action:
                        what = words.selector(rule_id, branch, j, env, firing.proposal) if words else o.selector.text
                        because.append(f"{_RESTRICT_WORDS[o.kind]}: {what}")
                because += [f"proposed by the rule “{engine.rules[r].title}”" for r in proposed_by if r != rule_id]
            entry = {"id": oid, "kind": opt.kind, "role": role, "label": opt.label, "rule": rule_id,
                     "provenance": list(rule.provenance), "evidence": list(rule.evidence),
                     "because": because, "proposed_by": list(proposed_by), "strength": rule.strength}
            if opt.stands_for:
                entry["stands_for"] = plain(env.get(opt.stands_for))
                if words is not None and opt.stands_for in words.symbols:
                    entry["stands_for_label"] = words.value(opt.stands_for, env)
            out.append(entry)
        return out

    def _flag_entries(self) -> list:
        if self.firing is None:
            return []
        firing = self.firing
        engine = self._g.engine
        flags = firing.flags
        if not flags:
            return []
        words = self.words
        out = []
        for fid in self.flag_ids:
            rule_id, branch, requested, rules = self._flag_source(fid, words)
            out.append({"id": fid, "label": engine.m.FLAGS[fid].label, "rule": rule_id,
                        "provenance": list(engine.rules[rule_id].provenance),
                        "because": self._because(rule_id, branch, words),
                        "request": requested, "rules": rules})
        return out

    def _flag_source(self, fid: str, words) -> tuple:
        """(the rule and branch that raised flag `fid` first, whether that rule asks for data with it,
        every rule raising it, in order) — for the flags of a full and of a short record."""
        firing = self.firing
        raised = firing.flags[fid]
        rule_id, branch = raised[0]
        requested = any(fid in words.requested_flags(r, b) for r, b in firing.requests.values() if r == rule_id)
        return rule_id, branch, requested, list(dict.fromkeys([r for r, _ in raised])) if len(raised) > 1 else [rule_id]

    def add_trace(self) -> None:
        """Every rule with its truth value (and, when unknown, the missing inputs it waits for)."""
        out = []
        P = self.firing.proposal if self.firing is not None else None
        for r in self._g.engine.m.RULES:
            if r.phase == 2 and P is None:
                v = None
            else:
                v = r.when(self._env, P) if r.when is not None else True
            entry = {"rule": r.id, "section": r.section, "value": truth(v) if v is not None else "not evaluated"}
            if type(v) is Unknown:
                entry["unknown_because_missing"] = sorted(v.inputs)
            out.append(entry)
        self.trace = out

    def add_why_not(self, options) -> None:
        """For each named option: the rules that could propose it, what held and what failed."""
        self.why_not = {o: self.words.why_not(o, self) for o in options}
