"""Streaming readers for flow logs: Zeek conn.log (TSV and JSON lines) and CSV flow tables, plain or gzip.

Every reader is a generator over :class:`Flow` records with bounded memory (one line at a time, lines longer
than ``MAX_LINE`` bytes are skipped as bad). The format is detected from the content, not the file name:

* Zeek/Bro TSV: ``#separator``/``#fields``/``#types`` headers (several header blocks in one file are fine),
  unset fields (``-`` or the ``#unset_field`` value) read as ``None``, placeholder timestamps such as
  ``XXXXXXXXXX.XXXXXX`` kept as text. A headerless TSV in the old Bro 2.x 20-field layout (or Zeek's 21/22-field
  ones) is recognised by its field count.
* Zeek JSON lines: one object a line, dotted (``id.orig_p``) or nested (``{"id": {"orig_p": ...}}``) keys.
* CSV (``,``, ``;``, tab or ``|``): common column names for protocol, ports, addresses, bytes and packets;
  ``columns`` maps the canonical names (``proto``, ``src_port``, ``dst_port``, ``src``, ``dst``, ``service``,
  ``bytes``, ``packets``) to other column names. A CSV without a port column raises
  :class:`~anyport.errors.DataError` naming the columns.

Bad lines (wrong field count, bad port, not UTF-8, not a JSON object, a truncated gzip stream) are counted in
:class:`ReadStats` with the first few line numbers and reasons; they are never fatal and never silently lost:
``lines == records + bad + skipped`` always holds. An empty file, a directory, a missing file or binary garbage
is one :class:`~anyport.errors.DataError`.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import zlib

from anyport.errors import DataError
from anyport.traffic.compressed import compression_errors, compression_of, open_zstd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import IO

MAX_LINE = 1 << 20
MAX_EXAMPLES = 5
SNIFF_BYTES = 8192
FORMATS = ("zeek", "zeek-json", "csv", "nfdump", "netfilter")
PARQUET_MAGIC = b"PAR1"
PROTO_NUMBERS = {"6": "tcp", "17": "udp", "132": "sctp", "1": "icmp", "58": "icmp6", "33": "dccp"}

BRO_20 = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
]
ZEEK_21 = [*BRO_20[:13], "local_resp", *BRO_20[13:]]
ZEEK_22 = [*ZEEK_21, "ip_proto"]
HEADERLESS = {len(layout): layout for layout in (BRO_20, ZEEK_21, ZEEK_22)}

# canonical name -> column names seen in the wild (lower case); Zeek's own names say who the responder is
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "proto": ("proto", "protocol", "transport", "l4_proto", "ip_protocol", "pr", "prot"),
    "src_port": ("id.orig_p", "orig_p", "src_port", "sport", "srcport", "source_port", "src port", "spt", "sp"),
    "dst_port": (
        "id.resp_p",
        "resp_p",
        "dst_port",
        "dport",
        "dstport",
        "destination_port",
        "dest_port",
        "dst port",
        "dpt",
        "dp",
    ),
    "src": ("id.orig_h", "orig_h", "src", "src_ip", "srcaddr", "src_addr", "source", "source_ip", "saddr", "sa"),
    "dst": ("id.resp_h", "resp_h", "dst", "dst_ip", "dstaddr", "dst_addr", "destination", "dest_ip", "daddr", "da"),
    "service": ("service",),
    "bytes": ("bytes", "total_bytes", "byt", "octets", "in_bytes"),
    "packets": ("packets", "pkts", "total_packets", "packet_count", "in_pkts", "pkt"),
}
RESPONDER_COLUMNS = {"id.resp_p", "resp_p"}


class Flow:
    """One flow: the input fields as read, and the normalised ones annotation needs."""

    __slots__ = (
        "bytes",
        "fields",
        "line",
        "orig_h",
        "orig_p",
        "packets",
        "proto",
        "resp_h",
        "resp_p",
        "responder_known",
        "service",
    )

    def __init__(self, fields: dict[str, object], line: int) -> None:
        self.fields = fields
        self.line = line
        self.proto = ""
        self.orig_p: int | None = None  # for CSV: the source port (not necessarily the initiator)
        self.resp_p: int | None = None
        self.orig_h = ""
        self.resp_h = ""
        self.responder_known = False  # True when resp_p is the responder's port (Zeek records)
        self.service = ""  # what the log itself says (Zeek's service column), "" when unset
        self.bytes: int | None = None  # both directions together
        self.packets: int | None = None  # both directions together, None when the input does not say


class ReadStats:
    """What a reader saw: ``lines == records + bad + skipped`` (skipped: headers, comments, blank lines)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.format = ""
        self.lines = 0
        self.records = 0
        self.bad = 0
        self.skipped = 0
        self.bytes_read = 0  # uncompressed bytes read so far (progress reporting)
        self.examples: list[tuple[int, str]] = []  # the first few bad lines: (line number, reason)

    def bad_line(self, line: int, reason: str) -> None:
        self.bad += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((line, reason))

    def report(self) -> str:
        text = f"{self.path}: {self.format or 'unknown'}, {self.records} flows from {self.lines} lines"
        if self.bad:
            shown = "; ".join(f"line {n}: {why}" if n else why for n, why in self.examples)  # 0: no line known
            text += f", {self.bad} bad lines ({shown}{' ...' if self.bad > len(self.examples) else ''})"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "format": self.format,
            "lines": self.lines,
            "records": self.records,
            "bad": self.bad,
            "skipped": self.skipped,
            "examples": [{"line": n, "reason": why} for n, why in self.examples],
        }


# -- opening and detection --------------------------------------------------------------------------------


def _open(path: str) -> IO[bytes]:
    if os.path.isdir(path):
        raise DataError(f"{path} is a directory, not a flow log")
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        kind = compression_of(handle.read(8))
    try:
        if kind == "gzip":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        if kind == "zstd":
            return open_zstd(path)
        return open(path, "rb")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None


def is_parquet(path: str | os.PathLike[str]) -> bool:
    """True for a Parquet file (by its first bytes)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def parquet_needs_duckdb(path: str) -> str:
    """The message for a Parquet input given to the Python engine."""
    return f"{path} is Parquet, which the duckdb engine reads (--engine auto or duckdb; pip install 'anyport[traffic]')"


def _sniff(handle: IO[bytes], path: str) -> bytes:
    try:
        head = handle.read(SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the start of the file ({exc})") from None
    except compression_errors() as exc:  # what is left: zstandard's own error
        raise DataError(f"{path}: corrupt zstd data ({exc})") from None
    if not head.strip():
        raise DataError(f"{path} is empty")
    if head.startswith(b"PAR1"):
        raise DataError(parquet_needs_duckdb(path))
    sample = head[:4096]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    try:
        sample.decode("utf-8")
        undecodable = False
    except UnicodeDecodeError as exc:
        undecodable = exc.start < len(sample) - 4  # a character cut at the sample's end is fine
    if b"\0" in sample or controls > len(sample) // 20 or (undecodable and _mostly_binary(sample)):
        raise DataError(f"{path} is binary data, not a Zeek log or CSV flow table")
    return head


def _mostly_binary(sample: bytes) -> bool:
    text = sample.decode("utf-8", errors="replace")
    return text.count("\ufffd") > len(text) // 10


def detect_format(head: bytes) -> str:
    """'zeek', 'zeek-json', 'nfdump', 'netfilter' or 'csv' from the first bytes of a file."""
    found = _detect_basic(head)
    if found != "csv":
        return found
    first = next((raw.strip() for raw in head.splitlines() if raw.strip()), b"")
    if first.lower().replace(b" ", b"").startswith(NFDUMP_HEADER):
        return "nfdump"
    text = first.decode("utf-8", errors="replace")
    if _log_match(text) is not None or SYSLOG_LINE.match(text):
        return "netfilter"
    return found


def _detect_basic(head: bytes) -> str:
    for raw in head.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(b"#separator") or line.startswith(b"#fields"):
            return "zeek"
        if line.startswith(b"{"):
            return "zeek-json"
        if line.startswith(b"#"):
            continue
        if raw.count(b"\t") + 1 in HEADERLESS:
            return "zeek"
        return "csv"
    return "csv"


def _lines(handle: IO[bytes], stats: ReadStats, data: bytes) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for every line; text is None for a line already counted as bad."""
    pending = data
    while True:
        if b"\n" in pending or len(pending) > MAX_LINE:
            cut = pending.find(b"\n")
            if cut < 0 or cut > MAX_LINE:
                stats.lines += 1
                stats.bad_line(stats.lines, f"line longer than {MAX_LINE} bytes")
                # drop the rest of that line
                while cut < 0:
                    chunk = _read(handle, stats)
                    if not chunk:
                        return
                    pending, cut = chunk, chunk.find(b"\n")
                pending = pending[cut + 1 :]
                yield stats.lines, None
                continue
            raw, pending = pending[:cut], pending[cut + 1 :]
        else:
            more = _read(handle, stats)
            if more is None:  # truncated stream: the partial last line is lost and counted
                if pending:
                    stats.lines += 1
                    stats.bad_line(stats.lines, "incomplete line at a truncated gzip stream")
                    yield stats.lines, None
                return
            if more:
                pending += more
                continue
            if not pending:
                return
            raw, pending = pending, b""
        stats.lines += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            stats.bad_line(stats.lines, f"not UTF-8 (byte {exc.start + 1})")
            yield stats.lines, None
            continue
        yield stats.lines, text.rstrip("\r")


def _read(handle: IO[bytes], stats: ReadStats) -> bytes | None:
    """The next chunk; None (after counting it) when a gzip stream ends early or is corrupt."""
    try:
        chunk = handle.read(65536)
        stats.bytes_read += len(chunk)
        return chunk
    except compression_errors() as exc:
        stats.bad_line(stats.lines + 1, f"compressed stream truncated or corrupt ({exc})")
        stats.bad -= 1  # the line itself is counted by the caller
        return None


def read_flows(
    path: str, columns: Mapping[str, str] | None = None, stats: ReadStats | None = None, fmt: str | None = None
) -> Iterator[Flow]:
    """Every flow of ``path``, in order; ``stats`` (pass your own to read it afterwards) counts the lines.

    The file is opened and its format detected (or taken from ``fmt``, one of :data:`FORMATS`) on the first
    ``next()``; a :class:`DataError` then says why the file as a whole cannot be read.
    """
    stats = stats if stats is not None else ReadStats(path)
    handle = _open(path)
    try:
        head = _sniff(handle, path)
        stats.bytes_read = len(head)
        if fmt is not None and fmt not in FORMATS:
            raise DataError(f"unknown input format {fmt!r}; use one of {', '.join(FORMATS)}")
        stats.format = fmt or detect_format(head)
        lines = _lines(handle, stats, head)
        if stats.format == "zeek":
            yield from _zeek_tsv(lines, stats)
        elif stats.format == "zeek-json":
            yield from _zeek_json(lines, stats)
        elif stats.format == "netfilter":
            yield from _netfilter(lines, stats)
        elif stats.format == "nfdump":
            yield from _nfdump(lines, stats)
        else:
            yield from _csv(lines, stats, columns or {}, path)
    finally:
        handle.close()


# -- Zeek TSV -----------------------------------------------------------------------------------------------


def _unescape(value: str) -> str:
    try:
        return value.encode("latin-1").decode("unicode_escape")
    except (UnicodeError, ValueError):
        return value


def _zeek_tsv(lines: Iterator[tuple[int, str | None]], stats: ReadStats) -> Iterator[Flow]:
    separator = "\t"
    unset = "-"
    empty = "(empty)"
    fields: list[str] | None = None
    for number, text in lines:
        if text is None:
            continue
        if not text.strip():
            stats.skipped += 1
            continue
        if text.startswith("#"):
            stats.skipped += 1
            key, _, value = text.partition(" " if text.startswith("#separator") else separator)
            if key == "#separator":
                separator = _unescape(value.strip()) or "\t"
            elif key == "#unset_field":
                unset = value
            elif key == "#empty_field":
                empty = value
            elif key == "#fields":
                fields = value.split(separator)
            continue
        values = text.split(separator)
        layout = fields if fields is not None else HEADERLESS.get(len(values))
        if layout is None:
            stats.bad_line(number, f"{len(values)} fields and no #fields header")
            continue
        if len(values) != len(layout):
            stats.bad_line(number, f"expected {len(layout)} fields, found {len(values)}")
            continue
        record: dict[str, object] = {}
        for name, value in zip(layout, values, strict=True):
            record[name] = None if value == unset else ("" if value == empty else value)
        flow = _zeek_flow(record, number, stats)
        if flow is not None:
            yield flow


def _port(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"port {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        text = str(value).strip()
        if not text.isdigit():
            raise ValueError(f"port {text[:20]!r}")
        number = int(text)
    if not 0 <= number <= 65535:
        raise ValueError(f"port {number} out of range")
    return number


def _count(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value >= 0 and value == value and value != float("inf") else None
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def _proto(value: object) -> str:
    text = str(value or "").strip().lower()
    return PROTO_NUMBERS.get(text, text)


def _zeek_flow(record: dict[str, object], number: int, stats: ReadStats) -> Flow | None:
    flow = Flow(record, number)
    try:
        flow.orig_p = _port(record.get("id.orig_p"))
        flow.resp_p = _port(record.get("id.resp_p"))
    except ValueError as exc:
        stats.bad_line(number, f"bad {exc}")
        return None
    flow.proto = _proto(record.get("proto"))
    flow.orig_h = str(record.get("id.orig_h") or "")
    flow.resp_h = str(record.get("id.resp_h") or "")
    flow.responder_known = flow.resp_p is not None
    flow.service = str(record.get("service") or "")
    orig, resp = _count(record.get("orig_bytes")), _count(record.get("resp_bytes"))
    flow.bytes = None if orig is None and resp is None else (orig or 0) + (resp or 0)
    orig, resp = _count(record.get("orig_pkts")), _count(record.get("resp_pkts"))
    flow.packets = None if orig is None and resp is None else (orig or 0) + (resp or 0)
    stats.records += 1
    return flow


# -- Zeek JSON ----------------------------------------------------------------------------------------------


def _flatten(obj: dict[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in obj.items():
        if isinstance(value, dict) and key == "id" and not prefix:
            flat.update(_flatten(value, "id."))
        else:
            flat[prefix + str(key)] = value
    return flat


def _zeek_json(lines: Iterator[tuple[int, str | None]], stats: ReadStats) -> Iterator[Flow]:
    for number, text in lines:
        if text is None:
            continue
        if not text.strip():
            stats.skipped += 1
            continue
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            stats.bad_line(number, f"not JSON ({str(exc)[:60]})")
            continue
        if not isinstance(obj, dict):
            stats.bad_line(number, "not a JSON object")
            continue
        flow = _zeek_flow(_flatten(obj), number, stats)
        if flow is not None:
            yield flow


# -- CSV ----------------------------------------------------------------------------------------------------


def _csv(
    lines: Iterator[tuple[int, str | None]], stats: ReadStats, columns: Mapping[str, str], path: str
) -> Iterator[Flow]:
    current = [0]

    def texts() -> Iterator[str]:
        for number, text in lines:
            current[0] = number
            if text is None:
                continue
            if not text.strip() or text.startswith("#"):
                stats.skipped += 1
                continue
            yield text

    source = texts()
    header_line = next(source, None)
    if header_line is None:
        raise DataError(f"{path} has no CSV header line")
    dialect = _dialect(header_line)
    try:
        header = next(csv.reader([header_line], dialect))
    except csv.Error as exc:  # a stray carriage return or NUL in the first line
        raise DataError(f"{path}: the CSV header line is unreadable ({exc})") from None
    stats.skipped += 1
    where = _locate(header, columns)
    if "src_port" not in where and "dst_port" not in where:
        found = ", ".join(repr(h[:40]) for h in header[:20] if h) or "none"
        if len(header) > 20:
            found += f" and {len(header) - 20} more"
        raise DataError(
            f"{path}: no port column (looked for dst_port/dport/id.resp_p/src_port/sport/...; found {found}); "
            "name the columns with a columns mapping such as dst_port=YourColumn"
        )
    responder_known = header[where["dst_port"]].strip().lower() in RESPONDER_COLUMNS if "dst_port" in where else False
    for text in source:
        number = current[0]
        try:
            values = next(csv.reader([text], dialect))
        except (csv.Error, StopIteration) as exc:
            stats.bad_line(number, f"unreadable CSV ({exc})")
            continue
        if len(values) > len(header) and not any(values[len(header) :]):
            del values[len(header) :]  # only empty fields past the header (trailing delimiters), as DuckDB reads them
        if len(values) != len(header):
            stats.bad_line(number, f"expected {len(header)} columns, found {len(values)}")
            continue
        record: dict[str, object] = dict(zip(header, values, strict=True))
        flow = Flow(record, number)
        try:
            flow.orig_p = _port(values[where["src_port"]]) if "src_port" in where else None
            flow.resp_p = _port(values[where["dst_port"]]) if "dst_port" in where else None
        except ValueError as exc:
            stats.bad_line(number, f"bad {exc}")
            continue
        flow.proto = _proto(values[where["proto"]]) if "proto" in where else ""
        flow.orig_h = values[where["src"]] if "src" in where else ""
        flow.resp_h = values[where["dst"]] if "dst" in where else ""
        flow.service = values[where["service"]].strip() if "service" in where else ""
        if flow.service == "-":
            flow.service = ""
        flow.bytes = _count(values[where["bytes"]]) if "bytes" in where else None
        flow.packets = _count(values[where["packets"]]) if "packets" in where else None
        flow.responder_known = responder_known and flow.resp_p is not None
        stats.records += 1
        yield flow


def _dialect(header_line: str) -> type[csv.Dialect]:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d])

    class Flows(csv.excel):
        pass

    Flows.delimiter = delimiter if counts[delimiter] else ","
    return Flows


def _locate(header: list[str], columns: Mapping[str, str]) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    where: dict[str, int] = {}
    for canonical, column in columns.items():
        if canonical not in CSV_COLUMNS:
            raise DataError(f"unknown column role {canonical!r}; use one of {', '.join(CSV_COLUMNS)}")
        if column.strip().lower() not in names:
            raise DataError(f"no column named {column!r} (found {', '.join(repr(h[:40]) for h in header[:20])})")
        where[canonical] = names.index(column.strip().lower())
    for canonical, candidates in CSV_COLUMNS.items():
        if canonical in where:
            continue
        for candidate in candidates:
            if candidate in names:
                where[canonical] = names.index(candidate)
                break
    return where


# -- iptables/nftables LOG lines (syslog, kern.log, journalctl) ---------------------------------------------

NFDUMP_HEADER = b"ts,te,td,sa,da,sp,dp,pr"
# a syslog/journalctl/dmesg line: "Nov 26 03:30:00 host ...", "2026-11-26T03:30:00+0000 host ...",
# journalctl's "-- Logs begin at ..." / "-- Journal begins at ..." and dmesg's "[12345.678] ..."
SYSLOG_LINE = re.compile(
    r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[^\s,]* [^\s,]+ "
    r"|-- (?:Logs begin|Journal begins|No entries|Boot )"
    r"|\[\s*\d+\.\d+\] )"
)
LOG_START = re.compile(r"IN=(\S*) OUT=(\S*)")
LOG_ADDRESSES = re.compile(r"(?:^|\s)SRC=\S+ DST=\S+")
LOG_HEADER = re.compile(
    r"^(?:(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S*) (?P<host>\S+) )?"
)
KERNEL_TAG = re.compile(r"\bkernel(?:\[\d+\])?:\s*")
DMESG_TIME = re.compile(r"^\[\s*\d+\.\d+\]\s*")
LOG_ACTIONS = {
    "block": "block",
    "blocked": "block",
    "drop": "drop",
    "dropped": "drop",
    "deny": "deny",
    "denied": "deny",
    "reject": "reject",
    "rejected": "reject",
    "accept": "accept",
    "accepted": "accept",
    "allow": "allow",
    "allowed": "allow",
    "audit": "audit",
    "limit": "limit",
    "log": "log",
}
LOG_KEYS = ("ts", "host", "log_prefix", "action", "in", "out", "src", "dst", "proto", "spt", "dpt", "len", "flags")


def _log_match(text: str) -> re.Match[str] | None:
    """Where the LOG fields of a line start (``IN=... OUT=``, else ``SRC=... DST=``), or None for other lines."""
    match = LOG_START.search(text)
    return match if match is not None else LOG_ADDRESSES.search(text)


def _log_prefix(before: str) -> tuple[str, str, str]:
    """(timestamp, host, log prefix) from the text before the LOG fields."""
    header = LOG_HEADER.match(before)
    ts = host = ""
    if header is not None and header.group("ts"):
        ts, host = header.group("ts"), header.group("host")
    kernel = next(reversed(list(KERNEL_TAG.finditer(before))), None)
    rest = before[kernel.end() :] if kernel is not None else before[header.end() if header else 0 :]
    rest = DMESG_TIME.sub("", rest).strip()
    if rest.startswith("[") and rest.endswith("]"):
        rest = rest[1:-1]
    return ts, host, rest.strip().rstrip(":").strip()


def _log_action(prefix: str) -> str:
    for word in re.split(r"[^A-Za-z]+", prefix):
        action = LOG_ACTIONS.get(word.lower())
        if action:
            return action
    return ""


def _log_fields(text: str) -> tuple[dict[str, str], list[str]]:
    """KEY=value pairs (the first of each) and bare flags, up to an embedded ICMP error packet ``[SRC=...]``."""
    values: dict[str, str] = {}
    flags: list[str] = []
    for token in text.split():
        if token.startswith("["):
            break
        key, eq, value = token.partition("=")
        if eq:
            values.setdefault(key.upper(), value)
        else:
            flags.append(token.upper())
    return values, flags


def _netfilter(lines: Iterator[tuple[int, str | None]], stats: ReadStats) -> Iterator[Flow]:
    """One flow per LOG line: SRC/SPT are the originator of this packet, DST/DPT its destination."""
    for number, text in lines:
        if text is None:
            continue
        match = _log_match(text) if "=" in text else None
        if match is None:  # blank lines, journalctl headers, other syslog traffic
            stats.skipped += 1
            continue
        values, flags = _log_fields(text[match.start() :])
        missing = [key for key in ("SRC", "DST", "PROTO") if not values.get(key)]
        if missing:
            stats.bad_line(number, f"LOG line without {'/'.join(missing)}")
            continue
        flow = Flow({}, number)
        try:
            flow.orig_p = _port(values.get("SPT"))
            flow.resp_p = _port(values.get("DPT"))
        except ValueError as exc:
            stats.bad_line(number, f"bad {exc}")
            continue
        ts, host, prefix = _log_prefix(text[: match.start()])
        flow.proto = _proto(values["PROTO"])
        flow.orig_h = values["SRC"]
        flow.resp_h = values["DST"]
        flow.responder_known = flow.proto == "tcp" and "SYN" in flags and "ACK" not in flags
        flow.bytes = _count(values.get("LEN"))
        flow.packets = 1  # one LOG line is one packet
        flow.fields = dict.fromkeys(LOG_KEYS)
        flow.fields.update(
            ts=ts or None,
            host=host or None,
            log_prefix=prefix,
            action=_log_action(prefix),
            src=flow.orig_h,
            dst=flow.resp_h,
            proto=flow.proto,
            spt=flow.orig_p,
            dpt=flow.resp_p,
            len=flow.bytes,
            flags=" ".join(flags),
        )
        flow.fields["in"] = values.get("IN") or ""
        flow.fields["out"] = values.get("OUT") or ""
        stats.records += 1
        yield flow


# -- nfdump -o csv ------------------------------------------------------------------------------------------


def _nfdump(lines: Iterator[tuple[int, str | None]], stats: ReadStats) -> Iterator[Flow]:
    """``nfdump -o csv``: the header, one flow a line, then a ``Summary`` block (skipped, as are blank lines)."""
    header: list[str] | None = None
    in_summary = False
    for number, text in lines:
        if text is None:
            continue
        if in_summary or not text.strip():
            stats.skipped += 1
            continue
        if header is None:
            header = [h.strip().lower() for h in text.split(",")]
            stats.skipped += 1
            continue
        if text.strip().lower().startswith("summary"):
            in_summary = True
            stats.skipped += 1
            continue
        values = [v.strip() for v in text.split(",")]
        if len(values) > len(header) and not any(values[len(header) :]):
            del values[len(header) :]  # only empty fields past the header (trailing delimiters), as DuckDB reads them
        if len(values) != len(header):
            stats.bad_line(number, f"expected {len(header)} columns, found {len(values)}")
            continue
        record: dict[str, object] = dict(zip(header, values, strict=True))
        flow = Flow(record, number)
        flow.proto = _proto(record.get("pr"))
        try:
            flow.orig_p = _nfdump_port(record.get("sp"), flow.proto)
            flow.resp_p = _nfdump_port(record.get("dp"), flow.proto)
        except ValueError as exc:
            stats.bad_line(number, f"bad {exc}")
            continue
        flow.orig_h = str(record.get("sa") or "")
        flow.resp_h = str(record.get("da") or "")
        ibyt, obyt = _count(record.get("ibyt")), _count(record.get("obyt"))
        flow.bytes = None if ibyt is None and obyt is None else (ibyt or 0) + (obyt or 0)
        ipkt, opkt = _count(record.get("ipkt")), _count(record.get("opkt"))
        flow.packets = None if ipkt is None and opkt is None else (ipkt or 0) + (opkt or 0)
        stats.records += 1
        yield flow


def _nfdump_port(value: object, proto: str) -> int | None:
    """A port; ICMP 'ports' (type.code, or type*256+code) are no ports."""
    if proto.startswith("icmp"):
        return None
    return _port(value)
