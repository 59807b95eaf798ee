"""Readable text for a person: one result, a batch summary, a test run."""

from __future__ import annotations

_MAX_UNDECIDED = 3  # a person reads the first few; the JSON has them all

STATUS_WORDS = {
    "recommendation": "RECOMMENDATION",
    "needs_data": "NEEDS DATA (provisional: options shown may change)",
    "inconsistent_data": "INCONSISTENT DATA (no options until the case is corrected)",
}


def _option_line(o, cautions=frozenset()) -> list[str]:
    prov = ", ".join(o["provenance"])
    caution = " ⚠" if any(p in cautions for p in o["provenance"]) else ""
    label = o["label"]
    if o.get("stands_for"):
        label += f" ({o.get('stands_for_label') or o['stands_for']})"
    kind = f"{o['kind']}; " if o.get("kind") else ""
    lines = [f"  - {o['id']}: {label}  [{kind}rule {o['rule']}; {prov}{caution}]"]
    if o["evidence"]:
        lines.append(f"      evidence: {', '.join(o['evidence'])}")
    for b in o["because"]:
        lines.append(f"      because {b}")
    return lines


def format_result(result, title: str | None = None) -> str:
    """A readable summary of one Result: status, options by role, flags, why, missing."""
    d = result.to_dict() if hasattr(result, "to_dict") else result
    out = []
    if title:
        out.append(title)
    g = d["guideline"]
    out.append(f"{g['id']} {g['version']}: {STATUS_WORDS.get(d['status'], d['status'])}")
    if d["status"] == "inconsistent_data":
        out.append("Inconsistent inputs: " + ", ".join(d["inconsistent"]))
        for v in d.get("violated", []):
            out.append(f"  - {v['label']} ({', '.join(v['inputs'])})")
        return "\n".join(out)
    engine = getattr(getattr(result, "_g", None), "engine", None)
    module = engine.m if engine is not None else None
    cautions = frozenset(k for k, v in getattr(module, "PROVENANCE", {}).items() if v.get("caution"))
    roles = engine.roles if engine is not None else {}
    # the roles in the result's order (strongest for an option first, those against it last)
    for role in dict.fromkeys(o["role"] for o in d["options"]):
        heading = roles[role].label if role in roles else role.replace("_", " ").capitalize()
        out.append(f"{heading}:")
        for o in d["options"]:
            if o["role"] == role:
                out.extend(_option_line(o, cautions))
    if not any(o["role"] == "preferred" for o in d["options"]):
        out.append("Preferred: none")
    if d["flags"]:
        out.append("Flags:")
        for f in d["flags"]:
            out.append(f"  - {f['id']}: {f['label']}  [rule {f['rule']}]")
            for b in f["because"]:
                out.append(f"      because {b}")
    if d["missing"]:
        out.append("Missing data: " + ", ".join(d["missing"]))
        for m in d.get("missing_because", []):
            out.extend(_missing_lines(m))
    if d.get("governing"):
        out.append(f"Governed by section: {d['governing']}")
    for oid, rules in (d.get("why_not") or {}).items():
        out.append(f"Why not {oid}:")
        if not rules:
            out.append("  no rule proposes it")
        for r in rules:
            out.extend(_why_not_lines(r))
    return "\n".join(out)


def _why_not_lines(r) -> list[str]:
    """One rule that could give the option: what failed (or, when nothing did, what happened instead)."""
    title = f" ({r['title']})" if r.get("title") else ""
    head = f"  - rule {r['rule']}{title} would make it {r['role']}"
    if not r["failed"]:
        note = r.get("note") or "governed, demoted, avoided or dropped later"
        return [f"{head}: all its conditions held; {note}"]
    lines = [f"{head}, but:"]
    for f in r["failed"]:
        unknown = " (undecided: data missing)" if f["value"] == "unknown" else ""
        lines.append(f"      {f['condition']}{unknown}")
    return lines


def _missing_lines(m) -> list[str]:
    """Why one missing input is asked for: the data request, the rules that would change the result, the others."""
    lines = [f"  - {m['label']} ({m['input']}):"]
    for r in m["requested_by"]:
        lines.append(f"      asked for by rule {r['rule']} ({r['title']})")
    shown = m["undecided"][:_MAX_UNDECIDED]
    for r in shown:
        # older results (and other producers) may lack changes_result: read as "not shown to"
        head = "would change the result: rule" if r.get("changes_result") else "leaves rule"
        sep = ", undecided" if r.get("changes_result") else " undecided"
        lines.append(f"      {head} {r['rule']} ({r['title']}){sep}: {'; '.join(r['conditions'])}")
    if len(m["undecided"]) > len(shown):
        more = len(m["undecided"]) - len(shown)
        lines.append(f"      and {more} more rule{'s' if more > 1 else ''} (see missing_because in --format json)")
    return lines


def format_summary(summary: dict) -> str:
    lines = [f"{summary['cases']} case(s), {summary['errors']} invalid"]
    lines.append("by status: " + ", ".join(f"{k} {v}" for k, v in summary["by_status"].items()))
    if summary["by_preferred"]:
        lines.append("by preferred option: " + ", ".join(
            f"{k} {v}" for k, v in summary["by_preferred"].items()))
    return "\n".join(lines)
