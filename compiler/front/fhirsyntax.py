"""Parsing the FHIR bindings of a guideline (`record fhir … end`, an input's `fhir … end`, a
vocabulary value's `code`/`members`): Lark tree -> nodes.  Mixed into parser._ToAst.

Builds nodes only; the checker (hgl.compiler.check.fhirbind) judges them: FHIRPath syntax,
code systems, facts, maps against the input's values, units.
"""

from __future__ import annotations

from lark import Transformer, v_args

from hgl.compiler.front import nodes as n
from hgl.compiler.front.source import Span
from hgl.compiler.front.syntaxbase import Clause, span_meta as _span


# clauses that may be given several times: their values add up
_REPEATABLE = ("code",)


@v_args(meta=True)
class FhirSyntax(Transformer):
    """The transformer callbacks of the grammar's "FHIR bindings" section."""

    def binding(self, meta, items, owner: str) -> n.FhirBinding:
        fields: dict = {}
        codes: list = []
        for clause in items:
            if clause[0] in _REPEATABLE:
                codes.append(clause[1])
            else:
                self._set(fields, clause, owner)
        return n.FhirBinding(
            resources=fields.get("from", ()), codes=tuple(codes), where=fields.get("where"),
            value=fields.get("value"), mapping=fields.get("map", ()), units=fields.get("units", ()),
            after=fields.get("after"), before=fields.get("before"),
            select=fields.get("earliest") or fields.get("latest"), derive=fields.get("derive"),
            note=fields.get("note"), span=_span(meta))

    # an input's clause ----------------------------------------------------------
    def fhir_field(self, meta, c):
        return Clause(("fhir", self.binding(meta, c, "the 'fhir' clause")), meta)

    # the record block -------------------------------------------------------------
    def record_block(self, meta, c):
        systems = tuple(x for x in c if isinstance(x, n.CodeSystem))
        dates = tuple(x for x in c if isinstance(x, n.DatePolicy))
        facts = tuple(x for x in c if isinstance(x, n.FhirFact))
        return n.FhirRecord(systems, dates, facts, _span(meta))

    def record_system(self, meta, c):
        return n.CodeSystem(c[0], c[1], _span(meta))

    def record_date(self, meta, c):
        return n.DatePolicy(c[0], c[1], _span(meta))

    def record_fact(self, meta, c):
        return n.FhirFact(c[0], self.binding(meta, c[1:], f"fact '{c[0].text}'"), _span(meta))

    def fhirpath(self, meta, c):
        return n.FhirPath(c[0], _span(meta))

    # binding clauses -------------------------------------------------------------------
    def bind_from(self, meta, c):
        return Clause(("from", tuple(c)), meta)

    def bind_code(self, meta, c):
        return Clause(("code", n.Coding(c[0], tuple(c[1:]), _span(meta))), meta)

    def bind_where(self, meta, c):
        return Clause(("where", c[0]), meta)

    def bind_value(self, meta, c):
        return Clause(("value", c[0]), meta)

    def bind_map(self, meta, c):
        return Clause(("map", tuple(c)), meta)

    def bind_units(self, meta, c):
        return Clause(("units", tuple(c)), meta)

    def bind_after(self, meta, c):
        return Clause(("after", c[0]), meta)

    def bind_before(self, meta, c):
        return Clause(("before", c[0]), meta)

    def bind_earliest(self, meta, c):
        return Clause(("earliest", "earliest"), meta)

    def bind_latest(self, meta, c):
        return Clause(("latest", "latest"), meta)

    def bind_derive(self, meta, c):
        return Clause(("derive", c[0]), meta)

    def bind_note(self, meta, c):
        return Clause(("note", c[0]), meta)

    def map_entry(self, meta, c):
        return n.MapEntry(c[0], c[1], _span(meta))

    def map_name(self, meta, c):
        return c[0]

    def map_number(self, meta, c):
        return c[0]

    def map_true(self, meta, c):
        return True

    def map_false(self, meta, c):
        return False

    def unit_entry(self, meta, c):
        return n.UnitEntry(c[0], c[1], _span(meta))

    def derive_age(self, meta, c):
        return n.Derivation("age", (), None, None, _span(meta))

    def derive_months_since(self, meta, c):
        return n.Derivation("months_since", (c[0],), None, None, _span(meta))

    def derive_any_of(self, meta, c):
        return n.Derivation("any_of", c[0], c[1], c[2], _span(meta))

    def derive_drugs(self, meta, c):
        return n.Derivation("drugs", (), None, None, _span(meta))

    def derive_regimen(self, meta, c):
        return n.Derivation("regimen", (), None, None, _span(meta))

    # a vocabulary value's codes ---------------------------------------------------------
    def entry_code(self, meta, c):
        return ("code", n.Coding(c[0], tuple(c[1:]), _span(meta)))

    def entry_members(self, meta, c):
        return ("members", n.Coding(c[0], tuple(c[1:]), _span(meta)))

    def value_codes(self, name: n.Name, items, span: Span) -> n.ValueCodes | None:
        """The codes of a vocabulary entry, from its entry_code/entry_members items; None without any."""
        if not items:
            return None
        return n.ValueCodes(name, tuple(x for k, x in items if k == "code"),
                            tuple(x for k, x in items if k == "members"), span)
