"""Everything needed to open one service: its ports, the ports of what it references, and warnings."""

from __future__ import annotations

import json

from anyport.errors import NotFoundError, QueryError
from anyport.model import PortSpec, Service
from anyport.query.kb import KnowledgeBase
from anyport.results import ResolvedSpec, ServiceInfo

BROAD_RANGE = 1000
MAX_DEPTH = 5


def find_service(kb: KnowledgeBase, name: str) -> Service:
    """The service with this id, title, alias or IANA name; :class:`NotFoundError` with suggestions if none."""
    from anyport.query.search import closest_names

    if not isinstance(name, str) or not name.strip():
        raise QueryError("empty service name; give an id like 'bittorrent' (see 'anyport search')")
    if len(name) > 200:
        raise QueryError(f"service name is {len(name)} characters long; keep it under 200")
    found = kb.resolve_name(name)
    if not found:
        raise NotFoundError(f"no service named {name.strip()!r}", closest_names(kb, name))
    service = kb.service(found[0][0])
    assert service is not None
    return service


def service_info(kb: KnowledgeBase, name: str) -> ServiceInfo:
    service = find_service(kb, name)
    resolved: list[ResolvedSpec] = []
    referenced: list[Service] = []
    _resolve(kb, service, [], resolved, referenced, seen={service.id})
    warnings = _warnings(kb, service, resolved)
    iana = _iana_records(kb, service)
    return ServiceInfo(service=service, resolved=resolved, warnings=warnings, referenced=referenced, iana=iana)


def _resolve(
    kb: KnowledgeBase,
    service: Service,
    via: list[str],
    out: list[ResolvedSpec],
    referenced: list[Service],
    seen: set[str],
) -> None:
    for spec in service.ports:
        if spec.kind != "ref":
            out.append(ResolvedSpec(service.id, spec, via))
            continue
        if spec.ref in seen or len(via) >= MAX_DEPTH:
            continue
        target = kb.service(spec.ref)
        if target is None:
            continue
        seen.add(spec.ref)
        referenced.append(target)
        _resolve(kb, target, [*via, spec.ref], out, referenced, seen)


def _warnings(kb: KnowledgeBase, service: Service, resolved: list[ResolvedSpec]) -> list[str]:
    warnings: list[str] = []
    if service.status != "active":
        warnings.append(f"{service.title} is {service.status}: traffic on these ports today is probably something else")
    for item in resolved:
        spec = item.spec
        where = f"{spec.describe()} ({item.service})" if item.via else spec.describe()
        width = sum(r.width for r in spec.ranges)
        if spec.allocation in ("dynamic", "negotiated"):
            text = f"{where} is {spec.allocation}: the exact port is only known at run time"
            if spec.helper:
                text += f"; the {spec.helper} conntrack helper can open it on demand instead"
            warnings.append(text)
        elif spec.allocation == "selected":
            warnings.append(f"{where} is chosen by the user or admin: open the port actually configured")
        elif width >= BROAD_RANGE:
            warnings.append(f"{where} opens {width} ports: everything else listening there is exposed too")
        if spec.helper and spec.allocation not in ("dynamic", "negotiated"):
            warnings.append(
                f"{where} needs the {spec.helper} conntrack helper for its related data connections, "
                "and NAT devices need an ALG for it"
            )
        if spec.kind == "ip":
            warnings.append(
                f"IP protocol {spec.ip_proto} is not a port: firewalls must allow the protocol itself and many NAT "
                "devices cannot pass it without a passthrough option"
            )
        if spec.uncertain:
            warnings.append(f"{where} is uncertain: {spec.note or 'the sources disagree'}")
        if spec.multicast:
            warnings.append(f"{where} is sent to multicast {', '.join(spec.multicast)}: it stays on the local link")
    for risk in service.risks:
        warnings.append(f"risk: {risk}")
    warnings.extend(_trojan_warnings(kb, service))
    return list(dict.fromkeys(warnings))


def _fixed_single_ports(service: Service) -> list[tuple[int, str]]:
    return sorted(
        {
            (r.start, s.transport)
            for s in service.ports
            if s.kind == "port" and s.allocation == "fixed"
            for r in s.ranges
            if r.width == 1
        }
    )


def _trojan_warnings(kb: KnowledgeBase, service: Service) -> list[str]:
    warnings = []
    for port, transport in _fixed_single_ports(service):
        row = kb.rows("SELECT names FROM trojans WHERE port = ? AND transport = ?", (port, transport))
        if row:
            names = json.loads(row[0][0])
            shown = ", ".join(names[:3]) + (" …" if len(names) > 3 else "")
            warnings.append(f"{port}/{transport} also has trojan history ({shown}): traffic there is not proof")
    return warnings


def _iana_records(kb: KnowledgeBase, service: Service) -> list[dict[str, object]]:
    records = []
    for port, transport in _fixed_single_ports(service)[:50]:
        for name, description in kb.rows(
            "SELECT name, description FROM iana WHERE transport = ? AND start <= ? AND end >= ? AND name != ''",
            (transport, port, port),
        ):
            records.append(
                {
                    "port": port,
                    "transport": transport,
                    "name": name,
                    "description": description,
                    "matches_catalog": name.lower() in {n.lower() for n in service.registered},
                }
            )
    return records


def specs_by_transport(resolved: list[ResolvedSpec]) -> dict[str, list[PortSpec]]:
    grouped: dict[str, list[PortSpec]] = {}
    for item in resolved:
        grouped.setdefault(item.spec.transport, []).append(item.spec)
    return grouped
