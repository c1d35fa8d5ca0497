"""The summary's counters: traffic by service, unknown and trojan-history ports, services on unusual ports, risky
services, the time span and the agreement with Zeek's own service column.

:class:`Tally` takes flows one at a time (the Python engine) or as groups of alike flows with their totals (the
DuckDB engine, :mod:`anyport.traffic.columnar_summary`); both give the same summary.
"""

from __future__ import annotations

from anyport.traffic.activity import PortActivity, TimeSpan, Volume

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyport.query.kb import KnowledgeBase
    from anyport.traffic.porttable import PortInfo

ZEEK_NAMES = {"ssl": "https", "krb": "kerberos", "krb_tcp": "kerberos", "dce_rpc": "msrpc", "rfb": "vnc"}
TOP = 20


class Catalog:
    """Zeek service names -> catalog ids and their ports, cached (for unusual ports and agreement)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._ids: dict[str, set[str]] = {}
        self._ports: dict[tuple[str, str], list[tuple[int, int]] | None] = {}
        self._risks: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._titles: dict[str, str | None] = {}

    def ids(self, zeek_name: str) -> set[str]:
        name = zeek_name.strip().lower()
        if name not in self._ids:
            name = name.removeprefix("spicy_")
            found = {sid for sid, _kind in self.kb.resolve_name(ZEEK_NAMES.get(name, name))}
            found |= {sid for sid, _kind in self.kb.resolve_name(name)}
            self._ids[zeek_name.strip().lower()] = found
        return self._ids[zeek_name.strip().lower()]

    def risks(self, sid: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The service's risk tags and risk notes (both empty when its entry has none)."""
        found = self._risks.get(sid)
        if found is None:
            service = self.kb.service(sid)
            found = self._risks[sid] = (service.risk_tags, service.risks) if service else ((), ())
            self._titles[sid] = service.title if service else None
        return found

    def title(self, sid: str) -> str | None:
        """The title of the service's entry (None for a name only IANA knows)."""
        if sid not in self._titles:
            self.risks(sid)
        return self._titles[sid]

    def ports(self, sid: str, transport: str) -> list[tuple[int, int]]:
        key = (sid, transport)
        if key not in self._ports:
            rows = self.kb.rows("SELECT start, end FROM ranges WHERE service = ? AND transport = ?", (sid, transport))
            self._ports[key] = [(r[0], r[1]) for r in rows]
        return self._ports[key] or []


def zeek_names(service: str) -> list[str]:
    """The protocol names in a Zeek ``service`` field ('ssl,http' -> ['ssl', 'http'])."""
    return [n for n in (part.strip() for part in service.split(",")) if n and n != "-"]


class Tally:
    """Counts for the summary; :meth:`add` one flow or a group of alike flows, :meth:`result` the summary dict.

    The time span is counted apart, in :attr:`span` (a flow's times do not group).
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.flows = 0
        self.total = Volume()
        self.no_port = 0
        self.transports: dict[str, Volume] = {}
        self.volumes: dict[str, Volume] = {}
        self.activity = PortActivity()
        self.span = TimeSpan()
        self.by_service: dict[str, dict[str, object]] = {}
        self.titled_at: dict[str, tuple[int, str]] = {}
        self.unknown: dict[str, int] = {}
        self.trojans: dict[str, dict[str, object]] = {}
        self.unusual: dict[tuple[str, str], dict[str, object]] = {}
        self.risky: dict[str, dict[str, object]] = {}
        self.compared = self.agree = self.in_top = 0
        self.disagreements: dict[tuple[str, str, str], int] = {}

    def add(
        self,
        proto: str,
        info: PortInfo | None,
        port: int | None,
        service: str,
        flows: int = 1,
        nbytes: int | None = None,
        packets: int | None = None,
    ) -> None:
        """``flows`` flows of transport ``proto`` (as the reader spells it) whose service side is ``port`` with
        ``info`` (None: no port), Zeek's ``service`` field, and their bytes and packets (None: not given)."""
        self.flows += flows
        self.total.add_many(flows, nbytes, packets)
        proto_volume = self.transports.get(proto or "other")
        if proto_volume is None:
            proto_volume = self.transports[proto or "other"] = Volume()
        proto_volume.add_many(flows, nbytes, packets)
        if info is None or port is None:
            self.no_port += flows
            return
        where = f"{port}/{proto}"
        self.activity.add(proto, port, info.service, flows)
        if info.service:
            volume = self.volumes.get(info.service)
            if volume is None:
                volume = self.volumes[info.service] = Volume()
                self.by_service[info.service] = {"service": info.service, "title": self._title(info, port, proto)}
            elif self.catalog.title(info.service) is None and (port, proto) < self.titled_at[info.service]:
                self.by_service[info.service]["title"] = self._title(info, port, proto)
            volume.add_many(flows, nbytes, packets)
            risk_entry = self.risky.get(info.service)
            if risk_entry is None:
                tags, notes = self.catalog.risks(info.service)
                if notes:
                    risk_entry = self.risky[info.service] = {
                        "service": info.service,
                        "flows": 0,
                        "risk": ";".join(tags),
                        "notes": list(notes),
                    }
            if risk_entry is not None:
                risk_entry["flows"] = int(risk_entry["flows"]) + flows  # type: ignore[call-overload]
        else:
            self.unknown[where] = self.unknown.get(where, 0) + flows
        if info.trojan:
            trojan = self.trojans.setdefault(where, {"port": where, "flows": 0, "service": info.service})
            trojan["flows"] = int(trojan["flows"]) + flows  # type: ignore[call-overload]
        names = zeek_names(service)
        if names:
            self._compare(names, service, where, proto, port, info, flows)

    def _title(self, info: PortInfo, port: int, proto: str) -> str:
        """The entry's own title; for a name only IANA knows, its description on the lowest port seen (IANA may
        describe a name differently on each port, and the order flows come in must not matter)."""
        self.titled_at[info.service] = (port, proto)
        return self.catalog.title(info.service) or info.title

    def _compare(
        self, names: list[str], service: str, where: str, proto: str, port: int, info: PortInfo, flows: int
    ) -> None:
        catalog = self.catalog
        self.compared += flows
        ids = set().union(*(catalog.ids(n) for n in names))
        self.agree += flows if info.service in ids else 0
        self.in_top += flows if ids & {info.service, *info.alternatives} else 0
        if info.service not in ids:
            key = (service, where, info.service or "(unknown)")
            self.disagreements[key] = self.disagreements.get(key, 0) + flows
        for name in names:
            known_ids = catalog.ids(name)
            if not known_ids:
                continue
            if not any(start <= port <= end for sid in known_ids for start, end in catalog.ports(sid, proto)):
                odd = self.unusual.setdefault(
                    (name, where), {"zeek_service": name, "port": where, "flows": 0, "catalog": sorted(known_ids)}
                )
                odd["flows"] = int(odd["flows"]) + flows  # type: ignore[call-overload]

    def result(self) -> dict[str, object]:
        """The summary (see :func:`anyport.traffic.annotate.summarize`)."""
        by_service = self.by_service
        for sid, entry in by_service.items():
            entry.update(self.volumes[sid].as_dict(("flows", "bytes", "packets")))

        def order(entry: dict[str, object]) -> tuple[int, str, str, str]:
            # ties broken by name, then port, then Zeek's name: the order flows or groups came in must not show
            flows = entry["flows"]
            assert isinstance(flows, int)
            name = str(entry.get("service") or entry.get("port"))
            return -flows, name, str(entry.get("port")), str(entry.get("zeek_service") or "")

        def top(values: Iterable[dict[str, object]]) -> list[dict[str, object]]:
            return sorted(values, key=order)[:TOP]

        compared = self.compared
        return {
            "flows": self.flows,
            "bytes": self.total.bytes,
            "packets": self.total.packets,
            "without_port": self.no_port,
            "by_service": top(by_service.values()),
            "by_service_bytes": sorted(
                (e for e in by_service.values() if e["bytes"]),
                key=lambda e: (-int(e["bytes"]), str(e["service"])),  # type: ignore[call-overload]
            )[:TOP],
            "services": len(by_service),
            "transports": {name: self.transports[name].as_dict() for name in sorted(self.transports)},
            "time": self.span.as_dict(),
            "port_activity": self.activity.as_dict(),
            "unknown_ports": top({"port": p, "flows": n} for p, n in self.unknown.items()),
            "trojan_ports": top(self.trojans.values()),
            "unusual_ports": top(self.unusual.values()),
            "risky_services": top(self.risky.values()),
            "agreement": {
                "compared": compared,
                "agree": self.agree,
                "in_top5": self.in_top,
                "rate": round(self.agree / compared, 4) if compared else None,
                "disagreements": [
                    {"zeek": z, "port": p, "anyport": a, "flows": n}
                    for (z, p, a), n in sorted(self.disagreements.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
                ],
            },
        }
