"""Services to and from plain dictionaries (the index stores them as JSON; ``--json`` prints them)."""

from __future__ import annotations

from typing import Any

from anyport.model import PortRange, PortSpec, Service, Source


def spec_to_dict(spec: PortSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": spec.kind}
    if spec.kind == "port":
        data["transport"] = spec.transport
        data["ports"] = spec.ports
    elif spec.kind == "ip":
        data["ip"] = spec.ip_proto
    else:
        data["ref"] = spec.ref
    data.update(
        role=spec.role,
        direction=spec.direction,
        allocation=spec.allocation,
        optional=spec.optional,
        uncertain=spec.uncertain,
    )
    for key in ("base", "helper", "dnssd", "note", "tls"):
        value = getattr(spec, key)
        if value not in (None, ""):
            data[key] = value
    if spec.multicast:
        data["multicast"] = list(spec.multicast)
    if spec.pair_ref:
        data["pair"] = {"ref": spec.pair_ref, "offset": spec.pair_offset}
    data["line"] = spec.line
    return data


def spec_from_dict(data: dict[str, Any]) -> PortSpec:
    ranges: tuple[PortRange, ...] = ()
    if data["kind"] == "port":
        ranges = tuple(_parse_ranges(data["ports"]))
    pair = data.get("pair") or {}
    return PortSpec(
        kind=data["kind"],
        transport=data.get("transport", "ip" if data["kind"] == "ip" else ""),
        ranges=ranges,
        ip_proto=data.get("ip"),
        ref=data.get("ref", ""),
        role=data["role"],
        direction=data["direction"],
        allocation=data["allocation"],
        base=data.get("base"),
        optional=data["optional"],
        uncertain=data["uncertain"],
        helper=data.get("helper", ""),
        multicast=tuple(data.get("multicast", ())),
        dnssd=data.get("dnssd", ""),
        pair_ref=pair.get("ref", ""),
        pair_offset=pair.get("offset", 0),
        tls=data.get("tls"),
        note=data.get("note", ""),
        line=data.get("line", 0),
    )


def source_to_dict(source: Source) -> dict[str, str]:
    data = {"kind": source.kind, "value": source.value}
    if source.title:
        data["title"] = source.title
    if source.url:
        data["url"] = source.url
    return data


def service_to_dict(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "title": service.title,
        "aliases": list(service.aliases),
        "categories": list(service.categories),
        "status": service.status,
        "description": service.description,
        "ports": [spec_to_dict(s) for s in service.ports],
        "notes": list(service.notes),
        "risks": list(service.risks),
        "risk_tags": list(service.risk_tags),
        "registered": list(service.registered),
        "seed": list(service.seed),
        "sources": [source_to_dict(s) for s in service.sources],
        "as_of": service.as_of,
        "origin": service.origin,
        "file": service.file,
        "line": service.line,
    }


def service_from_dict(data: dict[str, Any]) -> Service:
    return Service(
        id=data["id"],
        title=data["title"],
        description=data["description"],
        status=data["status"],
        aliases=tuple(data["aliases"]),
        categories=tuple(data["categories"]),
        ports=tuple(spec_from_dict(s) for s in data["ports"]),
        notes=tuple(data["notes"]),
        risks=tuple(data["risks"]),
        risk_tags=tuple(data.get("risk_tags", ())),
        registered=tuple(data["registered"]),
        seed=tuple(data["seed"]),
        sources=tuple(Source(s["kind"], s["value"], s.get("title", "")) for s in data["sources"]),
        as_of=data["as_of"],
        origin=data["origin"],
        file=data["file"],
        line=data["line"],
    )


def _parse_ranges(text: str) -> list[PortRange]:
    ranges = []
    for part in text.split(","):
        start, _, end = part.partition("-")
        ranges.append(PortRange(int(start), int(end or start)))
    return ranges
