"""The ``anyport`` command: a thin layer that parses arguments, calls the library and prints the answer.

Library errors (:class:`anyport.errors.AnyportError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

from anyport import __version__
from anyport.errors import AnyportError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

COMMANDS = (
    "lookup",
    "service",
    "search",
    "categories",
    "rules",
    "export",
    "exposure",
    "audit",
    "annotate",
    "summary",
    "listening",
    "connections",
    "learn",
    "serve",
    "site",
    "update",
    "info",
    "diff",
    "validate",
    "schema",
    "conflicts",
)

DESCRIPTION = """\
What is this port? What must I open for that service?

  anyport 6881                      what uses port 6881 (any transport)
  anyport 3389/tcp 50/udp ip:47     several lookups at once
  anyport 6000-6010/tcp             every service in a range
  anyport _ipp._tcp                 a DNS-SD service type
  anyport service bittorrent        everything needed to open a service
  anyport search messenger          find services by name or description
"""


def _add_format(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", dest="fmt", action="store_const", const="json", help="print JSON")
    group.add_argument("--csv", dest="fmt", action="store_const", const="csv", help="print CSV")
    parser.set_defaults(fmt=None)


def _add_engine(parser: argparse.ArgumentParser, result: str) -> None:
    """``--engine`` of a command whose DuckDB engine gives the same ``result`` as its Python engine."""
    parser.add_argument(
        "--engine",
        choices=("auto", "python", "duckdb"),
        default="auto",
        help=f"auto (default): DuckDB for Parquet and big CSV/Zeek files (the same {result}, much sooner), Python "
        "for the rest",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full command-line grammar (argparse is imported here: the plain lookup path does without it)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            # argparse's own usage errors follow the same rule as library errors: one line, exit 2.
            self.exit(2, f"anyport: error: {message} (see 'anyport --help')\n")

    parser = _Parser(
        prog="anyport",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="A query that is not a command is looked up: 'anyport 443' is 'anyport lookup 443'.",
    )
    parser.add_argument("--version", action="version", version=f"anyport {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("lookup", help="what uses a port, range, IP protocol, DNS-SD type or name")
    p.add_argument("queries", nargs="+", metavar="QUERY", help="N, N/tcp, N-M[/udp], ip:47, gre, _ipp._tcp, name")
    p.add_argument("--all", action="store_true", help="show every match, not only the first 25 per query")
    p.add_argument("--sources", action="store_true", help="show each match's sources and as-of date")
    _add_format(p)

    p = sub.add_parser("service", help="everything needed to open a service, references resolved")
    p.add_argument("name", help="service id, alias or title")
    p.add_argument("--sources", action="store_true", help="also the sources of the services it references")
    _add_format(p)

    p = sub.add_parser("search", help="find services by name, alias or description (typo-tolerant)")
    p.add_argument("text", nargs="+", help="words to search for")
    p.add_argument("--category", action="append", default=[], help="only this category (repeatable)")
    p.add_argument("--transport", choices=("tcp", "udp", "sctp", "dccp", "ip"), help="only services using it")
    p.add_argument("--status", choices=("active", "obsolete", "defunct"), help="only services with this status")
    p.add_argument("--limit", type=int, default=20, help="at most this many results (default 20)")
    p.add_argument("--sources", action="store_true", help="show each result's sources and as-of date")
    _add_format(p)

    p = sub.add_parser("categories", help="the service categories with their counts")
    _add_format(p)

    p = sub.add_parser(
        "rules",
        help="firewall rules that open exactly what services need",
        description="Firewall rules for services (catalog names, aliases, your own services) or raw specs "
        "(tcp/8443, udp/5000-5010, ip:47), for one platform.",
    )
    p.add_argument("services", nargs="*", metavar="SERVICE", help="service names or raw specs")
    p.add_argument("-t", "--target", default="nftables", help="platform (see --list-targets); default nftables")
    p.add_argument("--list-targets", action="store_true", help="list the platforms and exit")
    p.add_argument("--direction", choices=("in", "out"), default="in", help="in: reach this host; out: from it")
    p.add_argument("--action", choices=("allow", "deny"), default="allow")
    p.add_argument("--reject", action="store_true", help="deny by rejecting instead of dropping")
    p.add_argument("--source", action="append", default=[], metavar="CIDR", help="only from these networks")
    p.add_argument("--dest", action="append", default=[], metavar="CIDR", help="only to these networks")
    p.add_argument("--interface", default="", help="only on this interface")
    p.add_argument("--include-dynamic", action="store_true", help="also open ports picked at run time")
    p.add_argument("--skip-optional", action="store_true", help="leave out ports only some features need")
    family = p.add_mutually_exclusive_group()
    family.add_argument("--ipv4-only", action="store_true")
    family.add_argument("--ipv6-only", action="store_true")
    p.add_argument("--best-effort", action="store_true", help="write what the platform cannot express as comments")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (and FILE's siblings for several files)")

    p = sub.add_parser("export", help="service definitions that other tools load (firewalld, ufw, nmap...)")
    p.add_argument("services", nargs="+", metavar="SERVICE")
    p.add_argument(
        "--format",
        required=True,
        choices=("firewalld", "ufw", "aerleon", "capirca", "nmap-services", "json"),
        help="the tool's own format",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    p = sub.add_parser(
        "exposure",
        help="what is reachable through open ports or a real rule set",
        description="Report every known service and trojan-history port inside what is open: ports and services "
        "given on the command line (udp/5004-65535, windows-messenger) or a rule set read from a file.",
    )
    p.add_argument("items", nargs="*", metavar="SPEC_OR_SERVICE", help="open ports (udp/5004-65535) or services")
    p.add_argument("--nft", metavar="FILE", help="'nft -j list ruleset' or 'nft list ruleset' output")
    p.add_argument("--iptables", metavar="FILE", help="'iptables-save' or 'ip6tables-save' output")
    p.add_argument("--ufw", metavar="FILE", help="'ufw status' or 'ufw status verbose' output")
    _add_format(p)

    p = sub.add_parser("audit", help="explain an existing rule set rule by rule in service terms")
    p.add_argument("--nft", metavar="FILE", help="'nft -j list ruleset' or 'nft list ruleset' output")
    p.add_argument("--iptables", metavar="FILE", help="'iptables-save' or 'ip6tables-save' output")
    p.add_argument("--ufw", metavar="FILE", help="'ufw status' or 'ufw status verbose' output")
    _add_format(p)

    p = sub.add_parser(
        "annotate",
        help="which service produced each flow of a Zeek log, flow table or capture",
        description="Annotate flows from Zeek conn.log (TSV or JSON), CSV and Parquet flow tables, nfdump CSV, "
        "iptables/nftables LOG lines or pcap/pcapng captures (gzip and zstd too; detected from content) with "
        "service, service_port, service_proto, alternatives, confidence and risk.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("-o", "--output", default="-", metavar="FILE", help="write here instead of stdout")
    p.add_argument(
        "--format",
        choices=("csv", "jsonl", "parquet", "arrow"),
        help="output format (default: from the output's extension, else csv); arrow: an Arrow IPC file "
        "(Feather v2, uncompressed: pandas.read_feather, polars.read_ipc)",
    )
    p.add_argument("--columns", default="", metavar="MAP", help="column names of a CSV: dst_port=dport,proto=p")
    p.add_argument(
        "--input-format",
        choices=("zeek", "zeek-json", "csv", "nfdump", "netfilter", "parquet", "pcap"),
        help="read every input as this format instead of detecting it",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "python", "duckdb", "spark"),
        default="auto",
        help="auto (default): DuckDB for Parquet and big CSV/Zeek files, Python for the rest; spark: a Spark job",
    )
    p.add_argument(
        "--any-order",
        action="store_true",
        help="let the duckdb engine write rows out of input order (blocks of 2,048 from its threads interleave); "
        "faster only for inputs it cannot cut into pieces, such as compressed files",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")

    p = sub.add_parser("summary", help="traffic by service, unknown ports, trojan ports and risks")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--columns", default="", metavar="MAP", help="column names of a CSV: dst_port=dport,proto=p")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with charts to FILE")
    _add_engine(p, "summary")
    _add_format(p)

    p = sub.add_parser("listening", help="this host's listening sockets, annotated, with their processes")
    p.add_argument("--all", action="store_true", help="also UDP sockets on unknown ephemeral ports (mostly clients)")
    _add_format(p)

    p = sub.add_parser("connections", help="this host's live connections, annotated, with their processes")
    p.add_argument("--state", action="append", default=[], metavar="STATE", help="only this TCP state (repeatable)")
    _add_format(p)

    p = sub.add_parser(
        "learn",
        help="least-privilege allow rules for the services seen inbound in flows",
        description="Read flows (Zeek conn.log, CSV flow tables, nfdump CSV, LOG lines, pcap/pcapng), keep the "
        "inbound ones and propose allow rules that open only the ports seen, from the sources seen. Without "
        "--target, print the proposal as JSON.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("-t", "--target", help="write rules for this platform (see 'anyport rules --list-targets')")
    p.add_argument("--local", action="append", default=[], metavar="CIDR", help="this site's networks (repeatable)")
    p.add_argument("--min-flows", type=int, default=1, metavar="N", help="only ports seen in N flows or more")
    p.add_argument("--include-unknown", action="store_true", help="also ports no catalog service is known to use")
    p.add_argument("--any-source", action="store_true", help="allow from anywhere, not only the sources seen")
    p.add_argument("--best-effort", action="store_true", help="write what the platform cannot express as comments")
    p.add_argument("--columns", default="", metavar="MAP", help="column names of a CSV: dst_port=dport,proto=p")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--json", action="store_true", help="print the proposal as JSON (with the rules of --target)")
    _add_engine(p, "proposal")

    p = sub.add_parser("serve", help="the web page and JSON API (binds to localhost unless told otherwise)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8640, help="port to listen on (default 8640)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")

    p = sub.add_parser("site", help="a static export of the web page (HTML and JSON) to host anywhere")
    site = p.add_subparsers(dest="site_command", metavar="SUBCOMMAND", required=True)
    build = site.add_parser("build", help="write the static site into DIR")
    build.add_argument("directory", metavar="DIR")

    p = sub.add_parser(
        "update",
        help="refresh the IANA registries (from IANA, a URL or a file), verified, switched atomically",
        description="Fetch IANA's service-names and protocol-numbers CSV files (or the files and URLs given with "
        "--from), verify them, build the index for them and only then switch to them. A failed or interrupted "
        "update changes nothing. Updated copies live in $ANYPORT_DATA_DIR/iana/ (default ~/.local/share/anyport/iana/).",
    )
    p.add_argument(
        "--from",
        dest="sources",
        action="append",
        default=[],
        metavar="FILE|URL",
        help="a service-names or protocol-numbers CSV (.gz too); repeatable; default: IANA's published files",
    )
    p.add_argument("--check", action="store_true", help="verify and compare only; change nothing")
    p.add_argument("--force", action="store_true", help="accept a file with more than 2%% fewer records")
    p.add_argument("--rollback", action="store_true", help="go back to the registries shipped with anyport")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="limit for each download (60)")
    p.add_argument("--json", dest="fmt", action="store_const", const="json", help="print JSON")

    p = sub.add_parser("info", help="versions, dates, sizes and hashes of the data in use; where your files are")
    p.add_argument("--json", dest="fmt", action="store_const", const="json", help="print JSON")

    p = sub.add_parser(
        "diff",
        help="new, changed and removed IANA assignments between the data in use and a candidate",
        description="Compare the IANA registries in use with candidate files or URLs (IANA's published files "
        "when none are given), or with --shipped the shipped registries with the ones in use.",
    )
    p.add_argument("candidates", nargs="*", metavar="FILE|URL", help="service-names or protocol-numbers CSV files")
    p.add_argument("--shipped", action="store_true", help="what updates changed: shipped data -> data in use")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="limit for each download (60)")
    p.add_argument("--json", dest="fmt", action="store_const", const="json", help="print JSON")

    p = sub.add_parser("validate", help="check catalog YAML files before using them")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--check-format", action="store_true", help="also check the canonical layout (see CONTRIBUTING.md)")

    p = sub.add_parser("schema", help="print the JSON Schema of catalog files (for editors)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    p = sub.add_parser(
        "conflicts",
        help="where the catalog disagrees with IANA (ports used by other services, unbacked claims)",
        description="Ports a curated service uses that IANA registers to a different service (practice), and "
        "catalog entries whose IANA names IANA does not back (claim), each with the sources and as-of dates.",
    )
    p.add_argument("ports", nargs="*", metavar="PORT", help="only these ports: 1337, 8080/tcp, 5000-6000")
    p.add_argument("--kind", action="append", choices=("practice", "claim"), help="only this kind (repeatable)")
    _add_format(p)
    return parser


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """Turn the shorthand ``anyport 443`` into ``anyport lookup 443``."""
    args = list(argv)
    if not args:
        return args
    first = args[0]
    if first in COMMANDS or (first.startswith("-") and not _looks_like_query(first)):
        return args
    return ["lookup", *args]


def _looks_like_query(arg: str) -> bool:
    # "-1" or "-5/tcp" are (bad) queries, not options; let the query grammar explain what is wrong.
    return len(arg) > 1 and arg[1].isdigit()


LOOKUP_FLAGS = {
    "--json": ("fmt", "json"),
    "--csv": ("fmt", "csv"),
    "--all": ("all", True),
    "--sources": ("sources", True),
}


def quick_lookup_args(args: list[str]) -> argparse.Namespace | None:
    """``lookup QUERY... [--json|--csv] [--all] [--sources]`` parsed without argparse, or None for anything else.

    The plain lookup is the command people run most; building argparse's parser costs more than answering it.
    """
    if len(args) < 2 or args[0] != "lookup":
        return None
    from types import SimpleNamespace

    values: dict[str, object] = {"command": "lookup", "queries": [], "fmt": None, "all": False, "sources": False}
    queries: list[str] = []
    for arg in args[1:]:
        if arg in LOOKUP_FLAGS:
            key, value = LOOKUP_FLAGS[arg]
            if key == "fmt" and values["fmt"] not in (None, value):
                return None  # --json with --csv: let argparse explain
            values[key] = value
        elif arg.startswith("-") and not _looks_like_query(arg):
            return None
        else:
            queries.append(arg)
    if not queries:
        return None
    values["queries"] = queries
    return SimpleNamespace(**values)  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = normalise_argv(sys.argv[1:] if argv is None else argv)
    args = quick_lookup_args(args_list)
    if args is None:
        parser = build_parser()
        if not args_list:
            parser.print_help()
            return 0
        args = parser.parse_args(args_list)
    try:
        from anyport.cli import commands

        return commands.run(args)
    except AnyportError as exc:
        print(f"anyport: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `anyport 80 | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
