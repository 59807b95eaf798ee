"""Parsing expressions: the Lark callbacks that build expression nodes (Ref, Compare, If, Count,
...).  Mixed into parser._ToAst, like fhirsyntax.FhirSyntax; builds nodes only, the checker judges them."""

from __future__ import annotations

from lark import Token, Transformer, v_args

from hgl.compiler.front import nodes as n
from hgl.compiler.front.syntaxbase import number, span_meta, span_tok

_COMPARE = {"≤": "<=", "≥": ">=", "≠": "!=", "=": "="}


@v_args(meta=True)
class ExprSyntax(Transformer):
    """Expression callbacks (one per grammar alternative of `expr` and its parts)."""

    def ref(self, meta, c):
        return n.Ref(c[0], span_meta(meta))

    def quantity(self, meta, c):
        return n.Quantity(number(str(c[0])), c[1] if len(c) > 1 else None, span_meta(meta))

    def negative_quantity(self, meta, c):
        return n.Quantity(-number(str(c[0])), c[1] if len(c) > 1 else None, span_meta(meta))

    def true(self, meta, c):
        return n.BoolLit(True, span_meta(meta))

    def false(self, meta, c):
        return n.BoolLit(False, span_meta(meta))

    def set_literal(self, meta, c):
        return n.SetLit(c[0] if c else (), span_meta(meta))

    def if_expr(self, meta, c):
        parts = [x for x in c if not isinstance(x, Token)]
        branches = tuple((parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2))
        return n.If(branches, parts[-1], span_meta(meta))

    def or_(self, meta, c):
        return n.Or(tuple(c), span_meta(meta))

    def and_(self, meta, c):
        return n.And(tuple(c), span_meta(meta))

    def not_(self, meta, c):
        return n.Not(c[0], span_meta(meta))

    def compare(self, meta, c):
        operands = tuple(c[0::2])
        ops = tuple(_COMPARE.get(str(t), str(t)) for t in c[1::2])
        return n.Compare(operands, ops, span_meta(meta))

    def is_missing(self, meta, c):
        return n.IsMissing(c[0], False, span_meta(meta))

    def is_not_missing(self, meta, c):
        return n.IsMissing(c[0], True, span_meta(meta))

    def is_empty(self, meta, c):
        return n.IsEmpty(c[0], False, span_meta(meta))

    def is_not_empty(self, meta, c):
        return n.IsEmpty(c[0], True, span_meta(meta))

    def has_role(self, meta, c):
        target = c[0]
        name = target.name if isinstance(target, n.Ref) else n.Name("?", span_meta(meta))
        return n.HasRole(name, str(c[1]), span_meta(meta))

    def member(self, meta, c):
        return n.Member(c[0], c[1], False, span_meta(meta))

    def not_member(self, meta, c):
        return n.Member(c[0], c[1], True, span_meta(meta))

    def has_any(self, meta, c):
        return n.SetTest(c[0], "any", c[1], span_meta(meta))

    def has_all(self, meta, c):
        return n.SetTest(c[0], "all", c[1], span_meta(meta))

    def binary(self, meta, c):
        return n.Binary(str(c[1]), c[0], c[2], span_meta(meta))

    def drugs_of(self, meta, c):
        return n.DrugsOf(c[0], span_meta(meta))

    def expr_list(self, meta, c):
        return tuple(c)

    def count_of(self, meta, c):
        return n.Count(c[0], span_meta(meta))

    def at_least(self, meta, c):
        span = span_tok(c[0])
        return n.Count(c[1], span_meta(meta), n.Quantity(number(str(c[0])), None, span))

    def date_type(self, meta, c):
        return n.DateType(span_meta(meta))

    def date_value(self, meta, c):
        return n.DateLit(str(c[0]), span_meta(meta))

    def between(self, meta, c):
        return n.Between(c[0].text, c[1], c[2], span_meta(meta), c[0].span)

    def min_of(self, meta, c):
        return n.Extreme("min", c[0], span_meta(meta))

    def max_of(self, meta, c):
        return n.Extreme("max", c[0], span_meta(meta))

    def any_option(self, meta, c):
        return n.AnyOption(str(c[0]), tuple(c[1:]), span_meta(meta))
