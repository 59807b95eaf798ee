"""Mutation testing, operators: the resolved program -> its mutants, each one small edit with its source position.

A mutant is the checked program with one node replaced (dataclasses.replace up the tree), one
rule removed, or one rule's `when` dropped; the conditions of `if` outcome blocks are edited as
written and the rule's flat branches recomputed from them (hgl.compiler.check.checks.flatten_outcomes),
so an edit and its `else` negations stay one edit.  OPERATORS is the table of what each node
type can become; a node type it does not name (a newer construct) is left as it is.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from decimal import Decimal

from hgl.compiler.check import program as p
from hgl.compiler.check.checks import flatten_outcomes
from hgl.compiler.check.types import T
from hgl.compiler.explain.unparse import unparse
from hgl.runtime import units

# the operators, in the order mutants of one site are listed (also the order of the docs' table)
OPERATOR_NAMES = ("threshold", "strictness", "and_or", "negation", "condition", "set_member", "role", "rule")

# node type (class name in hgl.compiler.check.program) -> the operators that edit it
OPERATORS: dict[str, tuple[str, ...]] = {
    "Num": ("threshold",),
    "Compare": ("strictness",),
    "And": ("and_or", "condition"),
    "Or": ("and_or", "condition"),
    "Not": ("negation",),
    "IsMissing": ("negation",),
    "IsEmpty": ("negation",),
    "Member": ("negation",),
    "SetOf": ("set_member",),
    "Propose": ("role",),
    "Rule": ("rule", "condition"),
}

STRICT = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
SHOWN = 70  # characters of an expression shown in a description


@dataclass(frozen=True)
class Mutation:
    """One small edit of a guideline: where it is, what it does, and the edit itself."""

    key: str  # stable within one source: "705:52 threshold +1"
    operator: str  # one of OPERATOR_NAMES
    line: int
    column: int
    owner: str  # "rule bm_resection", "define active_bm", "constraint c", "group g"
    description: str  # "`bm_max_diameter_mm > 30 mm` -> `bm_max_diameter_mm > 31 mm`"
    edit: tuple = field(compare=False, repr=False)  # ("replace", old, new) | ("remove_rule", name) | ("drop_when", name)

    def to_dict(self) -> dict:
        return {"key": self.key, "operator": self.operator, "line": self.line, "column": self.column,
                "owner": self.owner, "description": self.description}


# ---------------------------------------------------------------- enumeration


def mutations(program: p.Program) -> list[Mutation]:
    """Every mutant of a program, sorted by source position (deterministic)."""
    out: list[Mutation] = []
    seen: set = set()
    for owner, node, parent in _sites(program):
        if node in seen:
            continue
        seen.add(node)
        for op in OPERATORS.get(type(node).__name__, ()):
            out.extend(_EXPR_OPS[op](node, owner, parent))
    for r in program.rules:
        out.append(_mutation("rule", r.span, "", f"rule {r.name}", f"rule `{r.name}` removed", ("remove_rule", r.name)))
        if r.when is not None and not isinstance(r.when, p.And):  # an And's conjuncts are dropped one by one
            out.append(_mutation("condition", r.when.span, "when", f"rule {r.name}",
                                 f"drop `when {_show(r.when)}` (the rule always fires)", ("drop_when", r.name)))
    for owner, outcomes in [(f"rule {r.name}", r.outcomes) for r in program.rules] + \
            [(f"group {g.name}", g.outcomes) for g in program.groups.values()]:
        for o in _proposals(outcomes):
            if o.role in ("preferred", "alternative"):
                new = "alternative" if o.role == "preferred" else "preferred"
                words = {"preferred": "prefer", "alternative": "alternative"}
                opts = ", ".join(o.options)
                out.append(_mutation("role", o.span, new, owner, f"`{words[o.role]} {opts}` -> `{words[new]} {opts}`",
                                     ("replace", o, dataclasses.replace(o, role=new))))
    rank = {name: i for i, name in enumerate(OPERATOR_NAMES)}
    out.sort(key=lambda m: (m.line, m.column, rank[m.operator], m.key))
    keys: dict[str, int] = {}
    for i, m in enumerate(out):  # two edits at one position with one name: numbered, so every key is unique
        keys[m.key] = keys.get(m.key, 0) + 1
        if keys[m.key] > 1:
            out[i] = dataclasses.replace(m, key=f"{m.key} ({keys[m.key]})")
    return out


def _sites(program: p.Program):
    """(owner, expression node, its parent) for every expression as written, outermost first."""
    roots = [(f"define {d.name}", d.expr) for d in program.definitions]
    roots += [(f"constraint {c.name}", c.expr) for c in program.constraints]
    for r in program.rules:
        if r.when is not None:
            roots.append((f"rule {r.name}", r.when))
        roots += [(f"rule {r.name}", e) for e in _outcome_exprs(r.outcomes)]
    for g in program.groups.values():
        roots += [(f"group {g.name}", e) for e in _outcome_exprs(g.outcomes)]
    for owner, root in roots:
        stack = [(root, None)]
        while stack:
            node, parent = stack.pop()
            yield owner, node, parent
            stack.extend((c, node) for c in reversed(p.children(node)))


def _outcome_exprs(outcomes):
    """The conditions of `if` blocks and the selectors of restrictions, as written."""
    for o in outcomes:
        if isinstance(o, p.OutcomeIf):
            for cond, body in o.branches:
                yield cond
                yield from _outcome_exprs(body)
            yield from _outcome_exprs(o.otherwise)
        elif isinstance(o, p.Restrict):
            yield o.selector


def _proposals(outcomes):
    for o in outcomes:
        if isinstance(o, p.OutcomeIf):
            for _cond, body in o.branches:
                yield from _proposals(body)
            yield from _proposals(o.otherwise)
        elif isinstance(o, p.Propose):
            yield o


def _mutation(op, span, variant, owner, description, edit) -> Mutation:
    key = f"{span.line}:{span.column} {op}" + (f" {variant}" if variant else "")
    return Mutation(key, op, span.line, span.column, owner, description, edit)


def _show(e) -> str:
    try:
        text = " ".join(unparse(e).split())
    except Exception:  # a node type the unparser does not know yet: still a mutant, shown shortly
        text = "…"
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


def _changed(op, old, new, owner, variant, shown_old=None, shown_new=None) -> Mutation:
    before, after = _show(shown_old or old), _show(shown_new or new)
    return _mutation(op, old.span, variant, owner, f"`{before}` -> `{after}`", ("replace", old, new))


# ---------------------------------------------------------------- expression operators


def _threshold(node: p.Num, owner, parent):
    """The number one step up and one step down in the unit the author wrote (30 mm -> 29 mm, 31 mm)."""
    m = re.fullmatch(r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s*(.*?)\s*", node.written)
    if m is None:
        return []
    number, unit = Decimal(m.group(1)), m.group(2)
    step = Decimal(1).scaleb(number.as_tuple().exponent)  # 30 -> 1, 2.5 -> 0.1
    out = []
    for sign, variant in ((1, "+1"), (-1, "-1")):
        written_n = number + sign * step
        try:
            value = _canonical(written_n, unit, node)
        except (KeyError, ValueError, TypeError, ZeroDivisionError):
            continue
        written = str(written_n) if not unit else (f"{written_n} %" if unit == "%" else f"{written_n} {unit}")
        new = p.Num(value, written, T("num", node.type.unit, isinstance(value, int)), node.span)
        if isinstance(parent, p.Compare):  # shown in its comparison: `size > 30 mm` -> `size > 31 mm`
            out.append(_changed("threshold", node, new, owner, variant, parent, _Replacer(node, new).node(parent)))
        else:
            out.append(_changed("threshold", node, new, owner, variant))
    return out


def _canonical(written_n: Decimal, unit: str, node: p.Num):
    """The new number in the canonical unit of the old one."""
    target = node.type.unit
    if unit and target and units.canonical(unit) != target:
        value = units.convert(float(written_n), units.canonical(unit), target)
    elif not unit and node.value != 0 and str(node.value) != node.written:
        value = float(written_n) * node.value / float(Decimal(node.written))  # converted without a unit: keep the ratio
    else:
        value = float(written_n)
    if float(value).is_integer() and (isinstance(node.value, int) or written_n == written_n.to_integral_value()):
        return int(value)
    return value


def _strictness(node: p.Compare, owner, parent=None):
    out = []
    for i, op in enumerate(node.ops):
        if op in STRICT:
            ops = node.ops[:i] + (STRICT[op],) + node.ops[i + 1:]
            out.append(_changed("strictness", node, dataclasses.replace(node, ops=ops), owner, f"#{i + 1}"))
    return out


def _and_or(node, owner, parent=None):
    """Each connective of an `and`/`or` chain swapped on its own, as the text would read."""
    ops, out = node.operands, []
    word = "and" if isinstance(node, p.And) else "or"
    other = "or" if word == "and" else "and"
    for i in range(1, len(ops)):
        if isinstance(node, p.And):  # a and b and c -> (a and b) or c
            new = _make(p.Or, (_make(p.And, ops[:i]), _make(p.And, ops[i:])), node.span)
        else:  # a or b or c -> a or (b and c)
            new = _make(p.Or, ops[:i - 1] + (_make(p.And, ops[i - 1:i + 1]),) + ops[i + 1:], node.span)
        desc = f"`{_show(ops[i - 1])} {word} {_show(ops[i])}` -> `{_show(ops[i - 1])} {other} {_show(ops[i])}`"
        out.append(_mutation("and_or", ops[i].span, f"{word}#{i}", owner, desc, ("replace", node, new)))
    return out


def _drop_operand(node, owner, parent=None):
    out = []
    word = "and" if isinstance(node, p.And) else "or"
    for i, x in enumerate(node.operands):
        new = _make(type(node), node.operands[:i] + node.operands[i + 1:], node.span)
        what = "condition" if word == "and" else "alternative"
        out.append(_mutation("condition", x.span, f"{word}#{i + 1}", owner, f"drop the {what} `{_show(x)}`",
                             ("replace", node, new)))
    return out


def _negation(node, owner, parent=None):
    if isinstance(node, p.Not):
        return [_changed("negation", node, node.operand, owner, "not")]
    if getattr(node, "negated", False):
        return [_changed("negation", node, dataclasses.replace(node, negated=False), owner, type(node).__name__)]
    return []


def _set_member(node: p.SetOf, owner, parent=None):
    if len(node.values) < 2:
        return []  # an empty set is not something an author can write
    return [_mutation("set_member", node.span, f"-{v}", owner, f"remove `{v}` from `{_show(node)}`",
                      ("replace", node, dataclasses.replace(node, values=node.values[:i] + node.values[i + 1:])))
            for i, v in enumerate(node.values)]


_EXPR_OPS = {"threshold": _threshold, "strictness": _strictness, "and_or": _and_or, "negation": _negation,
             "condition": _drop_operand, "set_member": _set_member}


def _make(cls, operands, span=None):
    """An And/Or of operands, flattened as the checker flattens them; one operand stands alone."""
    flat = _flatten(cls, operands)
    if len(flat) == 1:
        return flat[0]
    first, last = flat[0].span, flat[-1].span
    if span is None:
        from hgl.compiler.front.source import Span

        span = Span(first.line, first.column, last.end_line, last.end_column)
    return cls(flat, span)


def _flatten(cls, operands) -> tuple:
    out = []
    for x in operands:
        out.extend(x.operands if isinstance(x, cls) else (x,))
    return tuple(out)


# ---------------------------------------------------------------- applying a mutation


def apply(program: p.Program, m: Mutation) -> p.Program:
    """The program with the mutation made: a new Program; the original is untouched."""
    kind = m.edit[0]
    if kind == "remove_rule":
        sections = tuple(dataclasses.replace(s, rules=tuple(r for r in s.rules if r.name != m.edit[1]))
                         for s in program.sections)
        return _with_sections(program, sections, program.groups, program.definitions, program.constraints)
    if kind == "drop_when":
        sections = tuple(dataclasses.replace(s, rules=tuple(dataclasses.replace(r, when=None) if r.name == m.edit[1]
                                                            else r for r in s.rules)) for s in program.sections)
        return _with_sections(program, sections, program.groups, program.definitions, program.constraints)
    _, old, new = m.edit
    sub = _Replacer(old, new)
    definitions = sub.tuple(program.definitions)
    constraints = sub.tuple(program.constraints)
    groups = {k: sub.node(g) for k, g in program.groups.items()}
    groups_changed = any(groups[k] is not g for k, g in program.groups.items())
    sections = []
    for s in program.sections:
        rules = []
        for r in s.rules:
            nr = sub.node(r, skip=("branches",))
            if nr is not r or groups_changed:
                nr = dataclasses.replace(nr, branches=flatten_outcomes(nr.outcomes, groups))
            rules.append(nr)
        sections.append(dataclasses.replace(s, rules=tuple(rules)) if any(a is not b for a, b in zip(rules, s.rules))
                        else s)
    return _with_sections(program, tuple(sections), groups, definitions, constraints)


def _with_sections(program, sections, groups, definitions, constraints) -> p.Program:
    out = dataclasses.replace(program, sections=sections, groups=groups, definitions=definitions,
                              constraints=constraints, rules_by_name={})
    out.rules_by_name.update((r.name, r) for s in sections for r in s.rules)
    return out


class _Replacer:
    """Rebuilds the nodes on the path to `old` (matched by type, span and value) with `new` in its place."""

    def __init__(self, old, new):
        self.old, self.new = old, new
        self.span = getattr(old, "span", None)

    def matches(self, x) -> bool:
        return x is self.old or (type(x) is type(self.old) and getattr(x, "span", None) == self.span and x == self.old)

    def tuple(self, xs: tuple) -> tuple:
        ys = tuple(self.value(x) for x in xs)
        return xs if all(a is b for a, b in zip(xs, ys)) else ys

    def value(self, x):
        if self.matches(x):
            return self.new
        if isinstance(x, tuple):
            return self.tuple(x)
        if dataclasses.is_dataclass(x) and type(x).__module__ == p.__name__:
            return self.node(x)
        return x

    def node(self, x, skip=()):
        if self.matches(x):
            return self.new
        changes = {}
        for f in dataclasses.fields(x):
            if f.name in skip or f.name in ("type", "span") or not f.init:
                continue
            v = getattr(x, f.name)
            nv = self.value(v)
            if nv is not v:
                changes[f.name] = nv
        if not changes:
            return x
        y = dataclasses.replace(x, **changes)
        if isinstance(y, (p.And, p.Or)):  # an operand that became the same connective is merged into it
            y = dataclasses.replace(y, operands=_flatten(type(y), y.operands))
        return y
