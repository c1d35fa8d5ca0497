"""Typed records of the knowledge base: services, their port specs and sources."""

from __future__ import annotations

from dataclasses import dataclass

from anyport.vocab import TRANSPORTS


@dataclass(frozen=True, order=True)
class PortRange:
    """An inclusive range of port numbers (a single port has ``start == end``)."""

    start: int
    end: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.start <= port <= self.end

    @property
    def width(self) -> int:
        return self.end - self.start + 1

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"


def merge_ranges(ranges: list[PortRange]) -> list[PortRange]:
    """Sort ranges and merge the ones that overlap or touch."""
    merged: list[PortRange] = []
    for rng in sorted(ranges):
        if merged and rng.start <= merged[-1].end + 1:
            last = merged[-1]
            merged[-1] = PortRange(last.start, max(last.end, rng.end))
        else:
            merged.append(rng)
    return merged


def format_ranges(ranges: tuple[PortRange, ...] | list[PortRange]) -> str:
    """``"6881-6889,6969"`` for a list of ranges."""
    return ",".join(str(r) for r in ranges)


@dataclass(frozen=True)
class Source:
    """Where a fact comes from: one of url, rfc, kb, seed or iana, with an optional title."""

    kind: str
    value: str
    title: str = ""

    def __str__(self) -> str:
        if self.kind == "rfc":
            text = f"RFC {self.value}"
        elif self.kind == "seed":
            text = f"Any Port in a Datastorm: {self.value}"
        elif self.kind == "iana":
            text = f"IANA: {self.value}"
        else:
            text = self.value
        return f"{text} ({self.title})" if self.title and self.kind != "url" else text

    @property
    def url(self) -> str:
        if self.kind == "url":
            return self.value
        if self.kind == "rfc":
            return f"https://www.rfc-editor.org/rfc/rfc{self.value}"
        return ""


@dataclass(frozen=True)
class PortSpec:
    """One line of what a service opens: ports on a transport, an IP protocol, or a reference."""

    kind: str  # "port", "ip" or "ref"
    transport: str = ""  # tcp/udp/sctp/dccp for "port"; "ip" for "ip"
    ranges: tuple[PortRange, ...] = ()
    ip_proto: int | None = None
    ref: str = ""
    role: str = "control"
    direction: str = "inbound"
    allocation: str = "fixed"
    base: int | None = None
    optional: bool = False
    uncertain: bool = False
    helper: str = ""
    multicast: tuple[str, ...] = ()
    dnssd: str = ""
    pair_ref: str = ""
    pair_offset: int = 0
    tls: bool | None = None
    note: str = ""
    line: int = 0

    @property
    def ports(self) -> str:
        return format_ranges(self.ranges)

    def describe(self) -> str:
        """A short human label: ``6881-6889/tcp``, ``ip 47``, ``-> ldap``."""
        if self.kind == "ref":
            return f"-> {self.ref}"
        if self.kind == "ip":
            return f"ip {self.ip_proto}"
        return f"{self.ports}/{self.transport}"


@dataclass(frozen=True)
class Service:
    """A curated or local service definition."""

    id: str
    title: str
    description: str
    status: str = "active"
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    notes: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()
    risk_tags: tuple[str, ...] = ()  # from anyport.catalog.risktags, most important first
    registered: tuple[str, ...] = ()
    seed: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    as_of: str = ""
    origin: str = "catalog"  # "catalog" or "local"
    file: str = ""
    line: int = 0

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(spec.ref for spec in self.ports if spec.kind == "ref")

    def port_summary(self) -> str:
        """``"6881-6889,6969/tcp 6881-6889/udp ip 47"``: every port this service opens itself."""
        parts = []
        for transport in TRANSPORTS:
            ranges = [r for s in self.ports if s.kind == "port" and s.transport == transport for r in s.ranges]
            if ranges:
                parts.append(f"{format_ranges(merge_ranges(ranges))}/{transport}")
        parts += [f"ip {s.ip_proto}" for s in self.ports if s.kind == "ip"]
        return " ".join(parts)
