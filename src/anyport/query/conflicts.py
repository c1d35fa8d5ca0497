"""Where curated knowledge disagrees with IANA, found by reading the index only.

Two kinds of disagreement:

``practice``
    A curated service uses a fixed port (or a narrow fixed range) that IANA registers to a different service:
    WASTE on 1337, which IANA gives to Men & Mice DNS. A registration counts as the service's own when its name
    (or that name without the "s" of a TLS variant, ``ads-s``) or description matches the service's id, title,
    aliases, ``registered`` names or ``iana`` sources, or those of a service it references. It is no conflict
    either when it belongs to a protocol other catalog entries build on (``https``, ``ssdp``, ``sip``...: a chat
    client reaching 443 speaks HTTPS there, as registered), or when the spec is outbound and a catalog entry is
    the registered service (Zabbix server connecting to the agents' port).
``claim``
    A curated entry says IANA registers a name for it (``registered:``, or an ``iana:`` source), but IANA has no
    such name, assigns it no port, or assigns it ports the entry does not open.
"""

from __future__ import annotations

import json
import re

from anyport.errors import QueryError
from anyport.query.kb import KnowledgeBase

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KINDS = ("practice", "claim")
NARROW = 10  # fixed ranges up to this many ports still name the ports a service really uses
WIDE = 256  # registry ranges at least this wide are searched, not spread out port by port
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


class ConflictService:
    """A curated service taking part in a conflict, with where its facts come from."""

    __slots__ = (
        "as_of",
        "direction",
        "file",
        "line",
        "name",
        "origin",
        "ports",
        "role",
        "sources",
        "status",
        "title",
        "uncertain",
    )

    def __init__(self, doc: dict[str, Any], *, ports: str = "", role: str = "", direction: str = "") -> None:
        self.name: str = doc["id"]
        self.title: str = doc["title"]
        self.status: str = doc["status"]
        self.origin: str = doc["origin"]
        self.sources: list[dict[str, str]] = doc["sources"]
        self.as_of: str = doc["as_of"]
        self.file: str = doc["file"]
        self.line: int = doc["line"]
        self.ports = ports
        self.role = role
        self.direction = direction
        self.uncertain = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "origin": self.origin,
            "ports": self.ports,
            "role": self.role,
            "direction": self.direction,
            "uncertain": self.uncertain,
            "sources": self.sources,
            "as_of": self.as_of,
            "file": self.file,
            "line": self.line,
        }


class Conflict:
    """One disagreement: a port (or a claimed name) where the catalog and IANA's registry differ."""

    __slots__ = ("claim", "iana", "kind", "port", "services", "transport", "why")

    def __init__(
        self,
        *,
        kind: str,
        port: int | None,
        transport: str,
        services: list[ConflictService],
        iana: list[dict[str, Any]],
        why: str,
        claim: str = "",
    ) -> None:
        self.kind = kind  # one of KINDS
        self.port = port  # None for a claimed name IANA gives no port (or does not know)
        self.transport = transport
        self.services = services
        self.iana = iana  # {name, description, transport, ports}
        self.why = why
        self.claim = claim  # the claimed IANA name (kind "claim")

    def sort_key(self) -> tuple[int, str, int, str, str]:
        first = self.services[0].name if self.services else ""
        return (-1 if self.port is None else self.port, self.transport, KINDS.index(self.kind), self.claim, first)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "port": self.port,
            "transport": self.transport,
            "claim": self.claim,
            "why": self.why,
            "services": [s.to_dict() for s in self.services],
            "iana": self.iana,
        }


class ConflictReport:
    """Every conflict found, in a fixed order (port, transport, kind), with counts by kind."""

    __slots__ = ("as_of", "conflicts", "iana_as_of")

    def __init__(self, conflicts: list[Conflict], *, as_of: str = "", iana_as_of: str = "") -> None:
        self.conflicts = conflicts
        self.as_of = as_of  # newest as-of date of the curated services involved
        self.iana_as_of = iana_as_of  # the registry's own date, when the index records it

    def counts(self) -> dict[str, int]:
        return {kind: sum(1 for c in self.conflicts if c.kind == kind) for kind in KINDS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": len(self.conflicts),
            "counts": self.counts(),
            "as_of": self.as_of,
            "iana_as_of": self.iana_as_of,
            "conflicts": [c.to_dict() for c in self.conflicts],
        }


def _norm(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


def parse_port_filters(values: list[str]) -> list[tuple[int, int, tuple[str, ...]]]:
    """``["1337", "8080/tcp", "5000-6000"]`` as (start, end, transports); :class:`QueryError` for anything else."""
    from anyport.query.grammar import parse_query

    filters = []
    for value in values:
        query = parse_query(value)
        if query.kind not in ("port", "range"):
            raise QueryError(f"{value!r} is not a port; give ports like 1337, 8080/tcp or 5000-6000")
        filters.append((query.start, query.end, query.transports))
    return filters


def find_conflicts(
    kb: KnowledgeBase,
    ports: list[str] | None = None,
    kinds: list[str] | None = None,
) -> ConflictReport:
    """Every disagreement between the catalog and IANA, optionally only at ``ports`` and of ``kinds``."""
    for kind in kinds or ():
        if kind not in KINDS:
            raise QueryError(f"unknown conflict kind {kind!r}; use one of {', '.join(KINDS)}")
    filters = parse_port_filters(ports or [])
    data = _IndexData(kb)
    found: list[Conflict] = []
    if not kinds or "practice" in kinds:
        found += _practice_conflicts(data)
    if not kinds or "claim" in kinds:
        found += _claim_conflicts(data)
    if filters:
        found = [c for c in found if _wanted(c, filters)]
    found.sort(key=Conflict.sort_key)
    dates = [s.as_of for c in found for s in c.services if s.as_of]
    meta = kb.meta()
    return ConflictReport(found, as_of=max(dates, default=""), iana_as_of=meta.get("iana_newest_modification", ""))


def _wanted(conflict: Conflict, filters: list[tuple[int, int, tuple[str, ...]]]) -> bool:
    if conflict.port is None:
        return False
    return any(
        start <= conflict.port <= end and (not transports or conflict.transport in transports)
        for start, end, transports in filters
    )


class _IndexData:
    """The rows both checks need, read once."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.docs: dict[str, dict[str, Any]] = {
            sid: json.loads(doc) for sid, doc in kb.rows("SELECT id, doc FROM services ORDER BY id")
        }
        self.refs: dict[str, list[str]] = {}
        for sid, ref in kb.rows("SELECT DISTINCT service, ref FROM refs ORDER BY service, ref"):
            self.refs.setdefault(sid, []).append(ref)
        referenced = {ref for targets in self.refs.values() for ref in targets}
        registered = kb.rows("SELECT name, service FROM names WHERE kind = 'registered'")
        # IANA names that belong to a protocol other entries build on: using their port means speaking them.
        self.carriers: set[str] = {name for name, sid in registered if sid in referenced}
        # IANA names some catalog entry is: a client connecting out to that port talks to that service.
        self.claimed: set[str] = {name for name, _sid in registered}
        self.iana_by_name: dict[str, list[tuple[str, int | None, int | None, str, str]]] = {}
        # One read of the named registry rows instead of a query per port (ten times faster).
        self.iana_ports: dict[tuple[str, int], list[tuple[str, str]]] = {}
        self.iana_wide: list[tuple[str, int, int, str, str]] = []
        for name, transport, start, end, description in kb.rows(
            "SELECT name, transport, start, end, description FROM iana WHERE name != '' "
            "ORDER BY name COLLATE NOCASE, transport, start"
        ):
            self.iana_by_name.setdefault(name.lower(), []).append((name, start, end, transport, description))
            if start is None:
                continue
            if end - start < WIDE:
                for port in range(start, end + 1):
                    self.iana_ports.setdefault((transport, port), []).append((name, description))
            else:
                self.iana_wide.append((name, start, end, transport, description))

    def own_names(self, sid: str) -> tuple[set[str], set[str]]:
        """Normalised names of a service and of what it references; and its longer titles for description matches."""
        names: set[str] = set()
        titles: set[str] = set()
        for member in [sid, *self.refs.get(sid, [])]:
            doc = self.docs.get(member)
            if doc is None:
                continue
            texts = [doc["id"], doc["title"], *doc["aliases"], *doc["registered"]]
            texts += [s["value"] for s in doc["sources"] if s["kind"] == "iana"]
            names.update(_norm(t) for t in texts)
            titles.update(_norm(t) for t in [doc["title"], *doc["aliases"]])
        names.discard("")
        return names, titles

    def iana_at(self, transport: str, port: int) -> list[tuple[str, str]]:
        """The named IANA records covering one port, by name."""
        found = list(self.iana_ports.get((transport, port), ()))
        found += [(n, d) for n, s, e, t, d in self.iana_wide if t == transport and s <= port <= e]
        return sorted(found)


def _is_own(name: str, description: str, names: set[str], titles: set[str]) -> bool:
    key = _norm(name)
    if key in names or _norm(description) in names:
        return True
    # The TLS variant IANA names with an "s" (ads-s, ircs, imaps) belongs to the service of the plain name.
    if name.lower().endswith("s") and len(key) > 3 and key[:-1] in names:
        return True
    # "Personal Agent" (IANA) inside "InfoSeek Personal Agent" (catalog title): long enough to mean the same thing.
    desc = _norm(description)
    return len(desc) >= 6 and any(desc in title for title in titles)


def _practice_conflicts(data: _IndexData) -> list[Conflict]:
    by_port: dict[tuple[int, str], list[ConflictService]] = {}
    iana_rows: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for sid, transport, start, end, label, role, direction, uncertain in data.kb.rows(
        "SELECT service, transport, start, end, label, role, direction, uncertain FROM ranges "
        "WHERE transport != 'ip' AND allocation = 'fixed' AND end - start < ? "
        "ORDER BY transport, start, service, spec",
        (NARROW,),
    ):
        doc = data.docs[sid]
        if doc["sources"] and all(s["kind"] == "iana" for s in doc["sources"]):
            continue  # an entry that only restates the registry cannot disagree with it in practice
        names, titles = data.own_names(sid)
        for port in range(start, end + 1):
            key = (port, transport)
            if key not in iana_rows:
                iana_rows[key] = data.iana_at(transport, port)
            rows = iana_rows[key]
            if not rows or any(
                _is_own(n, d, names, titles)
                or n.lower() in data.carriers
                or (direction == "outbound" and n.lower() in data.claimed)
                for n, d in rows
            ):
                continue
            users = by_port.setdefault(key, [])
            existing = next((u for u in users if u.name == sid), None)
            if existing is None:
                existing = ConflictService(doc, ports=label, role=role, direction=direction)
                existing.uncertain = bool(uncertain)
                users.append(existing)
            else:
                existing.uncertain = existing.uncertain and bool(uncertain)
    conflicts = []
    for (port, transport), users in by_port.items():
        rows = iana_rows[(port, transport)]
        registered = ", ".join(f"{n} ({d})" if d and d.lower() != n.lower() else n for n, d in rows)
        shown = ", ".join(u.title for u in users[:4]) + (f" and {len(users) - 4} more" if len(users) > 4 else "")
        conflicts.append(
            Conflict(
                kind="practice",
                port=port,
                transport=transport,
                services=users,
                iana=[{"name": n, "description": d, "transport": transport, "ports": str(port)} for n, d in rows],
                why=f"{port}/{transport} is used by {shown}, but IANA registers it to {registered}",
            )
        )
    return conflicts


def _service_ranges(data: _IndexData, sid: str) -> list[tuple[str, int, int]]:
    """Every port range a service opens, its references' included."""
    members = [sid, *data.refs.get(sid, [])]
    marks = ",".join("?" * len(members))
    return [
        (r[0], r[1], r[2])
        for r in data.kb.rows(
            f"SELECT transport, start, end FROM ranges WHERE service IN ({marks}) AND transport != 'ip'",
            tuple(members),
        )
    ]


def _claim_conflicts(data: _IndexData) -> list[Conflict]:
    conflicts = []
    for sid, doc in data.docs.items():
        claims = [(n, "registered") for n in doc["registered"]]
        claims += [(s["value"], "source") for s in doc["sources"] if s["kind"] == "iana"]
        seen: set[str] = set()
        ranges: list[tuple[str, int, int]] | None = None
        for claim, how in claims:
            if claim.lower() in seen:
                continue
            seen.add(claim.lower())
            said = f"lists '{claim}' as its IANA name" if how == "registered" else f"cites IANA '{claim}' as a source"
            records = data.iana_by_name.get(claim.lower(), [])
            with_port = [r for r in records if r[1] is not None]
            if ranges is None:
                ranges = _service_ranges(data, sid)
            port: int | None = None
            transport = ""
            iana = [
                {
                    "name": name,
                    "description": description,
                    "transport": rec_transport,
                    "ports": "" if start is None else (str(start) if start == end else f"{start}-{end}"),
                }
                for name, start, end, rec_transport, description in records
            ]
            if not records:
                why = f"{doc['title']} {said}, but IANA has no service of that name"
            elif not with_port:
                why = f"{doc['title']} {said}, but IANA registers that name without a port (a DNS-SD name only)"
            elif any(
                t == rec[3] and s <= (rec[1] or 0) and (rec[2] or 0) <= e for t, s, e in ranges for rec in with_port
            ):
                continue
            else:
                at = ", ".join(sorted({f"{i['ports']}/{i['transport']}" for i in iana if i["ports"]}))
                port, transport = with_port[0][1], with_port[0][3]
                why = f"{doc['title']} {said}, but IANA assigns '{claim}' to {at}, which the entry does not open"
            conflicts.append(
                Conflict(
                    kind="claim",
                    port=port,
                    transport=transport,
                    services=[ConflictService(doc, ports=_port_text(doc))],
                    iana=iana,
                    why=why,
                    claim=claim,
                )
            )
    return conflicts


def _port_text(doc: dict[str, Any]) -> str:
    by_transport: dict[str, list[str]] = {}
    for spec in doc["ports"]:
        if spec["kind"] == "port":
            by_transport.setdefault(spec["transport"], []).append(spec["ports"])
    return " ".join(f"{','.join(ports)}/{transport}" for transport, ports in by_transport.items())
