"""Cisco IOS / IOS XE: object-groups and a named extended ACL, plus an IPv6 access list.

IPv4 ports and protocols go into ``object-group service`` (``tcp eq 22``, ``tcp range 5000 5010``, ``gre``),
sources and destinations into ``object-group network``, and one ``permit object-group ...`` entry per group of
services uses them. IPv6 access lists do not take service object-groups on every platform, so IPv6 gets one entry
per port range. The commands first remove the lists and groups they define, so pasting them twice gives the same
configuration. IOS has inspection and NAT ALGs instead of per-ACL conntrack helpers, and its IPv4 ACLs match ports
of TCP and UDP only: both are reported as unsupported.

Text from the catalog goes only into ``!`` comments, remarks and descriptions: ASCII, one line, without ``?``
(which makes the CLI print help instead of taking the line), and remarks of 100 characters at most.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from anyport.model import PortRange
from anyport.rules.base import Target, ascii_text
from anyport.rules.options import Network, RuleOptions
from anyport.rules.selection import RuleGroup, Selection

MAX_REMARK = 100
# Keywords IOS takes in a service object-group and in an IPv4 ACL; other protocols go by number.
V4_PROTOCOLS = {47: "gre", 50: "esp", 51: "ahp"}
# Keywords of IPv6 access lists (ICMP there is ICMPv6); other next headers go by number.
V6_PROTOCOLS = {50: "esp", 51: "ahp", 58: "icmp"}
ICMP_FAMILY = {1: "ipv4", 58: "ipv6"}


def ios_text(text: str, limit: int = 0) -> str:
    """Printable ASCII without '?', cut to ``limit`` characters (0: no limit)."""
    single = " ".join(ascii_text(text, "_").replace("?", "_").split())
    if limit and len(single) > limit:
        single = single[: limit - 3].rstrip() + "..."
    return single


def comment_line(line: str) -> str:
    """A ``!`` comment line: its indentation kept, the text made safe as in :func:`ios_text`."""
    body = line.lstrip("!")
    indent = body[: len(body) - len(body.lstrip(" "))]
    return "!" + indent + ios_text(body)


def _name(text: str) -> str:
    """An ACL or object-group name: starts with a letter, letters, digits, '-' and '_' only."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", text).upper().strip("-")
    return cleaned if cleaned[:1].isalpha() else "ANYPORT-" + cleaned


def port_match(rng: PortRange) -> str:
    return f"eq {rng.start}" if rng.start == rng.end else f"range {rng.start} {rng.end}"


def _v4_peer(net: Network) -> str:
    if net.prefixlen == net.max_prefixlen:
        return f"host {net.network_address}"
    return f"{net.network_address} {net.netmask}"


def _v6_peer(net: Network) -> str:
    return f"host {net.network_address}" if net.prefixlen == net.max_prefixlen else str(net)


class CiscoIos(Target):
    name = "cisco-ios"
    title = "Cisco IOS / IOS XE"
    suffix = ".ios"
    comment = "!"
    transports = ("tcp", "udp")
    own_sources = True

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        base = _name(options.name)
        way = "IN" if options.direction == "in" else "OUT"
        acl, acl6 = f"{base}-{way}", f"{base}-{way}6"
        groups = selection.groups(options)
        # an ACL for every family asked for: IPv4-only sources must not leave IPv6 without its implicit deny
        v4 = "ipv4" in options.families
        v6 = "ipv6" in options.families
        allow = options.action == "allow"
        verb = "permit" if allow else "deny"
        defined: list[str] = []  # "service NAME" / "network NAME", for the removal lines
        objects: list[str] = []
        entries: list[str] = []
        entries6: list[str] = []
        dests4 = [n for n in options.dests if n.version == 4]
        dests6 = [n for n in options.dests if n.version == 6]
        dst4 = "any"
        if v4 and dests4:
            dst4 = f"object-group {acl}-DST"
            objects += self._network_group(f"{acl}-DST", dests4, "destinations")
            defined.append(f"network {acl}-DST")
        for group in groups:
            tag = "" if group.index == 0 else f"-{group.index + 1}"
            owners = sorted({p.service for p in group.ports if p.transport in self.transports})
            owners += sorted({p.service for p in group.protocols} - set(owners))
            if not owners:
                continue  # only transports this platform lacks (reported as unsupported)
            if group.family_wanted("ipv4", options):
                svc = self._service_lines(group)
                if svc:
                    objects.append(f"object-group service {acl}-SVC{tag}")
                    objects.append(" description " + ios_text("anyport: " + " ".join(owners), MAX_REMARK))
                    objects += svc
                    objects.append("!")
                    defined.append(f"service {acl}-SVC{tag}")
                    src4 = "any"
                    if group.sources:
                        src4 = f"object-group {acl}-SRC{tag}"
                        objects += self._network_group(f"{acl}-SRC{tag}", list(group.networks("ipv4")), "sources")
                        defined.append(f"network {acl}-SRC{tag}")
                    entries.append(" remark " + ios_text(f"{verb} " + " ".join(owners), MAX_REMARK))
                    entries.append(f" {verb} object-group {acl}-SVC{tag} {src4} {dst4}")
            if group.family_wanted("ipv6", options):
                entries6.append(" remark " + ios_text(f"{verb} " + " ".join(owners), MAX_REMARK))
                entries6 += self._v6_entries(group, verb, dests6)
        out = [comment_line(line) for line in self.header(selection, options)]
        out += [f"! {ios_text(line)}" for line in self._notes(selection, options, groups, acl, acl6, v4, v6)]
        if v4:
            out.append(f"no ip access-list extended {acl}")
        if v6:
            out.append(f"no ipv6 access-list {acl6}")
        out += [f"no object-group {kind}" for kind in defined]
        out.append("!")
        out += objects
        if v4:
            out += [f"ip access-list extended {acl}", " remark " + ios_text(f"anyport {acl}", MAX_REMARK)]
            out += self._stateful_v4(options)
            out += entries
            if not allow:
                out.append(" permit ip any any")
            out.append("!")
        if v6:
            out += [f"ipv6 access-list {acl6}", " remark " + ios_text(f"anyport {acl6}", MAX_REMARK)]
            out += self._stateful_v6(options)
            out += entries6
            if not allow:
                out.append(" permit ipv6 any any")
            out.append("!")
        if options.interface:
            inout = options.direction
            out.append(f"interface {options.interface}")
            if v4:
                out.append(f" ip access-group {acl} {inout}")
            if v6:
                out.append(f" ipv6 traffic-filter {acl6} {inout}")
            if not allow and not options.reject:
                # IOS answers packets an ACL denies with ICMP unreachables unless told not to on the interface.
                if v4:
                    out.append(" no ip unreachables")
                if v6:
                    out.append(" no ipv6 unreachables")
            out.append("!")
        out.append("end")
        return {"": "\n".join(out) + "\n"}

    @staticmethod
    def _network_group(name: str, nets: Sequence[Network], what: str) -> list[str]:
        lines = [f"object-group network {name}", f" description anyport {what}"]
        lines += [f" {_v4_peer(n)}" for n in nets]
        return [*lines, "!"]

    def _service_lines(self, group: RuleGroup) -> list[str]:
        lines = []
        for transport in [t for t in group.transports() if t in self.transports]:
            lines += [f" {transport} {port_match(r)}" for r in group.merged(transport)]
        for number in group.protocol_numbers():
            if ICMP_FAMILY.get(number, "ipv4") == "ipv4":
                lines.append(f" {V4_PROTOCOLS.get(number, 'icmp' if number == 1 else str(number))}")
        return lines

    def _v6_entries(self, group: RuleGroup, verb: str, dests: Sequence[Network]) -> list[str]:
        sources = [_v6_peer(n) for n in group.networks("ipv6")] or ["any"]
        targets = [_v6_peer(n) for n in dests] or ["any"]
        lines = []
        for src in sources:
            for dst in targets:
                for transport in [t for t in group.transports() if t in self.transports]:
                    lines += [f" {verb} {transport} {src} {dst} {port_match(r)}" for r in group.merged(transport)]
                for number in group.protocol_numbers():
                    if ICMP_FAMILY.get(number, "ipv6") == "ipv6":
                        lines.append(f" {verb} {V6_PROTOCOLS.get(number, str(number))} {src} {dst}")
        return lines

    @staticmethod
    def _stateful_v4(options: RuleOptions) -> list[str]:
        """Replies to this side's own connections, which an inbound allow list would otherwise deny."""
        if options.action != "allow" or options.direction != "in":
            return []
        return [
            " remark replies to connections from this side, ICMP errors",
            " permit tcp any any established",
            " permit icmp any any echo-reply",
            " permit icmp any any unreachable",
            " permit icmp any any time-exceeded",
        ]

    @staticmethod
    def _stateful_v6(options: RuleOptions) -> list[str]:
        if options.action != "allow" or options.direction != "in":
            return []
        return [
            " remark replies to connections from this side, ICMPv6 errors and neighbour discovery",
            " permit tcp any any established",
            " permit icmp any any echo-reply",
            " permit icmp any any unreachable",
            " permit icmp any any packet-too-big",
            " permit icmp any any time-exceeded",
            " permit icmp any any nd-na",
            " permit icmp any any nd-ns",
        ]

    @staticmethod
    def _notes(
        selection: Selection,
        options: RuleOptions,
        groups: list[RuleGroup],
        acl: str,
        acl6: str,
        v4: bool,
        v6: bool,
    ) -> list[str]:
        notes = [
            "paste in configuration mode (configure terminal) or copy the file to running-config; it first removes "
            f"the access lists ({', '.join(n for n, on in ((acl, v4), (acl6, v6)) if on)}) and object-groups it "
            "defines, so while it runs an interface using them permits everything",
        ]
        if not options.interface:
            way = options.direction
            binding = f"ip access-group {acl} {way}" if v4 else ""
            if v6:
                binding += (" and " if binding else "") + f"ipv6 traffic-filter {acl6} {way}"
            notes.append(f"bind it on the interface facing the other side: {binding}")
        if options.action == "allow":
            notes.append("an ACL ends in an implicit deny: everything not permitted here is dropped")
            if options.direction == "in":
                notes.append(
                    "replies to this side's TCP connections pass as 'established'; UDP replies (DNS...) need "
                    "zone-based firewall inspection or reflexive ACLs"
                )
        elif options.reject:
            notes.append("denied packets get an ICMP unreachable (IOS sends no TCP reset)")
        else:
            notes.append(
                "drop: IOS answers denied packets with ICMP unreachables unless 'no ip unreachables' is set on the "
                "interface (set below when an interface is given)"
            )
        if selection.helpers:
            notes.append(
                "FTP, SIP, H.323 and PPTP data connections need inspection (zone-based firewall) or NAT ALGs, "
                "not an ACL"
            )
        dropped = Target.networks_without_rules(selection, options)
        if dropped:
            notes.append(
                "no rules for "
                + ", ".join(str(n) for n in dropped)
                + ": this rule set has no rules of that address family"
            )
        return notes
