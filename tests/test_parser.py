"""Parser tables: what each construct becomes in the AST, and syntax errors in the author's words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hgl.compiler.front import nodes as n
from hgl.compiler.front import parser
from hgl.compiler.pipeline import check_source
from hgl.compiler.front.source import Source

DATA = Path(__file__).parent / "data"
PRELUDE = (DATA / "prelude.hgl").read_text(encoding="utf-8")
FIRST = PRELUDE.count("\n") + 1
LANGUAGE_PAGE = Path(__file__).resolve().parent.parent / "site" / "pages" / "language.md"


def when(expr: str):
    text = f"{PRELUDE}section s\n  rule r\n    when {expr}\n    prefer opt_a\n  end\nend\n"
    g, diags = parser.parse(Source("t.hgl", text))
    assert g is not None, diags
    return g.sections[0].rules[0].when


EXPRESSIONS = [
    ("age > 3 years", n.Compare, lambda e: e.ops == (">",) and e.operands[1].unit.text == "years"),
    ("3 months < months <= 12 months", n.Compare, lambda e: e.ops == ("<", "<=")),
    ("age ≥ 70 years", n.Compare, lambda e: e.ops == (">=",)),
    ("status ≠ positive", n.Compare, lambda e: e.ops == ("!=",)),
    ("fit and not fit or fit", n.Or, lambda e: isinstance(e.operands[0], n.And)),
    ("fit and (fit or fit)", n.And, lambda e: isinstance(e.operands[1], n.Or)),
    ("status is missing", n.IsMissing, lambda e: not e.negated),
    ("status is not missing", n.IsMissing, lambda e: e.negated),
    ("received is empty", n.IsEmpty, lambda e: not e.negated),
    ("received is not empty", n.IsEmpty, lambda e: e.negated),
    ("drug_a in received", n.Member, lambda e: not e.negated),
    ("drug_a not in received", n.Member, lambda e: e.negated),
    ("received has any of {drug_a, drug_b}", n.SetTest, lambda e: e.quantifier == "any"),
    ("received has all of {drug_a}", n.SetTest, lambda e: e.quantifier == "all"),
    ("opt_a is preferred", n.HasRole, lambda e: e.role == "preferred" and e.option.text == "opt_a"),
    ("opt_a is proposed", n.HasRole, lambda e: e.role == "proposed"),
    ("any preferred option containing drug_a", n.AnyOption, lambda e: isinstance(e.filters[0], n.Containing)),
    ("(if fit then 1 else 2) = 1", n.Compare, lambda e: isinstance(e.operands[0], n.If)),
    ("age + 1 years - 2 years > 3 years", n.Compare, lambda e: isinstance(e.operands[0], n.Binary)),
    ("drug_a in drugs of current", n.Member, lambda e: isinstance(e.collection, n.DrugsOf)),
    ("drug_a in received union {drug_b}", n.Member, lambda e: e.collection.op == "union"),
    ("size > -1 mm", n.Compare, lambda e: e.operands[1].value == -1),
    ("size > 2.5 mm", n.Compare, lambda e: e.operands[1].value == 2.5),
    ("true", n.BoolLit, lambda e: e.value is True),
]


@pytest.mark.parametrize("text,kind,shape", EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
def test_expression_shapes(text, kind, shape):
    e = when(text)
    assert isinstance(e, kind)
    assert shape(e)
    assert e.span.line == FIRST + 2


def test_spans_are_one_based_and_exact():
    e = when("age > 3 years")
    left = e.operands[0]
    assert (left.span.line, left.span.column, left.span.end_column) == (FIRST + 2, 10, 13)


def test_strings_decode():
    assert parser.decode_string(r'"a \"b\" \\ c\nd"') == 'a "b" \\ c\nd'
    assert parser.decode_string('"""\n    one\n      two\n    """') == "one\n  two"
    assert parser.decode_string(r'"keep \q"') == "keep \\q"


SYNTAX = [
    # (snippet after the prelude, code, line offset, column, words in the message, words in the hint)
    ("section s\n  rule r\n    when fit\n    prefer opt_a\n  end\n", "HGL101", None, None,
     "section 's' opened at line", "add 'end'"),
    ("section s\n  rule r\n    when fit\n    prefer opt_a\n", "HGL101", None, None,
     "rule 'r' opened at line", "add 'end'"),
    ("section s\n  rule r\n    when age >\n    prefer opt_a\n  end\nend\n", "HGL100", 2, 15,
     "the line before 'prefer' is unfinished", "complete"),
    ("section s\n  rule r\n    when fit\n    prefer opt_a,\n  end\nend\n", "HGL100", 3, 18,
     "unexpected 'end'; expected a name", "'end' closes a block"),
    ("section s\n  rule r\n    when fit\n    prefer\n  end\nend\n", "HGL100", 3, 11,
     "unexpected 'end'", "cannot be a name"),
    ("rule r\n  when fit\n  prefer opt_a\nend\n", "HGL100", 0, 1, "unexpected 'rule'", "inside a section"),
    ("section s\n  rule r\n    when fit\n    prefr opt_a\n  end\nend\n", "HGL100", 3, 5, "unexpected 'prefr'",
     "did you mean 'prefer'?"),
    ("section s\n  rule r\n    when fit\n    recommend opt_a\n  end\nend\n", "HGL100", 3, 5,
     "expected a rule line", "a rule's lines start with when, prefer"),
    ("input x: intger\n", "HGL100", 0, 10, "unknown type 'intger'", "did you mean 'integer'?"),
    ("input 3x: yes/no\n", "HGL100", 0, 7, "unexpected the number 3; expected a name", "starts with a letter"),
    ('input "x": yes/no\n', "HGL100", 0, 7, "unexpected text in quotes", "without quotes"),
    ("section s\n  rule r\n    when fit && fit\n    prefer opt_a\n  end\nend\n", "HGL103", 2, 14,
     "character '&' is not allowed here", "write 'and'"),
    ("section s\n  rule r\n    when fit || fit\n    prefer opt_a\n  end\nend\n", "HGL103", 2, 14,
     "character '|'", "write 'or'"),
    ("section s\n  rule r\n    when fit;\n    prefer opt_a\n  end\nend\n", "HGL103", 2, 13, "character ';'",
     "no ';'"),
    ("section s\n  rule r 'x'\n    when fit\n  end\nend\n", "HGL103", 1, 10, "character \"'\"",
     "straight double quotes"),
    ('section s\n  rule r "unclosed\n    when fit\n  end\nend\n', "HGL102", 1, 10, "has no closing", '"""'),
    ("section s\n  rule r\n    when received = [drug_a]\n  end\nend\n", "HGL103", 2, 21, "character '['",
     "braces"),
    ("section s\n  rule r\n    when fit\n    prefer opt_a\n  end\nend\nend\n", "HGL100", 6, 1,
     "unexpected 'end'", "closes nothing"),
    ("define x = if fit then 1 else\n", "HGL101", None, None, "expected a value", None),
    ("define x = age age\n", "HGL100", 0, 16, "unexpected 'age'", "two names in a row"),
    ("section s\n  rule r\n    when fit then\n  end\nend\n", "HGL100", 2, 14, "unexpected 'then'", "'then'"),
]


@pytest.mark.parametrize("snippet,code,line,col,message,hint", SYNTAX, ids=[s[0][:40] for s in SYNTAX])
def test_syntax_errors_in_authors_words(snippet, code, line, col, message, hint):
    source = Source("t.hgl", PRELUDE + snippet)
    result = check_source(source)
    assert [d.code for d in result.diagnostics] == [code]  # one syntax error, no cascade
    d = result.diagnostics[0]
    assert message in d.message
    if hint:
        assert hint in (d.hint or "")
    if line is not None:
        assert (d.span.line, d.span.column) == (FIRST + line, col)
    else:  # end of file: the end of the last non-empty line
        assert d.span.line == len(source.text.rstrip("\n").splitlines())
    words = d.message + " " + (d.hint or "")
    assert not re.search(r"\$END|__ANON|\b[A-Z]{2,}_?[A-Z]*\b", words.replace("HGL", "")), words


def test_end_is_reserved_but_words_containing_it_are_not():
    text = PRELUDE.replace("drug_a \"drug A\"", "endocrine \"endocrine\"\n  drug_a \"drug A\"")
    g, diags = parser.parse(Source("t.hgl", text))
    assert g is not None and not diags


def test_keywords_are_contextual():
    # 'none', 'alternative', 'evidence' … are keywords only where the grammar expects them
    text = PRELUDE + "input extent: one of none, alternative, evidence, option\n"
    g, diags = parser.parse(Source("t.hgl", text))
    assert g is not None and not diags
    assert [v.text for v in g.inputs[-1].type.values] == ["none", "alternative", "evidence", "option"]


SECTIONS = [
    ('section s "S"\n  exclusive\n  rule r\n    prefer opt_a\n  end\nend\n', True, []),
    ("section s\n  provenance esmo\n  rule r\n    prefer opt_a\n  end\n  exclusive\nend\n", True, []),
    ("section s\n  rule r\n    prefer opt_a\n  end\nend\n", False, []),
    ("section s\n  exclusive\n  exclusive\n  rule r\n    prefer opt_a\n  end\nend\n", True, ["HGL202"]),
]


@pytest.mark.parametrize("snippet,exclusive,codes", SECTIONS)
def test_exclusive_section_line(snippet, exclusive, codes):
    g, diags = parser.parse(Source("t.hgl", PRELUDE + snippet))
    assert g is not None and [d.code for d in diags] == codes
    assert g.sections[0].exclusive is exclusive
    assert [r.name.text for r in g.sections[0].rules] == ["r"]


def test_exclusive_is_a_keyword_only_inside_a_section():
    text = PRELUDE + "input extent: one of exclusive, shared\n"
    g, diags = parser.parse(Source("t.hgl", text))
    assert g is not None and not diags
    assert [v.text for v in g.inputs[-1].type.values] == ["exclusive", "shared"]


def test_second_guideline_block_is_reported():
    text = PRELUDE + PRELUDE.split("end\n")[0] + "end\n"
    g, diags = parser.parse(Source("t.hgl", text))
    assert [d.code for d in diags] == ["HGL202"]


# ---------------------------------------------------------------- the language reference compiles

def _blocks():
    text = LANGUAGE_PAGE.read_text(encoding="utf-8")
    return [(m.group(1).strip(), m.group(2), text[: m.start()].count("\n") + 1)
            for m in re.finditer(r"```hgl([^\n]*)\n(.*?)```", text, re.S)]


@pytest.mark.skipif(not LANGUAGE_PAGE.exists(), reason="language page not written yet")
@pytest.mark.parametrize("info,block,line", _blocks() if LANGUAGE_PAGE.exists() else [],
                         ids=lambda x: f"line{x}" if isinstance(x, int) else None)
def test_language_reference_examples_compile(info, block, line):
    """```hgl blocks are whole guidelines; ```hgl fragment blocks are added to the page's ```hgl prelude."""
    page = LANGUAGE_PAGE.read_text(encoding="utf-8")
    prelude = re.search(r"```hgl prelude\n(.*?)```", page, re.S).group(1)
    text = prelude + block if info == "fragment" else block
    result = check_source(Source(f"language.md:{line}", text))
    assert info in ("", "fragment", "prelude")
    assert result.ok, [(d.span.line, d.code, d.message) for d in result.errors]


@pytest.mark.parametrize("field", ["description", "label", "default", "provenance", "rationale", "evidence"])
def test_metadata_field_named_like_a_keyword_is_a_field(field):
    """LALR merges states; a metadata field named like a keyword must still read as a field."""
    from hgl.compiler.pipeline import check_source
    from hgl.compiler.front.source import Source

    text = f'guideline g\n  title "T"\n  {field} "x"\nend\n'
    diags = check_source(Source("t.hgl", text)).diagnostics
    assert not [d for d in diags if d.code.startswith("HGL1")], [(d.code, d.message) for d in diags]
