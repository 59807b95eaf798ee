"""Selectors and outcomes (part of the expression checker, exprcheck.py).

`every option containing …` filters and a rule's outcomes (propose, restrict, flags, requests,
`use`, `if` blocks) as written -> resolved.  `OutcomeChecks` is mixed into `ExprChecker`: its
methods use the checker's `c` (the checks: diagnostics and uses), `m` (the model), `infer` and
`check_bool`.
"""

from __future__ import annotations

from hgl.compiler.check import program as p
from hgl.compiler.check.types import T, domains_compatible
from hgl.compiler.front import nodes as n
from hgl.compiler.front.diagnostics import did_you_mean


class OutcomeChecks:
    """The expression checker's methods for selectors and outcomes."""

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
