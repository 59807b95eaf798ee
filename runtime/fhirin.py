"""FHIR input stage: a patient's FHIR R4 resources + a guideline's input bindings -> an HGL case, with the source of each value.

A binding says where one input comes from: the resource type, the codes (LOINC, SNOMED CT,
RxNorm) that select the resources, a FHIRPath expression (evaluated by fhirpathpy against the
R4 model) giving the raw value, a map from raw values to the input's values, units, and a
derivation (age from a birth date, months since a date, "either is positive", a set of drugs,
the regimen the active drugs make up).  A guideline declares its bindings in the language
(`record fhir … end`, an input's `fhir … end` clause, a vocabulary value's `code`/`members`:
site/pages/fhir.md); the compiler checks them and puts them in the compiled module as plain data
(its `FHIR` table), which `parse_bindings` turns into frozen records (hgl.runtime.fhirbindings,
whose names this module re-exports: it is the one import for FHIR input).

Nothing here is disease-specific: codes, paths and maps all come from the guideline.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from decimal import Decimal

from . import units
from .fhirbindings import (  # re-exported: hgl.runtime.fhirin is the one import for FHIR input
    ATC, DERIVATIONS, FORMAT, RXNORM, SELECT, Binding, BindingError, Bindings, Concept, check_against, describe,
    describe_parts, module_bindings, parse_bindings, program_bindings)
from .fhirpath import compile_path

__all__ = ["ATC", "DERIVATIONS", "FORMAT", "RXNORM", "SELECT", "TEMPLATE_PATIENT", "Binding", "BindingError",
           "Bindings", "Concept", "attach", "bindings_of", "case_from_fhir", "check_against", "describe",
           "describe_parts", "flatten", "load", "module_bindings", "parse_bindings", "prefetch_templates",
           "program_bindings"]
TEMPLATE_PATIENT = "{{context.patientId}}"
_PREFETCH_KEY = {"Patient": "patient", "Observation": "observations", "Condition": "conditions",
                 "MedicationStatement": "medicationStatements", "MedicationRequest": "medicationRequests",
                 "Procedure": "procedures"}


# ---------------------------------------------------------------- loading


def load(path: str | os.PathLike):
    """A guideline (hgl.runtime.load: a .hgl file or a module built by `hgl build`) with its FHIR
    bindings attached; raises BindingError when it declares none or they do not fit."""
    from .api import load as load_guideline

    return attach(load_guideline(path))


def attach(guideline):
    """The guideline with `fhir_bindings` set from its module; BindingError when it declares none."""
    bindings = module_bindings(guideline.module)
    if bindings is None:
        raise BindingError(f"{guideline.id} declares no FHIR bindings (a 'record fhir' block and "
                           "'fhir' clauses on its inputs)")
    problems = check_against(bindings, guideline)
    if problems:
        raise BindingError(f"{bindings.path}: " + "; ".join(problems))
    guideline.fhir_bindings = bindings
    return guideline


def bindings_of(guideline) -> Bindings:
    """The bindings of a guideline given as a path, a guideline from `load`, or Bindings themselves."""
    if isinstance(guideline, Bindings):
        return guideline
    if isinstance(guideline, (str, os.PathLike)):
        return load(guideline).fhir_bindings
    found = getattr(guideline, "fhir_bindings", None)
    if found is None:
        found = attach(guideline).fhir_bindings  # a guideline from hgl.runtime.load: its module has them
    return found


def _guideline(guideline):
    if isinstance(guideline, (str, os.PathLike)):
        return load(guideline)
    if isinstance(guideline, Bindings):
        return None
    bindings_of(guideline)
    return guideline


# ---------------------------------------------------------------- CDS Hooks prefetch


def prefetch_templates(guideline) -> dict[str, str]:
    """CDS Hooks prefetch key -> FHIR query template (with {{context.patientId}}) covering every binding.

    Observations and Conditions are asked for by the codes the bindings select them with;
    medications are asked for whole, so a drug outside the vocabulary is seen (and stops a
    regimen from being derived) rather than filtered away.
    """
    b = bindings_of(guideline)
    codes: dict[str, set] = {}
    for binding in (*b.facts, *b.inputs):
        for rtype in binding.resources:
            codes.setdefault(rtype, set()).update(binding.codes)
    out = {}
    for rtype in sorted(codes):
        key = _PREFETCH_KEY.get(rtype, rtype[:1].lower() + rtype[1:] + "s")
        if rtype == "Patient":
            out[key] = f"Patient/{TEMPLATE_PATIENT}"
        elif codes[rtype] and not rtype.startswith("Medication"):
            tokens = ",".join(f"{s}|{c}" for s, c in sorted(codes[rtype]))
            out[key] = f"{rtype}?patient={TEMPLATE_PATIENT}&code={tokens}"
        else:
            out[key] = f"{rtype}?patient={TEMPLATE_PATIENT}"
    return out


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class _Item:
    ref: str
    resource: dict


def flatten(resources) -> list[_Item]:
    """Resources from a list of resources, Bundles (searchset, collection) and Nones, each with its reference."""
    out: list[_Item] = []

    def add(res, full_url=None):
        if not isinstance(res, dict):
            return
        if res.get("resourceType") == "Bundle":
            for entry in res.get("entry") or ():
                if isinstance(entry, dict):
                    add(entry.get("resource"), entry.get("fullUrl"))
            return
        rtype = res.get("resourceType")
        if not isinstance(rtype, str):
            return
        rid = res.get("id")
        ref = f"{rtype}/{rid}" if isinstance(rid, str) and rid else (full_url or f"{rtype}[{len(out)}]")
        out.append(_Item(ref, res))

    for r in resources or ():
        add(r)
    return out


def _date(text) -> _dt.date | None:
    """The day of a FHIR date or dateTime; a partial date (year, year-month) counts from its first day."""
    if not isinstance(text, str) or len(text) < 4:
        return None
    parts = text[:10].split("-")
    try:
        y, m, d = int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1
        return _dt.date(y, m, d)
    except (ValueError, IndexError):
        return None


class _Run:
    """One case_from_fhir call.  FHIRPath expressions are compiled once per process (hgl.runtime.fhirpath:
    plain Python for the bindings' usual shapes, fhirpathpy otherwise); within a call each
    (expression, resource) is evaluated once, since several bindings read the same resources."""

    def __init__(self, bindings: Bindings, guideline, items: list[_Item], today: _dt.date):
        self.b = bindings
        self.g = guideline
        self.today = today
        self.by_type: dict[str, list[_Item]] = {}
        for it in items:
            self.by_type.setdefault(it.resource["resourceType"], []).append(it)
        self.dates = dict(bindings.dates)
        self.facts: dict[str, tuple[object, list]] = {}
        self.memo: dict[tuple[str, int], list] = {}  # (expression, id of a resource of `items`) -> results

    def eval(self, expr: str, resource: dict) -> list:
        key = (expr, id(resource))  # the resources live as long as the call: ids stay distinct
        found = self.memo.get(key)
        if found is None:
            try:
                found = list(compile_path(expr)(resource))
            except Exception:  # a malformed resource gives no value, never a crash
                found = []
            self.memo[key] = found
        return list(found)

    def date_of(self, it: _Item) -> _dt.date | None:
        expr = self.dates.get(it.resource["resourceType"])
        if not expr:
            return None
        return next((d for d in map(_date, map(str, self.eval(expr, it.resource))) if d), None)

    def candidates(self, b: Binding) -> tuple[list[tuple[_dt.date | None, _Item]], str | None]:
        """The resources a binding reads, with their dates; or a note saying why none can be read."""
        out = []
        for rtype in b.resources:
            for it in self.by_type.get(rtype, ()):
                if b.codes and not _has_code(it.resource, b.codes):
                    continue
                if b.where and self.eval(b.where, it.resource) != [True]:
                    continue
                out.append((self.date_of(it), it))
        if out and (b.after or b.before):
            anchor = b.after or b.before
            bound, _ = self.facts.get(anchor, (None, []))
            if bound is None:  # found, but cannot be placed before or after the fact
                return [], f"{len(out)} resource(s) found, but {anchor} is not in the record"
            undated = sum(1 for day, _ in out if day is None)
            if undated:  # one of them may belong here: not derived from the others alone
                return [], f"{undated} resource(s) found without a date: cannot be placed against {anchor}"
            out = [(day, it) for day, it in out
                   if day is not None and (day >= bound if b.after else day < bound)]
        out.sort(key=lambda x: (x[0] or _dt.date.min, x[1].ref))
        return out, None

    def raw(self, b: Binding, it: _Item) -> list:
        return [_plain(v) for v in self.eval(b.value, it.resource) if v is not None] if b.value else []

    def one(self, b: Binding):
        """(value, sources, note) of a binding that reads one resource (the latest or earliest)."""
        found, note = self.candidates(b)
        if not found:
            return None, [], note
        ordered = found if b.select == "earliest" else list(reversed(found))
        for _, it in ordered:
            raws = self.raw(b, it)
            for r in raws:
                value = _mapped(b, r)
                if value is not None:
                    return value, [_source(it, b.value, r)], None
            # the most relevant resource gives no usable value: say so, never fall back to an older one
            shown = raws[0] if raws else None
            return None, [_source(it, b.value, shown, b.note or "value not mapped")], None
        return None, [], None

    # ------------------------------------------------------------ derivations
    def derive(self, b: Binding):
        if b.derive is None:
            return self.one(b)
        return getattr(self, "d_" + b.derive)(b)

    def d_age(self, b: Binding):
        value, sources, note = self.one(b)
        born = _date(value) if isinstance(value, str) and len(value) >= 10 else None
        if born is None:
            return None, [dict(s, note="birth date incomplete: age not derived") for s in sources], note
        years = self.today.year - born.year - ((self.today.month, self.today.day) < (born.month, born.day))
        return years, sources, None

    def d_months_since(self, b: Binding):
        (fact,) = b.facts
        day, sources = self.facts.get(fact, (None, []))
        if day is None:
            return None, sources, None
        months = units.convert((self.today - day).days, "days", "months")
        return round(months, 1), sources, None

    def d_any_of(self, b: Binding):
        pos, neg = b.option("positive"), b.option("negative")
        values, sources = [], []
        for f in b.facts:
            v, s = self.facts.get(f, (None, []))
            values.append(v)
            sources += s
        if any(v == pos for v in values):
            return pos, sources, None
        if values and all(v == neg for v in values):
            return neg, sources, None
        return None, sources, None

    def _drugs(self, b: Binding):
        """The vocabulary values of the medication records a binding reads, and the codes it could not read."""
        reverse = {}
        for c in self.b.concepts(b.option("vocabulary")):
            for code in c.rxnorm:
                reverse.setdefault(code, c.value)
        found, note = self.candidates(b)
        values, sources, unknown = set(), [], []
        for _, it in found:
            codes = [str(r) for r in self.raw(b, it)]
            hits = [c for c in codes if c in reverse]
            if hits:
                values.update(reverse[c] for c in hits)
                src = _source(it, b.value, hits[0] if len(hits) == 1 else hits)
                src["as"] = reverse[hits[0]] if len(hits) == 1 else [reverse[c] for c in hits]
                sources.append(src)
            else:
                unknown.append(_source(it, b.value, codes[0] if codes else None, "drug not in the vocabulary"))
        return values, sources, unknown, note

    def d_drugs(self, b: Binding):
        values, sources, unknown, note = self._drugs(b)
        if unknown:  # a record whose drug cannot be read may be one the guideline asks about: not derived
            return None, sources + unknown, note
        if not values:
            return None, unknown, note
        order = [c for c in self.vocabulary(b)]
        return sorted(values, key=lambda v: order.index(v) if v in order else len(order)), sources + unknown, None

    def d_regimen(self, b: Binding):
        values, sources, unknown, note = self._drugs(b)
        if unknown:
            return None, sources + [dict(s, note="an active drug outside the vocabulary: the regimen is not derived")
                                    for s in unknown], None
        if not values or self.g is None:
            return None, sources, note
        options = getattr(self.g.module, "OPTIONS", {})
        match = sorted(o.id for o in options.values() if o.drugs and set(o.drugs) == values)
        if len(match) == 1:
            return match[0], sources, None
        why = ("no option has exactly these drugs" if not match
               else "several options have these drugs: " + ", ".join(match))
        return None, [dict(s, note=why) for s in sources], None

    def vocabulary(self, b: Binding) -> list[str]:
        vocab = b.option("vocabulary")
        if self.g is not None:
            return list(getattr(self.g.module, "VOCABULARIES", {}).get(vocab, {}))
        return [c.value for c in self.b.concepts(vocab)]


def _plain(v):
    """A FHIRPath result as JSON values: fhirpathpy gives decimals as Decimal."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)


def _has_code(resource: dict, codes) -> bool:
    code = resource.get("code")
    if not isinstance(code, dict):
        return False
    return any(isinstance(c, dict) and (c.get("system"), c.get("code")) in codes for c in code.get("coding") or ())


def _mapped(b: Binding, raw):
    """The input's value for one raw FHIRPath result, or None when the map has no entry for it."""
    if isinstance(raw, dict) and "value" in raw:  # a Quantity
        unit = dict(b.units).get(str(raw.get("code") or raw.get("unit")))
        if b.units and unit is None:
            return None
        return {"value": raw["value"], "unit": unit} if unit else raw["value"]
    if b.mapping:
        key = str(raw).lower() if isinstance(raw, bool) else str(raw)
        return dict(b.mapping).get(key)
    return raw if isinstance(raw, (str, int, float, bool)) else None


def _source(it: _Item, path, value, note=None) -> dict:
    src = {"resource": it.ref, "path": path or it.resource["resourceType"]}
    if value is not None:
        src["value"] = value if isinstance(value, (str, int, float, bool, list)) else str(value)
    if note:
        src["note"] = note
    return src


def case_from_fhir(guideline, resources: list[dict], today: _dt.date | None = None, *,
                   bindings: Bindings | None = None) -> tuple[dict, dict]:
    """The case the bindings derive from FHIR resources, and per field its sources.

    `guideline`: a path to a .hgl file or built module, a guideline from `load`, or
    Bindings.  `resources`: resources, Bundles or None (CDS Hooks prefetch values).  `today`: the
    reference date for ages and durations (default: today).  `bindings`: use these instead of
    the guideline's own.  Returns (case, sources): the case
    holds only what was derived; sources[field] lists the resources it came from (reference,
    FHIRPath, raw value) and, for a field found but not derived, a note saying why.  A value the
    guideline would reject (out of range, unknown) is left out with a note.  A field found but not
    derived that has a default is null (missing) in the case: its default must not stand in for
    records that were there.
    """
    if bindings is not None:
        from .api import load as load_guideline

        b = bindings
        g = (None if isinstance(guideline, Bindings)
             else load_guideline(guideline) if isinstance(guideline, (str, os.PathLike)) else guideline)
    else:
        g, b = _guideline(guideline), bindings_of(guideline)
    run = _Run(b, g, flatten(resources), today or _dt.date.today())
    sources: dict[str, list] = {}
    for fact in b.facts:
        value, src, _ = run.derive(fact)
        if isinstance(value, str) and fact.derive is None and _date(value) and fact.value and not fact.mapping:
            value = _date(value)  # a date fact (anchors after/before and months_since)
        run.facts[fact.name] = (value, src)
    case: dict = {}
    # an input with a default whose records were found but not read is null (missing), not left out:
    # left out, the default would stand for records that say otherwise
    defaults = {s.name for s in g.inputs if s.has_default} if g is not None else set()
    for binding in b.inputs:
        value, src, note = run.derive(binding)
        if note and not src:
            src = [{"note": note}]
        if value is not None and g is not None:
            problem = _invalid(g, binding.name, value)
            if problem:
                src = [dict(s, note=problem) for s in src] or [{"note": problem}]
                value = None
        if value is not None or (src and binding.name in defaults):
            case[binding.name] = value
        if src:
            sources[binding.name] = src
    return case, sources


def _invalid(guideline, name: str, value) -> str | None:
    from .schema import CaseError

    try:
        guideline.validate({name: value})
    except CaseError as err:
        return "rejected: " + "; ".join(e.get("message", "") for e in getattr(err, "errors", ()) or [{}]) or str(err)
    return None
