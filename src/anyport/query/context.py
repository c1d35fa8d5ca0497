"""What can be said about a port itself, whether or not a service is known on it."""

from __future__ import annotations

from anyport.query.grammar import Query
from anyport.query.kb import KnowledgeBase
from anyport.results import Match

LINUX_EPHEMERAL = (32768, 60999)
IANA_DYNAMIC = (49152, 65535)


def port_context(kb: KnowledgeBase, query: Query, matches: list[Match]) -> list[str]:
    """Plain sentences: port class (RFC 6335), ephemeral ranges, IANA status, and whether anything is curated."""
    notes: list[str] = []
    if query.kind == "range":
        width = query.end - query.start + 1
        curated = len({m.name for m in matches if m.source in ("catalog", "local")})
        notes.append(f"{width} ports; {curated} curated service(s) use ports in this range")
        return notes
    port = query.start
    if port == 0:
        notes.append("port 0 is reserved and never a valid destination; in traffic it suggests scans or fragments")
    elif port <= 1023:
        notes.append(f"{port} is a system (well-known) port, 0-1023 (RFC 6335)")
    elif port <= 49151:
        notes.append(f"{port} is a user (registered) port, 1024-49151 (RFC 6335)")
    else:
        notes.append(
            f"{port} is in the dynamic/private range 49152-65535 (RFC 6335), used for ephemeral ports by Windows, "
            "macOS and BSD"
        )
    if LINUX_EPHEMERAL[0] <= port <= LINUX_EPHEMERAL[1]:
        notes.append(f"{port} is inside Linux's default ephemeral range 32768-60999: often the client side")
    transports = query.transports or ("tcp", "udp")
    for transport in transports:
        rows = kb.rows(
            "SELECT name, description FROM iana WHERE transport = ? AND start <= ? AND end >= ?",
            (transport, port, port),
        )
        if not rows and port >= IANA_DYNAMIC[0]:
            continue
        if not rows:
            notes.append(f"IANA has no record for {port}/{transport}")
        elif all(not name and description.lower().startswith("unassigned") for name, description in rows):
            notes.append(f"IANA: {port}/{transport} is unassigned")
        elif all(not name and description.lower().startswith("reserved") for name, description in rows):
            notes.append(f"IANA: {port}/{transport} is reserved")
    if not any(m.pins_the_port for m in matches):
        notes.append("no curated service uses this port as a fixed or ranged port")
    return notes
