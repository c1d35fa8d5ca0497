"""Text and JSON for ``anyport info``, ``anyport diff`` and ``anyport update`` (plain text: it is read and diffed)."""

from __future__ import annotations

import sys

from anyport.cli.render import emit_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from anyport.info import Info
    from anyport.update import RegistryDiff, UpdateReport


def render_info(info: Info, fmt: str | None, out: TextIO = sys.stdout) -> None:
    if fmt == "json":
        emit_json(info.to_json(), out)
        return
    lines = [f"anyport {info.version}", "", "data in use:"]
    for data in info.datasets:
        facts = [data.origin]
        if data.records is not None:
            facts.append(f"{data.records:,} records")
        if data.size is not None:
            facts.append(f"{data.size:,} bytes")
        if data.sha256:
            facts.append(f"sha256 {data.sha256}")
        lines.append(f"  {data.name:<24} {', '.join(facts)}")
        if data.path:
            lines.append(f"    {data.path}")
        if data.source:
            lines.append(f"    from {data.source}")
        if data.dates:
            lines.append("    " + "; ".join(f"{label} {value}" for label, value in data.dates.items()))
        if data.note:
            lines.append(f"    {data.note}")
    index = info.index
    lines += [
        "",
        "index:",
        f"  {index['path']}",
        f"    {index['size']:,} bytes, built {index['built']} by anyport {index['built_by']}, "
        f"content hash {index['content_hash']}",
        "",
        "your files:",
    ]
    where = info.locations
    for entry in where["service_directories"]:  # type: ignore[attr-defined]
        state = "" if entry["exists"] else ", does not exist"
        lines.append(f"  service files from {entry['path']} ({entry['from']}{state})")
    files = where["service_files"]
    lines.append(f"  {len(files)} service file(s) in use")  # type: ignore[arg-type]
    lines += [f"    {path}" for path in files]  # type: ignore[attr-defined]
    updated = where["updated_registries"]
    state = "in use" if updated["manifest"] else "none yet; 'anyport update' writes them here"  # type: ignore[index]
    lines.append(f"  updated registries in {updated['path']} ({state})")  # type: ignore[index]
    lines.append(f"  index cache in {where['cache']}")
    for note in info.notes:
        lines.append(f"note: {note}")
    out.write("\n".join(lines) + "\n")


def render_diffs(diffs: list[RegistryDiff], fmt: str | None, out: TextIO = sys.stdout) -> None:
    if fmt == "json":
        emit_json({"registries": [d.to_json() for d in diffs]}, out)
        return
    blocks = [_diff_text(d) for d in diffs]
    out.write("\n".join(blocks))


def _diff_text(diff: RegistryDiff) -> str:
    lines = [
        diff.registry,
        f"  from: {diff.old_label} ({diff.old_count:,} records)",
        f"  to:   {diff.new_label} ({diff.new_count:,} records)",
        f"  {_counts(diff)}",
    ]
    if diff.added:
        lines += ["", "  new:"] + [f"    + {_row(r)}" for r in diff.added]
    if diff.changed:
        lines += ["", "  changed:"]
        for change in diff.changed:
            lines.append(f"    ~ {_row(change.new)}")
            lines += [f"        {name}: {old!r} -> {new!r}" for name, (old, new) in change.fields.items()]
    if diff.removed:
        lines += ["", "  removed:"] + [f"    - {_row(r)}" for r in diff.removed]
    return "\n".join(lines) + "\n"


def _counts(diff: RegistryDiff) -> str:
    if diff.unchanged:
        return "no changes"
    return f"{len(diff.added)} new, {len(diff.changed)} changed, {len(diff.removed)} removed"


def _row(row: dict[str, str]) -> str:
    if "Decimal" in row:
        return f"{row['Decimal']:<8} {row['Keyword']:<16} {row['Protocol']}".rstrip()
    where = f"{row['port']}/{row['transport']}" if row["port"] and row["transport"] else row["port"] or "-"
    return f"{row['name'] or '(unnamed)':<24} {where:<14} {row['description']}".rstrip()


def render_update(report: UpdateReport, fmt: str | None, out: TextIO = sys.stdout, *, rollback: bool = False) -> None:
    if fmt == "json":
        emit_json(report.to_json(), out)
        return
    lines = []
    for diff in report.diffs:
        lines.append(f"{diff.registry}: {diff.old_count:,} -> {diff.new_count:,} records, {_counts(diff)}")
    if report.check_only:
        lines.append("checked only: nothing was changed ('anyport diff FILE|URL' lists the changes)")
    elif report.switched and rollback:
        lines.append(f"the shipped data is in use again; index {report.index}")
    elif report.switched:
        how = f"built in {report.index_seconds:.1f} s" if report.index_built else "already built"
        lines.append(f"now in use; index {report.index} ({how})")
    elif report.diffs or not rollback:
        lines.append("already up to date: nothing was changed")
    else:
        lines.append("already using the shipped data: nothing was changed")
    out.write("\n".join(lines) + "\n")
