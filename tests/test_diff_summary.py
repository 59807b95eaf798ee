"""`hgl diff`: the source summary, changes grouped by rule, OLD as REV:path, the "What changed" page, and
byte-identical output whatever PYTHONHASHSEED (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hgl.compiler.front.source import Source
from hgl.compiler.pipeline import compile_source
from hgl.compiler.verify.sourcediff import source_changes
from tests.conftest import ROOT, SMALL_HEADER

DATA = ROOT / "tests" / "data" / "verify"
OLD, NEW = "tests/data/verify/diff_old.hgl", "tests/data/verify/diff_new.hgl"

BODY = '''kind systemic "Systemic"
option a systemic "A"
option b systemic "B"
input size: number in mm at least 0
input fit: yes/no
define big "a big lesion" = size > 30 mm
section s "S"
  provenance t
  rule r1 "First"
    when big and fit
    prefer a
  end
  rule r2 "Second"
    when not big
    prefer b
  end
end
'''

SOURCE = [
    # (old → new edit of BODY, the summary lines)
    (("size > 30 mm", "size > 20 mm"), ["changed define big: threshold 30 mm → 20 mm"]),
    (("when big and fit", "when big or fit"), ["changed rule r1: and → or"]),
    (("  rule r2", '  rule r3 "Third"\n    prefer b\n  end\n  rule r2'), ["added rule r3"]),
    (("input fit: yes/no\n", "input fit: yes/no\ninput age: integer\n"), ["added input age"]),
    (('section s "S"', 'section s "Section S"'), ['changed section s: "S" → "Section S"']),
    (('rule r1 "First"', 'rule r1 "First line"'), ['changed rule r1: "First" → "First line"']),
    (('define big "a big lesion"', 'define big "a big lesion on imaging, measured in the long axis"'),
     ['changed define big: "a big lesion" → "a big lesion on imaging, measured in the long axis"']),
    (("    prefer a\n", "    prefer a\n    # a comment only\n"), []),  # comments and layout are not changes
    (("    prefer a\n", "        prefer   a\n"), []),
]


@pytest.mark.parametrize("edit,lines", SOURCE, ids=[e[0][0].strip()[:20] for e in SOURCE])
def test_source_summary(edit, lines):
    old_src = Source("old.hgl", SMALL_HEADER + BODY)
    new_src = Source("new.hgl", SMALL_HEADER + BODY.replace(*edit))
    old, new = compile_source(old_src), compile_source(new_src)
    assert old.guideline is not None and new.guideline is not None
    assert [c.describe() for c in source_changes(old.guideline, old_src, new.guideline, new_src)] == lines


@pytest.mark.parametrize("edit,meaning", [
    (("size > 30 mm", "size > 20 mm"), True),
    (("when big and fit", "when big or fit"), True),
    (('rule r1 "First"', 'rule r1 "First line"'), False),              # wording only
    (('define big "a big lesion"', 'define big "a large lesion"'), False),
    (('option a systemic "A"', 'option a systemic "Drug A"'), False),
    (("    prefer a\n", "    prefer a, b\n"), True),
])
def test_what_decides_and_what_is_wording(edit, meaning):
    old_src = Source("old.hgl", SMALL_HEADER + BODY)
    new_src = Source("new.hgl", SMALL_HEADER + BODY.replace(*edit))
    old, new = compile_source(old_src), compile_source(new_src)
    [change] = source_changes(old.guideline, old_src, new.guideline, new_src)
    assert change.meaning is meaning


def test_removed_declarations_are_listed():
    old_src = Source("old.hgl", SMALL_HEADER + BODY)
    new_src = Source("new.hgl", SMALL_HEADER + BODY.replace('  rule r2 "Second"\n    when not big\n    prefer b\n  end\n', ""))
    old, new = compile_source(old_src), compile_source(new_src)
    assert [c.describe() for c in source_changes(old.guideline, old_src, new.guideline, new_src)] == ["removed rule r2"]


def _hgl(*args, seed="0", cwd=ROOT, timeout=600):
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run([sys.executable, "-m", "hgl.compiler.cli", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=timeout)


def test_old_version_from_git():
    from_file = _hgl("diff", OLD, NEW)
    from_git = _hgl("diff", f"HEAD:{OLD}", NEW)
    assert from_git.returncode == from_file.returncode == 1, from_git.stderr
    assert from_git.stdout == from_file.stdout


@pytest.mark.parametrize("spec,words", [
    ("HEAD:tests/data/verify/no_such_file.hgl", "not found in git"),
    ("no-such-revision-xyz:" + OLD, "not found in git"),
    ("-c:x", "neither a file nor REV:path"),
    ("tests/data/verify/no_such_file.hgl", "cannot read"),
])
def test_unreadable_versions_are_named(spec, words):
    out = _hgl("diff", "--", spec, NEW)  # after `--` even a spec starting with '-' reaches hgl (never git)
    assert out.returncode == 2
    assert words in out.stderr.decode() and b"Traceback" not in out.stderr


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["diff", OLD, NEW],
    ["diff", "--json", OLD, NEW],
    ["check", "--verify", "tests/data/verify/conflict.hgl"],
    ["check", "--verify", "tests/data/verify/gap.hgl"],
])
def test_output_does_not_depend_on_the_hash_seed(command):
    runs = [_hgl(*command, seed=seed) for seed in ("1", "2")]
    assert runs[0].returncode == runs[1].returncode and runs[0].returncode in (0, 1), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout


@pytest.mark.slow
def test_docs_do_not_depend_on_the_hash_seed(tmp_path):
    trees = []
    for seed in ("1", "2"):
        md, site = tmp_path / f"md{seed}", tmp_path / f"site{seed}"
        out = _hgl("docs", NEW, "--no-verify", "--no-strict", "--previous", f"diffpair={OLD}", "--docs-dir", str(md), "-o", str(site),
                   seed=seed)
        assert out.returncode == 0, out.stderr.decode()
        trees.append((_tree(md), _tree(site / "diffpair")))
    assert trees[0][0] == trees[1][0] and "diffpair/changes.md" in trees[0][0]
    assert trees[0][1] == trees[1][1]


# ---------------------------------------------------------------- the "What changed" page

def _pages(tmp_path, previous):
    from hgl.compiler.docs import site as docgen

    docgen.write_markdown([ROOT / NEW], tmp_path / "md", pages_dir=None, verifier=False, extra_cases={},
                          previous=previous)
    page = tmp_path / "md" / "diffpair" / "changes.md"
    return page.read_text(encoding="utf-8") if page.exists() else None


@pytest.mark.parametrize("previous,present,absent", [
    ({"diffpair": OLD}, ["## What the authors changed", "| changed | Recommendation | older patients | "
                         "&quot;old&quot; → &quot;older patients&quot;; threshold 50 → 55 |",
                         "### older patients", "- **Option B: not offered (was preferred)**. For example, a patient "
                         "with age: 50."], ["Not compared"]),
    ("HEAD", ["Nothing that decides a recommendation", "No patient gets a different recommendation."],
     ["###"]),
    ({"diffpair": "HEAD:tests/data/verify/no_such.hgl"}, ['!!! note "Not compared"', "not found in git"], ["###"]),
    ({"diffpair": "tests/data/verify/diff_new.hgl"}, ["No patient gets a different recommendation."], ["Also changed"]),
])
def test_changes_page(tmp_path, previous, present, absent):
    page = _pages(tmp_path, previous)
    for words in present:
        assert words in page
    for words in absent:
        assert words not in page


@pytest.mark.parametrize("previous", [None, {"other_guideline": OLD}])
def test_no_previous_version_no_page(tmp_path, previous):
    assert _pages(tmp_path, previous) is None
