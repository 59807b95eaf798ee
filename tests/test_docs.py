"""The documentation site: golden Markdown of a sample guideline, escaping, worked cases, the real HER2 build."""

from __future__ import annotations

import html as html_lib
import json
import re
import time
from pathlib import Path

import pytest

from hgl.compiler.docs import site as docgen
from hgl.compiler.front.diagnostics import Diagnostic
from hgl.compiler.docs.text import esc
from hgl.compiler.front.source import Span
from tests.conftest import SMALL_HEADER

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SAMPLE = DATA / "docs_sample.hgl"
GOLDEN = ROOT / "tests" / "golden" / "docs"
HER2 = ROOT / "guidelines" / "her2_mbc.hgl"
ARTIFACTS = ROOT / "test-artifacts"


def fake_verifier(result):
    """A fixed finding, so the verification page is part of the golden files."""
    return [Diagnostic("HGL503", "dead rule 'first_a': can never fire", Span(79, 8, 79, 15),
                       "check its condition", data={"witness": {"prior_lines": 0, "marker": "positive"}})]


@pytest.fixture(scope="module")
def sample_docs(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample-md")
    docgen.write_markdown([SAMPLE], out, pages_dir=None, verifier=fake_verifier, extra_cases={})
    return out


def _generated(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.suffix in (".md", ".json")}


# ---------------------------------------------------------------- golden Markdown


def test_sample_pages_match_golden(sample_docs, golden):
    golden.check_dir(GOLDEN, _generated(sample_docs))


def test_markdown_is_deterministic(sample_docs, tmp_path):
    docgen.write_markdown([SAMPLE], tmp_path, pages_dir=None, verifier=fake_verifier, extra_cases={})
    assert _generated(tmp_path) == _generated(sample_docs)


@pytest.mark.parametrize("page, needle", [
    ("docs_sample/index.md", "Decision support, not a medical device."),
    ("docs_sample/index.md", "⚠ Guess</span> | reasoning, not confirmed | **2** ⚠ |"),   # caution tags counted
    ("docs_sample/index.md", 'title="To be checked before use: reasoning, not confirmed">⚠ Guess</span>'),  # chip
    ("docs_sample/data.md", '<mark class="hgl-assumption"'),                               # defaults highlighted
    ("docs_sample/data.md", "(docs_sample.schema.json)"),
    ("docs_sample/sections/first.md", "- line of therapy is 1"),                          # conditions in words
    ("docs_sample/sections/first.md", "<code>tests/data/docs&#95;sample.hgl:79</code>"),  # file:line
    ("docs_sample/sections/later.md", "*If not alpha given:*"),                           # shared outcome expanded
    ("docs_sample/flowcharts.md", "<svg xmlns=\"http://www.w3.org/2000/svg\""),
    ("docs_sample/flowcharts.md", 'href="sections/first.html#rule-first_a"'),              # nodes link to cards
    ("docs_sample/evidence.md", "[Regimen A first (1 First line)](sections/first.md#rule-first_a)"),  # cited by
    ("docs_sample/sections/first.md", "Provenance tags on this page"),  # chip legend
    ("docs_sample/sections/first.md", "\nStrength\n:   Strong recommendation\n"),  # key-value list, no empty header
    ("docs_sample/cases.md", 'id="hgl-case-filter"'),                                     # the gallery's filter
    ("docs_sample/cases.md", "## 1 First line { #cases-first }"),                         # cases by section
    ("docs_sample/cases.md", "✔ the result meets the expectation"),
    ("docs_sample/verification.md", "HGL503"),
])
def test_sample_page_contains(sample_docs, page, needle):
    assert needle in (sample_docs / page).read_text(encoding="utf-8")


def test_schema_download_is_the_runtime_schema(sample_docs):
    import hgl.runtime

    written = json.loads((sample_docs / "docs_sample" / "docs_sample.schema.json").read_text(encoding="utf-8"))
    assert written == hgl.runtime.load(SAMPLE).schema()


# ---------------------------------------------------------------- escaping


@pytest.mark.parametrize("text, rendered", [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("[x](javascript:alert(1))", "&#91;x&#93;(javascript:alert(1))"),
    ("a | b", "a &#124; b"),
    ("`code`", "&#96;code&#96;"),
    ("{{ 7*7 }}", "&#123;&#123; 7&#42;7 &#125;&#125;"),
    ("- item", "&#45; item"),
    ("1. first", "1&#46; first"),
    ("two\n\nparagraphs", "two paragraphs"),
    ("&amp;", "&amp;amp;"),
])
def test_esc(text, rendered):
    assert esc(text) == rendered


HOSTILE = {
    "rationale": '<script>alert("r")</script> [click](javascript:alert(1)) a | b `tick` {{ 7*7 }}',
    "title": "<b>bold</b> title",
    "evidence": "<img src=x onerror=alert(2)> | cell",
    "label": "*star* _under_ [link](http://x.invalid)",
}


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    src = SAMPLE.read_text(encoding="utf-8")
    src = src.replace('rationale "Regimen A is the standard (TRIAL-A)."', f"rationale {json.dumps(HOSTILE['rationale'])}")
    src = src.replace('section first "1 First line"', f"section first {json.dumps(HOSTILE['title'])}")
    src = src.replace('result "PFS 10 vs 5 mo"', f"result {json.dumps(HOSTILE['evidence'])}")
    src = src.replace('option regimen_a systemic "Regimen A"', f"option regimen_a systemic {json.dumps(HOSTILE['label'])}")
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "docs_sample.hgl"
    path.write_text(src, encoding="utf-8")
    (folder / "docs_sample.cases.yaml").write_text((DATA / "docs_sample.cases.yaml").read_text(encoding="utf-8"))
    docgen.build_site([path], folder / "site", docs_dir=folder / "md", verifier=False, extra_cases={},
                      pages_dir=None, display_root=folder)
    return folder / "site"


@pytest.mark.parametrize("page", ["docs_sample/sections/first.html", "docs_sample/evidence.html",
                                  "docs_sample/vocabulary.html", "docs_sample/flowcharts.html",
                                  "docs_sample/index.html"])
def test_hostile_text_renders_as_text(hostile_site, page):
    html = (hostile_site / page).read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert 'href="javascript:' not in html.lower()
    assert "<img src=x" not in html
    assert "<b>bold</b>" not in html


@pytest.mark.parametrize("page, shown", [
    ("docs_sample/sections/first.html", "&lt;script&gt;alert(&quot;r&quot;)&lt;/script&gt;"),
    ("docs_sample/sections/first.html", "[click](javascript:alert(1))"),
    ("docs_sample/sections/first.html", "a | b `tick` {{ 7*7 }}"),
    ("docs_sample/sections/first.html", "&lt;b&gt;bold&lt;/b&gt; title"),
    ("docs_sample/evidence.html", "&lt;img src=x onerror=alert(2)&gt; | cell"),
    ("docs_sample/vocabulary.html", "*star* _under_ [link](http://x.invalid)"),
])
def test_hostile_text_is_visible(hostile_site, page, shown):
    import html as htmllib

    text = htmllib.unescape((hostile_site / page).read_text(encoding="utf-8"))
    # after one level of unescaping, the page text is exactly what the author wrote
    assert htmllib.unescape(shown) in text


def test_no_entity_inside_a_markdown_code_span(sample_docs):
    """An escaped name inside `backticks` would show its entities (her2&#95;mbc.hgl): commands are raw <code>."""
    for name, text in _generated(sample_docs).items():
        spans = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text)
        assert not [s for s in spans if "&#" in s or "&amp;" in s or "&lt;" in s], name


def test_verification_headings_are_distinct_and_name_the_rule(tmp_path):
    def verifier(result):
        return [Diagnostic("HGL502", "conflict one", Span(79, 8, 79, 15)),
                Diagnostic("HGL502", "conflict two", Span(79, 8, 79, 15)),
                Diagnostic("HGL502", "conflict three", Span(111, 8, 111, 15)),
                Diagnostic("HGL503", "dead", Span(79, 8, 79, 15))]

    docgen.write_markdown([SAMPLE], tmp_path, pages_dir=None, verifier=verifier, extra_cases={})
    text = (tmp_path / "docs_sample" / "verification.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.*)$", text, re.M)
    assert len(headings) == 4 and len(set(headings)) == 4, headings
    assert headings[0].endswith("rule first&#95;a (1)") and headings[1].endswith("rule first&#95;a (2)")
    assert headings[2].endswith("rule supportive&#95;only")  # alone with its code and rule: no number
    assert headings[3].startswith("HGL503") and headings[3].endswith("rule first&#95;a")


# ---------------------------------------------------------------- worked cases and verification


def test_failing_worked_case_fails_the_build(tmp_path):
    (tmp_path / "docs_sample.hgl").write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "docs_sample.cases.yaml").write_text(
        "base: {prior_lines: 0, score: 1, marker: positive}\n"
        "cases:\n- id: WRONG\n  title: expects the wrong regimen\n  expect: {preferred: [regimen_b]}\n",
        encoding="utf-8")
    with pytest.raises(docgen.DocsError, match=r"docs_sample.cases.yaml::WRONG: preferred: expected regimen_b"):
        docgen.write_markdown([tmp_path / "docs_sample.hgl"], tmp_path / "md", pages_dir=None, extra_cases={},
                              verifier=False)


def test_verification_not_available(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "hgl.compiler.verify.search", None)  # the import fails
    docgen.write_markdown([SAMPLE], tmp_path, pages_dir=None, extra_cases={})
    assert "verification not available" in (tmp_path / "docs_sample" / "verification.md").read_text()


def test_cli_builds_the_sample(tmp_path, capsys):
    from hgl.compiler.cli import main

    rc = main(["docs", str(SAMPLE), "-o", str(tmp_path / "site"), "--docs-dir", str(tmp_path / "md"), "--no-verify"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "site" / "docs_sample" / "index.html").exists()
    assert "open " in capsys.readouterr().out


# ---------------------------------------------------------------- the real site


@pytest.fixture(scope="module")
def her2_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("her2-site")
    started = time.perf_counter()
    info = docgen.build_site([HER2], folder / "site", docs_dir=folder / "md")
    seconds = time.perf_counter() - started
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "docs_build_time.txt").write_text(f"her2_mbc site build: {seconds:.2f} s\n", encoding="utf-8")
    return info, seconds


def test_her2_site_build_time_is_recorded(her2_site):
    """The build time is a figure for test-artifacts/, not a timed test (a busy machine would fail it):
    the cold build includes verification and the mutation run, cached for the builds after it."""
    info, seconds = her2_site
    print(f"her2_mbc site build: {seconds:.2f} s")
    assert (ARTIFACTS / "docs_build_time.txt").read_text(encoding="utf-8").startswith("her2_mbc site build: ")


def test_her2_site_has_every_rule_card(her2_site):
    import hgl.runtime

    site = her2_site[0]["site_dir"]
    rules = hgl.runtime.load(HER2).module.RULES
    for r in rules:
        page = (site / "her2_mbc" / "sections" / f"{r.section}.html").read_text(encoding="utf-8")
        assert f'id="rule-{r.id}"' in page, r.id


def test_her2_site_is_offline_and_searchable(her2_site):
    site = her2_site[0]["site_dir"]
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        external = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?:)?//', html)
        assert not external, f"{page}: loads something from the network"
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert any("tucatinib" in doc["text"].lower() for doc in index["docs"])
    flow = (site / "her2_mbc" / "flowcharts.html").read_text(encoding="utf-8")
    assert flow.count("<svg") >= 3


HGL_FENCE = re.compile(r"^```hgl(?: ([a-z]+))?$", re.M)


def test_no_built_page_shows_a_literal_fence(her2_site):
    """A fence the Markdown renderer did not see ends up as text: no page of the site may show one."""
    site = her2_site[0]["site_dir"]
    shown = {}
    for page in sorted(site.rglob("*.html")):
        text = re.sub(r"<script.*?</script>|<style.*?</style>", "", page.read_text(encoding="utf-8"), flags=re.S)
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", text))
        if "```" in text:
            shown[str(page.relative_to(site))] = text.count("```")
    assert not shown, shown


@pytest.mark.parametrize("name", ["language", "diagnostics"])
def test_her2_site_renders_every_hgl_example_as_a_code_block(her2_site, name):
    """The ```hgl <mode> fences the tests read are fences for mkdocs too (compiler/docs/fences.py)."""
    from hgl.compiler.docs.fences import MODES

    source = (ROOT / "site" / "pages" / f"{name}.md").read_text(encoding="utf-8")
    fences = HGL_FENCE.findall(source)
    assert fences and set(fences) <= MODES | {""}
    assert len(fences) == len(re.findall(r"^```hgl", source, re.M))  # no fence the pattern misses
    html = (her2_site[0]["site_dir"] / f"{name}.html").read_text(encoding="utf-8")
    assert "```" not in html
    assert html.count('<div class="language-hgl hgl highlight">') == len(fences)
    assert '<span class="kd">rule</span>' in html and '<span class="k">when</span>' in html


@pytest.mark.parametrize("page", ["her2_mbc/verification.html", "her2_mbc/parameters.html"])
def test_her2_site_commands_are_not_double_escaped(her2_site, page):
    html = (her2_site[0]["site_dir"] / page).read_text(encoding="utf-8")
    assert "&amp;#" not in html
    assert "her2&#95;mbc.hgl" in html  # escaped once, inside raw <code>: the browser shows her2_mbc.hgl


def test_unknown_hgl_fence_mode_fails_the_build(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "notes.md").write_text("# Notes\n\n```hgl fragmnet\ninput x: yes/no\n```\n", encoding="utf-8")
    with pytest.raises(docgen.DocsError, match="fragmnet"):
        docgen.build_site([SAMPLE], tmp_path / "site", docs_dir=tmp_path / "md", pages_dir=pages,
                          extra_cases={}, verifier=False)


# ---------------------------------------------------------------- pieces


# the flowchart drawing (escaping included): tests/test_flowchart.py


def test_conditions_in_words_from_the_resolved_program():
    """A rule card lists the top-level conjuncts (flattened) in the explanation's words, nested or/and in parentheses."""
    from hgl.compiler.explain.words import Words
    from hgl.compiler.front.source import Source
    from hgl.compiler.pipeline import check_source

    src = SAMPLE.read_text(encoding="utf-8").replace(
        "when line = 1 and marker = positive\n",
        "when (line = 1 and marker = positive) and not (score >= 3 or resectable and marker in {positive, negative})\n", 1)
    result = check_source(Source("sample.hgl", src))
    assert result.ok, result.diagnostics
    rule = result.program.rule("first_a")
    words = Words(result.program)
    assert words.conditions(rule.when) == [
        "line of therapy is 1", "marker status is positive",
        "not (performance score ≥ 3 or (resectable and (marker status is positive or negative)))"]
    assert words.text(result.program.rule("supportive_only").outcomes[1].selector) \
        == "every option containing drug alpha or drug beta"


@pytest.mark.parametrize("expr, said", [
    ("score >= 3", "performance score ≥ 3"),
    ("not (score >= 3)", "performance score < 3"),
    ("marker != positive", "marker status is not positive"),
    ("1 <= score <= 3", "performance score is 1 to 3"),
    ("resectable and not (1 < score <= 3)", "resectable and not (performance score > 1 and ≤ 3)"),
    ("resectable or marker in {positive, negative}", "resectable or (marker status is positive or negative)"),
    ("marker is missing", "marker status is missing"),
    ("not (marker is missing)", "marker status is not missing"),
    ("if resectable then score >= 3 else score >= 2",
     "if resectable then performance score ≥ 3, otherwise performance score ≥ 2"),
])
def test_rule_text_says_each_shape_with_no_case(expr, said):
    """Rule text comes from the explanation builder: the shapes of a `because`, with labels for the case's values."""
    from hgl.compiler.explain.words import Words
    from hgl.compiler.front.source import Source
    from hgl.compiler.pipeline import check_source

    src = SAMPLE.read_text(encoding="utf-8").replace("when line = 1 and marker = positive\n", f"when {expr}\n", 1)
    result = check_source(Source("sample.hgl", src))
    assert result.ok, result.diagnostics
    assert Words(result.program).text(result.program.rule("first_a").when) == said


@pytest.mark.parametrize("title, shown", [
    ("</title><script>x</script>", "‹/title›‹script›x‹/script›"),
    ('a & "b"', "a &amp; &quot;b&quot;"),
    ("two\nlines", "two lines"),
])
def test_page_titles_cannot_make_tags(title, shown):
    assert docgen._nav_title(title) == shown


def test_build_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "keep.txt").write_text("precious", encoding="utf-8")
    with pytest.raises(docgen.DocsError, match="refusing"):
        docgen.write_markdown([SAMPLE], tmp_path, pages_dir=None, extra_cases={}, verifier=False)
    assert (tmp_path / "keep.txt").exists()


def test_a_guideline_that_does_not_compile_fails_the_build(tmp_path):
    bad = tmp_path / "bad.hgl"
    bad.write_text(SAMPLE.read_text(encoding="utf-8").replace("prefer regimen_a\n", "prefer regimen_z\n", 1),
                   encoding="utf-8")
    with pytest.raises(docgen.DocsError, match=r"does not compile:[\s\S]*regimen_z"):
        docgen.write_markdown([bad], tmp_path / "md", pages_dir=None, extra_cases={}, verifier=False)


def test_mkdocs_warnings_fail_a_strict_build(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "notes.md").write_text("# Notes\n\nSee [the missing page](missing.md).\n", encoding="utf-8")
    with pytest.raises(docgen.DocsError, match=r"notes.md.*missing.md"):
        docgen.build_site([SAMPLE], tmp_path / "site", docs_dir=tmp_path / "md", pages_dir=pages,
                          extra_cases={}, verifier=False)
    # the same site builds when warnings are allowed
    docgen.build_site([SAMPLE], tmp_path / "site", docs_dir=tmp_path / "md", pages_dir=pages,
                      extra_cases={}, verifier=False, strict=False)
    assert (tmp_path / "site" / "notes.html").exists()


# ---------------------------------------------------------------- the HGL lexer (compiler/docs/lexer.py)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String  # noqa: E402

from hgl.compiler.docs.lexer import HglLexer  # noqa: E402

_HGL_ALPHABET = st.sampled_from(list('"\\#%{}(),:=<>!+-/ \t\n\r\x00≤≥≠éaeinrsd019_') + [
    '"""', "rule ", "end", "when ", "yes/no", "else if", "30 mg", "2024-11-01", "in %", "\\n"])


def _lex(text):
    return list(HglLexer().get_tokens_unprocessed(text))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(_HGL_ALPHABET, max_size=40).map("".join)))
def test_lexer_never_raises_and_keeps_every_character(text):
    assert "".join(value for _, _, value in _lex(text)) == text
    # the processed stream too, with the options that keep the text as it is (no \r: Pygments folds it)
    text = text.replace("\r", "")
    tokens = HglLexer(stripnl=False, ensurenl=False).get_tokens(text)
    assert "".join(value for _, value in tokens) == text


@pytest.mark.parametrize("path", ["guidelines/her2_mbc.hgl", "tests/data/docs_sample.hgl"])
def test_lexer_reads_real_guidelines_without_error_tokens(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    tokens = _lex(text)
    assert [(pos, value) for pos, token, value in tokens if token in Error] == []
    assert "".join(value for _, _, value in tokens) == text


def test_lexer_knows_every_word_of_the_grammar():
    from hgl.compiler.docs import lexer

    grammar = (ROOT / "grammar" / "hgl.lark").read_text(encoding="utf-8")
    words_ = set(re.findall(r'"([a-z/]+)"', grammar)) - {"/"}  # `/` is an operator sign, not a word
    known = {*lexer.DECLARATIONS, *lexer.TOP_LEVEL, *lexer.KEYWORDS, *lexer.TYPES, *lexer.CONSTANTS, *lexer.WORD_OPERATORS}
    assert words_ - known == set(lexer.CONTEXT_TYPES)
    for word in sorted(words_):
        text = f"x: {word}" if word in lexer.CONTEXT_TYPES else word  # a type only where a type goes
        ((_, token, value),) = [t for t in _lex(text) if t[2].strip() and t[2] not in ("x", ":")]
        assert value == word and (token in Keyword or token in Operator.Word), (word, token)


@pytest.mark.parametrize("text, expected", [
    ('rule r "x"', [(Keyword.Declaration, "rule"), (Name.Function, "r"), (String.Double, '"x"')]),
    ("  when a >= 3 mg", [(Keyword, "when"), (Name, "a"), (Operator, ">="), (Number, "3"), (Name.Constant, "mg")]),
    ("x ≤ 50 %", [(Name, "x"), (Operator, "≤"), (Number, "50"), (Name.Constant, "%")]),
    ("from 0 to 5", [(Keyword, "from"), (Number, "0"), (Keyword, "to"), (Number, "5")]),
    ("a is not missing", [(Name, "a"), (Operator.Word, "is"), (Operator.Word, "not"), (Operator.Word, "missing")]),
    ("else if b", [(Keyword, "else if"), (Name, "b")]),
    ("input f: yes/no", [(Keyword.Declaration, "input"), (Name.Function, "f"), (Punctuation, ":"),
                         (Keyword.Type, "yes/no")]),
    ('"a\\"b" # note', [(String.Double, '"a'), (String.Escape, '\\"'), (String.Double, 'b"'),
                        (Comment.Single, "# note")]),
    ("date 2024-11-01", [(Name, "date"), (Number.Other, "2024-11-01")]),
    ("  flag x", [(Keyword, "flag"), (Name, "x")]),           # an outcome inside a rule ...
    ("flag x \"X\"", [(Keyword.Declaration, "flag"), (Name.Function, "x"), (String.Double, '"X"')]),  # ... a declaration
    ("a ! b", [(Name, "a"), (Error, "!"), (Name, "b")]),
])
def test_lexer_tokens(text, expected):
    merged = []
    for token, value in HglLexer().get_tokens(text):
        if merged and merged[-1][0] is token:
            merged[-1] = (token, merged[-1][1] + value)
        else:
            merged.append((token, value))
    assert [(t, v) for t, v in merged if v.strip()] == expected


def test_pygments_finds_the_lexer_by_name_and_file_name():
    """The `pygments.lexers` entry point of pyproject.toml (installed by `pip install -e .`)."""
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert isinstance(get_lexer_by_name("hgl"), HglLexer)
    assert isinstance(get_lexer_for_filename("guidelines/her2_mbc.hgl"), HglLexer)


def test_generated_pages_highlight_the_condition_as_written(sample_docs):
    page = _generated(sample_docs)["docs_sample/sections/first.md"]
    assert '<pre class="hgl-source highlight"><code><span class="n">line</span>' in page


# ---------------------------------------------------------------- two views, chips, references, the case gallery


def test_nav_has_a_clinician_view_and_an_author_view(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "language.md").write_text("# Language\n", encoding="utf-8")
    nav = docgen.write_markdown([SAMPLE], tmp_path / "md", pages_dir=pages, verifier=False, extra_cases={})
    views = {k: v for entry in nav for k, v in entry.items()}
    assert list(views) == ["Home", "For clinicians", "For authors"]
    clinician = [k for g in views["For clinicians"] for pages_ in g.values() for e in pages_ for k in e]
    author = [k for e in views["For authors"] for k, v in e.items()]
    assert clinician == ["Overview", "At a glance", "Sections", "Evidence", "Worked cases"]
    assert author == ["Language reference", "Sample guideline for the docs"]
    guideline_authors = views["For authors"][1]["Sample guideline for the docs"]
    assert [k for e in guideline_authors for k in e] == ["Options, flags and terms", "Data dictionary", "Parameters",
                                                         "Verification"]
    home = (tmp_path / "md" / "index.md").read_text(encoding="utf-8")
    assert "## For clinicians" in home and "## For guideline authors" in home and "(language.md)" in home


@pytest.mark.parametrize("tag, meaning, label", [
    ("esmo", "ESMO metastatic breast cancer living guideline", "ESMO"),          # as the meaning spells it
    ("asco_sys", "ASCO advanced breast cancer systemic therapy guideline", "ASCO systemic"),  # a prefix of a word
    ("asco_bm", "ASCO breast cancer and brain metastases guideline", "ASCO BM"),  # a short part: an abbreviation
    ("eano_esmo", "EANO-ESMO guidelines", "EANO ESMO"),
    ("label_eu", "EMA label", "Label EU"),
    ("post_publication", "evidence after the paper", "Post publication"),
    ("inference", "clinical reasoning", "Inference"),
    ("x", "", "X"),
])
def test_chip_label(tag, meaning, label):
    from hgl.compiler.docs.text import chip_label

    assert chip_label(tag, meaning) == label


@pytest.mark.parametrize("key, text, url", [
    ("pmid", "39580869", "https://pubmed.ncbi.nlm.nih.gov/39580869/"),
    ("pmid", "PMID 39580869", None),
    ("doi", "10.1016/j.ctrv.2024.102853", "https://doi.org/10.1016/j.ctrv.2024.102853"),
    ("doi", "10.1016/S0140-6736(23)00725-0", "https://doi.org/10.1016/S0140-6736(23)00725-0"),
    ("doi", "https://doi.org/10.1/x", None),
    ("doi", "10.1/x\"><script>", "https://doi.org/10.1/x%22%3E%3Cscript%3E"),
    ("url", "https://www.example.org/a?b=c", "https://www.example.org/a?b=c"),
    ("url", "javascript:alert(1)", None),
    ("url", "https://x.org/\"onmouseover=", None),
    ("trial", "X", None),
])
def test_reference_url(key, text, url):
    from hgl.compiler.docs.pages import reference_url

    assert reference_url(key, text) == url


_EVIDENCE = SMALL_HEADER + """evidence e
  trial "X"
  {field}
end
input a: yes/no
flag f "F"
section s "S"
  rule r "R"
    when a
    flag f
    provenance t
    evidence e
  end
end
"""


@pytest.mark.parametrize("field, error", [
    ('pmid "22149875"', None),
    ('doi "10.1056/NEJMoa1113216"', None),
    ('url "https://www.example.org/trial"', None),
    ('citation "Author A. Title. Journal 2020;1:1."', None),
    ('pmid "PMID 22149875"', "evidence field 'pmid' must be digits"),
    ('pmid 22149875', "evidence field 'pmid' must be digits"),
    ('doi "https://doi.org/10.1056/x"', "evidence field 'doi' must be a DOI without its https://doi.org/ prefix"),
    ('url "javascript:alert(1)"', "evidence field 'url' must be an http(s) address"),
    ('pmdi "1"', "unknown evidence field 'pmdi'"),
])
def test_evidence_reference_fields_are_checked(field, error):
    from hgl.compiler.pipeline import compile_source
    from hgl.compiler.front.source import Source

    result = compile_source(Source("t.hgl", _EVIDENCE.replace("{field}", field)))
    messages = [d.message for d in result.errors]
    if error is None:
        assert messages == []
    else:
        assert error in messages, messages


def _case(cid, status, spec=(), roles=(), governing=None):
    return {"id": cid, "title": cid, "spec": list(spec), "params": [], "fields": [("prior_lines", "1")], "expect": [],
            "status": status, "roles": [("Preferred", list(roles))], "flags": [], "missing": [], "inconsistent": [],
            "violated": [], "governing": governing, "passed": True}


def test_gallery_groups_by_section_typical_first_edge_groups_last():
    from hgl.compiler.docs.gallery import gallery
    from hgl.compiler.pipeline import compile_source, read_source

    program = compile_source(read_source(SAMPLE, "docs_sample.hgl")).program
    assert {s.name: s.spec for s in program.sections}["first"] == "1"  # a case's `spec` names its section
    files = [{"path": "x.cases.yaml", "base": [], "cases": [
        _case("edge1", "inconsistent_data", ["9.9", "1"]),
        _case("typ1", "recommendation", ["1"]),
        _case("need1", "needs_data", ["1"]),
        _case("typ2", "recommendation", ["1"]),
        _case("byrule", "recommendation", roles=[("regimen_b", "later_choice")]),   # no spec: the rule's section
        _case("edge2", "needs_data", governing="poor_score"),                       # governed: that section
        _case("nowhere", "inconsistent_data"),
    ]}]
    groups = gallery(files, program)
    assert [(g["id"], [c["id"] for c in g["cases"]]) for g in groups] == [
        ("first", ["typ1", "typ2", "need1", "edge1"]),    # typical first, then needs data, then inconsistent
        ("later", ["byrule"]),
        ("poor_score", ["edge2"]),                        # groups mostly of edge cases come last
        ("other", ["nowhere"]),
    ]
    first = groups[0]["cases"][0]
    assert first["facts"] == [("prior lines", "1")] and first["kind"] == "typical"   # inputs by their labels
    assert first["anchor"] == "case-1-2" and first["status_words"] == "Recommendation"
