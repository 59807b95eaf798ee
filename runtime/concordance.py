"""Concordance: the treatment each patient was given against what the guideline recommended.

    hgl cohort GUIDELINE --input DATA.parquet --concordance treatment_started [--report DIR]

Each patient falls in one category:

- the **role** the guideline gave the treatment (preferred, alternative, avoid, or any role the
  guideline declares) when the treatment is one of the result's options;
- **unlisted**: the result has no such option (another regimen, or an option the guideline
  did not offer this patient);
- **lacked data**: the status is needs_data or inconsistent_data, the data did not allow a
  decision (whatever was given);
- **not recorded**: the treatment column is null or empty; **invalid**: the row was rejected.

Each patient counts once under a rule and once under that rule's section: the rule that gave
the treatment its role; for an unlisted treatment the rule of the first preferred option (the
recommendation the patient departed from), else the governing scenario; otherwise "(no rule)".

Written to DIR: `concordance.parquet` and `concordance.csv` (one row per level, key and
category counts: the whole cohort, each section, each rule) and `index.html`, a page in the
site's colours with the plots (matplotlib SVG, inline) and the tables.
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter, defaultdict
from pathlib import Path

NO_RULE = "(no rule)"
LACKED, UNLISTED, NOT_RECORDED, INVALID = "lacked_data", "unlisted", "not_recorded", "invalid"
_COLORS = {"preferred": "#3f51b5", "alternative": "#9fa8da", "avoid": "#ff5722", UNLISTED: "#9e9e9e",
           LACKED: "#ffc107", NOT_RECORDED: "#cfd8dc", INVALID: "#263238"}
_OTHER = ("#009688", "#8d6e63", "#ab47bc", "#26c6da")


def categories(guideline) -> list[str]:
    """The categories in report order: the guideline's roles, then the others."""
    roles = getattr(guideline.module, "ROLES", None)
    ids = [r.id for r in (roles.values() if isinstance(roles, dict) else roles)] if roles else []
    head = ["preferred", "alternative", "avoid"]
    return head + sorted(set(ids) - set(head)) + [UNLISTED, LACKED, NOT_RECORDED, INVALID]


def classify(status, options, treatment):
    """(category, rule) of one patient (see the module docstring)."""
    if status is None:
        return INVALID, NO_RULE
    if treatment is None or treatment == "":
        return NOT_RECORDED, NO_RULE
    if status in ("needs_data", "inconsistent_data"):
        return LACKED, NO_RULE
    for o in options or ():
        if o["id"] == treatment:
            return o["role"], o["rule"]
    preferred = [o["rule"] for o in options or () if o["role"] == "preferred"]
    return UNLISTED, preferred[0] if preferred else NO_RULE


def tally(guideline, batches, column: str) -> dict:
    """{(level, key): Counter of categories} over result record batches with `column`."""
    out: dict = defaultdict(Counter)
    section_of = {r.id: r.section for r in guideline.module.RULES}
    for batch in batches:
        d = batch.to_pydict()
        for status, options, governing, treatment in zip(d["status"], d["options"], d["governing"], d[column]):
            category, rule = classify(status, options, treatment)
            if rule == NO_RULE and category in (LACKED, UNLISTED) and governing:
                rule = governing
            out[("cohort", "all")][category] += 1
            out[("section", section_of.get(rule, NO_RULE))][category] += 1
            out[("rule", rule)][category] += 1
    return out


def table_rows(guideline, counts: dict) -> list[dict]:
    """Rows of the concordance table: cohort, then sections and rules in the guideline's order."""
    cats = categories(guideline)
    section_title = {s.id: s.title for s in getattr(guideline.module, "SECTIONS", ())}
    rule_title = {r.id: r.title for r in guideline.module.RULES}
    order = {("cohort", "all"): (0, 0)}
    order.update({("section", s): (1, i) for i, s in enumerate(section_title)})
    order.update({("rule", r): (2, i) for i, r in enumerate(rule_title)})
    rows = []
    for (level, key) in sorted(counts, key=lambda k: order.get(k, ({"cohort": 0, "section": 1}.get(k[0], 2), 1 << 30))):
        c = counts[(level, key)]
        label = {"cohort": "all patients", "section": section_title.get(key, key)}.get(level, rule_title.get(key, key))
        rows.append({"level": level, "key": key, "label": label, "patients": sum(c.values()),
                     **{cat: c.get(cat, 0) for cat in cats}})
    return rows


def write_report(guideline, results, column: str, folder) -> Path:
    """The concordance of a results Parquet file (or folder) into `folder`; the page's path."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    data = ds.dataset(str(results), format="parquet")
    if column not in data.schema.names:
        raise SystemExit(f"hgl cohort: no column {column!r} in the results (kept columns: "
                         f"{', '.join(n for n in data.schema.names if n not in _RESULT_COLUMNS)})")
    batches = data.to_batches(columns=["status", "options", "governing", column])
    rows = table_rows(guideline, tally(guideline, batches, column))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "concordance.parquet")
    with open(folder / "concordance.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    page = folder / "index.html"
    page.write_text(render_html(guideline, rows, column), encoding="utf-8")
    return page


_RESULT_COLUMNS = {"status", "governing", "options", "flags", "missing", "inconsistent", "violated", "error", "result"}


# ------------------------------------------------------------------ the page

def _color(cat, i):
    return _COLORS.get(cat, _OTHER[i % len(_OTHER)])


def bar_chart(rows: list[dict], cats: list[str], title: str) -> str:
    """Stacked horizontal bars (share of patients per category) as inline SVG, byte-stable."""
    import matplotlib

    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.hashsalt"] = "hgl-concordance"  # stable ids: the same data gives the same SVG
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text (the page's font, searchable)
    labels = [r["label"] if len(r["label"]) <= 48 else r["label"][:47] + "…" for r in rows]
    fig = Figure(figsize=(9, 0.32 * len(rows) + 1.3))
    ax = fig.subplots()
    left = [0.0] * len(rows)
    for i, cat in enumerate(cats):
        shares = [100 * r[cat] / r["patients"] if r["patients"] else 0 for r in rows]
        if not any(shares):
            continue
        ax.barh(range(len(rows)), shares, left=left, color=_color(cat, i), label=cat.replace("_", " "), height=0.7)
        left = [a + b for a, b in zip(left, shares)]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of patients")
    ax.set_title(title, fontsize=10, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(ncols=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.5 / (0.32 * len(rows) + 1.3) - 0.08),
              frameon=False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


_CSS = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  margin: 0; color: rgba(0,0,0,.87); }
header { background: #3f51b5; color: #fff; padding: .9em 1.6em; font-size: 1.1em; }
main { max-width: 70rem; margin: 0 auto; padding: 1em 1.6em 3em; }
h1 { font-weight: 300; font-size: 1.9em; } h2 { font-weight: 400; margin-top: 1.6em; }
.note { border-left: .25em solid #ff5722; background: #fff3e0; padding: .6em 1em; font-size: .9em; }
table { border-collapse: collapse; font-size: .8em; margin: 1em 0; }
th, td { padding: .35em .7em; border-bottom: 1px solid #e0e0e0; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f5f5f5; font-weight: 600; }
.hgl-chart { overflow-x: auto; margin: 1em 0; }
"""


def _table(rows, cats) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in ["", "patients", *cats])
    body = []
    for r in rows:
        key = f" <small>({html.escape(r['key'])})</small>" if r["key"] not in (r["label"], "all") else ""
        cells = [f"<td>{html.escape(r['label'])}{key}</td>",
                 f"<td>{r['patients']}</td>"]
        cells += [f"<td>{r[c]} <small>({100 * r[c] / r['patients']:.0f}%)</small></td>" if r[c] else "<td>·</td>"
                  for c in cats]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(guideline, rows: list[dict], column: str) -> str:
    """The report page: a summary, the plots by section and by rule, and the tables."""
    cats = [c for c in categories(guideline) if any(r[c] for r in rows)]
    cohort = [r for r in rows if r["level"] == "cohort"]
    sections = [r for r in rows if r["level"] == "section"]
    rules = sorted((r for r in rows if r["level"] == "rule"), key=lambda r: -r["patients"])
    total = cohort[0]["patients"] if cohort else 0
    summary = ", ".join(f"{cohort[0][c]} {c.replace('_', ' ')}" for c in cats if cohort and cohort[0][c])
    title = f"Concordance: {guideline.id} {guideline.version}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body><header>HGL guidelines · cohort concordance</header><main>
<h1>{html.escape(title)}</h1>
<p class="note">Decision support, not a medical device. The treatment given (column
<code>{html.escape(column)}</code>) against the guideline's result for each of the {total} patients:
{html.escape(summary)}. Guideline source sha256 <code>{guideline.sha256[:12]}</code>.</p>
<p>A patient counts under the rule that gave the treatment its role; an unlisted treatment under the
rule of the first preferred option (the recommendation departed from) or the governing scenario;
<em>lacked data</em>: the result was needs_data or inconsistent_data.</p>
<h2>By section</h2>
<div class="hgl-chart">{bar_chart(sections, cats, "Treatment given, by section (% of the section's patients)")}</div>
{_table(cohort + sections, cats)}
<h2>By rule</h2>
<div class="hgl-chart">{bar_chart(rules[:30], cats, "Treatment given, by rule (the 30 rules with most patients)")}</div>
{_table(rules, cats)}
<p><small>Tables: <a href="concordance.csv">concordance.csv</a>, <a href="concordance.parquet">concordance.parquet</a>.</small></p>
</main></body></html>
"""
