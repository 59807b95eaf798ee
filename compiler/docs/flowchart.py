"""Docs generation, diagram stage: boxes and links laid out as inline SVG, in pure Python.

No JavaScript, no CDN, no graphviz: the charts are columns of boxes joined by elbow
lines, so the layout is a few additions and the output is byte-stable (golden tests).
Every text and attribute is escaped here; callers pass plain text.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass, field

FONT = 12
LINE = 15  # line height
PAD = 7
CHAR_W = 6.6  # average glyph width at FONT px in a sans-serif face
VGAP = 10
HGAP = 36

STYLES = {  # kind -> (fill, stroke)
    "root": ("#37474f", "#263238"),
    "branch": ("#e3f2fd", "#1565c0"),
    "rule": ("#ffffff", "#607d8b"),
    "governs": ("#fff8e1", "#e65100"),
    "caution": ("#fff3e0", "#bf360c"),
    "section": ("#e8f5e9", "#2e7d32"),
    "rest": ("#f5f5f5", "#9e9e9e"),
}


@dataclass
class Box:
    """One node: a bold first line, more lines under it, an optional link."""

    title: str
    lines: list[str] = field(default_factory=list)
    href: str | None = None
    kind: str = "rule"
    tooltip: str | None = None


def _wrap(text: str, width_px: int) -> list[str]:
    return textwrap.wrap(text, max(8, int((width_px - 2 * PAD) / CHAR_W))) or [""]


def _measure(box: Box, width: int) -> tuple[list[tuple[str, bool]], int]:
    rows = [(t, True) for t in _wrap(box.title, width)]
    for line in box.lines:
        rows += [(t, False) for t in _wrap(line, width)]
    return rows, len(rows) * LINE + 2 * PAD - 3


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


class _Canvas:
    def __init__(self):
        self.parts: list[str] = []
        self.width = 0
        self.height = 0

    def box(self, box: Box, x: int, y: int, width: int) -> tuple[int, int, int, int]:
        rows, h = _measure(box, width)
        fill, stroke = STYLES.get(box.kind, STYLES["rule"])
        color = "#ffffff" if box.kind == "root" else "#212121"
        g = [f'<rect x="{x}" y="{y}" width="{width}" height="{h}" rx="6" fill="{fill}" stroke="{stroke}" '
             f'stroke-width="{2 if box.kind in ("governs", "caution", "root") else 1}"/>']
        if box.tooltip:
            g.insert(0, f"<title>{_esc(box.tooltip)}</title>")
        ty = y + PAD + FONT - 1
        for text, bold in rows:
            weight = ' font-weight="bold"' if bold else ""
            g.append(f'<text x="{x + PAD}" y="{ty}" fill="{color}"{weight}>{_esc(text)}</text>')
            ty += LINE
        inner = "".join(g)
        if box.href:
            inner = f'<a href="{_esc(box.href)}">{inner}</a>'
        self.parts.append(f"<g>{inner}</g>")
        self.width = max(self.width, x + width)
        self.height = max(self.height, y + h)
        return x, y, width, h

    def elbow(self, a, b):
        """A line from the right middle of box a to the left middle of box b."""
        x1, y1 = a[0] + a[2], a[1] + min(a[3] // 2, 18)
        x2, y2 = b[0], b[1] + min(b[3] // 2, 18)
        mx = x1 + (x2 - x1) // 2
        self.parts.append(f'<path d="M{x1} {y1} H{mx} V{y2} H{x2 - 6}" fill="none" stroke="#78909c" '
                          f'stroke-width="1.3" marker-end="url(#hgl-arrow)"/>')

    def down(self, a, b, label: str | None = None):
        """An arrow from the bottom of box a to the top of box b (same column)."""
        x = a[0] + 24
        y1, y2 = a[1] + a[3], b[1]
        self.parts.append(f'<path d="M{x} {y1} V{y2 - 6}" fill="none" stroke="#2e7d32" stroke-width="1.5" '
                          f'marker-end="url(#hgl-arrow)"/>')
        if label:
            self.parts.append(f'<text x="{x + 6}" y="{(y1 + y2) // 2 + 4}" fill="#2e7d32" '
                              f'font-style="italic">{_esc(label)}</text>')

    def svg(self, title: str) -> str:
        w, h = self.width + 4, self.height + 4
        defs = ('<defs><marker id="hgl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                'markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#78909c"/>'
                "</marker></defs>")
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="hgl-flowchart" role="img" '
                f'viewBox="0 0 {w} {h}" width="{w}" style="max-width:100%;height:auto" '
                f'font-family="sans-serif" font-size="{FONT}"><title>{_esc(title)}</title>{defs}'
                + "".join(self.parts) + "</svg>")


def tree(title: str, root: Box | None, groups: list[tuple[Box, list[Box]]], *, chain: bool = False,
         chain_label: str | None = None, widths: tuple[int, int, int] = (170, 240, 330)) -> str:
    """Columns: an optional root, then each group's head, then the head's children beside it.

    With `chain`, successive heads are joined top to bottom (an ordered list of
    alternatives, like the governing order) instead of hanging from the root.
    """
    c = _Canvas()
    x_root, x_head = 2, 2 + (widths[0] + HGAP if root else 0)
    x_leaf = x_head + widths[1] + HGAP
    y = 2
    heads = []
    for head, children in groups:
        hb = c.box(head, x_head, y, widths[1])
        heads.append(hb)
        cy = y
        for child in children:
            cb = c.box(child, x_leaf, cy, widths[2])
            c.elbow(hb, cb)
            cy += cb[3] + VGAP
        y = max(y + hb[3] + VGAP, cy) + (VGAP * 2 if chain else VGAP)
    if root is not None:
        rb = c.box(root, x_root, 2, widths[0])
        for hb in heads:
            c.elbow(rb, hb)
    if chain:
        for a, b in zip(heads, heads[1:]):
            c.down(a, b, chain_label)
    return c.svg(title)
