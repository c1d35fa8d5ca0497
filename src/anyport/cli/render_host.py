"""Print this host's sockets: a rich table on a terminal, plain columns in a pipe, JSON or CSV on request."""

from __future__ import annotations

import sys

from anyport.cli.render import _console, _cut, _is_terminal, _safe, emit_csv, emit_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from anyport.traffic.host import HostSocket

EXPOSURE_TEXT = {"loopback": "loopback only", "all": "all addresses", "address": "one address"}


def _endpoint(address: str | None, port: int | None) -> str:
    if address is None or port is None:
        return ""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _owner(record: HostSocket) -> str:
    return record.process if record.pid is None else f"{record.pid}/{record.process}"


def _service(record: HostSocket) -> str:
    if not record.service:
        return "?"
    side = "" if record.direction == "listen" or record.service_port is None else f" ({record.service_port})"
    return record.service + side


def render_sockets(records: list[HostSocket], fmt: str | None, listeners: bool, out: TextIO = sys.stdout) -> None:
    """``listeners``: the columns of ``anyport listening`` (exposure) rather than ``anyport connections``."""
    from anyport.traffic.host import FIELDS

    if fmt == "json":
        emit_json([r.to_dict() for r in records], out)
        return
    if fmt == "csv":
        emit_csv(FIELDS, [r.csv_row() for r in records], out)
        return
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    if listeners:
        header = ("PROTO", "LOCAL", "EXPOSURE", "PROCESS", "USER", "SERVICE", "CONF", "ALTERNATIVES")
        rows = [
            (
                r.proto,
                _endpoint(r.local_addr, r.local_port),
                EXPOSURE_TEXT.get(r.exposure, r.exposure),
                _owner(r),
                r.user,
                _service(r),
                f"{r.confidence:.2f}",
                ", ".join(r.alternatives),
            )
            for r in records
        ]
    else:
        header = ("PROTO", "LOCAL", "REMOTE", "STATE", "DIR", "PROCESS", "SERVICE", "CONF", "ALTERNATIVES")
        rows = [
            (
                r.proto,
                _endpoint(r.local_addr, r.local_port),
                _endpoint(r.remote_addr, r.remote_port),
                r.state,
                "in" if r.direction == "inbound" else "out",
                _owner(r),
                _service(r),
                f"{r.confidence:.2f}",
                ", ".join(r.alternatives),
            )
            for r in records
        ]
    risks = sorted({f"{r.service}: {r.risk}" for r in records if r.risk and r.service})
    what = "listening sockets" if listeners else "connections"
    if _is_terminal(out):
        _rich(out, header, rows, risks, f"{len(records)} {what}")
        return
    widths = [min(44, max(len(str(row[i])) for row in [header, *rows])) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [_cut(str(v), widths[i]).ljust(widths[i]) for i, v in enumerate(row[:-1])]
        out.write(("  ".join(cells) + "  " + str(row[-1])).rstrip() + "\n")
    for risk in risks:
        out.write(f"risk: {risk}\n")


def _rich(out: TextIO, header: tuple[str, ...], rows: list[tuple[str, ...]], risks: list[str], title: str) -> None:
    from rich.table import Table

    console = _console(out)
    table = Table(title=f"[bold]{_safe(title)}[/]", title_justify="left", expand=False)
    for name in header:
        table.add_column(
            name.capitalize(),
            justify="right" if name == "CONF" else "left",
            style="bold" if name == "SERVICE" else None,
            overflow="fold",
            max_width=40 if name in ("LOCAL", "REMOTE", "ALTERNATIVES") else None,
        )
    colours = {"all addresses": "yellow", "loopback only": "green"}
    for row in rows:
        cells = [_safe(str(v)) for v in row]
        cells = [f"[{colours[c]}]{c}[/]" if c in colours else c for c in cells]
        table.add_row(*cells)
    console.print(table)
    for risk in risks:
        console.print(f"[red]risk:[/] {_safe(risk)}")
