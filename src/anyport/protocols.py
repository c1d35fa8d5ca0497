"""IP protocol numbers and keywords (IANA's Assigned Internet Protocol Numbers)."""

from __future__ import annotations

import functools

from anyport import datafiles

# Names people write that differ from IANA's keyword column.
EXTRA_KEYWORDS = {
    "ospf": 89,
    "icmpv6": 58,
    "ipv6-icmp": 58,
    "ipip": 4,
    "ip-in-ip": 4,
    "ipv4": 4,
    "6in4": 41,
    "carp": 112,
    "l2tpv3": 115,
}


@functools.cache
def protocol_table(path: str | None = None) -> dict[int, tuple[str, str]]:
    """Number -> (keyword, name) for every assigned IP protocol number (from the IANA file in use by default)."""
    import csv

    table: dict[int, tuple[str, str]] = {}
    with open(path or datafiles.iana_files().protocols, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            decimal = (row.get("Decimal") or "").strip()
            if decimal.isdigit():
                keyword = (row.get("Keyword") or "").strip()
                keyword = keyword.replace(" (deprecated)", "").strip()
                table[int(decimal)] = (keyword, (row.get("Protocol") or "").strip())
    return table


@functools.cache
def keyword_table() -> dict[str, int]:
    """Lower-case keyword -> protocol number."""
    keywords = {kw.lower(): number for number, (kw, _name) in protocol_table().items() if kw}
    keywords.update(EXTRA_KEYWORDS)
    return keywords


def ip_protocol_number(value: object) -> int | None:
    """Return the protocol number for ``47``, ``"47"``, ``"gre"`` or ``"GRE"``; ``None`` if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 255 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text.isdigit():
        number = int(text)
        return number if 0 <= number <= 255 else None
    return keyword_table().get(text)
