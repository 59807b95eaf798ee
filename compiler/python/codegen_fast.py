"""Code generation, fast path: a guideline's whole decision for a case with no missing value, as straight-line Python.

`decide_known(e, views, proposal)` does in one function what the engine does with the rule
tables for such a case (SPEC.md 3): definitions, consistency, phase-1 rules, governing,
withholding, phase-2 rules, then demote, avoid and drop; the combination is unrolled per
guideline, with the case's values in locals, so it costs close to what a hand-written
if-chain does (bench/runtime.py measures it).  With no missing value nothing is undecided,
so three-valued logic is not needed (the engine checks that first).
It returns None when a consistency rule is violated (the engine then words that result),
otherwise (roles, by, proposed_by, flags, requests, governing, proposed roles, proposal):
exactly the parts of the engine's Firing, built in the engine's order.
"""

from __future__ import annotations

from hgl.compiler.front import nodes as n
class NoFastPath(Exception):
    """An expression a plain-operator fast path cannot compute (it reads the proposal)."""


def known_filters(gen, filters, local=None) -> str:
    """`gen.filters` for known values: plain operators on the option view `o`; always a bool."""
    parts = []
    for f in filters:
        v = gen.known(f.value, False, local)
        if isinstance(f, n.Containing):
            parts.append(f"(not o.drugs.isdisjoint({v}))" if f.any_of else f"({v} in o.drugs)")
        elif isinstance(f, n.AllDrugsIn):
            parts.append(f"(bool(o.drugs) and o.drugs <= {v})")
        else:
            parts.append(f"(not o.ids.isdisjoint({v}))")
    return "(" + " and ".join(parts) + ")" if parts else "True"


def decide_lines(gen, flatten_outcomes) -> list[str]:
    """The lines of `decide_known`, or of `decide_known = None` when there is no fast path."""
    try:
        body = _Decide(gen, flatten_outcomes).body()
    except NoFastPath:
        return ["", "", "decide_known = None  # a definition or phase-1 rule reads the proposal: no fast path"]
    head = ["", "", "def decide_known(e, views, proposal):",
            '    """The decision for a case with no missing value, straight-line (see hgl.runtime.engine).',
            "",
            "    None when a consistency rule is violated; else (roles, by, proposed_by (tuples), flags, requests,",
            "    governing, proposed roles, proposal).  `views(e)` gives the options as filters see them,",
            '    `proposal(roles, views)` what phase-2 rules read."""']
    return head + ["    " + x if x else "" for x in body]


class _Decide:
    def __init__(self, gen, flatten_outcomes):
        self.gen = gen
        self.m = gen.m
        self.flatten = flatten_outcomes
        self.rules = [(k, s, r, self.m.phase.get(r.name.text, 1)) for k, (s, r) in enumerate(gen.g.rules())]
        self.options = {o.name.text: o for o in gen.g.options}
        self.stands = [(o.name.text, o.stands_for.text) for o in gen.g.options if o.stands_for]
        comb = gen.g.combination
        self.gov_order = [x.text for x in comb.governing_order] if comb else []
        order = [x.text for x in comb.roles] if comb and comb.roles else ["avoid", "preferred", "alternative"]
        self.strength = {role: len(order) - i for i, role in enumerate(order)}
        self.branches = {k: self.flatten(r.outcomes, self.m.groups) for k, _, r, _ in self.rules}
        self.seen_opts: dict[str, set] = {}  # option -> rules that may have proposed it already
        self.seen_flags: set = set()
        self.seen_requests: set = set()
        self.used: set = set()  # the symbols the code reads

    def known(self, e, proposal=False) -> str:
        return self.gen.known(e, proposal, self.local)

    def local(self, name: str) -> str:
        """Symbols are read from the case once, into locals (prefixed: no clash with the code's own names)."""
        self.used.add(name)
        return f"v_{name}"

    def fired(self, k, i) -> str:
        """The variable saying that branch i of rule k fired."""
        return f"f{k}_{i}" if self.branches[k][i][0] else f"w{k}"

    def body(self) -> list[str]:
        out = []
        defined = set()
        for d in self.m.definition_order:
            name = d.name.text
            out.append(f"v_{name} = e[{name!r}] = {self.known(d.expr)}")
            defined.add(name)
        tests = [self.known(c.expr) for c in self.gen.g.constraints]
        if tests:
            out += ["if " + " or ".join(tests) + ":", "    return None  # inconsistent: the engine words it"]
        phase1 = [x for x in self.rules if x[3] == 1]
        phase2 = [x for x in self.rules if x[3] == 2]
        for k, s, r, _ in phase1:
            out += self.conditions(k, r, proposal=False)
        governing = sorted((self._rank(s.name.text), k, s.name.text) for k, s, r, _ in phase1 if r.governs)
        if governing:
            out.append("gov = None")
            for j, (_, k, sec) in enumerate(governing):
                out += [f"{'if' if j == 0 else 'elif'} w{k}:", f"    gov = {sec!r}"]
        gov = "gov" if governing else "None"
        out.append("roles, by, pby, flags, requests = {}, {}, {}, {}, {}")
        withhold = any(isinstance(o, n.Withhold) for k, _, _, _ in phase1 for _, outs in self.branches[k] for o in outs)
        if withhold:
            out.append("wh = False")
        for k, s, r, _ in phase1:
            out += self.collect(k, s, r, bool(governing))
        if withhold:
            out += ["if wh:", "    roles.clear()", "    by.clear()", "    pby.clear()"]
        restricts = [(k, i, r, o) for k, _, r, _ in phase1 + phase2
                     for i, (_, outs) in enumerate(self.branches[k]) for o in outs if isinstance(o, n.Restrict)]
        out.append("pre = roles  # what phase-2 rules read; copied before the first restriction")
        filtered = any(isinstance(o.selector, n.SelectEvery) for _, _, _, o in restricts)
        if filtered or phase2:
            out.append("V = views(e)")
        out.append("P = proposal(pre, V)" if phase2 else "P = None")
        for k, s, r, _ in phase2:
            out += self.conditions(k, r, proposal=True)
            out += self.collect(k, s, r, False)
        for action in ("demote", "avoid", "drop"):
            for k, i, r, o in restricts:
                if o.action == action:
                    out += self.restrict(k, i, r, o)
        out.append(f"return roles, by, pby, flags, requests, {gov}, pre, P")
        order = [d.name.text for d in self.gen.g.inputs] + [d.name.text for d in self.gen.g.parameters]
        return [f"v_{x} = e[{x!r}]" for x in order if x in self.used and x not in defined] + out

    def _rank(self, section) -> int:
        return self.gov_order.index(section) if section in self.gov_order else 1 << 30

    def conditions(self, k, r, proposal) -> list[str]:
        out = [f"w{k} = {self.known(r.when, proposal) if r.when is not None else 'True'}  # rule {r.name.text}"]
        for i, (guards, _) in enumerate(self.branches[k]):
            if guards:
                out.append(f"f{k}_{i} = w{k} and " + " and ".join(self.known(g, proposal) for g in guards))
        return out

    def collect(self, k, s, r, governed) -> list[str]:
        """The outcomes of rule k's fired branches, as Engine._collect gathers them (restrictions apart)."""
        name = r.name.text
        out = []
        for i, (_, outs) in enumerate(self.branches[k]):
            lines = []
            key = repr((name, i))
            for o in outs:
                if isinstance(o, n.Propose):
                    if self.m.phase.get(name, 1) != 1:
                        raise NoFastPath("a phase-2 rule proposes")  # the checker forbids it
                    lines += self.propose(o.options[0].text, o.role, name, key, s.name.text, r.governs, governed)
                elif isinstance(o, n.RaiseFlag):
                    lines += self.flag(o.flags[0].text, key)
                elif isinstance(o, n.Request):
                    inp = o.input.text
                    if inp in self.seen_requests:
                        lines += [f"if {inp!r} not in requests:", f"    requests[{inp!r}] = {key}"]
                    else:
                        lines.append(f"requests[{inp!r}] = {key}")
                    self.seen_requests.add(inp)
                    if o.flag is not None:
                        lines += self.flag(o.flag.text, key)
                elif isinstance(o, n.Withhold):
                    if self.m.phase.get(name, 1) == 1:  # the engine ignores a phase-2 withhold
                        lines.append("wh = True")
            if lines:
                out += [f"if {self.fired(k, i)}:"] + ["    " + x for x in lines]
        return out

    def propose(self, opt, role, rule, key, section, governs, governed) -> list[str]:
        if role not in self.strength:
            raise NoFastPath(f"role {role} has no rank")
        lines = []
        earlier = self.seen_opts.get(opt)
        if earlier is None:
            lines += [f"roles[{opt!r}] = {role!r}", f"by[{opt!r}] = {key}", f"pby[{opt!r}] = ({rule!r},)"]
        else:
            weaker = [x for x, v in self.strength.items() if v < self.strength[role]]
            lines += [f"x = roles.get({opt!r})", "if x is None:",
                      f"    roles[{opt!r}] = {role!r}", f"    by[{opt!r}] = {key}", f"    pby[{opt!r}] = ({rule!r},)",
                      "else:"]
            if weaker:
                test = f"x == {weaker[0]!r}" if len(weaker) == 1 else f"x in {tuple(weaker)!r}"
                lines += [f"    if {test}:", f"        roles[{opt!r}] = {role!r}", f"        by[{opt!r}] = {key}"]
            if rule in earlier:  # the same rule may have proposed it in another branch
                lines += [f"    if {rule!r} not in pby[{opt!r}]:", f"        pby[{opt!r}] += ({rule!r},)"]
            else:
                lines += [f"    pby[{opt!r}] += ({rule!r},)"]
        self.seen_opts.setdefault(opt, set()).add(rule)
        if self.options[opt].kind == "systemic" and governed:
            # a governing scenario replaces the others' systemic options (SPEC.md 3, step 2)
            cond = f"gov == {section!r}" if governs else "gov is None"
            return [f"if {cond}:"] + ["    " + x for x in lines]
        return lines

    def flag(self, flag, key) -> list[str]:
        if flag in self.seen_flags:
            return [f"x = flags.get({flag!r})", "if x is None:", f"    flags[{flag!r}] = [{key}]",
                    "else:", f"    x.append({key})"]
        self.seen_flags.add(flag)
        return [f"flags[{flag!r}] = [{key}]"]

    def restrict(self, k, i, r, o) -> list[str]:
        """One demote, avoid or drop, applied to the proposed options it selects (Engine._restrict)."""
        key = repr((r.name.text, i))
        action = o.action
        sel = o.selector
        lines = []
        if isinstance(sel, n.SelectOption):
            target = sel.option.text
            # an option that stands for an input's value answers to that value's id too
            for opt, extra in [(target, "")] + [(s, f" and {self.local(inp)} == {target!r}")
                                               for s, inp in self.stands if s != target]:
                lines += self._apply(action, repr(opt), extra, key)
        else:
            loop = "for x in list(roles):" if action == "drop" else "for x in roles:"
            lines.append(loop)
            inner = []
            if sel.except_:
                inner.append(f"if x in {tuple(sorted(x.text for x in sel.except_))!r}:")
                inner.append("    continue")
            inner.append("o = V[x]")
            inner += self._apply(action, "x", f" and {known_filters(self.gen, sel.filters, self.local)}", key,
                                 in_loop=True)
            lines += ["    " + x for x in inner]
        copy = ["if pre is roles:", "    roles = dict(roles)"]
        return [f"if {self.fired(k, i)}:"] + ["    " + x for x in copy + lines]

    @staticmethod
    def _apply(action, opt, extra, key, in_loop=False) -> list[str]:
        if action == "demote":
            test = f"roles[{opt}] == 'preferred'" if in_loop else f"roles.get({opt}) == 'preferred'"
            body = [f"roles[{opt}] = 'alternative'", f"by[{opt}] = {key}"]
        elif action == "avoid":
            test = f"roles[{opt}] != 'avoid'" if in_loop else f"roles.get({opt}, 'avoid') != 'avoid'"
            body = [f"roles[{opt}] = 'avoid'", f"by[{opt}] = {key}"]
        else:
            test = "" if in_loop else f"{opt} in roles"
            body = [f"del roles[{opt}], by[{opt}], pby[{opt}]"]
        cond = (test + extra) if test else extra[len(" and "):]
        return [f"if {cond}:"] + ["    " + x for x in body]


def phase1_lines(gen, flatten_outcomes) -> list[str]:
    """`phase1_known(e)` and `phase1_mixed(e, U)`: every phase-1 rule inline, for the engine's own combination."""
    try:
        names, parts = _phase1_known_parts(gen, flatten_outcomes)
    except NoFastPath:
        return ["", "phase1_known = None  # a phase-1 rule reads the proposal: no fast path"]
    lines = [line for name, part in zip(names, parts) for line in [f"# rule {name}"] + part]
    out = []
    for name, doc, result, body in (
            ("phase1_known(e)", "for a case with no missing value: (fired rules, fired (rule, branch))",
             "fired_rules, fired", lines),
            ("phase1_mixed(e, U)", "when the inputs U are missing: (fired rules, fired, undecided)",
             "fired_rules, fired, undecided", _phase1_mixed_lines(gen, flatten_outcomes, dict(zip(names, parts))))):
        out.append("\n")
        out.append(f"def {name}:")
        out.append(f'    """The phase-1 rules {doc}."""')
        out += [f"    {x} = []" for x in result.split(", ")] + ["    " + x for x in body]
        out.append(f"    return {result}")
    return out


def _phase1_mixed_lines(gen, flatten_outcomes, known) -> list[str]:
    """Per rule: the plain-operator code when it reads no missing input, else three-valued code."""
    lines = []
    for index, (s, r) in enumerate(gen.g.rules()):
        name = r.name.text
        if gen.m.phase.get(name, 1) != 1:
            continue
        reads = gen.m.reads.get(f"rule:{name}", frozenset())
        lines.append(f"# rule {name} (line {r.span.line})")
        slow = [f"v = {gen.expr(r.when)}" if r.when is not None else "v = True",
                "if v is True:", f"    fired_rules.append(RULES[{index}])"]
        for i, (guards, _) in enumerate(flatten_outcomes(r.outcomes, gen.m.groups)):
            fire = f"fired.append((RULES[{index}], {i}))"
            if not guards:
                slow.append(f"    {fire}")
                continue
            code = gen.expr(guards[0]) if len(guards) == 1 else \
                "and_(" + ", ".join(gen.expr(x) for x in guards) + ")"
            slow += [f"    g = {code}", "    if g is True:", f"        {fire}", "    elif g is not False:",
                     f"        undecided.append((('b', {name!r}, {i}), g))"]
        slow += ["elif v is not False:", f"    undecided.append((('r', {name!r}), v))"]
        if reads:
            lines.append(f"if U.isdisjoint({gen.const_set(reads)}):")
            lines += ["    " + x for x in known[name]]
            lines.append("else:")
            lines += ["    " + x for x in slow]
        else:
            lines += known[name]
    return lines


def _phase1_known_parts(gen, flatten_outcomes):
    """([rule name], [plain-operator lines of that rule]) for the phase-1 rules."""
    names, parts = [], []
    for index, (s, r) in enumerate(gen.g.rules()):
        name = r.name.text
        if gen.m.phase.get(name, 1) != 1:
            continue
        body = [f"fired_rules.append(RULES[{index}])"]
        for i, (guards, _) in enumerate(flatten_outcomes(r.outcomes, gen.m.groups)):
            fire = f"fired.append((RULES[{index}], {i}))"
            if guards:
                body += [f"if {' and '.join(gen.known(g) for g in guards)}:", f"    {fire}"]
            else:
                body.append(fire)
        if r.when is None:
            parts.append(body)
        else:
            parts.append([f"if {gen.known(r.when)}:"] + ["    " + x for x in body])
        names.append(name)
    return names, parts
