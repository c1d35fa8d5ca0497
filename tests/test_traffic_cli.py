"""``anyport annotate`` and ``anyport summary`` on real samples, and their bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from conftest import run_cli

DATA = Path(__file__).resolve().parent / "data"


def test_annotate_a_capture_and_a_zeek_log(tmp_path: Path) -> None:
    out = tmp_path / "flows.csv"
    result = run_cli("annotate", str(DATA / "pcap" / "ssh.pcap"), str(DATA / "zeek" / "zat_conn.log"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    assert len(rows) == 25 + 360
    first = rows[0]
    assert (first["id.resp_p"], first["service"], first["service_proto"]) == ("22", "ssh", "tcp")
    assert "flows annotated" in result.stderr


def test_annotate_json_lines_to_stdout() -> None:
    result = run_cli("annotate", str(DATA / "zeek" / "zat_conn.json.log"), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records
    assert all({"service", "service_port", "alternatives", "confidence", "risk"} <= set(r) for r in records)


def test_summary_json() -> None:
    result = run_cli("summary", str(DATA / "zeek" / "zat_conn.log"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["flows"] == 360
    assert summary["agreement"]["rate"] >= 0.9


def test_bad_inputs_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    for args in (["annotate", str(empty)], ["annotate", str(tmp_path)], ["summary", str(tmp_path / "missing")],
                 ["annotate", str(DATA / "zeek" / "zat_conn.log"), "--columns", "nonsense"]):  # fmt: skip
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
