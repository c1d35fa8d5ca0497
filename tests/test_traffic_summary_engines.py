"""The DuckDB summary (anyport.traffic.columnar_summary) against the Python engine's, field for field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from anyport.errors import DataError
from anyport.query.kb import KnowledgeBase
from anyport.traffic.annotate import summary_files
from anyport.traffic.columnar_summary import summary_columnar
from anyport.traffic.porttable import PortTable
from conftest import run_cli
from test_traffic_engines import ZEEK_TSV

DATA = Path(__file__).resolve().parent / "data"


def without_files(summary: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in summary.items() if key != "files"}


def both(paths: list[Path], kb: KnowledgeBase) -> tuple[dict[str, object], dict[str, object]]:
    names = [str(p) for p in paths]
    return summary_files(names, kb=kb, engine="python"), summary_files(names, kb=kb, engine="duckdb")


@pytest.mark.parametrize("path", ZEEK_TSV, ids=lambda p: p.name)
def test_same_summary_on_real_zeek_logs(path: Path, table: PortTable, kb: KnowledgeBase) -> None:
    python, duckdb = both([path], kb)
    assert without_files(duckdb) == without_files(python)
    # and it was DuckDB's own answer, not the Python engine's standing in
    assert summary_columnar([str(path)], table, kb) is not None


@pytest.mark.parametrize("kind", ["csv", "zeek"])
def test_same_summary_on_generated_flows(
    kind: str, generated: dict[str, Path], table: PortTable, kb: KnowledgeBase
) -> None:
    python, duckdb = both([generated[kind]], kb)
    assert without_files(duckdb) == without_files(python)
    assert python["flows"] == 3000
    assert python["time"] is not None
    assert python["bytes"]
    direct = summary_columnar([str(generated[kind])], table, kb)
    assert direct is not None
    files = direct["files"]
    assert isinstance(files, list)
    assert files[0]["records"] == 3000


def test_parquet_is_summarized_like_the_same_flows_as_csv(generated: dict[str, Path], kb: KnowledgeBase) -> None:
    # the Python engine cannot read Parquet: the summary of the same flows written as CSV is the reference
    from_parquet = summary_files([str(generated["parquet"])], kb=kb)
    from_csv = summary_files([str(generated["csv"])], kb=kb, engine="python")
    assert without_files(from_parquet) == without_files(from_csv)


def test_several_files_and_progress(generated: dict[str, Path], kb: KnowledgeBase) -> None:
    calls: list[tuple[float, float | None, str]] = []
    paths = [str(generated["csv"]), str(generated["zeek"])]
    summary = summary_files(paths, kb=kb, engine="duckdb", progress=lambda *a: calls.append(a))
    python = summary_files(paths, kb=kb, engine="python")
    assert without_files(summary) == without_files(python)
    assert summary["flows"] == 6000
    assert len(summary["files"]) == 2  # type: ignore[arg-type]
    assert calls[-1] == (100.0, 100.0, "percent")
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


# what SQL reads exactly as Python does
PLAIN_TIMES = st.one_of(
    st.sampled_from(["", "-", "1764115200.5", "1764115200000", "0", "-5", "nan", "inf", "XXXXXXXXXX.XXXXXX"]),
    st.sampled_from([" 1764115300 ", "-1764115200", "1e9", ".5", "1764115200.", "abc"]),
    st.floats(1e8, 5e12, allow_nan=False).map(str),
    st.integers(-10, 4_102_444_800).map(str),
)
PLAIN_COUNTS = st.one_of(
    st.sampled_from(["", "-", "007", " 12 ", "+5", "-5", "1e3", "12.0", "abc", "99999999999999999999"]),
    st.integers(0, 10**12).map(str),
)
# and what the Python engine has to read (ISO dates, '1_000', non-ASCII digits, numbers beyond 64 bits)
TIMES = st.one_of(
    PLAIN_TIMES,
    st.sampled_from(
        ["2026-11-26T10:00:00Z", "2026-11-26 10:00:00", "+1764115200", "1_764_115_200", "1764115200,5", "0x10"]
    ),
)
COUNTS = st.one_of(PLAIN_COUNTS, st.sampled_from(["٣", "99999999999999999999999999999999999", "1_000"]))


@st.composite
def flow_tables(draw: st.DrawFn, plain: bool = False) -> str:
    protos = st.sampled_from(["tcp", "TCP", "udp", "6", "17", "icmp", "", " tcp ", "gre"])
    ports = st.one_of(st.integers(0, 65535).map(str), st.sampled_from(["80", "443", "53", "6881", "", "70000"]))
    services = st.sampled_from(["", "-", "dns", "ssl,http", " http ", "ssh", "krb_tcp", "nonsense"])
    durations = st.one_of(st.sampled_from(["", "-", "0.5", "1e9", "-1", "nan"]), st.floats(0, 1e5).map(str))
    times, counts = (PLAIN_TIMES, PLAIN_COUNTS) if plain else (TIMES, COUNTS)
    rows = draw(
        st.lists(
            st.tuples(protos, ports, ports, services, counts, counts, times, durations, times), min_size=1, max_size=30
        )
    )
    lines = ["proto,sport,dport,service,bytes,packets,ts,duration,last_seen"]
    lines += [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"


# two Zeek names unusual on the same port with the same count: their order must not follow the input's
TIED_UNUSUAL = "proto,sport,dport,service\ntcp,0,0,\ntcp,0,0,ssh\ntcp,0,0,dns\ntcp,0,0,ssl\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=flow_tables())
@example(text=TIED_UNUSUAL)
def test_same_summary_on_any_csv(text: str, kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(text, "utf-8")
    python, duckdb = both([path], kb)
    assert without_files(duckdb) == without_files(python)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=flow_tables(plain=True))
@example(text=TIED_UNUSUAL)
def test_duckdb_reads_plain_values_itself(text: str, table: PortTable, kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(text, "utf-8")
    duckdb = summary_columnar([str(path)], table, kb)
    assert duckdb is not None
    assert without_files(duckdb) == without_files(summary_files([str(path)], kb=kb, engine="python"))


def test_plain_values_stay_with_duckdb(table: PortTable, kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(
        "proto,sport,dport,service,bytes,packets,ts,duration\n"
        "tcp,40000,443,ssl,100,2,1764115200.5,0.25\n"
        "udp,53,40001,-,,,1764115300,\n"
        "tcp,40002,22,ssh,007,-,XXXXXXXXXX.XXXXXX,nan\n",
        "utf-8",
    )
    summary = summary_columnar([str(path)], table, kb)
    assert summary is not None
    assert summary["bytes"] == 107
    assert summary["time"] == summary_files([str(path)], kb=kb, engine="python")["time"]
    # an ISO date is the Python reader's to read: the DuckDB engine steps aside
    iso = tmp_path / "iso.csv"
    iso.write_text("proto,sport,dport,ts\ntcp,40000,443,2026-11-26T10:00:00Z\n", "utf-8")
    assert summary_columnar([str(iso)], table, kb) is None
    assert summary_files([str(iso)], kb=kb, engine="duckdb")["time"] is not None


def test_duckdb_summary_refuses_what_it_cannot_read(kb: KnowledgeBase) -> None:
    with pytest.raises(DataError, match=r"pop3\.pcap is binary data, not a Zeek log or CSV flow table"):
        summary_files([str(DATA / "pcap" / "pop3.pcap")], kb=kb, engine="duckdb")
    done = run_cli("summary", str(DATA / "pcap" / "pop3.pcap"), "--engine", "duckdb")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1


def test_cli_summary_engines_agree(kb: KnowledgeBase) -> None:
    log = str(DATA / "zeek" / "zat_conn.log")
    outputs = []
    for engine in ("python", "duckdb"):
        done = run_cli("summary", log, "--json", "--engine", engine)
        assert done.returncode == 0, done.stderr
        outputs.append(without_files(json.loads(done.stdout)))
    assert outputs[0] == outputs[1]
