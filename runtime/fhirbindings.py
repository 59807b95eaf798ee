"""FHIR input bindings as records: where each input of a guideline comes from in FHIR R4.

A guideline declares its bindings in the language (`record fhir … end`, an input's `fhir … end`
clause, a vocabulary value's `code`/`members`: site/pages/fhir.md); the compiler checks them and
puts them in the compiled module as plain data (its `FHIR` table).  `parse_bindings` turns that
data into the frozen records below, `check_against` says what does not fit a guideline, and
`describe` words a binding for the data dictionary.  Evaluating bindings against a patient's
resources is hgl.runtime.fhirin's; that module re-exports these names.

Nothing here is disease-specific: codes, paths and maps all come from the guideline.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMAT = "hgl-fhir-bindings/1"
# the terminologies a drug vocabulary is read and exported in (FHIR's canonical system URIs)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
DERIVATIONS = ("age", "months_since", "any_of", "drugs", "regimen")
SELECT = ("latest", "earliest")


class BindingError(ValueError):
    """Bindings that cannot be used (none declared, or data that does not fit): says which guideline and field."""


@dataclass(frozen=True)
class Concept:
    """One value of a vocabulary in standard codes: its own codes and, for a class, its members' codes."""

    value: str
    codes: tuple[tuple[str, str], ...] = ()  # (system url, code): the value's own
    members: tuple[tuple[str, str], ...] = ()  # (system url, code): the members of a class

    @property
    def is_class(self) -> bool:
        return bool(self.members)

    @property
    def rxnorm(self) -> tuple[str, ...]:
        """The RxNorm ingredients read as this value: its own, or its members'."""
        return tuple(c for s, c in (*self.codes, *self.members) if s == RXNORM)

    @property
    def atc(self) -> str | None:
        """Its own ATC code (a class: its ATC group), if any."""
        return next((c for s, c in self.codes if s == ATC), None)


@dataclass(frozen=True)
class Binding:
    """Where one input (or one intermediate fact) comes from in FHIR."""

    name: str
    resources: tuple[str, ...] = ()
    codes: tuple[tuple[str, str], ...] = ()  # (system url, code): any of them selects a resource
    where: str | None = None  # FHIRPath filter, true for the resources to read
    value: str | None = None  # FHIRPath giving the raw value(s) of a resource
    mapping: tuple[tuple[str, object], ...] = ()  # raw value (as text) -> the input's value
    units: tuple[tuple[str, str], ...] = ()  # UCUM code of a Quantity -> unit of the language
    after: str | None = None  # only resources dated on or after this fact (a date)
    before: str | None = None  # only resources dated before this fact
    select: str = "latest"
    derive: str | None = None
    facts: tuple[str, ...] = ()  # facts a derivation reads
    options: tuple[tuple[str, str], ...] = ()  # derivation settings (positive, negative, vocabulary)
    note: str | None = None  # said when resources were found but gave no value
    is_fact: bool = False

    def option(self, key: str, default=None):
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class Bindings:
    """The bindings of one guideline: facts first (inputs may read them), then inputs, and the terminology."""

    guideline: str
    path: str
    systems: tuple[tuple[str, str], ...]
    dates: tuple[tuple[str, str], ...]
    terminology: tuple[tuple[str, tuple[Concept, ...]], ...]
    facts: tuple[Binding, ...]
    inputs: tuple[Binding, ...]

    def concepts(self, vocabulary: str) -> tuple[Concept, ...]:
        return dict(self.terminology).get(vocabulary, ())

    def binding(self, name: str) -> Binding | None:
        return next((b for b in self.inputs if b.name == name), None)

    def describe(self, name: str) -> tuple[str, str | None, str] | None:
        """The binding of an input as (where, FHIRPath, how), for the data dictionary; None when clinician-entered."""
        b = self.binding(name)
        if b is None:
            return None
        where, path, how = describe_parts(b, dict(self.systems))
        facts = {f.name: f for f in self.facts}
        used = [facts[f] for f in dict.fromkeys((*b.facts, *(x for x in (b.after, b.before) if x)))]
        said = [f"{f.name} from {describe(f, dict(self.systems))}" for f in used]
        return where, path, "; ".join(x for x in (how, *said) if x)


# ---------------------------------------------------------------- from the FHIR table


def module_bindings(module) -> Bindings | None:
    """The bindings a compiled guideline module carries (its FHIR table), or None when it declares none."""
    data = getattr(module, "FHIR", None)
    if data is None:
        return None
    return parse_bindings(data, str(getattr(module, "SOURCE", "<module>")))


def program_bindings(program) -> Bindings | None:
    """The bindings of a checked program (hgl.compiler.check.program.Program), or None."""
    data = getattr(program, "fhir", None)
    meta = getattr(program, "meta", None)
    return None if data is None else parse_bindings(data, meta.id.text if meta is not None else "<guideline>")


def _need(cond, where: str, message: str):
    if not cond:
        raise BindingError(f"{where}: {message}")


def parse_bindings(data, path: str = "<bindings>") -> Bindings:
    """The Bindings of a parsed YAML document."""
    _need(isinstance(data, dict), path, "expected a mapping")
    _need(data.get("format") == FORMAT, path, f"format must be {FORMAT!r}")
    known = {"format", "guideline", "systems", "dates", "terminology", "facts", "inputs"}
    extra = sorted(set(data) - known)
    _need(not extra, path, f"unknown key(s) {', '.join(extra)}")
    systems = {str(k): str(v) for k, v in (data.get("systems") or {}).items()}
    dates = tuple((str(k), str(v)) for k, v in (data.get("dates") or {}).items())
    terminology = []
    for vocab, values in (data.get("terminology") or {}).items():
        concepts = []
        for value, spec in (values or {}).items():
            spec = spec or {}
            where = f"{path}: terminology.{vocab}.{value}"
            _need(isinstance(spec, dict) and set(spec) <= {"code", "members"}, where, "expected code and members")
            concepts.append(Concept(str(value), _codings(spec.get("code"), systems, where),
                                    _codings(spec.get("members"), systems, where)))
        terminology.append((str(vocab), tuple(concepts)))
    facts = tuple(_binding(n, s, systems, path, True) for n, s in (data.get("facts") or {}).items())
    inputs = tuple(_binding(n, s, systems, path, False) for n, s in (data.get("inputs") or {}).items())
    fact_names = {f.name for f in facts}
    for b in (*facts, *inputs):
        for f in (*b.facts, *(x for x in (b.after, b.before) if x)):
            _need(f in fact_names, f"{path}: {b.name}", f"unknown fact {f!r}")
    return Bindings(str(data.get("guideline") or ""), path, tuple(sorted(systems.items())), dates,
                    tuple(terminology), facts, inputs)


def _codings(spec, systems: dict, where: str) -> tuple[tuple[str, str], ...]:
    """{system name: [codes]} -> ((system url, code), ...)."""
    out = []
    for system, values in (spec or {}).items():
        _need(system in systems, where, f"unknown code system {system!r} (declare it under systems)")
        out += [(systems[system], str(c)) for c in values]
    return tuple(out)


_BINDING_KEYS = {"resource", "code", "where", "value", "map", "units", "after", "before", "select",
                 "derive", "facts", "note", "positive", "negative", "vocabulary"}


def _binding(name, spec, systems: dict, path: str, is_fact: bool) -> Binding:
    where = f"{path}: {'facts' if is_fact else 'inputs'}.{name}"
    _need(isinstance(spec, dict), where, "expected a mapping")
    extra = sorted(set(spec) - _BINDING_KEYS)
    _need(not extra, where, f"unknown key(s) {', '.join(extra)}")
    res = spec.get("resource") or ()
    resources = (res,) if isinstance(res, str) else tuple(res)
    codes = _codings(spec.get("code"), systems, where)
    derive = spec.get("derive")
    _need(derive is None or derive in DERIVATIONS, where, f"derive must be one of {', '.join(DERIVATIONS)}")
    select = spec.get("select", "latest")
    _need(select in SELECT, where, f"select must be one of {', '.join(SELECT)}")
    _need(resources or derive in ("any_of", "months_since"), where, "needs a resource or a derivation")
    _need(not resources or spec.get("value"), where, "needs a value (FHIRPath)")
    options = tuple((k, str(spec[k])) for k in ("positive", "negative", "vocabulary") if k in spec)
    _need(derive not in ("drugs", "regimen") or "vocabulary" in spec, where, "needs a vocabulary")
    return Binding(
        name=str(name), resources=resources, codes=codes, where=spec.get("where"),
        value=spec.get("value"), mapping=tuple((str(k), v) for k, v in (spec.get("map") or {}).items()),
        units=tuple((str(k), str(v)) for k, v in (spec.get("units") or {}).items()),
        after=spec.get("after"), before=spec.get("before"), select=select, derive=derive,
        facts=tuple(spec.get("facts") or ()), options=options, note=spec.get("note"), is_fact=is_fact)


def check_against(bindings: Bindings, guideline) -> list[str]:
    """What bindings say that the guideline does not have (inputs, values, options): empty when they fit.

    The compiler has checked a guideline's own bindings (with positions); this is for bindings
    given by a program (`case_from_fhir(..., bindings=...)`) and for a module built elsewhere.
    """
    specs = {s.name: s for s in guideline.inputs}
    vocabularies = getattr(guideline.module, "VOCABULARIES", {})
    problems = []
    for b in bindings.inputs:
        spec = specs.get(b.name)
        if spec is None:
            problems.append(f"{b.name}: not an input of {guideline.id}")
            continue
        for raw, value in b.mapping:
            if spec.kind == "enum" and value not in spec.values:
                problems.append(f"{b.name}: {value!r} (for {raw!r}) is not one of {', '.join(spec.values)}")
        vocab = b.option("vocabulary")
        if vocab is not None and vocab not in vocabularies:
            problems.append(f"{b.name}: unknown vocabulary {vocab!r}")
    for vocab, concepts in bindings.terminology:
        for c in concepts:
            if c.value not in vocabularies.get(vocab, {}):
                problems.append(f"terminology: {c.value!r} is not a value of {vocab!r}")
    return problems


# ---------------------------------------------------------------- in words


def describe_parts(b: Binding, systems: dict | None = None) -> tuple[str, str | None, str]:
    """A binding in three parts: where (resource and codes), the FHIRPath, how (map, dates, derivation)."""
    names = {v: k for k, v in (systems or {}).items()}
    where = " or ".join(b.resources)
    if b.codes:
        where += " " + ", ".join(f"{names.get(s, s)}#{c}" for s, c in b.codes)  # system#code, as FHIR tokens
    how = []
    if b.mapping:
        how.append("mapped " + ", ".join(f"{k} → {v}" for k, v in b.mapping))
    if b.after or b.before:
        how.append(f"dated {'on or after' if b.after else 'before'} {b.after or b.before}")
    if b.derive:
        how.append({"age": "age in years at the reference date",
                    "months_since": f"months since {', '.join(b.facts)}",
                    "any_of": f"{b.option('positive')} if any of {', '.join(b.facts)} is, "
                              f"{b.option('negative')} if all are",
                    "drugs": f"the {b.option('vocabulary')} values of the records (RxNorm)",
                    "regimen": "the option whose drugs are exactly the active ones"}[b.derive])
    return where.strip(), b.value, "; ".join(how)


def describe(b: Binding, systems: dict | None = None) -> str:
    """A binding in one line: resource and codes, the FHIRPath, the derivation."""
    where, path, how = describe_parts(b, systems)
    return "; ".join(x for x in (where, path, how) if x)
