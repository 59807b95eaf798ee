"""Verification stage, the search space: one space's solvers, cases pinned, witnesses read; the reference case.

`Search` holds the encoding of a guideline over one space (two- or three-valued) and its
incremental solvers; it turns a z3 model into a witness case as `hgl run` reads it, and a case
into constraints.  `reference_case` is the case witnesses are simplified towards.  The checks
(compiler/verify/search.py), `hgl diff` (diff.py) and the mutation runner (compiler/mutate) share
them.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import z3

from hgl.compiler.check import program as p
from hgl.compiler.verify.combine import Encoder
from hgl.compiler.verify.encode import FALSE, ModelTable, Space, _not, model_value, table_value
from hgl.compiler.verify.replay import ABSENT


class Search:
    """One space (two- or three-valued) with its encoder and two incremental solvers: `solver` holds
    validity (the input ranges), `consistent` validity and the data checks, asserted once.

    Every query is a push, the query's conditions, a check and a pop on one of them: the encoding
    is built once and the solver keeps what it learnt about the shared part (issue 13: asserting
    the data checks again in every query made each query grow with the guideline).
    """

    def __init__(self, program: p.Program, three_valued: bool, space: Space | None = None):
        self.program = program
        self.space = space if space is not None else Space(three_valued)
        self.enc = Encoder(program, self.space)
        self.fresh()

    def fresh(self):
        """New solvers over the same encoding: what follows does not depend on the queries before."""
        self.solver = z3.Solver()
        self.solver.add(*self.enc.domain)
        self._consistent = None

    @property
    def consistent(self):
        if self._consistent is None:
            self._consistent = z3.Solver()
            self._consistent.add(*self.enc.domain)
            self._consistent.add(_not(self.enc.inconsistent))
        return self._consistent

    def find(self, *conds, consistent: bool = True):
        """A z3 model satisfying the conditions over valid (and, by default, consistent) cases, or None."""
        solver = self.consistent if consistent else self.solver
        solver.push()
        try:
            solver.add(*conds)
            return solver.model() if solver.check() == z3.sat else None
        finally:
            solver.pop()

    def pin(self, case: dict, params: dict) -> list:
        """Constraints fixing the variables to one case (None = missing); for agreement tests and diff."""
        out = []
        given = dict(params)
        given.update(case)
        for d in self.program.inputs + self.program.parameters:
            name, kind = d.name, d.kind
            x = self.space.vars[(name, kind)]
            # as the runtime reads a case: absent -> the default, or missing without one
            value = given[name] if name in given else _default(d) if d.has_default else None
            present = self.space.present.get(name)
            if value is None:
                out.append(_not(present) if present is not None else FALSE)
                continue
            if present is not None:
                out.append(present)
            if kind == "bool":
                out.append(x == value)
            elif kind in ("int", "number"):
                out.append(x == z3.RealVal(value) if kind == "number" else x == value)
            elif kind == "date":
                out.append(x == datetime.date.fromisoformat(str(value)).toordinal())
            elif kind in ("enum", "option"):
                out.append(x == self.space.enum_values[f"{name}:{kind}"].index(value))
            else:
                out.extend(b == (v in value) for v, b in x.items())
        return out

    def witness(self, zmodel) -> tuple[dict, dict]:
        """The case and parameters of a z3 model, as `hgl run` reads them (None = missing)."""
        case, params = {}, {}
        table = ModelTable(zmodel)
        for d in self.program.inputs + self.program.parameters:
            name, kind = d.name, d.kind
            x = self.space.vars[(name, kind)]
            present = self.space.present.get(name)
            shown = table.value(f"{name}:present", "Bool") if present is not None else True
            if shown is None:
                shown = z3.is_true(zmodel.eval(present, model_completion=True))
            if not shown:
                value = None
                (params if d.is_parameter else case)[name] = value
                continue
            values = self.space.enum_values.get(f"{name}:{kind}", ())
            value = table_value(table, f"{name}:{kind}", kind,
                                [(v, f"{name}:set:{v}") for v in x] if kind == "set" else values)
            if value is None:  # a value the table does not read (e.g. an algebraic number)
                value = model_value(zmodel, x, kind, values)
            if d.has_default and value == _default(d):
                continue  # the runtime reads an absent input as its default: shorter, same case
            (params if d.is_parameter else case)[name] = value
        today = self.space.vars.get(("today", "date"))
        if today is not None:  # the evaluation date the witness needs
            params["today"] = model_value(zmodel, today, "date")
        return case, params


def reference_case(result, space: Space) -> tuple[list, dict]:
    """The declaration order (name, is_parameter) and the reference value of every input and parameter.

    The reference is the declared default (ABSENT: the runtime reads it), else the input's value in
    the `base` of the guideline's case file (<file stem or id>.cases.yaml next to it), else the first
    allowed value, the range minimum, false or the empty set.
    """
    program = result.program
    base = _case_file_base(result)
    order, ref = [], {}
    for d in program.inputs + program.parameters:
        name, kind = d.name, d.kind
        order.append((name, d.is_parameter))
        if d.has_default:
            ref[name] = ABSENT
        elif not d.is_parameter and name in base:
            ref[name] = base[name]
        elif kind in ("enum", "option"):
            ref[name] = space.enum_values[f"{name}:{kind}"][0]
        elif kind == "bool":
            ref[name] = False
        elif kind == "set":
            ref[name] = []
        elif kind == "date":
            ref[name] = "2000-01-01"
        else:
            low = d.minimum if d.minimum is not None else min(0, d.maximum) if d.maximum is not None else 0
            ref[name] = int(low) if kind == "int" or float(low).is_integer() else low
    return order, ref


def _case_file_base(result) -> dict:
    """The `base` case of the guideline's own case file, or {} (no file, or one that does not read)."""
    path = Path(result.source.name)
    if not path.is_file():  # a guideline given as text (tests, the docs' examples): no case file
        return {}
    meta = result.program.meta
    names = [path.stem] + ([meta.id.text] if meta is not None else [])
    for stem in dict.fromkeys(names):
        candidate = path.parent / f"{stem}.cases.yaml"
        if candidate.is_file():
            import yaml  # only when a case file exists

            try:
                data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                return {}
            base = data.get("base") if isinstance(data, dict) else None
            return base if isinstance(base, dict) else {}
    return {}


def _default(d: p.Input):
    """A declared default as a case value (as a witness gives it: a set as a sorted list)."""
    return sorted(d.default) if d.kind == "set" else d.default


__all__ = ["Search", "reference_case"]
