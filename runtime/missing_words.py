"""The words of what a result lacks: why an option is not given (why-not) and what each missing
input leaves undecided (`missing_because`).  A part of hgl.runtime.explain's Renderer (its base
class), kept apart to keep that module small: the same phrases, rendered by the Renderer's
compiled functions (`_fact`, `_fact_words`).
"""

from __future__ import annotations

from .logic import ABSENT, Unknown, plain_first, truth


class MissingWords:
    """Why-not and missing-data words of a Renderer (hgl.runtime.explain)."""

    # ------------------------------------------------------------------ why not, missing data
    def why_not(self, option: str, result) -> list[dict]:
        """Each rule that could give `option`: the conditions that held, and those that failed, in words."""
        env, firing = result._env, result.firing
        P = firing.proposal if firing is not None else None
        out = []
        for r in self.module.RULES:
            for i, b in enumerate(r.branches):
                roles = [o.role for o in b.outcomes if o.kind == "propose" and o.option == option]
                if not roles:
                    continue
                held, failed = [], []
                for entry in self.entries(r.id, i):
                    v = entry.truth(env, P)
                    if v is True:
                        held.append(self._fact(entry, env, P, True))
                    else:
                        failed.append({"condition": self._fact(entry, env, P), "value": truth(v),
                                       "as_written": entry.written})
                item = {"rule": r.id, "title": r.title, "role": roles[0], "held": held, "failed": failed}
                if not failed:
                    item["note"] = self._not_given(option, r, result)
                out.append(item)
        return out

    def _not_given(self, option, rule, result) -> str:
        """Why an option whose rule's conditions all held is not (or not so) in the result."""
        firing = result.firing
        role = firing.roles.get(option) if firing is not None else None
        if role is not None:
            by = firing.by[option][0]
            return f"it is in the result as {role} (rule {by})"
        opt = self.options[option]
        gov = firing.governing if firing is not None else None
        engine = result._g.engine
        if opt.kind in engine.governed and gov is not None and not (rule.governs and rule.section == gov):
            title = next((s.title for s in self.module.SECTIONS if s.id == gov), gov)
            kind = getattr(self.module, "KINDS", {}).get(opt.kind)
            what = f"the choice of {kind[0].lower() + kind[1:]}" if kind else "this choice"
            return f"{what} is governed by section {title}, which does not propose it"
        return "a later rule dropped it, or the options were withheld"

    def missing(self, name: str, result) -> dict:
        """A missing input: the data request that asked for it, and the rules it left undecided.

        `changes_result` is true for a rule the engine found that, decided, would change the result;
        the engine tries only one such rule per group of inputs, so false means "not shown to",
        and those rules are still listed: they are left undecided all the same.
        """
        env, firing = result._env, result.firing
        decisive = getattr(firing, "decisive", {})  # a firing made elsewhere may not record it
        P = firing.proposal
        label = self.symbols[name][0] if name in self.symbols else name
        entry = {"input": name, "label": label, "requested_by": [], "undecided": []}
        req = firing.requests.get(name)
        if req is not None:
            entry["requested_by"].append({"rule": req[0], "title": self.rule_by_id[req[0]].title})
        for r in self.module.RULES:
            v = r.when(env, P) if r.when is not None else True
            keys = []
            if type(v) is Unknown and name in v.inputs:
                keys = list(self.rules[r.id][0])
            elif v is True:
                for i, b in enumerate(r.branches):
                    g = b.guard(env, P) if b.guard is not None else True
                    if type(g) is Unknown and name in g.inputs:
                        keys = list(self.rules[r.id][1][i][0])
                        break
            conditions = []
            for e in keys:
                t = e.truth(env, P)
                if type(t) is Unknown and name in t.inputs:
                    conditions.append(self._fact(e, env, P))
            if conditions:
                entry["undecided"].append({"rule": r.id, "title": r.title, "conditions": conditions,
                                           "changes_result": name in decisive.get(r.id, ())})
        # the rules shown to change the result first (sort is stable: guideline order within each)
        entry["undecided"].sort(key=lambda u: not u["changes_result"])
        return entry

    def _reads_of(self, rule):
        """The inputs a rule reads (through its definitions), or None when its module does not say."""
        try:
            return self._rule_reads[rule.id]
        except KeyError:
            reads = getattr(rule, "reads", None)
            reads = self._rule_reads[rule.id] = frozenset(reads) if reads is not None else None
            return reads

    def missing_all(self, names, result, words: bool = True) -> list[dict]:
        """[missing(name) for name in names], each rule's conditions evaluated once for all of them
        (a needs_data result: missing_because; tests/test_engine_shortcuts.py checks they agree).
        words=False: the same entries without each rule's `conditions` (nothing rendered)."""
        env, firing = result._env, result.firing
        decisive = getattr(firing, "decisive", {})  # a firing made elsewhere may not record it
        P = firing.proposal
        # per rule, in guideline order, its undecided conditions: the `when`, else each branch guard
        # left unknown, in order (a missing input is charged to the first one that waits for it)
        undecided = []
        unknowns = getattr(firing, "unknowns", None)
        if unknowns is not None:  # the engine kept them: the same values, not evaluated again
            by_rule: dict = {}
            for key, v in unknowns.items():
                by_rule.setdefault(key[1], []).append((key, v))
            rules, position = self.rules, self._position
            for rule_id in sorted(by_rule, key=position.__getitem__):  # guideline order
                keys = by_rule[rule_id]
                when = [v for key, v in keys if key[0] == "r"]
                if when:  # the rule's own condition: its branches were not tried
                    found = [(when[0].inputs, rules[rule_id][0])]
                else:
                    found = [(v.inputs, rules[rule_id][1][key[2]][0]) for key, v in sorted(keys, key=lambda x: x[0][2])]
                undecided.append((self.rule_by_id[rule_id],
                                  [(inputs, [(e, e.truth(env, P)) for e in ks]) for inputs, ks in found]))
            return self._missing_entries(names, firing, undecided, decisive, env, P, words)
        opt_of = self.opt_of if getattr(result._g.engine, "shortcuts", False) else {}
        penv = {k: ABSENT if type(v) is Unknown else v for k, v in env.items()} if opt_of else None
        asked = frozenset(names)
        for r in self.module.RULES:
            if r.phase == 1:
                reads = self._reads_of(r)
                if reads is not None and asked.isdisjoint(reads):
                    continue  # none of these inputs is read (the engine relies on a phase-1 rule's reads too)
            v = plain_first(opt_of.get(r.when), r.when, penv, env, P) if r.when is not None else True
            found = []
            if type(v) is Unknown:
                found.append((v.inputs, self.rules[r.id][0]))
            elif v is True:
                for i, b in enumerate(r.branches):
                    g = plain_first(opt_of.get(b.guard), b.guard, penv, env, P) if b.guard is not None else True
                    if type(g) is Unknown:
                        found.append((g.inputs, self.rules[r.id][1][i][0]))
            if found:
                undecided.append((r, [(inputs, [(e, e.truth(env, P)) for e in keys]) for inputs, keys in found]))
        return self._missing_entries(names, firing, undecided, decisive, env, P, words)

    def _missing_entries(self, names, firing, undecided, decisive, env, P, words: bool = True) -> list[dict]:
        """missing_all's entries from each rule's undecided conditions with their truths."""
        said: dict = {}  # id(entry) -> its words for this case (an entry may wait for several inputs)
        asked = frozenset(names)
        # per input, in rule order: (rule, the truths of the first of its conditions waiting for it)
        waiting: dict = {name: [] for name in names}
        for r, found in undecided:
            seen = set()
            for inputs, t in found:
                for name in asked.intersection(inputs).difference(seen):
                    seen.add(name)
                    waiting[name].append((r, t))
        out = []
        for name in names:
            label = self.symbols[name][0] if name in self.symbols else name
            entry = {"input": name, "label": label, "requested_by": [], "undecided": []}
            req = firing.requests.get(name)
            if req is not None:
                entry["requested_by"].append({"rule": req[0], "title": self.rule_by_id[req[0]].title})
            for r, truths in waiting[name]:
                waits = [e for e, t in truths if type(t) is Unknown and name in t.inputs]
                if not waits:
                    continue
                item = {"rule": r.id, "title": r.title}
                if words:
                    conditions = item["conditions"] = []
                    for e in waits:
                        text = said.get(id(e))
                        if text is None:
                            text = said[id(e)] = self._fact_words(e, env, P)
                        conditions.append(text)
                item["changes_result"] = name in decisive.get(r.id, ())
                entry["undecided"].append(item)
            # the rules shown to change the result first (sort is stable: guideline order within each)
            entry["undecided"].sort(key=lambda u: not u["changes_result"])
            out.append(entry)
        return out
