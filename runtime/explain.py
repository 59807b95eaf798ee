"""Explanations: the node types of a module's EXPLAIN table, and their rendering for one case.

The compiler (hgl.compiler.explain.words) builds, per rule and branch, a tree for each
condition; the generated module holds it as its EXPLAIN table, made of the classes below.
Which phrase applies (held, failed, unknown; the disjuncts that held; the branch of an
if-expression; the facts behind a derived value) depends on the case, so it is chosen here,
only when a result's words are read.  A phrase is a tuple of text and nodes.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

from .engine import Proposal
from .logic import ABSENT, Unknown, plain_first, truth
from .model import format_value

Test = Callable  # (env, proposal) -> bool | Unknown


@dataclass(frozen=True, slots=True)
class Slot:
    """The value of an input, parameter or definition, with its unit or labels."""

    name: str


@dataclass(frozen=True, slots=True)
class Fact:
    """One condition: the phrase for its truth value."""

    test: Test
    held: tuple
    failed: tuple
    unknown: tuple


@dataclass(frozen=True, slots=True)
class Match:
    """and/or: the items (test, phrase) whose truth equals the whole test's, joined by sep.

    An item's test is None when its phrase is a single node testing the same expression.
    """

    test: Test
    sep: str
    items: tuple


@dataclass(frozen=True, slots=True)
class First:
    """An if-expression: the phrase of the first item (test, phrase) that holds, else otherwise."""

    items: tuple
    otherwise: tuple


@dataclass(frozen=True, slots=True)
class Reason:
    """The facts behind a definition (shown one level deep), between prefix and suffix."""

    name: str
    prefix: str
    suffix: str


@dataclass(frozen=True, slots=True)
class Sum:
    """The terms (op, phrase) of a sum; empty terms are left out."""

    terms: tuple


@dataclass(frozen=True, slots=True)
class Which:
    """The proposed options for which an `any ... option` test holds, by name, then phrase one or many."""

    test: Test
    one: tuple
    many: tuple
    none: tuple


@dataclass(frozen=True, slots=True)
class Condition:
    """One conjunct of a rule's or branch's condition: its fact, and its text as written.

    `test` is None when the fact's own test is the conjunct's (so the module holds it once).
    """

    test: Test | None
    fact: object
    written: str

    def truth(self, env, P):
        return (self.test or self.fact.test)(env, P)


NODE_TYPES = (Slot, Fact, Match, First, Reason, Sum, Which, Condition)
_RENDERERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # engine -> Renderer


def renderer(engine) -> "Renderer":
    """The Renderer of an engine's module, made once (kept on the engine too: read for every result)."""
    r = getattr(engine, "_renderer", None)
    if r is not None:
        return r
    try:
        r = _RENDERERS[engine]
    except KeyError:
        r = _RENDERERS[engine] = Renderer(engine, engine.m.EXPLAIN)
    try:
        engine._renderer = r
    except AttributeError:  # an engine that takes no attributes: the table alone
        pass
    return r


def _agrees(a, b) -> bool:
    """Whether two three-valued truths are the same (two unknowns agree)."""
    return a is b or (type(a) is Unknown and type(b) is Unknown)


class Renderer:
    """Renders the EXPLAIN trees of one module against a case."""

    def __init__(self, engine, table: dict):
        # no reference to the engine itself: it is the key of _RENDERERS, which must not keep it alive
        self.module, self.rule_by_id, self.options = engine.m, engine.rules, engine.options
        self.opt_of = getattr(engine, "opt_of", {})  # plain variants to try (hgl.runtime.logic, ABSENT)
        self.symbols = table["symbols"]
        self.labels = table["labels"]
        self.defs = table["defs"]
        self.rules = table["rules"]
        self.order = {d: {x: i for i, x in enumerate(labels)} for d, labels in self.labels.items()}
        self._cache: dict = {}
        self._keep: list = []
        self._because: dict = {}  # (rule, branch) -> (phrase functions, the names they read or None)
        self._rule_reads: dict = {}  # rule id -> the inputs it reads (None: not known)
        self._words: dict = {}  # (rule, branch, the values of those names…) -> the words (bounded)
        self._one: dict = {}  # id(fact) -> (fact,): the phrase _fact renders, made once
        self._position = {r.id: i for i, r in enumerate(engine.m.RULES)}  # rule id -> its place in the guideline

    # ------------------------------------------------------------------ values and phrases
    def value(self, name: str, env) -> str:
        """A value in words: labels for names, the unit with a number, 'missing' or 'unknown'."""
        _label, kind, unit, domain = self.symbols[name]
        v = env.get(name)
        t = type(v)
        if t is Unknown:
            return _unknown_words(v, kind, unit)
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
                if t is Unknown:
                    return missing if v.lo is None and v.hi is None else _unknown_words(v, kind, unit)
                return format_value(v, unit)
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

    def _node(self, node, depth):
        return getattr(self, "_" + type(node).__name__)(node, depth)

    def _Slot(self, node, depth):
        return self._value_fn(node.name)

    def _Fact(self, node, depth):
        test, held, failed, unknown = node.test, self.compiled(node.held, depth), self.compiled(node.failed, depth), \
            self.compiled(node.unknown, depth)

        def fact(env, P):
            v = test(env, P)
            return held(env, P) if v is True else failed(env, P) if v is False else unknown(env, P)
        return fact

    def _Match(self, node, depth):
        test, sep = node.test, node.sep
        # an item's test is None when its phrase is one fact of the same expression: that fact's test
        items = [(t or ph[0].test, self.compiled(ph, depth)) for t, ph in node.items]

        def match(env, P):
            v = test(env, P)
            texts = [f(env, P) for t, f in items if _agrees(t(env, P), v)]
            return sep.join([x for x in texts if x])
        return match

    def _First(self, node, depth):
        items = [(t, self.compiled(ph, depth)) for t, ph in node.items]
        otherwise = self.compiled(node.otherwise, depth)

        def first(env, P):
            for t, f in items:
                v = t(env, P)
                if v is True:
                    return f(env, P)
                if v is not False:
                    return "unknown"
            return otherwise(env, P)
        return first

    def _Reason(self, node, depth):
        if depth != 0 or node.name not in self.defs:
            return None
        inner, prefix, suffix = self.compiled(self.defs[node.name], 1), node.prefix, node.suffix

        def reason(env, P):
            text = inner(env, P)
            return prefix + text + suffix if text else ""
        return reason

    def _Sum(self, node, depth):
        terms = [(op, self.compiled(ph, depth)) for op, ph in node.terms]

        def total(env, P):
            out = []
            for op, f in terms:
                text = f(env, P)
                if text:
                    out.append(text if not out else ("+ " if op == "+" else "− ") + text)
            return " ".join(out)
        return total

    def _Which(self, node, depth):
        return self._which(node.test, self.compiled(node.one, depth), self.compiled(node.many, depth),
                           self.compiled(node.none, depth))

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

    def _fact(self, entry: Condition, env, P, truth_=None) -> str:
        fact = entry.fact
        if truth_ is True and type(fact) is Fact:  # known to hold: no need to test it again
            return self.compiled(fact.held)(env, P)
        one = self._one.get(id(fact))
        if one is None:  # one tuple per fact: a fresh one per call would miss the cache and grow it
            one = self._one[id(fact)] = (fact,)
        return self.compiled(one)(env, P)

    # ------------------------------------------------------------------ because, selectors
    def entries(self, rule_id: str, branch: int) -> tuple:
        when, branches = self.rules[rule_id]
        return when + branches[branch][0]

    def because(self, rule_id: str, branch: int, env, P, completed: bool = True) -> list[str]:
        """The conditions of a rule and branch that fired, in words with the case's values.

        `completed`: the firing may hold conditions decided over completions (Firing.completed);
        when it does not, every condition of a fired rule and branch is true in the case itself.
        """
        plan = self._because.get((rule_id, branch))
        if plan is None:  # they all held: their held phrases; and the names their words read
            entries = self.entries(rule_id, branch)
            fns = [self.compiled(c.fact.held) if type(c.fact) is Fact else self.compiled((c.fact,)) for c in entries]
            plan = self._because[(rule_id, branch)] = (fns, self._reads(entries))
        fns, names = plan
        if completed or names is None or P is not None:
            out = [f(env, P) for f in fns]
        else:  # the same words for the same values of what they read: rendered once (bounded cache)
            # the key: the values, their types (1, 1.0 and True are equal keys), an unknown's bounds
            values = [env.get(n) for n in names]
            types = tuple(map(type, values))
            key = (rule_id, branch, *values, *types)
            if Unknown in types:
                key += tuple([(v.lo, v.hi) for v in values if type(v) is Unknown])
            try:
                words = self._words.get(key)
            except TypeError:  # a value that cannot be a key: rendered each time
                return [f(env, P) for f in fns]
            if words is None:
                if len(self._words) >= self.WORDS_CACHED:
                    self._words.clear()
                words = self._words[key] = [f(env, P) for f in fns]
            return list(words)
        if completed and any(type(v) is Unknown for v in env.values()):
            # a condition left unknown, in a result decided by completions or by cases (Engine._settle,
            # Engine._by_cases): say so, rather than the words of a truth it does not have
            for i, c in enumerate(self.entries(rule_id, branch)):
                v = c.truth(env, P)
                if type(v) is Unknown:
                    names = ", ".join(self.symbols[x][0] if x in self.symbols else x for x in sorted(v.inputs))
                    out[i] = f"{c.written}: not known ({names} missing), but the result is the same whatever it is"
        return out

    # Rendered `because` lists kept (Renderer._words); past this the cache starts again (memory bounded).
    WORDS_CACHED = 4096

    def _reads(self, phrase, depth: int = 0, out=None):
        """The names (inputs, parameters, definitions) the words of a phrase may read, sorted, or
        None when they also read the proposal (an `any ... option` test)."""
        top = out is None
        out = set() if top else out
        for node in phrase if type(phrase) is tuple else (phrase,):
            t = type(node)
            if t is str or node is None:
                continue
            if t is Which:
                return None
            if callable(node) and hasattr(node, "__code__"):
                out |= _constants(node.__code__)
            elif t is Slot:
                out.add(node.name)
            elif t is Reason:
                if depth == 0 and node.name in self.defs:
                    out.add(node.name)
                    if self._reads(self.defs[node.name], 1, out) is None:
                        return None
            elif t is tuple or t in NODE_TYPES:
                parts = node if t is tuple else [getattr(node, f) for f in node.__dataclass_fields__]
                for part in parts:
                    if type(part) is not str and self._reads(part, depth, out) is None:
                        return None
            else:
                return None  # a node of a kind not known here: not cached
        return tuple(sorted(out)) if top else out

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
                            text = said[id(e)] = self._fact(e, env, P)
                        conditions.append(text)
                item["changes_result"] = name in decisive.get(r.id, ())
                entry["undecided"].append(item)
            # the rules shown to change the result first (sort is stable: guideline order within each)
            entry["undecided"].sort(key=lambda u: not u["changes_result"])
            out.append(entry)
        return out


def _constants(code) -> set:
    """The strings in a compiled test and the functions nested in it (the names `e['x']` reads)."""
    out = {c for c in code.co_consts if type(c) is str}
    for c in code.co_consts:
        if hasattr(c, "co_consts"):
            out |= _constants(c)
    return out


def _unknown_words(v, kind: str, unit) -> str:
    """'missing' / 'unknown', or the bounds a missing value leaves: 'unknown (at least 2)'."""
    word = "unknown" if kind == "definition" else "missing"
    lo, hi = v.lo, v.hi
    if lo is None and hi is None:
        return word
    if lo is not None and hi is not None:
        return f"{word} (between {format_value(lo, unit)} and {format_value(hi, unit)})"
    return f"{word} (at least {format_value(lo, unit)})" if lo is not None else \
        f"{word} (at most {format_value(hi, unit)})"
