"""The canonical layout of catalog files, checked by ``anyport validate --check-format``.

The layout is the one the shipped files are written in, so a diff of a contribution shows only its facts:

- UTF-8 text with LF line ends, no tabs, no trailing spaces, one newline at the end, never two blank lines in a row;
- the file starts with ``services:`` (comment lines may come first);
- each service starts with ``  - id: …`` (two spaces), its fields four spaces in, in the documented order
  (id, title, aliases, categories, status, description, ports, notes, risks, risk_tags, registered, seed, sources, as_of);
- one blank line before each service but the first (comment lines right above a service belong to it);
- items of ``ports`` and ``sources`` six spaces in; a port spec starts with what it opens (tcp, udp, sctp,
  dccp, ip or ref) and ends with its ``note``; a source starts with its kind (url, rfc, kb, seed, iana).

Only the layout is checked here; what the values mean is :mod:`anyport.catalog.validate`'s job.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from anyport.catalog.validate import SERVICE_KEYS, WHAT_KEYS
from anyport.catalog.yamlfile import LocatedDict, LocatedList, YamlSyntaxError, read_yaml
from anyport.errors import Problem
from anyport.vocab import SOURCE_KINDS

_ITEM = re.compile(r"- \S")
SERVICE_INDENT = 4
ITEM_INDENT = 6


def check_format_file(path: Path) -> list[Problem]:
    """Layout problems of one file (a file that cannot be read or parsed is left to ``validate``)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return check_format_text(text, str(path))


def check_format_text(text: str, name: str) -> list[Problem]:
    """Layout problems of catalog text, in line order."""
    problems = _check_lines(text, name)
    text = text.replace("\r\n", "\n")
    try:
        doc = read_yaml(text, name)
    except (YamlSyntaxError, RecursionError):
        return problems
    if isinstance(doc, LocatedDict) and isinstance(doc.get("services"), LocatedList):
        problems += _check_services(doc["services"], text.split("\n"), name)
    return sorted(problems, key=lambda p: p.line)


def _check_lines(text: str, name: str) -> list[Problem]:
    problems: list[Problem] = []
    if "\r" in text:
        first_cr = text[: text.index("\r")].count("\n") + 1
        problems.append(Problem(name, first_cr, "the file has CR line ends; save it with LF (Unix) line ends"))
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if "\t" in line:
            problems.append(Problem(name, number, "a tab character; indent with spaces"))
        if line != line.rstrip():
            problems.append(Problem(name, number, "trailing spaces; remove them"))
        if number > 1 and not line.strip() and not lines[number - 2].strip() and number < len(lines):
            problems.append(Problem(name, number, "two blank lines in a row; keep one"))
    if not text.endswith("\n"):
        problems.append(Problem(name, len(lines), "no newline at the end of the file; add one"))
    elif text.endswith("\n\n"):
        problems.append(Problem(name, len(lines) - 1, "blank lines at the end of the file; remove them"))
    first = next((n for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")), 0)
    if first and lines[first - 1] != "services:":
        problems.append(
            Problem(
                name, first, "the file does not start with 'services:'; put it first (only comments may come before it)"
            )
        )
    return problems


def _indent(lines: list[str], line: int) -> int:
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return len(text) - len(text.lstrip(" "))


def _check_services(services: LocatedList, lines: list[str], name: str) -> list[Problem]:
    problems: list[Problem] = []
    for index, (service, line) in enumerate(zip(services, services.item_lines, strict=True)):
        if not isinstance(service, LocatedDict):
            continue
        text = lines[line - 1]
        if not text.startswith("  - id: ") or text.startswith("   "):
            problems.append(
                Problem(name, line, "this service does not start with '  - id: …'; write two spaces, '- ', then the id")
            )
        if index and not _blank_above(lines, line):
            problems.append(Problem(name, line, "no blank line before this service; add one above it"))
        keys = list(service)
        expected = [k for k in SERVICE_KEYS if k in service] + [k for k in keys if k not in SERVICE_KEYS]
        if keys != expected:
            problems.append(
                Problem(
                    name,
                    line,
                    f"fields of '{service.get('id')}' are out of order; write them as {', '.join(expected)}",
                )
            )
        for key in keys[1:]:
            key_line = service.key_lines[key]
            if _indent(lines, key_line) != SERVICE_INDENT:
                problems.append(
                    Problem(name, key_line, f"'{key}' is not indented {SERVICE_INDENT} spaces; align it with 'id'")
                )
        problems += _check_items(service.get("ports"), lines, name, _spec_order)
        problems += _check_items(service.get("sources"), lines, name, _source_order)
    return problems


def _blank_above(lines: list[str], line: int) -> bool:
    above = line - 2
    while above >= 0 and lines[above].lstrip().startswith("#"):
        above -= 1
    return above < 0 or not lines[above].strip()


def _check_items(items: Any, lines: list[str], name: str, order: Any) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(items, LocatedList):
        return problems
    for item, line in zip(items, items.item_lines, strict=True):
        if _indent(lines, line) != ITEM_INDENT or not _ITEM.match(lines[line - 1].lstrip()):
            problems.append(
                Problem(
                    name, line, f"this item is not '- ' indented {ITEM_INDENT} spaces; write it as '      - key: …'"
                )
            )
        if isinstance(item, LocatedDict):
            message = order(list(item))
            if message:
                problems.append(Problem(name, line, message))
    return problems


def _spec_order(keys: list[str]) -> str:
    if keys and keys[0] not in WHAT_KEYS and any(k in WHAT_KEYS for k in keys):
        return f"a port spec starts with what it opens ({', '.join(k for k in keys if k in WHAT_KEYS)}); move it first"
    if "note" in keys and keys[-1] != "note":
        return "a port spec's note comes last; move it below the other fields"
    return ""


def _source_order(keys: list[str]) -> str:
    if keys and keys[0] not in SOURCE_KINDS and any(k in SOURCE_KINDS for k in keys):
        return "a source starts with its kind (url, rfc, kb, seed or iana); move it first, the title after"
    return ""
