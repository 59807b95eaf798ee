"""The "What changed" page of a guideline: `hgl diff` against its previous version, in clinical words.

`hgl docs --previous REV` (a git revision: each guideline's previous version is `REV:<its path>`,
read with `git show`) or `--previous ID=FILE` (a file, or `REV:path`, for guideline ID) gives
each guideline a page that opens with the declarations the new version changed, then lists the
kinds of patient whose result differs, grouped by the recommendation (rule) responsible, each
with one example patient described by what sets it apart from an ordinary case.  Without a
previous version there is no page.  Labels come from the guideline (option, flag, input and
rule titles), never identifiers where a label exists; the template escapes all of them.
"""

from __future__ import annotations

from pathlib import Path

from hgl.compiler.docs.pages import Page

ROLE_WORDS = {"preferred": "preferred", "alternative": "an alternative", "avoid": "advised against",
              "absent": "not offered"}
FLAG_WORDS = {"raised": "raised", "not raised": "not raised"}
STATUS_WORDS = {"recommendation": "a recommendation", "needs_data": "a request for more data",
                "inconsistent_data": "a data inconsistency"}
KIND_WORDS = {"guideline": "Guideline details", "provenance": "Source tag", "strength": "Strength",
              "evidence": "Evidence", "vocabulary": "Terms", "kind": "Kind of option", "role": "Role",
              "option": "Option", "flag": "Action", "input": "Patient data item", "parameter": "Setting",
              "define": "Definition", "constraint": "Data check", "outcomes": "Shared outcomes",
              "section": "Section", "rule": "Recommendation", "combination": "How recommendations combine",
              "accept": "Accepted verification finding"}


def previous_spec(previous: str | dict | None, gid: str, path: Path, root: Path) -> str | None:
    """The previous version of one guideline: `ID=SPEC` entries win over a revision for every guideline."""
    if not previous:
        return None
    if isinstance(previous, dict):
        return previous.get(gid)
    try:
        rel = Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        rel = Path(path).as_posix()
    return f"{previous}:{rel}"


class _Labels:
    """Clinical words for the identifiers of one or two versions (the new version's labels win)."""

    def __init__(self, *programs):
        self.options, self.flags, self.inputs, self.rules, self.values, self.units = {}, {}, {}, {}, {}, {}
        self.decl: dict[tuple[str, str], str] = {}
        for prog in reversed([p for p in programs if p is not None]):
            self.options.update((k, o.label) for k, o in prog.options.items())
            self.flags.update((k, f.label) for k, f in prog.flags.items())
            for d in prog.inputs + prog.parameters:
                self.inputs[d.name] = d.label or d.name.replace("_", " ")
                unit = getattr(getattr(d.decl.type, "unit", None), "text", None)
                if unit:
                    self.units[d.name] = unit
            self.rules.update((r.name, r.title or r.name.replace("_", " ")) for r in prog.rules)
            for v in prog.guideline.vocabularies:
                self.values.update((x.text, label) for x, label in v.entries if label)
            g = prog.guideline
            for kind, items in (("define", g.definitions), ("section", g.sections), ("option", g.options),
                                ("flag", g.flags), ("input", g.inputs), ("parameter", g.parameters)):
                for d in items:
                    label = getattr(d, "label", None) or getattr(d, "title", None)
                    if label:
                        self.decl[(kind, d.name.text)] = label
            for r in prog.rules:
                self.decl[("rule", r.name)] = self.rules[r.name]

    def value(self, name: str, v) -> str:
        if v is None:
            return "not known"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, list):
            return ", ".join(self.value(name, x) for x in v) if v else "none"
        if isinstance(v, (int, float)):
            unit = self.units.get(name)
            return f"{v:g} {unit}" if unit and unit != "%" else f"{v:g}{unit or ''}"
        text = str(v)
        return self.options.get(text) or self.values.get(text) or text.replace("_", " ")

    def change(self, c) -> str:
        if c.kind == "status":
            return f"the result is {STATUS_WORDS.get(c.new, c.new)} instead of {STATUS_WORDS.get(c.old, c.old)}"
        if c.kind == "flag":
            what = self.flags.get(c.subject, c.subject.replace("_", " "))
            return f"{what}: {FLAG_WORDS.get(c.new, c.new)} (was {FLAG_WORDS.get(c.old, c.old)})"
        what = self.options.get(c.subject, c.subject.replace("_", " "))
        return f"{what}: {ROLE_WORDS.get(c.new, c.new)} (was {ROLE_WORDS.get(c.old, c.old)})"

    def patient(self, differs: dict) -> list[str]:
        return [f"{self.inputs.get(k, k.replace('_', ' '))}: {self.value(k, v)}" for k, v in differs.items()]


def changes_data(old, new) -> dict:
    """The page's data from two compiled versions (CompileResults); `available` False without the verifier."""
    from hgl.compiler.verify.sourcediff import source_changes

    labels = _Labels(new.program, old.program)
    found = source_changes(old.guideline, old.source, new.guideline, new.source)
    source = [{"change": c.change, "kind": KIND_WORDS.get(c.kind, c.kind),
               "name": labels.decl.get((c.kind, c.name), c.name.replace("_", " ")), "id": c.name,
               "edits": list(c.edits)} for c in found if c.meaning]
    # the rest is wording, sources and bookkeeping: counted by kind, its text left to `hgl diff`
    other: dict[str, int] = {}
    for c in found:
        if not c.meaning:
            other[KIND_WORDS.get(c.kind, c.kind)] = other.get(KIND_WORDS.get(c.kind, c.kind), 0) + 1
    out = {"available": True, "reason": "", "previous": old.source.name, "source": source, "groups": [],
           "changes": 0, "capped": False, "other": sorted(other.items())}
    try:
        from hgl.compiler.verify.diff import diff_results
    except ModuleNotFoundError:  # the verifier or its solver (z3) is not installed
        return {**out, "available": False, "reason": "the comparison of results needs the verifier (z3)"}
    report = diff_results(old, new)
    out["changes"], out["capped"] = len(report.changes), report.capped
    for rules, changes in report.groups():
        out["groups"].append({
            "rules": [{"id": r, "title": labels.rules.get(r, r.replace("_", " "))} for r in rules],
            "changes": [{"what": labels.change(c), "patient": labels.patient(c.differs)} for c in changes]})
    return out


def changes_page(docs, data: dict) -> Page:
    """The page, with the common data every guideline page gets (links, title)."""
    path = f"{docs.gid}/changes.md"
    page = Page(path, "What changed", "changes.md.j2", {"changes": data})
    page.data = {"gid": docs.gid, "title": docs.title, "source": docs.display, "page": path,
                 "L": docs.links(path), **page.data}
    return page


def guideline_changes(result, spec: str, cwd=None) -> dict:
    """Compile the previous version named by `spec` and compare; a failure is shown on the page, never hidden."""
    from hgl.compiler.pipeline import compile_source

    try:
        from hgl.compiler.verify.diff import VersionError, read_version
    except ModuleNotFoundError:
        return {"available": False, "reason": "the comparison of results needs the verifier (z3)",
                "previous": spec, "source": [], "groups": [], "changes": 0, "capped": False}
    empty = {"previous": spec, "source": [], "groups": [], "changes": 0, "capped": False}
    try:
        old = compile_source(read_version(spec, cwd=cwd))
    except VersionError as err:
        return {**empty, "available": False, "reason": str(err)}
    if not old.ok:
        return {**empty, "available": False, "reason": f"the previous version ({spec}) does not compile"}
    return changes_data(old, result)
