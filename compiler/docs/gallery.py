"""Docs generation, case-gallery stage: worked cases run during the build (site.run_cases) -> groups by section.

A clinician looks for the cases of one section, the typical ones first.  Each case goes to the
section its `spec` field names first (matched against the sections' own `spec`), or else to
the section of the rule that decides it (the governing scenario, or the rule of its first
proposed option or flag).  Inside a group the typical cases (a recommendation) come first,
then those that need data, then inconsistent data; groups made mostly of such edge cases
come after the others.  Values stay plain text: the templates escape them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

STATUS_WORDS = {"recommendation": "Recommendation", "needs_data": "Needs data",
                "inconsistent_data": "Inconsistent data"}
# the order of cases in a group: the typical result first, the edge cases last
KIND_ORDER = {"typical": 0, "needs_data": 1, "inconsistent": 2}
OTHER = "other"


def _kind(status: str) -> str:
    if status == "needs_data":
        return "needs_data"
    if status == "inconsistent_data":
        return "inconsistent"
    return "typical"


def _section_of(case: dict, program, by_spec: dict[str, str]) -> str:
    for ref in case.get("spec") or []:
        if ref in by_spec:
            return by_spec[ref]
    if case.get("governing"):
        return case["governing"]
    rules = [r for _label, found in case.get("roles") or [] for _o, r in found]
    rules += [r for _f, r in case.get("flags") or []]
    for rid in rules:
        rule = program.rules_by_name.get(rid)
        if rule is not None:
            return rule.section
    return OTHER


def file_label(path: str, index: int) -> str:
    """A case file in words: the guideline's own cases, or another set by its file name."""
    stem = PurePosixPath(str(path)).name.split(".")[0].replace("_", " ")
    return "cases of the guideline" if index == 1 else f"case set “{stem}”"


def gallery(files: list[dict], program) -> list[dict]:
    """Case files (site.run_cases) -> [{id, title, cases, typical}], sections in order, edge-case groups last."""
    sections = {s.name: s for s in program.sections}
    by_spec = {str(s.spec): s.name for s in program.sections if s.spec}
    groups: dict[str, list[dict]] = {}
    for file_index, f in enumerate(files, 1):
        source = file_label(f["path"], file_index)
        for case_index, c in enumerate(f["cases"], 1):
            kind = _kind(c["status"])
            entry = {**c, "anchor": f"case-{file_index}-{case_index}", "kind": kind, "set": source,
                     "status_words": STATUS_WORDS.get(c["status"], c["status"].replace("_", " ")),
                     "facts": [(program.label(k), v) for k, v in c["fields"]],
                     "settings": [(program.label(k), v) for k, v in c["params"]],
                     "missing_labels": [program.label(m) for m in c["missing"]]}
            groups.setdefault(_section_of(c, program, by_spec), []).append(entry)
    order = [s.name for s in program.sections] + [OTHER]
    out = []
    for sid in sorted(groups, key=lambda g: order.index(g) if g in order else len(order)):
        cases = sorted(groups[sid], key=lambda e: KIND_ORDER[e["kind"]])  # stable: file order otherwise
        sec = sections.get(sid)
        out.append({"id": sid, "title": (sec.title or sec.name) if sec else "Other cases",
                     "cases": cases, "typical": sum(1 for e in cases if e["kind"] == "typical")})
    # groups mostly of edge cases (inconsistent or missing data) after the others, in section order
    return sorted(out, key=lambda g: g["typical"] * 2 < len(g["cases"]))


def case_sets(files: list[dict], program) -> list[dict]:
    """Each case file in words: its label and its base patient, inputs by their labels."""
    return [{"label": file_label(f["path"], i), "base": [(program.label(k), v) for k, v in f["base"]]}
            for i, f in enumerate(files, 1)]
