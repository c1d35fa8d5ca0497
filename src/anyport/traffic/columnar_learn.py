"""``anyport learn`` over big flow files and Parquet with DuckDB: one grouping query per file.

DuckDB annotates the flows with the plan of ``anyport annotate`` and groups them twice in one pass: by the
service side's (transport, port), whether the record names the responder and the service side's address, each
group with its flows, bytes and earliest and latest moment; and, of the inbound flows only, by (transport, port)
and client. :class:`anyport.traffic.learn.Inbound` counts the groups as the Python engine counts single flows and
decides what is inbound (with local networks, once per distinct server), so both engines propose the same rules
(tests compare them). Flows that cannot be inbound are grouped without their addresses.

Bytes and times are read as :mod:`anyport.traffic.columnar_summary` reads them; where an input holds values only
the Python readers are sure to read right, :func:`learn_columnar` answers False and the caller runs the Python
engine instead.
"""

from __future__ import annotations

from anyport.traffic.columnar import _file_stats, _port_exprs, _quote, prepare
from anyport.traffic.columnar_summary import (
    _roles,
    _times,
    _Unsure,
    _volume,
    each_file,
    plan_column,
    progress_part,
    run_query,
)
from anyport.traffic.readers import RESPONDER_COLUMNS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from anyport.traffic.learn import Inbound
    from anyport.traffic.porttable import PortInfo, PortTable

OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
DOTTED_QUAD = rf"{OCTET}\.{OCTET}\.{OCTET}\.{OCTET}"  # what inet_pton takes for IPv4: no leading zero, ASCII digits
BATCH = 4096  # rows fetched at a time (a row can hold a port's many clients)


def learn_columnar(
    inbound: Inbound,
    paths: Sequence[str],
    table: PortTable,
    columns: Mapping[str, str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> bool:
    """Count the flows of ``paths`` (Parquet, CSV or Zeek TSV) into ``inbound``; False (and ``inbound`` left
    half-filled: start again with a new one) when an input needs the Python engine to be read exactly as it reads
    it. Each file's read statistics go to ``inbound.result.files``.
    """

    def work(con: Any, path: str, kind: str, part: Callable[[float], None] | None) -> None:
        _learn_file(con, path, kind, columns, table, inbound, part)

    return each_file(paths, table, progress, work)


def _learn_file(
    con: Any,
    path: str,
    kind: str,
    columns: Mapping[str, str] | None,
    table: PortTable,
    inbound: Inbound,
    progress: Callable[[float], None] | None,
) -> None:
    source, names, types, _, plan = prepare(con, [path], kind, columns, text=True, all_text=True)
    kinds = dict(zip(names, types, strict=True))

    def out(name: str) -> str:
        return _quote(plan_column(name))

    roles = _roles(kind, names, columns)
    resp_p = (
        _port_exprs(plan_column(roles["dst_port"]), kinds[roles["dst_port"]], guarded=True)[0]
        if "dst_port" in roles
        else "CAST(NULL AS INTEGER)"
    )
    named = kind == "zeek" or ("dst_port" in roles and roles["dst_port"].strip().lower() in RESPONDER_COLUMNS)
    known = f"({resp_p}) IS NOT NULL" if named else "false"

    def address(role: str) -> str:
        return f"coalesce(CAST({out(roles[role])} AS VARCHAR), '')" if role in roles else "''"

    # as learn._service_host: the responder's address when the record names it or its port is the service port
    resp_side = f"({known} OR ({resp_p}) = service_port)"
    server = f"CASE WHEN {resp_side} THEN {address('dst')} ELSE {address('src')} END"
    client = f"CASE WHEN {resp_side} THEN {address('src')} ELSE {address('dst')} END"
    # a dotted quad as learn._key's number: fewer bytes to group and no parsing in Python; other texts as written
    octets = " + ".join(f"(CAST(split_part(client, '.', {n}) AS BIGINT) << {32 - 8 * n})" for n in (1, 2, 3, 4))
    quad = f"regexp_full_match(client, '{DOTTED_QUAD}')"
    # flows that cannot be inbound need no addresses: grouping them without keeps the groups few
    unused = "service_port IS NULL" + ("" if inbound.result.local else f" OR NOT ({known})")
    unsure: list[str] = []
    nbytes = _volume(kind, roles, "bytes", kinds, out, unsure)
    first, last = _times(names, kinds, out, unsure)
    doubt = " OR ".join(unsure) or "false"
    rows = (
        f"SELECT CAST(service_proto AS VARCHAR) AS service_proto, service_port, {known} AS known, "
        f"CASE WHEN {unused} THEN '' ELSE {server} END AS server, "
        f"CASE WHEN {unused} THEN '' ELSE {client} END AS client, "
        f"{nbytes} AS b, {first} AS t0, {last} AS t1, {doubt} AS doubt FROM ({plan.select})"
    )
    parameters: list[object] = []
    if inbound.result.local:
        # which servers are local is learn's own decision (ipaddress), made once per distinct server
        servers = f"SELECT DISTINCT server FROM ({rows}) WHERE service_port IS NOT NULL"
        found = run_query(
            con, progress_part(progress, 0, 40), lambda: con.execute(servers).fetchall(), f"reading {path} failed"
        )
        parameters = [[str(server) for (server,) in found if inbound.inside(str(server))]]
        taken = "list_contains($1, server)"
    else:
        taken = "known"
    # Two groupings in one pass: the flows, bytes and times of each service port by server, and of its inbound
    # flows, the clients. One grouping by both would make a group of nearly every flow: each client meets each
    # server. The outer query then makes one row of each port's servers and one of its dotted-quad clients (as
    # numbers): a row per (port, server) or (port, client) is many rows for Python to take one by one.
    taken_rows = (
        f"SELECT *, CASE WHEN taken THEN server ELSE '' END AS srv, "
        f"CASE WHEN taken AND quad THEN {octets} END AS client_number, "
        f"CASE WHEN taken AND NOT quad THEN client END AS client_text "
        f"FROM (SELECT *, service_port IS NOT NULL AND {taken} AS taken, {quad} AS quad FROM ({rows}))"
    )
    grouped = (
        "SELECT GROUPING(srv) AS by_client, service_proto, service_port, taken, srv, client_number, client_text, "
        "count(*) AS n, sum(b) AS sb, count(b) AS nb, min(t0) AS t0, max(t1) AS t1, count(t0) AS timed, "
        f"count_if(doubt) AS odd FROM ({taken_rows}) GROUP BY GROUPING SETS "
        "((service_proto, service_port, taken, srv), (service_proto, service_port, client_number, client_text))"
    )
    query = (
        "SELECT by_client, service_proto, service_port, taken, client_text, sum(n), sum(sb), sum(nb), min(t0), "
        "max(t1), sum(timed), sum(odd), list(srv) FILTER (WHERE by_client = 0 AND srv <> ''), "
        f"list(client_number) FILTER (WHERE client_number IS NOT NULL) FROM ({grouped}) "
        "GROUP BY by_client, service_proto, service_port, taken, client_text"
    )
    check_doubt = kind != "parquet"  # Parquet has no Python reader to defer to: there DuckDB's reading is the reading

    def count() -> int:
        written = 0
        infos: dict[tuple[str, int], PortInfo] = {}  # a port's answer, looked up once however many groups it has
        cursor = con.execute(query, parameters)
        while groups := cursor.fetchmany(BATCH):
            for by_client, transport, port, taken_, text, flows, b, nb, t0, t1, timed, odd, servers, numbers in groups:
                if transport and port is not None:
                    info = infos.get((transport, port))
                    if info is None:
                        info = infos[(transport, port)] = table.get(transport, port)
                else:
                    info = None
                if by_client:
                    if info is not None and (text is not None or numbers):
                        texts = {text: int(flows)} if text is not None else {}
                        inbound.add_clients(transport, port, info, texts, numbers or ())
                    continue
                if check_doubt and odd:
                    raise _Unsure(path)
                flows = int(flows)
                entry = inbound.add_group(transport or "", port, info, bool(taken_), flows, int(b) if nb else None)
                if entry is not None:
                    entry.servers.update(servers or ())  # an empty list comes as NULL
                    if timed:
                        entry.span.add_range(float(t0), float(t1), int(timed))
                written += flows
        return written

    part = progress_part(progress, 40 if inbound.result.local else 0, 100)
    written = run_query(con, part, count, f"reading {path} failed")
    inbound.result.files.append(_file_stats(con, [path], kind, plan, source, written))
