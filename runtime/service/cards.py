"""CDS Hooks cards: a result (and, for order-select, the orders drafted) -> cards, as literal Markdown.

Guideline and case text never becomes markup (`md`); every card carries the guideline's
identity in `extension.hgl` and, when the site's address is known, a link to the page of
the rule it comes from.
"""

from __future__ import annotations

import functools
import re
import uuid
from urllib.parse import quote

from ..schema import CaseError

SUMMARY_MAX = 139  # CDS Hooks: a card's summary is "<140 characters"
_ROLE_WORD = {"preferred": "Preferred", "alternative": "Alternative", "avoid": "Avoid"}
_ROLE_INDICATOR = {"preferred": "info", "alternative": "info", "avoid": "warning"}
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
OVERRIDE_SYSTEM = "urn:hgl:cds-hooks:override-reason"
# why a clinician may order what the guideline advises against: the reasons a card offers
OVERRIDE_REASONS = (
    ("clinical-judgement", "Clinical judgement: the recommendation does not fit this patient"),
    ("patient-preference", "The patient's informed preference"),
    ("data-incorrect", "The patient data the service used are wrong or out of date"),
    ("clinical-trial", "Treatment within a clinical trial"),
)


# ---------------------------------------------------------------- Markdown and plain text


_MD_BLOCK = re.compile(r"^(?:([#+\-=])|(\d+)([.)]))")
# one pass over the text: entities for `& < >`, a backslash before the inline syntax
_MD_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **{c: "\\" + c for c in "\\`*_[]|~:"}})
_MD_SPECIAL = re.compile(r"[&<>\\`*_\[\]|~:]")


def md(text) -> str:
    """Guideline or case text as literal Markdown on one line: no construct in it takes effect.

    Entities for `& < >` (no renderer sees HTML); a backslash before the inline syntax
    (emphasis, code, links, tables, strikethrough, the colon of an autolink) and before a
    character that would open a block at the start of the line (heading, list, setext).
    """
    return _md(text if type(text) is str else str(text))


def _md(text: str) -> str:
    line = " ".join(text.split())
    if _MD_SPECIAL.search(line):  # `translate` maps character by character: only when it has to
        line = line.translate(_MD_ESCAPE)
    if line and (line[0] in "#+-=" or line[0].isdecimal()):  # only then can a block open
        return _MD_BLOCK.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), line)
    return line


# `md` of the guideline's own words (labels, titles, names: the same on every card), kept; never
# given a patient's data, which is not kept across requests
gmd = functools.lru_cache(maxsize=4096)(md)


def summary(text: str) -> str:
    """A card summary: one line, at most SUMMARY_MAX characters (cut with an ellipsis)."""
    line = " ".join(str(text).split())
    return line if len(line) <= SUMMARY_MAX else line[:SUMMARY_MAX - 1].rstrip() + "…"


def _bullets(items) -> list[str]:
    return [f"- {md(x)}" for x in items]


def _section(title: str, items: list[str]) -> list[str]:
    return ["", f"{title}:", "", *_bullets(items)] if items else []


# ---------------------------------------------------------------- the cards of one guideline


class Cards:
    """The CDS Hooks view of one guideline: its discovery entries and the cards of a result."""

    def __init__(self, guideline, site_url: str | None = None):
        self.g = guideline
        meta = guideline.module.GUIDELINE
        self.title = str(meta.get("title") or guideline.id)
        self.disclaimer = meta.get("disclaimer")
        doi = str(meta.get("doi") or "")
        self.source = {"label": f"{self.title} {guideline.version}"}
        if _DOI.match(doi):
            self.source["url"] = "https://doi.org/" + quote(doi, safe="/")
        self.site_url = site_url.rstrip("/") + "/" if site_url else None
        self.section_of = {r.id: r.section for r in guideline.module.RULES}
        self.rule_title = {r.id: r.title for r in guideline.module.RULES}

    # ------------------------------------------------------------ discovery
    def discovery(self, service_id: str, hook: str, prefetch: dict | None) -> dict:
        """One entry of the discovery response."""
        what = {"patient-view": "the options this guideline recommends for the patient, why, and the data "
                                "it still needs",
                "order-select": "whether the drug being ordered is what this guideline recommends for the "
                                "patient: a warning with override reasons when it advises against it, a "
                                "suggestion when it prefers another option"}[hook]
        entry = {"hook": hook, "id": service_id, "title": summary(self.title),
                 "description": f"{self.title} ({self.g.version}): {what}."}
        if prefetch:
            entry["prefetch"] = dict(prefetch)
            entry["usageRequirements"] = ("Reads the patient's data from the prefetch (or from fhirServer); "
                                          "context.hglCase, an HGL extension, may carry the case instead.")
        else:
            entry["usageRequirements"] = ("Send the patient's HGL case in context.hglCase (an extension); its "
                                          f"JSON Schema is GET /guidelines/{self.g.id}/schema.")
        return entry

    # ------------------------------------------------------------ building blocks
    def rule_link(self, rule_id: str) -> list[dict]:
        """The card's `links`: the page of the rule on the generated site (when its address is known)."""
        if not self.site_url or rule_id not in self.section_of:
            return []
        url = (f"{self.site_url}{quote(self.g.id)}/sections/{quote(self.section_of[rule_id])}.html"
               f"#rule-{quote(rule_id)}")
        return [{"label": summary(f"Guideline rule: {self.rule_title.get(rule_id) or rule_id}"), "url": url,
                 "type": "absolute"}]

    def card(self, text: str, indicator: str, lines: list[str], *, rule: str | None = None, **hgl) -> dict:
        detail = "\n".join(lines)
        if self.disclaimer:
            detail += "\n\n*" + md(self.disclaimer) + "*"
        out = {"uuid": str(uuid.uuid4()), "summary": summary(text), "indicator": indicator,
               "detail": detail, "source": dict(self.source)}
        links = self.rule_link(rule) if rule else []
        if links:
            out["links"] = links
        out["extension"] = {"hgl": {"guideline": self.g.header, **({"rule": rule} if rule else {}), **hgl}}
        return out

    # ------------------------------------------------------------ no case, bad case
    def ask_for_case(self) -> dict:
        """The one card of a request without a case (no `context.hglCase`, no FHIR mapping here)."""
        return self.card(f"{self.g.id}: send the patient's HGL case to get recommendations", "warning", [
            "This service reads the case from **context\\.hglCase** (an HGL extension of the hook "
            "context); the request had none\\.",
            "",
            f"The case is a JSON object of input names to values; its schema is served at "
            f"{md(f'/guidelines/{self.g.id}/schema')}\\."], kind="no_case")

    def invalid_case(self, err: CaseError, where: str = "context\\.hglCase") -> dict:
        """The card of a request whose case (or parameters) this guideline rejects."""
        fields = [f"{e['field']}: {e['message']}" + (f" ({e['hint']})" if e.get("hint") else "")
                  for e in err.errors]
        return self.card(f"{self.g.id}: the case sent is not valid ({len(fields)} field"
                         f"{'s' if len(fields) != 1 else ''}); no recommendation", "warning",
                         [f"The case in {where} was rejected:", "", *_bullets(fields)],
                         kind="invalid_case", fields=err.errors)

    # ------------------------------------------------------------ patient-view
    def for_result(self, result, sources: dict | None = None) -> list[dict]:
        """The cards of a result: its status (needs_data, inconsistent_data), each option, each flag."""
        cards = self.status_cards(result, sources)
        cards += [self._option(o) for o in result.options if o["role"] in _ROLE_WORD]
        cards += [self._flag(f) for f in result.flags]
        return cards

    def status_cards(self, result, sources: dict | None = None) -> list[dict]:
        if result.status == "inconsistent_data":
            return [self._inconsistent(result, sources)]
        if result.status == "needs_data":
            return [self._needs_data(result, sources)]
        return []

    def _from_fhir(self, names, sources: dict | None) -> list[str]:
        if sources is None:
            return []
        lines = [f"{name}: {sources[name]}" for name in names if name in sources]
        return _section("Values read from the FHIR data", lines)

    def _inconsistent(self, result, sources) -> dict:
        violated = result.violated
        labels = [v["label"] for v in violated] or result.inconsistent
        lines = ["The case contradicts itself; no recommendation until it is corrected:", ""]
        lines += [f"- {gmd(v['label'])} (inputs: {gmd(', '.join(v['inputs']))})" for v in violated]
        if not violated:
            lines += _bullets(result.inconsistent)
        lines += self._from_fhir(sorted({i for v in violated for i in v["inputs"]}), sources)
        return self.card("Inconsistent data: " + "; ".join(labels), "critical", lines,
                         kind="inconsistent_data", inconsistent=result.inconsistent)

    def _needs_data(self, result, sources) -> dict:
        label_of = {s.name: s.label or s.name for s in self.g.inputs}
        why = {m["input"]: m for m in result.missing_rules()}  # titles only: no words rendered
        lines = ["This guideline needs these inputs before it can recommend"
                 + (" (not found in the FHIR data: enter them)" if sources is not None else "") + ":", ""]
        for name in result.missing:
            lines.append(f"- **{gmd(label_of.get(name, name))}** ({gmd(name)})")
            m = why.get(name) or {}
            for r in m.get("requested_by") or []:
                lines.append(f"    - requested by the rule {gmd(r['title'])}")
            undecided = [r["title"] for r in m.get("undecided") or []]
            if undecided:
                lines.append(f"    - leaves undecided: {gmd('; '.join(undecided))}")
        lines += self._from_fhir(sorted(sources or ()), sources)
        text = "Data needed: " + ", ".join(label_of.get(n, n) for n in result.missing)
        return self.card(text, "warning", lines, kind="needs_data", missing=result.missing)

    def _provenance(self, ids) -> list[str]:
        table = self.g.module.PROVENANCE
        out = []
        for p in ids:
            entry = table.get(p) or {}
            caution = " (caution: check against the source)" if entry.get("caution") else ""
            out.append(f"{p}: {entry.get('meaning', p)}{caution}")
        return out

    def _evidence(self, ids) -> list[str]:
        table = self.g.module.EVIDENCE
        out = []
        for e in ids:
            entry = table.get(e) or {}
            about = "; ".join(str(entry[k]) for k in ("design", "setting") if entry.get(k))
            text = str(entry.get("trial", e)) + (f" ({about})" if about else "")
            out.append(text + (f": {entry['result']}" if entry.get("result") else ""))
        return out

    def option_lines(self, o: dict) -> list[str]:
        role = o["role"]
        head = (f"**{_ROLE_WORD.get(role, gmd(role))}**: {gmd(o['label'])} ({gmd(o['kind'])}; "
                f"rule {gmd(o['rule'])}")
        strengths = getattr(self.g.module, "STRENGTHS", {})
        if o.get("strength"):
            head += f"; strength: {gmd(strengths.get(o['strength'], o['strength']))}"
        lines = [head + ")"]
        if o.get("stands_for_label"):
            lines += ["", f"Stands for: {gmd(o['stands_for_label'])}"]
        lines += _section("Because", o["because"])
        lines += _section("Provenance", self._provenance(o["provenance"]))
        lines += _section("Evidence", self._evidence(o["evidence"]))
        return lines

    def _option(self, o: dict) -> dict:
        role = o["role"]
        return self.card(f"{_ROLE_WORD[role]}: {o['label']}", _ROLE_INDICATOR[role], self.option_lines(o),
                         rule=o["rule"], kind="option", option=o["id"], role=role)

    def _flag(self, f: dict) -> dict:
        lines = [f"**{gmd(f['label'])}** (rule {gmd(f['rule'])})"]
        lines += _section("Because", f["because"])
        lines += _section("Provenance", self._provenance(f["provenance"]))
        return self.card(f["label"], "warning" if f.get("request") else "info", lines,
                         rule=f["rule"], kind="flag", flag=f["id"])

    # ------------------------------------------------------------ order-select
    def for_order(self, result, ordered: list[str], selected_ids: list[str], patient: str | None,
                  drug_coding, sources: dict | None = None) -> list[dict]:
        """The cards for an order: `ordered` are the options the drafted drugs match (best first).

        preferred -> one info card; alternative -> info with a suggestion to order the preferred
        option; avoided, dropped or not proposed -> a warning with override reasons (and the
        suggestion when there is a preferred option).  A result that is not a recommendation
        gives its status card only: no order is judged on missing or contradictory data.
        """
        if result.status != "recommendation":
            cards = self.status_cards(result, sources)
            for c in cards:
                c["detail"] = "The order cannot be checked against the guideline yet\\.\n\n" + c["detail"]
            return cards
        options = {o["id"]: o for o in result.options}
        label = {oid: self.g.module.OPTIONS[oid].label for oid in ordered}
        best = next((oid for oid in ordered if oid in options and options[oid]["role"] in ("preferred",)), None) \
            or next((oid for oid in ordered if oid in options and options[oid]["role"] == "alternative"), None) \
            or next((oid for oid in ordered if oid in options), None) or ordered[0]
        role = options[best]["role"] if best in options else None
        preferred = [o for o in result.options if o["role"] == "preferred"]
        if role == "preferred":
            return [self.card(f"Preferred by the guideline: {label[best]}", "info", self.option_lines(options[best]),
                              rule=options[best]["rule"], kind="order", option=best, role=role)]
        suggestions = [self._suggestion(p, selected_ids, patient, drug_coding) for p in preferred[:3]
                       if p["id"] not in ordered]
        if role == "alternative":
            lines = self.option_lines(options[best])
            lines += _section("The guideline prefers", [p["label"] for p in preferred])
            out = self.card(f"An alternative: the guideline prefers {', '.join(p['label'] for p in preferred)}",
                            "info", lines, rule=options[best]["rule"], kind="order", option=best, role=role)
        else:
            if role == "avoid":
                lines = self.option_lines(options[best])
                text, rule = f"The guideline advises against {label[best]}", options[best]["rule"]
            else:
                why = result.why_not.get(best) if result.why_not else None
                lines = [f"**{gmd(label[best])}** is not among the options this guideline proposes for "
                         "this patient\\."] + self._why_not_lines(why)
                text, rule = f"Not recommended by the guideline for this patient: {label[best]}", self._dropper(why)
            lines += _section("The guideline prefers", [p["label"] for p in preferred])
            out = self.card(text, "warning", lines, rule=rule, kind="order", option=best, role=role or "not_proposed")
            out["overrideReasons"] = [{"system": OVERRIDE_SYSTEM, "code": c, "display": d}
                                      for c, d in OVERRIDE_REASONS]
        if suggestions:
            out["suggestions"] = suggestions
            out["selectionBehavior"] = "at-most-one"
        return [out]

    @staticmethod
    def _why_not_lines(why) -> list[str]:
        """The rules that could propose the option: what failed, or why it is not given (why_not)."""
        items = []
        for entry in (why or [])[:6]:
            if entry.get("failed"):
                failed = "; ".join(f["condition"] for f in entry["failed"][:3])
                items.append(f"rule {entry['title']} ({entry['role']}): not met: {failed}")
            elif entry.get("note"):
                items.append(f"rule {entry['title']} ({entry['role']}): {entry['note']}")
        return _section("Why not", items)

    def _dropper(self, why) -> str | None:
        """The rule whose conditions all held but whose option is not given (dropped, governed), if one."""
        for entry in why or []:
            if not entry.get("failed") and entry.get("rule") in self.section_of:
                return entry["rule"]
        return None

    def _suggestion(self, option: dict, selected_ids: list[str], patient: str | None, drug_coding) -> dict:
        opt = self.g.module.OPTIONS[option["id"]]
        actions = [{"type": "delete", "description": "Remove the drafted order", "resourceId": list(selected_ids)}] \
            if selected_ids else []
        for drug in sorted(opt.drugs or ()):
            concept = {"text": drug_coding.label(drug)}
            codings = drug_coding.codings(drug)
            if codings:
                concept["coding"] = codings
            resource = {"resourceType": "MedicationRequest", "status": "draft", "intent": "proposal",
                        "medicationCodeableConcept": concept}
            if patient:
                resource["subject"] = {"reference": f"Patient/{patient}"}
            actions.append({"type": "create", "description": summary(f"Order {drug_coding.label(drug)}"),
                            "resource": resource})
        return {"label": summary(f"Order {option['label']} instead (preferred by the guideline)"),
                "uuid": str(uuid.uuid4()), "isRecommended": True, "actions": actions}
