"""``anyport listening`` and ``anyport connections`` over real sockets on the loopback interface."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
from collections.abc import Iterator

import psutil
import pytest

from anyport.errors import QueryError
from anyport.traffic.host import HostSocket, connections, exposure_of, listening
from anyport.traffic.porttable import PortTable
from conftest import run_cli

LOOPBACK = "127.0.0.1"
# Free high ports the catalog knows from a fixed assignment, and well-known ones for root; the first free one is used.
KNOWN_HIGH = {"tcp": [(5432, "postgresql"), (6379, "redis"), (9200, "elasticsearch")],
              "udp": [(5060, "sip"), (1812, "radius"), (4789, "vxlan")]}  # fmt: skip
KNOWN_LOW = {"tcp": [(873, "rsync"), (21, "ftp"), (22, "ssh")], "udp": [(69, "tftp"), (161, "snmp")]}


def _bind(kind: int, port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind((LOOPBACK, port))
    except OSError:
        sock.close()
        return None
    if kind == socket.SOCK_STREAM:
        sock.listen()
    return sock


def _first_free(kind: int, candidates: list[tuple[int, str]]) -> tuple[socket.socket, str] | None:
    for port, service in candidates:
        sock = _bind(kind, port)
        if sock is not None:
            return sock, service
    return None


class Sockets:
    """This process's test sockets: (socket, expected service or None for an ephemeral port)."""

    def __init__(self) -> None:
        self.listeners: list[tuple[socket.socket, str, str | None]] = []  # (socket, proto, service)
        self.others: list[socket.socket] = []

    def add(self, sock: socket.socket | None, proto: str, service: str | None) -> None:
        if sock is not None:
            self.listeners.append((sock, proto, service))

    def close(self) -> None:
        for sock, _proto, _service in self.listeners:
            sock.close()
        for sock in self.others:
            sock.close()


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    opened = Sockets()
    try:
        for kind, proto in ((socket.SOCK_STREAM, "tcp"), (socket.SOCK_DGRAM, "udp")):
            opened.add(_bind(kind, 0), proto, None)
            groups = [KNOWN_HIGH[proto]] + ([KNOWN_LOW[proto]] if os.geteuid() == 0 else [])
            for candidates in groups:
                found = _first_free(kind, candidates)
                if found is not None:
                    opened.add(found[0], proto, found[1])
        yield opened
    finally:
        opened.close()


def _find(records: list[HostSocket], proto: str, port: int) -> HostSocket:
    hits = [r for r in records if r.proto == proto and r.local_port == port and r.local_addr == LOOPBACK]
    assert len(hits) == 1, (proto, port, hits)
    return hits[0]


def test_listeners_are_listed_with_this_process_and_annotated(sockets: Sockets, table: PortTable) -> None:
    me = psutil.Process()
    records = listening(include_ephemeral_udp=True, table=table)
    if not [svc for _s, _p, svc in sockets.listeners if svc]:
        pytest.skip("no catalog port was free to listen on")
    for sock, proto, service in sockets.listeners:
        port = sock.getsockname()[1]
        record = _find(records, proto, port)
        assert (record.pid, record.process, record.user) == (os.getpid(), me.name(), me.username())
        assert record.direction == "listen"
        assert record.exposure == "loopback"
        assert record.family == "ipv4"
        assert record.state == ("LISTEN" if proto == "tcp" else "NONE")
        assert record.remote_addr is None
        assert record.remote_port is None
        assert record.service_port == port
        expected = table.get(proto, port)
        assert (record.service, record.alternatives, record.confidence) == (
            expected.service,
            expected.alternatives,
            expected.confidence,
        )
        if service is not None:
            assert record.service == service
            assert record.title
            assert record.confidence > 0.5


def test_listening_is_sorted_and_unique(sockets: Sockets, table: PortTable) -> None:
    records = listening(include_ephemeral_udp=True, table=table)
    assert records == sorted(records, key=lambda r: r.sort_key)
    assert len(set(records)) == len(records)


def test_udp_clients_on_ephemeral_ports_need_all(table: PortTable) -> None:
    # An ephemeral UDP port that no fixed assignment claims, as a client socket would get.
    sock = None
    for port in range(61000, 61200):
        if not table.get("udp", port).fixed:
            sock = _bind(socket.SOCK_DGRAM, port)
            if sock is not None:
                break
    if sock is None:
        pytest.skip("no free ephemeral UDP port")
    try:
        port = sock.getsockname()[1]
        assert not [r for r in listening(table=table) if r.proto == "udp" and r.local_port == port]
        record = _find(listening(include_ephemeral_udp=True, table=table), "udp", port)
        assert record.service == table.get("udp", port).service
    finally:
        sock.close()


def test_a_loopback_connection_appears_from_both_ends(table: PortTable) -> None:
    server = _first_free(socket.SOCK_STREAM, KNOWN_HIGH["tcp"])
    if server is None:
        pytest.skip("no catalog port free to listen on")
    listener, service = server
    port = listener.getsockname()[1]
    client = socket.create_connection((LOOPBACK, port))
    accepted, _ = listener.accept()
    try:
        client_port = client.getsockname()[1]
        records = connections(["established"], table=table)
        inbound = _find(records, "tcp", port)
        outbound = _find(records, "tcp", client_port)
        assert (inbound.direction, inbound.remote_port, inbound.service_port) == ("inbound", client_port, port)
        assert (outbound.direction, outbound.remote_port, outbound.service_port) == ("outbound", port, port)
        for record in (inbound, outbound):
            assert record.service == service
            assert record.state == "ESTABLISHED"
            assert record.pid == os.getpid()
            assert record.exposure == ""
        assert records == sorted(records, key=lambda r: r.sort_key)
        # a state filter that excludes them
        assert not [r for r in connections(["syn-sent"], table=table) if r.local_port in (port, client_port)]
    finally:
        for sock in (client, accepted, listener):
            sock.close()


def test_a_connected_udp_socket_is_a_connection_to_the_remote_service(table: PortTable) -> None:
    server = _first_free(socket.SOCK_DGRAM, KNOWN_HIGH["udp"])
    if server is None:
        pytest.skip("no catalog UDP port free")
    receiver, service = server
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.connect((LOOPBACK, receiver.getsockname()[1]))
        record = _find(connections(table=table), "udp", sender.getsockname()[1])
        assert (record.direction, record.service, record.state) == ("outbound", service, "NONE")
    finally:
        sender.close()
        receiver.close()


def test_unknown_states_are_a_query_error(table: PortTable) -> None:
    with pytest.raises(QueryError, match="unknown connection state 'OPEN'"):
        connections(["OPEN"], table=table)


@pytest.mark.parametrize(
    ("address", "exposure"),
    [("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("0.0.0.0", "all"),
     ("::", "all"), ("192.0.2.7", "address"), ("fe80::1%eth0", "address")],
)  # fmt: skip
def test_exposure_hint(address: str, exposure: str) -> None:
    assert exposure_of(address) == exposure


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_other_users_sockets_say_not_permitted(table: PortTable) -> None:
    """A user without privileges sees root's listener, but not its owner: the record says so instead of failing."""
    listener = _bind(socket.SOCK_STREAM, 0)
    assert listener is not None
    port = listener.getsockname()[1]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child drops to nobody and lists the sockets with the table already in memory
        code = 1
        try:
            os.close(read_end)
            listener.close()  # the inherited descriptor would make the socket this child's own
            os.setgid(65534)
            os.setuid(65534)
            found = [r.to_dict() for r in listening(table=table) if r.local_port == port and r.proto == "tcp"]
            os.write(write_end, json.dumps(found).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        [record] = json.loads(data)
        assert (record["pid"], record["process"], record["user"]) == (None, "(not permitted)", "(not permitted)")
        assert record["service"] == table.get("tcp", port).service
    finally:
        listener.close()


def test_cli_listening_json_csv_and_text(sockets: Sockets) -> None:
    known = [entry for entry in sockets.listeners if entry[2] and entry[1] == "tcp"]
    if not known:
        pytest.skip("no catalog TCP port was free to listen on")
    sock, proto, service = known[0]
    assert service is not None
    port = sock.getsockname()[1]
    result = run_cli("listening", "--json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    [mine] = [r for r in records if r["proto"] == proto and r["local_port"] == port and r["local_addr"] == LOOPBACK]
    assert (mine["pid"], mine["service"], mine["exposure"]) == (os.getpid(), service, "loopback")
    assert isinstance(mine["alternatives"], list)

    result = run_cli("listening", "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    [row] = [r for r in rows if r["proto"] == proto and r["local_port"] == str(port) and r["local_addr"] == LOOPBACK]
    assert (row["pid"], row["service"], row["remote_addr"]) == (str(os.getpid()), service, "")

    result = run_cli("listening")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["PROTO", "LOCAL", "EXPOSURE", "PROCESS"]
    [line] = [x for x in lines if f"{LOOPBACK}:{port} " in x]
    assert "loopback only" in line
    assert f"{os.getpid()}/" in line
    assert service in line


def test_cli_connections_and_bad_state() -> None:
    listener = _bind(socket.SOCK_STREAM, 0)
    assert listener is not None
    port = listener.getsockname()[1]
    client = socket.create_connection((LOOPBACK, port))
    accepted, _ = listener.accept()
    try:
        result = run_cli("connections", "--state", "ESTABLISHED", "--json")
        assert result.returncode == 0, result.stderr
        mine = [r for r in json.loads(result.stdout) if port in (r["local_port"], r["remote_port"])]
        assert sorted(r["direction"] for r in mine) == ["inbound", "outbound"]
        assert all(r["service_port"] == port and r["state"] == "ESTABLISHED" for r in mine)
    finally:
        for sock in (client, accepted, listener):
            sock.close()
    result = run_cli("connections", "--state", "bogus")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["anyport: unknown connection state 'bogus'; use one of " + ", ".join(
        ("ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT",
         "LAST_ACK", "LISTEN", "CLOSING", "NONE"))]  # fmt: skip
