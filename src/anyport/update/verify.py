"""Checks a candidate IANA file must pass before anyport uses it.

The file must be UTF-8 CSV with IANA's exact columns, every row complete, a line break at the end (a file cut
short usually lacks one), enough records, and well-known assignments in place. Shrinking is judged by the caller,
which knows the data in use.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from anyport.errors import DataError, UpdateError
from anyport.registries import IANA_COLUMNS, IanaRecord, parse_iana_services

PROTOCOL_COLUMNS = ("Decimal", "Keyword", "Protocol", "IPv6 Extension Header", "Reference")
MIN_SERVICE_RECORDS = 5000  # IANA's registry has had more than 10,000 records for years
MIN_PROTOCOL_RECORDS = 100
# Assignments that have not changed in decades: a file without them is not the registry.
SERVICE_ANCHORS = (("ssh", 22, "tcp"), ("domain", 53, "udp"), ("http", 80, "tcp"), ("https", 443, "tcp"))
PROTOCOL_ANCHORS = (("6", "TCP"), ("17", "UDP"), ("47", "GRE"))


@dataclass(frozen=True)
class VerifiedServices:
    records: list[IanaRecord]
    newest_modification: str


@dataclass(frozen=True)
class VerifiedProtocols:
    rows: list[dict[str, str]]


def verify_services(data: bytes, label: str) -> VerifiedServices:
    """Parse and check a service-names CSV; raises UpdateError naming the first problem."""
    text = _text(data, label)
    _check_rows(text, label, IANA_COLUMNS, "IANA's service-names CSV")
    try:
        records = parse_iana_services(io.StringIO(text, newline=""), label)
    except DataError as exc:
        raise UpdateError(str(exc)) from None
    if len(records) < MIN_SERVICE_RECORDS:
        raise UpdateError(
            f"{label}: only {len(records):,} records; IANA's registry has more than {MIN_SERVICE_RECORDS:,}"
        )
    present = {(r.name.lower(), r.start, r.transport) for r in records}
    missing = [
        f"{name} {port}/{transport}"
        for name, port, transport in SERVICE_ANCHORS
        if (name, port, transport) not in present
    ]
    if missing:
        raise UpdateError(f"{label}: well-known assignments are missing ({', '.join(missing)}); not IANA's registry")
    newest = max((r.modified for r in records if r.modified), default="")
    return VerifiedServices(records, newest)


def verify_protocols(data: bytes, label: str) -> VerifiedProtocols:
    """Parse and check a protocol-numbers CSV; raises UpdateError naming the first problem."""
    text = _text(data, label)
    rows = _check_rows(text, label, PROTOCOL_COLUMNS, "IANA's protocol-numbers CSV")
    records = [dict(zip(PROTOCOL_COLUMNS, (cell.strip() for cell in row), strict=True)) for row in rows]
    for line, record in enumerate(records, start=2):
        low, _, high = record["Decimal"].partition("-")
        if not (low.isdigit() and int(low) <= 255 and (not high or (high.isdigit() and int(low) <= int(high) <= 255))):
            raise UpdateError(f"{label}:{line}: bad protocol number {record['Decimal']!r}")
    if len(records) < MIN_PROTOCOL_RECORDS:
        raise UpdateError(
            f"{label}: only {len(records):,} records; IANA's registry has more than {MIN_PROTOCOL_RECORDS}"
        )
    present = {(r["Decimal"], r["Keyword"]) for r in records}
    missing = [f"{kw} {number}" for number, kw in PROTOCOL_ANCHORS if (number, kw) not in present]
    if missing:
        raise UpdateError(f"{label}: well-known protocols are missing ({', '.join(missing)}); not IANA's registry")
    return VerifiedProtocols(records)


def _text(data: bytes, label: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UpdateError(f"{label}: not UTF-8 text (byte {exc.start:,}); not an IANA CSV file") from None
    if "\0" in text:
        raise UpdateError(f"{label}: contains NUL bytes; not a text file")
    return text.removeprefix("\ufeff")


def _check_rows(text: str, label: str, columns: tuple[str, ...], what: str) -> list[list[str]]:
    """Every data row, after checking the header and that each row has every column."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        if tuple(cell.strip() for cell in header) != columns:
            raise UpdateError(
                f"{label}:1: not {what}: the columns are {', '.join(header) or '(none)'}; expected {', '.join(columns)}"
            )
        rows = []
        for row in reader:
            if len(row) != len(columns):
                raise UpdateError(
                    f"{label}:{reader.line_num}: {len(row)} fields instead of {len(columns)} (is the file cut short?)"
                )
            rows.append(row)
    except csv.Error as exc:
        raise UpdateError(f"{label}:{reader.line_num}: not valid CSV ({exc})") from None
    if not text.endswith("\n"):
        raise UpdateError(f"{label}: the last line has no line break; the file looks cut short")
    return rows
