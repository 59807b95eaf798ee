"""Parsing: `.hgl` text -> `nodes.Guideline`, or syntax diagnostics.  The only module that imports lark."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from hgl.compiler.front import nodes as n
from hgl.compiler.front.exprsyntax import ExprSyntax
from hgl.compiler.front.fhirsyntax import FhirSyntax
from hgl.compiler.front.syntaxbase import Clause as _Clause, decode_string, number as _number, span_meta as _span_meta, span_tok as _span_tok
from hgl.compiler.front import blocks, syntaxmsg
from hgl.compiler.front.diagnostics import Diagnostic
from hgl.compiler.front.source import Source, Span


def grammar_text() -> str:
    return resources.files("hgl.grammar").joinpath("hgl.lark").read_text(encoding="utf-8")


_OPTIONS = dict(parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)


def _cache_file(text: str):
    """Where the built parser tables are kept (hgl.runtime.cache: a private, signed entry), or None.

    Building the LALR tables costs more than parsing the whole HER2 guideline, so they are kept
    once per grammar and Lark version, as JSON (never a pickle: loading the cache runs no
    code), signed like every cache entry and read only from a directory no one else can write.
    """
    import hashlib

    import lark

    from hgl.runtime import cache

    folder = cache.trusted_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(f"{lark.__version__}\n{sorted(_OPTIONS.items())}\n{text}".encode()).hexdigest()[:16]
    return folder / f"grammar-{digest}.json"


def _to_json(x):
    """Lark's serialized tables as JSON: dicts with non-text keys and tuples are tagged."""
    if isinstance(x, dict):
        if all(type(k) is str for k in x) and "~d" not in x and "~t" not in x:
            return {k: _to_json(v) for k, v in x.items()}
        return {"~d": [[_to_json(k), _to_json(v)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {"~t": [_to_json(v) for v in x]}
    if isinstance(x, list):
        return [_to_json(v) for v in x]
    if x is None or type(x) in (str, int, float, bool):
        return x
    raise TypeError(f"cannot keep {type(x).__name__} in the parser cache")


def _from_json(o: dict):
    if len(o) == 1 and "~d" in o:
        return {(tuple(k) if isinstance(k, list) else k): v for k, v in o["~d"]}
    if len(o) == 1 and "~t" in o:
        return tuple(o["~t"])
    return o


@lru_cache(maxsize=1)
def _lark() -> Lark:
    import json

    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    from hgl.runtime import cache

    text = grammar_text()
    path = _cache_file(text)
    payload = cache.read_signed(path) if path is not None else None
    if payload is not None:
        try:
            d = json.loads(payload, object_hook=_from_json)
            return Lark._load_from_dict(d["data"], d["memo"], **{k: v for k, v in _OPTIONS.items()
                                                                  if k == "propagate_positions"})
        except Exception:  # noqa: BLE001 - tables from another Lark: rebuilt below
            pass
    lark = Lark(text, **_OPTIONS)
    if path is not None:
        try:
            data, memo = lark.memo_serialize([TerminalDef, Rule])
            cache.write_signed(path, json.dumps(_to_json({"data": data, "memo": memo})).encode("utf-8"))
        except (OSError, TypeError, ValueError):  # an unwritable cache only costs time
            pass
    return lark


@v_args(meta=True)
class _ToAst(ExprSyntax, FhirSyntax):  # the expressions' and FHIR bindings' callbacks (Transformers)
    """Builds nodes only; every judgement about meaning is left to checks.py.

    The one exception is a clause given twice (two `when` lines): the AST keeps one value per
    clause, so the second would silently replace the first; `duplicates` reports it instead.
    """

    def __init__(self):
        super().__init__()
        self.duplicates: list[Diagnostic] = []

    def _set(self, fields: dict, clause, owner: str) -> None:
        key, value = clause
        if key in fields and key != "governs":
            hint = ("join the conditions with 'and' (or 'or') in one 'when'" if key == "when"
                    else f"give one '{key}' line" + (", listing every tag" if key in ("provenance", "evidence")
                                                     else ""))
            # a bare word such as `exclusive` carries no value for the second line to replace
            replace = "" if key == "exclusive" else "; the second would replace the first"
            self.duplicates.append(Diagnostic("HGL202", f"{owner} has two '{key}' lines{replace}",
                                              getattr(clause, "span", n.NO_SPAN), hint))
        fields[key] = value

    # terminals -------------------------------------------------------------
    @v_args(meta=False, inline=False)
    def NAME(self, tok):  # noqa: N802 - lark names callbacks after terminals
        return n.Name(str(tok), _span_tok(tok))

    @v_args(meta=False, inline=False)
    def STRING(self, tok):  # noqa: N802
        return decode_string(str(tok))

    # top level ------------------------------------------------------------------
    def start(self, meta, items):
        groups: dict[str, list] = {}
        meta_block = None
        combination = None
        for it in items:
            if isinstance(it, n.GuidelineMeta):
                meta_block = meta_block or it
                groups.setdefault("_extra_meta", []).append(it)
            elif isinstance(it, n.Combination):
                combination = combination or it
                groups.setdefault("_extra_combination", []).append(it)
            else:
                groups.setdefault(type(it).__name__, []).append(it)
        inputs = [i for i in groups.get("InputDecl", []) if not i.is_parameter]
        params = [i for i in groups.get("InputDecl", []) if i.is_parameter]
        g = n.Guideline(
            meta=meta_block,
            provenance=tuple(groups.get("ProvenanceTag", [])),
            strengths=tuple(groups.get("StrengthDecl", [])),
            evidence=tuple(groups.get("EvidenceEntry", [])),
            vocabularies=tuple(groups.get("Vocabulary", [])),
            kinds=tuple(groups.get("KindDecl", [])),
            roles=tuple(groups.get("RoleDecl", [])),
            options=tuple(groups.get("OptionDecl", [])),
            flags=tuple(groups.get("FlagDecl", [])),
            inputs=tuple(inputs),
            parameters=tuple(params),
            definitions=tuple(groups.get("Definition", [])),
            constraints=tuple(groups.get("Constraint", [])),
            groups=tuple(groups.get("OutcomeGroup", [])),
            sections=tuple(groups.get("Section", [])),
            combination=combination,
            accepts=tuple(groups.get("Accept", [])),
            records=tuple(groups.get("FhirRecord", [])),
        )
        extras = groups.get("_extra_meta", [])[1:] + groups.get("_extra_combination", [])[1:]
        return g, extras

    def guideline_block(self, meta, c):
        return n.GuidelineMeta(c[0], tuple(c[1:]), _span_meta(meta))

    def field(self, meta, c):
        return n.Field(c[0], c[1], _span_meta(meta))

    def provenance_decl(self, meta, c):
        return n.ProvenanceTag(c[0], c[1], len(c) > 2, _span_meta(meta))

    def strength_decl(self, meta, c):
        return n.StrengthDecl(c[0], c[1], _span_meta(meta))

    def evidence_block(self, meta, c):
        return n.EvidenceEntry(c[0], tuple(c[1:]), _span_meta(meta))

    def vocabulary_block(self, meta, c):
        label = c[1] if len(c) > 1 and isinstance(c[1], str) else None
        entries = tuple(x for x in c[1:] if isinstance(x, tuple))
        codes = tuple(x.codes for x in entries if getattr(x, "codes", None) is not None)
        return n.Vocabulary(c[0], label, tuple((x[0], x[1]) for x in entries), _span_meta(meta), codes)

    def vocabulary_entry(self, meta, c):
        label = c[1] if len(c) > 1 and isinstance(c[1], str) else None
        entry = _Clause((c[0], label), meta)
        entry.codes = self.value_codes(c[0], [x for x in c[1:] if isinstance(x, tuple)], _span_meta(meta))
        return entry

    def kind_decl(self, meta, c):
        return n.KindDecl(c[0], c[1], _span_meta(meta))

    def role_decl(self, meta, c):
        return n.RoleDecl(c[0], c[1], len(c) > 2, _span_meta(meta))

    def option_decl(self, meta, c):
        drugs: tuple = ()
        stands = None
        kind = c[1] if isinstance(c[1], n.Name) else None
        label = c[2] if kind is not None else c[1]
        for d in c[3 if kind is not None else 2:]:
            if d[0] == "drugs":
                drugs = d[1]
            else:
                stands = d[1]
        return n.OptionDecl(c[0], kind.text if kind else None, label, drugs, stands, _span_meta(meta), kind)

    def option_drugs(self, meta, c):
        return ("drugs", c[0])

    def option_stands_for(self, meta, c):
        return ("stands", c[0])

    def flag_decl(self, meta, c):
        return n.FlagDecl(c[0], c[1], _span_meta(meta))

    # inputs -------------------------------------------------------------------
    def _decl(self, meta, c, is_parameter):
        fields: dict = {}
        for x in c[2:]:
            self._set(fields, x, f"{'parameter' if is_parameter else 'input'} '{c[0].text}'")
        return n.InputDecl(c[0], c[1], fields.get("label"), fields.get("description"), fields.get("default"),
                           fields.get("provenance", ()), is_parameter, _span_meta(meta), fields.get("accepts"),
                           fields.get("fhir"))

    def input_decl(self, meta, c):
        return self._decl(meta, c, False)

    def parameter_decl(self, meta, c):
        return self._decl(meta, c, True)

    def label_field(self, meta, c):
        return _Clause(("label", c[0]), meta)

    def description_field(self, meta, c):
        return _Clause(("description", c[0]), meta)

    def accepts_field(self, meta, c):
        return _Clause(("accepts", (c[0], _number(str(c[1])))), meta)

    def default_field(self, meta, c):
        return _Clause(("default", c[0]), meta)

    def provenance_field(self, meta, c):
        return _Clause(("provenance", c[0]), meta)

    def evidence_field(self, meta, c):
        return _Clause(("evidence", c[0]), meta)

    def spec_field(self, meta, c):
        return _Clause(("spec", c[0]), meta)

    def exclusive_field(self, meta, c):
        return _Clause(("exclusive", True), meta)

    def bool_type(self, meta, c):
        return n.BoolType(_span_meta(meta))

    def _number_type(self, meta, c, integer):
        unit = None
        lo = hi = None
        for x in c[1:]:
            if isinstance(x, n.Name):
                unit = x
            elif isinstance(x, tuple):
                lo, hi = x
        return n.NumberType(integer, unit, lo, hi, _span_meta(meta))

    def int_type(self, meta, c):
        return self._number_type(meta, c, True)

    def number_type(self, meta, c):
        return self._number_type(meta, c, False)

    def enum_type(self, meta, c):
        return n.EnumType(c[0], _span_meta(meta))

    def set_type(self, meta, c):
        return n.SetType(c[0], _span_meta(meta))

    def option_ref_type(self, meta, c):
        return n.OptionRefType(c[0] if c else None, _span_meta(meta))

    def unit_spec(self, meta, c):
        return c[0]

    def unit(self, meta, c):
        x = c[0]
        return x if isinstance(x, n.Name) else n.Name(str(x), _span_tok(x))

    def range_between(self, meta, c):
        return (c[0], c[1])

    def range_min(self, meta, c):
        return (c[0], None)

    def range_max(self, meta, c):
        return (None, c[0])

    def signed_number(self, meta, c):
        value = _number(str(c[-1]))
        return -value if len(c) > 1 else value

    def name_list(self, meta, c):
        return tuple(c)

    # literals -------------------------------------------------------------------
    def string_lit(self, meta, c):
        return n.Literal("string", c[0], _span_meta(meta))

    def number_lit(self, meta, c):
        return n.Literal("number", c[0], _span_meta(meta), c[1] if len(c) > 1 else None)

    def true_lit(self, meta, c):
        return n.Literal("bool", True, _span_meta(meta))

    def false_lit(self, meta, c):
        return n.Literal("bool", False, _span_meta(meta))

    def set_lit(self, meta, c):
        return n.Literal("set", n.SetLit(c[0] if c else (), _span_meta(meta)), _span_meta(meta))

    def date_lit(self, meta, c):
        return n.Literal("date", str(c[0]), _span_meta(meta))

    def name_lit(self, meta, c):
        return n.Literal("name", c[0], _span_meta(meta))

    # definitions, sections, rules -------------------------------------------------
    def definition(self, meta, c):
        name = c[0]
        rest = c[1:]
        label = rest[0] if rest and isinstance(rest[0], str) else None
        if label is not None:
            rest = rest[1:]
        values = None
        if rest and isinstance(rest[0], tuple) and rest[0] and rest[0][0] == "category":
            values, rest = rest[0][1], rest[1:]
        expr, fields = rest[0], {}
        for x in rest[1:]:
            if x[0] in ("default", "provenance"):  # computed, so it has neither: say so rather than drop it
                self.duplicates.append(Diagnostic("HGL208", f"'{x[0]}' does not apply to a definition",
                                                  x.span, "a definition is computed from inputs; "
                                                  f"give the '{x[0]}' to the inputs it reads"))
            self._set(fields, x, f"definition '{name.text}'")
        label = label if label is not None else fields.get("label")
        return n.Definition(name, label, expr, fields.get("description"), _span_meta(meta), values)

    def category(self, meta, c):
        return ("category", c[0])

    def constraint(self, meta, c):
        label = c[1] if len(c) > 2 else None
        return n.Constraint(c[0], label, c[-1], _span_meta(meta))

    def outcome_group(self, meta, c):
        label = c[1] if len(c) > 1 and isinstance(c[1], str) else None
        outs = tuple(c[2:] if label is not None else c[1:])
        return n.OutcomeGroup(c[0], label, outs, _span_meta(meta))

    def section(self, meta, c):
        name, rest = c[0], c[1:]
        title = rest[0] if rest and isinstance(rest[0], str) else None
        if title is not None:
            rest = rest[1:]
        fields: dict = {}
        rules = []
        for x in rest:
            if isinstance(x, n.Rule):
                rules.append(x)
            else:
                self._set(fields, x, f"section '{name.text}'")
        return n.Section(name, title, fields.get("spec"), fields.get("description"),
                         fields.get("provenance", ()), fields.get("evidence", ()), tuple(rules),
                         _span_meta(meta), fields.get("exclusive", False))

    def rule(self, meta, c):
        name, rest = c[0], c[1:]
        title = rest[0] if rest and isinstance(rest[0], str) else None
        if title is not None:
            rest = rest[1:]
        fields: dict = {}
        outcomes = []
        for x in rest:
            if isinstance(x, tuple):
                self._set(fields, x, f"rule '{name.text}'")
            else:
                outcomes.append(x)
        return n.Rule(name, title, fields.get("when"), tuple(outcomes), "governs" in fields,
                      fields.get("strength"), fields.get("provenance", ()), fields.get("evidence", ()),
                      fields.get("rationale"), _span_meta(meta))

    def when_clause(self, meta, c):
        return _Clause(("when", c[0]), meta)

    def governs_clause(self, meta, c):
        return _Clause(("governs", True), meta)

    def strength_field(self, meta, c):
        return _Clause(("strength", c[0]), meta)

    def rationale_field(self, meta, c):
        return _Clause(("rationale", c[0]), meta)

    # outcomes -------------------------------------------------------------------
    def prefer(self, meta, c):
        return n.Propose("preferred", c[0], _span_meta(meta))

    def alternative(self, meta, c):
        return n.Propose("alternative", c[0], _span_meta(meta))

    def propose_as(self, meta, c):
        return n.Propose(c[1].text, c[0], _span_meta(meta), c[1])

    def avoid(self, meta, c):
        return n.Restrict("avoid", c[0], _span_meta(meta))

    def demote(self, meta, c):
        return n.Restrict("demote", c[0], _span_meta(meta))

    def drop(self, meta, c):
        return n.Restrict("drop", c[0], _span_meta(meta))

    def raise_flag(self, meta, c):
        return n.RaiseFlag(c[0], _span_meta(meta))

    def request(self, meta, c):
        return n.Request(c[0], c[1] if len(c) > 1 else None, _span_meta(meta))

    def withhold(self, meta, c):
        return n.Withhold(_span_meta(meta))

    def use(self, meta, c):
        return n.Use(c[0], _span_meta(meta))

    def outcome_if(self, meta, c):
        cond, rest = c[0], c[1:]
        first, branches, otherwise = [], [], ()
        for x in rest:
            if isinstance(x, tuple) and x and x[0] == "elif":
                branches.append((x[1], x[2]))
            elif isinstance(x, tuple) and x and x[0] == "else":
                otherwise = x[1]
            else:
                first.append(x)
        return n.OutcomeIf(((cond, tuple(first)), *branches), otherwise, _span_meta(meta))

    def outcome_elif(self, meta, c):
        return ("elif", c[1], tuple(c[2:]))

    def outcome_else(self, meta, c):
        return ("else", tuple(c))

    def select_option(self, meta, c):
        return n.SelectOption(c[0], _span_meta(meta))

    def select_every(self, meta, c):
        filters = tuple(x for x in c if not (isinstance(x, tuple) and x and x[0] == "except"))
        except_ = next((x[1] for x in c if isinstance(x, tuple) and x and x[0] == "except"), ())
        return n.SelectEvery(filters, except_, _span_meta(meta))

    def except_clause(self, meta, c):
        return ("except", c[0])

    def containing(self, meta, c):
        return n.Containing(c[0], False, _span_meta(meta))

    def containing_any(self, meta, c):
        return n.Containing(c[0], True, _span_meta(meta))

    def all_drugs_in(self, meta, c):
        return n.AllDrugsIn(c[0], _span_meta(meta))

    def option_in(self, meta, c):
        return n.OptionIn(c[0], _span_meta(meta))

    def combination(self, meta, c):
        roles: tuple = ()
        order: tuple = ()
        replaces = None
        for key, value in c:
            if key == "roles":
                roles = value
            elif key == "replaces":
                replaces = value
            else:
                order = value
        return n.Combination(roles, order, _span_meta(meta), replaces)

    def accept_decl(self, meta, c):
        return n.Accept(c[0], c[1], c[2], _span_meta(meta))

    def roles_order(self, meta, c):
        return ("roles", tuple(c))

    def governing_order(self, meta, c):
        return ("order", c[0])

    def governing_replaces(self, meta, c):
        return ("replaces", c[0])

@lru_cache(maxsize=1)
def _keywords() -> tuple[dict[str, str], frozenset[str]]:
    """Terminal name -> the keyword it spells, and the keywords that start a top-level declaration."""
    keywords = {t.name: t.pattern.value for t in _lark().terminals if t.pattern.type == "str"}
    starts = _lark().parse_interactive("").accepts()
    return keywords, frozenset(keywords[t] for t in starts if t in keywords)


def keywords() -> frozenset[str]:
    """Every keyword of the language (a word the grammar quotes)."""
    return frozenset(_keywords()[0].values())


def _problem(source: Source, err: UnexpectedInput) -> syntaxmsg.Problem:
    problem = _raw_problem(source, err)
    return replace(problem, declarations=_keywords()[1])


def _raw_problem(source: Source, err: UnexpectedInput) -> syntaxmsg.Problem:
    keywords = _keywords()[0]
    ip = getattr(err, "interactive_parser", None)
    stack = list(ip.parser_state.value_stack) if ip is not None else []
    openers, previous = syntaxmsg.stack_facts(stack, getattr(err, "token_history", None))
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        expected = getattr(err, "expected", None) or getattr(err, "accepts", None) or []
        return syntaxmsg.Problem("eof", source.end_span(), expected=frozenset(expected), keywords=keywords,
                                 openers=openers, previous=previous)
    if isinstance(err, UnexpectedToken):
        tok = err.token
        return syntaxmsg.Problem("token", _span_tok(tok), str(tok), tok.type,
                                 frozenset(err.accepts or err.expected), keywords, openers, previous)
    if isinstance(err, UnexpectedCharacters):
        line_text = source.line_text(err.line)
        ch = line_text[err.column - 1: err.column] if err.column >= 1 else ""
        return syntaxmsg.Problem("char", Span(err.line, err.column, err.line, err.column + 1), ch, "",
                                 frozenset(err.allowed or ()), keywords, openers, previous)
    raise err  # pragma: no cover - lark raises only the kinds above


# How deep a text may nest (site/pages/language.md, "Limits"): every stage after the parser
# (checks, code generation, CPython's own parser of the generated module) handles these depths,
# and a test compiles and runs a guideline at each limit (tests/test_hardening.py).
MAX_EXPR_DEPTH = 32  # operators inside operators in one expression; an `else if` counts as one more
MAX_BLOCK_DEPTH = 32  # outcome `if` blocks inside outcome `if` blocks
MAX_COND_IF = 6  # `if` expressions inside the condition of an `if` expression (each doubles the explanation)
_LEAVES = frozenset({"ref", "quantity", "negative_quantity", "true", "false", "set_literal", "date_lit", "date_value",
                     "true_lit", "false_lit", "name_lit", "number_lit", "set_lit", "string_lit"})


@lru_cache(maxsize=1)
def _expr_nodes() -> frozenset[str]:
    """The tree nodes that nest in an expression: every alias of the grammar's expression section but the leaves."""
    section = grammar_text().split("-- expressions", 1)[-1]
    return (frozenset(re.findall(r"->\s*([a-z_]+)", section)) - _LEAVES) | {
        "containing", "containing_any", "all_drugs_in", "option_in"}


def _too_deep(tree) -> Diagnostic | None:
    """HGL100 at the first place (in text order) nested deeper than the limits, or None.

    Iterative, so a text nested thousands deep is measured without recursion.
    """
    hint = "split it: give inner parts names with 'define'"
    expr_nodes = _expr_nodes()
    stack = [(tree, 0, 0, 0)]
    while stack:
        node, expr, block, cond = stack.pop()
        kind = str(node.data)
        children = [c for c in node.children if hasattr(c, "data")]
        if kind in expr_nodes:
            expr += 1
            # an `if` with k branches is generated as k nested conditionals
            if expr + (len(children) // 2 - 1 if kind == "if_expr" else 0) > MAX_EXPR_DEPTH:
                return Diagnostic("HGL100", f"this expression nests more than {MAX_EXPR_DEPTH} deep",
                                  _span_meta(node.meta), hint)
        elif kind == "outcome_if":
            block += 1
            if block > MAX_BLOCK_DEPTH:
                return Diagnostic("HGL100", f"'if' blocks nest more than {MAX_BLOCK_DEPTH} deep here",
                                  _span_meta(node.meta), "split the rule, or name the conditions with 'define'")
        if kind == "if_expr":
            if cond >= MAX_COND_IF:
                return Diagnostic("HGL100", f"more than {MAX_COND_IF} 'if' expressions inside one another's "
                                  "conditions", _span_meta(node.meta), hint)
            # generated as nested conditionals: the i-th `else if` is i deeper; its conditions one `if` deeper
            k = len(children) // 2
            pushed = [(c, expr + min(i // 2, k - 1), block, cond + (i % 2 == 0 and i < 2 * k))
                      for i, c in enumerate(children)]
        else:
            pushed = [(c, expr, block, cond) for c in children]
        stack.extend(reversed(pushed))
    return None


def _swallowed(source: Source, tree) -> Diagnostic | None:
    """HGL104 for a declaration written at column 0 that an open `name value` block read as a field.

    `evidence a … evidence b …` without the first `end` parses: `evidence b` is a field of `a`.
    """
    declarations = _keywords()[1]
    for block in tree.iter_subtrees_topdown():
        if block.data not in ("guideline_block", "evidence_block", "vocabulary_block"):
            continue
        for item in block.children[1:]:
            first = item.children[0] if getattr(item, "children", None) else None
            tok = getattr(first, "children", [None])[0] if hasattr(first, "data") else first
            if isinstance(tok, Token) and tok.column == 1 and str(tok) in declarations:
                problem = syntaxmsg.Problem("token", _span_tok(tok), str(tok), "NAME", frozenset({"END", "NAME"}),
                                            _keywords()[0], ((block.data.split("_")[0], block.meta.line),),
                                            line_text=source.line_text(tok.line), declarations=declarations)
                return syntaxmsg.diagnose(source, problem)
    return None


def _first_error(source: Source) -> tuple[object, Diagnostic | None]:
    """(tree, None) or (None, the first syntax error)."""
    try:
        tree = _lark().parse(source.text)
    except UnexpectedInput as err:
        return None, syntaxmsg.diagnose(source, _problem(source, err))
    swallowed = _swallowed(source, tree)
    return (None, swallowed) if swallowed is not None else (tree, None)


def parse(source: Source) -> tuple[n.Guideline | None, list[Diagnostic]]:
    """Parse a source; on syntax errors return (None, errors): the first, then at most one per later block."""
    tree, first = _first_error(source)
    if first is not None:
        return None, [first] + blocks.later_errors(source, first, lambda src: _first_error(src)[1], _keywords()[1])
    deep = _too_deep(tree)
    if deep is not None:
        return None, [deep]
    builder = _ToAst()
    try:
        guideline, extras = builder.transform(tree)
    except VisitError as err:  # Lark wraps what a callback raises: a RecursionError stays the author's HGL100
        if not isinstance(err.orig_exc, RecursionError):
            raise
        meta = getattr(getattr(err, "obj", None), "meta", None)
        return None, [Diagnostic("HGL100", "the text nests too deeply to read",
                                 _span_meta(meta) if meta is not None else n.NO_SPAN,
                                 "split long expressions into definitions")]
    diags = builder.duplicates + [Diagnostic("HGL202", "a guideline has one 'guideline' block and one 'combination' block",
                        getattr(x, "span", n.NO_SPAN), "merge the blocks") for x in extras]
    return guideline, diags


def concrete_syntax(text: str, partial: bool = False):
    """(tokens, tree) of a text as the parser reads it, or None on a syntax error (`parse` says which).

    The tokens are those of the contextual lexer, keywords included and comments left out; the
    tree is Lark's, positions in `meta`.  The formatter (format.py) lays out these tokens and
    compares trees to prove a layout kept the meaning.  With `partial`, a text with a syntax
    error gives (the tokens before the error, None): the editor still colours them.
    """
    ip = _lark().parse_interactive(text)
    tokens = []
    try:
        for tok in ip.iter_parse():
            tokens.append(tok)
        tree = ip.feed_eof()
    except UnexpectedInput:
        return (tokens, None) if partial else None
    return tokens, tree
