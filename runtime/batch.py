"""Batch evaluation: cases from JSON Lines or CSV, one result per line, in order."""

from __future__ import annotations

import csv
from collections import Counter
import json
import sys
import time

from .schema import CaseError


def _csv_value(spec, text: str):
    """A CSV cell as the validator expects it; empty = absent, 'null' = missing."""
    if text == "":
        return _ABSENT
    if text.lower() in ("null", "na", "n/a"):
        return None
    if spec is None:
        return text
    if spec.kind == "bool":
        return {"true": True, "false": False, "yes": True, "no": False}.get(text.lower(), text)
    if spec.kind in ("int", "number"):
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return text  # "26 weeks": the validator converts or rejects it
    if spec.kind == "set":
        return [x.strip() for x in text.replace("|", ";").split(";") if x.strip()] if text != "[]" else []
    return text


_ABSENT = object()


def read_cases(path):
    """Yield (line number, case dict or CaseError) from a .jsonl or .csv file."""
    return _read_csv(path, None) if str(path).endswith(".csv") else _read_jsonl(path)


def _read_jsonl(path):
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as err:
                yield i, CaseError([{"field": "(line)", "message": f"not valid JSON: {err.msg} at column {err.colno}"}])


def _read_csv(path, inputs):
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for i, row in enumerate(reader, 2):
            yield i, row


def run_batch(guideline, path, out, params=None, progress=True, fmt="jsonl"):
    """Evaluate every case of a file; write one JSON result per line to `out`; return the summary.

    Parameters are checked once (a bad one raises CaseError before any case runs); an invalid
    case gives its line an {"error": ...} result and the others still run.
    """
    checked = guideline.check_params(params)
    specs = {s.name: s for s in guideline.inputs}
    is_csv = str(path).endswith(".csv")
    status: Counter = Counter()
    preferred: Counter = Counter()
    errors = 0
    total = None
    if progress:
        with open(path, encoding="utf-8") as fh:
            total = sum(1 for line in fh if line.strip()) - (1 if is_csv else 0)
    start = time.perf_counter()
    last = 0.0
    done = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    write = out.write
    evaluate = guideline.evaluate
    for lineno, case in read_cases(path):
        if is_csv:
            case = {k: v for k, v in ((k, _csv_value(specs.get(k), v or "")) for k, v in case.items())
                    if v is not _ABSENT}
        if isinstance(case, CaseError):
            d = {"line": lineno, **case.to_dict()}
        else:
            try:
                d = evaluate(case, checked, params_checked=True).to_dict(receipt=False)
            except CaseError as err:
                d = {"line": lineno, **err.to_dict()}
        write(dumps(d) + "\n")
        if "error" in d:
            errors += 1
        else:
            status[d["status"]] += 1
            for o in d["options"]:
                if o["role"] == "preferred" and o["kind"] == "systemic":
                    preferred[o["id"]] += 1
        done += 1
        if progress and total and not done & 255:
            now = time.perf_counter()
            if now - last > 0.2:
                last = now
                _bar(done, total, now - start)
    if progress and total:
        _bar(done, total, time.perf_counter() - start)
        sys.stderr.write("\n")
    return {"cases": done, "errors": errors, "by_status": dict(status.most_common()),
            "by_preferred": dict(preferred.most_common())}


def _bar(done, total, elapsed):
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / elapsed if elapsed > 0 else 0.0
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} cases, {rate:,.0f}/s")
    sys.stderr.flush()
