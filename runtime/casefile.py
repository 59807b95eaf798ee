"""Case files (SPEC.md 3.2): a base case, cases with overrides, and expectations to check."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from .schema import CaseError

EXPECT_KEYS = ("status", "preferred", "not_preferred", "alternatives", "avoid", "flags", "missing",
               "inconsistent", "no_preferred", "not_flags", "roles", "absent", "flags_exactly", "missing_exactly")
# The keys of one case entry; anything else (a field written beside `case:` instead of under it)
# is an error naming the key, never silently ignored.
CASE_KEYS = ("id", "title", "spec", "case", "params", "expect", "note", "gallery")


@dataclass
class CaseOutcome:
    id: str
    title: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    result: object = None
    rules: set = field(default_factory=set)


MAX_NODES = 100_000  # values in a YAML document once its aliases are expanded ("billion laughs" stops here)


class CaseFileError(ValueError):
    """A case file (or a single case) that cannot be read: malformed, not UTF-8, too big once expanded."""


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a document larger than MAX_NODES values with its aliases expanded.

    The size is counted on the composed node graph (an alias is a shared node there, so
    counting costs one visit per node) before anything is constructed.
    """

    def compose_document(self):
        node = super().compose_document()
        sizes: dict[int, int] = {}

        def size(n) -> int:
            if id(n) in sizes:
                return sizes[id(n)]
            sizes[id(n)] = MAX_NODES + 1  # a cycle counts as too big
            if isinstance(n, yaml.SequenceNode):
                total = 1 + sum(size(x) for x in n.value)
            elif isinstance(n, yaml.MappingNode):
                total = 1 + sum(size(k) + size(v) for k, v in n.value)
            else:
                total = 1
            sizes[id(n)] = total = min(total, MAX_NODES + 1)
            return total

        if size(node) > MAX_NODES:
            raise CaseFileError(f"more than {MAX_NODES} values once its aliases are expanded")
        return node


def load_yaml(text: str, name: str = "<case>"):
    """YAML (or JSON, which is YAML) through the bounded safe loader; CaseFileError when unreadable."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except CaseFileError as err:
        raise CaseFileError(f"{name}: {err}") from None
    except yaml.YAMLError as err:
        raise CaseFileError(f"{name}: not valid YAML: {err}") from None
    except (ValueError, OverflowError) as err:  # a 5000-digit integer
        raise CaseFileError(f"{name}: {err}") from None
    except RecursionError:
        raise CaseFileError(f"{name}: nested too deeply") from None


def read_text(path) -> str:
    """A case file's text; CaseFileError when it is not UTF-8 (a missing file raises FileNotFoundError)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except UnicodeDecodeError as err:
        raise CaseFileError(f"{path}: not valid UTF-8 (byte {err.start + 1})") from None


def load_case(path):
    """One case from a .json or YAML file; CaseFileError when it cannot be read."""
    import json

    text = read_text(path)
    if not str(path).endswith(".json"):
        return load_yaml(text, str(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CaseFileError(f"{path}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None
    except (ValueError, RecursionError) as err:
        raise CaseFileError(f"{path}: {err if isinstance(err, ValueError) else 'nested too deeply'}") from None


def load_case_file(path) -> tuple[dict, list[dict]]:
    data = load_yaml(read_text(path), str(path)) or {}
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise CaseFileError(f"{path}: a case file has 'cases:' (a list) and optionally 'base:'")
    if not isinstance(data.get("base") or {}, dict) or not all(isinstance(c, dict) for c in data["cases"]):
        raise CaseFileError(f"{path}: 'base:' and each entry of 'cases:' are mappings")
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
    for fid in expect.get("not_flags") or []:
        if fid in flags:
            failures.append(f"not_flags: {fid} is raised")
    if "flags_exactly" in expect and set(expect["flags_exactly"] or []) != flags:
        failures.append(f"flags_exactly: expected {show(sorted(expect['flags_exactly'] or []))}, "
                        f"got {show(sorted(flags))}")
    if "missing_exactly" in expect and list(expect["missing_exactly"] or []) != list(result.missing):
        failures.append(f"missing_exactly: expected {show(expect['missing_exactly'] or [])}, got {show(result.missing)}")
    for oid, role in (expect.get("roles") or {}).items():
        if roles.get(oid) != role:
            failures.append(f"roles: expected {oid} {role}, got {roles.get(oid, 'absent')}")
    for oid in expect.get("absent") or []:
        if oid in roles:
            failures.append(f"absent: expected {oid} absent, got {roles[oid]}")
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
        cid = str(c.get("id", f"#{i + 1}")) if isinstance(c, dict) else f"#{i + 1}"
        title = str(c.get("title", "")) if isinstance(c, dict) else ""
        if not isinstance(c, dict):
            out.append(CaseOutcome(cid, title, False, ["a case entry is a mapping with id, title, case and expect"]))
            continue
        stray = [k for k in c if k not in CASE_KEYS]
        if stray:
            hint = " (a case's fields go under 'case:')" if any(k not in EXPECT_KEYS for k in stray) else \
                " (expectations go under 'expect:')"
            out.append(CaseOutcome(cid, title, False, [f"unknown key(s) in the case entry: {', '.join(map(str, stray))}"
                                                       + hint]))
            continue
        if not isinstance(c.get("gallery", True), bool):
            out.append(CaseOutcome(cid, title, False, ["gallery: true or false (false keeps a regression check "
                                                       "out of the site's worked cases)"]))
            continue
        try:
            result = guideline.evaluate(merged_case(base, c), c.get("params") or {}, trace=True)
        except CaseError as err:
            out.append(CaseOutcome(cid, title, False, [f"invalid case: {err}"]))
            continue
        failures = check_expectations(result, c.get("expect") or {})
        fired = {t["rule"] for t in (result.trace or []) if t["value"] == "true"}
        out.append(CaseOutcome(cid, title, not failures, failures, result, fired))
    return out
