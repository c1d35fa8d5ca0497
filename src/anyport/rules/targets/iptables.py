"""iptables and ip6tables: one ``iptables-restore`` file per address family (suffixes .v4 and .v6).

Each file defines the filter table (and the raw table when conntrack helpers are needed), so loading it replaces
those tables whole. A global ESTABLISHED,RELATED rule comes first so the host's own connections keep working;
ICMPv6 is accepted without a state match so neighbour discovery works; ``multiport`` is split at its limit of 15
ports (a range counts as two); helpers are attached with the CT target in the raw table.
"""

from __future__ import annotations

from anyport.model import PortRange
from anyport.rules.base import Target, clean_text
from anyport.rules.options import Network, RuleOptions
from anyport.rules.selection import Selection

MULTIPORT_SLOTS = 15


def multiport_groups(ranges: list[PortRange]) -> list[str]:
    """``--dports`` values of at most 15 slots each (a range takes two)."""
    groups: list[str] = []
    current: list[str] = []
    used = 0
    for rng in ranges:
        cost = 1 if rng.start == rng.end else 2
        if used + cost > MULTIPORT_SLOTS:
            groups.append(",".join(current))
            current, used = [], 0
        current.append(str(rng.start) if rng.start == rng.end else f"{rng.start}:{rng.end}")
        used += cost
    if current:
        groups.append(",".join(current))
    return groups


def _comment(text: str) -> str:
    """An iptables comment argument: quoted, no quotes or backslashes inside, 256 bytes at most."""
    safe = clean_text(text, 200).replace('"', "'").replace("\\", "/")
    return f'-m comment --comment "{safe}"'


class Iptables(Target):
    name = "iptables"
    title = "iptables / ip6tables (iptables-restore)"
    suffix = ""  # the files are FILE.v4 and FILE.v6
    helpers = True
    own_sources = True
    transports = ("tcp", "udp", "sctp", "dccp")

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        files = {}
        for family, suffix in (("ipv4", ".v4"), ("ipv6", ".v6")):
            # every family asked for gets its file, rules or not: IPv4-only sources must not leave IPv6 open
            if family in options.families:
                files[suffix] = self._file(selection, options, family)
        return files

    def _file(self, selection: Selection, options: RuleOptions, family: str) -> str:
        tool = "iptables-restore" if family == "ipv4" else "ip6tables-restore"
        out = [*self.header(selection, options), f"# load with: {tool} FILE"]
        chain = "INPUT" if options.direction == "in" else "OUTPUT"
        iface = ""
        if options.interface:
            iface = f"{'-i' if chain == 'INPUT' else '-o'} {options.interface} "
        helpers = [h for h in selection.helpers if family in h.families]
        for helper in selection.helpers:
            if family not in helper.families:
                out.append(f"# no {helper.kernel_name} conntrack helper for IPv6 in the kernel: not attached here")
        if helpers:
            out += ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
            raw_chain = "PREROUTING" if options.direction == "in" else "OUTPUT"
            for helper in helpers:
                out.append(
                    f"-A {raw_chain} {iface}-p {helper.transport} --dport {helper.port} "
                    f"{_comment(f'{helper.service} conntrack helper')} -j CT --helper {helper.kernel_name}"
                )
            out.append("COMMIT")
        allow = options.action == "allow"
        policy = "DROP" if allow else "ACCEPT"
        out += [
            "*filter",
            f":INPUT {policy if chain == 'INPUT' else 'ACCEPT'} [0:0]",
            ":FORWARD ACCEPT [0:0]",
            f":OUTPUT {policy if chain == 'OUTPUT' else 'ACCEPT'} [0:0]",
        ]
        if allow:
            lo = "-i lo" if chain == "INPUT" else "-o lo"
            out += [
                f"-A {chain} {lo} -j ACCEPT",
                f"-A {chain} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                f"-A {chain} -m conntrack --ctstate INVALID -j DROP",
            ]
            if family == "ipv6":
                out.append(
                    f"-A {chain} -p ipv6-icmp {_comment('ICMPv6 incl. neighbour discovery, no state match')} -j ACCEPT"
                )
            else:
                for icmp in (
                    "destination-unreachable",
                    "time-exceeded",
                    "parameter-problem",
                    "echo-request",
                    "echo-reply",
                ):
                    out.append(f"-A {chain} -p icmp --icmp-type {icmp} -j ACCEPT")
        if allow:
            verdict = "ACCEPT"
        elif options.reject:
            verdict = "REJECT"
        else:
            verdict = "DROP"
        for group in selection.groups(options):
            if not group.family_wanted(family, options):
                continue
            for peer in self._peers(group.networks(family), options.networks("dests", family)):
                for transport in group.transports():
                    owners = sorted({p.service for p in group.ports if p.transport == transport})
                    for ports in multiport_groups(group.merged(transport)):
                        out.append(
                            f"-A {chain} {iface}{peer}-p {transport} -m multiport --dports {ports} "
                            f"{_comment(' '.join(owners))} -j {verdict}"
                        )
                for number in group.protocol_numbers():  # one rule per protocol, whoever uses it
                    owners = sorted({p.service for p in group.protocols if p.protocol == number})
                    out.append(f"-A {chain} {iface}{peer}-p {number} {_comment(' '.join(owners))} -j {verdict}")
        out.append("COMMIT")
        return "\n".join(out) + "\n"

    @staticmethod
    def _peers(sources: tuple[Network, ...], dests: tuple[Network, ...]) -> list[str]:
        """Address matches: every source and destination pair ('' when none are given)."""
        froms = [f"-s {n} " for n in sources] or [""]
        tos = [f"-d {n} " for n in dests] or [""]
        return [s + d for s in froms for d in tos]
