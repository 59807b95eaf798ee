"""CDS Hooks 2.0 end to end against a real `hgl serve`: FHIR prefetch or fhirServer -> case -> cards.

Synthetic FHIR patients are built here (Synthea-style Bundles); the service checks each
request's JWT (ES384, a JWKS file of a trusted issuer), answers browsers of the configured
origin (CORS), reads missing prefetch from a FHIR server run in the test, and takes feedback.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from hgl.runtime import fhirin
from hgl.runtime.casefile import load_case_file, merged_case
from hgl.runtime.service import Running, Settings, make_app
from hgl.runtime.service.auth import Issuer
from hgl.runtime.service.cards import OVERRIDE_SYSTEM

from .conftest import GUIDELINE, ROOT

ISS = "https://ehr.example.org"
SANDBOX = "https://sandbox.cds-hooks.org"
SITE = "https://hgl.example.org/site/"
TOKEN = "fhir-access-token"
LOINC, SNOMED, RXNORM, ATC = "http://loinc.org", "http://snomed.info/sct", \
    "http://www.nlm.nih.gov/research/umls/rxnorm", "http://www.whocc.no/atc"
POS = {"coding": [{"system": LOINC, "code": "LA6576-8", "display": "Positive"}]}
NEG = {"coding": [{"system": LOINC, "code": "LA6577-6", "display": "Negative"}]}


# ---------------------------------------------------------------- a synthetic patient


def _ago(months: int) -> str:
    return (dt.date.today() - dt.timedelta(days=round(months * 30.4375))).isoformat()


def _obs(i, loinc, when, **value):
    return {"resourceType": "Observation", "id": f"obs-{i}", "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": LOINC, "code": loinc}]}, "effectiveDateTime": when, **value}


def _med(i, rxnorm, status, when):
    return {"resourceType": "MedicationStatement", "id": f"med-{i}", "status": status,
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": when,
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxnorm}]}}


def patient_resources() -> dict[str, list[dict]]:
    """The second-line scenario as FHIR: 58 years old, HER2-positive primary, ER and PR negative,
    metastatic 16 months ago, ECOG 1, on trastuzumab + pertuzumab + paclitaxel."""
    birth = dt.date.today().replace(year=dt.date.today().year - 58) - dt.timedelta(days=30)
    return {
        "patient": [{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": birth.isoformat()}],
        "conditions": [{"resourceType": "Condition", "id": "cond-1", "subject": {"reference": "Patient/p1"},
                        "code": {"coding": [{"system": SNOMED, "code": "94381002"}]}, "onsetDateTime": _ago(16)}],
        "observations": [
            _obs(1, "48676-1", _ago(40), valueCodeableConcept=POS),
            _obs(2, "85337-4", _ago(40), valueCodeableConcept=NEG),
            _obs(3, "85339-0", _ago(40), valueCodeableConcept=NEG),
            _obs(4, "89247-1", _ago(1), valueInteger=1)],
        "medicationStatements": [_med(1, "224905", "active", _ago(15)), _med(2, "1298944", "active", _ago(15)),
                                 _med(3, "56946", "active", _ago(15))],
    }


def bundle(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in resources]}


def prefetch_for(templates: dict) -> dict:
    data = patient_resources()
    return {k: (data["patient"][0] if k == "patient" else bundle(data.get(k, []))) for k in templates}


@pytest.fixture(scope="module")
def clinician_entered():
    """What FHIR does not carry, from the example case: the clinician enters it (context.hglCase)."""
    import yaml

    case = yaml.safe_load((ROOT / "guidelines" / "examples" / "second_line.yaml").read_text())
    derived, _ = fhirin.case_from_fhir(her2_fhir_guideline(), [r for rs in patient_resources().values() for r in rs])
    return {k: v for k, v in case.items() if k not in derived}


_G = {}


def her2_fhir_guideline():
    if "g" not in _G:
        _G["g"] = fhirin.load(GUIDELINE)
    return _G["g"]


# ---------------------------------------------------------------- servers and tokens


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    key = ec.generate_private_key(ec.SECP384R1())
    other = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "ES384"}]}))
    return {"key": key, "other": other, "jwks": path}


@pytest.fixture(scope="module")
def fhir_server():
    """A FHIR server with the one patient: searches by type, reads by id; it wants the access token."""
    data = patient_resources()
    seen = []

    async def search(request):
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"resourceType": "OperationOutcome"}, 401)
        rtype = request.path_params["rtype"]
        if "/" in rtype:
            return JSONResponse(data["patient"][0])
        key = {"Observation": "observations", "Condition": "conditions"}.get(rtype, rtype[0].lower() + rtype[1:] + "s")
        return JSONResponse(bundle(data.get(key, [])))

    srv = Running(Starlette(routes=[Route("/fhir/{rtype:path}", search)]))
    srv.seen = seen
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def server(keys, fhir_server):
    app = make_app([her2_fhir_guideline()], Settings(
        quiet=True, trusted=(Issuer(ISS, str(keys["jwks"])),), cors_origins=(SANDBOX,), site_url=SITE,
        fhir_servers=(fhir_server.url,)))
    srv = Running(app)
    yield srv
    srv.stop()


def token(server, sid, key=None, **claims) -> str:
    now = int(time.time())
    body = {"iss": ISS, "sub": "client-1", "aud": f"{server.url}/cds-services/{sid}", "iat": now, "exp": now + 60,
            "jti": str(uuid.uuid4()), **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm="ES384", headers={"kid": "k1"})


def hook(server, keys, sid, body, *, auth=True, **headers):
    h = {"Content-Type": "application/json", **headers}
    if auth:
        h["Authorization"] = "Bearer " + token(server, sid, keys["key"])
    return httpx.post(f"{server.url}/cds-services/{sid}", content=json.dumps(body), headers=h, timeout=30)


def sandbox_request(hook_name="patient-view", **extra) -> dict:
    """The shape of a request from the public CDS Hooks sandbox (hookInstance, fhirServer, context, prefetch)."""
    return {"hookInstance": str(uuid.uuid4()), "hook": hook_name, "fhirServer": "https://launch.smarthealthit.org/v/r4/fhir",
            "context": {"userId": "Practitioner/COREPRACTITIONER1", "patientId": "p1"}, **extra} \
        if extra.get("fhirServer", "") is not None else \
        {"hookInstance": str(uuid.uuid4()), "hook": hook_name, "context": {"patientId": "p1"}}


def kinds(cards):
    return [(c["extension"]["hgl"]["kind"], c["extension"]["hgl"].get("option") or c["extension"]["hgl"].get("flag"))
            for c in cards]


# ---------------------------------------------------------------- discovery


def test_discovery_has_the_prefetch_of_the_bindings(server):
    services = httpx.get(server.url + "/cds-services").json()["services"]
    templates = fhirin.prefetch_templates(her2_fhir_guideline())
    assert [(s["id"], s["hook"]) for s in services] == [("her2_mbc", "patient-view"),
                                                         ("her2_mbc-order-select", "order-select")]
    for s in services:
        assert s["prefetch"] == templates and "{{context.patientId}}" in s["prefetch"]["patient"]


# ---------------------------------------------------------------- patient-view


def test_patient_view_from_the_sandbox_prefetch(server, keys, clinician_entered):
    """The sandbox's request shape, prefetch filled, the rest clinician-entered: T-DXd preferred, linked."""
    templates = fhirin.prefetch_templates(her2_fhir_guideline())
    body = sandbox_request(prefetch=prefetch_for(templates))
    body["context"]["hglCase"] = clinician_entered
    r = hook(server, keys, "her2_mbc", body, Origin=SANDBOX)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == SANDBOX
    cards = r.json()["cards"]
    first = cards[0]["extension"]["hgl"]
    assert (first["kind"], first["option"], first["role"]) == ("option", "t_dxd", "preferred")
    rule = first["rule"]
    section = next(x.section for x in her2_fhir_guideline().module.RULES if x.id == rule)
    assert cards[0]["links"] == [{"label": cards[0]["links"][0]["label"], "type": "absolute",
                                  "url": f"{SITE}her2_mbc/sections/{section}.html#rule-{rule}"}]


def test_patient_view_from_fhir_alone_asks_for_the_rest(server, keys):
    templates = fhirin.prefetch_templates(her2_fhir_guideline())
    r = hook(server, keys, "her2_mbc", sandbox_request(prefetch=prefetch_for(templates)))
    card = r.json()["cards"][0]
    assert card["extension"]["hgl"]["kind"] == "needs_data"
    assert "not found in the FHIR data" in card["detail"] and "Values read from the FHIR data" in card["detail"]
    assert "hr\\_status" in card["detail"] and "Observation/obs-2" in card["detail"]  # derived, with its source


def test_missing_prefetch_is_read_from_the_fhir_server_with_the_token(server, keys, fhir_server, clinician_entered):
    body = sandbox_request(fhirServer=fhir_server.url + "/fhir",
                           fhirAuthorization={"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                              "scope": "patient/*.read", "subject": "hgl"})
    body["context"]["hglCase"] = clinician_entered
    fhir_server.seen.clear()
    r = hook(server, keys, "her2_mbc", body)
    assert r.status_code == 200 and r.json()["cards"][0]["extension"]["hgl"]["option"] == "t_dxd"
    assert {a for _, a in fhir_server.seen} == {f"Bearer {TOKEN}"}
    assert "/fhir/Patient/p1" in {p for p, _ in fhir_server.seen}


@pytest.mark.parametrize("change, status", [
    ({"fhirAuthorization": {"access_token": "wrong"}}, 412),          # the FHIR server refuses
    ({"fhirServer": "https://elsewhere.example.org/fhir"}, 412),       # not an allowed fhirServer
    ({"fhirServer": None}, 412),                                       # no prefetch, nowhere to read it
])
def test_fhir_data_that_cannot_be_had_is_412(server, keys, fhir_server, change, status):
    body = sandbox_request(fhirServer=fhir_server.url + "/fhir", fhirAuthorization={"access_token": TOKEN})
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    r = hook(server, keys, "her2_mbc", body)
    assert (r.status_code, r.json()["error"]) == (status, "precondition_failed")


# ---------------------------------------------------------------- order-select


def _order(rid, concept):
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": concept}


def _order_select(selected, drafted, case):
    return {"hook": "order-select", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": "p1", "hglCase": case,
                        "selections": [f"MedicationRequest/{s}" for s in selected],
                        "draftOrders": bundle(drafted)}}


@pytest.fixture(scope="module")
def guideline_cases(her2):
    base, cases = load_case_file(ROOT / "guidelines" / "her2_mbc.cases.yaml")
    return {c["id"]: (merged_case(base, c), c.get("params") or {}) for c in cases}


def test_order_of_the_preferred_drug_is_an_info_card(server, keys, clinician_entered):
    case = {**fhirin.case_from_fhir(her2_fhir_guideline(), [r for rs in patient_resources().values() for r in rs])[0],
            **clinician_entered}
    tdxd = _order("o1", {"coding": [{"system": ATC, "code": "L01FD04"}], "text": "Enhertu"})
    cards = hook(server, keys, "her2_mbc-order-select", _order_select(["o1"], [tdxd], case)).json()["cards"]
    assert len(cards) == 1 and cards[0]["indicator"] == "info"
    assert (cards[0]["extension"]["hgl"]["role"], "suggestions" in cards[0]) == ("preferred", False)

    tdm1 = _order("o2", {"coding": [{"system": RXNORM, "code": "1371041"}]})
    card = hook(server, keys, "her2_mbc-order-select", _order_select(["o2"], [tdm1], case)).json()["cards"][0]
    assert (card["indicator"], card["extension"]["hgl"]["role"]) == ("info", "alternative")
    assert card["selectionBehavior"] == "at-most-one"
    actions = card["suggestions"][0]["actions"]
    assert actions[0] == {"type": "delete", "description": "Remove the drafted order", "resourceId": ["MedicationRequest/o2"]}
    created = actions[1]["resource"]
    assert created["resourceType"] == "MedicationRequest" and created["subject"] == {"reference": "Patient/p1"}
    assert {"system": ATC, "code": "L01FD04"} in created["medicationCodeableConcept"]["coding"]


def test_order_of_an_avoided_regimen_is_a_warning_with_override_reasons(server, keys, her2, guideline_cases):
    case_id, (case, params) = next((k, c) for k, c in guideline_cases.items()
                                   if "hp_vinorelbine" in her2.evaluate(*c).avoid)
    drafted = [_order("t", {"coding": [{"system": RXNORM, "code": "224905"}]}),
               _order("p", {"coding": [{"system": RXNORM, "code": "1298944"}]}),
               _order("v", {"coding": [{"system": RXNORM, "code": "39541"}]})]
    request = _order_select(["v"], drafted, case)
    request["context"]["hglParams"] = params
    cards = hook(server, keys, "her2_mbc-order-select", request).json()["cards"]
    assert len(cards) == 1, case_id
    card = cards[0]
    assert (card["indicator"], card["extension"]["hgl"]["option"], card["extension"]["hgl"]["role"]) \
        == ("warning", "hp_vinorelbine", "avoid")
    assert {r["system"] for r in card["overrideReasons"]} == {OVERRIDE_SYSTEM}
    assert card["summary"].startswith("The guideline advises against")


def test_order_of_an_unrelated_drug_gives_no_card(server, keys, clinician_entered):
    paracetamol = _order("x", {"coding": [{"system": RXNORM, "code": "161"}], "text": "acetaminophen"})
    r = hook(server, keys, "her2_mbc-order-select", _order_select(["x"], [paracetamol], clinician_entered))
    assert (r.status_code, r.json()) == (200, {"cards": []})


# ---------------------------------------------------------------- JWT


@pytest.mark.parametrize("what", ["none", "garbage", "issuer", "aud", "expired", "too_long", "no_jti", "other_key",
                                  "hs256"])
def test_bad_tokens_are_401(server, keys, what):
    sid = "her2_mbc"
    now = int(time.time())
    tokens = {
        "none": None,
        "garbage": "not.a.jwt",
        "issuer": token(server, sid, keys["key"], iss="https://evil.example.org"),
        "aud": token(server, sid, keys["key"], aud="https://other.example.org/cds-services/her2_mbc"),
        "expired": token(server, sid, keys["key"], iat=now - 600, exp=now - 300),
        "too_long": token(server, sid, keys["key"], exp=now + 3600),
        "no_jti": token(server, sid, keys["key"], jti=None),
        "other_key": token(server, sid, keys["other"]),
        "hs256": jwt.encode({"iss": ISS, "aud": f"{server.url}/cds-services/{sid}", "exp": now + 60, "iat": now,
                             "jti": "j"}, "a-shared-secret-anyone-could-know-0123456789", algorithm="HS256", headers={"kid": "k1"}),
    }
    headers = {"Content-Type": "application/json"}
    if tokens[what]:
        headers["Authorization"] = "Bearer " + tokens[what]
    r = httpx.post(f"{server.url}/cds-services/{sid}", headers=headers,
                   content=json.dumps(sandbox_request(prefetch={})))
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_replayed_token_is_401(server, keys, clinician_entered):
    t = token(server, "her2_mbc", keys["key"])
    body = json.dumps({**sandbox_request(fhirServer=None), "context": {"patientId": "p1", "hglCase": clinician_entered}})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + t}
    first = httpx.post(f"{server.url}/cds-services/her2_mbc", headers=headers, content=body)
    again = httpx.post(f"{server.url}/cds-services/her2_mbc", headers=headers, content=body)
    assert first.status_code == 200 and (again.status_code, again.json()["message"]) \
        == (401, "the token was used before (jti replay)")


# ---------------------------------------------------------------- CORS and feedback


@pytest.mark.parametrize("origin, method, status", [
    (SANDBOX, "POST", 204), ("https://evil.example.org", "POST", 403), (SANDBOX, "DELETE", 403)])
def test_preflight(server, origin, method, status):
    r = httpx.options(f"{server.url}/cds-services/her2_mbc", headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == status
    if status == 204:
        assert r.headers["access-control-allow-origin"] == SANDBOX
        assert "authorization" in r.headers["access-control-allow-headers"]
    else:
        assert r.json()["error"] == "cors_refused" and "access-control-allow-origin" not in r.headers


def test_discovery_from_a_browser_and_no_cors_for_others(server):
    assert httpx.get(server.url + "/cds-services", headers={"Origin": SANDBOX}).headers[
        "access-control-allow-origin"] == SANDBOX
    assert "access-control-allow-origin" not in httpx.get(server.url + "/cds-services",
                                                          headers={"Origin": "https://evil.example.org"}).headers


def test_feedback(server, keys):
    case = __import__("yaml").safe_load((ROOT / "guidelines" / "examples" / "second_line.yaml").read_text())
    body = {**sandbox_request(fhirServer=None), "context": {"patientId": "p1", "hglCase": case}}
    card = hook(server, keys, "her2_mbc", body).json()["cards"][0]
    fb = {"feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-01-01T00:00:00Z",
                        "overrideReason": {"reason": {"system": OVERRIDE_SYSTEM, "code": "patient-preference"},
                                           "userComment": "free text, not kept"}}]}
    r = hook(server, keys, "her2_mbc/feedback", fb)
    assert (r.status_code, r.json()) == (200, {})
    kept = server.app.state.service.cds.feedback[-1]
    assert kept == {"service": "her2_mbc", "card": card["uuid"], "outcome": "overridden",
                    "rule": card["extension"]["hgl"]["rule"], "known_card": True,
                    "override_reason": "patient-preference", "accepted_suggestions": 0}
    assert hook(server, keys, "her2_mbc/feedback", {"feedback": [{"card": "x"}]}).status_code == 400
    assert hook(server, keys, "her2_mbc/feedback", fb, auth=False).status_code == 401
