"""Words benchmark: what `record(result, level)` costs per case on realistic HER2 cases, in one run.

Run by hand (not a test):
    .venv/bin/python bench/words.py [--n 20000] [--repeat 3] [--against REV]

Cases come from guidelines/her2_mbc_cohort.py (fields that do not apply are left out).  Each
block of cases is evaluated once per run (not timed), then each level's record is made from a
fresh Result of the same decision (its words are made once per Result) and dropped, as a batch
does; CPU time (time.process_time: what the run takes alone, even on a shared machine), the best
of --repeat runs.  Printed: µs per case for the decision (`evaluate`) and for the record at each
level, and `json.dumps` of the full record for scale.

--against REV also times the records of the runtime of a git revision (its runtime/ taken with
`git archive`, read only) on the same decisions, interleaved block by block with this tree's,
and checks that both give the same JSON: a before/after ratio measured in one run.  The
revision's explain/result/records modules run over this tree's engine and logic (the words are
what is compared).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "guidelines"))

from her2_mbc_cohort import records  # noqa: E402

from hgl.runtime import load  # noqa: E402
from hgl.runtime.records import LEVELS, record  # noqa: E402
from hgl.runtime.result import Result  # noqa: E402

HER2 = ROOT / "guidelines" / "her2_mbc.hgl"
BLOCK = 500
# the modules of the revision that are this tree's instead (the decision and the values it holds:
# an Unknown of the revision's logic would not be one of this tree's)
SHARED = ("logic", "engine", "model", "proposal", "schema", "units")


def baseline(rev: str):
    """(record, Result) of the runtime at git revision `rev`, over this tree's other modules."""
    tmp = Path(tempfile.mkdtemp(prefix="hgl-words-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "runtime"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    pkg = tmp / "runtime_before"
    (tmp / "runtime").rename(pkg)
    (pkg / "__init__.py").write_text("")  # its own __init__ would import every module of the revision
    sys.path.insert(0, str(tmp))
    for name in SHARED:
        sys.modules[f"runtime_before.{name}"] = importlib.import_module(f"hgl.runtime.{name}")
    explain = importlib.import_module("runtime_before.explain")
    result = importlib.import_module("runtime_before.result")
    recs = importlib.import_module("runtime_before.records")
    renderers: dict = {}

    def renderer(engine):  # its own renderer, not the one this tree keeps on the engine
        r = renderers.get(id(engine))
        if r is None:
            r = renderers[id(engine)] = (engine, explain.Renderer(engine, engine.m.EXPLAIN))
        return r[1]

    explain.renderer = result.renderer = renderer
    return recs.record, result.Result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--against", metavar="REV", help="also time the records of this git revision's runtime")
    args = ap.parse_args(argv)
    g = load(HER2)
    cases = list(records(args.n, seed=1, extra=False))
    makers = {"this tree": (record, Result)}
    if args.against:
        makers[args.against] = baseline(args.against)
    clock = time.process_time
    best: dict = {}
    for _ in range(args.repeat):
        run: dict = {}
        for i in range(0, len(cases), BLOCK):
            block = cases[i:i + BLOCK]
            start = clock()
            results = [g.evaluate(c) for c in block]
            run["decision"] = run.get("decision", 0.0) + clock() - start
            args_of = [(r._g, r._env, r.status, r.firing, r.missing, r.inconsistent, r._violated) for r in results]
            order = list(makers.items())
            if (i // BLOCK) % 2:
                order.reverse()  # neither side always runs first on a block
            for level in LEVELS:
                outs = {}
                for name, (make, cls) in order:
                    fresh = [cls(*a) for a in args_of]
                    start = clock()
                    for r in fresh:
                        make(r, level)
                    run[(name, level)] = run.get((name, level), 0.0) + clock() - start
                    if len(makers) > 1:
                        outs[name] = [json.dumps(make(cls(*a), level)) for a in args_of]
                if len(set(map(tuple, outs.values()))) > 1:
                    print(f"DIFFERENT records at {level} in cases {i + 1}-{i + len(block)}", file=sys.stderr)
                    return 1
            full = [record(Result(*a), "full") for a in args_of]
            start = clock()
            for d in full:
                json.dumps(d)
            run["json.dumps(full)"] = run.get("json.dumps(full)", 0.0) + clock() - start
        for k, v in run.items():
            best[k] = min(best.get(k, float("inf")), v)
    per = {k: v / len(cases) * 1e6 for k, v in best.items()}
    print(f"{len(cases)} realistic HER2 cases, CPU µs per case (best of {args.repeat}):")
    print(f"  decision (evaluate)          {per['decision']:8.1f}")
    for level in LEVELS:
        row = f"  record at {level:<6}             {per[('this tree', level)]:8.1f}"
        if args.against:
            before = per[(args.against, level)]
            row += f"   {args.against}: {before:8.1f}   ({before / per[('this tree', level)]:.2f}x)"
        print(row)
    print(f"  json.dumps of the full record {per['json.dumps(full)']:7.1f}")
    if args.against:
        print(f"records identical to {args.against}'s at every level")
    return 0


if __name__ == "__main__":
    sys.exit(main())
