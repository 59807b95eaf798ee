"""The built HER2 site in headless Chromium: pages load cleanly, charts are SVG, search finds a regimen."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
HER2 = ROOT / "guidelines" / "her2_mbc.hgl"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# one page of each kind, with the element that proves it rendered
PAGES = [
    ("index.html", "Guidelines in this site"),
    ("her2_mbc/index.html", "Provenance legend"),
    ("her2_mbc/flowcharts.html", "Sequencing by line of therapy"),
    ("her2_mbc/sections/second_line.html", "T-DXd"),
    ("her2_mbc/data.html", "data dictionary"),
    ("her2_mbc/parameters.html", "early-relapse policy"),
    ("her2_mbc/vocabulary.html", "Flags"),
    ("her2_mbc/evidence.html", "DESTINY-Breast03"),
    ("her2_mbc/cases.html", "worked cases"),
    ("her2_mbc/verification.html", "verification"),
    ("runtime.html", "Running cases"),
]


HAND_PAGES = ["language", "diagnostics", "design", "verification", "editors"]


def _chromium_or_skip():
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed")
    return sync_playwright


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    from hgl.compiler.docs.site import build_site

    folder = tmp_path_factory.mktemp("browser-site")
    info = build_site([HER2], folder / "site", docs_dir=folder / "md",
                      extra_cases={"her2_mbc": [ROOT.parent / "shared" / "clinical" / "vignettes.yaml"]})
    handler = functools.partial(_Quiet, directory=str(info["site_dir"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _chromium_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(f"page error: {e}"))
    # offline at view time: any request that leaves localhost is an error
    pg.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
          else pg.errors.append(f"external request: {r.url}"))
    yield pg
    context.close()


@pytest.mark.parametrize("path, text", PAGES)
def test_page_loads_without_errors(page, site_url, path, text):
    response = page.goto(f"{site_url}/{path}")
    assert response is not None and response.ok, path
    page.wait_for_load_state("networkidle")
    assert text.lower() in page.inner_text("article").lower()
    assert page.errors == []


@pytest.mark.parametrize("name", HAND_PAGES)
def test_hand_written_page_loads_without_errors(page, site_url, name):
    if not (ROOT / "site" / "pages" / f"{name}.md").exists():
        pytest.skip(f"site/pages/{name}.md is not written yet")
    response = page.goto(f"{site_url}/{name}.html")
    assert response is not None and response.ok
    page.wait_for_load_state("networkidle")
    assert page.locator("article h1").count() >= 1
    assert page.errors == []


def test_flowcharts_are_svg_and_link_to_rule_cards(page, site_url):
    page.goto(f"{site_url}/her2_mbc/flowcharts.html")
    charts = page.locator("article svg.hgl-flowchart")
    assert charts.count() >= 3
    assert charts.first.evaluate("e => e.namespaceURI") == "http://www.w3.org/2000/svg"
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100  # it rendered, with a size
    link = page.locator("svg.hgl-flowchart a").first
    href = link.get_attribute("href")
    assert href.startswith("sections/") and "#rule-" in href
    link.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(href.split("/", 1)[1])
    assert page.locator(f"#{href.split('#')[1]}").count() == 1
    assert page.errors == []


def test_search_finds_a_regimen_by_name(page, site_url):
    page.goto(f"{site_url}/her2_mbc/index.html")
    page.wait_for_load_state("networkidle")
    page.locator("input.md-search__input").click()
    page.keyboard.type("tucatinib", delay=20)  # the theme searches on key events, not on fill()
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=10000)
    assert results.count() > 0
    assert "tucatinib" in page.inner_text(".md-search-result").lower()
    assert page.errors == []


def test_screenshots(page, site_url):
    ARTIFACTS.mkdir(exist_ok=True)
    for path, name in (("her2_mbc/index.html", "docs_overview.png"),
                       ("her2_mbc/sections/brain_metastases.html", "docs_section.png"),
                       ("her2_mbc/flowcharts.html", "docs_flowcharts.png")):
        page.goto(f"{site_url}/{path}")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(ARTIFACTS / name), full_page=False)
        assert (ARTIFACTS / name).stat().st_size > 10_000
    assert page.errors == []


# ---------------------------------------------------------------- the author pages as rendered

_FENCED = re.compile(r"^```.*?^```[ \t]*$", re.M | re.S)
_HEADING = re.compile(r"^(#{1,3}) (.+?)(?:\s+\{[^}]*\})?[ \t]*$", re.M)
_HGL_FENCE = re.compile(r"^```hgl[^\n]*\n(.*?)^```", re.M | re.S)

# every h1-h3 of the article: its level, its text (no permalink) and whether it sits in a code block
_HEADINGS_JS = """() => [...document.querySelectorAll('article h1, article h2, article h3')].map(h => ({
    level: Number(h.tagName[1]),
    text: [...h.childNodes].filter(n => !(n.classList && n.classList.contains('headerlink')))
                           .map(n => n.textContent).join('').trim(),
    inCode: !!h.closest('pre, code')}))"""


@pytest.mark.parametrize("name, sections", [("language", 17), ("diagnostics", None)])
def test_author_page_renders_headings_and_examples(page, site_url, name, sections):
    source = (ROOT / "site" / "pages" / f"{name}.md").read_text(encoding="utf-8")
    expected = [(len(m.group(1)), m.group(2).strip()) for m in _HEADING.finditer(_FENCED.sub("", source))]
    if sections is not None:
        assert len(expected) == sections, expected
    page.goto(f"{site_url}/{name}.html")
    page.wait_for_load_state("networkidle")
    assert "```" not in page.inner_text("body")
    headings = page.evaluate(_HEADINGS_JS)
    assert [h for h in headings if h["inCode"]] == []
    assert [(h["level"], h["text"]) for h in headings] == expected
    # each ```hgl example is one highlighted <pre> block, with its text intact, and nothing else is
    examples = [m.group(1) for m in _HGL_FENCE.finditer(source)]
    blocks = page.locator("article div.hgl pre")
    assert blocks.count() == len(examples) > 0
    shown = [blocks.nth(i).inner_text() for i in range(blocks.count())]
    for want, got in zip(examples, shown):
        assert got.split() == want.split()
    assert page.errors == []


def test_hgl_examples_are_highlighted(page, site_url):
    """compiler/docs/lexer.py through the ```hgl fence: Pygments classes the theme colours."""
    page.goto(f"{site_url}/language.html")
    page.wait_for_load_state("networkidle")
    assert "```" not in page.inner_text("body")
    keywords = page.locator("article div.language-hgl.highlight pre code span.k, "
                            "article div.language-hgl.highlight pre code span.kd")
    words = set(keywords.all_inner_texts())
    assert {"rule", "when"} <= words, sorted(words)
    # coloured by mkdocs-material, not left in the text colour of the block
    kw = page.locator("article div.language-hgl span.kd", has_text="rule").first
    name = page.locator("article div.language-hgl span.n").first
    colour = "el => getComputedStyle(el).color"
    assert kw.evaluate(colour) != name.evaluate(colour)
    assert page.errors == []


@pytest.mark.parametrize("path, command", [
    ("her2_mbc/verification.html", "hgl check --verify guidelines/her2_mbc.hgl"),
    ("her2_mbc/parameters.html", "hgl run guidelines/her2_mbc.hgl --case CASE.json --param NAME=VALUE"),
])
def test_commands_are_shown_as_typed(page, site_url, path, command):
    page.goto(f"{site_url}/{path}")
    page.wait_for_load_state("networkidle")
    text = page.inner_text("article")
    assert "&#95;" not in text and "&amp;#" not in text and "&#" not in text
    assert command in text
    h2 = [h["text"] for h in page.evaluate(_HEADINGS_JS) if h["level"] == 2]
    assert len(h2) == len(set(h2)), h2
    assert page.errors == []
