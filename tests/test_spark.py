"""anyport.spark on a real Spark in local mode: the same answers as the Python engine, row for row.

One session for the module (local[2], UI off, few shuffle partitions). The flows are generated deterministically
(common and random ports, swapped sides, ephemeral ports, icmp, protocol numbers and odd spellings, missing and
unreadable ports) and the reference is the Python engine reading the very same file.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anyport.errors import DataError, QueryError
from anyport.query.kb import KnowledgeBase
from anyport.traffic.annotate import annotate as python_annotate
from anyport.traffic.annotate import annotate_files
from anyport.traffic.porttable import PortTable
from anyport.traffic.readers import ReadStats, read_flows
from conftest import run_cli

JAVA = bool(shutil.which("java") or os.environ.get("JAVA_HOME"))
pytestmark = pytest.mark.skipif(not JAVA, reason="Spark needs a Java runtime (apt-get install openjdk-17-jre-headless)")

from anyport import spark as anyport_spark  # noqa: E402  (imports no pyspark itself)

ZEEK = Path(__file__).resolve().parent / "data" / "zeek"
COMPARED = ("service", "service_port", "service_proto", "alternatives", "confidence", "risk")
COMMON = [80, 443, 53, 22, 25, 123, 3389, 8080, 993, 445, 5060, 6881, 1194, 51820, 27015, 3478, 161, 389, 8443, 554]
PROTOS = ["tcp"] * 10 + ["udp"] * 5 + ["TCP", "Udp", "6", "17", "132", "sctp", "icmp", "1", "gre", ""]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("anyport tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def port_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return str(rng.choice(COMMON))
    if roll < 0.6:
        return str(rng.randrange(10000))
    if roll < 0.97:
        return str(rng.randrange(65536))
    return rng.choice(["", "0", "65535", " 443 "])


def flow_rows(count: int, seed: int = 4) -> list[dict[str, str]]:
    """Flows as a flow table would give them: a quarter with the server as the source."""
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        server, client = (
            port_text(rng),
            str(32768 + rng.randrange(28232) if rng.random() < 0.8 else rng.randrange(65536)),
        )
        if rng.random() < 0.25:
            server, client = client, server
        rows.append(
            {
                "uid": f"F{number:06d}",
                "src": f"10.0.{number % 250}.{number % 7 + 1}",
                "sport": client,
                "dst": "192.0.2.7",
                "dport": server,
                "proto": rng.choice(PROTOS),
                "service": rng.choice(["", "-", "http", "dns"]),  # renamed input_service, as in the Python engine
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], rename: dict[str, str] | None = None) -> Path:
    rename = rename or {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([rename.get(k, k) for k in rows[0]])
        writer.writerows([list(r.values()) for r in rows])
    return path


def reference(table: PortTable, path: Path) -> dict[str, tuple[Any, ...]]:
    """uid -> the Python engine's annotation of the file."""
    out = {}
    for item in python_annotate(table, read_flows(str(path))):
        out[str(item.row["uid"])] = tuple(item.row[c] for c in COMPARED)
    return out


def spark_rows(df: Any) -> dict[str, tuple[Any, ...]]:
    return {str(row["uid"]): tuple(row[c] for c in COMPARED) for row in df.collect()}


def test_find_columns_uses_the_readers_names() -> None:
    assert anyport_spark.find_columns(["ts", "SPort", "dport", "Protocol"]) == {
        "proto": "Protocol",
        "src_port": "SPort",
        "dst_port": "dport",
    }
    assert anyport_spark.find_columns(["id.orig_p", "id.resp_p", "proto"])["dst_port"] == "id.resp_p"
    assert anyport_spark.find_columns(["a", "b"], {"dst_port": "B"}) == {"dst_port": "b"}
    with pytest.raises(DataError, match=r"no port column .*found 'a', 'b'"):
        anyport_spark.find_columns(["a", "b"])
    with pytest.raises(DataError, match="no column named 'c'"):
        anyport_spark.find_columns(["a", "b"], {"dst_port": "c"})
    with pytest.raises(DataError, match="unknown column role 'port'"):
        anyport_spark.find_columns(["a", "b"], {"port": "a"})


def test_flow_table_agrees_with_python_row_for_row(spark: Any, table: PortTable, tmp_path: Path) -> None:
    rows = flow_rows(4000)
    rows.append({**rows[0], "uid": "Fnone", "sport": "", "dport": ""})  # no ports at all
    rows.append({**rows[0], "uid": "Fsrc", "proto": "tcp", "sport": "443", "dport": ""})  # only the source port
    path = write_csv(tmp_path / "flows.csv", rows)
    expected = reference(table, path)
    assert len(expected) == len(rows)
    df = spark.read.option("header", "true").csv(str(path))
    got = spark_rows(anyport_spark.annotate(df, table=table))
    assert got == expected
    # the rule was exercised: swapped rows, icmp and other protocols, unknown ports, numbers for protocols
    by_uid = {row["uid"]: row for row in rows}
    swapped = [u for u, r in expected.items() if r[1] is not None and str(r[1]) == by_uid[u]["sport"].strip()]
    assert len(swapped) > 500
    assert sum(1 for r in expected.values() if r[2] == "" and r[0] == "") > 200
    assert sum(1 for r in expected.values() if r[1] is not None and r[0] == "") > 50
    assert expected["Fnone"] == ("", None, "", "", 0.0, "")
    assert expected["Fsrc"][:3] == ("https", 443, "tcp")
    assert {r[2] for r in expected.values()} == {"", "tcp", "udp", "sctp"}


def test_typed_columns_agree_with_the_text_file(spark: Any, table: PortTable, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    rows = [r for r in flow_rows(1500, seed=9) if r["proto"] in ("6", "17", "132", "1") and r["sport"] and r["dport"]]
    rows = [{**r, "sport": r["sport"].strip(), "dport": r["dport"].strip()} for r in rows]
    path = write_csv(tmp_path / "numbers.csv", rows)
    expected = reference(table, path)
    typed = (
        spark.read.option("header", "true")
        .csv(str(path))
        .select(
            "uid",
            F.col("sport").cast("int").alias("src_port"),
            F.col("dport").cast("long").alias("dst_port"),
            F.col("proto").cast("int").alias("protocol"),
        )
    )
    assert spark_rows(anyport_spark.annotate(typed, table=table)) == expected


def test_responder_column_is_believed(spark: Any, table: PortTable, tmp_path: Path) -> None:
    rows = flow_rows(3000, seed=5)
    path = write_csv(tmp_path / "zeek.csv", rows, {"sport": "id.orig_p", "dport": "id.resp_p"})
    expected = reference(table, path)
    df = spark.read.option("header", "true").csv(str(path))
    annotated = anyport_spark.annotate(df, table=table)
    assert spark_rows(annotated) == expected
    # the responder's port whenever the record has one, even when the other side has the known service
    for uid, result in expected.items():
        row = rows[int(uid[1:])]
        if result[1] is not None:
            assert result[1] == int(row["dport"] or row["sport"])
    # forcing the other rule changes the answer for swapped rows
    guessed = spark_rows(anyport_spark.annotate(df, table=table, responder_known=False))
    assert guessed != expected
    assert "input_service" in annotated.columns
    assert "service" in annotated.columns


def test_zeek_samples_through_files_agree(spark: Any, kb: KnowledgeBase, table: PortTable, tmp_path: Path) -> None:
    for name in ("zat_conn.log", "zat_conn.json.log", "opt.basic.conn.log"):
        python_out = tmp_path / f"{name}.jsonl"
        annotate_files([str(ZEEK / name)], str(python_out), "jsonl", kb=kb)
        expected = [tuple(json.loads(line)[c] for c in COMPARED) for line in python_out.read_text().splitlines()]
        out = tmp_path / f"{name}.spark"
        run = anyport_spark.annotate_paths([str(ZEEK / name)], str(out), "jsonl", table=table)
        assert run.inputs == [(str(ZEEK / name), "json" if "json" in name else "zeek")]
        got_rows = [json.loads(line) for part in sorted(out.glob("part-*")) for line in part.read_text().splitlines()]
        got = [tuple(r[c] for c in COMPARED) for r in got_rows]
        assert sorted(got, key=repr) == sorted(expected, key=repr), name
        assert run.written == run.rows == len(expected)
        assert run.identified == sum(1 for r in expected if r[0])
        assert all("service_port" in r for r in got_rows)  # nulls are written, not dropped
        if name == "zat_conn.log":
            assert got_rows[0]["input_service"] == "http"
            assert "id.orig_h" in got_rows[0]


def test_bad_rows_are_counted_and_skipped_like_python(spark: Any, table: PortTable, tmp_path: Path) -> None:
    rows = flow_rows(200, seed=2)
    path = write_csv(tmp_path / "bad.csv", rows)
    with path.open("a") as handle:
        handle.write("Fx1,10.0.0.1,123,192.0.2.1,notaport,tcp,\n")  # a port that is no port
        handle.write("Fx2,10.0.0.1,123,192.0.2.1,70000,udp,\n")  # out of range
        handle.write("Fx3,10.0.0.1,123\n")  # too few fields
        handle.write("# a comment\n")
    stats = ReadStats(str(path))
    expected = {str(f.fields["uid"]) for f in read_flows(str(path), None, stats)}
    assert stats.bad == 3
    out = tmp_path / "out.parquet"
    run = anyport_spark.annotate_paths([str(path)], str(out), "parquet", table=table)
    assert (run.rows, run.bad, run.written) == (203, 3, 200)
    assert "3 bad rows skipped" in run.report()
    written = spark.read.parquet(str(out))
    assert {r["uid"] for r in written.select("uid").collect()} == expected
    assert written.schema["service_port"].dataType.simpleString() == "int"
    assert written.schema["confidence"].dataType.simpleString() == "double"


def test_csv_output_and_mapped_columns(spark: Any, table: PortTable, tmp_path: Path) -> None:
    rows = flow_rows(300, seed=3)
    path = write_csv(tmp_path / "odd.csv", rows, {"sport": "a_port", "dport": "b_port", "proto": "p"})
    out = tmp_path / "out.csv"
    anyport_spark.annotate_paths(
        [str(path)], str(out), "csv", columns={"src_port": "a_port", "dst_port": "b_port", "proto": "p"}, table=table
    )
    with next(out.glob("part-*.csv")).open(newline="") as handle:
        got = list(csv.DictReader(handle))
    plain = write_csv(tmp_path / "plain.csv", rows)
    expected = reference(table, plain)
    assert len(got) == 300
    for row in got:
        service, port, proto, alternatives, confidence, risk = expected[row["uid"]]
        assert (row["service"], row["service_port"], row["service_proto"]) == (
            service,
            "" if port is None else str(port),
            proto,
        )
        assert (row["alternatives"], float(row["confidence"]), row["risk"]) == (alternatives, confidence, risk)


def test_file_errors_are_clear(spark: Any, table: PortTable, tmp_path: Path) -> None:
    flows = write_csv(tmp_path / "f.csv", flow_rows(5))
    with pytest.raises(QueryError, match="give an output path"):
        anyport_spark.annotate_paths([str(flows)], "-", "csv", table=table)
    with pytest.raises(QueryError, match="unknown output format"):
        anyport_spark.annotate_paths([str(flows)], str(tmp_path / "o"), "xml", table=table)
    (tmp_path / "exists").mkdir()
    with pytest.raises(DataError, match="exists"):
        anyport_spark.annotate_paths([str(flows)], str(tmp_path / "exists"), "csv", table=table)
    with pytest.raises(DataError, match="no such file"):
        anyport_spark.annotate_paths([str(tmp_path / "missing.csv")], str(tmp_path / "o"), "csv", table=table)
    noports = tmp_path / "noports.csv"
    noports.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"no port column .*'a', 'b'"):
        anyport_spark.annotate_paths([str(noports)], str(tmp_path / "o"), "csv", table=table)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="is empty"):
        anyport_spark.annotate_paths([str(empty)], str(tmp_path / "o"), "csv", table=table)
    capture = Path(__file__).resolve().parent / "data"
    pcaps = sorted(capture.rglob("*.pcap"))
    if pcaps:
        with pytest.raises(DataError, match="is a capture"):
            anyport_spark.annotate_paths([str(pcaps[0])], str(tmp_path / "o"), "csv", table=table)


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_missing_java_or_pyspark_says_what_to_install() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "SPARK_REMOTE", "PYSPARK_GATEWAY_PORT")}
    env["PATH"] = os.path.dirname(sys.executable)  # the venv's own tools, no java
    code = (
        "from anyport.errors import AnyportError\nfrom anyport.spark import session\n"
        "try:\n    session()\nexcept AnyportError as e:\n    print(type(e).__name__, e)\n"
    )
    result = run_python(code, env)
    assert result.stdout.startswith("DataError Spark needs Java"), result.stderr
    assert "anyport[spark]" in result.stdout
    blocked = "import sys\nsys.modules['pyspark'] = None\nsys.modules['pyspark.sql'] = None\n" + code
    result = run_python(blocked, dict(os.environ))
    assert result.stdout.startswith("DataError the spark engine needs pyspark"), result.stderr
    assert "pip install 'anyport[spark]'" in result.stdout


def test_cli_engine_spark(spark: Any, table: PortTable, tmp_path: Path) -> None:
    rows = flow_rows(400, seed=11)
    path = write_csv(tmp_path / "cli.csv", rows)
    out = tmp_path / "cli.parquet"
    result = run_cli("annotate", "--engine", "spark", str(path), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "400 flows annotated" in result.stderr
    assert "(parquet, a directory of part files)" in result.stderr
    expected = reference(table, path)
    assert spark_rows(spark.read.parquet(str(out))) == expected
    # errors are one line and exit code 2: stdout is no place for part files, and no Java is no traceback
    result = run_cli("annotate", "--engine", "spark", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "-o DIR" in result.stderr
    env = {"PATH": os.path.dirname(sys.executable), "JAVA_HOME": ""}
    result = run_cli("annotate", "--engine", "spark", str(path), "-o", str(tmp_path / "nojava"), env=env)
    assert result.returncode == 2
    assert "Spark needs Java" in result.stderr
    assert "Traceback" not in result.stderr
