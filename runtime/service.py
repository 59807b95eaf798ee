"""The HTTP service stage: loaded guidelines -> a JSON API and CDS Hooks 2.0 services (standard library only).

`hgl serve GUIDELINE...` answers on 127.0.0.1 by default:

    GET  /health                              the service is up, and how many guidelines it serves
    GET  /guidelines                          id, version, sha256 and title of each guideline
    GET  /guidelines/{id}/schema              the JSON Schema of a case
    POST /guidelines/{id}/evaluate            {"case", "params"?, "why_not"?, "trace"?} -> the result contract
    POST /guidelines/{id}/evaluate-batch      {"cases": [...], "params"?} -> {"results": [...]}, in order
    GET  /cds-services                        CDS Hooks discovery: one patient-view service per guideline
    POST /cds-services/{id}                   a CDS Hooks request -> {"cards": [...]}

FHIR data mapping is out of scope: a CDS Hooks request carries the HGL case itself in
`context.hglCase` (and parameters in `context.hglParams`), an extension of the hook's context.
"""

from __future__ import annotations

import argparse
import http.server
import json
import re
import sys
import traceback
import uuid
from urllib.parse import quote, unquote, urlsplit

from .api import Guideline, load
from .schema import CaseError

MAX_BODY = 1 << 20  # bytes: a case is a few hundred; a batch of a few thousand cases fits
HOOK = "patient-view"
SUMMARY_MAX = 139  # CDS Hooks: a card's summary is "<140 characters"
_DRAIN_MAX = 16 * MAX_BODY  # an oversized body is read and dropped up to this, so the client sees the 413
_ROLE_WORD = {"preferred": "Preferred", "alternative": "Alternative", "avoid": "Avoid"}
_ROLE_INDICATOR = {"preferred": "info", "alternative": "info", "avoid": "warning"}
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")


class HttpError(Exception):
    """An answer other than success: a status and a JSON body saying what went wrong."""

    def __init__(self, status: int, error: str, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"error": error, "message": message, **extra}
        self.headers: dict = {}


# ---------------------------------------------------------------- Markdown and plain text


_MD_INLINE = re.compile(r"([\\`*_\[\]|~:])")
_MD_BLOCK = re.compile(r"^(?:([#+\-=])|(\d+)([.)]))")
_MD_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md(text) -> str:
    """Guideline or case text as literal Markdown on one line: no construct in it takes effect.

    Entities for `& < >` (no renderer sees HTML); a backslash before the inline syntax
    (emphasis, code, links, tables, strikethrough, the colon of an autolink) and before a
    character that would open a block at the start of the line (heading, list, setext).
    """
    line = " ".join(str(text).split())
    line = "".join(_MD_ENTITY.get(c, c) for c in line)
    line = _MD_INLINE.sub(r"\\\1", line)
    return _MD_BLOCK.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), line)


def summary(text: str) -> str:
    """A card summary: one line, at most SUMMARY_MAX characters (cut with an ellipsis)."""
    line = " ".join(str(text).split())
    return line if len(line) <= SUMMARY_MAX else line[:SUMMARY_MAX - 1].rstrip() + "…"


def _bullets(items) -> list[str]:
    return [f"- {md(x)}" for x in items]


# ---------------------------------------------------------------- CDS Hooks cards


class Cards:
    """The CDS Hooks view of one guideline: its discovery entry and the cards of a result."""

    def __init__(self, guideline: Guideline):
        self.g = guideline
        meta = guideline.module.GUIDELINE
        self.title = str(meta.get("title") or guideline.id)
        self.disclaimer = meta.get("disclaimer")
        doi = str(meta.get("doi") or "")
        self.source = {"label": f"{self.title} {guideline.version}"}
        if _DOI.match(doi):
            self.source["url"] = "https://doi.org/" + quote(doi, safe="/")

    def discovery(self) -> dict:
        """The guideline's entry in the CDS Hooks discovery response (no prefetch)."""
        return {"hook": HOOK, "id": self.g.id, "title": summary(self.title),
                "description": f"{self.title} ({self.g.version}): the options this guideline recommends "
                               "for the case, why, and the data it still needs.",
                "usageRequirements": "Send the patient's HGL case in context.hglCase (an extension: this "
                                     f"service maps no FHIR data); its JSON Schema is GET /guidelines/{self.g.id}/schema."}

    def _card(self, text: str, indicator: str, lines: list[str], **hgl) -> dict:
        detail = "\n".join(lines)
        if self.disclaimer:
            detail += "\n\n*" + md(self.disclaimer) + "*"
        return {"uuid": str(uuid.uuid4()), "summary": summary(text), "indicator": indicator,
                "detail": detail, "source": dict(self.source),
                "extension": {"hgl": {"guideline": self.g.header, **hgl}}}

    def ask_for_case(self) -> dict:
        """The one card of a request without `context.hglCase`."""
        return self._card(f"{self.g.id}: send the patient's HGL case to get recommendations", "warning", [
            "This service reads the case from **context\\.hglCase** (an HGL extension of the hook "
            "context); the request had none\\.",
            "",
            f"The case is a JSON object of input names to values; its schema is served at "
            f"{md(f'/guidelines/{self.g.id}/schema')}\\."], kind="no_case")

    def invalid_case(self, err: CaseError) -> dict:
        """The card of a request whose case (or parameters) this guideline rejects."""
        fields = [f"{e['field']}: {e['message']}" + (f" ({e['hint']})" if e.get("hint") else "")
                  for e in err.errors]
        return self._card(f"{self.g.id}: the case sent is not valid ({len(fields)} field"
                          f"{'s' if len(fields) != 1 else ''}); no recommendation", "warning",
                          ["The case in context\\.hglCase was rejected:", "", *_bullets(fields)],
                          kind="invalid_case", fields=err.errors)

    def for_result(self, result) -> list[dict]:
        """The cards of a result: its status (needs_data, inconsistent_data), each option, each flag."""
        cards = []
        if result.status == "inconsistent_data":
            cards.append(self._inconsistent(result))
        elif result.status == "needs_data":
            cards.append(self._needs_data(result))
        cards += [self._option(o) for o in result.options if o["role"] in _ROLE_WORD]
        cards += [self._flag(f) for f in result.flags]
        return cards

    def _inconsistent(self, result) -> dict:
        violated = result.violated
        labels = [v["label"] for v in violated] or result.inconsistent
        lines = ["The case contradicts itself; no recommendation until it is corrected:", ""]
        lines += [f"- {md(v['label'])} (inputs: {md(', '.join(v['inputs']))})" for v in violated]
        if not violated:
            lines += _bullets(result.inconsistent)
        return self._card("Inconsistent data: " + "; ".join(labels), "critical", lines,
                          kind="inconsistent_data", inconsistent=result.inconsistent)

    def _needs_data(self, result) -> dict:
        label_of = {s.name: s.label or s.name for s in self.g.inputs}
        why = {m["input"]: m for m in result.missing_because}
        lines = ["This guideline needs these inputs before it can recommend:", ""]
        for name in result.missing:
            lines.append(f"- **{md(label_of.get(name, name))}** ({md(name)})")
            m = why.get(name) or {}
            for r in m.get("requested_by") or []:
                lines.append(f"    - requested by the rule {md(r['title'])}")
            undecided = [r["title"] for r in m.get("undecided") or []]
            if undecided:
                lines.append(f"    - leaves undecided: {md('; '.join(undecided))}")
        text = "Data needed: " + ", ".join(label_of.get(n, n) for n in result.missing)
        return self._card(text, "warning", lines, kind="needs_data", missing=result.missing)

    def _provenance(self, ids) -> list[str]:
        table = self.g.module.PROVENANCE
        out = []
        for p in ids:
            entry = table.get(p) or {}
            caution = " (caution: check against the source)" if entry.get("caution") else ""
            out.append(f"{p}: {entry.get('meaning', p)}{caution}")
        return out

    def _evidence(self, ids) -> list[str]:
        table = self.g.module.EVIDENCE
        out = []
        for e in ids:
            entry = table.get(e) or {}
            about = "; ".join(str(entry[k]) for k in ("design", "setting") if entry.get(k))
            text = str(entry.get("trial", e)) + (f" ({about})" if about else "")
            out.append(text + (f": {entry['result']}" if entry.get("result") else ""))
        return out

    def _option(self, o: dict) -> dict:
        role = o["role"]
        head = f"**{_ROLE_WORD[role]}**: {md(o['label'])} ({md(o['kind'])}; rule {md(o['rule'])}"
        strengths = getattr(self.g.module, "STRENGTHS", {})
        if o.get("strength"):
            head += f"; strength: {md(strengths.get(o['strength'], o['strength']))}"
        lines = [head + ")"]
        if o.get("stands_for_label"):
            lines += ["", f"Stands for: {md(o['stands_for_label'])}"]
        lines += self._section("Because", o["because"])
        lines += self._section("Provenance", self._provenance(o["provenance"]))
        lines += self._section("Evidence", self._evidence(o["evidence"]))
        return self._card(f"{_ROLE_WORD[role]}: {o['label']}", _ROLE_INDICATOR[role], lines,
                          kind="option", option=o["id"], role=role, rule=o["rule"])

    def _flag(self, f: dict) -> dict:
        lines = [f"**{md(f['label'])}** (rule {md(f['rule'])})"]
        lines += self._section("Because", f["because"])
        lines += self._section("Provenance", self._provenance(f["provenance"]))
        return self._card(f["label"], "warning" if f.get("request") else "info", lines,
                          kind="flag", flag=f["id"], rule=f["rule"])

    @staticmethod
    def _section(title: str, items: list[str]) -> list[str]:
        return ["", f"{title}:", "", *_bullets(items)] if items else []


# ---------------------------------------------------------------- requests and answers


def _object(body, what: str, allowed: tuple, required: tuple = ()) -> dict:
    """`body` checked as a JSON object with only `allowed` keys and every `required` one; else 400."""
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", f"{what} is a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise HttpError(400, "bad_request", f"{what}: unknown field {', '.join(map(repr, unknown))}; "
                                            f"allowed: {', '.join(allowed)}")
    absent = [k for k in required if k not in body]
    if absent:
        raise HttpError(400, "bad_request", f"{what}: missing required field {', '.join(map(repr, absent))}")
    return body


def _params(value, where: str):
    if value is not None and not isinstance(value, dict):
        raise HttpError(400, "bad_request", f"{where} is a JSON object of parameter names to values")
    return value


class Service:
    """The routes over a set of loaded guidelines; independent of the HTTP server (tests call it too)."""

    def __init__(self, guidelines):
        self.guidelines: dict[str, Guideline] = {}
        for g in guidelines:
            if g.id in self.guidelines:
                raise ValueError(f"two guidelines with the id {g.id!r}: serve one of them")
            self.guidelines[g.id] = g
        self.cards = {gid: Cards(g) for gid, g in self.guidelines.items()}

    def route(self, method: str, path: str):
        """(handler, guideline or None, whether it reads a body) for a request; raises HttpError 404/405."""
        parts = [unquote(p) for p in urlsplit(path).path.split("/") if p]
        table = {
            ("health",): {"GET": self.health},
            ("guidelines",): {"GET": self.list_guidelines},
            ("cds-services",): {"GET": self.discovery},
        }
        if len(parts) >= 2 and parts[0] in ("guidelines", "cds-services"):
            rest = tuple(parts[2:])
            per = ({(): {"GET": self.describe}, ("schema",): {"GET": self.schema},
                    ("evaluate",): {"POST": self.evaluate}, ("evaluate-batch",): {"POST": self.evaluate_batch}}
                   if parts[0] == "guidelines" else {(): {"POST": self.cds_call}})
            methods = per.get(rest)
            if methods is None:
                raise HttpError(404, "not_found", f"no such endpoint: /{'/'.join(parts)}")
            g = self.guidelines.get(parts[1])
            if g is None:
                raise HttpError(404, "unknown_guideline", f"no guideline {parts[1]!r} here; "
                                f"served: {', '.join(self.guidelines) or 'none'}")
        else:
            methods, g = table.get(tuple(parts)), None
            if methods is None:
                raise HttpError(404, "not_found", f"no such endpoint: /{'/'.join(parts)}")
        fn = methods.get(method)
        if fn is None:
            err = HttpError(405, "method_not_allowed", f"{method} is not allowed here; use {', '.join(methods)}")
            err.headers["Allow"] = ", ".join(methods)
            raise err
        return fn, g, method == "POST"

    # ------------------------------------------------------------ the JSON API
    # each handler takes (guideline or None, parsed body or None) and gives (status, JSON payload)
    def health(self, g, body) -> tuple[int, dict]:
        """GET /health."""
        return 200, {"status": "ok", "guidelines": len(self.guidelines)}

    def _entry(self, g: Guideline) -> dict:
        return {**g.header, "title": self.cards[g.id].title}

    def list_guidelines(self, g, body):
        """GET /guidelines: id, version, sha256 and title of each."""
        return 200, {"guidelines": [self._entry(x) for x in self.guidelines.values()]}

    def describe(self, g, body):
        """GET /guidelines/{id}."""
        return 200, self._entry(g)

    def schema(self, g, body):
        """GET /guidelines/{id}/schema: the JSON Schema of a case."""
        return 200, g.schema()

    def evaluate(self, g, body):
        """POST /guidelines/{id}/evaluate: one case -> the result contract (422 for an invalid case)."""
        req = _object(body, "the request", ("case", "params", "why_not", "trace"), ("case",))
        params = _params(req.get("params"), "params")
        why_not = req.get("why_not") or []
        if not isinstance(why_not, list) or not all(isinstance(x, str) for x in why_not):
            raise HttpError(400, "bad_request", "why_not is a list of option ids")
        trace = req.get("trace", False)
        if not isinstance(trace, bool):
            raise HttpError(400, "bad_request", "trace is true or false")
        try:
            result = g.evaluate(req["case"], params, trace=trace, why_not=why_not)
        except CaseError as err:
            return 422, err.to_dict()
        return 200, result.to_dict()

    def evaluate_batch(self, g, body):
        """POST /guidelines/{id}/evaluate-batch: cases -> results in order, an error object for an invalid one."""
        req = _object(body, "the request", ("cases", "params"), ("cases",))
        if not isinstance(req["cases"], list):
            raise HttpError(400, "bad_request", "cases is a list of case objects")
        try:
            outcomes = list(g.evaluate_many(req["cases"], _params(req.get("params"), "params")))
        except CaseError as err:  # bad parameters: no case can run
            return 422, err.to_dict()
        return 200, {"guideline": g.header, "results": [o.to_dict() for o in outcomes]}

    # ------------------------------------------------------------ CDS Hooks 2.0
    def discovery(self, g, body):
        """GET /cds-services: one patient-view service per guideline."""
        return 200, {"services": [c.discovery() for c in self.cards.values()]}

    def cds_call(self, g, body):
        """POST /cds-services/{id}: a CDS Hooks request -> cards for the case in context.hglCase."""
        req = _cds_request(body)
        cards = self.cards[g.id]
        context = req["context"]
        if context.get("hglCase") is None:
            return 200, {"cards": [cards.ask_for_case()]}
        params = _params(context.get("hglParams"), "context.hglParams")
        try:
            result = g.evaluate(context["hglCase"], params)
        except CaseError as err:  # a card, not an error: a client would show nothing at all
            return 200, {"cards": [cards.invalid_case(err)]}
        return 200, {"cards": cards.for_result(result)}


def _cds_request(body) -> dict:
    """A CDS Hooks request checked for the fields this service reads; raises HttpError 400."""
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", "a CDS Hooks request is a JSON object")
    for key in ("hook", "hookInstance"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise HttpError(400, "bad_request", f"a CDS Hooks request has '{key}' (a string)")
    if body["hook"] != HOOK:
        raise HttpError(400, "bad_request", f"this service answers the {HOOK!r} hook, not {body['hook']!r}")
    if not isinstance(body.get("context"), dict):
        raise HttpError(400, "bad_request", "a CDS Hooks request has 'context' (an object)")
    return body


# ---------------------------------------------------------------- HTTP


def _encode(payload) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


class Handler(http.server.BaseHTTPRequestHandler):
    """One request: route, read and parse the body, answer JSON; never a traceback to the client."""

    server_version = "hgl-serve"
    timeout = 30  # seconds a client may take to send its request: a slow one does not hold a thread forever
    service: Service
    max_body = MAX_BODY
    quiet = False

    def do_GET(self):  # noqa: N802 - the name http.server dispatches to
        self._answer("GET")

    def do_POST(self):  # noqa: N802
        self._answer("POST")

    def do_PUT(self):  # noqa: N802
        self._answer("PUT")

    def do_DELETE(self):  # noqa: N802
        self._answer("DELETE")

    def do_PATCH(self):  # noqa: N802
        self._answer("PATCH")

    def _answer(self, method: str) -> None:
        headers: dict = {}
        g = None
        self._unread = True
        try:
            fn, g, reads = self.service.route(method, self.path)
            status, payload = fn(g, self._body() if reads else None)
            data = _encode(payload)
        except HttpError as err:
            status, data, headers = err.status, _encode(err.body), err.headers
        except Exception:  # the client learns only that it failed; the log has the traceback
            print(f"hgl serve: error in {method} {self.path}:\n{traceback.format_exc()}", file=sys.stderr)
            status, data = 500, _encode({"error": "internal_error", "message": "internal error (logged by the server)"})
        if self._unread:  # a body left in the socket would reset the connection before the client reads
            self._drain()
        if g is not None:
            headers.update({"HGL-Guideline-Id": g.id, "HGL-Guideline-Version": str(g.version),
                            "HGL-Guideline-Sha256": g.sha256})
        self._send(status, data, headers)

    def _length(self) -> int | None:
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        try:
            n = int(length)
        except ValueError:
            n = -1
        if n < 0:
            self._unread = False  # nothing sensible to drain
            self.close_connection = True
            raise HttpError(400, "bad_request", "Content-Length is not a number of bytes")
        return n

    def _body(self):
        n = self._length()
        if n is None:
            raise HttpError(411, "length_required", "a request body needs a Content-Length header")
        if n > self.max_body:
            raise HttpError(413, "too_large", f"the body is {n} bytes; the limit is {self.max_body}")
        try:
            raw = self.rfile.read(n)
        except TimeoutError:
            self.close_connection = True
            raise HttpError(408, "timeout", f"the body did not arrive within {self.timeout} s") from None
        finally:
            self._unread = False
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
            raise HttpError(400, "bad_json", f"the body is not UTF-8 JSON{where}") from None

    def _drain(self) -> None:
        """Read and drop a body not used (an error, an oversized one: up to a bound)."""
        self._unread = False
        try:
            n = self._length() or 0
        except HttpError:
            return
        if n > _DRAIN_MAX:
            self.close_connection = True
            return
        try:
            while n > 0:
                chunk = self.rfile.read(min(n, 1 << 16))
                if not chunk:
                    break
                n -= len(chunk)
        except OSError:  # a timeout or a client gone: the answer may still reach it
            self.close_connection = True

    def _send(self, status: int, data: bytes, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")  # results carry patient data
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (a malformed request line, an unknown method) as JSON too."""
        self.close_connection = True
        try:
            error = {501: "not_implemented"}.get(code, "bad_request" if code < 500 else "server_error")
            self._send(code, _encode({"error": error,
                                      "message": message or self.responses.get(code, ("error",))[0]}), {})
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002 - the signature http.server calls
        if not self.quiet:  # the request line only: never a body, so no patient data in the log
            super().log_message(format, *args)


def make_server(guideline_paths, host: str = "127.0.0.1", port: int = 0, *, max_body: int = MAX_BODY,
                quiet: bool = False) -> http.server.ThreadingHTTPServer:
    """A threading HTTP server over these guidelines (paths, or Guideline objects); port 0 picks one.

    The caller runs `serve_forever()` (and `shutdown()`, `server_close()`); `server.service`
    is the Service behind it.
    """
    service = Service([g if isinstance(g, Guideline) else load(g) for g in guideline_paths])
    handler = type("HglHandler", (Handler,), {"service": service, "max_body": max_body, "quiet": quiet})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.service = service
    return server


# ---------------------------------------------------------------- command line


def configure(sub: argparse.ArgumentParser) -> None:
    """The arguments of `hgl serve`."""
    sub.add_argument("guidelines", nargs="+", metavar="GUIDELINE", help=".hgl files or modules built by hgl build")
    sub.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    sub.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free one)")
    sub.add_argument("--max-body", type=int, default=MAX_BODY, help=f"largest request body in bytes (default: {MAX_BODY})")
    sub.add_argument("--quiet", action="store_true", help="no access log on stderr")


def cli_main(args) -> int:
    """`hgl serve`: load the guidelines, then answer until Ctrl-C."""
    try:
        server = make_server(args.guidelines, args.host, args.port, max_body=args.max_body, quiet=args.quiet)
    except OSError as err:
        print(f"hgl serve: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a guideline that does not compile: its diagnostics, not a traceback
        print(f"hgl serve: {err}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    ids = ", ".join(server.service.guidelines)
    print(f"hgl serve: {ids} on http://{host}:{port}/ (CDS Hooks discovery: /cds-services; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
