"""Mutation testing, output: a MutationReport -> the text `hgl test --mutate` prints, and case-file entries.

A surviving mutant's proposal becomes a case-file entry (SPEC.md 3.2) under a comment naming the
mutant and its source line; the case lists only the inputs that differ from the file's `base`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

from hgl.runtime.casefile import load_case_file

HEADER = "# ---------------------------------------------------------------- mutation testing"


def render(report, verbose: bool = False, base: dict | None = None) -> str:
    """The console text of a run: counts, score, each survivor with its killing case, each equivalent mutant."""
    r, src = report, report.guideline
    out = [f"mutation testing {src}: {len(r.outcomes)} mutants, {r.cases} case(s)",
           f"  killed {r.count('killed')}, survived {r.count('survived')}, equivalent {r.count('equivalent')}"
           + (f", not compiled {r.count('error')}" if r.count("error") else "")
           + f" ({r.compiled} compiled in this run, {r.seconds:.1f} s)",
           f"  mutation score {100 * r.score:.1f}% ({r.count('killed')} of "
           f"{r.count('killed') + r.count('survived')} non-equivalent mutants killed)"]
    for name in r.broken:
        out.append(f"BROKEN {name}: fails on the original guideline (not used to kill mutants)")
    for o in r.of("survived"):
        out.append(f"SURVIVED {_where(src, o.mutation)}")
        if o.proposal is not None:
            p = o.proposal
            out.append(f"     killed by a case where {p.change}"
                       + (f"; it also kills {', '.join(repr(x.mutation.key) for x in o.also)}" if o.also else ""))
            out.append(f"     case: {json.dumps(_differs(p, base or {}), ensure_ascii=False)}"
                       + (f" params: {json.dumps(p.params, ensure_ascii=False)}" if p.params else ""))
            out.append(f"     expect: {json.dumps(p.expect, ensure_ascii=False)}")
        elif o.note:
            out.append(f"     {o.note}")
    for o in r.of("error"):
        out.append(f"NOT COMPILED {_where(src, o.mutation)}: {o.note}")
    for o in r.of("equivalent"):
        out.append(f"EQUIVALENT {_where(src, o.mutation)}")
    if verbose:
        for o in r.of("killed"):
            out.append(f"KILLED {_where(src, o.mutation)} by {o.killed_by}")
    return "\n".join(out)


def _where(src: str, m) -> str:
    return f"{src}:{m.line}:{m.column} [{m.operator}] {m.owner}: {m.description}"


# ---------------------------------------------------------------- case-file entries


def _differs(p, base: dict) -> dict:
    """The witness's inputs that differ from what the base gives (an absent input reads as its default)."""
    out = {}
    for name, value in p.case.items():
        given = base.get(name, p.defaults.get(name))
        if not _same(value, given):
            out[name] = value
    return out


def _same(a, b) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and sorted(map(str, a)) == sorted(map(str, b))
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6)
    return text.strip().removesuffix("...").strip()  # a plain scalar is dumped as a document of its own


def entry(outcome, cid: str, base: dict, source_name: str) -> str:
    """One case-file entry (YAML text) for a survivor's proposal, under a comment naming the mutant."""
    m, p = outcome.mutation, outcome.proposal
    where = f"{Path(source_name).name}:{m.line}"
    lines = [f"# kills mutant '{m.key}' ({where}, {m.owner}): {_one_line(m.description)}"]
    lines += [f"# and mutant '{o.mutation.key}' ({Path(source_name).name}:{o.mutation.line}, {o.mutation.owner}): "
              f"{_one_line(o.mutation.description)}" for o in outcome.also]
    lines += [f"- id: {cid}",
              f"  title: {json.dumps(f'mutation check, {m.owner} ({where}): {p.change}', ensure_ascii=False)}",
              "  gallery: false"]  # a regression check: run by hgl test and the docs build, not shown as a worked case
    if p.spec:
        lines.append(f"  spec: {_flow(list(p.spec))}")
    if p.params:
        lines.append(f"  params: {_flow(p.params)}")
    lines.append(f"  case: {_flow(_differs(p, base))}")
    lines.append("  expect:")
    for key, value in p.expect.items():
        lines.append(f"    {key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def cases_text(outcomes, path, base: dict, source_name: str, start: int = 1) -> str:
    """The block of entries for the survivors with a proposal, numbered M<start>, M<start+1>, ..."""
    chosen = [o for o in outcomes if o.verdict == "survived" and o.proposal is not None]
    if not chosen:
        return ""
    parts = [f"\n{HEADER}\n# Proposed by `hgl test --mutate` (SPEC.md 3.2 entries): each case kills the mutant named\n"
             f"# above it; its expectation is what the original guideline gives for the case.\n"]
    parts += [entry(o, f"M{start + i}", base, source_name) for i, o in enumerate(chosen)]
    return "\n".join(parts)


def next_number(text: str) -> int:
    """1 + the highest M<n> id already in a case file's text."""
    found = [int(x) for x in re.findall(r"^\s*-?\s*id:\s*['\"]?M(\d+)\b", text, flags=re.MULTILINE)]
    return max(found, default=0) + 1


def write_cases(path, report, fallback_base_file=None) -> int:
    """Append the killing cases of a report's survivors to a case file (created when absent); returns how many.

    Each entry is checked before anything is written: merged with the file's base, it must pass on the
    original guideline and fail on its mutant (the report's proposal did both with the full witness).
    """
    path = Path(path)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        base, _cases = load_case_file(path)
        prefix = text if text.endswith("\n") else text + "\n"
    else:
        base = load_case_file(fallback_base_file)[0] if fallback_base_file else {}
        prefix = ("# Cases proposed by `hgl test --mutate` (SPEC.md 3.2 format).\n\n"
                  + (f"base:\n{_indent(yaml.safe_dump(base, sort_keys=False, allow_unicode=True))}\n" if base else "")
                  + "cases:\n")
    block = cases_text(report.outcomes, path, base, report.guideline, next_number(prefix))
    if not block:
        return 0
    new_text = prefix + block
    added = len(yaml.safe_load(new_text)["cases"]) - len((yaml.safe_load(prefix) or {}).get("cases") or [])
    if added != block.count("\n- id: "):
        raise ValueError(f"{path}: the entries would not land in its 'cases' list (is 'cases:' its last key?)")
    path.write_text(new_text, encoding="utf-8")
    return added


def _indent(text: str) -> str:
    return "".join("  " + line + "\n" for line in text.splitlines())


# ---------------------------------------------------------------- command line


def cli_main(args) -> int:
    """`hgl test GUIDELINE --cases FILE... --mutate [--write-cases FILE]`: 0 when every non-equivalent mutant is killed."""
    from hgl.compiler.mutate.run import mutation_test

    def progress(done, total):
        print(f"\r  mutants: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    report = mutation_test(args.guideline, args.cases, progress=progress if sys.stderr.isatty() else None)
    print(render(report, verbose=args.verbose, base=load_case_file(args.cases[0])[0]))
    if args.write_cases:
        n = write_cases(args.write_cases, report, fallback_base_file=args.cases[0])
        print(f"wrote {n} case(s) to {args.write_cases}")
    return 0 if report.count("survived") == 0 and not report.broken else 1


def page_summary(path, case_files, shown_files) -> dict:
    """The mutation score of a guideline for its verification page (`available` False when the run fails)."""
    from hgl.compiler.mutate.run import mutation_test

    try:
        report = mutation_test(path, case_files)
    except Exception as exc:  # another stage's failure is shown on the page, never hidden
        return {"available": False, "reason": f"mutation testing failed: {type(exc).__name__}: {exc}"}
    data = report.to_dict()
    return {"available": True, "reason": "", "case_files": list(shown_files), **data,
            "score_text": f"{100 * report.score:.1f}%"}
