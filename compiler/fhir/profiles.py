"""FHIR export, conformance part: the HGL extensions (one table) -> their R4 StructureDefinitions, and the CPG metadata.

Every extension the export writes is declared once in EXTENSIONS; the exporter takes its url
from here and the Bundle carries a StructureDefinition for each, so a validator or a consumer
can resolve what `hgl-role` means.  Extensions that change the meaning of what they sit on
(`hgl-role`, `hgl-condition`) are modifier extensions: a consumer that does not understand them
must not act on the element, instead of reading an "avoid" as an offer.
"""

from __future__ import annotations

from dataclasses import dataclass

FHIR_VERSION = "4.0.1"
EXTENSION_BASE = "http://hl7.org/fhir/StructureDefinition/Extension"
# HL7 Clinical Practice Guidelines IG (STU1, on R4): profile and knowledge-artifact metadata
CPG = "http://hl7.org/fhir/uv/cpg/StructureDefinition/"
CPG_SHAREABLE_PLAN = CPG + "cpg-shareableplandefinition"
CPG_CAPABILITY = CPG + "cpg-knowledgeCapability"
CPG_LEVEL = CPG + "cpg-knowledgeRepresentationLevel"
# core R4 shareable profiles of the other knowledge artifacts
SHAREABLE = {
    "PlanDefinition": CPG_SHAREABLE_PLAN,
    "Library": "http://hl7.org/fhir/StructureDefinition/shareablelibrary",
    "ActivityDefinition": "http://hl7.org/fhir/StructureDefinition/shareableactivitydefinition",
}
# computable: HGL conditions are machine-readable; not executable: a FHIR engine cannot run HGL
CAPABILITIES = ("shareable", "computable")
REPRESENTATION_LEVEL = "structured"

ROLES = ("preferred", "alternative", "avoid", "demote", "drop", "flag", "request", "withhold")


@dataclass(frozen=True)
class Part:
    """One part of a complex extension."""

    name: str
    value_type: str
    definition: str


@dataclass(frozen=True)
class Ext:
    """One HGL extension: id (the url's last segment), where it sits, its value, and why it is a modifier."""

    id: str
    title: str
    definition: str
    context: tuple[str, ...]
    value_type: str | None = None  # None: complex, see parts
    parts: tuple[Part, ...] = ()
    modifier_reason: str | None = None
    max: str = "1"


EXTENSIONS: tuple[Ext, ...] = (
    Ext("hgl-role", "HGL role of an outcome",
        "The role an outcome of a rule gives: preferred, alternative, avoid, demote (preferred becomes "
        "alternative), drop (not shown), flag, request (data asked for), withhold (no option shown).",
        ("PlanDefinition.action",), "code",
        modifier_reason="The role decides whether the action is offered (preferred, alternative), not to be "
                        "done (avoid), shown lower (demote) or removed (drop): read without it, an action to avoid "
                        "or drop would look like one to offer."),
    Ext("hgl-condition", "HGL condition",
        "The condition under which the action applies, as canonical HGL text (the .hgl language, carried in "
        "the Library). The same condition in words is the action's textEquivalent.",
        ("PlanDefinition.action.condition",), "string",
        modifier_reason="The condition restricts when the action applies; a consumer that cannot evaluate HGL "
                        "must not treat the action as unconditional."),
    Ext("hgl-provenance", "HGL provenance tag",
        "Where a section or rule comes from: a provenance tag of the guideline and whether it must be checked "
        "against the source (caution).", ("PlanDefinition.action",),
        parts=(Part("tag", "Coding", "The provenance tag, its meaning as display."),
               Part("caution", "boolean", "True when the tag says the content must be checked against the source.")),
        max="*"),
    Ext("hgl-selector", "HGL option selector",
        "The options a restriction applies to, as HGL text (for example 'every option containing t_dxd').",
        ("PlanDefinition.action",), "string"),
    Ext("hgl-requests-input", "HGL input requested",
        "The input a request action asks for.", ("PlanDefinition.action",), "code"),
    Ext("hgl-drug", "HGL drug of an option",
        "One drug of an option: the guideline's vocabulary code, with ATC and RxNorm codings where they "
        "are known.", ("ActivityDefinition",), "CodeableConcept", max="*"),
    Ext("hgl-input-kind", "HGL input or parameter",
        "Whether a Library parameter is a case input or a policy parameter of the guideline.",
        ("ParameterDefinition",), "code"),
    Ext("hgl-unit", "HGL unit", "The unit of a numeric input, as written in the guideline.",
        ("ParameterDefinition",), "string"),
    Ext("hgl-default", "HGL default",
        "The default of an input or parameter as HGL text: the value assumed when the case does not give it.",
        ("ParameterDefinition",), "string"),
)
BY_ID = {e.id: e for e in EXTENSIONS}


def extension_url(base: str, ext_id: str) -> str:
    """The canonical url of an HGL extension: [base]/StructureDefinition/[id]."""
    if ext_id not in BY_ID:
        raise KeyError(ext_id)
    return f"{base}/StructureDefinition/{ext_id}"


def _name(ext_id: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in ext_id.split("-"))


def structure_definition(e: Ext, base: str, version: str, status: str, publisher: str | None) -> dict:
    """The R4 StructureDefinition (differential) of one extension."""
    url = extension_url(base, e.id)
    root = {"id": "Extension", "path": "Extension", "short": e.title, "definition": e.definition,
            "min": 0, "max": e.max}
    if e.modifier_reason:
        root["isModifier"] = True
        root["isModifierReason"] = e.modifier_reason
    elements = [root]
    if e.parts:
        for part in e.parts:
            sid = f"Extension.extension:{part.name}"
            elements += [
                {"id": sid, "path": "Extension.extension", "sliceName": part.name, "short": part.definition,
                 "definition": part.definition, "min": 1, "max": "1"},
                {"id": sid + ".url", "path": "Extension.extension.url", "fixedUri": part.name},
                {"id": sid + ".value[x]", "path": "Extension.extension.value[x]", "min": 1,
                 "type": [{"code": part.value_type}]},
            ]
        elements += [{"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
                     {"id": "Extension.value[x]", "path": "Extension.value[x]", "max": "0"}]
    else:
        elements += [{"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                     {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
                     {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1,
                      "type": [{"code": e.value_type}]}]
    sd = {"resourceType": "StructureDefinition", "id": e.id, "url": url}
    if version:
        sd["version"] = version
    sd.update({"name": _name(e.id), "title": e.title, "status": status})
    if publisher:
        sd["publisher"] = publisher
    sd.update({"description": e.definition, "fhirVersion": FHIR_VERSION, "kind": "complex-type",
               "abstract": False, "context": [{"type": "element", "expression": c} for c in e.context],
               "type": "Extension", "baseDefinition": EXTENSION_BASE, "derivation": "constraint",
               "differential": {"element": elements}})
    return sd


def structure_definitions(base: str, version: str, status: str, publisher: str | None) -> list[dict]:
    return [structure_definition(e, base, version, status, publisher) for e in EXTENSIONS]


def knowledge_metadata() -> list[dict]:
    """The CPG knowledge-capability and representation-level extensions of a knowledge artifact."""
    return ([{"url": CPG_CAPABILITY, "valueCode": c} for c in CAPABILITIES]
            + [{"url": CPG_LEVEL, "valueCode": REPRESENTATION_LEVEL}])
