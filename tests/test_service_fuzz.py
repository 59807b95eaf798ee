"""The API fuzzed from its own OpenAPI document (schemathesis, bounded): never a 500, always as documented.

Every operation of /openapi.json gets generated requests, valid and invalid, sent to a real
server; each answer must be documented (status, JSON content type, schema) and no 5xx other
than a documented 503.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from hgl.runtime import load
from hgl.runtime.service import Running, Settings, make_app
from hgl.runtime.service.openapi import document

from .conftest import GUIDELINE, ROOT

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _app():
    return make_app([load(GUIDELINE), load(ROOT / "bench" / "chooser.hgl")],
                    Settings(auth=False, quiet=True, max_batch=20), fhirin=None)


# the document as the server serves it (built here once more, so that the operations are known at collection)
DOCUMENT = document(_app().state.service)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
# invalid requests for the operations that take a body (a GET without parameters has no invalid form)
OPERATIONS = [pytest.param(path, method, mode, id=f"{method} {path} {mode.value}")
              for path, item in DOCUMENT["paths"].items() for method in item
              for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
              if method == "post" or mode is GenerationMode.POSITIVE]


@pytest.fixture(scope="module")
def fuzzed_server():
    srv = Running(_app())
    yield srv
    srv.stop()


def test_the_served_document_is_the_fuzzed_one(fuzzed_server):
    import httpx

    assert httpx.get(fuzzed_server.url + "/openapi.json").json() == DOCUMENT


@pytest.mark.parametrize("path, method, mode", OPERATIONS)
def test_api_as_documented(fuzzed_server, path, method, mode):
    operation = SCHEMA[path][method.upper()]

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=10, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(base_url=fuzzed_server.url, checks=CHECKS)

    run()
