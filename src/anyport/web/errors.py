"""One JSON error shape for every error the API returns, and no stack trace in any response.

{"error": {"status": 404, "type": "not_found", "message": "no service named 'x'; did you mean ...?"}}
"""

from __future__ import annotations

from typing import Any

from anyport.errors import AnyportError, CatalogError, DataError, NotFoundError, QueryError

# Every value "type" takes, with its status and meaning (the OpenAPI document lists them).
ERROR_TYPES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "the URL itself is malformed (percent-encoding that is not UTF-8)"),
    "bad_query": (400, "a query, port, range, network or name anyport cannot understand"),
    "not_found": (404, "no such service, or no such endpoint"),
    "method_not_allowed": (405, "anything but GET or HEAD: the API is read-only"),
    "uri_too_long": (414, "path and query string longer than the limit"),
    "invalid_parameter": (422, "a parameter missing, repeated, too long, or outside its allowed values"),
    "cannot_express": (
        422,
        "firewall rules the target platform cannot write as asked (or its optional library is missing)",
    ),
    "http_error": (0, "any other HTTP error, with its own status (none is known to occur)"),
    "catalog_error": (500, "the catalog files behind the server are invalid"),
    "data_error": (500, "the index or a registry file behind the server is unreadable"),
    "internal_error": (500, "a bug; the server log has the details, the response never does"),
}

TYPES: list[tuple[type[AnyportError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (QueryError, 400, "bad_query"),
    (CatalogError, 500, "catalog_error"),
    (DataError, 500, "data_error"),
]

API_DESCRIPTION = (
    "What is this port? What must I open? Ports and services for firewall administrators.\n\n"
    "Read-only: every method but GET and HEAD is answered with 405. Every error, for unknown paths under /api "
    "and wrong methods too, is one JSON shape: "
    '`{"error": {"status": 404, "type": "not_found", "message": "..."}}`. Error types: '
    + "; ".join(f"`{kind}` ({status or 'other'}) {meaning}" for kind, (status, meaning) in ERROR_TYPES.items())
    + ".\n\nThe lookup answer is the stable contract of `anyport lookup QUERY --json` (docs/json.md)."
)


def error_body(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "type": kind, "message": message}}


def classify(exc: AnyportError) -> tuple[int, str]:
    """HTTP status and error type for a library error."""
    from anyport.rules.base import RulesError

    if isinstance(exc, RulesError):
        return 422, "cannot_express"
    for cls, status, kind in TYPES:
        if isinstance(exc, cls):
            return status, kind
    return 400, "bad_query"
