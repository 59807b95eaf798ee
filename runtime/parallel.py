"""Every core for a batch: worker processes, results in input order, memory bounded.

`ordered_map(fn, items, jobs)` runs `fn` over a stream of items in `jobs` worker processes and
yields the results in the order of the items, with at most `window` items in flight: the
input is read as the output is written, so memory does not grow with the number of cases.
`jobs=1` runs in this process, through the same functions.

A batch (`hgl run --cases`) is read in this process (`hgl.runtime.batch.read_cases`: one
reader, one set of error records) and cut into chunks of cases; each worker validates,
evaluates and encodes its chunk (`hgl.runtime.batch.evaluate_record` for each case) and sends
back the output lines with their tallies for the summary.  Workers are started with `spawn`
(the same on every platform) and get the guideline by pickle, i.e. by its module's source
(hgl.runtime.portable).
"""

from __future__ import annotations

import collections
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

CHUNK = 512  # cases per task: large enough that inter-process traffic is noise, small for a short tail
SMALL_INPUT = 1 << 18  # bytes: below this a batch runs in this process (starting workers costs more)


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

def ordered_map(fn, items, jobs: int, initializer=None, initargs=(), window: int | None = None):
    """fn(item) for each item, yielded in order; `jobs` processes, at most `window` items in flight."""
    if jobs <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            yield fn(item)
        return
    window = window or 4 * jobs
    ctx = multiprocessing.get_context("spawn")
    pending: collections.deque = collections.deque()
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=initializer, initargs=initargs) as pool:
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


def init_batch(guideline, checked, is_csv, explain):
    """Worker set-up: the guideline (unpickled from its source), checked parameters, the level."""
    from .batch import evaluate_record

    specs = {s.name: s for s in guideline.inputs}
    _state["run"] = lambda lineno, case: evaluate_record(guideline, checked, specs, is_csv, lineno, case, explain)


def evaluate_chunk(chunk):
    """[(output line, tally)] for a chunk of (line number, case, or the errors of a CaseError)."""
    from .schema import CaseError

    run = _state["run"]
    return [run(lineno, CaseError(case[1]) if type(case) is tuple else case) for lineno, case in chunk]


def chunked(items, size: int = CHUNK):
    """Lists of `size` (line number, case) items (the last one shorter), as plain data: a CaseError
    travels as ("error", its errors) (an exception does not unpickle with its fields)."""
    from .schema import CaseError

    chunk = []
    for item in items:
        if isinstance(item[1], CaseError):
            item = (item[0], ("error", item[1].errors))
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def batch_results(guideline, checked, is_csv, records, explain: str = "full", jobs: int = 2):
    """(output line, tally) for each (line number, case) of `records`, in order, in `jobs` processes."""
    for block in ordered_map(evaluate_chunk, chunked(records), jobs, init_batch,
                             (guideline, checked, is_csv, explain)):
        yield from block
