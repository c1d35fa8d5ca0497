"""The Python API: the same answers as the command line, as typed objects.

Each call opens the index (building it first if the sources changed) unless a :class:`KnowledgeBase` is given.
"""

from __future__ import annotations

from anyport.query.kb import KnowledgeBase
from anyport.results import LookupResult, SearchHit, SearchResult, ServiceInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from anyport.query.conflicts import ConflictReport
    from anyport.rules.base import Output

_default: KnowledgeBase | None = None


def knowledge_base() -> KnowledgeBase:
    """The shared, lazily opened knowledge base of this process."""
    global _default
    if _default is None:
        _default = KnowledgeBase.open()
    return _default


def lookup(query: str, *, sources: bool = False, kb: KnowledgeBase | None = None) -> LookupResult:
    """Every service that uses a port, range, IP protocol, DNS-SD type or name, best match first.

    With ``sources`` each match also carries its sources and as-of date.
    """
    from anyport.query.lookup import lookup as _lookup

    kb = kb or knowledge_base()
    result = _lookup(kb, query)
    if sources:
        from anyport.query.provenance import add_lookup_sources

        add_lookup_sources(kb, result)
    return result


def service(name: str, *, kb: KnowledgeBase | None = None) -> ServiceInfo:
    """Everything needed to open a service, references resolved, with warnings."""
    from anyport.query.service import service_info

    return service_info(kb or knowledge_base(), name)


def search(
    text: str,
    *,
    categories: list[str] | None = None,
    transport: str | None = None,
    status: str | None = None,
    limit: int = 20,
    kb: KnowledgeBase | None = None,
) -> list[SearchHit]:
    """Services matching ``text`` by name, alias or description (typo-tolerant), best first."""
    return search_full(text, categories=categories, transport=transport, status=status, limit=limit, kb=kb).hits


def search_full(
    text: str,
    *,
    categories: list[str] | None = None,
    transport: str | None = None,
    status: str | None = None,
    limit: int = 20,
    sources: bool = False,
    kb: KnowledgeBase | None = None,
) -> SearchResult:
    """Like :func:`search`, with the typo corrections that were applied (and each hit's sources, on request)."""
    from anyport.query.search import search as _search

    kb = kb or knowledge_base()
    result = _search(kb, text, categories=categories, transport=transport, status=status, limit=limit)
    if sources:
        from anyport.query.provenance import add_search_sources

        add_search_sources(kb, result)
    return result


def conflicts(
    ports: list[str] | None = None, *, kinds: list[str] | None = None, kb: KnowledgeBase | None = None
) -> ConflictReport:
    """Where the catalog disagrees with IANA: ports used in practice by other services, unbacked claims."""
    from anyport.query.conflicts import find_conflicts

    return find_conflicts(kb or knowledge_base(), ports, kinds)


def categories(*, kb: KnowledgeBase | None = None) -> list[tuple[str, int]]:
    """Every category and how many services it has."""
    from anyport.query.search import categories as _categories

    return _categories(kb or knowledge_base())


def rules(
    services: list[str],
    *,
    target: str = "nftables",
    direction: str = "in",
    action: str = "allow",
    reject: bool = False,
    sources: list[str] | None = None,
    dests: list[str] | None = None,
    interface: str = "",
    include_dynamic: bool = False,
    skip_optional: bool = False,
    ipv4_only: bool = False,
    ipv6_only: bool = False,
    best_effort: bool = False,
    kb: KnowledgeBase | None = None,
) -> Output:
    """Firewall rules for ``services`` (names or raw specs like ``tcp/8443``) on one platform."""
    from anyport.rules.options import make_options
    from anyport.rules.selection import select
    from anyport.rules.targets import get_target

    options = make_options(
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
    )
    platform = get_target(target)  # an unknown target is reported before any work
    selection = select(kb or knowledge_base(), services, options)
    return platform.generate(selection, options)
