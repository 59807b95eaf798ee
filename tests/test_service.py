"""`hgl serve` (hgl.runtime.service): the JSON API and patient-view cards, by real HTTP requests to uvicorn on a free port."""

from __future__ import annotations

import http.client
import json
import re
import socket
import urllib.error
import urllib.request
import uuid

import markdown
import pytest

from hgl.runtime import load
from hgl.runtime.casefile import load_case_file, merged_case
from hgl.runtime.service import SUMMARY_MAX, Running, Settings, make_app, md, summary

from .conftest import GUIDELINE, ROOT, VIGNETTES

CHOOSER = ROOT / "bench" / "chooser.hgl"
HOSTILE = '<script>alert(1)</script> *bold* [x](javascript:alert) `code` & "q"'

# A guideline whose texts try to be Markdown and HTML: the cards must show them as text.
HOSTILE_HGL = f"""
guideline hostile
  title "Hostile <b>title</b>"
  version "1.0.0"
  status draft
  source "none"
  doi "none"
  panel "none"
  date 2025-01-01
  disclaimer "Test only *not* clinical."
end

provenance p "meaning # [link](http://x.example) <i>"

evidence ev
  trial "TRIAL <img src=x>"
  design "_design_"
  result "| a | b |"
end

option opt_a systemic {json.dumps(HOSTILE)}
option opt_b systemic "- list item"
kind systemic "Systemic therapy"

flag f1 "# heading flag"

input score: number from 0 to 10
  label "score <u>"

section s "S"
  provenance p
  rule r1 "Rule one"
    when score >= 5
    prefer opt_a
    flag f1
    evidence ev
  end
  rule r2 "Rule two"
    when score < 5
    prefer opt_a
    alternative opt_b
  end
  rule r3 "Rule three"
    when score < 3
    avoid opt_b
  end
end
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    hostile = tmp_path_factory.mktemp("service") / "hostile.hgl"
    hostile.write_text(HOSTILE_HGL, encoding="utf-8")
    app = make_app([load(GUIDELINE), load(CHOOSER), load(hostile)],
                   Settings(max_body=64 * 1024, quiet=True, auth=False), fhirin=None)
    srv = Running(app)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def base(server):
    return server.url


def call(base, path, body=None, method=None, raw: bytes | None = None):
    """(status, headers, JSON body) of one request; errors are answers too."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode("utf-8"))
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        return err.code, err.headers, json.loads(err.read().decode("utf-8"))


def cds(base, gid, context, **extra):
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": context, **extra}
    return call(base, f"/cds-services/{gid}", body)


@pytest.fixture(scope="module")
def vignettes():
    base_case, cases = load_case_file(VIGNETTES)
    return {c["id"]: (merged_case(base_case, c), c.get("params") or {}) for c in cases}


def _first(vignettes, her2, status):
    return next(v for v in vignettes.values() if her2.evaluate(*v).status == status)


# ---------------------------------------------------------------- the JSON API


def test_health_and_guideline_list(base, her2):
    status, headers, body = call(base, "/health")
    assert (status, body) == (200, {"status": "ok", "guidelines": 3})
    assert "HGL-Guideline-Id" not in headers and headers["Cache-Control"] == "no-store"
    status, _, body = call(base, "/guidelines")
    assert status == 200
    first = body["guidelines"][0]
    assert first == {**her2.header, "title": her2.module.GUIDELINE["title"]}
    assert [g["id"] for g in body["guidelines"]] == ["her2_mbc", "chooser", "hostile"]


def test_schema_is_the_guidelines_schema(base, her2):
    status, headers, body = call(base, "/guidelines/her2_mbc/schema")
    assert (status, body) == (200, json.loads(json.dumps(her2.schema())))
    assert headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("path", ["/guidelines/her2_mbc/schema", "/guidelines/her2_mbc",
                                  "/cds-services/her2_mbc"])
def test_guideline_routes_carry_the_guideline_header(base, her2, path):
    method = "POST" if path.startswith("/cds") else "GET"
    body = {"hook": "patient-view", "hookInstance": "i", "context": {}} if method == "POST" else None
    _, headers, _ = call(base, path, body)
    assert (headers["HGL-Guideline-Id"], headers["HGL-Guideline-Version"], headers["HGL-Guideline-Sha256"]) \
        == (her2.id, her2.version, her2.sha256)


def test_evaluate_vignettes_match_the_runtime(base, her2, vignettes):
    """One case of each status through HTTP gives exactly Guideline.evaluate's result."""
    for status in ("recommendation", "needs_data", "inconsistent_data"):
        case, params = _first(vignettes, her2, status)
        got_status, headers, got = call(base, "/guidelines/her2_mbc/evaluate", {"case": case, "params": params})
        assert got_status == 200
        assert got == json.loads(json.dumps(her2.evaluate(case, params).to_dict()))
        assert got["status"] == status
        assert headers["HGL-Guideline-Sha256"] == her2.sha256


def test_evaluate_trace_and_why_not(base, her2, vignettes):
    case, params = _first(vignettes, her2, "recommendation")
    _, _, got = call(base, "/guidelines/her2_mbc/evaluate",
                     {"case": case, "params": params, "trace": True, "why_not": ["t_dm1"]})
    want = her2.evaluate(case, params, trace=True, why_not=["t_dm1"]).to_dict()
    assert got["trace"] == want["trace"] and got["why_not"] == json.loads(json.dumps(want["why_not"]))


def test_evaluate_batch_in_order_with_errors(base, her2, vignettes):
    cases = [v[0] for v in list(vignettes.values())[:3]]
    batch = [cases[0], {"hr_status": "postive"}, cases[1], "not an object", cases[2]]
    status, _, body = call(base, "/guidelines/her2_mbc/evaluate-batch", {"cases": batch})
    assert status == 200 and body["guideline"] == her2.header
    results = body["results"]
    assert len(results) == 5
    for i in (0, 2, 4):
        assert results[i] == json.loads(json.dumps(her2.evaluate(batch[i]).to_dict()))
    assert results[1]["error"] == "invalid_case" and results[1]["fields"][0]["field"] == "hr_status"
    assert results[3]["error"] == "invalid_case" and results[3]["fields"][0]["field"] == "(case)"


def test_invalid_case_is_422_naming_the_fields(base):
    status, _, body = call(base, "/guidelines/her2_mbc/evaluate", {"case": {"hr_status": "postive", "bogus": 1}})
    assert status == 422 and body["error"] == "invalid_case"
    assert {f["field"] for f in body["fields"]} == {"hr_status", "bogus"}


@pytest.mark.parametrize("path, body, raw, method, status, error", [
    ("/nowhere", None, None, "GET", 404, "not_found"),
    ("/guidelines/nope/schema", None, None, "GET", 404, "unknown_guideline"),
    ("/guidelines/nope/evaluate", {"case": {}}, None, "POST", 404, "unknown_guideline"),
    ("/cds-services/nope", {"hook": "patient-view", "hookInstance": "i", "context": {}}, None, "POST", 404,
     "unknown_service"),
    ("/guidelines/her2_mbc/other", None, None, "GET", 404, "not_found"),
    ("/guidelines", {}, None, "POST", 405, "method_not_allowed"),
    ("/guidelines/her2_mbc/evaluate", None, None, "GET", 405, "method_not_allowed"),
    ("/guidelines/her2_mbc/evaluate", None, b"", "DELETE", 405, "method_not_allowed"),
    ("/guidelines/her2_mbc/evaluate", None, b"{not json", "POST", 400, "bad_json"),
    ("/guidelines/her2_mbc/evaluate", None, b"\xff\xfe", "POST", 400, "bad_json"),
    ("/guidelines/her2_mbc/evaluate", None, b'{"case": {"kps": NaN}}', "POST", 400, "bad_json"),
    ("/guidelines/her2_mbc/evaluate", [1], None, "POST", 400, "bad_request"),
    ("/guidelines/her2_mbc/evaluate", {}, None, "POST", 400, "bad_request"),
    ("/guidelines/her2_mbc/evaluate", {"case": {}, "cases": []}, None, "POST", 400, "bad_request"),
    ("/guidelines/her2_mbc/evaluate", {"case": {}, "trace": "yes"}, None, "POST", 400, "bad_request"),
    ("/guidelines/her2_mbc/evaluate", {"case": {}, "why_not": "t_dm1"}, None, "POST", 400, "bad_request"),
    ("/guidelines/her2_mbc/evaluate", {"case": {}, "params": [1]}, None, "POST", 400, "bad_request"),
    ("/guidelines/her2_mbc/evaluate", {"case": {}, "why_not": ["t_dmx"]}, None, "POST", 422, "invalid_case"),
    ("/guidelines/her2_mbc/evaluate", {"case": {}, "params": {"nope": 1}}, None, "POST", 422, "invalid_case"),
    ("/guidelines/her2_mbc/evaluate-batch", {"cases": {}}, None, "POST", 400, "bad_request"),
    ("/guidelines/her2_mbc/evaluate-batch", {"cases": [], "params": {"nope": 1}}, None, "POST", 422,
     "invalid_case"),
    ("/guidelines/her2_mbc/evaluate", {"case": {"x": "y" * 70000}}, None, "POST", 413, "too_large"),
])
def test_error_statuses(base, path, body, raw, method, status, error):
    got_status, _, got = call(base, path, body, method=method, raw=raw)
    assert (got_status, got["error"]) == (status, error)
    assert "Traceback" not in json.dumps(got)


@pytest.mark.parametrize("method, length, ctype, status, error", [
    ("POST", None, "application/json", 411, "length_required"),
    ("POST", "many", "application/json", 400, "bad_request"),
    ("POST", "-1", "application/json", 400, "bad_request"),
    ("POST", "2", None, 415, "unsupported_media_type"),
    ("POST", "2", "text/plain", 415, "unsupported_media_type"),
    ("POST", "2", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("POST", "2", "application/json; charset=latin-1", 415, "unsupported_media_type"),
    ("OPTIONS", None, None, 405, "method_not_allowed"),  # not a CORS preflight: no Origin
])
def test_raw_requests(base, method, length, ctype, status, error):
    conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=10)
    conn.putrequest(method, "/guidelines/her2_mbc/evaluate")
    if length is not None:
        conn.putheader("Content-Length", length)
    if ctype is not None:
        conn.putheader("Content-Type", ctype)
    conn.endheaders(b"{}" if length == "2" else None)
    resp = conn.getresponse()
    assert resp.status == status and resp.getheader("Content-Type") == "application/json; charset=utf-8"
    assert json.loads(resp.read())["error"] == error
    conn.close()


def test_malformed_request_line_is_json(base):
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")  # a request line over the head limit
        reply = sock.makefile("rb").read().decode("utf-8")
    head, _, body = reply.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400") and json.loads(body)["error"] == "bad_request"


def test_internal_error_is_generic_and_logged(base, server, monkeypatch, caplog):
    def boom(*a, **k):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(server.app.state.service.guidelines["her2_mbc"], "schema", boom)
    status, _, body = call(base, "/guidelines/her2_mbc/schema")
    assert status == 500 and body == {"error": "internal_error", "message": "internal error (logged by the server)"}
    assert "secret detail" in caplog.text


# ---------------------------------------------------------------- CDS Hooks 2.0

CARD_KEYS = {"uuid", "summary", "detail", "indicator", "source", "suggestions", "selectionBehavior",
             "overrideReasons", "links", "extension"}


def check_card(card: dict) -> None:
    """A card as CDS Hooks 2.0 defines it (the fields this service sends)."""
    assert set(card) <= CARD_KEYS
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) <= SUMMARY_MAX
    assert "\n" not in card["summary"]
    assert card["indicator"] in ("info", "warning", "critical")
    assert isinstance(card["source"]["label"], str) and card["source"]["label"]
    assert set(card["source"]) <= {"label", "url", "icon", "topic"}
    assert str(uuid.UUID(card["uuid"])) == card["uuid"]
    assert isinstance(card["detail"], str)


def test_discovery(base, her2):
    status, _, body = call(base, "/cds-services")
    assert status == 200
    services = body["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("her2_mbc", "patient-view"), ("her2_mbc-order-select", "order-select"),
        ("chooser", "patient-view"), ("chooser-order-select", "order-select"),
        ("hostile", "patient-view")]  # order-select: only for options made of drugs
    for s in services:
        assert s["description"] and s["title"]
        assert "prefetch" not in s  # no FHIR bindings loaded: the case comes in context.hglCase
        assert set(s) <= {"hook", "title", "description", "id", "prefetch", "usageRequirements"}
    assert services[0]["title"] == her2.module.GUIDELINE["title"]


def test_cards_of_a_recommendation(base, her2, vignettes):
    case, params = _first(vignettes, her2, "recommendation")
    result = her2.evaluate(case, params)
    status, headers, body = cds(base, "her2_mbc", {"hglCase": case, "hglParams": params, "patientId": "p1"})
    assert status == 200 and headers["HGL-Guideline-Id"] == "her2_mbc"
    cards = body["cards"]
    for card in cards:
        check_card(card)
        assert card["source"] == {"label": f"{her2.module.GUIDELINE['title']} {her2.version}",
                                  "url": "https://doi.org/10.1016/j.ctrv.2024.102853"}
    options = [c for c in cards if c["extension"]["hgl"]["kind"] == "option"]
    assert [(c["extension"]["hgl"]["option"], c["extension"]["hgl"]["role"]) for c in options] \
        == [(o["id"], o["role"]) for o in result.options]
    for card, option in zip(options, result.options):
        want = {"preferred": "info", "alternative": "info", "avoid": "warning"}[option["role"]]
        assert card["indicator"] == want
        assert option["label"] in card["summary"]
        for line in option["because"]:
            assert md(line) in card["detail"]
    flags = [c["extension"]["hgl"]["flag"] for c in cards if c["extension"]["hgl"]["kind"] == "flag"]
    assert flags == [f["id"] for f in result.flags]


@pytest.mark.parametrize("status, indicator, key", [
    ("needs_data", "warning", "missing"),
    ("inconsistent_data", "critical", "inconsistent"),
])
def test_status_cards(base, her2, vignettes, status, indicator, key):
    case, params = _first(vignettes, her2, status)
    result = her2.evaluate(case, params)
    _, _, body = cds(base, "her2_mbc", {"hglCase": case, "hglParams": params})
    first = body["cards"][0]
    check_card(first)
    assert first["indicator"] == indicator
    assert first["extension"]["hgl"]["kind"] == status
    assert first["extension"]["hgl"][key] == getattr(result, key)
    if status == "needs_data":
        for name in result.missing:
            assert md(name) in first["detail"]


def test_no_case_asks_for_one(base):
    status, _, body = cds(base, "chooser", {"patientId": "p1"})
    assert status == 200 and len(body["cards"]) == 1
    card = body["cards"][0]
    check_card(card)
    assert card["extension"]["hgl"]["kind"] == "no_case" and "hglCase" in card["detail"]
    assert card["source"] == {"label": "Benchmark chooser 1.0.0"}  # doi "none": no url


def test_invalid_case_gives_a_card(base):
    status, _, body = cds(base, "chooser", {"hglCase": {"stage": "late"}})
    assert status == 200
    card = body["cards"][0]
    check_card(card)
    assert card["extension"]["hgl"]["kind"] == "invalid_case"
    assert card["extension"]["hgl"]["fields"][0]["field"] == "stage"


@pytest.mark.parametrize("body, message", [
    ([], "JSON object"),
    ({"hookInstance": "i", "context": {}}, "'hook'"),
    ({"hook": "patient-view", "context": {}}, "'hookInstance'"),
    ({"hook": "patient-view", "hookInstance": 7, "context": {}}, "'hookInstance'"),
    ({"hook": "patient-view", "hookInstance": "i"}, "'context'"),
    ({"hook": "patient-view", "hookInstance": "i", "context": []}, "'context'"),
    ({"hook": "order-sign", "hookInstance": "i", "context": {}}, "'order-sign'"),
    ({"hook": "patient-view", "hookInstance": "i", "context": {"hglCase": {}, "hglParams": 3}}, "hglParams"),
])
def test_cds_request_shape(base, body, message):
    status, _, got = call(base, "/cds-services/chooser", body)
    assert status == 400 and got["error"] == "bad_request" and message in got["message"]


def test_card_text_is_escaped(base):
    """Guideline texts that look like HTML or Markdown show as text, in the detail and the summary."""
    _, _, body = cds(base, "hostile", {"hglCase": {"score": 7}})
    cards = body["cards"]
    for card in cards:
        check_card(card)
        html = markdown.markdown(card["detail"])
        assert not re.search(r"<(script|img|a|b|i|u|code|h\d|table|ul>\s*<li>\s*<ul)\b", html), html
        assert "<strong>" in html  # the service's own emphasis still works
        assert html.count("<em>") == 1 and "<em>Test only *not* clinical.</em>" in html  # the disclaimer
    option = cards[0]
    assert option["summary"] == summary(f"Preferred: {HOSTILE}")  # plain text, not Markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\*bold\\* \\[x\\](javascript\\:alert) \\`code\\` &amp;" \
        in option["detail"]
    assert "TRIAL &lt;img src=x&gt; (\\_design\\_)\\: \\| a \\| b \\|" in option["detail"]
    flag = cards[1]
    assert flag["summary"] == "# heading flag" and "**\\# heading flag**" in flag["detail"]
    avoid = cds(base, "hostile", {"hglCase": {"score": 1}})[2]["cards"]
    assert [c["indicator"] for c in avoid] == ["info", "warning"]
    assert "**Avoid**: \\- list item" in avoid[1]["detail"]


@pytest.mark.parametrize("text, want", [
    ("plain text", "plain text"),
    ("a <b> & c", "a &lt;b&gt; &amp; c"),
    ("*x* _y_ `z`", "\\*x\\* \\_y\\_ \\`z\\`"),
    ("[l](u)", "\\[l\\](u)"),
    ("http://x", "http\\://x"),
    ("# h", "\\# h"),
    ("- i", "\\- i"),
    ("+ i", "\\+ i"),
    ("1. i", "1\\. i"),
    ("first-line 2.5 mg", "first-line 2.5 mg"),
    ("two\nlines", "two lines"),
    ("a\\b", "a\\\\b"),
])
def test_md(text, want):
    assert md(text) == want


@pytest.mark.parametrize("text, length", [("short", 5), ("x" * 139, 139), ("x" * 200, 139), ("a\n b", 3)])
def test_summary_length(text, length):
    assert len(summary(text)) == length


def test_duplicate_ids_refused():
    g = load(CHOOSER)
    with pytest.raises(ValueError, match="two guidelines"):
        make_app([g, g], Settings(auth=False), fhirin=None)


@pytest.mark.parametrize("path, code, words", [
    ("nope.hgl", 2, "No such file"),
    (str(ROOT / "tests" / "data" / "broken_checks.hgl"), 1, "error[HGL"),
])
def test_serve_command_refuses_what_it_cannot_load(path, code, words, capsys):
    from hgl.compiler.cli import main

    assert main(["serve", "--port", "0", path]) == code
    assert words in capsys.readouterr().err


def test_concurrent_requests_agree(base, her2, vignettes):
    """Parallel requests (evaluated in worker threads) give the runtime's results, each its own."""
    from concurrent.futures import ThreadPoolExecutor

    items = list(vignettes.values())[:16]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda v: call(base, "/guidelines/her2_mbc/evaluate",
                                               {"case": v[0], "params": v[1]})[2], items))
    assert answers == [json.loads(json.dumps(her2.evaluate(*v).to_dict())) for v in items]
