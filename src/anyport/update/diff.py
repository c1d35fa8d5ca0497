"""What changed between two versions of an IANA registry: new, changed and removed assignments.

Service assignments are keyed by (service name, port or range, transport); protocol numbers by their number.
IANA lists a few keys twice (``rdp`` has two rows without a port): rows equal in every field pair up first, and
what is left of a key pairs up in file order as changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from anyport.registries import IanaRecord

Row = dict[str, str]

SERVICE_FIELDS = (
    "description",
    "assignee",
    "contact",
    "registered",
    "modified",
    "reference",
    "service_code",
    "unauthorized",
    "notes",
)


@dataclass
class Change:
    """One assignment whose fields differ: field -> (old, new)."""

    key: str
    old: dict[str, str]
    new: dict[str, str]
    fields: dict[str, tuple[str, str]]


@dataclass
class RegistryDiff:
    """The differences of one registry between the data in use (``old``) and a candidate (``new``)."""

    registry: str
    old_label: str
    new_label: str
    old_count: int
    new_count: int
    added: list[dict[str, str]] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def to_json(self) -> dict[str, object]:
        return {
            "registry": self.registry,
            "old": {"source": self.old_label, "records": self.old_count},
            "new": {"source": self.new_label, "records": self.new_count},
            "counts": {"new": len(self.added), "changed": len(self.changed), "removed": len(self.removed)},
            "new_assignments": self.added,
            "changed_assignments": [
                {"key": c.key, "old": c.old, "new": c.new, "fields": {k: list(v) for k, v in c.fields.items()}}
                for c in self.changed
            ],
            "removed_assignments": self.removed,
        }


def service_record(rec: IanaRecord) -> dict[str, str]:
    """A service row as plain strings (port ``""``, ``"80"`` or ``"6881-6889"``)."""
    start, end = rec.start, rec.end
    port = "" if start is None else str(start) if start == end else f"{start}-{end}"
    row = {"name": rec.name, "port": port, "transport": rec.transport}
    row.update((name, getattr(rec, name)) for name in SERVICE_FIELDS)  # asdict() is ten times slower here
    return row


def service_key(row: dict[str, str]) -> str:
    """``name port/transport`` as people read it (``(unnamed)`` for reserved and unassigned rows)."""
    where = f"{row['port']}/{row['transport']}" if row["port"] and row["transport"] else row["port"] or row["transport"]
    return f"{row['name'] or '(unnamed)'} {where}".rstrip()


def diff_services(old: list[IanaRecord], new: list[IanaRecord], old_label: str, new_label: str) -> RegistryDiff:
    """New, changed and removed service assignments between two record lists."""
    result = RegistryDiff("IANA service names", old_label, new_label, len(old), len(new))
    # Records equal in both files are most of them: drop those first (records are hashable), pair up the rest.
    same = Counter(old) & Counter(new)
    old_rows = [service_record(r) for r in _without(old, same)]
    new_rows = [service_record(r) for r in _without(new, same)]
    _pair(result, old_rows, new_rows, lambda r: (r["name"].lower(), r["port"], r["transport"]), service_key)

    def sort_key(row: Row) -> tuple[int, str, str]:
        port = row["port"].partition("-")[0]
        return (int(port) if port else -1, row["transport"], row["name"].lower())

    result.added.sort(key=sort_key)
    result.removed.sort(key=sort_key)
    result.changed.sort(key=lambda c: sort_key(c.new))
    return result


def _without(records: list[IanaRecord], same: Counter[IanaRecord]) -> list[IanaRecord]:
    left = Counter(same)
    kept = []
    for rec in records:
        if left[rec]:
            left[rec] -= 1
        else:
            kept.append(rec)
    return kept


def diff_protocols(
    old: list[dict[str, str]], new: list[dict[str, str]], old_label: str, new_label: str
) -> RegistryDiff:
    """New, changed and removed protocol numbers between two lists of CSV rows."""
    result = RegistryDiff("IANA protocol numbers", old_label, new_label, len(old), len(new))
    _pair(result, old, new, lambda r: (r["Decimal"],), lambda r: f"{r['Decimal']} {r['Keyword']}".rstrip())

    def sort_key(row: dict[str, str]) -> int:
        return int(row["Decimal"].partition("-")[0])

    result.added.sort(key=sort_key)
    result.removed.sort(key=sort_key)
    result.changed.sort(key=lambda c: sort_key(c.new))
    return result


def _pair(
    result: RegistryDiff,
    old_rows: list[Row],
    new_rows: list[Row],
    key_of: Callable[[Row], tuple[str, ...]],
    label_of: Callable[[Row], str],
) -> None:
    old_by_key: dict[tuple[str, ...], list[Row]] = {}
    for row in old_rows:
        old_by_key.setdefault(key_of(row), []).append(row)
    new_by_key: dict[tuple[str, ...], list[Row]] = {}
    for row in new_rows:
        new_by_key.setdefault(key_of(row), []).append(row)
    for key in old_by_key.keys() | new_by_key.keys():
        olds = list(old_by_key.get(key, []))
        news = []
        for row in new_by_key.get(key, []):
            if row in olds:
                olds.remove(row)  # the same row in both: nothing changed
            else:
                news.append(row)
        for before, after in zip(olds, news, strict=False):
            diffs = {f: (before[f], after.get(f, "")) for f in before if before[f] != after.get(f, "")}
            result.changed.append(Change(label_of(after), before, after, diffs))
        result.removed.extend(olds[len(news) :])
        result.added.extend(news[len(olds) :])
