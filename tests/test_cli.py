"""The command line as a user meets it: help, shorthand, formats, and one clear line for every mistake."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from anyport.cli.main import COMMANDS
from conftest import run_cli


def test_no_arguments_prints_help() -> None:
    result = run_cli()
    assert result.returncode == 0
    assert "anyport 6881" in result.stdout


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command: str | None) -> None:
    result = run_cli(*([command] if command else []), "--help")
    assert result.returncode == 0
    assert "usage: anyport" in result.stdout
    if command:
        assert "--help" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["70000"], "port 70000 is out of range"),
        (["-1"], "ports cannot be negative"),
        (["10-5"], "runs backwards"),
        (["abc/tcp"], "'abc' is not a port number"),
        ([""], "empty query"),
        (["lookup", ""], "empty query"),
        (["443", "--frobnicate"], "unrecognized arguments"),
        (["--frobnicate"], "unrecognized arguments"),
        (["service", "nosuchservice"], "no service named 'nosuchservice'"),
        (["service", ""], "empty service name"),
        (["search", ""], "empty search"),
        (["search", "x", "--category", "gamng"], "unknown category 'gamng'"),
        (["search", "x", "--limit", "0"], "--limit must be at least 1"),
        (["search", "x", "--transport", "icmp"], "invalid choice"),
        (["lookup", "443", "--json", "--csv"], "not allowed with argument"),
        (["443", "80/", "22"], "ends with '/'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("anyport:")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_shorthand_is_lookup() -> None:
    short = run_cli("6881", "--json")
    long = run_cli("lookup", "6881", "--json")
    assert short.returncode == 0
    assert short.stdout == long.stdout


def test_several_queries_give_a_list() -> None:
    result = run_cli("3389/tcp", "50/udp", "ip:47", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["query"] for d in data] == ["3389/tcp", "50/udp", "ip:47"]
    assert data[0]["matches"][0]["name"] == "rdp"
    assert data[2]["matches"][0]["name"] == "gre"


def test_csv_output_parses() -> None:
    result = run_cli("22", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["name"] == "ssh"
    assert rows[0]["query"] == "22"
    assert float(rows[0]["confidence"]) > 0.8


@pytest.mark.parametrize(
    "args",
    [["service", "pptp", "--json"], ["search", "vpn", "--json"], ["categories", "--json"], ["schema"]],
)
def test_json_everywhere(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)


@pytest.mark.parametrize("args", [["service", "pptp", "--csv"], ["search", "vpn", "--csv"], ["categories", "--csv"]])
def test_csv_everywhere(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert len(rows) > 1
    assert len({len(r) for r in rows}) == 1


def test_unknown_name_exits_1_with_suggestion() -> None:
    result = run_cli("bittorent")
    assert result.returncode == 1
    assert "did you mean bittorrent" in result.stdout


def test_search_without_hits_exits_1() -> None:
    result = run_cli("search", "qqqqzzzzxxxx")
    assert result.returncode == 1
    assert "no service matches" in result.stdout


def test_closed_pipe_is_not_an_error() -> None:
    script = "import subprocess,sys; p=subprocess.Popen([sys.executable,'-m','anyport','search','server','--limit','500'],stdout=subprocess.PIPE,stderr=subprocess.PIPE); p.stdout.read(10); p.stdout.close(); err=p.stderr.read(); p.wait(); print(p.returncode, err.decode())"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "Traceback" not in result.stdout


def test_hostile_query_is_echoed_safely() -> None:
    result = run_cli("<script>alert(1)</script>", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["query"] == "<script>alert(1)</script>"


def test_schema_to_file(tmp_path: pytest.TempPathFactory) -> None:
    target = tmp_path / "schema.json"  # type: ignore[operator]
    result = run_cli("schema", "-o", str(target))
    assert result.returncode == 0
    assert json.loads(target.read_text())["title"] == "anyport catalog file"  # type: ignore[attr-defined]


GOLDEN_COMMANDS = {
    "lookup-6881.txt": ["6881"],
    "lookup-1337-tcp.txt": ["1337/tcp"],
    "lookup-ip-47.txt": ["ip:47"],
    "lookup-dnssd-ipp.txt": ["_ipp._tcp"],
    "lookup-unknown-48620.txt": ["48620/tcp"],
    "lookup-22.csv": ["22", "--csv"],
    "service-pptp.txt": ["service", "pptp"],
    "service-netmeeting.json": ["service", "netmeeting", "--json"],
    "search-instant-messaging.txt": ["search", "instant messaging"],
    "categories.txt": ["categories"],
}


@pytest.mark.parametrize("name", sorted(GOLDEN_COMMANDS))
def test_output_matches_golden_file(name: str, golden) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(*GOLDEN_COMMANDS[name])
    assert result.returncode == 0, result.stderr
    golden(name, result.stdout)
