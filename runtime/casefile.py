"""Case files (SPEC.md 3.2): a base case, cases with overrides, and expectations to check."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from .schema import CaseError

EXPECT_KEYS = ("status", "preferred", "not_preferred", "alternatives", "avoid", "flags", "missing",
               "inconsistent", "no_preferred")


@dataclass
class CaseOutcome:
    id: str
    title: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    result: object = None
    rules: set = field(default_factory=set)


def load_case_file(path) -> tuple[dict, list[dict]]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise ValueError(f"{path}: a case file has 'cases:' (a list) and optionally 'base:'")
    return data.get("base") or {}, data["cases"]


def merged_case(base: dict, case: dict) -> dict:
    """The base with the case's fields over it; a null keeps the field, as missing."""
    merged = dict(base)
    merged.update(case.get("case") or {})
    return merged


def check_expectations(result, expect: dict) -> list[str]:
    """The ways a result falls short of an `expect` block; empty when it meets it."""
    failures = []
    unknown = set(expect) - set(EXPECT_KEYS)
    if unknown:
        failures.append(f"unknown expectation keys: {', '.join(sorted(unknown))}")
    roles = {o["id"]: o["role"] for o in result.options}
    flags = {f["id"] for f in result.flags}

    def show(ids):
        return "[" + ", ".join(ids) + "]"

    if "status" in expect and result.status != expect["status"]:
        failures.append(f"status: expected {expect['status']}, got {result.status}"
                        + (f" (missing {show(result.missing)})" if result.missing else "")
                        + (f" (inconsistent {show(result.inconsistent)})" if result.inconsistent else ""))
    for oid in expect.get("preferred") or []:
        if roles.get(oid) != "preferred":
            failures.append(f"preferred: expected {oid} preferred, got {roles.get(oid, 'absent')}")
    for oid in expect.get("not_preferred") or []:
        if roles.get(oid) == "preferred":
            failures.append(f"not_preferred: {oid} is preferred")
    for oid in expect.get("alternatives") or []:
        if roles.get(oid) not in ("preferred", "alternative"):
            failures.append(f"alternatives: expected {oid} preferred or alternative, got {roles.get(oid, 'absent')}")
    for oid in expect.get("avoid") or []:
        if roles.get(oid) != "avoid":
            failures.append(f"avoid: expected {oid} avoided, got {roles.get(oid, 'absent')}")
    for fid in expect.get("flags") or []:
        if fid not in flags:
            failures.append(f"flags: expected {fid}, got {show(sorted(flags))}")
    for name in expect.get("missing") or []:
        if name not in result.missing:
            failures.append(f"missing: expected {name}, got {show(result.missing)}")
    for name in expect.get("inconsistent") or []:
        if name not in result.inconsistent:
            failures.append(f"inconsistent: expected {name}, got {show(result.inconsistent)}")
    if expect.get("no_preferred") and any(r == "preferred" for r in roles.values()):
        failures.append(f"no_preferred: got preferred {show([o for o, r in roles.items() if r == 'preferred'])}")
    return failures


def run_case_file(guideline, path) -> list[CaseOutcome]:
    """Run every case of a file against a loaded guideline."""
    base, cases = load_case_file(path)
    out = []
    for i, c in enumerate(cases):
        cid = str(c.get("id", f"#{i + 1}"))
        title = str(c.get("title", ""))
        try:
            result = guideline.evaluate(merged_case(base, c), c.get("params") or {}, trace=True)
        except CaseError as err:
            out.append(CaseOutcome(cid, title, False, [f"invalid case: {err}"]))
            continue
        failures = check_expectations(result, c.get("expect") or {})
        fired = {t["rule"] for t in (result.trace or []) if t["value"] == "true"}
        out.append(CaseOutcome(cid, title, not failures, failures, result, fired))
    return out
