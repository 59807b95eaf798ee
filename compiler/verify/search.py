"""Verification stage, search: a compiled guideline (CompileResult) -> findings with witness cases.

Every valid case is searched with z3 (compiler/verify/encode.py, combine.py) for gaps, conflicts,
dead rules and unreachable requests.  Each finding carries a witness case and is reported only
when the real runtime, run on that witness, reproduces it (see site/pages/verification.md for
what is encoded and what is not).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import z3

from hgl.compiler.check import program as p
from hgl.compiler.front.diagnostics import Diagnostic
from hgl.compiler.verify import phases, regions
from hgl.compiler.verify.encode import _and, _not, _or
from hgl.compiler.verify.replay import ABSENT, Runner, describe_differences, differences, minimise
from hgl.compiler.verify.searchspace import Search, reference_case  # noqa: F401  (Search: re-exported)
from hgl.runtime.logic import truth

GAP_CAP = 20  # distinct gap regions reported before stopping


@dataclass
class Report:
    """Everything one verification run found, with figures for the docs."""

    diagnostics: list = field(default_factory=list)
    seconds: float = 0.0
    queries: int = 0
    gaps_capped: bool = False
    unconfirmed: list = field(default_factory=list)  # (kind, rule, witness): encoder and runtime disagree

    def to_dict(self) -> dict:
        """A JSON-able summary, e.g. for the documentation site."""
        counts: dict[str, int] = {}
        for d in self.diagnostics:
            counts[d.code] = counts.get(d.code, 0) + 1
        return {"seconds": round(self.seconds, 3), "queries": self.queries, "gaps_capped": self.gaps_capped,
                "counts": counts, "unconfirmed": len(self.unconfirmed),
                "findings": [{"code": d.code, "line": d.span.line, "column": d.span.column,
                              "message": d.message, "hint": d.hint, "data": d.data} for d in self.diagnostics]}


def verify(result) -> list[Diagnostic]:
    """The verification findings of a compiled guideline (a CompileResult with code)."""
    return verify_report(result).diagnostics


def verify_report(result, gap_cap: int = GAP_CAP, gap_kind: str = "silent", jobs: int | None = None,
                  progress: bool = False) -> Report:
    """Run every check; returns the findings and the figures of the run.

    gap_kind: "silent" (SPEC.md 3: no option of any role and no flag) or "no_preferred".
    jobs: worker processes for the phases (compiler/verify/phases.py); the findings are the same
    for any number.  progress: report progress on stderr.
    """
    if result.program is None or result.code is None:
        raise ValueError("verify needs a compiled guideline (compile_source without errors)")
    start = time.perf_counter()
    v = _Verifier(result, gap_cap, gap_kind, phases.Progress(progress))
    v.run(jobs)
    v.report.seconds = time.perf_counter() - start
    v.report.diagnostics.sort(key=Diagnostic.sort_key)
    return v.report


class _Verifier:
    def __init__(self, result, gap_cap, gap_kind, progress=None):
        self.progress = progress or phases.Progress(False)
        self.result = result
        self.gap_kind = gap_kind
        self.program = result.program
        self.report = Report()
        self.gap_cap = gap_cap
        self.two = Search(self.program, False)
        self.three = Search(self.program, True)
        self.runner = Runner(result.code, result.source.sha256)
        self.rules = {x.name: x for x in self.two.enc.rules}
        self.queries = 0
        self.order, self.reference = reference_case(result, self.two.space)
        # what replayed witnesses have shown so far (see _dead_rules)
        self.seen_firing: set[str] = set()
        self.seen_reaching: set[str] = set()
        self.guarded = {(x.name, i) for x in self.two.enc.rules for i, b in enumerate(x.branches) if b.guards}
        self.guarded_rules = {name for name, _ in self.guarded}

    def _simplify(self, case, params, reproduces, rules=(), inputs=(), passes=3):
        """The confirmed witness, simplified towards the reference case while the finding reproduces;
        the finding is about `rules` (and `inputs`): what they read is minimised input by input
        (`passes` times at most; 0: only the one-step reset of the other inputs)."""
        focus = set(inputs)
        for r in rules:
            focus |= self.program.rules_by_name[r].reads
        return minimise(case, params, self.order, self.reference, reproduces, passes=passes, focus=focus)

    def run(self, jobs: int | None = None):
        report = Report()
        for diags, unconfirmed, queries, capped in phases.run(self, jobs):  # in phase order
            report.diagnostics.extend(diags)
            report.unconfirmed.extend(unconfirmed)
            report.queries += queries
            report.gaps_capped = report.gaps_capped or capped
        self.report = report

    def phase(self, name: str):
        """Run one phase (phases.PHASES) on fresh solvers: (diagnostics, unconfirmed, queries, capped)."""
        self.two.fresh()
        self.three.fresh()
        self.report, self.queries = Report(), 0
        getattr(self, name)()
        return self.report.diagnostics, self.report.unconfirmed, self.queries, self.report.gaps_capped

    def _gap_phase(self):
        self._gaps()
        if self.gap_kind == "silent":  # no-preferred regions against the acknowledged ones (HGL508)
            regions.search(self)

    def _find(self, search: Search, *conds, consistent=True):
        self.queries += 1
        return search.find(*conds, consistent=consistent)

    def _find_nice(self, search: Search, conds, wishes):
        """A model of conds that also meets as many leading wishes as possible (clearer witnesses)."""
        for k in range(len(wishes), -1, -1):
            zm = self._find(search, *conds, *wishes[:k])
            if zm is not None or k == 0:
                return zm
        return None  # pragma: no cover

    def _add(self, code, message, span, case, params, hint=None, notes=(), **extra):
        data = {"witness": case, "params": params}
        data.update(extra)
        if case is not None:  # the text output shows the case too, ready for `hgl run --case`
            diffs = differences(case, params or {}, self.order, self.reference)
            data["differs"] = {k: v for k, v in diffs.items() if v is not ABSENT}
            # what makes the witness special first: the full case is long for a real guideline
            shown = (f"witness differs from the reference case in: {describe_differences(diffs)}",) if diffs else ()
            notes = shown + (f"witness case: {json.dumps(case, sort_keys=True, ensure_ascii=False)}",) + tuple(notes)
            if params:
                notes += (f"witness parameters: {json.dumps(params, sort_keys=True, ensure_ascii=False)}",)
        self.report.diagnostics.append(Diagnostic(code, message, span, hint, tuple(notes), data))

    # ------------------------------------------------------------------ dead rules (503, 504, 505)
    def _dead_rules(self):
        """503/505 (never fires, a branch never taken) and 504 (always overridden), rule by rule.

        Pruned (issue 13): every witness is replayed once, and what the runtime shows in it counts
        for every rule, not only the one searched for: a rule seen firing, a branch seen taken, a
        rule whose option is seen reaching the result needs no query of its own.  These are
        proofs by a real case, the same the findings are confirmed by.
        """
        three_rules = {r.name: r for r in self.three.enc.rules}
        for done, (name, x) in enumerate(self.rules.items()):
            self.progress.step("_dead_rules", done, len(self.rules))
            missing_branch = _reads_missing(x.rule.when) or _has_request(x.branches)
            search = self.three if missing_branch else self.two
            x3 = three_rules[name] if missing_branch else x
            if name not in self.seen_firing:
                zm = self._find(search, search.enc.fired[name])
                if zm is None:
                    self._report_dead(search, x3, missing_branch)
                    continue
                case, params = search.witness(zm)
                raw = self.runner.raw(case, params, refine=not search.space.three)
                if not self.runner.fires_in(raw, name):
                    self.report.unconfirmed.append(("fires", name, case))
                    continue
                self._seen(raw)
            self._dead_branches(search, x3)
            if not missing_branch:
                self._overridden(x3)
        self.progress.step("_dead_rules", len(self.rules), len(self.rules))

    def _seen(self, raw):
        """Record the rules that fire, the guarded branches taken and the rules whose options reach the
        result in one replayed witness."""
        engine = self.runner.guideline.engine
        f = raw["firing"]
        if f is None:
            return
        reached = {r for rules in f.proposed_by.values() for r in rules}
        self.seen_reaching |= reached
        for name in self.rules:
            if name in self.seen_firing and name not in self.guarded_rules:
                continue
            if not self.runner.fires_in(raw, name):
                continue
            self.seen_firing.add(name)
            for i, b in enumerate(engine.rules[name].branches):
                if (name, i) in self.guarded and b.guard is not None and \
                        truth(b.guard(raw["env"], f.proposal)) == "true":
                    self.guarded.discard((name, i))
            if not any(k[0] == name for k in self.guarded):
                self.guarded_rules.discard(name)

    def _report_dead(self, search, x, missing_branch):
        code = "HGL505" if missing_branch else "HGL503"
        what = "this missing-data rule can never fire" if missing_branch else "this rule can never fire"
        zm = self._find(search, search.enc.fired[x.name], consistent=False)
        if zm is None:
            self._add(code, f"{what}: its condition contradicts itself or the input ranges",
                      x.rule.name_span, None, None,
                      hint="no case, valid or not, satisfies the condition")
            return
        case, params = search.witness(zm)
        res = self.runner.evaluate(case, params)
        if res.status != "inconsistent_data":
            self.report.unconfirmed.append(("dead", x.name, case))
            return
        violated = [v["constraint"] for v in res.violated]
        checks = {c.name: c.inputs for c in self.program.constraints}
        case, params = self._simplify(case, params, lambda c, p: [
            v["constraint"] for v in self.runner.evaluate(c, p).violated] == violated,
            rules=[x.name], inputs=[i for v in violated for i in checks.get(v, ())])
        res = self.runner.evaluate(case, params)
        violated = ", ".join(v["constraint"] for v in res.violated)
        self._add(code, f"{what}: it holds only for cases the data checks reject ({violated})",
                  x.rule.name_span, case, params,
                  hint="the witness satisfies the condition but is rejected as inconsistent_data",
                  violated=[v["constraint"] for v in res.violated])

    def _dead_branches(self, search, x):
        for i, b in enumerate(x.branches):
            if not b.guards or (x.name, i) not in self.guarded:  # no guard, or seen taken
                continue
            if self._find(search, search.enc.branch_fired[(x.name, i)]) is not None:
                continue
            missing = _has_request([b]) or any(_reads_missing(g) for g in b.guards)
            code = "HGL505" if missing else "HGL503"
            zm = self._find(search, search.enc.fired[x.name])
            case, params = search.witness(zm)
            if not self.runner.rule_fires(case, params, x.name):
                self.report.unconfirmed.append(("branch", x.name, case))
                continue
            case, params = self._simplify(case, params, lambda c, p: self.runner.rule_fires(c, p, x.name),
                                          rules=[x.name])
            span = _outcome_span(b.outcomes) or x.rule.name_span
            self._add(code, f"this branch of rule '{x.name}' is never taken when the rule fires",
                      span, case, params, hint="the witness is one case where the rule fires without it",
                      branch=i)

    def _overridden(self, x):
        """504: the rule fires, but whenever it does none of its outcomes reaches the result."""
        enc = self.two.enc
        if x.name in self.seen_reaching or _always_effective(x):
            return  # an option of it seen reaching the result, or a flag or request that always does
        if self._find(self.two, enc.fired[x.name], enc.effect(x)) is not None:
            return
        zm = self._find(self.two, enc.fired[x.name])
        case, params = self.two.witness(zm)
        own = {o.options[0] for b in x.branches for o in b.outcomes if isinstance(o, p.Propose)}

        def reproduces(c, p):
            raw = self.runner.raw(c, p)
            return self.runner.fires_in(raw, x.name) and \
                not any(x.name in raw["firing"].proposed_by.get(opt, ()) for opt in own)

        if not reproduces(case, params):
            self.report.unconfirmed.append(("overridden", x.name, case))
            return
        case, params = self._simplify(case, params, reproduces, rules=[x.name])
        self._add("HGL504", f"rule '{x.name}' fires, but every outcome of it is always overridden",
                  x.rule.name_span, case, params,
                  hint="another section governs, or its options are dropped, whenever it fires")

    # ------------------------------------------------------------------ conflicts (502)
    def _conflicts(self):
        enc = self.two.enc
        P = enc.P
        by_rule: dict[str, list] = {}
        avoided = [(opt, hits) for (action, opt), hits in enc.hit_by.items() if action == "avoid"]
        for done, (opt, hits) in enumerate(avoided):
            self.progress.step("_conflicts", done, len(avoided))
            for rule, cond in hits:
                others = _or([c for r, _, c in enc.contrib.get((opt, "preferred"), []) if r != rule])
                if z3.is_false(others):
                    continue
                reused = self._conflict_seen(by_rule.get(rule, ()), rule, opt)
                if reused is not None:  # an earlier witness of this rule shows this option's conflict too
                    by_rule[rule].append((opt, *reused))
                    continue
                alone = _not(_or([c for r, c in hits if r != rule]))
                zm = self._find_nice(self.two, [P.preferred(opt), others, cond, enc.final[opt]["avoid"]],
                                     [alone, _not(enc.any_request)])
                if zm is None:
                    continue
                case, params = self.two.witness(zm)
                preferring = self._conflict(case, params, rule, opt)
                if preferring is None:
                    self.report.unconfirmed.append(("conflict", rule, case))
                    continue
                case, params = self._simplify(
                    case, params, lambda c, p: self._conflict(c, p, rule, opt) == preferring,
                    rules=[rule, *preferring])
                by_rule.setdefault(rule, []).append((opt, case, params, preferring))
        self.progress.step("_conflicts", len(avoided), len(avoided))
        for rule, found in by_rule.items():
            opt, case, params, preferring = found[0]
            names = ", ".join(o for o, *_ in found)
            self._add("HGL502", f"rule '{rule}' avoids options other rules prefer for the same case: {names}",
                      self.rules[rule].rule.name_span, case, params,
                      hint=f"in the witness '{opt}' is preferred by {', '.join(preferring)} and avoided here; "
                           "the runtime shows it as avoid",
                      options=[o for o, *_ in found],
                      witnesses={o: {"witness": c, "params": p} for o, c, p, _ in found})

    def _conflict_seen(self, found, rule, opt):
        """(case, params, preferring) of the first witness already found for the rule that shows the
        conflict on opt as well, else None: one replay instead of a query and a minimisation."""
        for _o, case, params, _p in found:
            preferring = self._conflict(case, params, rule, opt)
            if preferring is not None:
                return case, params, preferring
        return None

    def _conflict(self, case, params, rule, opt):
        """The rules preferring opt when the runtime shows the conflict for the witness, else None."""
        raw = self.runner.raw(case, params)
        f = raw["firing"]
        if f is None or f.proposal.roles.get(opt) != "preferred" or f.roles.get(opt) != "avoid" \
                or not self.runner.fires_in(raw, rule):
            return None
        return list(f.proposed_by[opt])

    # ------------------------------------------------------------------ exclusive sections (506)
    def _exclusive(self):
        """506: in a section declared `exclusive`, two options its rules prefer are both preferred.

        One search per pair of the section's rules (a rule paired with itself too: `prefer a, b`
        breaks the declaration as well); an option counts when the rule proposes it as preferred,
        the proposal keeps it (governing, `withhold`) and it is still preferred in the result.
        Only options of one kind collide: a local treatment (`srs`) preferred alongside a
        systemic regimen is given with it, not instead of it.
        """
        enc = self.two.enc
        for s in self.program.sections:
            if not s.exclusive:
                continue
            prefs: dict[str, dict] = {}  # rule -> {option: condition}, in source order
            for r in s.rules:
                for (opt, role), hits in enc.contrib.items():
                    if role == "preferred":
                        cond = _or([c for rule, _, c in hits if rule == r.name])
                        if not z3.is_false(cond):
                            prefs.setdefault(r.name, {})[opt] = cond
            rules = list(prefs)
            for i, r1 in enumerate(rules):
                for r2 in rules[i:]:
                    self._exclusive_pair(s, r1, r2, prefs)

    def _exclusive_pair(self, section, r1, r2, prefs):
        enc = self.two.enc
        pairs = [(o1, o2, _and([c1, c2, enc.final[o1]["preferred"], enc.final[o2]["preferred"]]))
                 for o1, c1 in prefs[r1].items() for o2, c2 in prefs[r2].items()
                 if o1 != o2 and (r1 != r2 or o1 < o2) and enc.options[o1].kind == enc.options[o2].kind]
        if not pairs:
            return
        # clearer witnesses: no data request, and the section's other rules silent
        others = _and([_not(enc.fired[r.name]) for r in section.rules if r.name not in (r1, r2)])
        zm = self._find_nice(self.two, [_or([c for *_, c in pairs])], [_not(enc.any_request), others])
        if zm is None:
            return
        o1, o2, _ = next(q for q in pairs if z3.is_true(zm.eval(q[2], model_completion=True)))
        case, params = self.two.witness(zm)

        def reproduces(c, p):
            return {o1, o2} <= set(self.runner.evaluate(c, p).preferred) and \
                self.runner.prefers(c, p, r1, o1) and self.runner.prefers(c, p, r2, o2)

        if not reproduces(case, params):
            self.report.unconfirmed.append(("exclusive", r2, case))
            return
        case, params = self._simplify(case, params, reproduces, rules=[r1, r2])
        name = section.name
        who = f"rule '{r1}' of exclusive section '{name}' prefers" if r1 == r2 else \
            f"rules '{r1}' and '{r2}' of exclusive section '{name}' prefer"
        self._add("HGL506", f"{who} two options for the same case: {o1}, {o2}",
                  self.rules[r2].rule.name_span, case, params,
                  hint=f"in the witness '{o1}' ({r1}) and '{o2}' ({r2}) are both preferred; make the conditions "
                       f"exclusive, or remove 'exclusive' from section '{name}'",
                  section=name, rules=[r1, r2], options=[o1, o2])

    # ------------------------------------------------------------------ gaps (501)
    def _gaps(self):
        """501: consistent cases with a silent result, one witness per kind of patient.

        `silent` (SPEC.md 3): no option of any role, no flag, no request.  `no_preferred`
        (the stricter reading of issue 6): no preferred option, no flag, no request.
        A kind is the set of option- or flag-producing rules that fire (`silent`) or that
        reach the result (`no_preferred`); each found kind is blocked and the search repeats.
        """
        enc = self.two.enc
        nothing = enc.any_option if self.gap_kind == "silent" else enc.any_preferred
        silent = [_not(enc.any_request), _not(nothing), _not(enc.any_flag)]
        producing = [x for x in enc.rules if enc.produces(x)]
        names = [x.name for x in producing]
        marks = [enc.fired[x.name] if self.gap_kind == "silent" else enc.effect(x) for x in producing]
        blocks = []
        found = 0
        while True:
            zm = self._find(self.two, *silent, *blocks)
            if zm is None:
                return
            pattern = [z3.is_true(zm.eval(c, model_completion=True)) for c in marks]
            blocks.append(_not(_and([c if on else _not(c) for on, c in zip(pattern, marks)])))
            case, params = self.two.witness(zm)
            firing = [x.name for x, on in zip(producing, pattern) if on]
            responsible = self._gap_rules(case, params, names)
            if responsible is None:
                self.report.unconfirmed.append(("gap", None, case))
                continue
            case, params = self._simplify(case, params,
                                          lambda c, p: self._gap_rules(c, p, names) == responsible,
                                          rules=sorted(responsible))
            res = self.runner.evaluate(case, params)
            found += 1
            if found > self.gap_cap:
                self.report.gaps_capped = True
                self.report.diagnostics[-1] = _with_note(
                    self.report.diagnostics[-1], f"more gap regions exist: the search stopped after {self.gap_cap}")
                return
            span = self.rules[firing[0]].rule.name_span if firing else self.program.meta.span
            shown = [f"{o['id']} ({o['role']})" for o in res.options]
            what = "no option, no flag and no request" if self.gap_kind == "silent" else \
                "no preferred option, no flag and no request"
            self._add("HGL501", f"gap: a valid case gets {what}"
                      + (f" (rules: {', '.join(firing)})" if firing else " (no rule applies)"),
                      span, case, params,
                      hint="result: " + (", ".join(shown) if shown else "no option at all"),
                      rules=firing)

    def _gap_rules(self, case, params, names):
        """The rules behind a gap the runtime reproduces (fired, or reaching the result), else None."""
        res = self.runner.evaluate(case, params)
        if res.status != "recommendation" or res.flags or (res.options if self.gap_kind == "silent"
                                                           else res.preferred):
            return None
        if self.gap_kind == "silent":
            return self.runner.fired(case, params, names)
        return {o["rule"] for o in res.options}


def _with_note(d: Diagnostic, note: str) -> Diagnostic:
    return Diagnostic(d.code, d.message, d.span, d.hint, d.notes + (note,), d.data)


def _reads_missing(e) -> bool:
    """Whether an expression contains `is missing` / `is not missing`."""
    return e is not None and any(isinstance(x, p.IsMissing) for x in p.walk(e))


def _always_effective(x) -> bool:
    """Whether the rule has an unguarded outcome that is neither an option nor a restriction (a flag,
    a request, a withhold): it reaches the result whenever the rule fires (Encoder.effect)."""
    return any(not b.guards and any(not isinstance(o, (p.Propose, p.Restrict)) for o in b.outcomes)
               for b in x.branches)


def _has_request(branches) -> bool:
    return any(isinstance(o, p.Request) for b in branches for o in b.outcomes)


def _outcome_span(outs):
    return outs[0].span if outs else None


__all__ = ["Report", "Search", "reference_case", "verify", "verify_report"]
