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


class _SiteUrl(str):
    """The served site's address; `.folder` is the built site on disk."""

    folder: Path


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
    url = _SiteUrl(f"http://127.0.0.1:{server.server_address[1]}")
    url.folder = info["site_dir"]  # the pages a test walks through
    yield url
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
        assert len(expected) >= sections, expected  # a guard: the page keeps its sections (others may add)
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
    ("her2_mbc/verification.html", "hgl test guidelines/her2_mbc.hgl --mutate"),
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


# ---------------------------------------------------------------- every page as rendered: two views, chips, gallery, print

# the visible text of the article, with what the theme hides (the <details> of authors included when closed)
_ENTITY_TEXT = re.compile(r"&(?:amp|lt|gt|quot|#\d+|#x[0-9a-f]+);", re.I)


def _built_pages(site_url):
    """Every HTML page of the built site (served from the same folder), relative to its root."""
    folder = Path(site_url.folder)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.html")
                  if p.name != "404.html" and "search" not in p.parts)


def test_no_page_shows_a_fence_or_an_entity_and_every_hgl_block_is_highlighted(page, site_url):
    """On every page: no literal ``` and no entity text (`&amp;`, `&#95;`) in what the reader sees,
    and every block of HGL (an ```hgl example, a rule's condition as written) has Pygments tokens."""
    shown, plain = {}, {}
    for path in _built_pages(site_url):
        page.goto(f"{site_url}/{path}")
        text = page.evaluate("() => document.querySelector('article').textContent")
        bad = ["```"] * ("```" in text) + _ENTITY_TEXT.findall(text)
        if bad:
            shown[path] = sorted(set(bad))
        blocks = page.evaluate("""() => [...document.querySelectorAll(
            'article div.language-hgl pre, article pre.hgl-source.highlight')].map(b => b.querySelectorAll('span').length)""")
        if any(n == 0 for n in blocks):
            plain[path] = blocks
    assert shown == {} and plain == {}
    assert page.errors == []


@pytest.mark.parametrize("path, active", [
    ("her2_mbc/sections/second_line.html", "For clinicians"),
    ("her2_mbc/cases.html", "For clinicians"),
    ("language.html", "For authors"),
    ("her2_mbc/verification.html", "For authors"),
])
def test_clinician_and_author_views_have_their_own_navigation(page, site_url, path, active):
    page.goto(f"{site_url}/{path}")
    tabs = [t.strip() for t in page.locator(".md-tabs__link").all_inner_texts()]
    assert tabs == ["Home", "For clinicians", "For authors"]
    assert page.locator(".md-tabs__item--active").inner_text().strip() == active
    sidebar = page.locator(".md-sidebar--primary nav").first.inner_text()
    if active == "For clinicians":
        assert "Evidence" in sidebar and "Worked cases" in sidebar and "Language reference" not in sidebar
    else:
        assert "Language reference" in sidebar and "Worked cases" not in sidebar
    assert page.errors == []


def test_home_page_routes_both_views(page, site_url):
    page.goto(f"{site_url}/index.html")
    views = page.locator("article .hgl-view h2").all_inner_texts()
    assert [v.replace("¶", "").strip() for v in views] == ["For clinicians", "For guideline authors"]
    assert page.locator("article .hgl-view a[href='her2_mbc/index.html']").count() == 1
    assert page.locator("article .hgl-view a[href='language.html']").count() == 1


def test_section_page_is_clinical_with_readable_chips_and_a_legend(page, site_url):
    page.goto(f"{site_url}/her2_mbc/sections/second_line.html")
    article = page.locator("article")
    text = article.evaluate("""a => { const c = a.cloneNode(true);
        c.querySelectorAll('details.hgl-authors').forEach(d => d.remove()); return c.innerText; }""")
    for word in ("SPEC.md", ".hgl", ".yaml", "second_line_tdxd"):
        assert word not in text, word
    assert "Source section 4.3" in text
    chips = page.locator("article .hgl-tag:not(.hgl-spec)")
    assert chips.count() > 10
    for i in range(chips.count()):
        chip = chips.nth(i)
        assert len(chip.get_attribute("title") or "") > 5
        assert "_" not in chip.inner_text()
        assert float(chip.evaluate("e => getComputedStyle(e).fontSize")[:-2]) >= 11
    legend = page.locator("article .hgl-legend")
    assert legend.count() == 1 and "ESMO" in legend.inner_text() and "to be checked" in legend.inner_text()
    # every rule card still shows where it comes from
    for rule in page.locator("article h2.hgl-rule").all():
        assert rule.evaluate("h => h.nextElementSibling.querySelectorAll('.hgl-tag').length") >= 1
    assert page.errors == []


@pytest.mark.parametrize("path", ["her2_mbc/sections/second_line.html", "her2_mbc/index.html",
                                  "her2_mbc/evidence.html", "her2_mbc/parameters.html"])
def test_key_value_tables_have_no_empty_header_and_fit_a_phone(browser, site_url, path):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    pg = context.new_page()
    pg.goto(f"{site_url}/{path}")
    empty_heads = pg.evaluate("""() => [...document.querySelectorAll('article thead tr')]
        .filter(tr => [...tr.cells].every(c => !c.textContent.trim())).length""")
    assert empty_heads == 0
    if path != "her2_mbc/parameters.html":
        lists = pg.locator("article .hgl-kv dl")
        assert lists.count() >= 1
        for i in range(lists.count()):  # stacked: nothing to scroll sideways
            assert lists.nth(i).evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_evidence_links_to_pubmed_and_doi_and_loads_nothing(page, site_url):
    page.goto(f"{site_url}/her2_mbc/evidence.html")
    page.wait_for_load_state("networkidle")
    entry = page.locator("#evidence-cleopatra ~ div.hgl-kv").first
    hrefs = entry.locator("a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert "https://pubmed.ncbi.nlm.nih.gov/22149875/" in hrefs
    assert "https://doi.org/10.1056/NEJMoa1113216" in hrefs
    assert "Baselga J" in page.locator("#evidence-cleopatra + p.hgl-citation").inner_text()
    page.goto(f"{site_url}/her2_mbc/index.html")
    assert page.locator("article a[href='https://pubmed.ncbi.nlm.nih.gov/39580869/']").count() == 1
    assert page.locator("article a[href='https://doi.org/10.1016/j.ctrv.2024.102853']").count() == 1
    assert page.errors == []  # includes: no request left localhost


def test_case_gallery_is_grouped_and_filters(page, site_url):
    page.goto(f"{site_url}/her2_mbc/cases.html")
    page.wait_for_load_state("networkidle")
    assert ".yaml" not in page.locator("article h1, article h2").all_inner_texts().__str__()
    groups = page.locator("article .hgl-case-group h2").all_inner_texts()
    assert len(groups) >= 10 and groups[0].startswith("4.1")  # not the data checks first
    cases = page.locator("article .hgl-case")
    total = cases.count()
    assert total > 100
    count = page.locator("#hgl-case-count")
    page.locator("#hgl-case-filter").fill("tucatinib")
    shown = int(count.get_attribute("data-shown"))
    assert 0 < shown < total
    assert page.locator("article .hgl-case:visible").count() == shown
    assert f"{shown} of {total}" in count.inner_text()
    page.locator("#hgl-case-kind").select_option("inconsistent")
    narrower = int(count.get_attribute("data-shown"))
    assert narrower < shown
    page.locator("#hgl-case-filter").fill("")
    page.locator("#hgl-case-kind").select_option("")
    assert int(count.get_attribute("data-shown")) == total
    page.goto(f"{site_url}/her2_mbc/cases.html#cases-second_line")  # a section's link opens its cases
    page.wait_for_load_state("networkidle")
    assert page.locator("#cases-second_line ~ details.hgl-case-list").first.evaluate("d => d.open")
    assert page.errors == []


def test_section_page_prints_as_a_handout(page, site_url):
    page.goto(f"{site_url}/her2_mbc/sections/second_line.html")
    page.emulate_media(media="print")
    hidden = page.evaluate("""() => ['.md-header', '.md-sidebar--primary', '.md-tabs', 'details.hgl-authors']
        .map(s => document.querySelector(s)).filter(Boolean).map(e => getComputedStyle(e).display)""")
    assert hidden and set(hidden) == {"none"}
    assert page.locator("article h1").is_visible()
    assert page.locator("article .hgl-tag").first.is_visible()
    pdf = page.pdf(format="A4")
    assert pdf[:4] == b"%PDF"
