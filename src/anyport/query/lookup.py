"""Answer a lookup: every service that uses a port, range, IP protocol, DNS-SD type or name, best first.

Ranking follows real-world likelihood: curated fixed ports first, then narrow curated ranges, IANA-only names,
services that reach the port through a reference, broad and dynamic ranges, and trojan history last. nmap's
open-frequency (when nmap is installed) nudges the order within a tier; it never adds matches of its own.

This module is on the path of ``anyport 443``: it works from index rows and never builds full Service records.
"""

from __future__ import annotations

import json
import math

from anyport.catalog.risktags import TROJAN_TAG
from anyport.query.context import port_context
from anyport.query.grammar import Query, parse_query
from anyport.query.kb import KnowledgeBase, ServiceRow
from anyport.results import LookupResult, Match
from anyport.vocab import TRANSPORTS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATUS_FACTOR = {"active": 1.0, "obsolete": 0.85, "defunct": 0.7}
SOURCE_ORDER = {"local": 0, "catalog": 1, "iana": 2, "trojans": 3, "nmap": 4}
REFERENCE_FACTOR = 0.6
REFERENCE_DEPTH = 3
TROJAN_CONFIDENCE = 0.02
FLOOR = 0.03  # every curated or IANA match ranks above trojan history
SELECTED_NARROW = 10
_SPEC_COLUMNS = (
    "service, transport, start, end, allocation, via, label, role, direction, optional, uncertain, base, note"
)


class _Hit:
    """One row of the ranges table that a query touched."""

    __slots__ = (
        "allocation",
        "base",
        "direction",
        "end",
        "label",
        "note",
        "optional",
        "role",
        "service",
        "start",
        "transport",
        "uncertain",
        "via",
    )

    def __init__(self, service: ServiceRow, row: tuple[Any, ...]) -> None:
        self.service = service
        self.transport: str = row[1]
        self.start: int = row[2]
        self.end: int = row[3]
        self.allocation: str = row[4]
        self.via: str = row[5]
        self.label: str = row[6]
        self.role: str = row[7]
        self.direction: str = row[8]
        self.optional: bool = bool(row[9])
        self.uncertain: bool = bool(row[10])
        self.base: int | None = row[11]
        self.note: str = row[12]

    @property
    def width(self) -> int:
        return self.end - self.start + 1


def lookup(kb: KnowledgeBase, text: str) -> LookupResult:
    """Parse ``text`` and answer it."""
    query = parse_query(text)
    if query.kind in ("port", "range"):
        matches = _port_matches(kb, query)
        context = port_context(kb, query, matches)
    elif query.kind == "ip":
        matches = _ip_matches(kb, query)
        if query.name and not query.name.isdigit():
            matches += _name_matches(kb, query.name, exclude={m.name for m in matches})
        context = []
    elif query.kind == "dnssd":
        matches = _dnssd_matches(kb, query)
        context = [] if matches else [f"no known service advertises {query.name}"]
    else:
        matches = _name_matches(kb, query.name, exclude=set())
        context = [] if matches else _suggest(kb, query.name)
    for match in matches:
        if match.source != "trojans":
            match.confidence = min(1.0, max(FLOOR, match.confidence))
    matches.sort(key=lambda m: (-m.confidence, SOURCE_ORDER.get(m.source, 9), m.title.lower(), m.transport))
    return LookupResult(query=text.strip(), kind=query.kind, matches=matches, context=context)


# -- ports and ranges ---------------------------------------------------------------------------------------


def _transports(query: Query) -> tuple[str, ...]:
    return query.transports or TRANSPORTS


def _catalog_hits(kb: KnowledgeBase, query: Query) -> list[_Hit]:
    transports = _transports(query)
    marks = ",".join("?" * len(transports))
    rows = kb.rows(
        f"SELECT {_SPEC_COLUMNS} FROM ranges "
        f"WHERE transport IN ({marks}) AND start <= ? AND end >= ? ORDER BY service, spec, start",
        (*transports, query.end, query.start),
    )
    services = kb.summaries([row[0] for row in rows])
    return [_Hit(services[row[0]], row) for row in rows if row[0] in services]


def _nmap_frequency(kb: KnowledgeBase, query: Query) -> dict[tuple[str, str], float]:
    """(transport, lower-case nmap name) -> open frequency, for the queried port only."""
    if query.kind != "port" or not kb.nmap_available:
        return {}
    rows = kb.rows("SELECT transport, name, frequency FROM nmap WHERE port = ?", (query.start,))
    return {(t, n.lower()): f for t, n, f in rows}


def _nmap_boost(freq: dict[tuple[str, str], float], transport: str, names: list[str]) -> float:
    best = max((freq.get((transport, n.lower()), 0.0) for n in names), default=0.0)
    return 0.05 * min(1.0, best / 0.01)


def _spec_score(hit: _Hit, query: Query) -> tuple[float, str]:
    width = hit.width
    # A conventional port the admin may change (WireGuard's 51820) is still strong evidence; a broad range
    # that the program or the admin picks from is not.
    conventional = hit.allocation == "selected" and width <= SELECTED_NARROW
    if (hit.allocation in ("dynamic", "negotiated", "selected") and not conventional) or hit.via:
        score, kind = 0.35 - 0.05 * math.log10(width), "dynamic"
    elif width == 1 or (hit.allocation == "family" and query.kind == "port" and query.start == hit.base):
        score, kind = 0.9, "exact"
    else:
        score, kind = 0.85 - 0.08 * math.log10(width), "range"
    if conventional:
        score *= 0.9
    # A port that is one of many a service opens identifies it less than a service's only port does.
    score -= 0.005 * min(6, hit.service.range_count - 1)
    score *= STATUS_FACTOR.get(hit.service.status, 1.0)
    if hit.direction == "outbound":
        # The service only connects out to this port: whatever listens there is something else (often https).
        score *= 0.6
    if hit.uncertain:
        score *= 0.85
    if hit.optional:
        score *= 0.95
    if hit.service.origin == "local":
        score += 0.05
    return score, kind


def _why_port(hit: _Hit, kind: str) -> str:
    where = f"{hit.start}/{hit.transport}" if hit.width == 1 else f"{hit.start}-{hit.end}/{hit.transport}"
    if hit.via:
        return f"{hit.label} is {hit.via.split(':', 1)[1]}'s ports paired with an offset ({where})"
    if kind == "dynamic":
        label = "negotiated" if hit.allocation == "negotiated" else hit.allocation
    elif kind == "exact":
        label = "fixed port"
    else:
        label = "family" if hit.allocation == "family" else "range"
    return f"{label} {where} ({hit.role})"


def _port_matches(kb: KnowledgeBase, query: Query) -> list[Match]:
    freq = _nmap_frequency(kb, query)
    iana_rows = _iana_rows(kb, query)
    iana_names = {(t, n.lower()) for n, t, _s, _e, _d in iana_rows if n}
    best: dict[tuple[str, str, str], Match] = {}
    for hit in _catalog_hits(kb, query):
        score, kind = _spec_score(hit, query)
        service = hit.service
        backed = [n for n in service.registered if (hit.transport, n.lower()) in iana_names]
        if backed:
            score += 0.03
        score += _nmap_boost(freq, hit.transport, [service.id, *service.aliases, *service.registered])
        match = _service_match(service, hit.transport, kind, min(score, 1.0), _why_port(hit, kind))
        match.allocation = hit.allocation
        match.role = hit.role
        match.direction = hit.direction
        match.note = hit.note
        match.span = hit.width
        match.iana = backed
        _keep_best(best, match)
    for match in _reference_matches(kb, list(best.values())):
        _keep_best(best, match)
    claimed = {(m.transport, n.lower()) for m in best.values() for n in m.iana}
    for name, transport, start, end, description in iana_rows:
        if not name or (transport, name.lower()) in claimed:
            continue
        width = end - start + 1
        score = 0.5 if width == 1 else 0.45 - 0.05 * math.log10(width)
        score += _nmap_boost(freq, transport, [name])
        ports = str(start) if width == 1 else f"{start}-{end}"
        match = Match(
            name=name,
            title=description or name,
            transport=transport,
            ports=ports,
            match="exact" if width == 1 else "range",
            source="iana",
            confidence=score,
            why=f"IANA registers {ports}/{transport} as {name}",
            description=description,
            iana=[name],
            span=width,
        )
        _keep_best(best, match)
    for match in _trojan_matches(kb, query):
        _keep_best(best, match)
    return list(best.values())


def _iana_rows(kb: KnowledgeBase, query: Query) -> list[tuple[str, str, int, int, str]]:
    transports = _transports(query)
    marks = ",".join("?" * len(transports))
    return [
        (r[0], r[1], r[2], r[3], r[4])
        for r in kb.rows(
            f"SELECT name, transport, start, end, description FROM iana "
            f"WHERE transport IN ({marks}) AND start <= ? AND end >= ? ORDER BY start, transport, name",
            (*transports, query.end, query.start),
        )
    ]


def _trojan_matches(kb: KnowledgeBase, query: Query) -> list[Match]:
    transports = _transports(query)
    marks = ",".join("?" * len(transports))
    matches = []
    for port, transport, names_json in kb.rows(
        f"SELECT port, transport, names FROM trojans WHERE port BETWEEN ? AND ? AND transport IN ({marks}) "
        "ORDER BY port, transport",
        (query.start, query.end, *transports),
    ):
        names = json.loads(names_json)
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        matches.append(
            Match(
                name=f"trojans-{port}-{transport}",
                title=f"Trojan history: {shown}",
                transport=transport,
                ports=str(port),
                match="exact",
                source="trojans",
                confidence=TROJAN_CONFIDENCE,
                why=f"{port}/{transport} was historically used by trojans or backdoors (OpenVAS trojan list)",
                description="; ".join(names),
                risks=[f"{port}/{transport} has trojan and backdoor history: {shown}"],
                risk_tags=[TROJAN_TAG],
            )
        )
    return matches


def _service_match(service: ServiceRow, transport: str, kind: str, score: float, why: str) -> Match:
    return Match(
        name=service.id,
        title=service.title,
        transport=transport,
        ports=service.ports.get(transport, ""),
        match=kind,
        source="local" if service.origin == "local" else "catalog",
        confidence=score,
        why=why,
        aliases=list(service.aliases),
        categories=list(service.categories),
        description=service.description,
        risks=list(service.risks),
        risk_tags=list(service.risk_tags),
        status=service.status,
        allocation="",
    )


def _keep_best(best: dict[tuple[str, str, str], Match], match: Match) -> None:
    key = (match.source, match.name, match.transport)
    current = best.get(key)
    if current is None or match.confidence > current.confidence:
        best[key] = match


def _reference_matches(kb: KnowledgeBase, direct: list[Match]) -> list[Match]:
    """Services that use a matched service through ``ref`` (NetMeeting uses LDAP...), a few levels deep."""
    found: list[Match] = []
    frontier = [m for m in direct if m.source in ("catalog", "local")]
    seen = {(m.name, m.transport) for m in direct}
    for _depth in range(REFERENCE_DEPTH):
        if not frontier:
            break
        referrers = kb.referrers_of([m.name for m in frontier])
        rows = kb.summaries([sid for sids in referrers.values() for sid in sids])
        next_frontier = []
        for match in frontier:
            for sid in referrers.get(match.name, ()):
                service = rows.get(sid)
                if service is None or (sid, match.transport) in seen:
                    continue
                seen.add((sid, match.transport))
                score = min(match.confidence * REFERENCE_FACTOR, 0.5) * STATUS_FACTOR.get(service.status, 1.0)
                ref_match = _service_match(
                    service, match.transport, "reference", score, f"uses {match.name}: {match.why}"
                )
                ref_match.ports = match.ports
                ref_match.allocation = match.allocation
                ref_match.span = match.span
                found.append(ref_match)
                next_frontier.append(ref_match)
        frontier = next_frontier
    return found


# -- IP protocols, DNS-SD, names ----------------------------------------------------------------------------


def _ip_matches(kb: KnowledgeBase, query: Query) -> list[Match]:
    best: dict[tuple[str, str, str], Match] = {}
    rows = kb.rows(
        f"SELECT {_SPEC_COLUMNS} FROM ranges WHERE transport = 'ip' AND start = ? ORDER BY service, spec",
        (query.ip_proto,),
    )
    for row in rows:
        service = kb.summary(row[0])
        if service is None:
            continue
        hit = _Hit(service, row)
        score = 0.9 * STATUS_FACTOR.get(service.status, 1.0)
        match = _service_match(service, "ip", "exact", score, f"uses IP protocol {query.ip_proto} ({hit.role})")
        match.role, match.direction, match.note = hit.role, hit.direction, hit.note
        _keep_best(best, match)
    for match in _reference_matches(kb, list(best.values())):
        _keep_best(best, match)
    protocol = kb.rows("SELECT keyword, name FROM protocols WHERE number = ?", (query.ip_proto,))
    if protocol:
        keyword, name = protocol[0]
        same = best.get(("catalog", (keyword or "").lower(), "ip"))
        if same is not None:  # the curated entry is IANA's protocol itself: say so there, not twice
            same.iana.append(keyword)
            same.why += f"; IANA assigns protocol {query.ip_proto} to {keyword}"
            return list(best.values())
        match = Match(
            name=(keyword or str(query.ip_proto)).lower(),
            title=f"{keyword} ({name})" if keyword and name else (keyword or name or "unnamed"),
            transport="ip",
            ports=str(query.ip_proto),
            match="exact",
            source="iana",
            confidence=0.5,
            why=f"IANA assigns IP protocol number {query.ip_proto} to {keyword or name}",
            description=name,
        )
        _keep_best(best, match)
    return list(best.values())


def _dnssd_matches(kb: KnowledgeBase, query: Query) -> list[Match]:
    matches = []
    rows = kb.rows(
        f"SELECT {_SPEC_COLUMNS} FROM dnssd JOIN ranges USING (service, spec) WHERE type = ? ORDER BY service, start",
        (query.name,),
    )
    seen = set()
    for row in rows:
        service = kb.summary(row[0])
        if service is None or (row[0], row[1]) in seen:
            continue
        seen.add((row[0], row[1]))
        hit = _Hit(service, row)
        match = _service_match(service, hit.transport, "exact", 0.95, f"advertises {query.name} on {hit.label}")
        match.role, match.direction, match.note = hit.role, hit.direction, hit.note
        matches.append(match)
    return matches


def _name_matches(kb: KnowledgeBase, name: str, exclude: set[str]) -> list[Match]:
    matches = []
    claimed: set[str] = set()
    scores = {"id": 1.0, "title": 1.0, "alias": 0.95, "registered": 0.9}
    labels = {"id": "id", "title": "title", "alias": "alias", "registered": "IANA name"}
    for sid, kind in kb.resolve_name(name):
        service = kb.summary(sid)
        if sid in exclude or service is None:
            continue
        claimed.update(n.lower() for n in service.registered)
        score = scores[kind] * STATUS_FACTOR.get(service.status, 1.0)
        for transport in sorted(service.ports) or [""]:
            matches.append(_service_match(service, transport, "name", score, f"{labels[kind]} '{name}'"))
    for rec_name, transport, start, end, description in kb.rows(
        "SELECT name, transport, start, end, description FROM iana WHERE name = ? COLLATE NOCASE "
        "AND start IS NOT NULL ORDER BY transport, start",
        (name.strip(),),
    ):
        if rec_name.lower() in claimed:
            continue
        ports = str(start) if start == end else f"{start}-{end}"
        matches.append(
            Match(
                name=rec_name,
                title=description or rec_name,
                transport=transport,
                ports=ports,
                match="name",
                source="iana",
                confidence=0.7,
                why=f"IANA service name {rec_name} ({ports}/{transport})",
                description=description,
                iana=[rec_name],
            )
        )
    return matches


def _suggest(kb: KnowledgeBase, name: str) -> list[str]:
    from anyport.query.search import closest_names

    close = closest_names(kb, name)
    hint = f"; did you mean {', '.join(close)}?" if close else "; try 'anyport search' with a word from its name"
    return [f"no service named {name!r}{hint}"]
