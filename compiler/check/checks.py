"""Checking: `nodes.Guideline` -> the resolved `program.Program` plus every diagnostic, collected in one pass."""

from __future__ import annotations


from hgl.compiler.front import nodes as n
from hgl.compiler.check import accepts
from hgl.compiler.front.diagnostics import Diagnostic, closest, did_you_mean
from hgl.compiler.check import units
from hgl.compiler.check.exprcheck import ExprChecker
from hgl.compiler.check.quantities import resolve_unit
from hgl.compiler.check import program as p
from hgl.compiler.check import fhirbind
from hgl.compiler.check.types import BOOL, Domain, Model, Symbol, T, input_kind

MAX_DEPTH = 20  # outcome groups nest at most this deep (a cycle is reported, HGL407, and cut here)

# What every guideline must say about itself (an error without them), what a guideline put in
# front of clinicians should say (a warning, HGL214), and what is optional: a local protocol has
# no DOI, panel or publication date (design page, "Guideline metadata").
META_REQUIRED = ("title", "version")
META_RECOMMENDED = ("status", "source", "disclaimer")
META_OPTIONAL = META_RECOMMENDED + ("doi", "panel", "date", "pmid", "url", "description", "jurisdiction", "language",
                                     "canonical")  # canonical: base of the FHIR export's urls (check/fhirbind.py)
EVIDENCE_FIELDS = ("trial", "design", "setting", "result", "citation", "note", "doi", "pmid", "url", "status")
# Reference fields of an evidence entry, shown as links by the site: each value's form, with an example
# (the same fields of the guideline block are shown as a link only when they have this form).
REFERENCE_FORMS = {"pmid": (r"[0-9]{1,9}", 'digits, e.g. pmid "39580869"'),
                   "doi": (r"10\.[0-9]+(\.[0-9]+)*/\S+", 'a DOI without its https://doi.org/ prefix, e.g. doi "10.1016/j.ctrv.2024.102853"'),
                   "url": (r"https?://[^\s<>\"']+", 'an http(s) address, e.g. url "https://www.example.org/guideline"')}
STATUSES = ("draft", "final")
# The roles every guideline has (`prefer`, `alternative`, `avoid`); a guideline may declare more.
DEFAULT_ROLES = {"preferred": ("Preferred", False), "alternative": ("Alternative", False), "avoid": ("Avoid", True)}
DEFAULT_ROLE_ORDER = ("avoid", "preferred", "alternative")


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
        fhir = fhirbind.check(self)  # the FHIR bindings, as the data of the module's FHIR table
        comb = self.g.combination
        roles = dict(DEFAULT_ROLES)
        roles.update((r.name.text, (r.label, r.against)) for r in self.g.roles if r.name.text not in DEFAULT_ROLES)
        kinds = {k.name.text: k.label for k in self.g.kinds}
        if comb is not None and comb.replaces is not None:
            replaces = tuple(x.text for x in comb.replaces if x.text in kinds)
        else:
            replaces = tuple(kinds) + (None,)
        program = p.Program(
            guideline=self.g, meta=self.g.meta,
            inputs=tuple(self._input(d, defaults) for d in self.g.inputs if self._declared_symbol(d)),
            parameters=tuple(self._input(d, defaults) for d in self.g.parameters if self._declared_symbol(d)),
            definitions=tuple(ex.definitions), constraints=tuple(constraints), groups=dict(self.groups),
            sections=sections,
            role_order=tuple(x.text for x in comb.roles) if comb and comb.roles else DEFAULT_ROLE_ORDER,
            governing_order=tuple(x.text for x in comb.governing_order) if comb else (),
            symbols=self.model.symbols, domains=self.model.domains, options=self.model.options,
            flags=self.model.flags, kinds=kinds, roles=roles, governed_kinds=replaces,
            accepts=self.check_accepts(), fhir=fhir)
        program.rules_by_name.update((r.name, r) for s in sections for r in s.rules)
        return program, self.diags

    def check_accepts(self) -> tuple[n.Accept, ...]:
        valid, diags = accepts.check(self.g, {r.name.text: r for _, r in self.g.rules()})
        self.diags.extend(diags)
        return valid

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
                       tuple(x.text for x in d.provenance), d, d.span, self._units(d, t))

    def _units(self, d: n.InputDecl, t: T) -> dict | None:
        """The units a case may give for a numeric input, with factors; None: HGL's words (the runtime knows them)."""
        if d.accepts is not None and t.unit is None:
            self.error("HGL302", f"'{d.name.text}' has no unit, so it accepts no other", d.accepts[0].span,
                       f"declare its unit first: input {d.name.text}: number in <unit>")
            return None
        if t.kind != "num" or t.unit is None:
            return None
        unit = units.resolve(t.unit)
        table = None if unit.word and d.accepts is None else units.accepted(unit)
        if d.accepts is not None:
            other = resolve_unit(self, d.accepts[0])
            if other is not None:
                table = dict(table or units.accepted(unit))
                table[other.text] = d.accepts[1]  # analyte-specific: the author's factor, not a dimension's
        return table

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
        advised = [k for k in META_RECOMMENDED if k not in seen]
        if advised:
            self.error("HGL214", f"guideline '{meta.id.text}' does not say its {', '.join(advised)}", meta.id.span,
                       "clinicians reading its results need them, e.g. source \"…\" and disclaimer \"…\"")

    def check_reference(self, f, owner: str):
        """A pmid, doi or url field of an evidence entry (shown as a link by the site) must be text of its form (HGL301)."""
        import re

        form = REFERENCE_FORMS.get(f.key.text)
        if form is None:
            return
        if f.value.kind != "string" or not re.fullmatch(form[0], str(f.value.value).strip()):
            self.error("HGL301", f"{owner} field '{f.key.text}' must be {form[1].split(', e.g.')[0]}", f.value.span,
                       "write it in quotes as " + form[1].split(", e.g. ")[1])

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
                else:
                    self.check_reference(f, "evidence")
        for v in self.g.vocabularies:
            if self.declare("vocabulary", v.name, "vocabulary"):
                for entry, _label in v.entries:
                    self.declare(f"{v.name.text} entry", entry, f"vocab:{v.name.text}")
                values = tuple(e.text for e, _ in v.entries)
                m.domains[f"vocab:{v.name.text}"] = Domain(f"vocab:{v.name.text}", v.label or v.name.text, values)
        for k in self.g.kinds:
            self.declare("option kind", k.name, "kind")
        for r in self.g.roles:
            if r.name.text in DEFAULT_ROLES:
                self.error("HGL202", f"role '{r.name.text}' is built in", r.name.span,
                           "preferred, alternative and avoid always exist; declare only other roles")
            elif self.declare("role", r.name, "role"):
                self.used.add(("role", r.name.text))  # a role is used by the roles order at least
        for o in self.g.options:
            if self.declare("option", o.name, "option"):
                m.options[o.name.text] = o
            self.check_option_kind(o.kind_ref)
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

    def check_option_kind(self, kind: n.Name | None) -> None:
        """An option's kind (or an option input's) must be one the guideline declares."""
        if kind is None:
            if self.g.kinds:
                pass  # an option without a kind is allowed beside kinds: it is governed by nothing
            return
        if not self.g.kinds:
            self.error("HGL201", f"unknown option kind '{kind.text}'", kind.span,
                       f"declare the kinds this guideline uses, e.g. kind {kind.text} \"{kind.text.replace('_', ' ')}\"")
            return
        self.use("kind", kind, "option kind")

    def type_of_decl(self, d: n.InputDecl) -> T:
        t = d.type
        if isinstance(t, n.BoolType):
            return BOOL
        if isinstance(t, n.NumberType):
            unit = None
            if t.unit is not None:
                resolved = resolve_unit(self, t.unit)
                unit = resolved.text if resolved is not None else None
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
        if isinstance(t, n.DateType):
            return T("date")
        if isinstance(t, n.OptionRefType):
            self.check_option_kind(t.kind)
            kind = t.kind.text if t.kind is not None else None
            key = f"optref:{kind or '*'}"
            values = tuple(o.name.text for o in self.g.options
                           if (kind is None or _kind(o) == kind) and o.drugs and o.stands_for is None)
            self.model.domains[key] = Domain(key, f"{kind} option" if kind else "option", values + ("none",))
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
            hint = did_you_mean(target.text, inputs) or "name an input declared as: <kind> option or none"
            self.error("HGL201", f"option '{o.name.text}' stands for '{target.text}', which is not an input",
                       target.span, hint)
            return
        t = m_sym.decl.type
        kind = _kind(o)
        if not isinstance(t, n.OptionRefType) or (t.kind is not None and t.kind.text != kind):
            what = f"{kind} option" if kind else "option"
            article = "an" if what[0] in "aeiou" else "a"
            self.error("HGL301", f"option '{o.name.text}' stands for '{target.text}', which does not hold "
                       f"{article} {what}", target.span, f"declare it as: {what} or none")
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
            self.check_roles_order(None)
            if governing:
                s, r = governing[0]
                self.error("HGL402", f"rule '{r.name.text}' governs, but there is no governing order",
                           r.name.span, f"add a block: combination / governing order {s.name.text} / end")
            return
        self.check_roles_order(c)
        for k in c.replaces or ():
            self.use("kind", k, "option kind")
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

    def check_roles_order(self, c: n.Combination | None) -> None:
        """`roles a over b over …` names every role once: the three built in and those declared."""
        every = list(DEFAULT_ROLES) + [r.name.text for r in self.g.roles if r.name.text not in DEFAULT_ROLES]
        if c is None or not c.roles:
            extra = every[len(DEFAULT_ROLES):]
            if extra:
                r = next(r for r in self.g.roles if r.name.text == extra[0])
                self.error("HGL404", f"role '{extra[0]}' has no place in the roles order", r.name.span,
                           "add to the combination block: roles " + " over ".join(("avoid", "preferred", *extra,
                                                                                     "alternative")))
            return
        seen: list[str] = []
        for x in c.roles:
            if x.text not in every:
                suggested = closest(x.text, every)
                self.error("HGL213", f"unknown role '{x.text}'", x.span,
                           f"did you mean '{suggested}'?" if suggested else "roles: " + ", ".join(every))
                if suggested:  # one mistake, one error: the misspelt role is not also left out
                    seen.append(suggested)
            elif x.text in seen:
                self.error("HGL202", f"role '{x.text}' appears twice in the roles order", x.span)
            seen.append(x.text)
        left = [r for r in every if r not in seen]
        if left:
            example = ("avoid", "preferred", *every[len(DEFAULT_ROLES):], "alternative")
            self.error("HGL404", "the roles order leaves out " + ", ".join(left), c.roles[0].span,
                       "name every role once, strongest first, e.g. roles " + " over ".join(example))

    def check_unused(self):
        kinds = {"symbol": "input", "option": "option", "kind": "option kind", "flag": "flag", "evidence": "evidence entry",
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


def _kind(o: n.OptionDecl) -> str | None:
    return o.kind


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
