"""One JSON error shape for every error the API returns, and no stack trace in any response.

    {"error": {"status": 404, "type": "not_found", "message": "no service named 'x'; did you mean ...?"}}
"""

from __future__ import annotations

from typing import Any

from anyport.errors import AnyportError, CatalogError, DataError, NotFoundError, QueryError

TYPES: list[tuple[type[AnyportError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (QueryError, 400, "bad_query"),
    (CatalogError, 500, "catalog_error"),
    (DataError, 500, "data_error"),
]


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
    return 400, "error"
