"""CDS Hooks 2.0 services: a hook request -> the patient's case (hglCase, prefetch or fhirServer) -> cards.

Mapping FHIR resources to a case belongs to hgl.runtime.fhirin (`prefetch_templates`,
`case_from_fhir`), imported when first needed: without it the service reads only the HGL
case in `context.hglCase`, an extension of the hook context.
"""

from __future__ import annotations

import importlib
import re
from collections import deque
from dataclasses import dataclass
from urllib.parse import quote

from ..schema import CaseError
from .cards import Cards
from .errors import HttpError

HOOKS = ("patient-view", "order-select")
_TOKEN = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_.]*)\s*\}\}")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_USER_TOKENS = {"userPractitionerId": "Practitioner", "userPractitionerRoleId": "PractitionerRole",
                "userPatientId": "Patient", "userRelatedPersonId": "RelatedPerson"}
MAX_FEEDBACK = 1000


def load_fhirin():
    """hgl.runtime.fhirin when it is there (the FHIR input bindings), else None."""
    try:
        return importlib.import_module("hgl.runtime.fhirin")
    except ImportError:
        return None


@dataclass(frozen=True)
class CdsService:
    """One CDS Hooks service: a guideline and the hook it answers."""
    id: str
    hook: str
    guideline: object
    cards: Cards
    prefetch: dict


class DrugCoding:
    """A guideline's drugs (those its options are made of): their labels, and their codes when known."""

    def __init__(self, guideline):
        module = guideline.module
        drugs = sorted({d for o in module.OPTIONS.values() for d in (getattr(o, "drugs", None) or ())})
        vocab = {}
        for table in module.VOCABULARIES.values():
            vocab.update(table)
        self.labels = {d: str(vocab.get(d) or d) for d in drugs}
        self.codes, self.by_code = self._codes(guideline)
        self.by_text = {}
        for d in drugs:  # exact names only: a code is the reliable match, a name the fallback
            self.by_text.setdefault(d.lower(), d)
            self.by_text.setdefault(self.labels[d].lower(), d)

    def _codes(self, guideline):
        """From the guideline's FHIR bindings (hgl.runtime.fhirin): the codings to order a drug with
        (its RxNorm ingredient and ATC code; a class such as a taxane only its ATC group), and each
        RxNorm ingredient read as the drug or class it belongs to."""
        bindings = getattr(guideline, "fhir_bindings", None)
        codes, by_code = {}, {}
        if bindings is None:
            return codes, by_code
        systems = dict(bindings.systems)
        rxnorm, atc = systems.get("rxnorm"), systems.get("atc")
        for _vocab, concepts in bindings.terminology:
            for c in concepts:
                if c.value not in self.labels:
                    continue
                own = [] if c.is_class else [{"system": rxnorm, "code": x} for x in c.rxnorm if rxnorm]
                if c.atc and atc:
                    own.append({"system": atc, "code": c.atc})
                codes[c.value] = own
                for x in c.rxnorm:
                    if rxnorm:
                        by_code.setdefault((rxnorm, x), c.value)
                if c.atc and atc:
                    by_code.setdefault((atc, c.atc), c.value)
        return codes, by_code

    def label(self, drug: str) -> str:
        return self.labels.get(drug, drug)

    def codings(self, drug: str) -> list[dict]:
        return [dict(c) for c in self.codes.get(drug, ())]

    def match(self, concept) -> set[str]:
        """The guideline's drugs a CodeableConcept names (by code, else by exact text)."""
        if not isinstance(concept, dict):
            return set()
        found = set()
        for c in concept.get("coding") or []:
            if isinstance(c, dict):
                d = self.by_code.get((c.get("system"), c.get("code")))
                if d is None and isinstance(c.get("display"), str):
                    d = self.by_text.get(" ".join(c["display"].lower().split()))
                if d:
                    found.add(d)
        if not found and isinstance(concept.get("text"), str):
            d = self.by_text.get(" ".join(concept["text"].lower().split()))
            if d:
                found.add(d)
        return found


def resources_of(value) -> list[dict]:
    """The resources in a prefetch value or a FHIR search answer (a Bundle's entries, or one resource)."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return []
    if value["resourceType"] == "Bundle":
        out = []
        for e in value.get("entry") or []:
            if isinstance(e, dict) and isinstance(e.get("resource"), dict) \
                    and isinstance(e["resource"].get("resourceType"), str):
                out.append(e["resource"])
        return out
    return [value]


def source_text(items) -> str:
    """Where a value came from, in one line: `Observation/1 valueCodeableConcept = positive (note)`."""
    out = []
    for s in items if isinstance(items, list) else [items]:
        if not isinstance(s, dict):
            out.append(str(s))
            continue
        where = " ".join(str(s[k]) for k in ("resource", "path") if s.get(k))
        if "value" in s:
            where += f" = {s['value']}"
        out.append(where + (f" ({s['note']})" if s.get("note") else ""))
    return "; ".join(x.strip() for x in out if x.strip())


def render_template(template: str, context: dict) -> str | None:
    """A prefetch template with its tokens replaced, or None when a token has no value here."""
    missing = False

    def value(m):
        nonlocal missing
        name = m.group(1)
        if name in _USER_TOKENS:
            user = context.get("userId")
            kind, _, ident = user.partition("/") if isinstance(user, str) else ("", "", "")
            v = ident if kind == _USER_TOKENS[name] else None
        elif name.startswith("context.") and "." not in name[8:]:
            v = context.get(name[8:])
        else:
            v = None
        if not isinstance(v, str) or not _FHIR_ID.match(v):  # an id, never a path or a query of its own
            missing = True
            return ""
        return quote(v, safe="")

    out = _TOKEN.sub(value, template)
    return None if missing else out


class CdsHooks:
    """The CDS Hooks services over a set of guidelines, and the feedback they received."""

    def __init__(self, guidelines, site_url: str | None = None, fhirin="load"):
        self.fhirin = load_fhirin() if fhirin == "load" else fhirin
        self.services: dict[str, CdsService] = {}
        self.coding = {}
        for g in guidelines:
            cards = Cards(g, site_url)
            prefetch = self._prefetch(g)
            self.services[g.id] = CdsService(g.id, "patient-view", g, cards, prefetch)
            coding = DrugCoding(g)
            self.coding[g.id] = coding
            if coding.labels:
                sid = f"{g.id}-order-select"
                self.services[sid] = CdsService(sid, "order-select", g, cards, prefetch)
        self.feedback: deque = deque(maxlen=MAX_FEEDBACK)
        self.issued: dict[str, tuple[str, str | None]] = {}  # card uuid -> (service, rule), bounded

    def _prefetch(self, g) -> dict:
        """The guideline's prefetch templates; none when it has no FHIR bindings (then: hglCase only)."""
        if self.fhirin is None:
            return {}
        try:
            return dict(self.fhirin.prefetch_templates(g))
        except ValueError:  # fhirin.BindingError: this guideline maps no FHIR data
            return {}

    def discovery(self) -> dict:
        return {"services": [s.cards.discovery(s.id, s.hook, s.prefetch) for s in self.services.values()]}

    def service(self, sid: str) -> CdsService:
        s = self.services.get(sid)
        if s is None:
            raise HttpError(404, "unknown_service", f"no CDS service {sid!r} here; served: "
                            f"{', '.join(self.services) or 'none'}")
        return s

    # ------------------------------------------------------------ the request
    @staticmethod
    def check_request(body, service: CdsService) -> dict:
        """A CDS Hooks request checked for the fields this service reads; raises HttpError 400."""
        if not isinstance(body, dict):
            raise HttpError(400, "bad_request", "a CDS Hooks request is a JSON object")
        for key in ("hook", "hookInstance"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise HttpError(400, "bad_request", f"a CDS Hooks request has '{key}' (a string)")
        if body["hook"] != service.hook:
            raise HttpError(400, "bad_request", f"this service answers the {service.hook!r} hook, "
                                                f"not {body['hook']!r}")
        context = body.get("context")
        if not isinstance(context, dict):
            raise HttpError(400, "bad_request", "a CDS Hooks request has 'context' (an object)")
        for key in ("fhirServer",):
            if key in body and not (isinstance(body[key], str) and re.match(r"^https?://", body[key])):
                raise HttpError(400, "bad_request", f"'{key}' is an http(s) URL")
        auth = body.get("fhirAuthorization")
        if auth is not None and not (isinstance(auth, dict) and isinstance(auth.get("access_token"), str)):
            raise HttpError(400, "bad_request", "'fhirAuthorization' is an object with 'access_token'")
        if "prefetch" in body and body["prefetch"] is not None and not isinstance(body["prefetch"], dict):
            raise HttpError(400, "bad_request", "'prefetch' is an object")
        if context.get("hglParams") is not None and not isinstance(context["hglParams"], dict):
            raise HttpError(400, "bad_request", "context.hglParams is a JSON object of parameter names to values")
        if service.hook == "order-select":
            if not isinstance(context.get("selections"), list) or \
                    not all(isinstance(x, str) for x in context["selections"]):
                raise HttpError(400, "bad_request", "order-select: context.selections is a list of strings")
            if not isinstance(context.get("draftOrders"), dict):
                raise HttpError(400, "bad_request", "order-select: context.draftOrders is a FHIR Bundle")
        return body

    def needs_fhir(self, service: CdsService, body: dict) -> dict[str, str]:
        """The prefetch keys not in the request: {key: the rendered query} (none to ask when the
        request carries an hglCase and no fhirServer, or the guideline has no FHIR bindings)."""
        if not service.prefetch or (body["context"].get("hglCase") is not None and not body.get("fhirServer")):
            return {}
        pre = body.get("prefetch") or {}
        out = {}
        for key, template in service.prefetch.items():
            if pre.get(key) is None:
                query = render_template(template, body["context"])
                if query is not None:
                    out[key] = query
        return out

    # ------------------------------------------------------------ the answer (runs in a worker thread)
    def answer(self, service: CdsService, body: dict, fetched: dict) -> dict:
        """The cards for a checked request; `fetched` holds the FHIR answers to the missing prefetch.

        The case is derived from the FHIR data when the guideline has bindings; `context.hglCase`
        (an HGL extension) adds what FHIR does not carry, and wins over a derived value.
        """
        g, cards, context = service.guideline, service.cards, body["context"]
        params = context.get("hglParams")
        given = context.get("hglCase")
        pre = body.get("prefetch") or {}
        sources = None
        where = "context\\.hglCase"
        if service.prefetch and (any(pre.get(k) is not None for k in service.prefetch) or fetched
                                 or given is None):
            resources = []
            for key in service.prefetch:
                resources += resources_of(pre.get(key) if pre.get(key) is not None else fetched.get(key))
            case, found = self.fhirin.case_from_fhir(g, resources)
            sources = {k: source_text(v) for k, v in (found or {}).items() if k in case}
            if isinstance(given, dict):
                case = {**case, **given}
                for k in given:
                    sources.pop(k, None)
            elif given is not None:
                case = given
            where = "the FHIR data" + (" and context\\.hglCase" if given is not None else "")
        elif given is not None:
            case = given
        else:  # no FHIR mapping for this guideline, and no case
            return {"cards": self._issued(service, [cards.ask_for_case()])}
        try:
            result = g.evaluate(case, params)
        except CaseError as err:  # a card, not an error: a client would show nothing at all
            return {"cards": self._issued(service, [cards.invalid_case(err, where)])}
        if service.hook == "patient-view":
            return {"cards": self._issued(service, cards.for_result(result, sources))}
        return {"cards": self._issued(service, self._order_cards(service, body, result, sources))}

    def _order_cards(self, service: CdsService, body: dict, result, sources) -> list[dict]:
        context = body["context"]
        coding = self.coding[service.guideline.id]
        by_ref, drafted = {}, set()
        entries = resources_of(context["draftOrders"])
        for r in entries:
            if isinstance(r.get("id"), str):
                by_ref[f"{r['resourceType']}/{r['id']}"] = r
        selected, selected_ids = set(), []
        for ref in context["selections"]:
            r = by_ref.get(ref)
            if r is not None:
                found = self._drugs_of(r, coding, by_ref)
                if found:
                    selected |= found
                    selected_ids.append(ref)
        for r in entries:
            drafted |= self._drugs_of(r, coding, by_ref)
        if not selected:
            return []  # not a drug this guideline is about: nothing to say
        options = service.guideline.module.OPTIONS
        cands = [oid for oid, o in options.items() if set(getattr(o, "drugs", None) or ()) & selected]
        if not cands:
            return []
        full = [oid for oid in cands if set(options[oid].drugs) <= drafted]
        ordered = sorted(full, key=lambda oid: set(options[oid].drugs) != drafted) or cands
        not_given = [oid for oid in ordered if oid not in result.roles][:3]
        if result.status == "recommendation" and not_given and not any(o in result.roles for o in ordered):
            result.add_why_not(not_given)
        patient = context.get("patientId") if isinstance(context.get("patientId"), str) else None
        return service.cards.for_order(result, ordered, selected_ids, patient, coding, sources)

    @staticmethod
    def _drugs_of(resource: dict, coding: DrugCoding, by_ref: dict) -> set[str]:
        concept = resource.get("medicationCodeableConcept")
        med = resource.get("medication")
        if concept is None and isinstance(med, dict):
            concept = med.get("concept")
        if concept is None:
            ref = resource.get("medicationReference") or (med.get("reference") if isinstance(med, dict) else None)
            target = ref.get("reference") if isinstance(ref, dict) else None
            if isinstance(target, str):
                found = by_ref.get(target)
                if found is None and target.startswith("#"):
                    found = next((c for c in resource.get("contained") or []
                                  if isinstance(c, dict) and c.get("id") == target[1:]), None)
                concept = found.get("code") if isinstance(found, dict) else None
        return coding.match(concept)

    def _issued(self, service: CdsService, cards: list[dict]) -> list[dict]:
        if len(self.issued) > 50_000:
            self.issued.clear()
        for c in cards:
            self.issued[c["uuid"]] = (service.id, c.get("extension", {}).get("hgl", {}).get("rule"))
        return cards

    # ------------------------------------------------------------ feedback
    def take_feedback(self, service: CdsService, body) -> dict:
        """POST /cds-services/{id}/feedback: each item checked and kept (in memory, the last MAX_FEEDBACK)."""
        if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
            raise HttpError(400, "bad_request", "feedback is {\"feedback\": [{\"card\", \"outcome\", ...}]}")
        kept = []
        for item in body["feedback"][:100]:
            if not isinstance(item, dict) or not isinstance(item.get("card"), str) \
                    or item.get("outcome") not in ("accepted", "overridden"):
                raise HttpError(400, "bad_request", "each feedback item has 'card' (a uuid) and 'outcome' "
                                                    "('accepted' or 'overridden')")
            reason = item.get("overrideReason")
            if item["outcome"] == "overridden" and reason is not None and not isinstance(reason, dict):
                raise HttpError(400, "bad_request", "'overrideReason' is an object")
            code = ((reason or {}).get("reason") or {}).get("code") if isinstance(reason, dict) else None
            issued = self.issued.get(item["card"])
            kept.append({"service": service.id, "card": item["card"], "outcome": item["outcome"],
                         "rule": issued[1] if issued else None, "known_card": issued is not None,
                         "override_reason": code if isinstance(code, str) else None,
                         "accepted_suggestions": len(item.get("acceptedSuggestions") or [])})
        self.feedback.extend(kept)
        return {}
