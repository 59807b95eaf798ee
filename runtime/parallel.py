"""Every core for a batch: worker processes, results in input order, memory bounded.

`ordered_map(fn, items, jobs)` runs `fn` over a stream of items in `jobs` worker processes and
yields the results in the order of the items, with at most `window` items in flight: the
input is read as the output is written, so memory does not grow with the number of cases.
`jobs=1` runs in this process, through the same functions.

A batch (`hgl run --cases`) is only cut into chunks in this process
(`hgl.runtime.batch.batch_chunks`: for JSON Lines, 128 KB to 512 KB of whole lines as raw bytes
with the number of their first line; nothing is decoded or parsed here); each worker splits,
decodes, parses, validates, evaluates and encodes its chunk and sends back one text (its
output lines) with a tally for the summary, so this process costs 1-3% of the work and the
workers have the cores (CSV is parsed here: a quoted cell may hold a newline, so the file
cannot be cut at any newline; the rows travel as lists of cells).  Workers of a batch are
forked where that is safe (Linux, and this process has no other thread: `start_method`), so they
start with the guideline already loaded and its straight-line code made (about 0.2 s of CPU
saved per worker, a tenth of the work of 10,000 cases); elsewhere, and for every other pool,
they are started with `spawn` and get the guideline by pickle, i.e. by its module's source
(hgl.runtime.portable).
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import pickle
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

SMALL_INPUT = 1 << 22  # bytes: below this a batch runs in this process unless --jobs says otherwise
# (each worker costs ~0.2 s of CPU to start; 4,000 realistic HER2 cases, 3.9 MB, ran as fast in one process)


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def resolve_jobs(jobs: int | None, path=None) -> int:
    """`--jobs`: None or 0 = every core, except for a small input file (one process)."""
    if jobs is None or jobs <= 0:
        if path is not None:
            try:
                if os.path.getsize(path) < SMALL_INPUT:
                    return 1
            except OSError:
                pass
        return default_jobs()
    return jobs


# ------------------------------------------------------------------ the ordered pool

def start_method(fork: bool) -> str:
    """How worker processes start: `fork` when asked for and safe, else `spawn`.

    Safe means Linux (elsewhere fork is unsafe or unavailable) and no other thread in this
    process, Python's or a library's own (counted by the kernel: /proc/self/task): a forked
    child has only the thread that forked, and a lock another thread held at that moment would
    stay locked in it.  ProcessPoolExecutor forks every worker before it starts its own threads."""
    if not fork or sys.platform != "linux":
        return "spawn"
    try:
        return "fork" if len(os.listdir("/proc/self/task")) == 1 else "spawn"
    except OSError:
        return "spawn"


def ordered_map(fn, items, jobs: int, initializer=None, initargs=(), window: int | None = None,
                fork: bool = False):
    """fn(item) for each item, yielded in order; `jobs` processes, at most `window` items in flight.

    `fork`: start the workers by forking this process where that is safe (`start_method`); they
    then share what it has loaded, and `initargs` are not pickled."""
    if jobs <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            yield fn(item)
        return
    window = window or 4 * jobs
    method = start_method(fork)
    ctx = multiprocessing.get_context(method)
    items = iter(items)
    setup = None
    if initializer is not None and initargs and method == "spawn":
        # Through a file: initargs go in the pickled process object, and a large one (a guideline:
        # ~300 KB) blocks starting each worker until that worker has imported its modules (~0.15 s each,
        # one after the other); a path starts them at once, and this process is free meanwhile.
        fd, setup = tempfile.mkstemp(prefix="hgl-workers-", suffix=".pickle")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(initargs, fh, protocol=pickle.HIGHEST_PROTOCOL)
        initializer, initargs = _start_worker, (initializer, setup)
    try:
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=initializer, initargs=initargs) as pool:
            yield from _in_order(pool, fn, items, window)
    finally:
        if setup is not None:
            os.unlink(setup)


def _start_worker(initializer, setup):
    """A worker's initializer, its arguments read from the file `ordered_map` wrote."""
    with open(setup, "rb") as fh:
        initializer(*pickle.load(fh))


def _in_order(pool, fn, items, window):
    """The results of the pool, in order (see `ordered_map`)."""
    pending: collections.deque = collections.deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:  # an error or an abandoned generator: do not run the rest
            f.cancel()


# ------------------------------------------------------------------ batch chunks

_state: dict = {}


def init_batch(guideline, checked, is_csv, explain, max_line=None):
    """Worker set-up: the guideline (unpickled from its source), checked parameters, the level."""
    from .batch import chunk_evaluator

    _state["run"] = chunk_evaluator(guideline, checked, is_csv, explain, max_line)


def evaluate_chunk(chunk):
    """(output text, tally) of a chunk of hgl.runtime.batch.batch_chunks, in a worker."""
    return _state["run"](chunk)


def batch_results(guideline, checked, is_csv, chunks, explain: str = "full", jobs: int = 2, max_line=None):
    """(output text, tally) for each chunk of `chunks`, in order, in `jobs` worker processes
    (forked where safe, after this process made the engine's straight-line code once for all)."""
    fork = start_method(True) == "fork"
    if fork:
        guideline.engine.make_straight()
    return ordered_map(evaluate_chunk, chunks, jobs, init_batch, (guideline, checked, is_csv, explain, max_line),
                       fork=fork)
