"""Checking: `nodes.Guideline` -> `types.Model` plus every diagnostic, collected in one pass."""

from __future__ import annotations

from hgl.runtime import units

from hgl.compiler.front import nodes as n
from hgl.compiler.front.diagnostics import Diagnostic, did_you_mean
from hgl.compiler.check.exprcheck import ExprChecker
from hgl.compiler.check.types import BOOL, Domain, Model, Symbol, T

META_REQUIRED = ("title", "version", "status", "source", "doi", "panel", "date", "disclaimer")
META_OPTIONAL = ("pmid", "url", "description", "jurisdiction", "language")
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
        hint = did_you_mean(name.text, candidates)
        if hint:
            suggested = hint.split("'")[1]
            decl = self.declared[(namespace, suggested)]
            hint = hint + f" (declared at line {decl.span.line})"
            # the misspelt use was meant for it: warning that it is unused would be a cascade
            self.used.add((namespace, suggested))
        elif candidates:  # nothing close: say what there is, when the list is short enough to read
            hint = "declared: " + ", ".join(sorted(candidates)[:8]) + (", …" if len(candidates) > 8 else "")
        self.error(code, f"unknown {kind_words} '{name.text}'", name.span, hint)
        return False

    # ------------------------------------------------------------------ passes
    def run(self) -> tuple[Model, list[Diagnostic]]:
        self.check_meta()
        self.declare_vocabularies()
        self.declare_symbols()
        ex = ExprChecker(self)
        self.expr = ex
        ex.check_definitions()
        self.check_defaults()
        for c in self.g.constraints:
            ex.check_bool(c.expr, allow_proposal=False)
            self.model.reads[f"constraint:{c.name.text}"] = ex.inputs_read(c.expr)
        self.check_groups()
        self.check_sections()
        self.check_combination()
        self.check_unused()
        return self.model, self.diags

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
                hint = did_you_mean(key, META_REQUIRED + META_OPTIONAL)
                self.error("HGL208", f"unknown guideline field '{key}'", f.key.span, hint)
                if hint:  # a misspelt field is not also reported missing: one mistake, one error
                    seen.add(hint.split("'")[1])
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
        for p in self.g.provenance:
            self.declare("provenance tag", p.name, "provenance")
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
                m.reads[d.name.text] = frozenset({d.name.text}) if kind == "input" else frozenset()
            for p in d.provenance:
                self.use("provenance", p, "provenance tag", "HGL204")
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

    def check_defaults(self):
        for d in self.g.inputs + self.g.parameters:
            sym = self.model.symbols.get(d.name.text)
            if sym is None:
                continue
            if d.default is None:
                if d.is_parameter:
                    self.error("HGL307", f"parameter '{d.name.text}' needs a default", d.name.span,
                               "add: default <value>")
                continue
            self.expr.check_literal(d.default, sym.type, d.type, what=f"default of '{d.name.text}'")

    def check_groups(self):
        self._cycles: set[frozenset] = set()
        for grp in self.g.groups:
            self._check_recursion(grp, [])
            self.expr.check_outcomes(grp.outcomes, phase2=None, context=f"outcomes '{grp.name.text}'")

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

    def check_sections(self):
        m = self.model
        for s in self.g.sections:
            self.declare("section", s.name, "section")
            for p in s.provenance:
                self.use("provenance", p, "provenance tag", "HGL204")
            for e in s.evidence:
                self.use("evidence", e, "evidence entry", "HGL205")
            for r in s.rules:
                self.declare("rule", r.name, "rule")
                m.rule_section[r.name.text] = s.name.text
                self.check_rule(s, r)

    def check_rule(self, s: n.Section, r: n.Rule):
        m = self.model
        ex = self.expr
        reads_proposal = False
        if r.when is not None:
            ex.check_bool(r.when, allow_proposal=True)
            reads_proposal = ex.reads_proposal(r.when)
        reads_proposal = reads_proposal or any(ex.reads_proposal(c) for c in _guards(r.outcomes, m.groups))
        m.phase[r.name.text] = 2 if reads_proposal else 1
        ex.check_outcomes(r.outcomes, phase2=reads_proposal, context=f"rule '{r.name.text}'")
        if not r.outcomes:
            self.error("HGL405", f"rule '{r.name.text}' has no outcome", r.name.span,
                       "add prefer/alternative/avoid/demote/drop/flag/request lines, or remove the rule")
        prov = r.provenance or s.provenance
        if not prov:
            self.error("HGL406", f"rule '{r.name.text}' has no provenance", r.name.span,
                       "add 'provenance <tag>' to the rule or its section")
        for p in r.provenance:
            self.use("provenance", p, "provenance tag", "HGL204")
        for e in r.evidence:
            self.use("evidence", e, "evidence entry", "HGL205")
        if r.strength is not None:
            self.use("strength", r.strength, "strength", "HGL212")
        m.rule_provenance[r.name.text] = tuple(p.text for p in prov)
        m.rule_evidence[r.name.text] = tuple(dict.fromkeys(e.text for e in (r.evidence or s.evidence)))
        reads: set[str] = set()
        if r.when is not None:
            reads |= ex.inputs_read(r.when)
        for c in _guards(r.outcomes, m.groups):
            reads |= ex.inputs_read(c)
        m.reads[f"rule:{r.name.text}"] = frozenset(reads)

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


def _guards(outcomes, groups, depth=0):
    """Every condition inside outcome blocks, through used groups."""
    if depth > 20:
        return
    for o in outcomes:
        if isinstance(o, n.OutcomeIf):
            for c, outs in o.branches:
                yield c
                yield from _guards(outs, groups, depth + 1)
            yield from _guards(o.otherwise, groups, depth + 1)
        elif isinstance(o, n.Use) and o.group.text in groups:
            yield from _guards(groups[o.group.text].outcomes, groups, depth + 1)


def check(guideline: n.Guideline) -> tuple[Model, list[Diagnostic]]:
    """Check a parsed guideline; returns the model and all diagnostics (errors and warnings)."""
    return Checker(guideline).run()
