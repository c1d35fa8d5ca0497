"""Traffic annotation: the port table, the flow readers, the service-side rule and the summary.

The samples in tests/data/zeek are Zeek's own test baselines and zat's example logs (see PROVENANCE.md).
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyport.errors import DataError
from anyport.query.kb import KnowledgeBase
from anyport.query.lookup import lookup
from anyport.traffic.annotate import (
    annotate_files,
    render_summary,
    service_side,
    side_rank,
    summary_files,
)
from anyport.traffic.porttable import PortInfo, PortTable, table_path
from anyport.traffic.readers import BRO_20, Flow, ReadStats, read_flows

ZEEK = Path(__file__).resolve().parent / "data" / "zeek"
ZAT = ZEEK / "zat_conn.log"
SAMPLES = {
    "core.cisco-fabric-path.conn.log": ("zeek", 64),
    "core.tunnels.teredo.conn.log": ("zeek", 21),
    "opt.basic.conn.log": ("zeek", 34),
    "scripts.base.protocols.modbus.modbus_and_non_modbus_on_port_502.conn.log": ("zeek", 8),
    "scripts.base.protocols.pop3.basic.conn.log": ("zeek", 11),
    "scripts.base.protocols.ssh.basic.conn.log": ("zeek", 25),
    "zat_conn.json.log": ("zeek-json", 50),
    "zat_conn.log": ("zeek", 360),
}


def read_all(path: Path | str, columns: dict[str, str] | None = None) -> tuple[list[Flow], ReadStats]:
    stats = ReadStats(str(path))
    flows = list(read_flows(str(path), columns, stats))
    assert stats.lines == stats.records + stats.bad + stats.skipped
    assert stats.records == len(flows)
    return flows, stats


# -- port table ---------------------------------------------------------------------------------------------


def test_port_table_agrees_with_lookup(kb: KnowledgeBase, table: PortTable) -> None:
    ports = [0, 22, 53, 80, 88, 110, 443, 502, 3544, 5353, 6881, 16464, 31337, 49152, 51820, 65535]
    ports += random.Random(7).sample(range(65536), 40)
    for transport in ("tcp", "udp", "sctp"):
        for port in ports:
            matches = [m for m in lookup(kb, f"{port}/{transport}").matches if m.source != "trojans"]
            info = table.get(transport, port)
            assert info.service == (matches[0].name if matches else ""), (port, transport)
            if matches:
                assert info.confidence == pytest.approx(matches[0].confidence, abs=1e-3)
                assert info.service not in info.alternatives
                assert len(info.alternatives) <= 4


def test_port_table_cache_loads_what_was_built(kb: KnowledgeBase, table: PortTable) -> None:
    assert kb.path
    path = table_path(kb.path)
    assert os.path.isfile(path)
    loaded = PortTable.load(path)
    assert loaded.build_seconds == 0  # read from the file, not built again
    assert loaded.path == path
    for transport, port in (("tcp", 443), ("udp", 53), ("tcp", 31337), ("sctp", 2905), ("udp", 1)):
        assert vars_of(loaded.get(transport, port)) == vars_of(table.get(transport, port))
    assert loaded.get("tcp", 443).service == "https"
    assert loaded.get("tcp", 31337).trojan
    assert loaded.get("icmp", 3).service == ""


def vars_of(info: PortInfo) -> tuple[object, ...]:
    return tuple(getattr(info, name) for name in PortInfo.__slots__)


def test_corrupt_port_table_is_rebuilt_not_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "x.porttable"
    bad.write_bytes(b"ANYPORT-PORTTABLE\n\x05\x00\x00\x00{}")
    with pytest.raises(DataError, match="unreadable"):
        PortTable.load(str(bad))


# -- readers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_reader_on_samples(name: str) -> None:
    flows, stats = read_all(ZEEK / name)
    fmt, count = SAMPLES[name]
    assert stats.format == fmt
    assert stats.records == count
    assert stats.bad == 0
    assert all(f.proto for f in flows)
    assert all(f.responder_known == (f.resp_p is not None) for f in flows)


def test_placeholder_timestamps_and_unset_fields() -> None:
    flows, _stats = read_all(ZEEK / "opt.basic.conn.log")
    assert flows[0].fields["ts"] == "XXXXXXXXXX.XXXXXX"
    assert flows[0].fields["duration"] is None  # '-'
    assert flows[0].resp_p == 5353
    assert flows[0].proto == "udp"
    assert flows[0].service == "dns"


def test_gzip_and_headerless_bro(tmp_path: Path) -> None:
    gz = tmp_path / "conn.log.gz"
    gz.write_bytes(gzip.compress(ZAT.read_bytes()))
    flows, stats = read_all(gz)
    assert (stats.format, stats.records) == ("zeek", 360)
    plain = tmp_path / "bro.log"
    plain.write_text("".join(line for line in ZAT.read_text().splitlines(True) if not line.startswith("#")))
    old, old_stats = read_all(plain)
    assert old_stats.records == 360
    assert old_stats.bad == 0
    assert list(old[0].fields) == BRO_20
    assert [(f.orig_p, f.resp_p) for f in old] == [(f.orig_p, f.resp_p) for f in flows]


def test_truncated_gzip_is_counted(tmp_path: Path) -> None:
    data = gzip.compress(ZAT.read_bytes())
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    _flows, stats = read_all(cut)
    assert 0 < stats.records < 360
    assert stats.bad >= 1
    assert any("truncated" in why for _n, why in stats.examples)


def zat_as_csv(path: Path, names: dict[str, str], delimiter: str = ",") -> None:
    flows, _ = read_all(ZAT)
    with path.open("w", newline="") as out:
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow([names.get(k, k) for k in flows[0].fields])
        for flow in flows:
            writer.writerow(["" if v is None else v for v in flow.fields.values()])


def test_csv_common_and_mapped_columns(tmp_path: Path) -> None:
    common = tmp_path / "flows.csv"
    zat_as_csv(common, {"id.orig_p": "sport", "id.resp_p": "dport", "id.orig_h": "src", "id.resp_h": "dst"})
    flows, stats = read_all(common)
    assert (stats.format, stats.records, stats.bad) == ("csv", 360, 0)
    assert flows[0].resp_p == 80
    assert flows[0].orig_h == "192.168.33.10"
    assert not flows[0].responder_known
    zeekish = tmp_path / "zeek.csv"
    zat_as_csv(zeekish, {}, delimiter=";")
    flows, _ = read_all(zeekish)
    assert flows[0].responder_known
    assert flows[0].service == "http"
    odd = tmp_path / "odd.csv"
    zat_as_csv(odd, {"id.orig_p": "From Port", "id.resp_p": "To Port", "proto": "L4"})
    with pytest.raises(DataError) as err:
        read_all(odd)
    assert "From Port" in str(err.value)
    assert "To Port" in str(err.value)
    flows, _ = read_all(odd, {"src_port": "From Port", "dst_port": "To Port", "proto": "L4"})
    assert flows[0].resp_p == 80
    assert flows[0].proto == "tcp"


def test_bad_lines_are_counted_with_line_numbers(tmp_path: Path) -> None:
    lines = ZAT.read_bytes().splitlines(True)
    lines[10] = b"1\t2\t3\n"  # wrong field count
    lines[11] = lines[11].replace(b"192.168", b"\xff\xfe.168")  # not UTF-8
    at = next(i for i, line in enumerate(lines) if i > 11 and b"\t80\ttcp\t" in line)
    lines[at] = lines[at].replace(b"\t80\ttcp\t", b"\t99999\ttcp\t")  # bad port
    bad = tmp_path / "bad.log"
    bad.write_bytes(b"".join(lines))
    _flows, stats = read_all(bad)
    assert stats.bad == 3
    assert stats.records == 357
    assert [n for n, _why in stats.examples] == [11, 12, at + 1]
    assert "expected 20 fields" in stats.examples[0][1]
    assert "UTF-8" in stats.examples[1][1]
    assert "99999" in stats.examples[2][1]
    assert "line 11" in stats.report()


def test_whole_file_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(random.Random(1).randbytes(5000))
    one_line = tmp_path / "one.csv"
    one_line.write_text("D" * 5000 + "\n")
    cases = ((empty, "empty"), (tmp_path, "directory"), (garbage, "binary"), (tmp_path / "no", "cannot"))
    for path, message in (*cases, (one_line, "no port column")):
        with pytest.raises(DataError, match=message) as err:
            read_all(path)
        assert len(str(err.value)) < 1000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=3000),
        st.lists(
            st.one_of(
                st.text(max_size=80),
                st.sampled_from(["#fields\tts\tid.orig_p\tid.resp_p\tproto", "#separator \\x09", "{}", "[1]"]),
                st.builds(lambda a, b: f"1.0\t{a}\t{b}\ttcp", st.integers(-5, 70000), st.integers(0, 70000)),
                st.builds(lambda a: json.dumps({"id.resp_p": a, "proto": "udp"}), st.integers(-5, 70000)),
            ),
            max_size=30,
        ).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
    ),
    st.booleans(),
)
def test_readers_fuzz(data: bytes, compress: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "fuzz.log")
        with open(path, "wb") as out:
            out.write(gzip.compress(data) if compress else data)
        stats = ReadStats(path)
        try:
            flows = list(read_flows(path, None, stats))
        except DataError:
            return
        assert stats.lines == stats.records + stats.bad + stats.skipped
        assert len(flows) == stats.records
        assert all(f.resp_p is None or 0 <= f.resp_p <= 65535 for f in flows)


# -- which side is the service ------------------------------------------------------------------------------


def flow(proto: str, src: int | None, dst: int | None, responder_known: bool) -> Flow:
    made = Flow({}, 1)
    made.proto, made.orig_p, made.resp_p, made.responder_known = proto, src, dst, responder_known
    return made


def test_service_side_rule(table: PortTable) -> None:
    # Zeek knows the responder: believe it, even against the port numbers
    assert service_side(table, flow("tcp", 80, 52000, True))[0] == 52000
    # a flow table: the side with the fixed assignment wins, in either direction
    assert service_side(table, flow("tcp", 52000, 443, False))[0] == 443
    assert service_side(table, flow("tcp", 443, 52000, False))[0] == 443
    assert service_side(table, flow("udp", 53, 40000, False))[0] == 53
    # no ports or an uncovered protocol: nothing
    assert service_side(table, flow("icmp", 8, 0, False)) == (None, None)
    assert service_side(table, flow("tcp", None, None, False)) == (None, None)
    # ranks: fixed > run-time outside the ephemeral range > unknown > run-time ephemeral > unknown ephemeral
    fixed = PortInfo("x", "X", (), 0.9, "", False, True)
    runtime = PortInfo("y", "Y", (), 0.2, "", False, False)
    nothing = PortInfo("", "", (), 0.0, "", False, False)
    assert side_rank(fixed, 60000) > side_rank(runtime, 8000) > side_rank(nothing, 8000)
    assert side_rank(nothing, 8000) > side_rank(runtime, 50000) > side_rank(nothing, 33000)
    assert side_rank(nothing, 32767) > side_rank(nothing, 32768)


# -- annotation and summary ---------------------------------------------------------------------------------


def test_annotate_files_csv_and_jsonl(kb: KnowledgeBase, table: PortTable, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    stats = annotate_files([str(ZAT)], str(out), "csv", kb=kb)
    print(f"annotate zat_conn.log: {stats.rows_per_second:,.0f} flows/s")
    assert stats.rows == 360
    assert stats.bad == 0
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 360
    first = rows[0]
    assert (first["input_service"], first["service"], first["service_port"], first["service_proto"]) == (
        "http",
        "http",
        "80",
        "tcp",
    )
    assert float(first["confidence"]) > 0.5
    # the http entry's risk tags, then trojan-port: 80/tcp is in the trojan list
    assert first["risk"] == "cleartext;trojan-port"
    assert len(first["alternatives"].split(";")) <= 4
    out_json = tmp_path / "out.jsonl"
    stats = annotate_files([str(ZEEK / "zat_conn.json.log")], str(out_json), "jsonl", kb=kb)
    records = [json.loads(line) for line in out_json.read_text().splitlines()]
    assert len(records) == stats.rows == 50
    assert records[0]["service"] == "kerberos"
    assert records[0]["input_service"] == "krb_tcp"
    assert records[0]["service_port"] == 88


def sample_paths() -> Iterator[str]:
    return (str(ZEEK / name) for name in sorted(SAMPLES))


def test_summary_and_agreement_with_zeek(kb: KnowledgeBase, table: PortTable) -> None:
    summary = summary_files(sample_paths(), kb=kb)
    text = render_summary(summary)
    print(text)
    agreement = summary["agreement"]
    assert isinstance(agreement, dict)
    print(f"agreement with Zeek's service column: {agreement['agree']}/{agreement['compared']} = {agreement['rate']}")
    assert agreement["compared"] > 200
    assert agreement["rate"] >= 0.85
    assert summary["flows"] == sum(count for _fmt, count in SAMPLES.values())
    services = {e["service"]: e for e in summary["by_service"]}  # type: ignore[attr-defined]
    assert services["http"]["bytes"] > 0
    unusual = {(e["zeek_service"], e["port"]) for e in summary["unusual_ports"]}  # type: ignore[attr-defined]
    assert ("ssh", "2200/tcp") in unusual
    assert "80/tcp" in {e["port"] for e in summary["trojan_ports"]}  # type: ignore[attr-defined]
    risky = {e["service"]: e for e in summary["risky_services"]}  # type: ignore[attr-defined]
    assert risky["http"]["risk"] == "cleartext"  # the catalog's tags, not the trojan history
    assert "unencrypted" in risky["http"]["notes"][0]  # and the notes behind them
    assert "http [cleartext]: Traffic on port 80 is unencrypted" in text
    assert "traffic by service" in text
    assert "agreement" in text


def test_overlong_lines_are_bad_not_buffered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from anyport.traffic import readers

    monkeypatch.setattr(readers, "MAX_LINE", 300)
    lines = ZAT.read_bytes().splitlines(True)
    lines[20] = b"x" * 200_000 + b"\n"
    long_file = tmp_path / "long.log"
    long_file.write_bytes(b"".join(lines))
    _flows, stats = read_all(long_file)
    assert stats.bad == 1
    assert stats.records == 359
    assert stats.examples[0][0] == 21


def test_memory_build_equals_sql_build(kb: KnowledgeBase) -> None:
    """The in-memory build answers exactly what one SQL-backed ranking per stretch answers, on every port."""
    from anyport.traffic import porttable

    table = porttable.build_table(kb)
    sql = porttable._PreloadedKB(kb)  # the old path: every lookup query through SQLite, one ranking per stretch
    try:
        for transport in porttable.TABLE_TRANSPORTS:
            column = table._columns[transport]
            points = porttable._boundaries(sql, transport)
            assert points[0] == 0
            assert points[-1] == porttable.PORTS
            for start, end in itertools.pairwise(points):
                expected = porttable._record(porttable.ranked_matches(sql, transport, start))
                for port in range(start, end):
                    assert table._records[column[port]] == expected, (transport, port)
    finally:
        sql.close()
