"""Every shipped guideline (guidelines/*.hgl): it checks without errors, it ships its own cases
file beside it (guidelines/<id>.cases.yaml), every case passes and every rule is fired by some
case. The table is the folder, so a guideline added there is covered without touching this file.

(HER2 against its specification and the public vignettes: tests/test_guideline.py and
tests/test_vignettes.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hgl.compiler.pipeline import compile_file
from hgl.runtime import load
from hgl.runtime.casefile import run_case_file

from .conftest import ROOT

SHIPPED = sorted((ROOT / "guidelines").glob("*.hgl"))


def _cases_file(guideline: Path) -> Path:
    return guideline.with_name(guideline.stem + ".cases.yaml")


def test_the_table_is_not_empty():
    assert {"her2_mbc", "af_stroke", "cap_site_of_care"} <= {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_checks_without_errors(path):
    result = compile_file(path)
    errors = [f"{d.code} {d.message}" for d in result.diagnostics if d.severity == "error"]
    assert errors == []
    assert result.ok


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_own_cases_pass_with_full_rule_coverage(path):
    cases = _cases_file(path)
    assert cases.is_file(), f"{path.name} ships without its cases file {cases.name}"
    guideline = load(path)
    outcomes = run_case_file(guideline, cases)
    assert outcomes, f"{cases.name} has no case"
    failed = [f"{o.id}: {'; '.join(o.failures)}" for o in outcomes if not o.passed]
    assert failed == []
    fired = set().union(*(o.rules for o in outcomes))
    assert [r.id for r in guideline.module.RULES if r.id not in fired] == []


NOTES = ROOT / "site" / "pages" / "guidelines"
_HGL_BLOCK = re.compile(r"^```hgl\n(.*?)^```", re.M | re.S)


@pytest.mark.parametrize("notes", sorted(NOTES.glob("*.md")), ids=lambda p: p.stem)
def test_notes_page_quotes_its_guideline_verbatim(notes):
    """site/pages/guidelines/<id>.md (the guideline's Notes page) belongs to a shipped guideline,
    and every HGL excerpt on it is copied from that guideline, so the page cannot drift from it."""
    guideline = ROOT / "guidelines" / f"{notes.stem}.hgl"
    assert guideline.is_file(), f"{notes.name} names no shipped guideline"
    source = guideline.read_text(encoding="utf-8")
    excerpts = _HGL_BLOCK.findall(notes.read_text(encoding="utf-8"))
    assert [e for e in excerpts if e not in source] == []


def test_notes_page_goes_into_its_guidelines_nav_group(tmp_path):
    """`hgl docs` copies site/pages/guidelines/<id>.md to <id>/notes.md, listed first in the
    guideline's own group of the author view, not among the site-wide pages."""
    from hgl.compiler.docs import site as docgen

    pages = tmp_path / "pages"
    (pages / "guidelines").mkdir(parents=True)
    (pages / "guidelines" / "docs_sample.md").write_text("# Notes on the sample\n", encoding="utf-8")
    sample = ROOT / "tests" / "data" / "docs_sample.hgl"
    nav = docgen.write_markdown([sample], tmp_path / "md", pages_dir=pages, verifier=False, extra_cases={})
    authors = next(v for entry in nav for k, v in entry.items() if k == "For authors")  # the author view
    group = next(v for entry in authors for k, v in entry.items() if isinstance(v, list))
    assert group[0] == {"Notes": "docs_sample/notes.md"}
    assert (tmp_path / "md" / "docs_sample" / "notes.md").read_text(encoding="utf-8") == "# Notes on the sample\n"
    assert not any("guidelines" in str(v) for entry in nav for v in entry.values() if isinstance(v, str))
