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
"""

from __future__ import annotations

from pymdownx.superfences import SuperFencesException

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
    return md.preprocessors["fenced_code_block"].highlight(src=src, language=language, options=options,
                                                          md=md, **kwargs)
