"""Docs generation, page-data stage: the resolved program (check/program.py) -> the plain data every page template reads.

Nothing here escapes or formats Markdown: values are plain text and names; the templates
and the Jinja environment (site.make_env) do the escaping, links and layout.  Rules,
definitions, constraints and outcomes come resolved from the `Program`; declarations shown
as written (metadata, vocabularies, evidence, provenance tags, strengths, an input's type
and default) come from `program.guideline`.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from dataclasses import dataclass, field

from hgl.compiler.check import program as p
from hgl.compiler.check.program import Program
from hgl.compiler.docs.chartdata import chart_page
from hgl.compiler.docs.gallery import case_sets, gallery
from hgl.compiler.docs.text import Md, anchor, chip_label, code, esc, options_in, outcome_items
from hgl.compiler.explain.unparse import unparse
from hgl.compiler.explain.words import Words
from hgl.compiler.front import nodes as n

# Charts by a key symbol, drawn when the guideline declares that symbol: (symbol, title).
# Any guideline gets the governing-order chart and the chart of every rule by section.
CHART_KEYS = (
    ("line", "Sequencing by line of therapy"),
    ("bm_status", "Sequencing by brain-metastasis status"),
)
DISCLAIMER = "Decision support, not a medical device."
# Reference fields (metadata and evidence entries) shown as links, with their label and URL.
PUBMED = "https://pubmed.ncbi.nlm.nih.gov/"
FIELD_LABELS = {"doi": "DOI", "pmid": "PubMed", "url": "Web page", "citation": "Citation"}


@dataclass
class Page:
    """One generated Markdown page: where it goes, its nav title, its template and data."""

    path: str  # relative to the docs folder, posix
    title: str
    template: str
    data: dict = field(default_factory=dict)
    view: str = "clinician"  # the site's navigation it belongs to: "clinician" or "author" (site.write_markdown)


class Links:
    """Markdown links from one page to the anchors of a guideline's pages."""

    def __init__(self, gid: str, page: str, program: Program):
        self.gid, self.page, self.program = gid, page, program

    def url(self, target: str, frag: str | None = None, html: bool = False) -> str:
        rel = posixpath.relpath(f"{self.gid}/{target}", posixpath.dirname(self.page) or ".")
        if html:  # inside raw HTML (SVG) mkdocs does not rewrite .md links
            rel = rel[:-3] + ".html"
        return rel + (f"#{frag}" if frag else "")

    def _md(self, label, target, frag=None) -> Md:
        return Md(f"[{esc(label)}]({self.url(target, frag)})")

    def _section_of(self, rid: str) -> str:
        rule = self.program.rules_by_name.get(rid)
        return rule.section if rule is not None else ""

    def rule(self, rid: str, label: str | None = None) -> Md:
        return self._md(label or rid, f"sections/{self._section_of(rid)}.md", anchor("rule", rid))

    def rule_named(self, rid: str) -> Md:
        """A rule by its title and its section's title, for clinician pages (no internal name)."""
        rule = self.program.rules_by_name.get(rid)
        if rule is None:
            return self.rule(rid)
        sec = next((s for s in self.program.sections if s.name == rule.section), None)
        where = f" ({sec.title or sec.name})" if sec is not None else ""
        return self.rule(rid, (rule.title or rid) + where)

    def rule_url(self, rid: str, html: bool = True) -> str:
        return self.url(f"sections/{self._section_of(rid)}.md", anchor("rule", rid), html)

    def section(self, sid: str, label: str | None = None) -> Md:
        return self._md(label or sid, f"sections/{sid}.md")

    def option(self, oid: str, label: bool = True) -> Md:
        opt = self.program.options.get(oid)
        text = opt.label if (opt and label) else oid
        return self._md(text, "vocabulary.md", anchor("option", oid))

    def flag(self, fid: str) -> Md:
        f = self.program.flags.get(fid)
        return self._md(f.label if f else fid, "vocabulary.md", anchor("flag", fid))

    def input(self, name: str) -> Md:
        prog = self.program
        sym = prog.symbols.get(name)
        if sym is not None and sym.kind == "parameter":
            return self._md(prog.label(name), "parameters.md", anchor("parameter", name))
        if sym is not None and sym.kind == "definition":
            return self._md(prog.label(name), "vocabulary.md", anchor("term", name))
        return self._md(prog.label(name), "data.md", anchor("input", name))

    def evidence(self, eid: str) -> Md:
        label = eid
        for e in self.program.guideline.evidence:
            if e.name.text == eid and e.get("trial"):
                label = str(e.get("trial"))
        return self._md(label, "evidence.md", anchor("evidence", eid))

    def group(self, name: str) -> Md:
        return Md(f"[{code(name)}]({self.url('vocabulary.md', anchor('group', name))})")

    def page_link(self, target: str, label: str) -> Md:
        return self._md(label, target)


# ---------------------------------------------------------------- facts shared by pages


def literal_text(lit: n.Literal | None) -> str:
    """A literal of a declaration (metadata, evidence field, default) as written."""
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


def type_facts(d: p.Input, program: Program) -> dict:
    """Type, unit and allowed values of an input or parameter, in words (numbers and units as declared)."""
    if d.kind == "bool":
        return {"type": "yes/no", "unit": "", "allowed": ["yes", "no"], "range": ""}
    if d.kind in ("int", "number"):
        fmt = (lambda x: str(int(x)) if float(x).is_integer() else str(x))
        if d.minimum is not None and d.maximum is not None:
            rng = f"{fmt(d.minimum)} to {fmt(d.maximum)}"
        elif d.minimum is not None:
            rng = f"at least {fmt(d.minimum)}"
        elif d.maximum is not None:
            rng = f"at most {fmt(d.maximum)}"
        else:
            rng = ""
        unit = d.decl.type.unit  # the author's unit word, not its canonical name
        shown = unit.text if unit else ""
        if d.decl.accepts is not None:  # an analyte-specific conversion the author declared
            shown += f" (also {d.decl.accepts[0].text}, × {d.decl.accepts[1]:g})"
        return {"type": "integer" if d.kind == "int" else "number", "unit": shown, "allowed": [], "range": rng}
    if d.kind == "date":
        return {"type": "date", "unit": "", "allowed": ["YYYY-MM-DD"], "range": ""}
    if d.kind == "enum":
        return {"type": "one of", "unit": "", "allowed": list(d.values), "range": ""}
    if d.kind == "set":
        domain = program.domains.get(d.type.domain or "")
        return {"type": f"set of {domain.label if domain else d.type.domain}", "unit": "",
                "allowed": list(d.values), "range": ""}
    kind = d.decl.type.kind.text if d.decl.type.kind is not None else None  # an option input, or none
    opts = [name for name, o in program.options.items() if kind is None or o.kind == kind]
    return {"type": f"{kind} option or none" if kind else "option or none", "unit": "", "allowed": opts + ["none"],
            "range": ""}


# ---------------------------------------------------------------- the guideline's pages


class GuidelineDocs:
    """All pages of one guideline, from its CompileResult (its resolved program and source)."""

    def __init__(self, result, display: str, *, cases: list[dict] | None = None, schema: dict | None = None,
                 verification: dict | None = None):
        self.r, self.program = result, result.program
        self.g = self.program.guideline  # declarations as written
        self.display = display
        self.gid = self.program.meta.id.text
        self.words = Words(self.program)  # conditions in the words of a `because`, with no case
        self.cases = cases or []
        self.schema = schema
        self.verification = verification or {"available": False, "findings": []}
        self.caution = {t.name.text for t in self.g.provenance if t.caution}
        self.rules = {r.name: self._rule(r) for r in self.program.rules}

    def links(self, page: str) -> Links:
        return Links(self.gid, page, self.program)

    @property
    def title(self) -> str:
        return str(self.program.meta.get("title") or self.gid)

    # ------------------------------------------------------------ rules
    def _rule(self, r: p.Rule) -> dict:
        items = outcome_items(r.outcomes, self.program, self.words)
        meaning = next((d.meaning for d in self.g.strengths if r.strength and d.name.text == r.strength), "")
        return {
            "id": r.name, "title": r.title or r.name, "section": r.section, "governs": r.governs,
            "conditions": self.words.conditions(r.when) if r.when is not None else [],
            "hgl": unparse(r.when) if r.when is not None else "",
            "outcomes": items, "options": options_in(items),
            "strength": r.strength, "strength_meaning": meaning, "provenance": list(r.provenance),
            "caution": [t for t in r.provenance if t in self.caution],
            "evidence": list(r.evidence), "rationale": r.rationale or "",
            "where": f"{self.display}:{r.span.line}", "phase": r.phase,
        }

    def provenance_counts(self) -> list[dict]:
        rows = []
        for t in self.g.provenance:
            tag = t.name.text
            rules = [rid for rid, r in self.rules.items() if tag in r["provenance"]]
            rows.append({"tag": tag, "meaning": t.meaning, "caution": t.caution, "count": len(rules)})
        return rows

    # ------------------------------------------------------------ pages
    def pages(self) -> list[Page]:
        prog, gid = self.program, self.gid
        meta = [(f.key.text, literal_text(f.value)) for f in prog.meta.fields]
        sections = [{"id": s.name, "title": s.title or s.name, "spec": s.spec,
                     "description": s.description or "", "provenance": list(s.provenance),
                     "evidence": list(s.evidence), "governing_rank": self._governing_rank(s.name),
                     "rules": [self.rules[r.name] for r in s.rules],
                     "used_tags": self._used_tags(s)} for s in prog.sections]
        common = {"gid": gid, "title": self.title, "source": self.display, "sha256": self.r.source.sha256,
                  "caution": sorted(self.caution), "governed": self.governed_words(), "prov": self.chips(),
                  "section_titles": {s.name: s.title or s.name for s in prog.sections},
                  "rule_titles": {r.name: r.title or r.name for r in prog.rules}}
        groups = gallery(self.cases, prog)
        common["case_groups"] = [g["id"] for g in groups]  # the sections whose cases the gallery shows
        pages = [
            Page(f"{gid}/index.md", "Overview", "overview.md.j2",
                 {"meta": meta, "about": self._about(), "doi": prog.meta.get("doi"), "disclaimer": DISCLAIMER,
                  "guideline_disclaimer": prog.meta.get("disclaimer"), "provenance": self.provenance_counts(),
                  "sections": sections, "n_rules": len(self.rules), "n_cases": len(self.cases)}),
            Page(f"{gid}/flowcharts.md", "At a glance", "flowcharts.md.j2", {}),
        ]
        for s in sections:
            pages.append(Page(f"{gid}/sections/{s['id']}.md", s["title"], "section.md.j2", {"section": s}))
        pages += [
            Page(f"{gid}/evidence.md", "Evidence", "evidence.md.j2", {"evidence": self._evidence()}),
            Page(f"{gid}/cases.md", "Worked cases", "cases.md.j2",
                 {"files": case_sets(self.cases, prog), "groups": groups}),
            Page(f"{gid}/vocabulary.md", "Options, flags and terms", "vocabulary.md.j2", self._vocabulary(),
                 view="author"),
            Page(f"{gid}/data.md", "Data dictionary", "data.md.j2",
                 {"inputs": [self._decl(d) for d in prog.inputs], "fhir": self._fhir_bindings()}, view="author"),
            Page(f"{gid}/parameters.md", "Parameters", "parameters.md.j2",
                 {"parameters": [self._decl(d) for d in prog.parameters]}, view="author"),
            Page(f"{gid}/verification.md", "Verification", "verification.md.j2",
                 {"verification": self.verification}, view="author"),
        ]
        for page in pages:
            page.data = {**common, **page.data, "page": page.path, "L": self.links(page.path)}
        for page in pages:
            if page.template == "flowcharts.md.j2":  # charts, legend, and each chart as a standalone .svg file
                page.data.update(chart_page(self, page.path, CHART_KEYS))
        return pages

    def _used_tags(self, s: p.Section) -> list[str]:
        """The provenance tags a section page shows, in the order they are declared."""
        used = set(s.provenance) | {t for r in s.rules for t in self.rules[r.name]["provenance"]}
        return [t.name.text for t in self.g.provenance if t.name.text in used]

    def chips(self) -> dict[str, dict]:
        """Each provenance tag -> its chip: a short label, the declared meaning (shown on hover), caution."""
        return {t.name.text: {"label": chip_label(t.name.text, t.meaning), "meaning": t.meaning, "caution": t.caution}
                for t in self.g.provenance}

    def _about(self) -> list[dict]:
        """The guideline's metadata for the overview: a label, the text, and a link for a reference field."""
        rows = []
        for f in self.program.meta.fields:
            key, text = f.key.text, literal_text(f.value)
            if key in ("disclaimer", "canonical"):
                continue
            rows.append({"key": FIELD_LABELS.get(key, key.capitalize()), "text": text, "href": reference_url(key, text)})
        return rows

    def governed_words(self) -> str:
        """What a governing scenario replaces, in words: "systemic therapy options", or "options"."""
        labels = [self.program.kinds[k] for k in self.program.governed_kinds if k in self.program.kinds]
        if not labels or len(labels) == len(self.program.kinds):
            return "options"
        return " and ".join(x[0].lower() + x[1:] for x in labels) + " options"

    def _governing_rank(self, sid: str):
        order = self.program.governing_order
        return order.index(sid) + 1 if sid in order else None

    def _decl(self, d: p.Input) -> dict:
        uses = [r.name for r in self.program.rules if d.name in r.reads]
        decl = d.decl  # the label, default and provenance as written
        return {"name": d.name, "label": decl.label or d.name, "description": d.description or "",
                "default": literal_text(decl.default) if decl.default is not None else None,
                "provenance": list(d.provenance), "where": f"{self.display}:{d.span.line}",
                "used_by": uses, **type_facts(d, self.program)}

    def _fhir_bindings(self) -> dict | None:
        """Where each input comes from in FHIR, from the guideline's `fhir` clauses (None when it declares none)."""
        from hgl.runtime.fhirin import BindingError, program_bindings

        try:
            bindings = program_bindings(self.program)
        except BindingError as err:  # the compiler has checked them: only a bug would land here
            return {"file": self.display, "error": str(err), "inputs": []}
        if bindings is None:
            return None
        rows = [dict(zip(("where", "path", "how"), bindings.describe(d.name)), name=d.name)
                for d in self.program.inputs if bindings.binding(d.name) is not None]
        return {"file": self.display, "error": None, "inputs": rows,
                "entered": [d.name for d in self.program.inputs if bindings.binding(d.name) is None]}

    def _vocabulary(self) -> dict:
        prog = self.program
        proposed: dict[str, list[str]] = {}
        flagged: dict[str, list[str]] = {}
        for rid, r in self.rules.items():
            for o in r["options"]:
                proposed.setdefault(o, []).append(rid)
            for f in _flags_in(r["outcomes"]):
                flagged.setdefault(f, []).append(rid)
        options = [{"id": name, "kind": o.kind, "label": o.label, "drugs": [x.text for x in o.drugs],
                    "stands_for": o.stands_for.text if o.stands_for else None,
                    "rules": proposed.get(name, [])} for name, o in prog.options.items()]
        flags = [{"id": name, "label": f.label, "rules": flagged.get(name, [])} for name, f in prog.flags.items()]
        vocabs = [{"id": v.name.text, "label": v.label or v.name.text,
                   "entries": [(e.text, label or "") for e, label in v.entries]} for v in self.g.vocabularies]
        terms = []
        for decl in self.g.definitions:  # in the order written; the program has them in dependency order
            d = prog.definition(decl.name.text)
            if d is not None:
                terms.append({"id": d.name, "label": decl.label or d.name, "hgl": unparse(d.expr),
                              "plain": self.words.text(d.expr), "description": d.description or ""})
        constraints = [{"id": c.name, "label": c.label or c.name, "plain": self.words.text(c.expr),
                        "hgl": unparse(c.expr)} for c in prog.constraints]
        groups = [{"id": gr.name, "label": gr.label or gr.name,
                   "outcomes": outcome_items(gr.outcomes, prog, self.words)} for gr in prog.groups.values()]
        return {"options": options, "flags": flags, "vocabularies": vocabs, "terms": terms,
                "constraints": constraints, "groups": groups,
                "strengths": [(s.name.text, s.meaning) for s in self.g.strengths]}

    def _evidence(self) -> list[dict]:
        out = []
        for e in self.g.evidence:
            eid = e.name.text
            cited = [rid for rid, r in self.rules.items() if eid in r["evidence"]]
            sections = [s.name for s in self.program.sections if eid in s.evidence]
            fields = [(f.key.text, literal_text(f.value)) for f in e.fields if f.key.text != "trial"]
            out.append({"id": eid, "trial": str(e.get("trial") or eid),
                        "fields": fields, "citation": next((v for k, v in fields if k == "citation"), ""),
                        "details": [(k.capitalize(), v) for k, v in fields if k not in FIELD_LABELS],
                        "links": [(FIELD_LABELS[k], v, reference_url(k, v)) for k, v in fields
                                  if k in ("pmid", "doi", "url") and reference_url(k, v)],
                        "rules": cited, "sections": sections})
        return out


def reference_url(key: str, text: str) -> str | None:
    """The link of a reference field (`pmid`, `doi`, `url`), or None: the checker accepts only
    well-formed values (check/checks.py), and anything else is shown as plain text."""
    text = str(text).strip()
    if key == "pmid" and re.fullmatch(r"[0-9]{1,9}", text):
        return f"{PUBMED}{text}/"
    if key == "doi" and re.fullmatch(r"10\.[0-9]+(\.[0-9]+)*/\S+", text):
        return "https://doi.org/" + urllib.parse.quote(text, safe="/.-_;()")
    if key == "url" and re.fullmatch(r"https?://[^\s<>\"']+", text):
        return text
    return None


def _flags_in(items) -> list[str]:
    out = []
    for it in items:
        out += it.get("flags", [])
        out += _flags_in(it.get("children", []))
    return out
