"""The JSON API under /api/v1: the same answers as the CLI's --json, with an OpenAPI document."""

from __future__ import annotations

from collections import OrderedDict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from anyport import __version__
from anyport.web.app import MAX_QUERY, json_bytes, knowledge_base

router = APIRouter(prefix="/api/v1", tags=["api"])
CACHE_SIZE = 4096
TRANSPORTS = ("tcp", "udp", "sctp", "dccp", "ip")


class ErrorDetail(BaseModel):
    status: int
    type: str
    message: str


class ErrorBody(BaseModel):
    """The one shape of every error."""

    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "a query anyport cannot understand"},
    404: {"model": ErrorBody, "description": "no such service"},
    422: {"model": ErrorBody, "description": "invalid parameters, or rules the platform cannot express"},
}


class Match(BaseModel):
    name: str
    title: str
    aliases: list[str]
    transport: str
    ports: str
    match: str
    source: str
    confidence: float
    categories: list[str]
    description: str
    risks: list[str]
    why: str
    status: str
    allocation: str
    role: str
    direction: str
    iana: list[str]
    note: str
    span: int


class LookupResponse(BaseModel):
    query: str
    kind: str
    matches: list[Match]
    context: list[str]


class SearchHit(BaseModel):
    name: str
    title: str
    source: str
    score: float
    categories: list[str]
    status: str
    ports: str
    description: str


class SearchResponse(BaseModel):
    query: str
    corrections: dict[str, str]
    results: list[SearchHit]


class Category(BaseModel):
    category: str
    services: int


class Health(BaseModel):
    status: str
    version: str
    services: int
    iana_records: int
    index: str


class PortMap(BaseModel):
    transport: str
    legend: dict[str, str]
    codes: str = Field(description="65,536 characters, one per port 0-65535, each a key of legend")


class RulesResponse(BaseModel):
    target: str
    files: dict[str, str]
    unsupported: list[str]


def _cached(request: Request, key: tuple[Any, ...], make: Any) -> Response:
    """Answers never change while the process runs (the index is immutable): cache the encoded bytes."""
    cache: OrderedDict[tuple[Any, ...], bytes] = request.app.state.__dict__.setdefault("api_cache", OrderedDict())
    body = cache.get(key)
    if body is None:
        body = json_bytes(make())
        cache[key] = body
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return Response(content=body, media_type="application/json")


Q = Annotated[str, Query(min_length=1, max_length=MAX_QUERY, description="anything the CLI takes: 6881, 3389/tcp, ip:47, _ipp._tcp, a name")]


@router.get("/lookup", response_model=LookupResponse, responses=ERRORS, summary="What uses a port, range, protocol or name")
async def lookup(request: Request, q: Q) -> Response:
    from anyport.query.lookup import lookup as run

    kb = knowledge_base(request)
    return _cached(request, ("lookup", q.strip()), lambda: run(kb, q).to_dict())


@router.get("/service/{name}", responses=ERRORS, summary="Everything needed to open a service")
async def service(request: Request, name: Annotated[str, PathParam(min_length=1, max_length=MAX_QUERY)]) -> Response:
    from anyport.query.service import service_info

    kb = knowledge_base(request)
    return _cached(request, ("service", name), lambda: service_info(kb, name).to_dict())


@router.get("/search", response_model=SearchResponse, responses=ERRORS, summary="Find services by name or description")
async def search(
    request: Request,
    q: Q,
    category: Annotated[list[str] | None, Query(max_length=64)] = None,
    transport: Annotated[str | None, Query(pattern="^(tcp|udp|sctp|dccp|ip)$")] = None,
    status: Annotated[str | None, Query(pattern="^(active|obsolete|defunct)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> Response:
    from anyport.query.search import search as run

    kb = knowledge_base(request)
    key = ("search", q, tuple(category or ()), transport, status, limit)
    return _cached(
        request,
        key,
        lambda: run(kb, q, categories=category, transport=transport, status=status, limit=limit).to_dict(),
    )


@router.get("/categories", response_model=list[Category], summary="Service categories with their counts")
async def categories(request: Request) -> Response:
    from anyport.query.search import categories as run

    kb = knowledge_base(request)
    return _cached(request, ("categories",), lambda: [{"category": c, "services": n} for c, n in run(kb)])


@router.get("/portmap/{transport}", response_model=PortMap, responses=ERRORS, summary="What is known about every port")
async def portmap(request: Request, transport: Annotated[str, PathParam(pattern="^(tcp|udp)$")]) -> Response:
    from anyport.web.portmap import port_map

    if transport not in ("tcp", "udp"):
        from anyport.errors import QueryError

        raise QueryError(f"the port map covers tcp and udp, not {transport!r}")
    kb = knowledge_base(request)
    return _cached(request, ("portmap", transport), lambda: port_map(kb, transport))


@router.get("/health", response_model=Health, summary="Liveness and the data in use")
async def health(request: Request) -> Response:
    kb = knowledge_base(request)

    def make() -> dict[str, Any]:
        meta = kb.meta()
        return {
            "status": "ok",
            "version": __version__,
            "services": int(meta.get("services", 0)),
            "iana_records": int(meta.get("iana_records", 0)),
            "index": meta.get("content_hash", "")[:24],
        }

    return _cached(request, ("health",), make)


@router.get("/rules", response_model=RulesResponse, responses=ERRORS, summary="Firewall rules for services")
async def rules(
    request: Request,
    service: Annotated[list[str], Query(min_length=1, max_length=50, description="names or specs like tcp/8443")],
    target: Annotated[str, Query(max_length=64)] = "nftables",
    direction: Annotated[str, Query(pattern="^(in|out)$")] = "in",
    action: Annotated[str, Query(pattern="^(allow|deny)$")] = "allow",
    source: Annotated[list[str] | None, Query(max_length=50)] = None,
    best_effort: bool = False,
) -> Response:
    from anyport.api import rules as run

    for item in service + (source or []):
        if len(item) > MAX_QUERY:
            from anyport.errors import QueryError

            raise QueryError(f"a parameter is {len(item)} characters long; keep it under {MAX_QUERY}")
    kb = knowledge_base(request)
    key = ("rules", tuple(service), target, direction, action, tuple(source or ()), best_effort)

    def make() -> dict[str, Any]:
        output = run(service, target=target, direction=direction, action=action, sources=source,
                     best_effort=best_effort, kb=kb)  # fmt: skip
        return {"target": target, "files": output.files, "unsupported": output.unsupported}

    return _cached(request, key, make)
