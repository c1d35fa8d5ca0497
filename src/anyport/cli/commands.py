"""One function per command: call the library, hand the result to a renderer."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from anyport.rules.audit import AuditReport
    from anyport.rules.exposure import ExposureReport


def run(args: argparse.Namespace) -> int:
    return HANDLERS[args.command](args)


def cmd_lookup(args: argparse.Namespace) -> int:
    from anyport import api
    from anyport.cli.render import render_lookups
    from anyport.query.grammar import parse_query

    for query in args.queries:  # report a bad query before doing any work
        parse_query(query)
    results = [api.lookup(q) for q in args.queries]
    render_lookups(results, args.fmt, args.all)
    # A name nobody knows is a failed lookup (exit 1, like grep); an unknown port still has an answer.
    return 1 if any(not r.matches and r.kind == "name" for r in results) else 0


def cmd_service(args: argparse.Namespace) -> int:
    from anyport import api
    from anyport.cli.render import render_service

    render_service(api.service(args.name), args.fmt)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from anyport import api
    from anyport.cli.render import render_search

    result = api.search_full(
        " ".join(args.text),
        categories=args.category or None,
        transport=args.transport,
        status=args.status,
        limit=args.limit,
    )
    render_search(result, args.fmt)
    return 0 if result.hits else 1


def cmd_categories(args: argparse.Namespace) -> int:
    from anyport import api
    from anyport.cli.render import render_categories

    render_categories(api.categories(), args.fmt)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from anyport.catalog.loader import validate_files

    paths = [Path(f) for f in args.files]
    count, problems = validate_files(paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"anyport: {len(problems)} problem(s) in {len(paths)} file(s)", file=sys.stderr)
        return 2
    print(f"ok: {count} service(s) in {len(paths)} file(s)")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from anyport.catalog.schema import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from anyport import api
    from anyport.rules.targets import TARGETS, get_target

    if args.list_targets:
        for name in sorted(TARGETS):
            print(f"{name:<12} {get_target(name).title}")
        print("aerleon:<platform>  any platform of the aerleon library (pip install 'anyport[aerleon]')")
        return 0
    output = api.rules(
        args.services,
        target=args.target,
        direction=args.direction,
        action=args.action,
        reject=args.reject,
        sources=args.source,
        dests=args.dest,
        interface=args.interface,
        include_dynamic=args.include_dynamic,
        skip_optional=args.skip_optional,
        ipv4_only=args.ipv4_only,
        ipv6_only=args.ipv6_only,
        best_effort=args.best_effort,
    )
    _write_or_print(output.files, args.output, output.text)
    return 0


def _write_or_print(files: dict[str, str], output: str | None, text: str) -> None:
    if output:
        from anyport.cli.files import write_outputs

        for path in write_outputs(output, files):
            print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_export(args: argparse.Namespace) -> int:
    from anyport.api import knowledge_base
    from anyport.rules.export import export

    output = export(knowledge_base(), args.services, args.format)
    _write_or_print(output.files, args.output, output.text)
    return 0


def _rule_set_source(args: argparse.Namespace) -> tuple[str, str] | None:
    given = [(kind, getattr(args, kind)) for kind in ("nft", "iptables", "ufw") if getattr(args, kind)]
    if len(given) > 1:
        from anyport.errors import QueryError

        raise QueryError("give one rule set at a time: --nft, --iptables or --ufw")
    return given[0] if given else None


def cmd_exposure(args: argparse.Namespace) -> int:
    from anyport.api import knowledge_base
    from anyport.rules.exposure import exposure

    report = exposure(knowledge_base(), args.items, _rule_set_source(args))
    _emit_report(report, args.fmt)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from anyport.api import knowledge_base
    from anyport.errors import QueryError
    from anyport.rules.audit import audit

    source = _rule_set_source(args)
    if source is None:
        raise QueryError("give a rule set to audit: --nft FILE, --iptables FILE or --ufw FILE")
    report = audit(knowledge_base(), source)
    _emit_report(report, args.fmt)
    return 0


def _emit_report(report: ExposureReport | AuditReport, fmt: str | None) -> None:
    from anyport.cli.render import emit_json

    if fmt == "json":
        emit_json(report.to_dict())
    elif fmt == "csv":
        sys.stdout.write(report.to_csv())
    else:
        sys.stdout.write(report.render_text())


def _columns(text: str) -> dict[str, str]:
    from anyport.errors import QueryError

    columns = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, column = part.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise QueryError(f"--columns entry {part!r} is not NAME=COLUMN; write e.g. dst_port=dport")
        columns[name.strip()] = column.strip()
    return columns


def cmd_annotate(args: argparse.Namespace) -> int:
    from anyport.traffic.annotate import annotate_files

    stats = annotate_files(args.inputs, args.output, args.format, _columns(args.columns))
    print(stats.report(), file=sys.stderr)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from anyport.cli.render import emit_csv, emit_json
    from anyport.traffic.annotate import render_summary, summary_files

    summary = summary_files(args.inputs, _columns(args.columns))
    if args.fmt == "json":
        emit_json(summary)
    elif args.fmt == "csv":
        entries = summary.get("by_service", [])
        keys = ("service", "title", "flows", "bytes")
        assert isinstance(entries, list)
        emit_csv(keys, [[entry.get(k, "") for k in keys] for entry in entries])
    else:
        sys.stdout.write(render_summary(summary))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from anyport.web.serve import serve

    return serve(args.host, args.port, args.workers)


def cmd_site(args: argparse.Namespace) -> int:
    from anyport.web.site import build_site

    count = build_site(args.directory)
    print(f"wrote {count} files to {args.directory}", file=sys.stderr)
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "lookup": cmd_lookup,
    "service": cmd_service,
    "search": cmd_search,
    "categories": cmd_categories,
    "rules": cmd_rules,
    "export": cmd_export,
    "exposure": cmd_exposure,
    "audit": cmd_audit,
    "annotate": cmd_annotate,
    "summary": cmd_summary,
    "serve": cmd_serve,
    "site": cmd_site,
    "validate": cmd_validate,
    "schema": cmd_schema,
}
