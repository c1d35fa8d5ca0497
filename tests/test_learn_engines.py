"""``anyport learn`` on DuckDB (anyport.traffic.columnar_learn) against the Python engine, field for field."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from anyport.query.kb import KnowledgeBase
from anyport.traffic.columnar_learn import learn_columnar
from anyport.traffic.learn import Inbound, LearnResult, learn_files
from anyport.traffic.porttable import PortTable
from conftest import run_cli
from test_traffic_engines import ZEEK_TSV
from test_traffic_summary_engines import PLAIN_COUNTS, PLAIN_TIMES, TIMES

DATA = Path(__file__).resolve().parent / "data"
LOCAL = ["192.0.2.0/24", "2001:db8::/32"]


def proposal(result: LearnResult) -> dict[str, object]:
    """What the engines must agree on: everything but the read statistics of each file."""
    data = result.to_dict()
    del data["files"]
    return data


def both(paths: list[Path], kb: KnowledgeBase, **options: object) -> tuple[dict[str, object], dict[str, object]]:
    names = [str(p) for p in paths]
    python = learn_files(names, kb=kb, engine="python", **options)  # type: ignore[arg-type]
    duck = learn_files(names, kb=kb, engine="duckdb", **options)  # type: ignore[arg-type]
    return proposal(python), proposal(duck)


def direct(path: Path, table: PortTable, kb: KnowledgeBase, local: list[str] | None = None) -> LearnResult | None:
    """The DuckDB engine's own answer, or None where it leaves the input to the Python engine."""
    from anyport.rules.options import parse_networks

    result = LearnResult(parse_networks(local or [], "local network"), 1, False, False)
    inbound = Inbound(result)
    if not learn_columnar(inbound, [str(path)], table):
        return None
    inbound.propose(kb)
    return result


@pytest.mark.parametrize("path", ZEEK_TSV, ids=lambda p: p.name)
def test_same_proposal_on_real_zeek_logs(path: Path, table: PortTable, kb: KnowledgeBase) -> None:
    for local in ([], LOCAL, ["0.0.0.0/0", "::/0"]):
        python, duck = both([path], kb, local=local, include_unknown=True)
        assert duck == python
    assert direct(path, table, kb) is not None  # DuckDB's own answer, not the Python engine's standing in


@pytest.mark.parametrize("kind", ["csv", "zeek"])
def test_same_proposal_on_generated_flows(kind: str, generated: dict[str, Path], kb: KnowledgeBase) -> None:
    python, duck = both([generated[kind]], kb, include_unknown=True)
    assert duck == python
    assert python["flows"] == 3000
    # the CSV's dst_port does not say it is the responder's; the Zeek log's id.resp_p does
    assert bool(python["responder_unknown"]) == (kind == "csv")
    python, duck = both([generated[kind]], kb, local=["192.0.2.0/24"], include_unknown=True)
    assert duck == python
    assert python["proposals"]
    python, duck = both([generated[kind]], kb, local=["192.0.2.0/25"], min_flows=3)
    assert duck == python
    assert python["not_inbound"]


def test_parquet_is_learned_like_the_same_flows_as_csv(generated: dict[str, Path], kb: KnowledgeBase) -> None:
    # the Python engine cannot read Parquet: the proposal from the same flows written as CSV is the reference
    from_parquet = learn_files([str(generated["parquet"])], kb=kb, local=["192.0.2.0/24"])
    from_csv = learn_files([str(generated["csv"])], kb=kb, engine="python", local=["192.0.2.0/24"])
    assert proposal(from_parquet) == proposal(from_csv)
    assert from_parquet.files[0].format == "parquet (duckdb)"
    assert from_parquet.inbound > 1000


def test_typed_parquet_columns(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Ports as integers, bytes as integers, times as timestamps: read as the CSV of the same values."""
    csv = tmp_path / "flows.csv"
    csv.write_text(
        "src,dst,sport,dport,proto,bytes,ts\n"
        "198.51.100.7,192.0.2.10,40000,443,tcp,1200,1764115200\n"
        "198.51.100.8,192.0.2.10,40001,443,tcp,,1764115260\n"
        "2001:db8::5,192.0.2.11,40002,22,tcp,300,1764115320\n"
        "192.0.2.12,198.51.100.9,53,40003,udp,80,1764115380\n",
        "utf-8",
    )
    parquet = tmp_path / "flows.parquet"
    duckdb.sql(
        f"COPY (SELECT src, dst, CAST(sport AS INTEGER) AS sport, CAST(dport AS USMALLINT) AS dport, proto, "
        f"CAST(bytes AS BIGINT) AS bytes, to_timestamp(CAST(ts AS DOUBLE)) AS ts FROM read_csv('{csv}', all_varchar = true)) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    from_parquet = learn_files([str(parquet)], kb=kb, local=["192.0.2.0/24"])
    assert proposal(from_parquet) == proposal(learn_files([str(csv)], kb=kb, engine="python", local=["192.0.2.0/24"]))
    assert [p.spec for p in from_parquet.proposals] == ["tcp/22", "tcp/443", "udp/53"]
    https = from_parquet.proposals[1]
    assert (https.flows, https.bytes, https.clients, https.first_seen) == (2, 1200, 2, "2025-11-26T00:00:00Z")


# addresses as records write them: dotted quads, IPv6, mapped, zone indexes, padding, junk and nothing
ADDRESSES = st.one_of(
    st.sampled_from(["192.0.2.10", "192.0.2.11", "198.51.100.7", "2001:db8::1", "::ffff:192.0.2.10", "fe80::1%eth0"]),
    st.sampled_from(["", "-", " 192.0.2.10 ", "192.0.2.010", "999.1.1.1", "host.example", "10.0.0"]),
    st.ip_addresses(v=4).map(str),
)


@st.composite
def flow_tables(draw: st.DrawFn, plain: bool = False) -> str:
    protos = st.sampled_from(["tcp", "TCP", "udp", "6", "17", "icmp", "", " tcp ", "sctp"])
    ports = st.one_of(st.integers(0, 65535).map(str), st.sampled_from(["80", "443", "22", "53", "6881", "", "x"]))
    times = PLAIN_TIMES if plain else TIMES
    rows = draw(
        st.lists(st.tuples(ADDRESSES, ADDRESSES, ports, ports, protos, PLAIN_COUNTS, times), min_size=1, max_size=30)
    )
    header = draw(st.sampled_from(["src,dst,sport,dport", "id.orig_h,id.resp_h,id.orig_p,id.resp_p"]))
    lines = [header + ",proto,bytes,ts"] + [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"


OPTIONS = st.fixed_dictionaries(
    {
        "local": st.sampled_from([[], LOCAL, ["198.51.100.0/24"]]),
        "min_flows": st.integers(1, 3),
        "include_unknown": st.booleans(),
        "any_source": st.booleans(),
    }
)
TIED = "src,dst,sport,dport,proto,bytes,ts\n192.0.2.10,198.51.100.7,22,40000,tcp,5,\n,192.0.2.10,1,22,tcp,,\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=flow_tables(), options=OPTIONS)
@example(text=TIED, options={"local": LOCAL, "min_flows": 1, "include_unknown": True, "any_source": False})
def test_same_proposal_on_any_csv(text: str, options: dict[str, object], kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(text, "utf-8")
    python, duck = both([path], kb, **options)
    assert duck == python


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=flow_tables(plain=True), local=st.sampled_from([[], LOCAL]))
def test_duckdb_learns_plain_values_itself(
    text: str, local: list[str], table: PortTable, kb: KnowledgeBase, tmp_path: Path
) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(text, "utf-8")
    own = direct(path, table, kb, local)
    assert own is not None
    assert proposal(own) == proposal(learn_files([str(path)], kb=kb, engine="python", local=local))


def test_iso_times_go_to_the_python_engine(table: PortTable, kb: KnowledgeBase, tmp_path: Path) -> None:
    iso = tmp_path / "iso.csv"
    iso.write_text("src,dst,sport,id.resp_p,proto,ts\n198.51.100.7,192.0.2.10,40000,443,tcp,2026-11-26T10:00:00Z\n")
    assert direct(iso, table, kb) is None
    result = learn_files([str(iso)], kb=kb, engine="duckdb")
    assert result.files[0].format == "csv"  # read by the Python engine after all
    assert result.proposals[0].first_seen == "2026-11-26T10:00:00Z"
    assert result.flows == 1


def test_progress_over_several_files(generated: dict[str, Path], kb: KnowledgeBase) -> None:
    paths = [str(generated["csv"]), str(generated["zeek"])]
    for local in ([], ["192.0.2.0/24"]):  # with local networks, two queries a file: each its part of the bar
        calls: list[tuple[float, float | None, str]] = []
        result = learn_files(
            paths, kb=kb, engine="duckdb", local=local, progress=lambda *a, calls=calls: calls.append(a)
        )
        assert result.flows == 6000
        assert [s.format for s in result.files] == ["csv (duckdb)", "zeek (duckdb)"]
        assert calls[-1] == (100.0, 100.0, "percent")
        assert [c[0] for c in calls] == sorted(c[0] for c in calls)
        assert 50.0 in [c[0] for c in calls]  # the first file done
        assert proposal(result) == proposal(learn_files(paths, kb=kb, engine="python", local=local))


def test_cli_learns_from_parquet(generated: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rules.nft"
    done = run_cli(
        "learn", str(generated["parquet"]), "--local", "192.0.2.0/24", "--target", "nftables", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "dport" in out.read_text("utf-8")
    assert "flows," in done.stderr
    engines = []
    for engine in ("python", "duckdb"):
        done = run_cli("learn", str(generated["csv"]), "--json", "--engine", engine)
        assert done.returncode == 0, done.stderr
        engines.append({k: v for k, v in json.loads(done.stdout).items() if k != "files"})
    assert engines[0] == engines[1]
    refused = run_cli("learn", str(generated["parquet"]), "--engine", "python")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "Parquet" in refused.stderr
