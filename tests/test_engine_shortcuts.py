"""The engine's shortcuts for realistic cases give exactly the results of the engine without them.

Realistic records leave out what does not apply, so nearly every case has missing inputs.  The
shortcuts (hgl.runtime.engine.Engine.shortcuts: plain-Python conditions tried first with missing
values ABSENT; words that skip the unknown-condition check when nothing was decided over
completions) and missing_because computed once per case must not change one byte of
`hgl run --cases` output: a generated cohort (guidelines/her2_mbc_cohort.py) is run at every
explanation level with and without them.
"""

from __future__ import annotations

import datetime
import io
import json
import sys

import pytest

from hgl.runtime.api import Guideline
from hgl.runtime.batch import run_batch
from hgl.runtime.logic import plain_to_try
from hgl.runtime.logic import ABSENT, Touched, Unknown

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "guidelines"))
from her2_mbc_cohort import records as cohort_records  # noqa: E402

N_CASES = 2500


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cohort") / "cohort.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cohort_records(N_CASES, seed=11, extra=False)),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(her2):
    """The same compiled module, on an engine with the shortcuts off."""
    g = Guideline(her2.module)
    g.engine.shortcuts = False
    return g


def _batch(guideline, path, explain):
    out = io.StringIO()
    summary = run_batch(guideline, path, out, progress=False, jobs=1, explain=explain)
    return out.getvalue(), summary


@pytest.mark.parametrize("explain", ["full", "short", "none"])
def test_batch_output_identical_without_shortcuts(her2, reference, cohort_file, explain):
    fast, summary = _batch(her2, cohort_file, explain)
    slow, _ = _batch(reference, cohort_file, explain)
    assert summary["cases"] == N_CASES and summary["errors"] == 0
    # the cohort exercises what the shortcuts touch: missing inputs decided, and needs_data results
    assert summary["by_status"].get("needs_data", 0) > N_CASES // 20
    assert fast == slow


def test_cohort_cases_all_have_missing_inputs(her2, cohort_file):
    """Realistic: every record leaves something out (the shortcut path, not the complete-case one)."""
    lines = cohort_file.read_text(encoding="utf-8").splitlines()[:200]
    assert all(any(type(v) is Unknown for v in her2.validate(json.loads(x)).values()) for x in lines)


def test_missing_because_once_per_case_agrees_with_per_input(her2, cohort_file):
    words = None
    checked = 0
    for line in cohort_file.read_text(encoding="utf-8").splitlines():
        r = her2.evaluate(json.loads(line))
        if not r.missing:
            continue
        words = words or r.words
        assert words.missing_all(r.missing, r) == [words.missing(n, r) for n in r.missing]
        checked += 1
    assert checked > N_CASES // 20


# every way plain Python code can use a value: each must read it (raise Touched), none may pass silently
USES = [
    ("equal", lambda x: x == "a"), ("equal reflected", lambda x: "a" == x), ("not equal", lambda x: "a" != x),
    ("less", lambda x: 3 < x), ("less reflected", lambda x: x < 3), ("at most", lambda x: x <= 3),
    ("at least reflected", lambda x: 3 >= x), ("truth", lambda x: not x), ("and then", lambda x: x and True),
    ("member of a set", lambda x: x in frozenset("ab")), ("member of a tuple", lambda x: x in ("b", "c")),
    ("contains", lambda x: "a" in x), ("union", lambda x: frozenset("a") | x), ("union reflected", lambda x: x | frozenset()),
    ("subset", lambda x: frozenset() <= x), ("isdisjoint argument", lambda x: frozenset("a").isdisjoint(x)),
    ("method", lambda x: x.isdisjoint(frozenset())), ("minimum", lambda x: min(x, 3)), ("sum", lambda x: 1 + x),
    ("difference", lambda x: x - 1), ("date difference", lambda x: datetime.date(2020, 1, 1) - x),
    ("product", lambda x: 2 * x), ("quotient", lambda x: 2 / x), ("negation", lambda x: -x),
    ("dict key", lambda x: {"a": 1}.get(x)), ("length", lambda x: len(x)), ("bool", lambda x: bool(x)),
]


@pytest.mark.parametrize("name, use", USES, ids=[u[0] for u in USES])
def test_absent_raises_on_every_use(name, use):
    with pytest.raises(Touched):
        use(ABSENT)


def test_plain_variant_folding_is_missing_is_never_tried(her2):
    """A plain variant folds `x is missing` to a constant: tried with ABSENT values it would lie."""
    m = her2.module
    known = m.KNOWN
    tried = {fn.__name__: plain_to_try(fn, known) is not None
             for fn in [d.fn for d in m.DEFINITIONS] + [r.when for r in m.RULES if r.when is not None]}
    uses_missing = {name for name in tried if "is_missing" in _code_names_of(getattr(m, name))}
    assert uses_missing  # the HER2 guideline has such conditions
    assert not any(tried[name] for name in uses_missing)
    assert all(tried[name] for name in tried if name not in uses_missing and name in known)


def _code_names_of(fn):
    names = set(fn.__code__.co_names)
    for c in fn.__code__.co_consts:
        if hasattr(c, "co_names"):
            names |= set(c.co_names)
    return names
