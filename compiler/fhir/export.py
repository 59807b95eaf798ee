"""FHIR export stage: a compiled guideline's resolved program (check/program.py) -> a FHIR R4 Bundle (PlanDefinition, Library, ActivityDefinitions, StructureDefinitions).

The Bundle (type "collection") lets FHIR-based decision-support platforms catalogue a
guideline the way the HL7 CPG implementation guide shares one: a PlanDefinition of type
clinical-protocol (CPG shareable profile, knowledge capability shareable + computable) with one
action per section and one per rule, an ActivityDefinition per option and per flag (and a
doNotPerform one for each option a rule avoids or drops), a Library holding the `.hgl` source
and its inputs, and a StructureDefinition for every HGL extension (compiler/fhir/profiles.py).
Roles and conditions travel in modifier extensions, so a consumer that does not understand
them must not act on the action; the condition in words is the action's textEquivalent.
Drugs carry ATC and RxNorm codings from the guideline's bindings file when it has them.
Output is deterministic: no clock, no random ids; text is escaped by JSON only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import uuid
from pathlib import Path

from hgl.compiler.check import program as p
from hgl.compiler.explain.words import Words
from hgl.compiler.explain.unparse import unparse
from hgl.compiler.front import nodes as n
from hgl.compiler.front.source import NO_SPAN

from hgl.compiler.fhir import profiles

# Canonical urls are [base]/[ResourceType]/[id].  The base is `hgl export --canonical-base`, else
# the guideline's `canonical` metadata field, else this placeholder under the reserved example.org
# domain (site/pages/fhir.md, "Canonical URLs"): a publisher gives its own.
CANONICAL_BASE = "http://example.org/fhir/hgl"
# the core R4 extension for a recommendation's strength (context: PlanDefinition.action)
EXT_STRENGTH = "http://hl7.org/fhir/StructureDefinition/cqf-strengthOfRecommendation"
PLAN_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
LIBRARY_TYPE = "http://terminology.hl7.org/CodeSystem/library-type"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
HGL_MIME = "text/x-hgl"
STATUS = {"draft": "draft", "final": "active"}  # HGL's two statuses (checks.py) -> PublicationStatus
_ID_BAD = re.compile(r"[^A-Za-z0-9.\-]")
from hgl.compiler.check.fhirbind import CANONICAL_URL as _CANONICAL  # noqa: E402 - next to its use
_NS = uuid.UUID("6f1c2a43-4d7e-5b8a-9c0d-1e2f3a4b5c6d")  # fixed: fullUrls are the same on every run


def fhir_id(text: str) -> str:
    """A resource id ([A-Za-z0-9-.]{1,64}) from a name; long names keep a hash so ids stay distinct."""
    s = _ID_BAD.sub("-", text) or "x"
    if len(s) > 64:
        s = s[:48] + "-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:15]
    return s


def fhir_name(text: str) -> str:
    """A computable name (pdf-0: starts upper case, letters, digits, underscores): her2_mbc -> Her2Mbc."""
    s = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)
    return s if s[:1].isalpha() and s[:1].isupper() else "G" + s


class _Exporter:
    """Builds the resources of one compiled guideline from its program (declarations as written from program.guideline)."""

    def __init__(self, result, bindings=None, canonical_base: str | None = None):
        self.src = result.source
        self.program = result.program
        self.g = self.program.guideline
        meta = self.program.meta
        self.gid = meta.id.text
        self.meta = meta
        self.version = str(meta.get("version") or "")
        self.status = STATUS.get(str(meta.get("status")), "unknown")
        self.base = canonical_base_of(meta, canonical_base)
        self.url = self._canonical("PlanDefinition", self.gid)
        self.codes = f"urn:hgl:{self.gid}"  # code systems of the guideline's own names
        self.publisher = str(meta.get("panel")) if meta.get("panel") else None
        self.words = Words(self.program)  # descriptions: the explanation's words, with no case
        self.caution = {p.name.text for p in self.g.provenance if p.caution}
        self.tags = {p.name.text: p for p in self.g.provenance}
        self.strengths = {s.name.text: s.meaning for s in self.g.strengths}
        self.evidence = {e.name.text: e for e in self.g.evidence}
        if bindings is None:  # the guideline's own (its `record fhir` block and `fhir` clauses)
            from hgl.runtime.fhirbindings import program_bindings

            bindings = program_bindings(self.program)
        self.bindings = bindings
        self.do_not_perform: set[str] = set()  # options some rule avoids or drops by name

    # ------------------------------------------------------------ shared pieces
    def _canonical(self, rtype: str, rid: str) -> str:
        return f"{self.base}/{rtype}/{fhir_id(rid)}"

    def _ext(self, ext_id: str) -> str:
        return profiles.extension_url(self.base, ext_id)

    def _system(self, what: str) -> str:
        return f"{self.codes}:{what}"

    def option_url(self, name: str, negated: bool = False) -> str:
        return self._canonical("ActivityDefinition", f"{self.gid}-option-{name}" + ("-do-not-perform" if negated else ""))

    def flag_url(self, name: str) -> str:
        return self._canonical("ActivityDefinition", f"{self.gid}-flag-{name}")

    def _common(self, rtype: str, rid: str, name: str, title: str, description: str) -> dict:
        """The metadata every knowledge artifact carries (the shareable profiles' required elements)."""
        res: dict = {"resourceType": rtype, "id": fhir_id(rid)}
        if self.publisher and self.version:
            res["meta"] = {"profile": [profiles.SHAREABLE[rtype]]}
        res["extension"] = profiles.knowledge_metadata()
        res["url"] = self._canonical(rtype, rid)
        if self.version:
            res["version"] = self.version
        res.update({"name": fhir_name(name), "title": title, "status": self.status,
                    "experimental": self.status != "active"})
        if self.meta.get("date"):
            res["date"] = str(self.meta.get("date"))
        if self.publisher:
            res["publisher"] = self.publisher
        res["description"] = description
        return res

    def _provenance(self, tags) -> list[dict]:
        """One extension per provenance tag; caution tags (check against the source) are marked."""
        out = []
        for t in map(str, tags):  # names (Name) or their text
            tag = self.tags.get(t)
            coding = {"system": self._system("provenance"), "code": t}
            if tag is not None:
                coding["display"] = tag.meaning
            out.append({"url": self._ext("hgl-provenance"), "extension": [
                {"url": "tag", "valueCoding": coding},
                {"url": "caution", "valueBoolean": t in self.caution}]})
        return out

    def _evidence_artifact(self, name, kind: str = "citation") -> dict:
        name = str(name)
        e = self.evidence.get(name)
        art = {"type": kind, "label": name}
        if e is None:
            return art
        art["display"] = str(e.get("trial") or e.get("citation") or name)
        parts = [str(e.get(k)) for k in ("citation", "design", "setting", "result", "note") if e.get(k)]
        if parts:
            art["citation"] = "; ".join(parts)
        if e.get("doi"):
            art["url"] = "https://doi.org/" + str(e.get("doi"))
        return art

    def _condition(self, expr) -> dict:
        """An applicability condition: HGL text in a modifier extension (R4 Expression allows no HGL language)."""
        return {"modifierExtension": [{"url": self._ext("hgl-condition"), "valueString": unparse(expr)}],
                "kind": "applicability"}

    # ------------------------------------------------------------ terminology
    def _concepts(self) -> dict:
        if self.bindings is None:
            return {}
        return {c.value: c for _, concepts in self.bindings.terminology for c in concepts}

    def drug_concept(self, drug: str) -> dict:
        """A drug as a CodeableConcept: the guideline's code, then ATC and RxNorm where the bindings give them."""
        label = _vocab_label(self.g, drug)
        coding = [{"system": self._system("drug"), "code": drug, "display": label}]
        c = self._concepts().get(drug)
        if c is not None and c.atc:
            coding.append({"system": ATC, "code": c.atc})
        if c is not None and not c.is_class and len(c.rxnorm) == 1:
            coding.append({"system": RXNORM, "code": c.rxnorm[0]})
        return {"coding": coding, "text": label}

    # ------------------------------------------------------------ activity definitions
    def option_activity(self, o: n.OptionDecl, negated: bool = False) -> dict:
        name = o.name.text
        rid = f"{self.gid}-option-{name}" + ("-do-not-perform" if negated else "")
        title = ("Do not give: " if negated else "") + o.label
        what = f"{o.kind} option" if o.kind else "option"
        desc = (f"{what} of {self.gid} not to be given (a rule avoids or drops it): {o.label}" if negated
                else f"{what} of {self.gid}: {o.label}")
        ad = self._common("ActivityDefinition", rid, name + ("_do_not_perform" if negated else ""), title, desc)
        # an option made of drugs is ordered as medication, anything else (a procedure, a site of care,
        # a referral) as a service: the guideline's own kinds have no fixed FHIR meaning
        ad["kind"] = "MedicationRequest" if o.drugs or o.stands_for is not None else "ServiceRequest"
        ad["code"] = {"coding": [{"system": self._system("option"), "code": name, "display": o.label}],
                      "text": o.label}
        if negated:
            ad["doNotPerform"] = True
        if o.drugs:
            ad["extension"] = ad["extension"] + [
                {"url": self._ext("hgl-drug"), "valueCodeableConcept": self.drug_concept(d.text)} for d in o.drugs]
            if len(o.drugs) == 1:
                ad["productCodeableConcept"] = self.drug_concept(o.drugs[0].text)
        return ad

    def flag_activity(self, f: n.FlagDecl) -> dict:
        name = f.name.text
        ad = self._common("ActivityDefinition", f"{self.gid}-flag-{name}", name, f.label, f"flag of {self.gid}: {f.label}")
        ad["kind"] = "Task"
        ad["code"] = {"coding": [{"system": self._system("flag"), "code": name, "display": f.label}], "text": f.label}
        return ad

    # ------------------------------------------------------------ actions
    def _role(self, role: str) -> list[dict]:
        return [{"url": self._ext("hgl-role"), "valueCode": role}]

    def _option_action(self, name: str, role: str) -> dict:
        opt = self.program.options.get(name)
        label = opt.label if opt else name
        negated = role in ("avoid", "drop")
        if negated:
            self.do_not_perform.add(name)
        verb = {"avoid": "Avoid", "drop": "Do not offer", "demote": "Not preferred"}.get(role)
        return {"title": f"{verb}: {label}" if verb else label, "modifierExtension": self._role(role),
                "definitionCanonical": self.option_url(name, negated)}

    def _flag_action(self, name: str) -> dict:
        flag = self.program.flags.get(name)
        return {"title": flag.label if flag else name, "modifierExtension": self._role("flag"),
                "definitionCanonical": self.flag_url(name)}

    def outcome_actions(self, outcomes, depth: int = 0) -> list[dict]:
        """Sub-actions of a rule: one per option, flag, request; `if` outcomes nest with their condition."""
        out: list[dict] = []
        for o in outcomes:
            if isinstance(o, p.Propose):
                out += [self._option_action(x, o.role) for x in o.options]
            elif isinstance(o, p.Restrict):
                if isinstance(o.selector, p.SelectOption):
                    out.append(self._option_action(o.selector.option, o.action))
                else:
                    out.append({"title": f"{o.action}: {self.words.text(o.selector)}",
                                "extension": [{"url": self._ext("hgl-selector"), "valueString": unparse(o.selector)}],
                                "modifierExtension": self._role(o.action)})
            elif isinstance(o, p.RaiseFlag):
                out += [self._flag_action(x) for x in o.flags]
            elif isinstance(o, p.Request):
                act = {"title": f"Request: {self.program.label(o.input)}",
                       "extension": [{"url": self._ext("hgl-requests-input"), "valueCode": o.input}],
                       "modifierExtension": self._role("request")}
                if o.flag is not None:
                    act["definitionCanonical"] = self.flag_url(o.flag)
                out.append(act)
            elif isinstance(o, p.Withhold):
                out.append({"title": "Withhold options: no option is shown", "modifierExtension": self._role("withhold")})
            elif isinstance(o, p.Use):
                group = self.program.groups.get(o.group)
                if group is not None and depth < 10:
                    out.append({"title": group.label or o.group,
                                "action": self.outcome_actions(group.outcomes, depth + 1)})
            elif isinstance(o, p.OutcomeIf):
                for cond, outs in o.branches:
                    words = self.words.text(cond)
                    out.append({"title": "If " + words, "textEquivalent": "Applies if " + words + ".",
                                "condition": [self._condition(cond)], "action": self.outcome_actions(outs, depth + 1)})
                if o.otherwise:
                    # the otherwise branch applies when no branch's condition holds: said in HGL too
                    out.append({"title": "Otherwise", "textEquivalent": "Applies if none of the conditions above holds.",
                                "condition": [self._condition(_none_held(o))],
                                "action": self.outcome_actions(o.otherwise, depth + 1)})
        return [a for a in out if a.get("action", True)]

    def rule_action(self, r: p.Rule) -> dict:
        rid = r.name
        act: dict = {"id": fhir_id("rule-" + rid), "title": r.title or rid}
        ext = self._provenance(r.provenance)
        if r.strength is not None:
            code = r.strength
            ext.append({"url": EXT_STRENGTH, "valueCodeableConcept": {
                "coding": [{"system": self._system("strength"), "code": code,
                            "display": self.strengths.get(code, code)}],
                "text": self.strengths.get(code, code)}})
        if ext:
            act["extension"] = ext
        if r.rationale:
            act["description"] = r.rationale
        if r.when is not None:
            act["textEquivalent"] = "Applies when " + "; ".join(self.words.conditions(r.when)) + "."
        act["code"] = [{"coding": [{"system": self._system("rule"), "code": rid}]}]
        docs = [self._evidence_artifact(e) for e in r.evidence]
        if docs:
            act["documentation"] = docs
        if r.when is not None:
            act["condition"] = [self._condition(r.when)]
        subs = self.outcome_actions(r.outcomes)
        if subs:
            act["action"] = subs
        return act

    def section_action(self, s: p.Section) -> dict:
        act: dict = {"id": fhir_id("section-" + s.name), "title": s.title or s.name}
        ext = self._provenance(s.provenance)
        if ext:
            act["extension"] = ext
        if s.description:
            act["description"] = s.description
        coding = {"system": self._system("section"), "code": s.name}
        act["code"] = [{"coding": [coding], **({"text": f"SPEC {s.spec}"} if s.spec else {})}]
        docs = [self._evidence_artifact(e) for e in s.evidence]
        if docs:
            act["documentation"] = docs
        act["groupingBehavior"] = "logical-group"
        act["action"] = [self.rule_action(r) for r in s.rules]
        return act

    # ------------------------------------------------------------ resources
    def plan(self, library_url: str) -> dict:
        meta = self.meta
        title = str(meta.get("title") or self.gid)
        desc = f"{title}: the recommendations of the guideline as computable HGL rules." + (
            f" Source: {meta.get('source')}" if meta.get("source") else "")
        pd = self._common("PlanDefinition", self.gid, self.gid, title, desc)
        pd["type"] = {"coding": [{"system": PLAN_TYPE, "code": "clinical-protocol", "display": "Clinical Protocol"}]}
        if meta.get("disclaimer"):
            pd["usage"] = str(meta.get("disclaimer"))
        related = []
        if meta.get("source"):
            src = {"type": "citation", "label": "source", "display": "Source guideline",
                   "citation": str(meta.get("source"))}
            if meta.get("doi"):
                src["url"] = "https://doi.org/" + str(meta.get("doi"))
            related.append(src)
        related += [self._evidence_artifact(e.name.text, "documentation") for e in self.g.evidence]
        if related:
            pd["relatedArtifact"] = related
        pd["library"] = [library_url]
        pd["action"] = [self.section_action(s) for s in self.program.sections]
        return pd

    def _parameter(self, d: p.Input) -> dict:
        t = d.type
        ftype = {"bool": "boolean", "num": "integer" if t.integer else "decimal", "date": "date"}.get(t.kind, "code")
        param = {"name": d.name, "use": "in", "min": 0, "max": "*" if t.kind == "set" else "1"}
        doc = d.decl.label or d.name  # the label as written
        if d.description:
            doc += ": " + d.description
        if d.is_parameter:
            doc = "policy parameter: " + doc
        param["documentation"] = doc
        param["type"] = ftype
        ext = [{"url": self._ext("hgl-input-kind"), "valueCode": "parameter" if d.is_parameter else "input"}]
        if t.unit:
            ext.append({"url": self._ext("hgl-unit"), "valueString": t.unit})
        if d.decl.default is not None:  # as written, in the author's unit
            ext.append({"url": self._ext("hgl-default"), "valueString": _literal_text(d.decl.default)})
        param["extension"] = ext
        return param

    def _data_requirements(self) -> list[dict]:
        """What the bindings read from a patient's record: one DataRequirement per resource type, with its codes."""
        if self.bindings is None:
            return []
        codes: dict[str, set] = {}
        for b in (*self.bindings.facts, *self.bindings.inputs):
            for rtype in b.resources:
                codes.setdefault(rtype, set()).update(b.codes)
        out = []
        for rtype in sorted(codes):
            req = {"type": rtype}
            if codes[rtype]:
                req["codeFilter"] = [{"path": "code", "code": [{"system": s, "code": c} for s, c in sorted(codes[rtype])]}]
            out.append(req)
        return out

    def library(self) -> dict:
        text = self.src.text.encode("utf-8")
        lib = self._common("Library", f"{self.gid}-library", self.gid + "_library", f"HGL source of {self.gid}",
                           f"The HGL source of {self.gid} and its inputs and policy parameters.")
        lib["identifier"] = [{"system": "urn:hgl:source-sha256", "value": self.src.sha256}]
        lib["type"] = {"coding": [{"system": LIBRARY_TYPE, "code": "logic-library", "display": "Logic Library"}]}
        lib["parameter"] = [self._parameter(d) for d in (*self.program.inputs, *self.program.parameters)]
        reqs = self._data_requirements()
        if reqs:
            lib["dataRequirement"] = reqs
        lib["content"] = [{"contentType": HGL_MIME, "data": base64.b64encode(text).decode("ascii"),
                           "size": len(text),
                           # Attachment.hash is base64 SHA-1 in R4; the sha256 is the identifier
                           "hash": base64.b64encode(hashlib.sha1(text).digest()).decode("ascii"),
                           "title": Path(self.src.name).name}]
        return lib

    def bundle(self) -> dict:
        lib = self.library()
        plan = self.plan(lib["url"])  # first: it records the options some rule avoids or drops
        resources = [plan, lib]
        resources += [self.option_activity(o) for o in self.program.options.values()]
        resources += [self.option_activity(o, negated=True) for o in self.program.options.values()
                      if o.name.text in self.do_not_perform]
        resources += [self.flag_activity(f) for f in self.program.flags.values()]
        resources += profiles.structure_definitions(self.base, self.version, self.status, self.publisher)
        entries = [{"fullUrl": "urn:uuid:" + str(uuid.uuid5(_NS, r["url"])), "resource": r} for r in resources]
        ident = {"system": "urn:hgl:bundle", "value": f"{self.gid}|{self.version}"}
        return {"resourceType": "Bundle", "id": fhir_id(f"{self.gid}-{self.version}"),
                "identifier": ident, "type": "collection", "entry": entries}


def _vocab_label(g, value: str) -> str:
    """The label a vocabulary gives a value, as written (the value itself when it has none)."""
    for v in g.vocabularies:
        for name, label in v.entries:
            if name.text == value:
                return label or value
    return value


def _none_held(o: p.OutcomeIf):
    """The condition of an `otherwise` block: no branch's condition holds."""
    negated = tuple(p.Not(c, NO_SPAN) for c, _ in o.branches)
    return negated[0] if len(negated) == 1 else p.And(negated, NO_SPAN)


def _literal_text(lit: n.Literal) -> str:
    v = lit.value
    if lit.kind == "bool":
        text = "true" if v else "false"
    elif lit.kind == "set":
        text = "{" + ", ".join(x.text for x in v.items) + "}"
    else:
        text = str(getattr(v, "text", v))
    return f"{text} {lit.unit.text}" if lit.unit is not None else text


def canonical_base_of(meta, given: str | None = None) -> str:
    """The base of the canonical urls: `given` (--canonical-base), else the guideline's `canonical`
    field, else the placeholder CANONICAL_BASE; without a trailing slash."""
    base = given or (str(meta.get("canonical")) if meta is not None and meta.get("canonical") else None)
    return (base or CANONICAL_BASE).rstrip("/")


def export_bundle(compile_result, bindings=None, canonical_base: str | None = None) -> dict:
    """The FHIR R4 Bundle (a JSON-ready dict) of a compiled guideline without errors.

    `bindings`: FHIR bindings (hgl.runtime.fhirin.Bindings) whose terminology codes the drugs and
    whose bindings become the Library's data requirements; default: the guideline's own.
    `canonical_base`: default the guideline's `canonical` field, else CANONICAL_BASE.
    """
    if not compile_result.ok or compile_result.program is None or compile_result.program.meta is None:
        raise ValueError("only a guideline that compiles without errors can be exported")
    return _Exporter(compile_result, bindings, canonical_base).bundle()


def dumps(bundle: dict) -> str:
    """The Bundle as JSON text: same input, same bytes; non-ASCII kept, escaped by JSON only."""
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- command line


def configure(p: argparse.ArgumentParser) -> None:
    """Arguments of `hgl export`."""
    p.add_argument("guideline", help="a .hgl file")
    p.add_argument("--format", choices=("fhir",), default="fhir", help="export format (FHIR R4 Bundle)")
    p.add_argument("-o", "--output", help="a .json file, or a folder (default: standard output)")
    p.add_argument("--canonical-base", default=None,
                   help="base of the canonical urls, [base]/[ResourceType]/[id] (default: the guideline's "
                        f"`canonical` field, else the placeholder {CANONICAL_BASE})")


def cli_main(args) -> int:
    """`hgl export --format fhir GUIDELINE [-o DIR|FILE]`: 0 written, 1 the guideline or its bindings have errors."""
    from hgl.compiler.front.diagnostics import render_all
    from hgl.compiler.pipeline import compile_source, read_source

    source = read_source(args.guideline)
    result = compile_source(source)
    if result.diagnostics:
        print(render_all(source, result.diagnostics, False), file=sys.stderr)
    if not result.ok:
        return 1
    base = args.canonical_base
    if base is not None and not _CANONICAL.fullmatch(base):
        print(f"error: --canonical-base {base!r} is not an absolute http(s) URL", file=sys.stderr)
        return 2
    bundle = export_bundle(result, None, base)
    text = dumps(bundle)
    if not args.output:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if out.suffix.lower() != ".json":  # a folder: named after the guideline file
        out.mkdir(parents=True, exist_ok=True)
        out = out / f"{Path(args.guideline).stem}.fhir.json"
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(text.encode("utf-8"))
    print(f"wrote {out} (FHIR R4 Bundle, {len(bundle['entry'])} resources)")
    return 0
