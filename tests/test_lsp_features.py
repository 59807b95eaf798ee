"""The language server's edits and listings over the real protocol (JSON-RPC over a pipe to `hgl lsp`):
debounced analysis, rename, quick fixes, formatting, semantic tokens, workspace symbols, files
never opened, no traceback to the client, and syntax-error ranges; plus features.py in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pygls")

from hgl.compiler.front.format import format_text  # noqa: E402
from hgl.compiler.lsp import features as lf  # noqa: E402
from tests.test_lsp import SAMPLE, URI, Client, at, replace_line  # noqa: E402


def start(root: Path | None = None) -> Client:
    client = Client()
    params = {"processId": None, "rootUri": None, "capabilities": {}}
    if root is not None:
        params["workspaceFolders"] = [{"uri": root.as_uri(), "name": "ws"}]
    client.capabilities = client.request("initialize", params)
    client.capabilities = client.capabilities["capabilities"]
    client.notify("initialized", {})
    client.version = 0
    return client


@pytest.fixture(scope="module")
def server():
    client = start()
    yield client
    client.close()


def call(client: Client, method: str, params) -> dict:
    """A request's whole answer: {"result": …} or {"error": …}."""
    client.next_id += 1
    rid = client.next_id
    client.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
    return client._next(lambda m: m.get("id") == rid and "method" not in m)


def show(client: Client, text: str, uri: str = URI) -> list[dict]:
    """Open (first time) or replace the document's text; the diagnostics published for it."""
    client.version += 1
    if client.version == 1:
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "hgl", "version": client.version, "text": text}})
    else:
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": client.version},
                                                 "contentChanges": [{"text": text}]})
    return client.diagnostics(client.version)


def apply(text: str, edits: list[dict]) -> str:
    """Apply LSP TextEdits (ASCII text: characters are code points) from the last to the first."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def off(p):
        return min(offsets[min(p["line"], len(lines))] + p["character"], len(text))

    for e in sorted(edits, key=lambda e: off(e["range"]["start"]), reverse=True):
        text = text[:off(e["range"]["start"])] + e["newText"] + text[off(e["range"]["end"]):]
    return text


def position(needle: str, nth: int = 0, offset: int = 1) -> dict:
    line, char = at(needle, nth, offset)
    return {"line": line, "character": char}


def test_capabilities(server):
    caps = server.capabilities
    assert caps["renameProvider"]  # {"prepareProvider": true} for a client that says it supports it
    assert caps["codeActionProvider"]["codeActionKinds"] == ["quickfix"]
    assert caps["documentFormattingProvider"]
    assert caps["workspaceSymbolProvider"]
    legend = caps["semanticTokensProvider"]["legend"]
    assert legend["tokenTypes"] == list(lf.TOKEN_TYPES) and caps["semanticTokensProvider"]["full"]


# ---------------------------------------------------------------- rename

# (name under the cursor, its occurrence, new name, occurrences renamed or the refusal's words)
RENAMES = [
    ("months_since", 0, "months_after", 2, None),     # an input: declaration and use
    ("months_since", 1, "months_after", 2, None),     # from a use
    ("and early", 0, "early_relapse", 3, None),       # a definition used twice
    ("opt_a", 0, "option_a", 2, None),                # an option
    ("drug_a", 0, "drug_x", 3, None),                 # a vocabulary value: entry, option drugs, expression
    ("trial_a", 0, "trial_x", 2, None),               # an evidence entry
    ("prefer opt_a", 0, "x", None, "keyword"),        # a keyword
    ("<= 6 months", 0, "x", None, "unit"),            # a built-in unit
    ("months_since", 0, "rule", None, "keyword"),     # the new name is a keyword
    ("months_since", 0, "9lives", None, "not a name"),
    ("months_since", 0, "end", None, "not a name"),
    ("months_since", 0, "early", None, "already declared (line 35)"),
]


@pytest.mark.parametrize("needle, nth, new, count, refusal", RENAMES)
def test_rename(server, needle, nth, new, count, refusal):
    show(server, SAMPLE)
    offset = {"<= 6 months": 6, "prefer opt_a": 1, "and early": 5}.get(needle, 1)
    params = {"textDocument": {"uri": URI}, "position": position(needle, nth, offset), "newName": new}
    answer = call(server, "textDocument/rename", params)
    if refusal:
        assert "result" not in answer and refusal in answer["error"]["message"]
        assert answer["error"]["code"] == -32803 and not answer["error"].get("data")  # no traceback
        return
    edits = answer["result"]["changes"][URI]
    assert len(edits) == count
    renamed = apply(SAMPLE, edits)
    assert renamed.count(new) - SAMPLE.count(new) == count
    assert show(server, renamed) == []  # still checks clean


@pytest.mark.parametrize("needle, offset, answer", [
    ("months_since", 1, ("months_since", 12)),
    ("prefer opt_a", 1, "keyword"),
    ("<= 6 months", 6, "unit"),
])
def test_prepare_rename(server, needle, offset, answer):
    show(server, SAMPLE)
    got = call(server, "textDocument/prepareRename",
               {"textDocument": {"uri": URI}, "position": position(needle, 0, offset)})
    if isinstance(answer, str):
        assert answer in got["error"]["message"]
    else:
        name, length = answer
        r = got["result"]["range"]
        assert got["result"]["placeholder"] == name and r["end"]["character"] - r["start"]["character"] == length


def test_rename_in_a_file_with_a_syntax_error_is_refused(server):
    show(server, replace_line(SAMPLE, "prefer opt_a\n", "prefer opt_a opt_b\n"))
    got = call(server, "textDocument/rename", {"textDocument": {"uri": URI}, "position": position("months_since"),
                                               "newName": "x"})
    assert "syntax error" in got["error"]["message"]


# ---------------------------------------------------------------- quick fixes

# (line as written, the misspelt line, the word a quick fix puts back)
MISSPELT = [
    ("define early \"early relapse\" = months_since", "define early \"early relapse\" = month_since", "months_since"),
    ("and early\n", "and erly\n", "early"),
    ("prefer opt_a\n", "prefer opt_aa\n", "opt_a"),
    ("evidence trial_a\n    strength", "evidence trial_b\n    strength", "trial_a"),
    ("    prefer opt_a\n", "    prefr opt_a\n", "prefer"),          # a misspelt keyword (syntax error)
    ("input prior: set of drug", "input prior: set of drugg", "drug"),  # a vocabulary
]


@pytest.mark.parametrize("old, new, word", MISSPELT)
def test_every_did_you_mean_has_a_quick_fix(server, old, new, word):
    text = replace_line(SAMPLE, old, new)
    diags = show(server, text)
    suggesting = [d for d in diags if "did you mean" in d["message"]]
    assert suggesting, diags
    for d in suggesting:
        actions = call(server, "textDocument/codeAction", {
            "textDocument": {"uri": URI}, "range": d["range"], "context": {"diagnostics": [d]}})["result"]
        assert len(actions) == 1 and actions[0]["kind"] == "quickfix", actions
        assert actions[0]["diagnostics"] == [d]
        fixed = apply(text, actions[0]["edit"]["changes"][URI])
        assert fixed == SAMPLE
    assert show(server, SAMPLE) == []


def test_no_quick_fix_without_a_suggestion(server):
    diags = show(server, replace_line(SAMPLE, "and early\n", "and zzzzzz\n"))
    actions = call(server, "textDocument/codeAction", {
        "textDocument": {"uri": URI}, "range": diags[0]["range"], "context": {"diagnostics": diags}})["result"]
    assert actions == []


@pytest.mark.parametrize("message, written, fix", [
    ("unknown name 'erly'\nhelp: did you mean 'early'? (declared at line 3)", "erly", "early"),
    ("unknown name 'erly'", "erly", None),
    ("help: did you mean 'early'?", "early", None),
    ("help: did you mean 'early'?", "a b", None),
])
def test_quick_fix_words(message, written, fix):
    assert lf.quick_fix(message, written) == fix


# ---------------------------------------------------------------- formatting

MESSY = replace_line(replace_line(SAMPLE, "input prior: set of drug", "input prior : set of  drug"),
                     "  rule first_b", "      rule first_b")


@pytest.mark.parametrize("text, formatted", [
    (MESSY, format_text(MESSY).text),
    (SAMPLE, None),                                                       # nothing to change
    (replace_line(SAMPLE, "prefer opt_a\n", "prefer opt_a opt_b\n"), None),  # a syntax error: no edit
])
def test_formatting(server, text, formatted):
    show(server, text)
    edits = call(server, "textDocument/formatting", {"textDocument": {"uri": URI},
                                                     "options": {"tabSize": 2, "insertSpaces": True}})["result"]
    if formatted is None:
        assert not edits
    else:
        assert apply(text, edits) == formatted == SAMPLE


# ---------------------------------------------------------------- semantic tokens


def decode(data: list[int]) -> dict[tuple[int, int], tuple[int, str, bool]]:
    out, line, char = {}, 0, 0
    for i in range(0, len(data), 5):
        dl, dc, length, typ, mods = data[i:i + 5]
        line += dl
        char = char + dc if dl == 0 else dc
        out[(line, char)] = (length, lf.TOKEN_TYPES[typ], bool(mods & 1))
    return out


@pytest.mark.parametrize("needle, nth, offset, length, kind, declaration", [
    ("section first", 0, 0, 7, "keyword", False),
    ("months_since", 0, 0, 12, "variable", True),
    ("months_since", 1, 0, 12, "variable", False),
    ("and early", 0, 4, 5, "function", False),
    ("opt_a", 1, 0, 5, "enumMember", False),
    ("check_me", 1, 0, 8, "event", False),
    ("\"Sample\"", 0, 0, 8, "string", False),
    ("6 months", 0, 0, 1, "number", False),
    ("6 months", 0, 2, 6, "type", False),
    ("<= 6", 0, 0, 2, "operator", False),
    ("first_a", 0, 0, 7, "method", True),
    ("trial_a", 1, 0, 7, "property", False),
])
def test_semantic_tokens(server, needle, nth, offset, length, kind, declaration):
    show(server, SAMPLE)
    data = call(server, "textDocument/semanticTokens/full", {"textDocument": {"uri": URI}})["result"]["data"]
    assert decode(data)[at(needle, nth, offset)] == (length, kind, declaration)


def test_semantic_tokens_of_a_broken_file_and_comments(server):
    text = "# a comment\n" + replace_line(SAMPLE, "prefer opt_a\n", "prefer opt_a opt_b\n")
    show(server, text)
    tokens = decode(call(server, "textDocument/semanticTokens/full", {"textDocument": {"uri": URI}})["result"]["data"])
    assert tokens[(0, 0)] == (11, "comment", False)
    assert tokens[(1, 0)] == (9, "keyword", False)  # `guideline`, before the error


# ---------------------------------------------------------------- workspace symbols


def test_workspace_symbols(tmp_path):
    (tmp_path / "a.hgl").write_text(SAMPLE, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.hgl").write_text(SAMPLE.replace("opt_a", "opt_z"), encoding="utf-8")
    (tmp_path / "sub" / "broken.hgl").write_text("section s\n", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.hgl").write_text(SAMPLE, encoding="utf-8")
    client = start(tmp_path)
    try:
        found = call(client, "workspace/symbol", {"query": "opt"})["result"]
        got = sorted((s["name"], Path(s["location"]["uri"]).name) for s in found)
        assert got == [("opt_a", "a.hgl"), ("opt_b", "a.hgl"), ("opt_b", "b.hgl"), ("opt_z", "b.hgl")]
        first_a = next(s for s in call(client, "workspace/symbol", {"query": "first_a"})["result"]
                       if s["location"]["uri"].endswith("/a.hgl"))
        assert first_a["containerName"] == "first" and first_a["kind"] == 6  # a method, in its section
        line, char = at("first_a")
        assert first_a["location"]["range"]["start"] == {"line": line, "character": char}
        everything = call(client, "workspace/symbol", {"query": ""})["result"]
        assert len(everything) > 20
    finally:
        client.close()


# ---------------------------------------------------------------- robustness


NOWHERE = "file:///nonexistent/never_opened.hgl"


@pytest.mark.parametrize("method, params", [
    ("textDocument/hover", {"position": {"line": 0, "character": 0}}),
    ("textDocument/definition", {"position": {"line": 0, "character": 0}}),
    ("textDocument/references", {"position": {"line": 0, "character": 0}, "context": {"includeDeclaration": True}}),
    ("textDocument/documentHighlight", {"position": {"line": 0, "character": 0}}),
    ("textDocument/completion", {"position": {"line": 0, "character": 0}}),
    ("textDocument/documentSymbol", {}),
    ("textDocument/semanticTokens/full", {}),
    ("textDocument/formatting", {"options": {"tabSize": 2, "insertSpaces": True}}),
    ("textDocument/codeAction", {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
                                 "context": {"diagnostics": []}}),
])
def test_a_never_opened_missing_file_gets_an_empty_answer(server, method, params):
    answer = call(server, method, {"textDocument": {"uri": NOWHERE}, **params})
    assert "error" not in answer, answer
    assert answer["result"] in (None, [], {"data": []})


def test_a_never_opened_file_on_disk_answers_from_disk(server, tmp_path):
    path = tmp_path / "on_disk.hgl"
    path.write_text(SAMPLE, encoding="utf-8")
    line, char = at("months_since", 1, 1)
    answer = call(server, "textDocument/hover", {"textDocument": {"uri": path.as_uri()},
                                                 "position": {"line": line, "character": char}})
    assert "months since therapy" in answer["result"]["contents"]["value"]


@pytest.mark.parametrize("raised, answer", [
    (ValueError("a bug"), None),                                           # logged, an empty answer
    (lf.EditError("'prefer' is a keyword"), "'prefer' is a keyword"),     # a refusal in words
])
def test_a_failing_handler_never_sends_a_traceback(raised, answer):
    from pygls.exceptions import JsonRpcException

    from hgl.compiler.lsp.server import _safe

    @_safe()
    def handler():
        raise raised

    if answer is None:
        assert handler() is None
    else:
        with pytest.raises(JsonRpcException) as err:
            handler()
        assert (err.value.message, err.value.code, err.value.data) == (answer, -32803, None)


def test_a_burst_of_edits_is_analysed_once_and_hover_answers_meanwhile(server):
    show(server, SAMPLE)
    first = server.version + 1
    for i in range(40):
        server.version += 1
        server.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": server.version},
                                                 "contentChanges": [{"text": SAMPLE + f"# edit {i}\n"}]})
    line, char = at("months_since", 1, 1)
    answer = call(server, "textDocument/hover", {"textDocument": {"uri": URI},
                                                 "position": {"line": line, "character": char}})
    assert "months since therapy" in answer["result"]["contents"]["value"]
    assert server.diagnostics(server.version) == []
    published = [m["params"]["version"] for m in server.pending
                 if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["version"] >= first]
    assert len(published) < 5  # superseded edits are not analysed one by one (typically none is)
    server.pending.clear()


# ---------------------------------------------------------------- syntax-error ranges

@pytest.mark.parametrize("old, new, line_fragment", [
    ("when her2_status = positive and early\n", "when her2_status = positive and\n", "when her2_status = positive and"),
    ("prefer opt_a\n", "prefer\n", "    prefer"),
    ('option opt_a systemic "Option A" drugs drug_a\n', "option opt_a systemic\n", "option opt_a systemic"),
])
def test_an_unfinished_line_is_marked_at_its_end(server, old, new, line_fragment):
    text = replace_line(SAMPLE, old, new)
    d = show(server, text)[0]
    lines = text.split("\n")
    row = next(i for i, x in enumerate(lines) if x.strip() == line_fragment.strip())
    assert d["range"]["start"] == {"line": row, "character": len(lines[row].rstrip())}
