"""The `hgl case-from-fhir` command: a guideline and a FHIR Bundle -> the derived case, with the source of each value (hgl.runtime.fhirin)."""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path

from hgl.runtime.fhirin import BindingError, Bindings, case_from_fhir, load


def configure(p) -> None:
    """Arguments of `hgl case-from-fhir`."""
    p.add_argument("guideline", help="a .hgl file (or a module built by hgl build) that declares FHIR bindings")
    p.add_argument("bundle", help="a FHIR Bundle (JSON), or a JSON list of resources and Bundles")
    p.add_argument("--date", help="reference date for ages and durations, YYYY-MM-DD (default: today)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON {case, sources}")


def _fmt_source(s: dict) -> str:
    where = " ".join(x for x in (s.get("resource"), s.get("path")) if x)
    if "value" in s:
        where += f" = {s['value']}"
    if "as" in s:
        where += f" ({s['as']})"
    return where + (f" ({s['note']})" if s.get("note") else "")


def format_case(guideline_id: str, case: dict, sources: dict, bindings: Bindings, today: _dt.date) -> str:
    """The derived case with each value's sources, then what was found but not derived, then what was not found."""
    lines = [f"{guideline_id}: case from FHIR (reference date {today.isoformat()})"]
    for name, value in case.items():
        lines.append(f"  {name}: {json.dumps(value, ensure_ascii=False)}")
        lines += [f"      from {_fmt_source(s)}" for s in sources.get(name, ())]
    found = [n for n in sources if n not in case]
    if found:
        lines.append("found but not derived (enter them):")
        for name in found:
            lines.append(f"  {name}")
            lines += [f"      {_fmt_source(s)}" for s in sources[name]]
    missing = [b.name for b in bindings.inputs if b.name not in case and b.name not in sources]
    if missing:
        lines.append("bound but not in the record: " + ", ".join(missing))
    return "\n".join(lines) + "\n"


def cli_main(args) -> int:
    """`hgl case-from-fhir GUIDELINE BUNDLE.json`: 0 printed, 1 unusable bindings or bundle, 2 bad arguments."""
    try:
        today = _dt.date.fromisoformat(args.date) if args.date else _dt.date.today()
    except ValueError:
        print(f"error: --date {args.date!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        data = json.loads(Path(args.bundle).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        print(f"error: cannot read {args.bundle}: {err}", file=sys.stderr)
        return 1
    try:
        guideline = load(args.guideline)
    except (OSError, BindingError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    case, sources = case_from_fhir(guideline, data if isinstance(data, list) else [data], today)
    if args.format == "json":
        sys.stdout.write(json.dumps({"case": case, "sources": sources}, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(format_case(guideline.id, case, sources, guideline.fhir_bindings, today))
    return 0
