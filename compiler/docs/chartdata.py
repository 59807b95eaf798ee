"""Docs generation, chart stage: one guideline's resolved program -> the bands of its flowcharts.

Three kinds of chart, each a list of bands (compiler/docs/flowchart.py draws them):

* by a key symbol the guideline declares (CHART_KEYS in pages.py): one band per condition
  on it (`line of therapy is 2`), holding the rules whose condition reads the key directly or
  through at most KEY_DEPTH definitions.  A rule drawn in an earlier key chart is not drawn
  again: the later chart lists it, with a link, under the chart (no repeated boxes);
* the governing order: one band per scenario, joined by "otherwise";
* every rule by section.

Words: conditions are said by the explanation builder (`Words.text`, the words of a rule card
and of a `because`); an if-expression condition becomes one line per branch; outcomes say
what they do for the reader (a `demote` is "no longer preferred (moved down to alternative)"),
options and flags by their labels, a shared outcome group by what it proposes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hgl.compiler.check import program as p
from hgl.compiler.check.program import conjuncts, walk
from hgl.compiler.docs.flowchart import Band, Box, legend_html, panels
from hgl.compiler.docs.text import Md, options_in

KEY_DEPTH = 2  # a condition belongs to a key's chart when it reads the key through at most this many definitions
MAX_LINES = 9  # outcome lines in a box; the rule card has the rest
RESTRICT_WORDS = {"avoid": "Avoid", "demote": "No longer preferred (moved down to alternative)",
                  "drop": "Not offered (removed)"}


@dataclass(frozen=True)
class Chart:
    """One chart of the page: its id (an HTML id), title, note, SVG, and the rules drawn elsewhere."""

    id: str
    title: str
    note: str
    svg: Md
    elsewhere: tuple[tuple[str, str, str], ...] = ()  # (rule id, rule title, the condition it is under)
    elsewhere_chart: tuple[str, str] | None = None  # (chart id, chart title) they are drawn in

    @property
    def anchor(self) -> Md:
        """The id of the chart's heading (made of identifiers, checked)."""
        return Md(_safe(self.id))

    @property
    def file(self) -> Md:
        """The standalone SVG next to the page (the same text as the inline chart)."""
        return Md(_safe(f"flowchart-{self.id.removeprefix('chart-')}.svg"))

    @property
    def elsewhere_anchor(self) -> Md:
        return Md(_safe(self.elsewhere_chart[0])) if self.elsewhere_chart else Md("")


def _safe(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        raise ValueError(f"not a safe chart id: {text!r}")
    return text


def chart_page(docs, page: str, keys) -> dict:
    """The data of a flowchart page: its charts, the legend, the column headings, the standalone files."""
    charts = Charts(docs, page)
    out = charts.all(keys)
    return {"charts": out, "legend": Md(legend_html()), "headings": charts.headings,
            "write_files": {str(c.file): str(c.svg) for c in out}}


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _depths(program) -> dict[str, dict[str, int]]:
    """Every symbol -> {symbol it reads: through how many definitions} (0: itself)."""
    direct = {d.name: {x.name for x in walk(d.expr) if isinstance(x, p.Var)} for d in program.definitions}
    out: dict[str, dict[str, int]] = {}

    def visit(name, stack=()):
        if name in out:
            return out[name]
        found = {name: 0}
        for dep in sorted(direct.get(name, ())):
            if dep in stack:
                continue
            for sym, d in visit(dep, stack + (name,)).items():
                if d + 1 < found.get(sym, 99):
                    found[sym] = d + 1
        out[name] = found
        return found

    for name in program.symbols:
        visit(name)
    return out


def reads_within(expr, key: str, depths, limit: int = KEY_DEPTH) -> bool:
    """Whether a condition reads `key` directly or through at most `limit` definitions."""
    names = {x.name for x in walk(expr) if isinstance(x, p.Var)}
    return any(depths.get(n, {n: 0}).get(key, 99) <= limit for n in names)


def condition_lines(words, expr) -> tuple[str, ...]:
    """A condition in the explanation's words; an if-expression as one line per branch."""
    if isinstance(expr, p.If):
        lines = [f"{'If' if i == 0 else 'Otherwise, if'} {words.text(c)}: {words.text(v)}"
                 for i, (c, v) in enumerate(expr.branches)]
        return tuple(lines) + (f"Otherwise: {words.text(expr.otherwise)}",)
    return (cap(words.text(expr)),)


class ChartWords:
    """Outcome items (docs/text.outcome_items) -> lines for a box, and the box's column."""

    def __init__(self, program):
        self.m = program
        positive = [r for r in program.role_order if not program.roles.get(r, ("", False))[1]]
        self.top = positive[0] if positive else "preferred"

    def option(self, oid: str) -> str:
        o = self.m.options.get(oid)
        return o.label if o else oid.replace("_", " ")

    def flag(self, fid: str) -> str:
        f = self.m.flags.get(fid)
        return f.label if f and f.label else fid.replace("_", " ")

    def lines(self, items, depth: int = 0) -> list[str]:
        """Each outcome in words; a line under an `if` starts with one tab per level (flowchart.py indents it)."""
        lead = "\t" * depth
        out: list[str] = []
        for it in items:
            k = it["kind"]
            if k == "propose":
                out.append(f"{lead}{it['label']}: " + ", ".join(self.option(o) for o in it["options"]))
            elif k == "restrict":
                what = ", ".join(self.option(o) for o in it["options"]) or it["text"]
                out.append(f"{lead}{RESTRICT_WORDS.get(it['action'], cap(it['action']))}: {what}")
            elif k == "flag":
                out.append(f"{lead}Flag: " + ", ".join(self.flag(f) for f in it["flags"]))
            elif k == "request":
                out.append(f"{lead}Asks for {it['label']}")
            elif k == "withhold":
                out.append(f"{lead}No options shown")
            elif k == "use" and any(c["kind"] == "if" for c in it["children"]):
                # a shared choice that depends on the case: its options, the rule card says which when
                opts = ", ".join(self.option(o) for o in options_in(it["children"]))
                out.append(f"{lead}{cap(it['label'])}, by case: {opts}")
            elif k == "use":
                out += self.lines(it["children"], depth)
            elif k == "if":
                out.append(f"{lead}{it['text']}:")
                out += self.lines(it["children"], depth + 1)
        return out

    def kind(self, items) -> str:
        """The column: 'preferred' when the strongest positive role is proposed anywhere, 'option' for
        another positive role, 'avoid' for a negative role or a restriction, else 'note'."""
        found = set()

        def scan(xs):
            for it in xs:
                if it["kind"] == "propose":
                    negative = self.m.roles.get(it["role"], ("", False))[1]
                    found.add("avoid" if negative else ("preferred" if it["role"] == self.top else "option"))
                elif it["kind"] in ("restrict", "withhold"):
                    found.add("avoid")
                scan(it.get("children", []))

        scan(items)
        return next((k for k in ("preferred", "option", "avoid") if k in found), "note")


class Charts:
    """The charts of one flowchart page (`docs` is pages.GuidelineDocs)."""

    def __init__(self, docs, page: str):
        self.d, self.page = docs, page
        self.m = docs.program
        self.L = docs.links(page)
        self.cw = ChartWords(self.m)
        self.headings = self._headings()

    def _headings(self) -> tuple[str, ...]:
        roles = self.m.roles
        positive = [r for r in self.m.role_order if not roles.get(r, ("", False))[1]]
        first = roles[positive[0]][0] if positive and positive[0] in roles else "Preferred"
        return (_short(first), "Other options", "Avoid, limits, checks")

    def box(self, rid: str) -> Box:
        r = self.d.rules[rid]
        lines = self.cw.lines(r["outcomes"])
        if len(lines) > MAX_LINES:
            lines = lines[:MAX_LINES - 1] + ["… (see the rule card)"]
        return Box(r["title"], tuple(lines), self.L.rule_url(rid), self.cw.kind(r["outcomes"]),
                   caution=bool(r["caution"]), governs=r["governs"], tooltip=f"rule {rid} ({r['where']})")

    def cells(self, rids) -> tuple[tuple[Box, ...], ...]:
        boxes = [self.box(rid) for rid in rids]
        order = ("preferred", "option")
        return tuple(tuple(b for b in boxes if b.kind == k) for k in order) + \
            (tuple(b for b in boxes if b.kind not in order),)

    def draw(self, title: str, chart_id: str, bands: list[Band]) -> Md:
        return Md(panels(title, chart_id, self.headings, bands))

    # ------------------------------------------------------------ the charts
    def by_keys(self, keys) -> list[Chart]:
        depths = _depths(self.m)
        drawn: dict[str, tuple[str, str]] = {}  # rule -> (chart id, chart title) it is drawn in
        out = []
        for key, title in keys:
            if key not in self.m.symbols:
                continue
            branches: dict[str, tuple[tuple[str, ...], list[str]]] = {}
            elsewhere = []
            for r in self.m.rules:
                if r.when is None:
                    continue
                c = next((c for c in conjuncts(r.when) if reads_within(c, key, depths)), None)
                if c is None:
                    continue
                lines = condition_lines(self.d.words, c)
                if r.name in drawn:
                    elsewhere.append((r.name, " ".join(lines), drawn[r.name]))
                    continue
                branches.setdefault("\n".join(lines), (lines, []))[1].append(r.name)
            if not branches:
                continue
            chart_id = f"chart-{key}"
            bands = [Band(lines, self.cells(rids)) for lines, rids in branches.values()]
            label = self.m.label(key)
            note = (f"One band per condition on {label}; in each, the rules that apply, strongest role first. "
                    "Each box links to its rule card.")
            first = elsewhere[0][2] if elsewhere else None
            out.append(Chart(chart_id, title, note, self.draw(title, chart_id, bands),
                             tuple((rid, self.d.rules[rid]["title"], words) for rid, words, _ in elsewhere), first))
            for rids in (rids for _, rids in branches.values()):
                for rid in rids:
                    drawn[rid] = (chart_id, title)
        return out

    def governing(self) -> Chart | None:
        m = self.m
        if not m.governing_order:
            return None
        sections = {s.name: s for s in m.sections}
        bands = []
        for i, sname in enumerate(m.governing_order, 1):
            sec = sections.get(sname)
            if sec is None:
                continue
            bands.append(Band((f"{i}. {sec.title or sec.name}",), self.cells([r.name for r in sec.rules if r.governs]),
                              self.L.url(f"sections/{sec.name}.md", html=True), "section",
                              joint="otherwise" if bands else None))
        rest = [Box(s.title or s.name, (f"{len(s.rules)} rule(s)",), self.L.url(f"sections/{s.name}.md", html=True),
                    "section") for s in m.sections if s.name not in m.governing_order]
        n = len(self.headings)  # the other sections, side by side (they have no role: not by column)
        bands.append(Band(("No governing scenario fired", "the other sections decide together"),
                          tuple(tuple(rest[i::n]) for i in range(n)), kind="section", joint="otherwise"))
        governed = self.d.governed_words()
        title = f"Governing scenarios: the first that fires decides the {governed}"
        note = (f"Read from top to bottom: a scenario's governing rules replace the {governed} "
                "of every section below it.")
        return Chart("chart-governing", title, note, self.draw(title, "governing", bands))

    def by_section(self) -> Chart:
        bands = [Band((s.title or s.name, f"{len(s.rules)} rule(s)"), self.cells([r.name for r in s.rules]),
                      self.L.url(f"sections/{s.name}.md", html=True), "section") for s in self.m.sections]
        title = "Every rule, by section"
        return Chart("chart-sections", title, "Each box links to its rule card.", self.draw(title, "sections", bands))

    def all(self, keys) -> list[Chart]:
        out = self.by_keys(keys)
        gov = self.governing()
        if gov is not None:
            out.append(gov)
        out.append(self.by_section())
        return out


def _short(label: str) -> str:
    """A role's label as a column heading: before any parenthesis ('Consider (NICE …)' -> 'Consider')."""
    return label.split(" (")[0].strip() or label
