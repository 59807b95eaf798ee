"""The columnar entry point: Arrow record batches in, Arrow record batches out (needs pyarrow).

Input: one column per input of the guideline, typed by the input's kind (yes/no: bool; whole
number: int64; number: float64, in the declared unit; one of / option: string; set of: list
of string).  Columns that are not inputs are ignored (a patient id, the treatment given…);
`keep` names those to copy into the output.

Absent versus null.  A JSON record tells "not given" (the field is left out: its default
applies, if it has one) from "given as unknown" (`null`: missing, whatever the default).  A
column cannot, so the convention is explicit:

- a null value is **missing** (unknown): never replaced by a default;
- "not given" is told by the mask column ``<input>__given`` (bool): false (or null) means the
  input was not given, and its default applies (an input without a default is then missing);
  true means given (a null value is then missing).  A value where the mask says false is an
  invalid row, never silently dropped;
- an input with no column at all is not given on every row.

Only inputs with a default need a mask (for the others not given and missing are the same);
`table_from_records` writes one for exactly those.  The rule errs on the safe side: data that
lost its masks (a null where a field was left out) asks for the data, it never fills in a
default and recommends.

Output: the `keep` columns, then `status`, `governing`, `options` (a list of {id, role, rule},
preferred first, as in the JSON record), `flags`, `missing`, `inconsistent` and `violated` (lists
of names), `error` (null, or the JSON error record of an invalid row), and with
``explain="short"`` or ``"full"`` a `result` column: the JSON record `hgl run --cases` writes
for the row (hgl.runtime.records), byte for byte.
"""

from __future__ import annotations

import json

import pyarrow as pa

from .batch import dumps_record
from .records import LEVELS, option_triples, record
from .schema import CaseError, coerce

GIVEN = "__given"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "number": pa.float64(), "enum": pa.string(),
          "option": pa.string(), "set": pa.list_(pa.string())}
OPTION = pa.struct([("id", pa.string()), ("role", pa.string()), ("rule", pa.string())])
NAMES = pa.list_(pa.string())


def input_schema(guideline) -> pa.Schema:
    """The input columns, and a mask column for each input with a default."""
    fields = []
    for spec in guideline.inputs:
        fields.append(pa.field(spec.name, _TYPES[spec.kind]))
        if spec.has_default:
            fields.append(pa.field(spec.name + GIVEN, pa.bool_()))
    return pa.schema(fields)


def result_schema(explain: str = "none", keep: pa.Schema | list = ()) -> pa.Schema:
    """The output columns: `keep` (fields), the decision, `error`, and `result` unless explain is none."""
    if explain not in LEVELS:
        raise ValueError(f"explain must be one of {', '.join(LEVELS)}, got {explain!r}")
    fields = list(keep) + [pa.field("status", pa.string()), pa.field("governing", pa.string()),
                           pa.field("options", pa.list_(OPTION)), pa.field("flags", NAMES),
                           pa.field("missing", NAMES), pa.field("inconsistent", NAMES), pa.field("violated", NAMES),
                           pa.field("error", pa.string())]
    if explain != "none":
        fields.append(pa.field("result", pa.string()))
    return pa.schema(fields)


# ------------------------------------------------------------------ records <-> columns

def table_from_records(guideline, records, extra=()) -> pa.Table:
    """JSON-style records (absent = not given, None = missing) as a table by the convention above.

    `extra`: names of other columns to carry (types inferred).  A key that is neither an input
    nor in `extra` raises ValueError, as would a value that does not fit its input's column
    (give canonical values: numbers in the declared unit, lists for sets).
    """
    records = list(records)
    names = {s.name for s in guideline.inputs}
    allowed = names | set(extra)
    for i, r in enumerate(records):
        unknown = set(r) - allowed
        if unknown:
            raise ValueError(f"record {i + 1}: not an input of {guideline.id}: {', '.join(sorted(unknown))}")
    arrays, fields = [], []
    for name in extra:
        arrays.append(pa.array([r.get(name) for r in records]))
        fields.append(pa.field(name, arrays[-1].type))
    for spec in guideline.inputs:
        t = _TYPES[spec.kind]
        values = [r.get(spec.name) for r in records]
        if spec.kind in ("int", "number"):  # a quantity with its unit ("26 weeks"): in the declared unit
            values = [_canonical(spec, v) if v is not None and type(v) not in (int, float) else v for v in values]
        if spec.kind == "number":
            values = [float(v) if type(v) is int else v for v in values]
        try:
            arrays.append(pa.array(values, type=t))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as err:
            raise ValueError(f"input {spec.name}: a value does not fit a {t} column ({err})") from None
        fields.append(pa.field(spec.name, t))
        if spec.has_default:
            arrays.append(pa.array([spec.name in r for r in records], type=pa.bool_()))
            fields.append(pa.field(spec.name + GIVEN, pa.bool_()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _canonical(spec, value):
    errors: list = []
    out = coerce(spec, value, errors)
    if errors:
        raise ValueError(f"input {spec.name}: {errors[0]['message']}")
    return out


def cases(guideline, batch) -> list:
    """Each row of a record batch (or table) as a case dict, or a CaseError (a value where the
    mask says not given)."""
    n = batch.num_rows
    names = set(batch.schema.names)
    out = [{} for _ in range(n)]
    bad: dict = {}
    for spec in guideline.inputs:
        name = spec.name
        if name not in names:
            continue  # not given on any row
        values = batch.column(name).to_pylist()
        if spec.kind == "number":  # a JSON 60 is an int: 60.0 from a float column reads back as 60
            values = [int(v) if type(v) is float and v.is_integer() and abs(v) < 2 ** 53 else v for v in values]
        mask = batch.column(name + GIVEN).to_pylist() if name + GIVEN in names else None
        if mask is None:
            for case, v in zip(out, values):
                case[name] = v  # None: missing
            continue
        for i, (case, v, given) in enumerate(zip(out, values, mask)):
            if given:
                case[name] = v
            elif v is not None:
                bad.setdefault(i, []).append({"field": name, "message": f"a value, but {name}{GIVEN} says not given"})
            # else not given: the default applies
    for i, errors in bad.items():
        out[i] = CaseError(errors)
    return out


# ------------------------------------------------------------------ evaluation

def evaluate_batch(guideline, batch, params=None, explain: str = "none", keep=(), checked=None) -> pa.RecordBatch:
    """Evaluate every row of an Arrow record batch (or table); one output row per input row, in order.

    Gives exactly what `guideline.evaluate` gives for the row's case (see `cases`); an invalid
    row gets its JSON error record in `error` and nulls elsewhere.
    """
    if checked is None:
        checked = guideline.check_params(params)
    schema = result_schema(explain, [batch.schema.field(k) for k in keep])
    status, governing, options, flags, missing, inconsistent, violated, error, texts = ([] for _ in range(9))
    evaluate = guideline.evaluate
    for case in cases(guideline, batch):
        try:
            if type(case) is not dict:
                raise case
            r = evaluate(case, checked, params_checked=True)
        except CaseError as err:
            for col in (status, governing, options, flags, missing, inconsistent, violated):
                col.append(None)
            error.append(_dumps(err.to_dict()))
            texts.append(None)
            continue
        status.append(r.status)
        governing.append(r.governing)
        options.append([{"id": o, "role": role, "rule": rule} for o, role, rule in option_triples(r)])
        flags.append(r.flag_ids)
        missing.append(r.missing)
        inconsistent.append(r.inconsistent)
        violated.append([c.id for c in r._violated])
        error.append(None)
        if explain != "none":
            texts.append(dumps_record(record(r, explain)))  # (orjson where it writes json's bytes)
    columns = [batch.column(k) for k in keep]
    if isinstance(batch, pa.Table):
        columns = [c.combine_chunks() if c.num_chunks != 1 else c.chunk(0) for c in columns]
    columns += [pa.array(status, pa.string()), pa.array(governing, pa.string()), pa.array(options, pa.list_(OPTION)),
                pa.array(flags, NAMES), pa.array(missing, NAMES), pa.array(inconsistent, NAMES),
                pa.array(violated, NAMES), pa.array(error, pa.string())]
    if explain != "none":
        columns.append(pa.array(texts, pa.string()))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def row_records(results) -> list[dict]:
    """The output rows as the JSON records `hgl run --cases --explain none` writes (for comparison):
    an invalid row as its error record (without the line number)."""
    out = []
    for row in results.to_pylist():
        if row["error"] is not None:
            out.append(json.loads(row["error"]))
            continue
        d = {"status": row["status"], "options": row["options"], "flags": row["flags"],
             "missing": row["missing"], "inconsistent": row["inconsistent"]}
        if row["violated"]:
            d["violated"] = row["violated"]
        d["governing"] = row["governing"]
        out.append(d)
    return out


def write_parquet(guideline, records, path, extra=(), batch_size: int = 65_536) -> int:
    """Records written as a Parquet file by the convention above, `batch_size` at a time; the row count."""
    import pyarrow.parquet as pq

    writer = None
    n = 0
    chunk: list = []

    def flush():
        nonlocal writer
        table = table_from_records(guideline, chunk, extra)
        if writer is None:
            writer = pq.ParquetWriter(str(path), table.schema)
        writer.write_table(table.cast(writer.schema) if table.schema != writer.schema else table)

    try:
        for r in records:
            chunk.append(r)
            n += 1
            if len(chunk) >= batch_size:
                flush()
                chunk = []
        if chunk or writer is None:
            flush()
    finally:
        if writer is not None:
            writer.close()
    return n
