"""Syntax diagnostics: turns what the parser saw at a syntax error into a message in the author's words.

parser.py extracts plain facts from Lark's exception (a `Problem`, with the unclosed blocks
read by `stack_facts` from the parser's value stack); this module, which imports nothing of
Lark, decides the code, the wording and the hint.  Terminal names (NAME, $END,
__ANON_0) never reach the author: every expected terminal is read through `_WORDS` or as
the keyword it spells, and large expected sets are summarised by what they mean.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

from hgl.compiler.front import blocks
from hgl.compiler.front.diagnostics import Diagnostic
from hgl.compiler.front.source import Source, Span

# How the author reads a terminal that is not a keyword.
_WORDS = {
    "NAME": "a name",
    "STRING": "text in double quotes",
    "NUMBER": "a number",
    "DATE": "a date (YYYY-MM-DD)",
    "COMPARE": "a comparison (=, <, ≤ …)",
    "EQUAL": "'='",
    "ADD_OP": "'+', '-' or 'union'",
    "MUL_OP": "'*' or '/'",
    "MINUS": "'-'",
    "ROLE_WORD": "'proposed' or 'preferred'",
    "AGAINST": "'against'",
    "YES_NO": "'yes/no'",
    "ELSE_IF": "'else if'",
    "PERCENT": "'%'",
    "UCUM": "a unit (UCUM code)",
    "INTEGER_KW": "'integer'",
    "NUMBER_KW": "'number'",
    "GOVERNS": "'governs'",
    "CAUTION": "'caution'",
}

_DECLARATIONS = frozenset({"GUIDELINE", "PROVENANCE", "STRENGTH", "EVIDENCE", "VOCABULARY", "OPTION", "FLAG",
                           "KIND", "ROLE", "INPUT", "PARAMETER", "DEFINE", "CONSTRAINT", "OUTCOMES", "SECTION", "COMBINATION"})
_OUTCOMES = frozenset({"PREFER", "ALTERNATIVE", "PROPOSE", "AVOID", "DEMOTE", "DROP", "FLAG", "REQUEST", "WITHHOLD", "USE", "IF"})
_RULE_LINES = _OUTCOMES | {"WHEN", "GOVERNS", "STRENGTH", "PROVENANCE", "EVIDENCE", "RATIONALE"}
_OPERATORS = frozenset({"COMPARE", "EQUAL", "ADD_OP", "MUL_OP", "MINUS", "AND", "OR", "IN", "IS", "HAS", "NOT",
                        "BETWEEN"})
_DECL_FIELDS = frozenset({"LABEL", "DESCRIPTION", "DEFAULT", "PROVENANCE"})
_IGNORED = frozenset({"COMMENT", "WS", "$END"})

# Words that begin a line of a rule or a block: when one of them is swallowed as a name, the
# line before it is unfinished.
_LINE_WORDS = frozenset({"when", "prefer", "alternative", "propose", "avoid", "demote", "drop", "flag", "request", "withhold",
                         "use", "governs", "strength", "provenance", "evidence", "rationale", "rule", "section",
                         "input", "define", "constraint", "option", "kind", "role", "parameter", "label", "description", "default",
                         "exclusive"})
BLOCK_END_HINT = ("every 'guideline', 'evidence', 'vocabulary', 'section', 'rule', 'outcomes', "
                  "'combination' and outcome 'if' block is closed by 'end'")


@dataclass(frozen=True)
class Problem:
    """What the parser saw where it stopped, free of parser types."""

    kind: str  # "eof" | "token" | "char"
    span: Span
    text: str = ""  # the unexpected token or character
    type: str = ""  # its terminal name, for "token"
    expected: frozenset[str] = frozenset()
    keywords: dict[str, str] = field(default_factory=dict)  # terminal name -> the keyword it spells
    openers: tuple[tuple[str, int], ...] = ()  # unclosed blocks, outermost first: (keyword, line)
    previous: tuple[str, str, int] | None = None  # the token before: (type, text, line)
    line_text: str = ""  # the source line of the problem
    declarations: frozenset[str] = frozenset()  # the words that start a top-level declaration


# Blocks closed by 'end', by the keyword token that opens them.
_OPENERS = {"GUIDELINE", "EVIDENCE", "VOCABULARY", "SECTION", "RULE", "OUTCOMES", "COMBINATION", "IF"}
# Tokens after which 'if' starts an expression, not an outcome block.
_EXPR_BEFORE_IF = {"WHEN", "EQUAL", "LPAR", "COMPARE", "AND", "OR", "NOT", "ADD_OP", "MINUS", "IN", "OF"}


def _is_token(item) -> bool:
    return isinstance(item, str) and hasattr(item, "type")  # a lark Token, without importing lark


def _last_token(item):
    if _is_token(item):
        return item
    for child in reversed(getattr(item, "children", ())):
        tok = _last_token(child)
        if tok is not None:
            return tok
    return None


def stack_facts(stack: list, history) -> tuple[tuple[tuple[str, int], ...], tuple[str, str, int] | None]:
    """Unclosed blocks and the token before the error, read from the parser's value stack."""
    openers = []
    for i, item in enumerate(stack):
        if _is_token(item) and item.type == "END" and openers:
            openers.pop()  # a complete block waits on the stack for the token after it
            continue
        if not _is_token(item) or item.type not in _OPENERS:
            continue
        if item.type == "EVIDENCE" and openers:  # inside a block it is a field, not a block
            continue
        before = stack[i - 1] if i else None
        if item.type == "IF" and _is_token(before) and before.type in _EXPR_BEFORE_IF:
            continue
        openers.append((str(item), item.line))
    previous = None
    last = history[-1] if history else (_last_token(stack[-1]) if stack else None)
    if last is not None:
        previous = (last.type, str(last), last.line)
    return tuple(openers), previous


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def expected_words(expected, keywords: dict[str, str]) -> str:
    """What the parser would have accepted, in words, summarised by meaning when the list is long."""
    e = set(expected) - _IGNORED
    parts: list[str] = []
    if len(e & _DECLARATIONS) >= 10:
        parts.append("a new declaration (input, define, section, …)")
        e -= _DECLARATIONS
    if {"WHEN", "PREFER", "AVOID"} <= e:
        parts.append("a rule line (when, prefer, avoid, flag, …)")
        e -= _RULE_LINES
    elif {"PREFER", "AVOID", "REQUEST"} <= e:
        parts.append("an outcome (prefer, avoid, flag, …)")
        e -= _OUTCOMES
    if len(e & _OPERATORS) >= 3:
        parts.append("an operator (and, or, =, in, …)")
        e -= _OPERATORS
    if {"NAME", "NUMBER", "LPAR"} <= e:
        parts.append("a value (a name, a number, true, false, {…}, ( … ))")
        e -= {"NAME", "NUMBER", "LPAR", "TRUE", "FALSE", "LBRACE", "MINUS", "DRUGS", "ANY", "IF", "NOT", "DATE",
              "COUNT", "AT", "MIN", "MAX"}
    if _DECL_FIELDS <= e:
        parts.append("label, description, default or provenance")
        e -= _DECL_FIELDS
    words = set()
    for name in e:
        if name in _WORDS:
            words.add(_WORDS[name])
        elif name in keywords:
            words.add(f"'{keywords[name]}'")
        else:  # a terminal without a reading: say something true rather than its name
            words.add("another word")
    rest = sorted(words, key=lambda w: (w != "'end'", not w.startswith("'"), w))
    if len(parts + rest) > 7:
        return ", ".join((parts + rest)[:6]) + ", …"
    return _join(parts + rest)


misaligned_block = blocks.misaligned_block  # (keyword, line, end line) of a block whose 'end' is misaligned


def _unclosed(p: Problem) -> str | None:
    if not p.openers:
        return None
    word, line = p.openers[-1]
    return f"the '{word}' block opened at line {line} has no 'end'"


def _token_words(p: Problem) -> str:
    if p.type == "STRING":
        return "text in quotes"
    if p.type == "NUMBER":
        return f"the number {p.text}"
    return f"'{p.text}'"


def _line_starts(p: Problem, word: str) -> bool:
    return p.line_text.lstrip().startswith(word + " ")


def diagnose(source: Source, p: Problem) -> Diagnostic:
    """The one diagnostic for a syntax error (later errors would only be echoes of this one)."""
    exp = expected_words(p.expected, p.keywords)
    unknown_type = _unknown_type(source, p)
    if unknown_type is not None:
        return unknown_type
    if p.kind == "eof":
        if "END" in p.expected and p.openers:
            block, end_line = blocks.unclosed(source.text, p.openers[0][1], source.text.count("\n") + 2)
            block = block or blocks.block_at(source.text, p.openers[-1][1])
            if block is not None:
                hint = (f"the 'end' at line {end_line} is indented like an outer block: add the missing 'end' of "
                        f"{block.words()} above it" if end_line else f"add 'end' to close it; {BLOCK_END_HINT}")
                return Diagnostic("HGL101", f"unexpected end of file: {block.words()} opened at line {block.line} "
                                  "is not closed", source.end_span(), hint,
                                  related=((block.opener_span(), f"{block.words()} opens here"),))
        return Diagnostic("HGL101", f"unexpected end of file; expected {exp}", source.end_span(),
                          BLOCK_END_HINT if "END" in p.expected else None)
    p = replace(p, line_text=source.line_text(p.span.line))
    if p.kind == "token" and p.type == "UCUM" and "UCUM" not in p.expected:
        # a unit code where none can stand (`[drug_a]`, `a/b` after a number): the sign is the problem
        sign = p.text[0] if p.text[0] in "[/" else next((ch for ch in p.text if ch in "[/"), p.text[0])
        col = p.span.column + p.text.index(sign)
        p = replace(p, kind="char", text=sign, span=Span(p.span.line, col, p.span.line, col + 1))
    if p.kind == "char":
        return _char(source, p, exp)
    if p.type in p.keywords and p.type not in p.expected and blocks.is_name(p.text):
        p = replace(p, type="NAME")  # a keyword where it cannot stand is read, by the author, as a word
    not_closed = _not_closed(source, p)
    if not_closed is not None:
        return not_closed
    return _at_unfinished_line(source, p, _token(p, exp))


def _code_end(line: str) -> int:
    """The length of a line without its comment and trailing white space."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif ch == "#" and not quoted:
            line = line[:i]
            break
    return len(line.rstrip())


def _at_unfinished_line(source: Source, p: Problem, d: Diagnostic) -> Diagnostic:
    """An error that is an unfinished line is marked at that line's end, not on the next line's first token."""
    prev_type, prev_text, prev_line = p.previous or ("", "", 0)
    if d.message.startswith("the line before"):  # a line word read as a name: the line before it is unfinished
        line = prev_line - 1
        while line > 0 and not _code_end(source.line_text(line)):
            line -= 1
    elif (0 < prev_line < p.span.line and not p.line_text[: p.span.column - 1].strip()
          and "END" not in p.expected and not p.expected & (_DECLARATIONS | _RULE_LINES | _DECL_FIELDS)):
        line = prev_line  # the token starts a line, and nothing can start a line here
    else:
        return d
    if line < 1:
        return d
    col = _code_end(source.line_text(line)) + 1
    return replace(d, span=Span(line, col, line, col + 1))


def _not_closed(source: Source, p: Problem) -> Diagnostic | None:
    """HGL104 when the parser stopped at a word that starts a block or declaration an open block cannot hold.

    Either the unexpected word itself starts its line and opens a rule, section or declaration,
    or an open `name value` block (guideline, evidence, vocabulary) read a declaration written at
    column 0 as one of its fields.  The block named is the one the indentation shows unclosed.
    """
    if p.kind != "token" or "END" not in p.expected or not p.openers:
        return None
    at_start = not p.line_text[: p.span.column - 1].strip()
    where = None
    if at_start and (p.text in p.declarations or p.text in ("rule", "section")):
        where = (p.span, p.text)
    elif p.openers[-1][0] in blocks.FIELD_BLOCKS:
        starts = [n for n in blocks.top_level_starts(source.text, p.declarations) if p.openers[0][1] < n <= p.span.line]
        if starts:
            word = source.line_text(starts[0]).split()[0]
            where = (Span(starts[0], 1, starts[0], 1 + len(word)), word)
    if where is None:
        return None
    span, word = where
    block, end_line = blocks.unclosed(source.text, p.openers[0][1], span.line)
    if block is None or (word in ("rule", "section") and block.indent < span.column - 1):
        return None  # by the layout the word is inside the open block: something else is wrong
    hint = f"add 'end' to close {block.words()} before line {span.line}"
    if end_line:
        hint = f"the 'end' at line {end_line} is indented like an outer block: add the missing 'end' of " \
               f"{block.words()} above it"
    return Diagnostic("HGL104", f"{block.words()} opened at line {block.line} is not closed: 'end' expected "
                      f"before '{word}'", span, hint,
                      related=((block.opener_span(), f"{block.words()} opens here"),))


_TYPE_WORDS = ("yes/no", "integer", "number", "one of", "set of", "option or none")


def _unknown_type(source: Source, p: Problem) -> Diagnostic | None:
    """`input x: intger`: a name where a type goes is read as an option kind waiting for 'option'."""
    prev_type, prev_text, prev_line = p.previous or ("", "", 0)
    if p.expected != frozenset({"OPTION"}) or prev_type != "NAME":
        return None
    line = source.line_text(prev_line)
    col = line.find(prev_text, line.find(":") + 1) + 1
    span = Span(prev_line, col, prev_line, col + len(prev_text)) if col > 0 else p.span
    close = difflib.get_close_matches(prev_text, [w.split()[0] for w in _TYPE_WORDS], n=1, cutoff=0.6)
    hint = (f"did you mean '{close[0]}'? " if close else "") + \
        "a type is yes/no, integer, number, one of …, set of …, or <kind> option or none"
    return Diagnostic("HGL100", f"unknown type '{prev_text}'", span, hint)


def _char(source: Source, p: Problem, exp: str) -> Diagnostic:
    ch = p.text
    if ch == '"':
        return Diagnostic("HGL102", "text starting here has no closing '\"'", p.span,
                          "close the text on the same line, or use \"\"\" … \"\"\" for several lines")
    hint = {"'": 'text is written in straight double quotes: "like this"',
            "‘": 'text is written in straight double quotes: "like this"',
            "’": 'text is written in straight double quotes: "like this"',
            "“": 'text is written in straight double quotes: "like this"',
            "”": 'text is written in straight double quotes: "like this"',
            "&": "write 'and'", "|": "write 'or'",
            "!": "write 'not', or '≠' (or '!=') for 'is not equal to'",
            ";": "lines need no ';' at the end", "[": "a set is written in braces: {a, b}",
            "]": "a set is written in braces: {a, b}", "/": "'/' has no meaning here; only 'yes/no' contains it",
            ".": "names use '_' rather than '.'"}.get(ch)
    expected = f"; expected {exp}" if exp and not hint else ""  # the lexer's list is broad: a hint says more
    return Diagnostic("HGL103", f"character {ch!r} is not allowed here{expected}", p.span, hint)


def _token(p: Problem, exp: str) -> Diagnostic:
    message = f"unexpected {_token_words(p)}; expected {exp}"
    hint = None
    prev_type, prev_text, prev_line = p.previous or ("", "", 0)
    keywords = {v: k for k, v in p.keywords.items() if k in p.expected}
    if p.text == "end" and "NAME" in p.expected and "END" not in p.expected:
        message = f"unexpected 'end'; expected {exp}"
        hint = "'end' closes a block, so it cannot be a name; something is missing before it"
    elif prev_type == "NAME" and prev_text in _LINE_WORDS and prev_line < p.span.line:
        message = (f"the line before '{prev_text}' (line {prev_line}) is unfinished, so '{prev_text}' "
                   f"was read as a name")
        hint = "complete that line, e.g. `when age_years > 70 years`"
    elif prev_type == "NAME" and prev_text in _LINE_WORDS and p.type == "NAME":
        message = f"the line before '{prev_text}' is unfinished, so '{prev_text}' was read as a name"
        hint = "complete the condition before it, or start it on a new line after a finished one"
    elif p.text == "rule" and "SECTION" in p.expected:
        hint = "a rule belongs inside a section: section my_section … rule my_rule … end … end"
    elif p.text == "end" and not p.openers:
        hint = "this 'end' closes nothing: remove it, or look above for a block closed too early"
    elif p.text in ("then", "else"):
        hint = f"'{p.text}' belongs to an 'if … then … else … end'; is the 'if' missing, or an 'end' too early?"
    elif p.text == "end" and "END" not in p.expected:
        hint = "check that each 'if' has its 'then' and each block its 'end'"
    elif p.type == "NAME" and keywords:
        close = difflib.get_close_matches(p.text, list(keywords), n=1, cutoff=0.7)
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif prev_type == "NAME" and prev_line == p.span.line and (_OPERATORS & p.expected):
            hint = "two names in a row: join conditions with 'and' / 'or', compare with '=' or '≠'"
        elif {"WHEN", "PREFER"} <= p.expected:
            hint = ("a rule's lines start with when, prefer, alternative, avoid, demote, drop, flag, request, "
                    "withhold, use, if, governs, strength, provenance, evidence or rationale")
        elif len(p.expected & _DECLARATIONS) >= 10:
            hint = ("a declaration starts with guideline, provenance, strength, evidence, vocabulary, option, "
                    "flag, input, parameter, define, constraint, outcomes, section or combination")
    elif p.type == "STRING" and prev_type == "NAME" and p.keywords.get("PROVENANCE") and \
            _line_starts(p, "provenance"):
        hint = ("right after an input or parameter, 'provenance' lists that declaration's tags; declare "
                "provenance tags before the inputs")
    elif p.type == "STRING" and "NAME" in p.expected:
        hint = "an identifier comes first, written without quotes (letters, digits, '_'); its label follows in quotes"
    elif p.type == "NUMBER" and p.expected == frozenset({"NAME"}):
        hint = "a name starts with a letter or '_'"
    if hint is None and p.type == "END":
        unclosed = _unclosed(p)
        hint = unclosed and f"{unclosed}; something inside it is unfinished"
    return Diagnostic("HGL100", message, p.span, hint)
