"""Checker tables: each broken snippet yields the expected code and words, and nothing else as an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgl.compiler.pipeline import check_source
from hgl.compiler.front.source import Source

PRELUDE = (Path(__file__).parent / "data" / "prelude.hgl").read_text(encoding="utf-8")


def rule(when: str, *lines: str) -> str:
    body = "\n".join(f"    {x}" for x in lines or ("prefer opt_a",))
    return f"section s\n  provenance esmo\n  rule r\n    when {when}\n{body}\n  end\nend\n"


def check(snippet: str):
    return check_source(Source("t.hgl", PRELUDE + snippet)).diagnostics


CASES = [
    # unknown names, with "did you mean"
    ("unknown input", rule("agee > 3 years"), "HGL201", "unknown name 'agee'", "did you mean 'age'"),
    ("unknown input tested for missing", rule("agee is missing"), "HGL201", "unknown name 'agee'",
     "did you mean 'age'"),
    ("unknown option", rule("fit", "prefer opt_c"), "HGL206", "unknown option 'opt_c'", "did you mean 'opt_"),
    ("unknown flag", rule("fit", "flag discus"), "HGL207", "unknown flag 'discus'", "did you mean 'discuss'"),
    ("unknown provenance", rule("fit", "prefer opt_a", "provenance esm"), "HGL204",
     "unknown provenance tag 'esm'", "did you mean 'esmo'"),
    ("unknown evidence", rule("fit", "prefer opt_a", "evidence trial_b"), "HGL205",
     "unknown evidence entry 'trial_b'", "did you mean 'trial_a'"),
    ("unknown strength", rule("fit", "prefer opt_a", "strength stron"), "HGL212", "unknown strength 'stron'",
     "did you mean 'strong'"),
    ("unknown group", rule("fit", "use fallbak"), "HGL201", "unknown outcome group 'fallbak'", None),
    ("unknown drug in option", "option opt_c systemic \"C\" drugs drug_c\n", "HGL201", "unknown drug 'drug_c'",
     None),
    ("unknown vocabulary", "input x: set of drugs\n", "HGL201", "unknown vocabulary 'drugs'", "did you mean 'drug'"),
    ("unknown value in set", rule("received has any of {drug_a, drug_z}"), "HGL303",
     "'drug_z' is not a value of drug", None),
    ("unknown section in order", rule("fit") + "combination\n  governing order t\nend\n", "HGL201",
     "unknown section 't'", None),
    ("stands for non-input", "option keep systemic \"K\" stands for nothing\n", "HGL201",
     "stands for 'nothing', which is not an input", None),
    ("stands for wrong kind", "option keep local \"K\" stands for current\n", "HGL301",
     "which does not hold a local option", None),
    ("request non-input", rule("fit", "request older"), "HGL408", "'older' is not an input", None),
    # scores and arithmetic
    ("count of a number", rule("count of (age, fit) >= 1"), "HGL301", "a condition must be yes/no", None),
    ("at least more than the items", rule("at least 3 of (fit, fit)"), "HGL304", "at least 3 of 2 item(s)", None),
    ("min of mixed units", rule("min(age, size) > 3 years"), "HGL302", "cannot compare years with mm", None),
    ("max of one value", rule("max(age) > 3 years"), "HGL301", "'max' takes two values or more", None),
    ("multiply two quantities", rule("age * size > 3"), "HGL302", "cannot multiply years by mm", None),
    ("divide by a quantity", rule("2 / size > 3"), "HGL302", "cannot divide a plain number by mm", None),
    # kinds and roles belong to the guideline
    ("unknown option kind", "option opt_c systmic \"C\"\n", "HGL201", "unknown option kind 'systmic'",
     "did you mean 'systemic'"),
    ("unknown kind in option input", "input cur: locl option or none\n", "HGL201", "unknown option kind 'locl'",
     "did you mean 'local'"),
    ("unknown governed kind", rule("fit", "governs") + "combination\n  governing replaces sytemic\n"
     "  governing order s\nend\n", "HGL201", "unknown option kind 'sytemic'", "did you mean 'systemic'"),
    ("unknown role", rule("fit", "propose opt_a as consdier"), "HGL213", "unknown role 'consdier'", None),
    ("declared role, did you mean", "role consider \"Consider\"\n" + rule("fit", "propose opt_a as consdier")
     + "combination\n  roles avoid over preferred over consider over alternative\nend\n", "HGL213",
     "unknown role 'consdier'", "did you mean 'consider'"),
    ("declared role left out of the order", "role consider \"Consider\"\n" + rule("fit", "propose opt_a as consider"),
     "HGL404", "role 'consider' has no place in the roles order", "roles avoid over preferred over consider"),
    ("roles order leaves one out", "role consider \"Consider\"\n" + rule("fit", "propose opt_a as consider")
     + "combination\n  roles avoid over preferred over alternative\nend\n", "HGL404",
     "the roles order leaves out consider", None),
    ("unknown role in the order", rule("fit") + "combination\n  roles avoid over prefered over alternative\nend\n",
     "HGL213", "unknown role 'prefered'", "did you mean 'preferred'"),
    ("built-in role declared", "role preferred \"P\"\n", "HGL202", "role 'preferred' is built in", None),
    # duplicates
    ("duplicate input", "input age: yes/no\n", "HGL202", "input 'age' is declared twice", "first declaration"),
    ("duplicate option", "option opt_a local \"A\"\n", "HGL202", "option 'opt_a' is declared twice", None),
    ("duplicate rule", rule("fit") + rule("fit").replace("section s", "section t"), "HGL202",
     "rule 'r' is declared twice", None),
    ("duplicate enum value", "input x: one of a, b, a\n", "HGL202", "value 'a' is listed twice", None),
    ("exclusive twice", rule("fit").replace("  provenance esmo\n", "  exclusive\n  provenance esmo\n  exclusive\n"),
     "HGL202", "section 's' has two 'exclusive' lines", "give one 'exclusive' line"),
    ("duplicate order entry", rule("fit", "prefer opt_a", "governs")
     + "combination\n  governing order s, s\nend\n", "HGL202", "appears twice in the governing order", None),
    # types
    ("condition not yes/no", rule("age"), "HGL301", "a condition must be yes/no", None),
    ("order on enum", rule("status > positive"), "HGL301", "'>' compares numbers", None),
    ("enum vs number", rule("status = 3"), "HGL301", "cannot compare status with", None),
    ("in needs set", rule("drug_a in age"), "HGL301", "'in' needs a set on the right", None),
    ("is missing on definition", "define older = age > 70 years\n" + rule("older is missing"), "HGL301",
     "'is missing' applies to an input", None),
    ("is empty on number", rule("age is empty"), "HGL301", "'is empty' applies to a set", None),
    ("plus on sets", rule("received + received is empty"), "HGL301", "'+' does not apply", None),
    ("drugs of non-option", rule("drug_a in drugs of age"), "HGL301", "'drugs of' applies to an option input", None),
    ("branches disagree", "define x = if fit then 1 else positive\n" + rule("x = 1"), "HGL301",
     "the branches give", None),
    ("containing a set", rule("fit", "avoid every option containing {drug_a, drug_b}"), "HGL301",
     "'containing' takes one drug", None),
    # units
    ("months vs mm", "input interval: number in months at least 0\n" + rule("interval > size"), "HGL302",
     "cannot compare months with mm", None),
    ("literal unit mismatch", rule("size > 3 months"), "HGL302", "cannot compare mm with months", None),
    ("number needs unit", rule("size > 30"), "HGL306", "this number needs a unit", "write `30 mm`"),
    ("unknown unit", rule("size > 3 parsecs"), "HGL305", "unknown unit 'parsecs'", None),
    ("unknown unit in type", "input x: number in furlongs\n", "HGL305", "unknown unit 'furlongs'", None),
    ("add months to mm", rule("months + size > 3 mm"), "HGL302", "cannot add months and mm", None),
    ("branch units", "define x = if fit then 3 months else 4 mm\n" + rule("x > 1 months"), "HGL302",
     "the branches give months and mm", None),
    # values and ranges
    ("value outside enum", rule("status = positve"), "HGL303", "'positve' is not a value of status",
     "did you mean 'positive'"),
    ("default outside enum", "input x: one of a, b\n  default c\n", "HGL303", "'c' is not a value", None),
    ("default out of range", "input x: integer from 0 to 10\n  default 11\n", "HGL304", "outside 0–10", None),
    ("comparison out of range", rule("size > 300 mm"), "HGL304", "300 mm is outside the range of 'size'", None),
    ("converted out of range", rule("size < 30 cm"), "HGL304", "30 cm (300 mm) is outside the range of 'size'",
     None),
    ("below minimum", rule("age < -1 years"), "HGL304", "outside the range of 'age'", None),
    ("two when lines", rule("fit", "when age > 3 years", "prefer opt_a"), "HGL202", "rule 'r' has two 'when' lines",
     "join the conditions with 'and'"),
    ("two labels", "input x: yes/no\n  label \"a\"\n  label \"b\"\n", "HGL202", "input 'x' has two 'label' lines",
     None),
    ("two section specs", "section t\n  spec \"1\"\n  spec \"2\"\nend\n", "HGL202",
     "section 't' has two 'spec' lines", None),
    ("definition default", "define d = fit\n  default true\n" + rule("d"), "HGL208",
     "'default' does not apply to a definition", None),
    ("empty range", "input x: integer from 10 to 0\n", "HGL304", "the range of 'x' is empty", None),
    ("default wrong unit", "input x: number in months\n  default 3 mm\n", "HGL302", "is in mm", None),
    ("default not bool", "input x: yes/no\n  default 3\n", "HGL307", "must be true or false", None),
    ("default not whole", "input x: integer\n  default 2.5\n", "HGL307", "must be a whole number", None),
    ("parameter without default", "parameter p: yes/no\n", "HGL307", "parameter 'p' needs a default", None),
    ("ambiguous value", "input a: one of x, y\ninput b: one of x, z\n" + rule("x = x"), "HGL211",
     "is a value of several sets", None),
    # metadata
    ("unknown evidence field", "evidence e2\n  trail \"x\"\nend\n", "HGL208", "unknown evidence field 'trail'",
     "did you mean 'trial'"),
    # clinical logic
    ("definition cycle", "define a1 = b1 and fit\ndefine b1 = a1\n" + rule("a1"), "HGL210", "depends on itself",
     None),
    ("group cycle", "outcomes g1\n  use g2\nend\noutcomes g2\n  use g1\nend\n" + rule("fit", "use g1"),
     "HGL407", "uses itself", None),
    ("governs without order", rule("fit", "prefer opt_a", "governs"), "HGL402", "no governing order", None),
    ("governs outside order", rule("fit", "prefer opt_a", "governs") + rule("fit").replace(
        "section s", "section t").replace("rule r", "rule r2").replace("prefer opt_a", "prefer opt_a\n    governs")
     + "combination\n  governing order t\nend\n", "HGL402", "is not in the governing order", None),
    ("order without governing rule", rule("fit") + "combination\n  governing order s\nend\n", "HGL404",
     "has no governing rule", None),
    ("bad roles", rule("fit") + "combination\n  roles avoid over preferred\nend\n", "HGL404",
     "the roles order leaves out alternative", "name every role once"),
    ("phase 2 proposes", rule("opt_b is preferred", "prefer opt_a"), "HGL403", "cannot propose", None),
    ("definition reads proposal", "define d = opt_a is preferred\n" + rule("d"), "HGL403",
     "definition 'd' reads the proposal", None),
    ("constraint reads proposal", "constraint c1 \"c\"\n  when opt_a is preferred\n", "HGL403",
     "only a rule's condition may ask", None),
]


@pytest.mark.parametrize("name,snippet,code,message,hint", CASES, ids=[c[0] for c in CASES])
def test_check_table(name, snippet, code, message, hint):
    _assert_one(check(snippet), code, message, hint)


def _assert_one(diags, code, message, hint):
    found = [d for d in diags if d.code == code and message in d.message]
    assert found, [(d.code, d.message) for d in diags]
    if hint is not None:
        assert hint in (found[0].hint or "")
    assert found[0].span.line >= 1
    # one mistake, one error: no cascade of errors with other codes
    others = [d for d in diags if d.severity == "error" and d.code != code]
    assert not others, [(d.code, d.message) for d in others]


META = [  # (name, text in the guideline block, replacement, code, message, hint)
    ("misspelt field", "  title", "  titel", "HGL208", "unknown guideline field 'titel'", "did you mean 'title'"),
    ("bad status", "status draft", "status done", "HGL303", "status must be 'draft' or 'final'", None),
    ("date as text", "date 2025-01-01", 'date "1 Jan 2025"', "HGL301", "date must be written YYYY-MM-DD", None),
    ("title not text", 'title "T"', "title T", "HGL301", "guideline field 'title' takes text in quotes", None),
    ("missing required", '  version "1"\n', "", "HGL209", "guideline 'g' lacks version", None),
    ("field twice", '  panel "P"\n', '  panel "P"\n  panel "Q"\n', "HGL202", "guideline field 'panel' is given twice",
     None),
]


@pytest.mark.parametrize("field", ["doi", "panel", "date"])
def test_publication_metadata_is_optional(field):
    """A local protocol has no DOI, panel or publication date: leaving them out is no error."""
    lines = [x for x in PRELUDE.split("\n") if not x.strip().startswith(field + " ")]
    assert len(lines) == PRELUDE.count("\n")  # the field was there, and is gone
    diags = check_source(Source("t.hgl", "\n".join(lines))).diagnostics
    assert not [d for d in diags if d.severity == "error"], [(d.code, d.message) for d in diags]


@pytest.mark.parametrize("name,old,new,code,message,hint", META, ids=[m[0] for m in META])
def test_metadata_table(name, old, new, code, message, hint):
    assert old in PRELUDE
    _assert_one(check_source(Source("t.hgl", PRELUDE.replace(old, new, 1))).diagnostics, code, message, hint)


WARNINGS = [
    ("unused input", "", "HGL203", "input 'age' is never used"),
    ("unused option", "", "HGL203", "option 'opt_b' is never used"),
    ("unused flag", "", "HGL203", "flag 'discuss' is never used"),
    ("unused evidence", "", "HGL203", "evidence entry 'trial_a' is never used"),
    ("unused strength", "", "HGL203", "strength 'strong' is never used"),
    ("unused definition", "define d = fit\n", "HGL203", "definition 'd' is never used"),
    ("unused vocabulary", "vocabulary site \"site\"\n  bone\nend\n", "HGL203", "vocabulary 'site' is never used"),
    ("rule without outcome", "section s\n  provenance esmo\n  rule r\n    when fit\n  end\nend\n", "HGL405",
     "rule 'r' has no outcome"),
    ("rule without provenance", "section s\n  rule r\n    when fit\n    prefer opt_a\n  end\nend\n", "HGL406",
     "rule 'r' has no provenance"),
    ("exclusive section is checked like any other", rule("fit").replace("  provenance esmo\n", "  exclusive\n"),
     "HGL406", "rule 'r' has no provenance"),
]


@pytest.mark.parametrize("name,snippet,code,message", WARNINGS, ids=[w[0] for w in WARNINGS])
def test_warning_table(name, snippet, code, message):
    result = check_source(Source("t.hgl", PRELUDE + snippet))
    assert result.ok
    assert any(d.code == code and d.severity == "warning" and message in d.message for d in result.diagnostics), \
        [(d.code, d.message) for d in result.diagnostics]


def test_all_errors_in_one_run():
    text = PRELUDE + rule("agee > 3 years", "prefer opt_c", "flag discus")
    codes = [d.code for d in check(text[len(PRELUDE):]) if d.severity == "error"]
    assert codes == ["HGL201", "HGL206", "HGL207"]


def test_her2_is_clean():
    from tests.conftest import GUIDELINE

    result = check_source(Source("her2", GUIDELINE.read_text(encoding="utf-8")))
    assert result.diagnostics == []


@pytest.mark.parametrize("snippet,meant", [
    (rule("fit", "prefer opt_bb"), "option 'opt_b'"),  # its declaration is not also 'never used'
    (rule("agee > 3 years"), "input 'age'"),  # misspelt in the only rule that reads it
])
def test_a_misspelt_use_does_not_also_warn_unused(snippet, meant):
    diags = check(snippet)
    assert [d.code for d in diags if d.severity == "error"]
    assert not [d for d in diags if d.code == "HGL203" and d.message.startswith(meant)]
