"""Checking: `nodes.Guideline` -> the resolved `program.Program` plus every diagnostic, collected in one pass."""

from __future__ import annotations

from hgl.runtime import units

from hgl.compiler.front import nodes as n
from hgl.compiler.front.diagnostics import Diagnostic, closest, did_you_mean
from hgl.compiler.check.exprcheck import ExprChecker
from hgl.compiler.check import program as p
from hgl.compiler.check.types import BOOL, Domain, Model, Symbol, T, input_kind

MAX_DEPTH = 20  # outcome groups nest at most this deep (a cycle is reported, HGL407, and cut here)

# What every guideline must say about itself; a local protocol has no DOI, panel or publication
# date, so those are optional (design page, "Guideline metadata").
META_REQUIRED = ("title", "version", "status", "source", "disclaimer")
META_OPTIONAL = ("doi", "panel", "date", "pmid", "url", "description", "jurisdiction", "language")
EVIDENCE_FIELDS = ("trial", "design", "setting", "result", "citation", "note", "doi", "pmid", "status")
STATUSES = ("draft", "final")


class Checker:
    """Runs every check over a guideline; `run` returns the model and the diagnostics."""

    def __init__(self, guideline: n.Guideline):
        self.g = guideline
        self.model = Model(guideline)
        self.diags: list[Diagnostic] = []
        self.used: set[tuple[str, str]] = set()
        self.declared: dict[tuple[str, str], n.Name] = {}

    # ------------------------------------------------------------------ helpers
    def error(self, code, message, span, hint=None, notes=()):
        self.diags.append(Diagnostic(code, message, span, hint, tuple(notes)))

    def declare(self, kind: str, name: n.Name, namespace: str | None = None) -> bool:
        key = (namespace or kind, name.text)
        if key in self.declared:
            first = self.declared[key]
            self.error("HGL202", f"{kind} '{name.text}' is declared twice", name.span,
                       f"the first declaration is at line {first.span.line}; rename or remove one")
            return False
        self.declared[key] = name
        return True

    def use(self, namespace: str, name: n.Name, kind_words: str, code: str = "HGL201") -> bool:
        if (namespace, name.text) in self.declared:
            self.used.add((namespace, name.text))
            return True
        candidates = [k[1] for k in self.declared if k[0] == namespace]
        suggested = closest(name.text, candidates)
        hint = None
        if suggested:
            decl = self.declared[(namespace, suggested)]
            hint = f"did you mean '{suggested}'? (declared at line {decl.span.line})"
            # the misspelt use was meant for it: warning that it is unused would be a cascade
            self.used.add((namespace, suggested))
        elif candidates:  # nothing close: say what there is, when the list is short enough to read
            hint = "declared: " + ", ".join(sorted(candidates)[:8]) + (", …" if len(candidates) > 8 else "")
        self.error(code, f"unknown {kind_words} '{name.text}'", name.span, hint)
        return False

    # ------------------------------------------------------------------ passes
    def run(self) -> tuple[p.Program, list[Diagnostic]]:
        self.check_meta()
        self.declare_vocabularies()
        self.declare_symbols()
        ex = ExprChecker(self)
        self.expr = ex
        ex.check_definitions()
        defaults = self.check_defaults()
        order = [d.name.text for d in self.g.inputs]
        constraints = []
        for c in self.g.constraints:
            expr = ex.check_bool(c.expr, allow_proposal=False)
            reads = ex.inputs_read(expr)
            constraints.append(p.Constraint(c.name.text, c.label, expr, tuple(x for x in order if x in reads), c.span))
        self.check_groups()
        sections = self.check_sections()
        self.check_combination()
        self.check_unused()
        comb = self.g.combination
        program = p.Program(
            guideline=self.g, meta=self.g.meta,
            inputs=tuple(self._input(d, defaults) for d in self.g.inputs if self._declared_symbol(d)),
            parameters=tuple(self._input(d, defaults) for d in self.g.parameters if self._declared_symbol(d)),
            definitions=tuple(ex.definitions), constraints=tuple(constraints), groups=dict(self.groups),
            sections=sections,
            role_order=tuple(x.text for x in comb.roles) if comb and comb.roles else ("avoid", "preferred", "alternative"),
            governing_order=tuple(x.text for x in comb.governing_order) if comb else (),
            symbols=self.model.symbols, domains=self.model.domains, options=self.model.options,
            flags=self.model.flags)
        program.rules_by_name.update((r.name, r) for s in sections for r in s.rules)
        return program, self.diags

    def _declared_symbol(self, d: n.InputDecl) -> bool:
        sym = self.model.symbols.get(d.name.text)
        return sym is not None and sym.decl is d

    def _input(self, d: n.InputDecl, defaults: dict) -> p.Input:
        sym = self.model.symbols[d.name.text]
        t = sym.type
        values = self.model.domains[t.domain].values if t.kind in ("elem", "set") and t.domain in self.model.domains \
            else ()
        num = d.type if isinstance(d.type, n.NumberType) else None
        return p.Input(d.name.text, input_kind(t), t, sym.label, d.description, values,
                       num.minimum if num else None, num.maximum if num else None,
                       defaults.get(d.name.text), d.name.text in defaults, d.is_parameter,
                       tuple(x.text for x in d.provenance), d, d.span)

    def check_meta(self):
        meta = self.g.meta
        if meta is None:
            self.error("HGL209", "the file has no 'guideline' block", n.NO_SPAN if not self.g.sections
                       else self.g.sections[0].span,
                       "start the file with: guideline my_id … end, giving " + ", ".join(META_REQUIRED))
            return
        seen = set()
        for f in meta.fields:
            key = f.key.text
            if key not in META_REQUIRED + META_OPTIONAL:
                suggested = closest(key, META_REQUIRED + META_OPTIONAL)
                self.error("HGL208", f"unknown guideline field '{key}'", f.key.span,
                           f"did you mean '{suggested}'?" if suggested else None)
                if suggested:  # a misspelt field is not also reported missing: one mistake, one error
                    seen.add(suggested)
                continue
            elif key in seen:
                self.error("HGL202", f"guideline field '{key}' is given twice", f.key.span)
            seen.add(key)
            if key == "status" and (f.value.kind != "name" or str(f.value.value) not in STATUSES):
                self.error("HGL303", "status must be 'draft' or 'final'", f.value.span)
            elif key == "date" and f.value.kind != "date":
                self.error("HGL301", "date must be written YYYY-MM-DD", f.value.span)
            elif key not in ("status", "date") and f.value.kind != "string":
                self.error("HGL301", f"guideline field '{key}' takes text in quotes", f.value.span)
        missing = [k for k in META_REQUIRED if k not in seen]
        if missing:
            self.error("HGL209", f"guideline '{meta.id.text}' lacks {', '.join(missing)}", meta.id.span,
                       "add each as a line inside the guideline block, e.g. version \"1.0\"")

    def declare_vocabularies(self):
        m = self.model
        for tag in self.g.provenance:
            self.declare("provenance tag", tag.name, "provenance")
        for s in self.g.strengths:
            self.declare("strength", s.name, "strength")
        for e in self.g.evidence:
            self.declare("evidence entry", e.name, "evidence")
            for f in e.fields:
                if f.key.text not in EVIDENCE_FIELDS:
                    self.error("HGL208", f"unknown evidence field '{f.key.text}'", f.key.span,
                               did_you_mean(f.key.text, EVIDENCE_FIELDS)
                               or "fields: " + ", ".join(EVIDENCE_FIELDS))
        for v in self.g.vocabularies:
            if self.declare("vocabulary", v.name, "vocabulary"):
                for entry, _label in v.entries:
                    self.declare(f"{v.name.text} entry", entry, f"vocab:{v.name.text}")
                values = tuple(e.text for e, _ in v.entries)
                m.domains[f"vocab:{v.name.text}"] = Domain(f"vocab:{v.name.text}", v.label or v.name.text, values)
        for o in self.g.options:
            if self.declare("option", o.name, "option"):
                m.options[o.name.text] = o
            for d in o.drugs:
                if ("vocabulary", "drug") not in self.declared:
                    self.error("HGL201", "options list drugs, but no 'vocabulary drug' is declared", d.span)
                    break
                self.used.add(("vocabulary", "drug"))
                self.use("vocab:drug", d, "drug")
        m.domains["option"] = Domain("option", "option", tuple(m.options))
        for f in self.g.flags:
            if self.declare("flag", f.name, "flag"):
                m.flags[f.name.text] = f
        for grp in self.g.groups:
            if self.declare("outcome group", grp.name, "group"):
                m.groups[grp.name.text] = grp

    def type_of_decl(self, d: n.InputDecl) -> T:
        t = d.type
        if isinstance(t, n.BoolType):
            return BOOL
        if isinstance(t, n.NumberType):
            unit = None
            if t.unit is not None:
                unit = units.canonical(t.unit.text)
                if unit is None:
                    self.error("HGL305", f"unknown unit '{t.unit.text}'", t.unit.span,
                               "units: " + ", ".join(units.UNITS))
            if t.minimum is not None and t.maximum is not None and t.minimum > t.maximum:
                self.error("HGL304", f"the range of '{d.name.text}' is empty ({t.minimum} > {t.maximum})", t.span)
            return T("num", unit, t.integer)
        if isinstance(t, n.EnumType):
            key = f"enum:{d.name.text}"
            seen: set[str] = set()
            for v in t.values:
                if v.text in seen:
                    self.error("HGL202", f"value '{v.text}' is listed twice", v.span)
                seen.add(v.text)
            self.model.domains[key] = Domain(key, d.label or d.name.text.replace("_", " "),
                                             tuple(dict.fromkeys(v.text for v in t.values)))
            return T("elem", domain=key)
        if isinstance(t, n.SetType):
            if self.use("vocabulary", t.vocabulary, "vocabulary"):
                return T("set", domain=f"vocab:{t.vocabulary.text}")
            return T("error")
        if isinstance(t, n.OptionRefType):
            key = f"optref:{t.kind}"
            values = tuple(o.name.text for o in self.g.options
                           if o.kind == t.kind and o.drugs and o.stands_for is None)
            self.model.domains[key] = Domain(key, f"{t.kind} option", values + ("none",))
            return T("elem", domain=key)
        return T("error")  # pragma: no cover

    def declare_symbols(self):
        m = self.model
        for d in self.g.inputs + self.g.parameters:
            kind = "parameter" if d.is_parameter else "input"
            if self.declare(kind, d.name, "symbol"):
                label = d.label or d.name.text.replace("_", " ")
                m.symbols[d.name.text] = Symbol(kind, d.name.text, self.type_of_decl(d), label, d)
            for tag in d.provenance:
                self.use("provenance", tag, "provenance tag", "HGL204")
        for d in self.g.definitions:
            if self.declare("definition", d.name, "symbol"):
                m.symbols[d.name.text] = Symbol("definition", d.name.text, T("error"),
                                                d.label or d.name.text.replace("_", " "), d)
        for c in self.g.constraints:
            self.declare("constraint", c.name, "constraint")
        for o in self.g.options:
            if o.stands_for is not None:
                self.check_stands_for(o)

    def check_stands_for(self, o: n.OptionDecl):
        """`stands for X`: X must be an input holding an option of the same kind."""
        target = o.stands_for
        m_sym = sym = self.model.symbols.get(target.text)
        if sym is None or sym.kind != "input":
            inputs = [k for k, s in self.model.symbols.items() if s.kind == "input"]
            hint = did_you_mean(target.text, inputs) or "name an input declared as: systemic option or none"
            self.error("HGL201", f"option '{o.name.text}' stands for '{target.text}', which is not an input",
                       target.span, hint)
            return
        t = m_sym.decl.type
        if not isinstance(t, n.OptionRefType) or t.kind != o.kind:
            self.error("HGL301", f"option '{o.name.text}' stands for '{target.text}', which does not hold "
                       f"a {o.kind} option", target.span, f"declare it as: {o.kind} option or none")
            return
        self.used.add(("symbol", target.text))

    def check_defaults(self) -> dict:
        """Each default, checked; gives input -> default value in the input's unit."""
        out = {}
        for d in self.g.inputs + self.g.parameters:
            sym = self.model.symbols.get(d.name.text)
            if sym is None:
                continue
            if d.default is None:
                if d.is_parameter:
                    self.error("HGL307", f"parameter '{d.name.text}' needs a default", d.name.span,
                               "add: default <value>")
                continue
            value = self.expr.check_literal(d.default, sym.type, d.type, what=f"default of '{d.name.text}'")
            if value is not None:
                out[d.name.text] = value
        return out

    def check_groups(self):
        self._cycles: set[frozenset] = set()
        self.groups: dict[str, p.Group] = {}
        for grp in self.g.groups:
            self._check_recursion(grp, [])
            outcomes = self.expr.check_outcomes(grp.outcomes)
            if self.model.groups.get(grp.name.text) is grp:
                self.groups[grp.name.text] = p.Group(grp.name.text, grp.label, outcomes, grp.span)

    def _check_recursion(self, grp: n.OutcomeGroup, stack: list[str]):
        if grp.name.text in stack:
            cycle = stack[stack.index(grp.name.text):]
            if frozenset(cycle) not in self._cycles:  # one cycle, one error, whichever group it is seen from
                self._cycles.add(frozenset(cycle))
                self.error("HGL407", f"outcome group '{grp.name.text}' uses itself", grp.name.span,
                           " -> ".join(cycle + [grp.name.text]))
            return True
        for use in _uses(grp.outcomes):
            target = self.model.groups.get(use.group.text)
            if target is not None and self._check_recursion(target, stack + [grp.name.text]):
                return True
        return False

    def check_sections(self) -> tuple[p.Section, ...]:
        sections = []
        for s in self.g.sections:
            self.declare("section", s.name, "section")
            for x in s.provenance:
                self.use("provenance", x, "provenance tag", "HGL204")
            for e in s.evidence:
                self.use("evidence", e, "evidence entry", "HGL205")
            rules = []
            for r in s.rules:
                if self.declare("rule", r.name, "rule"):
                    rules.append(self.check_rule(s, r))
                else:
                    self.check_rule(s, r)
            sections.append(p.Section(s.name.text, s.title, s.spec, s.description,
                                      tuple(x.text for x in s.provenance), tuple(x.text for x in s.evidence),
                                      tuple(rules), s.exclusive, s.span))
        return tuple(sections)

    def check_rule(self, s: n.Section, r: n.Rule) -> p.Rule:
        ex = self.expr
        name = r.name.text
        when = ex.check_bool(r.when, allow_proposal=True) if r.when is not None else None
        outcomes = ex.check_outcomes(r.outcomes)
        branches = flatten_outcomes(outcomes, self.groups)
        guards = [g for b in branches for g in b.guards]
        phase2 = (when is not None and p.reads_proposal(when)) or any(p.reads_proposal(g) for g in guards)
        if phase2:
            self._proposing_in_phase2(outcomes, f"rule '{name}'")
        if not r.outcomes:
            self.error("HGL405", f"rule '{r.name.text}' has no outcome", r.name.span,
                       "add prefer/alternative/avoid/demote/drop/flag/request lines, or remove the rule")
        prov = r.provenance or s.provenance
        if not prov:
            self.error("HGL406", f"rule '{r.name.text}' has no provenance", r.name.span,
                       "add 'provenance <tag>' to the rule or its section")
        for tag in r.provenance:
            self.use("provenance", tag, "provenance tag", "HGL204")
        for e in r.evidence:
            self.use("evidence", e, "evidence entry", "HGL205")
        if r.strength is not None:
            self.use("strength", r.strength, "strength", "HGL212")
        reads: set[str] = set()
        for c in ([when] if when is not None else []) + guards:
            reads |= ex.inputs_read(c)
        return p.Rule(name, r.title, s.name.text, when, outcomes, branches, r.governs, 2 if phase2 else 1,
                      frozenset(reads), r.strength.text if r.strength else None,
                      tuple(x.text for x in prov), tuple(dict.fromkeys(e.text for e in (r.evidence or s.evidence))),
                      r.rationale, r.name.span, r.span, r)

    def _proposing_in_phase2(self, outcomes, context: str):
        """A rule that reads the proposal cannot propose options itself (directly or through a group)."""
        for o in outcomes:
            if isinstance(o, p.Propose):
                self.error("HGL403", f"{context} asks what is proposed, so it cannot propose options itself",
                           o.span, "split it: one rule proposes, another reads the proposal")
            elif isinstance(o, p.Use):
                grp = self.groups.get(o.group)
                if grp is not None and any(isinstance(x, p.Propose) for b in flatten_outcomes(grp.outcomes, self.groups)
                                           for x in b.outcomes):
                    self.error("HGL403", f"{context} asks what is proposed, so it cannot use "
                               f"'{o.group}', which proposes options", o.span)
            elif isinstance(o, p.OutcomeIf):
                for _c, outs in o.branches:
                    self._proposing_in_phase2(outs, context)
                self._proposing_in_phase2(o.otherwise, context)

    def check_combination(self):
        c = self.g.combination
        governing = [(s, r) for s, r in self.g.rules() if r.governs]
        if c is None:
            if governing:
                s, r = governing[0]
                self.error("HGL402", f"rule '{r.name.text}' governs, but there is no governing order",
                           r.name.span, f"add a block: combination / governing order {s.name.text} / end")
            return
        if c.roles:
            names = [x.text for x in c.roles]
            if sorted(names) != ["alternative", "avoid", "preferred"]:
                self.error("HGL404", "roles must order exactly avoid, preferred and alternative",
                           c.roles[0].span, "e.g. roles avoid over preferred over alternative")
        order = [x.text for x in c.governing_order]
        for x in c.governing_order:
            if self.use("section", x, "section"):
                if order.count(x.text) > 1:
                    self.error("HGL202", f"section '{x.text}' appears twice in the governing order", x.span)
        for s, r in governing:
            if s.name.text not in order:
                self.error("HGL402", f"rule '{r.name.text}' governs, but its section '{s.name.text}' "
                           "is not in the governing order", r.name.span,
                           f"add '{s.name.text}' to 'governing order' in the combination block")
        for x in c.governing_order:
            sec = next((s for s in self.g.sections if s.name.text == x.text), None)
            if sec is not None and not any(r.governs for r in sec.rules):
                self.error("HGL404", f"section '{x.text}' is in the governing order but has no "
                           "governing rule", x.span, "mark the rules that replace other sections' "
                           "options with 'governs'")

    def check_unused(self):
        kinds = {"symbol": "input", "option": "option", "flag": "flag", "evidence": "evidence entry",
                 "vocabulary": "vocabulary",
                 "group": "outcome group", "provenance": "provenance tag", "strength": "strength"}
        for (ns, name), decl in sorted(self.declared.items(), key=lambda kv: (kv[1].span.line, kv[1].span.column)):
            if ns not in kinds or (ns, name) in self.used:
                continue
            kind = kinds[ns]
            if ns == "symbol":
                kind = self.model.symbols[name].kind if name in self.model.symbols else "name"
            self.error("HGL203", f"{kind} '{name}' is never used", decl.span,
                       "remove it, or use it in a rule" if ns != "provenance" else None)


def _uses(outcomes):
    for o in outcomes:
        if isinstance(o, n.Use):
            yield o
        elif isinstance(o, n.OutcomeIf):
            for _c, outs in o.branches:
                yield from _uses(outs)
            yield from _uses(o.otherwise)


def flatten_outcomes(outcomes, groups: dict, guards: tuple = (), depth: int = 0) -> tuple[p.Branch, ...]:
    """Resolved outcomes as written -> branches: one per distinct path through `if` blocks and `use`d groups.

    A branch's guards are the conditions on its path (an `else` contributes the negations of
    the conditions before it); its outcomes propose one option or raise one flag each.
    """
    order: list[tuple] = []
    table: dict[tuple, list] = {}

    def add(path, o):
        if path not in table:
            table[path] = []
            order.append(path)
        table[path].append(o)

    def go(outs, path, depth):
        for o in outs:
            if isinstance(o, p.OutcomeIf):
                negs: list = []
                for cond, body in o.branches:
                    go(body, path + tuple(negs) + (cond,), depth + 1)
                    negs.append(p.Not(cond, cond.span))
                go(o.otherwise, path + tuple(negs), depth + 1)
            elif isinstance(o, p.Use):
                grp = groups.get(o.group)
                if grp is not None and depth < MAX_DEPTH:
                    go(grp.outcomes, path, depth + 1)
            elif isinstance(o, p.Propose):
                for opt in o.options:
                    add(path, p.Propose(o.role, (opt,), o.span))
            elif isinstance(o, p.RaiseFlag):
                for f in o.flags:
                    add(path, p.RaiseFlag((f,), o.span))
            else:
                add(path, o)

    go(outcomes, tuple(guards), depth)
    return tuple(p.Branch(path, tuple(table[path])) for path in order)


def check(guideline: n.Guideline) -> tuple[p.Program, list[Diagnostic]]:
    """Check a parsed guideline; returns the resolved program and all diagnostics (errors and warnings)."""
    return Checker(guideline).run()
