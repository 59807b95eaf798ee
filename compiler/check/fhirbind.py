"""Checking a guideline's FHIR bindings (`record fhir`, inputs' `fhir` clauses, vocabulary codes)
and turning them into plain data, the table `FHIR` of the compiled module that hgl.runtime.fhirin reads.

Every problem is a diagnostic at its place in the source: a FHIRPath expression that does not
parse (HGL601, pointing into the string), a resource type FHIR R4 does not have (HGL602), a
binding that cannot give its input's type (HGL603), an unknown code system or fact (HGL201,
did-you-mean), a mapped value the input does not allow (HGL303), a unit that is unknown or of
another dimension (HGL305, HGL302), and, as a warning, a fact that no input's binding reads
(HGL605).  Nothing here knows a disease: systems, codes and paths
all come from the guideline.
"""

from __future__ import annotations

import functools
import re

from hgl.compiler.check import units
from hgl.compiler.front import nodes as n
from hgl.compiler.front.diagnostics import closest, did_you_mean
from hgl.compiler.front.source import Span

FORMAT = "hgl-fhir-bindings/1"  # hgl.runtime.fhirin.FORMAT
# derivations that read no resource of their own (the facts they name do)
NO_RESOURCE = ("any_of", "months_since")
# the `canonical` metadata field, the base of the FHIR export's canonical urls: absolute, no query or fragment
CANONICAL_URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")
_ESCAPED = {'"': 2, "\\": 2, "\n": 2, "\t": 2}  # width in the source of a character of a decoded string


# ---------------------------------------------------------------- FHIRPath


@functools.cache
def _r4_types() -> frozenset[str]:
    from fhirpathpy.models import models

    return frozenset(models["r4"]["type2Parent"]) | {"Resource", "DomainResource"}


@functools.lru_cache(maxsize=1024)
def fhirpath_problem(text: str) -> tuple[int, int, str] | None:
    """(line, column from 0, message) of the first syntax error of a FHIRPath expression, or None.

    Parsed with fhirpathpy's own ANTLR grammar (fhirpathpy alone recovers silently), then
    compiled by fhirpathpy, which refuses an unknown function.
    """
    from antlr4 import CommonTokenStream, InputStream, Token
    from antlr4.error.ErrorListener import ErrorListener
    from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
    from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

    class Collect(ErrorListener):
        def __init__(self):
            self.found: list = []

        def syntaxError(self, recognizer, symbol, line, column, msg, e):  # noqa: N802 - ANTLR's name
            self.found.append((line, column, msg))

    if not text.strip():
        return (1, 0, "the expression is empty")
    errors = Collect()
    lexer = FHIRPathLexer(InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(errors)
    tokens = CommonTokenStream(lexer)
    parser = FHIRPathParser(tokens)
    parser.removeErrorListeners()
    parser.addErrorListener(errors)
    try:
        parser.expression()
        nxt = tokens.LT(1)
    except Exception as err:  # noqa: BLE001 - the ANTLR runtime's own failure: still a bad expression
        return (1, 0, str(err) or type(err).__name__)
    if errors.found:
        line, column, message = min(errors.found)
        return line, column, _readable(message)
    if nxt is not None and nxt.type != Token.EOF:
        return (nxt.line, nxt.column, f"unexpected {nxt.text!r} after a complete expression")
    try:
        from fhirpathpy import compile as fp_compile
        from fhirpathpy.models import models

        fp_compile(text, models["r4"])({"resourceType": "Basic"})
    except Exception as err:  # noqa: BLE001 - fhirpathpy raises plain Exceptions ("Not implemented: foo")
        message = str(err).strip() or type(err).__name__
        if message.startswith("Not implemented: "):
            message = f"unknown function '{message[len('Not implemented: '):]}'"
        return (1, 0, message)
    return None


def _readable(message: str) -> str:
    """ANTLR's message without its long list of expected tokens."""
    if message.startswith("mismatched input '<EOF>'") or message.startswith("missing") and "<EOF>" in message:
        return "it ends too early" + (f" ({message.split(' at ')[0]})" if message.startswith("missing") else "")
    head = message.split(" expecting {", 1)[0]
    return head.replace("token recognition error at:", "unexpected character")


def _inside(path: n.FhirPath, line: int, column: int) -> Span:
    """The source position of (line, column) of a FHIRPath expression written as a one-line string."""
    s = path.span
    if s.line != s.end_line or line != 1:  # a multi-line string: the whole string
        return s
    col = s.column + 1 + sum(_ESCAPED.get(ch, 1) for ch in path.text[:column])
    return Span(s.line, min(col, s.end_column - 1), s.line, min(col + 1, s.end_column))


# ---------------------------------------------------------------- the checks


class BindingChecker:
    """The FHIR bindings of one guideline: `run` reports through the checker and returns the data (or None)."""

    def __init__(self, checker):
        self.c = checker
        self.g: n.Guideline = checker.g
        self.systems: dict[str, str] = {}
        self.facts: dict[str, n.FhirFact] = {}
        self.reading: str | None = None  # the fact whose binding is being checked (None: an input's)
        self.reads: dict[str | None, set[str]] = {}  # that fact (None: the inputs) -> the facts it reads

    def error(self, code, message, span, hint=None):
        self.c.error(code, message, span, hint)

    def run(self) -> dict | None:
        self.canonical()
        records = self.g.records
        for extra in records[1:]:
            self.error("HGL202", "a guideline has one 'record fhir' block", extra.span, "merge the blocks")
        record = records[0] if records else None
        bound = [d for d in (*self.g.inputs, *self.g.parameters) if d.fhir is not None]
        coded = [v for v in self.g.vocabularies if v.codes]
        if record is None and not bound and not coded:
            return None
        dates: dict[str, str] = {}
        if record is not None:
            for s in record.systems:
                if s.name.text in self.systems:
                    self.error("HGL202", f"code system '{s.name.text}' is declared twice", s.name.span,
                               "declare each code system once")
                self.systems[s.name.text] = s.url
                if not s.url.strip() or any(ch.isspace() for ch in s.url):
                    self.error("HGL603", f"code system '{s.name.text}' needs a URI without spaces", s.span,
                               'e.g. system loinc "http://loinc.org"')
            for d in record.dates:
                self.resource(d.resource)
                self.path(d.path)
                if d.resource.text in dates:
                    self.error("HGL202", f"the date of {d.resource.text} is given twice", d.span, "give one")
                dates[d.resource.text] = d.path.text
            for f in record.facts:
                if f.name.text in self.facts:
                    self.error("HGL202", f"fact '{f.name.text}' is declared twice", f.name.span, "rename or remove one")
                elif self.c.model.symbols.get(f.name.text) is not None:
                    self.error("HGL202", f"fact '{f.name.text}' has the name of an input or definition",
                               f.name.span, "give the fact another name")
                self.facts.setdefault(f.name.text, f)
        data: dict = {"format": FORMAT, "guideline": self.g.meta.id.text if self.g.meta else "",
                      "systems": dict(self.systems), "dates": dates, "terminology": self.terminology(coded),
                      "facts": {}, "inputs": {}}
        for f in (record.facts if record is not None else ()):
            self.reading = f.name.text
            data["facts"].setdefault(f.name.text, self.binding(f.binding, None, f"fact '{f.name.text}'"))
        self.reading = None
        for d in bound:
            if d.is_parameter:
                self.error("HGL603", f"parameter '{d.name.text}' cannot come from FHIR", d.fhir.span,
                           "a parameter is a policy choice, not patient data: bind inputs only")
                continue
            data["inputs"][d.name.text] = self.binding(d.fhir, d, f"input '{d.name.text}'")
        self.unread_facts()
        return data

    def unread_facts(self) -> None:
        """HGL605 for each declared fact that no input's binding reads, directly or through other facts."""
        read: set[str] = set()
        todo = list(self.reads.get(None, ()))
        while todo:
            name = todo.pop()
            if name not in read:
                read.add(name)
                todo.extend(self.reads.get(name, ()))
        for name, f in self.facts.items():
            if name not in read:
                self.error("HGL605", f"fact '{name}' is declared but no input's binding reads it", f.name.span,
                           f"remove it, or derive an input from it (after {name}, before {name}, "
                           f"derive months since {name}, derive any of ({name}) is …)")

    def canonical(self) -> None:
        field = next((f for f in (self.g.meta.fields if self.g.meta else ()) if f.key.text == "canonical"), None)
        # a value that is not text is reported by the metadata check (HGL301)
        if field is not None and field.value.kind == "string" and not CANONICAL_URL.fullmatch(field.value.value):
            self.error("HGL604", "'canonical' must be an absolute http(s) URL", field.value.span,
                       'the base of the FHIR export\'s canonical urls, e.g. canonical "https://fhir.example.org/hgl"')

    # ------------------------------------------------------------ parts
    def resource(self, name: n.Name) -> None:
        if name.text not in _r4_types():
            self.error("HGL602", f"'{name.text}' is not a FHIR R4 resource type", name.span,
                       did_you_mean(name.text, sorted(_r4_types())) or "e.g. Observation, Condition, Patient")

    def path(self, path: n.FhirPath | None) -> None:
        if path is None:
            return
        problem = fhirpath_problem(path.text)
        if problem is not None:
            line, column, message = problem
            self.error("HGL601", f"this FHIRPath expression does not parse: {message}",
                       _inside(path, line, column), "FHIRPath as in https://hl7.org/fhirpath/ "
                       "(strings in single quotes); it is evaluated by fhirpathpy on the R4 model")

    def system(self, name: n.Name) -> str | None:
        url = self.systems.get(name.text)
        if url is None:
            hint = did_you_mean(name.text, self.systems) or (
                "declare it in the 'record fhir' block: system " + name.text + ' "<uri>"')
            self.error("HGL201", f"unknown code system '{name.text}'", name.span, hint)
        return url

    def fact(self, name: n.Name | None) -> str | None:
        if name is None:
            return None
        read = name.text
        if name.text not in self.facts:
            read = closest(name.text, self.facts)  # no "never read" warning cascading from the typo
            hint = f"did you mean '{read}'?" if read else (
                "declare it in the 'record fhir' block: fact " + name.text + " … end")
            self.error("HGL201", f"unknown fact '{name.text}'", name.span, hint)
        if read is not None:
            self.reads.setdefault(self.reading, set()).add(read)
        return name.text

    def codes(self, codings) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for coding in codings:
            if self.system(coding.system) is not None:
                out.setdefault(coding.system.text, []).extend(coding.codes)
        return out

    def terminology(self, vocabularies) -> dict:
        out: dict = {}
        for v in vocabularies:
            values = {}
            for vc in v.codes:
                entry: dict = {}
                own, members = self.codes(vc.codes), self.codes(vc.members)
                if own:
                    entry["code"] = own
                if members:
                    entry["members"] = members
                values[vc.value.text] = entry
            out[v.name.text] = values
        return out

    # ------------------------------------------------------------ one binding
    def binding(self, b: n.FhirBinding, decl: n.InputDecl | None, owner: str) -> dict:
        for r in b.resources:
            self.resource(r)
        self.path(b.where)
        self.path(b.value)
        out: dict = {}
        if b.resources:
            out["resource"] = b.resources[0].text if len(b.resources) == 1 else [r.text for r in b.resources]
        codes = self.codes(b.codes)
        if codes:
            out["code"] = codes
        for key in ("where", "value"):
            if getattr(b, key) is not None:
                out[key] = getattr(b, key).text
        derive = b.derive.kind if b.derive else None
        if not b.resources and derive not in NO_RESOURCE:
            self.error("HGL603", f"{owner}: the binding names no resource", b.span,
                       "say where it comes from: from Observation code loinc \"…\" value \"…\"")
        elif b.resources and b.value is None:
            self.error("HGL603", f"{owner}: the binding reads {b.resources[0].text} but gives no value", b.span,
                       'give the FHIRPath of the value: value "value.ofType(integer)"')
        if b.mapping:
            out["map"] = self.mapping(b.mapping, decl)
        if b.units:
            out["units"] = self.units(b.units, decl)
        for key in ("after", "before"):
            fact = self.fact(getattr(b, key))
            if fact is not None:
                out[key] = fact
        if b.after is not None and b.before is not None:
            self.error("HGL603", f"{owner}: a binding reads after or before a fact, not both", b.before.span)
        if b.select is not None:
            out["select"] = b.select
        if b.derive is not None:
            out.update(self.derivation(b.derive, decl, owner))
        if b.note is not None:
            out["note"] = b.note
        return out

    def mapping(self, entries, decl: n.InputDecl | None) -> dict:
        t = self._type(decl)
        allowed = self.c.model.domains[t.domain].values if t is not None and t.kind == "elem" and \
            t.domain in self.c.model.domains else None
        out: dict = {}
        for e in entries:
            value = e.value.text if isinstance(e.value, n.Name) else e.value
            if e.raw in out:
                self.error("HGL202", f"'{e.raw}' is mapped twice", e.span, "map each raw value once")
            out[e.raw] = value
            if t is None:
                continue
            if allowed is not None:
                if not isinstance(e.value, n.Name) or value not in allowed:
                    self.error("HGL303", f"{value!r} is not a value of '{decl.name.text}'",
                               getattr(e.value, "span", e.span),
                               did_you_mean(str(value), allowed) or "allowed: " + ", ".join(allowed))
            elif t.kind == "num" and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
                self.error("HGL301", f"'{decl.name.text}' is a number: map to numbers", e.span)
            elif t.kind == "bool" and not isinstance(value, bool):
                self.error("HGL301", f"'{decl.name.text}' is yes/no: map to true or false", e.span)
        return out

    def units(self, entries, decl: n.InputDecl | None) -> dict:
        from hgl.compiler.check.quantities import resolve_unit

        t = self._type(decl)
        out: dict = {}
        for e in entries:
            out[e.code] = e.unit.text
            if t is not None and (t.kind != "num" or t.unit is None):
                self.error("HGL302", f"'{decl.name.text}' has no unit: a binding cannot read it in units",
                           e.unit.span, "declare its unit: input name: number in <unit>")
                continue
            target = resolve_unit(self.c, e.unit)
            if target is None or t is None:
                continue
            try:
                units.factor(target, units.resolve(t.unit))
            except units.UnitError:
                self.error("HGL302", f"'{e.unit.text}' cannot be read as {t.unit} ('{decl.name.text}')",
                           e.unit.span, f"give a unit of {units.dimension_words(units.resolve(t.unit))}")
        return out

    def derivation(self, d: n.Derivation, decl: n.InputDecl | None, owner: str) -> dict:
        t = self._type(decl)
        out: dict = {"derive": d.kind}
        facts = [self.fact(f) for f in d.facts]
        if facts:
            out["facts"] = [f for f in facts if f]

        def need(ok: bool, what: str):
            if t is not None and not ok:
                self.error("HGL603", f"{owner}: 'derive {d.kind.replace('_', ' ')}' gives {what}, "
                           f"but '{decl.name.text}' is {t.describe(self.c.model.domains)}", d.span)

        if d.kind == "age":
            need(t is not None and t.kind == "num" and _in_unit(t, "years"), "a number of years")
        elif d.kind == "months_since":
            need(t is not None and t.kind == "num" and _in_unit(t, "months"), "a number of months")
        elif d.kind == "any_of":
            out["positive"], out["negative"] = d.positive.text, d.negative.text
            if t is not None and t.kind == "elem" and t.domain in self.c.model.domains:
                allowed = self.c.model.domains[t.domain].values
                for word in (d.positive, d.negative):
                    if word.text not in allowed:
                        self.error("HGL303", f"'{word.text}' is not a value of '{decl.name.text}'", word.span,
                                   did_you_mean(word.text, allowed) or "allowed: " + ", ".join(allowed))
            else:
                need(False, "one of two values")
        elif d.kind == "drugs":
            need(t is not None and t.kind == "set", "a set of vocabulary values")
            if t is not None and t.kind == "set" and t.domain:
                out["vocabulary"] = t.domain.split(":", 1)[-1]
        elif d.kind == "regimen":
            need(t is not None and (t.domain or "").startswith("optref"), "an option")
            out["vocabulary"] = "drug"  # the vocabulary options list their drugs in
        if decl is None and d.kind in ("drugs", "regimen"):  # the vocabulary comes from the input's type
            self.error("HGL603", f"{owner}: 'derive {d.kind}' belongs to an input", d.span,
                       "bind the input itself; a fact cannot say which vocabulary it reads")
        return out

    def _type(self, decl: n.InputDecl | None):
        if decl is None:
            return None
        sym = self.c.model.symbols.get(decl.name.text)
        return sym.type if sym is not None and sym.decl is decl else None


def _in_unit(t, word: str) -> bool:
    """Whether a number type holds `word` (years, months) as is: no unit, or one with factor 1."""
    if t.unit is None:
        return True
    try:
        return abs(units.factor(units.resolve(t.unit), units.resolve(word)) - 1) < 1e-9
    except units.UnitError:
        return False


def check(checker) -> dict | None:
    """The guideline's FHIR bindings as data (None when it has none); problems go to checker.error."""
    return BindingChecker(checker).run()
