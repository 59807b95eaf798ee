"""Explanations: the node types of a module's EXPLAIN table, and their rendering for one case.

The compiler (hgl.compiler.explain.words) builds, per rule and branch, a tree for each
condition; the generated module holds it as its EXPLAIN table, made of the classes below.
Which phrase applies (held, failed, unknown; the disjuncts that held; the branch of an
if-expression; the facts behind a derived value) depends on the case, so it is chosen here,
only when a result's words are read.  A phrase is a tuple of text and nodes.
"""

from __future__ import annotations

import dis
import operator
import weakref
from dataclasses import dataclass
from typing import Callable

from .engine import Proposal
from .logic import Unknown, python_code
from .missing_words import MissingWords
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


class Renderer(MissingWords):
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
        # (option, role) -> where results list it: its role's display rank, then the option's place
        # (Result.roles: a look-up in C rather than a Python key function per option)
        self.role_key = {(o, r): (rank, i) for i, o in enumerate(engine.m.OPTIONS)
                         for r, rank in getattr(engine, "display_rank", {}).items()}
        self._cache: dict = {}
        self._keep: list = []
        self._because: dict = {}  # (rule, branch) -> its plan (_because_plan)
        self._rule_reads: dict = {}  # rule id -> the inputs it reads (None: not known)
        self._words: dict = {}  # (rule, branch, the values of those names…) -> the words (bounded)
        self._one: dict = {}  # id(fact) -> (fact,): the phrase _fact renders, made once
        self._requested: dict = {}  # (rule, branch) -> the flags it raises as data requests
        self._last_proposal: tuple = (None, None)  # (proposal, its key): _proposal_key
        self._facts: dict = {}  # id(condition) -> (what its words read: _key_of, the condition)
        self._code_reads: dict = {}  # a test's code -> whether it reads the proposal (_reads_proposal)
        self._stated = _stated_reads(engine.m)  # what each test reads, by name, as the compiler states it
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

    def _fact_words(self, entry: Condition, env, P) -> str:
        """_fact(entry, env, P), the same words for the same values of what they read rendered once."""
        plan = self._facts.get(id(entry))
        if plan is None:  # (the entry itself: its id stays valid while the plan holds it)
            plan = self._facts[id(entry)] = (self._key_of((entry.fact,)), entry)
        reads = plan[0]
        if reads[0] is None:
            return self._fact(entry, env, P)
        try:
            key = self._key(id(entry), reads, env, P)
            words = self._words.get(key)
        except TypeError:  # a value that cannot be a key: rendered each time
            return self._fact(entry, env, P)
        if words is None:
            if len(self._words) >= self.WORDS_CACHED:
                self._words.clear()
            words = self._words[key] = self._fact(entry, env, P)
        return words

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
        if plan is None:  # they all held: their held phrases, and what the words read
            plan = self._because[(rule_id, branch)] = self._because_plan(rule_id, branch)
        tag, fns, plain, full = plan
        # what the words read: a firing decided over completions also tests each condition (below)
        reads = full if completed else plain
        if reads[0] is None:  # words of a kind not known here: rendered each time
            return self._render_because(rule_id, branch, fns, env, P, completed)
        try:
            key = self._key(tag, reads, env, P, any(type(v) is Unknown for v in env.values()) if completed else None)
            words = self._words.get(key)
        except TypeError:  # a value that cannot be a key: rendered each time
            return self._render_because(rule_id, branch, fns, env, P, completed)
        if words is None:
            if len(self._words) >= self.WORDS_CACHED:
                self._words.clear()
            words = self._words[key] = self._render_because(rule_id, branch, fns, env, P, completed)
        return list(words)

    def _because_plan(self, rule_id: str, branch: int) -> tuple:
        """(its tag in keys, the held phrase of each condition as a function, what those phrases read
        (_key_of), what the whole conditions read: their tests too)."""
        entries = self.entries(rule_id, branch)
        held = [c.fact.held if type(c.fact) is Fact else (c.fact,) for c in entries]
        return (rule_id, branch), [self.compiled(h) for h in held], self._key_of(tuple(held)), self._key_of(entries)

    def _key_of(self, phrase) -> tuple:
        """What the words of a phrase read, as _key takes it: (the names, or None; whether they read
        the proposal; env -> the names' values)."""
        codes: list = []
        names = self._reads(phrase, codes=codes)
        by_proposal = False
        for c in codes:
            if c is None:
                by_proposal = True
                break
            seen = self._code_reads.get(c)
            if seen is None:
                seen = self._code_reads[c] = _reads_proposal(c)
            if seen:
                by_proposal = True
                break
        return names, by_proposal, _fetcher(names, self.symbols) if names is not None else None

    def _key(self, tag, reads, env, P, extra=None) -> tuple:
        """The key of the same words for the same values of what they read (Renderer._words): a tag
        (whose words: a rule and branch, a condition's id), the values of the names `reads` holds
        (_key_of), their types (1, 1.0 and True are equal keys), a float zero by its repr (-0.0 ==
        0.0), an unknown as the inputs it waits for (a frozenset, not the Unknown: its __hash__ and
        __eq__ are Python calls, and realistic cases hold many unknowns) and its bounds by their
        repr when it has any (1 == 1.0), the proposal when read, and `extra`.  NaN is never equal:
        rendered each time."""
        names, by_proposal, fetch = reads
        try:
            values = fetch(env)
        except KeyError:  # a symbol the case's values do not hold: what env.get gives, as the others
            values = tuple(map(env.get, names))
        types = tuple(map(type, values))
        if Unknown in types:
            values = tuple([v if type(v) is not Unknown else v.inputs if v.lo is None and v.hi is None
                            else (v.inputs, repr(v.lo), repr(v.hi)) for v in values])
        if float in types:  # -0.0 == 0.0, but the words say "-0"
            values = tuple([repr(v) if type(v) is float and v == 0 else v for v in values])
        return tag, values, types, self._proposal_key(P) if by_proposal and P is not None else None, extra

    def _render_because(self, rule_id, branch, fns, env, P, completed) -> list[str]:
        """because() rendered for this case (what the cache holds)."""
        out = [f(env, P) for f in fns]
        if completed and any(type(v) is Unknown for v in env.values()):
            # a condition left unknown, in a result decided by completions or by cases (Engine._settle,
            # Engine._by_cases): say so, rather than the words of a truth it does not have
            for i, c in enumerate(self.entries(rule_id, branch)):
                v = c.truth(env, P)
                if type(v) is Unknown:
                    names = ", ".join(self.symbols[x][0] if x in self.symbols else x for x in sorted(v.inputs))
                    out[i] = f"{c.written}: not known ({names} missing), but the result is the same whatever it is"
        return out

    def _proposal_key(self, P) -> tuple:
        """What words and tests can read of a proposal: each proposed option in order with its role
        and the ids its view answers to (its drugs follow from them), the roles not proposed; made
        once per proposal (the last one is kept: the options of one result ask for it in turn)."""
        last = self._last_proposal
        if last[0] is P:
            return last[1]
        views = P.views
        key = (tuple(P.roles.items()), tuple([views[o].ids if o in views else None for o in P.roles]), P.negative)
        self._last_proposal = (P, key)
        return key

    # Rendered `because` lists kept (Renderer._words); past this the cache starts again (memory bounded).
    WORDS_CACHED = 4096

    def _reads(self, phrase, depth: int = 0, out=None, codes=None):
        """The names (inputs, parameters, definitions) the words of a phrase may read, sorted, or
        None for a node of a kind not known here.  `codes`: a list the code of each test is added
        to (whether a test reads the proposal: _reads_proposal), and None for an `any ... option`
        test (its words name the proposed options).  A module with the compiler's tables
        (WORDS_READ, READS_PROPOSAL) says what each test reads, by its name: then `codes` gets
        None for one that reads the proposal, and a test the tables do not name is not known here;
        only a module without them has the code objects read (python_code)."""
        codes = [] if codes is None else codes
        stated = self._stated
        top = out is None
        out = set() if top else out
        for node in phrase if type(phrase) is tuple else (phrase,):
            t = type(node)
            if t is str or node is None:
                continue
            if t is Which:  # it names the proposed options: the proposal is read
                codes.append(None)
            if callable(node) and stated is not None:
                name = getattr(node, "__name__", None)
                names = stated[0].get(name)
                if names is None:
                    return None  # not a test the compiler wrote: what it reads cannot be told
                out.update(names)
                if name in stated[1]:
                    codes.append(None)  # it reads the proposal
            elif callable(node):
                code = python_code(node)
                if code is None:
                    return None  # compiled, or not a function: what it reads cannot be told
                out |= _constants(code)
                codes.append(code)
            elif t is Slot:
                out.add(node.name)
            elif t is Reason:
                if depth == 0 and node.name in self.defs:
                    out.add(node.name)
                    if self._reads(self.defs[node.name], 1, out, codes) is None:
                        return None
            elif t is tuple or t in NODE_TYPES:
                parts = node if t is tuple else [getattr(node, f) for f in node.__dataclass_fields__]
                for part in parts:
                    if type(part) is not str and self._reads(part, depth, out, codes) is None:
                        return None
            else:
                return None  # a node of a kind not known here: not cached
        return tuple(sorted(out)) if top else out

    def requested_flags(self, rule_id: str, branch: int) -> frozenset:
        """The flags a rule's branch raises as data requests (`request`), made once per branch."""
        key = (rule_id, branch)
        out = self._requested.get(key)
        if out is None:
            outcomes = self.rule_by_id[rule_id].branches[branch].outcomes
            out = self._requested[key] = frozenset(o.flag for o in outcomes if o.kind == "request")
        return out

    def selector(self, rule_id: str, branch: int, index: int, env, P) -> str:
        phrase = self.rules[rule_id][1][branch][1][index]
        return self.render(phrase, env, P) if phrase is not None else ""


def _stated_reads(module):
    """(WORDS_READ, READS_PROPOSAL) of a module, or None for one built before the compiler stated
    them (its tests' code objects are read instead: Renderer._reads)."""
    words, proposal = getattr(module, "WORDS_READ", None), getattr(module, "READS_PROPOSAL", None)
    if not isinstance(words, dict) or proposal is None:
        return None
    return words, frozenset(proposal)


def _constants(code) -> set:
    """The strings in a compiled test and the functions nested in it (the names `e['x']` reads)."""
    out = {c for c in code.co_consts if type(c) is str}
    for c in code.co_consts:
        if hasattr(c, "co_consts"):
            out |= _constants(c)
    return out


def _fetcher(names: tuple, symbols) -> Callable:
    """env -> tuple(map(env.get, names)), faster when every name is a symbol (an input, parameter
    or definition: a case's values hold them all): one itemgetter, which raises KeyError when one
    is absent (the caller then takes env.get).  With other strings a test holds (option ids,
    labels…), env.get for all: joining two tuples would cost more than it saves."""
    if not names:
        return lambda env: ()
    if not all(n in symbols for n in names):
        return lambda env: tuple(map(env.get, names))
    if len(names) == 1:  # itemgetter of one name gives the value, not a tuple
        name = names[0]
        return lambda env: (env[name],)
    return operator.itemgetter(*names)


def _reads_proposal(code) -> bool:
    """Whether a compiled test `(env, P) -> truth` may read its second argument, the proposal (a
    nested function reading it makes it a cell variable); True for a shape not known here."""
    if code.co_argcount != 2:
        return True
    name = code.co_varnames[1]
    if name in code.co_cellvars:
        return True
    for ins in dis.get_instructions(code):
        arg = ins.argval
        if arg == name or (type(arg) is tuple and name in arg):
            return True
    return False


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
