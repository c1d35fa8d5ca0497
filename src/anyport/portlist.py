"""Parse the port lists written in catalog files: ``443``, ``"6881-6889,6969"``, ``[1490, "8680-8890"]``."""

from __future__ import annotations

import re

from anyport.model import PortRange, merge_ranges

_ITEM = re.compile(r"^\s*(\d{1,6})\s*(?:-\s*(\d{1,6})\s*)?$")


def parse_port_list(value: object, *, lowest: int = 1) -> list[PortRange]:
    """Return the sorted, merged ranges that ``value`` names.

    Raises ``ValueError`` with a message that says what is wrong and how to write it instead.
    """
    items: list[object]
    if isinstance(value, bool) or value is None:
        raise ValueError(f'{value!r} is not a port; write a number like 443 or a range like "6881-6889"')
    if isinstance(value, int | str):
        items = [value]
    elif isinstance(value, list):
        if not value:
            raise ValueError("the port list is empty; give at least one port")
        items = list(value)
    else:
        raise ValueError(f'{value!r} is not a port list; write 443, "6881-6889" or a list like [80, 443]')
    ranges: list[PortRange] = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"{item!r} is not a port; write a number like 443")
        if isinstance(item, int):
            ranges.append(_checked(item, item, lowest))
            continue
        if not isinstance(item, str):
            raise ValueError(f'{item!r} is not a port; write a number like 443 or a range like "6881-6889"')
        for part in item.split(","):
            match = _ITEM.match(part)
            if not match:
                raise ValueError(
                    f'{part.strip()!r} is not a port or range; write ports like 443, "6881-6889" or "80,443"'
                )
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else start
            ranges.append(_checked(start, end, lowest))
    return merge_ranges(ranges)


def _checked(start: int, end: int, lowest: int) -> PortRange:
    for port in (start, end):
        if not lowest <= port <= 65535:
            raise ValueError(f"port {port} is outside {lowest}-65535; ports are numbered {lowest} to 65535")
    if start > end:
        raise ValueError(f"range {start}-{end} runs backwards; write {end}-{start}")
    return PortRange(start, end)
