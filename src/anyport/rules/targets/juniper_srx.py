"""Juniper SRX (Junos): ``set`` commands for applications, address book entries and a security policy.

Each service gets an application per transport (``anyport-ssh-tcp``: ``protocol tcp``, ``destination-port 22``;
several port ranges become terms), the applications of one group of services an application-set, and the
sources a global address-set; one policy per group matches them from zone ``untrust`` to zone ``trust``
(inbound; the other way for outbound). The zones are fixed defaults that the header names: rename them to yours.
The commands first delete what they define, so loading them twice gives the same configuration.

Conntrack helpers become SRX ALGs: the control port gets an application of its own with ``application-protocol``
(ftp, tftp, sip, q931 and ras for H.323, pptp), which binds the ALG to that exact port. Helpers without an SRX ALG
(IRC, Amanda, NetBIOS, SNMP, SANE), SCTP/DCCP ports and interfaces (policies match zones) are reported as
unsupported. Names use letters, digits and '-' only (63 characters at most); catalog text goes only into the
policies' quoted descriptions (applications have none in the documented hierarchy) and ``#`` comments, ASCII,
with ``"`` and ``\\`` escaped.
"""

from __future__ import annotations

import hashlib
import re

from anyport.model import PortRange, merge_ranges
from anyport.rules.base import Target, clean_text, family_of
from anyport.rules.base import ascii_text as plain_ascii
from anyport.rules.options import Network, RuleOptions
from anyport.rules.selection import HelperRule, RuleGroup, Selection

MAX_NAME = 63
MAX_DESCRIPTION = 400  # a policy description takes 900 characters; escapes can double a few
ZONES = {"in": ("untrust", "trust"), "out": ("trust", "untrust")}
# Kernel helper name -> SRX ALG (application-protocol). Others have no ALG on SRX.
ALGS = {"ftp": "ftp", "tftp": "tftp", "sip": "sip", "Q.931": "q931", "RAS": "ras", "pptp": "pptp"}
# Protocol keywords of [edit applications application NAME protocol]; others go by number.
PROTOCOLS = {1: "icmp", 47: "gre", 50: "esp", 51: "ah", 58: "icmp6"}
ICMP_FAMILY = {1: "ipv4", 58: "ipv6"}
ANY = {"ipv4": "any-ipv4", "ipv6": "any-ipv6"}


def ascii_text(text: str) -> str:
    """Printable ASCII without '?' (which the CLI answers with help): accents dropped, anything else '_'."""
    return plain_ascii(text, "_").replace("?", "_")


def junos_quote(text: str, limit: int = 120) -> str:
    """A quoted Junos string: one line, ASCII, backslashes and double quotes escaped."""
    safe = ascii_text(clean_text(text, limit))
    return '"' + safe.replace("\\", "\\\\").replace('"', '\\"') + '"'


def junos_name(*parts: str) -> str:
    """A Junos object name: letters, digits and '-', 63 characters at most (a hash keeps long ones unique)."""
    name = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9-]", "-", "-".join(parts))).strip("-").lower()
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = name[: MAX_NAME - 9].rstrip("-") + "-" + digest
    return name


def port_value(rng: PortRange) -> str:
    return str(rng)  # "22" or "5000-5010"


def _without(ranges: list[PortRange], ports: set[int]) -> list[PortRange]:
    """The ranges with some single ports cut out (they get an application of their own)."""
    out: list[PortRange] = []
    for rng in ranges:
        start = rng.start
        for port in sorted(p for p in ports if p in rng):
            if port > start:
                out.append(PortRange(start, port - 1))
            start = port + 1
        if start <= rng.end:
            out.append(PortRange(start, rng.end))
    return out


class JuniperSrx(Target):
    name = "juniper-srx"
    title = "Juniper SRX (Junos set commands)"
    suffix = ".set"
    helpers = True  # as ALGs, where SRX has one
    transports = ("tcp", "udp")
    interface = False  # security policies match zones, not interfaces
    own_sources = True

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        base = junos_name(options.name)
        from_zone, to_zone = ZONES[options.direction]
        policies = f"security policies from-zone {from_zone} to-zone {to_zone}"
        groups = selection.groups(options)
        algs = self._algs(selection)
        deletes: list[str] = []
        sets: list[str] = []
        dests = [n for n in options.dests if any(g.family_wanted(family_of(n), options) for g in groups)]
        dst_set = ""
        if dests:
            dst_set = junos_name(base, options.direction, "dst")
            sets += self._address_set(dst_set, dests, deletes)
        for group in groups:
            families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
            if not families:
                continue
            tag = "" if group.index == 0 else str(group.index + 1)
            apps = self._applications(group, algs, base, tag, families, sets, deletes)
            if not apps:
                continue  # only transports this platform lacks (reported as unsupported)
            app_set = junos_name(base, options.direction, tag)
            deletes.append(f"delete applications application-set {app_set}")
            sets += [f"set applications application-set {app_set} application {app}" for app in apps]
            if group.sources:
                src_set = junos_name(base, options.direction, "src", tag)
                sets += self._address_set(src_set, [n for n in group.sources if family_of(n) in families], deletes)
                sources = [src_set]
            else:
                sources = [ANY[families[0]]] if len(families) == 1 else ["any"]
            targets = [dst_set] if dests else [ANY[families[0]]] if len(families) == 1 else ["any"]
            policy = app_set
            owners = sorted({p.service for p in group.ports} | {p.service for p in group.protocols})
            described = "; ".join(f"{o} ({selection.titles.get(o, o)})" for o in owners)
            prefix = f"set {policies} policy {policy}"
            deletes.insert(0, f"delete {policies} policy {policy}")
            sets.append(f"{prefix} description {junos_quote('anyport: ' + described, MAX_DESCRIPTION)}")
            sets += [f"{prefix} match source-address {s}" for s in sources]
            sets += [f"{prefix} match destination-address {d}" for d in targets]
            sets.append(f"{prefix} match application {app_set}")
            verdict = "permit" if options.action == "allow" else "reject" if options.reject else "deny"
            sets.append(f"{prefix} then {verdict}")
        out = [self._comment(line) for line in self.header(selection, options)]
        out += [self._comment("# " + note) for note in self._notes(selection, options, groups, algs, policies)]
        out += deletes
        out += sets
        return {"": "\n".join(out) + "\n"}

    def _algs(self, selection: Selection) -> dict[tuple[str, str, int], str]:
        """(service, transport, port) -> ALG for the helpers SRX has; the others are reported."""
        algs: dict[tuple[str, str, int], str] = {}
        for helper in selection.helpers:
            alg = ALGS.get(helper.kernel_name)
            if alg is None or helper.transport not in self.transports:
                self.unsupported_item(self._no_alg(helper))
                continue
            algs[(helper.service, helper.transport, helper.port)] = alg
        return algs

    @staticmethod
    def _no_alg(helper: HelperRule) -> str:
        return (
            f"conntrack helper {helper.helper} for {helper.port}/{helper.transport} ({helper.service}): SRX has no "
            "ALG for it; related data connections will not be opened"
        )

    def _applications(
        self,
        group: RuleGroup,
        algs: dict[tuple[str, str, int], str],
        base: str,
        tag: str,
        families: list[str],
        sets: list[str],
        deletes: list[str],
    ) -> list[str]:
        """Define the group's applications; returns their names in order."""
        names: list[str] = []

        def define(name: str, leaves: list[str]) -> None:
            if name in names:
                return
            names.append(name)
            deletes.append(f"delete applications application {name}")
            sets.extend(f"set applications application {name} {leaf}" for leaf in leaves)

        for service in dict.fromkeys(p.service for p in group.ports):
            for transport in [t for t in self.transports if any(p.transport == t for p in group.ports)]:
                ranges = merge_ranges(
                    [r for p in group.ports if p.service == service and p.transport == transport for r in p.ranges]
                )
                if not ranges:
                    continue
                alg_ports = {port for (svc, tr, port) in algs if svc == service and tr == transport}
                alg_ports = {port for port in alg_ports if any(port in r for r in ranges)}
                for port in sorted(alg_ports):
                    alg = algs[(service, transport, port)]
                    define(
                        junos_name(base, service, transport, str(port), alg, "alg", tag),
                        [f"application-protocol {alg}", f"protocol {transport}", f"destination-port {port}"],
                    )
                plain = _without(ranges, alg_ports)
                if len(plain) == 1:
                    leaves = [f"protocol {transport}", f"destination-port {port_value(plain[0])}"]
                else:
                    leaves = []
                    for index, rng in enumerate(plain, 1):
                        leaves += [f"term t{index} protocol {transport}", f"term t{index} destination-port {rng}"]
                if plain:
                    define(junos_name(base, service, transport, tag), leaves)
        for proto in group.protocols:
            if ICMP_FAMILY.get(proto.protocol, families[0]) not in families:
                continue  # ICMP of the other address family
            number = proto.protocol
            define(
                junos_name(base, proto.service, f"proto{number}", tag),
                [f"protocol {PROTOCOLS.get(number, str(number))}"],
            )
        return names

    @staticmethod
    def _address_set(name: str, nets: list[Network], deletes: list[str]) -> list[str]:
        deletes.append(f"delete security address-book global address-set {name}")
        lines = []
        for index, net in enumerate(nets, 1):
            address = f"{name}-{index}"
            deletes.append(f"delete security address-book global address {address}")
            lines.append(f"set security address-book global address {address} {net}")
            lines.append(f"set security address-book global address-set {name} address {address}")
        return lines

    @staticmethod
    def _comment(line: str) -> str:
        return ascii_text(line).rstrip()

    @staticmethod
    def _notes(
        selection: Selection,
        options: RuleOptions,
        groups: list[RuleGroup],
        algs: dict[tuple[str, str, int], str],
        policies: str,
    ) -> list[str]:
        from_zone, to_zone = ZONES[options.direction]
        notes = [
            "load in configuration mode with  load set terminal  (or load set FILE), then  commit check  and  commit",
            f"zones: from-zone {from_zone} to-zone {to_zone} are anyport's fixed defaults for "
            f"{options.direction}bound rules; rename them to your zones before loading",
            f"a new policy goes last in the list of {policies}; move it with  insert {policies} policy NAME "
            "before policy OTHER",
        ]
        if options.action == "allow":
            notes.append("SRX denies what no policy permits (default-policy deny-all)")
        else:
            notes.append("a deny policy only overrides the permit policies below it: move it above them")
        if algs:
            alg_names = sorted({f"{alg} on {port}/{tr}" for (_, tr, port), alg in algs.items()})
            notes.append("ALGs (application-protocol) for the helpers: " + ", ".join(alg_names))
        if options.interface:
            notes.append(f"policies match zones: put interface {options.interface} in zone {from_zone}")
        dropped = Target.networks_without_rules(selection, options)
        if dropped:
            notes.append(
                "no rules for "
                + ", ".join(str(n) for n in dropped)
                + ": this rule set has no rules of that address family"
            )
        return notes
