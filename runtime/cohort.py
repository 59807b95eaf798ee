"""`hgl cohort`: a guideline over a whole cohort in Parquet, on this machine or on a Spark cluster.

    hgl cohort GUIDELINE --input DATA.parquet -o RESULTS.parquet [--engine local|spark] [--master URL]
               [--jobs N] [--explain none|short|full] [--param NAME=VALUE] [--keep COL]
               [--concordance COLUMN [--report DIR]]

The input follows the columnar convention of hgl.runtime.columnar (one column per input, a
null is missing, `<input>__given` masks for not given); the output has one row per patient:
the kept columns (by default every input column that is not an input of the guideline nor a
mask, e.g. a patient id and the treatment given) and the result columns.

- `--engine local` (default): record batches read from the file are evaluated in worker
  processes (every core by default) and written in the input's order; memory is bounded.
- `--engine spark`: the same function on Spark, through `DataFrame.mapInArrow`; the guideline
  travels to the executors by pickle (its module's source: no `.hgl` file, compile cache or
  compiler needed there, only `hgl.runtime` and pyarrow).  `--master` as for spark-submit
  (default `local[*]`); the output is a Parquet folder of part files, in no particular order.

Both engines give the same rows.  With `--concordance COLUMN` the report of
hgl.runtime.concordance (treatment given versus the recommendation) follows.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

CHUNK = 4096  # rows per record batch sent to a worker (at most)
MIN_BATCH = 256  # rows per record batch at least
SMALL_ROWS = 8192  # rows: without --jobs, a smaller file runs in one process (5,000 rows ran as fast)
EXIT_OK, EXIT_USAGE = 0, 2


def _params(pairs) -> dict:
    """--param NAME=VALUE, as `hgl run` takes them (the values are checked by the guideline)."""
    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"hgl cohort: --param takes NAME=VALUE, got {pair!r}")
        k, v = pair.split("=", 1)
        params[k.strip()] = v.strip()
    return params


def default_keep(guideline, names) -> list[str]:
    """The columns of an input table that are neither inputs nor masks: copied to the output."""
    from .columnar import GIVEN

    inputs = set(guideline.input_names)
    return [n for n in names if n not in inputs and not (n.endswith(GIVEN) and n[: -len(GIVEN)] in inputs)]


# ------------------------------------------------------------------ local engine

_state: dict = {}


def _init(guideline, checked, explain, keep, worker=False):
    _state.update(guideline=guideline, checked=checked, explain=explain, keep=keep)
    if worker:
        without_pandas()


def without_pandas() -> None:
    """Refuse pandas in this process: only in a worker process of the local engine, which nothing
    else runs in (pyarrow would take pandas as missing for the rest of the process's life).

    pyarrow's pa.array() asks pandas whether a list is "array-like", importing it the first time:
    ~0.4 s of CPU in each process, and nothing here uses pandas.  With this finder first, any
    import of it fails at once and pyarrow takes it as not installed; the arrays are the same."""
    if "pandas" not in sys.modules and _NoPandas not in sys.meta_path:
        sys.meta_path.insert(0, _NoPandas)


class _NoPandas:
    """A finder that refuses pandas (see without_pandas)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not imported in a worker of `hgl cohort --engine local`")
        return None


def _evaluate(batch):
    from .columnar import evaluate_batch

    s = _state
    return evaluate_batch(s["guideline"], batch, explain=s["explain"], keep=s["keep"], checked=s["checked"])


def batch_rows(rows: int) -> int:
    """Rows per record batch of a local run: CHUNK, but at least ~32 batches for a smaller file
    (so that every worker has many and none waits long for the last), never under MIN_BATCH.
    It depends on the file only, not on --jobs: one job and several write the same file."""
    return max(MIN_BATCH, min(CHUNK, -(-rows // 32)))


def run_local(guideline, source, output, params=None, explain="none", keep=None, jobs=None,
              batch_size: int | None = None) -> dict:
    """Evaluate a Parquet file into a Parquet file, in order, in worker processes; the summary.

    This process reads the record batches and writes the results (Arrow decoding, pickling and
    writing cost ~3% of the evaluation; reading in the workers would decode every row group in
    each); the workers evaluate.
    """
    import pyarrow.parquet as pq

    from .columnar import result_schema
    from .parallel import default_jobs, ordered_map

    checked = guideline.check_params(params)
    pf = pq.ParquetFile(str(source))
    schema = pf.schema_arrow
    keep = default_keep(guideline, schema.names) if keep is None else list(keep)
    out_schema = result_schema(explain, [schema.field(k) for k in keep])
    if not jobs:  # every core, but one for a small file (a worker with pyarrow costs ~0.25 s of CPU to start)
        jobs = 1 if pf.metadata.num_rows < SMALL_ROWS else default_jobs()
    batch_size = batch_size or batch_rows(pf.metadata.num_rows)
    if pf.metadata.num_rows <= batch_size:
        jobs = 1  # one batch: starting workers costs more than it saves
    tally = _Tally()
    writer = pq.ParquetWriter(str(output), out_schema)
    try:
        batches = pf.iter_batches(batch_size=batch_size)
        for out in ordered_map(_evaluate, batches, jobs, _init, (guideline, checked, explain, keep, jobs > 1)):
            writer.write_batch(out)
            tally.add(out)
    finally:
        writer.close()
    return tally.summary()


class _Tally:
    def __init__(self):
        self.rows = 0
        self.errors = 0
        self.status: Counter = Counter()

    def add(self, batch):
        self.rows += batch.num_rows
        for s in batch.column("status").to_pylist():
            if s is None:
                self.errors += 1
            else:
                self.status[s] += 1

    def summary(self) -> dict:
        return {"cases": self.rows, "errors": self.errors, "by_status": dict(sorted(self.status.items(),
                                                                                 key=lambda kv: (-kv[1], kv[0])))}


# ------------------------------------------------------------------ Spark engine

# In local mode the JVM only moves rows between Parquet and the Python workers, on the cores they
# evaluate on: its optimising JIT compiler (C2) cost more CPU than it saved (200,000 explained HER2
# rows: the JVM's CPU 37.6 s with C2, 22.5 s without; see the Spark section of the Design page).
LOCAL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"


def spark_session(master: str = "local[*]", app: str = "hgl cohort"):
    """A Spark session for a cohort run (the UI off; Arrow batches of CHUNK rows; with a local
    master, the JVM's options are LOCAL_JVM_OPTIONS)."""
    import os

    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName(app)
               .config("spark.ui.enabled", "false")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(CHUNK))
               .config("spark.sql.shuffle.partitions", "8"))
    if master.startswith("local"):  # the workers run this Python (with hgl.runtime), not the first python3 on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.driver.extraJavaOptions", LOCAL_JVM_OPTIONS)
    return builder.getOrCreate()


def _spark_type(explain, keep_fields):
    """The Spark schema of the results: the kept columns as Spark has them, then the result columns
    as hgl.runtime.columnar.result_schema defines them (one definition, converted)."""
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_schema

    from .columnar import result_schema

    return T.StructType(list(keep_fields) + list(from_arrow_schema(result_schema(explain)).fields))


def evaluate_dataframe(guideline, df, params=None, explain="none", keep=None):
    """A Spark DataFrame of results (lazy): `mapInArrow` with the columnar entry point."""
    from .columnar import result_schema

    checked = guideline.check_params(params)
    result_schema(explain)  # a bad level fails here, not on an executor
    keep = default_keep(guideline, df.columns) if keep is None else list(keep)
    schema = _spark_type(explain, [df.schema[k] for k in keep])
    return df.mapInArrow(_map_function(guideline, checked, explain, keep), schema)


def _map_function(guideline, checked, explain, keep):
    """The function each executor runs: it closes over the guideline (pickled by its source)."""

    def evaluate(batches):
        import pyarrow as pa

        from hgl.runtime.columnar import evaluate_batch

        for batch in batches:
            out = evaluate_batch(guideline, batch, explain=explain, keep=keep, checked=checked)
            # Spark may hand strings as large_string; give back the types it expects for kept columns
            yield pa.RecordBatch.from_arrays(out.columns, schema=out.schema)

    return evaluate


def balanced(df, cores: int):
    """The input in one equal partition per core (round-robin) unless it has many (4 per core or more).

    Spark splits a Parquet file by row group, at about size/cores bytes: a file of 16 row groups on
    2 cores ran as 10 + 6 groups (76 % parallel efficiency at best), one of 4 groups as 4 + 0.
    Moving the input rows (~100 bytes each) costs little next to evaluating them."""
    if df.rdd.getNumPartitions() >= 4 * cores:
        return df
    return df.repartition(cores)


def run_spark(guideline, source, output, params=None, explain="none", keep=None, master="local[*]") -> dict:
    """Evaluate a Parquet file (or folder) into a Parquet folder on Spark; the summary."""
    from pyspark.sql import functions as F

    spark = spark_session(master)
    df = balanced(spark.read.parquet(str(source)), spark.sparkContext.defaultParallelism)
    results = evaluate_dataframe(guideline, df, params, explain, keep)
    results.write.mode("overwrite").parquet(str(output))
    rows = spark.read.parquet(str(output)).groupBy("status").agg(F.count("*").alias("n")).collect()
    counts = {r["status"]: r["n"] for r in rows}
    errors = counts.pop(None, 0)
    return {"cases": sum(counts.values()) + errors, "errors": errors,
            "by_status": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))}


# ------------------------------------------------------------------ command line

def configure(p) -> None:
    p.add_argument("guideline", help="a .hgl file or a module built by 'hgl build'")
    p.add_argument("--input", required=True, help="the cohort: a Parquet file (or folder, for Spark)")
    p.add_argument("-o", "--output", help="results (Parquet; a folder with --engine spark); default: "
                                          "INPUT's name + .results.parquet")
    p.add_argument("--engine", choices=("local", "spark"), default="local")
    p.add_argument("--master", default="local[*]", help="Spark master URL (spark://…, yarn, k8s://…, local[N])")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="local worker processes (default: every core; one under 8,192 rows)")
    p.add_argument("--explain", choices=("none", "short", "full"), default="none",
                   help="add a `result` column with the JSON record (short: no words; full: with them)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="override a policy parameter")
    p.add_argument("--keep", action="append", metavar="COLUMN",
                   help="input columns copied to the output (default: every column that is not an input)")
    p.add_argument("--concordance", metavar="COLUMN",
                   help="the column of the treatment given: report it against the recommendation")
    p.add_argument("--report", metavar="DIR", help="where the concordance report goes (default: OUTPUT's name + .report)")


def cli_main(args) -> int:
    from . import load
    from .schema import CaseError

    guideline = load(args.guideline)
    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_name(source.name.split(".")[0] + ".results.parquet")
    if output.resolve() == source.resolve():
        print(f"hgl cohort: -o {output} is the input: refusing to overwrite it", file=sys.stderr)
        return EXIT_USAGE
    try:
        params = _params(args.param)
        guideline.check_params(params)
    except CaseError as err:
        print(f"hgl cohort: invalid parameter: {err}", file=sys.stderr)
        return EXIT_USAGE
    keep = args.keep
    if args.concordance and keep is not None and args.concordance not in keep:
        keep = [*keep, args.concordance]
    if args.engine == "spark":
        summary = run_spark(guideline, source, output, params, args.explain, keep, args.master)
    else:
        summary = run_local(guideline, source, output, params, args.explain, keep, args.jobs)
    print(f"{summary['cases']} patient(s), {summary['errors']} invalid -> {output}", file=sys.stderr)
    print("by status: " + ", ".join(f"{k} {v}" for k, v in summary["by_status"].items()), file=sys.stderr)
    if args.concordance:
        from .concordance import write_report

        report = Path(args.report) if args.report else output.with_name(output.name.split(".")[0] + ".report")
        page = write_report(guideline, output, args.concordance, report)
        print(f"concordance report: {page}", file=sys.stderr)
    return EXIT_OK
