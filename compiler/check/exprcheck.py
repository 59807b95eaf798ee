"""Expression checking (part of checks): AST expressions -> resolved, typed `program` nodes, with diagnostics.

Each `_<AstClass>` method takes an AST node and the type the context expects, reports what is
wrong, and returns the resolved node (its `.type` says what it is; `ERROR` after a reported
mistake, so one mistake gives one error).  Definitions are checked on first use, so each is
typed before anything that reads it.
"""

from __future__ import annotations

from hgl.compiler.check import program as p
from hgl.compiler.check.types import BOOL, ERROR, Domain, T, domains_compatible
from hgl.compiler.front import nodes as n
from hgl.compiler.front.diagnostics import closest, did_you_mean
from hgl.compiler.check import units

TODAY = "today"  # the built-in name of the evaluation date
_OP_WORDS = {"=": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}


class ExprChecker:
    """Types expressions against the checker's symbols; gives resolved nodes."""

    def __init__(self, checker):
        self.c = checker
        self.m = checker.model
        self._def_state: dict[str, str] = {}
        self._def_stack: list[str] = []
        self.definitions: list[p.Definition] = []  # in dependency order
        self.reads: dict[str, frozenset[str]] = {}  # input or definition -> the inputs it depends on

    # ------------------------------------------------------------------ definitions
    def check_definitions(self):
        for d in self.c.g.definitions:
            self._definition(d)

    def _definition(self, d: n.Definition):
        name = d.name.text
        state = self._def_state.get(name)
        if state == "done":
            return
        if state == "busy":
            stack = self._def_stack
            cycle = stack[stack.index(name):] + [name]
            self.c.error("HGL210", f"definition '{name}' depends on itself: {' -> '.join(cycle)}", d.name.span,
                         "break the cycle: a definition may only use names defined without it")
            return
        sym = self.m.symbols.get(name)
        if sym is None or sym.decl is not d:  # a duplicate declaration, already reported
            self._def_state[name] = "done"
            return
        self._def_state[name] = "busy"
        self._def_stack.append(name)
        expect = None
        if d.values is not None:  # a derived category: its own values, named like an enum input's
            key = f"enum:{name}"
            seen: set[str] = set()
            for v in d.values:
                if v.text in seen:
                    self.c.error("HGL202", f"value '{v.text}' is listed twice", v.span)
                seen.add(v.text)
            self.m.domains[key] = Domain(key, sym.label, tuple(dict.fromkeys(v.text for v in d.values)))
            expect = T("elem", domain=key)
        expr = self.infer(d.expr, expect)
        if expect is not None and expr.type.kind != "error" and (
                expr.type.kind != "elem" or not domains_compatible(expr.type.domain, expect.domain, self.m.domains)):
            self.c.error("HGL301", f"'{name}' is declared one of {', '.join(v.text for v in d.values)}, "
                         f"but its value is {expr.type.describe(self.m.domains)}", d.expr.span)
            expr = _retyped(expr, ERROR)  # one mistake, one error: its uses are not reported too
        elif expect is not None and expr.type.kind == "elem":
            expr = _retyped(expr, expect)
        self._def_stack.pop()
        if p.reads_proposal(expr):
            self.c.error("HGL403", f"definition '{name}' reads the proposal", d.expr.span,
                         "only a rule's condition may ask what is proposed")
        sym.type = expr.type
        reads = self.inputs_read(expr)
        self.reads[name] = reads
        self._def_state[name] = "done"
        self.definitions.append(p.Definition(name, sym.label, expr, d.description, reads, d.span))

    # ------------------------------------------------------------------ queries
    def inputs_read(self, expr) -> frozenset[str]:
        out: set[str] = set()
        for node in p.walk(expr):
            if isinstance(node, p.Var):
                if node.kind == "input":
                    out.add(node.name)
                elif node.kind == "definition":
                    out |= self.reads.get(node.name, frozenset())
        return frozenset(out)

    # ------------------------------------------------------------------ literals in declarations
    def check_literal(self, lit: n.Literal, t: T, texpr, what: str):
        """Check a default against its input's type; gives the value in the input's unit (None if wrong)."""
        err = self.c.error
        if t.kind == "bool":
            if lit.kind != "bool":
                err("HGL307", f"{what} must be true or false", lit.span)
                return None
            return lit.value
        if t.kind == "num":
            if lit.kind != "number":
                err("HGL307", f"{what} must be a number", lit.span)
                return None
            value = lit.value
            if lit.unit is not None and t.unit is not None:
                u = self.unit(lit.unit)
                if u is None:
                    return None
                try:
                    value = _scaled(value, units.factor(u, units.resolve(t.unit)))
                except units.UnitError:
                    err("HGL302", f"{what} is in {u.text}, but the input is in {t.unit}", lit.unit.span)
                    return None
            elif lit.unit is not None and t.unit is None:
                err("HGL302", f"{what} has a unit, but the input has none", lit.unit.span)
            if t.integer and isinstance(value, float) and not value.is_integer():
                err("HGL307", f"{what} must be a whole number", lit.span)
            lo, hi = texpr.minimum, texpr.maximum
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                err("HGL304", f"{what} {value} is outside {lo if lo is not None else '…'}–"
                    f"{hi if hi is not None else '…'}", lit.span)
            return value
        if t.kind == "elem":
            if lit.kind != "name":
                err("HGL307", f"{what} must be one of the allowed values", lit.span)
                return None
            self._value_in(lit.value, t.domain, what)
            return lit.value.text
        if t.kind == "set":
            if lit.kind != "set":
                err("HGL307", f"{what} must be a set, e.g. {{}} or {{a, b}}", lit.span)
                return None
            for item in lit.value.items:
                self._value_in(item, t.domain, what)
            return frozenset(i.text for i in lit.value.items)
        return None

    def _value_in(self, name: n.Name, domain: str, what: str) -> bool:
        dom = self.m.domains.get(domain)
        if dom is None:
            return False
        if name.text in dom.values:
            return True
        hint = did_you_mean(name.text, dom.values) or ("allowed: " + ", ".join(dom.values[:12]))
        self.c.error("HGL303", f"'{name.text}' is not a value of {dom.label}" +
                     (f" ({what})" if what else ""), name.span, hint)
        return False

    # ------------------------------------------------------------------ expressions
    def check_bool(self, expr, allow_proposal: bool):
        node = self.infer(expr)
        t = node.type
        if t.kind not in ("bool", "error"):
            self.c.error("HGL301", f"a condition must be yes/no, but this is {t.describe(self.m.domains)}",
                         expr.span, "compare it, e.g. `x = value` or `x > 3`")
        if not allow_proposal and p.reads_proposal(node):
            self.c.error("HGL403", "only a rule's condition may ask what is proposed", expr.span)
        return node

    def infer(self, expr, expect: T | None = None):
        return getattr(self, "_" + type(expr).__name__)(expr, expect)

    @staticmethod
    def _error(e):
        """The node for an expression whose mistake was reported."""
        return p.Var("?", "unknown", ERROR, e.span)

    def _Ref(self, e: n.Ref, expect):
        name = e.name.text
        if expect is not None and expect.kind in ("elem", "set") and expect.domain in self.m.domains:
            dom = self.m.domains[expect.domain]
            if name in dom.values and name not in self.m.symbols:
                return p.Value(name, T("elem", domain=expect.domain), e.span)
            if expect.domain.startswith("optref") and name in self.m.options and name not in self.m.symbols:
                return p.Value(name, T("elem", domain="option"), e.span)
        sym = self.m.symbols.get(name)
        if sym is not None:
            self.c.used.add(("symbol", name))
            if sym.kind == "definition":
                self._definition(sym.decl)
            return p.Var(name, sym.kind, sym.type, e.span)
        if name == TODAY:  # the evaluation date, given with the parameters (recorded in the receipt)
            return p.Var(TODAY, "parameter", T("date"), e.span)
        if expect is not None and expect.kind in ("elem", "set"):
            dom = self.m.domains.get(expect.domain)
            values = dom.values if dom else ()
            hint = did_you_mean(name, list(values) + list(self.m.symbols))
            label = dom.label if dom else "this set"
            self.c.error("HGL303", f"'{name}' is not a value of {label} nor a declared name", e.name.span,
                         hint or ("allowed: " + ", ".join(values[:12])))
            return self._error(e)
        # a bare value with no context: find the one domain that has it
        found = [k for k, d in self.m.domains.items() if name in d.values and not k.startswith("optref")]
        if len(found) == 1:
            return p.Value(name, T("elem", domain=found[0]), e.span)
        if len(found) > 1:
            labels = " and ".join(sorted(self.m.domains[k].label for k in found))
            self.c.error("HGL211", f"'{name}' is a value of several sets ({labels})",
                         e.name.span, "compare it with something of the set you mean, e.g. `x = value`")
            return self._error(e)
        suggested = closest(name, self.m.symbols)
        hint = None
        if suggested:
            decl = self.m.symbols[suggested].decl
            hint = f"did you mean '{suggested}'? (declared at line {decl.name.span.line})"
            self.c.used.add(("symbol", suggested))  # no "never used" warning cascading from the typo
        self.c.error("HGL201", f"unknown name '{name}'", e.name.span, hint)
        return self._error(e)

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
            return p.Num(_scaled(node.value, f), node.written, t, node.span)
        return p.Binary("*", node, p.Num(f, repr(f), T("num"), node.span), t, node.span)

    def _BoolLit(self, e, expect):
        return p.Bool(e.value, BOOL, e.span)

    def _SetLit(self, e: n.SetLit, expect):
        values = tuple(dict.fromkeys(i.text for i in e.items))
        if not e.items:
            if expect is not None and expect.kind in ("set", "elem"):
                return p.SetOf((), T("set", domain=expect.domain), e.span)
            return p.SetOf((), T("empty_set"), e.span)
        domain = expect.domain if expect is not None and expect.kind in ("set", "elem") else None
        if domain is None:
            names = set(values)
            found = [k for k, d in self.m.domains.items()
                     if names <= set(d.values) and not k.startswith("optref")]
            if len(found) > 1 and all(k.startswith("enum:") for k in found):
                domain = "values:" + ",".join(values)
                self.m.domains[domain] = Domain(domain, "values " + ", ".join(values), values)
                found = [domain]
            if len(found) != 1:
                if found:
                    self.c.error("HGL211", "these names belong to several sets: "
                                 + " and ".join(sorted(self.m.domains[k].label for k in found)), e.span,
                                 "use the set where it is compared with an input, so its kind is known")
                else:
                    bad = next((i for i in e.items if not any(i.text in d.values for d in self.m.domains.values())),
                               e.items[0])
                    self.c.error("HGL201", f"unknown value '{bad.text}' in a set", bad.span,
                                 did_you_mean(bad.text, [v for d in self.m.domains.values() for v in d.values]))
                return p.SetOf(values, ERROR, e.span)
            domain = found[0]
        ok = True
        for item in e.items:
            if domain.startswith("optref") and item.text in self.m.options:
                continue
            ok = self._value_in(item, domain, "") and ok
            if domain == "option":
                self.c.used.add(("option", item.text))
        return p.SetOf(values, T("set", domain=domain) if ok else ERROR, e.span)

    def _If(self, e: n.If, expect):
        result = None
        branches = []
        for cond, value in e.branches:
            c = self.check_bool(cond, allow_proposal=True)
            v = self.infer(value, expect)
            result = self._join(result, v.type, value)
            branches.append((c, v))
        otherwise = self.infer(e.otherwise, expect or result)
        t = self._join(result, otherwise.type, e.otherwise) or ERROR
        return p.If(tuple(branches), otherwise, t, e.span)

    def _join(self, a: T | None, b: T, where) -> T:
        if a is None or a.kind == "error":
            return b
        if b.kind == "error":
            return a
        if a.kind == "num" and b.kind == "num":
            if a.unit != b.unit:
                self.c.error("HGL302", f"the branches give {a.unit or 'no unit'} and {b.unit or 'no unit'}",
                             where.span)
            return T("num", a.unit, a.integer and b.integer)
        if a.kind == "empty_set" and b.kind == "set":
            return b
        if b.kind == "empty_set" and a.kind == "set":
            return a
        if a.kind != b.kind or (a.domain != b.domain and not domains_compatible(a.domain, b.domain, self.m.domains)):
            self.c.error("HGL301", f"the branches give {a.describe(self.m.domains)} and "
                         f"{b.describe(self.m.domains)}", where.span)
            return ERROR
        return a

    def _And(self, e, expect):
        return p.And(_flat(p.And, [self.check_bool(x, allow_proposal=True) for x in e.operands]), e.span)

    def _Or(self, e, expect):
        return p.Or(_flat(p.Or, [self.check_bool(x, allow_proposal=True) for x in e.operands]), e.span)

    def _Not(self, e, expect):
        return p.Not(self.check_bool(e.operand, allow_proposal=True), e.span)

    def _pair(self, left, right):
        """Infer two operands where a bare value on one side takes the other side's type."""
        if self._is_bare_value(left) and not self._is_bare_value(right):
            r = self.infer(right)
            return self.infer(left, r.type), r
        ln = self.infer(left)
        if ln.type.kind == "error" and self._is_bare_value(left) and self._is_bare_value(right):
            return ln, self._error(right)  # the left side was reported; the right would echo it
        return ln, self.infer(right, ln.type)

    def _is_bare_value(self, e) -> bool:
        return (isinstance(e, n.Ref) and e.name.text not in self.m.symbols) or isinstance(e, n.SetLit)

    def _Compare(self, e: n.Compare, expect):
        nodes = []
        for i, op in enumerate(e.ops):
            left, right = e.operands[i], e.operands[i + 1]
            if i == 0:
                ln, rn = self._pair(left, right)
                nodes.append(ln)
            else:
                ln = nodes[-1]
                rn = self.infer(right, ln.type)
            nodes.append(rn)
            nodes[-2], nodes[-1] = self._check_comparison(op, left, ln, right, rn)
        return p.Compare(tuple(nodes), e.ops, e.span)

    def _check_comparison(self, op, left, ln, right, rn):
        """Report a comparison that cannot be made; gives the operands, a number converted to the other's unit."""
        tl, tr = ln.type, rn.type
        if "error" in (tl.kind, tr.kind):
            return ln, rn
        err = self.c.error
        if tl.kind == "num" and tr.kind == "num":
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
        if tl.kind == tr.kind == "date":
            return ln, rn
        if tl.kind == tr.kind == "set" and op in ("=", "!=") and domains_compatible(tl.domain, tr.domain,
                                                                                     self.m.domains):
            return ln, rn  # two sets of one vocabulary: equal or not
        if op not in ("=", "!="):
            err("HGL301", f"'{_OP_WORDS[op]}' compares numbers, not {tl.describe(self.m.domains)}", left.span,
                "use = or ≠ for values, 'in' for sets")
            return ln, rn
        if tl.kind == tr.kind == "elem" and domains_compatible(tl.domain, tr.domain, self.m.domains):
            return ln, rn
        if tl.kind == tr.kind == "bool":
            return ln, rn
        err("HGL301", f"cannot compare {tl.describe(self.m.domains)} with {tr.describe(self.m.domains)}",
            right.span)
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

    def _IsMissing(self, e: n.IsMissing, expect):
        operand = self.infer(e.operand)
        if not (isinstance(operand, p.Var) and operand.kind == "input") and operand.type.kind != "error":
            # an unknown name was already reported: one mistake, one error
            self.c.error("HGL301", "'is missing' applies to an input", e.operand.span,
                         "definitions are never missing: they are unknown when an input they read is missing")
        return p.IsMissing(operand, e.negated, e.span)

    def _IsEmpty(self, e: n.IsEmpty, expect):
        operand = self.infer(e.operand)
        t = operand.type
        if t.kind not in ("set", "error"):
            self.c.error("HGL301", f"'is empty' applies to a set, not {t.describe(self.m.domains)}", e.operand.span)
        return p.IsEmpty(operand, e.negated, e.span)

    def _Member(self, e: n.Member, expect):
        if isinstance(e.collection, n.SetLit):
            el = self.infer(e.element)
            coll = self.infer(e.collection, el.type)
        else:
            coll = self.infer(e.collection)
            el = self.infer(e.element, coll.type)
        te, tc = el.type, coll.type
        node = p.Member(el, coll, e.negated, e.span)
        if "error" in (te.kind, tc.kind):
            return node
        if tc.kind != "set":
            self.c.error("HGL301", f"'in' needs a set on the right, not {tc.describe(self.m.domains)}",
                         e.collection.span)
        elif te.kind != "elem" or not domains_compatible(te.domain, tc.domain, self.m.domains):
            self.c.error("HGL301", f"{te.describe(self.m.domains)} cannot be in a "
                         f"{tc.describe(self.m.domains)}", e.element.span)
        return node

    def _SetTest(self, e: n.SetTest, expect):
        ln, rn = self._pair(e.left, e.right)
        tl, tr = ln.type, rn.type
        for side, t in ((e.left, tl), (e.right, tr)):
            if t.kind not in ("set", "empty_set", "error"):
                self.c.error("HGL301", f"'has {e.quantifier} of' compares sets, not "
                             f"{t.describe(self.m.domains)}", side.span)
        if tl.kind == tr.kind == "set" and not domains_compatible(tl.domain, tr.domain, self.m.domains):
            self.c.error("HGL301", f"cannot compare {tl.describe(self.m.domains)} with "
                         f"{tr.describe(self.m.domains)}", e.right.span)
        return p.SetTest(ln, e.quantifier, rn, e.span)

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

    def _Count(self, e: n.Count, expect):
        items = tuple(self.check_bool(x, allow_proposal=False) for x in e.items)
        count = p.Count(items, e.span)
        if e.at_least is None:
            return count
        n_ = e.at_least.value
        if not isinstance(n_, int) or n_ > len(items):
            self.c.error("HGL304", f"at least {n_} of {len(items)} item(s) can never hold", e.at_least.span,
                         f"N is a whole number from 0 to {len(items)}")
        return p.Compare((count, p.Num(n_, str(n_), T("num", None, True), e.at_least.span)), (">=",), e.span)

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

    def _DrugsOf(self, e: n.DrugsOf, expect):
        operand = self.infer(e.operand)
        t = operand.type
        if t.kind == "error":
            return p.DrugsOf(operand, ERROR, e.span)
        if not (t.kind == "elem" and t.domain.startswith("optref")):
            self.c.error("HGL301", f"'drugs of' applies to an option input, not {t.describe(self.m.domains)}",
                         e.operand.span)
            return p.DrugsOf(operand, ERROR, e.span)
        return p.DrugsOf(operand, T("set", domain="vocab:drug"), e.span)

    def _HasRole(self, e: n.HasRole, expect):
        self.c.use("option", e.option, "option", "HGL206")
        return p.HasRole(e.option.text, e.role, e.span)

    def _AnyOption(self, e: n.AnyOption, expect):
        return p.AnyOption(e.role, self.check_filters(e.filters), e.span)

    # ------------------------------------------------------------------ selectors and outcomes
    def check_filters(self, filters) -> tuple:
        out = []
        for f in filters:
            if isinstance(f, n.Containing):
                want = T("set", domain="vocab:drug") if f.any_of else T("elem", domain="vocab:drug")
            elif isinstance(f, n.AllDrugsIn):
                want = T("set", domain="vocab:drug")
            else:
                want = T("set", domain="option")
            value = self.infer(f.value, want)
            t = value.type
            if isinstance(f, n.Containing):
                out.append(p.Containing(value, f.any_of, f.span))
            elif isinstance(f, n.AllDrugsIn):
                out.append(p.AllDrugsIn(value, f.span))
            else:
                out.append(p.OptionIn(value, f.span))
            if p.reads_proposal(value):
                self.c.error("HGL403", "a filter cannot ask what is proposed", f.value.span)
            if t.kind == "error":
                continue
            ok = t.kind == want.kind and domains_compatible(t.domain, want.domain, self.m.domains)
            if not ok and isinstance(f, n.Containing) and not f.any_of and t.kind == "set":
                self.c.error("HGL301", "'containing' takes one drug; for a set write 'containing any of'",
                             f.value.span)
            elif not ok and not (t.kind == "empty_set"):
                self.c.error("HGL301", f"expected {want.describe(self.m.domains)}, found "
                             f"{t.describe(self.m.domains)}", f.value.span)
        return tuple(out)

    def check_outcomes(self, outcomes) -> tuple:
        """Outcomes as written -> resolved outcomes as written (if blocks and `use` kept)."""
        c = self.c
        out = []
        for o in outcomes:
            if isinstance(o, n.Propose):
                for name in o.options:
                    c.use("option", name, "option", "HGL206")
                if o.role_name is not None:
                    c.use("role", o.role_name, "role", "HGL213")
                out.append(p.Propose(o.role, tuple(x.text for x in o.options), o.span))
            elif isinstance(o, n.Restrict):
                sel = o.selector
                if isinstance(sel, n.SelectOption):
                    c.use("option", sel.option, "option", "HGL206")
                    selector = p.SelectOption(sel.option.text, sel.span)
                else:
                    filters = self.check_filters(sel.filters)
                    for x in sel.except_:
                        c.use("option", x, "option", "HGL206")
                    selector = p.SelectEvery(filters, tuple(x.text for x in sel.except_), sel.span)
                out.append(p.Restrict(o.action, selector, o.span))
            elif isinstance(o, n.RaiseFlag):
                for f in o.flags:
                    c.use("flag", f, "flag", "HGL207")
                out.append(p.RaiseFlag(tuple(f.text for f in o.flags), o.span))
            elif isinstance(o, n.Request):
                sym = self.m.symbols.get(o.input.text)
                if sym is None or sym.kind != "input":
                    c.error("HGL408", f"'{o.input.text}' is not an input, so it cannot be requested",
                            o.input.span, did_you_mean(o.input.text,
                                                       [k for k, s in self.m.symbols.items() if s.kind == "input"]))
                else:
                    c.used.add(("symbol", o.input.text))
                if o.flag is not None:
                    c.use("flag", o.flag, "flag", "HGL207")
                out.append(p.Request(o.input.text, o.flag.text if o.flag else None, o.span))
            elif isinstance(o, n.Withhold):
                out.append(p.Withhold(o.span))
            elif isinstance(o, n.Use):
                c.use("group", o.group, "outcome group")
                out.append(p.Use(o.group.text, o.span))
            elif isinstance(o, n.OutcomeIf):
                branches = tuple((self.check_bool(cond, allow_proposal=True), self.check_outcomes(outs))
                                 for cond, outs in o.branches)
                out.append(p.OutcomeIf(branches, self.check_outcomes(o.otherwise), o.span))
        return tuple(out)


def _flat(cls, operands) -> tuple:
    out = []
    for x in operands:
        out.extend(x.operands if isinstance(x, cls) else (x,))
    return tuple(out)


def _written(e: n.Quantity) -> str:
    if e.unit is None:
        return str(e.value)
    return f"{e.value} %" if e.unit.text == "%" else f"{e.value} {e.unit.text}"


def _scaled(value, f: float):
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


def _retyped(expr, t: T):
    """A category's value with the category's own type (its branches may name values of another set)."""
    from dataclasses import replace

    return replace(expr, type=t) if hasattr(expr, "type") else expr
