"""The HTTP service: loaded guidelines -> a JSON API and CDS Hooks 2.0 services, on uvicorn.

`hgl serve GUIDELINE...` answers on 127.0.0.1 by default:

    GET  /health                              the service is up, and how many guidelines it serves
    GET  /openapi.json                        the OpenAPI 3.1 document of this service
    GET  /guidelines                          id, version, sha256 and title of each guideline
    GET  /guidelines/{id}/schema              the JSON Schema of a case
    POST /guidelines/{id}/evaluate            {"case", "params"?, "why_not"?, "trace"?} -> the result contract
    POST /guidelines/{id}/evaluate-batch      {"cases": [...], "params"?} -> {"results": [...]}, in order
    GET  /cds-services                        CDS Hooks discovery: patient-view and order-select per guideline
    POST /cds-services/{id}                   a CDS Hooks request -> {"cards": [...]}
    POST /cds-services/{id}/feedback          what the clinician did with the cards

Modules: `app` (the Starlette app, strict JSON, bounded work), `cds` (CDS Hooks requests, FHIR
data), `cards` (cards as literal Markdown), `auth` (JWT of CDS clients), `openapi`, and
`server` (uvicorn, hardened, and the command line).
"""

from .app import MAX_BODY, Service, Settings, make_app
from .cards import SUMMARY_MAX, Cards, md, summary
from .server import Running, cli_main, configure

__all__ = ["MAX_BODY", "SUMMARY_MAX", "Cards", "Running", "Service", "Settings", "cli_main", "configure",
           "make_app", "md", "summary"]
