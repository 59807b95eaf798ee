"""Shared fixtures: paths, the loaded HER2 guideline, a private compile cache, golden files.

Golden files (tests/golden/) hold expected output byte for byte. Every test that uses one goes
through the `golden` fixture (`golden.check(path, text)`, `golden.check_dir(folder, files)`):
a difference fails, and so does a missing golden file -- it is never written silently. To
(re)write them from the current output, run

    .venv/bin/pytest --update-golden        # or HGL_UPDATE_GOLDEN=1 .venv/bin/pytest

then review the change with `git diff tests/golden` before committing it. The same switch
(`golden.update`) makes tests/test_diagnostics.py refresh the examples in site/pages/diagnostics.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDELINE = ROOT / "guidelines" / "her2_mbc.hgl"
SHARED = ROOT.parent / "shared" / "clinical"
VIGNETTES = SHARED / "vignettes.yaml"
OWN_CASES = ROOT / "guidelines" / "her2_mbc.cases.yaml"

REGENERATE = ".venv/bin/pytest --update-golden (or HGL_UPDATE_GOLDEN=1), then review `git diff tests/golden`"

# The head of the small guidelines tests write inline (metadata and one provenance tag `t`).
SMALL_HEADER = '''guideline g
  title "T"
  version "1"
  status draft
  source "S"
  disclaimer "D"
end
provenance t "t"
'''


def load_text(text: str, tag: str = "t"):
    """Compile a guideline given as text and load it (no cache); fails the test on a compile error."""
    from hgl.compiler.front.source import Source
    from hgl.compiler.pipeline import compile_source
    from hgl.runtime.api import Guideline, load_module_source

    result = compile_source(Source("g.hgl", text))
    assert result.ok, [(d.span.line, d.code, d.message) for d in result.errors]
    return Guideline(load_module_source(result.code, f"hgl_{tag}_{result.source.sha256[:12]}"))


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current output instead of comparing")


def pytest_configure(config):
    os.environ.setdefault("HGL_CACHE_DIR", str(ROOT / ".hgl-cache"))
    config.addinivalue_line("markers", "browser: needs headless Chromium")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


class Golden:
    """Compare output with golden files; write them only when `update` is set."""

    def __init__(self, update: bool):
        self.update = update

    def check(self, path: Path, text: str) -> None:
        path = Path(path)
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        if not path.is_file():
            pytest.fail(f"golden file {_shown(path)} is missing; create it with {REGENERATE}", pytrace=False)
        want = path.read_bytes().decode("utf-8")
        assert text == want, f"{_shown(path)} differs from the output; if the change is intended: {REGENERATE}"

    def check_dir(self, folder: Path, files: dict[str, str]) -> None:
        """A whole folder of golden files: the same names (POSIX paths relative to `folder`), the same texts."""
        folder = Path(folder)
        if self.update:
            for rel, text in files.items():
                self.check(folder / rel, text)
            for old in folder.rglob("*"):
                if old.is_file() and old.relative_to(folder).as_posix() not in files:
                    old.unlink()
            return
        have = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else set()
        missing = sorted(set(files) - have)
        if missing:
            pytest.fail(f"golden files missing under {_shown(folder)}: {', '.join(missing)}; create them with "
                        f"{REGENERATE}", pytrace=False)
        stale = sorted(have - set(files))
        assert not stale, f"golden files under {_shown(folder)} that nothing generates: {stale}; {REGENERATE}"
        for rel in sorted(files):
            self.check(folder / rel, files[rel])


def update_golden_requested(config) -> bool:
    env = os.environ.get("HGL_UPDATE_GOLDEN", "").strip().lower()
    return bool(config.getoption("--update-golden", default=False)) or env not in ("", "0", "false", "no")


@pytest.fixture
def golden(request) -> Golden:
    return Golden(update=update_golden_requested(request.config))


@pytest.fixture(scope="session")
def her2():
    from hgl.runtime import load

    return load(GUIDELINE)
