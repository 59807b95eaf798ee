"""Verification stage, versions: two compiled guidelines (CompileResults) -> their behavioural and editorial diff.

Both versions are encoded over one set of case variables (compiler/verify/encode.py, combine.py); z3
finds, for each option, flag and status, the kinds of patient whose result differs, and each
witness is re-run through both compiled versions before it is reported.
"""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import dataclass, field

import z3

from hgl.compiler.check.program import Program
from hgl.compiler.verify.combine import Encoder
from hgl.compiler.verify.encode import Space, _and, _not, _or
from hgl.compiler.verify.searchspace import Search, reference_case
from hgl.compiler.verify.sourcediff import source_changes, summary_line
from hgl.compiler.verify.replay import ABSENT, Runner, describe_differences, differences, minimise

ROLES = ("preferred", "alternative", "avoid", "absent")
DIFF_CAP = 60  # behavioural changes reported before stopping


@dataclass
class Change:
    """One kind of patient whose result differs, with a witness case run through both versions."""

    kind: str  # "option" | "flag" | "status"
    subject: str
    old: str
    new: str
    witness: dict
    params: dict
    rules_old: list = field(default_factory=list)
    rules_new: list = field(default_factory=list)
    differs: dict = field(default_factory=dict)  # the witness's inputs that differ from the reference case

    def to_dict(self) -> dict:
        return dict(vars(self))

    def describe(self) -> str:
        what = {"option": f"option {self.subject}", "flag": f"flag {self.subject}", "status": "status"}[self.kind]
        rules = []
        if self.rules_old:
            rules.append("old: " + ", ".join(self.rules_old))
        if self.rules_new:
            rules.append("new: " + ", ".join(self.rules_new))
        return f"{what}: {self.old} → {self.new}" + (f"  [{'; '.join(rules)}]" if rules else "")


@dataclass
class DiffReport:
    changes: list = field(default_factory=list)
    editorial: list = field(default_factory=list)  # unified-diff lines
    capped: bool = False
    unconfirmed: int = 0
    source: list = field(default_factory=list)  # sourcediff.SourceChange: declarations added, removed, changed

    def groups(self) -> list[tuple[tuple[str, ...], list[Change]]]:
        """The changes grouped by the rules responsible (old and new), groups in order of first change."""
        out: dict[tuple[str, ...], list[Change]] = {}
        for c in self.changes:
            out.setdefault(tuple(dict.fromkeys(c.rules_old + c.rules_new)), []).append(c)
        return list(out.items())

    def to_dict(self) -> dict:
        index = {id(c): i for i, c in enumerate(self.changes)}
        return {"source": [c.to_dict() for c in self.source],
                "behaviour": [c.to_dict() for c in self.changes],
                "by_rule": [{"rules": list(rules), "changes": [index[id(c)] for c in changes]}
                            for rules, changes in self.groups()],
                "editorial": self.editorial, "capped": self.capped}


def diff_results(old, new, cap: int = DIFF_CAP) -> DiffReport:
    """The behavioural and editorial diff of two compiled guidelines (CompileResults with code)."""
    report = DiffReport(editorial=editorial_diff(old.program, new.program),
                        source=source_changes(old.guideline, old.source, new.guideline, new.source))
    space = Space(False)  # shared: both versions read the same case variables
    searches = [Search(old.program, False, space), Search(new.program, False, space)]
    a, b = searches[0].enc, searches[1].enc
    solver = z3.Solver()
    solver.add(*a.domain, *b.domain)
    runners = (Runner(old.code, old.source.sha256), Runner(new.code, new.source.sha256))
    # the reference case: the old version's, completed by the new one's for inputs it adds
    (order_old, ref), (order_new, ref_new) = reference_case(old, space), reference_case(new, space)
    order = order_old + [x for x in order_new if x not in order_old]
    reference = {**ref_new, **ref}
    declared = [{x for x, _ in o} for o in (order_old, order_new)]
    simplify = (order, reference, declared)
    for kind, subject, olds, news, scope in subjects(a, b):
        blocked = []
        while True:
            differs = _or([_and([co, cn]) for vo, co in olds.items() for vn, cn in news.items()
                           if vo != vn and (vo, vn) not in blocked])
            solver.push()
            solver.add(scope, differs)
            zm = solver.model() if solver.check() == z3.sat else None
            solver.pop()
            if zm is None:
                break
            vo = next(v for v, c in olds.items() if z3.is_true(zm.eval(c, model_completion=True)))
            vn = next(v for v, c in news.items() if z3.is_true(zm.eval(c, model_completion=True)))
            blocked.append((vo, vn))
            change = _confirm(kind, subject, vo, vn, searches, runners, zm, simplify)
            if change is None:
                report.unconfirmed += 1
                continue
            if len(report.changes) >= cap:
                report.capped = True
                return report
            report.changes.append(change)
    return report


TRUE_ = z3.BoolVal(True)


def subjects(a: Encoder, b: Encoder) -> list:
    """What two encodings over one Space are compared on: (kind, subject, old values, new values, scope),
    each values dict mapping a value (a status, a role or absent, raised or not) to its condition."""
    ok = _and([_not(a.inconsistent), _not(b.inconsistent)])
    out = [("status", "status", _status(a), _status(b), TRUE_)]
    for o in list(dict.fromkeys(list(a.options) + list(b.options))):
        out.append(("option", o, _roles(a, o), _roles(b, o), ok))
    for f in sorted(set(a.flag) | set(b.flag)):
        out.append(("flag", f, _flag(a, f), _flag(b, f), ok))
    return out


def behaviour_differs(a: Encoder, b: Encoder):
    """A formula true for exactly the cases whose result differs between the two encodings (one query decides
    whether any does; `diff_results` then looks for each kind of change and its witness)."""
    return _or([_and([scope, _or([_and([co, cn]) for vo, co in olds.items() for vn, cn in news.items() if vo != vn])])
                for _kind, _subject, olds, news, scope in subjects(a, b)])


def _status(enc: Encoder) -> dict:
    return {"inconsistent_data": enc.inconsistent,
            "needs_data": _and([_not(enc.inconsistent), enc.any_request]),
            "recommendation": _and([_not(enc.inconsistent), _not(enc.any_request)])}


def _roles(enc: Encoder, o: str) -> dict:
    roles = dict(enc.final.get(o, {}))
    roles["absent"] = _not(_or(list(roles.values())))
    return roles


def _flag(enc: Encoder, f: str) -> dict:
    c = enc.flag.get(f, z3.BoolVal(False))
    return {"raised": c, "not raised": _not(c)}


def _witness(searches, zm):
    """One case per version: each reads only the inputs and parameters it declares."""
    cases = []
    for s in searches:
        case, params = s.witness(zm)
        cases.append((case, params))
    merged = {}
    merged_params = {}
    for case, params in cases:
        merged.update(case)
        merged_params.update(params)
    return cases, merged, merged_params


def _confirm(kind, subject, vo, vn, searches, runners, zm, simplify):
    """The change, when both versions run on the witness show it; its witness simplified (see minimise)."""
    cases, merged, merged_params = _witness(searches, zm)
    seen, rules = _observe(kind, subject, runners, cases)
    if seen != [vo, vn]:
        return None
    order, reference, declared = simplify

    def reproduces(c, p):
        split = [({k: v for k, v in c.items() if k in names}, {k: v for k, v in p.items() if k in names})
                 for names in declared]
        return _observe(kind, subject, runners, split) == (seen, rules)

    merged, merged_params = minimise(merged, merged_params, order, reference, reproduces)
    if kind == "option" and vo == "absent" or kind == "flag" and vo == "not raised":
        rules[0] = []
    diffs = differences(merged, merged_params, order, reference)
    return Change(kind, subject, vo, vn, merged, merged_params, rules[0], rules[1],
                  {k: v for k, v in diffs.items() if v is not ABSENT})


def _observe(kind, subject, runners, cases):
    """What each version shows for the subject on its case, and the rules responsible."""
    results = [r.evaluate(c, p) for r, (c, p) in zip(runners, cases)]
    seen, rules = [], []
    for res in results:
        if kind == "status":
            seen.append(res.status)
            rules.append([])
        elif kind == "option":
            entry = next((o for o in res.options if o["id"] == subject), None)
            seen.append(entry["role"] if entry else "absent")
            rules.append([entry["rule"]] if entry else [])
        else:
            entry = next((f for f in res.flags if f["id"] == subject), None)
            seen.append("raised" if entry else "not raised")
            rules.append(entry["rules"] if entry else [])
    return seen, rules


# ---------------------------------------------------------------- editorial diff
def _texts(program: Program) -> dict:
    """Every piece of human text in a guideline as written (its declarations), keyed by where it lives."""
    g = program.guideline
    out = {}
    if g.meta is not None:
        for f in g.meta.fields:
            out[f"guideline {f.key.text}"] = str(f.value.value)
    for e in g.evidence:
        for f in e.fields:
            out[f"evidence {e.name.text} {f.key.text}"] = str(f.value.value)
    for o in g.options:
        out[f"option {o.name.text} label"] = o.label
        out[f"option {o.name.text} drugs"] = ", ".join(d.text for d in o.drugs)
    for f in g.flags:
        out[f"flag {f.name.text} label"] = f.label
    for d in list(g.inputs) + list(g.parameters):
        for key in ("label", "description"):
            if getattr(d, key):
                out[f"input {d.name.text} {key}"] = getattr(d, key)
    for d in g.definitions:
        if d.label:
            out[f"define {d.name.text} label"] = d.label
    for s in g.sections:
        if s.title:
            out[f"section {s.name.text} title"] = s.title
        for r in s.rules:
            if r.title:
                out[f"rule {r.name.text} title"] = r.title
            if r.rationale:
                out[f"rule {r.name.text} rationale"] = r.rationale
    return out


def editorial_diff(old: Program, new: Program) -> list[str]:
    """Unified-diff lines of two programs' text (metadata, labels, titles, rationales)."""
    a, b = _texts(old), _texts(new)
    lines_a = [f"{k}: {v}" for k, v in sorted(a.items())]
    lines_b = [f"{k}: {v}" for k, v in sorted(b.items())]
    return [x.rstrip("\n") for x in difflib.unified_diff(lines_a, lines_b, "old", "new", n=0, lineterm="")]


# ---------------------------------------------------------------- command line
def configure(p) -> None:
    """Arguments of `hgl diff`."""
    p.add_argument("old", help="the earlier version: a .hgl file, or REV:path of a git revision (HEAD~1:guidelines/x.hgl)")
    p.add_argument("new", help="the later version: a .hgl file, or REV:path")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--json", dest="format", action="store_const", const="json",
                   help="the full machine output (every witness case in full); same as --format json")
    p.add_argument("--cap", type=int, default=DIFF_CAP, help="stop after this many behavioural changes")


class VersionError(Exception):
    """A version that cannot be read (a missing file, an unknown revision)."""


def read_version(spec: str, cwd=None):
    """A Source from a file, or from `REV:path` in git (read with `git show`, nothing written).

    An existing file wins over a revision spec; a spec starting with '-' is refused (never an option of git).
    """
    import subprocess
    from pathlib import Path

    from hgl.compiler.front.source import Source
    from hgl.compiler.pipeline import read_source

    if Path(spec).is_file() or ":" not in spec:
        try:
            return read_source(spec)
        except (OSError, UnicodeDecodeError) as err:
            raise VersionError(f"{spec}: cannot read: {err}") from err
    rev, path = spec.split(":", 1)
    if not rev or spec.startswith("-"):
        raise VersionError(f"{spec}: neither a file nor REV:path")
    # `git show REV:./path` reads the path relative to the working directory, like the file argument
    target = path if path.startswith(("./", "../", "/")) else "./" + path
    try:
        out = subprocess.run(["git", "show", f"{rev}:{target}"], cwd=cwd, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise VersionError(f"{spec}: cannot run git: {err}") from err
    if out.returncode != 0:
        reason = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise VersionError(f"{spec}: not found in git" + (f" ({reason[0]})" if reason else ""))
    try:
        return Source(spec, out.stdout.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise VersionError(f"{spec}: not UTF-8 text: {err}") from err


def compile_versions(old: str, new: str):
    """Both versions compiled; raises VersionError, or returns (results, the errors text of one that fails)."""
    from hgl.compiler.front.diagnostics import render_all
    from hgl.compiler.pipeline import compile_source

    results = []
    for spec in (old, new):
        r = compile_source(read_version(spec))
        if not r.ok:
            return None, render_all(r.source, r.errors)
        results.append(r)
    return results, ""


def cli_main(args) -> int:
    """`hgl diff OLD NEW`: 0 when the behaviour is the same, 1 when it differs, 2 on errors."""
    try:
        results, errors = compile_versions(args.old, args.new)
    except VersionError as err:
        print(f"hgl diff: {err}", file=sys.stderr)
        return 2
    if results is None:
        print(errors, file=sys.stderr)
        return 2
    report = diff_results(results[0], results[1], cap=args.cap)
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, sort_keys=True))
    else:
        print(render_text(report))
    return 1 if report.changes else 0


def _witness_line(c: Change) -> str:
    if not c.differs:
        return "witness: the reference case"
    return f"witness differs from the reference case in: {describe_differences(c.differs)}"


def render_text(report: DiffReport) -> str:
    """The summary of the source change, then the behavioural changes grouped by rule, each with its witness.

    The witness is shown by the inputs where it differs from the reference case (the full case
    is in the JSON output).
    """
    out = [summary_line(report.source)]
    out.extend("  " + c.describe() for c in report.source)
    if report.changes:
        groups = report.groups()
        out.append(f"Behaviour: {len(report.changes)} kind(s) of patient get a different result, "
                   f"under {len(groups)} rule group(s)")
        for rules, changes in groups:
            out.append(f"  {'rule' if len(rules) == 1 else 'rules'} {', '.join(rules)}" if rules
                       else "  no rule (the result's status)")
            for c in changes:
                line = c.describe() if len(rules) > 1 else c.describe().split("  [", 1)[0]
                out.append(f"    - {line}")
                out.append(f"      {_witness_line(c)}")
                if c.params:
                    out.append(f"      params: {json.dumps(c.params, ensure_ascii=False, sort_keys=True)}")
        if report.capped:
            out.append("  (stopped at the cap: more changes may exist)")
    else:
        out.append("Behaviour: no valid case gets a different result")
    out.append("Text:" if report.editorial else "Text: no editorial change")
    out.extend("  " + line for line in report.editorial)
    return "\n".join(out)


__all__ = ["Change", "DiffReport", "VersionError", "behaviour_differs", "cli_main", "compile_versions", "configure",
           "diff_results", "editorial_diff", "read_version", "render_text", "subjects"]
