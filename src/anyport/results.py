"""What the query API returns: typed objects, convertible to the documented JSON shapes.

These are plain classes rather than dataclasses on purpose: importing ``dataclasses`` costs more than the
whole lookup, and ``anyport 443`` has to start fast.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from anyport.model import PortSpec, Service

MATCH_KINDS = ("exact", "range", "dynamic", "reference", "name")
MATCH_SOURCES = ("catalog", "local", "iana", "trojans", "nmap")
BROAD_SPAN = 1000


class _Record:
    """Equality and repr from ``__slots__``."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


def _provenance(sources: list[dict[str, str]] | None, as_of: str) -> dict[str, Any]:
    """``sources`` and ``as_of`` when they were asked for, nothing otherwise (the default JSON stays as it was)."""
    return {} if sources is None else {"sources": sources, "as_of": as_of}


class Match(_Record):
    """One answer to a lookup: a service (or registry record) and why it matched."""

    __slots__ = (
        "aliases",
        "allocation",
        "as_of",
        "categories",
        "confidence",
        "description",
        "direction",
        "iana",
        "match",
        "name",
        "note",
        "ports",
        "risk_tags",
        "risks",
        "role",
        "source",
        "sources",
        "span",
        "status",
        "title",
        "transport",
        "why",
    )

    def __init__(
        self,
        *,
        name: str,
        title: str,
        transport: str,
        ports: str,
        match: str,
        source: str,
        confidence: float,
        why: str,
        aliases: list[str] | None = None,
        categories: list[str] | None = None,
        description: str = "",
        risks: list[str] | None = None,
        risk_tags: list[str] | None = None,
        status: str = "active",
        allocation: str = "fixed",
        role: str = "",
        direction: str = "",
        iana: list[str] | None = None,
        note: str = "",
        span: int = 0,
    ) -> None:
        self.name = name
        self.title = title
        self.transport = transport
        self.ports = ports
        self.match = match  # one of MATCH_KINDS
        self.source = source  # one of MATCH_SOURCES
        self.confidence = confidence
        self.why = why
        self.aliases = aliases or []
        self.categories = categories or []
        self.description = description
        self.risks = risks or []
        self.risk_tags = risk_tags or []
        self.status = status
        self.allocation = allocation
        self.role = role
        self.direction = direction
        self.iana = iana or []
        self.note = note
        self.span = span  # how many ports the matched spec or record covers (1 for a fixed port)
        # Filled in on request (anyport.query.provenance); None leaves them out of to_dict.
        self.sources: list[dict[str, str]] | None = None
        self.as_of = ""

    @property
    def broad(self) -> bool:
        """True for matches through a wide range picked at run time (the long tail of a lookup)."""
        return (
            self.match in ("dynamic", "reference")
            and self.span >= BROAD_SPAN
            and self.allocation not in ("fixed", "family")
        )

    @property
    def pins_the_port(self) -> bool:
        """True when the service uses this port as a fixed or ranged port, not one picked at run time."""
        if self.source not in ("catalog", "local"):
            return False
        if self.match == "reference":
            return self.allocation in ("fixed", "family")
        return self.match in ("exact", "range", "name")

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON contract of a match (fields beyond it come after)."""
        return {
            "name": self.name,
            "title": self.title,
            "aliases": self.aliases,
            "transport": self.transport,
            "ports": self.ports,
            "match": self.match,
            "source": self.source,
            "confidence": round(self.confidence, 3),
            "categories": self.categories,
            "description": self.description,
            "risks": self.risks,
            "risk_tags": self.risk_tags,
            "why": self.why,
            "status": self.status,
            "allocation": self.allocation,
            "role": self.role,
            "direction": self.direction,
            "iana": self.iana,
            "note": self.note,
            "span": self.span,
            **_provenance(self.sources, self.as_of),
        }


class LookupResult(_Record):
    """All matches for one query, best first, with context about the port itself."""

    __slots__ = ("context", "kind", "matches", "query")

    def __init__(self, query: str, kind: str, matches: list[Match], context: list[str] | None = None) -> None:
        self.query = query
        self.kind = kind  # port, range, ip, dnssd, name
        self.matches = matches
        self.context = context or []

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "kind": self.kind,
            "matches": [m.to_dict() for m in self.matches],
            "context": self.context,
        }


class ResolvedSpec(_Record):
    """A port spec of a service or of a service it references; ``via`` is the chain of references."""

    __slots__ = ("service", "spec", "via")

    def __init__(self, service: str, spec: PortSpec, via: list[str] | None = None) -> None:
        self.service = service
        self.spec = spec
        self.via = via or []

    def to_dict(self) -> dict[str, Any]:
        from anyport.serialize import spec_to_dict

        data = spec_to_dict(self.spec)
        data.pop("line", None)
        return {"service": self.service, "via": self.via, **data}


class ServiceInfo(_Record):
    """Everything needed to open a service: its own specs, referenced ones, and warnings."""

    __slots__ = ("iana", "referenced", "resolved", "service", "warnings")

    def __init__(
        self,
        service: Service,
        resolved: list[ResolvedSpec],
        warnings: list[str],
        referenced: list[Service] | None = None,
        iana: list[dict[str, Any]] | None = None,
    ) -> None:
        self.service = service
        self.resolved = resolved
        self.warnings = warnings
        self.referenced = referenced or []
        self.iana = iana or []

    def to_dict(self) -> dict[str, Any]:
        from anyport.serialize import service_to_dict

        data = service_to_dict(self.service)
        data["resolved"] = [r.to_dict() for r in self.resolved]
        data["warnings"] = self.warnings
        data["referenced"] = [s.id for s in self.referenced]
        data["iana"] = self.iana
        return data


class SearchHit(_Record):
    """A search result."""

    __slots__ = ("as_of", "categories", "description", "name", "ports", "score", "source", "sources", "status", "title")

    def __init__(
        self,
        *,
        name: str,
        title: str,
        source: str,
        score: float,
        categories: list[str] | None = None,
        status: str = "active",
        ports: str = "",
        description: str = "",
    ) -> None:
        self.name = name
        self.title = title
        self.source = source  # catalog, local or iana
        self.score = score
        self.categories = categories or []
        self.status = status
        self.ports = ports
        self.description = description
        self.sources: list[dict[str, str]] | None = None  # filled in on request, like Match.sources
        self.as_of = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "score": round(self.score, 3),
            "categories": self.categories,
            "status": self.status,
            "ports": self.ports,
            "description": self.description,
            **_provenance(self.sources, self.as_of),
        }


class SearchResult(_Record):
    """Search hits plus the words the search actually used (after typo correction)."""

    __slots__ = ("corrections", "hits", "text")

    def __init__(self, text: str, hits: list[SearchHit], corrections: dict[str, str] | None = None) -> None:
        self.text = text
        self.hits = hits
        self.corrections = corrections or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.text,
            "corrections": self.corrections,
            "results": [h.to_dict() for h in self.hits],
        }
