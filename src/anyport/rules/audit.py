"""Explain a real rule set rule by rule, in service terms.

For every rule: what it matches, what it does, which catalog services its ports serve (best matches first, ranked
by :func:`anyport.query.lookup.lookup`), and findings: shadowed rules (earlier rules decide every packet they
match), rules in chains nothing jumps to, broad rules (how many ports, which known services and trojan ports that
includes), accepts by source port, and rules whose ports no known service uses.

``AuditReport.to_dict()`` keys:

* ``ruleset``: ``{"kind", "path", "format", "families", "notes"}``
* ``summary``: ``rules``, ``accept``, ``drop``, ``reject``, ``other``, ``shadowed``, ``unreachable``, ``broad``,
  ``unknown``; ``inbound``: the exposure summary of what new inbound connections reach (see
  :mod:`anyport.rules.exposure`)
* ``rules``: one object per rule in file order: ``index``, ``line``, ``locator``, ``text``, ``table``, ``chain``,
  ``direction``, ``via``, ``action``, ``target``, ``comment``, ``match`` (a short summary), ``family``,
  ``protocols``, ``ports`` (transport -> ports it matches, after the jumps that lead to it), ``sources``,
  ``destinations``, ``interfaces``, ``states``, ``reachable``, ``shadowed_by``, ``why_unreachable``, ``opens``
  (``anyone`` / ``some``: transport -> ports it lets in for new inbound connections; ``protocols``),
  ``explanation``, ``services`` (``id``, ``title``, ``transport``, ``ports``, ``fit`` = exact / covers / overlaps,
  ``confidence``, ``source``), ``services_count``, ``trojans``, ``broad`` (transport -> ``ports``, ``percent``,
  ``services``, ``iana_names``, ``trojan_ports``, ``examples``), ``findings`` (``kind``, ``text``)
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from anyport.model import PortRange, merge_ranges
from anyport.query.kb import KnowledgeBase
from anyport.results import Match
from anyport.rules.exposure import (
    ExposureReport,
    OpenSet,
    OpenStretch,
    build_report,
    open_from_ruleset,
)
from anyport.rules.rulesets import (
    PORT_PROTOCOLS,
    TERMINAL,
    Conditions,
    Rule,
    Ruleset,
    describe,
    load_ruleset,
    nets_text,
    ports_text,
    protocol_name,
    protocols_text,
)

BROAD = 1000  # a rule opening this many ports of one transport or more is broad
LOOKUP_RANGES = 12  # at most this many port ranges of one rule are looked up one by one
SHOW_SERVICES = 25
TEXT_SERVICES = 3
STATE_ONLY = frozenset({"established", "related"})
FIT_ORDER = {"exact": 0, "covers": 1, "overlaps": 2}


@dataclass
class ServiceHit:
    id: str
    title: str
    transport: str
    ports: str
    fit: str  # exact: its fixed ports are the rule's; covers: all its fixed ports are in the rule; overlaps
    confidence: float
    source: str  # catalog, local or iana
    bonus: float = 0.0  # ranking nudge: its ports are exactly the rule's range

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "transport": self.transport,
            "ports": self.ports,
            "fit": self.fit,
            "confidence": round(self.confidence, 3),
            "source": self.source,
        }


@dataclass
class Finding:
    kind: str  # shadowed, unreachable, broad, everything, source-port, partly-decided, unknown
    text: str


@dataclass
class RuleAudit:
    rule: Rule
    ports: dict[str, list[PortRange]]  # transport -> ports it matches (None-free: "all" is 1-65535)
    protocols: list[int]  # IP protocols without ports it matches
    explanation: str = ""
    services: list[ServiceHit] = field(default_factory=list)
    services_count: int = 0
    trojans: list[dict[str, Any]] = field(default_factory=list)
    broad: dict[str, dict[str, Any]] = field(default_factory=dict)  # transport -> figures
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rule = self.rule
        cond = rule.conditions
        return {
            "index": rule.index,
            "line": rule.line,
            "locator": rule.locator,
            "text": rule.text,
            "table": rule.table,
            "chain": rule.chain,
            "direction": rule.direction,
            "via": rule.via,
            "action": rule.action,
            "target": rule.target,
            "comment": rule.comment,
            "match": describe(cond),
            "family": cond.family,
            "protocols": protocols_text(cond.protocols),
            "ports": {t: ports_text(r) for t, r in self.ports.items()},
            "sources": nets_text(cond.sources, cond.not_sources),
            "destinations": nets_text(cond.dests, cond.not_dests),
            "interfaces": _interfaces(cond),
            "states": sorted(cond.states) if cond.states is not None else "any",
            "reachable": rule.reachable,
            "shadowed_by": rule.shadowed_by,
            "why_unreachable": rule.why_unreachable,
            "opens": {
                "anyone": {t: ports_text(r) for t, r in rule.opens.items()},
                "some": {t: ports_text(r) for t, r in rule.opens_some.items()},
                "protocols": [protocol_name(p) for p in sorted(rule.opens_protocols)],
            },
            "explanation": self.explanation,
            "services": [s.to_dict() for s in self.services[:SHOW_SERVICES]],
            "services_count": self.services_count,
            "trojans": self.trojans,
            "broad": self.broad,
            "findings": [{"kind": f.kind, "text": f.text} for f in self.findings],
        }


@dataclass
class AuditReport:
    ruleset: Ruleset
    rules: list[RuleAudit]
    inbound: ExposureReport

    def summary(self) -> dict[str, Any]:
        actions = [a.rule.action for a in self.rules]
        kinds = [f.kind for a in self.rules for f in a.findings]
        return {
            "rules": len(self.rules),
            "accept": actions.count("accept"),
            "drop": actions.count("drop"),
            "reject": actions.count("reject"),
            "other": sum(1 for a in actions if a not in TERMINAL),
            "shadowed": kinds.count("shadowed"),
            "unreachable": kinds.count("unreachable"),
            "broad": kinds.count("broad") + kinds.count("everything"),
            "unknown": kinds.count("unknown"),
            "inbound": self.inbound.summary(),
        }

    def to_dict(self) -> dict[str, Any]:
        rs = self.ruleset
        return {
            "ruleset": {
                "kind": rs.kind,
                "path": rs.path,
                "format": rs.format,
                "families": list(rs.families),
                "notes": rs.notes,
            },
            "summary": self.summary(),
            "rules": [a.to_dict() for a in self.rules],
        }

    def to_csv(self) -> str:
        """One row per rule."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["index", "line", "chain", "direction", "action", "match", "reachable", "shadowed_by", "opens",
             "services", "findings", "text"]
        )  # fmt: skip
        for audit_ in self.rules:
            rule = audit_.rule
            opens = " ".join(f"{ports_text(r)}/{t}" for t, r in {**rule.opens_some, **rule.opens}.items())
            writer.writerow(
                [
                    rule.index,
                    rule.line,
                    f"{rule.table} {rule.chain}",
                    rule.direction,
                    rule.action,
                    describe(rule.conditions),
                    "yes" if rule.reachable else "no",
                    " ".join(str(i) for i in rule.shadowed_by),
                    opens,
                    " ".join(s.id for s in audit_.services[:5]),
                    " | ".join(f"{f.kind}: {f.text}" for f in audit_.findings),
                    rule.text,
                ]
            )
        return out.getvalue()

    def render_text(self) -> str:
        rs = self.ruleset
        summary = self.summary()
        families = " and ".join("IPv4" if f == "ipv4" else "IPv6" for f in rs.families) or "no address family"
        lines = [f"Audit of {rs.path} ({rs.format}, {_plural(summary['rules'], 'rule')}, {families})"]
        inbound = summary["inbound"]
        for transport, figures in inbound["ports"].items():
            lines.append(
                f"  inbound {transport}: {_plural(figures['anyone'], 'port')} open to anyone, "
                f"{figures['some']} more to some sources or interfaces only"
            )
        if not inbound["ports"]:
            lines.append("  inbound: no port is open to new connections")
        lines.append(
            f"  exposed to anyone: {_plural(inbound['anyone']['services'], 'catalog service')}, "
            f"{_plural(inbound['anyone']['trojan_ports'], 'trojan-history port')} "
            "(see 'anyport exposure' with the same file)"
        )
        counts = [
            _plural(summary["shadowed"], "shadowed rule"),
            _plural(summary["unreachable"], "rule") + " in unused chains",
            _plural(summary["broad"], "broad rule"),
            _plural(summary["unknown"], "rule") + " matching nothing known",
        ]
        lines.append("  findings: " + ", ".join(counts))
        for note in rs.notes:
            lines.append(f"  note: {note}")
        for audit_ in self.rules:
            rule = audit_.rule
            where = f"line {rule.line}" if rule.line else rule.locator
            header = f"#{rule.index:<4} {where:<10} {rule.table} {rule.chain}  {rule.action}"
            lines.append("")
            lines.append(_clip(f"{header}  {describe(rule.conditions)}", 150))
            lines.append(f"      {_clip(audit_.explanation, 140)}")
            if audit_.services:
                names = [f"{s.title} ({s.id}, {s.fit})" for s in audit_.services[:TEXT_SERVICES]]
                more = audit_.services_count - len(names)
                tail = f" … {more} more (use --json)" if more > 0 else ""
                verb = "serves" if rule.action == "accept" else "concerns"
                lines.append(f"      {verb}: {_clip('; '.join(names), 140)}{tail}")
            for finding in audit_.findings:
                lines.append(f"      ! {finding.kind}: {_clip(finding.text, 140)}")
        return "\n".join(lines) + "\n"


# -- building the report ------------------------------------------------------------------------------------


def audit(kb: KnowledgeBase, ruleset: tuple[str, str]) -> AuditReport:
    """Read a rule set file (kind, path) and explain it rule by rule."""
    loaded = load_ruleset(*ruleset)
    opened = OpenSet()
    open_from_ruleset(kb, loaded, opened)
    inbound = build_report(kb, [], loaded, opened)
    lookups = _Cache()  # rule sets repeat ports (IPv4 and IPv6 twins): look each up once
    audits = [_audit_rule(kb, rule, lookups) for rule in loaded.rules]
    return AuditReport(loaded, audits, inbound)


def _matched_ports(rule: Rule) -> tuple[dict[str, list[PortRange]], list[int]]:
    """Per transport the ports the rule matches where it is reached (jump conditions included)."""
    contexts = rule.contexts or [rule.conditions]
    ports: dict[str, list[PortRange]] = {}
    protocols: set[int] = set()
    for cond in contexts:
        for transport, number in PORT_PROTOCOLS.items():
            matched = cond.ports_of(number)
            if matched is None:
                ports.setdefault(transport, []).append(PortRange(1, 65535))
            elif matched:
                ports.setdefault(transport, []).extend(matched)
        if cond.protocols is not None and len(cond.protocols) <= 128:
            protocols |= {p for p in cond.protocols if p not in PORT_PROTOCOLS.values() and p >= 0}
    merged = {
        t: merge_ranges([PortRange(max(r.start, 1), r.end) for r in ranges if r.end >= 1])
        for t, ranges in ports.items()
    }
    return {t: r for t, r in merged.items() if r}, sorted(protocols)


class _Cache:
    """Lookups and service ranges already fetched during one audit."""

    def __init__(self) -> None:
        self.matches: dict[str, list[Match]] = {}
        self.ranges: dict[str, dict[str, tuple[list[PortRange], list[PortRange]]]] = {}


def _matches(kb: KnowledgeBase, text: str, lookups: _Cache) -> list[Match]:
    from anyport.query.lookup import lookup

    if text not in lookups.matches:
        lookups.matches[text] = lookup(kb, text).matches
    return lookups.matches[text]


def _audit_rule(kb: KnowledgeBase, rule: Rule, lookups: _Cache) -> RuleAudit:
    ports, protocols = _matched_ports(rule)
    audit_ = RuleAudit(rule, ports, protocols)
    cond = rule.conditions
    audit_.explanation = _explain(rule, ports, protocols)
    if not rule.direction:
        audit_.findings.append(Finding("unreachable", rule.why_unreachable or "no base chain reaches it"))
    elif rule.shadowed_by:
        shown = ", ".join(f"#{i}" for i in rule.shadowed_by[:6])
        audit_.findings.append(
            Finding("shadowed", f"never matches: every packet it matches is decided earlier by {shown}")
        )
    plain = rule.action in TERMINAL and not _bookkeeping(cond)
    if not plain:
        return audit_
    if cond.protocols is None and cond.dports is None and cond.sports is None and rule.action == "accept":
        scope = _scope(cond)
        audit_.findings.append(Finding("everything", f"accepts every port and IP protocol{scope or ' from anywhere'}"))
    if cond.sports is not None and cond.dports is None and rule.action == "accept":
        audit_.findings.append(
            Finding(
                "source-port",
                f"accepts any destination port when the source port is {ports_text(cond.sports)}: "
                "a sender picks its source port freely",
            )
        )
    narrow: dict[str, list[PortRange]] = {}
    wide: dict[str, list[PortRange]] = {}
    broad: list[ServiceHit] = []
    for transport, ranges in ports.items():
        width = sum(r.width for r in ranges)
        if width < BROAD:
            narrow[transport] = ranges
        elif rule.action == "accept":
            broad += _broad(kb, rule, audit_, transport, ranges, width)
            if width < 65535:
                wide[transport] = ranges
    if narrow:
        audit_.services += _lookup_services(kb, audit_, narrow, False, lookups)
    if wide:
        exact = _lookup_services(kb, audit_, wide, True, lookups)
        broad = exact + [hit for hit in broad if hit.id not in {e.id for e in exact}]
    for number in protocols:
        _protocol(kb, audit_, number, lookups)
    if rule.action == "accept" and not rule.shadowed_by and rule.direction:
        decided = {t: r for t, r in rule.already_decided.items() if t in ports}
        if decided:
            shown = " ".join(f"{ports_text(r)}/{t}" for t, r in decided.items())
            if all(decided.get(t) == r for t, r in ports.items()):
                text = f"earlier rules already decide every new connection to {shown}; it only sees other packets"
            else:
                text = f"earlier rules already decide new connections to {shown} of its ports"
            audit_.findings.append(Finding("partly-decided", text))
    if (
        rule.action == "accept"
        and narrow
        and not audit_.services
        and cond.sports is None
        and not any(f.kind in ("broad", "everything") for f in audit_.findings)
    ):
        shown = " ".join(f"{ports_text(r)}/{t}" for t, r in narrow.items())
        audit_.findings.append(
            Finding("unknown", f"matches nothing known: no catalog service or IANA registration uses {shown}")
        )
    audit_.services.sort(key=_service_order)
    audit_.services = _merge_hits(audit_.services + broad)  # broad: in the exposure report's order
    audit_.services_count = len(audit_.services)
    return audit_


def _service_order(hit: ServiceHit) -> tuple[Any, ...]:
    """The lookup's ranking, nudged towards services whose ports the rule covers (exactly, best); bare IANA
    names last."""
    return (hit.source == "iana", -(hit.confidence + hit.bonus), hit.title.lower())


def _bookkeeping(cond: Conditions) -> bool:
    """Rules about conntrack state or the loopback interface: they do not concern services."""
    if cond.states is not None and "new" not in cond.states:
        return True
    return cond.iif is not None and all(name == "lo" for name in cond.iif)


def _lookup_services(
    kb: KnowledgeBase,
    audit_: RuleAudit,
    wanted: dict[str, list[PortRange]],
    broad: bool,
    lookups: _Cache,
) -> list[ServiceHit]:
    """Services whose ports the rule's ports cover, found and ranked by the lookup.

    A service qualifies when the lookup pins it to the port (fixed ports, narrow ranges) or when one of its ranges,
    even one picked at run time, lies inside the rule's ports (Mosh's 60000-61000/udp). For broad rules only
    services whose own ports are exactly the rule's are kept: the exposure report lists the rest.
    """
    best: dict[tuple[str, str, str], tuple[ServiceHit, bool]] = {}
    for transport, ranges in wanted.items():
        for rng in ranges[: 4 if broad else LOOKUP_RANGES]:
            text = f"{rng.start}/{transport}" if rng.start == rng.end else f"{rng.start}-{rng.end}/{transport}"
            for match in _matches(kb, text, lookups):
                if match.source == "trojans" or (broad and match.source == "iana"):
                    continue
                key = (match.source, match.name, match.transport)
                current = best.get(key)
                if current is None or match.confidence > current[0].confidence:
                    hit = ServiceHit(
                        match.name,
                        match.title,
                        match.transport,
                        match.ports,
                        "overlaps",
                        match.confidence,
                        match.source,
                    )
                    best[key] = (hit, match.pins_the_port)
        if not broad:
            for port, names_json in kb.rows(
                "SELECT port, names FROM trojans WHERE transport = ? AND port BETWEEN ? AND ? ORDER BY port",
                (transport, ranges[0].start, ranges[-1].end),
            ):
                if any(port in r for r in ranges):
                    audit_.trojans.append({"port": port, "transport": transport, "names": json.loads(names_json)})
    catalog = [(hit, pins) for hit, pins in best.values() if hit.source != "iana"]
    own = _service_ranges(kb, [hit.id for hit, _pins in catalog], lookups)
    found = []
    for hit, pins in catalog:
        fixed, every = own.get((hit.id, hit.transport), ([], []))
        mine = wanted.get(hit.transport, [])
        inside = [r for r in every if any(m.start <= r.start and r.end <= m.end for m in mine)]
        if not (pins or inside):
            continue
        if (every and merge_ranges(every) == mine) or (fixed and merge_ranges(fixed) == mine):
            hit.fit = "exact"
            # a rule opening exactly X11's 6000-6063 is for X11, even if single ports inside rank higher in a lookup
            hit.bonus = 0.3 if any(r.width > 1 for r in mine) else 0.02
        elif (fixed and all(f in inside for f in fixed)) or (not fixed and inside):
            hit.fit = "covers"
            hit.bonus = 0.01
        if broad and hit.fit != "exact":
            continue
        found.append(hit)
    claimed = {hit.id for hit in found}
    iana = [hit for hit, _pins in best.values() if hit.source == "iana" and hit.id not in claimed]
    return found + (iana if not found else [])


def _service_ranges(
    kb: KnowledgeBase, ids: list[str], lookups: _Cache
) -> dict[tuple[str, str], tuple[list[PortRange], list[PortRange]]]:
    """(service, transport) -> (its fixed ports, all its ports) that others connect to (cached per audit)."""
    cache = lookups.ranges
    missing = sorted({sid for sid in ids if sid not in cache})
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        for sid in chunk:
            cache[sid] = {}
        marks = ",".join("?" * len(chunk))
        for sid, transport, low, high, allocation, direction in kb.rows(
            f"SELECT service, transport, start, end, allocation, direction FROM ranges WHERE service IN ({marks})",
            tuple(chunk),
        ):
            if direction == "outbound":
                continue
            fixed, every = cache[sid].setdefault(transport, ([], []))
            every.append(PortRange(low, high))
            if allocation in ("fixed", "family"):
                fixed.append(PortRange(low, high))
    return {(sid, t): ranges for sid in set(ids) for t, ranges in cache[sid].items()}


def _merge_hits(hits: list[ServiceHit]) -> list[ServiceHit]:
    """One entry per service: the same service on tcp and udp becomes one hit for "tcp,udp"."""
    merged: dict[tuple[str, str], ServiceHit] = {}
    for hit in hits:
        key = (hit.source, hit.id)
        current = merged.get(key)
        if current is None:
            merged[key] = hit
            continue
        if hit.transport not in current.transport.split(","):
            current.transport += f",{hit.transport}"
            current.ports += f" {hit.ports}" if hit.ports and hit.ports != current.ports else ""
        if FIT_ORDER[hit.fit] < FIT_ORDER[current.fit]:
            current.fit = hit.fit
        current.confidence = max(current.confidence, hit.confidence)
    return list(merged.values())


def _broad(
    kb: KnowledgeBase, rule: Rule, audit_: RuleAudit, transport: str, ranges: list[PortRange], width: int
) -> list[ServiceHit]:
    opened = OpenSet(stretches=[OpenStretch(transport, r, "anyone", [f"rule {rule.index}"]) for r in ranges])
    report = build_report(kb, [], None, opened)
    services = [s for s in report.services if s.transport == transport]
    iana = report.iana.get(transport, {"names": 0})
    info = {
        "transport": transport,
        "ports": width,
        "percent": round(100 * width / 65535, 2),
        "services": len(services),
        "iana_names": iana["names"],
        "trojan_ports": len(report.trojans),
        "examples": [s.id for s in services[:8]],
    }
    audit_.broad[transport] = info
    examples = ", ".join(s.title for s in services[:4])
    text = (
        f"opens {width} {transport} ports ({info['percent']}%): {_plural(len(services), 'catalog service')} "
        f"with fixed ports there{f' ({examples}…)' if examples else ''}, {iana['names']} IANA names, "
        f"{_plural(len(report.trojans), 'trojan-history port')}"
    )
    everything = rule.conditions.protocols is None and rule.conditions.dports is None
    if not everything:  # "everything" has its own finding
        audit_.findings.append(Finding("broad", text))
    return [
        ServiceHit(
            s.id,
            s.title,
            s.transport,
            ports_text(s.ports),
            "covers" if s.coverage == "all" else "overlaps",
            0.0,
            "catalog",
        )
        for s in services
    ]


def _protocol(kb: KnowledgeBase, audit_: RuleAudit, number: int, lookups: _Cache) -> None:
    if number in (1, 58):
        return
    for match in _matches(kb, f"ip:{number}", lookups):
        if match.source in ("catalog", "local") and match.match in ("exact", "reference"):
            audit_.services.append(
                ServiceHit(
                    match.name,
                    match.title,
                    "ip",
                    str(number),
                    "exact" if match.match == "exact" else "overlaps",
                    match.confidence,
                    match.source,
                )
            )


def _explain(rule: Rule, ports: dict[str, list[PortRange]], protocols: list[int]) -> str:
    cond = rule.conditions
    action = rule.action
    scope = _scope(cond)
    if action in ("jump", "goto"):
        return f"sends {describe(cond)} to chain {rule.target}" + (
            " (and does not come back)" if action == "goto" else ""
        )
    if action == "return":
        return f"goes back to the calling chain for {describe(cond)}"
    if action == "ct helper" or (action == "ct" and "--helper" in rule.text):
        return f"attaches a conntrack helper to {describe(cond)}: it lets the protocol's related connections in"
    if action == "log":
        return f"logs {describe(cond)}; does not decide, the packet goes on to the next rule"
    if action not in TERMINAL:
        return f"{action}: does not decide, the packet goes on to the next rule"
    verb = {"accept": "accepts", "drop": "drops", "reject": "rejects"}[action]
    if cond.states is not None and cond.states <= STATE_ONLY:
        return f"{verb} replies and related traffic of connections already let through (no new connections)"
    if cond.states is not None and "new" not in cond.states:
        return f"{verb} packets in conntrack state {','.join(sorted(cond.states))} (no new connections)"
    if cond.iif is not None and all(name == "lo" for name in cond.iif):
        return f"{verb} the host's own traffic to itself (loopback)"
    if cond.protocols is not None and cond.protocols <= {1, 58}:
        return f"{verb} ICMP{' (ping, errors, IPv6 neighbour discovery)' if action == 'accept' else ''}{scope}"
    parts = [f"{ports_text(r)}/{t}" if sum(x.width for x in r) < 65535 else f"every {t} port" for t, r in ports.items()]
    parts += [protocol_name(p) for p in protocols]
    everything = cond.protocols is None and cond.dports is None
    what = "everything" if everything else (" ".join(parts) or describe(cond))
    if cond.sports is not None:
        what += f" from source port {ports_text(cond.sports)}"
    if rule.direction == "out":
        return f"{verb} outgoing {what}{scope}"
    if rule.direction == "forward":
        return f"{verb} forwarded {what}{scope}"
    return f"{verb} {what}{scope or ' from anywhere'}"


def _scope(cond: Conditions) -> str:
    parts = []
    if cond.sources is not None or cond.not_sources:
        parts.append(f" from {nets_text(cond.sources, cond.not_sources)}")
    if cond.dests is not None or cond.not_dests:
        parts.append(f" to {nets_text(cond.dests, cond.not_dests)}")
    if cond.iif is not None or cond.not_iif:
        parts.append(" on " + ",".join([*(cond.iif or ()), *(f"!{n}" for n in cond.not_iif)]))
    if cond.oif is not None or cond.not_oif:
        parts.append(" out via " + ",".join([*(cond.oif or ()), *(f"!{n}" for n in cond.not_oif)]))
    if cond.extras:
        parts.append(" if " + " and ".join(e.text for e in cond.extras[:3]))
    return "".join(parts)


def _interfaces(cond: Conditions) -> str:
    names = [*(cond.iif or ()), *(f"!{n}" for n in cond.not_iif)]
    outs = [*(cond.oif or ()), *(f"!{n}" for n in cond.not_oif)]
    parts = []
    if names:
        parts.append("in " + ",".join(names))
    if outs:
        parts.append("out " + ",".join(outs))
    return " ".join(parts) if parts else "any"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
