"""Mutation testing, run: a guideline and its case files -> every mutant run in process, scored.

Each mutant (compiler/mutate/operators.py) goes through the code generator, is loaded in process
and runs the cases until one fails (the mutant is *killed*; compiler/mutate/screen.py, in 2
worker processes).  A mutant no case kills is handed to the solver with the original
(`Equivalence`, the encoding `hgl diff` uses): no valid case with a different result means
*equivalent* (left out of the score); otherwise a minimised witness, with the expectation the
original guideline gives, is the case that would kill it (`Proposal`), checked by running it
through both versions.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from hgl.compiler.mutate.operators import Mutation, apply, mutations
from hgl.compiler.mutate.screen import WORKERS, Context, compiled, screen
from hgl.runtime.api import Guideline, cache_dir, load_module_source
from hgl.runtime.casefile import check_expectations, load_case_file, merged_case
from hgl.runtime.schema import CaseError

VERSION = "mutate-2"  # part of the cache key: bump when a verdict could change for the same code
VERDICTS = ("killed", "survived", "equivalent", "error")
# the expectation keys a proposal may add after `status` and `preferred`, in the order written
KILLING_KEYS = ("not_preferred", "alternatives", "avoid", "roles", "absent", "flags", "not_flags",
                "missing", "missing_exactly", "inconsistent")


@dataclass(frozen=True)
class Case:
    """One case of a case file, merged with the file's base."""

    file: str
    id: str
    title: str
    case: dict
    params: dict
    expect: dict

    @property
    def name(self) -> str:
        return f"{self.file}::{self.id}"

    @property
    def digest(self) -> str:
        text = json.dumps([self.case, self.params, self.expect], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


@dataclass
class Proposal:
    """A case that kills a surviving mutant: the diff's witness and what the original guideline gives for it."""

    case: dict  # every input, as the runtime reads the witness (None = missing)
    params: dict
    expect: dict
    change: str  # the behavioural change it shows, e.g. "option srs: preferred -> alternative"
    defaults: dict = field(default_factory=dict)  # what an absent input reads as (None = missing)
    spec: tuple = ()  # the SPEC sections of the mutated rule's section, when it has one


@dataclass
class Outcome:
    mutation: Mutation
    verdict: str  # one of VERDICTS
    killed_by: str | None = None
    proposal: Proposal | None = None
    note: str = ""
    also: list = field(default_factory=list)  # other survivors this outcome's proposal kills too
    mutant: object = field(default=None, repr=False, compare=False)  # the loaded survivor, while the run lasts

    def to_dict(self) -> dict:
        out = {**self.mutation.to_dict(), "verdict": self.verdict}
        if self.killed_by:
            out["killed_by"] = self.killed_by
        if self.note:
            out["note"] = self.note
        if self.proposal:
            out["proposal"] = dict(vars(self.proposal))
        return out


@dataclass
class MutationReport:
    guideline: str
    cases: int
    outcomes: list = field(default_factory=list)
    broken: list = field(default_factory=list)  # cases the original guideline fails (not used to kill)
    seconds: float = 0.0
    compiled: int = 0  # mutants compiled in this run (the others' verdicts came from the cache)

    def count(self, verdict: str) -> int:
        return sum(1 for o in self.outcomes if o.verdict == verdict)

    @property
    def score(self) -> float:
        """Killed mutants over non-equivalent ones (mutants that do not compile are left out too)."""
        killed, survived = self.count("killed"), self.count("survived")
        return killed / (killed + survived) if killed + survived else 1.0

    def of(self, verdict: str) -> list:
        return [o for o in self.outcomes if o.verdict == verdict]

    def to_dict(self) -> dict:
        return {"guideline": self.guideline, "cases": self.cases, "mutants": len(self.outcomes),
                **{v: self.count(v) for v in VERDICTS}, "score": round(self.score, 4),
                "seconds": round(self.seconds, 1), "broken": self.broken,
                "equivalent_mutants": [o.to_dict() for o in self.of("equivalent")],
                "surviving_mutants": [o.to_dict() for o in self.of("survived")]}


def load_cases(paths) -> list[Case]:
    out = []
    for path in paths:
        base, cases = load_case_file(path)
        for i, c in enumerate(cases):
            out.append(Case(str(path), str(c.get("id", f"#{i + 1}")), str(c.get("title", "")),
                            merged_case(base, c), dict(c.get("params") or {}), dict(c.get("expect") or {})))
    return out


def fails(guideline: Guideline, case: Case) -> bool:
    """Whether the case notices something wrong: a missed expectation, or an error evaluating it."""
    try:
        return bool(check_expectations(guideline.evaluate(case.case, case.params), case.expect))
    except CaseError:
        return True
    except Exception:  # a mutant that crashes on a case is noticed by that case
        return True


def mutation_test(path, case_paths, *, decide: bool = True, use_cache: bool = True, progress=None,
                  keys=None, workers: int = WORKERS) -> MutationReport:
    """Mutants of the guideline at `path`, run against the case files; survivors decided by the diff.

    decide=False skips the diff (survivors stay `survived`, none is called equivalent); `keys`
    limits the run to those mutation keys; progress(done, total) is called as mutants are done;
    `workers` processes screen the mutants without a cached verdict (compiler/mutate/screen.py).
    """
    from hgl.compiler.front.diagnostics import HglError
    from hgl.compiler.pipeline import compile_source, read_source

    started = time.perf_counter()
    original = compile_source(read_source(path))
    if not original.ok:
        raise HglError(original.source, original.errors)
    source = original.source
    cases = load_cases(case_paths)
    report = MutationReport(str(path), len(cases))
    reference = Guideline(load_module_source(original.code, f"hgl_mutate_{source.sha256[:12]}"))
    usable = []
    for c in cases:
        (report.broken if fails(reference, c) else usable).append(c)
    report.broken = [c.name for c in report.broken]
    by_digest = {c.digest: c for c in usable}
    cache_file = _cache_file(source) if use_cache else None
    cache = _read_cache(cache_file)
    todo = [m for m in mutations(original.program) if keys is None or m.key in keys]
    outcomes: list = [None] * len(todo)
    pending = []
    for n, m in enumerate(todo):
        killer = cache["killed"].get(m.key)
        if killer in by_digest:
            outcomes[n] = Outcome(m, "killed", by_digest[killer].name)
        elif cache["equivalent"].get(m.key) is True and decide:
            outcomes[n] = Outcome(m, "equivalent")
        else:
            pending.append(n)
    done = [len(todo) - len(pending)]

    def step(k):
        done[0] += k
        if progress:
            progress(done[0], len(todo))

    ctx = Context(original, reference, usable, todo, decide,
                  load_case_file(case_paths[0])[0] if case_paths else {})
    for n, verdict, killer, note in screen(ctx, pending, workers, step):
        m = todo[n]
        if verdict == "killed":
            cache["killed"][m.key] = usable[killer].digest
            outcomes[n] = Outcome(m, "killed", usable[killer].name)
        elif verdict == "equivalent":
            cache["equivalent"][m.key] = True
            outcomes[n] = Outcome(m, "equivalent")
        elif verdict == "undecided":
            outcomes[n] = Outcome(m, "survived", note="the solver could not decide whether a valid case tells it apart")
        elif verdict == "error":
            outcomes[n] = Outcome(m, "error", note=note)
        else:
            if decide:
                cache["equivalent"][m.key] = False
            outcomes[n] = _survivor(ctx, m) if decide else Outcome(m, "survived")
    report.outcomes, report.compiled = outcomes, len(pending)
    if progress and not pending:
        progress(len(todo), len(todo))
    _write_cache(cache_file, cache)
    _share_proposals(report)
    report.seconds = time.perf_counter() - started
    return report


def _survivor(ctx: Context, m: Mutation) -> Outcome:
    """A mutant the solver tells apart from the original: its witness as the case that kills it."""
    program = apply(ctx.original.program, m)
    mutant = compiled(ctx, program)
    equivalence = ctx.equivalence()
    witness = equivalence.witness(program, mutant)
    proposal = None if witness is None else propose(equivalence.reference, mutant, *witness)
    if proposal is None:  # the encoding and the runtime disagree: reported, never hidden
        return Outcome(m, "survived", note="the solver's witness does not reproduce through the runtime")
    proposal.spec = _spec(ctx.original.program, m)
    return Outcome(m, "survived", proposal=proposal, mutant=mutant)


class Equivalence:
    """Decides whether a mutant's behaviour differs from the original's on some valid, complete case.

    The original is encoded once (compiler/verify/combine.py, through the verifier's Search); each
    mutant is encoded over the same case variables, and one solver query asks for a case on which
    any status, option role or flag differs (hgl.compiler.verify.diff.behaviour_differs, the formula
    `hgl diff` searches).  Every such difference can be stated by a case file (SPEC.md 3.2: an
    option `absent` or with its `roles`, a flag in `not_flags`, ...), so the solver's witness is
    minimised towards the reference case (hgl.compiler.verify.replay.minimise) while the proposed
    case still kills the mutant.
    """

    def __init__(self, original, reference: Guideline, base: dict | None = None):
        import z3

        from hgl.compiler.verify.combine import Encoder
        from hgl.compiler.verify.encode import Space
        from hgl.compiler.verify.search import Search, reference_case

        self.z3, self.Encoder = z3, Encoder
        self.reference = reference
        self.space = Space(False)
        self.search = Search(original.program, False, self.space)
        self.old = self.search.enc
        self.order, self.ref_case = reference_case(original, self.space)
        # then towards the case file's own base, where an input it leaves out is missing (or its default)
        from hgl.compiler.verify.replay import ABSENT

        specs = {s.name: s for s in reference.inputs}
        self.file_ref = {name: (base[name] if name in (base or {}) else ABSENT if specs[name].has_default else None)
                         for name, is_param in self.order if not is_param and name in specs}

    def _solver(self, program):
        """A fresh solver (its answers do not depend on earlier queries) asserting that the results differ."""
        from hgl.compiler.verify.diff import behaviour_differs

        new = self.Encoder(program, self.space)
        solver = self.z3.Solver()
        solver.add(*self.old.domain, *new.domain)
        solver.add(behaviour_differs(self.old, new))
        return solver

    def same(self, program) -> bool | None:
        """True: no valid case tells the two apart; False: one does; None: the solver gave up."""
        answer = self._solver(program).check()
        return True if answer == self.z3.unsat else False if answer == self.z3.sat else None

    def witness(self, program, mutant: Guideline):
        """A case (and parameters) on which the mutant's result differs, minimised; None when there is none
        or it does not reproduce through the runtime."""
        from hgl.compiler.verify.replay import minimise

        solver = self._solver(program)
        if solver.check() != self.z3.sat:
            return None
        case, params = self.search.witness(solver.model())
        if propose(self.reference, mutant, case, params) is None:
            return None

        first = self.reference.evaluate(case, params)
        status, missing = first.status, list(first.missing)

        def kills(c, p):  # still a killing case, with the status (and missing inputs) the solver's witness had
            q = propose(self.reference, mutant, c, p)
            return q is not None and q.expect["status"] == status and list(
                self.reference.evaluate(c, p).missing) == missing

        case, params = minimise(case, params, self.order, self.ref_case, kills)
        case, params = minimise(case, params, self.order, self.file_ref, kills)
        return _fewer_members(case, params, kills)


def _fewer_members(case: dict, params: dict, kills):
    """Each set-valued input with every member the killing case does not need removed (in sorted order)."""
    case = dict(case)
    for name in sorted(case):
        value = case[name]
        if not isinstance(value, (set, frozenset, list, tuple)):
            continue
        for member in sorted(value, key=str):
            trial = {**case, name: type(value)(x for x in case[name] if x != member)}
            try:
                ok = kills(trial, params)
            except (CaseError, TypeError):
                ok = False
            if ok:
                case = trial
    return case, params


# ---------------------------------------------------------------- the killing case


def propose(original: Guideline, mutant: Guideline, witness: dict, params: dict) -> Proposal | None:
    """The witness as a case with the expectation the original gives, if that expectation fails on the mutant.

    The expectation is the original's status and preferred options, plus the case-file keys
    (SPEC.md 3.2) that state each difference: an option the original gives and the mutant does not
    (`alternatives`, `avoid`, `roles: {option: role}`), one the mutant prefers (`not_preferred`)
    or adds (`absent`), a flag only the original raises (`flags`) or only the mutant does
    (`not_flags`), inputs the original asks for (`missing`; `missing_exactly` when nothing else
    tells the two apart).
    """
    try:
        a, b = original.evaluate(witness, params), mutant.evaluate(witness, params)
    except CaseError:
        return None
    ra = {o["id"]: o["role"] for o in a.options}
    rb = {o["id"]: o["role"] for o in b.options}
    expect: dict = {"status": a.status}
    preferred = [o for o, r in ra.items() if r == "preferred"]
    if preferred:
        expect["preferred"] = preferred
    killing: dict = {k: ({} if k == "roles" else []) for k in KILLING_KEYS if k != "missing_exactly"}
    for o in sorted(set(ra) | set(rb), key=lambda x: (original.option_rank.get(x, 1 << 30), x)):
        x, y = ra.get(o), rb.get(o)
        if x == y or x == "preferred":  # a preferred option is stated by `preferred`
            continue
        if x is None:
            killing["absent"].append(o)
        elif y == "preferred":
            killing["not_preferred"].append(o)
        elif x == "alternative":
            killing["alternatives"].append(o)
        elif x == "avoid":
            killing["avoid"].append(o)
        else:  # a declared role
            killing["roles"][o] = x
    flags_a, flags_b = set(a.flag_ids), set(b.flag_ids)
    killing["flags"] = [f for f in a.flag_ids if f not in flags_b]
    killing["not_flags"] = [f for f in b.flag_ids if f not in flags_a]
    killing["missing"] = [x for x in a.missing if x not in b.missing]
    killing["inconsistent"] = [x for x in a.inconsistent if x not in b.inconsistent]
    expect.update({k: killing[k] for k in KILLING_KEYS if killing.get(k)})
    if not check_expectations(b, expect) and list(a.missing) != list(b.missing):  # only the inputs asked for differ
        killing["missing_exactly"] = expect["missing_exactly"] = list(a.missing)
    if not check_expectations(b, expect) or check_expectations(a, expect):
        return None
    defaults = {s.name: _plain(s.default) if s.has_default else None for s in original.inputs}
    full = {name: _plain(witness[name]) if name in witness else d for name, d in defaults.items()}
    return Proposal(full, dict(params), expect, _change(a, b, ra, rb, killing), defaults)


def _change(a, b, ra, rb, killing) -> str:
    """The first difference the expectation states, in words: `option srs preferred (the mutant: alternative)`."""
    if a.status != b.status:
        return f"status {a.status} (the mutant: {b.status})"
    for key in ("not_preferred", "alternatives", "avoid", "roles", "absent"):
        for o in killing.get(key, ()):
            return f"option {o} {ra.get(o, 'absent')} (the mutant: {rb.get(o, 'absent')})"
    for o, r in ra.items():
        if r == "preferred" and rb.get(o) != "preferred":
            return f"option {o} preferred (the mutant: {rb.get(o, 'absent')})"
    for key, what in (("flags", "flag"), ("missing", "missing"), ("inconsistent", "inconsistent")):
        for x in killing.get(key, ()):
            return f"{what} {x} (not in the mutant's result)"
    for f in killing.get("not_flags", ()):
        return f"flag {f} not raised (the mutant raises it)"
    if "missing_exactly" in killing:
        return f"missing exactly {list(a.missing)} (the mutant: {list(b.missing)})"
    return "a different result"


def _share_proposals(report) -> None:
    """One case for several survivors: a survivor killed by an earlier survivor's proposal gets none of its own."""
    chosen = []
    for o in report.of("survived"):
        if o.proposal is None:
            continue
        for c in chosen:
            try:
                kills = bool(check_expectations(o.mutant.evaluate(c.proposal.case, c.proposal.params),
                                                c.proposal.expect))
            except Exception:
                kills = True
            if kills:
                c.also.append(o)
                o.proposal, o.note = None, f"killed by the case proposed for '{c.mutation.key}'"
                break
        else:
            chosen.append(o)
    for o in report.outcomes:
        o.mutant = None


def _spec(program, m: Mutation) -> tuple:
    kind, _, name = m.owner.partition(" ")
    if kind != "rule" or name not in program.rules_by_name:
        return ()
    section = next((s for s in program.sections if s.name == program.rules_by_name[name].section), None)
    return (section.spec,) if section is not None and section.spec else ()


def _plain(v):
    if isinstance(v, (set, frozenset, tuple)):
        return sorted(v)
    return v


# ---------------------------------------------------------------- the cache of verdicts


def _cache_file(source) -> Path | None:
    """Verdicts of one source text under this version of the compiler and runtime that produced them."""
    try:
        here = Path(__file__).resolve().parent
        runtime = Path(importlib.import_module("hgl.runtime").__file__).resolve().parent
        folders = [here] + [here.parent / x for x in ("check", "python", "explain", "verify")] + [runtime]
        code = b"".join(p.read_bytes() for folder in folders for p in sorted(folder.glob("*.py")))
    except (OSError, TypeError):
        return None
    key = hashlib.sha256(f"{VERSION}\0{source.text}\0".encode("utf-8") + code).hexdigest()
    return cache_dir() / "mutate" / f"{key[:32]}.json"


def _read_cache(path) -> dict:
    empty = {"killed": {}, "equivalent": {}}
    if path is None or not path.is_file():
        return empty
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {k: dict(data.get(k) or {}) for k in empty}
    except (OSError, ValueError, AttributeError):
        return empty


def _write_cache(path, cache) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache only costs a rerun
