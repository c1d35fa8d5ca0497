"""Property-based tests of the JSON API against its own OpenAPI document (schemathesis, in process over ASGI).

Every operation of /api/v1/openapi.json gets generated requests, schema-valid and schema-violating ones, and each
answer is checked: no 5xx, a documented status code, a documented content type, headers and a body that conform
to the document (the one error shape included), schema-violating requests refused with a documented 4xx, and
undocumented methods refused with 405. A bounded number of examples per operation, derandomized and without a
database, keeps the run repeatable and well under a minute.

One check is left out: "schema-valid data must be accepted". The query grammar (``443/tcp``, ``ip:47``, a name)
is richer than a JSON Schema can say, so a string that fits the schema may still be a query anyport cannot
understand, and it rightly gets the documented 400.
"""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402

from anyport.web.app import create_app  # noqa: E402

EXAMPLES = 100
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"enabled": False},
            # Stricter than schemathesis' default, which also counts 5xx as a rejection.
            "negative_data_rejection": {"expected-statuses": ["400", "404", "405", "414", "422"]},
        },
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True, "database": "none"},
    }
)
APP = create_app()
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP, config=CONFIG)


def test_document_lists_every_endpoint() -> None:
    operations = {f"{op.ok().method.upper()} {op.ok().path}" for op in schema.get_all_operations()}
    assert operations == {
        "GET /api/v1/lookup",
        "GET /api/v1/service/{name}",
        "GET /api/v1/search",
        "GET /api/v1/categories",
        "GET /api/v1/portmap/{transport}",
        "GET /api/v1/health",
        "GET /api/v1/rules",
        "GET /api/v1/conflicts",
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    case.call_and_validate()
