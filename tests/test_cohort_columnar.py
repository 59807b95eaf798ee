"""The columnar entry point: exactly the row-by-row results, on every HER2 case, and absent versus null."""

from __future__ import annotations

import json
import sys

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from hgl.runtime import CaseError, load  # noqa: E402
from hgl.runtime.columnar import (GIVEN, evaluate_batch, input_schema, row_records,  # noqa: E402
                                  table_from_records, write_parquet)
from hgl.runtime.records import record  # noqa: E402

from .conftest import GUIDELINE, ROOT  # noqa: E402
from .test_parallel import CASES  # noqa: E402

sys.path.insert(0, str(ROOT / "guidelines"))
from her2_mbc_cohort import records as cohort_records  # noqa: E402

DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@pytest.fixture(scope="module")
def her2():
    return load(GUIDELINE)


def _by_params():
    groups: dict = {}
    for name, case, params in CASES:
        groups.setdefault(json.dumps(params, sort_keys=True), []).append((name, case))
    return sorted(groups.items())


@pytest.mark.parametrize("params_json, cases", _by_params(), ids=[k for k, _ in _by_params()])
@pytest.mark.parametrize("explain", ["full", "short"])
def test_every_case_gives_the_row_by_row_record(her2, params_json, cases, explain):
    params = json.loads(params_json)
    table = table_from_records(her2, [c for _, c in cases])
    out = evaluate_batch(her2, table, params, explain=explain)
    assert out.num_rows == len(cases)
    texts = out.column("result").to_pylist()
    nones = row_records(out)
    for (name, case), text, none in zip(cases, texts, nones):
        r = her2.evaluate(case, params)
        assert text == DUMPS(record(r, explain)), name
        assert none == record(r, "none"), name


def test_a_generated_cohort_through_parquet(tmp_path, her2):
    recs = list(cohort_records(1500, seed=5))
    path = tmp_path / "cohort.parquet"
    assert write_parquet(her2, recs, path, extra=("patient_id", "treatment_started"), batch_size=400) == 1500
    table = pq.read_table(path)
    assert table.num_rows == 1500 and table.schema.field("pertuzumab_available" + GIVEN).type == pa.bool_()
    out = evaluate_batch(her2, table, explain="full", keep=("patient_id",))
    assert out.column("patient_id").to_pylist() == [r["patient_id"] for r in recs]
    for r, text in zip(recs, out.column("result").to_pylist()):
        case = {k: v for k, v in r.items() if k not in ("patient_id", "treatment_started")}
        assert text == DUMPS(record(her2.evaluate(case), "full")), r["patient_id"]
    # nulls where fields had defaults: the data is asked for, never filled in
    assert any(r.get("pertuzumab_available", 0) is None for r in recs)


# absent versus null, for an input with a default (pertuzumab_available: true) and one without (ecog)
def _base():
    return dict(CASES[0][1])


CONVENTION = [
    # (what, columns of the one-row table: name -> (type, value), expected value seen by the guideline)
    ("no column: not given, the default", {}, True),
    ("a value, no mask", {"pertuzumab_available": (pa.bool_(), False)}, False),
    ("null without a mask: missing, not the default", {"pertuzumab_available": (pa.bool_(), None)}, None),
    ("mask false, null: the default", {"pertuzumab_available": (pa.bool_(), None),
                                       "pertuzumab_available" + GIVEN: (pa.bool_(), False)}, True),
    ("mask null, null: the default", {"pertuzumab_available": (pa.bool_(), None),
                                      "pertuzumab_available" + GIVEN: (pa.bool_(), None)}, True),
    ("mask true, null: missing", {"pertuzumab_available": (pa.bool_(), None),
                                  "pertuzumab_available" + GIVEN: (pa.bool_(), True)}, None),
    ("mask true, a value", {"pertuzumab_available": (pa.bool_(), False),
                            "pertuzumab_available" + GIVEN: (pa.bool_(), True)}, False),
]


@pytest.mark.parametrize("what, columns, seen", CONVENTION, ids=[c[0] for c in CONVENTION])
def test_absent_versus_null(her2, what, columns, seen):
    base = {k: v for k, v in _base().items() if k != "pertuzumab_available"}
    table = table_from_records(her2, [base])
    table = table.drop([c for c in table.column_names if c.startswith("pertuzumab_available")])
    for name, (t, v) in columns.items():
        table = table.append_column(pa.field(name, t), pa.array([v], t))
    out = evaluate_batch(her2, table, explain="none")
    case = dict(base)
    if seen is not None or "missing" in what:
        case["pertuzumab_available"] = seen
    want = record(her2.evaluate(case), "none")
    assert row_records(out) == [want]


def test_a_value_where_the_mask_says_not_given_is_an_invalid_row(her2):
    table = table_from_records(her2, [_base()])
    i = table.schema.get_field_index("pertuzumab_available")
    table = table.set_column(i, "pertuzumab_available", pa.array([False]))
    j = table.schema.get_field_index("pertuzumab_available" + GIVEN)
    table = table.set_column(j, "pertuzumab_available" + GIVEN, pa.array([False]))
    out = evaluate_batch(her2, table).to_pylist()[0]
    assert out["status"] is None and "says not given" in json.loads(out["error"])["fields"][0]["message"]


def test_records_round_trip_absent_and_null(her2):
    base = _base()
    absent = {k: v for k, v in base.items() if k != "pertuzumab_available"}
    null = {**absent, "pertuzumab_available": None}
    out = row_records(evaluate_batch(her2, table_from_records(her2, [absent, null])))
    assert out == [record(her2.evaluate(absent), "none"), record(her2.evaluate(null), "none")]
    assert "pertuzumab_available" in out[1]["missing"] or out[0] == out[1]


@pytest.mark.parametrize("change, field", [({"ecog": 9}, "ecog"), ({"kps": 120}, "kps")])
def test_an_invalid_value_is_an_error_row(her2, change, field):
    case = {**_base(), **change}
    out = evaluate_batch(her2, table_from_records(her2, [_base(), case, _base()])).to_pylist()
    assert [r["error"] is None for r in out] == [True, False, True]
    with pytest.raises(CaseError) as err:
        her2.evaluate(case)
    assert json.loads(out[1]["error"]) == err.value.to_dict()


def test_records_with_unknown_keys_or_values_are_refused(her2):
    with pytest.raises(ValueError, match="not an input"):
        table_from_records(her2, [{"ecogg": 1}])
    with pytest.raises(ValueError, match="ecog"):
        table_from_records(her2, [{"ecog": "one"}])


def test_input_schema_has_a_mask_for_each_default(her2):
    schema = input_schema(her2)
    masks = [n[: -len(GIVEN)] for n in schema.names if n.endswith(GIVEN)]
    assert masks == [s.name for s in her2.inputs if s.has_default]
    assert schema.field("prior_drugs_metastatic").type == pa.list_(pa.string())


def test_keep_and_explain_none_columns(her2):
    table = table_from_records(her2, [{**_base(), "pid": "a"}], extra=("pid",))
    out = evaluate_batch(her2, table, keep=("pid",))
    assert out.schema.names == ["pid", "status", "governing", "options", "flags", "missing", "inconsistent",
                                "violated", "error"]
    with pytest.raises(ValueError, match="explain must be one of"):
        evaluate_batch(her2, table, explain="words")


_A_WORKER = """
import sys
import pyarrow as pa
from hgl.runtime.cohort import _init
_init(None, {}, "none", [], worker=True)
assert pa.array(["a", None], pa.string()).to_pylist() == ["a", None]
assert pa.array([[{"id": "x"}], None], pa.list_(pa.struct([("id", pa.string())]))).null_count == 1
print("pandas" in sys.modules)
"""


def test_a_local_worker_does_not_import_pandas():
    """pyarrow's pa.array() imports pandas to ask whether a list is array-like (~0.4 s per worker
    process); a worker of `hgl cohort` refuses that import and gets the same arrays."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _A_WORKER], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
