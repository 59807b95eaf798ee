"""Docs generation, driver stage: compiled guidelines (CompileResult) -> Markdown (Jinja2) -> a static site (mkdocs), and `hgl docs`.

The pages come from the same CompileResult the tests run (its resolved program, see
pages.py), and the worked cases are run through hgl.runtime during the build, so text,
diagrams and behaviour cannot disagree.  Guideline text is escaped by default: the Jinja
environment escapes every string it prints unless it is a trusted `Md` fragment built by
docs/text.py.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shutil
import sys
import time
import urllib.parse
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from hgl.compiler.docs.pages import GuidelineDocs, Page
from hgl.runtime import cache as _cache
from hgl.compiler.docs.text import Md, code, esc

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).resolve().parent / "templates"
SITE = ROOT / "site"
# More case files for a guideline's worked-cases page, by guideline id (`hgl docs --cases ID=FILE`):
# none by default; each guideline's own guidelines/<id>.cases.yaml is always shown.
EXTRA_CASES: dict = {}
# Hand-written pages, in nav order; any other site/pages/*.md follows, alphabetically.
# site/pages/guidelines/<id>.md, the author's notes on one guideline, becomes <id>/notes.md in its nav group.
HAND_PAGES = (("runtime.md", "Running cases"), ("cohorts.md", "Cohorts at scale"), ("language.md", "Language reference"),
              ("testing.md", "Testing a guideline"), ("diagnostics.md", "Diagnostics reference"), ("verification.md", "Verification method"),
              ("service.md", "HTTP service and CDS Hooks"), ("fhir.md", "FHIR export"),
              ("editors.md", "Editor support"),
              ("design.md", "Design decisions"))
MARKER = ".hgl-docs"  # dot file: mkdocs keeps it when it cleans the site folder
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DocsError(Exception):
    """The site cannot be built: a guideline does not compile, a worked case fails, mkdocs warns."""


# ---------------------------------------------------------------- Jinja


def _finalize(value):
    # escape-by-default: only Md/Markup fragments (built on purpose) print as they are
    if isinstance(value, Markup):
        return value
    if value is None:
        raise DocsError("a template printed None (a missing value must be handled in the template)")
    return esc(value)


def _mdjoin(items, sep=", ") -> Md:
    return Md(esc(sep).join(v if isinstance(v, Markup) else esc(v) for v in items))


def _ident(name) -> Md:
    """An identifier used in an HTML id: the grammar allows only these characters, and we check."""
    text = str(name)
    if not _IDENT.fullmatch(text):
        raise DocsError(f"not an identifier: {text!r}")
    return Md(text)


def _indent(depth: int) -> Md:
    return Md("    " * depth)


def _doi_url(doi) -> Md:
    return Md("https://doi.org/" + urllib.parse.quote(str(doi), safe="/.-_;"))


def _pre(text) -> Md:
    """Source text in a <pre> inside raw HTML: HTML-escaped, newlines as entities (no blank line ends the block)."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Md("<pre class=\"hgl-source\"><code>" + s.replace("\n", "&#10;") + "</code></pre>")


def _pre_hgl(text) -> Md:
    """HGL source like `_pre`, highlighted by the HGL lexer: Pygments' classes inside `.highlight`
    are the ones mkdocs-material colours (the same as the ```hgl blocks of the author pages)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    from hgl.compiler.docs.lexer import HglLexer

    text = str(text)
    spans = highlight(text, HglLexer(stripnl=False, ensurenl=False), HtmlFormatter(nowrap=True))
    if not text.endswith("\n"):
        spans = spans.removesuffix("\n")  # the formatter ends every line
    return Md("<pre class=\"hgl-source highlight\"><code>" + spans.replace("\n", "&#10;") + "</code></pre>")


def make_env() -> Environment:
    """The template environment: StrictUndefined, escape-by-default, Markdown-friendly whitespace."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, autoescape=True,
                      finalize=_finalize, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(code=code, esc=esc, join=_mdjoin, mdjoin=_mdjoin, indent_md=_indent, ident=_ident, doi_url=_doi_url,
                       pre=_pre, pre_hgl=_pre_hgl, tojson_pretty=lambda v: json.dumps(v, indent=2, ensure_ascii=False))
    return env


# ---------------------------------------------------------------- worked cases and verification


def _value_text(v) -> str:
    if v is None:
        return "missing"
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if isinstance(v, (list, tuple, set, frozenset)):
        return "{" + ", ".join(str(x) for x in v) + "}" if v else "empty"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_value_text(x)}" for k, x in v.items())
    return str(v)


def run_cases(result, paths: list[Path], display_root: Path = ROOT) -> list[dict]:
    """Run every case of the case files through hgl.runtime; DocsError if one misses its expectation."""
    from hgl.runtime.api import Guideline, load_module_source
    from hgl.runtime.casefile import check_expectations, load_case_file, merged_case
    from hgl.runtime.schema import CaseError

    guideline = Guideline(load_module_source(result.code, f"hgl_docs_{result.source.sha256[:12]}"))
    files, failures = [], []
    for path in paths:
        base, cases = load_case_file(path)
        shown = _display(path, display_root)
        entries = []
        for i, c in enumerate(cases):
            cid = str(c.get("id", f"#{i + 1}"))
            expect = c.get("expect") or {}
            try:
                r = guideline.evaluate(merged_case(base, c), c.get("params") or {})
            except CaseError as err:
                failures.append(f"{shown}::{cid}: invalid case: {err}")
                continue
            problems = check_expectations(r, expect)
            failures += [f"{shown}::{cid}: {p}" for p in problems]
            if c.get("gallery") is False:  # a regression check (e.g. from --mutate): checked, not a worked example
                continue
            roles = guideline.engine.roles
            by_role = [(roles[role].label, [(o["id"], o["rule"]) for o in r.options if o["role"] == role])
                       for role in guideline.engine.display_rank]
            entries.append({
                "id": cid, "title": str(c.get("title", "")), "spec": [str(s) for s in c.get("spec") or []],
                "params": [(k, _value_text(v)) for k, v in (c.get("params") or {}).items()],
                "fields": [(k, _value_text(v)) for k, v in (c.get("case") or {}).items()],
                "expect": [(k, _value_text(v)) for k, v in expect.items()],
                "status": r.status, "roles": by_role, "flags": [(f["id"], f["rule"]) for f in r.flags],
                "missing": list(r.missing), "inconsistent": list(r.inconsistent),
                "violated": [v["label"] for v in r.violated], "governing": r.governing, "passed": not problems})
        files.append({"path": shown, "base": [(k, _value_text(v)) for k, v in base.items()], "cases": entries})
    if failures:
        raise DocsError("worked cases do not meet their expectations:\n  " + "\n  ".join(failures))
    return files


def _schema(result) -> dict:
    from hgl.runtime.api import Guideline, load_module_source

    return Guideline(load_module_source(result.code, f"hgl_docs_{result.source.sha256[:12]}")).schema()


def run_verification(result, verifier=None) -> dict:
    """Findings of hgl.compiler.verify.search for the page; `available` False when there is no verifier.

    The default verifier's findings are cached by the hash of the source and of the code
    they depend on, since a solver run can take longer than the rest of the build.
    """
    if verifier is False:
        return {"available": False, "reason": "verification was not run for this build", "findings": []}
    cache = None
    if verifier is None:
        try:
            # import_module consults sys.modules, so a blocked or absent verifier is seen as such
            verify_module = importlib.import_module("hgl.compiler.verify.search")
        except ModuleNotFoundError:  # the verifier or its solver (z3) is not installed
            return {"available": False, "reason": "verification not available in this installation",
                    "findings": []}
        except ImportError as exc:  # installed but broken: shown, never hidden
            return {"available": False, "reason": f"verification failed: ImportError: {exc}", "findings": []}
        verifier = verify_module.verify
        cache = _verification_cache(result, verify_module)
        cached = _cache.read_signed(cache) if cache is not None else None  # signed by this user's hgl
        if cached is not None:
            try:
                entry = json.loads(cached)
                if entry.get("key") == cache.stem:  # the entry is for this source and this verifier
                    return entry["findings"]
            except (ValueError, KeyError, AttributeError):
                pass
    from hgl.compiler.front.diagnostics import CODES

    started = time.perf_counter()
    try:
        diags = verifier(result)
    except Exception as exc:  # another stage's failure is shown, never hidden; the page says so
        return {"available": False, "reason": f"verification failed: {type(exc).__name__}: {exc}", "findings": []}
    findings = []
    for d in diags:
        data = d.data if isinstance(d.data, dict) else {}
        witness = data.get("witness", data.get("case", data or None))
        rule = next((r.name for r in result.program.rules
                     if r.span.line <= d.span.line <= max(r.span.end_line, r.span.line)), None)
        findings.append({"code": d.code, "severity": d.severity, "rule": rule, "title": CODES.get(d.code, ("", ""))[1],
                         "message": d.message, "where": f"{result.source.name}:{d.span.line}:{d.span.column}",
                         "hint": d.hint or "", "witness": json.dumps(witness, indent=2, ensure_ascii=False)
                         if witness is not None else ""})
    out = {"available": True, "reason": "", "findings": findings,
           "seconds": round(time.perf_counter() - started, 1)}
    if cache is not None:  # a read-only or untrusted cache only costs a rerun
        _cache.write_signed(cache, json.dumps({"key": cache.stem, "findings": out}, ensure_ascii=False).encode())
    return out


def _verification_cache(result, module) -> Path | None:
    """The cache file of a guideline's findings, keyed by its source and the code the findings depend on:
    the verifier's package, the checker that resolves the program, and the runtime it replays witnesses on."""
    try:
        here = Path(module.__file__).resolve().parent
        runtime = Path(importlib.import_module("hgl.runtime").__file__).resolve().parent
        folders = (here, here.parent / "check", runtime)
        code = b"".join(p.read_bytes() for folder in folders for p in sorted(folder.glob("*.py")))
    except (OSError, TypeError):
        return None
    key = hashlib.sha256(result.source.text.encode("utf-8") + b"\0" + code).hexdigest()
    folder = _cache.trusted_dir("verify")  # None: the directory is not private, nothing is cached
    return folder / f"{key}.json" if folder is not None else None


# ---------------------------------------------------------------- Markdown


def _display(path: Path, root: Path = ROOT) -> str:
    p, root = Path(path).resolve(), Path(root).resolve()
    for base, prefix in ((root, ""), (root.parent, "../")):  # the repository, then its workspace
        try:
            return prefix + p.relative_to(base).as_posix()
        except ValueError:
            continue
    return p.name


def _case_files(path: Path, gid: str, extra: dict | None) -> list[Path]:
    own = path.parent / f"{gid}.cases.yaml"
    files = [own] if own.exists() else []
    for p in (EXTRA_CASES if extra is None else extra).get(gid, []):
        if Path(p).exists():
            files.append(Path(p))
    return files


def guideline_pages(path: Path, *, verifier=None, extra_cases: dict | None = None,
                    display_root: Path = ROOT, previous=None) -> tuple[GuidelineDocs, list[Page]]:
    """Compile one guideline and build its pages (data only; nothing written)."""
    from hgl.compiler.front.diagnostics import render_all
    from hgl.compiler.pipeline import compile_source, read_source

    shown = _display(path, display_root)
    result = compile_source(read_source(path, shown))
    if not result.ok:
        raise DocsError(f"{shown} does not compile:\n" + render_all(result.source, result.errors))
    gid = result.program.meta.id.text
    case_files = _case_files(Path(path), gid, extra_cases)
    cases = run_cases(result, case_files, display_root)
    verification = run_verification(result, verifier)
    from hgl.compiler.check.accepts import split_page_findings  # `accept` statements: listed apart, with reasons

    verification = split_page_findings(result.program, verification)
    if verifier is None:  # the real verifier: the page also shows the mutation score (compiler/mutate/report.py)
        from hgl.compiler.mutate.report import page_summary

        verification = {**verification, "mutation": page_summary(
            path, case_files, [_display(p, display_root) for p in case_files])}
    docs = GuidelineDocs(result, shown, cases=cases, schema=_schema(result), verification=verification)
    pages = docs.pages()
    from hgl.compiler.docs import changes  # "What changed": hgl diff against the previous version (--previous)

    spec = changes.previous_spec(previous, gid, Path(path), display_root)
    if spec:
        pages.append(changes.changes_page(docs, changes.guideline_changes(result, spec, cwd=display_root)))
    return docs, pages


def write_markdown(paths, docs_dir, *, pages_dir: Path | None = SITE / "pages", verifier=None,
                   extra_cases: dict | None = None, display_root: Path = ROOT, previous=None) -> list[dict]:
    """Render every page of every guideline into docs_dir (emptied first); returns the nav."""
    docs_dir = Path(docs_dir)
    _claim(docs_dir)
    shutil.rmtree(docs_dir)
    docs_dir.mkdir(parents=True)
    (docs_dir / MARKER).write_text("made by hgl docs: emptied on every build\n", encoding="utf-8")
    env = make_env()
    guidelines = []
    nav: list[dict] = [{"Home": "index.md"}]
    clinician_nav: list[dict] = []  # two views (tabs): a clinician reads guidelines, an author the references
    author_nav: list[dict] = []
    for path in paths:
        docs, pages = guideline_pages(Path(path), verifier=verifier, extra_cases=extra_cases,
                                      display_root=display_root, previous=previous)
        gnav: list = []
        anav: list = []  # the guideline's pages for its authors (Page.view == "author")
        sections: list = []
        for page in pages:
            short = docs.title.split(":")[0].strip()  # the page title names the guideline in words, not by its id
            short = short if 0 < len(short) <= 48 else docs.gid
            title = page.title if page.template == "section.md.j2" else f"{page.title} · {short}"
            text = _front_matter(title) + env.get_template(page.template).render(**page.data)
            target = docs_dir / page.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            for name, content in page.data.get("write_files", {}).items():  # e.g. the charts as standalone SVG
                (target.parent / name).write_text(content, encoding="utf-8")
            entry = {_nav_title(page.title): page.path}
            if page.template == "section.md.j2":
                sections.append(entry)
            elif getattr(page, "view", "clinician") == "author":
                anav.append(entry)
            else:
                gnav.append(entry)
            if page.template == "flowcharts.md.j2":
                gnav.append({"Sections": sections})
        (docs_dir / docs.gid / f"{docs.gid}.schema.json").write_text(
            json.dumps(docs.schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        notes = Path(pages_dir) / "guidelines" / f"{docs.gid}.md" if pages_dir else None
        if notes is not None and notes.is_file():  # the author's notes: in the guideline's own nav group
            shutil.copyfile(notes, docs_dir / docs.gid / "notes.md")
            anav.insert(0, {"Notes": f"{docs.gid}/notes.md"})
        clinician_nav.append({_nav_title(docs.title): gnav})
        author_nav.append({_nav_title(docs.title): anav})
        guidelines.append({"id": docs.gid, "title": docs.title, "version": docs.program.meta.get("version")})
    hand = {p.name: p for p in sorted(Path(pages_dir).glob("*.md"))} if pages_dir and Path(pages_dir).exists() else {}
    for name, p in hand.items():
        shutil.copyfile(p, docs_dir / name)
    (docs_dir / "assets").mkdir(exist_ok=True)
    shutil.copyfile(TEMPLATES / "hgl.css", docs_dir / "assets" / "hgl.css")
    for asset in ("site.css", "gallery.js"):  # two views, print and phone layout; the case gallery's filter
        shutil.copyfile(TEMPLATES / asset, docs_dir / "assets" / asset)
    for asset in ("flowchart.css", "flowchart.js"):  # the charts' pan and zoom (compiler/docs/flowchart.py)
        shutil.copyfile(TEMPLATES / asset, docs_dir / "assets" / asset)
    intro = hand["index.md"].read_text(encoding="utf-8") if "index.md" in hand else "# Guidelines\n"
    references = [{title: name} for name, title in HAND_PAGES if name in hand]
    listed = {"index.md"} | {name for name, _ in HAND_PAGES}
    references += [{name[:-3].replace("_", " ").capitalize(): name} for name in hand if name not in listed]
    (docs_dir / "index.md").write_text(env.get_template("home.md.j2").render(
        intro=Md(intro), guidelines=guidelines, references=[(t, n) for e in references for t, n in e.items()]),
        encoding="utf-8")
    if clinician_nav:
        nav.append({"For clinicians": clinician_nav})
    if references or author_nav:
        nav.append({"For authors": references + [{t: pages}
                                                  for e in author_nav for t, pages in e.items() if pages]})
    return nav


def _claim(folder: Path) -> None:
    """Make sure a folder the build empties is one it made (or a new or empty one)."""
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()) and not (folder / MARKER).exists():
        raise DocsError(f"{folder} is not empty and was not made by hgl docs: refusing to overwrite it")
    (folder / MARKER).write_text("made by hgl docs: emptied on every build\n", encoding="utf-8")


def _nav_title(text: str) -> str:
    """A title for the theme, which prints it as HTML in places and through `striptags` (which
    unescapes) in <title>: angle brackets become look-alikes, so no reading of it makes a tag."""
    text = " ".join(str(text).split()).replace("<", "\u2039").replace(">", "\u203a")
    return text.replace("&", "&amp;").replace('"', "&quot;")


def _front_matter(title: str) -> str:
    # the page title mkdocs uses instead of the first heading (whose HTML the theme would unescape)
    return "---\ntitle: " + json.dumps(_nav_title(title), ensure_ascii=False) + "\n---\n\n"


# ---------------------------------------------------------------- mkdocs


def build_site(paths, out_dir, *, docs_dir=None, strict: bool = True, verifier=None, extra_cases=None,
               pages_dir: Path | None = SITE / "pages", config_file: Path = SITE / "mkdocs.yml",
               display_root: Path = ROOT, run_mkdocs: bool = True, previous=None) -> dict:
    """Write the Markdown and build the static site; returns {docs_dir, site_dir, nav, seconds}.

    Raises DocsError when a guideline does not compile, a worked case fails, or (strict)
    mkdocs reports a warning.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    docs_dir = Path(docs_dir).resolve() if docs_dir else (SITE / "docs")
    paths = [Path(p) for p in paths]
    _claim(out_dir)
    nav = write_markdown(paths, docs_dir, pages_dir=pages_dir, verifier=verifier, extra_cases=extra_cases,
                         display_root=display_root, previous=previous)
    if run_mkdocs:
        _mkdocs(config_file, docs_dir, out_dir, nav, strict)
    return {"docs_dir": docs_dir, "site_dir": out_dir, "nav": nav,
            "seconds": round(time.perf_counter() - started, 2)}


def _mkdocs(config_file: Path, docs_dir: Path, site_dir: Path, nav: list, strict: bool) -> None:
    import logging

    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.records: list[str] = []

        def emit(self, record):
            self.records.append(record.getMessage())

    collect = Collect()
    log = logging.getLogger("mkdocs")
    log.addHandler(collect)
    try:
        cfg = load_config(str(config_file), docs_dir=str(docs_dir), site_dir=str(site_dir), nav=nav,
                          strict=strict)
        build(cfg)
    except Exception as exc:
        raise DocsError(f"mkdocs build failed: {exc}\n  " + "\n  ".join(collect.records)) from exc
    finally:
        log.removeHandler(collect)
    if strict and collect.records:
        raise DocsError("mkdocs reported warnings:\n  " + "\n  ".join(collect.records))


# ---------------------------------------------------------------- CLI


def configure(sub) -> None:
    """Arguments of `hgl docs`."""
    sub.add_argument("guidelines", nargs="*", help="guideline files (default: guidelines/*.hgl)")
    sub.add_argument("-o", "--output", default=str(SITE / "build"), help="site folder (default: site/build)")
    sub.add_argument("--docs-dir", default=str(SITE / "docs"), help="generated Markdown (default: site/docs)")
    sub.add_argument("--serve", action="store_true",
                     help="serve the site on 127.0.0.1, rebuild it when a guideline, case file, page or template "
                          "is saved, and reload open browser tabs (builds go to a temporary folder, not -o/--docs-dir; "
                          "verification is skipped unless --verify)")
    sub.add_argument("--port", type=int, default=8000, help="port for --serve (default: 8000; 0: any free port)")
    sub.add_argument("--verify", action="store_true", help="with --serve: run verification on every build")
    sub.add_argument("--strict", dest="strict", action="store_true", default=True,
                     help="fail on any mkdocs warning (the default)")
    sub.add_argument("--no-strict", dest="strict", action="store_false")
    sub.add_argument("--no-verify", action="store_true", help="skip the verification section")
    sub.add_argument("--previous", action="append", default=[], metavar="REV|ID=SPEC",
                     help="add a 'What changed' page per guideline, from hgl diff against the previous version: a git "
                          "revision (each guideline's REV:path), or ID=FILE / ID=REV:path for guideline ID (repeatable)")
    sub.add_argument("--cases", action="append", default=[], metavar="ID=FILE",
                     help="another case file for guideline ID's worked cases (repeatable), e.g. public vignettes")


def cli_main(args) -> int:
    """`hgl docs`: build the site and say where it is, or (--serve) serve it and rebuild on save."""
    paths = [Path(p) for p in args.guidelines] or sorted((ROOT / "guidelines").glob("*.hgl"))
    if not paths:
        print("hgl docs: no guidelines to document", file=sys.stderr)
        return 2
    try:
        extra: dict = {}
        for item in args.cases:
            gid, sep, file = item.partition("=")
            if not sep or not gid or not file:
                print(f"hgl docs: --cases takes ID=FILE, got {item!r}", file=sys.stderr)
                return 2
            if not Path(file).is_file():
                print(f"hgl docs: --cases {gid}: no such file {file}", file=sys.stderr)
                return 2
            extra.setdefault(gid, []).append(Path(file))
        previous = _previous(getattr(args, "previous", []))
        if args.serve:  # build, watch, rebuild on save, reload open tabs (compiler/docs/serve.py)
            from hgl.compiler.docs.serve import serve_live

            return serve_live(paths, port=args.port, strict=args.strict, extra_cases=extra, previous=previous,
                              verify=getattr(args, "verify", False) and not args.no_verify)
        info = build_site(paths, args.output, docs_dir=args.docs_dir, strict=args.strict,
                          verifier=False if args.no_verify else None, extra_cases=extra, previous=previous)
    except DocsError as err:
        print(f"hgl docs: {err}", file=sys.stderr)
        return 1
    index = Path(info["site_dir"]) / "index.html"
    print(f"built the site in {info['seconds']} s: open {index}")
    return 0


def _previous(items: list[str]):
    """--previous values: one revision for every guideline, or {id: spec}; DocsError when mixed or empty."""
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        if not items[0] or items[0].startswith("-"):
            raise DocsError(f"--previous takes a git revision or ID=SPEC, got {items[0]!r}")
        return items[0]
    out = {}
    for item in items:
        gid, sep, spec = item.partition("=")
        if not sep or not gid or not spec:
            raise DocsError(f"--previous takes one git revision, or ID=SPEC for each guideline, got {item!r}")
        out[gid] = spec
    return out


__all__ = ["DocsError", "build_site", "cli_main", "configure", "make_env", "write_markdown"]
