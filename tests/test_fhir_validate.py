"""The FHIR export against third-party validators: the official R4 JSON schema and the fhir.resources models.

tests/data/fhir.schema.json is HL7's R4 (4.0.1) JSON schema (origin: tests/data/fhir.schema.origin.md),
checked with jsonschema.  fhir.resources has no R4 models in a release that runs with pydantic 2
(6.4.0, the last with R4 4.0.1, needs pydantic 1), so its R4B (4.3.0) models are used: for the
resources exported here R4B adds elements but removes none the export uses.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from hgl.compiler.fhir import export as fhir
from hgl.compiler.pipeline import compile_file, compile_source
from hgl.compiler.front.source import Source

from .conftest import GUIDELINE, ROOT

SMALL = ROOT / "tests" / "data" / "small.hgl"
SCHEMA = ROOT / "tests" / "data" / "fhir.schema.json"


@pytest.fixture(scope="module")
def schema():
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=["her2_mbc", "small"])
def bundle(request):
    if request.param == "her2_mbc":
        return fhir.export_bundle(compile_file(GUIDELINE))
    return fhir.export_bundle(compile_file(SMALL))


def _schema_errors(schema, instance, definition=None):
    target = schema if definition is None else {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    v = jsonschema.Draft6Validator(target)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in v.iter_errors(instance)]


def test_schema_is_the_official_r4_one(schema):
    assert schema["id"] == "http://hl7.org/fhir/json-schema/4.0"
    assert schema["definitions"]["Expression"]["properties"]["language"]["enum"] == [
        "text/cql", "text/fhirpath", "application/x-fhir-query"]
    resources = [d for d in schema["definitions"].values() if "resourceType" in d.get("properties", {})]
    assert len(resources) > 140 and all(d["additionalProperties"] is False for d in resources)


def test_bundle_passes_the_r4_json_schema(schema, bundle):
    assert _schema_errors(schema, bundle) == []


def test_bundle_passes_fhir_resources_r4b_models(bundle):
    import fhir.resources.R4B as r4b
    from fhir.resources.R4B import get_fhir_model_class

    assert r4b.__fhir_version__ == "4.3.0"
    model = get_fhir_model_class("Bundle").model_validate(bundle)
    # nothing dropped or added on the way through the models
    assert json.loads(model.model_dump_json(exclude_none=True)) == bundle


@pytest.mark.parametrize("mutate, fragment", [
    # what the export used to write: HGL is not an R4 expression language
    (lambda pd: pd["action"][0]["action"][0].__setitem__(
        "condition", [{"kind": "applicability", "expression": {"language": "text/hgl", "expression": "x"}}]),
     "is not one of"),
    (lambda pd: pd.__setitem__("priority", "preferred"), "Additional properties"),
    (lambda pd: pd["action"][0].__setitem__("modifierExtension", [{"url": "x", "valueCode": 3}]), "not of type"),
])
def test_the_schema_catches_what_it_should(schema, mutate, fragment):
    """The validation is not vacuous: the export's former mistakes and plain errors are reported."""
    pd = json.loads(json.dumps(fhir.export_bundle(compile_file(SMALL))["entry"][0]["resource"]))
    mutate(pd)
    errors = _schema_errors(schema, pd, "PlanDefinition")
    assert any(fragment in e for e in errors), errors


def test_fhir_resources_catches_an_unknown_element():
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    b = fhir.export_bundle(compile_source(Source("small.hgl", SMALL.read_text(encoding="utf-8"))))
    b["entry"][0]["resource"]["action"][0]["role"] = "preferred"
    with pytest.raises(ValidationError):
        get_fhir_model_class("Bundle").model_validate(b)
