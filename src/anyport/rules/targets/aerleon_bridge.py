"""``aerleon:<platform>``: device formats anyport does not write itself, through the optional aerleon library.

aerleon (PyPI ``aerleon``, Apache-2.0) is imported only here and only when such a target is asked for. Its policy
and its naming definitions are built in code from fixed keys (never from anything a user typed), one filter per
address family (its ``mixed`` mode duplicates rules). Its known weak spots are handled, not trusted:

* every warning it logs (an unknown key is only a warning, and the term then matches everything) is an error;
* comments reach it only as letters, digits and a few harmless signs, so ``$(...)``, quotes or comment ends in a
  service's title can never reach a device or a shell; the output is checked for them again;
* IP protocols go by number where a platform crashes on names (Cisco and ``gre``), by name where it only knows
  names (PAN-OS);
* its nftables and iptables outputs are refused (duplicated rules, no flush, no established rule, IPv6 cut off):
  anyport's own ``nftables`` and ``iptables`` targets write those;
* the output must be non-empty and name every port, protocol and address, or nothing is returned.

Stateless filters (Junos, Cisco) get what anyport's nftables target has: a TCP established term (replies to this
host's connections), ICMP and ICMPv6 (neighbour discovery), and for deny rules a final term accepting the rest,
since such filters end with an implicit discard.
"""

from __future__ import annotations

import importlib
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

from anyport.rules.base import Output, RulesError, Target, UnsupportedError, clean_text
from anyport.rules.options import RuleOptions
from anyport.rules.selection import RuleGroup, Selection

MISSING = "the aerleon target needs the aerleon library: pip install 'anyport[aerleon]'"
# What may reach aerleon in a comment: nothing a shell, a Junos /* */ comment, XML or a format string reacts to.
UNSAFE = re.compile(r"[^A-Za-z0-9 .,:/_+=()\[\]@-]")
# What must never come out (aerleon's own "$Id:$" keyword lines are harmless and stay).
FORBIDDEN_OUTPUT = ("$(", "${", "`")
ICMP4_TYPES = "unreachable time-exceeded parameter-problem echo-request echo-reply"
# IP protocols PAN-OS knows by name (aerleon refuses numbers there).
PROTOCOL_NAMES = {1: "icmp", 2: "igmp", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6"}
FAMILY_TAG = {"ipv4": "v4", "ipv6": "v6"}

# The policy and naming keys anyport uses: one place, so a misspelling is one test away (and aerleon's warning
# about an unknown key is an error anyway).
K_NAME = "name"
K_PROTOCOL = "protocol"
K_DPORT = "destination-port"
K_SADDR = "source-address"
K_DADDR = "destination-address"
K_ACTION = "action"
K_OPTION = "option"
K_ICMP_TYPE = "icmp-type"
K_COMMENT = "comment"


@dataclass(frozen=True)
class Platform:
    """What anyport knows about one aerleon generator."""

    key: str
    title: str
    suffix: str
    comment: str
    filters: tuple[str, str]  # filter options for IPv4 and IPv6 ({name}, {src}, {dst} are filled in)
    stateless: bool  # ends with an implicit discard and keeps no connection state
    reject: bool  # can answer with a reject rather than only drop
    protocol_names: bool  # IP protocols by name (PAN-OS) rather than number
    transports: tuple[str, ...]
    apply: str
    comments: str  # a pattern for the output's comments: checks look at the rest only
    xml_header: bool = False  # the header goes into an XML comment (PAN-OS tags hold 1023 characters)


PLATFORMS: dict[str, Platform] = {
    "juniper": Platform(
        "juniper",
        "Juniper Junos firewall filter (via aerleon)",
        ".jcl",
        "#",
        ("{name}-v4 inet", "{name}-v6 inet6"),
        stateless=True,
        reject=True,
        protocol_names=False,
        transports=("tcp", "udp", "sctp"),
        apply="load with 'load merge FILE'; bind under the interface: family inet filter {hook} {name}-v4, "
        "family inet6 filter {hook} {name}-v6",
        comments=r"(?s)/\*.*?\*/",
    ),
    "cisco": Platform(
        "cisco",
        "Cisco IOS access lists (via aerleon)",
        ".acl",
        "!",
        ("{name}-v4 extended", "{name}-v6 inet6"),
        stateless=True,
        reject=False,
        protocol_names=False,
        transports=("tcp", "udp"),  # IOS access lists have no SCTP or DCCP port matches
        apply="paste in configuration mode; bind on the interface: ip access-group {name}-v4 {hook}, "
        "ipv6 traffic-filter {name}-v6 {hook}",
        comments=r"(?m)^\s*(?:!|remark\b).*$",
    ),
    "paloalto": Platform(
        "paloalto",
        "Palo Alto PAN-OS security rules (via aerleon)",
        ".xml",
        "<!--",
        ("from-zone {src} to-zone {dst} inet", "from-zone {src} to-zone {dst} inet6"),
        stateless=False,
        reject=True,
        protocol_names=True,
        transports=("tcp", "udp", "sctp"),
        apply="zones are named untrust (the peers) and trust (this host's side): rename them to yours before "
        "loading; rules not matched here fall through to the rest of the rulebase",
        comments=r"(?s)<!--.*?-->|<comments>.*?</comments>|<description>.*?</description>",
        xml_header=True,
    ),
}
REFUSED = {
    "nftables": "aerleon's nftables output duplicates every rule in mixed mode, has no flush and cuts IPv6 off "
    "(neighbour discovery under 'ct state new'): use --target nftables",
    "iptables": "aerleon's iptables output is bare -A lines without a global ESTABLISHED rule: use --target iptables",
    "speedway": "speedway is aerleon's iptables output (no global ESTABLISHED rule): use --target iptables",
    "ipset": "aerleon's ipset output is iptables with sets (no global ESTABLISHED rule): use --target iptables",
}


def safe_comment(text: str, limit: int = 200) -> str:
    """A comment aerleon may carry to any platform: one line of harmless characters."""
    return " ".join(UNSAFE.sub(" ", clean_text(text, limit)).split())


def _import_aerleon() -> tuple[Any, Any]:
    """aerleon's ``api`` and ``naming`` modules, or the one-line error saying how to install them."""
    try:
        api = importlib.import_module("aerleon.api")
        naming = importlib.import_module("aerleon.lib.naming")
    except ImportError:
        raise RulesError(MISSING) from None
    return api, naming


class _Capture(logging.Handler):
    """Collects aerleon's (absl's) warnings instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class AerleonTarget(Target):
    """``aerleon:<platform>``; ``AerleonTarget("juniper")`` gives the Junos one."""

    name = "aerleon"
    title = "aerleon"
    ip_protocols = True
    helpers = False
    interface = False  # filters are bound to interfaces by hand (the header says how)
    own_sources = True  # each group of services gets terms with its own source addresses
    platform: ClassVar[Platform]

    def __new__(cls, platform: str) -> AerleonTarget:
        key = platform.strip().lower()
        if key in REFUSED:
            raise RulesError(f"aerleon:{key} is not offered: {REFUSED[key]}")
        if key not in _CLASSES:
            raise RulesError(
                f"aerleon platform {platform!r} is not supported; choose one of "
                f"{', '.join('aerleon:' + k for k in sorted(PLATFORMS))}"
            )
        _import_aerleon()  # fail now, with the install hint, rather than at render time
        instance: AerleonTarget = super().__new__(_CLASSES[key])
        return instance

    def __init__(self, platform: str) -> None:
        super().__init__()

    def generate(self, selection: Selection, options: RuleOptions) -> Output:
        """As the base, but the best-effort note travels inside aerleon's own header comment (XML has no '#')."""
        self.unsupported = []
        self.check_common(selection, options)
        files = self.render(selection, options)
        return Output(files=files, unsupported=list(self.unsupported))

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        plat = self.platform
        action = "accept"
        if options.action == "deny":
            action = "deny"
            if options.reject:
                if plat.reject:
                    action = "reject"
                else:
                    self.unsupported_item(f"reject ({plat.title} can only drop: written as deny)")
        numbers = selection.protocol_numbers()
        if plat.protocol_names:
            for number in numbers:
                if number not in PROTOCOL_NAMES:
                    self.unsupported_item(f"IP protocol {number} ({plat.title} names only {_names()})")
        if self.unsupported and not options.best_effort:
            raise UnsupportedError(self.name, self.unsupported)
        groups = selection.groups(options)
        families = [f for f in ("ipv4", "ipv6") if any(g.family_wanted(f, options) for g in groups)]
        networks: dict[str, Any] = {}
        services: dict[str, Any] = {}
        for group in groups:
            suffix = _group_suffix(group)
            for family in families:
                if group.networks(family):
                    networks[f"SOURCES{suffix}_{FAMILY_TAG[family].upper()}"] = {
                        "values": [{"address": str(n)} for n in group.networks(family)]
                    }
            for t in group.transports():
                if t in plat.transports:
                    services[f"{t.upper()}_PORTS{suffix}"] = [
                        {"port": _port(r.start, r.end), "protocol": t} for r in group.merged(t)
                    ]
        for family in families:
            if options.networks("dests", family):
                networks[f"DESTINATIONS_{FAMILY_TAG[family].upper()}"] = {
                    "values": [{"address": str(n)} for n in options.networks("dests", family)]
                }
        definitions: dict[str, Any] = {"services": services}
        if networks:
            definitions["networks"] = networks
        comment = self._comment_lines(selection, options, action)
        filters = []
        for index, family in enumerate(families):
            header: dict[str, Any] = {"targets": {plat.key: self._filter_options(family, options)}}
            if index == 0 and not plat.xml_header:
                header[K_COMMENT] = "\n".join(comment)
            terms = self._preamble(family, action)
            for group in groups:
                if group.family_wanted(family, options):
                    terms += self._terms(group, family, action, networks)
            if plat.stateless and action != "accept":
                # The filter ends with an implicit discard: deny rules need everything else accepted explicitly.
                terms.append(
                    {
                        K_NAME: f"accept-rest-{FAMILY_TAG[family]}",
                        K_ACTION: "accept",
                        K_COMMENT: "everything not denied above",
                    }
                )
            filters.append({"header": header, "terms": terms})
        text = self._run({"filename": options.name, "filters": filters}, definitions)
        self._check(text, selection, options, groups, families)
        if plat.xml_header:
            text = _xml_comment(text, comment)
        return {"": text}

    def _filter_options(self, family: str, options: RuleOptions) -> str:
        inbound = options.direction == "in"
        template = self.platform.filters[0 if family == "ipv4" else 1]
        return template.format(
            name=options.name, src="untrust" if inbound else "trust", dst="trust" if inbound else "untrust"
        )

    def _preamble(self, family: str, action: str) -> list[dict[str, Any]]:
        """What a stateful firewall gets from conntrack: replies, ICMP errors, and neighbour discovery."""
        if not self.platform.stateless or action != "accept":
            return []
        tag = FAMILY_TAG[family]
        terms: list[dict[str, Any]] = [
            {
                K_NAME: f"established-tcp-{tag}",
                K_PROTOCOL: "tcp",
                K_OPTION: "tcp-established",
                K_ACTION: "accept",
                K_COMMENT: "replies to TCP connections (stateless filter)",
            }
        ]
        if family == "ipv4":
            terms.append({K_NAME: "icmp-v4", K_PROTOCOL: "icmp", K_ICMP_TYPE: ICMP4_TYPES, K_ACTION: "accept"})
        else:
            terms.append(
                {
                    K_NAME: "icmpv6-v6",
                    K_PROTOCOL: "icmpv6",
                    K_ACTION: "accept",
                    K_COMMENT: "ICMPv6 incl. neighbour discovery: IPv6 stops working without it",
                }
            )
        return terms

    def _terms(self, group: RuleGroup, family: str, action: str, networks: dict[str, Any]) -> list[dict[str, Any]]:
        """The terms of one group of rules (ports and protocols sharing their sources) for one family."""
        plat = self.platform
        tag = FAMILY_TAG[family]
        suffix = _group_suffix(group)
        match: dict[str, str] = {}
        if f"SOURCES{suffix}_{tag.upper()}" in networks:
            match[K_SADDR] = f"SOURCES{suffix}_{tag.upper()}"
        if f"DESTINATIONS_{tag.upper()}" in networks:
            match[K_DADDR] = f"DESTINATIONS_{tag.upper()}"
        terms: list[dict[str, Any]] = []
        verb = "allow" if action == "accept" else "deny"
        for transport in group.transports():
            if transport not in plat.transports:
                continue  # reported as unsupported (check_common)
            owners = sorted({p.service for p in group.ports if p.transport == transport})
            terms.append(
                {
                    K_NAME: f"{verb}-{transport}-{tag}{suffix}",
                    K_PROTOCOL: transport,
                    K_DPORT: f"{transport.upper()}_PORTS{suffix}",
                    **match,
                    K_ACTION: action,
                    K_COMMENT: safe_comment(" ".join(owners)),
                }
            )
        numbers = group.protocol_numbers()
        protocols = [p for p in numbers if not (p == 1 and family == "ipv6") and not (p == 58 and family == "ipv4")]
        if plat.protocol_names:
            protocols = [p for p in protocols if p in PROTOCOL_NAMES]
        if protocols:
            owners = sorted({p.service for p in group.protocols if p.protocol in protocols})
            names = [PROTOCOL_NAMES[p] if plat.protocol_names else str(p) for p in protocols]
            terms.append(
                {
                    K_NAME: f"{verb}-protocols-{tag}{suffix}",
                    K_PROTOCOL: " ".join(names),
                    **match,
                    K_ACTION: action,
                    K_COMMENT: safe_comment(" ".join(owners)),
                }
            )
        return terms

    def _comment_lines(self, selection: Selection, options: RuleOptions, action: str) -> list[str]:
        plat = self.platform
        hook = "input" if plat.key == "juniper" else "in"
        if options.direction == "out":
            hook = "output" if plat.key == "juniper" else "out"
        lines = [line.removeprefix(self.comment).strip() for line in self.header(selection, options)]
        lines.append("apply: " + plat.apply.format(name=options.name, hook=hook))
        if plat.stateless:
            if action == "accept":
                lines.append(
                    "stateless filter ending in an implicit discard: TCP replies, ICMP and ICMPv6 are accepted "
                    "first; UDP replies to this host's own queries are not (add terms for them)"
                )
            else:
                lines.append("stateless filter: a last term accepts everything not denied")
        if not options.sources and not options.dests:
            lines.append("no sources or destinations given: any address")
        if self.unsupported:
            lines.append(f"NOT EXPRESSED on {plat.title} (--best-effort):")
            lines += [f"  {item}" for item in self.unsupported]
        return [safe_comment(line, 400) for line in lines if safe_comment(line, 400)]

    def _run(self, policy: dict[str, Any], definitions: dict[str, Any]) -> str:
        api, naming = _import_aerleon()
        capture = _Capture()
        logger = logging.getLogger("absl")
        propagate = logger.propagate
        logger.addHandler(capture)
        logger.propagate = False  # its warnings are ours to report, not to print
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                names = naming.Naming()
                names.ParseDefinitionsObject(definitions, "anyport")
                try:
                    configs = api.Generate([policy], names)
                except Exception as exc:  # aerleon raises many unrelated types; all mean "no output"
                    raise RulesError(
                        f"aerleon could not write {self.platform.key}: {clean_text(str(exc), 300)}"
                    ) from None
        finally:
            logger.removeHandler(capture)
            logger.propagate = propagate
        problems = capture.messages + [str(w.message) for w in caught]
        if problems:
            raise RulesError(
                f"aerleon warned while writing {self.platform.key} (treated as an error): "
                + "; ".join(clean_text(p, 200) for p in problems[:3])
            )
        if not configs or len(configs) != 1:
            raise RulesError(f"aerleon wrote no {self.platform.key} output")
        text: str = next(iter(configs.values()))
        return text if text.endswith("\n") else text + "\n"

    def _check(
        self, text: str, selection: Selection, options: RuleOptions, groups: list[RuleGroup], families: list[str]
    ) -> None:
        """Refuse output that lost something or carries shell syntax."""
        missing: list[str] = []
        for bad in FORBIDDEN_OUTPUT:
            if bad in text:
                raise RulesError(f"aerleon's {self.platform.key} output contains {bad!r}: refused")
        text = re.sub(self.platform.comments, "", text)  # the header names every port too
        if not text.strip():
            raise RulesError(f"aerleon wrote an empty {self.platform.key} file")
        for transport in selection.transports():
            if transport not in self.platform.transports:
                continue
            for rng in selection.merged(transport):
                for port in {rng.start, rng.end}:
                    if not re.search(rf"(?<![0-9]){port}(?![0-9])", text):
                        missing.append(f"{port}/{transport}")
        for number in selection.protocol_numbers():
            if self.platform.protocol_names:
                if number in PROTOCOL_NAMES and PROTOCOL_NAMES[number] not in text:
                    missing.append(f"IP protocol {PROTOCOL_NAMES[number]}")
            elif not re.search(rf"(?<![0-9]){number}(?![0-9])", text):
                missing.append(f"IP protocol {number}")
        nets = [n for g in groups for n in g.sources] + list(options.dests)
        for net in nets:
            family = "ipv4" if net.version == 4 else "ipv6"
            if family in families and str(net) not in text and str(net.network_address) not in text:
                missing.append(f"address {net}")
        if missing:
            raise RulesError(
                f"aerleon's {self.platform.key} output lacks {', '.join(missing[:6])}: refused (nothing written)"
            )


def _group_suffix(group: RuleGroup) -> str:
    """Names of the first group's objects carry no suffix; later groups (SERVICE@CIDR) are numbered from 2."""
    return "" if group.index == 0 else f"-{group.index + 1}"


def _xml_comment(text: str, lines: list[str]) -> str:
    """The header as an XML comment right after the XML declaration ('--' may not appear inside one)."""
    body = "".join(f"  {re.sub(r'-{2,}', '-', line)}\n" for line in lines)
    head, newline, rest = text.partition("\n")
    if not head.startswith("<?xml"):
        head, newline, rest = "", "", text
    return f"{head}{newline}<!--\n{body}-->\n{rest}"


def _port(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}-{end}"


def _names() -> str:
    return ", ".join(f"{name} ({number})" for number, name in sorted(PROTOCOL_NAMES.items()))


def _subclass(plat: Platform) -> type[AerleonTarget]:
    """One class per platform: the base's class attributes (name, suffix, transports...) differ between them."""
    attributes = {
        "name": f"aerleon:{plat.key}",
        "title": plat.title,
        "suffix": plat.suffix,
        "comment": plat.comment,
        "transports": plat.transports,
        "platform": plat,
        "__doc__": f"aerleon:{plat.key}: {plat.title}.",
    }
    return type(f"Aerleon{plat.key.capitalize()}", (AerleonTarget,), attributes)


_CLASSES: dict[str, type[AerleonTarget]] = {key: _subclass(plat) for key, plat in PLATFORMS.items()}
