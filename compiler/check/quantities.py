"""Numbers, units and dates in expressions (part of the expression checker, exprcheck.py).

Quantities with their units, conversions to one unit of a dimension, comparisons and arithmetic
on numbers, constants outside an input's declared range, dates and `years between`, `min`/`max`.
`QuantityChecks` is mixed into `ExprChecker`: its methods use the checker's `c` (the checks,
for diagnostics), `m` (the model), `infer` and `_pair`.
"""

from __future__ import annotations

from hgl.compiler.check import program as p
from hgl.compiler.check import units
from hgl.compiler.check.types import ERROR, T
from hgl.compiler.front import nodes as n
from hgl.compiler.front.diagnostics import did_you_mean


class QuantityChecks:
    """The expression checker's methods for numbers, units and dates."""

    def unit(self, name: n.Name, dimension: str | None = None) -> "units.Unit | None":
        return resolve_unit(self.c, name, dimension)

    def _Quantity(self, e: n.Quantity, expect):
        unit = None
        if e.unit is not None:
            dim = None
            if expect is not None and expect.kind == "num" and expect.unit:
                try:
                    dim = units.resolve(expect.unit).dimension
                except units.UnitError:
                    dim = None
            u = self.unit(e.unit, dim)
            if u is None:
                return self._error(e)
            unit = u.text
        return p.Num(e.value, _written(e), T("num", unit, isinstance(e.value, int)), e.span)

    def convert(self, node, to_unit: str):
        """`node` (a number in another unit of one dimension) expressed in `to_unit`; None if it cannot be."""
        try:
            f = units.factor(units.resolve(node.type.unit), units.resolve(to_unit))
        except units.UnitError:
            return None
        t = T("num", to_unit, node.type.integer and float(f).is_integer())
        if isinstance(node, p.Num):
            return p.Num(scaled(node.value, f), node.written, t, node.span)
        return p.Binary("*", node, p.Num(f, repr(f), T("num"), node.span), t, node.span)

    def _compare_numbers(self, left, ln, right, rn):
        """Two numbers compared: one converted to the other's unit, or the mistake reported."""
        tl, tr = ln.type, rn.type
        err = self.c.error
        if tl.unit != tr.unit:
            lit_right = isinstance(right, n.Quantity)
            lit, other, t_other = (right, left, tl) if lit_right else (left, right, tr)
            if isinstance(lit, n.Quantity) and lit.unit is None:
                err("HGL306", f"this number needs a unit: it is compared with {t_other.unit}",
                    lit.span, f"write `{lit.value} {t_other.unit}`")
            elif tl.unit and tr.unit:
                # one dimension: the literal (or else the right operand) in the other's unit
                lit_node = rn if lit_right or not isinstance(left, n.Quantity) else ln
                target = tl.unit if lit_node is rn else tr.unit
                converted = self.convert(lit_node, target)
                if converted is None:
                    err("HGL302", f"cannot compare {tl.unit} with {tr.unit}", lit.span if isinstance(
                        lit, n.Quantity) else right.span, f"'{self._text(other)}' is measured in {t_other.unit}")
                    return ln, rn
                ln, rn = (ln, converted) if lit_node is rn else (converted, rn)
            else:
                err("HGL302", f"cannot compare {tl.unit or 'a plain number'} with {tr.unit or 'a plain number'}",
                    right.span)
                return ln, rn
        self._check_in_range(left, ln, right, rn)
        return ln, rn

    def _check_in_range(self, left, ln, right, rn):
        """A constant outside an input's declared range makes the comparison always true or false."""
        for ref, lit, num in ((left, right, rn), (right, left, ln)):
            if not (isinstance(ref, n.Ref) and isinstance(lit, n.Quantity) and isinstance(num, p.Num)):
                continue
            sym = self.m.symbols.get(ref.name.text)
            decl_type = getattr(sym.decl, "type", None) if sym is not None and sym.kind != "definition" else None
            if not isinstance(decl_type, n.NumberType):
                continue
            value = num.value
            lo, hi = decl_type.minimum, decl_type.maximum
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                unit = f" {sym.type.unit}" if sym.type.unit else ""
                shown = f"{value:g}{unit}"
                if lit.unit is not None and lit.unit.text != sym.type.unit:
                    shown = f"{lit.value:g} {lit.unit.text} ({shown})"
                self.c.error("HGL304", f"{shown} is outside the range of '{ref.name.text}' "
                             f"({lo if lo is not None else '…'}–{hi if hi is not None else '…'}{unit})", lit.span,
                             "the comparison would always give the same answer; check the number or the range")

    def _text(self, e) -> str:
        return e.name.text if isinstance(e, n.Ref) else "this"

    def _Binary(self, e: n.Binary, expect):
        ln, rn = self._pair(e.left, e.right)
        tl, tr = ln.type, rn.type
        if e.op in ("+", "-") and tl.kind == tr.kind == "num" and tl.unit and tr.unit and tl.unit != tr.unit:
            converted = self.convert(rn, tl.unit)
            if converted is None:
                self.c.error("HGL302", f"cannot add {tl.unit} and {tr.unit}", e.right.span)
                return p.Binary(e.op, ln, rn, ERROR, e.span)
            rn = converted
        return p.Binary(e.op, ln, rn, self._binary_type(e, ln.type, rn.type), e.span)

    def _binary_type(self, e: n.Binary, tl: T, tr: T) -> T:
        if "error" in (tl.kind, tr.kind):
            return ERROR
        if e.op == "union":
            return self._join(tl, tr, e.right) if tl.kind in ("set", "empty_set") else self._bad_op(e, tl)
        if tl.kind != "num" or tr.kind != "num":
            return self._bad_op(e, tl if tl.kind != "num" else tr)
        if e.op in ("*", "/"):
            # a quantity scaled by a plain number keeps its unit; a ratio of one unit is a plain number
            if tl.unit and tr.unit:
                if e.op == "/" and tl.unit == tr.unit:
                    return T("num")
                self.c.error("HGL302", f"cannot {'multiply' if e.op == '*' else 'divide'} {tl.unit} by {tr.unit}",
                             e.right.span, "scale a quantity by a plain number, or compute the value outside")
                return ERROR
            if e.op == "/" and tr.unit:
                self.c.error("HGL302", f"cannot divide a plain number by {tr.unit}", e.right.span)
                return ERROR
            return T("num", tl.unit or tr.unit, tl.integer and tr.integer and e.op == "*")
        if tl.unit != tr.unit and tl.unit and tr.unit and e.op in ("+", "-"):
            pass  # converted by _Binary
        elif tl.unit != tr.unit:
            if isinstance(e.right, n.Quantity) and e.right.unit is None and tl.unit:
                self.c.error("HGL306", f"this number needs a unit: it is added to {tl.unit}", e.right.span,
                             f"write `{e.right.value} {tl.unit}`")
            else:
                self.c.error("HGL302", f"cannot add {tl.unit or 'a plain number'} and "
                             f"{tr.unit or 'a plain number'}", e.right.span)
        return T("num", tl.unit, tl.integer and tr.integer)

    def _bad_op(self, e, t):
        self.c.error("HGL301", f"'{e.op}' does not apply to {t.describe(self.m.domains)}", e.span,
                     "'+', '-', '*' and '/' work on numbers, 'union' on sets")
        return ERROR

    def _DateLit(self, e: n.DateLit, expect):
        import datetime

        try:
            datetime.date.fromisoformat(e.value)
        except ValueError:
            self.c.error("HGL307", f"'{e.value}' is not a date", e.span, "write YYYY-MM-DD, e.g. 2024-02-29")
            return self._error(e)
        return p.Day(e.value, e.span)

    def _Between(self, e: n.Between, expect):
        if e.unit not in ("years", "months", "days"):
            self.c.error("HGL301", f"'{e.unit} between' is not a measure of time", e.unit_span,
                         did_you_mean(e.unit, ("years", "months", "days")) or "write years, months or days between")
            return self._error(e)
        start, end = self.infer(e.start), self.infer(e.end)
        for side in (start, end):
            if side.type.kind not in ("date", "error"):
                self.c.error("HGL301", f"'{e.unit} between' takes two dates, not {side.type.describe(self.m.domains)}",
                             side.span, "e.g. years between birth_date and today")
                return self._error(e)
        return p.Between(e.unit, start, end, T("num", e.unit, True), e.span)

    def _Extreme(self, e: n.Extreme, expect):
        operands = tuple(self.infer(x) for x in e.operands)
        if len(operands) < 2:
            self.c.error("HGL301", f"'{e.fn}' takes two values or more", e.span, f"e.g. {e.fn}(a, b)")
            return self._error(e)
        types = [x.type for x in operands]
        if any(t.kind == "error" for t in types):
            return self._error(e)
        bad = next((x for x in operands if x.type.kind != "num"), None)
        if bad is not None:
            self.c.error("HGL301", f"'{e.fn}' takes numbers, not {bad.type.describe(self.m.domains)}", bad.span)
            return self._error(e)
        unit = types[0].unit
        for x in operands[1:]:
            if x.type.unit != unit:
                self.c.error("HGL302", f"cannot compare {unit or 'a plain number'} with "
                             f"{x.type.unit or 'a plain number'}", x.span)
                return self._error(e)
        return p.Extreme(e.fn, operands, T("num", unit, all(t.integer for t in types)), e.span)


def _written(e: n.Quantity) -> str:
    if e.unit is None:
        return str(e.value)
    return f"{e.value} %" if e.unit.text == "%" else f"{e.value} {e.unit.text}"


def scaled(value, f: float):
    """value × f (12 months stays 12; 3 cm is 30.0 mm)."""
    return value if f == 1 else round(value * f, 9)


def resolve_unit(checker, name: n.Name, dimension: str | None = None) -> "units.Unit | None":
    """A unit as written -> resolved, or None after an HGL305 (did-you-mean only within `dimension`)."""
    try:
        return units.resolve(name.text)
    except units.UnitError:
        candidates = units.suggestions(name.text, dimension)
        spelled = units.SPELLINGS.get(name.text)
        if spelled is not None and dimension is not None and spelled not in candidates:
            spelled = None  # never a unit of another dimension
        checker.error("HGL305", f"unknown unit '{name.text}'", name.span,
                      (f"in UCUM, write '{spelled}'" if spelled else None)
                      or did_you_mean(name.text, candidates)
                      or "a unit is a UCUM code (mmol/L, mg/dL, mm[Hg], /min, kg, kg/m2, %, mo, a) "
                         "or days, weeks, months, years, mm, cm")
        return None
