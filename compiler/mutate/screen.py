"""Mutation testing, screening: mutants -> a verdict each (killed, equivalent, told apart, not compiled).

Each mutant goes through the code generator, is loaded in process, and runs the cases until one
fails; a mutant no case kills is put to the solver (run.Equivalence.same).  Mutants are screened
in fixed chunks of consecutive mutants, each chunk with its own last-killer-first order of the
cases, so a verdict and its killing case do not depend on which process screened the chunk;
with `workers` > 1 the chunks run in forked worker processes (where `fork` exists).  The
witness of a mutant the solver tells apart is found afterwards, in the calling process.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field

CHUNK = 24  # consecutive mutants screened together (they often die on the same case)
WORKERS = 2  # worker processes by default: the project's machines have 2 cores


@dataclass
class Context:
    """What a screen needs: the checked original, the usable cases, the mutants, the shared encoder."""

    original: object  # the CompileResult of the original guideline
    reference: object  # the original, loaded (hgl.runtime.api.Guideline)
    usable: list  # run.Case, every one passing on the original
    todo: list  # operators.Mutation, in source order
    decide: bool
    base: dict  # the first case file's base (for minimising witnesses)
    _equivalence: object = field(default=None, repr=False)

    def equivalence(self):
        """The solver side, encoded once per process when the first mutant survives the cases."""
        if self._equivalence is None:
            from hgl.compiler.mutate.run import Equivalence

            self._equivalence = Equivalence(self.original, self.reference, self.base)
        return self._equivalence


# verdict of one mutant: (index in todo, verdict, index of the killing case or None, note)
# verdict is "killed", "equivalent", "survived" (told apart by the solver, or decide=False),
# "undecided" (the solver gave up) or "error" (not compiled)

_CONTEXT: Context | None = None  # the context a forked worker inherits


def screen(ctx: Context, pending: list[int], workers: int = WORKERS, progress=None):
    """Yield the verdict of each pending mutant (indices into ctx.todo), chunk by chunk in order."""
    global _CONTEXT
    chunks = [pending[i:i + CHUNK] for i in range(0, len(pending), CHUNK)]
    workers = min(workers, len(chunks))
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        _CONTEXT = ctx
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for part in pool.imap(_chunk_in_worker, chunks):
                    yield from part
                    if progress:
                        progress(len(part))
        finally:
            _CONTEXT = None
        return
    for chunk in chunks:
        part = screen_chunk(ctx, chunk)
        yield from part
        if progress:
            progress(len(part))


def _chunk_in_worker(chunk):
    return screen_chunk(_CONTEXT, chunk)


def screen_chunk(ctx: Context, chunk: list[int]) -> list[tuple]:
    order = list(range(len(ctx.usable)))  # the last killer is tried first: most mutants die on a few cases
    return [screen_one(ctx, n, order) for n in chunk]


def screen_one(ctx: Context, n: int, order: list) -> tuple:
    from hgl.compiler.mutate.operators import apply

    try:
        program = apply(ctx.original.program, ctx.todo[n])
        mutant = compiled(ctx, program)
    except Exception as exc:  # an edit the back end cannot take: reported, left out of the score
        return (n, "error", None, f"{type(exc).__name__}: {exc}")
    killer = _first_failing(mutant, ctx.usable, order)
    if killer is not None:
        return (n, "killed", killer, "")
    if not ctx.decide:
        return (n, "survived", None, "")
    same = ctx.equivalence().same(program)
    return (n, "undecided" if same is None else "equivalent" if same else "survived", None, "")


def compiled(ctx: Context, program):
    """A mutant program through the code generator, loaded in this process."""
    from hgl.compiler.python import codegen
    from hgl.runtime.api import Guideline, load_module_source

    src = ctx.original.source
    return Guideline(load_module_source(codegen.generate(program, src.name, src.sha256), "hgl_mutant"))


def _first_failing(guideline, usable, order) -> int | None:
    from hgl.compiler.mutate.run import fails

    for pos, i in enumerate(order):
        if fails(guideline, usable[i]):
            order.insert(0, order.pop(pos))
            return i
    return None
