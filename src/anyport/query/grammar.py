"""The lookup query grammar.

443            a port on every transport          443/tcp        a port on one transport
6000-6010      every service in a range           6000-6010/udp  a range on one transport
tcp/8443       the same as 8443/tcp               ip:47, ip:gre  an IP protocol
gre, esp, ah   IP protocol keywords (also looked up as names)
_ipp._tcp      a DNS-SD service type              anything else  a service name
"""

from __future__ import annotations

import re

from anyport.errors import QueryError
from anyport.protocols import ip_protocol_number, keyword_table
from anyport.vocab import TRANSPORTS

MAX_QUERY = 200


class _Patterns:
    """The grammar's regular expressions, compiled on first use: ``anyport 443`` never needs them."""

    def __init__(self) -> None:
        self.ports = re.compile(r"^(?P<start>[+-]?\d+)(?:\s*-\s*(?P<end>[+-]?\d+))?(?:\s*/\s*(?P<proto>[^/\s]*))?$")
        self.proto_first = re.compile(r"^(?P<proto>[A-Za-z]+)\s*/\s*(?P<rest>.+)$")
        self.dnssd = re.compile(r"^_[A-Za-z0-9][A-Za-z0-9-]{0,62}\._(tcp|udp)(\.local\.?)?$", re.IGNORECASE)
        self.slashed = re.compile(r"^(?P<left>[^/]+)/(?P<right>[A-Za-z]+)$")


_compiled: list[_Patterns] = []


def _patterns() -> _Patterns:
    if not _compiled:
        _compiled.append(_Patterns())
    return _compiled[0]


class Query:
    """A parsed query. ``transports`` is empty for "any transport"."""

    __slots__ = ("end", "ip_proto", "kind", "name", "start", "text", "transports")

    def __init__(
        self,
        text: str,
        kind: str,
        *,
        start: int = 0,
        end: int = 0,
        transports: tuple[str, ...] = (),
        ip_proto: int | None = None,
        name: str = "",
    ) -> None:
        self.text = text
        self.kind = kind  # port, range, ip, dnssd, name
        self.start = start
        self.end = end
        self.transports = transports
        self.ip_proto = ip_proto
        self.name = name

    def __repr__(self) -> str:
        return f"Query({self.text!r}, {self.kind!r}, start={self.start}, end={self.end}, transports={self.transports})"

    def normalised(self) -> str:
        suffix = f"/{self.transports[0]}" if len(self.transports) == 1 else ""
        if self.kind == "port":
            return f"{self.start}{suffix}"
        if self.kind == "range":
            return f"{self.start}-{self.end}{suffix}"
        if self.kind == "ip":
            return f"ip:{self.ip_proto}"
        if self.kind == "dnssd":
            return self.name
        return self.name


def parse_query(text: str) -> Query:
    """Parse one query; raises :class:`QueryError` with a one-line explanation."""
    if not isinstance(text, str):
        raise QueryError(f"a query is text, not {type(text).__name__}")
    raw = text.strip()
    if not raw:
        raise QueryError("empty query; give a port (443), a range (6000-6010/tcp), ip:47, or a service name")
    if len(raw) > MAX_QUERY:
        raise QueryError(f"query is {len(raw)} characters long; keep it under {MAX_QUERY}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise QueryError("query contains control characters; type the port or name as plain text")
    fast = _plain_port(raw)
    if fast is not None:
        return fast
    lowered = raw.lower()
    patterns = _patterns()
    if lowered.startswith("ip:"):
        value = raw[3:].strip()
        number = ip_protocol_number(value)
        if number is None:
            raise QueryError(
                f"{value!r} is not an IP protocol; use a number 0-255 or a keyword like gre, esp, ah, ospf"
            )
        return Query(raw, "ip", ip_proto=number, name=value.lower())
    proto_first = patterns.proto_first.match(raw)
    if proto_first and proto_first.group("proto").lower() in TRANSPORTS:
        raw_port = f"{proto_first.group('rest')}/{proto_first.group('proto')}"
        return _port_query(raw, raw_port)
    if patterns.ports.match(raw):
        return _port_query(raw, raw)
    if patterns.dnssd.match(raw):
        service_type = lowered.removesuffix(".").removesuffix(".local")
        return Query(raw, "dnssd", name=service_type)
    slashed = patterns.slashed.match(raw)
    if slashed and slashed.group("right").lower() in TRANSPORTS:
        raise QueryError(
            f"{slashed.group('left')!r} is not a port number; write a number 0-65535 before the /, like 443/tcp"
        )
    if lowered in keyword_table() and lowered not in TRANSPORTS:
        return Query(raw, "ip", ip_proto=keyword_table()[lowered], name=lowered)
    return Query(raw, "name", name=raw)


def _plain_port(raw: str) -> Query | None:
    """``443`` or ``443/tcp`` without regular expressions (the common case); None for anything else."""
    number, slash, proto = raw.partition("/")
    if not (number.isascii() and number.isdigit() and len(number) <= 6):
        return None
    port = int(number)
    if port > 65535:
        return None  # let the full grammar explain
    if not slash:
        return Query(raw, "port", start=port, end=port)
    proto = proto.lower()
    if proto in TRANSPORTS:
        return Query(raw, "port", start=port, end=port, transports=(proto,))
    return None


def _port_query(text: str, spec: str) -> Query:
    match = _patterns().ports.match(spec.strip())
    if not match:
        raise QueryError(f"{text!r} is not a port or range; write 443, 443/tcp or 6000-6010/udp")
    start_text, end_text, proto = match.group("start"), match.group("end"), match.group("proto")
    transports: tuple[str, ...] = ()
    if proto is not None:
        proto = proto.lower()
        if proto not in TRANSPORTS:
            if not proto:
                raise QueryError(f"{text!r} ends with '/'; add a transport: tcp, udp, sctp or dccp")
            raise QueryError(f"{proto!r} is not a transport; use tcp, udp, sctp or dccp")
        transports = (proto,)
    start = _port_number(start_text, text)
    end = _port_number(end_text, text) if end_text is not None else start
    if start > end:
        raise QueryError(f"range {start}-{end} runs backwards; did you mean {end}-{start}?")
    kind = "port" if start == end else "range"
    return Query(text, kind, start=start, end=end, transports=transports)


def _port_number(text: str, query: str) -> int:
    if text.startswith("-"):
        raise QueryError(f"{query!r}: ports cannot be negative; they are numbered 0-65535")
    number = int(text)
    if number > 65535:
        raise QueryError(f"port {number} is out of range; ports are numbered 0-65535")
    return number
