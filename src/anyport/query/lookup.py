"""Answer a lookup: every service that uses a port, range, IP protocol, DNS-SD type or name, best first.

Ranking follows real-world likelihood: curated fixed ports first, then narrow curated ranges, IANA-only names,
services that reach the port through a reference, broad and dynamic ranges, and trojan history last. nmap's
open-frequency (when nmap is installed) nudges the order within a tier; it never adds matches of its own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from anyport.model import TRANSPORTS, PortRange, PortSpec, Service, format_ranges, merge_ranges
from anyport.query.context import port_context
from anyport.query.grammar import Query, parse_query
from anyport.query.kb import KnowledgeBase
from anyport.results import LookupResult, Match

STATUS_FACTOR = {"active": 1.0, "obsolete": 0.85, "defunct": 0.7}
SOURCE_ORDER = {"local": 0, "catalog": 1, "iana": 2, "trojans": 3, "nmap": 4}
REFERENCE_FACTOR = 0.6
REFERENCE_DEPTH = 3
TROJAN_CONFIDENCE = 0.08


@dataclass
class _Hit:
    service: Service
    spec: PortSpec
    transport: str
    matched: PortRange
    via: str  # "" or "pair:<id>"


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
    matches.sort(key=lambda m: (-m.confidence, SOURCE_ORDER.get(m.source, 9), m.title.lower(), m.transport))
    return LookupResult(query=text.strip(), kind=query.kind, matches=matches, context=context)


# -- ports and ranges ---------------------------------------------------------------------------------------


def _transports(query: Query) -> tuple[str, ...]:
    return query.transports or TRANSPORTS


def _catalog_hits(kb: KnowledgeBase, query: Query) -> list[_Hit]:
    transports = _transports(query)
    marks = ",".join("?" * len(transports))
    rows = kb.rows(
        f"SELECT service, spec, transport, start, end, via FROM ranges "
        f"WHERE transport IN ({marks}) AND start <= ? AND end >= ? ORDER BY service, spec, start",
        (*transports, query.end, query.start),
    )
    hits = []
    for sid, spec_index, transport, start, end, via in rows:
        service = kb.service(sid)
        if service is None:  # pragma: no cover - the index is built consistently
            continue
        hits.append(_Hit(service, service.ports[spec_index], transport, PortRange(start, end), via))
    return hits


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
    spec, width = hit.spec, hit.matched.width
    if spec.allocation in ("dynamic", "negotiated", "selected") or hit.via:
        score, kind = 0.35 - 0.05 * math.log10(width), "dynamic"
    elif width == 1 or (spec.allocation == "family" and query.kind == "port" and query.start == spec.base):
        score, kind = 0.9, "exact"
    else:
        score, kind = 0.85 - 0.08 * math.log10(width), "range"
    score *= STATUS_FACTOR.get(hit.service.status, 1.0)
    if spec.uncertain:
        score *= 0.85
    if spec.optional:
        score *= 0.95
    if hit.service.origin == "local":
        score += 0.05
    return score, kind


def _why_port(hit: _Hit, kind: str) -> str:
    spec = hit.spec
    where = f"{hit.matched}/{hit.transport}"
    if hit.via:
        return f"{spec.describe()} pairs with {hit.via.split(':', 1)[1]}'s ports + {spec.pair_offset} ({where})"
    labels = {
        "dynamic": "negotiated" if spec.allocation == "negotiated" else spec.allocation,
        "exact": "fixed port",
        "range": "family" if spec.allocation == "family" else "range",
    }
    text = f"{labels[kind]} {where}"
    if spec.role:
        text += f" ({spec.role})"
    return text


def _port_matches(kb: KnowledgeBase, query: Query) -> list[Match]:
    freq = _nmap_frequency(kb, query)
    iana_rows = _iana_rows(kb, query)
    iana_names = {(t, n.lower()) for n, t, _s, _e, _d in iana_rows if n}
    best: dict[tuple[str, str, str], Match] = {}
    for hit in _catalog_hits(kb, query):
        score, kind = _spec_score(hit, query)
        names = [hit.service.id, *hit.service.aliases, *hit.service.registered]
        backed = [n for n in hit.service.registered if (hit.transport, n.lower()) in iana_names]
        if backed:
            score += 0.03
        score += _nmap_boost(freq, hit.transport, names)
        match = _service_match(hit.service, hit.transport, kind, min(score, 1.0), _why_port(hit, kind), hit.spec)
        match.iana = backed
        _keep_best(best, match)
    direct = list(best.values())
    for match in _reference_matches(kb, direct):
        _keep_best(best, match)
    claimed = {(m.transport, n.lower()) for m in best.values() for n in m.iana}
    claimed |= {(m.transport, n.lower()) for m in best.values() if m.source != "iana" for n in [m.name]}
    for name, transport, start, end, description in iana_rows:
        if not name or (transport, name.lower()) in claimed:
            continue
        width = end - start + 1
        score = 0.5 if width == 1 else 0.45 - 0.05 * math.log10(width)
        score += _nmap_boost(freq, transport, [name])
        kind = "exact" if width == 1 else "range"
        where = f"{start}/{transport}" if width == 1 else f"{start}-{end}/{transport}"
        match = Match(
            name=name,
            title=description or name,
            transport=transport,
            ports=where.split("/")[0],
            match=kind,
            source="iana",
            confidence=score,
            why=f"IANA registers {where} as {name}",
            description=description,
            iana=[name],
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
            )
        )
    return matches


def _service_match(service: Service, transport: str, kind: str, score: float, why: str, spec: PortSpec | None) -> Match:
    ranges = [r for s in service.ports if s.kind == "port" and s.transport == transport for r in s.ranges]
    if transport == "ip":
        ports = ",".join(str(s.ip_proto) for s in service.ports if s.kind == "ip")
    else:
        ports = format_ranges(merge_ranges(ranges))
    return Match(
        name=service.id,
        title=service.title,
        transport=transport,
        ports=ports,
        match=kind,
        source="local" if service.origin == "local" else "catalog",
        confidence=score,
        why=why,
        aliases=list(service.aliases),
        categories=list(service.categories),
        description=service.description,
        risks=list(service.risks),
        status=service.status,
        allocation=spec.allocation if spec else "",
        role=spec.role if spec else "",
        direction=spec.direction if spec else "",
        note=spec.note if spec else "",
    )


def _keep_best(best: dict[tuple[str, str, str], Match], match: Match) -> None:
    key = (match.source, match.name, match.transport)
    current = best.get(key)
    if current is None or match.confidence > current.confidence:
        best[key] = match


def _reference_matches(kb: KnowledgeBase, direct: list[Match]) -> list[Match]:
    """Services that use a matched service through ``ref`` (NetMeeting uses LDAP...), a few levels deep."""
    found: list[Match] = []
    frontier = [(m, 1) for m in direct if m.source in ("catalog", "local")]
    seen = {m.name for m in direct}
    while frontier:
        match, depth = frontier.pop(0)
        for sid in kb.referrers(match.name):
            if sid in seen:
                continue
            service = kb.service(sid)
            if service is None:
                continue
            seen.add(sid)
            score = min(match.confidence * REFERENCE_FACTOR, 0.5) * STATUS_FACTOR.get(service.status, 1.0)
            ref_match = _service_match(
                service,
                match.transport,
                "reference",
                score,
                f"uses {match.title} ({match.name}), which matched: {match.why}",
                None,
            )
            ref_match.ports = match.ports
            found.append(ref_match)
            if depth < REFERENCE_DEPTH:
                frontier.append((ref_match, depth + 1))
    return found


# -- IP protocols, DNS-SD, names ----------------------------------------------------------------------------


def _ip_matches(kb: KnowledgeBase, query: Query) -> list[Match]:
    assert query.ip_proto is not None
    best: dict[tuple[str, str, str], Match] = {}
    rows = kb.rows(
        "SELECT service, spec FROM ranges WHERE transport = 'ip' AND start = ? ORDER BY service, spec",
        (query.ip_proto,),
    )
    for sid, spec_index in rows:
        service = kb.service(sid)
        if service is None:
            continue
        spec = service.ports[spec_index]
        score = 0.9 * STATUS_FACTOR.get(service.status, 1.0)
        match = _service_match(service, "ip", "exact", score, f"uses IP protocol {query.ip_proto}", spec)
        _keep_best(best, match)
    for match in _reference_matches(kb, list(best.values())):
        _keep_best(best, match)
    protocol = kb.rows("SELECT keyword, name FROM protocols WHERE number = ?", (query.ip_proto,))
    if protocol:
        keyword, name = protocol[0]
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
    for sid, spec_index in kb.rows("SELECT service, spec FROM dnssd WHERE type = ? ORDER BY service", (query.name,)):
        service = kb.service(sid)
        if service is None:
            continue
        spec = service.ports[spec_index]
        match = _service_match(
            service, spec.transport, "exact", 0.95, f"advertises {query.name} on {spec.describe()}", spec
        )
        matches.append(match)
    return matches


def _name_matches(kb: KnowledgeBase, name: str, exclude: set[str]) -> list[Match]:
    matches = []
    claimed: set[str] = set()
    scores = {"id": 1.0, "title": 1.0, "alias": 0.95, "registered": 0.9}
    for sid, kind in kb.resolve_name(name):
        if sid in exclude:
            continue
        service = kb.service(sid)
        if service is None:
            continue
        claimed.update(n.lower() for n in service.registered)
        transports = sorted({s.transport for s in service.ports if s.kind in ("port", "ip")})
        why = {"id": "id", "title": "title", "alias": "alias", "registered": "IANA name"}[kind]
        for transport in transports or [""]:
            match = _service_match(
                service,
                transport,
                "name",
                scores[kind] * STATUS_FACTOR.get(service.status, 1.0),
                f"{why} '{name}'",
                None,
            )
            matches.append(match)
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
