"""Explained results stay byte-identical: every level (full, short, none) and every API.

The engine and the words have fast paths (precomputed per-rule tables, words cached per rule
and branch, plain-Python conditions tried first); a fast path that changes one byte of one
result is a silent wrong answer.  This test renders, for every case of each group below,
`Result.to_dict()` (receipt included) and the batch records at the three levels
(hgl.runtime.records), each from a fresh evaluation, as JSON lines, and compares a digest
per block of cases with golden files (tests/golden/runtime/identity/<group>.txt).

Groups: realistic HER2 cohort records (guidelines/her2_mbc_cohort.py, fields that do not
apply absent; 2,000 by default, HGL_IDENTITY_N=5000 for more), the same with 35% and 75% of
their fields dropped at random (1,000 and 250), every case
of the shipped guidelines' case files and the public vignettes (those two also with a trace
and why-not for a few options).  A failing block names the first differing case when run
with HGL_IDENTITY_DUMP=DIR, which writes the lines themselves to DIR/<group>.jsonl
(dump before and after a change, then diff).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from pathlib import Path

import pytest

from hgl.runtime import load
from hgl.runtime.casefile import load_case_file, merged_case
from hgl.runtime.records import LEVELS, record
from hgl.runtime.schema import CaseError

from .conftest import ROOT

GUIDELINES = ROOT / "guidelines"
VIGNETTES = ROOT.parent / "shared" / "clinical" / "vignettes.yaml"
GOLDEN = ROOT / "tests" / "golden" / "runtime" / "identity"
BLOCK = 250  # cases per digest
# cohort sizes: the test's defaults keep it short; HGL_IDENTITY_N=5000 checks (dumps) 5,000 of each
# (the records and the fields dropped are drawn in sequence: a smaller run is a prefix of a larger one)
SIZES = {"her2_cohort": 2000, "her2_cohort_drop35": 1000, "her2_cohort_drop75": 250}


def _size(group: str) -> int:
    return int(os.environ.get("HGL_IDENTITY_N") or SIZES[group])


def _cohort(n: int, drop: float, seed: int):
    sys.path.insert(0, str(GUIDELINES))
    try:
        from her2_mbc_cohort import records
    finally:
        sys.path.remove(str(GUIDELINES))
    rnd = random.Random(seed)
    out = []
    for r in records(n, seed=seed, extra=False):
        out.append(({k: v for k, v in r.items() if rnd.random() >= drop}, None))
    return out


def _case_file(path: Path):
    base, cases = load_case_file(path)
    return [(merged_case(base, c), c.get("params") or None) for c in cases]


# group -> (guideline, cases thunk, whether to add trace and why-not)
GROUPS = {
    "her2_cohort": ("her2_mbc", lambda: _cohort(_size("her2_cohort"), 0.0, 1), False),
    "her2_cohort_drop35": ("her2_mbc", lambda: _cohort(_size("her2_cohort_drop35"), 0.35, 2), False),
    "her2_cohort_drop75": ("her2_mbc", lambda: _cohort(_size("her2_cohort_drop75"), 0.75, 3), False),
    "her2_vignettes": ("her2_mbc", lambda: _case_file(VIGNETTES), True),
    "her2_cases": ("her2_mbc", lambda: _case_file(GUIDELINES / "her2_mbc.cases.yaml"), True),
    "af_stroke_cases": ("af_stroke", lambda: _case_file(GUIDELINES / "af_stroke.cases.yaml"), True),
    "cap_site_of_care_cases": ("cap_site_of_care", lambda: _case_file(GUIDELINES / "cap_site_of_care.cases.yaml"),
                               True),
}


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=False, default=str)


_VERSION = '"hgl_version": "<version>"'


def lines(group: str):
    """One JSON line per case and API: to_dict(), then record() at each level; errors as lines too."""
    name, make, extra = GROUPS[group]
    g = load(GUIDELINES / f"{name}.hgl")
    why_not = list(g.module.OPTIONS)[:6] if extra else ()
    version = _dumps({"hgl_version": g.module.HGL_VERSION})[1:-1]
    for case, prm in make():
        try:
            outs = [g.evaluate(dict(case), prm).to_dict()]
            outs += [record(g.evaluate(dict(case), prm), level) for level in LEVELS]
            if extra:
                outs.append(g.evaluate(dict(case), prm, trace=True, why_not=why_not).to_dict())
        except CaseError as err:
            outs = [{"error": err.errors}]
        # the source hash and the compiler version are left out: they change with edits that change no result
        yield "\n".join(_dumps(o) for o in outs).replace(g.sha256, "<sha256>").replace(version, _VERSION)


def digests(group: str) -> str:
    dump = os.environ.get("HGL_IDENTITY_DUMP")
    out = [f"# {group}: sha256 per block of {BLOCK} cases (tests/test_explain_identity.py)"]
    h, count, total = hashlib.sha256(), 0, 0
    fh = open(Path(dump) / f"{group}.jsonl", "w", encoding="utf-8") if dump else None
    try:
        for text in lines(group):
            if fh is not None:
                fh.write(text + "\n")
            h.update(text.encode("utf-8") + b"\n")
            count += 1
            total += 1
            if count == BLOCK:
                out.append(f"cases {total - count + 1}-{total}: {h.hexdigest()}")
                h, count = hashlib.sha256(), 0
        if count:
            out.append(f"cases {total - count + 1}-{total}: {h.hexdigest()}")
    finally:
        if fh is not None:
            fh.close()
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("group", list(GROUPS))
def test_explained_results_are_byte_identical(group, golden):
    golden.check(GOLDEN / f"{group}.txt", digests(group))


# ---------------------------------------------------------------- the fast paths against the plain ones

def _firing(f):
    if f is None:
        return None
    return (f.roles, f.by, {k: list(v) for k, v in f.proposed_by.items()}, f.flags, f.requests, f.governing,
            [(k, sorted(v.inputs)) for k, v in f.undecided], f.decisive, f.completed,
            f.proposal.roles if f.proposal is not None else None,
            {k: sorted(v.inputs) for k, v in f.unknowns.items()} if f.unknowns is not None else None)


def _engines(name):
    """Two guidelines over one module: straight-line code from the first case on, and the loops only."""
    from hgl.runtime.api import Guideline

    g = load(GUIDELINES / f"{name}.hgl")
    fast, loops = Guideline(g.module), Guideline(g.module)
    fast.engine.STRAIGHT_AFTER = 0
    loops.engine.straight = False
    return fast, loops


SAMPLES = [("her2_cohort", 300), ("her2_cohort_drop35", 300), ("her2_cohort_drop75", 150), ("her2_vignettes", None),
           ("af_stroke_cases", None), ("cap_site_of_care_cases", None)]


@pytest.mark.parametrize("group,n", SAMPLES)
def test_straight_line_code_decides_as_the_loops(group, n, monkeypatch):
    """hgl.runtime.straight (inlined plain variants, kept three-valued answers) against Engine's loops."""
    if n is not None:
        monkeypatch.setenv("HGL_IDENTITY_N", str(n))
    name, make, _extra = GROUPS[group]
    fast, loops = _engines(name)
    for case, prm in make():
        for _ in range(2):  # the second time, the kept answers (straight._Memo) are read
            try:
                a = fast.evaluate(dict(case), prm)
            except CaseError as err:
                with pytest.raises(CaseError):
                    loops.evaluate(dict(case), prm)
                assert err.errors
                break
            b = loops.evaluate(dict(case), prm)
            assert (a.status, a.missing, a.inconsistent, _firing(a.firing)) == \
                (b.status, b.missing, b.inconsistent, _firing(b.firing)), case
    assert fast.engine._straight, "the straight-line code was not made"


def _results(group, n, monkeypatch):
    """(case, result) for the valid cases of a group (the first n of a cohort)."""
    if n is not None:
        monkeypatch.setenv("HGL_IDENTITY_N", str(n))
    name, make, _extra = GROUPS[group]
    g = load(GUIDELINES / f"{name}.hgl")
    for case, prm in make():
        try:
            yield case, g.evaluate(dict(case), prm)
        except CaseError:
            continue


@pytest.mark.parametrize("group,n", [("her2_cohort_drop35", 300), ("her2_cohort_drop75", 150),
                                     ("her2_vignettes", None)])
def test_missing_because_from_the_engines_truths(group, n, monkeypatch):
    """Renderer.missing_all reads the conditions the engine left unknown (Firing.unknowns); evaluated
    again, rule by rule, they give the same words."""
    seen = 0
    for case, r in _results(group, n, monkeypatch):
        if r.status != "needs_data":
            continue
        assert r.firing.unknowns is not None
        kept = r.missing_because
        r.firing.unknowns = None
        assert kept == r.words.missing_all(r.missing, r), case
        seen += 1
    assert seen


@pytest.mark.parametrize("group,n", [("her2_cohort_drop35", 300), ("her2_vignettes", None),
                                     ("af_stroke_cases", None), ("cap_site_of_care_cases", None)])
def test_missing_rules_are_missing_because_without_words(group, n, monkeypatch):
    """Result.missing_rules() (what a CDS card shows) is missing_because with each rule's
    `conditions` left out: the same inputs, requests, rules, order and `changes_result`."""
    seen = 0
    for case, r in _results(group, n, monkeypatch):
        full = r.missing_because
        stripped = [{**m, "undecided": [{k: v for k, v in u.items() if k != "conditions"} for u in m["undecided"]]}
                    for m in full]
        assert r.missing_rules() == stripped, case
        seen += bool(full)
    assert seen or group != "her2_cohort_drop35"


@pytest.mark.parametrize("threads", [4])
def test_straight_line_code_made_once_under_threads(threads):
    """Threads that reach the threshold together: one makes the code, none fails, the answers are the same."""
    import threading

    from hgl.runtime.api import Guideline

    g = load(GUIDELINES / "her2_mbc.hgl")
    cases = [c for c, _ in _cohort(120, 0.35, 5)]
    want = [_dumps(Guideline(g.module).evaluate(dict(c)).to_dict()) for c in cases]
    shared = Guideline(g.module)
    got: dict = {}
    errors: list = []

    def work(k):
        try:
            got[k] = [_dumps(shared.evaluate(dict(c)).to_dict()) for c in cases]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert errors == []
    assert all(got[k] == want for k in range(threads))
    assert shared.engine._straight
