"""pf (OpenBSD's packet filter): a pf.conf fragment meant for an anchor of its own.

Load it with ``pfctl -a anyport -f FILE`` once ``anchor "anyport"`` is in /etc/pf.conf: loading an anchor replaces
its rules and tables, so loading twice gives the same rule set. Ports live in macros (``anyport_tcp = "{ 22,
5000:5010 }"``, pf ranges are inclusive ``a:b``), addresses in tables (``table <anyport_src> { 192.0.2.0/24 }``);
every rule is ``quick`` so the first match decides. OpenBSD's pf matches ports of TCP and UDP only and has no
conntrack helpers (FTP needs ftp-proxy(8)): both are reported as unsupported.

The text follows the lexer of pfctl's parse.y: comments run to the end of the line, but a backslash before the
newline continues a line even inside a comment, so no comment line may end with one.
"""

from __future__ import annotations

import re

from anyport.model import PortRange
from anyport.rules.base import Target, family_of
from anyport.rules.options import Network, RuleOptions
from anyport.rules.selection import RuleGroup, Selection

# /etc/protocols names that pfctl resolves with getprotobyname(3) on OpenBSD; other protocols go by number.
PROTO_NAMES = {47: "gre", 50: "esp", 51: "ah"}
# ICMP belongs to one address family: pfctl rejects "proto icmp" in an inet6 rule and the reverse.
ICMP_FAMILY = {1: "ipv4", 58: "ipv6"}
FAMILY_AF = {"ipv4": "inet", "ipv6": "inet6"}


def comment_line(text: str) -> str:
    """A pf comment line: printable, and never ending in a backslash (which would swallow the next line)."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text).rstrip()
    while printable.endswith("\\"):
        printable = printable[:-1] + "/"
    return printable


def port_item(rng: PortRange) -> str:
    return str(rng.start) if rng.start == rng.end else f"{rng.start}:{rng.end}"


def _ident(text: str) -> str:
    """A macro/table name: letters, digits and underscores (what pfctl's ``$name`` expansion reads)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text) or "anyport"


def _address(net: Network) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _interface(name: str) -> str:
    """Quoted, so a name that is also a pfctl keyword (``port``, ``all``...) stays an interface name."""
    return '"' + name + '"'  # options.IFACE allows no quotes or backslashes


class Pf(Target):
    name = "pf"
    title = "pf (OpenBSD pf.conf anchor)"
    suffix = ".conf"
    transports = ("tcp", "udp")  # "port only applies to tcp/udp" (pfctl)
    own_sources = True

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        base = _ident(options.name)
        groups = selection.groups(options)
        out = [comment_line(line) for line in self.header(selection, options)]
        out += self._notes(selection, options, groups, base)
        out.append("")
        macros: list[str] = []
        tables: list[str] = []
        rules: list[str] = []
        dests = [n for n in options.dests if any(g.family_wanted(family_of(n), options) for g in groups)]
        allow = options.action == "allow"
        action = "pass" if allow else "block return" if options.reject else "block drop"
        direction = "in" if options.direction == "in" else "out"
        on = f" on {_interface(options.interface)}" if options.interface else ""
        keep = " keep state" if allow else ""  # "keep state is great, but only for pass rules" (pfctl)
        for group in groups:
            families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
            if not families:
                continue
            tag = "" if group.index == 0 else f"_{group.index + 1}"
            source = "any"
            if group.sources:
                nets = [n for n in group.sources if family_of(n) in families]
                tables.append(f"table <{base}_src{tag}> {{ {', '.join(_address(n) for n in nets)} }}")
                source = f"<{base}_src{tag}>"
            dest = f"<{base}_dst>" if dests else "any"
            af = f"{FAMILY_AF[families[0]]} " if len(families) == 1 else ""
            for transport in [t for t in group.transports() if t in self.transports]:
                macro = f"{base}_{transport}{tag}"
                items = ", ".join(port_item(r) for r in group.merged(transport))
                macros.append(f'{macro} = "{{ {items} }}"')
                label = f"{base}-{direction}-{transport}{tag.replace('_', '-')}"
                rules.append(
                    f"{action} {direction} quick{on} {af}proto {transport} from {source} to {dest} "
                    f'port ${macro}{keep} label "{label}"'
                )
            for number in group.protocol_numbers():
                proto_af = af
                if number in ICMP_FAMILY:
                    if ICMP_FAMILY[number] not in families:
                        rules.append(f"# IP protocol {number} belongs to the other address family: no rule")
                        continue
                    proto_af = f"{FAMILY_AF[ICMP_FAMILY[number]]} "
                proto = PROTO_NAMES.get(number, str(number))
                label = f"{base}-{direction}-proto{number}{tag.replace('_', '-')}"
                rules.append(
                    f"{action} {direction} quick{on} {proto_af}proto {proto} from {source} to {dest}{keep} "
                    f'label "{label}"'
                )
        if dests:
            tables.append(f"table <{base}_dst> {{ {', '.join(_address(n) for n in dests)} }}")
        out += macros
        out += tables
        if macros or tables:
            out.append("")
        out += rules
        return {"": "\n".join(out) + "\n"}

    def _notes(self, selection: Selection, options: RuleOptions, groups: list[RuleGroup], base: str) -> list[str]:
        """How to load the fragment and what pf does around it."""
        notes = [
            f'# load: add  anchor "{base}"  to /etc/pf.conf, then  pfctl -a {base} -f FILE  '
            f"(check first: pfctl -n -a {base} -f FILE); reloading replaces the anchor's rules and tables",
        ]
        if options.action == "allow":
            notes.append(
                "# pf passes what no rule blocks: these quick rules open the ports; the main ruleset must block "
                "the rest (e.g. OpenBSD's default 'block return' before the anchor)"
            )
        elif options.reject:
            notes.append("# block return: TCP gets a reset, UDP and other protocols an ICMP unreachable")
        else:
            notes.append("# block drop: packets are discarded without an answer")
        if any(h.helper == "ftp" for h in selection.helpers):
            notes.append(
                "# FTP data connections: pf has no helper; run ftp-proxy(8) and add its anchor "
                '(anchor "ftp-proxy/*") to pf.conf'
            )
        dropped = self.networks_without_rules(selection, options)
        if dropped:
            notes.append(
                "# no rules for "
                + ", ".join(str(n) for n in dropped)
                + ": this rule set has no rules of that address family"
            )
        return notes
