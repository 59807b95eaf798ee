"""Acknowledged findings: `accept CODE on rule because "reason"` (issue 14).

Checking the statement, splitting findings into shown / accepted / stale, `hgl check`'s output,
the verification page, and the four standing HER2 conflicts.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from hgl.compiler.check.accepts import partition, split_page_findings
from hgl.compiler.front.diagnostics import Diagnostic
from hgl.compiler.front.source import Source, Span
from hgl.compiler.pipeline import compile_source
from tests.conftest import GUIDELINE, ROOT, SMALL_HEADER

BODY = '''kind systemic "Systemic"
option a systemic "A"
option b systemic "B"
input x: yes/no
section s "S"
  provenance t
  rule quiet "R"
    when x
  end
  rule loud "R"
    when not x
    prefer a
    alternative b
  end
end
'''
QUIET_LINE = SMALL_HEADER.count("\n") + 7  # the line of `rule quiet`


def _compile(accepts: str):
    return compile_source(Source("g.hgl", SMALL_HEADER + BODY + accepts))


STATEMENTS = [
    # (statement, codes of the checker, words of the first message)
    ('accept HGL405 on quiet because "a placeholder"\n', [], ""),
    ('accept HGL999 on quiet because "x"\n', ["HGL215"], "unknown diagnostic code 'HGL999'"),
    ('accept HGL40 on quiet because "x"\n', ["HGL215"], "unknown diagnostic code"),
    ('accept HGL201 on quiet because "x"\n', ["HGL215"], "an error cannot be accepted"),
    ('accept HGL501 on quiet because "x"\n', ["HGL215"], "not about one rule"),
    ('accept HGL203 on quiet because "x"\n', ["HGL215"], "not about one rule"),
    ('accept HGL405 on quite because "x"\n', ["HGL201"], "unknown rule 'quite'"),
    ('accept HGL405 on quiet because "  "\n', ["HGL215"], "the reason is empty"),
    ('accept HGL405 on quiet because "a"\naccept HGL405 on quiet because "b"\n', ["HGL202"], "accepted twice"),
]


@pytest.mark.parametrize("statement,codes,words", STATEMENTS, ids=[s[0][:34] for s in STATEMENTS])
def test_accept_statement_is_checked(statement, codes, words):
    result = _compile(statement)
    found = [d for d in result.diagnostics if d.severity == "error"]
    assert [d.code for d in found] == codes
    if words:
        assert words in found[0].message
    if codes == ["HGL201"]:
        assert found[0].hint == "did you mean 'quiet'?"  # a rule name, nothing else, is suggested


PARTITIONS = [
    # (statements, verified, codes shown, codes accepted)
    ("", False, ["HGL405"], []),
    ('accept HGL405 on quiet because "a placeholder"\n', False, [], ["HGL405"]),
    ('accept HGL405 on loud because "stale"\n', False, ["HGL405", "HGL507"], []),
    # a verifier finding is looked for only when the verifier ran
    ('accept HGL502 on loud because "r"\n', False, ["HGL405"], []),
    ('accept HGL502 on loud because "r"\n', True, ["HGL405", "HGL507"], []),
]


@pytest.mark.parametrize("statements,verified,shown,accepted", PARTITIONS)
def test_partition(statements, verified, shown, accepted):
    result = _compile(statements)
    part = partition(result.program, result.diagnostics, verified)
    assert [d.code for d in part.shown] == shown
    assert [d.code for d, _ in part.accepted] == accepted


def test_a_finding_inside_the_rule_is_accepted_and_one_outside_is_not():
    result = _compile('accept HGL503 on quiet because "r"\n')
    inside = Diagnostic("HGL503", "dead", Span(QUIET_LINE + 1, 5, QUIET_LINE + 1, 11))
    outside = Diagnostic("HGL503", "dead", Span(QUIET_LINE + 4, 8, QUIET_LINE + 4, 12))
    part = partition(result.program, [inside, outside], verified=True)
    assert [d for d, _ in part.accepted] == [inside]
    assert outside in part.shown


def _hgl(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "hgl.compiler.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("flags,printed,absent,rc", [
    ([], ["1 finding accepted in the source (--show-accepted lists them)"], ["HGL405"], 0),
    (["--show-accepted"], ["warning[HGL405]", "= note: accepted at line", "a placeholder"], [], 0),
    (["--strict"], ["1 finding accepted"], ["HGL405"], 0),  # an accepted warning does not fail --strict
])
def test_check_prints_a_count(tmp_path, flags, printed, absent, rc):
    path = tmp_path / "g.hgl"
    path.write_text(SMALL_HEADER + BODY + 'accept HGL405 on quiet because "a placeholder"\n', encoding="utf-8")
    out = _hgl("check", *flags, str(path))
    assert out.returncode == rc, out.stdout + out.stderr
    for words in printed:
        assert words in out.stdout
    for words in absent:
        assert words not in out.stdout


def test_page_findings_are_split_with_their_reasons():
    result = _compile('accept HGL503 on quiet because "kept on purpose"\n')
    page = {"available": True, "findings": [{"code": "HGL503", "rule": "quiet", "message": "m"},
                                            {"code": "HGL503", "rule": "loud", "message": "m"}]}
    out = split_page_findings(result.program, page)
    assert [f["rule"] for f in out["findings"]] == ["loud"]
    assert out["accepted"] == [{"code": "HGL503", "rule": "quiet", "message": "m", "reason": "kept on purpose",
                                "accepted_at": SMALL_HEADER.count("\n") + BODY.count("\n") + 1}]


def test_verification_page_lists_accepted_findings(tmp_path):
    from hgl.compiler.docs import site as docgen

    path = tmp_path / "acc.hgl"
    path.write_text(SMALL_HEADER + BODY + 'accept HGL503 on quiet because "kept <b>on</b> purpose"\n', encoding="utf-8")

    def verifier(result):
        return [Diagnostic("HGL503", "dead rule 'quiet': can never fire", Span(QUIET_LINE, 8, QUIET_LINE, 13))]

    docgen.write_markdown([path], tmp_path / "md", pages_dir=None, verifier=verifier, extra_cases={},
                          display_root=tmp_path)
    page = next((tmp_path / "md").rglob("verification.md")).read_text(encoding="utf-8")
    assert "## Accepted findings" in page and "Verified: no open findings" in page
    assert "kept &lt;b&gt;on&lt;/b&gt; purpose" in page  # guideline text is escaped


@pytest.mark.slow
def test_her2_conflicts_are_acknowledged():
    pytest.importorskip("z3")
    from hgl.compiler.verify.search import verify

    result = compile_source(Source(str(GUIDELINE), GUIDELINE.read_text(encoding="utf-8")))
    assert len([a for a in result.program.accepts if a.code.text == "HGL502"]) == 4
    part = partition(result.program, list(result.diagnostics) + verify(result), verified=True)
    assert sorted(a.rule.text for _, a in part.accepted if a.code.text == "HGL502") == [
        "cardiac_avoid", "ild_avoid_tdxd", "pertuzumab_unavailable", "visceral_crisis_avoid"]
    assert not [d for d in part.shown if d.code == "HGL502"]
    assert not [d for d in part.shown if d.code == "HGL507" and "HGL502" in d.message]
