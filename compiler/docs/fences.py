"""Docs generation, mkdocs stage: how the hand-written pages' HGL examples are rendered.

The author pages (site/pages/language.md, diagnostics.md) mark every HGL example with a fence
info string: the language `hgl`, then one word saying how the test suite checks it --

    ```hgl prelude     the page's shared guideline (tests/test_parser.py, test_diagnostics.py)
    ```hgl fragment    appended to the prelude and compiled (tests/test_parser.py)
    ```hgl check       appended to the prelude; must report the code of its heading (test_diagnostics.py)
    ```hgl whole       a whole file; must report the code of its heading (test_diagnostics.py)
    ```hgl verify      appended to the prelude; the verifier must report the code (test_diagnostics.py)

An info string's first word is the language and the rest is for tools (CommonMark), but
Python-Markdown's fenced_code does not accept a bare word after the language, so the block
was not a fence at all.  site/mkdocs.yml registers `hgl` as a pymdownx.superfences custom fence
with this validator: the mode word is accepted (and dropped), the block is highlighted like any
other, and an unknown word stops the build instead of garbling the page.

The highlighting is compiler/docs/lexer.py's HglLexer.  `format` hands it to pymdownx.highlight
itself (a Highlight subclass that knows `hgl`), so the page gets exactly the markup of every other
fenced block -- div.language-hgl.highlight > pre > code with Pygments' short classes, which
mkdocs-material colours, and the copy button -- whether or not the `pygments.lexers` entry point
of pyproject.toml is installed in the environment.
"""

from __future__ import annotations

from functools import cache

from pymdownx.superfences import SuperFencesException

from .lexer import HglLexer

MODES = frozenset({"prelude", "fragment", "check", "whole", "verify"})


def validate(language, inputs, options, attrs, md) -> bool:
    """Accept ```hgl and ```hgl <mode>; anything else is an authoring mistake on a page."""
    unknown = {k: v for k, v in inputs.items() if k not in MODES or v != k}
    if unknown or len(inputs) > 1:
        raise SuperFencesException(f"```hgl fence: expected at most one of {sorted(MODES)}, got {dict(inputs)}")
    return True


def format(src, language, class_name, options, md, **kwargs) -> str:  # noqa: A001 (the superfences name)
    """Highlight like every other fenced block (same wrapper and copy button), plus class `hgl`."""
    kwargs["classes"] = [class_name, *(kwargs.get("classes") or [])]
    fences = md.preprocessors["fenced_code_block"]
    base = fences.highlighter
    fences.highlighter = _knowing_hgl(base)
    try:
        return fences.highlight(src=src, language=language, options=options, md=md, **kwargs)
    finally:
        fences.highlighter = base


@cache
def _knowing_hgl(highlighter: type) -> type:
    """pymdownx's Highlight class (or the configured one), with the HGL lexer for language `hgl`."""

    class HglHighlight(highlighter):
        def get_lexer(self, src, language, inline, stripnl):
            if language in HglLexer.aliases:
                return HglLexer(stripnl=stripnl), HglLexer.aliases[0]
            return super().get_lexer(src, language, inline, stripnl)

    return HglHighlight
