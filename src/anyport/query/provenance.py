"""Where an answer comes from: the sources and as-of date of each lookup match or search hit.

Catalog and local services carry their own ``sources`` and ``as_of``; IANA answers name the registry and the
record's own dates; trojan history and nmap frequencies name their data sets. A source is the dictionary of
:func:`anyport.serialize.source_to_dict` (``kind``, ``value``, optional ``title`` and ``url``); data sets that are
not a catalog source kind use ``kind: dataset``.
"""

from __future__ import annotations

import json

from anyport.query.kb import KnowledgeBase

TYPE_CHECKING = False
if TYPE_CHECKING:
    from anyport.results import LookupResult, Match, SearchResult

IANA_PORTS_URL = "https://www.iana.org/assignments/service-names-port-numbers/"
IANA_PROTOCOLS_URL = "https://www.iana.org/assignments/protocol-numbers/"
IANA_PROTOCOLS_TITLE = "IANA Assigned Internet Protocol Numbers"
TROJANS_SOURCE = {
    "kind": "dataset",
    "value": "OpenVAS trojan_horses.nasl list",
    "title": "historical trojan and backdoor ports, about 1998-2008",
}


def service_sources(kb: KnowledgeBase, sid: str) -> tuple[list[dict[str, str]], str]:
    """A catalog or local service's sources and as-of date (empty when the id is unknown)."""
    # Read from the stored JSON (already in source_to_dict's shape): no Service objects, no dataclasses import.
    row = kb.rows(
        "SELECT json_extract(doc, '$.sources'), json_extract(doc, '$.as_of') FROM services WHERE id = ?", (sid,)
    )
    if not row:
        return [], ""
    sources: list[dict[str, str]] = json.loads(row[0][0] or "[]")
    return sources, row[0][1] or ""


def iana_sources(kb: KnowledgeBase, name: str, transport: str) -> tuple[list[dict[str, str]], str]:
    """The registry entry behind an IANA answer (``transport`` "" for any); as of the record's own dates."""
    if transport == "ip":
        return [{"kind": "dataset", "value": IANA_PROTOCOLS_TITLE, "url": IANA_PROTOCOLS_URL}], ""
    rows = kb.rows(
        "SELECT max(modified), max(registered) FROM iana WHERE name = ? COLLATE NOCASE AND (? = '' OR transport = ?)",
        (name, transport, transport),
    )
    modified, registered = rows[0] if rows else ("", "")
    as_of = modified or registered or kb.meta().get("iana_newest_modification", "")
    source = {"kind": "iana", "value": name, "url": IANA_PORTS_URL}
    return [source], as_of


def match_sources(kb: KnowledgeBase, match: Match) -> tuple[list[dict[str, str]], str]:
    """Sources and as-of date of one lookup match, whatever answered it."""
    if match.source in ("catalog", "local"):
        return service_sources(kb, match.name)
    if match.source == "iana":
        return iana_sources(kb, match.name, match.transport)
    if match.source == "trojans":
        return [dict(TROJANS_SOURCE)], ""
    return [{"kind": "dataset", "value": "nmap-services", "title": "open-port frequencies read on this machine"}], ""


def add_lookup_sources(kb: KnowledgeBase, result: LookupResult) -> LookupResult:
    """Fill in ``sources`` and ``as_of`` of every match (they then appear in ``to_dict``)."""
    for match in result.matches:
        match.sources, match.as_of = match_sources(kb, match)
    return result


def add_search_sources(kb: KnowledgeBase, result: SearchResult) -> SearchResult:
    """Fill in ``sources`` and ``as_of`` of every search hit."""
    for hit in result.hits:
        if hit.source in ("catalog", "local"):
            hit.sources, hit.as_of = service_sources(kb, hit.name)
        else:
            hit.sources, hit.as_of = iana_sources(kb, hit.name, "")
    return result


def source_text(source: dict[str, str]) -> tuple[str, str]:
    """(text, web address or "") of a source, for pages that make the address a link."""
    kind, value, title, url = source["kind"], source["value"], source.get("title", ""), source.get("url", "")
    if kind == "url":
        return (title or value), value
    text = {"rfc": f"RFC {value}", "seed": f"Any Port in a Datastorm: {value}", "iana": f"IANA: {value}"}.get(
        kind, value
    )
    return (f"{text} ({title})" if title else text), url


def source_label(source: dict[str, str]) -> str:
    """One line for a person: ``RFC 2637 <https://…>``, ``BEP 3 (title) <https://…>``, ``IANA: pptp``."""
    text, url = source_text(source)
    return f"{text} <{url}>" if url else text
