"""The language server (`hgl lsp`): LSP requests over stdio -> diagnostics and the editor queries' answers.

Diagnostics on open and change, hover, go to definition, references, highlights, completion
and the document outline.  The queries live in compiler/lsp/analysis.py and hover.py (compiler
spans: 1-based code points); this module converts to the protocol's 0-based lines and
negotiated character units.  pygls is imported only when the server is built, so `hgl --help` stays fast.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hgl.compiler.lsp import analysis as la
from hgl.compiler.front.source import Span

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

    def update(self, text: str) -> list:
        """Check the new text; returns the compiler's diagnostics."""
        from hgl.compiler.front.diagnostics import Diagnostic
        from hgl.compiler.pipeline import InternalError, check_source
        from hgl.compiler.front.source import Source

        self.text = text
        self._map = None
        try:
            result = check_source(Source(_display_name(self.uri), text))
        except InternalError as err:
            self.current = None
            last = str(err).strip().splitlines()[-1:] or [""]
            return [Diagnostic("HGL901", "internal compiler error (a bug in hgl, not in your guideline): "
                               + last[0], Span(1, 1, 1, 1))]
        self.current = la.Analysis(result) if result.guideline is not None else None
        if self.current is not None:
            self.good, self.good_text = self.current, text
        return result.diagnostics

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
    related = []
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


def build_server():
    """A pygls LanguageServer with every feature registered; `start_io()` serves it."""
    from lsprotocol import types as t
    from pygls.lsp.server import LanguageServer

    server = LanguageServer(SERVER_NAME, SERVER_VERSION, text_document_sync_kind=t.TextDocumentSyncKind.Full)
    docs: dict[str, DocumentState] = {}

    def state(uri: str) -> DocumentState:
        if uri not in docs:  # a request for a document the client never opened: read it from disk
            docs[uri] = DocumentState(uri)
            docs[uri].update(server.workspace.get_text_document(uri).source)
        return docs[uri]

    def positions(st: DocumentState) -> Positions:
        return Positions(st.text, server.workspace.position_codec)

    def refresh(uri: str, version):
        st = docs.setdefault(uri, DocumentState(uri))
        diags = st.update(server.workspace.get_text_document(uri).source)
        pos = positions(st)
        server.text_document_publish_diagnostics(t.PublishDiagnosticsParams(
            uri=uri, version=version, diagnostics=[lsp_diagnostic(d, pos, uri) for d in diags]))

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: t.DidOpenTextDocumentParams):
        refresh(params.text_document.uri, params.text_document.version)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: t.DidChangeTextDocumentParams):
        refresh(params.text_document.uri, params.text_document.version)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: t.DidCloseTextDocumentParams):
        docs.pop(params.text_document.uri, None)
        server.text_document_publish_diagnostics(t.PublishDiagnosticsParams(params.text_document.uri, []))

    def target_at(params) -> tuple[DocumentState, Positions, la.Target | None]:
        st = state(params.text_document.uri)
        pos = positions(st)
        line, col = pos.from_client(params.position)
        return st, pos, st.resolve(line, col)

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    def hover(ls, params: t.HoverParams):
        st, pos, target = target_at(params)
        text = st.analysis.hover(target) if target is not None else None
        if not text:
            return None
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text))

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    def definition(ls, params: t.DefinitionParams):
        st, pos, target = target_at(params)
        name = st.analysis.declaration(target) if target is not None else None
        span = st.to_current(name.span, exact=False) if name is not None else None
        return t.Location(params.text_document.uri, pos.range(span)) if span else None

    def spans_of(st: DocumentState, target, include_decl: bool) -> list[Span]:
        spans = (st.to_current(s) for s in st.analysis.references(target, include_decl))
        return [s for s in spans if s is not None]

    @server.feature(t.TEXT_DOCUMENT_REFERENCES)
    def references(ls, params: t.ReferenceParams):
        st, pos, target = target_at(params)
        if target is None:
            return None
        return [t.Location(params.text_document.uri, pos.range(s))
                for s in spans_of(st, target, params.context.include_declaration)]

    @server.feature(t.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT)
    def highlight(ls, params: t.DocumentHighlightParams):
        st, pos, target = target_at(params)
        if target is None:
            return None
        return [t.DocumentHighlight(pos.range(s)) for s in spans_of(st, target, True)]

    @server.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=[" ", "{", ","]))
    def completion(ls, params: t.CompletionParams):
        st = state(params.text_document.uri)
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
    def document_symbol(ls, params: t.DocumentSymbolParams):
        st = state(params.text_document.uri)
        if st.analysis is None or st.analysis.guideline is None:
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
