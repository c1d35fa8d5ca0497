"""anyport: what is this port, what must I open, and what is this traffic.

The Python API mirrors the command line::

    import anyport
    anyport.lookup("6881")          # -> LookupResult, best match first
    anyport.service("bittorrent")   # -> ServiceInfo with references resolved
    anyport.search("messenger")     # -> list[SearchHit]
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `anyport 443` must start fast

__version__ = "0.1.0"

__all__ = [
    "AnyportError",
    "CatalogError",
    "DataError",
    "LookupResult",
    "Match",
    "NotFoundError",
    "QueryError",
    "SearchHit",
    "ServiceInfo",
    "__version__",
    "categories",
    "lookup",
    "search",
    "service",
]

if TYPE_CHECKING:
    from typing import Any

    from anyport.api import categories, lookup, search, service
    from anyport.errors import AnyportError, CatalogError, DataError, NotFoundError, QueryError
    from anyport.results import LookupResult, Match, SearchHit, ServiceInfo

_LAZY = {
    "categories": "anyport.api",
    "lookup": "anyport.api",
    "search": "anyport.api",
    "service": "anyport.api",
    "AnyportError": "anyport.errors",
    "CatalogError": "anyport.errors",
    "DataError": "anyport.errors",
    "NotFoundError": "anyport.errors",
    "QueryError": "anyport.errors",
    "LookupResult": "anyport.results",
    "Match": "anyport.results",
    "SearchHit": "anyport.results",
    "ServiceInfo": "anyport.results",
}


def __getattr__(name: str) -> Any:
    # Imported on first use so that `import anyport` stays cheap for the CLI.
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'anyport' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
