"""Service definitions other tools load as they are: ``anyport export SERVICE... --format FORMAT``.

Definitions, not rules: a firewalld service file, a ufw application profile, an aerleon or capirca service
definition, nmap-services lines, or anyport's own JSON. The rules that use them (zones, ``ufw allow APP``,
policy terms, scans) stay the user's.

What a definition holds
    The ports a host running the service must accept, chosen exactly as ``anyport rules SERVICE`` does with its
    defaults (:func:`anyport.rules.selection.select`, inbound, ``include_dynamic=False``): fixed and family
    ports, and "selected" ranges of at most ten ports. Ports picked at run time (passive FTP, RTP...) and ports
    the service only connects out to are left out, and every file says which and why in its comments. The json
    format is the exception: it is ``anyport service --json`` unchanged, everything included.

References (NetMeeting uses LDAP, H.323...)
    firewalld, aerleon, capirca: expressed as includes. Every referenced service is exported too, as its own
    definition holding only its own ports, and the referencing one includes it (``<include service=.../>``,
    a nested service name). A referenced service with nothing the format can express is not defined, and the
    definitions that would include it say so in a comment.
    ufw, nmap-services: inlined (an application profile cannot include another; nmap names single ports):
    the profile of NetMeeting lists LDAP's ports too; in nmap-services each port is named by the service that
    owns it (389/tcp is ``ldap``), with the service it was exported for in the comment.
    json: inlined, as ``anyport service --json`` resolves them.

Names (no catalog text ever becomes a name: names come from service ids, which are slugs ``[a-z0-9-]``)
    firewalld: service ``anyport-<id>`` in the file ``anyport-<id>.xml``; the files are the Output's suffixes and
    the main file ("") is not used, so ``-o DIR/`` (with the slash) writes ``DIR/anyport-<id>.xml`` and
    ``-o /etc/firewalld/services/`` installs them. Includes name the files, so write them all into one
    directory under their own names. The prefix keeps firewalld's own services (``ssh``, ``ldap``...) from
    being overridden by a file in /etc/firewalld/services.
    ufw: profile ``[anyport-<id>]``; ufw skips a profile whose name is in /etc/services (``ssh``, ``sip``...).
    aerleon, capirca: ``ANYPORT_<ID>`` (hyphens become underscores) so that a definitions directory that
    already defines ``SSH`` or ``LDAP`` still loads (a second definition of a name is an error there).
    nmap-services: ``<id>``, as nmap names services.

Formats and what they cannot express (written as comments and returned in ``Output.unsupported``)
    firewalld: ports of every transport, IP protocols, conntrack helpers (only on the ports firewalld's own
    helper definitions watch). aerleon (YAML ``services:``) and capirca (``.svc``): ports of every transport;
    no IP protocols (a policy term's ``protocol::``) and no helpers; a term applies every port of a service to
    each protocol it names, so services whose ports differ by protocol need one term per protocol. ufw: tcp and udp ports only. nmap-services:
    tcp, udp and sctp ports, one line per port with frequency 0.000000, at most :data:`NMAP_MAX_PORTS` lines a
    requested service. A requested service of which a format can express nothing is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from anyport import __version__
from anyport.errors import QueryError
from anyport.model import PortRange, Service, merge_ranges
from anyport.query.kb import KnowledgeBase
from anyport.query.service import find_service, service_info
from anyport.rules.base import Output, RulesError, clean_text
from anyport.rules.options import RuleOptions
from anyport.rules.selection import HelperRule, Selection, select
from anyport.vocab import TRANSPORTS

FORMATS = ("firewalld", "ufw", "aerleon", "capirca", "nmap-services", "json")
PREFIX = "anyport"
# nmap-services has one line per port: a service that would need more lines than this is refused.
NMAP_MAX_PORTS = 8192
NMAP_FREQUENCY = "0.000000"
UFW_MAX_NAME = 64  # ufw skips longer profile names
UFW_MAX_VALUE = 1024  # ufw skips a profile with a longer field
UFW_MAX_PORT_ITEMS = 15  # iptables multiport: ufw refuses more than 14 ',' and ':' in one ports entry
DESCRIPTION_LIMIT = 1000
# The ports firewalld's helper definitions watch (/usr/lib/firewalld/helpers/*.xml, firewalld 1.3); a service's
# <helper> acts on these ports only, whatever ports the service itself opens.
FIREWALLD_HELPER_PORTS: dict[str, frozenset[tuple[str, int]]] = {
    "Q.931": frozenset({("tcp", 1720)}),
    "RAS": frozenset({("udp", 1719)}),
    "amanda": frozenset({("udp", 10080)}),
    "ftp": frozenset({("tcp", 21)}),
    "irc": frozenset({("tcp", 194)}),
    "netbios-ns": frozenset({("udp", 137)}),
    "pptp": frozenset({("tcp", 1723)}),
    "sane": frozenset({("tcp", 6566)}),
    "sip": frozenset({("tcp", 5060), ("udp", 5060)}),
    "snmp": frozenset({("udp", 161)}),
    "tftp": frozenset({("udp", 69)}),
}
SAFE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
CLI_HINT = re.compile(r" \((?:add|use) --[^()]*\)")
EXPORT_OPTIONS = RuleOptions()  # inbound, allow, run-time ranges left out: what `anyport rules` does by default


@dataclass
class Definition:
    """One service's own part of an export: its ports (not those of services it references) and includes."""

    service: Service
    ports: dict[str, list[PortRange]] = field(default_factory=dict)  # transport -> merged ranges
    protocols: list[int] = field(default_factory=list)
    helpers: list[HelperRule] = field(default_factory=list)
    references: list[str] = field(default_factory=list)  # ids of referenced services in this export
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    warnings: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.service.id


@dataclass
class ExportSet:
    """Requested services (ids, in order, once each), every service of the export, and each request's selection."""

    requested: list[str]
    definitions: dict[str, Definition]
    selections: dict[str, Selection]  # requested id -> everything it needs, references inlined

    def closure(self, root: str) -> list[str]:
        """The requested service and every service it reaches through references, in discovery order."""
        order = [root]
        for sid in order:
            order += [ref for ref in self.definitions[sid].references if ref not in order]
        return order


@dataclass(frozen=True)
class Capabilities:
    transports: tuple[str, ...]
    protocols: bool
    helpers: bool


CAPABILITIES = {
    "firewalld": Capabilities(TRANSPORTS, protocols=True, helpers=True),
    "aerleon": Capabilities(TRANSPORTS, protocols=False, helpers=False),
    "capirca": Capabilities(TRANSPORTS, protocols=False, helpers=False),
    "ufw": Capabilities(("tcp", "udp"), protocols=False, helpers=False),
    "nmap-services": Capabilities(("tcp", "udp", "sctp"), protocols=False, helpers=False),
}
UNSUPPORTED_HINTS = {
    "aerleon": "a policy term matches it with protocol::",
    "capirca": "a policy term matches it with protocol::",
    "ufw": "allow it with a plain rule such as 'ufw allow proto gre from any to any' where ufw supports the protocol",
    "nmap-services": "nmap-protocols names IP protocols, nmap-services only ports",
}


def export(kb: KnowledgeBase, services: list[str], fmt: str) -> Output:
    """Definitions of ``services`` in ``fmt`` (one of :data:`FORMATS`); see the module's documentation."""
    if fmt not in FORMATS:
        raise RulesError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not services:
        raise QueryError("no services given; name services to export (e.g. ssh, sip)")
    found = [find_service(kb, name) for name in services]  # NotFoundError with suggestions for an unknown name
    requested = list(dict.fromkeys(service.id for service in found))
    if fmt == "json":
        data = [service_info(kb, sid).to_dict() for sid in requested]
        return Output(files={"": json.dumps(data, indent=2, ensure_ascii=False) + "\n"})
    renderers: dict[str, Callable[[ExportSet], Output]] = {
        "firewalld": _firewalld,
        "ufw": _ufw,
        "aerleon": _aerleon,
        "capirca": _capirca,
        "nmap-services": _nmap,
    }
    return renderers[fmt](build(kb, requested))


def build(kb: KnowledgeBase, requested: list[str]) -> ExportSet:
    """Select what each requested service needs and split it into per-service definitions."""
    selections: dict[str, Selection] = {}
    definitions: dict[str, Definition] = {}
    for sid in requested:
        try:
            selections[sid] = select(kb, [sid], EXPORT_OPTIONS)
        except QueryError:
            raise _nothing_to_export(kb, sid) from None
        info = service_info(kb, sid)
        for service in [info.service, *info.referenced]:
            if service.id not in definitions:
                definitions[service.id] = _own_definition(kb, service)
            own = definitions[service.id]
            for what, why in selections[sid].excluded:
                entry = (what, CLI_HINT.sub("", why))
                if what.split(" ", 1)[0] == service.id and entry not in own.excluded:
                    own.excluded.append(entry)
    for definition in definitions.values():
        if not SAFE_ID.match(definition.id):
            raise RulesError(f"service id {definition.id!r} cannot be used as a name; ids are [a-z0-9-]")
        definition.references = [
            ref for ref in dict.fromkeys(definition.service.references) if ref in definitions and ref != definition.id
        ]
    return ExportSet(requested, definitions, selections)


def _own_definition(kb: KnowledgeBase, service: Service) -> Definition:
    """The service's own ports, IP protocols and helpers (selected alone, so no other service takes them)."""
    definition = Definition(service)
    try:
        selection = select(kb, [service.id], EXPORT_OPTIONS)
    except QueryError:  # nothing at all to open, not even through its references
        definition.warnings = service_info(kb, service.id).warnings
        return definition
    for transport in TRANSPORTS:
        ranges = [r for p in selection.ports if p.service == service.id and p.transport == transport for r in p.ranges]
        if ranges:
            definition.ports[transport] = merge_ranges(ranges)
    definition.protocols = sorted({p.protocol for p in selection.protocols if p.service == service.id})
    definition.helpers = [h for h in selection.helpers if h.service == service.id]
    definition.warnings = list(selection.warnings)
    return definition


def _nothing_to_export(kb: KnowledgeBase, sid: str) -> QueryError:
    reasons = []
    for item in service_info(kb, sid).resolved[:3]:
        spec = item.spec
        why = "outbound only" if spec.direction == "outbound" else f"{spec.allocation} ports"
        reasons.append(f"{item.service} {spec.describe()}: {why}")
    shown = f" ({'; '.join(reasons)})" if reasons else ""
    return QueryError(
        f"nothing to export for {sid}: a definition holds the fixed ports a host running it accepts, "
        f"and it has none{shown}"
    )


# What a format can express of one definition


@dataclass
class Expressed:
    ports: dict[str, list[PortRange]]
    protocols: list[int]
    helpers: list[HelperRule]
    unsupported: list[str]

    @property
    def empty(self) -> bool:
        return not self.ports and not self.protocols and not self.helpers


def _expressed(definition: Definition, fmt: str) -> Expressed:
    caps = CAPABILITIES[fmt]
    sid = definition.id
    unsupported = []
    ports = {}
    for transport, ranges in definition.ports.items():
        if transport in caps.transports:
            ports[transport] = ranges
        else:
            unsupported.append(f"{_ranges(ranges, '-')}/{transport} ({sid}): {fmt} has no {transport} ports")
    protocols = definition.protocols if caps.protocols else []
    if not caps.protocols:
        unsupported += [f"IP protocol {p} ({sid}): {UNSUPPORTED_HINTS[fmt]}" for p in definition.protocols]
    helpers: list[HelperRule] = []
    for helper in definition.helpers:
        watched = FIREWALLD_HELPER_PORTS.get(helper.kernel_name, frozenset())
        if caps.helpers and (helper.transport, helper.port) in watched:
            helpers.append(helper)
            continue
        what = f"conntrack helper {helper.kernel_name} on {helper.port}/{helper.transport} ({sid})"
        if caps.helpers:
            where = ", ".join(f"{port}/{proto}" for proto, port in sorted(watched)) or "no port"
            unsupported.append(
                f"{what}: firewalld's {helper.kernel_name} helper watches {where}; define a helper for this "
                "port in /etc/firewalld/helpers and add it to the service"
            )
        else:
            unsupported.append(f"{what}: {fmt} definitions cannot carry helpers; attach it where the rules are")
    return Expressed(ports, protocols, helpers, unsupported)


def _with_content(export_set: ExportSet, fmt: str) -> set[str]:
    """Ids whose definition (with its includes) holds something the format can express."""
    own = {sid for sid, d in export_set.definitions.items() if not _expressed(d, fmt).empty}
    result = set(own)
    changed = True
    while changed:
        changed = False
        for sid, definition in export_set.definitions.items():
            if sid not in result and any(ref in result for ref in definition.references):
                result.add(sid)
                changed = True
    return result


def _order(export_set: ExportSet) -> list[str]:
    """Requested services first, then the services they reference, in discovery order."""
    order: list[str] = []
    for root in export_set.requested:
        order += [sid for sid in export_set.closure(root) if sid not in order]
    return order


def _nothing_expressible(fmt: str, sid: str, unsupported: list[str]) -> RulesError:
    shown = "; ".join(unsupported[:4]) or "no ports"
    return RulesError(f"{fmt} cannot express anything {sid} needs: {shown}")


# Comments


def _header(export_set: ExportSet, title: str, references: str, install: str) -> list[str]:
    return [
        f"Generated by anyport {__version__}: {title}; exported: {', '.join(export_set.requested)}",
        "Definitions, not rules: the ports a host running the service accepts (fixed ports and narrow selected "
        "ones); ports picked at run time and ports it only connects out to are left out, listed below.",
        references,
        install,
    ]


def _notes(
    definition: Definition, unsupported: list[str], dropped: list[str], fmt: str, used_by: str = ""
) -> list[str]:
    """Comment lines about one definition: title, left out, not expressed, warnings."""
    service = definition.service
    status = f" [{service.status}]" if service.status != "active" else ""
    inlined = f" (used by {used_by}: its ports are inlined)" if used_by else ""
    lines = [f"{definition.id}: {clean_text(service.title)}{status}{inlined}"]
    lines += [f"  left out: {clean_text(what)}: {clean_text(why)}" for what, why in definition.excluded]
    lines += [f"  not defined, so not included: {ref} (nothing {fmt} can express)" for ref in dropped]
    lines += [f"  NOT EXPRESSED in {fmt}: {clean_text(item, 400)}" for item in unsupported]
    if not used_by:
        lines += [f"  warning: {clean_text(w, 400)}" for w in definition.warnings]
    return lines


def _hash_comments(lines: list[str]) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def _xml_comment(text: str) -> str:
    """An XML comment of one cleaned line: no '--' inside and no '-' at the end, as XML requires."""
    body = clean_text(text, 600)
    while "--" in body:
        body = body.replace("--", "- -")
    if body.endswith("-"):
        body += " "
    return f"<!-- {body} -->"


def _ranges(ranges: list[PortRange], dash: str) -> str:
    return ",".join(str(r.start) if r.start == r.end else f"{r.start}{dash}{r.end}" for r in ranges)


def _name(fmt: str, sid: str) -> str:
    if fmt in ("aerleon", "capirca"):
        return f"{PREFIX}_{sid}".upper().replace("-", "_")
    if fmt == "nmap-services":
        return sid
    return f"{PREFIX}-{sid}"


def _expressible(
    export_set: ExportSet, fmt: str, content: set[str], unsupported: list[str]
) -> Iterator[tuple[str, Definition, Expressed]]:
    """(id, definition, what the format expresses of it) for every service with content, in export order.

    Collects what cannot be expressed into ``unsupported``; a requested service with nothing to show is an error.
    """
    for sid in _order(export_set):
        definition = export_set.definitions[sid]
        expressed = _expressed(definition, fmt)
        unsupported += expressed.unsupported
        if sid in content:
            yield sid, definition, expressed
        elif sid in export_set.requested:
            raise _nothing_expressible(fmt, sid, expressed.unsupported)


# firewalld


def _firewalld(export_set: ExportSet) -> Output:
    fmt = "firewalld"
    content = _with_content(export_set, fmt)
    files: dict[str, str] = {}
    unsupported: list[str] = []
    for sid, definition, expressed in _expressible(export_set, fmt, content, unsupported):
        includes = [ref for ref in definition.references if ref in content]
        dropped = [ref for ref in definition.references if ref not in content]
        comments = _header(
            export_set,
            f"firewalld service {_name(fmt, sid)}",
            "References are includes: each referenced service is its own file of this export.",
            f"Install every {PREFIX}-*.xml of this export in /etc/firewalld/services/ under its own name "
            "(anyport export ... -o /etc/firewalld/services/ does), then reload firewalld.",
        )
        comments += _notes(definition, expressed.unsupported, dropped, fmt)
        service = definition.service
        lines = ['<?xml version="1.0" encoding="utf-8"?>']
        lines += [_xml_comment(c) for c in comments]
        lines.append("<service>")
        lines.append(f"  <short>{escape(clean_text(service.title) or sid)}</short>")
        description = clean_text(service.description, DESCRIPTION_LIMIT) or clean_text(service.title)
        lines.append(f"  <description>{escape(description)}</description>")
        for transport, ranges in expressed.ports.items():
            lines += [
                f'  <port port="{r.start if r.width == 1 else f"{r.start}-{r.end}"}" protocol="{transport}"/>'
                for r in ranges
            ]
        lines += [f'  <protocol value="{number}"/>' for number in expressed.protocols]
        lines += [f'  <include service="{_name(fmt, ref)}"/>' for ref in includes]
        lines += [f'  <helper name="{name}"/>' for name in dict.fromkeys(h.kernel_name for h in expressed.helpers)]
        lines.append("</service>")
        files[f"{_name(fmt, sid)}.xml"] = "\n".join(lines) + "\n"
    return Output(files=files, unsupported=list(dict.fromkeys(unsupported)))


# aerleon (YAML) and capirca (.svc)


def _definition_entries(export_set: ExportSet, fmt: str) -> tuple[list[tuple[str, list[str], list[str]]], list[str]]:
    """(name, comment lines, values) per defined service, values as 'PORT/PROTO' or a nested NAME; unsupported."""
    content = _with_content(export_set, fmt)
    entries = []
    unsupported: list[str] = []
    for sid, definition, expressed in _expressible(export_set, fmt, content, unsupported):
        dropped = [ref for ref in definition.references if ref not in content]
        values = [f"{_ranges([r], '-')}/{transport}" for transport, ranges in expressed.ports.items() for r in ranges]
        values += [_name(fmt, ref) for ref in definition.references if ref in content]
        entries.append((_name(fmt, sid), _notes(definition, expressed.unsupported, dropped, fmt), values))
    return entries, list(dict.fromkeys(unsupported))


def _aerleon(export_set: ExportSet) -> Output:
    entries, unsupported = _definition_entries(export_set, "aerleon")
    header = _header(
        export_set,
        "aerleon service definitions (YAML)",
        "References are nested service names, each defined in this file. A term matches every port of a service "
        "under each protocol it names: write one term per protocol (protocol: tcp, then udp).",
        "Put this file (ending in .yaml) in aerleon's definitions directory (--definitions_directory).",
    )
    lines = [_hash_comments(header), "services:\n"]
    for name, notes, values in entries:
        lines.append(_indent(_hash_comments(notes), "  "))
        lines.append(f"  {name}:\n")
        for value in values:
            if "/" in value:
                port, proto = value.split("/")
                port_text = port if port.isdigit() else json.dumps(port)
                lines.append(f"    - {{port: {port_text}, protocol: {proto}}}\n")
            else:
                lines.append(f"    - {{name: {value}}}\n")
    return Output(files={"": "".join(lines)}, unsupported=unsupported)


def _capirca(export_set: ExportSet) -> Output:
    entries, unsupported = _definition_entries(export_set, "capirca")
    header = _header(
        export_set,
        "capirca service definitions (.svc)",
        "References are nested service names, each defined in this file. A term matches every port of a service "
        "under each protocol it names: write one term per protocol (protocol:: tcp, then udp).",
        "Put this file (ending in .svc) in the definitions directory (capirca's --definitions_directory, "
        "aerleon loads it too).",
    )
    lines = [_hash_comments(header)]
    for name, notes, values in entries:
        lines.append("\n" + _hash_comments(notes))
        lead = f"{name} = "
        lines.append(lead + values[0] + "\n")
        lines += [" " * len(lead) + value + "\n" for value in values[1:]]
    return Output(files={"": "".join(lines)}, unsupported=unsupported)


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line for line in text.splitlines(keepends=True))


# ufw


def _ufw_entries(ports: dict[str, list[PortRange]]) -> list[str]:
    """``ports=`` entries: ranges as a:b, packed into comma lists within iptables' multiport limit."""
    entries = []
    for transport, ranges in ports.items():
        group: list[str] = []
        used = 0
        for r in ranges:
            item, cost = (str(r.start), 1) if r.width == 1 else (f"{r.start}:{r.end}", 2)
            if group and used + cost > UFW_MAX_PORT_ITEMS:
                entries.append(f"{','.join(group)}/{transport}")
                group, used = [], 0
            group.append(item)
            used += cost
        if group:
            entries.append(f"{','.join(group)}/{transport}")
    return entries


def _ufw(export_set: ExportSet) -> Output:
    fmt = "ufw"
    header = _header(
        export_set,
        "ufw application profiles",
        "References are inlined: a profile lists the ports of the services its service uses.",
        f"Install as /etc/ufw/applications.d/{PREFIX} (any file name not starting with a dot), then "
        f"'ufw app update {PREFIX}-NAME' and 'ufw allow {PREFIX}-NAME'.",
    )
    sections = [_hash_comments(header)]
    unsupported: list[str] = []
    for root in export_set.requested:
        name = _name(fmt, root)
        if len(name) > UFW_MAX_NAME:
            raise RulesError(f"ufw profile name {name!r} is longer than ufw's {UFW_MAX_NAME} characters")
        ports: dict[str, list[PortRange]] = {}
        notes: list[str] = []
        missing: list[str] = []
        for sid in export_set.closure(root):
            definition = export_set.definitions[sid]
            expressed = _expressed(definition, fmt)
            missing += expressed.unsupported
            for transport, ranges in expressed.ports.items():
                ports[transport] = merge_ranges([*ports.get(transport, []), *ranges])
            notes += _notes(definition, expressed.unsupported, [], fmt, "" if sid == root else root)
        unsupported += missing
        ordered = {t: ports[t] for t in TRANSPORTS if t in ports}
        if not ordered:
            raise _nothing_expressible(fmt, root, missing)
        service = export_set.definitions[root].service
        title = clean_text(service.title) or root
        description = clean_text(service.description, 500) or title
        value = "|".join(_ufw_entries(ordered))
        if len(value) > UFW_MAX_VALUE:
            raise RulesError(
                f"{root}: its ufw ports= field would be {len(value)} characters; ufw skips a profile whose field "
                f"is longer than {UFW_MAX_VALUE}"
            )
        sections.append(
            "\n" + _hash_comments(notes) + f"[{name}]\ntitle={title}\ndescription={description}\nports={value}\n"
        )
    return Output(files={"": "".join(sections)}, unsupported=list(dict.fromkeys(unsupported)))


# nmap-services


def _nmap(export_set: ExportSet) -> Output:
    fmt = "nmap-services"
    header = _header(
        export_set,
        "nmap-services entries",
        "References are inlined: each port is named by the service that owns it (ids, not prefixed).",
        f"Use with 'nmap --servicedb FILE', or put these lines first in a copy of nmap-services (nmap keeps the "
        f"first line of a port). Frequency {NMAP_FREQUENCY}: no measured open frequency, so nmap ranks them last.",
    )
    blocks = [_hash_comments(header)]
    named: dict[tuple[int, str], str] = {}
    unsupported: list[str] = []
    for root in export_set.requested:
        notes: list[str] = []
        missing: list[str] = []
        lines: list[tuple[int, int, str]] = []
        already: list[str] = []
        _check_nmap_size(export_set, root)
        for sid in export_set.closure(root):
            definition = export_set.definitions[sid]
            expressed = _expressed(definition, fmt)
            missing += expressed.unsupported
            notes += _notes(definition, expressed.unsupported, [], fmt, "" if sid == root else root)
            comment = clean_text(definition.service.title) + ("" if sid == root else f" (used by {root})")
            for transport, ranges in expressed.ports.items():
                for r in ranges:
                    for port in range(r.start, r.end + 1):
                        key = (port, transport)
                        if key in named:
                            if named[key] != sid:
                                already.append(f"{port}/{transport} ({sid}) is already named {named[key]}")
                            continue
                        named[key] = sid
                        line = f"{_name(fmt, sid)}\t{port}/{transport}\t{NMAP_FREQUENCY}\t# {comment}\n"
                        lines.append((port, TRANSPORTS.index(transport), line))
        unsupported += missing
        if not lines and not already:
            raise _nothing_expressible(fmt, root, missing)
        notes += [f"  {item}" for item in already]
        blocks.append("\n" + _hash_comments(notes) + "".join(line for _p, _t, line in sorted(lines)))
    return Output(files={"": "".join(blocks)}, unsupported=list(dict.fromkeys(unsupported)))


def _check_nmap_size(export_set: ExportSet, root: str) -> None:
    """Refuse a service whose ports would expand to more than NMAP_MAX_PORTS lines."""
    merged: dict[str, list[PortRange]] = {}
    for sid in export_set.closure(root):
        for transport, ranges in _expressed(export_set.definitions[sid], "nmap-services").ports.items():
            merged[transport] = merge_ranges([*merged.get(transport, []), *ranges])
    count = sum(r.width for ranges in merged.values() for r in ranges)
    if count > NMAP_MAX_PORTS:
        raise RulesError(
            f"{root}: nmap-services needs one line per port and {root} would need {count}, more than the limit of "
            f"{NMAP_MAX_PORTS} (anyport.rules.export.NMAP_MAX_PORTS); export it in another format"
        )
