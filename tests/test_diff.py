"""`hgl diff OLD NEW`: behavioural changes with witnesses re-run through both versions, and the text diff."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from hgl.compiler.verify import diff
from hgl.compiler.pipeline import compile_file
from hgl.compiler.verify.replay import Runner

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "verify"
HER2 = ROOT / "guidelines" / "her2_mbc.hgl"


def _compile(path):
    r = compile_file(path)
    assert r.ok, [d.message for d in r.errors]
    return r


def _reproduces(old, new, change):
    """The witness, run through both compiled versions, shows the reported old and new values."""
    seen = []
    for r in (old, new):
        g = Runner(r.code, r.source.sha256).guideline
        names = {s.name for s in g.inputs}
        res = g.evaluate({k: v for k, v in change.witness.items() if k in names},
                         {k: v for k, v in change.params.items() if k in {s.name for s in g.parameters}})
        if change.kind == "status":
            seen.append(res.status)
        elif change.kind == "option":
            seen.append(next((o["role"] for o in res.options if o["id"] == change.subject), "absent"))
        else:
            seen.append("raised" if change.subject in res.flag_ids else "not raised")
    return seen == [change.old, change.new]


@pytest.mark.parametrize("old,new,expected", [
    ("clean.hgl", "clean.hgl", set()),
    ("diff_old.hgl", "diff_new.hgl", {
        ("option", "a", "absent", "avoid"),
        ("option", "a", "alternative", "avoid"),
        ("option", "a", "absent", "preferred"),
        ("option", "b", "preferred", "absent"),
        ("flag", "f", "raised", "not raised"),
    }),
])
def test_behavioural_changes(old, new, expected):
    a, b = _compile(DATA / old), _compile(DATA / new)
    report = diff.diff_results(a, b)
    assert {(c.kind, c.subject, c.old, c.new) for c in report.changes} == expected
    assert report.unconfirmed == 0
    for c in report.changes:
        assert _reproduces(a, b, c), c


def test_rules_responsible():
    report = diff.diff_results(_compile(DATA / "diff_old.hgl"), _compile(DATA / "diff_new.hgl"))
    by = {(c.subject, c.old, c.new): (c.rules_old, c.rules_new) for c in report.changes}
    assert by[("a", "absent", "preferred")] == ([], ["young"])
    assert by[("b", "preferred", "absent")] == (["old"], [])
    assert by[("a", "alternative", "avoid")] == (["x_given"], ["x_given"])


@pytest.mark.parametrize("old,new,lines", [
    ("clean.hgl", "clean.hgl", []),
    ("diff_old.hgl", "diff_new.hgl", [
        "-guideline version: 1.0.0", "+guideline version: 1.1.0",
        "-rule old title: old", "+rule old title: older patients",
        "+rule young rationale: Younger patients get A.",
    ]),
])
def test_editorial_diff(old, new, lines):
    text = diff.editorial_diff(_compile(DATA / old).program, _compile(DATA / new).program)
    for line in lines:
        assert line in text
    assert bool(text) == bool(lines)


def test_an_input_only_in_the_new_version(tmp_path):
    src = (DATA / "clean.hgl").read_text()
    new = src.replace("input sick: yes/no", "input sick: yes/no\ninput stage: one of early, late") \
             .replace("    when age < 50\n", "    when age < 50 and stage = early\n")
    (tmp_path / "new.hgl").write_text(new)
    a, b = _compile(DATA / "clean.hgl"), _compile(tmp_path / "new.hgl")
    report = diff.diff_results(a, b)
    assert ("option", "a", "preferred", "absent") in {(c.kind, c.subject, c.old, c.new) for c in report.changes}
    for c in report.changes:
        assert _reproduces(a, b, c)
        if c.subject == "a":
            assert c.witness["stage"] == "late" and c.witness["age"] < 50


@pytest.mark.parametrize("fmt,rc", [("text", 1), ("json", 1)])
def test_cli(capsys, fmt, rc):
    args = argparse.Namespace(old=str(DATA / "diff_old.hgl"), new=str(DATA / "diff_new.hgl"), format=fmt, cap=60)
    assert diff.cli_main(args) == rc
    out = capsys.readouterr().out
    if fmt == "json":
        data = json.loads(out)
        assert len(data["behaviour"]) == 5 and data["editorial"]
    else:
        assert out.startswith("Source: 4 changed declaration(s)\n  changed guideline diffpair: ")
        assert "\nBehaviour: 5 kind(s) of patient get a different result, under 3 rule group(s)\n" in out
        assert "\n  rule old\n    - option b: preferred → absent\n" in out


def test_cli_same_behaviour_exits_0(capsys):
    args = argparse.Namespace(old=str(DATA / "clean.hgl"), new=str(DATA / "clean.hgl"), format="text", cap=60)
    assert diff.cli_main(args) == 0
    assert "no valid case gets a different result" in capsys.readouterr().out


def test_her2_threshold_change(tmp_path):
    changed = HER2.read_text().replace("if kps < 50 then", "if kps < 60 then").replace("if kps >= 50 then", "if kps >= 60 then")
    assert changed.count("kps < 60") == 1 and changed.count("kps >= 60") == 1
    (tmp_path / "her2_kps60.hgl").write_text(changed)
    a, b = _compile(HER2), _compile(tmp_path / "her2_kps60.hgl")
    report = diff.diff_results(a, b)
    changes = {(c.subject, c.old, c.new): c for c in report.changes}
    bsc = changes[("best_supportive_care", "absent", "preferred")]
    assert bsc.rules_new == ["lmd_confirmed"] and 50 <= bsc.witness["kps"] < 60
    assert all(50 <= c.witness["kps"] < 60 for c in report.changes)
    assert all(_reproduces(a, b, c) for c in report.changes)


# ---------------------------------------------------------------- witness minimisation
SMALL = (Path(__file__).parent / "data" / "verify" / "witness.hgl").read_text(encoding="utf-8")


@pytest.mark.parametrize("subject,old,new,differs", [
    ("a", "absent", "preferred", {"age", "fit"}),
    ("a", "absent", "avoid", {"age", "fit", "grade"}),
    ("b", "preferred", "absent", {"age", "fit"}),
])
def test_witness_differs_from_the_reference_in_the_inputs_that_matter(tmp_path, subject, old, new, differs):
    (tmp_path / "old.hgl").write_text(SMALL)
    (tmp_path / "new.hgl").write_text(SMALL.replace("age >= 70", "age >= 60"))
    a, b = _compile(tmp_path / "old.hgl"), _compile(tmp_path / "new.hgl")
    report = diff.diff_results(a, b)
    changes = {(c.subject, c.old, c.new): c for c in report.changes}
    assert set(changes) == {("a", "absent", "preferred"), ("a", "absent", "avoid"), ("b", "preferred", "absent")}
    c = changes[(subject, old, new)]
    assert set(c.differs) == differs and 60 <= c.witness["age"] < 70 and c.witness["fit"] is True
    # the others sit at the reference: first allowed value, range minimum, the default (absent)
    assert {k: c.witness[k] for k in ("stage", "score")} == {"stage": "late", "score": 1} and "given" not in c.witness
    assert _reproduces(a, b, c)
    text = diff.render_text(report)
    assert f"      witness differs from the reference case in: {', '.join(f'{k} {str(c.witness[k]).lower()}' for k in c.differs)}" \
        in text
    assert json.loads(json.dumps(report.to_dict()))["behaviour"][0]["differs"]


def test_her2_threshold_witness_reads_like_a_case(tmp_path):
    # as when the two KPS rules of 4.8 were separate: only the "below 50" side moves, so at KPS 50-59 both apply
    changed = HER2.read_text().replace("    else if kps >= 50 then", "    end\n    if kps >= 50 then") \
        .replace("if kps < 50 then", "if kps < 60 then")
    assert changed.count("kps < 60") == 1 and changed.count("\n    if kps >= 50 then") == 1
    (tmp_path / "her2_kps60.hgl").write_text(changed)
    a, b = _compile(HER2), _compile(tmp_path / "her2_kps60.hgl")
    report = diff.diff_results(a, b)
    for c in report.changes:
        assert {"kps", "lmd_status"} <= set(c.differs) and len(c.differs) <= 8, c.differs
        assert c.differs["lmd_status"] == "confirmed" and _reproduces(a, b, c)
