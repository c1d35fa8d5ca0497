"""firewalld: a service definition (XML) plus the ``firewall-cmd`` script that installs and enables it.

The main file is a firewalld service (``<service>`` with ``<port>``, ``<protocol>``, ``<destination>`` and
``<helper>``); the ``.sh`` file installs it with ``--new-service-from-file`` under the name ``anyport-<ids>`` and
enables it: ``--add-service`` in the zone when nothing narrows it, rich rules for sources, a single address family
or deny, and a policy from the ``HOST`` zone for outbound rules. Services given their own sources
(``ssh@192.0.2.0/24``) get a service of their own (extra files ``.2.xml``, ``.3.xml``...), since a rich rule
enables a whole service. Facts of firewalld 1.3 this relies on:

- a service holds one destination per address family, and a service with a destination applies only to the
  families it names;
- helpers are attached on the helper's own ports (``/usr/lib/firewalld/helpers``), under the ct helper type of
  the helper's module; built-in helpers are used where their ports match, other ports get a helper of their own
  (``--new-helper``). The H.323 helpers (Q.931, RAS) cannot work: firewalld asks the kernel for a helper named
  ``h323``, which does not exist (the kernel registers Q.931 and RAS), so they are reported as not expressed;
- rich rules that drop or reject go to the zone's deny chain, which firewalld evaluates before its allow chain;
- firewalld has no per-interface rules: an interface only picks a zone (reported as not exactly expressed).

All text goes through XML escaping; the header sits in an XML comment with ``--`` broken up. The catalog has no
source ports, so no ``<source-port>`` is written; built-in services are not ``<include>``-d because their ports
differ from the catalog's.
"""

from __future__ import annotations

import hashlib
import re
from xml.sax.saxutils import escape, quoteattr

from anyport import __version__
from anyport.errors import AnyportError
from anyport.rules.base import Target, clean_text
from anyport.rules.options import Network, RuleOptions
from anyport.rules.selection import HelperRule, RuleGroup, Selection

# Kernel helper name -> (firewalld helper, its module, the ports it watches, family or "" for both), as shipped
# in /usr/lib/firewalld/helpers by firewalld 1.3.
FIREWALLD_HELPERS: dict[str, tuple[str, str, tuple[tuple[int, str], ...], str]] = {
    "ftp": ("ftp", "nf_conntrack_ftp", ((21, "tcp"),), ""),
    "tftp": ("tftp", "nf_conntrack_tftp", ((69, "udp"),), ""),
    "sip": ("sip", "nf_conntrack_sip", ((5060, "tcp"), (5060, "udp")), ""),
    "pptp": ("pptp", "nf_conntrack_pptp", ((1723, "tcp"),), "ipv4"),
    "irc": ("irc", "nf_conntrack_irc", ((194, "tcp"),), "ipv4"),
    "amanda": ("amanda", "nf_conntrack_amanda", ((10080, "udp"),), ""),
    "netbios-ns": ("netbios-ns", "nf_conntrack_netbios_ns", ((137, "udp"),), "ipv4"),
    "snmp": ("snmp", "nf_conntrack_snmp", ((161, "udp"),), "ipv4"),
    "sane": ("sane", "nf_conntrack_sane", ((6566, "tcp"),), ""),
}
# Names firewalld's own services use (it checks them in /etc/protocols); other protocols are written as numbers.
PROTOCOL_NAMES = {2: "igmp", 47: "gre", 50: "esp", 51: "ah", 112: "vrrp"}
NAME_MAX = 64
SAFE_WORD = re.compile(r"^[A-Za-z0-9_.:/@-]+$")  # what may appear inside the script's single quotes


def _fam(family: str) -> str:
    return "IPv4" if family == "ipv4" else "IPv6"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "service"


def _xml_comment(lines: list[str]) -> str:
    """An XML comment block: one line per entry, no ``--`` inside (illegal in XML comments)."""
    body = []
    for line in lines:
        text = "".join(ch if ch.isprintable() else " " for ch in line)
        while "--" in text:
            text = text.replace("--", "- -")
        body.append(f"  {text}".rstrip())
    return "<!--\n" + "\n".join(body) + "\n-->"


def _address(net: Network) -> str:
    """A host as a bare address, a network in CIDR form (firewalld takes both)."""
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _word(text: str) -> str:
    """Guard for everything written into the script: addresses, names and numbers only, never catalog text."""
    if not SAFE_WORD.match(text):
        raise AnyportError(f"refusing to write {text!r} into a shell script")
    return text


class Firewalld(Target):
    name = "firewalld"
    title = "firewalld"
    suffix = ".xml"
    helpers = True
    own_sources = True

    def add_note(self, files: dict[str, str], lines: list[str]) -> dict[str, str]:
        """:meth:`render` already wrote the note inside the XML comment (a leading ``#`` block would precede the
        XML declaration)."""
        return files

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        base = self.service_name(selection, options)
        groups = selection.groups(options)
        notes: list[str] = []  # comments both files carry
        dests = self._destination(options)
        custom: dict[str, tuple[str, str, str]] = {}  # custom helper -> (module, port/proto, family)
        services = []
        for group in groups:
            name = base if group.index == 0 else f"{base}-{group.index + 1}"
            helpers = self._group_helpers(selection, group, options, custom, notes)
            notes += [
                f"source {net}: no {_fam(family)} rules ("
                + (
                    f"{_fam(family)} is switched off"
                    if family not in options.families
                    else f"no {_fam(family)} destination"
                )
                + ")"
                for family in ("ipv4", "ipv6")
                if not group.family_wanted(family, options)
                for net in group.networks(family)
            ]
            services.append((group, name, helpers))
        if options.action == "deny" and selection.helpers:
            notes.append("firewalld attaches conntrack helpers to accepted traffic only: none are attached here")
        script = self._script(selection, options, services, custom, notes)
        header = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in self.header(selection, options)]
        not_expressed = []
        if self.unsupported:
            not_expressed = [f"NOT EXPRESSED on {self.title} (--best-effort):"]
            not_expressed += [f"  {clean_text(item)}" for item in self.unsupported]
        files = {}
        for group, name, helpers in services:
            suffix = "" if group.index == 0 else f".{group.index + 1}.xml"
            comment = [
                *header,
                *not_expressed,
                *notes,
                f"firewalld service {name}: install and enable it with the .sh file written next to this one",
            ]
            files[suffix] = self._xml(selection, options, group, name, helpers, dests, comment)
        script_lines = script.splitlines()
        shebang, rest = script_lines[:1], script_lines[1:]
        note_lines = [f"# {line}" for line in not_expressed]
        files[".sh"] = "\n".join([*shebang, *self._shell_header(selection, options), *note_lines, *rest]) + "\n"
        return files

    # --- names ------------------------------------------------------------------------------------------------

    @staticmethod
    def service_name(selection: Selection, options: RuleOptions) -> str:
        """``anyport-<ids>`` from the included services (sorted); long lists end in a short hash."""
        slugs = sorted({_slug(what) for what, _why in selection.included})
        joined = "-".join(slugs)
        name = f"{_slug(options.name)}-{joined}"
        if len(name) > NAME_MAX:
            digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
            name = f"{name[: NAME_MAX - 9].rstrip('-')}-{digest}"
        return name

    # --- helpers ----------------------------------------------------------------------------------------------

    def _group_helpers(
        self,
        selection: Selection,
        group: RuleGroup,
        options: RuleOptions,
        custom: dict[str, tuple[str, str, str]],
        notes: list[str],
    ) -> list[str]:
        """firewalld helper names for the helpers whose control port this group opens."""
        names: list[str] = []
        for helper in selection.helpers:
            if not self._opens(group, helper):
                continue
            where = f"{helper.port}/{helper.transport} ({helper.service})"
            entry = FIREWALLD_HELPERS.get(helper.kernel_name)
            if entry is None:
                self.unsupported_item(
                    f"conntrack helper {helper.kernel_name} for {where}: firewalld names the ct helper after its "
                    "module (h323), which the kernel does not register (it has Q.931 and RAS)"
                )
                continue
            fw_name, module, ports, family = entry
            families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
            if family and family not in families:
                notes.append(
                    f"no {helper.kernel_name} conntrack helper for IPv6 in firewalld: not attached for {where}"
                )
                continue
            if family and len(families) == 2:
                notes.append(f"firewalld's {fw_name} helper is IPv4 only: attached for IPv4 only on {where}")
            if (helper.port, helper.transport) in ports:
                name = fw_name
            else:
                # The built-in helper watches other ports: a helper of our own on the catalog's port.
                name = f"{_slug(options.name)}-{_slug(helper.kernel_name)}-{helper.transport}-{helper.port}"
                custom[name] = (module, f"{helper.port}/{helper.transport}", family)
            if name not in names:
                names.append(name)
        return names

    @staticmethod
    def _opens(group: RuleGroup, helper: HelperRule) -> bool:
        return any(
            rule.service == helper.service
            and rule.transport == helper.transport
            and any(helper.port in rng for rng in rule.ranges)
            for rule in group.ports
        )

    # --- the service XML --------------------------------------------------------------------------------------

    def _destination(self, options: RuleOptions) -> dict[str, str]:
        """One destination per family (all a service can hold); the others are reported."""
        dests: dict[str, str] = {}
        for family in ("ipv4", "ipv6"):
            nets = options.networks("dests", family)
            if not nets or family not in options.families:
                continue
            dests[family] = _address(nets[0])
            for extra in nets[1:]:
                self.unsupported_item(
                    f"destination {extra}: a firewalld service holds one destination per address family "
                    f"(only {nets[0]} is used)"
                )
        return dests

    def _xml(
        self,
        selection: Selection,
        options: RuleOptions,
        group: RuleGroup,
        name: str,
        helpers: list[str],
        dests: dict[str, str],
        comment: list[str],
    ) -> str:
        owners = list(dict.fromkeys([p.service for p in group.ports] + [p.service for p in group.protocols]))
        short = clean_text(f"{options.name}: {', '.join(owners)}", 120)
        if group.sources:
            short = clean_text(f"{short} (from {', '.join(str(n) for n in group.sources)})", 200)
        titles = "; ".join(f"{clean_text(selection.titles.get(o, o), 120)} [{o}]" for o in owners)
        description = clean_text(f"Generated by anyport {__version__}: {titles}", 2000)
        out = [
            '<?xml version="1.0" encoding="utf-8"?>',
            _xml_comment(comment),
            "<service>",
            f"  <short>{escape(short)}</short>",
            f"  <description>{escape(description)}</description>",
        ]
        for transport in group.transports():
            for rng in group.merged(transport):
                out.append(f"  <port protocol={quoteattr(transport)} port={quoteattr(str(rng))}/>")
        for number in group.protocol_numbers():
            out.append(f"  <protocol value={quoteattr(PROTOCOL_NAMES.get(number, str(number)))}/>")
        if dests:
            attrs = " ".join(f"{family}={quoteattr(address)}" for family, address in dests.items())
            out.append(f"  <destination {attrs}/>")
        out += [f"  <helper name={quoteattr(helper)}/>" for helper in helpers]
        out.append("</service>")
        return "\n".join(out) + "\n"

    # --- the script -------------------------------------------------------------------------------------------

    def _shell_header(self, selection: Selection, options: RuleOptions) -> list[str]:
        return ["".join(ch if ch.isprintable() else " " for ch in line) for line in self.header(selection, options)]

    def _script(
        self,
        selection: Selection,
        options: RuleOptions,
        services: list[tuple[RuleGroup, str, list[str]]],
        custom: dict[str, tuple[str, str, str]],
        notes: list[str],
    ) -> str:
        fw = "firewall-cmd --permanent"
        out = [
            "#!/bin/sh",
            "# Installs the firewalld service(s) written next to this script and enables them (run as root):",
            "#   sh THIS.sh [SERVICE.xml]     (the XML defaults to this script's name without .sh)",
            "# Running it again replaces the service; firewalld removes a deleted service from every zone and",
            "# policy, and this script adds it back where it belongs. '--reload' at the end applies the permanent",
            "# configuration (and drops runtime-only changes, as any reload does).",
            *[f"# {note}" for note in notes],
            "set -eu",
            'XML=${1:-"${0%.sh}"}',
        ]
        for group, name, _helpers in services[1:]:
            out.append(f"# the service {name} (own sources) is read from $XML.{group.index + 1}.xml")
        out += [
            'for file in "$XML"' + "".join(f' "$XML.{g.index + 1}.xml"' for g, _n, _h in services[1:]) + "; do",
            '    [ -f "$file" ] || { echo "$0: $file not found; give the service XML as the first argument" >&2; exit 1; }',
            "done",
            "# firewall-cmd takes the service name from the file name as well: install copies named after it",
            "TMP=$(mktemp -d)",
            """trap 'rm -rf "$TMP"' EXIT""",
            "",
        ]
        for helper, (module, port, family) in sorted(custom.items()):
            family_flag = f" --family={family}" if family else ""
            out += [
                f"# conntrack helper {_word(helper)}: the kernel's {module} helper on {port}",
                f"if ! {fw} --info-helper={helper} >/dev/null 2>&1; then",
                f"    {fw} --new-helper={helper} --module={_word(module)}{family_flag}",
                "fi",
                f"{fw} --helper={helper} --add-port={_word(port)}",
            ]
        for group, name, _helpers in services:
            xml = '"$XML"' if group.index == 0 else f'"$XML.{group.index + 1}.xml"'
            out += [
                f"if {fw} --info-service={_word(name)} >/dev/null 2>&1; then",
                f"    {fw} --delete-service={name}",
                "fi",
                f'cp {xml} "$TMP/{name}.xml"',
                f'{fw} --new-service-from-file="$TMP/{name}.xml" --name={name}',
            ]
        out.append("")
        iface = options.interface
        if options.direction == "in":
            if iface:
                self.unsupported_item(
                    f"interface {iface}: firewalld filters by zone, not interface; the rules go into the zone of "
                    f"{iface} and apply to every interface and source in that zone"
                )
                out.append(
                    f"ZONE=$(firewall-cmd --get-zone-of-interface={_word(iface)} 2>/dev/null) || "
                    "ZONE=$(firewall-cmd --get-default-zone)"
                )
            else:
                out.append("ZONE=$(firewall-cmd --get-default-zone)")
            target = '--zone="$ZONE"'
        else:
            policy = f"{_slug(options.name)}-out"
            egress = "ANY"
            out.append(f"# outbound: the policy {policy} filters what this host sends")
            if iface:
                self.unsupported_item(
                    f"interface {iface}: firewalld filters by zone, not interface; the policy sends to the zone of "
                    f"{iface} and covers every interface and source in that zone"
                )
                out.append(
                    f"ZONE=$(firewall-cmd --get-zone-of-interface={_word(iface)} 2>/dev/null) || "
                    "ZONE=$(firewall-cmd --get-default-zone)"
                )
                egress = '"$ZONE"'
            out += [
                f"if ! {fw} --info-policy={policy} >/dev/null 2>&1; then",
                f"    {fw} --new-policy={policy}",
                "fi",
                f"{fw} --policy={policy} --add-ingress-zone=HOST",
                f"{fw} --policy={policy} --add-egress-zone={egress}",
            ]
            if options.action == "allow":
                out += [
                    "# firewalld lets this host's own traffic out by default: these rules only restrict anything",
                    f"# after '{fw} --policy={policy} --set-target=REJECT', which blocks every other",
                    "# outbound connection (DNS included).",
                ]
            target = f"--policy={policy}"
        verdict = "accept" if options.action == "allow" else ("reject" if options.reject else "drop")
        for group, name, _helpers in services:
            families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
            if not families:
                out.append(f"# {name} is installed but not enabled: no address family is left for its sources")
                continue
            if verdict == "accept" and not group.sources and len(families) == 2:
                out.append(f"{fw} {target} --add-service={name}")
                continue
            rules = []
            if not group.sources and len(families) == 2:
                rules.append(f'rule service name="{name}" {verdict}')
            else:
                for family in families:
                    addresses = [str(n) for n in group.networks(family)] or [""]
                    for address in addresses:
                        source = f' source address="{_word(address)}"' if address else ""
                        rules.append(f'rule family="{family}"{source} service name="{name}" {verdict}')
            out += [f"{fw} {target} --add-rich-rule='{rule}'" for rule in rules]
        out += ["", "firewall-cmd --reload"]
        return "\n".join(out) + "\n"
