"""`hgl docs --serve` (compiler/docs/serve.py): rebuild on save, reload open tabs, survive a broken source.

One server runs through a table of steps (edit the guideline, then poll a page until it shows what
the step expects); polling is bounded by a generous timeout, never asserted on time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hgl.compiler.docs.serve import watched_paths, with_banner

DATA = Path(__file__).parent / "data"
TIMEOUT = 60  # seconds: a bound on each wait, not a measurement
PAGE = "small/sections/main.html"  # the page of the section that holds rule r_prefer "Prefer A"
BANNER = 'id="hgl-build-failed"'


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
        return resp.read().decode("utf-8")


def _wait(what: str, probe):
    """Poll probe() until it returns a true value; fail (with the last value) after TIMEOUT."""
    deadline, last = time.monotonic() + TIMEOUT, None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; last: {str(last)[:2000]}")


BROKEN = "\nrule <script>alert(1)</script>\n"  # a syntax error whose excerpt must be escaped on the page
DIAGNOSTIC = r"small\.hgl:\d+:\d+: error\[HGL\d+\]"
# A scenario: steps run in order against one server; the first step's edit is made before it starts.
# (step, edit of the original text, page, text the page must show, text it must not show, stderr pattern)
SCENARIOS = {
    "edit, break, fix": [
        ("first build", None, PAGE, ["Prefer A", "livereload("], [BANNER], None),
        ("rule title edited", lambda s: s.replace('"Prefer A"', '"Prefer A, edited"'), PAGE,
         ["Prefer A, edited", "livereload("], [BANNER], None),
        ("syntax error: last good build and an escaped banner", lambda s: s + BROKEN, PAGE,
         [BANNER, "this is the last good build", "Prefer A, edited", "&lt;script&gt;alert(1)", "livereload("],
         ["<script>alert(1)"], DIAGNOSTIC),
        ("fixed again", lambda s: s.replace('"Prefer A"', '"Prefer A, fixed"'), PAGE,
         ["Prefer A, fixed"], [BANNER], None),
    ],
    "broken from the start": [
        ("no good build: a page saying so", lambda s: s + BROKEN, "",
         [BANNER, "no build has succeeded yet", "&lt;script&gt;alert(1)", "livereload("], ["<script>alert(1)"],
         DIAGNOSTIC),
        ("fixed", lambda s: s, PAGE, ["Prefer A", "livereload("], [BANNER], None),
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_serve_rebuilds_on_save_and_survives_errors(tmp_path, scenario):
    steps = SCENARIOS[scenario]
    guideline = tmp_path / "small.hgl"
    original = (DATA / "small.hgl").read_text(encoding="utf-8")
    guideline.write_text(steps[0][1](original) if steps[0][1] else original, encoding="utf-8")
    scratch = tmp_path / "tmp"  # the server's builds go to a temporary folder: it must be gone at the end
    scratch.mkdir()
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = {**os.environ, "TMPDIR": str(scratch)}
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([sys.executable, "-m", "hgl.compiler.cli", "docs", "small.hgl", "--serve",
                                 "--port", "0"], cwd=tmp_path, stdout=o, stderr=e, env=env)
    try:
        port = _wait("the server to say its port", lambda: re.search(
            r"serving on http://127\.0\.0\.1:(\d+)/", out.read_text(encoding="utf-8")))[1]
        epoch = None
        for number, (step, edit, path, shows, hides, stderr) in enumerate(steps):
            if edit is not None and number > 0:
                guideline.write_text(edit(original), encoding="utf-8")
            url = f"http://127.0.0.1:{port}/{path}"
            page = _wait(f"{step}: {shows}", lambda: (lambda p: p if all(s in p for s in shows)
                                                      and not any(h in p for h in hides) else None)(_get(url)))
            if stderr:
                assert re.search(stderr, err.read_text(encoding="utf-8")), step
            seen = int(re.search(r"livereload\((\d+),", page)[1])
            if epoch is not None:  # what makes an open tab reload: the poll answers with a newer epoch
                assert seen > epoch, step
                assert int(_get(f"http://127.0.0.1:{port}/livereload/{epoch}/1")) >= seen, step
            epoch = seen
        assert proc.poll() is None, "the server stopped"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, err.read_text(encoding="utf-8")
    assert "stopped" in out.read_text(encoding="utf-8")
    assert "Traceback" not in err.read_text(encoding="utf-8")
    assert list(scratch.iterdir()) == []


BANNER_CASES = [
    # (page, failure text, the result starts with, it shows, it does not show)
    (b"<html><body class=x><p>hi</p></body></html>", "a.hgl:1:2: error <b>&",
     b'<html><body class=x><div id="hgl-build-failed"', b"a.hgl:1:2: error &lt;b&gt;&amp;</pre>", b"<b>&"),
    (b"<p>no body tag</p>", "x'\"", b'<div id="hgl-build-failed"', b"x&#x27;&quot;</pre></div><p>no body", b"x'"),
]


@pytest.mark.parametrize("page,failure,start,shows,hides", BANNER_CASES)
def test_banner_is_escaped_and_follows_body(page, failure, start, shows, hides):
    shown = with_banner(page, failure)
    assert shown.startswith(start) and shows in shown and hides not in shown
    assert shown.endswith(b"</pre></div>" + page[len(start) - len(b'<div id="hgl-build-failed"'):])


def test_watched_paths(tmp_path):
    for name in ("g.hgl", "g.cases.yaml", "other.cases.yaml", "notes.txt", "more.yaml"):
        (tmp_path / name).write_text("", encoding="utf-8")
    pages = tmp_path / "pages"
    pages.mkdir()
    got = watched_paths([tmp_path / "g.hgl"], {"g": [tmp_path / "more.yaml"]}, pages_dir=pages,
                        config_file=tmp_path / "missing.yml", templates=pages)
    assert [p.name for p in got] == ["g.hgl", "g.cases.yaml", "other.cases.yaml", "more.yaml", "pages"]
