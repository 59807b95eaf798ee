"""A Pygments lexer for HGL, so the site (and `pygmentize -l hgl`) can highlight guideline code.

The word lists are the quoted words of grammar/hgl.lark; tests/test_docs.py checks that every
one of them is listed here.  HGL's lexer is contextual (a keyword is reserved only where the
grammar accepts it, so `none` or `alternative` can be an enum value elsewhere); a regex lexer
cannot know the context and highlights such words as keywords everywhere.  That is only colour:
like every Pygments lexer, this one never raises: a character no rule matches becomes an Error
token (a stray `!` or `;`, a non-ASCII letter outside a string), and a plain string left open
ends at its line.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (Comment, Error, Keyword, Name, Number, Operator, Punctuation, String,
                            Text, Whitespace)

# Top-level declarations that are always followed by the name they declare.
DECLARATIONS = ("guideline", "section", "rule", "define", "input", "parameter", "vocabulary",
                "outcomes", "constraint")
# Declarations whose word is also a field or outcome inside blocks: a declaration only at column 0.
TOP_LEVEL = ("option", "flag", "evidence", "provenance", "strength", "kind", "role")
KEYWORDS = (
    "combination", "end", "when", "then", "else", "if", "governs", "exclusive",                       # blocks
    "prefer", "alternative", "propose", "as", "avoid", "demote", "drop", "request", "withhold", "use",  # outcomes
    "option", "options", "flag", "evidence", "provenance", "strength", "kind", "role",
    "label", "description", "default", "rationale", "spec", "caution",                 # fields
    "drugs", "stands", "for", "roles", "over", "governing", "order", "replaces", "against",  # combination
    "accepts", "times",                                                                # units
    "accept", "on", "because",                                                         # acknowledged findings
    "record", "fhir", "system", "fact", "code", "members", "where", "value", "map",    # FHIR bindings
    "units", "after", "before", "earliest", "latest", "derive", "note", "age", "months", "since", "regimen", "are",
    "from", "to", "at", "least", "most", "with", "one", "set",    # types and filters
)
TYPES = ("yes/no", "integer", "number")
CONTEXT_TYPES = ("date",)  # a type after ':', a metadata field elsewhere (`date 2025-01-01`)
CONSTANTS = ("true", "false", "none")
WORD_OPERATORS = ("and", "or", "not", "in", "has", "any", "all", "of", "is", "missing", "empty",
                  "containing", "every", "except", "union", "proposed", "preferred", "count", "min", "max", "between")

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# `months` is a keyword of FHIR bindings (`derive months since f`) and a unit word (`6 months`): a unit after a number
_RESERVED = "|".join(sorted({*DECLARATIONS, *KEYWORDS, *TYPES, *CONSTANTS, *WORD_OPERATORS} - {"months"},
                            key=len, reverse=True))
# A unit follows its number on the same line: `30 mg`, `50 %`, `3.5 mo`; never a reserved word (`0 to 5`).
UNIT = rf"%|(?!(?:{_RESERVED})\b){NAME}\b"
DECLARED = rf"(?!end\b){NAME}"  # `end` is HGL's one reserved word


class HglLexer(RegexLexer):
    """HGL, the clinical-guideline language of this project (grammar/hgl.lark)."""

    name = "HGL"
    aliases = ["hgl"]
    filenames = ["*.hgl"]
    mimetypes = ["text/x-hgl"]
    url = "https://github.com/"  # no public home yet; Pygments only shows it in listings

    tokens = {
        "root": [
            (r"[ \t\r\f\v]+", Whitespace),
            (r"\n", Whitespace),
            (r"#[^\n]*", Comment.Single),
            # strings: triple-quoted (may span lines) before plain
            (r'"""', String.Double, "triple"),
            (r'"', String.Double, "string"),
            # declarations and the name they declare
            (rf"({'|'.join(DECLARATIONS)})([ \t]+)({DECLARED})\b", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (rf"^({'|'.join(TOP_LEVEL)})([ \t]+)({DECLARED})\b", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (words(DECLARATIONS, suffix=r"\b"), Keyword.Declaration),
            (r"else[ \t]+if\b", Keyword),
            (r"yes/no\b", Keyword.Type),
            (words(TYPES[1:], suffix=r"\b"), Keyword.Type),
            (rf"(:)([ \t]*)({'|'.join(CONTEXT_TYPES)})\b", bygroups(Punctuation, Whitespace, Keyword.Type)),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            # literals: dates before numbers, a number's unit on the same line
            (r"\d{4}-\d{2}-\d{2}\b", Number.Other),
            (rf"(\d+(?:\.\d+)?)([ \t]*)({UNIT})", bygroups(Number, Whitespace, Name.Constant)),
            (r"\d+(?:\.\d+)?", Number),
            (r"%", Name.Constant),  # the unit of `number in %`
            (r"<=|>=|!=|[<>=≤≥≠+\-*/]", Operator),
            (r"[,:(){}]", Punctuation),
            (NAME, Name),
        ],
        "string": [
            (r'[^"\\\n]+', String.Double),
            (r"\\.", String.Escape),
            (r'"', String.Double, "#pop"),
            (r"\n", Text, "#pop"),  # unterminated: HGL strings end on their line (HGL reports it)
        ],
        "triple": [
            (r'[^"\\]+', String.Double),
            (r"\\.", String.Escape),
            (r'"""', String.Double, "#pop"),
            (r'"', String.Double),
        ],
    }
