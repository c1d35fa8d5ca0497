"""The Python API: the same answers as the command line, as typed objects.

Each call opens the index (building it first if the sources changed) unless a :class:`KnowledgeBase` is given.
"""

from __future__ import annotations

from anyport.query.kb import KnowledgeBase
from anyport.results import LookupResult, SearchHit, SearchResult, ServiceInfo

_default: KnowledgeBase | None = None


def knowledge_base() -> KnowledgeBase:
    """The shared, lazily opened knowledge base of this process."""
    global _default
    if _default is None:
        _default = KnowledgeBase.open()
    return _default


def lookup(query: str, *, kb: KnowledgeBase | None = None) -> LookupResult:
    """Every service that uses a port, range, IP protocol, DNS-SD type or name, best match first."""
    from anyport.query.lookup import lookup as _lookup

    return _lookup(kb or knowledge_base(), query)


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
    kb: KnowledgeBase | None = None,
) -> SearchResult:
    """Like :func:`search`, with the typo corrections that were applied."""
    from anyport.query.search import search as _search

    return _search(kb or knowledge_base(), text, categories=categories, transport=transport, status=status, limit=limit)


def categories(*, kb: KnowledgeBase | None = None) -> list[tuple[str, int]]:
    """Every category and how many services it has."""
    from anyport.query.search import categories as _categories

    return _categories(kb or knowledge_base())
