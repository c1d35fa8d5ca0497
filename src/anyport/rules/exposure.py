"""What is reachable through open ports: every known service, IANA registration and trojan port inside.

Opening UDP 5004-65535 for Windows Messenger also opens every UDP service listening from 5004 up; this module
makes that warning computable. The open set comes from ports and services named on the command line (services
are resolved as ``anyport rules`` would open them, ports picked at run time included) and/or from a real rule set
(:mod:`anyport.rules.rulesets`: what new inbound connections get through).

``ExposureReport.to_dict()`` keys:

* ``items``: what was given; ``ruleset``: ``{"kind", "path", "format", "families", "notes"}`` or null
* ``open``: one object per open stretch: ``transport``, ``ports``, ``count``, ``level`` ("anyone": an ordinary
  new connection from anywhere gets in; "some": only from certain sources, interfaces...), ``families``, ``by``
  (services or specs given, or "rule N" / "policy")
* ``protocols``: IP protocols without ports that are open: ``protocol``, ``name``, ``level``, ``by``, ``services``
* ``summary``: per transport ``{"ports", "percent", "anyone", "some"}`` under ``ports``; and the counts
  ``services``, ``requested``, ``iana_names``, ``iana_ports``, ``trojan_ports``
* ``services``: catalog services with fixed ports inside (fixed ports, port families such as X11's 6000-6063, and
  conventional ports an admin may change, at most 10 wide; not ranges picked at run time, which would match
  everything), biggest risks first: ``id``, ``title``, ``transport``,
  ``exposed`` (their open ports), ``ports`` (all their fixed ports there), ``coverage`` ("all" or "part"),
  ``level``, ``requested`` (opened on purpose), ``status``, ``categories``, ``risks``
* ``iana``: per transport ``{"names", "ports", "shown"}`` (``shown`` lists the names when there are at most 50)
* ``trojans``: ``{"port", "transport", "names", "level"}`` for every trojan-history port inside
* ``risks``: ``{"service", "title", "risk", "requested"}``: the catalog's risk notes of the services concerned
* ``notes``: what the reader should know (ports picked at run time opened in full, assumptions about the file)
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from anyport.errors import QueryError
from anyport.model import PortRange, merge_ranges
from anyport.query.kb import KnowledgeBase, ServiceRow
from anyport.rules.rulesets import (
    Ruleset,
    intersect_ranges,
    load_ruleset,
    protocol_name,
    subtract_ranges,
)
from anyport.vocab import TRANSPORTS

PORT_SPACE = 65535
SHOW_NAMES = 50
SELECTED_NARROW = 10
TEXT_SERVICES = 12
TEXT_TROJANS = 15
CATEGORY_WEIGHT = {
    "remote-access": 3, "database": 3, "industrial": 3, "management": 3, "network-management": 3,
    "file-sharing": 2, "directory": 2, "authentication": 2, "cache": 2, "message-broker": 2, "container": 2,
    "orchestration": 2, "storage": 2, "backup": 2, "rpc": 2, "iot": 2, "smart-home": 2, "virtualization": 2,
    "printing": 1, "email": 1, "web": 1, "proxy": 1, "p2p": 1, "voip": 1,
}  # fmt: skip


@dataclass
class OpenStretch:
    transport: str
    ports: PortRange
    level: str  # anyone or some
    by: list[str]
    families: tuple[str, ...] = ("ipv4", "ipv6")


@dataclass
class OpenProtocol:
    protocol: int  # -1: every IP protocol no rule names
    level: str
    by: list[str]
    services: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "all other IP protocols" if self.protocol < 0 else protocol_name(self.protocol)


@dataclass
class ExposedService:
    id: str
    title: str
    transport: str
    exposed: list[PortRange]
    ports: list[PortRange]
    level: str
    requested: bool
    status: str
    categories: list[str]
    risks: list[str]

    @property
    def coverage(self) -> str:
        return "all" if not subtract_ranges(self.ports, tuple(self.exposed)) else "part"

    def rank(self) -> tuple[Any, ...]:
        weight = max((CATEGORY_WEIGHT.get(c, 0) for c in self.categories), default=0)
        return (
            self.requested,
            self.level != "anyone",
            not self.risks,
            -weight,
            self.status != "active",
            self.title.lower(),
            self.transport,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "transport": self.transport,
            "exposed": _ports(self.exposed),
            "ports": _ports(self.ports),
            "coverage": self.coverage,
            "level": self.level,
            "requested": self.requested,
            "status": self.status,
            "categories": self.categories,
            "risks": self.risks,
        }


@dataclass
class OpenSet:
    """What is open, before the knowledge base is asked about it."""

    stretches: list[OpenStretch] = field(default_factory=list)
    protocols: list[OpenProtocol] = field(default_factory=list)
    requested: dict[str, str] = field(default_factory=dict)  # service id -> title (opened on purpose)
    notes: list[str] = field(default_factory=list)

    def ranges(self, transport: str, level: str = "") -> list[PortRange]:
        return merge_ranges(
            [s.ports for s in self.stretches if s.transport == transport and (not level or s.level == level)]
        )

    def transports(self) -> list[str]:
        return [t for t in TRANSPORTS if self.ranges(t)]


@dataclass
class ExposureReport:
    items: list[str]
    ruleset: Ruleset | None
    open: OpenSet
    services: list[ExposedService]
    iana: dict[str, dict[str, Any]]
    trojans: list[dict[str, Any]]
    risks: list[dict[str, Any]]
    notes: list[str]

    # -- figures -------------------------------------------------------------------------------------------

    def count(self, transport: str, level: str = "") -> int:
        return _count(self.open.ranges(transport, level))

    def summary(self) -> dict[str, Any]:
        ports = {}
        for transport in self.open.transports():
            total = self.count(transport)
            anyone = _count(self.open.ranges(transport, "anyone"))
            ports[transport] = {
                "ports": total,
                "percent": round(100 * total / PORT_SPACE, 2),
                "anyone": anyone,
                "some": total - anyone,
            }
        return {
            "ports": ports,
            "services": len({s.id for s in self.services if not s.requested}),
            "requested": len(self.open.requested),
            "iana_names": sum(v["names"] for v in self.iana.values()),
            "iana_ports": sum(v["ports"] for v in self.iana.values()),
            "trojan_ports": len(self.trojans),
            "anyone": {
                "services": len({s.id for s in self.services if not s.requested and s.level == "anyone"}),
                "trojan_ports": sum(1 for t in self.trojans if t["level"] == "anyone"),
            },
        }

    # -- outputs -------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        rs = self.ruleset
        return {
            "items": self.items,
            "ruleset": None
            if rs is None
            else {
                "kind": rs.kind,
                "path": rs.path,
                "format": rs.format,
                "families": list(rs.families),
                "notes": rs.notes,
            },
            "open": [
                {
                    "transport": s.transport,
                    "ports": str(s.ports),
                    "count": _count([s.ports]),
                    "level": s.level,
                    "families": list(s.families),
                    "by": s.by,
                }
                for s in self.open.stretches
            ],
            "protocols": [
                {"protocol": p.protocol, "name": p.name, "level": p.level, "by": p.by, "services": p.services}
                for p in self.open.protocols
            ],
            "summary": self.summary(),
            "services": [s.to_dict() for s in self.services],
            "iana": {t: {k: v for k, v in info.items() if k != "records"} for t, info in self.iana.items()},
            "trojans": self.trojans,
            "risks": self.risks,
            "notes": self.notes,
        }

    def to_csv(self) -> str:
        """One row per open stretch, IP protocol, exposed service, IANA name and trojan port."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["kind", "transport", "ports", "id", "title", "level", "coverage", "requested", "detail"])
        for s in self.open.stretches:
            writer.writerow(["open", s.transport, str(s.ports), "", "", s.level, "", "", " ".join(s.by)])
        for p in self.open.protocols:
            writer.writerow(["protocol", "ip", p.protocol, p.name, p.name, p.level, "", "", " ".join(p.by)])
        for svc in self.services:
            writer.writerow(
                [
                    "service",
                    svc.transport,
                    _ports(svc.exposed),
                    svc.id,
                    svc.title,
                    svc.level,
                    svc.coverage,
                    "yes" if svc.requested else "no",
                    " | ".join(svc.risks),
                ]
            )
        for transport, info in self.iana.items():
            for name, ports in info.get("records", []):
                writer.writerow(["iana", transport, ports, name, name, "", "", "", ""])
        for trojan in self.trojans:
            writer.writerow(
                [
                    "trojan",
                    trojan["transport"],
                    trojan["port"],
                    "",
                    "",
                    trojan["level"],
                    "",
                    "",
                    "; ".join(trojan["names"]),
                ]
            )
        return out.getvalue()

    def render_text(self) -> str:
        lines: list[str] = []
        what = " ".join(self.items)
        if self.ruleset is not None:
            what = (what + " and " if what else "") + f"the rule set {self.ruleset.path} ({self.ruleset.format})"
        lines.append(f"Exposure of {what}")
        summary = self.summary()
        if not summary["ports"] and not self.open.protocols:
            lines.append("  nothing is open to new inbound connections")
        for transport in summary["ports"]:
            label = transport
            for level, scope in (("anyone", "open to anyone"), ("some", "open to some sources or interfaces only")):
                ranges = self.open.ranges(transport, level)
                if level == "some":
                    ranges = subtract_ranges(ranges, tuple(self.open.ranges(transport, "anyone")))
                count = _count(ranges)
                if not count:
                    continue
                shown = _clip(_ports(ranges), 30)
                lines.append(
                    f"  {label:<5} {shown:<30} {_plural(count, 'port'):>11} ({_percent(count)} of 65535) {scope}"
                )
                label = ""
        for proto in self.open.protocols:
            used = f" (used by {', '.join(proto.services[:4])})" if proto.services else ""
            scope = "open to anyone" if proto.level == "anyone" else "open to some sources or interfaces only"
            lines.append(f"  ip    {proto.name:<30} {scope}{used}")
        besides = "more " if self.open.requested else ""
        lines.append(
            f"  inside: {_plural(summary['services'], f'{besides}catalog service')} with fixed ports, "
            f"{_plural(summary['iana_names'], 'IANA name')} on {_plural(summary['iana_ports'], 'registered port')}, "
            f"{_plural(summary['trojan_ports'], 'trojan-history port')}"
        )
        if any(figures["some"] for figures in summary["ports"].values()):
            anyone = summary["anyone"]
            lines.append(
                f"  open to anyone: {_plural(anyone['services'], 'catalog service')}, "
                f"{_plural(anyone['trojan_ports'], 'trojan-history port')}"
            )
        if self.open.requested:
            names = [f"{title} ({sid})" for sid, title in self.open.requested.items()]
            lines.append("")
            lines.append("Opened on purpose: " + _join(names, 8))
        exposed = _by_service([s for s in self.services if not s.requested])
        if exposed:
            lines.append("")
            besides = " (besides those opened on purpose)" if self.open.requested else ""
            lines.append(f"Biggest risks: services with fixed ports inside{besides}")
            for group in exposed[:TEXT_SERVICES]:
                svc = group[0]
                mark = "!" if svc.risks else " "
                scope = "" if any(g.level == "anyone" for g in group) else " (some sources only)"
                ports = " ".join(f"{_clip(_ports(g.exposed), 24)}/{g.transport}" for g in group)
                part = "" if all(g.coverage == "all" for g in group) else " (part of its ports)"
                lines.append(f"  {mark} {_clip(svc.title, 40):<40} {svc.id:<24} {ports}{part}{scope}")
                if svc.risks:
                    lines.append(f"      risk: {_clip(svc.risks[0], 110)}")
            if len(exposed) > TEXT_SERVICES:
                lines.append(f"  … {len(exposed) - TEXT_SERVICES} more (use --json)")
        if self.iana:
            lines.append("")
            for transport, info in self.iana.items():
                listed = f": {_join(info['shown'], 10)}" if info["shown"] else ""
                counts = f"{_plural(info['names'], 'name')} on {_plural(info['ports'], 'port')}"
                lines.append(f"IANA registrations inside, {transport}: {counts}{listed}")
        if self.trojans:
            lines.append("")
            lines.append(f"Trojan-history ports inside ({len(self.trojans)}):")
            for trojan in self.trojans[:TEXT_TROJANS]:
                lines.append(f"  {trojan['port']}/{trojan['transport']}: {_join(trojan['names'], 4)}")
            if len(self.trojans) > TEXT_TROJANS:
                lines.append(f"  … {len(self.trojans) - TEXT_TROJANS} more (use --json)")
        requested_risks = [r for r in self.risks if r["requested"]]
        if requested_risks:
            lines.append("")
            lines.append("Risk notes of the services opened on purpose:")
            for risk in requested_risks:
                lines.append(f"  ! {risk['title']}: {risk['risk']}")
        if self.notes:
            lines.append("")
            lines.append("Notes:")
            for note in self.notes[:10]:
                lines.append(f"  - {_clip(note, 200)}")
            if len(self.notes) > 10:
                lines.append(f"  … {len(self.notes) - 10} more (use --json)")
        return "\n".join(lines) + "\n"


# -- building the report ------------------------------------------------------------------------------------


def exposure(kb: KnowledgeBase, items: list[str], ruleset: tuple[str, str] | None) -> ExposureReport:
    """What ``items`` (ports, ranges, services) and/or a rule set file (kind, path) leave open, in service terms."""
    if not items and ruleset is None:
        raise QueryError(
            "nothing to examine; give open ports (udp/5004-65535), services (windows-messenger) "
            "or a rule set (--nft FILE, --iptables FILE, --ufw FILE)"
        )
    opened = OpenSet()
    loaded: Ruleset | None = None
    if items:
        _open_items(kb, items, opened)
    if ruleset is not None:
        loaded = load_ruleset(*ruleset)
        open_from_ruleset(kb, loaded, opened)
    return build_report(kb, items, loaded, opened)


def _open_items(kb: KnowledgeBase, items: list[str], opened: OpenSet) -> None:
    from anyport.query.grammar import parse_query
    from anyport.rules.options import RuleOptions
    from anyport.rules.selection import select

    expanded: list[str] = []
    for item in items:
        text = item.strip()
        if text[:1].isdigit() and "/" not in text:
            query = parse_query(text)
            if query.kind in ("port", "range") and not query.transports:
                expanded += [f"tcp/{text}", f"udp/{text}"]
                opened.notes.append(f"{text} has no transport: counted as tcp/{text} and udp/{text}")
                continue
        expanded.append(item)
    selection = select(kb, expanded, RuleOptions(include_dynamic=True))
    raw = {label for label, why in selection.included if why == "given as a port spec"}
    for sid, title in selection.titles.items():
        if sid not in raw:
            opened.requested[sid] = title
    for rule in selection.ports:
        level = "some" if getattr(rule, "sources", ()) else "anyone"
        for rng in rule.ranges:
            if rng.end < 1:
                continue
            opened.stretches.append(
                OpenStretch(rule.transport, PortRange(max(rng.start, 1), rng.end), level, [rule.service])
            )
    for proto in selection.protocols:
        level = "some" if getattr(proto, "sources", ()) else "anyone"
        opened.protocols.append(OpenProtocol(proto.protocol, level, [proto.service]))
    for warning in selection.warnings:
        if not warning.startswith("risk: "):
            opened.notes.append(warning)
    for what, why in selection.excluded:
        opened.notes.append(f"not counted: {what}: {why}")


def open_from_ruleset(kb: KnowledgeBase, ruleset: Ruleset, opened: OpenSet) -> None:
    """Add what new inbound connections get through ``ruleset`` to ``opened``."""
    reach = ruleset.reach["in"]
    for seg in reach.segments:
        by = ["policy" if i == 0 else f"rule {i}" for i in seg.rules]
        if seg.transport == "ip":
            opened.protocols.append(OpenProtocol(seg.ports.start, seg.level, by))
        else:
            opened.stretches.append(OpenStretch(seg.transport, seg.ports, seg.level, by, seg.families))
    opened.notes += ruleset.notes
    for family in reach.unfiltered:
        name = "IPv4" if family == "ipv4" else "IPv6"
        opened.notes.append(f"{name}: no inbound chain filters it in this rule set, so every port is open")
    missing = [f for f in ("ipv4", "ipv6") if f not in ruleset.families]
    for family in missing:
        opened.notes.append(f"{'IPv4' if family == 'ipv4' else 'IPv6'} is not in this file: nothing is said about it")


def build_report(kb: KnowledgeBase, items: list[str], ruleset: Ruleset | None, opened: OpenSet) -> ExposureReport:
    _settle_levels(opened)
    for proto in opened.protocols:
        if proto.protocol >= 0:
            rows = kb.rows(
                "SELECT DISTINCT service FROM ranges WHERE transport = 'ip' AND start = ?", (proto.protocol,)
            )
            direct = sorted(r[0] for r in rows)
            users = kb.referrers_of(direct)  # PPTP uses GRE...
            proto.services = direct + sorted({s for sids in users.values() for s in sids} - set(direct))
    services = _services(kb, opened)
    iana = _iana(kb, opened)
    trojans = _trojans(kb, opened)
    risks = _risks(kb, opened, services)
    notes = list(dict.fromkeys(opened.notes))
    return ExposureReport(list(items), ruleset, opened, services, iana, trojans, risks, notes)


def _settle_levels(opened: OpenSet) -> None:
    """Merge what several sources open: per port the best level wins, and the sources are listed together."""
    settled: list[OpenStretch] = []
    for transport in TRANSPORTS:
        pieces = [s for s in opened.stretches if s.transport == transport]
        if not pieces:
            continue
        cuts = sorted({p.ports.start for p in pieces} | {p.ports.end + 1 for p in pieces})
        for start, stop in itertools.pairwise(cuts):
            covering = [p for p in pieces if p.ports.start <= start and p.ports.end >= stop - 1]
            if not covering:
                continue
            level = "anyone" if any(p.level == "anyone" for p in covering) else "some"
            by = list(dict.fromkeys(b for p in covering for b in p.by))
            families = tuple(f for f in ("ipv4", "ipv6") if any(f in p.families for p in covering))
            last = settled[-1] if settled else None
            if (
                last is not None
                and last.transport == transport
                and last.level == level
                and last.by == by
                and last.families == families
                and last.ports.end + 1 == start
            ):
                settled[-1] = OpenStretch(transport, PortRange(last.ports.start, stop - 1), level, by, families)
            else:
                settled.append(OpenStretch(transport, PortRange(start, stop - 1), level, by, families))
    opened.stretches = settled
    protocols: dict[int, OpenProtocol] = {}
    for proto in opened.protocols:
        current = protocols.get(proto.protocol)
        if current is None:
            protocols[proto.protocol] = OpenProtocol(proto.protocol, proto.level, list(proto.by))
        else:
            current.level = "anyone" if "anyone" in (current.level, proto.level) else "some"
            current.by = list(dict.fromkeys(current.by + proto.by))
    opened.protocols = sorted(protocols.values(), key=lambda p: (p.protocol < 0, p.protocol))


class _Open:
    """Fast membership and intersection tests against the merged open ranges of one transport."""

    def __init__(self, ranges: list[PortRange], anyone: list[PortRange]) -> None:
        self.ranges = ranges
        self.starts = [r.start for r in ranges]
        self.anyone = anyone

    def overlap(self, start: int, end: int) -> list[PortRange]:
        index = max(0, bisect.bisect_right(self.starts, start) - 1)
        out = []
        while index < len(self.ranges) and self.ranges[index].start <= end:
            rng = self.ranges[index]
            low, high = max(rng.start, start), min(rng.end, end)
            if low <= high:
                out.append(PortRange(low, high))
            index += 1
        return out

    def level(self, ranges: list[PortRange]) -> str:
        return "anyone" if intersect_ranges(tuple(ranges), tuple(self.anyone)) else "some"

    @property
    def bounds(self) -> tuple[int, int]:
        return self.ranges[0].start, self.ranges[-1].end


def _opens(opened: OpenSet) -> dict[str, _Open]:
    return {t: _Open(opened.ranges(t), opened.ranges(t, "anyone")) for t in opened.transports()}


def _fixed(allocation: str, start: int, end: int) -> bool:
    return allocation in ("fixed", "family") or (allocation == "selected" and end - start + 1 <= SELECTED_NARROW)


def _services(kb: KnowledgeBase, opened: OpenSet) -> list[ExposedService]:
    hits: dict[tuple[str, str], list[PortRange]] = {}
    for transport, space in _opens(opened).items():
        low, high = space.bounds
        for sid, start, end, allocation, direction in kb.rows(
            "SELECT service, start, end, allocation, direction FROM ranges "
            "WHERE transport = ? AND start <= ? AND end >= ?",
            (transport, high, low),
        ):
            if direction == "outbound" or not _fixed(allocation, start, end):
                continue
            inside = space.overlap(start, end)
            if inside:
                hits.setdefault((sid, transport), []).extend(inside)
    if not hits:
        return []
    ids = sorted({sid for sid, _t in hits})
    all_fixed: dict[tuple[str, str], list[PortRange]] = {}
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        marks = ",".join("?" * len(chunk))
        for sid, transport, start, end, allocation, direction in kb.rows(
            f"SELECT service, transport, start, end, allocation, direction FROM ranges WHERE service IN ({marks})",
            tuple(chunk),
        ):
            if direction != "outbound" and _fixed(allocation, start, end):
                all_fixed.setdefault((sid, transport), []).append(PortRange(start, end))
    rows = kb.summaries(ids)
    spaces = _opens(opened)
    found = []
    for (sid, transport), exposed in hits.items():
        row: ServiceRow | None = rows.get(sid)
        if row is None:
            continue
        merged = merge_ranges(exposed)
        found.append(
            ExposedService(
                id=sid,
                title=row.title,
                transport=transport,
                exposed=merged,
                ports=merge_ranges(all_fixed.get((sid, transport), merged)),
                level=spaces[transport].level(merged),
                requested=sid in opened.requested,
                status=row.status,
                categories=list(row.categories),
                risks=list(row.risks),
            )
        )
    found.sort(key=ExposedService.rank)
    return found


def _iana(kb: KnowledgeBase, opened: OpenSet) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for transport, space in _opens(opened).items():
        low, high = space.bounds
        names: dict[str, list[PortRange]] = {}
        covered: list[PortRange] = []
        for name, start, end in kb.rows(
            "SELECT name, start, end FROM iana WHERE transport = ? AND start <= ? AND end >= ? AND name != '' "
            "ORDER BY start, name",
            (transport, high, low),
        ):
            inside = space.overlap(start, end)
            if inside:
                names.setdefault(name, []).extend(inside)
                covered += inside
        if not names:
            continue
        records = [(name, _ports(merge_ranges(ranges))) for name, ranges in names.items()]
        out[transport] = {
            "names": len(names),
            "ports": _count(merge_ranges(covered)),
            "shown": list(names)[:SHOW_NAMES] if len(names) <= SHOW_NAMES else [],
            "records": records,
        }
    return out


def _trojans(kb: KnowledgeBase, opened: OpenSet) -> list[dict[str, Any]]:
    found = []
    for transport, space in _opens(opened).items():
        low, high = space.bounds
        for port, names_json in kb.rows(
            "SELECT port, names FROM trojans WHERE transport = ? AND port BETWEEN ? AND ? ORDER BY port",
            (transport, low, high),
        ):
            if space.overlap(port, port):
                level = space.level([PortRange(port, port)])
                found.append({"port": port, "transport": transport, "names": json.loads(names_json), "level": level})
    found.sort(key=lambda t: (t["port"], t["transport"]))
    return found


def _risks(kb: KnowledgeBase, opened: OpenSet, services: list[ExposedService]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    rows = kb.summaries(list(opened.requested))
    for sid in opened.requested:
        row = rows.get(sid)
        for risk in row.risks if row is not None else []:
            if (sid, risk) not in seen:
                seen.add((sid, risk))
                out.append({"service": sid, "title": row.title if row else sid, "risk": risk, "requested": True})
    for svc in services:
        for risk in svc.risks:
            if (svc.id, risk) not in seen:
                seen.add((svc.id, risk))
                out.append({"service": svc.id, "title": svc.title, "risk": risk, "requested": svc.requested})
    return out


# -- small helpers ------------------------------------------------------------------------------------------


def _by_service(services: list[ExposedService]) -> list[list[ExposedService]]:
    """Services grouped by id (one per transport inside a group), in the order of their best entry."""
    groups: dict[str, list[ExposedService]] = {}
    for svc in services:
        groups.setdefault(svc.id, []).append(svc)
    return list(groups.values())


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _percent(count: int) -> str:
    share = 100 * count / PORT_SPACE
    if 0 < share < 0.01:
        return "<0.01%"
    return f"{share:.2f}".rstrip("0").rstrip(".") + "%"


def _count(ranges: list[PortRange]) -> int:
    return sum(max(0, min(r.end, PORT_SPACE) - max(r.start, 1) + 1) for r in ranges)


def _ports(ranges: list[PortRange]) -> str:
    return ",".join(str(r) for r in ranges)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _join(names: list[str], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" … {len(names) - limit} more (use --json)" if len(names) > limit else "")
