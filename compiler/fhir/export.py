"""FHIR export stage: a compiled guideline's resolved program (check/program.py) -> a FHIR R4 Bundle (PlanDefinition, Library, ActivityDefinitions).

The Bundle (type "collection") lets FHIR-based decision-support platforms catalogue a
guideline the way the HL7 CPG implementation guide shares one: a PlanDefinition of type
clinical-protocol with one action per section and one per rule, an ActivityDefinition per
option and per flag, and a Library holding the `.hgl` source and its inputs.  Conditions
travel as canonical HGL text (language "text/hgl"), with a plain-words description; HGL
semantics (roles, provenance, caution tags) travel in extensions under `urn:hgl:fhir:`.
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

EXT = "urn:hgl:fhir:"  # extension urls: logical names, no invented web domain
EXT_PROVENANCE = EXT + "provenance"
EXT_ROLE = EXT + "role"
EXT_DEFAULT = EXT + "default"
EXT_KIND = EXT + "input-kind"
EXT_DRUG = EXT + "drug"
EXT_SELECTOR = EXT + "selector"
EXT_REQUEST = EXT + "requests-input"
# the core R4 extension for a recommendation's strength (context: PlanDefinition.action)
EXT_STRENGTH = "http://hl7.org/fhir/StructureDefinition/cqf-strengthOfRecommendation"
PLAN_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
LIBRARY_TYPE = "http://terminology.hl7.org/CodeSystem/library-type"
HGL_LANGUAGE = "text/hgl"
HGL_MIME = "text/x-hgl"
STATUS = {"draft": "draft", "final": "active"}  # HGL's two statuses (checks.py) -> PublicationStatus
KIND_OF_OPTION = {"systemic": "MedicationRequest", "local": "ServiceRequest"}
_ID_BAD = re.compile(r"[^A-Za-z0-9.\-]")
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

    def __init__(self, result):
        self.src = result.source
        self.program = result.program
        self.g = self.program.guideline
        meta = self.program.meta
        self.gid = meta.id.text
        self.meta = meta
        self.version = str(meta.get("version") or "")
        self.status = STATUS.get(str(meta.get("status")), "unknown")
        self.url = f"urn:hgl:{self.gid}"
        self.words = Words(self.program)  # descriptions: the explanation's words, with no case
        self.caution = {p.name.text for p in self.g.provenance if p.caution}
        self.tags = {p.name.text: p for p in self.g.provenance}
        self.strengths = {s.name.text: s.meaning for s in self.g.strengths}
        self.evidence = {e.name.text: e for e in self.g.evidence}
        self.activities: dict[str, dict] = {}  # canonical url -> ActivityDefinition

    # ------------------------------------------------------------ shared pieces
    def _system(self, what: str) -> str:
        return f"{self.url}:{what}"

    def _common(self, rid: str, url: str, name: str, title: str) -> dict:
        res = {"id": fhir_id(rid), "url": url}
        if self.version:
            res["version"] = self.version
        res.update({"name": fhir_name(name), "title": title, "status": self.status})
        return res

    def _provenance(self, tags) -> list[dict]:
        """One extension per provenance tag; caution tags (check against the source) are marked."""
        out = []
        for t in map(str, tags):  # names (Name) or their text
            tag = self.tags.get(t)
            coding = {"system": self._system("provenance"), "code": t}
            if tag is not None:
                coding["display"] = tag.meaning
            out.append({"url": EXT_PROVENANCE, "extension": [
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
        return {"kind": "applicability", "expression": {
            "description": "; ".join(self.words.conditions(expr)),
            "language": HGL_LANGUAGE, "expression": unparse(expr)}}

    # ------------------------------------------------------------ activity definitions
    def option_activity(self, o: n.OptionDecl) -> dict:
        url = f"{self.url}:option:{o.name.text}"
        ad = {"resourceType": "ActivityDefinition",
              **self._common(f"{self.gid}-option-{o.name.text}", url, o.name.text, o.label)}
        ad["description"] = f"{o.kind} option of {self.gid}: {o.label}"
        ad["kind"] = KIND_OF_OPTION.get(o.kind, "ServiceRequest")
        ad["code"] = {"coding": [{"system": self._system("option"), "code": o.name.text, "display": o.label}],
                      "text": o.label}
        if o.drugs:
            ad["extension"] = [{"url": EXT_DRUG, "valueCoding": {"system": self._system("drug"), "code": d.text}}
                               for d in o.drugs]
        return ad

    def flag_activity(self, f: n.FlagDecl) -> dict:
        url = f"{self.url}:flag:{f.name.text}"
        ad = {"resourceType": "ActivityDefinition",
              **self._common(f"{self.gid}-flag-{f.name.text}", url, f.name.text, f.label)}
        ad["description"] = f"flag of {self.gid}: {f.label}"
        ad["kind"] = "Task"
        ad["code"] = {"coding": [{"system": self._system("flag"), "code": f.name.text, "display": f.label}],
                      "text": f.label}
        return ad

    # ------------------------------------------------------------ actions
    def _role(self, role: str) -> dict:
        return {"url": EXT_ROLE, "valueCode": role}

    def _option_action(self, name: str, role: str) -> dict:
        opt = self.program.options.get(name)
        label = opt.label if opt else name
        return {"title": label, "extension": [self._role(role)],
                "definitionCanonical": f"{self.url}:option:{name}"}

    def _flag_action(self, name: str) -> dict:
        flag = self.program.flags.get(name)
        return {"title": flag.label if flag else name, "extension": [self._role("flag")],
                "definitionCanonical": f"{self.url}:flag:{name}"}

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
                                "extension": [self._role(o.action),
                                              {"url": EXT_SELECTOR, "valueString": unparse(o.selector)}]})
            elif isinstance(o, p.RaiseFlag):
                out += [self._flag_action(x) for x in o.flags]
            elif isinstance(o, p.Request):
                act = {"title": f"Request: {self.program.label(o.input)}",
                       "extension": [self._role("request"), {"url": EXT_REQUEST, "valueCode": o.input}]}
                if o.flag is not None:
                    act["definitionCanonical"] = f"{self.url}:flag:{o.flag}"
                out.append(act)
            elif isinstance(o, p.Withhold):
                out.append({"title": "Withhold options: no option is shown", "extension": [self._role("withhold")]})
            elif isinstance(o, p.Use):
                group = self.program.groups.get(o.group)
                if group is not None and depth < 10:
                    out.append({"title": group.label or o.group,
                                "action": self.outcome_actions(group.outcomes, depth + 1)})
            elif isinstance(o, p.OutcomeIf):
                for cond, outs in o.branches:
                    out.append({"title": "If " + self.words.text(cond), "condition": [self._condition(cond)],
                                "action": self.outcome_actions(outs, depth + 1)})
                if o.otherwise:
                    # the otherwise branch applies when no branch's condition holds: said in HGL too
                    cond = {"kind": "applicability", "expression": {
                        "description": "none of the conditions above holds",
                        "language": HGL_LANGUAGE, "expression": unparse(_none_held(o))}}
                    out.append({"title": "Otherwise", "condition": [cond],
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
        pd = {"resourceType": "PlanDefinition", **self._common(self.gid, self.url, self.gid, title)}
        pd["type"] = {"coding": [{"system": PLAN_TYPE, "code": "clinical-protocol", "display": "Clinical Protocol"}]}
        if meta.get("date"):
            pd["date"] = str(meta.get("date"))
        if meta.get("panel"):
            pd["publisher"] = str(meta.get("panel"))
        pd["description"] = f"{title}: the recommendations of the guideline as computable HGL rules." + (
            f" Source: {meta.get('source')}" if meta.get("source") else "")
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
        ftype = {"bool": "boolean", "num": "integer" if t.integer else "decimal"}.get(t.kind, "code")
        param = {"name": d.name, "use": "in", "min": 0, "max": "*" if t.kind == "set" else "1"}
        doc = d.decl.label or d.name  # the label as written
        if d.description:
            doc += ": " + d.description
        if d.is_parameter:
            doc = "policy parameter: " + doc
        param["documentation"] = doc
        param["type"] = ftype
        ext = [{"url": EXT_KIND, "valueCode": "parameter" if d.is_parameter else "input"}]
        if t.unit:
            ext.append({"url": EXT + "unit", "valueString": t.unit})
        if d.decl.default is not None:  # as written, in the author's unit
            ext.append({"url": EXT_DEFAULT, "valueString": _literal_text(d.decl.default)})
        param["extension"] = ext
        return param

    def library(self) -> dict:
        text = self.src.text.encode("utf-8")
        title = f"HGL source of {self.gid}"
        lib = {"resourceType": "Library",
               **self._common(f"{self.gid}-library", f"{self.url}:library", self.gid + "_library", title)}
        lib["identifier"] = [{"system": "urn:hgl:source-sha256", "value": self.src.sha256}]
        lib["type"] = {"coding": [{"system": LIBRARY_TYPE, "code": "logic-library", "display": "Logic Library"}]}
        lib["description"] = f"The HGL source of {self.gid} and its inputs and policy parameters."
        lib["parameter"] = [self._parameter(d) for d in (*self.program.inputs, *self.program.parameters)]
        lib["content"] = [{"contentType": HGL_MIME, "data": base64.b64encode(text).decode("ascii"),
                           "size": len(text),
                           # Attachment.hash is base64 SHA-1 in R4; the sha256 is the identifier
                           "hash": base64.b64encode(hashlib.sha1(text).digest()).decode("ascii"),
                           "title": Path(self.src.name).name}]
        return lib

    def bundle(self) -> dict:
        lib = self.library()
        resources = [self.plan(lib["url"]), lib]
        resources += [self.option_activity(o) for o in self.program.options.values()]
        resources += [self.flag_activity(f) for f in self.program.flags.values()]
        entries = [{"fullUrl": "urn:uuid:" + str(uuid.uuid5(_NS, r["url"])), "resource": r} for r in resources]
        ident = {"system": "urn:hgl:bundle", "value": f"{self.gid}|{self.version}"}
        return {"resourceType": "Bundle", "id": fhir_id(f"{self.gid}-{self.version}"),
                "identifier": ident, "type": "collection", "entry": entries}


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


def export_bundle(compile_result) -> dict:
    """The FHIR R4 Bundle (a JSON-ready dict) of a compiled guideline without errors."""
    if not compile_result.ok or compile_result.program is None or compile_result.program.meta is None:
        raise ValueError("only a guideline that compiles without errors can be exported")
    return _Exporter(compile_result).bundle()


def dumps(bundle: dict) -> str:
    """The Bundle as JSON text: same input, same bytes; non-ASCII kept, escaped by JSON only."""
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- command line


def configure(p: argparse.ArgumentParser) -> None:
    """Arguments of `hgl export`."""
    p.add_argument("guideline", help="a .hgl file")
    p.add_argument("--format", choices=("fhir",), default="fhir", help="export format (FHIR R4 Bundle)")
    p.add_argument("-o", "--output", help="a .json file, or a folder (default: standard output)")


def cli_main(args) -> int:
    """`hgl export --format fhir GUIDELINE [-o DIR|FILE]`: 0 written, 1 the guideline has errors."""
    from hgl.compiler.front.diagnostics import render_all
    from hgl.compiler.pipeline import compile_source, read_source

    source = read_source(args.guideline)
    result = compile_source(source)
    if result.diagnostics:
        print(render_all(source, result.diagnostics, False), file=sys.stderr)
    if not result.ok:
        return 1
    bundle = export_bundle(result)
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
