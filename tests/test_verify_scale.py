"""Verification that scales (issue 13) and no-preferred regions against the acknowledged ones (issue 14):
the model reader, the phases and --jobs, progress, the cached verification of the docs, the N×
guideline of bench/verify_scale.py, and HGL508 with `accept`.  No wall-clock figure is asserted:
the cost is counted in solver calls (bench/verify_scale.py times it)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import z3

from tests.conftest import SMALL_HEADER
from hgl.compiler.check.accepts import partition
from hgl.compiler.front.diagnostics import dumps
from hgl.compiler.front.source import Source
from hgl.compiler.pipeline import compile_file, compile_source
from hgl.compiler.verify import phases
from hgl.compiler.verify.encode import ModelTable, model_value, table_value
from hgl.compiler.verify.search import Search, verify_report

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "verify"
HER2 = ROOT / "guidelines" / "her2_mbc.hgl"
sys.path.insert(0, str(ROOT / "bench"))
import verify_scale  # noqa: E402  (bench/verify_scale.py: the N×-sized guideline)


def _compile_text(text: str, name: str = "g.hgl"):
    result = compile_source(Source(name, text))
    assert result.ok, [(d.span.line, d.code, d.message) for d in result.errors]
    return result


# ---------------------------------------------------------------- reading a model at once
@pytest.mark.parametrize("path,three_valued", [(HER2, False), (HER2, True), (DATA / "missing.hgl", True)])
def test_model_table_reads_what_eval_reads(path, three_valued):
    """The witness reader parses the model's text; it must give what one `eval` per variable gives."""
    result = compile_file(path)
    search = Search(result.program, three_valued)
    checked = 0
    for name in list(search.enc.fired)[:25]:
        zm = search.find(search.enc.fired[name])
        if zm is None:
            continue
        table = ModelTable(zm)
        for (var, kind), x in search.space.vars.items():
            values = search.space.enum_values.get(f"{var}:{kind}", ())
            fast = table_value(table, f"{var}:{kind}", kind,
                               [(v, f"{var}:set:{v}") for v in x] if kind == "set" else values)
            assert fast == model_value(zm, x, kind, values), (var, kind)
            checked += 1
        for var, present in search.space.present.items():
            assert table.value(f"{var}:present", "Bool") == z3.is_true(zm.eval(present, model_completion=True))
    assert checked >= 10


@pytest.mark.parametrize("text,sort,value", [
    ("(define-fun |a:int| () Int\n  (- 5))", "Int", -5),
    ("(define-fun |a:int| () Int\n  12)", "Int", 12),
    ("(define-fun |a:int| () Real\n  (/ 7.0 2.0))", "Real", 3.5),
    ("(define-fun |a:int| () Real\n  (- (/ 1.0 4.0)))", "Real", -0.25),
    ("(define-fun |a:int| () Bool\n  true)", "Bool", True),
    ("(define-fun |a:int| () Real\n  (root-obj (+ (^ x 2) (- 2)) 2))", "Real", None),  # not read: eval decides
])
def test_model_table_values(text, sort, value):
    class Model:
        def sexpr(self):
            return text

    assert ModelTable(Model()).value("a:int", sort) == value


@pytest.mark.parametrize("path,least", [(HER2, 20), (DATA / "missing.hgl", 2), (DATA / "dead.hgl", 2)])
def test_replay_without_relevance_keeps_the_firing(path, least):
    """The dead-rule search replays three-valued witnesses with refine off and the relevance test of
    the missing inputs skipped (Engine.relevance, most of a replay's cost on a large guideline):
    everything it reads of the run (the firing, the rules that fire) must be the engine's own."""
    from hgl.compiler.verify.replay import Runner

    result = compile_file(path)
    search = Search(result.program, True)
    runner = Runner(result.code, result.source.sha256)
    engine = runner.guideline.engine
    checked = 0
    for name in list(search.enc.fired)[:30]:
        zm = search.find(search.enc.fired[name])
        if zm is None:
            continue
        case, params = search.witness(zm)
        fast = runner.raw(case, params, refine=False)
        engine.refine = False
        try:
            full = runner.raw(case, params)  # refine off as well, relevance test on
        finally:
            engine.refine = True
        assert (engine.refine, engine.relevance) == (True, True)
        assert (fast["firing"] is None) == (full["firing"] is None)
        if fast["firing"] is None:
            continue
        f, g = fast["firing"], full["firing"]
        assert (f.roles, f.by, f.proposed_by, f.flags, f.governing, f.proposal.roles) == \
            (g.roles, g.by, g.proposed_by, g.flags, g.governing, g.proposal.roles)
        assert [runner.fires_in(fast, r) for r in search.enc.fired] == [runner.fires_in(full, r) for r in search.enc.fired]
        checked += 1
    assert checked >= least


@pytest.mark.parametrize("path,three_valued,seed", [(HER2, False, 1), (HER2, True, 2), (DATA / "missing.hgl", True, 3)])
def test_replay_validation_input_by_input_is_validate_case(path, three_valued, seed):
    """Runner.validate revalidates only the inputs changed since the last replay (minimisation's
    trials): on random minimisation-like steps (a reset to the reference, a null, a bad value,
    kept or not) it must give validate_case's result, or its error."""
    import random

    from hgl.compiler.verify.replay import ABSENT, Runner
    from hgl.compiler.verify.search import reference_case
    from hgl.runtime.schema import CaseError, validate_case

    result = compile_file(path)
    search = Search(result.program, three_valued)
    runner = Runner(result.code, result.source.sha256)
    order, reference = reference_case(result, search.space)
    inputs = [name for name, is_param in order if not is_param]
    rng = random.Random(seed)
    checked = 0
    for rule in list(search.enc.fired)[:10]:
        zm = search.find(search.enc.fired[rule])
        if zm is None:
            continue
        case, _params = search.witness(zm)
        for _ in range(40):
            trial, name, pick = dict(case), rng.choice(inputs), rng.random()
            if pick < 0.1:
                trial[name] = "not a value"
            elif pick < 0.2:
                trial[name] = None
            elif reference.get(name, ABSENT) is ABSENT:
                trial.pop(name, None)
            else:
                trial[name] = reference[name]
            outs = []
            for validate in (lambda c: validate_case(runner.guideline.inputs, c), runner.validate):
                try:
                    outs.append(validate(trial))
                except CaseError:
                    outs.append("error")
            assert outs[0] == outs[1], name
            if outs[0] != "error" and rng.random() < 0.6:
                case = trial
            checked += 1
    assert checked >= 40


# ---------------------------------------------------------------- phases, --jobs and progress
@pytest.mark.parametrize("name", ["conflict", "dead", "exclusive", "gap"])
def test_jobs_give_the_same_findings(name):
    result = compile_file(DATA / f"{name}.hgl")
    one, two = (verify_report(result, jobs=j) for j in (1, 2))
    assert dumps(result.source, one.diagnostics) == dumps(result.source, two.diagnostics)
    assert (one.queries, one.unconfirmed) == (two.queries, two.unconfirmed)


def _check_verify(path, seed: str, jobs: int, fmt: str) -> bytes:
    """`hgl check --verify` in a process of its own with the given PYTHONHASHSEED: its stdout."""
    import os
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from hgl.compiler.cli import main; sys.exit(main(sys.argv[1:]))",
         "check", "--verify", "--no-progress", "--jobs", str(jobs), "--format", fmt, str(path)],
        cwd=ROOT, env=dict(os.environ, PYTHONHASHSEED=seed), capture_output=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")
    assert proc.stdout.strip(), proc.stderr.decode(errors="replace")
    return proc.stdout


_REFERENCE_RUNS: dict = {}


@pytest.mark.parametrize("name,fmt,seed,jobs", [
    ("witness", "json", "1", 1), ("witness", "json", "0", 2), ("witness", "json", "12345", 4),
    ("witness", "text", "7", 2),
    ("conflict", "json", "1", 2), ("exclusive", "json", "3", 2), ("dead", "text", "5", 4),
])
def test_verify_output_is_the_same_whatever_seed_and_jobs(name, fmt, seed, jobs):
    """Byte-identical `check --verify` output for any PYTHONHASHSEED and any --jobs, against the run
    with seed 0 and one job (the replays' shortcuts and the phases' workers must not show)."""
    path = DATA / f"{name}.hgl"
    key = (name, fmt)
    if key not in _REFERENCE_RUNS:
        _REFERENCE_RUNS[key] = _check_verify(path, "0", 1, fmt)
    assert _check_verify(path, seed, jobs, fmt) == _REFERENCE_RUNS[key]


@pytest.mark.parametrize("enabled,steps,shown", [
    (False, [(0, 3), (3, 3)], ""),
    (True, [(0, 3), (3, 3)], "hgl: verify: conflicts 0/3\rhgl: verify: conflicts 3/3\n"),
])
def test_progress_only_when_enabled(enabled, steps, shown):
    out = io.StringIO()
    progress = phases.Progress(enabled, out)
    for done, total in steps:
        progress.step("_conflicts", done, total)
    assert out.getvalue() == shown


@pytest.mark.parametrize("flag,tty,wanted", [(True, False, True), (False, True, False), (None, True, True),
                                             (None, False, False)])
def test_wants_progress(monkeypatch, flag, tty, wanted):
    monkeypatch.setattr(sys, "stderr", type("E", (), {"isatty": lambda self: tty})())
    assert phases.wants_progress(flag) is wanted


# ---------------------------------------------------------------- the N×-sized guideline
@pytest.mark.parametrize("options", ["shared", "copied"])
def test_scaled_guideline_compiles_and_verifies_in_about_linear_calls(options):
    """bench/verify_scale.py grows a guideline; findings grow with the copies, solver calls stay
    far below quadratic (the pruned checks: one query per rule at most, plus the findings')."""
    text = (DATA / "conflict.hgl").read_text(encoding="utf-8")
    runs = {}
    for n in (1, 3):
        result = _compile_text(verify_scale.scaled(text, n, options), f"conflict_x{n}.hgl")
        report = verify_report(result)
        assert report.unconfirmed == []
        runs[n] = (len(result.program.rules), report.queries,
                   sum(d.code == "HGL502" for d in report.diagnostics))
    (r1, q1, c1), (r3, q3, c3) = runs[1], runs[3]
    assert r3 == 3 * r1 and c3 >= 3 * c1 >= 3
    assert q3 <= 4 * q1


def test_scaled_her2_compiles():
    text = HER2.read_text(encoding="utf-8")
    for options in ("shared", "copied"):
        result = _compile_text(verify_scale.scaled(text, 2, options), "her2_x2.hgl")
        assert len(result.program.rules) == 2 * len(compile_file(HER2).program.rules)


# ---------------------------------------------------------------- no-preferred regions (HGL508)
REGIONS = SMALL_HEADER + '''kind systemic "Systemic therapy"
option a systemic "A"
option b systemic "B"
option c systemic "C"
input fit: yes/no
input ecog: integer from 0 to 4
section line "line"
  provenance t
  rule fit_a
    when fit
    prefer a
  end
  rule unfit_b
    when not fit
    alternative b
  end
  rule everyone_c
    alternative c
  end
end
'''


ECOG_EDIT = {"    when fit\n": "    when fit and ecog <= 1\n"}


@pytest.mark.parametrize("edit,accepts,shown,accepted", [
    # unfit patients get only alternatives: a region, reported at its first rule
    ({}, [], [["unfit_b", "everyone_c"]], []),
    # acknowledged: still found, but `check` shows it as accepted
    ({}, ["unfit_b"], [], [["unfit_b", "everyone_c"]]),
    # an edit that leaves fit patients with ECOG 2 or more with nothing preferred: a new region, shown
    (ECOG_EDIT, ["unfit_b"], [["everyone_c"]], [["unfit_b", "everyone_c"]]),
    (ECOG_EDIT, [], [["unfit_b", "everyone_c"], ["everyone_c"]], []),
])
def test_no_preferred_regions_against_the_acknowledged(edit, accepts, shown, accepted):
    text = REGIONS
    for old, new in edit.items():
        text = text.replace(old, new)
    text += "".join(f'accept HGL508 on {r} because "the source prefers nothing here"\n' for r in accepts)
    result = _compile_text(text)
    report = verify_report(result)
    assert report.unconfirmed == []
    found = [d for d in report.diagnostics if d.code == "HGL508"]
    part = partition(result.program, found, verified=True)
    assert sorted(d.data["rules"] for d in part.shown) == sorted(shown)
    assert sorted(d.data["rules"] for d, _ in part.accepted) == sorted(accepted)
    for d in found:  # a warning with a witness the runtime reproduces
        assert d.data["witness"] is not None and "accept HGL508 on" in d.hint


def test_ecog_region_is_new_until_acknowledged():
    """Issue 14: an edit leaves ECOG-2 patients with nothing preferred; `--verify` says so at once."""
    accept = 'accept HGL508 on unfit_b because "the source prefers nothing here"\n'
    before = _compile_text(REGIONS + accept)
    edited = REGIONS
    for old, new in ECOG_EDIT.items():
        edited = edited.replace(old, new)
    after = _compile_text(edited + accept)
    shown = {}
    for tag, result in (("before", before), ("after", after)):
        found = [d for d in verify_report(result).diagnostics if d.code == "HGL508"]
        shown[tag] = [d.data for d in partition(result.program, found, verified=True).shown]
    assert shown["before"] == []
    [new] = shown["after"]
    assert new["rules"] == ["everyone_c"] and new["witness"]["fit"] is True and new["witness"]["ecog"] >= 2


def test_no_preferred_mode_keeps_its_gap_findings():
    """`--verify-gaps no-preferred` still lists every region as HGL501 (the strict reading), and no HGL508."""
    result = _compile_text(REGIONS)
    codes = {d.code for d in verify_report(result, gap_kind="no_preferred").diagnostics}
    assert "HGL501" in codes and "HGL508" not in codes


# ---------------------------------------------------------------- the docs reuse a cached verification
def test_docs_reuse_the_cached_verification(tmp_path, monkeypatch):
    """`hgl docs` runs the verifier once per source: the second build reads the signed cache entry
    (the solver is not called), an edited source is verified again."""
    from hgl.compiler.docs import site
    import hgl.compiler.verify.search as vs

    monkeypatch.setenv("HGL_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real_run = phases.run  # every solver call of a verification is made under phases.run

    def counting_run(verifier, jobs=1):
        calls.append(verifier.program.meta.id.text)
        return real_run(verifier, jobs)

    monkeypatch.setattr(phases, "run", counting_run)
    result = _compile_text(REGIONS)
    first = site.run_verification(result)
    second = site.run_verification(result)
    assert len(calls) == 1  # the second build did not run the verifier
    assert first["available"] and json.dumps(first["findings"]) == json.dumps(second["findings"])
    site.run_verification(_compile_text(REGIONS.replace("    when fit\n", "    when fit and ecog <= 1\n")))
    assert len(calls) == 2  # an edited source is verified again
