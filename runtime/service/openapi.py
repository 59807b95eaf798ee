"""The OpenAPI 3.1 document of a running service: its paths, with each guideline's case schema inline."""

from __future__ import annotations

ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "message": {"type": "string"},
    "fields": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {
        "field": {"type": "string"}, "message": {"type": "string"}, "hint": {"type": "string"}}}}}}
PARAMS = {"type": "object", "description": "the guideline's parameters by name"}
RESULT = {"type": "object", "required": ["guideline", "status", "options", "flags", "missing"], "properties": {
    "status": {"enum": ["recommendation", "needs_data", "inconsistent_data"]},
    "options": {"type": "array"}, "flags": {"type": "array"}, "missing": {"type": "array"}}}
CARD = {"type": "object", "required": ["uuid", "summary", "indicator", "source"], "properties": {
    "uuid": {"type": "string"}, "summary": {"type": "string", "maxLength": 140},
    "indicator": {"enum": ["info", "warning", "critical"]}, "detail": {"type": "string"},
    "source": {"type": "object", "required": ["label"]}, "suggestions": {"type": "array"},
    "overrideReasons": {"type": "array"}, "links": {"type": "array"}}}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes) -> dict:
    words = {400: "not strict JSON, or not the expected object", 401: "no valid JWT of a trusted CDS client",
             404: "no such guideline or service", 408: "the body did not arrive in time",
             411: "no Content-Length", 412: "the FHIR data could not be had",
             413: "the body or the batch is too large", 415: "not application/json",
             422: "the case or a parameter is invalid for the guideline",
             503: "overloaded, or the request needed more than its seconds of work"}
    return {str(c): {"description": words[c], **_json(ERROR)} for c in codes}


def _post(summary: str, body: dict, ok: dict, *codes) -> dict:
    return {"post": {"summary": summary, "requestBody": {"required": True, **_json(body)},
                     "responses": {"200": {"description": "the answer", **_json(ok)},
                                   **_errors(400, 408, 411, 413, 415, 503, *codes)}}}


def document(service) -> dict:
    """The document: generic paths, then each guideline's evaluate paths with its case schema."""
    paths = {
        "/health": {"get": {"summary": "the service is up", "responses": {"200": {"description": "up", **_json(
            {"type": "object", "required": ["status", "guidelines"]})}}}},
        "/guidelines": {"get": {"summary": "the guidelines served", "responses": {"200": {
            "description": "id, version, sha256, title of each", **_json({"type": "object"})}}}},
        "/cds-services": {"get": {"summary": "CDS Hooks discovery", "responses": {"200": {
            "description": "the services", **_json({"type": "object", "required": ["services"]})}}}},
    }
    for gid, g in service.guidelines.items():
        case = dict(g.schema())
        case.pop("$schema", None)
        base = f"/guidelines/{gid}"
        paths[base] = {"get": {"summary": f"{gid}: id, version, sha256, title",
                               "responses": {"200": {"description": "the guideline", **_json({"type": "object"})}}}}
        paths[base + "/schema"] = {"get": {"summary": f"{gid}: the JSON Schema of a case",
                                           "responses": {"200": {"description": "a JSON Schema",
                                                                 **_json({"type": "object"})}}}}
        paths[base + "/evaluate"] = _post(
            f"{gid}: evaluate one case",
            {"type": "object", "required": ["case"], "additionalProperties": False, "properties": {
                "case": case, "params": PARAMS, "trace": {"type": "boolean"},
                "why_not": {"type": "array", "items": {"enum": list(g.module.OPTIONS)}}}},
            RESULT, 422)
        paths[base + "/evaluate-batch"] = _post(
            f"{gid}: evaluate cases in order",
            {"type": "object", "required": ["cases"], "additionalProperties": False, "properties": {
                "cases": {"type": "array", "items": case, "maxItems": service.settings.max_batch},
                "params": PARAMS}},
            {"type": "object", "required": ["guideline", "results"]}, 422)
    for sid, s in service.cds.services.items():
        context = {"type": "object", "required": ["patientId"] + (["selections", "draftOrders"]
                                                                   if s.hook == "order-select" else []),
                   "properties": {"patientId": {"type": "string"}, "userId": {"type": "string"},
                                  "hglCase": {"type": "object"}, "hglParams": PARAMS}}
        if s.hook == "order-select":
            context["properties"].update({"selections": {"type": "array", "items": {"type": "string"}},
                                          "draftOrders": {"type": "object", "required": ["resourceType"]}})
        request = {"type": "object", "required": ["hook", "hookInstance", "context"], "properties": {
            "hook": {"const": s.hook}, "hookInstance": {"type": "string", "minLength": 1},
            "fhirServer": {"type": "string", "format": "uri"}, "context": context,
            "fhirAuthorization": {"type": "object"}, "prefetch": {"type": "object"}}}
        paths[f"/cds-services/{sid}"] = _post(f"CDS Hooks {s.hook}: {s.guideline.id}", request, {
            "type": "object", "required": ["cards"], "properties": {"cards": {"type": "array", "items": CARD}}},
            401, 412)
        paths[f"/cds-services/{sid}/feedback"] = _post(f"CDS Hooks feedback: {sid}", {
            "type": "object", "required": ["feedback"], "properties": {"feedback": {
                "type": "array", "minItems": 1, "items": {"type": "object", "required": ["card", "outcome"],
                "properties": {"card": {"type": "string"}, "outcome": {"enum": ["accepted", "overridden"]}}}}}},
            {"type": "object"}, 401)
    return {"openapi": "3.1.0",
            "info": {"title": "HGL guideline service", "version": "1",
                     "description": "Guidelines as code: evaluate cases, CDS Hooks 2.0. Decision support, "
                                    "not a medical device."},
            "paths": paths}
