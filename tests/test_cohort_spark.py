"""`hgl cohort --engine spark`: Spark local mode gives the local engine's rows, on every HER2 case.

One Spark session for the module (local[2]), small data: the cost is the JVM's start-up.
"""

from __future__ import annotations

import json
import pickle
import shutil
import sys

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("pyspark")
if shutil.which("java") is None:  # .ci/run installs default-jre-headless
    pytest.skip("Spark needs a Java runtime (apt-get install default-jre-headless)", allow_module_level=True)

from hgl.runtime import load  # noqa: E402
from hgl.runtime.cohort import (LOCAL_JVM_OPTIONS, _map_function, balanced, evaluate_dataframe,  # noqa: E402
                                run_local, spark_session)
from hgl.runtime.columnar import write_parquet  # noqa: E402

from .conftest import GUIDELINE, ROOT  # noqa: E402
from .test_parallel import CASES  # noqa: E402

sys.path.insert(0, str(ROOT / "guidelines"))
from her2_mbc_cohort import records as cohort_records  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def her2():
    return load(GUIDELINE)


@pytest.fixture(scope="module")
def spark():
    session = spark_session("local[2]", "hgl tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _groups():
    """Every HER2 case, grouped by its parameters; the group without adds 300 generated patients."""
    groups: dict = {}
    for name, case, params in CASES:
        groups.setdefault(json.dumps(params, sort_keys=True), []).append({"patient_id": name, **case})
    groups["{}"] += list(cohort_records(300, seed=11))
    return sorted(groups.items())


def _rows(table_or_rows):
    rows = table_or_rows.to_pylist() if hasattr(table_or_rows, "to_pylist") else table_or_rows
    return sorted(rows, key=lambda r: r["patient_id"])


@pytest.mark.parametrize("params_json, records", _groups(), ids=[k for k, _ in _groups()])
def test_spark_gives_the_local_rows(tmp_path, her2, spark, params_json, records):
    params = json.loads(params_json)
    extra = ("patient_id", "treatment_started") if any("treatment_started" in r for r in records) else ("patient_id",)
    source = tmp_path / "cohort.parquet"
    write_parquet(her2, records, source, extra=extra)
    local = tmp_path / "local.parquet"
    run_local(her2, source, local, params, explain="full", jobs=1)
    df = spark.read.parquet(str(source)).repartition(3)  # several partitions, several Arrow batches
    got = [r.asDict(recursive=True) for r in evaluate_dataframe(her2, df, params, explain="full").collect()]
    want = _rows(pq.read_table(local))
    assert len(got) == len(records)
    assert _rows(got) == want


def test_the_cli_on_spark(tmp_path, her2, spark, capsys):
    from hgl.compiler.cli import main

    source = tmp_path / "cohort.parquet"
    write_parquet(her2, cohort_records(200, seed=2), source, extra=("patient_id", "treatment_started"))
    out = tmp_path / "results"
    assert main(["cohort", str(GUIDELINE), "--input", str(source), "-o", str(out), "--engine", "spark",
                 "--master", "local[2]"]) == 0
    assert "200 patient(s), 0 invalid" in capsys.readouterr().err
    local = tmp_path / "local.parquet"
    run_local(her2, source, local, jobs=1)
    assert _rows(pq.read_table(out)) == _rows(pq.read_table(local))


@pytest.mark.parametrize("partitions, cores, want", [
    (1, 2, 2),  # one partition (a small file, one row group): one equal partition per core
    (3, 2, 2),  # few and uneven: the same
    (7, 2, 2),
    (8, 2, 8),  # 4 per core or more: as they are (Spark balances many tasks itself)
    (20, 2, 20),
])
def test_few_input_partitions_are_made_one_per_core(spark, partitions, cores, want):
    df = spark.range(1000).repartition(partitions)
    out = balanced(df, cores)
    assert out.rdd.getNumPartitions() == want
    assert out.count() == 1000


def test_a_local_session_runs_the_jvm_without_c2(spark):
    jvm_args = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
    assert LOCAL_JVM_OPTIONS in list(jvm_args)


def test_the_function_spark_ships_carries_the_module_source(her2):
    from pyspark import cloudpickle  # what PySpark ships functions with; it uses Guideline.__reduce__

    fn = _map_function(her2, her2.check_params(None), "none", ["patient_id"])
    data = cloudpickle.dumps(fn)
    code = her2.module.__hgl_code__.encode("utf-8")
    assert len(data) < len(code) + 100_000  # the source and a little, not a pickled object graph
    assert pickle.loads(pickle.dumps(her2)).sha256 == her2.sha256
