"""The language server: real LSP JSON-RPC over a pipe to `python -m hgl.compiler.cli lsp`, plus
table tests of the editor queries (compiler/lsp/analysis.py, compiler/lsp/hover.py) in-process."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("pygls")

from hgl.compiler.lsp import analysis as la  # noqa: E402
from hgl.compiler.lsp import hover  # noqa: E402
from hgl.compiler.pipeline import check_source  # noqa: E402
from hgl.compiler.front.source import Source  # noqa: E402

SAMPLE = '''\
guideline sample
  title "Sample"
  version "1.0"
  status draft
  source "Nobody. A sample. 2025."
  doi "10.0/sample"
  panel "none"
  date 2025-01-01
  disclaimer "Not for use."
end

provenance inference "clinical reasoning" caution
strength weak "weak"
evidence trial_a
  trial "TRIAL-A"
  design "phase III"
end
vocabulary drug "drug"
  drug_a "drug A"
  drug_b "drug B"
end
option opt_a systemic "Option A" drugs drug_a
option opt_b systemic "Option B" drugs drug_b
flag check_me "Check the case"

input her2_status: one of positive, negative
  label "HER2 status"
  description "from the latest biopsy"
input months_since: number in months at least 0
  label "months since therapy"
  default 0 months
input prior: set of drug
  label "prior drugs"
  default {}
define early "early relapse" = months_since <= 6 months

section first "First line"
  provenance inference
  rule first_a "Positive, early"
    when her2_status = positive and early
    prefer opt_a
    evidence trial_a
    strength weak
  end
  rule first_b "Positive, late"
    when her2_status = positive and not early and drug_a not in prior
    alternative opt_b
    flag check_me
  end
end
kind systemic "Systemic therapy"
'''
LINES = SAMPLE.splitlines()
URI = "file:///tmp/sample.hgl"
TIMEOUT = 10.0


def at(needle: str, nth: int = 0, offset: int = 0) -> tuple[int, int]:
    """0-based (line, character) of the nth occurrence of a text in SAMPLE, plus an offset."""
    i = -1
    for _ in range(nth + 1):
        i = SAMPLE.index(needle, i + 1)
    i += offset
    return SAMPLE.count("\n", 0, i), i - (SAMPLE.rfind("\n", 0, i) + 1)


def replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


# ---------------------------------------------------------------- a JSON-RPC client over a pipe


class Client:
    """Speaks LSP with Content-Length framing to a server subprocess."""

    def __init__(self):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "hgl.compiler.cli", "lsp", "--stdio"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)
        self.inbox: queue.Queue = queue.Queue()
        self.next_id = 0
        self.pending: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
            self.inbox.put(json.loads(out.read(int(headers["content-length"]))))

    def send(self, message: dict):
        body = json.dumps(message).encode("utf-8")
        self.proc.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode("ascii") + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def _next(self, match) -> dict:
        for i, msg in enumerate(self.pending):
            if match(msg):
                return self.pending.pop(i)
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            if match(msg):
                return msg
            self.pending.append(msg)

    def request(self, method: str, params: dict):
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        msg = self._next(lambda m: m.get("id") == rid and "method" not in m)
        assert "error" not in msg, msg["error"]
        return msg["result"]

    def diagnostics(self, version: int) -> list[dict]:
        msg = self._next(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                         and m["params"].get("version") == version)
        return msg["params"]["diagnostics"]

    def close(self):
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.proc.wait(timeout=5)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdout.close()
            self.proc.stdin.close()
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def server():
    client = Client()
    init = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    client.notify("initialized", {})
    client.capabilities = init["capabilities"]
    client.version = 0
    yield client
    client.close()


def open_text(server: Client, text: str, uri: str = URI) -> list[dict]:
    """Send the text as a new version of the document; returns the diagnostics published for it."""
    server.version += 1
    if server.version == 1:
        server.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "hgl", "version": server.version, "text": text}})
    else:
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": server.version},
                                                 "contentChanges": [{"text": text}]})
    return server.diagnostics(server.version)


def pos(line: int, character: int) -> dict:
    return {"textDocument": {"uri": URI}, "position": {"line": line, "character": character}}


def rng(line: int, start: int, end: int) -> dict:
    return {"start": {"line": line, "character": start}, "end": {"line": line, "character": end}}


# ---------------------------------------------------------------- protocol tests


def test_capabilities(server):
    caps = server.capabilities
    for key in ("hoverProvider", "definitionProvider", "referencesProvider", "completionProvider",
                "documentSymbolProvider", "documentHighlightProvider"):
        assert caps.get(key), key
    assert caps["textDocumentSync"]["change"] == 1  # full text on each change


def where(text: str, line_fragment: str, word: str) -> dict:
    """The 0-based range of `word` on the line of `text` that contains `line_fragment`."""
    for i, line in enumerate(text.splitlines()):
        if line_fragment in line:
            start = line.index(word, line.index(line_fragment))
            return rng(i, start, start + len(word))
    raise AssertionError(line_fragment)


@pytest.mark.parametrize("old, new, code, severity, word, in_message", [
    # an unknown name, with the did-you-mean hint in the message
    ("and early\n", "and erly\n", "HGL201", 1, "erly", "help: did you mean 'early'?"),
    # an enum value that is not one
    ("= positive and early", "= postive and early", "HGL303", 1, "postive", "not a value of HER2 status"),
    # a unit mismatch
    ("<= 6 months", "<= 6 mm", "HGL302", 1, "6 mm", "cannot compare months with mm"),
    # a syntax error: the unexpected word
    ("prefer opt_a\n", "prefer opt_a opt_b\n", "HGL100", 1, "opt_b", "unexpected"),
    # a warning: an unused flag, tagged unnecessary
    ("    flag check_me\n", "\n", "HGL203", 2, "check_me", "never used"),
])
def test_diagnostics(server, old, new, code, severity, word, in_message):
    assert open_text(server, SAMPLE) == []
    text = replace_line(SAMPLE, old, new)
    diags = open_text(server, text)
    assert [d["code"] for d in diags] == [code]
    d = diags[0]
    assert d["severity"] == severity and d["source"] == "hgl"
    assert d["range"] == where(text, new.strip() or "flag check_me", word)
    assert in_message in d["message"]
    assert d.get("tags") == ([1] if code == "HGL203" else None)


def test_related_information_points_at_the_first_declaration(server):
    diags = open_text(server, replace_line(SAMPLE, 'flag check_me "Check the case"\n',
                                           'flag check_me "Check the case"\nflag check_me "again"\n'))
    dup = next(d for d in diags if d["code"] == "HGL202")
    assert dup["range"] == rng(24, 5, 13)
    assert dup["relatedInformation"][0]["location"] == {"uri": URI, "range": rng(23, 5, 13)}


def test_positions_are_utf16_code_units(server):
    # an astral character takes two UTF-16 units: the range must count both
    new = 'define early "early 😀" = month_since <= 6 months'
    diags = open_text(server, replace_line(SAMPLE, 'define early "early relapse" = months_since <= 6 months', new))
    d = next(d for d in diags if d["code"] == "HGL201")
    col = new.index("month_since") + 1
    assert d["range"] == rng(34, col, col + len("month_since"))


def test_positions_in_utf8_when_the_client_asks():
    client = Client()
    try:
        init = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {
            "general": {"positionEncodings": ["utf-8", "utf-16"]}}})
        assert init["capabilities"]["positionEncoding"] == "utf-8"
        client.notify("initialized", {})
        client.version = 0
        new = 'define early "≥ 😀" = month_since <= 6 months'
        diags = open_text(client, replace_line(SAMPLE, 'define early "early relapse" = months_since <= 6 months', new))
        d = next(d for d in diags if d["code"] == "HGL201")
        col = len(new[:new.index("month_since")].encode("utf-8"))
        assert d["range"] == rng(34, col, col + len("month_since"))
        # and positions coming from the client are read in the same units
        hover = client.request("textDocument/hover", pos(34, col + len("month_since") + 6))  # on `months`
        assert hover["contents"]["value"].startswith("unit `months`")
    finally:
        client.close()


@pytest.mark.parametrize("needle, nth, offset, expected", [
    ("her2_status = positive", 0, 1, ["input `her2_status`", "**HER2 status**", "one of positive, negative",
                                      "from the latest biopsy", "line 26"]),
    ("months_since <=", 0, 1, ["number in months at least 0", "default: `0 months`"]),
    ("and early", 0, 5, ["definition `early`", "**early relapse**", "type: yes/no",
                         "early = months_since ≤ 6 months"]),
    ("opt_a\n", 0, 1, ["systemic option `opt_a`", "**Option A**", "drugs: `drug_a`"]),
    ("check_me\n", 0, 1, ["flag `check_me`", "Check the case"]),
    ("trial_a\n", 1, 1, ["evidence entry `trial_a`", "trial: TRIAL-A"]),
    ("inference\n", 0, 1, ["provenance tag `inference`", "(**caution**)"]),
    ("positive and early", 0, 1, ["value `positive`", "**HER2 status** (`her2_status`)"]),
    ("drug_a not in", 0, 1, ["value `drug_a`", "**drug A**"]),
    ("6 months", 0, 2, ["unit `months`: time"]),
    ("first_b", 0, 1, ["rule `first_b`", "**Positive, late**", "section `first`", "provenance: `inference`"]),
])
def test_hover(server, needle, nth, offset, expected):
    open_text(server, SAMPLE)
    hover = server.request("textDocument/hover", pos(*at(needle, nth, offset)))
    assert hover["contents"]["kind"] == "markdown"
    for piece in expected:
        assert piece in hover["contents"]["value"]


def test_no_hover_on_a_keyword(server):
    open_text(server, SAMPLE)
    assert server.request("textDocument/hover", pos(*at("prefer opt_a", offset=2))) is None


@pytest.mark.parametrize("needle, offset, decl_line, start, end", [
    ("and early", 5, 34, 7, 12),          # a definition
    ("her2_status = positive", 1, 25, 6, 17),  # an input
    ("positive and early", 1, 25, 26, 34),  # an enum value -> its place in the input's type
    ("opt_a\n", 1, 21, 7, 12),            # an option
    ("drug_a not in", 1, 18, 2, 8),      # a vocabulary entry
    ("weak\n", 1, 12, 9, 13),             # a strength
])
def test_definition(server, needle, offset, decl_line, start, end):
    open_text(server, SAMPLE)
    loc = server.request("textDocument/definition", pos(*at(needle, offset=offset)))
    assert loc == {"uri": URI, "range": rng(decl_line, start, end)}


def test_references_and_highlights(server):
    open_text(server, SAMPLE)
    refs = server.request("textDocument/references", {**pos(*at("her2_status:", offset=1)),
                                                      "context": {"includeDeclaration": True}})
    assert sorted(r["range"]["start"]["line"] for r in refs) == [25, 39, 45]
    refs = server.request("textDocument/references", {**pos(*at("her2_status:", offset=1)),
                                                      "context": {"includeDeclaration": False}})
    assert len(refs) == 2
    highlights = server.request("textDocument/documentHighlight", pos(*at("and early", offset=5)))
    assert [h["range"]["start"]["line"] for h in highlights] == [34, 39, 45]


def test_a_broken_file_still_answers_from_the_last_good_model(server):
    open_text(server, SAMPLE)
    broken = SAMPLE.replace("section first", "# a new comment line\nsection first", 1)
    broken = broken.replace("    prefer opt_a\n", "    prefer opt_a,\n", 1)  # a syntax error
    diags = open_text(server, broken)
    assert [d["code"] for d in diags] == ["HGL100"]
    line = broken.splitlines().index("    when her2_status = positive and not early and drug_a not in prior")
    hover = server.request("textDocument/hover", pos(line, 10))
    assert "input `her2_status`" in hover["contents"]["value"]
    # the definition of `early`, on an unchanged line above the edit
    loc = server.request("textDocument/definition", pos(line, broken.splitlines()[line].index("early") + 1))
    assert loc["range"] == rng(34, 7, 12)
    # references below the inserted line are moved by one
    refs = server.request("textDocument/references", {**pos(line, 10), "context": {"includeDeclaration": True}})
    assert sorted(r["range"]["start"]["line"] for r in refs) == [25, 40, 46]


def _labels(result) -> list[str]:
    return [i["label"] for i in result["items"]]


@pytest.mark.parametrize("new_line, expect, reject", [
    ("    when her2_status = ", ["positive", "negative"], ["opt_a", "and"]),
    ("    when her2_status in {positive, ", ["positive", "negative"], ["early"]),
    ("    prefer ", ["opt_a", "opt_b"], ["positive", "when"]),
    ("    flag ", ["check_me"], ["opt_a"]),
    ("    evidence ", ["trial_a"], []),
    ("    strength ", ["weak"], []),
    ("    when drug_a not in ", ["prior", "early", "her2_status"], []),
    ("    ", ["when", "prefer", "rationale", "end"], ["input", "guideline"]),
    ("    when months_since > 6 ", ["months", "weeks", "mm"], []),
    ('    rationale "prefer ', [], ["opt_a"]),
    ("    avoid ", ["opt_a", "every option"], []),
    ("    avoid every option containing ", ["drug_a", "drug_b"], ["opt_a"]),
    ("    use ", [], ["opt_a", "when"]),  # no outcome group declared
    ("    # prefer ", [], ["opt_a"]),
])
def test_completion(server, new_line, expect, reject):
    text = SAMPLE.replace("    flag check_me\n", "    flag check_me\n" + new_line + "\n", 1)
    open_text(server, text)
    line = text.splitlines().index(new_line)
    labels = _labels(server.request("textDocument/completion", pos(line, len(new_line))))
    for x in expect:
        assert x in labels
    for x in reject:
        assert x not in labels
    if not expect:
        assert labels == []


def test_completion_items_carry_kind_and_label(server):
    text = SAMPLE.replace("    flag check_me\n", "    flag check_me\n    when \n", 1)
    open_text(server, text)
    line = text.splitlines().index("    when ")
    items = {i["label"]: i for i in server.request("textDocument/completion", pos(line, 9))["items"]}
    assert items["her2_status"]["kind"] == 5 and items["her2_status"]["detail"] == "input: one of positive, negative"
    assert items["early"]["kind"] == 3 and items["early"]["detail"] == "definition: early relapse"
    assert items["and"]["kind"] == 14


@pytest.mark.parametrize("new_line, expect, reject", [
    ("option opt_c systemic \"C\" drugs drug_a, ", ["drug_a", "drug_b"], ["opt_a"]),
    ("input stage: one of early_stage, late_stage\n  default ", ["early_stage", "late_stage"], ["positive"]),
    ("input third: set of ", ["drug"], []),
])
def test_completion_in_declarations(server, new_line, expect, reject):
    text = SAMPLE + new_line + "\n"
    open_text(server, text)
    lines = text.splitlines()
    labels = _labels(server.request("textDocument/completion", pos(len(lines) - 1, len(lines[-1]))))
    assert set(expect) <= set(labels) and not set(reject) & set(labels)


def test_completion_at_top_level(server):
    text = SAMPLE + "\n"
    open_text(server, text)
    labels = _labels(server.request("textDocument/completion", pos(len(text.splitlines()), 0)))
    assert {"input", "define", "section", "option"} <= set(labels) and "when" not in labels


def test_document_symbols(server):
    open_text(server, SAMPLE)
    symbols = server.request("textDocument/documentSymbol", {"textDocument": {"uri": URI}})
    names = [s["name"] for s in symbols]
    assert names[:2] == ["sample", "trial_a"]
    assert {"her2_status", "months_since", "early", "opt_a", "check_me", "first"} <= set(names)
    section = next(s for s in symbols if s["name"] == "first")
    assert section["kind"] == 3 and section["detail"] == "First line"  # Namespace
    assert [r["name"] for r in section["children"]] == ["first_a", "first_b"]
    assert section["range"]["start"]["line"] == 36 and section["range"]["end"]["line"] == 49
    assert section["selectionRange"] == rng(36, 8, 13)
    early = next(s for s in symbols if s["name"] == "early")
    assert early["kind"] == 12  # Function


def test_close_clears_diagnostics(server):
    open_text(server, SAMPLE.replace("and early\n", "and erly\n"))
    server.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    msg = server._next(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                       and m["params"]["uri"] == URI and m["params"].get("version") is None)
    assert msg["params"]["diagnostics"] == []
    server.version = 0  # the next test opens the document again


# ---------------------------------------------------------------- the analysis half, in-process


def test_every_name_in_the_her2_guideline_resolves():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = (root / "guidelines" / "her2_mbc.hgl").read_text(encoding="utf-8")
    a = la.Analysis(check_source(Source("her2_mbc.hgl", text)))
    unresolved = [o for o in a.occurrences if o.target not in a.decls and o.target.ns not in ("unit",)
                  and not o.target.ns.startswith("optref:")]
    assert unresolved == []
    assert len(a.occurrences) > 1000
    for o in a.occurrences:  # each occurrence's span covers exactly its name
        line = text.splitlines()[o.span.line - 1]
        assert line[o.span.column - 1:o.span.end_column - 1] == o.target.name or o.target.ns == "unit"


def _analysis(text: str) -> la.Analysis:
    return la.Analysis(check_source(Source("sample.hgl", text)))


def _hover_at(a: la.Analysis, text: str, needle: str, offset: int = 1) -> str | None:
    i = text.index(needle) + offset
    line, col = text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)
    return a.hover(a.at(line, col).target)


def test_names_resolve_through_the_program_even_with_errors():
    text = SAMPLE.replace("and not early and drug_a not in prior", "and not erly and drug_a not in prior")
    a = _analysis(text)
    assert a.program is not None and any(d.code == "HGL201" for d in a.result.diagnostics)
    targets = {(o.target.ns, o.target.name) for o in a.occurrences if not o.is_decl}
    assert {("symbol", "her2_status"), ("enum:her2_status", "positive"), ("vocab:drug", "drug_a"),
            ("symbol", "prior")} <= targets


def test_a_hover_shows_what_the_checker_could_not_resolve_as_written():
    text = SAMPLE.replace("months_since <= 6 months", "month_since <= 6 months")
    assert "early = month_since ≤ 6 months" in _hover_at(_analysis(text), text, "define early", 8)


def test_a_duplicated_rule_hovers_with_its_first_declaration():
    text = SAMPLE + SAMPLE[SAMPLE.index("section first"):].replace("section first", "section second")
    hover = _hover_at(_analysis(text), text, "rule first_b", 6)
    assert "section `first`" in hover and "section `second`" not in hover


def test_analysis_without_a_program():
    import dataclasses

    a = la.Analysis(dataclasses.replace(check_source(Source("sample.hgl", SAMPLE)), program=None))
    assert a.declaration(la.Target("symbol", "early")) is not None
    assert "early = months_since <= 6 months" in _hover_at(a, SAMPLE, "define early", 8)
    assert la.complete(a, SAMPLE, 39, len("    when her2_status = ")) is not None


@pytest.mark.parametrize("upto, block", [
    ("guideline sample", "guideline"),
    ("evidence trial_a", "evidence"),
    ("    when her2_status = positive and early", "rule"),
    ("  provenance inference", "section"),
    ("flag check_me", None),
    ("end\n", None),
])
def test_block_at(upto, block):
    index = next(i for i, line in enumerate(LINES) if line.startswith(upto.rstrip("\n"))) + 1
    assert la.block_at(LINES, index) == block


@pytest.mark.parametrize("old, new, line, expected", [
    (["a", "b", "c"], ["a", "x", "b", "c"], 2, 3),
    (["a", "b", "c"], ["a", "x", "b", "c"], 1, 1),
    (["a", "b", "c"], ["a", "B", "c"], 2, None),
    (["a", "b", "c"], ["c"], 3, 1),
])
def test_line_map(old, new, line, expected):
    assert la.LineMap(old, new).to_new(line) == expected


@pytest.mark.parametrize("text, expected", [
    ("a <b> *c* [d](e) `f` _g_", r"a \<b\> \*c\* \[d\](e) \`f\` \_g\_"),
    ("# title\n- item", "\\# title\n\\- item"),
])
def test_guideline_text_is_escaped_in_hovers(text, expected):
    assert hover.md(text) == expected


# ---------------------------------------------------------------- the VS Code grammar


def _grammar():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    return json.loads((root / "editors" / "vscode" / "syntaxes" / "hgl.tmLanguage.json").read_text("utf-8")), root


def _patterns(patterns, repo):
    for p in patterns:
        if "include" in p:
            yield from _patterns(repo[p["include"][1:]]["patterns"], repo)
        else:
            yield p


def tokenize(line: str) -> list[tuple[str, str]]:
    """A TextMate-style scan of one line (earliest match wins, then pattern order): (text, scope)."""
    import re

    grammar, _ = _grammar()
    pats = [(p, re.compile(p.get("match") or p["begin"])) for p in _patterns(grammar["patterns"],
                                                                                grammar["repository"])]
    out, pos = [], 0
    while pos < len(line):
        found = [(m.start(), i, p, m) for i, (p, rx) in enumerate(pats) if (m := rx.search(line, pos))]
        if not found:
            break
        _, _, p, m = min(found, key=lambda x: x[:2])
        if "begin" in p:  # a region: to its end on this line, or to the end of the line
            end = re.compile(p["end"]).search(line, m.end())
            out.append((line[m.start():end.end() if end else len(line)], p["name"]))
            pos = end.end() if end else len(line)
            continue
        for k, cap in sorted(p.get("captures", {}).items()):
            if k != "0" and m.group(int(k)):
                out.append((m.group(int(k)), cap["name"]))
        if "name" in p:
            out.append((m.group(), p["name"]))
        pos = max(m.end(), pos + 1)
    return out


@pytest.mark.parametrize("line, expected", [
    ("input months_since: number in months at least 0  # since the last dose",
     [("input", "storage.type.hgl"), ("months_since", "entity.name.function.hgl"), (":", "punctuation.separator.hgl"),
      ("number", "support.type.hgl"), ("in", "keyword.operator.word.hgl"), ("months", "keyword.other.unit.hgl"),
      ("at", "support.type.hgl"), ("least", "support.type.hgl"), ("0", "constant.numeric.hgl"),
      ("# since the last dose", "comment.line.number-sign.hgl")]),
    ("    when months_since <= 6 months and her2_status = positive",
     [("when", "keyword.control.hgl"), ("months_since", "variable.other.hgl"),
      ("<=", "keyword.operator.comparison.hgl"), ("6", "constant.numeric.hgl"), ("months", "keyword.other.unit.hgl"),
      ("and", "keyword.operator.word.hgl"), ("her2_status", "variable.other.hgl"),
      ("=", "keyword.operator.comparison.hgl"), ("positive", "variable.other.hgl")]),
    ('  rationale "a \\"quoted\\" # not a comment"',
     [("rationale", "keyword.other.field.hgl"), ('"a \\"quoted\\" # not a comment"', "string.quoted.double.hgl")]),
    ('  rationale """several', [("rationale", "keyword.other.field.hgl"), ('"""several', "string.quoted.triple.hgl")]),
    ("  lvef ≥ 50 %", [("lvef", "variable.other.hgl"), ("≥", "keyword.operator.comparison.hgl"),
                       ("50", "constant.numeric.hgl"), ("%", "keyword.other.unit.hgl")]),
    ("  date 2025-01-01", [("date", "variable.other.property.hgl"), ("2025-01-01", "constant.numeric.date.hgl")]),
    ('flag discuss_mdt "Discuss"', [("flag", "storage.type.hgl"), ("discuss_mdt", "entity.name.function.hgl"),
                                   ('"Discuss"', "string.quoted.double.hgl")]),
    ("    flag discuss_mdt", [("flag", "storage.type.hgl"), ("discuss_mdt", "variable.other.hgl")]),
    ('  label "open', [("label", "keyword.other.field.hgl"), ('"open', "invalid.illegal.unterminated-string.hgl")]),
])
def test_grammar_scopes(line, expected):
    assert tokenize(line) == expected


def test_grammar_highlights_every_keyword_of_the_language():
    import re

    grammar, root = _grammar()
    lark = (root / "grammar" / "hgl.lark").read_text("utf-8")
    words = sorted({w for w in re.findall(r'"([a-z/]+)"', lark)})
    assert len(words) > 60
    plain = [w for w in words if tokenize(f"x {w} y")[1] != (w, "variable.other.hgl")]
    assert plain == words


def test_vscode_extension_files():
    grammar, root = _grammar()
    ext = root / "editors" / "vscode"
    package = json.loads((ext / "package.json").read_text("utf-8"))
    assert package["contributes"]["languages"][0]["extensions"] == [".hgl"]
    assert package["contributes"]["grammars"][0]["scopeName"] == grammar["scopeName"] == "source.hgl"
    assert (ext / package["main"]).exists() and "vscode-languageclient" in package["dependencies"]
    config = json.loads((ext / "language-configuration.json").read_text("utf-8"))
    assert config["comments"]["lineComment"] == "#"
    assert {"open": '"', "close": '"', "notIn": ["string", "comment"]} in config["autoClosingPairs"]


def test_unclosed_block_points_at_where_it_opens(server):
    # rule first_a loses its `end`: the error names the block, and relatedInformation is its opening line
    text = SAMPLE.replace("    strength weak\n  end\n", "    strength weak\n", 1)
    diags = open_text(server, text)
    d = next(d for d in diags if d["code"] == "HGL104")
    opened = LINES.index('  rule first_a "Positive, early"')
    assert "first_a" in d["message"]
    assert [r["location"]["range"]["start"]["line"] for r in d["relatedInformation"]][:1] == [opened]
