"""`hgl docs --serve`: build the site, serve it on 127.0.0.1, rebuild on save and reload open tabs.

The server is mkdocs' own development server (mkdocs.livereload.LiveReloadServer, as `mkdocs
serve` uses it): it watches files with watchdog, debounces a burst of saves, calls our builder,
and tells every open page (a script it injects into served HTML) to reload once the build is
done.  Our builder re-runs HGL's Markdown generation and the mkdocs build (site.build_site)
into a fresh folder; only a build that succeeds becomes the folder served.  A build that
fails (a guideline does not compile, a worked case fails, mkdocs warns) never stops the server
and never blanks the site: the diagnostics go to stderr, the last good build stays served,
and every HTML page gets a banner with the (escaped) error text until a build succeeds.

Verification (a solver run per guideline) is skipped in this mode unless --verify is given.
"""

from __future__ import annotations

import html
import logging
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from hgl.compiler.docs.site import SITE, TEMPLATES, DocsError, build_site

DEBOUNCE = 0.3  # seconds without a further change before a rebuild starts
POLL = 0.5  # seconds between two looks at the watched files (watchdog's polling observer)

_PLACEHOLDER = (b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                b"<title>hgl docs: build failed</title></head><body>"
                b"<p>No build of this site has succeeded yet: fix the error above and save.</p></body></html>")


def watched_paths(paths, extra_cases: dict, pages_dir: Path | None = SITE / "pages",
                  config_file: Path = SITE / "mkdocs.yml", templates: Path = TEMPLATES) -> list[Path]:
    """What a rebuild depends on: the guidelines, the case files next to them (<id>.cases.yaml)
    and those given with --cases, the hand-written pages, the templates and the mkdocs config."""
    found: list[Path] = []
    for p in paths:
        p = Path(p).resolve()
        found.append(p)
        found += sorted(p.parent.glob("*.cases.yaml"))  # the guideline's own case file, whatever its id
    for files in extra_cases.values():
        found += [Path(f).resolve() for f in files]
    found += [Path(x).resolve() for x in (pages_dir, templates, config_file) if x is not None]
    out: list[Path] = []
    for p in found:
        if p.exists() and p not in out:
            out.append(p)
    return out


def with_banner(page: bytes, failure: str, kept: bool = True) -> bytes:
    """The page with a banner saying the last build failed (its text escaped) right after <body>;
    kept: the page is from the last good build (else no build succeeded yet)."""
    shown = "this is the last good build" if kept else "no build has succeeded yet"
    banner = ('<div id="hgl-build-failed" role="alert" style="position:sticky;top:0;z-index:10000;'
              'background:#b00020;color:#fff;padding:.6em 1em;font:14px/1.4 monospace;max-height:50vh;'
              'overflow:auto"><strong>hgl docs: the last build failed; ' + shown + '.</strong>'
              '<pre style="white-space:pre-wrap;margin:.4em 0 0;padding:0;color:inherit;background:none">'
              + html.escape(failure) + "</pre></div>").encode("utf-8")
    start = page.find(b"<body")
    end = page.find(b">", start) + 1 if start >= 0 else 0
    return page[:end] + banner + page[end:]


class LiveSite:
    """The builder the server calls, and the state it keeps: the folder of the last good build and
    the text of the last failure ('' when the last build succeeded)."""

    def __init__(self, paths, work: Path, *, strict: bool = True, verify: bool = False,
                 extra_cases: dict | None = None, previous=None, **options):
        self.paths = [Path(p) for p in paths]
        self.work = Path(work)
        self.strict, self.verify = strict, verify
        self.extra_cases, self.previous, self.options = extra_cases or {}, previous, options
        self.good: Path | None = None
        self.failure = ""
        self.count = 0
        self.server = None  # set by serve_live

    @property
    def root(self) -> Path:
        """The folder to serve: the last good build, else a page saying none succeeded yet."""
        if self.good is not None:
            return self.good
        folder = self.work / "no-build"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_bytes(_PLACEHOLDER)
        return folder

    def build(self) -> bool:
        """One build into a fresh folder; never raises for a bad source (the server must live on)."""
        self.count += 1
        target = self.work / f"build-{self.count}"
        started = time.perf_counter()
        try:
            build_site(self.paths, target / "site", docs_dir=target / "docs", strict=self.strict,
                       verifier=None if self.verify else False, extra_cases=self.extra_cases,
                       previous=self.previous, **self.options)
        except DocsError as err:
            self.failure = str(err)
        except Exception:  # a bug in a stage: shown with its traceback, the server stays up
            self.failure = "internal error while building the site:\n" + traceback.format_exc()
        else:
            previous_good, self.good, self.failure = self.good, target / "site", ""
            if previous_good is not None:  # a request may still be reading it: drop the one before it
                for old in self.work.glob("build-*"):
                    if old not in (target, previous_good.parent):
                        shutil.rmtree(old, ignore_errors=True)
            print(f"built the site in {time.perf_counter() - started:.2f} s", flush=True)
        if self.failure:
            shutil.rmtree(target, ignore_errors=True)
            kept = "still serving the last good build" if self.good else "no good build to serve yet"
            print(f"hgl docs: build failed ({kept}):\n{self.failure}", file=sys.stderr, flush=True)
        if self.server is not None:
            self.server.root = str(self.root)
        return not self.failure

    def error_page(self, code: int) -> bytes | None:
        """The site's own 404 page when there is one (mkdocs writes 404.html)."""
        page = (self.good / f"{code}.html") if self.good else None
        return page.read_bytes() if page is not None and page.is_file() else None

    def wrap(self, app):
        """WSGI middleware around the server's app: the failure banner on every HTML page."""
        def banner_app(environ, start_response):
            got: dict = {}

            def capture(status, headers, exc_info=None):
                got["status"], got["headers"] = status, list(headers)
                return lambda data: None  # the server's app never uses write()

            body = app(environ, capture)
            failure = self.failure
            kind = next((v for k, v in got.get("headers", []) if k.lower() == "content-type"), "")
            if not failure or not kind.startswith("text/html"):
                start_response(got["status"], got["headers"])
                return body
            try:
                content = b"".join(body)
            finally:
                if hasattr(body, "close"):
                    body.close()
            content = with_banner(content, failure, kept=self.good is not None)
            headers = [(k, v) for k, v in got["headers"] if k.lower() != "content-length"]
            start_response(got["status"], headers + [("Content-Length", str(len(content)))])
            return [content]
        return banner_app


def serve_live(paths, *, port: int, strict: bool = True, verify: bool = False, extra_cases: dict | None = None,
               previous=None, host: str = "127.0.0.1") -> int:
    """`hgl docs --serve`: build, serve on host:port (0: any free port), rebuild on save until Ctrl-C."""
    from mkdocs.livereload import LiveReloadServer

    class Server(LiveReloadServer):
        def server_bind(self):
            super().server_bind()
            self.url = f"http://{host}:{self.server_address[1]}/"  # the real port, also when 0 was asked
            print(f"serving on {self.url} (rebuilds on save; Ctrl-C stops)", flush=True)

    # the server's own log (a 404, say) goes to stderr, not up to the "mkdocs" logger, where a
    # strict build collecting mkdocs' warnings would count it as one of its own
    server_log = logging.getLogger("mkdocs.livereload")
    server_log.propagate = False
    if not server_log.handlers:
        server_log.addHandler(logging.StreamHandler(sys.stderr))
    work = Path(tempfile.mkdtemp(prefix="hgl-docs-serve-"))
    site = LiveSite(paths, work, strict=strict, verify=verify, extra_cases=extra_cases, previous=previous)
    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        site.build()
        server = Server(builder=site.build, host=host, port=port, root=str(site.root), polling_interval=POLL)
        server.build_delay = DEBOUNCE
        server.error_handler = site.error_page
        server.set_app(site.wrap(server.serve_request))
        site.server = server
        for path in watched_paths(paths, site.extra_cases):
            server.watch(str(path), recursive=path.is_dir())
        try:
            server.serve()
        except OSError as err:  # the port is taken, or not ours to bind
            print(f"hgl docs: cannot serve on {host}:{port}: {err.strerror or err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
        print("stopped", flush=True)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        shutil.rmtree(work, ignore_errors=True)


def _interrupt(signum, frame):  # SIGTERM stops the server as Ctrl-C does
    raise KeyboardInterrupt


__all__ = ["LiveSite", "serve_live", "watched_paths", "with_banner"]
