"""ufw: a shell script of ``ufw`` commands, plus an application profile for /etc/ufw/applications.d.

The script (the main file) adds numbered-port rules directly, so it works without the profile; the profile
(suffix ``.profile``) gives every service a ``[anyport-<id>]`` section for ``ufw app info`` / ``ufw allow
anyport-<id>``. Facts of ufw 0.36.2 (Debian 12) this relies on:

- a rule's ``port`` takes at most 15 slots (a range ``a:b`` counts as two), as iptables' multiport;
- ranges need ``proto``; only tcp and udp have ports (no sctp or dccp);
- ``proto`` also names the IP protocols ah, esp, gre, igmp, ipv6 and vrrp, and ufw writes igmp and ipv6 rules for
  IPv4 only;
- a comment may not contain ``'``: comments here are built from a small safe alphabet and single-quoted, so no
  text from the catalog can reach the shell;
- ``from 0.0.0.0/0`` / ``from ::/0`` make a rule IPv4 or IPv6 only (``any`` means both);
- ufw stops at the first matching rule, so deny rules are added with ``ufw prepend`` to beat allow rules already in
  place; ``prepend`` does nothing while a rule with the same match exists (whatever its action), so each deny
  rule is preceded by ``ufw delete`` of that match for every action (a delete without a comment matches any
  comment; deleting a rule that is not there is not an error);
- ufw skips an allow rule that is already there, so the script can run twice.

ufw cannot attach conntrack helpers, so they are reported as not expressed.
"""

from __future__ import annotations

import re

from anyport import __version__
from anyport.model import PortRange, merge_ranges
from anyport.rules.base import Target, clean_text
from anyport.rules.options import Network, RuleOptions
from anyport.rules.selection import RuleGroup, Selection
from anyport.rules.targets.iptables import multiport_groups

# IP protocol number -> the name ufw 0.36 takes after ``proto`` (ufw.util.supported_protocols).
UFW_PROTOCOLS = {2: "igmp", 41: "ipv6", 47: "gre", 50: "esp", 51: "ah", 112: "vrrp"}
IPV4_ONLY_PROTOCOLS = {2, 41}  # ufw.util.ipv4_only_protocols
VERBS = ("allow", "limit", "deny", "reject")  # every action a ufw rule can have
FAMILY_ANY = {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}
UNSAFE = re.compile(r"[^A-Za-z0-9 ._,:/+=@-]")  # everything else leaves a comment: no quote, $, ` or \ gets in
PROFILE_NAME_MAX = 64  # ufw skips longer profile names
PROFILE_VALUE_MAX = 1024  # ufw skips a profile with a longer value


def _comment(text: str) -> str:
    """A ufw ``comment`` argument that the shell takes literally."""
    safe = UNSAFE.sub("_", clean_text(text, 100)).strip()
    return f"comment '{safe}'"


def _comment_line(line: str) -> str:
    """A header line that stays one comment line whatever it quotes (a newline would end the comment)."""
    return "".join(ch if ch.isprintable() else " " for ch in line)


def _address(net: Network) -> str:
    """A host as a bare address, a network in CIDR form."""
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _fam(family: str) -> str:
    return "IPv4" if family == "ipv4" else "IPv6"


def _unused_sources(group: RuleGroup, options: RuleOptions) -> list[str]:
    """Comment lines for sources of a family that gets no rules (e.g. IPv6 sources with IPv4 destinations only)."""
    return [
        f"# source {net}: no {_fam(family)} rules ("
        + (f"{_fam(family)} is switched off" if family not in options.families else f"no {_fam(family)} destination")
        + ")"
        for family in ("ipv4", "ipv6")
        if not group.family_wanted(family, options)
        for net in group.networks(family)
    ]


def profile_name(prefix: str, owner: str) -> str:
    """``anyport-<id>``: letters, digits and ``._+-`` only, as ufw's profile loader demands."""
    slug = re.sub(r"[^a-z0-9._+]+", "-", owner.lower()).strip("-.") or "service"
    return f"{prefix}-{slug}"[:PROFILE_NAME_MAX].rstrip("-.")


class Ufw(Target):
    name = "ufw"
    title = "ufw (Uncomplicated Firewall)"
    suffix = ".sh"
    transports = ("tcp", "udp")
    own_sources = True

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        header = [_comment_line(line) for line in self.header(selection, options)]
        return {
            "": self._script(selection, options, header),
            ".profile": self._profile(selection, options, header),
        }

    # --- the script -------------------------------------------------------------------------------------------

    def _script(self, selection: Selection, options: RuleOptions, header: list[str]) -> str:
        allow = options.action == "allow"
        verb = "allow" if allow else ("reject" if options.reject else "deny")
        out = ["#!/bin/sh", *header]
        out += [
            "# ufw commands (ufw 0.36); run as root. ufw skips a rule it already has, so running this twice is harmless.",
            f"# The .profile file next to this script holds application profiles ({options.name}-<service>) for",
            "# /etc/ufw/applications.d; the rules below do not need it.",
        ]
        if allow and options.direction == "in":
            out.append("# ufw denies other incoming traffic by default; 'ufw enable' turns the firewall on.")
        elif allow:
            out += [
                "# ufw allows outgoing traffic by default: these rules only restrict anything after",
                "# 'ufw default deny outgoing', which blocks every other outbound connection (DNS included).",
            ]
        else:
            out += [
                "# ufw stops at the first rule that matches: 'prepend' puts these rules first, so they beat allow rules.",
                '# ufw will not prepend a rule while one with the same match exists, whatever its action ("Skipping',
                "# inserting existing rule\"), so 'ufw delete' first removes such rules (these included, when run again).",
            ]
        if any(g.family_wanted("ipv6", options) for g in selection.groups(options)):
            out.append("# IPv6 rules need IPV6=yes in /etc/default/ufw (the default).")
        out += ["set -eu", ""]
        where = options.direction
        if options.interface:
            where += f" on {options.interface}"  # the interface name is checked against [A-Za-z0-9_.:@-]
        for group in selection.groups(options):
            peers = self._peers(group, options)
            out += _unused_sources(group, options)
            for transport in group.transports():
                if transport not in self.transports:
                    continue  # reported by check_common
                owners = sorted({p.service for p in group.ports if p.transport == transport})
                note = _comment(f"{options.name} " + " ".join(owners))
                for ports in multiport_groups(group.merged(transport)):
                    for source, dest, _family in peers:
                        out += self._add(verb, f"{where} proto {transport} from {source} to {dest} port {ports}", note)
            for number in group.protocol_numbers():
                owners = sorted({p.service for p in group.protocols if p.protocol == number})
                name = UFW_PROTOCOLS.get(number)
                if name is None:
                    self.unsupported_item(
                        f"IP protocol {number} ({', '.join(owners)}): ufw names only ah, esp, gre, igmp, ipv6 and vrrp"
                    )
                    continue
                usable = peers
                if number in IPV4_ONLY_PROTOCOLS:
                    usable = [p for p in peers if p[2] != "ipv6"]
                    if group.family_wanted("ipv6", options):
                        if number == 2:
                            out.append("# IGMP exists over IPv4 only (IPv6 uses MLD, part of ICMPv6): IPv4 rule only")
                        else:
                            self.unsupported_item(
                                f"IP protocol {number} ({', '.join(owners)}) over IPv6: ufw allows {name} over IPv4 only"
                            )
                note = _comment(f"{options.name} " + " ".join(owners))
                for source, dest, _family in usable:
                    out += self._add(verb, f"{where} proto {name} from {source} to {dest}", note)
        return "\n".join(out) + "\n"

    @staticmethod
    def _add(verb: str, match: str, note: str) -> list[str]:
        """Allow rules are appended; deny rules replace any rule with the same match and go first."""
        if verb == "allow":
            return [f"ufw allow {match} {note}"]
        return [*(f"ufw delete {other} {match} >/dev/null" for other in VERBS), f"ufw prepend {verb} {match} {note}"]

    @staticmethod
    def _peers(group: RuleGroup, options: RuleOptions) -> list[tuple[str, str, str]]:
        """(from, to, family) for every rule: ``any`` covers both families, an address or ``0.0.0.0/0`` one."""
        families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
        if not group.sources and not options.dests and len(families) == 2:
            return [("any", "any", "both")]
        peers = []
        for family in families:
            sources = [_address(n) for n in group.networks(family)]
            dests = [_address(n) for n in options.networks("dests", family)]
            if not sources and not dests:
                sources = [FAMILY_ANY[family]]  # pins the rule to this family
            peers += [(s, d, family) for s in sources or ["any"] for d in dests or ["any"]]
        return peers

    # --- the application profile ------------------------------------------------------------------------------

    def _profile(self, selection: Selection, options: RuleOptions, header: list[str]) -> str:
        out = [
            *header,
            "# ufw application profiles: copy this file into /etc/ufw/applications.d/ (any file name), then",
            f"# 'ufw app list' shows them and 'ufw allow {options.name}-<service>' opens one service's ports.",
        ]
        sections: dict[str, dict[str, list[PortRange]]] = {}
        owners: dict[str, list[str]] = {}
        for rule in selection.ports:
            if rule.transport not in self.transports:
                continue
            section = profile_name(options.name, rule.service)
            sections.setdefault(section, {}).setdefault(rule.transport, []).extend(rule.ranges)
            owners.setdefault(section, [])
            if rule.service not in owners[section]:
                owners[section].append(rule.service)
        for proto in selection.protocols:
            if profile_name(options.name, proto.service) not in sections:
                out.append(
                    f"# {_comment_line(proto.service)}: IP protocol {proto.protocol} cannot go in a ufw profile "
                    "(the script has its rule)"
                )
        for section in sorted(sections):
            parts = [
                f"{group}/{transport}"
                for transport in self.transports
                for group in multiport_groups(merge_ranges(sections[section].get(transport, [])))
            ]
            ports = "|".join(parts)
            if len(ports) > PROFILE_VALUE_MAX:
                out.append(f"# {section}: too many ports for one ufw profile (the script has its rules)")
                continue
            names = owners[section]
            title = clean_text(" / ".join(selection.titles.get(o, o) for o in names), 200)
            notes = sorted(
                {
                    clean_text(r.note, 200)
                    for r in selection.ports
                    if r.service in names and r.transport in self.transports and r.note
                }
            )
            description = clean_text(
                f"Ports of {', '.join(names)} from anyport {__version__}" + "".join(f"; {n}" for n in notes),
                PROFILE_VALUE_MAX,
            )
            out += ["", f"[{section}]", f"title={title}", f"description={description}", f"ports={ports}"]
        return "\n".join(out) + "\n"
