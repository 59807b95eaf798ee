"""Results: the engine's firing for one case -> the result contract of SPEC.md 3.1, explained on demand.

A Result is cheap to make: the roles are known at once, and the explanation (`because`
with the patient's values, the receipt) is only assembled when `options`, `flags`,
`receipt` or `to_dict()` is first read, so a caller that only needs the decision does
not pay for the words.
"""

from __future__ import annotations

import weakref

from .engine import Proposal
from .logic import Unknown, truth
from .model import format_value

_RESTRICT_WORDS = {"demote": "not preferred", "avoid": "avoided"}
_ROLE_ACTION = {"alternative": "demote", "avoid": "avoid"}
_ROLE_RANK = {"preferred": 0, "alternative": 1, "avoid": 2}


def plain(value):
    """A value as JSON shows it: missing -> None, sets -> sorted lists."""
    if type(value) is Unknown:
        return None
    if type(value) is frozenset:
        return sorted(value)
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
        """{option: role}, preferred first, then alternatives, then avoid; each in declaration order."""
        if self.firing is None:
            return {}
        rank = self._g.option_rank
        return dict(sorted(self.firing.roles.items(), key=lambda kv: (_ROLE_RANK[kv[1]], rank[kv[0]])))

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
        rank = self._g.flag_rank
        return sorted(self.firing.flags, key=rank.__getitem__)

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
        return _words(self._g.engine)

    def _because(self, rule_id: str, branch: int, words=False) -> list[str]:
        if words is False:
            words = self.words
        # only a phase-2 rule's conditions read the proposal (the checker sees to it), and a
        # firing may make its proposal only when asked: do not ask for phase-1 rules
        P = self.firing.proposal if self._g.engine.rules[rule_id].phase == 2 else None
        return words.because(rule_id, branch, self._env, P)

    @property
    def missing_because(self) -> list:
        """For each missing input: the data request that asked for it, the rules it left undecided."""
        words = self.words
        if words is None or self.firing is None:
            return []
        return [words.missing(name, self) for name in self.missing]

    def _option_entries(self) -> list:
        if self.firing is None:
            return []
        g, env, firing = self._g, self._env, self.firing
        engine = g.engine
        words = self.words
        out = []
        for oid, role in self.roles.items():
            rule_id, branch = firing.by[oid]
            rule = engine.rules[rule_id]
            opt = engine.options[oid]
            because = self._because(rule_id, branch, words)
            proposed_by = firing.proposed_by.get(oid, ())
            if oid not in engine.proposes[(rule_id, branch)]:
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
        g, env, firing = self._g, self._env, self.firing
        engine = g.engine
        out = []
        for fid in self.flag_ids:
            rule_id, branch = firing.flags[fid][0]
            rule = engine.rules[rule_id]
            requested = any(
                o.kind == "request" and o.flag == fid
                for r, b in firing.requests.values() if r == rule_id
                for o in engine.rules[r].branches[b].outcomes)
            out.append({"id": fid, "label": engine.m.FLAGS[fid].label, "rule": rule_id,
                        "provenance": list(rule.provenance),
                        "because": self._because(rule_id, branch),
                        "request": requested,
                        "rules": list(dict.fromkeys(r for r, _ in firing.flags[fid]))})
        return out

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
        P = self.firing.proposal if self.firing is not None else None
        self.why_not = {o: self.words.why_not(o, self) for o in options}


# ---------------------------------------------------------------- words: rendering EXPLAIN trees
#
# The compiler (hgl.compiler.explain.words) emits, per rule and branch, a tree for each condition:
# which phrase applies (held, failed, unknown; the disjuncts that held; the branch of an
# if-expression; the facts behind a derived value) depends on the case, so it is chosen here.
# Rendering only happens when a result's words are read.

VALUE, FACT, MATCH, FIRST, REASON, SUM, WHICH = range(7)  # the tags of hgl.compiler.explain.words
_WORDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # engine -> Words (None: no EXPLAIN)


def _words(engine):
    """The Words of an engine's module, made once (None when the module has no EXPLAIN table)."""
    try:
        return _WORDS[engine]
    except KeyError:
        table = getattr(engine.m, "EXPLAIN", None)
        w = _WORDS[engine] = Words(engine, table) if table is not None else None
        return w


def _agrees(a, b) -> bool:
    """Whether two three-valued truths are the same (two unknowns agree)."""
    return a is b or (type(a) is Unknown and type(b) is Unknown)


class Words:
    """Renders the EXPLAIN trees of one module against a case."""

    def __init__(self, engine, table: dict):
        # no reference to the engine itself: it is the key of _WORDS, which must not keep it alive
        self.module, self.rule_by_id, self.options = engine.m, engine.rules, engine.options
        self.symbols = table["symbols"]
        self.labels = table["labels"]
        self.defs = table["defs"]
        self.rules = table["rules"]
        self.order = {d: {x: i for i, x in enumerate(labels)} for d, labels in self.labels.items()}
        self._cache: dict = {}
        self._keep: list = []
        self._because: dict = {}

    # ------------------------------------------------------------------ values and phrases
    def value(self, name: str, env) -> str:
        """A value in words: labels for names, the unit with a number, 'missing' or 'unknown'."""
        _label, kind, unit, domain = self.symbols[name]
        v = env.get(name)
        t = type(v)
        if t is Unknown:
            return "unknown" if kind == "definition" else "missing"
        if t is bool:
            return "yes" if v else "no"
        labels = self.labels.get(domain, {})
        if t is frozenset:
            if not v:
                return "none"
            order = self.order.get(domain) or {}
            return ", ".join(labels.get(x, x.replace("_", " ")) for x in sorted(v, key=lambda x: (order.get(x, 1 << 30), x)))
        if t is str:
            return labels.get(v, v.replace("_", " "))
        return format_value(v, unit)

    def _value_fn(self, name):
        """value() for one symbol, specialised by its kind (numbers, the common case, go straight through)."""
        _label, kind, unit, domain = self.symbols[name]
        if domain is None:
            missing = "unknown" if kind == "definition" else "missing"

            def plain_value(env, P):
                v = env.get(name)
                t = type(v)
                if t is int:
                    return f"{v} {unit}" if unit and unit != "%" else f"{v} %" if unit else str(v)
                if t is bool:
                    return "yes" if v else "no"
                return missing if t is Unknown else format_value(v, unit)
            return plain_value
        return lambda env, P: self.value(name, env)

    def render(self, phrase, env, P, depth: int = 0) -> str:
        """A phrase in words for this case."""
        return self.compiled(phrase, depth)(env, P)

    def compiled(self, phrase, depth: int = 0):
        """A phrase made once into a function (env, P) -> str: rendering is on the path of every result."""
        key = (id(phrase), depth)
        fn = self._cache.get(key)
        if fn is None:
            fn = self._cache[key] = self._compile(phrase, depth)
            self._keep.append(phrase)  # the id stays valid while the cache holds it
        return fn

    def _compile(self, phrase, depth):
        parts: list = []
        for p in phrase:
            if type(p) is str:
                if parts and type(parts[-1]) is str:
                    parts[-1] += p
                else:
                    parts.append(p)
            else:
                fn = self._node(p, depth)
                if fn is not None:
                    parts.append(fn)
        if not parts:
            return lambda env, P: ""
        if len(parts) == 1:
            only = parts[0]
            return (lambda env, P: only) if type(only) is str else only
        return lambda env, P: "".join([x if type(x) is str else x(env, P) for x in parts])

    def _node(self, p, depth):
        tag = p[0]
        if tag == VALUE:
            return self._value_fn(p[1])
        if tag == FACT:
            test, held, failed, unknown = p[1], self.compiled(p[2], depth), self.compiled(p[3], depth), \
                self.compiled(p[4], depth)

            def fact(env, P):
                v = test(env, P)
                return held(env, P) if v is True else failed(env, P) if v is False else unknown(env, P)
            return fact
        if tag == MATCH:
            test, sep = p[1], p[2]
            items = [(t, self.compiled(ph, depth)) for t, ph in p[3]]

            def match(env, P):
                v = test(env, P)
                texts = [f(env, P) for t, f in items if _agrees(t(env, P), v)]
                return sep.join([x for x in texts if x])
            return match
        if tag == FIRST:
            items = [(t, self.compiled(ph, depth)) for t, ph in p[1]]
            otherwise = self.compiled(p[2], depth)

            def first(env, P):
                for t, f in items:
                    v = t(env, P)
                    if v is True:
                        return f(env, P)
                    if v is not False:
                        return "unknown"
                return otherwise(env, P)
            return first
        if tag == REASON:
            if depth != 0 or p[1] not in self.defs:
                return None
            inner, prefix, suffix = self.compiled(self.defs[p[1]], 1), p[2], p[3]

            def reason(env, P):
                text = inner(env, P)
                return prefix + text + suffix if text else ""
            return reason
        if tag == SUM:
            terms = [(op, self.compiled(ph, depth)) for op, ph in p[1]]

            def total(env, P):
                out = []
                for op, f in terms:
                    text = f(env, P)
                    if text:
                        out.append(text if not out else ("+ " if op == "+" else "− ") + text)
                return " ".join(out)
            return total
        if tag == WHICH:
            return self._which(p[1], self.compiled(p[2], depth), self.compiled(p[3], depth),
                               self.compiled(p[4], depth))
        raise ValueError(f"unknown explanation node {tag!r}")

    def _which(self, test, one, many, none):
        """The options an `any ... option` test holds for, by name: the test asked of each one alone."""
        names = self.labels.get("option", {})
        rank = self.order.get("option", {})

        def which(env, P):
            found = []
            if P is not None:
                for opt, role in P.roles.items():
                    if test(env, Proposal({opt: role}, {opt: P.views[opt]})) is True:
                        found.append(opt)
            if not found:
                return none(env, P)
            found.sort(key=lambda o: rank.get(o, 1 << 30))
            words = []
            for o in found:
                word = names.get(o, o.replace("_", " "))
                # an option that stands for an input (continue the current regimen): and its value
                target = [x for x in P.views[o].ids if x != o and x != "none"]
                words.append(f"{word} ({names.get(target[0], target[0])})" if target else word)
            head = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
            return head + (one if len(words) == 1 else many)(env, P)
        return which

    def _fact(self, entry, env, P, truth_=None) -> str:
        _test, fact, _written = entry
        if truth_ is True and fact[0] == FACT:  # known to hold: no need to test it again
            return self.compiled(fact[2])(env, P)
        return self.compiled((fact,))(env, P)

    # ------------------------------------------------------------------ because, selectors
    def entries(self, rule_id: str, branch: int) -> tuple:
        when, branches = self.rules[rule_id]
        return when + branches[branch][0]

    def because(self, rule_id: str, branch: int, env, P) -> list[str]:
        """The conditions of a rule and branch that fired, in words with the case's values."""
        fns = self._because.get((rule_id, branch))
        if fns is None:  # they all held: their held phrases
            fns = self._because[(rule_id, branch)] = [
                self.compiled(fact[2]) if fact[0] == FACT else self.compiled((fact,))
                for _t, fact, _w in self.entries(rule_id, branch)]
        return [f(env, P) for f in fns]

    def selector(self, rule_id: str, branch: int, index: int, env, P) -> str:
        phrase = self.rules[rule_id][1][branch][1][index]
        return self.render(phrase, env, P) if phrase is not None else ""

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
                    v = entry[0](env, P)
                    if v is True:
                        held.append(self._fact(entry, env, P, True))
                    else:
                        failed.append({"condition": self._fact(entry, env, P), "value": truth(v),
                                       "as_written": entry[2]})
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
        if opt.kind == "systemic" and gov is not None and not (rule.governs and rule.section == gov):
            title = next((s.title for s in self.module.SECTIONS if s.id == gov), gov)
            return f"systemic therapy is governed by section {title}, which does not propose it"
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
                t = e[0](env, P)
                if type(t) is Unknown and name in t.inputs:
                    conditions.append(self._fact(e, env, P))
            if conditions:
                entry["undecided"].append({"rule": r.id, "title": r.title, "conditions": conditions,
                                           "changes_result": name in decisive.get(r.id, ())})
        # the rules shown to change the result first (sort is stable: guideline order within each)
        entry["undecided"].sort(key=lambda u: not u["changes_result"])
        return entry
