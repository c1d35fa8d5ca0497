"""The JSON API under /api/v1: the same answers as the CLI's --json, with an OpenAPI document.

The response models below are the document's schemas; the endpoints return the library's own dictionaries,
encoded once with orjson and cached per request (the index is immutable while the process runs). The models
forbid extra fields, so a test that validates real answers against the document notices any drift.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from anyport import __version__
from anyport.results import MATCH_KINDS, MATCH_SOURCES
from anyport.rules.targets import TARGETS
from anyport.rules.targets.aerleon_bridge import PLATFORMS, REFUSED
from anyport.vocab import ALLOCATIONS, DIRECTIONS, HELPERS, ROLES, SOURCE_KINDS, STATUSES
from anyport.web.app import MAX_QUERY, ResponseCache, json_bytes, knowledge_base
from anyport.web.errors import ERROR_TYPES
from anyport.web.portmap import LEGEND as PORTMAP_LEGEND

router = APIRouter(prefix="/api/v1", tags=["api"])
TARGET_NAMES = (*TARGETS, *(f"aerleon:{key}" for key in PLATFORMS if key not in REFUSED))
LIST_PARAMS = frozenset({"category", "service", "source", "dest", "port", "kind"})
MAX_ITEMS = 50


def _extra(enum: tuple[str, ...] | list[str] | None, optional: bool) -> Callable[[dict[str, Any]], None]:
    def extra(schema: dict[str, Any]) -> None:
        if optional:  # absent when not set (never null, and no default: absent does not mean a value)
            schema.pop("default", None)
            choices = schema.pop("anyOf", None)
            if choices:
                schema.update(next(c for c in choices if c.get("type") != "null"))
        if enum is not None:
            schema["enum"] = list(enum)

    return extra


def field(
    description: str | None = None,
    *,
    enum: tuple[str, ...] | list[str] | None = None,
    optional: bool = False,
    **constraints: Any,
) -> Any:
    """A response field: ``enum`` lists its values, ``optional`` fields are left out when they have no value."""
    return Field(
        None if optional else ...,
        description=description,
        json_schema_extra=_extra(enum, optional),
        **constraints,
    )


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Model):
    status: int = field("the HTTP status, repeated", ge=400, le=599)
    type: str = field("what kind of error", enum=list(ERROR_TYPES))
    message: str = field("one line for a person; never a stack trace")


class ErrorBody(Model):
    """The one shape of every error."""

    error: ErrorDetail


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    def meaning(status: int) -> str:
        kinds = [f"{kind}: {text}" for kind, (code, text) in ERROR_TYPES.items() if code == status]
        return "; ".join(kinds) or "error"

    return {status: {"model": ErrorBody, "description": meaning(status)} for status in sorted(statuses)}


# Every endpoint can answer these (the guard and the parameter validation run before it).
COMMON = (400, 405, 414, 422, 500)
TRANSPORT_NAMES = ("tcp", "udp", "sctp", "dccp")


# --- lookup (the stable contract of docs/json.md) --------------------------------------------------------------


class MatchSource(Model):
    """A source of a lookup match or search hit: a catalog source, or a data set (IANA, trojan list, nmap)."""

    kind: str = field(enum=(*SOURCE_KINDS, "dataset"))
    value: str = field()
    title: str | None = field(optional=True)
    url: str | None = field(optional=True)


class Match(Model):
    name: str = field("service id, IANA service name, or trojans-PORT-TRANSPORT")
    title: str = field()
    aliases: list[str] = field()
    transport: str = field(enum=(*TRANSPORT_NAMES, "ip"))
    ports: str = field("every port the service opens on that transport, e.g. 6881-6889,6969")
    match: str = field("how it matched", enum=MATCH_KINDS)
    source: str = field(enum=MATCH_SOURCES)
    confidence: float = field("the ranking score", ge=0, le=1)
    categories: list[str] = field()
    description: str = field()
    risks: list[str] = field()
    risk_tags: list[str] = field("short names of what the risks warn about (docs/catalog-format.md)")
    why: str = field("the reason it matched")
    status: str = field(enum=STATUSES)
    allocation: str = field("of the matched port spec")
    role: str = field("of the matched port spec")
    direction: str = field("of the matched port spec")
    iana: list[str] = field("IANA names that back the match")
    note: str = field()
    span: int = field("how many ports the matched spec or record covers", ge=0)
    sources: list[MatchSource] | None = field("with sources=true: where the match comes from", optional=True)
    as_of: str | None = field("with sources=true: when its facts were last checked or changed", optional=True)


class LookupResponse(Model):
    query: str = field("the query as given")
    kind: str = field("how the query was read", enum=("port", "range", "ip", "dnssd", "name"))
    matches: list[Match] = field("best match first")
    context: list[str] = field("sentences about the port itself")


# --- service ----------------------------------------------------------------------------------------------------


class Pair(Model):
    ref: str = field()
    offset: int = field()


class SpecFields(Model):
    kind: str = field(enum=("port", "ip", "ref"))
    transport: str | None = field("kind port only", enum=TRANSPORT_NAMES, optional=True)
    ports: str | None = field("kind port only, e.g. 6881-6889,6969", optional=True)
    ip: int | None = field("kind ip only: the IP protocol number", optional=True, ge=0, le=255)
    ref: str | None = field("kind ref only: the service it uses", optional=True)
    role: str = field(enum=ROLES)
    direction: str = field(enum=DIRECTIONS)
    allocation: str = field(enum=ALLOCATIONS)
    optional: bool = field()
    uncertain: bool = field()
    base: int | None = field("when set", optional=True)
    helper: str | None = field("when set: the conntrack helper", enum=HELPERS, optional=True)
    dnssd: str | None = field("when set", optional=True)
    note: str | None = field("when set", optional=True)
    tls: bool | None = field("when known", optional=True)
    multicast: list[str] | None = field("when set", optional=True)
    pair: Pair | None = field("when set", optional=True)


class PortSpec(SpecFields):
    line: int = field("line in the catalog file")


class ResolvedSpec(SpecFields):
    service: str = field("the service the spec belongs to")
    via: list[str] = field("the chain of references that led to it")


class SourceRef(Model):
    kind: str = field(enum=SOURCE_KINDS)
    value: str = field()
    title: str | None = field(optional=True)
    url: str | None = field(optional=True)


class IanaRecord(Model):
    port: int = field(ge=0, le=65535)
    transport: str = field()
    name: str = field()
    description: str = field()
    matches_catalog: bool = field()


class ServiceResponse(Model):
    id: str = field()
    title: str = field()
    aliases: list[str] = field()
    categories: list[str] = field()
    status: str = field(enum=STATUSES)
    description: str = field()
    ports: list[PortSpec] = field()
    notes: list[str] = field()
    risks: list[str] = field()
    risk_tags: list[str] = field("short names of what the risks warn about (docs/catalog-format.md)")
    registered: list[str] = field("IANA names the service is registered under")
    seed: list[str] = field("rows and sections of Any Port in a Datastorm")
    sources: list[SourceRef] = field()
    as_of: str = field()
    origin: str = field(enum=("catalog", "local"))
    file: str = field("the catalog file it comes from")
    line: int = field()
    resolved: list[ResolvedSpec] = field("its port specs and those of the services it references")
    warnings: list[str] = field()
    referenced: list[str] = field("ids of the services it references")
    iana: list[IanaRecord] = field("IANA records on its fixed ports")


# --- search, categories, port map, health, rules ----------------------------------------------------------------


class SearchHit(Model):
    name: str = field()
    title: str = field()
    source: str = field(enum=("catalog", "local", "iana"))
    score: float = field()
    categories: list[str] = field()
    status: str = field(enum=STATUSES)
    ports: str = field()
    description: str = field()
    sources: list[MatchSource] | None = field("with sources=true", optional=True)
    as_of: str | None = field("with sources=true", optional=True)


class SearchResponse(Model):
    query: str = field()
    corrections: dict[str, str] = field("typo corrections applied: word -> word used")
    results: list[SearchHit] = field()


class ConflictService(Model):
    name: str = field("service id")
    title: str = field()
    status: str = field(enum=STATUSES)
    origin: str = field(enum=("catalog", "local"))
    ports: str = field("the port spec (practice) or every port of the entry (claim)")
    role: str = field()
    direction: str = field()
    uncertain: bool = field("the catalog itself marks the port as uncertain")
    sources: list[SourceRef] = field()
    as_of: str = field()
    file: str = field("the catalog file the entry is in")
    line: int = field()


class ConflictIana(Model):
    name: str = field()
    description: str = field()
    transport: str = field()
    ports: str = field('"" for a name IANA registers without a port')


class Conflict(Model):
    kind: str = field(enum=("practice", "claim"))
    port: int | None = field("null for a claimed name that has no port", ge=0, le=65535)
    transport: str = field()
    claim: str = field('the IANA name the entry claims (kind claim), else ""')
    why: str = field("one line")
    services: list[ConflictService] = field()
    iana: list[ConflictIana] = field("what IANA registers there (practice) or under the claimed name (claim)")


class ConflictsResponse(Model):
    count: int = field(ge=0)
    counts: dict[str, int] = field("kind -> how many")
    as_of: str = field("newest as-of date of the catalog entries involved")
    iana_as_of: str = field("newest modification date in the IANA registry in use")
    conflicts: list[Conflict] = field("by port, transport and kind")


class Category(Model):
    category: str = field()
    services: int = field(ge=0)


class Health(Model):
    status: str = field(enum=("ok",))
    version: str = field()
    services: int = field(ge=0)
    iana_records: int = field(ge=0)
    index: str = field("the start of the index's content hash")


class PortMap(Model):
    """What ``anyport.web.portmap.port_map`` gives (keep the two in step: the schema tests compare them)."""

    transport: str = field(enum=("tcp", "udp"))
    legend: dict[str, str] = field("code -> meaning")
    codes: str = field(
        "65,536 characters, one per port 0-65535, each a key of legend",
        min_length=65536,
        max_length=65536,
        pattern=f"^[{''.join(PORTMAP_LEGEND)}]*$",
    )
    counts: dict[str, int] = field("code -> how many ports have it")
    colours: dict[str, str] = field("code -> the map's colour (#rrggbb)")


class RulesResponse(Model):
    target: str = field()
    files: dict[str, str] = field('file name suffix ("" for the main file) -> contents')
    unsupported: list[str] = field("what the platform could not express (written as comments with best_effort)")


# --- endpoints --------------------------------------------------------------------------------------------------


def _answer(request: Request, key: tuple[Any, ...], make: Callable[[], Any]) -> Response:
    """The cached encoded answer, or a new one (errors are raised, never cached)."""
    cache: ResponseCache = request.app.state.api_cache
    body: bytes | None = cache.get(key)
    if body is None:
        body = json_bytes(make())
        cache.put(key, body, len(body))
    return Response(content=body, media_type="application/json")


def _once(request: Request) -> None:
    """Refuse a parameter given twice unless it is a list (``?q=1&q=2`` is ambiguous, not the last one)."""
    params = request.query_params
    if len(params) == len(params.multi_items()):
        return
    seen: set[str] = set()
    for name, _ in params.multi_items():
        if name in seen and name not in LIST_PARAMS:
            raise RequestValidationError(
                [{"loc": ("query", name), "msg": "given more than once; give it once", "type": "value_error"}]
            )
        seen.add(name)


Text = Annotated[str, Field(min_length=1, max_length=MAX_QUERY)]
SourcesFlag = Annotated[bool, Query(description="also give each answer's sources and as-of date")]
Q = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_QUERY,
        description="anything the CLI takes: 6881, 3389/tcp, 6000-6010/udp, ip:47, gre, _ipp._tcp, a name",
        examples=["443"],
    ),
]


@router.get(
    "/lookup",
    response_model=LookupResponse,
    responses=_errors(*COMMON),
    summary="What uses a port, range, IP protocol or name (the `anyport lookup --json` contract)",
)
async def lookup(request: Request, q: Q, sources: SourcesFlag = False) -> Response:
    from anyport.api import lookup as run

    _once(request)
    return _answer(
        request, ("lookup", q, sources), lambda: run(q, sources=sources, kb=knowledge_base(request)).to_dict()
    )


@router.get(
    "/service/{name}",
    response_model=ServiceResponse,
    responses=_errors(*COMMON, 404),
    summary="Everything needed to open a service, references resolved, with warnings",
)
async def service(
    request: Request,
    name: Annotated[str, PathParam(min_length=1, max_length=MAX_QUERY, examples=["pptp"])],
) -> Response:
    from anyport.query.service import service_info

    _once(request)

    def make() -> dict[str, Any]:
        data = service_info(knowledge_base(request), name).to_dict()
        # The server's own paths are nobody's business: a local file is named by its base name only.
        if data["file"].startswith("/"):
            data["file"] = data["file"].rsplit("/", 1)[-1]
        return data

    return _answer(request, ("service", name), make)


@router.get(
    "/search",
    response_model=SearchResponse,
    responses=_errors(*COMMON),
    summary="Find services by name, alias or description (typo-tolerant)",
)
async def search(
    request: Request,
    q: Q,
    category: Annotated[list[Text] | None, Query(max_length=MAX_ITEMS, description="see /categories")] = None,
    transport: Literal["tcp", "udp", "sctp", "dccp", "ip"] | None = None,
    status: Literal["active", "obsolete", "defunct"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    sources: SourcesFlag = False,
) -> Response:
    from anyport.api import search_full as run

    _once(request)
    key = ("search", q, tuple(category or ()), transport, status, limit, sources)

    def make() -> Any:
        kb = knowledge_base(request)
        found = run(q, categories=category, transport=transport, status=status, limit=limit, sources=sources, kb=kb)
        return found.to_dict()

    return _answer(request, key, make)


@router.get(
    "/conflicts",
    response_model=ConflictsResponse,
    responses=_errors(*COMMON),
    summary="Where the catalog disagrees with IANA (`anyport conflicts --json`)",
)
async def conflicts(
    request: Request,
    port: Annotated[
        list[Text] | None, Query(max_length=MAX_ITEMS, description="only these ports: 1337, 8080/tcp, 5000-6000")
    ] = None,
    kind: Annotated[list[Literal["practice", "claim"]] | None, Query(max_length=2)] = None,
) -> Response:
    from anyport.query.conflicts import find_conflicts

    _once(request)
    ports, kinds = list(port or ()), [str(k) for k in kind or ()]
    key = ("conflicts", tuple(ports), tuple(kinds))
    return _answer(request, key, lambda: find_conflicts(knowledge_base(request), ports, kinds).to_dict())


@router.get(
    "/categories",
    response_model=list[Category],
    responses=_errors(*COMMON),
    summary="Service categories with their counts",
)
async def categories(request: Request) -> Response:
    from anyport.query.search import categories as run

    _once(request)
    return _answer(
        request, ("categories",), lambda: [{"category": c, "services": n} for c, n in run(knowledge_base(request))]
    )


@router.get(
    "/portmap/{transport}",
    response_model=PortMap,
    responses=_errors(*COMMON),
    summary="What is known about every port of a transport, one character per port",
)
async def portmap(request: Request, transport: Literal["tcp", "udp"]) -> Response:
    from anyport.web.portmap import port_map

    _once(request)
    return _answer(request, ("portmap", transport), lambda: port_map(knowledge_base(request), transport))


@router.get("/health", response_model=Health, responses=_errors(*COMMON), summary="Liveness and the data in use")
async def health(request: Request) -> Response:
    _once(request)

    def make() -> dict[str, Any]:
        meta = knowledge_base(request).meta()
        return {
            "status": "ok",
            "version": __version__,
            "services": int(meta.get("services", 0)),
            "iana_records": int(meta.get("iana_records", 0)),
            "index": meta.get("content_hash", "")[:24],
        }

    return _answer(request, ("health",), make)


@router.get(
    "/rules",
    response_model=RulesResponse,
    responses=_errors(*COMMON, 404),
    summary="Firewall rules that open exactly what services need (`anyport rules`)",
)
async def rules(
    request: Request,
    service: Annotated[
        list[Text],
        Query(min_length=1, max_length=MAX_ITEMS, description="names or specs like tcp/8443", examples=[["ssh"]]),
    ],
    target: Literal[TARGET_NAMES] = "nftables",  # type: ignore[valid-type]
    direction: Literal["in", "out"] = "in",
    action: Literal["allow", "deny"] = "allow",
    reject: bool = False,
    source: Annotated[list[Text] | None, Query(max_length=MAX_ITEMS, description="addresses or CIDRs")] = None,
    dest: Annotated[list[Text] | None, Query(max_length=MAX_ITEMS, description="addresses or CIDRs")] = None,
    interface: Annotated[str, Query(max_length=15)] = "",
    include_dynamic: bool = False,
    skip_optional: bool = False,
    ipv4_only: bool = False,
    ipv6_only: bool = False,
    best_effort: bool = False,
) -> Response:
    from anyport.api import rules as run

    _once(request)
    sources, dests = list(source or ()), list(dest or ())
    key = ("rules", tuple(service), target, direction, action, reject, tuple(sources), tuple(dests), interface,
           include_dynamic, skip_optional, ipv4_only, ipv6_only, best_effort)  # fmt: skip

    def make() -> dict[str, Any]:
        output = run(
            list(service),
            target=target,
            direction=direction,
            action=action,
            reject=reject,
            sources=sources,
            dests=dests,
            interface=interface,
            include_dynamic=include_dynamic,
            skip_optional=skip_optional,
            ipv4_only=ipv4_only,
            ipv6_only=ipv6_only,
            best_effort=best_effort,
            kb=knowledge_base(request),
        )
        return {"target": target, "files": output.files, "unsupported": output.unsupported}

    return _answer(request, key, make)
