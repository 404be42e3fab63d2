"""Schema-based fuzzing of the public JSON API from the app's own ``/openapi.json``.

Every operation of the published description is fed data that fits the schema (positive) and
data that does not (negative) by schemathesis, in process against the ASGI app over the seeded
embedded index and a real public store. For every response:

* never a 5xx (a 503 is allowed only where the operation documents it *and* the cause is the
  service, not the input: here the index is always there, so no 5xx at all);
* an error is ``{"error": {"code": <stable ascii code>, "message": <Chinese>}}``;
* the response conforms to the description: documented status, content type, headers, body schema;
* data that does not fit the schema is refused (4xx) — never silently accepted;
* no traceback or input echoed into an error.

Bounded: a few examples per operation and mode, no deadline; the whole file runs in well under a
minute on two workers.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

from portal.openapi import document

OPERATIONS = sorted(
    (op for path in document()["paths"].values() for op in path.values()), key=lambda op: op["operationId"]
)
OPERATION_IDS = [op["operationId"] for op in OPERATIONS]
# Negative data breaks the schema of query parameters or a body; an operation with neither has
# nothing to negate (any path string is valid), so it is fuzzed with positive data only.
NEGATABLE = [op["operationId"] for op in OPERATIONS
             if "requestBody" in op or any(p.get("in") == "query" for p in op.get("parameters", []))]
CASES = [pytest.param(GenerationMode.POSITIVE, op_id, id=f"positive-{op_id}") for op_id in OPERATION_IDS] + [
    pytest.param(GenerationMode.NEGATIVE, op_id, id=f"negative-{op_id}") for op_id in NEGATABLE]
MAX_EXAMPLES = 25
CJK = re.compile(r"[\u4e00-\u9fff]")
TRACEBACK_MARKERS = ("Traceback", 'File "', "sqlalchemy", "Error:")
# Stateful/auth checks need links or security schemes this API does not have.
# positive_data_acceptance: "schema-valid" cannot say "an existing region code" or "page × per_page
# ≤ 10000"; those are refused with a 400 and a stable code, which the other checks cover.
_SKIP_CHECKS = {"positive_data_acceptance", "use_after_free", "ensure_resource_availability", "ignored_auth", "object_level_authorization"}


def _checks() -> list[Any]:
    return [c for c in CHECKS.get_all() if c.__name__ not in _SKIP_CHECKS]


@pytest.fixture
def api_schema(portal_app, seeded):
    return schemathesis.openapi.from_asgi("/openapi.json", portal_app)


def test_every_json_operation_is_fuzzed():
    assert len(OPERATION_IDS) >= 12
    assert len(set(OPERATION_IDS)) == len(OPERATION_IDS)
    assert len(NEGATABLE) >= 6 and {"queryPerson", "createComplaint", "searchDisclosures"} <= set(NEGATABLE)


def assert_clean_error(response: Any) -> None:
    body = response.text
    for marker in TRACEBACK_MARKERS:
        assert marker not in body, f"{marker!r} in body: {body[:300]}"
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", "")
    if isinstance(content_type, list):  # schemathesis' Response: name -> list of values
        content_type = content_type[0] if content_type else ""
    assert content_type.startswith("application/json"), body[:200]
    data = json.loads(body)
    error = data["error"]
    assert isinstance(error["code"], str) and re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), error
    assert isinstance(error["message"], str) and CJK.search(error["message"]), error


@pytest.mark.parametrize(("mode", "operation_id"), CASES)
def test_fuzz_operation(api_schema, operation_id: str, mode: GenerationMode):
    operation = api_schema.find_operation_by_id(operation_id)
    if mode is GenerationMode.NEGATIVE:  # schemathesis agrees there is something to negate
        assert len(operation.query) or len(operation.body), operation_id
    checks = _checks()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call()
        assert response.status_code < 500, (case.as_curl_command(), response.status_code, response.text[:300])
        assert_clean_error(response)
        case.validate_response(response, checks=checks)

    run()
