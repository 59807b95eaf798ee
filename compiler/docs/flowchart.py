"""Docs generation, diagram stage: bands of boxes laid out as inline SVG, in pure Python.

A chart is a list of *bands*, one per condition (a line of therapy, a brain-metastasis
state, a governing scenario, a section): a header in the decision shape saying the
condition, then the rules that apply under it in three columns, strongest role first
(preferred | other options | avoid, limits and checks).  So "what is preferred at line 2"
is read by finding the band and looking at its first column.

No graphviz, mermaid or CDN: the layout is a few additions, so the output is byte-stable
(golden tests) and the page works offline.  The SVG has a natural size (12 px text at scale
1) and presentation attributes only, so the same text is a standalone file ("open full
size"); assets/flowchart.js adds pan and zoom, and without it the chart scrolls sideways at
its natural size (assets/flowchart.css).  Every text and attribute is escaped here; callers
pass plain text.  Nothing here knows a guideline: the kinds below are the roles' families.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass

FONT = 12          # px at scale 1: the page never shows it smaller than 11 px (flowchart.js)
LINE = 15          # line height
PAD = 7
FAMILY = "Arial, Helvetica, Liberation Sans, sans-serif"  # metric-compatible faces: wrapping is predictable
CHAR_W = 6.0       # average glyph width at FONT px in those faces (wrapping), with a margin
BOLD_W = 6.6       # the same in bold
GAP = 10           # between boxes and columns
COL_W = 232        # one column: three fit the content width of the site at 1280 px
MARGIN = 2
HEAD_H = 26        # the column headings
BAR = 7            # the governing bar on a box's left edge

# kind -> (fill, stroke, heading colour): the role families of the columns, a note, a condition
STYLES = {
    "preferred": ("#e8f5e9", "#2e7d32", "#1b5e20"),
    "option": ("#e3f2fd", "#1565c0", "#0d47a1"),
    "avoid": ("#ffebee", "#c62828", "#b71c1c"),
    "note": ("#f5f5f5", "#757575", "#424242"),
    "condition": ("#eceff1", "#455a64", "#263238"),
    "section": ("#e0f2f1", "#00695c", "#004d40"),
}
CAUTION = ("#e65100", "6 3")    # colour, dash pattern of a caution box's outline (and its ⚠)
GOVERNS = "#6a1b9a"             # the bar and ⚑ of a governing rule
COLUMN_KINDS = ("preferred", "option", "avoid")

# The legend: (key, label, explanation), drawn by `legend_html` with the chart's own shapes.
LEGEND = (
    ("preferred", "Preferred", "the rule proposes an option in the strongest role"),
    ("option", "Other option", "alternative or another declared role (consider, …)"),
    ("avoid", "Avoid / not recommended", "avoid, not recommended, moved down or removed"),
    ("note", "Check", "flags, requests for data, no option"),
    ("caution", "⚠ Caution", "dashed orange outline: a provenance tag to check before use"),
    ("governs", "⚑ Governing", "purple bar: replaces the other sections' options when it fires"),
    ("condition", "Condition", "the situation the boxes below it apply to"),
)


@dataclass(frozen=True)
class Box:
    """One rule: a bold title, lines under it, a link; `kind` is its column's family."""

    title: str
    lines: tuple[str, ...] = ()
    href: str | None = None
    kind: str = "note"
    caution: bool = False
    governs: bool = False
    tooltip: str | None = None


@dataclass(frozen=True)
class Band:
    """One condition and the boxes under it, one tuple per column (COLUMN_KINDS order)."""

    head: tuple[str, ...]
    cells: tuple[tuple[Box, ...], ...]
    href: str | None = None
    kind: str = "condition"  # or "section"
    joint: str | None = None  # words on the arrow from the band above ("otherwise")


def esc(text) -> str:
    return html.escape(str(text), quote=True)


INDENT = 11  # px per level of a nested line (a line starting with that many tabs)


def wrap(text: str, width_px: int, bold: bool = False) -> list[str]:
    """Lines of at most the characters that fit in width_px."""
    return textwrap.wrap(text, max(8, int((width_px - 2 * PAD) / (BOLD_W if bold else CHAR_W)))) or [""]


def _box_rows(box: Box, width: int) -> list[tuple[str, str, int]]:
    """(text, style, indent) rows: style 'b' bold title, 'g' the governing tag, '' the lines; a line's
    leading tabs are its nesting level (the outcomes under an `if`)."""
    inner = width - (BAR if box.governs else 0)
    title = ("⚠ " if box.caution else "") + box.title
    rows = [(t, "b", 0) for t in wrap(title, inner, bold=True)]
    if box.governs:
        rows.append(("⚑ governing", "g", 0))
    for line in box.lines:
        level = len(line) - len(line.lstrip("\t"))
        rows += [(t, "", level * INDENT) for t in wrap(line.lstrip("\t"), inner - level * INDENT)]
    return rows


def box_height(box: Box, width: int) -> int:
    return len(_box_rows(box, width)) * LINE + 2 * PAD - 3


class _Canvas:
    def __init__(self):
        self.parts: list[str] = []
        self.width = 0
        self.height = 0

    def _grow(self, x, y, w, h):
        self.width = max(self.width, x + w)
        self.height = max(self.height, y + h)

    def text(self, x, y, text, fill, extra=""):
        self.parts.append(f'<text x="{x}" y="{y}" fill="{fill}"{extra}>{esc(text)}</text>')

    def box(self, box: Box, x: int, y: int, width: int) -> int:
        rows = _box_rows(box, width)
        h = len(rows) * LINE + 2 * PAD - 3
        fill, stroke, _ = STYLES.get(box.kind, STYLES["note"])
        g = []
        if box.tooltip:
            g.append(f"<title>{esc(box.tooltip)}</title>")
        if box.caution:
            g.append(f'<rect x="{x}" y="{y}" width="{width}" height="{h}" rx="6" fill="{fill}" '
                     f'stroke="{CAUTION[0]}" stroke-width="2" stroke-dasharray="{CAUTION[1]}"/>')
        else:
            g.append(f'<rect x="{x}" y="{y}" width="{width}" height="{h}" rx="6" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="1.2"/>')
        tx = x + PAD
        if box.governs:
            g.append(f'<rect x="{x + 1}" y="{y + 1}" width="{BAR - 1}" height="{h - 2}" rx="3" fill="{GOVERNS}"/>')
            tx += BAR
        ty = y + PAD + FONT - 1
        for text, style, indent in rows:
            if style == "b":
                g.append(f'<text x="{tx}" y="{ty}" fill="#212121" font-weight="bold">{esc(text)}</text>')
            elif style == "g":
                g.append(f'<text x="{tx}" y="{ty}" fill="{GOVERNS}" font-weight="bold">{esc(text)}</text>')
            else:
                g.append(f'<text x="{tx + indent}" y="{ty}" fill="#212121">{esc(text)}</text>')
            ty += LINE
        inner = "".join(g)
        if box.href:
            inner = f'<a href="{esc(box.href)}">{inner}</a>'
        self.parts.append(f'<g class="hgl-box hgl-{box.kind}">{inner}</g>')
        self._grow(x, y, width, h)
        return h

    def condition(self, band: Band, x: int, y: int, width: int) -> int:
        """The band's header: a hexagon (the flowchart decision shape) holding the condition."""
        fill, stroke, color = STYLES.get(band.kind, STYLES["condition"])
        rows = [r for line in band.head for r in wrap(line, width - 24, bold=True)]
        h = len(rows) * LINE + 2 * PAD - 3
        k = 10
        pts = f"{x + k},{y} {x + width - k},{y} {x + width},{y + h // 2} {x + width - k},{y + h} {x + k},{y + h} {x},{y + h // 2}"
        g = [f'<polygon points="{pts}" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>']
        ty = y + PAD + FONT - 1
        for i, text in enumerate(rows):
            weight = ' font-weight="bold"' if i == 0 or band.kind == "condition" else ""
            g.append(f'<text x="{x + 14}" y="{ty}" fill="{color}"{weight}>{esc(text)}</text>')
            ty += LINE
        inner = "".join(g)
        if band.href:
            inner = f'<a href="{esc(band.href)}">{inner}</a>'
        self.parts.append(f'<g class="hgl-condition">{inner}</g>')
        self._grow(x, y, width, h)
        return h

    def arrow(self, x, y1, y2, label: str | None):
        self.parts.append(f'<path d="M{x} {y1} V{y2 - 6}" fill="none" stroke="#455a64" stroke-width="1.5" '
                          f'marker-end="url(#hgl-arrow)"/>')
        if label:
            self.text(x + 8, (y1 + y2) // 2 + 4, label, "#455a64", ' font-style="italic"')

    def svg(self, title: str, chart_id: str) -> str:
        w, h = self.width + MARGIN, self.height + MARGIN
        defs = (f'<defs><marker id="hgl-arrow-{chart_id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                'markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#455a64"/>'
                "</marker></defs>")
        body = "".join(self.parts).replace("url(#hgl-arrow)", f"url(#hgl-arrow-{chart_id})")
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="hgl-flowchart" role="group" '
                f'aria-label="{esc(title)}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
                f'font-family="{FAMILY}" font-size="{FONT}">'
                f"<title>{esc(title)}</title>{defs}{body}</svg>")


def panels(title: str, chart_id: str, headings: tuple[str, ...], bands: list[Band]) -> str:
    """The chart: column headings, then each band (its condition, then its columns of boxes)."""
    c = _Canvas()
    ncol = len(headings)
    full = ncol * COL_W + (ncol - 1) * GAP
    xs = [MARGIN + i * (COL_W + GAP) for i in range(ncol)]
    for x, heading, kind in zip(xs, headings, COLUMN_KINDS):
        fill, stroke, color = STYLES[kind]
        c.parts.append(f'<rect x="{x}" y="{MARGIN}" width="{COL_W}" height="{HEAD_H - 6}" rx="3" '
                       f'fill="{stroke}"/>')
        c.text(x + PAD, MARGIN + 15, heading, "#ffffff", ' font-weight="bold"')
    c._grow(MARGIN, MARGIN, full, HEAD_H)
    y = MARGIN + HEAD_H
    for i, band in enumerate(bands):
        if i:
            y += 10
            if band.joint:
                c.arrow(MARGIN + 30, y - 8, y + 22, band.joint)
                y += 22
        hh = c.condition(band, MARGIN, y, full)
        y += hh + GAP
        bottom = y
        for x, cell in zip(xs, band.cells):
            cy = y
            if not cell:
                c.text(x + PAD, cy + 14, "none here", "#9e9e9e", ' font-style="italic"')
                cy += 20
            for box in cell:
                cy += c.box(box, x, cy, COL_W) + GAP
            bottom = max(bottom, cy)
        y = bottom
        c._grow(MARGIN, MARGIN, full, y)
    return c.svg(title, chart_id)


def swatch(key: str) -> str:
    """A small SVG of one legend entry, drawn with the chart's own colours and shapes."""
    if key == "condition":
        fill, stroke, _ = STYLES["condition"]
        shape = (f'<polygon points="6,1 30,1 35,9 30,17 6,17 1,9" fill="{fill}" stroke="{stroke}" '
                 'stroke-width="1.5"/>')
    elif key == "caution":
        fill = STYLES["note"][0]
        shape = (f'<rect x="1" y="1" width="34" height="16" rx="4" fill="{fill}" stroke="{CAUTION[0]}" '
                 f'stroke-width="2" stroke-dasharray="{CAUTION[1]}"/>'
                 f'<text x="12" y="13" font-size="11" fill="{CAUTION[0]}">⚠</text>')
    elif key == "governs":
        fill, stroke, _ = STYLES["note"]
        shape = (f'<rect x="1" y="1" width="34" height="16" rx="4" fill="{fill}" stroke="{stroke}"/>'
                 f'<rect x="2" y="2" width="6" height="14" rx="2" fill="{GOVERNS}"/>'
                 f'<text x="14" y="13" font-size="11" fill="{GOVERNS}">⚑</text>')
    else:
        fill, stroke, _ = STYLES[key]
        shape = f'<rect x="1" y="1" width="34" height="16" rx="4" fill="{fill}" stroke="{stroke}" stroke-width="1.2"/>'
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="hgl-swatch" width="36" height="18" '
            f'viewBox="0 0 36 18" aria-hidden="true">{shape}</svg>')


def legend_html() -> str:
    """The legend of every chart page: a wrapping list of swatches and words (raw HTML)."""
    items = "".join(f'<li class="hgl-chart-legend-{key}">{swatch(key)}<span><b>{esc(label)}</b> — {esc(words)}</span></li>'
                    for key, label, words in LEGEND)
    return f'<ul class="hgl-chart-legend" aria-label="Legend of the charts">{items}</ul>'
