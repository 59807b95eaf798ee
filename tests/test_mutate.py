"""Mutation testing (`hgl test --mutate`): the operators as a table on small guidelines, equivalence by the
solver, the killing cases it proposes, and the shipped guidelines' cases killing every non-equivalent mutant."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import yaml

from hgl.compiler.check import program as p
from hgl.compiler.front.source import Source
from hgl.compiler.mutate import operators as ops
from hgl.compiler.mutate.report import write_cases
from hgl.compiler.mutate.run import mutation_test
from hgl.compiler.pipeline import compile_source
from hgl.compiler.python import codegen

ROOT = Path(__file__).resolve().parent.parent
PRELUDE = (ROOT / "tests" / "data" / "prelude.hgl").read_text(encoding="utf-8")
SHARED = ROOT.parent / "shared" / "clinical"


def _guideline(rules: str) -> str:
    return PRELUDE + f'\nsection main "main"\n  provenance esmo\n{rules}end\n'


def _rule(when: str, outcomes: str = "prefer opt_a") -> str:
    return _guideline(f'  rule r "r"\n    when {when}\n    {outcomes}\n  end\n')


def _program(text: str) -> p.Program:
    r = compile_source(Source("t.hgl", text))
    assert r.ok, [d.message for d in r.errors]
    return r.program


ALWAYS = {("rule", "rule `r` removed"), ("role", "`prefer opt_a` -> `alternative opt_a`")}


@pytest.mark.parametrize("when,expected", [
    ("size > 30 mm", {
        ("threshold", "`size > 30 mm` -> `size > 31 mm`"), ("threshold", "`size > 30 mm` -> `size > 29 mm`"),
        ("strictness", "`size > 30 mm` -> `size ≥ 30 mm`"),
        ("condition", "drop `when size > 30 mm` (the rule always fires)")}),
    ("size <= 2.5 mm", {
        ("threshold", "`size ≤ 2.5 mm` -> `size ≤ 2.6 mm`"), ("threshold", "`size ≤ 2.5 mm` -> `size ≤ 2.4 mm`"),
        ("strictness", "`size ≤ 2.5 mm` -> `size < 2.5 mm`"),
        ("condition", "drop `when size ≤ 2.5 mm` (the rule always fires)")}),
    ("fit and status = positive", {
        ("and_or", "`fit and status = positive` -> `fit or status = positive`"),
        ("condition", "drop the condition `fit`"), ("condition", "drop the condition `status = positive`")}),
    ("fit or not fit or status = positive", {
        ("and_or", "`fit or not fit` -> `fit and not fit`"),
        ("and_or", "`not fit or status = positive` -> `not fit and status = positive`"),
        ("negation", "`not fit` -> `fit`"),
        ("condition", "drop the alternative `fit`"), ("condition", "drop the alternative `not fit`"),
        ("condition", "drop the alternative `status = positive`"),
        ("condition", "drop `when fit or not fit or status = positive` (the rule always fires)")}),
    ("drug_a not in received", {
        ("negation", "`drug_a not in received` -> `drug_a in received`"),
        ("condition", "drop `when drug_a not in received` (the rule always fires)")}),
    ("months is not missing", {
        ("negation", "`months is not missing` -> `months is missing`"),
        ("condition", "drop `when months is not missing` (the rule always fires)")}),
    ("received has any of {drug_a, drug_b}", {
        ("set_member", "remove `drug_a` from `{drug_a, drug_b}`"),
        ("set_member", "remove `drug_b` from `{drug_a, drug_b}`"),
        ("condition", "drop `when received has any of {drug_a, drug_b}` (the rule always fires)")}),
    ("1 years <= age <= 5 years", {
        ("threshold", "`1 years ≤ age ≤ 5 years` -> `2 years ≤ age ≤ 5 years`"),
        ("threshold", "`1 years ≤ age ≤ 5 years` -> `0 years ≤ age ≤ 5 years`"),
        ("threshold", "`1 years ≤ age ≤ 5 years` -> `1 years ≤ age ≤ 6 years`"),
        ("threshold", "`1 years ≤ age ≤ 5 years` -> `1 years ≤ age ≤ 4 years`"),
        ("strictness", "`1 years ≤ age ≤ 5 years` -> `1 years < age ≤ 5 years`"),
        ("strictness", "`1 years ≤ age ≤ 5 years` -> `1 years ≤ age < 5 years`"),
        ("condition", "drop `when 1 years ≤ age ≤ 5 years` (the rule always fires)")}),
    ("status = positive", {("condition", "drop `when status = positive` (the rule always fires)")}),
])
def test_operators(when, expected):
    got = {(m.operator, m.description) for m in ops.mutations(_program(_rule(when)))}
    assert got == expected | ALWAYS


@pytest.mark.parametrize("outcomes,expected", [
    ("prefer opt_a, opt_b", {("role", "`prefer opt_a, opt_b` -> `alternative opt_a, opt_b`")}),
    ("alternative opt_b", {("role", "`alternative opt_b` -> `prefer opt_b`")}),
    ("avoid opt_b\n    flag discuss", set()),  # restrictions and flags keep their meaning
])
def test_role_operator(outcomes, expected):
    got = {(m.operator, m.description) for m in ops.mutations(_program(_rule("fit", outcomes))) if m.operator == "role"}
    assert got == expected


def test_threshold_steps_in_the_unit_written():
    """`2 years` compared with months moves by a year: 36 and 12 months."""
    prog = _program(_rule("months > 2 years"))
    values = sorted(ops.apply(prog, m).rule("r").when.operands[1].value
                    for m in ops.mutations(prog) if m.operator == "threshold")
    assert values == [12, 36]


def test_an_if_condition_is_edited_once_with_its_else():
    """The mutated `if` condition reaches both flat branches: the `then` guard and the `else` negation."""
    prog = _program(_rule("fit", "if size > 30 mm then\n      prefer opt_a\n    else\n      prefer opt_b\n    end"))
    m = next(m for m in ops.mutations(prog) if m.description == "`size > 30 mm` -> `size > 31 mm`")
    branches = ops.apply(prog, m).rule("r").branches
    assert [b.guards[0].operands[1].value for b in branches[:1]] == [31]
    assert branches[1].guards[0].operand.operands[1].value == 31
    assert prog.rule("r").branches[1].guards[0].operand.operands[1].value == 30  # the original is untouched


def test_every_mutant_compiles_and_keys_are_unique():
    prog = _program(_guideline('  rule r "r"\n    when fit and (size > 30 mm or age >= 70 years)\n'
                               '    prefer opt_a\n    alternative opt_b\n  end\n'
                               '  rule s "s"\n    when drug_a not in received\n    flag discuss\n  end\n'))
    muts = ops.mutations(prog)
    assert len({m.key for m in muts}) == len(muts)
    assert {m.operator for m in muts} == set(ops.OPERATOR_NAMES) - {"set_member"}
    for m in muts:
        codegen.generate(ops.apply(prog, m), "t.hgl", "0" * 64)
    assert [m.key for m in muts] == [m.key for m in ops.mutations(prog)]  # deterministic


def test_and_or_swap_keeps_the_program_flat():
    prog = _program(_rule("(fit and size > 30 mm) or status = positive"))
    for m in ops.mutations(prog):
        if m.operator == "rule":
            continue
        when = ops.apply(prog, m).rule("r").when
        for node in p.walk(when) if when is not None else ():
            if isinstance(node, (p.And, p.Or)):
                assert not any(type(x) is type(node) for x in node.operands), m.key


def test_node_types_without_operators_are_left_alone():
    """A node type the table does not know (a newer construct) is not mutated, and nothing fails."""

    @dataclasses.dataclass(frozen=True)
    class Newer:
        span: object
        type: object = p.BOOL

    prog = _program(_rule("fit"))
    rule = prog.rule("r")
    newer = dataclasses.replace(rule, when=Newer(rule.when.span))
    section = dataclasses.replace(prog.sections[0], rules=(newer,))
    prog = dataclasses.replace(prog, sections=(section,), rules_by_name={"r": newer})
    got = {(m.operator, m.description) for m in ops.mutations(prog)}
    assert got == ALWAYS | {("condition", "drop `when …` (the rule always fires)")}


# ---------------------------------------------------------------- running, equivalence, proposed cases

SMALL = _guideline(
    '  rule small_fit "small and fit"\n    when size <= 30 mm and fit and age >= 0 years\n'
    '    prefer opt_a\n    alternative opt_b\n  end\n'
    '  rule large "large"\n    when size > 30 mm\n    prefer opt_b\n  end\n')
WEAK = """\
base: {age: 50, size: 10, months: 3, status: positive, received: [], fit: true, current: none}
cases:
- id: C1
  title: small and fit
  expect: {status: recommendation, preferred: [opt_a]}
"""


@pytest.fixture
def small(tmp_path, monkeypatch):
    monkeypatch.setenv("HGL_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "g.hgl").write_text(SMALL, encoding="utf-8")
    (tmp_path / "g.cases.yaml").write_text(WEAK, encoding="utf-8")
    return tmp_path


def test_weak_cases_leave_survivors_and_the_proposed_cases_kill_them(small):
    g, cases = small / "g.hgl", small / "g.cases.yaml"
    before = mutation_test(g, [cases])
    assert before.count("survived") > 0 and before.broken == []
    # `age >= 0 years` over ages from 0: one step down changes nothing, and the solver proves it
    assert {o.mutation.description for o in before.of("equivalent")} >= {"`age ≥ 0 years` -> `age ≥ -1 years`"}
    assert all(o.proposal is not None or "proposed for" in o.note for o in before.of("survived"))
    written = write_cases(cases, before)
    assert 0 < written < before.count("survived")  # one case may kill several mutants
    text = cases.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert [c["id"] for c in data["cases"]][:2] == ["C1", "M1"]
    # regression checks, not worked examples: kept off the site's gallery
    assert [c.get("gallery") for c in data["cases"]][:2] == [None, False]
    for o in before.of("survived"):
        assert f"mutant '{o.mutation.key}'" in text  # each survivor is named above the case that kills it
    after = mutation_test(g, [cases])
    assert after.count("survived") == 0 and after.score == 1.0
    assert after.count("equivalent") == before.count("equivalent")
    assert after.compiled == before.count("survived")  # killed verdicts came from the cache


def test_worker_processes_give_the_same_report(small, monkeypatch):
    """Chunks screened in 2 forked workers: the same verdicts, killing cases and proposals as in process."""
    from hgl.compiler.mutate import screen

    monkeypatch.setattr(screen, "CHUNK", 3)  # several chunks even for a small guideline
    g, cases = small / "g.hgl", small / "g.cases.yaml"
    runs = [mutation_test(g, [cases], use_cache=False, workers=w) for w in (1, 2)]
    one, two = ([(o.to_dict(), o.killed_by) for o in r.outcomes] for r in runs)
    assert one == two and len(one) > 2 * screen.CHUNK


def test_cli_exit_status(small, capsys):
    from hgl.compiler.cli import main

    g, cases = str(small / "g.hgl"), str(small / "g.cases.yaml")
    new = small / "new.cases.yaml"
    assert main(["test", g, "--cases", cases, "--mutate", "--write-cases", str(new)]) == 1
    out = capsys.readouterr().out
    assert "SURVIVED" in out and "mutation score" in out and "EQUIVALENT" in out
    assert yaml.safe_load(new.read_text())["base"]["size"] == 10  # a new file takes the base of the first
    assert main(["test", g, "--cases", cases, "--cases", str(new), "--mutate"]) == 0
    assert "mutation score 100.0%" in capsys.readouterr().out


def _loaded(text: str):
    from hgl.runtime.api import Guideline, load_module_source

    r = compile_source(Source("t.hgl", text))
    assert r.ok, [d.message for d in r.errors]
    return Guideline(load_module_source(r.code, "hgl_t"))


ORIGINAL = '  rule r "r"\n    when fit\n    prefer opt_a\n  end\n'
WITH_B = '  rule r "r"\n    when fit\n    prefer opt_a\n    alternative opt_b\n  end\n'
CASE = {"age": 50, "size": 10, "months": 3, "status": "positive", "received": [], "fit": True, "current": "none"}
PREFER_A = {"status": "recommendation", "preferred": ["opt_a"]}


@pytest.mark.parametrize("original,mutant,killing,change", [
    # the mutant adds an alternative: the original's result states that the option is absent
    (ORIGINAL, WITH_B, {"absent": ["opt_b"]}, "option opt_b absent (the mutant: alternative)"),
    # the mutant adds a flag
    (ORIGINAL, '  rule r "r"\n    when fit\n    prefer opt_a\n    flag discuss\n  end\n',
     {"not_flags": ["discuss"]}, "flag discuss not raised (the mutant raises it)"),
    # the mutant prefers what the original keeps as an alternative
    (WITH_B, '  rule r "r"\n    when fit\n    prefer opt_a, opt_b\n  end\n',
     {"not_preferred": ["opt_b"]}, "option opt_b alternative (the mutant: preferred)"),
    # the mutant loses an alternative
    (WITH_B, ORIGINAL, {"alternatives": ["opt_b"]}, "option opt_b alternative (the mutant: absent)"),
    # the mutant loses a flag
    ('  rule r "r"\n    when fit\n    prefer opt_a\n    flag discuss\n  end\n', ORIGINAL,
     {"flags": ["discuss"]}, "flag discuss (not in the mutant's result)"),
    # the mutant drops the preferred option: `preferred` states it
    (ORIGINAL, '  rule r "r"\n    when not fit\n    prefer opt_a\n  end\n', {},
     "option opt_a preferred (the mutant: absent)"),
])
def test_propose_states_what_the_mutant_adds_or_loses(original, mutant, killing, change):
    from hgl.compiler.mutate.run import propose

    p = propose(_loaded(_guideline(original)), _loaded(_guideline(mutant)), CASE, {})
    assert p is not None
    assert p.expect == {**PREFER_A, **killing}
    assert p.change == change


def test_no_proposal_when_the_results_are_the_same():
    from hgl.compiler.mutate.run import propose

    g = _loaded(_guideline(ORIGINAL))
    assert propose(g, g, CASE, {}) is None


# ---------------------------------------------------------------- the shipped guidelines

def _shipped():
    """The shipped guidelines, each held to the mutation check, with their case files."""
    return [pytest.param(ROOT / "guidelines" / "her2_mbc.hgl",
                         [ROOT / "guidelines" / "her2_mbc.cases.yaml", SHARED / "vignettes.yaml"], id="her2_mbc"),
            *(pytest.param(ROOT / "guidelines" / f"{gid}.hgl", [ROOT / "guidelines" / f"{gid}.cases.yaml"], id=gid)
              for gid in ("af_stroke", "cap_site_of_care"))]


@pytest.mark.slow
@pytest.mark.parametrize("guideline,case_files", _shipped())
def test_shipped_guideline_cases_kill_every_non_equivalent_mutant(guideline, case_files):
    """The shipped cases kill every mutant the solver does not prove equivalent (score 100 %).

    Cost: verdicts are cached under $HGL_CACHE_DIR/mutate/ (only mutants without a verdict are
    compiled), and the others are screened by 2 worker processes.  On a cold cache (a fresh
    clone, or any change to the guideline or the compiler) HER2 is the costly one; the figures
    are on site/pages/verification.md.  The site build (tests/test_docs.py, test_browser.py)
    shows the same run for HER2 and reads the same cache.
    """
    started = time.perf_counter()
    report = mutation_test(guideline, case_files)
    print(f"{guideline.name}: {len(report.outcomes)} mutants, score {report.score:.3f}, "
          f"{report.count('equivalent')} equivalent, {report.compiled} compiled, "
          f"{time.perf_counter() - started:.1f} s")
    assert report.broken == []
    survivors = [f"{o.mutation.key}: {o.mutation.description} ({o.note or o.proposal.change})"
                 for o in report.of("survived")]
    assert survivors == [], "run `hgl test GUIDELINE --cases ... --mutate --write-cases FILE` and review the cases"
    assert report.count("error") == 0
