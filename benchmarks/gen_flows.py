"""Deterministic synthetic flow tables for the traffic benchmarks (10 M rows by default).

Run: ``.venv/bin/python benchmarks/gen_flows.py OUT [--rows N] [--format parquet|csv|zeek]``

The same ``--rows`` always gives the same rows (an integer hash of the row number, no random state), written by
DuckDB straight from ``range(N)``, so 10 M rows take a few seconds. Nine columns like a flow export: ``ts``,
``uid``, source and destination address and port, ``proto`` (80 % tcp, 18 % udp, 2 % icmp), ``packets``,
``bytes``. Destination ports are a realistic mix (70 % well-known services, 15 % other ports below 10000,
15 % anywhere); a quarter of the rows have their ports swapped (the server is the source), which flow tables
without a responder column do. ``--format zeek`` writes a Zeek conn.log TSV with its headers (Zeek's column
names; ``id.resp_p`` is then always the server); csv and parquet use ``src``/``sport``/``dst``/``dport``.

Clients are spread over 10.0.0.0/8, nearly one per flow. ``--clients N`` draws them from N addresses instead,
as at a site whose clients come back (``anyport learn`` groups flows by client).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

COMMON = [80, 443, 53, 22, 25, 123, 3389, 8080, 993, 445, 5060, 6881, 1194, 51820, 27015, 3478, 161, 389, 8443, 554]
ZEEK_HEADER = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2026-11-26-00-00-00
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_pkts\torig_bytes
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tcount
"""


def flows_sql(rows: int, clients: int = 0) -> str:
    """A SELECT producing ``rows`` synthetic flows with client/server columns (no side swapped yet); ``clients``
    distinct client addresses (0: nearly one per flow)."""
    common = ", ".join(str(p) for p in COMMON)
    # h(k): a 31-bit hash of the row number, different for each seed (a murmur-style finalizer, no state)
    h = "mix(i * 2654435761 + {b} * 1000003)"
    client = "'10.' || (h4 % 256) || '.' || (h5 % 256) || '.' || (i % 250 + 1)"
    if clients:
        k = f"(h5 % {clients})"
        client = f"'10.' || ({k} // 65536 % 256) || '.' || ({k} // 256 % 256) || '.' || ({k} % 256)"
    return f"""
    WITH base AS (
        SELECT i,
            {h.format(a=48271, b=11)} AS h1, {h.format(a=69621, b=7)} AS h2, {h.format(a=16807, b=3)} AS h3,
            {h.format(a=39373, b=5)} AS h4, {h.format(a=40692, b=13)} AS h5
        FROM range({rows}) t(i)
    ), shaped AS (
        SELECT i, h1, h2, h3, h4, h5,
            CASE WHEN h1 % 100 < 80 THEN 'tcp' WHEN h1 % 100 < 98 THEN 'udp' ELSE 'icmp' END AS proto,
            CASE WHEN h2 % 100 < 70 THEN list_extract([{common}], 1 + (h3 % {len(COMMON)}))
                 WHEN h2 % 100 < 85 THEN h3 % 10000
                 ELSE h3 % 65536 END AS server_port,
            32768 + (h4 % 28232) AS client_port
        FROM base
    )
    SELECT
        CAST(1764115200.0 + i * 0.000123 AS DOUBLE) AS ts,
        'C' || lpad(printf('%x', h5), 8, '0') || lpad(printf('%x', i), 8, '0') AS uid,
        {client} AS client,
        client_port,
        '192.0.2.' || (h3 % 254 + 1) AS server,
        server_port,
        proto,
        1 + h5 % 200 AS packets,
        40 + (h5 % 200) * (h2 % 1400) AS bytes,
        h5 % 4 = 0 AS swapped
    FROM shaped
    """


MIX = """CREATE MACRO mix1(x) AS (xor(x % 4294967296, (x % 4294967296) >> 16) * 73244475) % 4294967296;
CREATE MACRO mix(x) AS xor(mix1(x), mix1(x) >> 16) % 2147483647"""


def generate(out: Path, rows: int, fmt: str, clients: int = 0) -> float:
    import duckdb

    con = duckdb.connect()
    con.execute(MIX)
    con.execute("SET preserve_insertion_order = true")
    base = flows_sql(rows, clients)
    if fmt == "zeek":
        select = f"""SELECT printf('%.6f', ts), uid, client, client_port, server, server_port, proto, packets, bytes
                     FROM ({base})"""
        started = time.perf_counter()
        out.write_text(ZEEK_HEADER)
        con.execute(f"COPY ({select}) TO '{out}.body' (FORMAT csv, DELIMITER '\t', HEADER false, QUOTE '')")
        with open(out, "ab") as target, open(f"{out}.body", "rb") as body:
            while chunk := body.read(1 << 24):
                target.write(chunk)
            target.write(b"#close\t2026-11-26-00-10-00\n")
        Path(f"{out}.body").unlink()
        return time.perf_counter() - started
    select = f"""SELECT ts, uid,
        CASE WHEN swapped THEN server ELSE client END AS src,
        CASE WHEN swapped THEN server_port ELSE client_port END AS sport,
        CASE WHEN swapped THEN client ELSE server END AS dst,
        CASE WHEN swapped THEN client_port ELSE server_port END AS dport,
        proto, packets, bytes FROM ({base})"""
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
    started = time.perf_counter()
    con.execute(f"COPY ({select}) TO '{out}' ({options})")
    return time.perf_counter() - started


def ensure(directory: Path, rows: int, fmt: str, clients: int = 0) -> Path:
    """``directory/flows-ROWS.FMT`` (``flows-ROWS-cCLIENTS.FMT``), generated first when it is not there yet."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (f"flows-{rows}-c{clients}.{fmt}" if clients else f"flows-{rows}.{fmt}")
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, rows, fmt, clients)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--format", choices=("parquet", "csv", "zeek"), default="parquet")
    parser.add_argument("--clients", type=int, default=0, help="distinct client addresses (0: nearly one per flow)")
    args = parser.parse_args()
    seconds = generate(args.output, args.rows, args.format, args.clients)
    size = args.output.stat().st_size / 1e6
    print(f"{args.output}: {args.rows:,} flows as {args.format}, {size:,.1f} MB in {seconds:.1f} s")


if __name__ == "__main__":
    main()
