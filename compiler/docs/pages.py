"""Docs generation, model stage: a checked guideline (AST + Model) -> the plain data every page template reads.

Nothing here escapes or formats Markdown: values are plain text and names; the templates
and the Jinja environment (docgen.make_env) do the escaping, links and layout.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from hgl.compiler.front import nodes as n
from hgl.compiler.docs.text import Describer, Md, anchor, code, esc, options_in, outcome_items
from hgl.compiler.explain.words import conjuncts, unparse
from hgl.compiler.check.exprcheck import walk
from hgl.compiler.docs.flowchart import Box, tree

# Charts by a key symbol, drawn when the guideline declares that symbol: (symbol, title).
# Any guideline gets the governing-order chart and the chart of every rule by section.
CHART_KEYS = (
    ("line", "Sequencing by line of therapy"),
    ("bm_status", "Sequencing by brain-metastasis status"),
)
DISCLAIMER = "Decision support, not a medical device."


@dataclass
class Page:
    """One generated Markdown page: where it goes, its nav title, its template and data."""

    path: str  # relative to the docs folder, posix
    title: str
    template: str
    data: dict = field(default_factory=dict)


class Links:
    """Markdown links from one page to the anchors of a guideline's pages."""

    def __init__(self, gid: str, page: str, model, rule_section: dict[str, str]):
        self.gid, self.page, self.m, self.rule_section = gid, page, model, rule_section

    def url(self, target: str, frag: str | None = None, html: bool = False) -> str:
        rel = posixpath.relpath(f"{self.gid}/{target}", posixpath.dirname(self.page) or ".")
        if html:  # inside raw HTML (SVG) mkdocs does not rewrite .md links
            rel = rel[:-3] + ".html"
        return rel + (f"#{frag}" if frag else "")

    def _md(self, label, target, frag=None) -> Md:
        return Md(f"[{esc(label)}]({self.url(target, frag)})")

    def rule(self, rid: str, label: str | None = None) -> Md:
        sec = self.rule_section.get(rid, "")
        return self._md(label or rid, f"sections/{sec}.md", anchor("rule", rid))

    def rule_url(self, rid: str, html: bool = True) -> str:
        return self.url(f"sections/{self.rule_section.get(rid, '')}.md", anchor("rule", rid), html)

    def section(self, sid: str, label: str | None = None) -> Md:
        return self._md(label or sid, f"sections/{sid}.md")

    def option(self, oid: str, label: bool = True) -> Md:
        opt = self.m.options.get(oid)
        text = opt.label if (opt and label) else oid
        return self._md(text, "vocabulary.md", anchor("option", oid))

    def flag(self, fid: str) -> Md:
        f = self.m.flags.get(fid)
        return self._md(f.label if f else fid, "vocabulary.md", anchor("flag", fid))

    def input(self, name: str) -> Md:
        sym = self.m.symbols.get(name)
        if sym is not None and sym.kind == "parameter":
            return self._md(self.m.label(name), "parameters.md", anchor("parameter", name))
        if sym is not None and sym.kind == "definition":
            return self._md(self.m.label(name), "vocabulary.md", anchor("term", name))
        return self._md(self.m.label(name), "data.md", anchor("input", name))

    def evidence(self, eid: str, guideline: n.Guideline | None = None) -> Md:
        label = eid
        for e in (guideline.evidence if guideline else ()):
            if e.name.text == eid and e.get("trial"):
                label = str(e.get("trial"))
        return self._md(label, "evidence.md", anchor("evidence", eid))

    def group(self, name: str) -> Md:
        return Md(f"[{code(name)}]({self.url('vocabulary.md', anchor('group', name))})")

    def page_link(self, target: str, label: str) -> Md:
        return self._md(label, target)


# ---------------------------------------------------------------- facts shared by pages


def literal_text(lit: n.Literal | None) -> str:
    if lit is None:
        return ""
    if lit.kind == "set":
        items = [str(x) for x in getattr(lit.value, "items", lit.value)]
        return "{" + ", ".join(items) + "}" if items else "empty set"
    if lit.kind == "bool":
        return "yes" if lit.value else "no"
    if lit.kind == "number":
        v = lit.value
        text = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
        return f"{text} {lit.unit.text}" if lit.unit else text
    return str(lit.value)


def type_facts(decl: n.InputDecl, g: n.Guideline) -> dict:
    """Type, unit and allowed values of an input or parameter, in words."""
    t = decl.type
    if isinstance(t, n.BoolType):
        return {"type": "yes/no", "unit": "", "allowed": ["yes", "no"], "range": ""}
    if isinstance(t, n.NumberType):
        fmt = (lambda x: str(int(x)) if float(x).is_integer() else str(x))
        if t.minimum is not None and t.maximum is not None:
            rng = f"{fmt(t.minimum)} to {fmt(t.maximum)}"
        elif t.minimum is not None:
            rng = f"at least {fmt(t.minimum)}"
        elif t.maximum is not None:
            rng = f"at most {fmt(t.maximum)}"
        else:
            rng = ""
        return {"type": "integer" if t.integer else "number", "unit": t.unit.text if t.unit else "",
                "allowed": [], "range": rng}
    if isinstance(t, n.EnumType):
        return {"type": "one of", "unit": "", "allowed": [v.text for v in t.values], "range": ""}
    if isinstance(t, n.SetType):
        voc = next((v for v in g.vocabularies if v.name.text == t.vocabulary.text), None)
        return {"type": f"set of {voc.label if voc and voc.label else t.vocabulary.text}", "unit": "",
                "allowed": [e.text for e, _ in voc.entries] if voc else [], "range": ""}
    opts = [o.name.text for o in g.options if o.kind == t.kind]
    return {"type": f"{t.kind} option or none", "unit": "", "allowed": opts + ["none"], "range": ""}


def _symbol_closure(model) -> dict[str, frozenset]:
    """Every symbol -> the symbols it reads, transitively, itself included."""
    direct: dict[str, set] = {}
    for name, sym in model.symbols.items():
        deps = set()
        if sym.kind == "definition":
            for x in walk(sym.decl.expr):
                if isinstance(x, n.Ref):
                    kind, ref = model.refs.get(id(x), ("", ""))
                    if kind in ("input", "parameter", "definition"):
                        deps.add(ref)
        direct[name] = deps
    closure: dict[str, frozenset] = {}

    def visit(name, stack=()):
        if name in closure:
            return closure[name]
        out = {name}
        for d in direct.get(name, ()):
            if d not in stack:
                out |= visit(d, stack + (name,))
        closure[name] = frozenset(out)
        return closure[name]

    for name in model.symbols:
        visit(name)
    return closure


def _reads(expr, model, closure) -> set:
    out = set()
    for x in walk(expr):
        if isinstance(x, n.Ref):
            kind, ref = model.refs.get(id(x), ("", ""))
            if kind in ("input", "parameter", "definition"):
                out |= closure.get(ref, {ref})
    return out


# ---------------------------------------------------------------- the guideline's pages


class GuidelineDocs:
    """All pages of one guideline, from its CompileResult."""

    def __init__(self, result, display: str, *, cases: list[dict] | None = None, schema: dict | None = None,
                 verification: dict | None = None):
        self.r, self.g, self.m = result, result.guideline, result.model
        self.display = display
        self.gid = self.g.meta.id.text
        self.describe = Describer(self.m)
        self.cases = cases or []
        self.schema = schema
        self.verification = verification or {"available": False, "findings": []}
        self.rule_section = {r.name.text: s.name.text for s, r in self.g.rules()}
        self.caution = {p.name.text for p in self.g.provenance if p.caution}
        self.rules = {r.name.text: self._rule(s, r) for s, r in self.g.rules()}

    def links(self, page: str) -> Links:
        return Links(self.gid, page, self.m, self.rule_section)

    @property
    def title(self) -> str:
        return str(self.g.meta.get("title") or self.gid)

    # ------------------------------------------------------------ rules
    def _rule(self, s: n.Section, r: n.Rule) -> dict:
        rid = r.name.text
        items = outcome_items(r.outcomes, self.m, self.describe)
        prov = list(self.m.rule_provenance.get(rid, ()))
        strength = r.strength.text if r.strength else None
        meaning = next((d.meaning for d in self.g.strengths if strength and d.name.text == strength), "")
        return {
            "id": rid, "title": r.title or rid, "section": s.name.text, "governs": r.governs,
            "conditions": self.describe.conditions(r.when) if r.when is not None else [],
            "hgl": unparse(r.when, self.m) if r.when is not None else "",
            "outcomes": items, "options": options_in(items), "summary": self._summary(items),
            "strength": strength, "strength_meaning": meaning, "provenance": prov,
            "caution": [p for p in prov if p in self.caution],
            "evidence": list(self.m.rule_evidence.get(rid, ())), "rationale": r.rationale or "",
            "where": f"{self.display}:{r.span.line}", "phase": self.m.phase.get(rid, 1),
        }

    def _summary(self, items, depth=0) -> list[str]:
        """Short outcome words for a chart box."""
        out = []
        for it in items:
            k = it["kind"]
            if k == "propose":
                out.append(f"{it['role']}: " + ", ".join(self._olabel(o) for o in it["options"]))
            elif k == "restrict":
                what = ", ".join(self._olabel(o) for o in it["options"]) or it["text"]
                out.append(f"{it['action']}: {what}")
            elif k == "flag":
                out.append("flag: " + ", ".join(it["flags"]))
            elif k == "request":
                out.append(f"asks for {it['label']}")
            elif k == "withhold":
                out.append("no options shown")
            elif k == "use":
                out.append(it["label"])
            elif k == "if" and depth == 0:
                out.append(f"{it['text'].lower()}: " + "; ".join(self._summary(it["children"], 1)))
            elif k == "if":
                out.append("…")
        return out

    def _olabel(self, oid: str) -> str:
        opt = self.m.options.get(oid)
        return opt.label if opt else oid

    def provenance_counts(self) -> list[dict]:
        rows = []
        for p in self.g.provenance:
            tag = p.name.text
            rules = [rid for rid, r in self.rules.items() if tag in r["provenance"]]
            rows.append({"tag": tag, "meaning": p.meaning, "caution": p.caution, "count": len(rules)})
        return rows

    # ------------------------------------------------------------ charts
    def _leaf(self, rid: str, page: str) -> Box:
        r = self.rules[rid]
        kind = "caution" if r["caution"] else ("governs" if r["governs"] else "rule")
        title = ("⚠ " if r["caution"] else "") + r["title"] + (" — governs" if r["governs"] else "")
        return Box(title, r["summary"][:4], self.links(page).rule_url(rid), kind,
                   tooltip=f"rule {rid} ({r['where']})")

    def charts(self, page: str) -> list[dict]:
        """The flowcharts: by each key symbol declared, the governing order, every rule by section."""
        out = []
        closure = _symbol_closure(self.m)
        for key, title in CHART_KEYS:
            if key not in self.m.symbols:
                continue
            branches: dict[str, list[str]] = {}
            for s, r in self.g.rules():
                if r.when is None:
                    continue
                for c in conjuncts(r.when):
                    if key in _reads(c, self.m, closure):
                        branches.setdefault(self.describe.text(c), []).append(r.name.text)
                        break
            if not branches:
                continue
            groups = [(Box(text, kind="branch"), [self._leaf(rid, page) for rid in rids])
                      for text, rids in branches.items()]
            root = Box(self.m.label(key), ["(each branch: the condition on it)"], kind="root")
            out.append({"title": title, "svg": Md(tree(title, root, groups)),
                        "note": f"Rules whose condition reads {self.m.label(key)}, grouped by that condition."})
        comb = self.g.combination
        if comb and comb.governing_order:
            groups = []
            for i, sname in enumerate(comb.governing_order, 1):
                sec = next((s for s in self.g.sections if s.name.text == sname.text), None)
                if sec is None:
                    continue
                head = Box(f"{i}. {sec.title or sec.name.text}", [], self.links(page).url(
                    f"sections/{sec.name.text}.md", html=True), "section")
                groups.append((head, [self._leaf(r.name.text, page) for r in sec.rules if r.governs]))
            governing = {x.text for x in comb.governing_order}
            rest = [s for s in self.g.sections if s.name.text not in governing]
            groups.append((Box("No governing scenario fired", ["the line algorithm and the additions decide"],
                               kind="rest"),
                           [Box(s.title or s.name.text, [], self.links(page).url(f"sections/{s.name.text}.md",
                                                                                 html=True), "rest")
                            for s in rest]))
            title = "Governing scenarios: the first that fires decides systemic therapy"
            out.append({"title": title, "svg": Md(tree(title, None, groups, chain=True, chain_label="else")),
                        "note": "Read from top to bottom: a scenario's governing rules replace the systemic "
                                "options of every section below it."})
        groups = [(Box(s.title or s.name.text, [f"{len(s.rules)} rule(s)"],
                       self.links(page).url(f"sections/{s.name.text}.md", html=True), "section"),
                   [self._leaf(r.name.text, page) for r in s.rules]) for s in self.g.sections]
        title = "Every rule, by section"
        out.append({"title": title, "svg": Md(tree(title, None, groups)),
                    "note": "Each box links to its rule card."})
        return out

    # ------------------------------------------------------------ pages
    def pages(self) -> list[Page]:
        g, gid = self.g, self.gid
        meta = [(f.key.text, literal_text(f.value)) for f in g.meta.fields]
        sections = [{"id": s.name.text, "title": s.title or s.name.text, "spec": s.spec,
                     "description": s.description or "", "provenance": [p.text for p in s.provenance],
                     "evidence": [e.text for e in s.evidence],
                     "governing_rank": self._governing_rank(s.name.text),
                     "rules": [self.rules[r.name.text] for r in s.rules]} for s in g.sections]
        common = {"gid": gid, "title": self.title, "source": self.display, "sha256": self.r.source.sha256,
                  "caution": sorted(self.caution), "guideline": g}
        pages = [
            Page(f"{gid}/index.md", "Overview", "overview.md.j2",
                 {"meta": meta, "doi": g.meta.get("doi"), "disclaimer": DISCLAIMER,
                  "guideline_disclaimer": g.meta.get("disclaimer"), "provenance": self.provenance_counts(),
                  "sections": sections, "n_rules": len(self.rules), "n_cases": len(self.cases)}),
            Page(f"{gid}/flowcharts.md", "At a glance", "flowcharts.md.j2", {}),
        ]
        for s in sections:
            pages.append(Page(f"{gid}/sections/{s['id']}.md", s["title"], "section.md.j2", {"section": s}))
        pages += [
            Page(f"{gid}/data.md", "Data dictionary", "data.md.j2",
                 {"inputs": [self._decl(d) for d in g.inputs]}),
            Page(f"{gid}/parameters.md", "Parameters", "parameters.md.j2",
                 {"parameters": [self._decl(d) for d in g.parameters]}),
            Page(f"{gid}/vocabulary.md", "Options, flags and terms", "vocabulary.md.j2", self._vocabulary()),
            Page(f"{gid}/evidence.md", "Evidence", "evidence.md.j2", {"evidence": self._evidence()}),
            Page(f"{gid}/cases.md", "Worked cases", "cases.md.j2", {"files": self.cases}),
            Page(f"{gid}/verification.md", "Verification", "verification.md.j2",
                 {"verification": self.verification}),
        ]
        for p in pages:
            p.data = {**common, **p.data, "page": p.path, "L": self.links(p.path)}
        for p in pages:
            if p.template == "flowcharts.md.j2":
                p.data["charts"] = self.charts(p.path)
        return pages

    def _governing_rank(self, sid: str):
        comb = self.g.combination
        order = [x.text for x in comb.governing_order] if comb else []
        return order.index(sid) + 1 if sid in order else None

    def _decl(self, d: n.InputDecl) -> dict:
        facts = type_facts(d, self.g)
        uses = [rid for rid in self.rules if d.name.text in self.m.reads.get(f"rule:{rid}", ())]
        return {"name": d.name.text, "label": d.label or d.name.text, "description": d.description or "",
                "default": literal_text(d.default) if d.default is not None else None,
                "provenance": [p.text for p in d.provenance], "where": f"{self.display}:{d.span.line}",
                "used_by": uses, **facts}

    def _vocabulary(self) -> dict:
        g, m = self.g, self.m
        proposed: dict[str, list[str]] = {}
        flagged: dict[str, list[str]] = {}
        for rid, r in self.rules.items():
            for o in r["options"]:
                proposed.setdefault(o, []).append(rid)
            for f in _flags_in(r["outcomes"]):
                flagged.setdefault(f, []).append(rid)
        options = [{"id": o.name.text, "kind": o.kind, "label": o.label, "drugs": [d.text for d in o.drugs],
                    "stands_for": o.stands_for.text if o.stands_for else None,
                    "rules": proposed.get(o.name.text, [])} for o in g.options]
        flags = [{"id": f.name.text, "label": f.label, "rules": flagged.get(f.name.text, [])} for f in g.flags]
        vocabs = [{"id": v.name.text, "label": v.label or v.name.text,
                   "entries": [(e.text, label or "") for e, label in v.entries]} for v in g.vocabularies]
        terms = [{"id": d.name.text, "label": d.label or d.name.text, "hgl": unparse(d.expr, m),
                  "plain": self.describe.text(d.expr), "description": d.description or ""}
                 for d in g.definitions]
        constraints = [{"id": c.name.text, "label": c.label or c.name.text, "plain": self.describe.text(c.expr),
                        "hgl": unparse(c.expr, m)} for c in g.constraints]
        groups = [{"id": gr.name.text, "label": gr.label or gr.name.text,
                   "outcomes": outcome_items(gr.outcomes, m, self.describe)} for gr in g.groups]
        return {"options": options, "flags": flags, "vocabularies": vocabs, "terms": terms,
                "constraints": constraints, "groups": groups,
                "strengths": [(s.name.text, s.meaning) for s in g.strengths]}

    def _evidence(self) -> list[dict]:
        out = []
        for e in self.g.evidence:
            eid = e.name.text
            cited = [rid for rid, r in self.rules.items() if eid in r["evidence"]]
            sections = [s.name.text for s in self.g.sections if eid in {x.text for x in s.evidence}]
            out.append({"id": eid, "trial": str(e.get("trial") or eid),
                        "fields": [(f.key.text, literal_text(f.value)) for f in e.fields if f.key.text != "trial"],
                        "rules": cited, "sections": sections})
        return out


def _flags_in(items) -> list[str]:
    out = []
    for it in items:
        out += it.get("flags", [])
        out += _flags_in(it.get("children", []))
    return out
