"""The flowcharts (compiler/docs/flowchart.py, chartdata.py): layout, legend, wording, no repeated boxes."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from hgl.compiler.docs import flowchart as fc
from hgl.compiler.docs.chartdata import RESTRICT_WORDS, ChartWords, chart_page, condition_lines

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "flowchart"
GUIDELINES = ["her2_mbc", "af_stroke", "cap_site_of_care"]
NS = "{http://www.w3.org/2000/svg}"


def _docs(name: str):
    from hgl.compiler.docs.pages import GuidelineDocs
    from hgl.compiler.pipeline import compile_source, read_source

    result = compile_source(read_source(ROOT / "guidelines" / f"{name}.hgl", f"guidelines/{name}.hgl"))
    assert result.ok
    return GuidelineDocs(result, f"guidelines/{name}.hgl")


@pytest.fixture(scope="module", params=GUIDELINES)
def page(request):
    from hgl.compiler.docs.pages import CHART_KEYS

    docs = _docs(request.param)
    return request.param, docs, chart_page(docs, f"{docs.gid}/flowcharts.md", CHART_KEYS)


def _texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{NS}text")]


def _boxes(svg: str) -> list[tuple[float, float, float, float]]:
    """The outline of every rule box (its first rect)."""
    out = []
    for g in ET.fromstring(svg).iter(f"{NS}g"):
        if "hgl-box" in (g.get("class") or ""):
            r = next(g.iter(f"{NS}rect"))
            out.append(tuple(float(r.get(k)) for k in ("x", "y", "width", "height")))
    return out


# ---------------------------------------------------------------- drawing


SAMPLE_BANDS = [
    fc.Band(("Line of therapy is 2",), (
        (fc.Box("Drug A", ("Preferred: Drug A",), "sections/s.html#rule-a", "preferred"),),
        (fc.Box("Drug B", ("Alternative: Drug B",), None, "option", caution=True),),
        (fc.Box("No C", ("Avoid: every option containing C",), None, "avoid", governs=True),
         fc.Box("Check", ("Flag: Discuss",), None, "note", caution=True, governs=True)))),
    fc.Band(("If region is X: prior lines < 1", "Otherwise: prior lines < 2"), ((), (), ()),
            href="sections/s.html", kind="section", joint="otherwise"),
]


def test_sample_chart_matches_golden(golden):
    golden.check(GOLDEN / "sample.svg", fc.panels("Sample", "sample", ("Preferred", "Other options", "Avoid"),
                                                  SAMPLE_BANDS) + "\n")
    golden.check(GOLDEN / "legend.html", fc.legend_html() + "\n")


@pytest.mark.parametrize("text", ['<script>alert(1)</script>', 'a & b "q" \'s\'', "</svg><b>x</b>", "]]> <!-- -->"])
def test_svg_is_well_formed_and_keeps_text(text):
    band = fc.Band((text,), ((fc.Box(text, (text,), href="x.html#a", kind="preferred", tooltip=text),), (), ()),
                   href=text)
    svg = fc.panels(text, "x", (text, "b", "c"), [band])
    root = ET.fromstring(svg)  # escaped text cannot close or open an element
    assert root.tag == f"{NS}svg"
    assert any(text[:20] in t for t in _texts(svg))


@pytest.mark.parametrize("box, rows", [
    (fc.Box("T"), [("T", "b", 0)]),
    (fc.Box("T", caution=True), [("⚠ T", "b", 0)]),
    (fc.Box("T", governs=True), [("T", "b", 0), ("⚑ governing", "g", 0)]),
    (fc.Box("T", ("If x:", "\tPreferred: A", "\t\tFlag: f")),
     [("T", "b", 0), ("If x:", "", 0), ("Preferred: A", "", fc.INDENT), ("Flag: f", "", 2 * fc.INDENT)]),
])
def test_box_rows(box, rows):
    assert fc._box_rows(box, fc.COL_W) == rows


@pytest.mark.parametrize("kind, outline, marker", [
    # caution and governing differ by colour AND by a shape and an icon, not by colour alone
    ("caution", 'stroke-dasharray="6 3"', "⚠"),
    ("governs", f'fill="{fc.GOVERNS}"', "⚑"),
    ("condition", "<polygon", None),
])
def test_legend_swatches_are_distinct(kind, outline, marker):
    sw = fc.swatch(kind)
    assert outline in sw
    if marker:
        assert marker in sw
    others = [fc.swatch(k) for k, _, _ in fc.LEGEND if k != kind]
    assert sw not in others
    assert f'hgl-chart-legend-{kind}' in fc.legend_html()


def test_caution_and_governing_boxes_differ_in_shape_and_colour():
    svg = fc.panels("t", "t", ("a", "b", "c"), [fc.Band(("c",), (
        (fc.Box("caution", caution=True, kind="preferred"),), (fc.Box("governs", governs=True, kind="preferred"),), ()))])
    caution, governs = re.findall(r'<g class="hgl-box[^"]*">(.*?)</g>', svg)
    assert "stroke-dasharray" in caution and "stroke-dasharray" not in governs
    assert fc.GOVERNS in governs and fc.GOVERNS not in caution
    assert fc.CAUTION[0] in caution and fc.CAUTION[0] not in governs


# ---------------------------------------------------------------- words


def _program(**roles):
    roles = {"preferred": ("Preferred", False), "alternative": ("Alternative", False), "avoid": ("Avoid", True),
             **roles}
    order = ("avoid", "not_recommended", "preferred", "consider", "alternative")
    return SimpleNamespace(roles=roles, role_order=tuple(r for r in order if r in roles),
                           options={"a": SimpleNamespace(label="Drug A"), "b": SimpleNamespace(label="Drug B")},
                           flags={"f": SimpleNamespace(label="Discuss at the board")})


def _propose(role, *opts, label=None):
    return {"kind": "propose", "role": role, "label": label or role.capitalize(), "options": list(opts)}


def _if(text, *children):
    return {"kind": "if", "text": text, "children": list(children)}


EXTRA = {"consider": ("Consider (class IIa)", False), "not_recommended": ("Not recommended", True)}
KIND_CASES = [
    ([_propose("preferred", "a")], "preferred"),
    ([_propose("alternative", "a"), _propose("preferred", "b")], "preferred"),
    ([_propose("alternative", "a")], "option"),
    ([_propose("consider", "a")], "option"),
    ([_propose("not_recommended", "a")], "avoid"),
    ([{"kind": "restrict", "action": "demote", "options": [], "text": "every option containing x"}], "avoid"),
    ([{"kind": "withhold"}], "avoid"),
    ([{"kind": "flag", "flags": ["f"]}], "note"),
    ([{"kind": "request", "label": "LVEF", "flags": []}], "note"),
    ([_if("If x", _propose("preferred", "a"))], "preferred"),
    ([{"kind": "use", "label": "the choice", "children": [_if("If x", _propose("alternative", "a"))]}], "option"),
]


@pytest.mark.parametrize("items, kind", KIND_CASES)
def test_box_column_is_its_strongest_role(items, kind):
    assert ChartWords(_program(**EXTRA)).kind(items) == kind


LINE_CASES = [
    ([_propose("preferred", "a", "b")], ["Preferred: Drug A, Drug B"]),
    ([{"kind": "restrict", "action": "demote", "options": [], "text": "every option containing x"}],
     ["No longer preferred (moved down to alternative): every option containing x"]),
    ([{"kind": "restrict", "action": "avoid", "options": ["a"], "text": ""}], ["Avoid: Drug A"]),
    ([{"kind": "restrict", "action": "drop", "options": ["b"], "text": ""}], ["Not offered (removed): Drug B"]),
    ([{"kind": "flag", "flags": ["f"]}], ["Flag: Discuss at the board"]),  # the flag's label, not its id
    ([{"kind": "request", "label": "LVEF", "flags": []}], ["Asks for LVEF"]),
    ([{"kind": "withhold"}], ["No options shown"]),
    ([_if("If x", _propose("preferred", "a"), _if("If y", {"kind": "flag", "flags": ["f"]}))],
     ["If x:", "\tPreferred: Drug A", "\tIf y:", "\t\tFlag: Discuss at the board"]),
    # a shared choice that depends on the case: named with its options, not as an opaque label
    ([{"kind": "use", "label": "the CNS choice", "children": [
        _if("If x", _propose("preferred", "a")), _if("Otherwise", _propose("alternative", "b"))]}],
     ["The CNS choice, by case: Drug A, Drug B"]),
    ([{"kind": "use", "label": "the pair", "children": [_propose("preferred", "a")]}], ["Preferred: Drug A"]),
]


@pytest.mark.parametrize("items, lines", LINE_CASES)
def test_outcome_lines_in_clinical_words(items, lines):
    assert ChartWords(_program(**EXTRA)).lines(items) == lines


def test_restrictions_are_said_without_jargon():
    assert {"avoid", "demote", "drop"} == set(RESTRICT_WORDS)
    assert not any(w in " ".join(RESTRICT_WORDS.values()).lower() for w in ("demote", "drop"))


@pytest.mark.parametrize("condition, lines", [
    ("line = 2", ("Line of therapy is 2",)),
    ("if region = east then prior < 1 else prior < 2",
     ("If region is east: prior lines < 1", "Otherwise: prior lines < 2")),
])
def test_condition_lines_use_the_explanation_words(condition, lines):
    from hgl.compiler.check.program import conjuncts
    from hgl.compiler.docs.pages import GuidelineDocs
    from hgl.compiler.front.source import Source
    from hgl.compiler.pipeline import compile_source

    from tests.conftest import SMALL_HEADER

    src = SMALL_HEADER + f'''input prior: integer at least 0 label "prior lines"
input region: one of east, west
define line "line of therapy" = prior + 1
option a "A"
section s "S"
  rule r "R"
    when {condition}
    prefer a
    provenance t
  end
end
'''
    result = compile_source(Source("g.hgl", src))
    assert result.ok, [(d.code, d.message) for d in result.errors]
    docs = GuidelineDocs(result, "g.hgl")
    when = result.program.rules[0].when
    assert condition_lines(docs.words, next(iter(conjuncts(when)))) == lines


# ---------------------------------------------------------------- the shipped guidelines' charts

# code or internal words that must not reach a clinician: identifiers, raw expressions, jargon
FORBIDDEN = [re.compile(p) for p in (r"\b[a-z0-9]+_[a-z0-9_]+\b", r"\(if ", r" then ", r"\bdemote", r"\bdrop:",
                                     r"\bgoverns\b", r"\bselector\b")]


def test_charts_say_no_code_or_jargon(page):
    name, _, data = page
    for chart in data["charts"]:
        for text in _texts(str(chart.svg)):
            bad = [p.pattern for p in FORBIDDEN if p.search(text)]
            assert not bad, (name, chart.title, text, bad)


def test_chart_layout_fits_and_boxes_do_not_overlap(page):
    name, _, data = page
    for chart in data["charts"]:
        svg = str(chart.svg)
        w, h = (float(v) for v in re.search(r'viewBox="0 0 (\S+) (\S+)"', svg).groups())
        assert w <= 3 * fc.COL_W + 2 * fc.GAP + 2 * fc.MARGIN, (name, chart.title)  # fits the site's column at 1280 px
        assert f'font-size="{fc.FONT}"' in svg
        boxes = _boxes(svg)
        for i, (x, y, bw, bh) in enumerate(boxes):
            assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
            for (x2, y2, w2, h2) in boxes[i + 1:]:
                assert x + bw <= x2 or x2 + w2 <= x or y + bh <= y2 or y2 + h2 <= y, (name, chart.title)
        for text in _texts(svg):  # wrapped to the column: no line wider than a box
            assert len(text) * fc.CHAR_W <= max(w, fc.COL_W), text


def test_every_rule_once_in_the_section_chart(page):
    _, docs, data = page
    sections = next(c for c in data["charts"] if c.id == "chart-sections")
    hrefs = re.findall(r'<a href="([^"]*#rule-[^"]*)"', str(sections.svg))
    assert sorted(hrefs) == sorted(docs.links(f"{docs.gid}/flowcharts.md").rule_url(r) for r in docs.rules)


def test_page_data_has_legend_and_standalone_files(page):
    _, _, data = page
    assert "hgl-chart-legend" in data["legend"]
    assert set(data["write_files"]) == {str(c.file) for c in data["charts"]}
    for chart in data["charts"]:
        assert data["write_files"][str(chart.file)] == str(chart.svg)


def test_key_charts_draw_no_rule_twice():
    """The brain-metastasis chart draws what the line chart does not, and lists the rest with a link."""
    from hgl.compiler.docs.pages import CHART_KEYS

    docs = _docs("her2_mbc")
    charts = {c.id: c for c in chart_page(docs, "her2_mbc/flowcharts.md", CHART_KEYS)["charts"]}
    line, bm = charts["chart-line"], charts["chart-bm_status"]
    rules = [set(re.findall(r'#rule-(\w+)"', str(c.svg))) for c in (line, bm)]
    assert rules[0] and rules[1] and not rules[0] & rules[1]
    assert {rid for rid, _, _ in bm.elsewhere} <= rules[0]
    assert bm.elsewhere_chart == ("chart-line", line.title)
    assert len(_boxes(str(bm.svg))) < 21  # was 31 boxes, 21 of them repeated from the line chart
    band_heads = [t for t in _texts(str(bm.svg))]
    assert not any(t.startswith(("Line of therapy", "A first-line choice")) for t in band_heads)


def test_charts_are_byte_stable_whatever_the_hash_seed():
    code = ("import hashlib; from tests.test_flowchart import _docs; from hgl.compiler.docs.chartdata import chart_page; "
            "from hgl.compiler.docs.pages import CHART_KEYS; d = _docs('her2_mbc'); "
            "print(hashlib.sha256(''.join(str(c.svg) for c in chart_page(d, 'her2_mbc/flowcharts.md', "
            "CHART_KEYS)['charts']).encode()).hexdigest())")
    seen = set()
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                             env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "HGL_CACHE_DIR": str(ROOT / ".hgl-cache")})
        assert out.returncode == 0, out.stderr
        seen.add(out.stdout.strip())
    assert len(seen) == 1
