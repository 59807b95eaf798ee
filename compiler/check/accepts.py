"""Acknowledged findings: `accept HGL502 on rule_name because "reason"`.

A warning about one rule that the authors have read and accept stays in the source with its
reason.  `check` validates the statements (the code is a warning about a rule, the rule exists,
the reason says something); `partition` splits a list of findings into those still shown, those
accepted (with the statement that accepts each) and the acknowledgements that matched nothing,
which become HGL507 warnings so a stale one is noticed.  The checked statements are kept on the
program (`Program.accepts`) for the verifier, the site and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

from hgl.compiler.front import nodes as n
from hgl.compiler.front.diagnostics import CODES, Diagnostic, did_you_mean

# Warnings about one rule, reported at a place inside that rule: the ones an author can accept.
ACCEPTABLE = ("HGL405", "HGL406", "HGL502", "HGL503", "HGL504", "HGL505", "HGL506", "HGL508")
# Found only by the verifier (`hgl check --verify`): without it, an acknowledgement of one is not stale.
VERIFIER_CODES = frozenset(code for code in ACCEPTABLE if code.startswith("HGL5"))


@dataclass(frozen=True)
class Partition:
    shown: tuple[Diagnostic, ...]  # findings not accepted, then HGL507 for each stale acknowledgement
    accepted: tuple[tuple[Diagnostic, n.Accept], ...]  # each accepted finding with the statement accepting it


def check(guideline: n.Guideline, rules: dict[str, n.Rule]) -> tuple[tuple[n.Accept, ...], list[Diagnostic]]:
    """The valid acknowledgements of a guideline, and the errors of the others."""
    diags: list[Diagnostic] = []
    valid: list[n.Accept] = []
    seen: dict[tuple[str, str], n.Accept] = {}
    acceptable = ", ".join(ACCEPTABLE)
    for a in guideline.accepts:
        code = a.code.text
        ok = True
        if code not in CODES:
            hint = did_you_mean(code, ACCEPTABLE) or f"the warnings about a rule are {acceptable}"
            diags.append(Diagnostic("HGL215", f"unknown diagnostic code '{code}'", a.code.span, hint))
            ok = False
        elif CODES[code][0] == "error":
            diags.append(Diagnostic("HGL215", f"{code} is an error: an error cannot be accepted, only fixed",
                                    a.code.span, f"only warnings about a rule can be accepted: {acceptable}"))
            ok = False
        elif code not in ACCEPTABLE:
            diags.append(Diagnostic("HGL215", f"{code} ({CODES[code][1]}) is not about one rule, so it cannot "
                                    "be accepted on a rule", a.code.span,
                                    f"the warnings about a rule are {acceptable}"))
            ok = False
        if a.rule.text not in rules:
            hint = did_you_mean(a.rule.text, sorted(rules)) or "name the rule the warning is reported on"
            diags.append(Diagnostic("HGL201", f"unknown rule '{a.rule.text}'", a.rule.span, hint))
            ok = False
        if not a.reason.strip():
            diags.append(Diagnostic("HGL215", "the reason is empty", a.span,
                                    "say why the finding is accepted, e.g. which recommendations stand and "
                                    "how the combination resolves them"))
            ok = False
        key = (code, a.rule.text)
        if ok and key in seen:
            diags.append(Diagnostic("HGL202", f"{code} on rule '{a.rule.text}' is accepted twice", a.span,
                                    f"the first acknowledgement is at line {seen[key].span.line}; keep one"))
            ok = False
        if ok:
            seen[key] = a
            valid.append(a)
    return tuple(valid), diags


def _inside(span, outer) -> bool:
    return (outer.line, outer.column) <= (span.line, span.column) and \
        (span.line, span.column) <= (outer.end_line, outer.end_column)


def accepting(program, d: Diagnostic) -> n.Accept | None:
    """The acknowledgement that accepts a finding, if any: same code, reported inside that rule."""
    for a in getattr(program, "accepts", ()):
        rule = program.rules_by_name.get(a.rule.text)
        if a.code.text == d.code and rule is not None and _inside(d.span, rule.span):
            return a
    return None


def partition(program, diagnostics, verified: bool) -> Partition:
    """Split findings into shown and accepted; an acknowledgement matching no finding adds an HGL507.

    `verified`: the verifier ran, so an acknowledgement of a verifier finding (HGL5xx) that matches
    nothing is stale; without it, only the checker's own warnings can be found stale.
    """
    shown: list[Diagnostic] = []
    accepted: list[tuple[Diagnostic, n.Accept]] = []
    used: set[int] = set()
    accepts = tuple(getattr(program, "accepts", ()) if program is not None else ())
    for d in diagnostics:
        a = accepting(program, d) if accepts else None
        if a is None:
            shown.append(d)
        else:
            accepted.append((d, a))
            used.add(accepts.index(a))
    for i, a in enumerate(accepts):
        if i in used or (a.code.text in VERIFIER_CODES and not verified):
            continue
        shown.append(Diagnostic("HGL507", f"{a.code.text} is accepted on rule '{a.rule.text}', but no such "
                                "finding is reported", a.span,
                                "the finding is gone: remove the acknowledgement, or check that it names the "
                                "rule the warning is reported on"))
    return Partition(tuple(sorted(shown, key=Diagnostic.sort_key)), tuple(accepted))


def split_page_findings(program, verification: dict) -> dict:
    """The verification page's data with accepted findings moved from `findings` to `accepted`.

    A page finding is a dict with `code` and `rule` (compiler/docs/site.py, run_verification);
    each accepted one gains `reason` and `accepted_at` (the line of its `accept` statement).
    """
    by_key = {(a.code.text, a.rule.text): a for a in getattr(program, "accepts", ())}
    shown, accepted = [], []
    for f in verification.get("findings", []):
        a = by_key.get((f.get("code"), f.get("rule")))
        if a is None:
            shown.append(f)
        else:
            accepted.append({**f, "reason": a.reason, "accepted_at": a.span.line})
    return {**verification, "findings": shown, "accepted": accepted}
