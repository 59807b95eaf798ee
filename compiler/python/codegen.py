"""Code generation: `types.Model` -> the source text of a plain Python module.

Guideline text never becomes code: identifiers come only from the grammar's NAME token
(and are prefixed, so they cannot clash with Python keywords), and every literal is
emitted through `repr`.  The output is deterministic: same input, same bytes.
"""

from __future__ import annotations

from hgl.compiler.front import nodes as n
from hgl.compiler.python.codegen_fast import NoFastPath as _NoFastPath
from hgl.compiler.python.codegen_fast import decide_lines, known_filters, phase1_lines
from hgl.compiler.explain.words import conjuncts, selector_text, sentence, unparse
from hgl.compiler.check.types import Model, input_kind

VERSION = "0.1.0"  # when the shape of the output changes, also change hgl.runtime.api.CACHE_TAG

_CMP = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_PY_CMP = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

RUNTIME_NAMES = (
    "add", "and_", "drugs_of", "eq", "ge", "gt", "has_all", "has_any", "if_", "is_empty",
    "is_missing", "le", "lt", "member", "ne", "not_", "not_member", "or_", "sub", "union",
)


class _Gen:
    def __init__(self, model: Model, source_name: str, sha256: str):
        self.m = model
        self.g = model.guideline
        self.source_name = source_name
        self.sha256 = sha256
        self.out: list[str] = []
        self.consts: dict[tuple, str] = {}

    def w(self, line: str = "") -> None:
        self.out.append(line)

    # ------------------------------------------------------------------ expressions
    def const_set(self, values) -> str:
        key = tuple(sorted(values))
        if key not in self.consts:
            self.consts[key] = f"_SET{len(self.consts)}"
        return self.consts[key]

    def expr(self, e) -> str:
        m = self.m
        if isinstance(e, n.Ref):
            kind, name = m.refs[id(e)]
            return repr(name) if kind == "value" else f"e[{name!r}]"
        if isinstance(e, n.Quantity):
            return repr(m.literals.get(id(e), e.value))
        if isinstance(e, n.BoolLit):
            return repr(e.value)
        if isinstance(e, n.SetLit):
            return self.const_set(m.literals.get(id(e), ()))
        if isinstance(e, n.And):
            return "and_(" + ", ".join(self.expr(x) for x in _flatten(e, n.And)) + ")"
        if isinstance(e, n.Or):
            return "or_(" + ", ".join(self.expr(x) for x in _flatten(e, n.Or)) + ")"
        if isinstance(e, n.Not):
            return f"not_({self.expr(e.operand)})"
        if isinstance(e, n.Compare):
            parts = [f"{_CMP[op]}({self.expr(a)}, {self.expr(b)})"
                     for op, a, b in zip(e.ops, e.operands, e.operands[1:])]
            return parts[0] if len(parts) == 1 else "and_(" + ", ".join(parts) + ")"
        if isinstance(e, n.IsMissing):
            inner = f"is_missing({self.expr(e.operand)})"
            return f"not_({inner})" if e.negated else inner
        if isinstance(e, n.IsEmpty):
            inner = f"is_empty({self.expr(e.operand)})"
            return f"not_({inner})" if e.negated else inner
        if isinstance(e, n.Member):
            fn = "not_member" if e.negated else "member"
            return f"{fn}({self.expr(e.element)}, {self.expr(e.collection)})"
        if isinstance(e, n.SetTest):
            fn = "has_any" if e.quantifier == "any" else "has_all"
            return f"{fn}({self.expr(e.left)}, {self.expr(e.right)})"
        if isinstance(e, n.Binary):
            fn = {"+": "add", "-": "sub", "union": "union"}[e.op]
            return f"{fn}({self.expr(e.left)}, {self.expr(e.right)})"
        if isinstance(e, n.DrugsOf):
            return f"drugs_of({self.expr(e.operand)}, OPTIONS)"
        if isinstance(e, n.HasRole):
            return f"P.has({e.option.text!r}, {e.role!r})"
        if isinstance(e, n.AnyOption):
            return f"P.any({e.role!r}, lambda o: {self.filters(e.filters)})"
        if isinstance(e, n.If):
            args = []
            for c, v in e.branches:
                args += [self.expr(c), self.expr(v)]
            args.append(self.expr(e.otherwise))
            return "if_(" + ", ".join(args) + ")"
        raise AssertionError(f"no code for {type(e).__name__}")  # pragma: no cover

    def known(self, e, proposal: bool = False, local=None) -> str:
        """The same expression for a case with no missing value: plain Python operators, short-circuit.

        Equivalent to `expr` when no input is Unknown (then no value is), and much faster.
        `proposal`: the code may read the proposal `P`; `local(name)`: the variable holding a
        symbol's value (both for decide_known, hgl.compiler.python.codegen_fast).
        """
        def k(x):
            return self.known(x, proposal, local)
        if local is not None and isinstance(e, n.Ref) and self.m.refs[id(e)][0] != "value":
            return local(self.m.refs[id(e)][1])
        if isinstance(e, (n.Ref, n.Quantity, n.BoolLit, n.SetLit)):
            return self.expr(e)
        if isinstance(e, n.And):
            return "(" + " and ".join(k(x) for x in _flatten(e, n.And)) + ")"
        if isinstance(e, n.Or):
            return "(" + " or ".join(k(x) for x in _flatten(e, n.Or)) + ")"
        if isinstance(e, n.Not):
            return f"(not {k(e.operand)})"
        if isinstance(e, n.Compare):
            parts = [k(e.operands[0])]
            for op, x in zip(e.ops, e.operands[1:]):
                parts += [_PY_CMP[op], k(x)]
            return "(" + " ".join(parts) + ")"
        if isinstance(e, n.IsMissing):
            return repr(bool(e.negated))
        if isinstance(e, n.IsEmpty):
            return f"(bool({k(e.operand)}))" if e.negated else f"(not {k(e.operand)})"
        if isinstance(e, n.Member):
            return f"({k(e.element)} {'not in' if e.negated else 'in'} {k(e.collection)})"
        if isinstance(e, n.SetTest):
            if e.quantifier == "any":
                return f"(not {k(e.left)}.isdisjoint({k(e.right)}))"
            return f"({k(e.right)} <= {k(e.left)})"
        if isinstance(e, n.Binary):
            return f"({k(e.left)} {'|' if e.op == 'union' else e.op} {k(e.right)})"
        if isinstance(e, n.DrugsOf):
            return f"drugs_of({k(e.operand)}, OPTIONS)"
        if isinstance(e, n.If):
            text = k(e.otherwise)
            for c, v in reversed(e.branches):
                text = f"{k(v)} if {k(c)} else {text}"
            return f"({text})"
        if proposal and isinstance(e, n.HasRole):
            return f"P.has({e.option.text!r}, {e.role!r})"
        if proposal and isinstance(e, n.AnyOption):
            return f"P.any({e.role!r}, lambda o: {known_filters(self, e.filters, local)})"
        raise _NoFastPath(type(e).__name__)  # reads the proposal: phase 2 only

    def filters(self, filters) -> str:
        parts = []
        for f in filters:
            v = self.expr(f.value)
            if isinstance(f, n.Containing):
                parts.append(f"has_any(o.drugs, {v})" if f.any_of else f"member({v}, o.drugs)")
            elif isinstance(f, n.AllDrugsIn):
                parts.append(f"and_(bool(o.drugs), has_all({v}, o.drugs))")
            else:
                parts.append(f"has_any(o.ids, {v})")
        if not parts:
            return "True"
        return parts[0] if len(parts) == 1 else "and_(" + ", ".join(parts) + ")"

    def _sentences(self, exprs):
        """(conjunct, sentence pieces) for every conjunct of the conditions, in order."""
        for c in exprs:
            for x in conjuncts(c):
                yield x, sentence(x, self.m)

    def why(self, exprs) -> str:
        """A list expression of (pieces, truth) for each conjunct."""
        items = []
        for x, parts in self._sentences(exprs):
            pieces = [repr(p) if isinstance(p, str) else
                      f"Value(e[{p[1]!r}], {self.m.symbols[p[1]].type.unit!r})" for p in parts]
            items.append(f"(({', '.join(pieces)},), {self.expr(x)})")
        return "[" + ", ".join(items) + "]"

    def because(self, exprs) -> str:
        """Templates of the conjuncts' sentences: text, or (name, unit) slots the runtime fills."""
        return repr(tuple(
            tuple(p if isinstance(p, str) else (p[1], self.m.symbols[p[1]].type.unit) for p in parts)
            for _x, parts in self._sentences(exprs)))

    def written(self, exprs) -> str:
        """The conjuncts as written, aligned with `why` and `because` (for `why not`)."""
        return repr(tuple(unparse(x, self.m) for c in exprs for x in conjuncts(c)))

    # ------------------------------------------------------------------ module
    def module(self) -> str:
        body = self._body()
        head = self._head()
        consts = [f"{name} = frozenset({list(values)!r})" for values, name in
                  sorted(self.consts.items(), key=lambda kv: int(kv[1][4:]))]
        return "\n".join(head + consts + ["", ""] + body).rstrip() + "\n"

    def _head(self) -> list[str]:
        meta = self.g.meta
        gid = meta.id.text if meta else "guideline"
        title = (meta.get("title") if meta else None) or gid
        lines = [
            f"# Generated by hgl {VERSION}: do not edit, edit the .hgl file named in SOURCE.",
            f"# source sha256 {self.sha256}",
            repr(f"Compiled guideline {gid}: {title}."),
            "",
            "from hgl.runtime.logic import (",
        ]
        for i in range(0, len(RUNTIME_NAMES), 8):
            lines.append("    " + ", ".join(RUNTIME_NAMES[i:i + 8]) + ",")
        lines += [
            ")",
            "from hgl.runtime.model import (",
            "    Branch, Constraint, Flag, InputSpec, Option, Outcome, Rule, Section, Selector, Value,",
            ")",
            "",
            f"HGL_VERSION = {VERSION!r}",
            f"SOURCE = {self.source_name!r}",
            f"SOURCE_SHA256 = {self.sha256!r}",
            "",
        ]
        return lines

    def _body(self) -> list[str]:
        self._metadata()
        self._options()
        self._inputs()
        self._derive()
        self._constraints()
        self._rules()
        self._explain()
        return self.out

    # ---------------------------------------------------------------- explanations (owned by helper "explain")
    def _explain(self):
        """EXPLAIN: the trees `because` and `why not` are rendered from (see explain.Words)."""
        from hgl.compiler.explain.words import explanation_table, tree_source

        table = explanation_table(self.m, lambda r: _flatten_outcomes(r.outcomes, self.m.groups))
        self.w("")
        self.w("")
        self.w("# The words of every `because` and `why not`, rendered per case by hgl.runtime.result.")
        self.w("EXPLAIN = {")
        for key, entries in table.items():
            self.w(f"    {key!r}: {{")
            for name, tree in entries.items():
                self.w(f"        {name!r}: {tree_source(tree, self.expr)},")
            self.w("    },")
        self.w("}")
    # ---------------------------------------------------------------- end of the explanations block

    def _metadata(self):
        g = self.g
        meta = {}
        if g.meta:
            meta["id"] = g.meta.id.text
            for f in g.meta.fields:
                meta[f.key.text] = f.value.value if f.value.kind != "name" else f.value.value.text
        self.w(f"GUIDELINE = {_pretty(meta)}")
        self.w()
        self.w("PROVENANCE = {")
        for p in g.provenance:
            self.w(f"    {p.name.text!r}: {{'meaning': {p.meaning!r}, 'caution': {p.caution!r}}},")
        self.w("}")
        self.w("STRENGTHS = {" + ", ".join(f"{s.name.text!r}: {s.meaning!r}" for s in g.strengths) + "}")
        self.w()
        self.w("EVIDENCE = {")
        for e in g.evidence:
            fields = {f.key.text: (f.value.value if f.value.kind != "name" else f.value.value.text)
                      for f in e.fields}
            self.w(f"    {e.name.text!r}: {fields!r},")
        self.w("}")
        self.w()
        self.w("VOCABULARIES = {")
        for v in g.vocabularies:
            entries = {x.text: (label or x.text) for x, label in v.entries}
            self.w(f"    {v.name.text!r}: {entries!r},")
        self.w("}")
        self.w()

    def _options(self):
        self.w("OPTIONS = {")
        for o in self.g.options:
            drugs = f", drugs=frozenset({sorted(d.text for d in o.drugs)!r})" if o.drugs else ""
            stands = f", stands_for={o.stands_for.text!r}" if o.stands_for else ""
            self.w(f"    {o.name.text!r}: Option({o.name.text!r}, {o.kind!r}, {o.label!r}{drugs}{stands}),")
        self.w("}")
        self.w("FLAGS = {")
        for f in self.g.flags:
            self.w(f"    {f.name.text!r}: Flag({f.name.text!r}, {f.label!r}),")
        self.w("}")
        self.w()

    def _inputs(self):
        for title, decls in (("INPUTS", self.g.inputs), ("PARAMETERS", self.g.parameters)):
            self.w(f"{title} = (")
            for d in decls:
                self.w(f"    {self._input_spec(d)},")
            self.w(")")
        self.w()

    def _input_spec(self, d: n.InputDecl) -> str:
        sym = self.m.symbols[d.name.text]
        t = sym.type
        args = [repr(d.name.text)]
        kind = input_kind(t)
        args.append(repr(kind))
        args.append(repr(sym.label))
        if d.description:
            args.append(f"description={d.description!r}")
        if t.kind == "num":
            if t.unit:
                args.append(f"unit={t.unit!r}")
            if d.type.minimum is not None:
                args.append(f"minimum={d.type.minimum!r}")
            if d.type.maximum is not None:
                args.append(f"maximum={d.type.maximum!r}")
        if t.kind in ("elem", "set"):
            args.append(f"values={self.m.domains[t.domain].values!r}")
        if d.default is not None:
            args.append(f"default={self._literal(d.default, t)}")
        if d.is_parameter:
            args.append("is_parameter=True")
        if d.provenance:
            args.append(f"provenance={tuple(p.text for p in d.provenance)!r}")
        args.append(f"line={d.span.line!r}")
        return "InputSpec(" + ", ".join(args) + ")"

    def _literal(self, lit: n.Literal, t) -> str:
        if lit.kind == "number":
            return repr(self.m.literals.get(id(lit), lit.value))
        if lit.kind == "bool":
            return repr(lit.value)
        if lit.kind == "name":
            return repr(lit.value.text)
        if lit.kind == "set":
            return f"frozenset({sorted(i.text for i in lit.value.items)!r})"
        return repr(lit.value)

    def _derive(self):
        self.w("")
        self.w("def derive(e):")
        self.w('    """Add the definitions to the environment, each after those it uses."""')
        if not self.m.definition_order:
            self.w("    return e")
        for d in self.m.definition_order:
            self.w(f"    e[{d.name.text!r}] = {self.expr(d.expr)}  # line {d.span.line}")
        if self.m.definition_order:
            self.w("    return e")
        self.w("\n")
        try:
            body = [f"    e[{d.name.text!r}] = {self.known(d.expr)}" for d in self.m.definition_order]
        except _NoFastPath:
            self.w("derive_known = None  # a definition reads the proposal: no fast path")
            return
        self.w("def derive_known(e):")
        self.w('    """derive() for a case with no missing value (the runtime checks that first)."""')
        for line in body:
            self.w(line)
        self.w("    return e")
        self.w("\n")
        self.w("def derive_mixed(e, U):")
        self.w('    """derive() when the inputs U are missing: plain operators where a definition reads none of them."""')
        for d in self.m.definition_order:
            reads = self.m.reads.get(d.name.text, frozenset())
            if reads:
                self.w(f"    e[{d.name.text!r}] = {self.known(d.expr)} if U.isdisjoint({self.const_set(reads)}) "
                       f"else {self.expr(d.expr)}")
            else:
                self.w(f"    e[{d.name.text!r}] = {self.known(d.expr)}")
        self.w("    return e")
        self.w("")

    def _constraints(self):
        for c in self.g.constraints:
            self.w("")
            self.w(f"def constraint_{c.name.text}(e, P):  # line {c.span.line}")
            self.w(f"    return {self.expr(c.expr)}")
        self.w("")
        self.w("CONSTRAINTS = (")
        for c in self.g.constraints:
            inputs = self._constraint_inputs(c)
            self.w(f"    Constraint({c.name.text!r}, {(c.label or unparse(c.expr, self.m))!r}, "
                   f"constraint_{c.name.text}, {inputs!r}, line={c.span.line!r}),")
        self.w(")")
        self.w("")

    def _constraint_inputs(self, c) -> tuple:
        order = [d.name.text for d in self.g.inputs]
        reads = self.m.reads.get(f"constraint:{c.name.text}", frozenset())
        return tuple(x for x in order if x in reads)

    def _rules(self):
        sections = []
        rules = []
        for s, r in self.g.rules():
            rules.append(self._rule(s, r))
        for s in self.g.sections:
            sections.append(
                f"    Section({s.name.text!r}, {(s.title or s.name.text)!r}, spec={s.spec!r}, "
                f"description={s.description!r}, provenance={tuple(p.text for p in s.provenance)!r}, "
                f"evidence={tuple(x.text for x in s.evidence)!r}, line={s.span.line!r}),")
        self.w("")
        self.w("SECTIONS = (")
        for line in sections:
            self.w(line)
        self.w(")")
        comb = self.g.combination
        order = tuple(x.text for x in comb.governing_order) if comb else ()
        roles = tuple(x.text for x in comb.roles) if comb and comb.roles else ("avoid", "preferred", "alternative")
        self.w(f"GOVERNING_ORDER = {order!r}")
        self.w(f"ROLE_ORDER = {roles!r}")
        self.w("")
        self.w("RULES = (")
        for line in rules:
            self.w(line)
        self.w(")")
        # the fast paths for a case with no missing value (hgl.compiler.python.codegen_fast)
        self.out += phase1_lines(self, _flatten_outcomes)
        self.out += decide_lines(self, _flatten_outcomes)

    def _rule(self, s: n.Section, r: n.Rule) -> str:
        name = r.name.text
        fn = f"rule_{name}"
        self.w("\n")
        self.w(f"# line {r.span.line}: rule {name} (section {s.name.text})")
        if r.when is not None:
            self.w(f"def {fn}(e, P):")
            self.w(f"    return {self.expr(r.when)}")
            self.w("")
            self.w("")
            self.w(f"def {fn}_why(e, P):")
            self.w(f"    return {self.why([r.when])}")
        branches = _flatten_outcomes(r.outcomes, self.m.groups)
        branch_src = []
        for i, (guards, outs) in enumerate(branches):
            guard = why = "None"
            if guards:
                self.w("")
                self.w("")
                self.w(f"def {fn}_{i}(e, P):")
                code = self.expr(guards[0]) if len(guards) == 1 else \
                    "and_(" + ", ".join(self.expr(x) for x in guards) + ")"
                self.w(f"    return {code}")
                self.w("")
                self.w("")
                self.w(f"def {fn}_{i}_why(e, P):")
                self.w(f"    return {self.why(guards)}")
                guard, why = f"{fn}_{i}", f"{fn}_{i}_why"
            outs_src = [self._outcome(o) for o in outs]
            branch_src.append(f"Branch({guard}, {_tuple(outs_src)}, {why}, because={self.because(guards)}, "
                              f"conditions={self.written(guards)})")
        self.w("")
        when = [r.when] if r.when is not None else []
        why = f"{fn}_why" if r.when is not None else "None"
        prov = self.m.rule_provenance.get(name, ())
        evid = self.m.rule_evidence.get(name, ())
        return (f"    Rule({name!r}, {(r.title or name)!r}, {s.name.text!r}, phase={self.m.phase.get(name, 1)!r}, "
                f"governs={r.governs!r}, when={fn if when else None}, why={why},\n"
                f"         branches={_tuple(branch_src)},\n"
                f"         provenance={prov!r}, evidence={evid!r}, "
                f"strength={(r.strength.text if r.strength else None)!r},\n"
                f"         rationale={r.rationale!r}, line={r.span.line!r}, column={r.span.column!r},\n"
                f"         because={self.because(when)}, conditions={self.written(when)}),")

    def _outcome(self, o) -> str:
        if isinstance(o, n.Propose):
            return f"Outcome('propose', option={o.options[0].text!r}, role={o.role!r})"
        if isinstance(o, n.RaiseFlag):
            return f"Outcome('flag', flag={o.flags[0].text!r})"
        if isinstance(o, n.Request):
            flag = o.flag.text if o.flag else None
            return f"Outcome('request', input={o.input.text!r}, flag={flag!r})"
        if isinstance(o, n.Withhold):
            return "Outcome('withhold')"
        if isinstance(o, n.Restrict):
            return f"Outcome({o.action!r}, selector={self._selector(o.selector)})"
        raise AssertionError(type(o))  # pragma: no cover

    def _selector(self, sel) -> str:
        text = selector_text(sel, self.m)
        if isinstance(sel, n.SelectOption):
            return f"Selector({text!r}, option={sel.option.text!r})"
        except_ = sorted(x.text for x in sel.except_)
        return (f"Selector({text!r}, test=lambda e, o: {self.filters(sel.filters)}, "
                f"except_=frozenset({except_!r}))")


def _flatten(e, cls):
    out = []
    for x in e.operands:
        out.extend(_flatten(x, cls) if isinstance(x, cls) else [x])
    return out


def _flatten_outcomes(outcomes, groups, guards=(), depth=0):
    """Nested if/else and `use` blocks -> [(guards, [simple outcomes])], one entry per distinct path."""
    order: list[tuple] = []
    table: dict[tuple, list] = {}

    def add(path, o):
        key = tuple(id(x) for x in path)
        if key not in table:
            table[key] = []
            order.append((key, path))
        table[key].append(o)

    def go(outs, path, depth):
        for o in outs:
            if isinstance(o, n.OutcomeIf):
                negs: list = []
                for cond, body in o.branches:
                    go(body, path + tuple(negs) + (cond,), depth + 1)
                    negs.append(n.Not(cond, cond.span))
                go(o.otherwise, path + tuple(negs), depth + 1)
            elif isinstance(o, n.Use):
                grp = groups.get(o.group.text)
                if grp is not None and depth < 20:
                    go(grp.outcomes, path, depth + 1)
            elif isinstance(o, n.Propose):
                for opt in o.options:
                    add(path, n.Propose(o.role, (opt,), o.span))
            elif isinstance(o, n.RaiseFlag):
                for f in o.flags:
                    add(path, n.RaiseFlag((f,), o.span))
            else:
                add(path, o)

    go(outcomes, tuple(guards), depth)
    return [(path, table[key]) for key, path in order]


def _tuple(items) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _pretty(d: dict) -> str:
    if not d:
        return "{}"
    return "{\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in d.items()) + "}"


def generate(model: Model, source_name: str, sha256: str) -> str:
    """The Python source of the compiled guideline."""
    return _Gen(model, source_name, sha256).module()
