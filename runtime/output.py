"""Batch output formats: JSON lines or CSV, chosen from `--format` or the output file's name.

`hgl run --cases FILE -o OUT` writes one record per input case, in the input's order:

- ``jsonl``: one JSON object per line, the record of hgl.runtime.records at the `--explain`
  level (or, for an invalid case, ``{"line": N, "error": "invalid_case", "fields": [...]}``);
- ``csv``: a header row, then one row per case (UTF-8, comma-separated, ``\\n`` line ends,
  Python's csv quoting), the decision without its explanation:

  ============== ====================================================================
  column         value
  ============== ====================================================================
  case           the record's number in the input, from 1 (= the line of the JSONL output)
  status         recommendation, needs_data, inconsistent_data, or invalid_case
  one per role   the options in that role, ids joined by ``;`` -- the guideline's roles
                 in the order results list them (e.g. preferred, alternative, avoid)
  flags          flag ids, joined by ``;``
  missing        inputs whose value could change the result, joined by ``;``
  inconsistent   inputs of a violated consistency check, joined by ``;``
  governing      the governing scenario, if any
  error          for an invalid case: "line N: field: message (hint); ..."; else empty
  ============== ====================================================================

A role named like a fixed column gets the column ``role:<name>``.

The format: `--format` when given; otherwise the output name's extension (``.jsonl`` or
``.ndjson`` -> jsonl, ``.csv`` -> csv); standard output without `--format` is jsonl.  Any
other extension without `--format`, or a `--format` that contradicts the extension, is an
OutputFormatError: never a guess.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

BATCH_FORMATS = ("jsonl", "csv")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
FIXED_BEFORE = ("case", "status")
FIXED_AFTER = ("flags", "missing", "inconsistent", "governing", "error")


class OutputFormatError(ValueError):
    """The batch output format cannot be decided, or contradicts the output's name."""


def batch_format(output, fmt: str | None) -> str:
    """The format of a batch's output: 'jsonl' or 'csv' (see the module docstring)."""
    if fmt is not None and fmt not in BATCH_FORMATS:
        raise OutputFormatError(f"--format {fmt} is for one case (--case); a batch (--cases) writes "
                                f"{' or '.join(BATCH_FORMATS)}")
    if output is None:
        return fmt or "jsonl"
    suffix = Path(str(output)).suffix.lower()
    by_name = EXTENSIONS.get(suffix)
    if fmt is None:
        if by_name is None:
            known = ", ".join(EXTENSIONS)
            what = f"extension {suffix}" if suffix else "no extension"
            raise OutputFormatError(f"-o {output}: {what}; name the file {known}, "
                                    f"or give --format {' or '.join(BATCH_FORMATS)}")
        return by_name
    if by_name is not None and by_name != fmt:
        raise OutputFormatError(f"-o {output} names a {by_name} file but --format {fmt} was given; "
                                f"change one of them")
    return fmt


def csv_columns(guideline) -> list[str]:
    """The header of the CSV output for `guideline` (its roles in the order results list them)."""
    engine = guideline.engine
    roles = sorted(engine.roles, key=lambda r: engine.display_rank.get(r, len(engine.display_rank)))
    fixed = set(FIXED_BEFORE) | set(FIXED_AFTER)
    return [*FIXED_BEFORE, *(f"role:{r}" if r in fixed else r for r in roles), *FIXED_AFTER]


def _safe(text: str) -> str:
    """Text a UTF-8 file can hold: a lone surrogate echoed from a bad input is written escaped."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _ids(items) -> str:
    return ";".join(i["id"] if isinstance(i, dict) else str(i) for i in items or ())


def _error_text(record: dict) -> str:
    parts = []
    for f in record.get("fields", ()):
        hint = f" ({f['hint']})" if f.get("hint") else ""
        parts.append(f"{f.get('field', '')}: {f.get('message', '')}{hint}")
    prefix = f"line {record['line']}: " if "line" in record else ""
    return _safe(prefix + "; ".join(parts))


class CsvResults:
    """A stream for hgl.runtime.batch.run_batch that writes each JSON record as a CSV row."""

    def __init__(self, stream, guideline):
        self.columns = csv_columns(guideline)
        engine = guideline.engine
        self._role_column = {r: (f"role:{r}" if f"role:{r}" in self.columns else r) for r in engine.roles}
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(self.columns)
        self._case = 0

    def row(self, record: dict) -> list[str]:
        """The CSV cells of one output record (a result record or an invalid-case record)."""
        self._case += 1
        cells = dict.fromkeys(self.columns, "")
        cells["case"] = str(self._case)
        if "error" in record and "status" not in record:
            cells["status"] = str(record["error"])
            cells["error"] = _error_text(record)
            return list(cells.values())
        cells["status"] = record["status"]
        by_role: dict[str, list[str]] = {}
        for o in record.get("options", ()):
            by_role.setdefault(o["role"], []).append(o["id"])
        for role, ids in by_role.items():
            column = self._role_column.get(role, role)
            if column in cells:
                cells[column] = ";".join(ids)
        cells["flags"] = _ids(record.get("flags"))
        cells["missing"] = ";".join(record.get("missing") or ())
        cells["inconsistent"] = ";".join(record.get("inconsistent") or ())
        cells["governing"] = record.get("governing") or ""
        return list(cells.values())

    def write(self, line: str) -> None:
        """Take one JSON line as run_batch writes it; write its CSV row."""
        self._writer.writerow(self.row(json.loads(line)))

    def write_result(self, record: dict) -> None:
        self._writer.writerow(self.row(record))
