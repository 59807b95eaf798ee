"""Expression checking: resolves names, infers types and units, checks outcomes (part of checks)."""

from __future__ import annotations

from hgl.runtime import units

from hgl.compiler.front import nodes as n
from hgl.compiler.front.diagnostics import did_you_mean
from hgl.compiler.check.types import BOOL, ERROR, Domain, T, domains_compatible

_OP_WORDS = {"=": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}


class ExprChecker:
    """Types expressions against the checker's symbols; records results in the model."""

    def __init__(self, checker):
        self.c = checker
        self.m = checker.model
        self._def_state: dict[str, str] = {}

    # ------------------------------------------------------------------ definitions
    def check_definitions(self):
        defs = {d.name.text: d for d in self.c.g.definitions}
        for d in self.c.g.definitions:
            self._definition(d, defs, [])

    def _definition(self, d: n.Definition, defs, stack):
        name = d.name.text
        state = self._def_state.get(name)
        if state == "done":
            return
        if state == "busy":
            cycle = stack[stack.index(name):] + [name]
            self.c.error("HGL210", f"definition '{name}' depends on itself: {' -> '.join(cycle)}", d.name.span,
                         "break the cycle: a definition may only use names defined without it")
            return
        self._def_state[name] = "busy"
        for dep in sorted(self._refs_to_definitions(d.expr), key=lambda x: x):
            if dep in defs:
                self._definition(defs[dep], defs, stack + [name])
        t = self.infer(d.expr)
        if self.reads_proposal(d.expr):
            self.c.error("HGL403", f"definition '{name}' reads the proposal", d.expr.span,
                         "only a rule's condition may ask what is proposed")
        sym = self.m.symbols.get(name)
        if sym is not None and sym.decl is d:
            sym.type = t
        self.m.reads[name] = frozenset(self.inputs_read(d.expr))
        self._def_state[name] = "done"
        self.m.definition_order.append(d)

    def _refs_to_definitions(self, expr):
        out = set()
        for node in walk(expr):
            if isinstance(node, n.Ref):
                out.add(node.name.text)
        return out

    # ------------------------------------------------------------------ queries
    def reads_proposal(self, expr) -> bool:
        return any(isinstance(x, (n.HasRole, n.AnyOption)) for x in walk(expr))

    def inputs_read(self, expr) -> frozenset[str]:
        out: set[str] = set()
        for node in walk(expr):
            if isinstance(node, n.Ref):
                kind, name = self.m.refs.get(id(node), ("", ""))
                if kind in ("input", "definition"):
                    out |= self.m.reads.get(name, frozenset())
        return frozenset(out)

    # ------------------------------------------------------------------ literals in declarations
    def check_literal(self, lit: n.Literal, t: T, texpr, what: str):
        err = self.c.error
        if t.kind == "bool":
            if lit.kind != "bool":
                err("HGL307", f"{what} must be true or false", lit.span)
        elif t.kind == "num":
            if lit.kind != "number":
                err("HGL307", f"{what} must be a number", lit.span)
                return
            value = lit.value
            if lit.unit is not None and t.unit is not None:
                u = units.canonical(lit.unit.text)
                if u is None:
                    err("HGL305", f"unknown unit '{lit.unit.text}'", lit.unit.span)
                    return
                try:
                    value = units.convert(value, u, t.unit)
                except ValueError:
                    err("HGL302", f"{what} is in {u}, but the input is in {t.unit}", lit.unit.span)
                    return
            elif lit.unit is not None and t.unit is None:
                err("HGL302", f"{what} has a unit, but the input has none", lit.unit.span)
            if t.integer and isinstance(value, float) and not value.is_integer():
                err("HGL307", f"{what} must be a whole number", lit.span)
            lo, hi = texpr.minimum, texpr.maximum
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                err("HGL304", f"{what} {value} is outside {lo if lo is not None else '…'}–"
                    f"{hi if hi is not None else '…'}", lit.span)
            self.m.literals[id(lit)] = value
        elif t.kind == "elem":
            if lit.kind != "name":
                err("HGL307", f"{what} must be one of the allowed values", lit.span)
                return
            self._value_in(lit.value, t.domain, what)
        elif t.kind == "set":
            if lit.kind != "set":
                err("HGL307", f"{what} must be a set, e.g. {{}} or {{a, b}}", lit.span)
                return
            for item in lit.value.items:
                self._value_in(item, t.domain, what)

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
    def check_bool(self, expr, allow_proposal: bool) -> None:
        t = self.infer(expr)
        if t.kind not in ("bool", "error"):
            self.c.error("HGL301", f"a condition must be yes/no, but this is {t.describe(self.m.domains)}",
                         expr.span, "compare it, e.g. `x = value` or `x > 3`")
        if not allow_proposal and self.reads_proposal(expr):
            self.c.error("HGL403", "only a rule's condition may ask what is proposed", expr.span)

    def set_type(self, expr, t: T) -> T:
        self.m.types[id(expr)] = t
        return t

    def infer(self, expr, expect: T | None = None) -> T:
        method = getattr(self, "_" + type(expr).__name__)
        return self.set_type(expr, method(expr, expect))

    def _Ref(self, e: n.Ref, expect):
        name = e.name.text
        if expect is not None and expect.kind in ("elem", "set") and expect.domain in self.m.domains:
            dom = self.m.domains[expect.domain]
            if name in dom.values and name not in self.m.symbols:
                self.m.refs[id(e)] = ("value", name)
                return T("elem", domain=expect.domain)
            if expect.domain.startswith("optref") and name in self.m.options and name not in self.m.symbols:
                self.m.refs[id(e)] = ("value", name)
                return T("elem", domain="option")
        sym = self.m.symbols.get(name)
        if sym is not None:
            self.m.refs[id(e)] = (sym.kind, name)
            self.c.used.add(("symbol", name))
            return sym.type
        if expect is not None and expect.kind in ("elem", "set"):
            dom = self.m.domains.get(expect.domain)
            values = dom.values if dom else ()
            hint = did_you_mean(name, list(values) + list(self.m.symbols))
            label = dom.label if dom else "this set"
            self.c.error("HGL303", f"'{name}' is not a value of {label} nor a declared name", e.name.span,
                         hint or ("allowed: " + ", ".join(values[:12])))
            return ERROR
        # a bare value with no context: find the one domain that has it
        found = [k for k, d in self.m.domains.items() if name in d.values and not k.startswith("optref")]
        if len(found) == 1:
            self.m.refs[id(e)] = ("value", name)
            return T("elem", domain=found[0])
        if len(found) > 1:
            labels = " and ".join(sorted(self.m.domains[k].label for k in found))
            self.c.error("HGL211", f"'{name}' is a value of several sets ({labels})",
                         e.name.span, "compare it with something of the set you mean, e.g. `x = value`")
            return ERROR
        hint = did_you_mean(name, self.m.symbols)
        if hint:
            suggested = hint.split("'")[1]
            decl = self.m.symbols[suggested].decl
            hint = hint + f" (declared at line {decl.name.span.line})"
            self.c.used.add(("symbol", suggested))  # no "never used" warning cascading from the typo
        self.c.error("HGL201", f"unknown name '{name}'", e.name.span, hint)
        return ERROR

    def _Quantity(self, e: n.Quantity, expect):
        value = e.value
        unit = None
        if e.unit is not None:
            unit = units.canonical(e.unit.text)
            if unit is None:
                self.c.error("HGL305", f"unknown unit '{e.unit.text}'", e.unit.span,
                             did_you_mean(e.unit.text, list(units.UNITS) + list(units.ALIASES))
                             or "units: " + ", ".join(units.UNITS))
                return ERROR
        self.m.literals[id(e)] = value
        return T("num", unit, isinstance(value, int))

    def _BoolLit(self, e, expect):
        return BOOL

    def _SetLit(self, e: n.SetLit, expect):
        if not e.items:
            if expect is not None and expect.kind in ("set", "elem"):
                return T("set", domain=expect.domain)
            return T("empty_set")
        domain = expect.domain if expect is not None and expect.kind in ("set", "elem") else None
        if domain is None:
            names = {i.text for i in e.items}
            found = [k for k, d in self.m.domains.items()
                     if names <= set(d.values) and not k.startswith("optref")]
            if len(found) > 1 and all(k.startswith("enum:") for k in found):
                values = tuple(dict.fromkeys(i.text for i in e.items))
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
                return ERROR
            domain = found[0]
        ok = True
        for item in e.items:
            if domain.startswith("optref") and item.text in self.m.options:
                continue
            ok = self._value_in(item, domain, "") and ok
            if domain == "option":
                self.c.used.add(("option", item.text))
        self.m.literals[id(e)] = tuple(dict.fromkeys(i.text for i in e.items))
        return T("set", domain=domain) if ok else ERROR

    def _If(self, e: n.If, expect):
        result = None
        for cond, value in e.branches:
            self.check_bool(cond, allow_proposal=True)
            result = self._join(result, self.infer(value, expect), value)
        return self._join(result, self.infer(e.otherwise, expect or result), e.otherwise) or ERROR

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

    def _logic(self, e, expect):
        for op in e.operands:
            self.check_bool(op, allow_proposal=True)
        return BOOL

    _And = _logic
    _Or = _logic

    def _Not(self, e, expect):
        self.check_bool(e.operand, allow_proposal=True)
        return BOOL

    def _pair(self, left, right):
        """Infer two operands where a bare value on one side takes the other side's type."""
        if self._is_bare_value(left) and not self._is_bare_value(right):
            tr = self.infer(right)
            tl = self.infer(left, tr)
        else:
            tl = self.infer(left)
            if tl.kind == "error" and self._is_bare_value(left) and self._is_bare_value(right):
                return tl, self.set_type(right, ERROR)  # the left side was reported; the right would echo it
            tr = self.infer(right, tl)
        return tl, tr

    def _is_bare_value(self, e) -> bool:
        return (isinstance(e, n.Ref) and e.name.text not in self.m.symbols) or isinstance(e, n.SetLit)

    def _Compare(self, e: n.Compare, expect):
        types = []
        for i, op in enumerate(e.ops):
            left, right = e.operands[i], e.operands[i + 1]
            if i == 0:
                tl, tr = self._pair(left, right)
                types.append(tl)
            else:
                tl = types[-1]
                tr = self.infer(right, tl)
            types.append(tr)
            self._check_comparison(op, left, tl, right, tr)
        return BOOL

    def _check_comparison(self, op, left, tl: T, right, tr: T):
        if "error" in (tl.kind, tr.kind):
            return
        err = self.c.error
        if tl.kind == "num" and tr.kind == "num":
            if tl.unit != tr.unit:
                lit, other, t_other = (right, left, tl) if isinstance(right, n.Quantity) else (left, right, tr)
                if isinstance(lit, n.Quantity) and lit.unit is None:
                    err("HGL306", f"this number needs a unit: it is compared with {t_other.unit}",
                        lit.span, f"write `{lit.value} {t_other.unit}`")
                elif isinstance(lit, n.Quantity) and t_other.unit and lit.unit is not None:
                    u = units.canonical(lit.unit.text)
                    try:
                        self.m.literals[id(lit)] = units.convert(lit.value, u, t_other.unit)
                    except ValueError:
                        err("HGL302", f"cannot compare {t_other.unit} with {u}", lit.span,
                            f"'{self._text(other)}' is measured in {t_other.unit}")
                else:
                    err("HGL302", f"cannot compare {tl.unit or 'a plain number'} with {tr.unit or 'a plain number'}",
                        right.span)
                    return
            self._check_in_range(left, right)
            return
        if op not in ("=", "!="):
            err("HGL301", f"'{_OP_WORDS[op]}' compares numbers, not {tl.describe(self.m.domains)}", left.span,
                "use = or ≠ for values, 'in' for sets")
            return
        if tl.kind == tr.kind == "elem" and domains_compatible(tl.domain, tr.domain, self.m.domains):
            return
        if tl.kind == tr.kind == "bool":
            return
        err("HGL301", f"cannot compare {tl.describe(self.m.domains)} with {tr.describe(self.m.domains)}",
            right.span)

    def _check_in_range(self, left, right):
        """A constant outside an input's declared range makes the comparison always true or false."""
        for ref, lit in ((left, right), (right, left)):
            if not (isinstance(ref, n.Ref) and isinstance(lit, n.Quantity)):
                continue
            sym = self.m.symbols.get(ref.name.text)
            decl_type = getattr(sym.decl, "type", None) if sym is not None and sym.kind != "definition" else None
            if not isinstance(decl_type, n.NumberType):
                continue
            value = self.m.literals.get(id(lit), lit.value)
            lo, hi = decl_type.minimum, decl_type.maximum
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                unit = f" {sym.type.unit}" if sym.type.unit else ""
                shown = f"{value:g}{unit}"
                if lit.unit is not None and units.canonical(lit.unit.text) != sym.type.unit:
                    shown = f"{lit.value:g} {lit.unit.text} ({shown})"
                self.c.error("HGL304", f"{shown} is outside the range of '{ref.name.text}' "
                             f"({lo if lo is not None else '…'}–{hi if hi is not None else '…'}{unit})", lit.span,
                             "the comparison would always give the same answer; check the number or the range")

    def _text(self, e) -> str:
        return e.name.text if isinstance(e, n.Ref) else "this"

    def _IsMissing(self, e: n.IsMissing, expect):
        if not (isinstance(e.operand, n.Ref) and self.m.symbols.get(e.operand.name.text, None)
                and self.m.symbols[e.operand.name.text].kind == "input"):
            t = self.infer(e.operand)
            if t.kind != "error":  # an unknown name was already reported: one mistake, one error
                self.c.error("HGL301", "'is missing' applies to an input", e.operand.span,
                             "definitions are never missing: they are unknown when an input they read is missing")
            return BOOL
        self.infer(e.operand)
        return BOOL

    def _IsEmpty(self, e: n.IsEmpty, expect):
        t = self.infer(e.operand)
        if t.kind not in ("set", "error"):
            self.c.error("HGL301", f"'is empty' applies to a set, not {t.describe(self.m.domains)}", e.operand.span)
        return BOOL

    def _Member(self, e: n.Member, expect):
        if isinstance(e.collection, n.SetLit):
            te = self.infer(e.element)
            tc = self.infer(e.collection, te)
        else:
            tc = self.infer(e.collection)
            te = self.infer(e.element, tc)
        if "error" in (te.kind, tc.kind):
            return BOOL
        if tc.kind != "set":
            self.c.error("HGL301", f"'in' needs a set on the right, not {tc.describe(self.m.domains)}",
                         e.collection.span)
        elif te.kind != "elem" or not domains_compatible(te.domain, tc.domain, self.m.domains):
            self.c.error("HGL301", f"{te.describe(self.m.domains)} cannot be in a "
                         f"{tc.describe(self.m.domains)}", e.element.span)
        return BOOL

    def _SetTest(self, e: n.SetTest, expect):
        tl, tr = self._pair(e.left, e.right)
        for side, t in ((e.left, tl), (e.right, tr)):
            if t.kind not in ("set", "empty_set", "error"):
                self.c.error("HGL301", f"'has {e.quantifier} of' compares sets, not "
                             f"{t.describe(self.m.domains)}", side.span)
        if tl.kind == tr.kind == "set" and not domains_compatible(tl.domain, tr.domain, self.m.domains):
            self.c.error("HGL301", f"cannot compare {tl.describe(self.m.domains)} with "
                         f"{tr.describe(self.m.domains)}", e.right.span)
        return BOOL

    def _Binary(self, e: n.Binary, expect):
        tl, tr = self._pair(e.left, e.right)
        if "error" in (tl.kind, tr.kind):
            return ERROR
        if e.op == "union":
            return self._join(tl, tr, e.right) if tl.kind in ("set", "empty_set") else self._bad_op(e, tl)
        if tl.kind != "num" or tr.kind != "num":
            return self._bad_op(e, tl if tl.kind != "num" else tr)
        if tl.unit != tr.unit:
            if isinstance(e.right, n.Quantity) and e.right.unit is None and tl.unit:
                self.c.error("HGL306", f"this number needs a unit: it is added to {tl.unit}", e.right.span,
                             f"write `{e.right.value} {tl.unit}`")
            else:
                self.c.error("HGL302", f"cannot add {tl.unit or 'a plain number'} and "
                             f"{tr.unit or 'a plain number'}", e.right.span)
        return T("num", tl.unit, tl.integer and tr.integer)

    def _bad_op(self, e, t):
        self.c.error("HGL301", f"'{e.op}' does not apply to {t.describe(self.m.domains)}", e.span,
                     "'+' and '-' work on numbers, 'union' on sets")
        return ERROR

    def _DrugsOf(self, e: n.DrugsOf, expect):
        t = self.infer(e.operand)
        if t.kind == "error":
            return ERROR
        if not (t.kind == "elem" and t.domain.startswith("optref")):
            self.c.error("HGL301", f"'drugs of' applies to an option input, not {t.describe(self.m.domains)}",
                         e.operand.span)
            return ERROR
        return T("set", domain="vocab:drug")

    def _HasRole(self, e: n.HasRole, expect):
        self.c.use("option", e.option, "option", "HGL206")
        return BOOL

    def _AnyOption(self, e: n.AnyOption, expect):
        self.check_filters(e.filters)
        return BOOL

    # ------------------------------------------------------------------ selectors and outcomes
    def check_filters(self, filters):
        for f in filters:
            if isinstance(f, n.Containing):
                want = T("set", domain="vocab:drug") if f.any_of else T("elem", domain="vocab:drug")
            elif isinstance(f, n.AllDrugsIn):
                want = T("set", domain="vocab:drug")
            else:
                want = T("set", domain="option")
            t = self.infer(f.value, want)
            if self.reads_proposal(f.value):
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

    def check_outcomes(self, outcomes, phase2: bool | None, context: str):
        c = self.c
        for o in outcomes:
            if isinstance(o, n.Propose):
                for name in o.options:
                    c.use("option", name, "option", "HGL206")
                if phase2:
                    c.error("HGL403", f"{context} asks what is proposed, so it cannot propose options itself",
                            o.span, "split it: one rule proposes, another reads the proposal")
            elif isinstance(o, n.Restrict):
                sel = o.selector
                if isinstance(sel, n.SelectOption):
                    c.use("option", sel.option, "option", "HGL206")
                else:
                    self.check_filters(sel.filters)
                    for x in sel.except_:
                        c.use("option", x, "option", "HGL206")
            elif isinstance(o, n.RaiseFlag):
                for f in o.flags:
                    c.use("flag", f, "flag", "HGL207")
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
            elif isinstance(o, n.Use):
                if c.use("group", o.group, "outcome group"):
                    grp = self.m.groups[o.group.text]
                    if phase2 and any(isinstance(x, n.Propose) for x in walk_outcomes(grp.outcomes, self.m.groups)):
                        c.error("HGL403", f"{context} asks what is proposed, so it cannot use "
                                f"'{o.group.text}', which proposes options", o.span)
            elif isinstance(o, n.OutcomeIf):
                for cond, outs in o.branches:
                    self.check_bool(cond, allow_proposal=True)
                    self.check_outcomes(outs, phase2, context)
                self.check_outcomes(o.otherwise, phase2, context)


def walk(expr):
    """Every expression node below (and including) expr, with filters' values."""
    stack = [expr]
    while stack:
        e = stack.pop()
        yield e
        if isinstance(e, (n.And, n.Or)):
            stack.extend(e.operands)
        elif isinstance(e, n.Not):
            stack.append(e.operand)
        elif isinstance(e, n.Compare):
            stack.extend(e.operands)
        elif isinstance(e, (n.IsMissing, n.IsEmpty, n.DrugsOf)):
            stack.append(e.operand)
        elif isinstance(e, n.Member):
            stack.extend((e.element, e.collection))
        elif isinstance(e, (n.SetTest, n.Binary)):
            stack.extend((e.left, e.right))
        elif isinstance(e, n.If):
            for c, v in e.branches:
                stack.extend((c, v))
            stack.append(e.otherwise)
        elif isinstance(e, n.AnyOption):
            stack.extend(f.value for f in e.filters)


def walk_outcomes(outcomes, groups, depth=0):
    for o in outcomes:
        yield o
        if isinstance(o, n.OutcomeIf) and depth < 20:
            for _c, outs in o.branches:
                yield from walk_outcomes(outs, groups, depth + 1)
            yield from walk_outcomes(o.otherwise, groups, depth + 1)
        elif isinstance(o, n.Use) and o.group.text in groups and depth < 20:
            yield from walk_outcomes(groups[o.group.text].outcomes, groups, depth + 1)
