"""Propose least-privilege allow rules from the services actually seen inbound in flow logs and captures.

What counts as inbound
----------------------
With ``local`` networks, a flow is inbound when its service side (see :func:`anyport.traffic.annotate.service_side`)
is an address inside them. Without, every flow whose responder is known (Zeek's ``id.resp_p``, a capture's SYN, a
LOG line of a SYN) is taken as reaching a service here; flows whose responder is only guessed from port numbers
are counted and left out (give ``local`` to use them).

What is proposed
----------------
Flows are grouped by (transport, service port). A port opens as the service the knowledge base names for it when
that catalog service really uses the port (a fixed assignment, not a range picked at run time); only the port
seen is opened, as a raw spec such as ``tcp/443`` whose rule comment names the service, never the service's
whole definition. Other ports (unknown, IANA-only names, guesses inside run-time ranges) are proposed only with
``include_unknown``. Sources are the client addresses seen, one by one when there are at most ``MAX_HOSTS``,
otherwise aggregated to /24 (IPv4) and /64 (IPv6) networks; ``any_source`` drops them. A port seen in fewer than
``min_flows`` flows is left out. Everything left out is listed with its reason, and the order is deterministic.

:func:`learn_files` returns a :class:`LearnResult`; :func:`learn_rules` writes it for a firewall platform through
the rules library (raw specs with ``SPEC@SOURCES``), so every platform anyport writes is available.

Engines
-------
The Python engine counts one flow at a time; the DuckDB engine (:mod:`anyport.traffic.columnar_learn`, for
Parquet and big CSV/Zeek TSV files) counts groups of alike flows. Both go through :class:`Inbound`, which
decides what is inbound, so they propose the same rules.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass, field

from anyport.errors import QueryError
from anyport.traffic.activity import TimeSpan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from anyport.query.kb import KnowledgeBase
    from anyport.rules.base import Output
    from anyport.rules.options import Network
    from anyport.traffic.annotate import Progress
    from anyport.traffic.porttable import PortInfo
    from anyport.traffic.readers import Flow, ReadStats

MAX_HOSTS = 8
AGGREGATE_PREFIX = {4: 24, 6: 64}
SHOWN_SERVERS = 10
SHOWN_LEFT_OUT = 10
KINDS = ("service", "unknown")


@dataclass
class _Seen:
    """Everything observed on one (transport, port) of the inbound flows."""

    transport: str
    port: int
    info: PortInfo
    flows: int = 0
    bytes: int | None = None
    clients: dict[str, int] = field(default_factory=dict)  # address as written -> flows (parsed once, at the end)
    numbers: set[int] = field(default_factory=set)  # clients already parsed (as _key numbers)
    servers: set[str] = field(default_factory=set)
    span: TimeSpan = field(default_factory=TimeSpan)


@dataclass(frozen=True)
class Proposal:
    """One allow rule: a port of one transport, from the sources seen, with the evidence."""

    kind: str  # service (a catalog service really uses the port) or unknown
    service: str  # the catalog service; for unknown ports the knowledge base's best guess, if any
    title: str
    transport: str
    port: int
    flows: int
    bytes: int | None
    clients: int
    sources: tuple[Network, ...]  # () = from any source
    aggregated: bool  # sources widened to /24 and /64 networks
    any_source_why: str  # why there are no sources ("" when there are)
    servers: tuple[str, ...]
    first_seen: str | None
    last_seen: str | None
    why: str
    helper: str = ""  # the conntrack helper the service needs on this port (ftp, sip, h323...), "" for none

    @property
    def spec(self) -> str:
        return f"{self.transport}/{self.port}"

    @property
    def item(self) -> str:
        """The rules library's request: ``tcp/443`` or ``tcp/443@192.0.2.0/24,2001:db8::/64``."""
        return self.spec + ("@" + ",".join(str(n) for n in self.sources) if self.sources else "")

    @property
    def comment(self) -> str:
        if self.kind == "service":
            return f"{self.title} ({self.service})"
        return f"unknown service on {self.spec}" + (f" (perhaps {self.service})" if self.service else "")

    def to_dict(self) -> dict[str, object]:
        return {
            "spec": self.spec,
            "kind": self.kind,
            "service": self.service,
            "title": self.title,
            "transport": self.transport,
            "port": self.port,
            "rule": self.item,
            "flows": self.flows,
            "bytes": self.bytes,
            "clients": self.clients,
            "sources": [str(n) for n in self.sources],
            "aggregated": self.aggregated,
            "any_source": not self.sources,
            "any_source_why": self.any_source_why,
            "servers": list(self.servers[:SHOWN_SERVERS]),
            "server_count": len(self.servers),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "why": self.why,
            "helper": self.helper,
        }


@dataclass
class LearnResult:
    """The proposal, what was left out and why, and what was read."""

    local: tuple[Network, ...]
    min_flows: int
    include_unknown: bool
    any_source: bool
    proposals: list[Proposal] = field(default_factory=list)
    left_out: list[dict[str, object]] = field(default_factory=list)
    files: list[ReadStats] = field(default_factory=list)
    flows: int = 0
    inbound: int = 0
    without_port: int = 0  # ICMP and other IP protocols: nothing to open by port
    not_inbound: int = 0  # the service side is outside the local networks
    responder_unknown: int = 0  # no local networks, and the record does not say who answered

    def to_dict(self) -> dict[str, object]:
        return {
            "local": [str(n) for n in self.local],
            "min_flows": self.min_flows,
            "include_unknown": self.include_unknown,
            "any_source": self.any_source,
            "flows": self.flows,
            "inbound": self.inbound,
            "without_port": self.without_port,
            "not_inbound": self.not_inbound,
            "responder_unknown": self.responder_unknown,
            "proposals": [p.to_dict() for p in self.proposals],
            "left_out": self.left_out,
            "files": [s.as_dict() for s in self.files],
        }

    def report(self) -> str:
        """Terminal lines for stderr: what was read and what became of it."""
        lines = [s.report() for s in self.files]
        unused = []
        if self.without_port:
            unused.append(f"{self.without_port} without ports")
        if self.not_inbound:
            unused.append(f"{self.not_inbound} not to the local networks")
        if self.responder_unknown:
            unused.append(f"{self.responder_unknown} whose responder is unknown (give --local to use them)")
        lines.append(
            f"{self.flows} flows, {self.inbound} inbound"
            + (f" ({'; '.join(unused)} left aside)" if unused else "")
            + f"; {len(self.proposals)} ports proposed, {len(self.left_out)} left out"
        )
        for entry in self.left_out[:SHOWN_LEFT_OUT]:
            lines.append(f"  left out {entry['spec']}: {entry['reason']}")
        if len(self.left_out) > SHOWN_LEFT_OUT:
            lines.append(f"  ... and {len(self.left_out) - SHOWN_LEFT_OUT} more (the JSON's left_out lists them all)")
        return "\n".join(lines)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
V6 = 1 << 128  # a client's key: an IPv4 address as its number, an IPv6 address as V6 + its number


def _parse(text: str) -> Address | None:
    """The address a flow record writes (IPv4-mapped IPv6 taken as IPv4, a zone index dropped), None for none."""
    key = _key(text)
    if key is None:
        return None
    return ipaddress.IPv4Address(key) if key < V6 else ipaddress.IPv6Address(key - V6)


def _key(text: str) -> int | None:
    """:func:`_parse` as one number that sorts IPv4 before IPv6 (see ``V6``): a busy port has a client per flow."""
    try:  # the common dotted quad in C: inet_pton is as strict as ipaddress (four decimal parts, no leading zero)
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):  # not a dotted quad; ValueError: a NUL or a lone surrogate in the text
        pass
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0].strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        return int(mapped) if mapped is not None else V6 + int(address)
    return int(address)


_address = functools.lru_cache(maxsize=65536)(_parse)  # servers and local checks: few addresses, met often


def _inside(text: str, networks: tuple[Network, ...]) -> bool:
    address = _address(text)
    return address is not None and any(address in n for n in networks)


def source_networks(addresses: Iterable[str]) -> tuple[tuple[Network, ...], bool]:
    """The clients as networks: each address when there are at most ``MAX_HOSTS``, else /24 and /64 networks.

    Returns (networks in address order, aggregated).
    """
    return _networks({k for k in map(_key, addresses) if k is not None})


def _networks(keys: set[int]) -> tuple[tuple[Network, ...], bool]:
    """:func:`source_networks` of clients given by :func:`_key`."""
    if len(keys) <= MAX_HOSTS:
        return tuple(_network(k, 32) if k < V6 else _network(k - V6, 128, 6) for k in sorted(keys)), False
    p4, p6 = AGGREGATE_PREFIX[4], AGGREGATE_PREFIX[6]
    # in numbers until the end: a busy port's clients fill many networks, and ipaddress objects are slow to make
    v4 = _collapse({k >> (32 - p4) for k in keys if k < V6}, p4, 32)
    v6 = _collapse({(k - V6) >> (128 - p6) for k in keys if k >= V6}, p6, 128)
    return (*(_network(a, n) for a, n in v4), *(_network(a, n, 6) for a, n in v6)), True


def _network(address: int, prefix: int, version: int = 4) -> Network:
    return ipaddress.IPv4Network((address, prefix)) if version == 4 else ipaddress.IPv6Network((address, prefix))


def _collapse(tops: set[int], prefix: int, bits: int) -> list[tuple[int, int]]:
    """The fewest (address, prefix length) networks covering exactly the /``prefix`` networks whose top ``prefix``
    bits are ``tops`` (as ``ipaddress.collapse_addresses``), in address order."""
    blocks: list[tuple[int, int]] = []
    level = tops
    while level:
        if prefix == 0:
            blocks.append((0, 0))
            break
        # two halves of the same block become the block, one level up
        merged = {t >> 1 for t in level if not t & 1 and t | 1 in level}
        blocks += [(t << (bits - prefix), prefix) for t in level if t >> 1 not in merged]
        level, prefix = merged, prefix - 1
    return sorted(blocks)


class _Uses:
    """Whether a catalog service really uses a port: a fixed (not run-time) range of its own covers it."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._cache: dict[tuple[str, str, int], str] = {}
        self._ranges: dict[str, list[tuple[str, int, int, str, str]] | None] = {}  # None: not a catalog service

    def _service_ranges(self, service: str) -> list[tuple[str, int, int, str, str]] | None:
        """(transport, start, end, allocation, direction) of a catalog service, read once per service."""
        if service not in self._ranges:
            if self.kb.summary(service) is None:
                self._ranges[service] = None
            else:
                sql = "SELECT transport, start, end, allocation, direction FROM ranges WHERE service = ?"
                self._ranges[service] = [tuple(row) for row in self.kb.rows(sql, (service,))]
        return self._ranges[service]

    def why_not(self, service: str, transport: str, port: int) -> str:
        """'' when ``service`` uses ``port``/``transport`` from a fixed assignment, else why it does not."""
        key = (service, transport, port)
        if key not in self._cache:
            self._cache[key] = self._why_not(*key)
        return self._cache[key]

    def helper(self, service: str, transport: str, port: int) -> str:
        """The conntrack helper (catalog name) a service's own spec puts on exactly this port, if Linux has it."""
        from anyport.rules.selection import KERNEL_HELPERS

        record = self.kb.service(service) if service else None
        for spec in record.ports if record is not None else ():
            if spec.kind != "port" or spec.transport != transport or not spec.helper:
                continue
            single = len(spec.ranges) == 1 and spec.ranges[0].start == spec.ranges[0].end == port
            if single and (spec.helper, transport) in KERNEL_HELPERS:
                return spec.helper
        return ""

    def _why_not(self, service: str, transport: str, port: int) -> str:
        from anyport.rules.selection import RUN_TIME, SELECTED_NARROW

        if not service:
            return "no service is known on this port"
        ranges = self._service_ranges(service)
        if ranges is None:
            return f"only the IANA registry names it ({service}); no catalog service is known to use it"
        rows = [(a, start, end, d) for t, start, end, a, d in ranges if t == transport and start <= port <= end]
        fixed = [
            direction
            for allocation, start, end, direction in rows
            if allocation not in RUN_TIME or (allocation == "selected" and end - start + 1 <= SELECTED_NARROW)
        ]
        if any(direction != "outbound" for direction in fixed):
            return ""
        if fixed:
            return f"{service} only connects out to {port}/{transport}; a service here is something else"
        if rows:
            return f"only inside {service}'s ports picked at run time; the guess is weak"
        return f"{service} is known here only through another service; the guess is weak"


def _service_host(flow: Flow, port: int) -> tuple[str, str]:
    """(the service side's address, the client's) for the service port ``port`` of ``flow``."""
    if flow.responder_known or flow.resp_p == port:
        return flow.resp_h, flow.orig_h
    return flow.orig_h, flow.resp_h


def learn_files(
    paths: Iterable[str],
    *,
    local: Iterable[str] = (),
    min_flows: int = 1,
    include_unknown: bool = False,
    any_source: bool = False,
    columns: Mapping[str, str] | None = None,
    kb: KnowledgeBase | None = None,
    engine: str = "auto",
    progress: Progress | None = None,
) -> LearnResult:
    """Read every flow of ``paths`` (any input ``anyport annotate`` reads) and propose allow rules for them.

    ``engine`` and ``progress`` as for :func:`anyport.traffic.annotate.summary_files`: 'auto' hands Parquet and big
    CSV/Zeek TSV files to DuckDB (:mod:`anyport.traffic.columnar_learn`), which proposes the same rules.
    """
    from anyport.rules.options import parse_networks

    if min_flows < 1:
        raise QueryError(f"--min-flows must be 1 or more, not {min_flows}")
    paths = list(paths)
    if not paths:
        raise QueryError("no input given; name Zeek logs, flow tables or captures")
    result = LearnResult(
        local=parse_networks(list(local), "local network"),
        min_flows=min_flows,
        include_unknown=include_unknown,
        any_source=any_source,
    )
    from anyport.traffic.annotate import choose_engine

    chosen = choose_engine(paths, "csv", engine)
    if kb is not None:
        return _learn(result, paths, columns, kb, chosen, progress)
    from anyport.query.kb import KnowledgeBase

    base = KnowledgeBase.open()
    try:
        return _learn(result, paths, columns, base, chosen, progress)
    finally:
        base.close()


class Inbound:
    """The inbound flows by (transport, service port), counted from single flows or from groups of alike flows."""

    def __init__(self, result: LearnResult) -> None:
        self.result = result
        self.seen: dict[tuple[str, int], _Seen] = {}
        self.local: dict[str, bool] = {}  # server address as written -> inside the local networks

    def add(
        self,
        transport: str,
        port: int | None,
        info: PortInfo | None,
        server: str,
        client: str | None,
        responder_known: bool,
        flows: int = 1,
        nbytes: int | None = None,
    ) -> _Seen | None:
        """Count ``flows`` flows of ``transport`` whose service side is ``port`` (None: no port) at ``server``
        from ``client`` (None: counted apart, with :meth:`add_clients`); the entry they went to, or None when
        they are not inbound: to a server outside the local networks, or without local networks, to a
        responder the record does not name."""
        has_port = port is not None and info is not None
        inbound = has_port and (self.inside(server) if self.result.local else responder_known)
        entry = self.add_group(transport, port, info, inbound, flows, nbytes)
        if entry is not None:
            if client is not None:
                entry.clients[client] = entry.clients.get(client, 0) + flows
            if server:
                entry.servers.add(server)
        return entry

    def add_group(
        self, transport: str, port: int | None, info: PortInfo | None, inbound: bool, flows: int, nbytes: int | None
    ) -> _Seen | None:
        """Count ``flows`` flows already found inbound or not (as :meth:`add` decides); their entry if inbound.
        Their servers and clients are the caller's to add."""
        result = self.result
        result.flows += flows
        if port is None or info is None:
            result.without_port += flows
            return None
        if not inbound:
            if result.local:
                result.not_inbound += flows
            else:
                result.responder_unknown += flows
            return None
        result.inbound += flows
        entry = self.entry(transport, port, info)
        entry.flows += flows
        if nbytes is not None:
            entry.bytes = (entry.bytes or 0) + nbytes
        return entry

    def add_clients(
        self, transport: str, port: int, info: PortInfo, texts: Mapping[str, int], numbers: Iterable[int] = ()
    ) -> None:
        """Inbound flows to ``port`` from clients as written (-> their flows) and clients already parsed (as
        :func:`_key` numbers); the flows' other counts come through :meth:`add_group`."""
        entry = self.entry(transport, port, info)
        for client, flows in texts.items():
            entry.clients[client] = entry.clients.get(client, 0) + flows
        entry.numbers.update(numbers)

    def entry(self, transport: str, port: int, info: PortInfo) -> _Seen:
        entry = self.seen.get((transport, port))
        if entry is None:
            entry = self.seen[(transport, port)] = _Seen(transport, port, info)
        return entry

    def inside(self, server: str) -> bool:
        """True when ``server`` (as written) is inside the local networks."""
        inside = self.local.get(server)
        if inside is None:
            inside = self.local[server] = _inside(server, self.result.local)
        return inside

    def propose(self, kb: KnowledgeBase) -> None:
        """Turn what was seen into the result's proposals and left-out ports, in a fixed order."""
        uses = _Uses(kb)
        for key in sorted(self.seen):
            _propose(self.result, self.seen[key], uses)
        self.result.proposals.sort(key=lambda p: (KINDS.index(p.kind), p.transport, p.port))


def _learn(
    result: LearnResult,
    paths: list[str],
    columns: Mapping[str, str] | None,
    kb: KnowledgeBase,
    engine: str,
    progress: Progress | None,
) -> LearnResult:
    from anyport.traffic.annotate import AnnotateStats, _all_flows, _plain_size, _reporting, as_percent, service_side
    from anyport.traffic.porttable import load_or_build

    table = load_or_build(kb)
    if engine == "duckdb":
        from anyport.traffic.columnar import require
        from anyport.traffic.columnar_learn import learn_columnar

        require()
        inbound = Inbound(result)
        if learn_columnar(inbound, paths, table, columns, as_percent(progress)):
            inbound.propose(kb)
            return result
        # an input only the Python engine reads exactly: start again
        result = LearnResult(result.local, result.min_flows, result.include_unknown, result.any_source)
    inbound = Inbound(result)
    stats = AnnotateStats()
    flows = _all_flows(paths, stats, columns)
    if progress is not None:
        flows = _reporting(flows, stats, progress, _plain_size(paths))
    result.files = stats.files
    for flow in flows:
        port, info = service_side(table, flow)
        server, client = _service_host(flow, port) if port is not None else ("", "")
        entry = inbound.add(flow.proto, port, info, server, client, flow.responder_known, 1, flow.bytes)
        if entry is not None:
            entry.span.add(flow)
    inbound.propose(kb)
    return result


def _propose(result: LearnResult, entry: _Seen, uses: _Uses) -> None:
    info = entry.info
    spec = f"{entry.transport}/{entry.port}"
    why_not = uses.why_not(info.service, entry.transport, entry.port)
    kind = "unknown" if why_not else "service"
    if entry.flows < result.min_flows:
        reason = (
            f"seen in {entry.flows} flow{'s' if entry.flows != 1 else ''}, fewer than --min-flows {result.min_flows}"
        )
        result.left_out.append(_left_out(entry, spec, kind, reason))
        return
    if why_not and not result.include_unknown:
        result.left_out.append(_left_out(entry, spec, kind, f"{why_not} (--include-unknown proposes it)"))
        return
    keys = set(entry.numbers)
    no_client = 0
    for client, flows in entry.clients.items():
        key = _key(client)
        if key is None:
            no_client += flows
        else:
            keys.add(key)
    sources: tuple[Network, ...] = ()
    aggregated = False
    any_why = ""
    if result.any_source:
        any_why = "--any-source"
    elif no_client:
        any_why = f"{no_client} flow(s) without a client address"
    else:
        sources, aggregated = _networks(keys)
        if not sources:
            any_why = "no client address seen"
    span = entry.span.as_dict()
    clients = len(keys)
    why = f"seen inbound in {entry.flows} flow{'s' if entry.flows != 1 else ''} from {clients} client{'s' if clients != 1 else ''}"
    if span:
        why += f", {span['first_utc']} to {span['last_utc']}"
    if why_not:
        why += f"; {why_not}"
    result.proposals.append(
        Proposal(
            kind=kind,
            service=info.service,
            title=info.title or info.service,
            transport=entry.transport,
            port=entry.port,
            flows=entry.flows,
            bytes=entry.bytes,
            clients=clients,
            sources=sources,
            aggregated=aggregated,
            any_source_why=any_why,
            servers=tuple(sorted(entry.servers, key=_sort_address)),
            first_seen=str(span["first_utc"]) if span else None,
            last_seen=str(span["last_utc"]) if span else None,
            why=why,
            helper="" if why_not else uses.helper(info.service, entry.transport, entry.port),
        )
    )


def _sort_address(text: str) -> tuple[int, int, str]:
    address = _address(text)
    return (address.version, int(address), text) if address is not None else (9, 0, text)


def _left_out(entry: _Seen, spec: str, kind: str, reason: str) -> dict[str, object]:
    return {"spec": spec, "kind": kind, "service": entry.info.service, "flows": entry.flows, "reason": reason}


def learn_rules(
    result: LearnResult, target: str, *, best_effort: bool = False, kb: KnowledgeBase | None = None
) -> Output:
    """The proposal as firewall rules for ``target``: each port as a raw spec, its sources as ``SPEC@CIDR``.

    The rule comments and header name the service and the evidence for each port.
    """
    from anyport.api import knowledge_base
    from anyport.rules.options import make_options
    from anyport.rules.selection import KERNEL_HELPERS, HelperRule, select
    from anyport.rules.targets import get_target

    platform = get_target(target)
    if not result.proposals:
        left = f"; {len(result.left_out)} port(s) left out (see the report)" if result.left_out else ""
        raise QueryError(
            f"nothing to allow: no inbound service seen in {result.flows} flows{left}; "
            "try --local CIDR, --include-unknown or a lower --min-flows"
        )
    options = make_options(best_effort=best_effort)
    selection = select(kb or knowledge_base(), [p.item for p in result.proposals], options)
    by_spec = {p.spec: p for p in result.proposals}
    for proposal in result.proposals:
        selection.titles[proposal.spec] = proposal.comment
    selection.included = [(what, _included_why(by_spec[what])) for what, _why in selection.included]
    selection.requested = [p.spec for p in result.proposals]
    # The related connections of FTP, SIP, TFTP... come through the kernel's helper on the port seen, not by
    # opening the ranges they might use.
    for proposal in result.proposals:
        if proposal.helper:
            selection.helpers.append(
                HelperRule(
                    proposal.spec,
                    proposal.helper,
                    KERNEL_HELPERS[(proposal.helper, proposal.transport)],
                    proposal.transport,
                    proposal.port,
                )
            )
    return platform.generate(selection, options)


def _included_why(proposal: Proposal) -> str:
    if proposal.sources:
        scope = "from the networks seen" if proposal.aggregated else "from the clients seen"
    else:
        scope = f"from any source ({proposal.any_source_why})"
    return f"{proposal.why}; {scope}"
