"""The flowchart pages in headless Chromium: legible and pannable on a 390-px phone, fitting at 1280 px, with a legend."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path

import pytest

from tests.test_browser import _Quiet, browser  # noqa: F401 - browser: the shared Chromium fixture

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
GUIDELINES = ["her2_mbc", "af_stroke", "cap_site_of_care"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
MIN_TEXT = 11  # px, as rendered

# the rendered size of a chart's text: its computed font size times the SVG's scale on screen
TEXT_PX = """svg => { const t = svg.querySelector('g.hgl-box text');
    return parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a; }"""
VIEWBOX = "svg => svg.getAttribute('viewBox')"
# texts that run past the right edge of their box or condition (the wrapping's width estimate was too small)
OVERFLOW = """svg => [...svg.querySelectorAll('g.hgl-box, g.hgl-condition')].flatMap(g => {
    const shape = g.querySelector('rect, polygon').getBBox(), right = shape.x + shape.width;
    return [...g.querySelectorAll('text')].filter(t => { const b = t.getBBox(); return b.x + b.width > right - 2; })
        .map(t => t.textContent); })"""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    from hgl.compiler.docs.site import build_site

    folder = tmp_path_factory.mktemp("flowchart-site")
    # strict=False: this file tests the charts; the strict build and its links are tests/test_docs.py's
    info = build_site([ROOT / "guidelines" / f"{g}.hgl" for g in GUIDELINES], folder / "site",
                      docs_dir=folder / "md", verifier=False, extra_cases={}, strict=False)
    handler = functools.partial(_Quiet, directory=str(info["site_dir"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _open(browser, site_url, guideline, viewport, js=True):
    context = browser.new_context(viewport=viewport, java_script_enabled=js, has_touch=viewport is PHONE)
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(f"page error: {e}"))
    pg.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
          else pg.errors.append(f"external request: {r.url}"))
    pg.goto(f"{site_url}/{guideline}/flowcharts.html")
    pg.wait_for_load_state("networkidle")
    return context, pg


def _natural_width(pg) -> float:
    """The first chart's width at scale 1, from its standalone file (the script changes the inline viewBox)."""
    href = pg.locator("article figure.hgl-chart figcaption a").first.get_attribute("href")
    text = pg.request.get(pg.url.rsplit("/", 1)[0] + "/" + href).text()
    return float(re.search(r'viewBox="0 0 ([0-9.]+) ', text).group(1))


@pytest.fixture
def phone(browser, site_url):
    context, pg = _open(browser, site_url, "her2_mbc", PHONE)
    yield pg
    assert pg.errors == []
    context.close()


@pytest.mark.parametrize("guideline", GUIDELINES)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_chart_text_is_legible_and_the_legend_visible(browser, site_url, guideline, viewport):
    context, pg = _open(browser, site_url, guideline, viewport)
    charts = pg.locator("article figure.hgl-chart svg.hgl-flowchart")
    assert charts.count() >= 1
    for i in range(charts.count()):
        assert charts.nth(i).evaluate(TEXT_PX) >= MIN_TEXT, (guideline, i)
        assert charts.nth(i).evaluate(OVERFLOW) == [], (guideline, i)
    legend = pg.locator("article ul.hgl-chart-legend")
    assert legend.is_visible()
    items = legend.locator("li")
    assert items.count() == 7
    for i in range(items.count()):
        assert items.nth(i).is_visible()
        box = items.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1  # wraps, never off-screen
    assert {"Preferred", "⚠ Caution", "⚑ Governing", "Condition"} <= set(legend.locator("b").all_inner_texts())
    assert pg.errors == []
    context.close()


def test_desktop_chart_fits_the_page(browser, site_url):
    context, pg = _open(browser, site_url, "her2_mbc", DESKTOP)
    view = pg.locator("article figure.hgl-chart .hgl-chart-view").first
    svg = view.locator("svg.hgl-flowchart")
    assert float(svg.evaluate(VIEWBOX).split()[2]) == _natural_width(pg)  # the whole width is shown ...
    assert svg.bounding_box()["width"] <= view.bounding_box()["width"] + 1  # ... inside the page's column
    assert svg.evaluate(TEXT_PX) >= MIN_TEXT
    assert pg.errors == []
    context.close()


def test_phone_zoom_buttons_change_the_view(phone):
    svg = phone.locator("article svg.hgl-flowchart").first
    tools = phone.locator("article .hgl-chart-tools").first
    before = svg.evaluate(VIEWBOX)
    tools.get_by_role("button", name="Zoom in").click()
    zoomed = svg.evaluate(VIEWBOX)
    assert zoomed != before
    assert float(zoomed.split()[2]) < float(before.split()[2])  # a narrower part of the chart, larger
    assert svg.evaluate(TEXT_PX) > MIN_TEXT * 1.1
    tools.get_by_role("button", name="Zoom out").click()
    tools.get_by_role("button", name="Zoom out").click()
    assert float(svg.evaluate(VIEWBOX).split()[2]) > float(zoomed.split()[2])
    tools.get_by_role("button", name="Show the whole width of the chart").click()
    shown = svg.evaluate(VIEWBOX).split()
    assert shown[0] == "0.0" and float(shown[2]) == _natural_width(phone)
    assert svg.bounding_box()["width"] <= phone.locator("article .hgl-chart-view").first.bounding_box()["width"] + 1
    tools.get_by_role("button", name="Readable text size, left edge").click()
    assert svg.evaluate(VIEWBOX) == before


def test_phone_keyboard_pans_and_zooms(phone):
    view = phone.locator("article .hgl-chart-view").first
    svg = view.locator("svg.hgl-flowchart")
    before = svg.evaluate(VIEWBOX)
    view.focus()
    phone.keyboard.press("ArrowRight")
    panned = svg.evaluate(VIEWBOX)
    assert float(panned.split()[0]) > float(before.split()[0])
    phone.keyboard.press("ArrowLeft")
    assert svg.evaluate(VIEWBOX) == before
    phone.keyboard.press("+")
    assert svg.evaluate(VIEWBOX) != before
    phone.keyboard.press("0")
    assert svg.evaluate(VIEWBOX) == before


def test_phone_drag_pans_and_does_not_follow_a_link(phone):
    view = phone.locator("article .hgl-chart-view").first
    svg = view.locator("svg.hgl-flowchart")
    before = svg.evaluate(VIEWBOX)
    first = view.locator("g.hgl-box").first
    first.evaluate("b => b.scrollIntoView({block: 'center'})")
    box = first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    url = phone.url
    phone.mouse.move(x, y)
    phone.mouse.down()
    phone.mouse.move(x - 60, y, steps=5)
    phone.mouse.move(x - 150, y, steps=5)
    phone.mouse.up()
    assert float(svg.evaluate(VIEWBOX).split()[0]) > float(before.split()[0])
    assert phone.url == url  # the drag ended on a box's link, which was not followed


def test_phone_box_link_still_opens_its_rule_card(phone):
    link = phone.locator("article svg.hgl-flowchart a").first
    href = link.get_attribute("href")
    assert href.startswith("sections/") and "#rule-" in href
    link.locator("text").first.click()
    phone.wait_for_load_state("networkidle")
    assert phone.url.endswith(href.split("/", 1)[1])


def test_open_full_size_is_the_same_chart(phone, site_url):
    link = phone.locator("article figure.hgl-chart figcaption a").first
    href = link.get_attribute("href")
    assert href.endswith(".svg")
    title = phone.locator("article svg.hgl-flowchart title").first.text_content()
    response = phone.request.get(f"{site_url}/her2_mbc/{href}")
    assert response.ok and "svg" in response.headers["content-type"]
    text = response.text()
    assert text.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and f"<title>{title}</title>" in text


def test_without_javascript_the_chart_scrolls_at_natural_size(browser, site_url):
    context, pg = _open(browser, site_url, "her2_mbc", PHONE, js=False)
    view = pg.locator("article .hgl-chart-view").first
    svg = view.locator("svg.hgl-flowchart")
    assert svg.evaluate(TEXT_PX) >= MIN_TEXT
    assert view.evaluate("v => v.scrollWidth > v.clientWidth && getComputedStyle(v).overflowX === 'auto'")
    assert pg.locator("article .hgl-chart-tools").count() == 0
    assert pg.locator("article ul.hgl-chart-legend").is_visible()
    context.close()
