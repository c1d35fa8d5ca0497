"""What is known about each of the 65,536 ports of a transport: one character per port, a PNG, a table.

The map answers "what is this part of the port space?" at a glance. Each port gets the most useful thing known
about it, in this order: a curated service that uses it as a fixed port or its own range, an IANA-only name,
trojan history, the IANA dynamic/private range (ephemeral ports), reserved by IANA, a service's run-time range
(RTP, passive FTP...), unassigned. Run-time ranges that span most of the port space (``1024-65535``: "any port
the program picks") say nothing about a particular port and are left out.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from anyport.query.kb import KnowledgeBase

LEGEND = {
    "c": "a curated service uses it as a fixed port or in a range of its own",
    "i": "IANA registers a service name on it; no curated service",
    "t": "trojans or backdoors used it (about 1998-2008); nothing else known",
    "y": "49152-65535, where systems pick ephemeral ports; nothing else known",
    "r": "IANA reserves it",
    "d": "only inside a range a service picks from at run time (RTP, passive FTP...)",
    "u": "nothing known",
}
SHORT = {
    "c": "curated",
    "i": "IANA only",
    "t": "trojan history",
    "y": "dynamic range",
    "r": "reserved",
    "d": "run-time range",
    "u": "unassigned",
}
# The map's colours (Okabe-Ito, distinguishable with the common colour-vision deficiencies); style.css has the
# same values for the legend and app.js reads them from there.
COLOURS = {
    "c": "#0072b2",
    "i": "#56b4e9",
    "t": "#d55e00",
    "y": "#cc79a7",
    "r": "#000000",
    "d": "#009e73",
    "u": "#e6e6e6",
}
# Later entries win: a curated service is the most useful thing to know about a port.
ORDER = ("u", "d", "r", "y", "t", "i", "c")
DYNAMIC_START = 49152
BLANKET = 16384  # run-time ranges wider than this cover most of the port space and say nothing about a port
SELECTED_NARROW = 10  # a "selected" port this narrow is a convention (WireGuard's 51820), as in the lookup
SIDE = 256  # the map is SIDE x SIDE ports, row by row


def port_codes(kb: KnowledgeBase, transport: str) -> str:
    """65,536 characters, one per port, each a key of :data:`LEGEND`."""
    spans: dict[str, list[tuple[int, int]]] = {code: [] for code in ORDER}
    for start, end, allocation in kb.rows(
        "SELECT start, end, allocation FROM ranges WHERE transport = ?", (transport,)
    ):
        width = end - start + 1
        run_time = allocation in ("dynamic", "negotiated") or (allocation == "selected" and width > SELECTED_NARROW)
        if not run_time:
            spans["c"].append((start, end))
        elif width <= BLANKET:
            spans["d"].append((start, end))
    for name, start, end, description in kb.rows(
        "SELECT name, start, end, description FROM iana WHERE transport = ? AND start IS NOT NULL", (transport,)
    ):
        if name:
            spans["i"].append((start, end))
        elif description.lower().startswith("reserved"):
            spans["r"].append((start, end))
    spans["t"] = [(port, port) for (port,) in kb.rows("SELECT port FROM trojans WHERE transport = ?", (transport,))]
    spans["y"] = [(DYNAMIC_START, 65535)]
    codes = bytearray(b"u" * 65536)
    for code in ORDER:  # in rising importance: what is painted later wins
        mark = code.encode()
        for start, end in spans[code]:
            start, end = max(0, start), min(65535, end)
            if start <= end:
                codes[start : end + 1] = mark * (end - start + 1)
    return codes.decode()


def port_map(kb: KnowledgeBase, transport: str) -> dict[str, Any]:
    """The map of one transport: ``codes`` has one character per port; ``counts`` how many ports each class has."""
    codes = port_codes(kb, transport)
    counts = {code: codes.count(code) for code in LEGEND}
    return {"transport": transport, "legend": LEGEND, "codes": codes, "counts": counts, "colours": COLOURS}


def classify(codes: str, port: int) -> str:
    return SHORT[codes[port]]


def png(codes: str) -> bytes:
    """The map as a 256 x 256 PNG, one pixel per port (port = row * 256 + column), made with zlib alone."""
    keys = list(LEGEND)
    palette = b"".join(bytes.fromhex(COLOURS[key][1:]) for key in keys)
    index = {key: i for i, key in enumerate(keys)}
    raw = bytearray()
    for row in range(SIDE):
        raw.append(0)  # filter: none
        raw.extend(index[code] for code in codes[row * SIDE : (row + 1) * SIDE])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 3, 0, 0, 0)  # 8-bit palette colour, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", palette)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def blocks(codes: str, size: int = 1024) -> list[dict[str, Any]]:
    """The map as a table: each block of ``size`` ports with how many ports of each class it holds."""
    rows = []
    for start in range(0, 65536, size):
        part = codes[start : start + size]
        rows.append({"start": start, "end": start + size - 1, "counts": {code: part.count(code) for code in LEGEND}})
    return rows


def runs(codes: str, code: str) -> list[tuple[int, int]]:
    """The contiguous runs of ports of one class, as (start, end)."""
    found: list[tuple[int, int]] = []
    start = -1
    for port, value in enumerate(codes):
        if value == code and start < 0:
            start = port
        elif value != code and start >= 0:
            found.append((start, port - 1))
            start = -1
    if start >= 0:
        found.append((start, 65535))
    return found
