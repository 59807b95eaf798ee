"""The public vignettes and the guideline's own cases, one test per case."""

from __future__ import annotations

import pytest

from hgl.runtime.casefile import check_expectations, load_case_file, merged_case

from .conftest import OWN_CASES, VIGNETTES


def _cases(path):
    if not path.exists():
        return []
    base, cases = load_case_file(path)
    return [pytest.param(base, c, id=f"{path.stem}:{c['id']}") for c in cases]


@pytest.mark.parametrize("base,case", _cases(VIGNETTES) + _cases(OWN_CASES))
def test_case(her2, base, case):
    result = her2.evaluate(merged_case(base, case), case.get("params") or {})
    assert check_expectations(result, case.get("expect") or {}) == []


def test_vignettes_are_present():
    assert VIGNETTES.exists(), "../shared/clinical/vignettes.yaml is part of the acceptance test"
    assert len(_cases(VIGNETTES)) >= 60


def test_hgl_test_command_runs_both_case_files_with_full_coverage(capsys):
    from hgl.compiler.cli import main

    from .conftest import GUIDELINE

    rc = main(["test", str(GUIDELINE), "--cases", str(OWN_CASES), "--cases", str(VIGNETTES),
               "--coverage", "--require-coverage"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "FAIL" not in out
    total = len(_cases(VIGNETTES)) + len(_cases(OWN_CASES))
    assert f"{total} passed, 0 failed" in out
    assert "rule coverage: " in out and "not fired" not in out
