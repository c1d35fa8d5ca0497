"""What is known about each of the 65,536 ports of a transport, as one character per port (for the map)."""

from __future__ import annotations

from typing import Any

from anyport.query.kb import KnowledgeBase

LEGEND = {
    "c": "curated service (fixed port or range)",
    "i": "registered with IANA only",
    "d": "only inside ranges picked at run time",
    "t": "trojan history only",
    "r": "reserved",
    "u": "unassigned",
}
# Later entries win: a curated service is the most useful thing to know about a port.
ORDER = ("u", "r", "d", "t", "i", "c")


def port_map(kb: KnowledgeBase, transport: str) -> dict[str, Any]:
    codes = ["u"] * 65536
    rank = {code: index for index, code in enumerate(ORDER)}

    def paint(start: int, end: int, code: str) -> None:
        for port in range(max(0, start), min(65535, end) + 1):
            if rank[code] > rank[codes[port]]:
                codes[port] = code

    for name, start, end, description in kb.rows(
        "SELECT name, start, end, description FROM iana WHERE transport = ? AND start IS NOT NULL", (transport,)
    ):
        if name:
            paint(start, end, "i")
        elif description.lower().startswith("reserved"):
            paint(start, end, "r")
    for (port,) in kb.rows("SELECT port FROM trojans WHERE transport = ?", (transport,)):
        paint(port, port, "t")
    for start, end, allocation in kb.rows("SELECT start, end, allocation FROM ranges WHERE transport = ?", (transport,)):
        run_time = allocation in ("dynamic", "negotiated") or (allocation == "selected" and end - start >= 10)
        paint(start, end, "d" if run_time else "c")
    return {"transport": transport, "legend": LEGEND, "codes": "".join(codes)}
