"""Verification stage, running the checks: phases, worker processes and progress.

The verifier's checks fall into independent phases (dead rules, conflicts, exclusive sections,
gaps and no-preferred regions).  Each phase runs in a process forked once the encoding is
built (nothing is pickled but the findings), on fresh solvers over the shared encoding, so its
findings do not depend on which phases ran before it or where: `--jobs N` runs N phases at a
time and merges their findings in phase order, giving the same output for any N.

Progress goes to stderr, only when asked (`--progress`) or when stderr is a terminal.
"""

from __future__ import annotations

import multiprocessing
import sys
import time

PHASES = ("_dead_rules", "_conflicts", "_exclusive", "_gap_phase")
LABELS = {"_dead_rules": "dead rules", "_conflicts": "conflicts", "_exclusive": "exclusive sections",
          "_gap_phase": "gaps"}

_current = None  # the verifier the forked workers run phases of


class Progress:
    """`hgl: verify: conflicts 12/40` lines on stderr, at most a few per second; silent unless enabled."""

    def __init__(self, enabled: bool, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._last = 0.0

    def step(self, phase: str, done: int, total: int):
        if not self.enabled:
            return
        now = time.monotonic()
        if done not in (0, total) and now - self._last < 0.25:
            return
        self._last = now
        end = "\n" if done == total else "\r"
        self.stream.write(f"hgl: verify: {LABELS.get(phase, phase)} {done}/{total}{end}")
        self.stream.flush()


def wants_progress(flag: bool | None) -> bool:
    """--progress given, or stderr is a terminal (and --no-progress not given: flag False)."""
    if flag is not None:
        return flag
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def run(verifier, jobs: int | None = None) -> list:
    """(diagnostics, unconfirmed, queries, gaps_capped) of every phase, in phase order.

    Every phase runs in a process of its own, forked from this one once the encoding is built
    (also with jobs=1): z3's answers depend on the terms its context has seen, so a phase must
    start from the same context whichever phases ran before it, or where.  Without fork (not
    Linux or macOS) the phases run here, one after the other.
    """
    global _current
    if not jobs:  # None or 0: every core this process may use (each phase forks anyway)
        from hgl.runtime.parallel import default_jobs

        jobs = default_jobs()
    jobs = max(1, min(jobs, len(PHASES)))
    if "fork" not in multiprocessing.get_all_start_methods():
        return [verifier.phase(name) for name in PHASES]
    _current = verifier
    try:
        with multiprocessing.get_context("fork").Pool(jobs, maxtasksperchild=1) as pool:
            return pool.map(_run_phase, PHASES, chunksize=1)
    finally:
        _current = None


def _run_phase(name: str):
    return _current.phase(name)
