"""Turn results into text: rich tables on a terminal, plain columns in a pipe, JSON or CSV on request."""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

    from anyport.query.conflicts import ConflictReport
    from anyport.results import LookupResult, Match, SearchResult, ServiceInfo

DEFAULT_ROWS = 25


def emit_json(data: Any, out: TextIO = sys.stdout) -> None:
    # Indented for people; compact for programs, which also lets json use its C encoder (several times faster).
    indent = 2 if _is_terminal(out) else None
    out.write(json.dumps(data, indent=indent, ensure_ascii=False))
    out.write("\n")


def emit_csv(header: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO = sys.stdout) -> None:
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["; ".join(v) if isinstance(v, list) else v for v in row])


def _is_terminal(out: TextIO) -> bool:
    return out.isatty()


def _console(out: TextIO) -> Any:
    from rich.console import Console

    return Console(file=out, highlight=False, soft_wrap=False)


def _safe(text: str) -> str:
    """Catalog text shown in rich markup must not be read as markup."""
    from rich.markup import escape

    return escape(text)


# -- lookup --------------------------------------------------------------------------------------------------

LOOKUP_CSV = (
    "query",
    "name",
    "title",
    "transport",
    "ports",
    "match",
    "source",
    "confidence",
    "why",
    "categories",
    "risks",
)


def lookup_rows(result: LookupResult) -> list[list[Any]]:
    return [
        [
            result.query,
            m.name,
            m.title,
            m.transport,
            m.ports,
            m.match,
            m.source,
            f"{m.confidence:.3f}",
            m.why,
            m.categories,
            m.risks,
        ]
        for m in result.matches
    ]


def render_lookups(results: list[LookupResult], fmt: str | None, show_all: bool, out: TextIO = sys.stdout) -> None:
    if fmt == "json":
        emit_json(results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results], out)
    elif fmt == "csv":
        with_sources = any(m.sources is not None for r in results for m in r.matches)
        rows = [row for r in results for row in lookup_rows(r)]
        if with_sources:
            extra = [_csv_sources(m) for r in results for m in r.matches]
            rows = [[*row, *more] for row, more in zip(rows, extra, strict=True)]
        emit_csv((*LOOKUP_CSV, "sources", "as_of") if with_sources else LOOKUP_CSV, rows, out)
    elif _is_terminal(out):
        console = _console(out)
        for result in results:
            _rich_lookup(console, result, show_all)
    else:
        for index, result in enumerate(results):
            if index:
                out.write("\n")
            _plain_lookup(out, result, show_all)


def _shown(matches: list[Match], show_all: bool) -> tuple[list[Match], list[Match], int]:
    """(rows to show, broad-range matches folded into one line, rows hidden by the row limit)."""
    if show_all:
        return matches, [], 0
    rows = [m for m in matches if not m.broad]
    broad = [m for m in matches if m.broad]
    if len(rows) > DEFAULT_ROWS:
        return rows[:DEFAULT_ROWS], broad, len(rows) - DEFAULT_ROWS
    return rows, broad, 0


def _broad_line(broad: list[Match]) -> str:
    names = list(dict.fromkeys(m.title for m in broad))
    shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
    return (
        f"+ {len(names)} more services pick ports at run time from ranges that include it: {shown} (--all lists them)"
    )


def _port_label(m: Match) -> str:
    return f"ip {m.ports}" if m.transport == "ip" else (f"{m.ports}/{m.transport}" if m.transport else m.ports)


def _plain_lookup(out: TextIO, result: LookupResult, show_all: bool) -> None:
    matches, broad, hidden = _shown(result.matches, show_all)
    out.write(f"{result.query}: {len(result.matches)} match{'es' if len(result.matches) != 1 else ''}\n")
    if matches:
        rows = [
            (
                m.title if m.source != "trojans" else m.title[:60],
                _port_label(m),
                m.match,
                m.source,
                f"{m.confidence:.2f}",
                m.why,
            )
            for m in matches
        ]
        header = ("SERVICE", "PORTS", "MATCH", "SOURCE", "CONF", "WHY")
        widths = [min(40, max(len(str(r[i])) for r in [header, *rows])) for i in range(5)]
        for row in [header, *rows]:
            cells = [_cut(str(v), widths[i]).ljust(widths[i]) for i, v in enumerate(row[:5])]
            out.write("  ".join(cells) + "  " + str(row[5]) + "\n")
    if hidden:
        out.write(f"… {hidden} more (use --all, --json or --csv)\n")
    if broad:
        out.write(_broad_line(broad) + "\n")
    for risk in _risks(matches):
        out.write(f"risk: {risk}\n")
    for line in result.context:
        out.write(f"note: {line}\n")
    for line in _source_lines(matches):
        out.write(line + "\n")


def _csv_sources(m: Match) -> list[Any]:
    from anyport.query.provenance import source_label

    return [[source_label(s) for s in m.sources or []], m.as_of]


def _source_lines(matches: list[Match]) -> list[str]:
    """``sources:`` lines for matches that carry them, one block per service (or registry record)."""
    from anyport.query.provenance import source_label

    lines: list[str] = []
    seen: set[tuple[str, str]] = set()
    for m in matches:
        if m.sources is None or (m.source, m.name) in seen:
            continue
        seen.add((m.source, m.name))
        when = f" (as of {m.as_of})" if m.as_of else ""
        lines.append(f"sources of {m.title[:60]}{when}:")
        lines.extend(f"  - {source_label(s)}" for s in m.sources)
    return lines


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _risks(matches: list[Match]) -> list[str]:
    seen: dict[str, None] = {}
    for m in matches[:5]:
        if m.source in ("catalog", "local") and m.confidence >= 0.5:
            for risk in m.risks:
                seen.setdefault(f"{m.title}: {risk}", None)
    return list(seen)


def _rich_lookup(console: Any, result: LookupResult, show_all: bool) -> None:
    from rich.table import Table

    matches, broad, hidden = _shown(result.matches, show_all)
    table = Table(
        title=f"[bold]{_safe(result.query)}[/]  {len(result.matches)} match{'es' if len(result.matches) != 1 else ''}",
        title_justify="left",
        show_lines=False,
        expand=False,
    )
    table.add_column("Service", style="bold", overflow="fold", max_width=36)
    table.add_column("Ports", overflow="fold", max_width=24)
    table.add_column("Match")
    table.add_column("Source")
    table.add_column("Conf.", justify="right")
    table.add_column("Why", overflow="fold")
    colours = {"catalog": "green", "local": "cyan", "iana": "blue", "trojans": "red", "nmap": "magenta"}
    for m in matches:
        table.add_row(
            _safe(m.title[:80]),
            _safe(_port_label(m)),
            m.match,
            f"[{colours.get(m.source, 'white')}]{m.source}[/]",
            f"{m.confidence:.2f}",
            _safe(m.why),
        )
    if matches:
        console.print(table)
    else:
        console.print(f"[bold]{_safe(result.query)}[/]: no match")
    if hidden:
        console.print(f"[dim]… {hidden} more (use --all, --json or --csv)[/]")
    if broad:
        console.print(f"[dim]{_safe(_broad_line(broad))}[/]")
    for risk in _risks(matches):
        console.print(f"[red]risk:[/] {_safe(risk)}")
    for line in result.context:
        console.print(f"[dim]note:[/] {_safe(line)}")
    for line in _source_lines(matches):
        console.print(_safe(line), style=None if line.startswith(" ") else "bold")


# -- service -------------------------------------------------------------------------------------------------

SERVICE_CSV = (
    "service",
    "via",
    "transport",
    "ports",
    "ip_protocol",
    "role",
    "direction",
    "allocation",
    "optional",
    "uncertain",
    "helper",
    "multicast",
    "dnssd",
    "note",
)


def render_service(
    info: ServiceInfo, fmt: str | None, out: TextIO = sys.stdout, *, referenced_sources: bool = False
) -> None:
    if fmt == "json":
        emit_json(info.to_dict(), out)
        return
    if fmt == "csv":
        rows = [
            [
                r.service,
                " > ".join(r.via),
                r.spec.transport,
                r.spec.ports,
                r.spec.ip_proto or "",
                r.spec.role,
                r.spec.direction,
                r.spec.allocation,
                str(r.spec.optional).lower(),
                str(r.spec.uncertain).lower(),
                r.spec.helper,
                list(r.spec.multicast),
                r.spec.dnssd,
                r.spec.note,
            ]
            for r in info.resolved
        ]
        emit_csv(SERVICE_CSV, rows, out)
        return
    s = info.service
    lines = [f"{s.title} ({s.id})" + (f" [{s.status}]" if s.status != "active" else "")]
    if s.aliases:
        lines.append(f"  aliases: {', '.join(s.aliases)}")
    lines.append(f"  categories: {', '.join(s.categories)}")
    if s.risk_tags:
        lines.append(f"  risk tags: {', '.join(s.risk_tags)}")
    lines.append(f"  {s.description}")
    if info.referenced:
        lines.append(f"  uses: {', '.join(f'{r.title} ({r.id})' for r in info.referenced)}")
    lines.append("")
    lines.append("  open:")
    for item in info.resolved:
        spec = item.spec
        label = spec.describe()
        flags = [spec.role, spec.direction]
        if spec.allocation != "fixed":
            flags.append(spec.allocation)
        if spec.optional:
            flags.append("optional")
        if spec.uncertain:
            flags.append("uncertain")
        if spec.helper:
            flags.append(f"helper {spec.helper}")
        if spec.dnssd:
            flags.append(spec.dnssd)
        if spec.multicast:
            flags.append("multicast " + " ".join(spec.multicast))
        via = f"  via {' > '.join(item.via)}" if item.via else ""
        lines.append(f"    {label:<22} {', '.join(flags)}{via}")
        if spec.note:
            lines.append(f"    {'':<22} {spec.note}")
    if s.notes:
        lines.append("")
        lines.append("  notes:")
        lines.extend(f"    - {n}" for n in s.notes)
    if info.warnings:
        lines.append("")
        lines.append("  warnings:")
        lines.extend(f"    ! {w}" for w in info.warnings)
    if info.iana:
        lines.append("")
        lines.append("  IANA:")
        for rec in info.iana:
            mark = "" if rec["matches_catalog"] else "  (registered to something else)"
            lines.append(f"    {rec['port']}/{rec['transport']} {rec['name']}: {rec['description']}{mark}")
    lines.append("")
    lines.append("  sources:")
    lines.extend(f"    - {src}" + (f" <{src.url}>" if src.url and src.kind != "url" else "") for src in s.sources)
    if s.as_of:
        lines.append(f"  as of {s.as_of}")
    if referenced_sources:
        from anyport.query.provenance import source_label
        from anyport.serialize import source_to_dict

        for ref in info.referenced:
            lines.append("")
            lines.append(f"  sources of {ref.title} ({ref.id})" + (f", as of {ref.as_of}" if ref.as_of else "") + ":")
            lines.extend(f"    - {source_label(source_to_dict(src))}" for src in ref.sources)
    if _is_terminal(out):
        console = _console(out)
        for line in lines:
            style = "bold" if line == lines[0] else ("yellow" if line.strip().startswith("!") else None)
            console.print(_safe(line), style=style)
    else:
        out.write("\n".join(lines) + "\n")


# -- search and categories -----------------------------------------------------------------------------------

SEARCH_CSV = ("name", "title", "source", "score", "categories", "status", "ports", "description")


def render_search(result: SearchResult, fmt: str | None, out: TextIO = sys.stdout) -> None:
    if fmt == "json":
        emit_json(result.to_dict(), out)
        return
    if fmt == "csv":
        rows = [
            [h.name, h.title, h.source, f"{h.score:.3f}", h.categories, h.status, h.ports, h.description]
            for h in result.hits
        ]
        if any(h.sources is not None for h in result.hits):
            from anyport.query.provenance import source_label

            rows = [
                [*row, [source_label(s) for s in h.sources or []], h.as_of]
                for row, h in zip(rows, result.hits, strict=True)
            ]
            emit_csv((*SEARCH_CSV, "sources", "as_of"), rows, out)
        else:
            emit_csv(SEARCH_CSV, rows, out)
        return
    lines = []
    if result.corrections:
        fixed = ", ".join(f"{a} → {b}" for a, b in result.corrections.items())
        lines.append(f"(searched for corrected words: {fixed})")
    if not result.hits:
        lines.append(f"no service matches {result.text!r}")
    width = min(34, max((len(h.title) for h in result.hits), default=10))
    if result.hits:
        lines.append(f"{'SERVICE':<{width}}  {'ID':<24} PORTS")
    for hit in result.hits:
        tag = "" if hit.status == "active" else f" [{hit.status}]"
        origin = "" if hit.source == "catalog" else f" ({hit.source})"
        lines.append(f"{_cut(hit.title, width):<{width}}  {hit.name:<24} {hit.ports}{tag}{origin}")
        if hit.sources is not None:
            from anyport.query.provenance import source_label

            when = f"as of {hit.as_of}: " if hit.as_of else ""
            lines.append(f"{'':<{width}}  sources, {when}" + "; ".join(source_label(src) for src in hit.sources))
    if _is_terminal(out):
        console = _console(out)
        for line in lines:
            console.print(_safe(line))
    else:
        out.write("\n".join(lines) + "\n")


def render_categories(rows: list[tuple[str, int]], fmt: str | None, out: TextIO = sys.stdout) -> None:
    if fmt == "json":
        emit_json([{"category": c, "services": n} for c, n in rows], out)
    elif fmt == "csv":
        emit_csv(("category", "services"), rows, out)
    else:
        for category, count in rows:
            out.write(f"{category:<24} {count}\n")


# -- conflicts -----------------------------------------------------------------------------------------------

CONFLICTS_CSV = (
    "kind",
    "port",
    "transport",
    "claim",
    "iana",
    "service",
    "title",
    "ports",
    "role",
    "direction",
    "uncertain",
    "sources",
    "as_of",
    "why",
)


def render_conflicts(report: ConflictReport, fmt: str | None, out: TextIO = sys.stdout) -> None:
    from anyport.query.provenance import source_label

    if fmt == "json":
        emit_json(report.to_dict(), out)
        return
    if fmt == "csv":
        rows = [
            [
                c.kind,
                "" if c.port is None else c.port,
                c.transport,
                c.claim,
                sorted({i["name"] for i in c.iana}),
                s.name,
                s.title,
                s.ports,
                s.role,
                s.direction,
                str(s.uncertain).lower(),
                [source_label(src) for src in s.sources],
                s.as_of,
                c.why,
            ]
            for c in report.conflicts
            for s in c.services
        ]
        emit_csv(CONFLICTS_CSV, rows, out)
        return
    counts = ", ".join(f"{n} {kind}" for kind, n in report.counts().items())
    lines = [
        f"{len(report.conflicts)} conflict{'s' if len(report.conflicts) != 1 else ''} between the catalog and IANA "
        f"({counts}); catalog as of {report.as_of or '-'}, IANA registry as of {report.iana_as_of or '-'}"
    ]
    for c in report.conflicts:
        where = "(no port)" if c.port is None else f"{c.port}/{c.transport}"
        lines.append("")
        lines.append(f"{where}  {c.kind}" + (f" '{c.claim}'" if c.claim else ""))
        lines.append(f"  {c.why}")
        names = list(
            dict.fromkeys(f"{i['name']} {i['ports']}/{i['transport']}" if i["ports"] else i["name"] for i in c.iana)
        )
        lines.append(f"  IANA: {'; '.join(names) if names else 'no such name'}")
        for s in c.services:
            flags = ", ".join(filter(None, (s.ports, s.role, s.direction, "uncertain" if s.uncertain else "")))
            lines.append(f"  - {s.title} ({s.name}){': ' + flags if flags else ''}")
            when = f" · as of {s.as_of}" if s.as_of else ""
            lines.append(f"      sources: {'; '.join(source_label(src) for src in s.sources)}{when}")
    if _is_terminal(out):
        console = _console(out)
        for line in lines:
            console.print(_safe(line), style="bold" if line and not line.startswith(" ") else None)
    else:
        out.write("\n".join(lines) + "\n")
