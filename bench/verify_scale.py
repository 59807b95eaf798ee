"""Verification benchmark: `hgl check --verify` on the HER2 guideline grown to N times its size.

Run by hand (not in CI):  .venv/bin/python bench/verify_scale.py [--sizes 1,2,5,10] [--jobs N]

`scaled(text, n)` makes an N×-sized guideline from guidelines/her2_mbc.hgl: the inputs, definitions,
data checks, shared outcomes and sections (with their rules), and the `accept` statements, are
copied n-1 times with renamed identifiers (`_c2`, `_c3`, ...; strings and comments untouched), and
the copies' sections join the governing order after the original ones. The option catalogue, flags,
vocabularies, evidence and parameters stay shared, as in one large guideline: the copies' rules
propose, prefer and avoid the same options, so they can conflict with one another and the result
formulas grow with every copy. With `--options copied` the option catalogue and the drug vocabulary
are copied too: each copy recommends its own options (the copies then meet only through governing,
flags and the parameters).

Each size is compiled (not timed) and verified once (timed: `verify_report`, wall-clock and CPU
seconds, the forked phase workers' included), in this process, one after the other; the figures
are set against the 1× run of the same invocation (the machine is shared, so only the ratios
compare between runs; the load average is printed at the start and the end). The solver-call count of each run is printed too:
it does not depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HER2 = ROOT / "guidelines" / "her2_mbc.hgl"

COPIED = ("input", "define", "constraint", "outcomes", "section")  # top-level blocks copied per size step
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*')


def _blocks(text: str) -> list[tuple[str, str]]:
    """(keyword, text) of each top-level block: a column-0 line and the indented lines and `end` after it."""
    out: list[list] = []
    for line in text.splitlines(keepends=True):
        starts = line[:1].strip() and not line.startswith("end")
        if starts or not out:
            out.append([line.split()[0] if line.strip() else "", line])
        else:
            out[-1][1] += line
    return [(k, t) for k, t in out]


def _declared(blocks, copied=COPIED) -> set[str]:
    """The identifiers a copy renames: its inputs, definitions, constraints, outcomes, sections, rules
    and the values of its enumerated inputs (`none` excepted: option inputs use it as a keyword)."""
    names = set()
    for kind, text in blocks:
        if kind in copied:
            names.add(re.match(r"\w+\s+(\w+)", text).group(1))
            names.update(re.findall(r"^\s+rule\s+(\w+)", text, re.M))
        m = re.match(r"input\s+\w+:\s*one of\s+([^\n]*)", text) if kind == "input" else None
        if m:  # the copies' enumerations are their own (a bare set of values must name one input's values)
            names.update(v.strip() for v in m.group(1).split(",") if v.strip() != "none")
    return names


def _strip_fhir(text: str) -> str:
    """Without the `fhir` clauses of inputs (where a value comes from in a record: not the verifier's business)."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        bare = line.split("#")[0].strip()
        if skipping:
            skipping = bare != "end"
        elif bare == "fhir" or bare.startswith("fhir "):
            skipping = not bare.endswith(" end")
        else:
            out.append(line)
    return "".join(out)


def _vocabulary(blocks) -> list[tuple[str, str]]:
    """(name, label) of every vocabulary entry (codes and members left out)."""
    out = []
    for kind, text in blocks:
        if kind == "vocabulary":
            out += re.findall(r'^  ([A-Za-z_]\w*)\s+("(?:[^"\\\n]|\\.)*")', text, re.M)
    return out


def _rename(text: str, names: set[str], suffix: str) -> str:
    def sub(m):
        tok = m.group(0)
        return tok + suffix if tok in names else tok
    return _TOKEN.sub(sub, text)


def scaled(text: str, n: int, options: str = "shared") -> str:
    """The guideline with its inputs, definitions, constraints, outcomes and sections copied n-1 times;
    options "copied" copies the option catalogue too (each copy recommends its own options)."""
    if n <= 1:
        return text
    kinds = COPIED + (("option",) if options == "copied" else ())
    blocks = _blocks(text)
    names = _declared(blocks, kinds)
    vocabulary = _vocabulary(blocks) if options == "copied" else []
    names.update(v for v, _ in vocabulary)  # an option and a drug may share a name: both are copied
    copied = [_strip_fhir(t) for k, t in blocks if k in kinds or k == "accept"]  # acknowledgements too
    parts = []
    for kind, body in blocks:
        if kind == "vocabulary" and vocabulary:
            end = body.rstrip().rfind("\nend")
            body = body[:end + 1] + "".join(f"  {v}_c{k} {label}\n" for k in range(2, n + 1)
                                            for v, label in vocabulary) + body[end + 1:]
        if kind == "combination":
            m = re.search(r"governing order\s+(.*?)\n(?=\S|\s*$)", body, re.S)
            order = [s.strip() for s in m.group(1).split(",")]
            grown = order + [s + f"_c{k}" for k in range(2, n + 1) for s in order]
            body = body[:m.start(1)] + ",\n    ".join(grown) + body[m.end(1):]
        parts.append(body)
    for k in range(2, n + 1):
        parts.append(f"\n# {'-' * 64} copy {k} (bench/verify_scale.py)\n")
        parts.extend(_rename(t, names, f"_c{k}") for t in copied)
    return "".join(parts)


def scaled_base(text: str, base: dict, n: int, options: str = "shared") -> dict:
    """The `base` case of the N×-sized guideline: the original base, and a renamed copy per copy."""
    blocks = _blocks(text)
    kinds = COPIED + (("option",) if options == "copied" else ())
    names = _declared(blocks, kinds) | ({v for v, _ in _vocabulary(blocks)} if options == "copied" else set())

    def rename(value, suffix):
        if isinstance(value, list):
            return [rename(v, suffix) for v in value]
        return value + suffix if isinstance(value, str) and value in names else value
    out = dict(base)
    for k in range(2, n + 1):
        out.update({key + f"_c{k}": rename(value, f"_c{k}") for key, value in base.items() if key in names})
    return out


def _measure(n: int, jobs: int, options: str) -> tuple[float, int, int, dict]:
    import tempfile

    import yaml

    from hgl.compiler.pipeline import compile_file
    from hgl.compiler.verify.search import verify_report

    # written next to its case file, as a real guideline is: witnesses are minimised towards its base case
    text = HER2.read_text(encoding="utf-8")
    base = yaml.safe_load(HER2.with_suffix(".cases.yaml").read_text(encoding="utf-8")).get("base", {})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"her2_x{n}.hgl"
        path.write_text(scaled(text, n, options), encoding="utf-8")
        path.with_suffix(".cases.yaml").write_text(
            yaml.safe_dump({"base": scaled_base(text, base, n, options), "cases": []}), encoding="utf-8")
        result = compile_file(path)
        if not result.ok:
            raise SystemExit(f"the {n}x guideline does not compile: {result.errors[0].message}")
        start, cpu = time.perf_counter(), _cpu()
        report = verify_report(result, jobs=jobs)  # reads the case file: inside the directory's life
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    counts: dict[str, int] = {}
    for d in report.diagnostics:
        counts[d.code] = counts.get(d.code, 0) + 1
    return seconds, cpu, len(result.program.rules), report.queries, counts


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the phases run in forked workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,2,5,10", help="comma-separated multiples of the HER2 guideline")
    ap.add_argument("--jobs", type=int, default=None,
                    help="worker processes for the verifier (default: every core, as hgl check --verify)")
    ap.add_argument("--options", choices=("shared", "copied"), default="shared",
                    help="the copies share the option catalogue (default) or copy it too")
    ap.add_argument("--write", metavar="N", type=int, help="print the N×-sized guideline and stop")
    args = ap.parse_args(argv)
    if args.write:
        sys.stdout.write(scaled(HER2.read_text(encoding="utf-8"), args.write, args.options))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"hgl check --verify on HER2 grown N times (options {args.options}, jobs {args.jobs or 'every core'}); "
          "wall-clock and CPU seconds (this process and its workers) of verify_report; ratios of CPU "
          "time against the 1x run of this invocation")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on the machine "
          "inflates wall-clock time; CPU time much less)")
    print(f"{'size':>5} {'rules':>6} {'solver calls':>13} {'seconds':>9} {'cpu s':>8} {'x 1x':>7}  findings")
    base = None
    for n in sizes:
        seconds, cpu, rules, queries, counts = _measure(n, args.jobs, args.options)
        base = base or (cpu if n == 1 else None)
        ratio = f"{cpu / base:7.1f}" if base else "      -"
        found = ", ".join(f"{c} {k}" for c, k in sorted(counts.items()))
        print(f"{n:>4}x {rules:>6} {queries:>13} {seconds:>9.2f} {cpu:>8.2f} {ratio}  {found}", flush=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
