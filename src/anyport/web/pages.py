"""HTML pages, rendered on the server (they work without JavaScript; app.js only makes them quicker)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from anyport import __version__
from anyport.web.app import HERE, MAX_QUERY, knowledge_base

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescape is on for .html


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("version", __version__)
    context.setdefault("max_query", MAX_QUERY)
    return templates.TemplateResponse(request, name, context, status_code=status)


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", status=status, status_code=status, message=message)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, q: str = "") -> Response:
    from anyport.errors import AnyportError
    from anyport.query.lookup import lookup

    result = None
    error = ""
    if q.strip():
        if len(q) > MAX_QUERY:
            error = f"the query is {len(q)} characters long; keep it under {MAX_QUERY}"
        else:
            try:
                result = lookup(knowledge_base(request), q)
            except AnyportError as exc:
                error = str(exc)
    return render(request, "home.html", q=q, result=result, error=error)
