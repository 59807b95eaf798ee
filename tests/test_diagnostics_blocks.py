"""Diagnostics of unclosed blocks, recovery after a syntax error, and did-you-mean (issue 14).

Each case is a small guideline with a mistake; its whole `hgl check` output is a golden file in
tests/golden/diagnostics/ (regenerate with HGL_UPDATE_GOLDEN=1, then review the diff).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hgl.compiler.front.diagnostics import dumps, render_all
from hgl.compiler.front.source import Source
from hgl.compiler.pipeline import compile_source
from tests.conftest import SMALL_HEADER

GOLDEN = Path(__file__).parent / "golden" / "diagnostics"

DECLS = '''evidence trial_a
  trial "A"
end
evidence trial_b
  trial "B"
end
vocabulary drug "drug"
  drug_a "drug A"
end
option opt_a "A"
option opt_b "B"
input age_years: integer in years at least 0
input lvef_percent: number in % from 0 to 100
'''

RULES = '''section s "S"
  provenance t
  rule r1 "R1"
    when age_years > 70 years
    prefer opt_a
  end
  rule r2 "R2"
    when lvef_percent < 50 %
    prefer opt_b
  end
end
'''


def _drop_line(text: str, number_from_end: int) -> str:
    lines = text.splitlines(keepends=True)
    del lines[len(lines) - number_from_end]
    return "".join(lines)


# (id, the guideline's text, the codes reported in order, words the first message must contain)
CASES = [
    ("rule_before_rule", SMALL_HEADER + DECLS + RULES.replace("    prefer opt_a\n  end\n", "    prefer opt_a\n"),
     ["HGL104"], "rule 'r1' opened at line 24 is not closed: 'end' expected before 'rule'"),
    ("rule_before_section", SMALL_HEADER + DECLS + _drop_line(RULES, 2) + 'section t2 "T"\nend\n',
     ["HGL104"], "rule 'r2' opened at line 28 is not closed: 'end' expected before 'section'"),
    ("section_before_section", SMALL_HEADER + DECLS + _drop_line(RULES, 1) + 'section t2 "T"\nend\n',
     ["HGL104"], "section 's' opened at line 22 is not closed: 'end' expected before 'section'"),
    ("evidence_before_evidence", SMALL_HEADER + DECLS.replace('  trial "A"\nend\n', '  trial "A"\n') + RULES,
     ["HGL104"], "evidence 'trial_a' opened at line 9 is not closed: 'end' expected before 'evidence'"),
    ("vocabulary_before_option", SMALL_HEADER + DECLS.replace('  drug_a "drug A"\nend\n', '  drug_a "drug A"\n') + RULES,
     ["HGL104"], "vocabulary 'drug' opened at line 15 is not closed: 'end' expected before 'option'"),
    ("guideline_before_provenance", SMALL_HEADER.replace('  disclaimer "D"\nend\n', '  disclaimer "D"\n') + DECLS + RULES,
     ["HGL104"], "guideline 'g' opened at line 1 is not closed: 'end' expected before 'provenance'"),
    ("if_at_end_of_file", SMALL_HEADER + DECLS + RULES.replace("    prefer opt_b\n", "    if age_years > 3 years then\n"
                                                                  "      prefer opt_b\n"),
     ["HGL101"], "unexpected end of file: the 'if' block opened at line 30 is not closed"),
    # one error per top-level block, none of them a cascade of another
    ("three_blocks_three_errors", SMALL_HEADER + DECLS + RULES.replace("    prefer opt_a\n  end\n", "    prefer opt_a\n")
     + "define d = lvef_percent & 3\n" + RULES.replace("section s ", "section s3 ").replace("when age_years > 70 years",
                                                                                          "when age_years >"),
     ["HGL104", "HGL103", "HGL100"], "rule 'r1' opened at line 24 is not closed"),
    ("lvef_prefix", SMALL_HEADER + DECLS + RULES.replace("when lvef_percent < 50 %", "when lvef < 50 %"),
     ["HGL201"], "unknown name 'lvef'"),
    ("word_of_a_name", SMALL_HEADER + DECLS + RULES.replace("when lvef_percent < 50 %", "when percent < 50 %"),
     ["HGL201"], "unknown name 'percent'"),
    # an evidence id is suggested only where an evidence id is expected (an option named like it is not)
    ("evidence_only_evidence", SMALL_HEADER + DECLS.replace('option opt_b "B"', 'option trial_c "C"')
     + RULES.replace("prefer opt_b", "prefer trial_c\n    evidence trial_d"),
     ["HGL205"], "unknown evidence entry 'trial_d'"),
]


@pytest.mark.parametrize("case_id,text,codes,words", CASES, ids=[c[0] for c in CASES])
def test_diagnostics_golden(case_id, text, codes, words, golden):
    source = Source(f"{case_id}.hgl", text)
    diags = [d for d in compile_source(source).diagnostics if d.code != "HGL203"]  # unused: not the point here
    assert [d.code for d in diags] == codes
    assert words in diags[0].message
    golden.check(GOLDEN / f"{case_id}.txt", render_all(source, diags) + "\n")


def test_evidence_without_end_suggests_no_other_trial():
    text = SMALL_HEADER + DECLS.replace('  trial "A"\nend\n', '  trial "A"\n') + RULES.replace(
        "prefer opt_b", "prefer opt_b\n    evidence trial_b")
    diags = compile_source(Source("g.hgl", text)).diagnostics
    assert [d.code for d in diags] == ["HGL104"]
    assert "did you mean" not in (diags[0].hint or "")


def test_unclosed_block_points_at_its_opening_line_in_json():
    source = Source("g.hgl", SMALL_HEADER + DECLS + RULES.replace("    prefer opt_a\n  end\n", "    prefer opt_a\n"))
    item = json.loads(dumps(source, compile_source(source).diagnostics))[0]
    assert item["code"] == "HGL104"
    assert item["related"] == [{"line": 24, "column": 3, "end_line": 24, "end_column": 7,
                                "message": "rule 'r1' opens here"}]


@pytest.mark.parametrize("name,candidates,want", [
    ("lvef", ["lvef_percent", "age_years"], "lvef_percent"),
    ("percent", ["lvef_percent", "age_years"], "lvef_percent"),
    ("lvefpercent", ["lvef_percent"], "lvef_percent"),
    ("agee_years", ["age_years"], "age_years"),
    ("bm", ["bm_status", "bm_count"], None),              # too short to guess from
    ("lvef", ["lvef_percent", "lvef_measured_on"], None),  # two fit: no guess
    ("xyz", ["lvef_percent"], None),
])
def test_closest(name, candidates, want):
    from hgl.compiler.front.diagnostics import closest

    assert closest(name, candidates) == want
