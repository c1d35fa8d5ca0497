"""What the query API returns: typed, and convertible to the documented JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from anyport.model import PortSpec, Service
from anyport.serialize import service_to_dict, spec_to_dict

MATCH_KINDS = ("exact", "range", "dynamic", "reference", "name")
MATCH_SOURCES = ("catalog", "local", "iana", "trojans", "nmap")


@dataclass
class Match:
    """One answer to a lookup: a service (or registry record) and why it matched."""

    name: str
    title: str
    transport: str
    ports: str
    match: str  # one of MATCH_KINDS
    source: str  # one of MATCH_SOURCES
    confidence: float
    why: str
    aliases: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    description: str = ""
    risks: list[str] = field(default_factory=list)
    status: str = "active"
    allocation: str = "fixed"
    role: str = ""
    direction: str = ""
    iana: list[str] = field(default_factory=list)
    note: str = ""

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
            "why": self.why,
            "status": self.status,
            "allocation": self.allocation,
            "role": self.role,
            "direction": self.direction,
            "iana": self.iana,
            "note": self.note,
        }


@dataclass
class LookupResult:
    """All matches for one query, best first, with context about the port itself."""

    query: str
    kind: str  # port, range, ip, dnssd, name
    matches: list[Match]
    context: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "kind": self.kind,
            "matches": [m.to_dict() for m in self.matches],
            "context": self.context,
        }


@dataclass
class ResolvedSpec:
    """A port spec of a service or of a service it references; ``via`` is the chain of references."""

    service: str
    spec: PortSpec
    via: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = spec_to_dict(self.spec)
        data.pop("line", None)
        return {"service": self.service, "via": self.via, **data}


@dataclass
class ServiceInfo:
    """Everything needed to open a service: its own specs, referenced ones, and warnings."""

    service: Service
    resolved: list[ResolvedSpec]
    warnings: list[str]
    referenced: list[Service] = field(default_factory=list)
    iana: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = service_to_dict(self.service)
        data["resolved"] = [r.to_dict() for r in self.resolved]
        data["warnings"] = self.warnings
        data["referenced"] = [s.id for s in self.referenced]
        data["iana"] = self.iana
        return data


@dataclass
class SearchHit:
    """A search result."""

    name: str
    title: str
    source: str  # catalog, local or iana
    score: float
    categories: list[str] = field(default_factory=list)
    status: str = "active"
    ports: str = ""
    description: str = ""

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
        }


@dataclass
class SearchResult:
    """Search hits plus the words the search actually used (after typo correction)."""

    text: str
    hits: list[SearchHit]
    corrections: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.text,
            "corrections": self.corrections,
            "results": [h.to_dict() for h in self.hits],
        }
