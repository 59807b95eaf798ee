"""Editor queries (language server): a checked `CompileResult` -> names, hovers, completions and an outline.

Declarations and the names written in them come from the syntax tree (`result.guideline`); what
a name in an expression stands for comes from the resolved program (`result.program`), matched
to the written name by its span.  Plain Python with no LSP types: positions are the compiler's
1-based code-point spans; compiler/lsp/server.py converts them to the protocol's units.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass

from hgl.compiler.check.checks import EVIDENCE_FIELDS, META_OPTIONAL, META_REQUIRED
from hgl.compiler.check import program as p
from hgl.compiler.front import nodes as n
from hgl.compiler.front.source import Span
from hgl.compiler.lsp.hover import hover_text, type_text


# ---------------------------------------------------------------- names and what they stand for


@dataclass(frozen=True)
class Target:
    """What a name stands for: a namespace and the name; values live in their domain's namespace."""

    ns: str  # symbol option flag evidence provenance strength section rule group vocabulary
    name: str  # constraint guideline unit, or a domain key: enum:<input>, vocab:<vocabulary>


@dataclass(frozen=True)
class Occurrence:
    span: Span  # of the name itself
    target: Target
    is_decl: bool


# node class -> namespace of the name it declares (in its `name` field, `id` for the metadata)
_DECLARES = {
    "GuidelineMeta": "guideline", "ProvenanceTag": "provenance", "StrengthDecl": "strength",
    "EvidenceEntry": "evidence", "Vocabulary": "vocabulary", "OptionDecl": "option", "FlagDecl": "flag",
    "InputDecl": "symbol", "Definition": "symbol", "Constraint": "constraint", "OutcomeGroup": "group",
    "Rule": "rule", "Section": "section",
}
# (node class, field) -> namespace of the names used there
_USES = {
    ("InputDecl", "provenance"): "provenance", ("Rule", "provenance"): "provenance",
    ("Section", "provenance"): "provenance", ("Rule", "evidence"): "evidence",
    ("Section", "evidence"): "evidence", ("Rule", "strength"): "strength",
    ("OptionDecl", "drugs"): "vocab:drug", ("OptionDecl", "stands_for"): "symbol",
    ("Propose", "options"): "option", ("SelectOption", "option"): "option",
    ("SelectEvery", "except_"): "option", ("HasRole", "option"): "option", ("RaiseFlag", "flags"): "flag",
    ("Request", "input"): "symbol", ("Request", "flag"): "flag", ("Use", "group"): "group",
    ("SetType", "vocabulary"): "vocabulary", ("Combination", "governing_order"): "section",
    ("Quantity", "unit"): "unit", ("NumberType", "unit"): "unit", ("Literal", "unit"): "unit",
}
_SKIP = {("Field", "key"), ("Combination", "roles")}
# (node class, field) of the names in expressions: what they stand for is in the resolved program
_RESOLVED = (("Ref", "name"), ("SetLit", "items"))
# the order a bare word is looked up in when its position gives no context
_LOOKUP_ORDER = ("symbol", "option", "flag", "evidence", "provenance", "strength", "section", "rule",
                 "group", "vocabulary", "constraint", "vocab:", "enum:", "guideline")


class Analysis:
    """Every declaration and every use of a name in one checked source, for editor queries."""

    def __init__(self, result):
        self.result = result
        self.guideline: n.Guideline | None = result.guideline
        self.program: p.Program | None = result.program
        self.resolved = ResolvedNames(self.program).by_span
        self.decls: dict[Target, tuple[n.Name, object]] = {}
        self.occurrences: list[Occurrence] = []
        if self.guideline is not None:
            g = self.guideline
            self._walk(g.meta, None)
            for f in dataclasses.fields(g):
                if f.name != "meta":
                    self._visit(getattr(g, f.name), g, f.name, None)
            self.occurrences.sort(key=lambda o: (o.span.line, o.span.column))

    # ------------------------------------------------------------------ building
    def _walk(self, node, owner):
        if node is None:
            return
        cls = type(node).__name__
        if cls in ("InputDecl", "Vocabulary"):
            owner = node
        for f in dataclasses.fields(node):
            if f.name in ("name", "id") and cls in _DECLARES:
                name = getattr(node, f.name)
                target = Target(_DECLARES[cls], name.text)
                self.decls.setdefault(target, (name, node))
                self.occurrences.append(Occurrence(name.span, target, True))
            elif (cls, f.name) not in _SKIP:
                self._visit(getattr(node, f.name), node, f.name, owner)

    def _visit(self, value, parent, fname, owner):
        if isinstance(value, n.Name):
            target, is_decl = self._classify(value, parent, fname, owner)
            if target is not None:
                if is_decl:
                    self.decls.setdefault(target, (value, parent))
                self.occurrences.append(Occurrence(value.span, target, is_decl))
        elif isinstance(value, tuple):
            for item in value:
                self._visit(item, parent, fname, owner)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            self._walk(value, owner)

    def _classify(self, name: n.Name, parent, fname, owner) -> tuple[Target | None, bool]:
        key = (type(parent).__name__, fname)
        if key in _USES:
            ns = _USES[key]
            return (self._value(ns, name.text) if ns.startswith("vocab:") else Target(ns, name.text)), False
        if key == ("EnumType", "values") and owner is not None:
            return Target(f"enum:{owner.name.text}", name.text), True
        if key == ("Vocabulary", "entries"):
            return Target(f"vocab:{parent.name.text}", name.text), True
        if key in _RESOLVED:
            meaning, domain = self.resolved.get(parent.span, (None, None))
            if meaning == "symbol":
                return Target("symbol", name.text), False
            if meaning is None and key[0] == "Ref" and self.program and name.text in self.program.symbols:
                return Target("symbol", name.text), False  # not resolved (an error nearby): still a symbol
            if domain is None and key[0] == "SetLit":
                domain = _owner_domain(owner, self.program)
            return self._value(domain, name.text), False
        if key == ("Literal", "value") and isinstance(owner, n.InputDecl):
            return self._value(_owner_domain(owner, self.program), name.text), False
        return None, False

    def _value(self, domain: str | None, name: str) -> Target:
        """The declaration a value name refers to, given the domain the checker inferred."""
        if domain and (domain == "option" or domain.startswith("optref:")):
            return Target("option", name) if name != "none" else Target(domain, name)
        if domain and not domain.startswith("values:"):
            return Target(domain, name)
        guess = self.lookup(name, ("vocab:", "option", "enum:"))
        return guess or Target("value", name)

    # ------------------------------------------------------------------ queries
    def at(self, line: int, column: int) -> Occurrence | None:
        """The name occurrence covering a 1-based position (its end column counts too)."""
        for o in self.occurrences:
            s = o.span
            if s.line == line and s.column <= column <= s.end_column:
                return o
        return None

    def lookup(self, word: str, order=_LOOKUP_ORDER) -> Target | None:
        """The declaration a bare word most likely means, by namespace priority."""
        found = [t for t in self.decls if t.name == word]
        for prefix in order:
            for t in found:
                if t.ns == prefix or (prefix.endswith(":") and t.ns.startswith(prefix)):
                    return t
        return None

    def declaration(self, target: Target) -> n.Name | None:
        entry = self.decls.get(target)
        return entry[0] if entry else None

    def references(self, target: Target, include_decl: bool = True) -> list[Span]:
        return [o.span for o in self.occurrences if o.target == target and (include_decl or not o.is_decl)]

    def names(self, ns_prefix: str) -> list[tuple[str, object]]:
        """Declared names of a namespace (or every namespace starting with a prefix ending in ':')."""
        return [(t.name, node) for t, (_name, node) in self.decls.items()
                if t.ns == ns_prefix or (ns_prefix.endswith(":") and t.ns.startswith(ns_prefix))]

    def values_of(self, domain: str) -> list[str]:
        dom = self.program.domains.get(domain) if self.program else None
        return list(dom.values) if dom else []

    def hover(self, target: Target) -> str | None:
        """Markdown for a name: what it is, its label, type, default, description, line."""
        return hover_text(self, target)


class ResolvedNames(p.Visitor):
    """`by_span`: span of a name or set as written -> ("symbol" | "value" | "set", the domain of its values).

    Walks every expression of the program (rules' conditions and outcomes as written, outcome
    groups, definitions, constraints); a name the checker could not resolve is left out.
    """

    def __init__(self, program: p.Program | None):
        self.by_span: dict[Span, tuple[str, str | None]] = {}
        if program is None:
            return
        for rule in program.rules:
            if rule.when is not None:
                self.expr(rule.when)
            self.outcomes(rule.outcomes)
        for group in program.groups.values():
            self.outcomes(group.outcomes)
        for d in program.definitions:
            self.expr(d.expr)
        for c in program.constraints:
            self.expr(c.expr)

    def expr(self, e) -> None:
        for node in p.walk(e):
            self.visit(node)

    def outcomes(self, outcomes) -> None:
        for o in outcomes:
            self.visit(o)

    # the nodes that stand for a name as written
    def visit_Var(self, e):
        if e.kind != "unknown":
            self.by_span[e.span] = ("symbol", None)

    def visit_Value(self, e):
        self.by_span[e.span] = ("value", e.type.domain)

    def visit_SetOf(self, e):
        self.by_span[e.span] = ("set", e.type.domain if e.type.kind in ("set", "elem") else None)

    # the rest: keywords, numbers and the names the syntax tree places by itself (p.walk visits the parts)
    def _parts_only(self, node):
        pass

    visit_Num = visit_Bool = visit_If = visit_And = visit_Or = visit_Not = visit_Compare = _parts_only
    visit_IsMissing = visit_IsEmpty = visit_Member = visit_SetTest = visit_Binary = visit_Count = visit_Extreme = visit_Between = visit_DrugsOf = _parts_only
    visit_Day = _parts_only
    visit_HasRole = visit_AnyOption = _parts_only
    visit_Containing = visit_AllDrugsIn = visit_OptionIn = visit_SelectOption = visit_SelectEvery = _parts_only

    # outcomes as written
    def visit_OutcomeIf(self, o):
        for cond, body in o.branches:
            self.expr(cond)
            self.outcomes(body)
        self.outcomes(o.otherwise)

    def visit_Restrict(self, o):
        self.expr(o.selector)

    visit_Propose = visit_RaiseFlag = visit_Request = visit_Withhold = visit_Use = _parts_only


def _owner_domain(owner, program) -> str | None:
    if not isinstance(owner, n.InputDecl):
        return None
    sym = program.symbols.get(owner.name.text) if program else None
    if sym is not None and sym.type.domain:
        return sym.type.domain
    if isinstance(owner.type, n.EnumType):
        return f"enum:{owner.name.text}"
    if isinstance(owner.type, n.SetType):
        return f"vocab:{owner.type.vocabulary.text}"
    return None


# ---------------------------------------------------------------- stale analyses


class LineMap:
    """Maps lines of the text an analysis was built from to the current text, and back."""

    def __init__(self, old: list[str], new: list[str]):
        self.blocks = [(i1, j1, i2 - i1) for tag, i1, i2, j1, _j2 in
                       difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes() if tag == "equal"]

    def to_new(self, line: int, exact: bool = True) -> int | None:
        """1-based old line -> new line; None when that line was edited and `exact`."""
        return self._map(line, 0, 1, exact)

    def to_old(self, line: int) -> int | None:
        return self._map(line, 1, 0, True)

    def _map(self, line, src, dst, exact):
        best = None
        for b in self.blocks:
            start = b[src] + 1
            if start <= line < start + b[2]:
                return line - start + b[dst] + 1
            if start <= line:
                best = b
        if exact or best is None:
            return None if exact else line
        return line - (best[src] + 1) + best[dst] + 1


def split_lines(text: str) -> list[str]:
    """Lines as the parser counts them: split at "\\n" only (form feeds and the like stay inside)."""
    return [x.rstrip("\r") for x in text.split("\n")]


def word_at(text: str, line: int, column: int) -> str | None:
    """The identifier under a 1-based code-point position."""
    lines = split_lines(text)
    if not 1 <= line <= len(lines):
        return None
    s = lines[line - 1]
    for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", s):
        if m.start() + 1 <= column <= m.end() + 1:
            return m.group()
    return None


# ---------------------------------------------------------------- completion


_TOP = ("guideline", "provenance", "strength", "evidence", "vocabulary", "kind", "role", "option", "flag", "input",
        "parameter", "define", "constraint", "outcomes", "section", "combination")
_DECL_FIELDS = ("label", "description", "default", "provenance", "accepts")
_OUTCOMES = ("prefer", "alternative", "propose", "avoid", "demote", "drop", "flag", "request", "withhold options",
             "use", "if")
_BLOCK_WORDS = {
    None: _TOP + _DECL_FIELDS,
    "section": ("rule", "exclusive", "provenance", "evidence", "description", "spec", "end"),
    "rule": ("when", "governs", "strength", "provenance", "evidence", "rationale") + _OUTCOMES + ("end",),
    "outcomes": _OUTCOMES + ("end",),
    "if": _OUTCOMES + ("else", "else if", "end"),
    "combination": ("roles", "governing order", "governing replaces", "end"),
    "guideline": META_REQUIRED + META_OPTIONAL + ("end",),   # the checker's field lists: one source
    "evidence": EVIDENCE_FIELDS + ("end",),
    "vocabulary": ("end",),
}
_EXPR_WORDS = ("and", "or", "not", "is missing", "is not missing", "is empty", "is not empty", "in",
               "not in", "has any of", "has all of", "if", "then", "else", "true", "false", "drugs of",
               "any proposed option", "any preferred option", "is proposed", "is preferred", "union",
               "count of", "at least", "min", "max", "years between", "today")
_UNITS = ("days", "weeks", "months", "years", "mm", "cm", "%", "mmol/L", "mg/dL", "mm[Hg]", "/min", "kg", "kg/m2")
_ID = r"[A-Za-z_]\w*"
_LIST = r"(?:\w+\s*,\s*)*"


def _clean(line: str, keep_comment: bool = False) -> str:
    """A line without its strings (and comment), so that block words inside text do not count."""
    line = re.sub(r'"(?:[^"\\]|\\.)*"?', '""', line)
    return line if keep_comment else line.split("#", 1)[0]


def block_at(lines: list[str], line_index: int) -> str | None:
    """The innermost block open before a 0-based line, found by counting openers and `end`s."""
    stack: list[str] = []
    for raw in lines[:line_index]:
        words = _clean(raw).split()
        if not words:
            continue
        first = words[0]
        top = stack[-1] if stack else None
        if first == "end":
            if stack:
                stack.pop()
        elif first in ("guideline", "vocabulary", "outcomes", "section", "rule", "combination") and top != "rule":
            stack.append(first)
        elif first == "evidence" and top is None and len(words) == 2:
            stack.append("evidence")
        elif first == "if" and top in ("rule", "outcomes", "if") and words[-1] == "then":
            stack.append("if")
    return stack[-1] if stack else None


def complete(a: Analysis | None, text: str, line: int, column: int) -> list[tuple[str, str, str]]:
    """Completion items (label, kind, detail) for a 0-based line and code-point column."""
    lines = split_lines(text)
    if line >= len(lines):
        lines += [""] * (line - len(lines) + 1)
    before = lines[line][:column]
    if before.count('"') % 2 == 1 or "#" in _clean(before, keep_comment=True):
        return []
    head = re.sub(r"\w*$", "", before)
    names = (lambda ns: [(x, _item_kind(ns, node), _detail(node)) for x, node in a.names(ns)]) if a \
        else (lambda ns: [])
    block = block_at(lines, line)
    ctx = [
        (r"\b(prefer|alternative|avoid|demote|drop|except|stands\s+for)\s+" + _LIST + "$", "option"),
        (r"\bflag\s+" + _LIST + "$", "flag" if block in ("rule", "outcomes", "if") or "request" in head else None),
        (r"\bevidence\s+" + _LIST + "$", "evidence" if block in ("rule", "section") else None),
        (r"\bprovenance\s+" + _LIST + "$", "provenance" if block or head.startswith((" ", "\t")) else None),
        (r"\bstrength\s+$", "strength" if block == "rule" else None),
        (r"\buse\s+$", "group"), (r"\brequest\s+$", "input"), (r"\bset\s+of\s+$", "vocabulary"),
        (r"\bgoverning\s+order\s+" + _LIST + "$", "section"),
        (r"^\s*" + _LIST + "$", "section" if block == "combination" and line > 0 and
         lines[line - 1].rstrip().endswith(",") else None),
        (r"^\s*option\b.*\bdrugs\s+" + _LIST + "$", "vocab:drug"),
        (r"\bcontaining(\s+any\s+of)?\s+" + _LIST + "$", "vocab:drug"),
        (r"\d\s*$", "unit"),
    ]
    for pattern, kind in ctx:
        if kind and re.search(pattern, head):
            if kind == "unit":
                return [(u, "unit", "unit") for u in _UNITS]
            if kind == "input":
                return [x for x in names("symbol") if x[1] == "input"]
            items = names(kind)
            selector = kind == "option" and re.search(r"\b(avoid|demote|drop)\s+$", head)
            return items + ([("every option", "keyword", "selects by drugs")] if selector else [])
    if a is not None:
        values = _value_context(a, lines, line, head)
        if values is not None:
            return values
    if not head.strip():
        return [(w, "keyword", "") for w in _BLOCK_WORDS.get(block, ())]
    return names("symbol") + [(w, "keyword", "") for w in _EXPR_WORDS]


def _value_context(a: Analysis, lines, line, head) -> list | None:
    """Values of an enum or set after `=`, `in`, `has any of` or `default` of a typed input."""
    m = re.search(rf"({_ID})\s*(=|!=|≠|\bnot\s+in|\bin|\bhas\s+(?:any|all)\s+of)\s*(\{{{_LIST})?$", head)
    domain = None
    prog = a.program
    if m and prog and m.group(1) in prog.symbols:
        t = prog.symbols[m.group(1)].type
        domain = t.domain if t.kind in ("elem", "set") else None
    elif re.search(rf"\bdefault\s+(\{{{_LIST})?$", head):
        for raw in reversed(lines[: line + 1]):
            d = re.match(rf"\s*(input|parameter)\s+({_ID})\s*:\s*(one\s+of\s+([\w\s,]*))?", raw)
            if d:
                sym = prog.symbols.get(d.group(2)) if prog else None
                domain = sym.type.domain if sym is not None else None
                if sym is None and d.group(4):  # declared since the last text that parsed
                    return [(v, "value", "value") for v in re.findall(r"\w+", d.group(4))]
                break
    if domain is None:
        return None
    label = prog.domains[domain].label if prog and domain in prog.domains else domain
    return [(v, "value", f"value of {label}") for v in a.values_of(domain)]


def _item_kind(ns: str, node) -> str:
    if isinstance(node, n.InputDecl):
        return "parameter" if node.is_parameter else "input"
    return "definition" if isinstance(node, n.Definition) else ns


def _detail(node) -> str:
    if isinstance(node, n.InputDecl):
        return ("parameter: " if node.is_parameter else "input: ") + type_text(node.type)
    if isinstance(node, n.Definition):
        return "definition: " + (node.label or "")
    if isinstance(node, (n.OptionDecl, n.FlagDecl)):
        return node.label
    if isinstance(node, (n.ProvenanceTag, n.StrengthDecl)):
        return node.meaning
    for attr in ("title", "label"):
        if isinstance(getattr(node, attr, None), str):
            return getattr(node, attr)
    return ""


# ---------------------------------------------------------------- outline


@dataclass
class OutlineItem:
    """One entry of the document outline: sections hold their rules."""

    name: str
    detail: str
    kind: str
    span: Span
    selection: Span
    children: list["OutlineItem"]


def outline(g: n.Guideline) -> list[OutlineItem]:
    """The document's symbols in source order, sections with their rules as children."""
    items: list[OutlineItem] = []

    def add(node, kind, children=None, name=None, detail=""):
        nm = name or node.name
        items.append(OutlineItem(nm.text, detail or _detail(node), kind, node.span, nm.span, children or []))

    if g.meta is not None:
        add(g.meta, "guideline", name=g.meta.id, detail=str(g.meta.get("title") or ""))
    for e in g.evidence:
        add(e, "evidence", detail=str(e.get("trial") or ""))
    for v in g.vocabularies:
        add(v, "vocabulary", [OutlineItem(x.text, lab or "", "value", x.span, x.span, []) for x, lab in v.entries])
    for kind, seq in (("option", g.options), ("flag", g.flags), ("input", g.inputs),
                      ("parameter", g.parameters), ("definition", g.definitions),
                      ("constraint", g.constraints), ("outcomes", g.groups)):
        for node in seq:
            add(node, kind)
    for s in g.sections:
        rules = [OutlineItem(r.name.text, r.title or "", "rule", r.span, r.name.span, []) for r in s.rules]
        add(s, "section", rules)
    items.sort(key=lambda i: (i.span.line, i.span.column))
    return items
