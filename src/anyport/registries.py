"""Readers for the registries anyport ships or finds: IANA ports, trojan-port history, nmap frequencies."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from anyport.errors import DataError

IANA_COLUMNS = (
    "Service Name",
    "Port Number",
    "Transport Protocol",
    "Description",
    "Assignee",
    "Contact",
    "Registration Date",
    "Modification Date",
    "Reference",
    "Service Code",
    "Unauthorized Use Reported",
    "Assignment Notes",
)


@dataclass(frozen=True)
class IanaRecord:
    """One row of IANA's Service Name and Transport Protocol Port Number Registry."""

    name: str
    start: int | None
    end: int | None
    transport: str
    description: str
    assignee: str = ""
    contact: str = ""
    registered: str = ""
    modified: str = ""
    reference: str = ""
    service_code: str = ""
    unauthorized: str = ""
    notes: str = ""

    @property
    def unassigned(self) -> bool:
        return not self.name and self.description.lower().startswith("unassigned")

    @property
    def reserved(self) -> bool:
        return not self.name and self.description.lower().startswith("reserved")


@dataclass(frozen=True)
class TrojanRecord:
    """A port on which trojans or backdoors were historically seen."""

    port: int
    transport: str
    names: tuple[str, ...]


_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


def read_iana_services(path: str) -> list[IanaRecord]:
    """Every record of the IANA CSV, ranges and unassigned rows included."""
    with _open_text(path) as handle:
        return parse_iana_services(handle, path)


def parse_iana_services(handle: IO[str], path: str) -> list[IanaRecord]:
    """Every record of IANA's CSV read from an open text stream (``path`` names it in errors)."""
    records = []
    reader = csv.DictReader(handle)
    missing = [c for c in IANA_COLUMNS[:4] if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{path}:1: not IANA's service-names CSV: missing columns {', '.join(missing)}")
    for row in reader:
        port_text = (row.get("Port Number") or "").strip()
        start = end = None
        if port_text:
            match = _PORTS.match(port_text)
            if not match:
                raise DataError(f"{path}:{reader.line_num}: bad port number {port_text!r}")
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else start
            if not 0 <= start <= end <= 65535:
                raise DataError(f"{path}:{reader.line_num}: port range {port_text!r} outside 0-65535")
        records.append(
            IanaRecord(
                name=_cell(row, "Service Name"),
                start=start,
                end=end,
                transport=_cell(row, "Transport Protocol").lower(),
                description=" ".join(_cell(row, "Description").split()),
                assignee=_cell(row, "Assignee"),
                contact=_cell(row, "Contact"),
                registered=_cell(row, "Registration Date"),
                modified=_cell(row, "Modification Date"),
                reference=_cell(row, "Reference"),
                service_code=_cell(row, "Service Code"),
                unauthorized=_cell(row, "Unauthorized Use Reported"),
                notes=" ".join(_cell(row, "Assignment Notes").split()),
            )
        )
    return records


def read_trojans(path: str) -> list[TrojanRecord]:
    """The historical trojan-port list (port, transport, names)."""
    records = []
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != ["port", "proto", "names"]:
            raise DataError(f"{path}:1: expected the columns port,proto,names")
        for row in reader:
            port_text = (row.get("port") or "").strip()
            transport = (row.get("proto") or "").strip().lower()
            if not port_text.isdigit() or transport not in ("tcp", "udp"):
                raise DataError(f"{path}:{reader.line_num}: bad trojan row {row!r}")
            names = tuple(n.strip() for n in re.split(r",| / ", row.get("names") or "") if n.strip())
            records.append(TrojanRecord(int(port_text), transport, tuple(dict.fromkeys(names))))
    return records


def read_nmap_services(path: str) -> Iterator[tuple[str, int, str, float]]:
    """(name, port, transport, open-frequency) from nmap's ``nmap-services``; bad lines are skipped."""
    with _open_text(path) as handle:
        for line in handle:
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) < 3 or "/" not in fields[1]:
                continue
            port_text, _, transport = fields[1].partition("/")
            try:
                port = int(port_text)
                frequency = float(fields[2])
            except ValueError:
                continue
            if 0 <= port <= 65535 and transport in ("tcp", "udp", "sctp"):
                yield fields[0], port, transport, frequency


def _cell(row: dict[str, str], key: str) -> str:
    return (row.get(key) or "").strip()


def _open_text(path: str) -> IO[str]:
    try:
        return open(path, newline="", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
