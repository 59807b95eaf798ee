"""FHIR export (compiler/fhir/export.py): the Bundle's shape, references, roles, determinism, hostile text, the CLI.

The R4 shape is checked by hand here (required fields, id and name patterns, every canonical
resolved inside the Bundle, roles and conditions in modifier extensions); tests/test_fhir_validate.py
validates the Bundle against the official R4 JSON schema and the fhir.resources models.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from hgl.compiler.fhir import export as fhir
from hgl.compiler.fhir import profiles
from hgl.compiler.cli import main
from hgl.compiler.explain.unparse import unparse
from hgl.compiler.pipeline import compile_file, compile_source
from hgl.compiler.front.source import Source

from .conftest import GUIDELINE, ROOT

SMALL = ROOT / "tests" / "data" / "small.hgl"
GOLDEN = ROOT / "tests" / "golden" / "fhir" / "small.fhir.json"
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
NAME_RE = re.compile(r"^[A-Z]([A-Za-z0-9_]){0,254}$")
RESOURCE_REQUIRED = {  # R4 1..1 elements (and the ones this export promises)
    "PlanDefinition": ("id", "url", "version", "name", "title", "status", "type", "date", "publisher",
                       "description", "usage", "relatedArtifact", "library", "action"),
    "Library": ("id", "url", "version", "name", "title", "status", "type", "identifier", "parameter", "content"),
    "ActivityDefinition": ("id", "url", "version", "name", "title", "status", "kind", "code"),
    "StructureDefinition": ("id", "url", "version", "name", "title", "status", "fhirVersion", "kind", "abstract",
                            "context", "type", "baseDefinition", "derivation", "differential"),
}
ACTION_KEYS = {"id", "title", "description", "extension", "modifierExtension", "textEquivalent", "code",
               "documentation", "condition", "groupingBehavior", "definitionCanonical", "action"}
BASE = fhir.CANONICAL_BASE


def _ext(ext_id):
    return profiles.extension_url(BASE, ext_id)


def _role_of(action):
    return next((x["valueCode"] for x in action.get("modifierExtension", []) if x["url"] == _ext("hgl-role")), None)
ARTIFACT_TYPES = {"documentation", "justification", "citation", "predecessor", "successor",
                  "derived-from", "depends-on", "composed-of"}


def _bundle(path):
    return fhir.export_bundle(compile_file(path))


@pytest.fixture(scope="module", params=[GUIDELINE, SMALL], ids=["her2_mbc", "small"])
def case(request):
    result = compile_file(request.param)
    return result, fhir.export_bundle(result)


def _resources(bundle, kind=None):
    return [e["resource"] for e in bundle["entry"] if kind is None or e["resource"]["resourceType"] == kind]


def _actions(actions):
    for a in actions:
        yield a
        yield from _actions(a.get("action", []))


def _rule_actions(plan):
    out = {}
    for a in _actions(plan["action"]):
        for c in a.get("code", []):
            for coding in c["coding"]:
                if coding["system"].endswith(":rule"):
                    out[coding["code"]] = a
    return out


def _no_empty(x, path="$"):
    """FHIR JSON has no empty objects, arrays or strings, and no nulls."""
    assert x not in (None, "", [], {}), path
    if isinstance(x, dict):
        for k, v in x.items():
            _no_empty(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            _no_empty(v, f"{path}[{i}]")


# ---------------------------------------------------------------- structure


def test_bundle_envelope(case):
    _, b = case
    assert b["resourceType"] == "Bundle" and b["type"] == "collection"
    assert ID_RE.match(b["id"])
    full = [e["fullUrl"] for e in b["entry"]]
    assert len(set(full)) == len(full) and all(u.startswith("urn:uuid:") for u in full)
    kinds = [r["resourceType"] for r in _resources(b)]
    assert kinds[:2] == ["PlanDefinition", "Library"] and set(kinds[2:]) == {"ActivityDefinition", "StructureDefinition"}
    assert kinds[-len(profiles.EXTENSIONS):] == ["StructureDefinition"] * len(profiles.EXTENSIONS)
    _no_empty(b)


@pytest.mark.parametrize("kind", sorted(RESOURCE_REQUIRED))
def test_required_fields_ids_and_names(case, kind):
    _, b = case
    resources = _resources(b, kind)
    assert resources
    for r in resources:
        missing = [k for k in RESOURCE_REQUIRED[kind] if k not in r]
        assert not missing, (r["id"], missing)
        assert ID_RE.match(r["id"]) and NAME_RE.match(r["name"]), r["id"]
        assert r["status"] in ("draft", "active", "retired", "unknown")
    ids = [r["id"] for r in _resources(b)]
    urls = [r["url"] for r in _resources(b)]
    assert len(set(ids)) == len(ids) and len(set(urls)) == len(urls)


def test_plan_definition_metadata():
    result = compile_file(GUIDELINE)
    meta = result.guideline.meta
    plan = _resources(fhir.export_bundle(result), "PlanDefinition")[0]
    assert plan["type"]["coding"][0]["code"] == "clinical-protocol"
    assert plan["url"] == BASE + "/PlanDefinition/her2-mbc" and plan["version"] == meta.get("version")
    assert plan["status"] == "draft" and plan["date"] == meta.get("date") == "2024-11-01"
    assert plan["publisher"] == meta.get("panel") and plan["usage"] == meta.get("disclaimer")
    source = plan["relatedArtifact"][0]
    assert source["type"] == "citation" and source["citation"] == meta.get("source")
    assert source["url"] == "https://doi.org/" + meta.get("doi")
    labels = [a["label"] for a in plan["relatedArtifact"][1:]]
    assert labels == [e.name.text for e in result.guideline.evidence]
    for art in plan["relatedArtifact"]:
        assert art["type"] in ARTIFACT_TYPES and art["display"]


def test_every_section_and_rule_has_an_action(case):
    result, b = case
    plan = _resources(b, "PlanDefinition")[0]
    assert [a["title"] for a in plan["action"]] == [s.title or s.name.text for s in result.guideline.sections]
    rules = _rule_actions(plan)
    assert list(rules) == [r.name.text for _, r in result.guideline.rules()]
    for a in _actions(plan["action"]):
        assert set(a) <= ACTION_KEYS, set(a) - ACTION_KEYS
        assert a["title"]


def test_rule_conditions_are_canonical_hgl(case):
    result, b = case
    rules = _rule_actions(_resources(b, "PlanDefinition")[0])
    for _, r in result.guideline.rules():
        act = rules[r.name.text]
        if r.when is None:
            assert "condition" not in act
            continue
        (cond,) = act["condition"]
        assert cond["kind"] == "applicability" and "expression" not in cond  # R4's Expression has no HGL language
        (mod,) = cond["modifierExtension"]  # a consumer that cannot read HGL must not take the action as unconditional
        assert mod == {"url": _ext("hgl-condition"), "valueString": unparse(result.program.rule(r.name.text).when)}
        assert act["textEquivalent"].startswith("Applies when ")  # plain words (labels), besides the HGL text
        assert act.get("description", "") == (r.rationale or "")


def test_every_option_and_flag_has_an_activity_definition(case):
    result, b = case
    ads = {r["code"]["coding"][0]["code"]: r for r in _resources(b, "ActivityDefinition") if not r.get("doNotPerform")}
    for o in result.guideline.options:
        ad = ads[o.name.text]
        # made of drugs: ordered as medication; anything else as a service (kinds are the guideline's own)
        assert ad["kind"] == ("MedicationRequest" if o.drugs or o.stands_for else "ServiceRequest")
        assert ad["title"] == o.label
        drugs = [x["valueCodeableConcept"]["coding"][0]["code"] for x in ad["extension"] if x["url"] == _ext("hgl-drug")]
        assert drugs == [d.text for d in o.drugs]
    for f in result.guideline.flags:
        assert ads[f.name.text]["kind"] == "Task" and ads[f.name.text]["title"] == f.label


def test_references_resolve_inside_the_bundle(case):
    _, b = case
    urls = {r["url"]: r for r in _resources(b)}
    plan = _resources(b, "PlanDefinition")[0]
    assert [urls[u]["resourceType"] for u in plan["library"]] == ["Library"]
    targets = [a["definitionCanonical"] for a in _actions(plan["action"]) if "definitionCanonical" in a]
    assert targets
    for t in targets:
        assert urls[t]["resourceType"] == "ActivityDefinition", t


@pytest.mark.parametrize("rule, expected", [
    ("r_prefer", [("preferred", "opt_a"), ("flag", "discuss"), ("flag", "need_scan"), ("alternative", "opt_b")]),
    ("r_local", [("preferred", "radio"), ("alternative", "keep"), ("avoid", None)]),
    ("r_missing", [("request", "need_scan"), ("withhold", None)]),
    ("r_check", [("demote", "opt_b")]),
])
def test_roles_of_outcomes(rule, expected):
    b = _bundle(SMALL)
    urls = {r["url"]: r for r in _resources(b)}
    plan = _resources(b, "PlanDefinition")[0]
    got = []
    for a in _actions(_rule_actions(plan)[rule].get("action", [])):
        assert not any(x["url"] == _ext("hgl-role") for x in a.get("extension", []))  # never an ignorable extension
        role = _role_of(a)
        if role:
            target = a.get("definitionCanonical")
            got.append((role, urls[target]["code"]["coding"][0]["code"] if target else None))
    assert got == expected


@pytest.mark.parametrize("role, do_not_perform", [
    ("preferred", False), ("alternative", False), ("demote", False), ("avoid", True), ("drop", True),
])
def test_avoided_and_dropped_options_point_at_do_not_perform_definitions(role, do_not_perform):
    """A consumer that follows definitionCanonical reaches an ActivityDefinition whose doNotPerform says it."""
    targets = []
    for path in (GUIDELINE, SMALL):
        b = _bundle(path)
        urls = {r["url"]: r for r in _resources(b)}
        targets += [urls[a["definitionCanonical"]] for a in _actions(_resources(b, "PlanDefinition")[0]["action"])
                    if _role_of(a) == role and "definitionCanonical" in a]
    # both guidelines avoid by selector only: a variant of the small one avoids one option by name
    text = SMALL.read_text(encoding="utf-8").replace("avoid every option containing drug_b", "avoid opt_b")
    b = fhir.export_bundle(compile_source(Source("avoid.hgl", text)))
    urls = {r["url"]: r for r in _resources(b)}
    targets += [urls[a["definitionCanonical"]] for a in _actions(_resources(b, "PlanDefinition")[0]["action"])
                if _role_of(a) == role and "definitionCanonical" in a]
    assert targets
    assert {t.get("doNotPerform", False) for t in targets} <= {do_not_perform}


def test_every_extension_has_a_structure_definition(case):
    _, b = case
    sds = {r["url"]: r for r in _resources(b, "StructureDefinition")}
    used = set()

    def walk(x):
        if isinstance(x, dict):
            for key in ("extension", "modifierExtension"):
                for e in x.get(key, []):
                    if "://" in e["url"]:  # not the parts of a complex extension ("tag", "caution")
                        used.add((e["url"], key))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk([r for r in _resources(b) if r["resourceType"] != "StructureDefinition"])
    ours = {(u, k) for u, k in used if u.startswith(BASE)}
    assert ours and {u for u, _ in ours} <= set(sds)
    for url, key in ours:  # a modifier extension is declared isModifier, an ordinary one is not
        root = sds[url]["differential"]["element"][0]
        assert root.get("isModifier", False) == (key == "modifierExtension"), url
        assert url == f"{BASE}/StructureDefinition/{sds[url]['id']}"
    foreign = {u for u, _ in used} - set(sds)
    assert foreign <= {fhir.EXT_STRENGTH, profiles.CPG_CAPABILITY, profiles.CPG_LEVEL}


def test_cpg_profile_and_knowledge_capability():
    b = _bundle(GUIDELINE)
    for r in _resources(b):
        if r["resourceType"] == "StructureDefinition":
            continue
        assert r["meta"]["profile"] == [profiles.SHAREABLE[r["resourceType"]]]
        caps = sorted(x["valueCode"] for x in r["extension"] if x["url"] == profiles.CPG_CAPABILITY)
        assert caps == ["computable", "shareable"]  # not executable: a FHIR engine cannot run HGL
        for key in ("url", "version", "name", "title", "experimental", "publisher", "description"):
            assert key in r, (r["id"], key)  # what the shareable profiles require


@pytest.mark.parametrize("drug, atc, rxnorm", [
    ("trastuzumab", "L01FD01", "224905"),
    ("pertuzumab", "L01FD02", "1298944"),
    ("t_dm1", "L01FD03", "1371041"),
    ("t_dxd", "L01FD04", "2267582"),
    ("tucatinib", "L01EH03", "2361285"),
    ("taxane", "L01CD", None),       # a class: its ATC group, no single ingredient code
    ("neratinib", "L01EH02", "1940643"),
    ("margetuximab", "L01FD06", None),  # RxNorm ingredient code not found: left uncoded
    ("cyclophosphamide", "L01AA01", "3002"),
    ("endocrine", "L02", None),      # a class: members' RxNorm codes are read, never exported
    ("chemotherapy", None, None),
])
def test_drug_codes_come_from_the_bindings(drug, atc, rxnorm):
    b = fhir.export_bundle(compile_file(GUIDELINE))  # its own bindings: the vocabulary's codes
    concepts = {}
    for r in _resources(b, "ActivityDefinition"):
        for x in r.get("extension", []):
            if x["url"] == _ext("hgl-drug"):
                concepts[x["valueCodeableConcept"]["coding"][0]["code"]] = x["valueCodeableConcept"]
    systems = {c["system"]: c["code"] for c in concepts[drug]["coding"]}
    assert systems.get(fhir.ATC) == atc and systems.get(fhir.RXNORM) == rxnorm
    lib = _resources(b, "Library")[0]
    assert {"Patient", "Observation", "Condition"} <= {d["type"] for d in lib["dataRequirement"]}


def test_nested_outcome_conditions_and_selector():
    result = compile_file(SMALL)
    plan = _resources(fhir.export_bundle(result), "PlanDefinition")[0]
    rules = _rule_actions(plan)
    branches = [a for a in rules["r_prefer"]["action"] if "condition" in a]
    expressions = [b["condition"][0]["modifierExtension"][0]["valueString"] for b in branches]
    assert expressions == ["big", "older", "not big and not older"]
    assert [b["title"] for b in branches][-1] == "Otherwise"
    avoid = rules["r_local"]["action"][-1]
    assert {"url": _ext("hgl-selector"), "valueString": "every option containing drug_b"} in avoid["extension"]
    assert _role_of(avoid) == "avoid"


def test_provenance_strength_and_caution():
    plan = _resources(_bundle(GUIDELINE), "PlanDefinition")[0]
    rules = _rule_actions(plan)
    act = rules["no_her2_status"]
    prov = [x for x in act["extension"] if x["url"] == _ext("hgl-provenance")]
    tags = {p["extension"][0]["valueCoding"]["code"]: p["extension"][1]["valueBoolean"] for p in prov}
    assert tags == {"inference": True}
    strength = next(x for x in act["extension"] if x["url"] == fhir.EXT_STRENGTH)
    assert strength["valueCodeableConcept"]["coding"][0]["code"] == "not_graded"
    section = plan["action"][0]
    assert section["code"][0]["coding"][0]["code"] == "data_checks"
    assert any(x["url"] == _ext("hgl-provenance") for x in section["extension"])


# ---------------------------------------------------------------- library


def test_library_carries_the_source_and_its_hashes():
    result = compile_file(GUIDELINE)
    lib = _resources(fhir.export_bundle(result), "Library")[0]
    (content,) = lib["content"]
    raw = base64.b64decode(content["data"])
    assert raw.decode("utf-8") == result.source.text and content["contentType"] == "text/x-hgl"
    assert content["size"] == len(raw)
    assert base64.b64decode(content["hash"]) == hashlib.sha1(raw).digest()
    assert lib["identifier"] == [{"system": "urn:hgl:source-sha256", "value": hashlib.sha256(raw).hexdigest()}]
    assert lib["type"]["coding"][0]["code"] == "logic-library"


@pytest.mark.parametrize("name, ftype, max_, kind", [
    ("age", "integer", "1", "input"),
    ("size", "decimal", "1", "input"),
    ("status", "code", "1", "input"),
    ("received", "code", "*", "input"),
    ("current", "code", "1", "input"),
    ("fit", "boolean", "1", "input"),
    ("threshold", "decimal", "1", "parameter"),
])
def test_library_parameters(name, ftype, max_, kind):
    lib = _resources(_bundle(SMALL), "Library")[0]
    params = {p["name"]: p for p in lib["parameter"]}
    p = params[name]
    assert (p["use"], p["min"], p["max"], p["type"]) == ("in", 0, max_, ftype)
    assert {"url": _ext("hgl-input-kind"), "valueCode": kind} in p["extension"]


def test_library_lists_every_input_and_parameter(case):
    result, b = case
    lib = _resources(b, "Library")[0]
    g = result.guideline
    assert [p["name"] for p in lib["parameter"]] == [d.name.text for d in (*g.inputs, *g.parameters)]


# ---------------------------------------------------------------- determinism and hostile text


def test_golden_bundle(golden):
    """The whole Bundle of the small guideline, byte for byte (rewrite with --update-golden)."""
    text = fhir.dumps(fhir.export_bundle(compile_source(Source("tests/data/small.hgl", SMALL.read_text("utf-8")))))
    golden.check(GOLDEN, text)


def test_same_input_same_bytes():
    a = fhir.dumps(_bundle(GUIDELINE))
    b = fhir.dumps(fhir.export_bundle(compile_source(Source("elsewhere/her2_mbc.hgl", GUIDELINE.read_text()))))
    assert a == b  # the folder of the source does not leak into the output
    assert a == fhir.dumps(_bundle(GUIDELINE))


HOSTILE = [
    r'<script>alert(\"x\")</script> & &amp;',
    r'back\\slash \"quoted\" {{ jinja }} ${x} `tick`',
    r'line\nbreak\ttab ‮ rtl é 中文 💊',
    r'</div><!-- --> ]]> \\u0000',
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_round_trips_through_json(hostile):
    text = SMALL.read_text(encoding="utf-8")
    text = text.replace('title "Small guideline"', f'title "{hostile}"')
    text = text.replace('rationale "Because A works."', f'rationale "{hostile}"')
    text = text.replace('option opt_a systemic "Option A"', f'option opt_a systemic "{hostile}"')
    result = compile_source(Source("hostile.hgl", text))
    assert result.ok, result.diagnostics
    expected = result.guideline.meta.get("title")
    assert any(c in expected for c in '<"\\\n'), expected  # the parsed title really is hostile
    out = fhir.dumps(fhir.export_bundle(result))
    assert "&lt;" not in out and "&amp;amp;" not in out  # JSON escaping only, never HTML
    back = json.loads(out)
    plan = _resources(back, "PlanDefinition")[0]
    assert plan["title"] == expected
    assert _rule_actions(plan)["r_prefer"]["description"] == expected
    ad = next(r for r in _resources(back, "ActivityDefinition") if r["code"]["coding"][0]["code"] == "opt_a"
              and not r.get("doNotPerform"))
    assert ad["title"] == expected and ad["code"]["coding"][0]["display"] == expected
    assert base64.b64decode(_resources(back, "Library")[0]["content"][0]["data"]).decode() == text


@pytest.mark.parametrize("text, expected", [
    ("her2_mbc", "her2-mbc"),
    ("a.b-c", "a.b-c"),
    ("x" * 64, "x" * 64),
    ("", "x"),
])
def test_fhir_id(text, expected):
    assert fhir.fhir_id(text) == expected


def test_fhir_id_of_long_names_stays_distinct():
    a, b = fhir.fhir_id("y" * 70 + "a"), fhir.fhir_id("y" * 70 + "b")
    assert a != b and ID_RE.match(a) and ID_RE.match(b)


@pytest.mark.parametrize("text, expected", [("her2_mbc", "Her2Mbc"), ("t_dxd", "TDxd"), ("9lives", "G9lives")])
def test_fhir_name(text, expected):
    assert fhir.fhir_name(text) == expected and NAME_RE.match(expected)


@pytest.mark.parametrize("status, expected", [("draft", "draft"), ("final", "active")])
def test_status_mapping(status, expected):
    text = SMALL.read_text(encoding="utf-8").replace("status draft", f"status {status}")
    b = fhir.export_bundle(compile_source(Source("s.hgl", text)))
    assert {r["status"] for r in _resources(b)} == {expected}


def test_guideline_with_errors_is_refused():
    result = compile_file(ROOT / "tests" / "data" / "broken_checks.hgl")
    with pytest.raises(ValueError):
        fhir.export_bundle(result)


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize("target, written", [
    ("out", "out/small.fhir.json"),
    ("out/", "out/small.fhir.json"),
    ("bundle.json", "bundle.json"),
    ("deep/er/b.JSON", "deep/er/b.JSON"),
])
def test_cli_writes_a_file(tmp_path, capsys, target, written):
    rc = main(["export", "--format", "fhir", str(SMALL), "-o", str(tmp_path / target)])
    assert rc == 0
    path = tmp_path / written
    assert path.read_bytes().decode("utf-8") == fhir.dumps(_bundle(SMALL))
    assert str(path) in capsys.readouterr().out


def test_cli_stdout_and_errors(capsys):
    assert main(["export", str(SMALL)]) == 0
    assert json.loads(capsys.readouterr().out)["resourceType"] == "Bundle"
    assert main(["export", str(ROOT / "tests" / "data" / "broken_checks.hgl")]) == 1
    assert "error" in capsys.readouterr().err
