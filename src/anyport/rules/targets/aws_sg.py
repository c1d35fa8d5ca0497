"""AWS security groups: the ``IpPermissions`` JSON of ``aws ec2 authorize-security-group-ingress`` (or ``-egress``).

JSON has no comments, so the header (what was included and why, what was left out) goes to a side file
``FILE.json.txt``; every permission also carries a short ``Description`` naming the services it is for (service
ids only: titles are free text and stay in the side file). Security groups are stateful and only allow: replies
pass by themselves, and there are no deny rules. They match ports for TCP and UDP only, never an interface.
"""

from __future__ import annotations

import json
import re

from anyport.model import PortRange
from anyport.rules.base import Target, clean_text
from anyport.rules.options import Network, RuleOptions
from anyport.rules.selection import PortRule, Selection

# AWS: "Constraints: Up to 255 characters in length. Allowed characters are a-z, A-Z, 0-9, spaces, and
# ._-:/()#,@[]+=&;{}!$*" (IpRange.Description and the other range types).
DESCRIPTION_MAX = 255
DESCRIPTION_ALLOWED = re.compile(r"[^a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]")
ANY = {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}
# Security groups count each CIDR of each permission as one rule; this is AWS's default quota per direction.
DEFAULT_RULE_QUOTA = 60
# IP protocols a security group names (and matches) its own way; everything else goes by number.
SPECIAL_PROTOCOLS: dict[int, tuple[str, int, int, tuple[str, ...]]] = {
    1: ("icmp", -1, -1, ("ipv4",)),  # -1/-1: every ICMP type and code
    58: ("icmpv6", -1, -1, ("ipv6",)),
    6: ("tcp", 0, 65535, ("ipv4", "ipv6")),
    17: ("udp", 0, 65535, ("ipv4", "ipv6")),
}


def description(text: str) -> str:
    """A Description AWS accepts: only its allowed characters, 255 at most."""
    allowed = DESCRIPTION_ALLOWED.sub(" ", clean_text(text, 1000))
    return " ".join(allowed.split())[:DESCRIPTION_MAX].rstrip()


class AwsSecurityGroup(Target):
    name = "aws-sg"
    title = "AWS security group (IpPermissions JSON)"
    suffix = ".json"
    transports = ("tcp", "udp")
    deny = False
    interface = False
    own_sources = True  # each permission carries its own CIDRs

    def add_note(self, files: dict[str, str], lines: list[str]) -> dict[str, str]:
        """JSON cannot hold the best-effort note: it goes to the end of the side file, which is all comments."""
        files[".txt"] += "".join(f"# {line}\n" for line in lines)
        return files

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        inbound = options.direction == "in"
        groups = selection.groups(options)
        # Inbound, a permission's CIDRs are the sources; outbound, the destinations. The other side is the
        # instance itself, which a security group cannot match by address.
        other: list[Network] = list(options.dests) if inbound else [n for g in groups for n in g.sources]
        if other:
            where = "destination" if inbound else "source"
            self.unsupported_item(
                f"{where} addresses {', '.join(str(n) for n in dict.fromkeys(other))} (a security group filters "
                "the instances it is attached to and cannot match their own addresses)"
            )
        permissions: list[dict[str, object]] = []
        defaults: set[str] = set()
        if options.action == "allow":  # deny is reported as unsupported: writing allow rules would invert it
            for group in groups:
                families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
                peers: dict[str, list[str]] = {}
                for family in families:
                    nets = group.networks(family) if inbound else options.networks("dests", family)
                    peers[family] = [str(n) for n in nets] or [ANY[family]]
                    if not nets:
                        defaults.add(family)
                for transport in group.transports():
                    if transport not in self.transports:
                        continue  # reported as unsupported (check_common): never opened by protocol number
                    for rng in group.merged(transport):
                        owners = self._owners(group.ports, transport, rng)
                        permissions.append(
                            self._permission(transport, rng.start, rng.end, families, peers, f"anyport {owners}")
                        )
                for number in group.protocol_numbers():
                    owners = " ".join(sorted({p.service for p in group.protocols if p.protocol == number}))
                    special = SPECIAL_PROTOCOLS.get(number)
                    if special is None:
                        permissions.append(
                            self._permission(str(number), None, None, families, peers, f"anyport {owners}")
                        )
                        continue
                    proto, start, end, proto_families = special
                    wanted = [f for f in families if f in proto_families]
                    if wanted:
                        permissions.append(self._permission(proto, start, end, wanted, peers, f"anyport {owners}"))
        text = json.dumps(permissions, indent=2) + "\n"
        return {"": text, ".txt": self._side_file(selection, options, sorted(defaults), permissions)}

    @staticmethod
    def _owners(rules: list[PortRule], transport: str, rng: PortRange) -> str:
        """Service ids whose ports fall in a merged range (its Description)."""
        owners = {
            p.service
            for p in rules
            if p.transport == transport and any(r.start <= rng.end and rng.start <= r.end for r in p.ranges)
        }
        return " ".join(sorted(owners))

    @staticmethod
    def _permission(
        protocol: str,
        start: int | None,
        end: int | None,
        families: list[str],
        peers: dict[str, list[str]],
        text: str,
    ) -> dict[str, object]:
        permission: dict[str, object] = {"IpProtocol": protocol}
        if start is not None and end is not None:
            permission["FromPort"] = start
            permission["ToPort"] = end
        label = description(text)
        if "ipv4" in families:
            permission["IpRanges"] = [{"CidrIp": cidr, "Description": label} for cidr in peers["ipv4"]]
        if "ipv6" in families:
            permission["Ipv6Ranges"] = [{"CidrIpv6": cidr, "Description": label} for cidr in peers["ipv6"]]
        return permission

    def _side_file(
        self,
        selection: Selection,
        options: RuleOptions,
        defaults: list[str],
        permissions: list[dict[str, object]],
    ) -> str:
        inbound = options.direction == "in"
        command = "authorize-security-group-ingress" if inbound else "authorize-security-group-egress"
        lines = self.header(selection, options)
        lines.append(f"# apply with: aws ec2 {command} --group-id sg-... --ip-permissions file://FILE.json")
        peer_word = "sources" if inbound else "destinations"
        for family in defaults:
            lines.append(f"# no {family} {peer_word} given: {ANY[family]} (every {family} address)")
        if options.action != "allow":
            lines.append("# security groups only allow: FILE.json is empty, nothing is denied")
        lines.append("# security groups are stateful: replies to allowed traffic pass without rules of their own")
        count = sum(len(v) for p in permissions for k, v in p.items() if k.endswith("Ranges") and isinstance(v, list))
        if count > DEFAULT_RULE_QUOTA:
            lines.append(
                f"# {count} rules: more than AWS's default quota of {DEFAULT_RULE_QUOTA} per direction and group "
                "(raise the quota or split the file over several groups)"
            )
        return "\n".join(lines) + "\n"
