"""The `hgl` command line (drives every stage): arguments -> diagnostics, built modules, evaluated cases.

Subcommands check, build, run, test and schema live here; docs, diff, lsp, serve and export are
plugged in from their own modules (PLUGGED).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

# subcommands whose arguments and work live in their own module: name -> (module, help)
PLUGGED = {
    "docs": ("hgl.compiler.docs.site", "build the documentation site (mkdocs)"),
    "diff": ("hgl.compiler.verify.diff", "behavioural diff between two versions of a guideline"),
    "lsp": ("hgl.compiler.lsp.server", "language server for editors (stdio)"),
    "serve": ("hgl.runtime.service", "serve guidelines over HTTP (JSON API and CDS Hooks)"),
    "export": ("hgl.compiler.fhir.export", "export a guideline as a FHIR R4 Bundle (PlanDefinition, Library, ActivityDefinitions)"),
    "case-from-fhir": ("hgl.compiler.fhir.fromfhir", "derive a case from a patient's FHIR resources, with the source of each value"),
    "cohort": ("hgl.runtime.cohort", "evaluate a cohort in Parquet, locally or on Spark, with a concordance report"),
    "fmt": ("hgl.compiler.front.format", "format .hgl files in place (--check for CI, --diff to show changes)"),
}


def _color(stream) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


def cmd_check(args) -> int:
    from hgl.compiler.front.diagnostics import dumps, render_all
    from hgl.compiler.pipeline import compile_source, read_source

    worst = EXIT_OK
    all_json = []
    for path in args.files:
        try:
            source = read_source(path)
        except (OSError, UnicodeDecodeError) as err:
            print(f"{path}: error: cannot read: {err}", file=sys.stderr)
            worst = max(worst, EXIT_ERRORS)
            continue
        result = compile_source(source)
        diags = list(result.diagnostics)
        if (args.verify or args.verify_gaps) and result.ok:
            from hgl.compiler.verify.search import verify_report

            gap_kind = (args.verify_gaps or "silent").replace("-", "_")
            from hgl.compiler.verify.phases import wants_progress

            diags += verify_report(result, gap_kind=gap_kind, jobs=args.jobs,
                                   progress=wants_progress(args.progress)).diagnostics
        diags, accepted = _split_accepted(result, diags, verified=bool(args.verify or args.verify_gaps),
                                          show=args.show_accepted)
        if args.format == "json":
            all_json.extend(json.loads(dumps(source, diags)))
        elif diags:
            print(render_all(source, diags, _color(sys.stdout)))
        else:
            print(f"{path}: ok")
        if accepted and args.format != "json":
            print(f"{path}: {accepted} finding{'' if accepted == 1 else 's'} accepted in the source" +
                  ("" if args.show_accepted else " (--show-accepted lists them)"))
        if any(d.severity == "error" for d in diags):
            worst = max(worst, EXIT_ERRORS)
        elif args.strict and diags:
            worst = max(worst, EXIT_ERRORS)
    if args.format == "json":
        print(json.dumps(all_json, indent=2, ensure_ascii=False))
    return worst


def _split_accepted(result, diags, verified: bool, show: bool):
    """Findings to print, and how many `accept` statements accepted (compiler/check/accepts.py)."""
    from hgl.compiler.check.accepts import partition
    from hgl.compiler.front.diagnostics import Diagnostic

    part = partition(result.program, diags, verified)
    shown = list(part.shown)
    if show:  # each accepted finding once more, with its reason
        shown += [Diagnostic(d.code, d.message, d.span, d.hint,
                             (f"accepted at line {a.span.line}: {a.reason}",) + d.notes, d.data)
                  for d, a in part.accepted]
        shown.sort(key=Diagnostic.sort_key)
    return shown, len(part.accepted)


def cmd_build(args) -> int:
    from hgl.compiler.front.diagnostics import render_all
    from hgl.compiler.pipeline import compile_source, read_source

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    source = read_source(args.file)
    result = compile_source(source)
    if result.diagnostics:
        print(render_all(source, result.diagnostics, _color(sys.stderr)), file=sys.stderr)
    if not result.ok:
        return EXIT_ERRORS
    name = Path(args.file).stem
    target = out / f"{name}.py"
    target.write_text(result.code, encoding="utf-8")
    print(f"wrote {target} ({len(result.code.splitlines())} lines, source sha256 {source.sha256[:12]})")
    return EXIT_OK


def _params(pairs) -> dict:
    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"hgl: --param takes NAME=VALUE, got {pair!r}")
        k, v = pair.split("=", 1)
        params[k.strip()] = v.strip()
    return params


def _load_case(path):
    """One case from JSON or YAML: a bounded safe loader (no alias blow-up), CaseFileError when unreadable."""
    from hgl.runtime.casefile import load_case

    return load_case(path)


def cmd_run(args) -> int:
    from hgl.runtime import CaseError, load
    from hgl.runtime.batch import run_batch
    from hgl.runtime.report import format_result, format_summary

    guideline = load(args.guideline)
    params = _params(args.param)
    try:
        guideline.check_params(params)
    except CaseError as err:
        print("hgl run: invalid parameter:", file=sys.stderr)
        for e in err.errors:
            print(f"  {e['field']}: {e['message']}" + (f" ({e['hint']})" if e.get("hint") else ""),
                  file=sys.stderr)
        return EXIT_USAGE
    if args.why_not and (unknown := _unknown_options(guideline, args.why_not)):
        if args.format == "json":  # as an invalid case is reported in JSON mode, on standard output
            print(json.dumps({"error": "unknown_option", "fields": unknown}, indent=2, ensure_ascii=False))
        return EXIT_USAGE
    if args.cases:
        from hgl.runtime.batch import OutputRefused, output_file
        from hgl.runtime.output import CsvResults, OutputFormatError, batch_format

        try:  # the format from --format or the name of -o (never a guess); the folder must exist
            fmt = batch_format(args.output, args.format)
            if args.output and not Path(args.output).resolve().parent.is_dir():
                raise OutputFormatError(f"-o {args.output}: the folder {Path(args.output).parent} does not exist")
        except OutputFormatError as err:
            print(f"hgl run: {err}", file=sys.stderr)
            return EXIT_USAGE
        explain = args.explain or ("none" if fmt == "csv" else "full")  # CSV holds the decision, not the words
        try:  # -o is written atomically; -o naming an input is refused before anything is touched
            with output_file(args.output, (args.cases, args.guideline)) as out:
                sink = CsvResults(out, guideline) if fmt == "csv" else out
                summary = run_batch(guideline, args.cases, sink, params,
                                    progress=not args.no_progress and sys.stderr.isatty() or args.progress,
                                    jobs=args.jobs, explain=explain)
        except CaseError as err:
            print(json.dumps(err.to_dict()), file=sys.stderr)
            return EXIT_USAGE
        except OutputRefused as err:
            print(f"hgl run: {err}", file=sys.stderr)
            return EXIT_USAGE
        print(format_summary(summary), file=sys.stderr)
        return EXIT_ERRORS if summary["errors"] else EXIT_OK  # some records were invalid
    if not args.case:
        print("hgl run: give --case FILE or --cases FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.output:  # one case prints to standard output: -o would be ignored, so it is refused
        print(f"hgl run: -o is for a batch (--cases); redirect one case's output instead (> {args.output})",
              file=sys.stderr)
        return EXIT_USAGE
    from hgl.runtime.casefile import CaseFileError

    try:
        case = _load_case(args.case)
    except CaseFileError as err:
        print(f"hgl run: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = guideline.evaluate(case, params, trace=args.trace, why_not=args.why_not or ())
    except CaseError as err:
        if args.format == "json":
            print(json.dumps(err.to_dict(), indent=2, ensure_ascii=False))
        else:
            print("invalid case:", file=sys.stderr)
            for e in err.errors:
                print(f"  {e['field']}: {e['message']}" + (f" ({e['hint']})" if e.get("hint") else ""),
                      file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    elif args.format == "jsonl":
        print(json.dumps(result.to_dict(), ensure_ascii=False, separators=(",", ":")))
    elif args.format == "csv":  # one row, the columns of a batch (hgl.runtime.output)
        from hgl.runtime.output import CsvResults

        CsvResults(sys.stdout, guideline).write_result(result.to_dict(receipt=False))
    else:
        print(format_result(result))
    return EXIT_OK


def _unknown_options(guideline, ids) -> list[dict]:
    """Report each --why-not id that is not an option of the guideline (with did-you-mean) on
    standard error; return them as error fields ({field, message, hint})."""
    import difflib

    options = list(guideline.module.OPTIONS)
    errors = []
    for oid in (o for o in dict.fromkeys(ids) if o not in options):
        close = [o for o in options if o.startswith(oid)] if oid else []
        close = close[:1] or difflib.get_close_matches(oid, options, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "its options: " + ", ".join(options)
        message = f"no option '{oid}' in guideline {guideline.id}"
        print(f"hgl run: --why-not {oid}: {message} ({hint})", file=sys.stderr)
        errors.append({"field": "why_not", "message": message, "hint": hint})
    return errors


def cmd_test(args) -> int:
    if args.mutate:  # mutation testing lives in its own package (compiler/mutate/)
        from hgl.compiler.mutate.report import cli_main

        return cli_main(args)
    from hgl.runtime import load
    from hgl.runtime.casefile import run_case_file

    guideline = load(args.guideline)
    failed = passed = 0
    fired: set[str] = set()
    from hgl.runtime.casefile import CaseFileError

    for path in args.cases:
        try:
            outcomes = run_case_file(guideline, path)
        except CaseFileError as err:
            print(f"hgl test: {err}", file=sys.stderr)
            return EXIT_USAGE
        for outcome in outcomes:
            fired |= outcome.rules
            if outcome.passed:
                passed += 1
                if args.verbose:
                    print(f"PASS {path}::{outcome.id} {outcome.title}")
                continue
            failed += 1
            print(f"FAIL {path}::{outcome.id} {outcome.title}")
            for f in outcome.failures:
                print(f"     {f}")
    rc = EXIT_OK if failed == 0 else EXIT_ERRORS
    if args.coverage:
        rules = [r.id for r in guideline.module.RULES]
        unfired = [r for r in rules if r not in fired]
        print(f"rule coverage: {len(rules) - len(unfired)}/{len(rules)} rules fired by at least one case")
        for r in unfired:
            rule = next(x for x in guideline.module.RULES if x.id == r)
            print(f"  not fired: {r} ({guideline.module.SOURCE}:{rule.line})")
        if unfired and args.require_coverage:
            rc = EXIT_ERRORS
    print(f"{passed} passed, {failed} failed")
    return rc


def cmd_schema(args) -> int:
    from hgl.runtime import load

    print(json.dumps(load(args.guideline).schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hgl", description="HGL: clinical guidelines as checked, explainable code")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="check .hgl files and report diagnostics")
    c.add_argument("files", nargs="+")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.add_argument("--verify", action="store_true", help="also search for gaps, conflicts and dead rules")
    c.add_argument("--verify-gaps", choices=("silent", "no-preferred"), default=None,
                   help="what --verify calls a gap (implies --verify): 'silent' (default, SPEC.md 3: no option, "
                        "no flag, no request) or 'no-preferred' (no preferred option, no flag, no request)")
    c.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="--verify: run its phases in N worker processes (same findings for any N; default: every core)")
    c.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="--verify: progress on stderr (default: only when stderr is a terminal)")
    c.add_argument("--strict", action="store_true", help="warnings fail too")
    c.add_argument("--show-accepted", action="store_true",
                   help="also print the findings an `accept` statement accepts, with its reason")
    c.set_defaults(func=cmd_check)

    b = sub.add_parser("build", help="compile a guideline to a Python module")
    b.add_argument("file")
    b.add_argument("-o", "--output", required=True, help="output folder")
    b.set_defaults(func=cmd_build)

    r = sub.add_parser("run", help="evaluate a case (or a batch of cases)")
    r.add_argument("guideline", help="a .hgl file or a module built by 'hgl build'")
    r.add_argument("--case", help="one case, JSON or YAML")
    r.add_argument("--cases", help="a batch: .jsonl or .csv")
    r.add_argument("--format", choices=("text", "json", "jsonl", "csv"), default=None,
                   help="one case: text (default), json, jsonl or csv; a batch: jsonl or csv "
                        "(default: from the name of -o, .jsonl/.ndjson or .csv; JSON lines on standard output)")
    r.add_argument("--param", action="append", metavar="NAME=VALUE", help="override a policy parameter")
    r.add_argument("--why-not", action="append", metavar="OPTION", help="explain why an option is not given")
    r.add_argument("--trace", action="store_true", help="include every rule's truth value")
    r.add_argument("-o", "--output", help="batch output file, written whole or not at all (default: standard output)")
    r.add_argument("--progress", action="store_true", help="always show the progress bar")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="batch worker processes (default: every core; one for a small file); output keeps the input order")
    r.add_argument("--explain", choices=("full", "short", "none"), default=None,
                   help="batch output: full explanations (default), short (no words) or none (the decision alone)")
    r.set_defaults(func=cmd_run)

    t = sub.add_parser("test", help="run case files (SPEC.md 3.2) against a guideline")
    t.add_argument("guideline")
    t.add_argument("--cases", action="append", required=True, help="a case file (repeatable)")
    t.add_argument("--coverage", action="store_true", help="report rules that no case fires")
    t.add_argument("--require-coverage", action="store_true", help="fail when a rule is never fired")
    t.add_argument("-v", "--verbose", action="store_true")
    t.add_argument("--mutate", action="store_true",
                   help="mutation testing: run the cases against small edits of the guideline and report the score")
    t.add_argument("--write-cases", metavar="FILE",
                   help="with --mutate: append a case that kills each surviving mutant to FILE")
    t.set_defaults(func=cmd_test)

    s = sub.add_parser("schema", help="print the JSON Schema of a guideline's cases")
    s.add_argument("guideline")
    s.set_defaults(func=cmd_schema)

    for name, (module, help_text) in PLUGGED.items():
        sp = sub.add_parser(name, help=help_text)
        if name != command:  # import a plugged module only when its command runs: keeps start-up fast
            sp.set_defaults(func=lambda a, n=name: _unavailable(n))
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError:
            sp.set_defaults(func=lambda a, n=name: _unavailable(n))
            continue
        mod.configure(sp)
        sp.set_defaults(func=mod.cli_main)
    return p


def _unavailable(name) -> int:
    print(f"hgl {name}: not available in this installation", file=sys.stderr)
    return EXIT_USAGE


def main(argv=None) -> int:
    from hgl.compiler.front.diagnostics import HglError

    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return args.func(args)
    except HglError as err:
        from hgl.compiler.front.diagnostics import render_all

        print(render_all(err.source, err.diagnostics, _color(sys.stderr)), file=sys.stderr)
        return EXIT_ERRORS
    except FileNotFoundError as err:  # a library may give no file name (pyarrow): then its own words
        print(f"hgl: {err.filename}: no such file" if err.filename else f"hgl: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # pragma: no cover
        return EXIT_OK
    except Exception as err:
        # the compiler is imported only by the commands that compile (`hgl run` on a cached guideline
        # starts without it): an InternalError can only come from it once it is loaded
        pipeline = sys.modules.get("hgl.compiler.pipeline")
        if pipeline is None or not isinstance(err, pipeline.InternalError):
            raise
        print("hgl: internal compiler error (a bug in hgl, not in your guideline); please report it with "
              "the file that caused it.\n" + str(err), file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
