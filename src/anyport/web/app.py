"""The web application: JSON API under /api/v1 and HTML pages, served by the library the CLI uses.

Read-only. Every response carries security headers (a Content-Security-Policy without inline script, nosniff,
frame-ancestors 'none'); every error is one JSON shape (API) or a plain error page (HTML) without a stack trace.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from anyport import __version__
from anyport.errors import AnyportError
from anyport.query.kb import KnowledgeBase
from anyport.web.errors import classify, error_body

HERE = Path(__file__).resolve().parent
MAX_QUERY = 200
MAX_URL = 2048
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "interest-cohort=()",
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(kb: KnowledgeBase | None = None) -> FastAPI:
    """The application; ``kb`` defaults to the process's knowledge base (built on first use)."""
    app = FastAPI(
        title="anyport",
        version=__version__,
        description="What is this port? What must I open? Ports and services for firewall administrators.",
        docs_url=None,  # Swagger UI loads scripts from a CDN; the OpenAPI document is at /api/v1/openapi.json
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.kb = kb

    @app.middleware("http")
    async def security(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if len(str(request.url)) > MAX_URL:
            response: Response = _error(request, 414, "uri_too_long", f"the URL is longer than {MAX_URL} characters")
        else:
            response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(AnyportError)
    async def library_error(request: Request, exc: AnyportError) -> Response:
        status, kind = classify(exc)
        return _error(request, status, kind, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "path", "body"))
            problems.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
        return _error(request, 422, "invalid_parameter", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return _error(request, exc.status_code, kind, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:  # pragma: no cover - a bug, not input
        return _error(request, 500, "internal_error", "internal error; the request was not answered")

    from anyport.web import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


def _error(request: Request, status: int, kind: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse(error_body(status, kind, message), status_code=status)
    from anyport.web.pages import error_page

    return error_page(request, status, message)


def knowledge_base(request: Request) -> KnowledgeBase:
    """The app's knowledge base (opened once per process)."""
    kb: KnowledgeBase | None = request.app.state.kb
    if kb is None:
        kb = KnowledgeBase.open()
        request.app.state.kb = kb
    return kb


@functools.lru_cache(maxsize=1)
def default_app() -> FastAPI:
    """The app uvicorn serves (``anyport.web.app:default_app`` with ``--factory``)."""
    return create_app()


def json_bytes(data: Any) -> bytes:
    """Compact JSON; orjson when installed (several times faster), else the standard library."""
    try:
        import orjson

        return orjson.dumps(data)
    except ImportError:  # pragma: no cover - orjson is part of the web extra
        import json

        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
