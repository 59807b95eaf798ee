"""Hover text (language server): a name's declaration, with the resolved program -> Markdown for the editor.

Declarations are shown as written (label, type, default, description); a definition's or a
constraint's expression is shown in canonical text from the resolved program.
"""

from __future__ import annotations

import re

from hgl.compiler.explain.unparse import Prec, Unparser
from hgl.compiler.front import nodes as n


def md(text) -> str:
    """Guideline text shown as Markdown text, never as markup."""
    text = re.sub(r"([\\`*_\[\]<>|~])", r"\\\1", str(text))
    return re.sub(r"^(\s*)([#+-])", r"\1\\\2", text, flags=re.M)


def _codes(names) -> str:
    return ", ".join(f"`{x}`" for x in names)


def _num(x) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def type_text(t) -> str:
    """An input's declared type in the words of the language."""
    if isinstance(t, n.BoolType):
        return "yes/no"
    if isinstance(t, n.NumberType):
        out = ("integer" if t.integer else "number") + (f" in {t.unit.text}" if t.unit else "")
        if t.minimum is not None and t.maximum is not None:
            return out + f" from {_num(t.minimum)} to {_num(t.maximum)}"
        if t.minimum is not None:
            return out + f" at least {_num(t.minimum)}"
        return out + (f" at most {_num(t.maximum)}" if t.maximum is not None else "")
    if isinstance(t, n.EnumType):
        return "one of " + ", ".join(v.text for v in t.values)
    if isinstance(t, n.SetType):
        return f"set of {t.vocabulary.text}"
    if isinstance(t, n.OptionRefType):
        return f"{t.kind.text} option or none" if t.kind is not None else "option or none"
    if isinstance(t, n.DateType):
        return "date"
    return "?"


def literal_text(lit: n.Literal) -> str:
    if lit.kind == "string":
        return '"' + str(lit.value) + '"'
    if lit.kind == "number":
        return _num(lit.value) + (f" {lit.unit.text}" if lit.unit else "")
    if lit.kind == "bool":
        return "true" if lit.value else "false"
    if lit.kind == "name":
        return lit.value.text
    if lit.kind == "set":
        return "{" + ", ".join(i.text for i in lit.value.items) + "}"
    return str(lit.value)


def hover_text(a, target) -> str | None:
    """Markdown for a name (`target`, an analysis.Target) of an analysis: what it is, its label, type, line."""
    ns, name = target.ns, target.name
    if ns == "unit":
        from hgl.runtime import units

        unit = units.canonical(name)
        return f"unit `{name}`" + (f": {units.dimension(unit)}" if unit else " (unknown)")
    entry = a.decls.get(target)
    if entry is None:
        if ns.startswith("optref:"):
            return f"`none`: no {ns.split(':')[1]} option"
        return None
    decl_name, node = entry
    line = f"*{_kind_word(target, node)} `{name}`, line {decl_name.span.line}*"
    parts: list[str] = []
    prog = a.program
    if isinstance(node, n.InputDecl):
        parts.append(f"**{md(node.label or name.replace('_', ' '))}**")
        parts.append(f"type: {md(type_text(node.type))}")
        if node.default is not None:
            parts.append(f"default: `{literal_text(node.default)}`")
        if node.description:
            parts.append(md(node.description))
        if node.provenance:
            parts.append("provenance: " + _codes(x.text for x in node.provenance))
    elif isinstance(node, n.Definition):
        sym = prog.symbols.get(name) if prog else None
        parts.append(f"**{md(node.label or name.replace('_', ' '))}**")
        if sym is not None and sym.type.kind != "error":
            parts.append(f"type: {md(sym.type.describe(prog.domains))}")
        d = prog.definition(name) if prog else None
        parts.append("```hgl\n" + name + " = " + _expr_text(a, d.expr if d else None, node.expr) + "\n```")
        if node.description:
            parts.append(md(node.description))
    elif isinstance(node, n.OptionDecl):
        parts.append(f"**{md(node.label)}**")
        if node.drugs:
            parts.append("drugs: " + _codes(d.text for d in node.drugs))
        if node.stands_for is not None:
            parts.append(f"stands for the value of `{node.stands_for.text}`")
    elif isinstance(node, (n.FlagDecl,)):
        parts.append(f"**{md(node.label)}**")
    elif isinstance(node, (n.ProvenanceTag, n.StrengthDecl)):
        parts.append(md(node.meaning) + (" (**caution**)" if getattr(node, "caution", False) else ""))
    elif isinstance(node, (n.EvidenceEntry, n.GuidelineMeta)):
        parts.extend(f"{f.key.text}: {md(literal_text(f.value).strip(chr(34)))}" for f in node.fields)
    elif isinstance(node, n.Section):
        if node.title:
            parts.append(f"**{md(node.title)}**")
        parts.append(f"{len(node.rules)} rule(s)" + (f"; SPEC {md(node.spec)}" if node.spec else ""))
        if node.provenance:
            parts.append("provenance: " + _codes(x.text for x in node.provenance))
    elif isinstance(node, n.Rule):
        if node.title:
            parts.append(f"**{md(node.title)}**")
        rule = prog.rules_by_name.get(name) if prog else None
        facts = [f"section `{rule.section}`"] if rule else []
        if node.governs:
            facts.append("governs")
        if node.strength is not None:
            facts.append(f"strength {node.strength.text}")
        parts.append("; ".join(facts))
        if rule and rule.provenance:
            parts.append("provenance: " + _codes(rule.provenance))
        if rule and rule.evidence:
            parts.append("evidence: " + _codes(rule.evidence))
        if node.rationale:
            parts.append(md(node.rationale))
    elif isinstance(node, (n.OutcomeGroup, n.Constraint)):
        if node.label:
            parts.append(f"**{md(node.label)}**")
        if isinstance(node, n.Constraint):
            c = next((c for c in prog.constraints if c.name == name), None) if prog else None
            parts.append("```hgl\nwhen " + _expr_text(a, c.expr if c else None, node.expr) + "\n```")
    elif isinstance(node, n.Vocabulary):
        if target.ns == "vocabulary":
            parts.append(f"**{md(node.label or name)}**: {len(node.entries)} entries")
        else:
            label = next((lab for e, lab in node.entries if e.text == name), None)
            parts.append(f"**{md(label or name)}**" + f" (value of vocabulary `{node.name.text}`)")
    elif isinstance(node, n.EnumType):
        owner = ns.split(":", 1)[1]
        sym = prog.symbols.get(owner) if prog else None
        parts.append(f"value of **{md(sym.label if sym else owner)}** (`{owner}`)")
    return "\n\n".join([line] + [x for x in parts if x])


def _expr_text(a, resolved, written) -> str:
    """An expression in canonical text (as written where the checker could not resolve it)."""
    if resolved is None:
        return _written(a.result.source, written.span)
    return WrittenUnparser(a.result.source).text(resolved)


class WrittenUnparser(Unparser):
    """`text(e)`: canonical text of a resolved expression, with what could not be resolved as written."""

    def __init__(self, source):
        self.source = source

    def visit_Var(self, e):
        if e.kind == "unknown":
            return _written(self.source, e.span), Prec.ATOM
        return super().visit_Var(e)


def _written(source, s) -> str:
    lines = source.lines[s.line - 1:s.end_line]
    if not lines:
        return "…"
    lines[-1] = lines[-1][:s.end_column - 1]
    lines[0] = lines[0][s.column - 1:]
    return " ".join(x.strip() for x in lines)


def _kind_word(target, node) -> str:
    if isinstance(node, n.InputDecl):
        return "parameter" if node.is_parameter else "input"
    if isinstance(node, n.OptionDecl):
        return f"{node.kind} option"
    if isinstance(node, n.Definition):
        return "definition"
    if target.ns.startswith(("enum:", "vocab:")):
        return "value"
    return {"group": "outcome group", "provenance": "provenance tag", "evidence": "evidence entry"}.get(
        target.ns, target.ns)
