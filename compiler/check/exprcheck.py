"""Expression checking (part of checks): AST expressions -> resolved, typed `program` nodes, with diagnostics.

Each `_<AstClass>` method takes an AST node and the type the context expects, reports what is
wrong, and returns the resolved node (its `.type` says what it is; `ERROR` after a reported
mistake, so one mistake gives one error).  Definitions are checked on first use, so each is
typed before anything that reads it.  The methods for numbers, units and dates are in
quantities.py and those for selectors and outcomes in outcomecheck.py, mixed into ExprChecker.
"""

from __future__ import annotations

from hgl.compiler.check import program as p
from hgl.compiler.check.outcomecheck import OutcomeChecks
from hgl.compiler.check.quantities import QuantityChecks, scaled
from hgl.compiler.check.types import BOOL, ERROR, Domain, T, domains_compatible
from hgl.compiler.front import nodes as n
from hgl.compiler.front.diagnostics import closest, did_you_mean
from hgl.compiler.check import units

TODAY = "today"  # the built-in name of the evaluation date
_OP_WORDS = {"=": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}


class ExprChecker(QuantityChecks, OutcomeChecks):
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
                    value = scaled(value, units.factor(u, units.resolve(t.unit)))
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
            return self._compare_numbers(left, ln, right, rn)
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


def _flat(cls, operands) -> tuple:
    out = []
    for x in operands:
        out.extend(x.operands if isinstance(x, cls) else (x,))
    return tuple(out)


def _retyped(expr, t: T):
    """A category's value with the category's own type (its branches may name values of another set)."""
    from dataclasses import replace

    return replace(expr, type=t) if hasattr(expr, "type") else expr
