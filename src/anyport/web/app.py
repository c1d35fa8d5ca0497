"""The web application: JSON API under /api/v1 and HTML pages, served by the library the CLI uses.

Read-only: every method but GET and HEAD gets 405, before any routing. Every response carries security headers
(a Content-Security-Policy without inline script, nosniff, frame-ancestors 'none'), errors included, because the
guard that adds them wraps the whole application, the handler of unexpected errors too. Every error is one JSON
shape (under /api) or a plain error page (HTML), never with a stack trace.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anyport import __version__
from anyport.errors import AnyportError
from anyport.query.kb import KnowledgeBase
from anyport.web.errors import API_DESCRIPTION, classify, error_body

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is part of the web extra
    orjson = None  # type: ignore[assignment]

HERE = Path(__file__).resolve().parent
MAX_QUERY = 200  # characters of one query parameter (a lookup query, a search text, a service name)
MAX_URL = 2048  # bytes of path and query string together, as sent (percent-encoded)
ALLOWED_METHODS = ("GET", "HEAD")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "interest-cohort=()",
}
_RAW_HEADERS = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]
_RAW_NAMES = frozenset(k for k, _ in _RAW_HEADERS)
RESPONSE_CACHE_BYTES = 64 * 1024 * 1024
RESPONSE_CACHE_ENTRIES = 8192


def wants_json(path: str) -> bool:
    """Errors under /api are JSON; elsewhere they are HTML pages."""
    return path.startswith("/api/") or path == "/api"


class Guard:
    """The outermost layer (pure ASGI, no per-request objects on the happy path).

    Refuses every method but GET and HEAD (405), URLs longer than MAX_URL (414) and percent-encoding that is not
    UTF-8 (400), answers HEAD as GET without the body, and adds the security headers to every response.
    """

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self.answers = ResponseCache()  # (raw path, raw query) -> (headers, body) of a 200 answer under /api/

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope.get("query_string", b"")
        if method in ALLOWED_METHODS:
            answer = self.answers.get((raw_path, query))
            if answer is not None:  # this very URL was answered before: the same bytes again, headers included
                await send({"type": "http.response.start", "status": 200, "headers": answer[0]})
                await send({"type": "http.response.body", "body": b"" if method == "HEAD" else answer[1]})
                return
            if method == "GET" and raw_path.startswith(b"/api/"):
                send = self._remember((raw_path, query), send)
        send = _secured(send)
        problem: tuple[int, str, str] | None = None
        extra: dict[str, str] = {}
        if method not in ALLOWED_METHODS:
            problem = (405, "method_not_allowed", "anyport is read-only: only GET and HEAD are allowed")
            extra = {"Allow": ", ".join(ALLOWED_METHODS)}
        elif len(raw_path) + len(query) > MAX_URL:
            problem = (414, "uri_too_long", f"the URL is longer than {MAX_URL} characters")
        elif not (_utf8(raw_path) and _utf8(query)):
            problem = (400, "bad_request", "the URL's percent-encoding is not UTF-8 text")
        if method == "HEAD":
            scope = dict(scope)
            scope["method"] = "GET"
            send = _strip_body(send)
        if problem is not None:
            scope = dict(scope)
            scope.setdefault("router", self.owner.router)  # error pages may use url_for
            status, kind, message = problem
            response = error_response(Request(scope), status, kind, message, extra)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _remember(self, key: tuple[bytes, bytes], send: Send) -> Send:
        """Keep a complete 200 JSON answer of the API: it depends on the URL alone (no request header is read)."""
        started: list[Message] = []
        parts: list[bytes] = []

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    started.append(message)
            elif started and message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    headers = list(started[0]["headers"])
                    body = b"".join(parts)
                    if (b"content-type", b"application/json") in headers:
                        self.answers.put(key, (headers, body), len(body) + 64 * len(headers))
            await send(message)

        return remember


def _secured(send: Send) -> Send:
    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            if _RAW_NAMES.isdisjoint(present):
                headers += _RAW_HEADERS
            else:
                headers += [item for item in _RAW_HEADERS if item[0] not in present]
            message["headers"] = headers
        await send(message)

    return secured


def _utf8(raw: bytes) -> bool:
    if b"%" not in raw and raw.isascii():
        return True
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _strip_body(send: Send) -> Send:
    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {"type": message["type"], "body": b"", "more_body": message.get("more_body", False)}
        await send(message)

    return head


class AnyportApp(FastAPI):
    """FastAPI with the :class:`Guard` around everything, the server-error handler included."""

    def build_middleware_stack(self) -> ASGIApp:
        return Guard(super().build_middleware_stack(), self)


class KnowledgeBases:
    """One open index per thread (sqlite connections belong to the thread that opened them).

    The index file is immutable, so every thread reads the same data; the app's own thread (the event loop
    under uvicorn) opens one connection and keeps it.
    """

    def __init__(self, kb: KnowledgeBase | None) -> None:
        self.given = kb
        self.owner = threading.get_ident() if kb is not None else None
        self.path = kb.path if kb is not None else None
        self.local = threading.local()
        self.lock = threading.Lock()

    def get(self) -> KnowledgeBase:
        kb: KnowledgeBase | None = getattr(self.local, "kb", None)
        if kb is None:
            kb = self._open()
            self.local.kb = kb
        return kb

    def _open(self) -> KnowledgeBase:
        if self.given is not None and (self.path is None or threading.get_ident() == self.owner):
            return self.given
        with self.lock:
            if self.path is None:
                opened = KnowledgeBase.open()
                self.path = opened.path
                return opened
        from anyport.index.store import open_index

        return KnowledgeBase(open_index(self.path), self.path)


class ResponseCache:
    """Answers by request key, least recently used out first, bounded in entries and bytes.

    Safe because the index never changes while the process runs: the same request always gets the same answer.
    """

    def __init__(self, max_bytes: int = RESPONSE_CACHE_BYTES, max_entries: int = RESPONSE_CACHE_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.size = 0
        self.items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()

    def get(self, key: Any) -> Any:
        """The value stored under ``key``, or None."""
        item = self.items.get(key)
        if item is None:
            return None
        self.items.move_to_end(key)
        return item[0]

    def put(self, key: Any, value: Any, size: int) -> None:
        if size > self.max_bytes // 8:
            return  # one huge answer must not push everything else out
        old = self.items.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self.items[key] = (value, size)
        self.size += size
        while self.size > self.max_bytes or len(self.items) > self.max_entries:
            _, (_, dropped) = self.items.popitem(last=False)
            self.size -= dropped


def create_app(kb: KnowledgeBase | None = None) -> FastAPI:
    """The application; ``kb`` defaults to the process's knowledge base (built on first use)."""
    app = AnyportApp(
        title="anyport",
        version=__version__,
        description=API_DESCRIPTION,
        docs_url=None,  # Swagger UI loads scripts from a CDN; the OpenAPI document is at /api/v1/openapi.json
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.kb = kb
    app.state.kbs = KnowledgeBases(kb)
    app.state.api_cache = ResponseCache()

    @app.exception_handler(AnyportError)
    async def library_error(request: Request, exc: AnyportError) -> Response:
        status, kind = classify(exc)
        return error_response(request, status, kind, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "path", "body"))
            problems.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
        return error_response(request, 422, "invalid_parameter", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        if exc.status_code == 404:
            message = "no such endpoint; see /api/v1/openapi.json" if wants_json(request.url.path) else "no such page"
        else:
            message = str(exc.detail)
        return error_response(request, exc.status_code, kind, message, exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # A bug, not input: the traceback goes to the server log (uvicorn), never into the response.
        return error_response(request, 500, "internal_error", "internal error; the request was not answered")

    from anyport.web import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


def error_response(
    request: Request, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """The JSON error shape under /api, the HTML error page elsewhere."""
    if wants_json(request.url.path):
        return Response(json_bytes(error_body(status, kind, message)), status, dict(headers or {}), "application/json")
    from anyport.web.pages import error_page

    response = error_page(request, status, message)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def knowledge_base(request: Request) -> KnowledgeBase:
    """The app's knowledge base for this thread (opened once per thread)."""
    kbs: KnowledgeBases = request.app.state.kbs
    return kbs.get()


@functools.lru_cache(maxsize=1)
def default_app() -> FastAPI:
    """The app uvicorn serves (``anyport.web.app:default_app`` with ``--factory``)."""
    return create_app()


def json_bytes(data: Any) -> bytes:
    """Compact UTF-8 JSON; orjson when installed (several times faster), else the standard library."""
    if orjson is not None:
        return orjson.dumps(data)
    import json  # pragma: no cover

    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()  # pragma: no cover
