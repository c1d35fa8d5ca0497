"""This host's listening sockets and live connections, annotated with the service that most likely owns them.

Sockets come from psutil (imported when called). Each record says the transport, address family, local and
remote ends, the TCP state, and the owning process and user where the operating system lets us see them: a
socket of another user's process shows ``(not permitted)`` instead of failing, as does a process that ended
while it was being read.

Annotation uses the dense port table, as ``anyport annotate`` does. A listener's service is its own port. For a
connection the service side is the listening side: the local port when something on this host listens on it
(an inbound connection), else the remote port (an outbound one); :func:`anyport.traffic.annotate.service_side`
then looks it up exactly as it does for a flow whose responder is known.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from anyport.errors import QueryError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyport.query.kb import KnowledgeBase
    from anyport.traffic.porttable import PortTable

NOT_PERMITTED = "(not permitted)"
NO_PROCESS = "(no process)"  # root sees every owner: a socket without one belongs to the kernel or is closing
STATES = (
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NONE",
)
FIELDS = (
    "proto",
    "family",
    "local_addr",
    "local_port",
    "remote_addr",
    "remote_port",
    "state",
    "direction",
    "exposure",
    "pid",
    "process",
    "user",
    "service",
    "title",
    "service_port",
    "alternatives",
    "confidence",
    "risk",
)


@dataclass(frozen=True)
class HostSocket:
    """One socket of this host, annotated. ``remote_*`` are None for listeners; ``exposure`` is "" for connections."""

    proto: str  # tcp or udp
    family: str  # ipv4 or ipv6
    local_addr: str
    local_port: int
    remote_addr: str | None
    remote_port: int | None
    state: str  # psutil's TCP state (LISTEN, ESTABLISHED...), NONE for UDP
    direction: str  # listen, inbound (to a local listener) or outbound
    exposure: str  # listeners: loopback, all (every address) or address (one address); "" for connections
    pid: int | None
    process: str
    user: str
    service: str
    title: str
    service_port: int | None
    alternatives: tuple[str, ...]
    confidence: float
    risk: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["alternatives"] = list(self.alternatives)
        return data

    def csv_row(self) -> list[object]:
        data = self.to_dict()
        return ["" if data[k] is None else (";".join(data[k]) if k == "alternatives" else data[k]) for k in FIELDS]

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.proto,
            self.local_port,
            self.family,
            _addr_key(self.local_addr),
            _addr_key(self.remote_addr or ""),
            self.remote_port or 0,
            self.state,
            self.pid if self.pid is not None else -1,
        )


def _addr_key(text: str) -> tuple[int, int]:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return (9, 0)
    return (address.version, int(address))


def exposure_of(address: str) -> str:
    """loopback (only this host can connect), all (bound to every address) or address (one address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "all"
    return "address"


class _Owners:
    """pid -> (process name, user), each read once; what the OS refuses to show is ``(not permitted)``."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[str, str]] = {}
        self._root = hasattr(os, "geteuid") and os.geteuid() == 0

    def get(self, pid: int | None) -> tuple[str, str]:
        if pid is None:
            # Without privileges the OS hides the owners of other users' sockets; root sees them all.
            return (NO_PROCESS, NO_PROCESS) if self._root else (NOT_PERMITTED, NOT_PERMITTED)
        if pid not in self._cache:
            self._cache[pid] = (self._field(pid, "name"), self._field(pid, "username"))
        return self._cache[pid]

    @staticmethod
    def _field(pid: int, what: str) -> str:
        import psutil

        try:
            value = getattr(psutil.Process(pid), what)()
        except (psutil.AccessDenied, psutil.ZombieProcess):
            return NOT_PERMITTED
        except psutil.NoSuchProcess:
            return "(ended)"
        except (KeyError, OSError):  # a uid without a passwd entry, /proc vanishing
            return NOT_PERMITTED
        return str(value)


class _Raw(NamedTuple):
    """What psutil says of one socket (its system-wide and per-process lists have different shapes)."""

    family: int
    type: int
    laddr: Any
    raddr: Any
    status: str
    pid: int | None


def _raw_sockets() -> list[_Raw]:
    """Every inet socket psutil can list; where listing them all is refused, those of the processes we may read."""
    import psutil

    try:
        return [_Raw(c.family, c.type, c.laddr, c.raddr, c.status, c.pid) for c in psutil.net_connections("inet")]
    except psutil.AccessDenied:  # macOS and the BSDs need root for the system-wide list
        found: list[_Raw] = []
        for proc in psutil.process_iter():
            try:
                conns = proc.net_connections(kind="inet")
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            found += [_Raw(c.family, c.type, c.laddr, c.raddr, c.status, proc.pid) for c in conns]
        return found


def _proto(conn: _Raw) -> str:
    import socket

    return "tcp" if conn.type == socket.SOCK_STREAM else "udp"


def _family(conn: _Raw) -> str:
    import socket

    return "ipv6" if conn.family == socket.AF_INET6 else "ipv4"


def _is_listener(conn: _Raw) -> bool:
    if _proto(conn) == "tcp":
        return bool(conn.status == "LISTEN")
    return not conn.raddr  # an unconnected UDP socket receives from anyone


def _table(kb: KnowledgeBase | None) -> PortTable:
    from anyport.traffic.annotate import _table as annotate_table

    return annotate_table(kb)


def _annotate(table: PortTable, conn: _Raw, direction: str, service_port: int | None, owners: _Owners) -> HostSocket:
    from anyport.traffic.annotate import service_side
    from anyport.traffic.readers import Flow

    proto = _proto(conn)
    info = None
    if service_port is not None:
        flow = Flow({}, 0)
        flow.proto = proto
        flow.resp_p = service_port
        flow.responder_known = True  # the listening side is known here, not guessed from port numbers
        service_port, info = service_side(table, flow)
    process, user = owners.get(conn.pid)
    remote = conn.raddr or None
    return HostSocket(
        proto=proto,
        family=_family(conn),
        local_addr=str(conn.laddr.ip),
        local_port=int(conn.laddr.port),
        remote_addr=str(remote.ip) if remote else None,
        remote_port=int(remote.port) if remote else None,
        state=str(conn.status or "NONE"),
        direction=direction,
        exposure=exposure_of(str(conn.laddr.ip)) if direction == "listen" else "",
        pid=conn.pid,
        process=process,
        user=user,
        service=info.service if info else "",
        title=info.title if info else "",
        service_port=service_port,
        alternatives=info.alternatives if info else (),
        confidence=info.confidence if info else 0.0,
        risk=info.risk if info else "",
    )


def _client_like(table: PortTable, proto: str, port: int) -> bool:
    """An ephemeral port no fixed assignment claims: the annotator's lowest ranks for a service side."""
    from anyport.traffic.annotate import side_rank

    return side_rank(table.get(proto, port), port) <= 1


def _unique(records: Iterable[HostSocket]) -> list[HostSocket]:
    return sorted(dict.fromkeys(records), key=lambda r: r.sort_key)


def listening(
    *, include_ephemeral_udp: bool = False, kb: KnowledgeBase | None = None, table: PortTable | None = None
) -> list[HostSocket]:
    """TCP listeners and unconnected UDP sockets, annotated, sorted by transport and port.

    UDP sockets bound to an ephemeral port that no fixed assignment claims are usually clients waiting for
    replies (a resolver, a browser's QUIC); they are left out unless ``include_ephemeral_udp``. ``table`` reuses
    a port table already loaded (otherwise ``kb``'s, or the default knowledge base's, is loaded).
    """
    table = table if table is not None else _table(kb)
    owners = _Owners()
    records = []
    for conn in _raw_sockets():
        if not conn.laddr or not _is_listener(conn):
            continue
        proto = _proto(conn)
        if proto == "udp" and not include_ephemeral_udp and _client_like(table, proto, conn.laddr.port):
            continue
        records.append(_annotate(table, conn, "listen", int(conn.laddr.port), owners))
    return _unique(records)


def parse_states(states: Iterable[str]) -> tuple[str, ...]:
    """TCP state names (any case, ``-`` or ``_``); a QueryError lists the valid ones."""
    wanted = []
    for given in states:
        for part in given.split(","):
            name = part.strip().upper().replace("-", "_")
            if not name:
                continue
            if name not in STATES:
                raise QueryError(f"unknown connection state {part.strip()!r}; use one of {', '.join(STATES)}")
            wanted.append(name)
    return tuple(dict.fromkeys(wanted))


def connections(
    states: Iterable[str] = (), *, kb: KnowledgeBase | None = None, table: PortTable | None = None
) -> list[HostSocket]:
    """Sockets with a remote end (TCP connections in any state but LISTEN, connected UDP), annotated.

    ``states`` keeps only those TCP states (``ESTABLISHED``...); UDP sockets have the state ``NONE``.
    """
    wanted = parse_states(states)
    table = table if table is not None else _table(kb)
    owners = _Owners()
    raw = _raw_sockets()
    listeners = {(_proto(c), c.laddr.ip, c.laddr.port) for c in raw if c.laddr and _is_listener(c)}
    records = []
    for conn in raw:
        if not conn.laddr or not conn.raddr or (_proto(conn) == "tcp" and conn.status == "LISTEN"):
            continue
        if wanted and str(conn.status or "NONE") not in wanted:
            continue
        proto = _proto(conn)
        local = conn.laddr.port
        inbound = any((proto, address, local) in listeners for address in (conn.laddr.ip, "::", "0.0.0.0"))
        if inbound:
            records.append(_annotate(table, conn, "inbound", int(local), owners))
        else:
            records.append(_annotate(table, conn, "outbound", int(conn.raddr.port), owners))
    return _unique(records)
