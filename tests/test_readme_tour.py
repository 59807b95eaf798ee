"""The README tour runs as written (issue 14): every command of the ```sh block under
"## A short tour", in order, in a copy of guidelines/ (so outputs such as build/ and
results.csv land in a temporary folder), each with its exit status and a key line of output.

The README and this table cannot drift apart: a tour command without an entry in EXPECT fails,
and so does an entry (or an EXCLUDED command) the tour no longer has.  Deviations from "as
written", all here:

- EXCLUDED commands are not run (the reason says which test covers them instead);
- `hgl serve` is started with `--port 0` (a free port; the tour's 8080 may be taken), its
  printed URL is fetched (`/` must answer with the service's index), then it is stopped;
- `hgl docs` gets `-o`/`--docs-dir` in the temporary folder (by default it writes the
  checkout's site/build) and `--no-verify` (the verification page alone can take minutes on a
  cold cache; tests/test_docs.py covers it), and is skipped, with the reason, when ../shared
  is not beside the clone (the README's set-up section says why);
- `hgl lsp` reads an empty standard input (it ends at once).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, SHARED

README = ROOT / "README.md"

# command as written (without its comment) -> (exit status, regex over stdout + stderr,
#                                              {file written: regex over its text})
EXPECT = {
    "hgl check guidelines/her2_mbc.hgl": (0, r"guidelines/her2_mbc\.hgl: ok", {}),
    "hgl check --format json guidelines/her2_mbc.hgl": (0, r"^\[", {}),
    "hgl check --verify guidelines/her2_mbc.hgl": (0, r"guidelines/her2_mbc\.hgl: ok", {}),
    "hgl build guidelines/her2_mbc.hgl -o build/": (0, r"wrote build/her2_mbc\.py", {"build/her2_mbc.py": r"\bRULES\b"}),
    "hgl run guidelines/her2_mbc.hgl --case guidelines/examples/second_line.yaml":
        (0, r"RECOMMENDATION\nPreferred:\n  - t_dxd: ", {}),
    "hgl run guidelines/her2_mbc.hgl --case guidelines/examples/relapse_9_months.json --format json "
    "--param early_relapse_policy=asco": (0, r'"status": "recommendation"', {}),
    "hgl run guidelines/her2_mbc.hgl --case guidelines/examples/relapse_9_months.json --why-not t_dm1":
        (0, r"Why not t_dm1:", {}),
    "hgl run guidelines/her2_mbc.hgl --cases guidelines/examples/her2_mbc_cohort.jsonl -o results.jsonl":
        (0, r"200 case\(s\), 0 invalid", {"results.jsonl": r'^\{"guideline":'}),
    "hgl run guidelines/her2_mbc.hgl --cases guidelines/examples/her2_mbc_cohort.jsonl -o results.csv":
        (0, r"200 case\(s\), 0 invalid",
         {"results.csv": r"^case,status,preferred,alternative,avoid,flags,missing,inconsistent,governing,error\n1,"}),
    "hgl cohort guidelines/her2_mbc.hgl --input guidelines/examples/her2_mbc_cohort.parquet -o build/cohort.parquet "
    "--concordance treatment_started": (0, r"200 patient\(s\), 0 invalid", {"build/cohort.report/index.html": r"(?i)<html"}),
    "hgl test guidelines/her2_mbc.hgl --cases guidelines/her2_mbc.cases.yaml --coverage":
        (0, r"rule coverage: (\d+)/\1 rules fired[\s\S]* passed, 0 failed", {}),
    "hgl schema guidelines/her2_mbc.hgl": (0, r'"\$schema": "https://json-schema.org/', {}),
    "hgl diff guidelines/examples/her2_mbc.previous.hgl guidelines/her2_mbc.hgl": (0, r"Behaviour", {}),
    "hgl docs --cases her2_mbc=../shared/clinical/vignettes.yaml": (0, r"built the site", {}),
    "hgl serve guidelines/her2_mbc.hgl": (None, None, {}),
    "hgl serve guidelines/her2_mbc.hgl --no-auth --cors-origin https://sandbox.cds-hooks.org": (None, None, {}),
    "hgl export --format fhir guidelines/her2_mbc.hgl -o build/":
        (0, r"wrote build/her2_mbc\.fhir\.json", {"build/her2_mbc.fhir.json": r'"resourceType": "Bundle"'}),
    "hgl case-from-fhir guidelines/her2_mbc.hgl guidelines/examples/second_line.bundle.json":
        (0, r'her2_status_primary: "positive"', {}),
    "hgl fmt guidelines/her2_mbc.hgl": (0, None, {}),
    "hgl lsp": (0, None, {}),
}

EXCLUDED = {  # command as written -> why it is not run here
    "hgl test guidelines/her2_mbc.hgl --cases guidelines/her2_mbc.cases.yaml --mutate":
        "750 mutants take minutes and report survivors (exit 1); tests/test_mutate.py covers the command",
}


def tour() -> list[tuple[str, list[str]]]:
    """(command without its comment, argv) for each command line of the tour's shell block."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## A short tour\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the tour has no ```sh block"
    commands = []
    for line in block.group(1).splitlines():
        argv = shlex.split(line, comments=True)
        if argv and argv[0] != ".":  # `. .venv/bin/activate`: the test runs the venv's hgl
            commands.append((shlex.join(argv), argv))
    return commands


TOUR = tour()


def test_every_tour_command_has_an_expectation():
    written = [c for c, _ in TOUR]
    assert len(written) == len(set(written)), "a command appears twice in the tour"
    assert [c for c in written if c not in EXPECT and c not in EXCLUDED] == [], \
        "a README tour command has no expectation in tests/test_readme_tour.py: add one"
    assert [c for c in list(EXPECT) + list(EXCLUDED) if c not in written] == [], \
        "tests/test_readme_tour.py expects a command the README tour no longer has"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder shaped like a clone: guidelines/ copied, ../shared linked when it exists."""
    top = tmp_path_factory.mktemp("tour")
    repo = top / "main"
    shutil.copytree(ROOT / "guidelines", repo / "guidelines",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if SHARED.parent.is_dir():
        (top / "shared").symlink_to(SHARED.parent, target_is_directory=True)
    return repo


def _hgl(argv: list[str]) -> list[str]:
    script = Path(sys.executable).with_name("hgl")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "hgl.compiler.cli"]
    return head + argv[1:]


def _env() -> dict:
    return {**os.environ, "NO_COLOR": "1"}


def _serve(argv, cwd) -> None:
    """Start the server on a free port, fetch the URL it prints, check the index, stop it."""
    proc = subprocess.Popen(_hgl(argv) + ["--port", "0"], cwd=cwd, env=_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in proc.stderr:  # the line naming the URL comes once the socket is bound
            seen.append(line)
            m = re.search(r" on (http://\S+?/) ", line)
            if m:
                break
        else:
            pytest.fail("hgl serve printed no URL:\n" + "".join(seen))
        with urllib.request.urlopen(m.group(1), timeout=30) as response:
            assert response.status == 200
            index = json.load(response)
        assert [g["id"] for g in index["guidelines"]] == ["her2_mbc"]
        paths = {e["path"] for e in index["endpoints"]}
        assert {"/", "/health", "/openapi.json", "/cds-services", "/guidelines/her2_mbc/evaluate"} <= paths
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.mark.slow
@pytest.mark.parametrize("command, argv", TOUR, ids=[c[:70] for c, _ in TOUR])
def test_tour_command_runs_as_written(workspace, tmp_path, command, argv):
    if command in EXCLUDED:
        pytest.skip(EXCLUDED[command])
    assert command in EXPECT, "no expectation: see test_every_tour_command_has_an_expectation"
    status, pattern, files = EXPECT[command]
    if argv[:2] == ["hgl", "serve"]:
        _serve(argv, workspace)
        return
    if argv[:2] == ["hgl", "docs"]:
        if not (SHARED / "vignettes.yaml").exists():
            pytest.skip(f"{SHARED}/vignettes.yaml not found (the README's set-up section says where it goes)")
        argv = argv + ["-o", str(tmp_path / "site"), "--docs-dir", str(tmp_path / "docs"), "--no-verify"]
    done = subprocess.run(_hgl(argv), cwd=workspace, env=_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == status, f"{command}\nexit {done.returncode}\n{output[-3000:]}"
    assert "Traceback" not in output
    if pattern:
        assert re.search(pattern, output, re.M), f"{command}: no match for {pattern!r} in\n{output[-3000:]}"
    for name, want in files.items():
        text = (workspace / name).read_text(encoding="utf-8")
        assert re.search(want, text), f"{command}: {name} does not match {want!r}"


# ---------------------------------------------------------------- make without ../shared

MAKE_WITHOUT_SHARED = [  # (make arguments, dry run?, exit status, lines that must appear, text that must not)
    (["test"], False, 2, ["make test: {missing}/SPEC.md and {missing}/vignettes.yaml were not found.",
                          "Put the project's shared/ folder beside this clone,"], "rule coverage"),
    (["demo"], True, 0, ['echo "NOTE: $NO_SHARED"',
                         ".venv/bin/hgl test guidelines/her2_mbc.hgl --cases guidelines/her2_mbc.cases.yaml  --coverage",
                         ".venv/bin/hgl docs --previous her2_mbc=guidelines/examples/her2_mbc.previous.hgl \n"], "vignettes.yaml --"),
]


@pytest.mark.parametrize("args, dry, status, lines, absent", MAKE_WITHOUT_SHARED)
def test_make_explains_a_missing_shared_folder(tmp_path, args, dry, status, lines, absent):
    """`make demo` skips the vignette steps with a notice, `make test` stops with a message
    (README, set-up); `env` is taken as done (-o), so nothing is installed."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    missing = tmp_path / "no-shared" / "clinical"
    cmd = ["make", "--no-print-directory", "-o", "env", "-o", ".venv/.installed-stamp",
           *(["-n"] if dry else []), *args, f"SHARED={missing}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == status, output
    for line in lines:
        assert line.format(missing=missing) in output + "\n", output
    assert absent not in output


def test_readme_sample_output_is_the_output(workspace):
    """The README's "... prints:" block is the start of what the command prints ("  ..." ends it)."""
    text = README.read_text(encoding="utf-8")
    m = re.search(r"^`(hgl run [^`]+)` prints:\n\n```\n(.*?)```", text, re.S | re.M)
    assert m, "the README no longer shows a sample output"
    shown = m.group(2).splitlines()
    shown = shown[:shown.index("  ...")] if "  ..." in shown else shown
    done = subprocess.run(_hgl(shlex.split(m.group(1))), cwd=workspace, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:len(shown)] == shown
