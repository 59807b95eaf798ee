"""Code generation: golden module for a small guideline, determinism, and hostile text that never runs."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from hgl.compiler.pipeline import compile_source
from hgl.compiler.front.source import Source
from hgl.runtime import load
from hgl.runtime.api import load_module_source
from hgl.runtime.explain import NODE_TYPES as EXPLAIN_NODES
from hgl.runtime.explain import _constants, _reads_proposal
from hgl.runtime.logic import code_names

from .conftest import ROOT

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden" / "compiler"
SMALL = DATA / "small.hgl"


def _compile(text: str, name: str = "tests/data/small.hgl") -> str:
    result = compile_source(Source(name, text))
    assert result.ok, [(d.span.line, d.code, d.message) for d in result.errors]
    return result.code


def test_golden_module(golden):
    golden.check(GOLDEN / "small.py.txt", _compile(SMALL.read_text(encoding="utf-8")))


def test_deterministic_and_hashed():
    text = SMALL.read_text(encoding="utf-8")
    first, second = _compile(text), _compile(text)
    assert first.encode() == second.encode()
    assert Source("x", text).sha256 in first
    assert _compile(text + "\n# a comment\n") != first  # the hash follows the source


def test_module_imports_only_the_runtime():
    tree = ast.parse(_compile(SMALL.read_text(encoding="utf-8")))
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert modules <= {"hgl.runtime.logic", "hgl.runtime.model", "hgl.runtime.explain", "__future__"}


# ---------------------------------------------------------------- hostile text
HOSTILE = [  # the text as the author means it; `hgl_text` writes it with HGL's escapes
    'a "quoted" word',
    "triple \"\"\" and \'\'\' quotes",
    "back\\slash \\n not a newline",
    "real\nnewline and\ttab",
    "__import__('os').system('touch /tmp/hgl-pwned')",
    '"); import os; os.system("touch /tmp/hgl-pwned"); ("',
    "{} {0} {name} %s %(x)s",
    "ünïcödé ≥ ≤ ≠ — 中文 🙂",
    "\\\" end",
    "# not a comment",
    "\\",
]


def hgl_text(t: str) -> str:
    return '"' + t.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


# every place text can appear, as (template with {t}, how to find the text in the loaded module)
PLACES = [
    ("title", lambda m: m.GUIDELINE["title"]),
    ("disclaimer", lambda m: m.GUIDELINE["disclaimer"]),
    ("provenance", lambda m: m.PROVENANCE["esmo"]["meaning"]),
    ("strength", lambda m: m.STRENGTHS["strong"]),
    ("evidence", lambda m: m.EVIDENCE["trial_a"]["result"]),
    ("vocabulary", lambda m: m.VOCABULARIES["drug"]["drug_a"]),
    ("option", lambda m: m.OPTIONS["opt_a"].label),
    ("flag", lambda m: m.FLAGS["discuss"].label),
    ("input label", lambda m: m.INPUTS[0].label),
    ("input description", lambda m: m.INPUTS[0].description),
    ("constraint", lambda m: m.CONSTRAINTS[0].label),
    ("parameter label", lambda m: m.PARAMETERS[0].label),
    ("parameter description", lambda m: m.PARAMETERS[0].description),
    ("section title", lambda m: m.SECTIONS[0].title),
    ("section description", lambda m: m.SECTIONS[0].description),
    ("rule title", lambda m: m.RULES[0].title),
    ("rationale", lambda m: m.RULES[0].rationale),
    ("definition label", lambda m: m.EXPLAIN["symbols"]["d"][0]),
]


def hostile_guideline(t: str) -> str:
    q = hgl_text(t)
    return f'''guideline g
  title {q}
  version "1"
  status draft
  source "s"
  doi "10.1/x"
  panel "p"
  date 2025-01-01
  disclaimer {q}
end
provenance esmo {q}
strength strong {q}
evidence trial_a
  trial "T"
  result {q}
end
vocabulary drug {q}
  drug_a {q}
end
kind systemic {q}
option opt_a systemic {q} drugs drug_a
flag discuss {q}
input age: integer in years at least 0
  label {q}
  description {q}
parameter p: yes/no
  label {q}
  description {q}
  default true
  provenance esmo
define d {q} = age > 3 years and p
constraint c1 {q}
  when age < 0 years
section s {q}
  description {q}
  provenance esmo
  rule r {q}
    when d
    prefer opt_a
    flag discuss
    strength strong
    evidence trial_a
    rationale {q}
  end
end
'''


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_round_trips_and_never_runs(text, monkeypatch, tmp_path):
    code = _compile(hostile_guideline(text), name=f"hostile {text}")
    compile(code, "<hostile>", "exec")  # valid Python
    calls = []
    real_import = builtins.__import__

    def guarded_import(name, *args, **kwargs):
        if name.split(".")[0] in ("os", "subprocess", "sys", "shutil"):
            calls.append(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded_import)
    module = load_module_source(code, "hostile_module")
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert calls == []
    assert not Path("/tmp/hgl-pwned").exists()
    want = text
    for place, get in PLACES:
        assert get(module) == want, place
    # the text only ever appears inside string literals: strip them and it is gone
    stripped = [node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name) and node.func.id in ("__import__", "exec", "eval")]
    assert stripped == []


def test_hostile_source_name_is_a_literal():
    code = _compile(SMALL.read_text(encoding="utf-8"), name='x"\n__import__("os")\n#')
    module = load_module_source(code, "named_module")
    assert module.SOURCE == 'x"\n__import__("os")\n#'


@pytest.mark.parametrize("name", ["options", "rules", "known", "explain", "source", "inputs", "flags", "tests_missing",
                                  "words_read", "reads_proposal"])
def test_a_set_named_like_a_module_table_does_not_replace_it(name):
    """A definition's set becomes a constant named after it, but never one of the module's own tables."""
    text = SMALL.read_text(encoding="utf-8").replace(
        'define older "older" = age >= 70 years',
        f'define older "older" = age >= 70 years\ndefine {name} = {{radio, keep}}')
    text = text.replace("when big", f"when big and radio in {name}", 1)
    code = _compile(text)
    namespace: dict = {}
    exec(compile(code, "<generated>", "exec"), namespace)  # noqa: S102 - the compiler's own output
    assert isinstance(namespace["OPTIONS"], dict) and isinstance(namespace["RULES"], tuple)
    assert isinstance(namespace["KNOWN"], dict) and isinstance(namespace["EXPLAIN"], dict)
    assert isinstance(namespace["TESTS_MISSING"], frozenset) and isinstance(namespace["READS_PROPOSAL"], frozenset)
    assert isinstance(namespace["WORDS_READ"], dict)
    assert f"{name.upper()}_2 = frozenset(" in code


# ---------------------------------------------------------------- what the compiler states of its functions
SHIPPED = sorted((ROOT / "guidelines").glob("*.hgl")) + sorted((ROOT / "guidelines" / "examples").glob("*.hgl"))


def _tests(tree):
    """Every test in an EXPLAIN tree."""
    if callable(tree) and type(tree) not in EXPLAIN_NODES:
        yield tree
    elif type(tree) in EXPLAIN_NODES:
        for name in tree.__dataclass_fields__:
            yield from _tests(getattr(tree, name))
    elif type(tree) in (tuple, dict):
        for x in (tree.values() if type(tree) is dict else tree):
            yield from _tests(x)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_stated_facts_are_what_the_code_shows(path):
    """TESTS_MISSING, WORDS_READ and READS_PROPOSAL (which the runtime looks up by name, rather
    than reading code objects) say of the functions the compiler wrote what their code shows:
    the functions whose code calls is_missing; the names each test of the words reads (the
    strings of its code that name an input, parameter or definition); whether it reads the
    proposal."""
    m = load(path, use_cache=False).module
    assert m.TESTS_MISSING == {n for n in m.KNOWN if "is_missing" in code_names(getattr(m, n).__code__)}
    universe = {s.name for s in m.INPUTS + m.PARAMETERS} | {d.name for d in m.DEFINITIONS} | {"today"}
    for name, names in m.WORDS_READ.items():
        code = getattr(m, name).__code__
        assert names == tuple(sorted(_constants(code) & universe)), name
        assert (name in m.READS_PROPOSAL) == _reads_proposal(code), name
    assert m.READS_PROPOSAL <= m.WORDS_READ.keys()
    tests = list(_tests(m.EXPLAIN))
    assert tests and {fn.__name__ for fn in tests} == m.WORDS_READ.keys()
    assert all(getattr(m, fn.__name__) is fn for fn in tests)
