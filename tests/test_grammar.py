"""The lookup query grammar: what it accepts, and one clear error for everything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyport.errors import QueryError
from anyport.query.grammar import parse_query

TRANSPORTS = ["tcp", "udp", "sctp", "dccp"]


@pytest.mark.parametrize(
    ("text", "kind", "start", "end", "transports"),
    [
        ("443", "port", 443, 443, ()),
        ("443/tcp", "port", 443, 443, ("tcp",)),
        ("443/TCP", "port", 443, 443, ("tcp",)),
        ("tcp/8443", "port", 8443, 8443, ("tcp",)),
        ("6000-6010", "range", 6000, 6010, ()),
        ("6000-6010/udp", "range", 6000, 6010, ("udp",)),
        ("5-5", "port", 5, 5, ()),
        ("0", "port", 0, 0, ()),
        ("65535/sctp", "port", 65535, 65535, ("sctp",)),
        ("  22  ", "port", 22, 22, ()),
    ],
)
def test_ports_and_ranges(text: str, kind: str, start: int, end: int, transports: tuple[str, ...]) -> None:
    query = parse_query(text)
    assert (query.kind, query.start, query.end, query.transports) == (kind, start, end, transports)


@pytest.mark.parametrize(("text", "number"), [("ip:47", 47), ("ip:gre", 47), ("IP:ESP", 50), ("gre", 47), ("ah", 51)])
def test_ip_protocols(text: str, number: int) -> None:
    query = parse_query(text)
    assert query.kind == "ip"
    assert query.ip_proto == number


def test_dnssd_type() -> None:
    query = parse_query("_ipp._tcp.local.")
    assert (query.kind, query.name) == ("dnssd", "_ipp._tcp")


@pytest.mark.parametrize("text", ["bittorrent", "MS NetMeeting", "instant messaging", "<script>", "tcp"])
def test_anything_else_is_a_name(text: str) -> None:
    assert parse_query(text).kind == "name"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("70000", "port 70000 is out of range"),
        ("-1", "cannot be negative"),
        ("10-5", "runs backwards; did you mean 5-10?"),
        ("abc/tcp", "'abc' is not a port number"),
        ("80/xyz", "'xyz' is not a transport"),
        ("80/", "ends with '/'"),
        ("", "empty query"),
        ("   ", "empty query"),
        ("ip:999", "not an IP protocol"),
        ("ip:nonsense", "not an IP protocol"),
        ("a" * 201, "keep it under 200"),
        ("80\n443", "control characters"),
    ],
)
def test_bad_queries_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(QueryError) as excinfo:
        parse_query(text)
    message = str(excinfo.value)
    assert fragment in message
    assert "\n" not in message


@given(st.integers(0, 65535), st.sampled_from([None, *TRANSPORTS]))
def test_port_round_trip(port: int, transport: str | None) -> None:
    text = str(port) if transport is None else f"{port}/{transport}"
    query = parse_query(text)
    assert (query.start, query.end) == (port, port)
    assert query.normalised() == text


@given(st.integers(0, 65535), st.integers(0, 65535), st.sampled_from([None, *TRANSPORTS]))
def test_range_round_trip(a: int, b: int, transport: str | None) -> None:
    low, high = min(a, b), max(a, b)
    text = f"{low}-{high}" + (f"/{transport}" if transport else "")
    query = parse_query(text)
    assert (query.start, query.end) == (low, high)
    assert query.kind == ("port" if low == high else "range")


@given(st.integers(65536, 10**12))
def test_out_of_range_ports_are_errors(port: int) -> None:
    with pytest.raises(QueryError):
        parse_query(str(port))


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    try:
        query = parse_query(text)
    except QueryError as exc:
        message = str(exc)
    else:
        message = ""
        assert query.kind in ("port", "range", "ip", "dnssd", "name")
    assert "\n" not in message
