"""The HTTP service stage: loaded guidelines -> an ASGI app (Starlette) with a JSON API and CDS Hooks.

Every answer is JSON; every request body is strict JSON (`application/json`, UTF-8, no NaN,
Infinity, lone surrogates or numbers of absurd length); the work of a request is bounded
(body size, cases per batch, seconds of evaluation) and stops when the client leaves.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..api import Guideline
from ..schema import CaseError
from .cds import CdsHooks
from .errors import HttpError

log = logging.getLogger("hgl.serve")
MAX_BODY = 1 << 20
INLINE_BODY = 16 * 1024  # a single case or CDS Hooks call up to this is answered on the event loop itself
MAX_NUMBER_CHARS = 40  # a JSON number longer than this is no clinical value (and 4,300 digits stop int())
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
JSON_TYPE = "application/json; charset=utf-8"
BASE_HEADERS = {"Content-Type": JSON_TYPE, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True)
class Settings:
    """The bounds and options of one service (the command line's flags)."""
    max_body: int = MAX_BODY            # bytes of a request body
    max_batch: int = 1000               # cases in one evaluate-batch request
    max_work: float = 10.0              # seconds of evaluation for one request
    body_timeout: float = 10.0          # seconds for the body to arrive
    workers: int = 4                    # evaluation threads
    auth: bool = True                   # CDS Hooks requests need a JWT of a trusted issuer
    trusted: tuple = ()                 # auth.Issuer entries
    public_url: str | None = None       # the service's public base URL: the `aud` of the JWTs
    cors_origins: tuple = ()            # origins allowed to call from a browser ("*": any)
    site_url: str | None = None         # the generated site: cards link to the rule's page
    fhir_servers: tuple = ()            # allowed fhirServer prefixes (empty: any, when auth is on)
    fhir_timeout: float = 10.0
    fhir_max_bytes: int = 8 << 20
    quiet: bool = False


# ---------------------------------------------------------------- strict JSON


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _int(text: str):
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("a number with too many digits")
    return int(text)


def _float(text: str):
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("a number with too many digits")
    x = float(text)
    if not math.isfinite(x):
        raise ValueError("a number beyond the range of a double")
    return x


def _check_strings(x) -> None:
    """Raise ValueError for a lone surrogate anywhere in a parsed value (only after a \\ud8.. escape)."""
    stack = [x]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            v.encode("utf-8")
        elif isinstance(v, dict):
            for k, w in v.items():
                k.encode("utf-8")
                stack.append(w)
        elif isinstance(v, list):
            stack.extend(v)


def loads(raw: bytes):
    """Strict JSON from a request body; raises HttpError 400 (bad_json) saying where."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_int=_int, parse_float=_float)
        if _SURROGATE_ESCAPE.search(raw):
            _check_strings(value)
        return value
    except UnicodeError:
        raise HttpError(400, "bad_json", "the body is not UTF-8 (or has a lone surrogate escape)") from None
    except (ValueError, RecursionError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        why = "" if where or isinstance(err, RecursionError) else f": {err}"
        raise HttpError(400, "bad_json", f"the body is not strict JSON{where}{why}") from None


def dumps(payload) -> bytes:
    """JSON out: UTF-8, never NaN or Infinity (ValueError instead)."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def error_response(err: HttpError, close: bool = False) -> Response:
    headers = {**BASE_HEADERS, **err.headers}
    if close:
        headers["Connection"] = "close"
    return Response(dumps(err.body), err.status, headers)


# ---------------------------------------------------------------- bounded work


class Stop(Exception):
    """The work of a request stopped: its client left, or it used its seconds."""


class Budget:
    """What a worker thread checks between cases: the client still there, the seconds not used up."""

    def __init__(self, seconds: float):
        self.cancel = threading.Event()
        self.deadline = time.monotonic() + seconds

    def check(self) -> None:
        if self.cancel.is_set() or time.monotonic() > self.deadline:
            raise Stop


def _out_of_range(g: Guideline, case) -> str | None:
    """The field whose value the runtime cannot represent (an overflow), found one field at a time."""
    if not isinstance(case, dict):
        return None
    for k, v in case.items():
        try:
            g.validate({k: v})
        except CaseError:
            continue
        except (OverflowError, ValueError):
            return k
    return None


def evaluate(g: Guideline, case, params=None, **kw):
    """Guideline.evaluate, with a value too large for a float as an invalid case (not a crash)."""
    try:
        return g.evaluate(case, params, **kw)
    except CaseError:
        raise
    except (OverflowError, ValueError):
        name = _out_of_range(g, case)
        if name is None:
            raise
        raise CaseError([{"field": name, "message": "the number is out of range"}]) from None


def encode_result(result) -> bytes:
    """A result as JSON; a value that became infinite (1e308 years in days) makes the case invalid."""
    d = result.to_dict()
    try:
        return dumps(d)
    except ValueError:
        bad = [k for k, v in d.get("receipt", {}).get("input", {}).items()
               if isinstance(v, float) and not math.isfinite(v)]
        if not bad:
            raise
        raise CaseError([{"field": k, "message": "the number is out of range"} for k in bad]) from None


# ---------------------------------------------------------------- the service


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
    """The routes over a set of loaded guidelines, their bounds, and counters of stopped work."""

    def __init__(self, guidelines, settings: Settings = Settings(), fhirin="load"):
        self.settings = settings
        self.guidelines: dict[str, Guideline] = {}
        for g in guidelines:
            if g.id in self.guidelines:
                raise ValueError(f"two guidelines with the id {g.id!r}: serve one of them")
            self.guidelines[g.id] = g
        self.cds = CdsHooks(self.guidelines.values(), settings.site_url, fhirin)
        self.titles = {gid: c.title for gid, c in ((s.guideline.id, s.cards) for s in self.cds.services.values())}
        self.stats = {"cancelled": 0, "work_limit": 0, "internal_error": 0}
        self.limiter = None  # made in the event loop (anyio.CapacityLimiter)
        self.http = None  # httpx.AsyncClient for fhirServer and JWKS, made when first needed
        self.verifier = None
        if settings.auth:
            from .auth import Verifier

            self.verifier = Verifier(settings.trusted, self.fetch_json)

    # ------------------------------------------------------------ plumbing
    def guideline(self, request: Request) -> Guideline:
        gid = request.path_params["gid"]
        g = self.guidelines.get(gid)
        if g is None:
            raise HttpError(404, "unknown_guideline", f"no guideline {gid!r} here; "
                            f"served: {', '.join(self.guidelines) or 'none'}")
        return g

    async def body(self, request: Request) -> bytes:
        """The raw body: `application/json`, with a Content-Length within the bound, arriving in time."""
        media, _, rest = (request.headers.get("content-type") or "").partition(";")
        charset = re.search(r"charset\s*=\s*\"?([^\";\s]+)", rest, re.I)
        if media.strip().lower() != "application/json" or (charset and charset.group(1).lower()
                                                            not in ("utf-8", "utf8")):
            raise HttpError(415, "unsupported_media_type", "the body must be JSON, sent as "
                                                           "'Content-Type: application/json'")
        length = request.headers.get("content-length")
        if length is None:
            raise HttpError(411, "length_required", "a request body needs a Content-Length header")
        limit = self.settings.max_body
        if int(length) > limit:
            raise HttpError(413, "too_large", f"the body is {int(length)} bytes; the limit is {limit}")
        chunks, got = [], 0
        try:
            with anyio.fail_after(self.settings.body_timeout):
                async for chunk in request.stream():
                    got += len(chunk)
                    if got > limit:
                        raise HttpError(413, "too_large", f"the body is over the limit of {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise HttpError(408, "timeout", f"the body did not arrive within {self.settings.body_timeout:g} s") \
                from None
        return b"".join(chunks)

    async def work(self, request: Request, fn, *args):
        """`fn(budget, *args)` in a worker thread; the client leaving or the seconds running out stop it."""
        if self.limiter is None:
            self.limiter = anyio.CapacityLimiter(self.settings.workers)
        budget = Budget(self.settings.max_work)

        async def watch():
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    budget.cancel.set()
                    return

        outcome = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            try:
                outcome = (True, await anyio.to_thread.run_sync(fn, budget, *args, limiter=self.limiter))
            except Exception as err:  # raised below, outside the task group (which would wrap it)
                outcome = (False, err)
            tg.cancel_scope.cancel()
        ok, value = outcome
        if ok:
            return value
        if isinstance(value, Stop):
            if budget.cancel.is_set():
                self.stats["cancelled"] += 1
                raise ClientDisconnect()
            self.stats["work_limit"] += 1
            raise HttpError(503, "work_limit", f"the request needed more than {self.settings.max_work:g} s "
                                               "of evaluation; send fewer cases at a time")
        raise value

    async def fetch_json(self, url: str, token: str | None = None):
        """GET a JSON document (a FHIR query, a JWKS), bounded in size and time; raises ValueError."""
        import httpx

        if self.http is None:
            self.http = httpx.AsyncClient(timeout=self.settings.fhir_timeout, follow_redirects=False,
                                          limits=httpx.Limits(max_connections=32))
        headers = {"Accept": "application/fhir+json, application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            with anyio.fail_after(self.settings.fhir_timeout):
                async with self.http.stream("GET", url, headers=headers) as resp:
                    if resp.status_code != 200:
                        raise ValueError(f"{url}: HTTP {resp.status_code}")
                    chunks, got = [], 0
                    async for chunk in resp.aiter_bytes():
                        got += len(chunk)
                        if got > self.settings.fhir_max_bytes:
                            raise ValueError(f"{url}: answer over {self.settings.fhir_max_bytes} bytes")
                        chunks.append(chunk)
        except (httpx.HTTPError, TimeoutError) as err:
            raise ValueError(f"{url}: {type(err).__name__}") from None
        try:
            return loads(b"".join(chunks))
        except HttpError:
            raise ValueError(f"{url}: not JSON") from None

    # ------------------------------------------------------------ the JSON API
    async def health(self, request):
        return {"status": "ok", "guidelines": len(self.guidelines)}

    def _entry(self, g: Guideline) -> dict:
        return {**g.header, "title": self.titles[g.id]}

    async def list_guidelines(self, request):
        return {"guidelines": [self._entry(x) for x in self.guidelines.values()]}

    async def describe(self, request):
        return self._entry(self.guideline(request))

    async def schema(self, request):
        return self.guideline(request).schema()

    async def evaluate(self, request):
        g = self.guideline(request)
        raw = await self.body(request)
        if len(raw) <= INLINE_BODY:  # one small case: milliseconds at most, cheaper here than a thread hop
            return self._evaluate(None, g, raw)
        return await self.work(request, self._evaluate, g, raw)

    def _evaluate(self, budget, g, raw):
        req = _object(loads(raw), "the request", ("case", "params", "why_not", "trace"), ("case",))
        params = _params(req.get("params"), "params")
        why_not = req.get("why_not") or []
        if not isinstance(why_not, list) or not all(isinstance(x, str) for x in why_not):
            raise HttpError(400, "bad_request", "why_not is a list of option ids")
        trace = req.get("trace", False)
        if not isinstance(trace, bool):
            raise HttpError(400, "bad_request", "trace is true or false")
        try:
            return 200, encode_result(evaluate(g, req["case"], params, trace=trace,
                                               why_not=list(dict.fromkeys(why_not))))
        except CaseError as err:
            return 422, dumps(err.to_dict())

    async def evaluate_batch(self, request):
        g = self.guideline(request)
        raw = await self.body(request)
        return await self.work(request, self._batch, g, raw)

    def _batch(self, budget, g, raw):
        req = _object(loads(raw), "the request", ("cases", "params"), ("cases",))
        cases = req["cases"]
        if not isinstance(cases, list):
            raise HttpError(400, "bad_request", "cases is a list of case objects")
        if len(cases) > self.settings.max_batch:
            raise HttpError(413, "too_many_cases", f"{len(cases)} cases; the limit per request is "
                                                   f"{self.settings.max_batch}")
        try:
            checked = g.check_params(_params(req.get("params"), "params"))
        except CaseError as err:  # bad parameters: no case can run
            return 422, dumps(err.to_dict())
        parts = []
        for case in cases:
            budget.check()
            try:
                parts.append(encode_result(evaluate(g, case, checked, params_checked=True)))
            except CaseError as err:
                parts.append(dumps(err.to_dict()))
        return 200, b'{"guideline":' + dumps(g.header) + b',"results":[' + b",".join(parts) + b"]}"

    # ------------------------------------------------------------ CDS Hooks 2.0
    async def discovery(self, request):
        return self.cds.discovery()

    def _audiences(self, request: Request) -> list[str]:
        base = self.settings.public_url.rstrip("/") if self.settings.public_url \
            else str(request.base_url).rstrip("/")
        path = request.url.path
        return list(dict.fromkeys([base + path, base + path.removesuffix("/feedback"), base + "/cds-services"]))

    async def _authorize(self, request: Request) -> None:
        if self.verifier is not None:
            await self.verifier.verify(request.headers.get("authorization"), self._audiences(request))

    async def cds_call(self, request):
        service = self.cds.service(request.path_params["sid"])
        await self._authorize(request)
        raw = await self.body(request)

        def checked(budget):  # the answer in the same worker call when nothing is to be fetched
            body = self.cds.check_request(loads(raw), service)
            queries = self.cds.needs_fhir(service, body)
            return body, queries, None if queries else self.cds.answer(service, body, {})

        if len(raw) <= INLINE_BODY:  # one patient's data: milliseconds, cheaper here than a thread hop
            body, queries, answer = checked(None)
        else:
            body, queries, answer = await self.work(request, checked)
        if answer is not None:
            return answer
        fetched = {}
        if queries:
            server = body.get("fhirServer")
            if not server:
                raise HttpError(412, "precondition_failed", "the prefetch is incomplete and the request names "
                                "no fhirServer to read the rest from", missing=sorted(queries))
            allowed = self.settings.fhir_servers
            if (allowed and not any(server.startswith(p) for p in allowed)) or (not allowed and not self.settings.auth):
                raise HttpError(412, "precondition_failed", "this service does not read from that fhirServer; "
                                "send the data in the prefetch", missing=sorted(queries))
            token = (body.get("fhirAuthorization") or {}).get("access_token")
            try:
                async with anyio.create_task_group() as tg:
                    async def one(key, query):
                        fetched[key] = await self.fetch_json(server.rstrip("/") + "/" + query, token)
                    for key, query in queries.items():
                        tg.start_soon(one, key, query)
            except* ValueError as group:
                raise HttpError(412, "precondition_failed", "the FHIR server did not give the data: "
                                + "; ".join(str(e) for e in group.exceptions)[:500]) from None
        return await self.work(request, lambda budget: self.cds.answer(service, body, fetched))

    async def feedback(self, request):
        service = self.cds.service(request.path_params["sid"])
        await self._authorize(request)
        raw = await self.body(request)
        return self.cds.take_feedback(service, loads(raw))

    async def openapi(self, request):
        from .openapi import document

        return document(self)

    async def index(self, request):
        """`GET /`: what this service is and its endpoints (from the OpenAPI document, so they agree)."""
        from .openapi import document

        endpoints = [{"method": "GET", "path": "/", "summary": "this index"},
                     {"method": "GET", "path": "/openapi.json", "summary": "the OpenAPI 3.1 document"}]
        for path, ops in document(self)["paths"].items():
            for method, op in ops.items():
                endpoints.append({"method": method.upper(), "path": path, "summary": op.get("summary", "")})
        return {"service": "hgl", "guidelines": [self._entry(x) for x in self.guidelines.values()],
                "endpoints": endpoints}


# ---------------------------------------------------------------- ASGI


def _endpoint(service: Service, fn):
    """An endpoint answering JSON: HttpError as its status, any other exception as a generic 500."""

    async def endpoint(request: Request) -> Response:
        headers = dict(BASE_HEADERS)
        gid = request.path_params.get("gid")
        g = service.guidelines.get(gid) if gid else None
        if g is None and "sid" in request.path_params:
            s = service.cds.services.get(request.path_params["sid"])
            g = s.guideline if s is not None else None
        if g is not None:
            headers.update({"HGL-Guideline-Id": g.id, "HGL-Guideline-Version": str(g.version),
                            "HGL-Guideline-Sha256": g.sha256})
        try:
            out = await fn(request)
            status, data = out if isinstance(out, tuple) else (200, dumps(out))
        except HttpError as err:
            close = err.status in (401, 408, 411, 413, 415) and request.method != "GET"
            response = error_response(err, close)
            response.headers.update({k: v for k, v in headers.items() if k.startswith("HGL-")})
            return response
        except ClientDisconnect:
            return Response(b"", 400, headers)  # the client has gone: nobody reads it
        except Exception:
            service.stats["internal_error"] += 1
            log.exception("hgl serve: error in %s %s", request.method, request.url.path)
            return error_response(HttpError(500, "internal_error", "internal error (logged by the server)"))
        return Response(data, status, headers)

    return endpoint


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own 404 and 405, as JSON."""
    if exc.status_code == 405:
        err = HttpError(405, "method_not_allowed", f"{request.method} is not allowed here; use "
                        f"{(exc.headers or {}).get('Allow', 'another method')}")
    elif exc.status_code == 404:
        err = HttpError(404, "not_found", f"no such endpoint: {request.url.path}")
    else:
        err = HttpError(exc.status_code, "bad_request", str(exc.detail))
    err.headers.update(exc.headers or {})
    return error_response(err)


class Cors:
    """CORS for the configured origins (pure ASGI): preflight answered here, in JSON; headers added."""

    ALLOW_HEADERS = "authorization, content-type"
    EXPOSE = "HGL-Guideline-Id, HGL-Guideline-Version, HGL-Guideline-Sha256"

    def __init__(self, app, origins, quiet: bool = True):
        self.app, self.origins, self.quiet = app, set(origins), quiet

    def allowed(self, origin: str | None) -> bool:
        return origin is not None and ("*" in self.origins or origin in self.origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k: v for k, v in scope["headers"] if k in (b"origin", b"access-control-request-method")}
        origin = headers[b"origin"].decode("latin-1") if b"origin" in headers else None
        status_seen = []
        if scope["method"] == "OPTIONS" and origin is not None and b"access-control-request-method" in headers:
            wanted = headers[b"access-control-request-method"].decode("latin-1")
            if not self.allowed(origin) or wanted not in ("GET", "POST"):
                body = dumps({"error": "cors_refused", "message": "this origin or method may not call the "
                              "service from a browser (see hgl serve --cors-origin)"})
                await _send(send, 403, body)
                return self._log(scope, 403)
            await send({"type": "http.response.start", "status": 204, "headers": [
                (b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin"),
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", self.ALLOW_HEADERS.encode()),
                (b"access-control-max-age", b"600"), (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": b""})
            return self._log(scope, 204)
        add = self.allowed(origin)

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                status_seen.append(message["status"])
                if add:
                    message["headers"] = list(message.get("headers", [])) + [
                        (b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin"),
                        (b"access-control-expose-headers", self.EXPOSE.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cors)
        if status_seen:
            self._log(scope, status_seen[0])

    def _log(self, scope, status: int) -> None:
        if not self.quiet:  # the request line only: never a body, so no patient data in the log
            log.info('%s "%s %s" %d', (scope.get("client") or ("-",))[0], scope["method"], scope["path"], status)


async def _send(send, status: int, body: bytes, extra=()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", JSON_TYPE.encode()), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"), *extra]})
    await send({"type": "http.response.body", "body": body})


def make_app(guidelines, settings: Settings = Settings(), fhirin="load"):
    """The ASGI app over loaded guidelines; `app.state.service` is the Service behind it."""
    service = Service(guidelines, settings, fhirin)

    def route(path, fn, method="GET"):
        return Route(path, _endpoint(service, fn), methods=[method])

    routes = [
        route("/", service.index),
        route("/health", service.health),
        route("/openapi.json", service.openapi),
        route("/guidelines", service.list_guidelines),
        route("/guidelines/{gid}", service.describe),
        route("/guidelines/{gid}/schema", service.schema),
        route("/guidelines/{gid}/evaluate", service.evaluate, "POST"),
        route("/guidelines/{gid}/evaluate-batch", service.evaluate_batch, "POST"),
        route("/cds-services", service.discovery),
        route("/cds-services/{sid}", service.cds_call, "POST"),
        route("/cds-services/{sid}/feedback", service.feedback, "POST"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.service = service
    outer = Cors(app, settings.cors_origins, settings.quiet)
    outer.state = app.state
    return outer
