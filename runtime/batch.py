"""Batch evaluation: cases from JSON Lines or CSV, one result per line, in order."""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter
from contextlib import contextmanager
import json
import os
from pathlib import Path
import sys
import time

from .parallel import batch_results, resolve_jobs
from .records import preferred_systemic, record
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


MAX_LINE_BYTES = 1 << 20  # a JSONL line or CSV line longer than this is one error record, never read whole


_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, skipped at the start of a file


def _line_error(lineno, message, field="(line)"):
    return lineno, CaseError([{"field": field, "message": message}])


def _lines(fh, pending=None, position=None):
    """(line number, text) per physical line of a binary file, each at most MAX_LINE_BYTES.

    A line too long or not UTF-8 gives (line number, CaseError) instead, or, with `pending`,
    an empty line while the error waits in pending[line number] (for the CSV reader).
    `position`: a one-item list, kept at the number of bytes read so far (the progress bar).
    """
    lineno = 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if position is not None:
            position[0] = fh.tell()
        lineno += 1
        error = None
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip to the end of the line, in bounded reads
                raw = fh.readline(MAX_LINE_BYTES)
            error = f"line longer than {MAX_LINE_BYTES} bytes: not read"
            text = ""
        else:
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                error = f"not valid UTF-8 (byte {err.start + 1} of the line)"
                text = ""
        if error is None:
            yield lineno, text
        elif pending is None:
            yield _line_error(lineno, error)
        else:
            pending[lineno] = error
            yield lineno, "\n"


# ------------------------------------------------------------------ chunks: what the reading process does

CHUNK_BYTES = 1 << 19  # JSON Lines read per chunk at most (whole lines: a little more); ~500 HER2 cases
MIN_CHUNK_BYTES = 1 << 17  # at least, or the file in 64 chunks if that is more (each task costs ~0.5 ms)
CSV_ROWS = 512  # CSV rows per chunk


def batch_chunks(path, is_csv: bool, position=None):
    """The input cut into chunks, the only reading a batch does before evaluation.

    JSON Lines: ("jsonl", first line number, bytes of whole lines) -- the bytes are not looked
    into here (the lines are split, decoded and parsed where they are evaluated:
    `chunk_records`), so the process that reads costs almost nothing.  CSV: a quoted cell may
    hold a newline, so the file cannot be cut at any newline: it is parsed here, and a chunk is
    ("csv", header, [(line number, row cells, or ("error", errors))]).
    """
    return _csv_chunks(path, position) if is_csv else _jsonl_chunks(path, position)


def chunk_bytes(total: int) -> int:
    """The bytes per chunk of a JSON Lines file of `total` bytes: 1/64 of it, within
    [MIN_CHUNK_BYTES, CHUNK_BYTES] (many chunks per worker, so none waits long for the last;
    few enough that handing them out costs ~1% of the work)."""
    return min(CHUNK_BYTES, max(MIN_CHUNK_BYTES, total // 64))


def _jsonl_chunks(path, position=None, size: int | None = None):
    size = size or chunk_bytes(_size(path))
    limit = MAX_LINE_BYTES
    with open(path, "rb") as fh:
        first = 1
        while True:
            data = fh.read(size)
            if not data:
                return
            if not data.endswith(b"\n"):  # complete the last line, in a bounded read
                tail = fh.readline(limit + 1)
                data += tail
                if len(tail) > limit and not tail.endswith(b"\n"):  # longer than any line read: skip the rest
                    while tail and not tail.endswith(b"\n"):  # (chunk_records reports it, by its length)
                        tail = fh.readline(limit)
            if position is not None:
                position[0] = fh.tell()
            yield "jsonl", first, data
            first += data.count(b"\n") + (not data.endswith(b"\n"))


def _csv_chunks(path, position=None):
    rows: list = []
    header = None
    for line, head, row in _read_csv(path, position):
        if head is None:  # an error record (it needs no header)
            rows.append((line, ("error", row.errors)))
        else:
            header = head  # read once: every row of a chunk has the same
            rows.append((line, row))
        if len(rows) >= CSV_ROWS:
            yield "csv", header, rows
            rows = []
    if rows:
        yield "csv", header, rows


def chunk_records(chunk, max_line: int | None = None):
    """(line number, case dict or CaseError) for each record of a chunk of `batch_chunks`:
    blank lines are skipped; a line that cannot be read is a CaseError naming its line."""
    if chunk[0] == "csv":
        _, header, rows = chunk
        for line, row in rows:
            yield line, CaseError(row[1]) if type(row) is tuple else dict(zip(header, row))
        return
    _, first, data = chunk
    limit = MAX_LINE_BYTES if max_line is None else max_line
    pieces = data.split(b"\n")
    last = len(pieces) - 1
    for k, raw in enumerate(pieces):
        lineno = first + k
        if k == last:
            if not raw:
                return  # the chunk ended with a newline
        elif len(raw) <= limit:
            raw += b"\n"  # as a line is read (a JSON error's column counts from it)
        if len(raw) > limit and not raw.endswith(b"\n"):
            yield _line_error(lineno, f"line longer than {limit} bytes: not read")
            continue
        if lineno == 1 and raw.startswith(_BOM):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield _line_error(lineno, f"not valid UTF-8 (byte {err.start + 1} of the line)")
            continue
        if text.strip():
            try:
                yield lineno, loads_line(raw, text)
            except json.JSONDecodeError as err:
                yield _line_error(lineno, f"not valid JSON: {err.msg} at column {err.colno}")
            except RecursionError:
                yield _line_error(lineno, "not valid JSON: nested too deeply")


def _read_csv(path, position=None):
    """(line, header, row cells) per CSV record, or (line, None, CaseError); the header is the
    first non-empty line."""
    pending: dict[int, str] = {}
    with open(path, "rb") as fh:
        reader = csv.reader((text for _, text in _lines(fh, pending, position)))
        header = None
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                yield reader.line_num, None, _line_error(0, f"not valid CSV: {err}")[1]
                continue
            line = reader.line_num
            if line in pending:
                yield line, None, _line_error(line, pending.pop(line))[1]
                if header is None:
                    return  # no header: nothing else can be read
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                header = row
                continue
            if len(row) > len(header):
                yield line, None, _line_error(line, f"{len(row)} cells, but the header has {len(header)}")[1]
                continue
            yield line, header, row
        for line in sorted(pending):  # a bad line inside a quoted multi-line cell
            yield line, None, _line_error(line, pending[line])[1]


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

try:  # a fast encoder for result records; its output is byte for byte that of _dumps (tests/test_batch_json.py)
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; without it, the same bytes, slower
    _orjson = None


_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19  # 19 digits in a row: maybe an integer beyond 64 bits, which orjson reads as a float


def loads_line(raw: bytes, text: str):
    """json.loads(text), where `raw` is `text` in UTF-8: by orjson (about three times faster)
    when that gives the same value.

    orjson reads every JSON text that json.loads reads to the same value (the same types; floats
    correctly rounded, like json's), except integers beyond 64 bits (orjson makes them floats: a
    line with 19 digits in a row goes to json.loads), and refuses some that json.loads reads (NaN,
    Infinity, 1e400, a lone surrogate) or words differently: on any orjson error json.loads reads
    the line, so a case and an error's words are the same either way (tests/test_batch_json.py).
    """
    if _orjson is not None and _LONG_NUMBER not in raw.translate(_TO_ZERO):
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(text)


def dumps_record(rec: dict) -> str:
    """A result record as one line of compact JSON, non-ASCII as is (what _dumps writes).

    orjson writes the same bytes for everything a result record holds (text, ids, booleans, whole
    numbers) except floats in exponent form (1e-05: orjson writes 0.00001): a record with an
    option standing for a float value, a number too large for 64 bits or text orjson refuses
    (a lone surrogate) is written by the standard encoder.
    """
    if _orjson is not None:
        for o in rec.get("options", ()):
            if type(o.get("stands_for")) is float:
                return _dumps(rec)
        try:
            return _orjson.dumps(rec).decode("utf-8")
        except (TypeError, _orjson.JSONEncodeError):
            pass
    return _dumps(rec)


def evaluate_record(guideline, checked, specs, is_csv, lineno, case, explain="full"):
    """(output line, tally) for one record of `chunk_records`; the tally is (status, preferred
    systemic options), or None for an invalid case.  Run in this process or in a worker
    (hgl.runtime.parallel); `explain`: full, short or none (hgl.runtime.records)."""
    if is_csv and not isinstance(case, CaseError):
        case = {k: v for k, v in ((k, _csv_value(specs.get(k), v or "")) for k, v in case.items())
                if v is not _ABSENT}
    if isinstance(case, CaseError):
        return _dumps({"line": lineno, **case.to_dict()}) + "\n", None
    try:
        result = guideline.evaluate(case, checked, params_checked=True)
    except CaseError as err:
        return _dumps({"line": lineno, **err.to_dict()}) + "\n", None
    return dumps_record(record(result, explain)) + "\n", (result.status, preferred_systemic(result))


def chunk_evaluator(guideline, checked, is_csv, explain="full", max_line: int | None = None):
    """A function from a chunk of `batch_chunks` to (its output text, its tally): the work of a
    worker process (hgl.runtime.parallel), or of this process with one job.

    The tally is (records, invalid records, {status: count}, {preferred option: count}), the
    counts in the order first seen (merged chunk after chunk they are those of the whole file).
    """
    specs = {s.name: s for s in guideline.inputs}
    limit = MAX_LINE_BYTES if max_line is None else max_line

    def run(chunk):
        lines: list[str] = []
        status: dict = {}
        preferred: dict = {}
        errors = 0
        for lineno, case in chunk_records(chunk, limit):
            line, tally = evaluate_record(guideline, checked, specs, is_csv, lineno, case, explain)
            lines.append(line)
            if tally is None:
                errors += 1
            else:
                status[tally[0]] = status.get(tally[0], 0) + 1
                for o in tally[1]:
                    preferred[o] = preferred.get(o, 0) + 1
        return "".join(lines), (len(lines), errors, status, preferred)

    return run


def run_batch(guideline, path, out, params=None, progress=True, fmt="jsonl", jobs=1, explain="full"):
    """Evaluate every case of a file; write one JSON result per line to `out`; return the summary.

    Parameters are checked once (a bad one raises CaseError before any case runs); an invalid
    case gives its line an {"error": ...} result and the others still run.  `jobs`: worker
    processes (None: every core, one for a small file; hgl.runtime.parallel), output in order.
    This process only cuts the input into chunks (`batch_chunks`) and writes what comes back;
    with one job, or a file of one chunk, it evaluates the chunks itself, through the same functions.
    """
    checked = guideline.check_params(params)
    is_csv = str(path).endswith(".csv")
    status: Counter = Counter()
    preferred: Counter = Counter()
    errors = 0
    # the progress bar estimates the number of cases from the bytes read so far: the input is read once
    size = _size(path) if progress else 0
    position = [0]
    start = time.perf_counter()
    last = 0.0
    done = 0
    jobs = resolve_jobs(jobs, path)
    chunks = batch_chunks(path, is_csv, position)
    if jobs > 1:
        ahead = [c for _, c in zip(range(2), chunks)]
        chunks = itertools.chain(ahead, chunks)
        if len(ahead) < 2:
            jobs = 1  # one chunk: starting workers costs more than it saves
    if jobs == 1:
        results = map(chunk_evaluator(guideline, checked, is_csv, explain), chunks)
    else:
        results = batch_results(guideline, checked, is_csv, chunks, explain, jobs, MAX_LINE_BYTES)
    for text, (n, bad, by_status, by_preferred) in results:
        _write(out, text)
        errors += bad
        status.update(by_status)
        preferred.update(by_preferred)
        done += n
        if progress and size:
            now = time.perf_counter()
            if now - last > 0.2:
                last = now
                _bar(done, _estimate(done, position[0], size), now - start, "~")
    if progress and size:
        _bar(done, done, time.perf_counter() - start)
        sys.stderr.write("\n")
    return {"cases": done, "errors": errors, "by_status": dict(status.most_common()),
            "by_preferred": dict(preferred.most_common())}


def _write(out, text: str) -> None:
    """A chunk's lines to `out`: a text stream takes them at once; another sink (such as
    hgl.runtime.output.CsvResults) one line at a time, as before chunks."""
    if not isinstance(out, io.TextIOBase):
        for line in _split(text):
            _write_line(out, line)
        return
    try:
        out.write(text)  # encoded as a whole before anything is written: all or nothing
    except UnicodeEncodeError:
        for line in _split(text):
            _write_line(out, line)


def _write_line(out, line: str) -> None:
    try:
        out.write(line)
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800") echoed in an error: written escaped
        out.write(json.dumps(json.loads(line), separators=(",", ":")) + "\n")


def _split(text: str) -> list[str]:
    """The lines of a chunk's output, each with its newline (a JSON line holds no raw newline;
    str.splitlines would also cut at U+2028 inside a string)."""
    return [line + "\n" for line in text.split("\n")[:-1]]


class OutputRefused(Exception):
    """The output path would overwrite an input (nothing was touched)."""


@contextmanager
def output_file(path, inputs=()):
    """A text stream for the results: standard output, or `path` written atomically.

    The results go to a temporary file beside `path`, renamed into place only when the block
    ends normally; an error or an interruption leaves the previous output as it was.  A `path`
    that is one of `inputs` is refused (OutputRefused) before anything is opened.
    """
    if path is None:
        yield sys.stdout
        return
    target = Path(path)
    for given in inputs:
        try:
            same = target.exists() and os.path.samefile(target, given)
        except OSError:
            same = False
        if same or target.resolve() == Path(given).resolve():
            raise OutputRefused(f"-o {path} is the input file {given}: refusing to overwrite it")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fh = open(tmp, "w", encoding="utf-8")
    try:
        yield fh
        fh.close()
        os.replace(tmp, target)
    except BaseException:
        fh.close()
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def _size(path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _estimate(done: int, read: int, size: int) -> int:
    """The cases of the whole file, from those done and the share of its bytes read (ahead of them
    with worker processes: a slight underestimate until the end)."""
    if read <= 0:
        return done
    return max(done, round(done * size / read))


def _bar(done, total, elapsed, approx=""):
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / elapsed if elapsed > 0 else 0.0
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{approx}{total} cases, {rate:,.0f}/s")
    sys.stderr.flush()
