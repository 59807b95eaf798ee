"""The golden-file helper (tests/conftest.py): a missing golden file fails unless an update is asked for."""

from __future__ import annotations

import pytest

from .conftest import Golden, update_golden_requested

FAILED = pytest.fail.Exception


@pytest.mark.parametrize("stored, update, raises, after", [
    (None, False, FAILED, None),            # missing: fails, and nothing is written
    (None, True, None, "new\n"),            # missing with --update-golden: written
    ("new\n", False, None, "new\n"),        # equal: passes
    ("old\n", False, AssertionError, "old\n"),  # different: fails, file kept
    ("old\n", True, None, "new\n"),         # different with --update-golden: rewritten
])
def test_check(tmp_path, stored, update, raises, after):
    path = tmp_path / "sub" / "out.txt"
    if stored is not None:
        path.parent.mkdir()
        path.write_text(stored, encoding="utf-8")
    if raises:
        with pytest.raises(raises) as info:
            Golden(update).check(path, "new\n")
        assert "--update-golden" in str(info.value)
    else:
        Golden(update).check(path, "new\n")
    assert (path.read_text(encoding="utf-8") if path.exists() else None) == after


@pytest.mark.parametrize("stored, update, raises, after", [
    ({}, False, FAILED, {}),                                    # folder missing
    ({"a.md": "A"}, False, FAILED, {"a.md": "A"}),              # one file missing
    ({"a.md": "A", "b/c.md": "C", "old.md": "O"}, False, AssertionError,
     {"a.md": "A", "b/c.md": "C", "old.md": "O"}),              # a stale file
    ({"a.md": "A", "b/c.md": "x"}, False, AssertionError, {"a.md": "A", "b/c.md": "x"}),  # different
    ({"a.md": "A", "b/c.md": "C"}, False, None, {"a.md": "A", "b/c.md": "C"}),            # equal
    ({"a.md": "x", "old.md": "O"}, True, None, {"a.md": "A", "b/c.md": "C"}),             # updated, stale removed
])
def test_check_dir(tmp_path, stored, update, raises, after):
    folder = tmp_path / "golden"
    for rel, text in stored.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    files = {"a.md": "A", "b/c.md": "C"}
    if raises:
        with pytest.raises(raises, match="--update-golden"):
            Golden(update).check_dir(folder, files)
    else:
        Golden(update).check_dir(folder, files)
    found = {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
             for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}
    assert found == after


@pytest.mark.parametrize("env, option, want", [
    (None, False, False), ("", False, False), ("0", False, False), ("1", False, True), (None, True, True),
])
def test_update_requested_by_option_or_env(pytestconfig, monkeypatch, env, option, want):
    if env is None:
        monkeypatch.delenv("HGL_UPDATE_GOLDEN", raising=False)
    else:
        monkeypatch.setenv("HGL_UPDATE_GOLDEN", env)
    monkeypatch.setattr(pytestconfig.option, "update_golden", option)
    assert update_golden_requested(pytestconfig) is want
