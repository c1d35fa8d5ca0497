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
    results = [api.lookup(q, sources=args.sources) for q in args.queries]
    render_lookups(results, args.fmt, args.all)
    # A name nobody knows is a failed lookup (exit 1, like grep); an unknown port still has an answer.
    return 1 if any(not r.matches and r.kind == "name" for r in results) else 0


def cmd_service(args: argparse.Namespace) -> int:
    from anyport import api
    from anyport.cli.render import render_service

    info = api.service(args.name)
    render_service(info, args.fmt, referenced_sources=args.sources)
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
        sources=args.sources,
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
    if args.check_format:
        from anyport.catalog.format import check_format_file

        problems += [p for path in paths if path.is_file() for p in check_format_file(path)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"anyport: {len(problems)} problem(s) in {len(paths)} file(s)", file=sys.stderr)
        return 2
    print(f"ok: {count} service(s) in {len(paths)} file(s)")
    return 0


def cmd_conflicts(args: argparse.Namespace) -> int:
    from anyport import api
    from anyport.cli.render import render_conflicts

    render_conflicts(api.conflicts(args.ports, kinds=args.kind), args.fmt)
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


def _output_format(output: str, fmt: str | None) -> str:
    if fmt:
        return str(fmt)
    lowered = output.lower()
    if lowered.endswith((".parquet", ".pq")):
        return "parquet"
    if lowered.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if lowered.endswith((".arrow", ".feather", ".ipc")):
        return "arrow"
    return "csv"


def cmd_annotate(args: argparse.Namespace) -> int:
    fmt = _output_format(args.output, args.format)
    if args.engine == "spark":
        from anyport.spark import annotate_paths

        run = annotate_paths(
            args.inputs, args.output, fmt, columns=_columns(args.columns), input_format=args.input_format
        )
        print(run.report(), file=sys.stderr)
        return 0
    from anyport.cli.progress import ProgressBar
    from anyport.traffic.annotate import annotate_files

    with ProgressBar("annotating", enabled=False if args.no_progress else None) as bar:
        stats = annotate_files(
            args.inputs, args.output, fmt, _columns(args.columns), engine=args.engine, progress=bar,
            input_format=args.input_format, ordered=not args.any_order,
        )  # fmt: skip
    print(stats.report(), file=sys.stderr)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from anyport.cli.progress import ProgressBar
    from anyport.cli.render import emit_csv, emit_json
    from anyport.traffic.annotate import render_summary, summary_files

    with ProgressBar("reading flows") as bar:
        summary = summary_files(args.inputs, _columns(args.columns), progress=bar, engine=args.engine)
    if args.html:
        from anyport.cli.files import write_outputs
        from anyport.traffic.report import render_html

        for path in write_outputs(args.html, {"": render_html(summary)}):
            print(f"wrote the HTML report to {path}", file=sys.stderr)
    if args.fmt == "json":
        emit_json(summary)
    elif args.fmt == "csv":
        entries = summary.get("by_service", [])
        keys = ("service", "title", "flows", "bytes", "packets")
        assert isinstance(entries, list)
        emit_csv(keys, [[entry.get(k, "") for k in keys] for entry in entries])
    elif not args.html:
        sys.stdout.write(render_summary(summary))
    return 0


def cmd_listening(args: argparse.Namespace) -> int:
    from anyport.cli.render_host import render_sockets
    from anyport.traffic.host import listening

    render_sockets(listening(include_ephemeral_udp=args.all), args.fmt, listeners=True)
    return 0


def cmd_connections(args: argparse.Namespace) -> int:
    from anyport.cli.render_host import render_sockets
    from anyport.traffic.host import connections

    render_sockets(connections(args.state), args.fmt, listeners=False)
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    import json

    from anyport.rules.targets import get_target
    from anyport.traffic.learn import learn_files, learn_rules

    if args.target:
        get_target(args.target)  # an unknown target is reported before any reading
    from anyport.cli.progress import ProgressBar

    with ProgressBar("reading flows") as bar:
        result = learn_files(
            args.inputs,
            local=args.local,
            min_flows=args.min_flows,
            include_unknown=args.include_unknown,
            any_source=args.any_source,
            columns=_columns(args.columns),
            engine=args.engine,
            progress=bar,
        )
    output = learn_rules(result, args.target, best_effort=args.best_effort) if args.target else None
    print(result.report(), file=sys.stderr)  # after the rules: an error stays the only line on stderr
    if output is not None and not args.json:
        _write_or_print(output.files, args.output, output.text)
        return 0
    data = result.to_dict()
    if output is not None:
        data["rules"] = output.files
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    _write_or_print({"": text}, args.output, text)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from anyport.web.serve import serve

    return serve(args.host, args.port, args.workers)


def cmd_update(args: argparse.Namespace) -> int:
    from anyport.cli.render_data import render_update
    from anyport.errors import UpdateError
    from anyport.update import rollback, update

    def progress(message: str) -> None:
        print(f"anyport: {message}", file=sys.stderr)

    if args.rollback:
        if args.sources or args.check:
            raise UpdateError("--rollback takes no --from or --check")
        render_update(rollback(progress), args.fmt, rollback=True)
        return 0
    report = update(args.sources, check=args.check, force=args.force, timeout=args.timeout, progress=progress)
    render_update(report, args.fmt)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from anyport.cli.render_data import render_info
    from anyport.info import gather

    render_info(gather(), args.fmt)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from anyport.cli.render_data import render_diffs
    from anyport.update import diff_candidates

    render_diffs(diff_candidates(args.candidates, shipped=args.shipped, timeout=args.timeout), args.fmt)
    return 0


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
    "listening": cmd_listening,
    "connections": cmd_connections,
    "learn": cmd_learn,
    "serve": cmd_serve,
    "site": cmd_site,
    "update": cmd_update,
    "info": cmd_info,
    "diff": cmd_diff,
    "validate": cmd_validate,
    "schema": cmd_schema,
    "conflicts": cmd_conflicts,
}
