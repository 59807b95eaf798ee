"""Serving the ASGI app with uvicorn, hardened: time limits on slow clients, JSON refusals, `hgl serve`.

uvicorn's HTTP/1.1 protocol (h11) is subclassed for what its settings do not cover: a
deadline for the request head (a client sending its headers byte by byte), an abort of a
connection whose client does not read its answer, a cap on open connections and running
requests answered in JSON, and a duplicate Content-Length refused (h11 merges equal ones).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import socket
import sys
import threading

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("hgl.serve")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_PHRASE = {400: "Bad Request", 408: "Request Timeout", 503: "Service Unavailable"}


def _raw_answer(status: int, error: str, message: str) -> bytes:
    import json

    body = json.dumps({"error": error, "message": message}).encode()
    return (f"HTTP/1.1 {status} {_PHRASE[status]}\r\ncontent-type: application/json; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n").encode() + body


def _two_lengths(head: bytes) -> bool:
    """Two Content-Length headers, or one listing two values ("12, 12"): refused, even when equal."""
    lines = [line for line in head.split(b"\n")[1:] if line.startswith(b"content-length:")]
    return len(lines) > 1 or any(b"," in line for line in lines)


class Protocol(H11Protocol):
    """uvicorn's h11 protocol with the limits `hgl serve` needs (settings from `config.hgl`)."""

    def __init__(self, config, server_state, app_state, _loop=None):
        super().__init__(config, server_state, app_state, _loop)
        self.hgl = config.hgl
        self.limit_concurrency = None  # answered below, in JSON, rather than uvicorn's text/plain 503
        self._head_timer = None
        self._write_timer = None
        self._over = False
        app = self.app

        async def guarded(scope, receive, send):
            if len(self.tasks) > self.hgl["max_requests"]:
                from .app import _send, dumps

                await _send(send, 503, dumps({"error": "overloaded", "message": "too many requests at once; "
                                              "retry shortly"}), [(b"retry-after", b"1")])
                return
            await app(scope, receive, send)

        self.app = guarded

    # ------------------------------------------------------------ connections and request heads
    def connection_made(self, transport):
        super().connection_made(transport)
        self._over = len(self.connections) > self.hgl["max_connections"]  # answered 503 when it speaks
        self._arm_head_timer()

    def _arm_head_timer(self):
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.hgl["header_timeout"], self._head_timeout)

    def _disarm_head_timer(self):
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self):
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:  # a request begun and not finished in time: say so
            self._refuse(408, "timeout", f"the request head did not arrive within {self.hgl['header_timeout']:g} s")
        else:  # an idle connection: just close it
            self.transport.close()

    def _refuse(self, status: int, error: str, message: str):
        self._disarm_head_timer()
        self.transport.write(_raw_answer(status, error, message))
        self.transport.close()
        self._abort_later()

    def handle_events(self):
        if self._over:
            self._refuse(503, "overloaded", "too many open connections; retry shortly")
            return
        if self.conn.their_state is h11.IDLE:
            data = self.conn.trailing_data[0]
            end = _BLANK_LINE.search(data)
            if end is not None and _two_lengths(data[:end.start()].lower()):
                self._refuse(400, "bad_request", "duplicate Content-Length header")
                return
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:
            self._disarm_head_timer()

    def send_400_response(self, msg: str):
        """A malformed request (h11 refused it), in JSON and without a log line."""
        self._refuse(400, "bad_request", "malformed HTTP request")

    # ------------------------------------------------------------ answers the client does not read
    def on_response_complete(self):
        super().on_response_complete()
        if self.transport.is_closing():
            self._abort_later()
        elif self.conn.their_state is h11.IDLE and self.cycle is not None and self.cycle.response_complete:
            self._arm_head_timer()

    def _abort_later(self):
        """Closing waits for the buffered answer to be read: give the client write_timeout seconds."""
        if self._write_timer is None and self.transport.get_write_buffer_size() > 0:
            self._write_timer = self.loop.call_later(self.hgl["write_timeout"], self.transport.abort)

    def timeout_keep_alive_handler(self):
        if not self.transport.is_closing() and self.transport.get_write_buffer_size() > 0:
            self.transport.abort()  # idle, and the last answer still unread
            return
        super().timeout_keep_alive_handler()

    def connection_lost(self, exc):
        self._disarm_head_timer()
        if self._write_timer is not None:
            self._write_timer.cancel()
        super().connection_lost(exc)


# ---------------------------------------------------------------- configuration and running


DEFAULTS = {"header_timeout": 10.0, "write_timeout": 30.0, "keep_alive": 5, "max_connections": 1000,
            "max_requests": 256, "backlog": 2048, "max_head": 16 * 1024}


def make_config(app, host="127.0.0.1", port=8080, sock_limits: dict | None = None, **_):
    """The uvicorn Config of `hgl serve`: our protocol, no uvicorn logging, bounded heads and keep-alive."""
    import uvicorn

    limits = {**DEFAULTS, **(sock_limits or {})}
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # our answers say it all: no log lines
        logging.getLogger(name).setLevel(logging.CRITICAL)
    config = uvicorn.Config(app, host=host, port=port, http=Protocol, lifespan="off", log_config=None,
                            access_log=False, server_header=False, proxy_headers=False,
                            timeout_keep_alive=limits["keep_alive"], backlog=limits["backlog"],
                            h11_max_incomplete_event_size=limits["max_head"], timeout_graceful_shutdown=5)
    config.hgl = limits
    return config


def bind(host: str, port: int, backlog: int, processes: int = 1) -> socket.socket:
    """A listening socket (port 0 picks a free one), so that the caller knows the port before serving.

    For several processes (`serve`) the socket is opened with SO_REUSEPORT where the system has
    it, so that each process can listen on a socket of its own on the same port: the kernel then
    spreads new connections evenly over them.  (One shared socket lets whichever process wakes
    first accept a whole burst of connections: at 32 keep-alive clients one process often got
    most of them and the other idled.)  Only sockets of the same user can join the group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so (else Nagle and
    # delayed ACKs add 40 ms to an answer written in two parts)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if processes > 1 and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class Running:
    """A server running in a thread (tests, benchmarks): `.url`, `.app`, `.stop()`."""

    def __init__(self, app, host="127.0.0.1", port=0, **limits):
        import uvicorn

        self.app = app
        self.config = make_config(app, host, port, limits)
        self.sock = bind(host, port, self.config.backlog)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            self.thread.join(0.01)

    def _run(self):
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


# ---------------------------------------------------------------- command line


def configure(sub: argparse.ArgumentParser) -> None:
    """The arguments of `hgl serve`."""
    from .app import MAX_BODY, Settings

    d = Settings()
    sub.add_argument("guidelines", nargs="+", metavar="GUIDELINE", help=".hgl files or modules built by hgl build")
    sub.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    sub.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free one)")
    sub.add_argument("--max-body", type=int, default=MAX_BODY, help=f"largest request body in bytes (default: {MAX_BODY})")
    sub.add_argument("--max-batch", type=int, default=d.max_batch, help=f"cases per evaluate-batch request (default: {d.max_batch})")
    sub.add_argument("--max-work", type=float, default=d.max_work,
                     help=f"seconds of evaluation per request before a 503 (default: {d.max_work:g})")
    sub.add_argument("--workers", type=int, default=d.workers, help=f"evaluation threads (default: {d.workers})")
    sub.add_argument("--processes", type=int, default=1,
                     help="server processes sharing the port, each with its threads (default: 1; "
                          "evaluation is CPU-bound, so up to one per core)")
    sub.add_argument("--max-connections", type=int, default=DEFAULTS["max_connections"],
                     help=f"open connections before a 503 (default: {DEFAULTS['max_connections']})")
    sub.add_argument("--max-requests", type=int, default=DEFAULTS["max_requests"],
                     help=f"requests in progress before a 503 (default: {DEFAULTS['max_requests']})")
    sub.add_argument("--header-timeout", type=float, default=DEFAULTS["header_timeout"],
                     help=f"seconds for a request head to arrive (default: {DEFAULTS['header_timeout']:g})")
    sub.add_argument("--body-timeout", type=float, default=d.body_timeout,
                     help=f"seconds for a request body to arrive (default: {d.body_timeout:g})")
    sub.add_argument("--no-auth", action="store_true",
                     help="accept CDS Hooks requests without a JWT (local use only; default: JWT required)")
    sub.add_argument("--trust", action="append", default=[], metavar="ISSUER=JWKS",
                     help="a trusted CDS client: its JWT issuer and its JWKS (https URL or file); repeatable")
    sub.add_argument("--public-url", help="the service's public base URL, the `aud` its clients sign for "
                                          "(default: the URL the request came to)")
    sub.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                     help="a browser origin allowed to call the service (e.g. https://sandbox.cds-hooks.org); repeatable")
    sub.add_argument("--site-url", help="the generated documentation site: cards link to the rule's page there")
    sub.add_argument("--fhir-server", action="append", default=[], metavar="PREFIX",
                     help="a fhirServer the service may query (prefix); repeatable (default: any, when JWTs are checked)")
    sub.add_argument("--quiet", action="store_true", help="no access log on stderr")


def settings_from(args):
    from .app import Settings
    from .auth import parse_trust

    return Settings(max_body=args.max_body, max_batch=args.max_batch, max_work=args.max_work,
                    body_timeout=args.body_timeout, workers=args.workers, auth=not args.no_auth,
                    trusted=tuple(parse_trust(t) for t in args.trust), public_url=args.public_url,
                    cors_origins=tuple(args.cors_origin), site_url=args.site_url,
                    fhir_servers=tuple(args.fhir_server), quiet=args.quiet)


def load_with_bindings(path):
    """A guideline (.hgl or built module), with its FHIR bindings when it declares them (hgl.runtime.fhirin)."""
    from ..api import load
    from .cds import load_fhirin

    guideline = load(path)
    fhirin = load_fhirin()
    if fhirin is not None and fhirin.module_bindings(guideline.module) is not None:
        return fhirin.attach(guideline)
    return guideline


def cli_main(args) -> int:
    """`hgl serve`: load the guidelines, then answer until Ctrl-C."""
    import uvicorn

    from ..api import Guideline
    from .app import make_app

    try:
        settings = settings_from(args)
        app = make_app([g if isinstance(g, Guideline) else load_with_bindings(g) for g in args.guidelines],
                       settings)
        limits = {"header_timeout": args.header_timeout, "max_connections": args.max_connections,
                  "max_requests": args.max_requests}
        config = make_config(app, args.host, args.port, limits)
        sock = bind(args.host, args.port, config.backlog, max(1, args.processes))
    except OSError as err:
        print(f"hgl serve: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"hgl serve: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a guideline that does not compile: its diagnostics, not a traceback
        print(f"hgl serve: {err}", file=sys.stderr)
        return 1
    handler = logging.StreamHandler(sys.stderr)  # set up only now: a refused start leaves logging as it was
    handler.setFormatter(logging.Formatter("hgl serve: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    service = app.state.service
    if settings.auth and not settings.trusted:
        print("hgl serve: no --trust issuer: every CDS Hooks request will be refused (401); "
              "--no-auth for local use", file=sys.stderr)
    host, port = sock.getsockname()[:2]
    print(f"hgl serve: {', '.join(service.guidelines)} on http://{host}:{port}/ (CDS Hooks discovery: "
          f"/cds-services; OpenAPI: /openapi.json; Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        serve(config, sock, max(1, args.processes))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _exit_on_signal(signum, frame):
    raise SystemExit(0)


def _die_with_parent() -> None:
    """Linux: a forked server process gets SIGTERM when the first one dies (even by SIGKILL)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the first process still stops them on a clean exit
        pass


def _group_sockets(sock, backlog: int, n: int) -> list:
    """`n` more listening sockets on `sock`'s port when it is in a SO_REUSEPORT group (bind),
    made before any process forks so that every one is in the group from the first connection on
    (one made by a forked process after start-up missed the first burst: the keep-alive clients
    that connected at once all stayed with the first process); [] without SO_REUSEPORT."""
    if not hasattr(socket, "SO_REUSEPORT") or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT):
        return []
    host, port = sock.getsockname()[:2]
    return [bind(host, port, backlog, processes=2) for _ in range(n)]


def serve(config, sock, processes: int = 1) -> None:
    """Serve on a bound socket until stopped; with processes > 1, as many processes share it.

    The others are forked after the guidelines are loaded and the socket bound, before any event
    loop or thread exists (the app makes its thread pool in the loop), so each starts at once
    with the same state; the kernel spreads the connections.  Each stops on SIGINT/SIGTERM like
    a single server (uvicorn's handlers: work in progress finishes); when the first process
    stops, it stops the others and waits for them.
    """
    import os
    import signal

    import uvicorn

    import gc

    # the guidelines and the code loaded so far live as long as the server: out of the collector's
    # sight, a full collection no longer walks them (a 20 ms pause, once in about 2,000 answers,
    # that every request in flight waited for) and a forked process does not copy their pages
    gc.freeze()
    children = []
    own = _group_sockets(sock, config.backlog, processes - 1) if processes > 1 else []
    for i in range(processes - 1):
        pid = os.fork()
        if pid == 0:  # a child: serve, then leave without running the parent's cleanup
            code = 0
            _die_with_parent()
            mine = own[i] if own else sock  # its own socket in the group, else the shared one
            for other in ([sock, *own] if own else []):
                if other is not mine:
                    other.close()
            try:
                uvicorn.Server(config).run(sockets=[mine])
            except KeyboardInterrupt:
                pass
            except BaseException:  # noqa: BLE001 - a child never returns into the caller's code
                code = 1
            os._exit(code)
        children.append(pid)
    for mine in own:  # each child listens on its own; this process keeps `sock`
        mine.close()
    if children:
        # uvicorn re-raises the stopping signal once it has shut down; let SIGTERM end in an
        # exception like SIGINT does, so that the children are stopped below
        signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
