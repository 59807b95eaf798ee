"""The language server (`hgl lsp`): LSP requests over stdio -> diagnostics and the editor queries' answers.

Diagnostics on open and, debounced, on change; hover, go to definition, references, highlights,
completion, the document outline, rename, quick fixes for every did-you-mean, formatting (`hgl
fmt`), semantic tokens and workspace symbols.  The queries live in compiler/lsp/analysis.py,
hover.py and features.py (compiler spans: 1-based code points); this module converts to the
protocol's 0-based lines and negotiated character units.  pygls is imported only when the server
is built, so `hgl --help` stays fast.  No handler lets an exception through to the client: each
is logged and answered with an empty result (or a plain error message, for a refused rename).
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from pathlib import Path

from hgl.compiler.lsp import analysis as la
from hgl.compiler.lsp import features as lf
from hgl.compiler.front.source import Span

log = logging.getLogger("hgl.lsp")
# Analysis waits for this long a pause in typing; an edit within it starts the wait again, and
# an analysis overtaken by a newer edit is dropped (its result never published).
DEBOUNCE_SECONDS = 0.3

SERVER_NAME = "hgl-lsp"
SERVER_VERSION = "0.1.0"
# the LSP symbol and completion kinds for the analysis' kind words
_SYMBOL_KINDS = {"guideline": "Module", "evidence": "Object", "vocabulary": "Enum", "value": "EnumMember",
                 "option": "EnumMember", "flag": "Event", "input": "Field", "parameter": "Constant",
                 "definition": "Function", "constraint": "Boolean", "outcomes": "Namespace",
                 "section": "Namespace", "rule": "Method"}
_COMPLETION_KINDS = {"keyword": "Keyword", "symbol": "Variable", "option": "EnumMember", "flag": "Event",
                     "evidence": "Reference", "provenance": "Constant", "strength": "Value",
                     "group": "Module", "vocabulary": "Enum", "section": "Module", "unit": "Unit",
                     "value": "EnumMember", "vocab:drug": "EnumMember", "input": "Field",
                     "parameter": "Constant", "definition": "Function"}


class DocumentState:
    """One open document: its text, the analysis of it when it parses, and the last one that did."""

    def __init__(self, uri: str):
        self.uri = uri
        self.text = ""
        self.current: la.Analysis | None = None
        self.good: la.Analysis | None = None
        self.good_text = ""
        self._map: la.LineMap | None = None
        self.analysed_text: str | None = None  # the text `current` was computed from

    def compute(self, text: str) -> tuple[la.Analysis | None, list]:
        """Check a text (no state changes: may run on a worker thread): its analysis and diagnostics."""
        from hgl.compiler.front.diagnostics import Diagnostic
        from hgl.compiler.pipeline import InternalError, check_source
        from hgl.compiler.front.source import Source

        try:
            result = check_source(Source(_display_name(self.uri), text))
        except InternalError as err:
            last = str(err).strip().splitlines()[-1:] or [""]
            return None, [Diagnostic("HGL901", "internal compiler error (a bug in hgl, not in your guideline): "
                                     + last[0], Span(1, 1, 1, 1))]
        return (la.Analysis(result) if result.guideline is not None else None), list(result.diagnostics)

    def apply(self, text: str, analysis: la.Analysis | None) -> None:
        self.text, self.analysed_text, self.current, self._map = text, text, analysis, None
        if analysis is not None:
            self.good, self.good_text = analysis, text

    def update(self, text: str) -> list:
        """Check the new text now; returns the compiler's diagnostics."""
        analysis, diags = self.compute(text)
        self.apply(text, analysis)
        return diags

    def edit(self, text: str) -> None:
        """A new text whose analysis is still to come: queries answer from the last good one meanwhile."""
        self.text, self._map = text, None
        if text != self.analysed_text:
            self.current = None

    @property
    def in_sync(self) -> bool:
        return self.analysed_text == self.text

    @property
    def analysis(self) -> la.Analysis | None:
        return self.current or self.good

    def line_map(self) -> la.LineMap | None:
        """Old-to-new line mapping while the analysis is a stale one (the text does not parse)."""
        if self.current is not None or self.good is None:
            return None
        if self._map is None:
            self._map = la.LineMap(la.split_lines(self.good_text), la.split_lines(self.text))
        return self._map

    def resolve(self, line: int, column: int) -> la.Target | None:
        """The target of the name under a 1-based position of the current text."""
        if self.current is not None:
            occ = self.current.at(line, column)
            return occ.target if occ else None
        if self.good is None:
            return None
        old = self.line_map().to_old(line)
        occ = self.good.at(old, column) if old is not None else None
        if occ is not None and la.word_at(self.good_text, old, column) == la.word_at(self.text, line, column):
            return occ.target
        word = la.word_at(self.text, line, column)
        return self.good.lookup(word) if word else None

    def to_current(self, span: Span, exact: bool = True) -> Span | None:
        """A span of the analysed text moved into the current text (None if its line was edited)."""
        lm = self.line_map()
        if lm is None:
            return span
        line = lm.to_new(span.line, exact)
        if line is None:
            return None
        return Span(line, span.column, line + span.end_line - span.line, span.end_column)


def _display_name(uri: str) -> str:
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(uri).path)
    return uri


# ---------------------------------------------------------------- positions


class Positions:
    """Converts between compiler spans (1-based code points) and LSP positions (0-based, client units)."""

    def __init__(self, text: str, codec):
        self.lines = la.split_lines(text)
        self.codec = codec

    def position(self, line: int, column: int):
        """1-based line and column (code points) -> lsprotocol Position, clamped to the text."""
        from lsprotocol import types as t

        if line < 1:
            return t.Position(0, 0)
        if line > len(self.lines):
            return t.Position(len(self.lines) - 1, self.codec.client_num_units(self.lines[-1]))
        text = self.lines[line - 1]
        return t.Position(line - 1, self.codec.client_num_units(text[: max(0, column - 1)]))

    def range(self, span: Span):
        from lsprotocol import types as t

        if span.line < 1:  # a diagnostic about the whole file
            return t.Range(t.Position(0, 0), t.Position(0, 0))
        end_line, end_col = span.end_line, span.end_column
        if (end_line, end_col) <= (span.line, span.column):
            end_line, end_col = span.line, span.column + 1
        return t.Range(self.position(span.line, span.column), self.position(end_line, end_col))

    def from_client(self, pos) -> tuple[int, int]:
        """An LSP position -> 1-based line and code-point column."""
        if pos.line >= len(self.lines):
            return pos.line + 1, 1
        units = 0
        text = self.lines[pos.line]
        for i, ch in enumerate(text):
            if units >= pos.character:
                return pos.line + 1, i + 1
            units += self.codec.client_num_units(ch)
        return pos.line + 1, len(text) + 1


def lsp_diagnostic(d, pos: Positions, uri: str):
    """A compiler Diagnostic as an LSP one: code, severity, message with notes and hint, related lines."""
    from lsprotocol import types as t

    message = d.message + "".join(f"\nnote: {x}" for x in d.notes) + (f"\nhelp: {d.hint}" if d.hint else "")
    related = [t.DiagnosticRelatedInformation(t.Location(uri, pos.range(span)), note)
               for span, note in d.related]  # secondary excerpts, e.g. where an unclosed block opens
    for text in (d.hint or "", *d.notes):
        for m in re.finditer(r"\bline (\d+)", text):
            line = int(m.group(1))
            if 1 <= line <= len(pos.lines):
                col = 1
                quoted = re.findall(r"'([A-Za-z_]\w*)'", text + " " + d.message)
                for word in quoted:
                    found = re.search(rf"\b{re.escape(word)}\b", pos.lines[line - 1])
                    if found:
                        col = found.start() + 1
                        break
                span = Span(line, col, line, col + (len(found.group()) if quoted and found else 1))
                related.append(t.DiagnosticRelatedInformation(t.Location(uri, pos.range(span)), text))
    return t.Diagnostic(
        range=pos.range(d.span),
        message=message,
        severity=t.DiagnosticSeverity.Error if d.severity == "error" else t.DiagnosticSeverity.Warning,
        code=d.code,
        source="hgl",
        related_information=related or None,
        tags=[t.DiagnosticTag.Unnecessary] if d.code == "HGL203" else None,
        data=d.data,
    )


# ---------------------------------------------------------------- the server


def _safe(default=None):
    """A handler that never lets an exception reach the client: logged, answered with `default`.

    A refusal the author should read (features.EditError) becomes a plain "request failed" error.
    """
    def wrap(fn):
        @functools.wraps(fn)
        def handler(*args, **kwargs):
            from pygls.exceptions import JsonRpcException

            try:
                return fn(*args, **kwargs)
            except lf.EditError as err:
                raise JsonRpcException(message=str(err), code=-32803) from None  # LSP RequestFailed
            except Exception:  # noqa: BLE001 - a bug in a handler must not reach the editor as a traceback
                log.exception("hgl lsp: %s failed", fn.__name__)
                return default() if callable(default) else default
        return handler
    return wrap


def build_server(debounce: float | None = None):
    """A pygls LanguageServer with every feature registered; `start_io()` serves it."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from lsprotocol import types as t
    from pygls.lsp.server import LanguageServer

    server = LanguageServer(SERVER_NAME, SERVER_VERSION, text_document_sync_kind=t.TextDocumentSyncKind.Full)
    delay = DEBOUNCE_SECONDS if debounce is None else debounce
    docs: dict[str, DocumentState] = {}
    disk: dict[str, DocumentState] = {}  # documents the client never opened, read from disk per request
    waiting: dict[str, asyncio.Task] = {}
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hgl-analysis")

    def state(uri: str) -> DocumentState | None:
        if uri in docs:
            return docs[uri]
        try:  # a request for a document the client never opened: read it from disk (it may not exist)
            text = server.workspace.get_text_document(uri).source
        except (OSError, UnicodeDecodeError, ValueError) as err:
            log.info("hgl lsp: cannot read %s: %s", uri, err)
            return None
        st = disk.get(uri)
        if st is None or st.text != text:
            st = disk[uri] = DocumentState(uri)
            st.update(text)
        return st

    def positions(st: DocumentState) -> Positions:
        return Positions(st.text, server.workspace.position_codec)

    def publish(uri: str, version, st: DocumentState, diags) -> None:
        pos = positions(st)
        server.text_document_publish_diagnostics(t.PublishDiagnosticsParams(
            uri=uri, version=version, diagnostics=[lsp_diagnostic(d, pos, uri) for d in diags]))

    def cancel(uri: str) -> None:
        task = waiting.pop(uri, None)
        if task is not None:
            task.cancel()

    async def analyse_later(uri: str, st: DocumentState, version) -> None:
        try:
            await asyncio.sleep(delay)
            text = st.text
            analysis, diags = await asyncio.get_running_loop().run_in_executor(worker, st.compute, text)
            if docs.get(uri) is not st or st.text != text:
                return  # overtaken by a newer edit, or closed: its result is dropped
            st.apply(text, analysis)
            publish(uri, version, st, diags)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("hgl lsp: analysis of %s failed", uri)
        finally:
            if waiting.get(uri) is asyncio.current_task():
                waiting.pop(uri, None)

    def flush(st: DocumentState) -> None:
        """Analyse the current text now (for edits that must match it exactly, such as a rename)."""
        if not st.in_sync:
            cancel(st.uri)
            version = getattr(server.workspace.get_text_document(st.uri), "version", None)
            publish(st.uri, version, st, st.update(st.text))

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    @_safe()
    def did_open(ls, params: t.DidOpenTextDocumentParams):
        uri = params.text_document.uri
        cancel(uri)
        st = docs.setdefault(uri, DocumentState(uri))
        publish(uri, params.text_document.version, st, st.update(server.workspace.get_text_document(uri).source))

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    @_safe()
    def did_change(ls, params: t.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        st = docs.setdefault(uri, DocumentState(uri))
        st.edit(server.workspace.get_text_document(uri).source)
        cancel(uri)
        waiting[uri] = asyncio.get_running_loop().create_task(analyse_later(uri, st, params.text_document.version))

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    @_safe()
    def did_close(ls, params: t.DidCloseTextDocumentParams):
        cancel(params.text_document.uri)
        docs.pop(params.text_document.uri, None)
        server.text_document_publish_diagnostics(t.PublishDiagnosticsParams(params.text_document.uri, []))

    def target_at(params) -> tuple[DocumentState | None, Positions | None, la.Target | None]:
        st = state(params.text_document.uri)
        if st is None:
            return None, None, None
        pos = positions(st)
        line, col = pos.from_client(params.position)
        return st, pos, st.resolve(line, col)

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    @_safe()
    def hover(ls, params: t.HoverParams):
        st, pos, target = target_at(params)
        text = st.analysis.hover(target) if target is not None else None
        if not text:
            return None
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text))

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    @_safe()
    def definition(ls, params: t.DefinitionParams):
        st, pos, target = target_at(params)
        name = st.analysis.declaration(target) if target is not None else None
        span = st.to_current(name.span, exact=False) if name is not None else None
        return t.Location(params.text_document.uri, pos.range(span)) if span else None

    def spans_of(st: DocumentState, target, include_decl: bool) -> list[Span]:
        spans = (st.to_current(s) for s in st.analysis.references(target, include_decl))
        return [s for s in spans if s is not None]

    @server.feature(t.TEXT_DOCUMENT_REFERENCES)
    @_safe()
    def references(ls, params: t.ReferenceParams):
        st, pos, target = target_at(params)
        if target is None:
            return None
        return [t.Location(params.text_document.uri, pos.range(s))
                for s in spans_of(st, target, params.context.include_declaration)]

    @server.feature(t.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT)
    @_safe()
    def highlight(ls, params: t.DocumentHighlightParams):
        st, pos, target = target_at(params)
        if target is None:
            return None
        return [t.DocumentHighlight(pos.range(s)) for s in spans_of(st, target, True)]

    @server.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=[" ", "{", ","]))
    @_safe()
    def completion(ls, params: t.CompletionParams):
        st = state(params.text_document.uri)
        if st is None:
            return None
        line, col = positions(st).from_client(params.position)
        items = la.complete(st.analysis, st.text, line - 1, col - 1)
        seen = set()
        out = []
        for label, kind, detail in items:
            if label in seen:
                continue
            seen.add(label)
            out.append(t.CompletionItem(label=label, detail=detail or None,
                                        kind=getattr(t.CompletionItemKind, _COMPLETION_KINDS.get(kind, "Text"))))
        return t.CompletionList(is_incomplete=False, items=out)

    @server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @_safe(list)
    def document_symbol(ls, params: t.DocumentSymbolParams):
        st = state(params.text_document.uri)
        if st is None or st.analysis is None or st.analysis.guideline is None:
            return []
        pos = positions(st)

        def convert(item: la.OutlineItem):
            span = st.to_current(item.span, exact=False)
            sel = st.to_current(item.selection, exact=False)
            rng = pos.range(span)
            sel_rng = pos.range(sel)
            if not (rng.start.line <= sel_rng.start.line and sel_rng.end.line <= rng.end.line):
                rng = sel_rng  # a stale span may no longer enclose its name: keep the client happy
            return t.DocumentSymbol(
                name=item.name, detail=item.detail or None, range=rng, selection_range=sel_rng,
                kind=getattr(t.SymbolKind, _SYMBOL_KINDS.get(item.kind, "Variable")),
                children=[convert(c) for c in item.children] or None)

        return [convert(i) for i in la.outline(st.analysis.guideline)]

    # ------------------------------------------------------------ edits

    def renamable(params) -> tuple[DocumentState, Positions, int, int]:
        st = state(params.text_document.uri)
        if st is None:
            raise lf.EditError("the file cannot be read")
        flush(st)
        if st.current is None:
            raise lf.EditError("the file has a syntax error: fix it before renaming")
        pos = positions(st)
        line, col = pos.from_client(params.position)
        return st, pos, line, col

    @server.feature(t.TEXT_DOCUMENT_PREPARE_RENAME)
    @_safe()
    def prepare_rename(ls, params: t.PrepareRenameParams):
        st, pos, line, col = renamable(params)
        target, span = lf.rename_target(st.current, st.text, line, col)
        return t.PrepareRenamePlaceholder(range=pos.range(span), placeholder=target.name)

    @server.feature(t.TEXT_DOCUMENT_RENAME)
    @_safe()
    def rename(ls, params: t.RenameParams):
        st, pos, line, col = renamable(params)
        spans = lf.rename(st.current, st.text, line, col, params.new_name)
        edits = [t.TextEdit(pos.range(s), params.new_name) for s in spans]
        return t.WorkspaceEdit(changes={params.text_document.uri: edits})

    @server.feature(t.TEXT_DOCUMENT_CODE_ACTION,
                    t.CodeActionOptions(code_action_kinds=[t.CodeActionKind.QuickFix]))
    @_safe(list)
    def code_action(ls, params: t.CodeActionParams):
        st = state(params.text_document.uri)
        if st is None:
            return []
        pos = positions(st)
        out = []
        for d in params.context.diagnostics:
            r = d.range
            if r.start.line != r.end.line or r.start.line >= len(pos.lines):
                continue
            line_text = pos.lines[r.start.line]
            start, end = pos.from_client(r.start)[1] - 1, pos.from_client(r.end)[1] - 1
            new = lf.quick_fix(d.message, line_text[start:end])
            if new is None:
                continue
            out.append(t.CodeAction(
                title=f"Replace '{line_text[start:end]}' with '{new}'", kind=t.CodeActionKind.QuickFix,
                diagnostics=[d], is_preferred=True,
                edit=t.WorkspaceEdit(changes={params.text_document.uri: [t.TextEdit(r, new)]})))
        return out

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    @_safe()
    def formatting(ls, params: t.DocumentFormattingParams):
        from hgl.compiler.front.format import format_text

        st = state(params.text_document.uri)
        if st is None:
            return None
        result = format_text(st.text, _display_name(st.uri))
        if not result.ok or result.text == st.text:
            return []  # a syntax error (its diagnostic is shown) or nothing to change
        pos = positions(st)
        whole = t.Range(t.Position(0, 0), pos.position(len(pos.lines), len(pos.lines[-1]) + 1))
        return [t.TextEdit(whole, result.text)]

    @server.feature(t.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
                    t.SemanticTokensLegend(token_types=list(lf.TOKEN_TYPES), token_modifiers=list(lf.TOKEN_MODIFIERS)))
    @_safe(lambda: t.SemanticTokens(data=[]))
    def semantic_tokens(ls, params: t.SemanticTokensParams):
        st = state(params.text_document.uri)
        if st is None:
            return t.SemanticTokens(data=[])
        codec = server.workspace.position_codec
        lines = la.split_lines(st.text)
        data: list[int] = []
        prev_line = prev_char = 0
        types = {name: i for i, name in enumerate(lf.TOKEN_TYPES)}
        for tok in lf.semantic_tokens(st.analysis, st.text, st.in_sync and st.current is not None):
            text = lines[tok.line - 1]
            line = tok.line - 1
            char = codec.client_num_units(text[: tok.column - 1])
            length = codec.client_num_units(text[tok.column - 1: tok.column - 1 + tok.length])
            data += [line - prev_line, char - prev_char if line == prev_line else char, length,
                     types[tok.type], 1 if tok.declaration else 0]
            prev_line, prev_char = line, char
        return t.SemanticTokens(data=data)

    @server.feature(t.WORKSPACE_SYMBOL)
    @_safe(list)
    def workspace_symbol(ls, params: t.WorkspaceSymbolParams):
        from pygls.uris import from_fs_path, to_fs_path

        roots = [Path(to_fs_path(f.uri)) for f in server.workspace.folders.values()]
        if not roots and server.workspace.root_path:
            roots = [Path(server.workspace.root_path)]
        open_texts = {to_fs_path(uri): st.text for uri, st in docs.items() if uri.startswith("file:")}
        out = []
        texts: dict[str, Positions | None] = {}
        for sym in lf.workspace_symbols(roots, open_texts, params.query or ""):
            if sym.path not in texts:
                try:
                    text = open_texts.get(sym.path) or Path(sym.path).read_text(encoding="utf-8")
                    texts[sym.path] = Positions(text, server.workspace.position_codec)
                except (OSError, UnicodeDecodeError):
                    texts[sym.path] = None
            if texts[sym.path] is None:
                continue
            rng = texts[sym.path].range(sym.span)
            out.append(t.WorkspaceSymbol(
                name=sym.name, kind=getattr(t.SymbolKind, _SYMBOL_KINDS.get(sym.kind, "Variable")),
                location=t.Location(from_fs_path(sym.path), rng), container_name=sym.container))
        return out

    return server


# ---------------------------------------------------------------- the command


def configure(subparser) -> None:
    """Arguments of `hgl lsp`; `--stdio` is accepted because editor clients pass it."""
    subparser.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    subparser.add_argument("--log-file", help="write the server's log to this file")


def cli_main(args) -> int:
    """Serve the language server protocol on stdin/stdout until the client exits."""
    try:
        import pygls  # noqa: F401
    except ImportError:
        print("hgl lsp: needs the 'pygls' package (pip install pygls)", file=sys.stderr)
        return 2
    if getattr(args, "log_file", None):
        import logging

        logging.basicConfig(filename=str(Path(args.log_file)), level=logging.INFO)
    build_server().start_io()
    return 0
