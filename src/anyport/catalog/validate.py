"""Check one catalog file's contents and turn them into :class:`Service` records.

Each problem becomes a :class:`Problem` ``file:line: what is wrong; how to fix it``. Checks that need the whole
catalog (duplicate ids, references) live in :mod:`anyport.catalog.loader`.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from typing import Any

from anyport.catalog.risktags import RISK_TAGS
from anyport.catalog.yamlfile import LocatedDict, LocatedList
from anyport.errors import Problem
from anyport.model import PortSpec, Service, Source
from anyport.portlist import parse_port_list
from anyport.protocols import ip_protocol_number
from anyport.vocab import ALLOCATIONS, CATEGORIES, DIRECTIONS, HELPERS, ROLES, SOURCE_KINDS, STATUSES, TRANSPORTS

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
DNSSD = re.compile(r"^_[A-Za-z0-9][A-Za-z0-9-]{0,62}\._(tcp|udp)$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_TEXT = 4000

SERVICE_KEYS = (
    "id",
    "title",
    "aliases",
    "categories",
    "status",
    "description",
    "ports",
    "notes",
    "risks",
    "risk_tags",
    "registered",
    "seed",
    "sources",
    "as_of",
)
REQUIRED_SERVICE_KEYS = ("id", "title", "categories", "description", "ports", "sources")
SPEC_KEYS = (
    *TRANSPORTS,
    "ip",
    "ref",
    "role",
    "direction",
    "allocation",
    "base",
    "optional",
    "uncertain",
    "helper",
    "multicast",
    "dnssd",
    "pair",
    "tls",
    "note",
)
WHAT_KEYS = (*TRANSPORTS, "ip", "ref")


class FileChecker:
    """Collects the problems of one file while building its services."""

    def __init__(self, filename: str, origin: str) -> None:
        self.filename = filename
        self.origin = origin
        self.problems: list[Problem] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.filename, line, message))

    # -- file ------------------------------------------------------------------------------------------

    def check_document(self, doc: Any) -> list[Service]:
        """Validate a whole parsed file; returns the services that passed."""
        if doc is None:
            self.problem(1, "the file is empty; start it with 'services:' and a list of services")
            return []
        if not isinstance(doc, LocatedDict):
            self.problem(1, "the file is not a mapping; start it with 'services:' (see docs/catalog-format.md)")
            return []
        self._unknown_keys(doc, ("services",), "at the top of the file")
        services = doc.get("services")
        if not isinstance(services, LocatedList):
            line = doc.key_lines.get("services", doc.line)
            self.problem(line, "'services' is not a list; write each service as an item starting with '- id:'")
            return []
        result = []
        for item, line in zip(services, services.item_lines, strict=True):
            service = self.check_service(item, line)
            if service is not None:
                result.append(service)
        return result

    # -- service ---------------------------------------------------------------------------------------

    def check_service(self, item: Any, line: int) -> Service | None:
        if not isinstance(item, LocatedDict):
            self.problem(
                line,
                "this service is not a mapping; write it as '- id: …' followed by title, ports and the other fields",
            )
            return None
        before = len(self.problems)
        self._unknown_keys(item, SERVICE_KEYS, "in a service")
        for key in REQUIRED_SERVICE_KEYS:
            if key not in item:
                self.problem(item.line, f"service is missing '{key}'; add it (see docs/catalog-format.md)")
        if len(self.problems) > before and "id" not in item:
            return None
        sid = self._slug(item, "id")
        title = self._text(item, "title", required=True, max_len=200)
        description = self._text(item, "description", required=True)
        status = self._choice(item, "status", STATUSES, default="active")
        aliases = self._text_list(item, "aliases", max_len=200)
        categories = self._choice_list(item, "categories", CATEGORIES)
        if "categories" in item and isinstance(item["categories"], list) and not item["categories"]:
            self.problem(item.key_lines["categories"], "categories is empty; give at least one, e.g. [web]")
        notes = self._text_list(item, "notes")
        risks = self._text_list(item, "risks")
        risk_tags = self._risk_tags(item, bool(risks))
        registered = self._text_list(item, "registered", max_len=100)
        seed = self._text_list(item, "seed", max_len=200)
        as_of = self._date(item, "as_of")
        sources = self._sources(item)
        specs = self._specs(item)
        if len(self.problems) > before or sid is None:
            return None
        return Service(
            id=sid,
            title=title,
            description=description,
            status=status,
            aliases=tuple(aliases),
            categories=tuple(categories),
            ports=tuple(specs),
            notes=tuple(notes),
            risks=tuple(risks),
            risk_tags=tuple(risk_tags),
            registered=tuple(registered),
            seed=tuple(seed),
            sources=tuple(sources),
            as_of=as_of,
            origin=self.origin,
            file=self.filename,
            line=item.line,
        )

    def _sources(self, item: LocatedDict) -> list[Source]:
        raw = item.get("sources")
        if raw is None:
            return []
        line = item.key_lines["sources"]
        if not isinstance(raw, LocatedList) or not raw:
            self.problem(line, "'sources' is empty or not a list; add items like '- rfc: 3261' or '- url: https://…'")
            return []
        sources = []
        for entry, entry_line in zip(raw, raw.item_lines, strict=True):
            if not isinstance(entry, LocatedDict):
                self.problem(
                    entry_line,
                    "this source is not a mapping; write it as '- url: …', '- rfc: N', '- kb: …', '- seed: …' or '- iana: …'",
                )
                continue
            self._unknown_keys(entry, (*SOURCE_KINDS, "title"), "in a source")
            kinds = [k for k in SOURCE_KINDS if k in entry]
            if len(kinds) != 1:
                self.problem(
                    entry_line,
                    "a source needs exactly one of url, rfc, kb, seed, iana; split it into one source per line",
                )
                continue
            kind = kinds[0]
            value = entry[kind]
            if kind == "rfc" and not (isinstance(value, int) and 1 <= value <= 99999):
                self.problem(entry.key_lines[kind], f"rfc is {value!r}; write the RFC number alone, like 3261")
                continue
            if kind != "rfc" and (not isinstance(value, str) or not value.strip()):
                self.problem(entry.key_lines[kind], f"{kind} is {value!r}; write it as non-empty text")
                continue
            if kind == "url" and not re.match(r"^https?://[^\s]+$", str(value)):
                self.problem(
                    entry.key_lines[kind], f"url {value!r} is not a web address; start it with https:// or http://"
                )
                continue
            title = entry.get("title", "")
            if not isinstance(title, str):
                self.problem(entry.key_lines["title"], "the source's title is not text; quote it")
                continue
            sources.append(Source(kind, str(value).strip(), _clean(title)))
        return sources

    # -- port specs ------------------------------------------------------------------------------------

    def _specs(self, item: LocatedDict) -> list[PortSpec]:
        raw = item.get("ports")
        if raw is None:
            return []
        line = item.key_lines["ports"]
        if not isinstance(raw, LocatedList):
            self.problem(line, "'ports' is not a list; write items like '- tcp: 443'")
            return []
        specs: list[PortSpec] = []
        for entry, entry_line in zip(raw, raw.item_lines, strict=True):
            spec = self.check_spec(entry, entry_line)
            if spec is not None:
                self._same_port_twice(spec, specs)
                specs.append(spec)
        return specs

    def _same_port_twice(self, spec: PortSpec, earlier: list[PortSpec]) -> None:
        """Two specs of one service for the same ports and the same kind of flow contradict or repeat each other.

        Specs that differ in direction, allocation, multicast group, DNS-SD type or pair describe different
        flows on the same port (NTP's unicast and multicast, a control and a data direction) and are fine.
        """
        if spec.kind != "port":
            return
        for other in earlier:
            if other.kind != "port" or other.transport != spec.transport or not set(other.ranges) & set(spec.ranges):
                continue
            if _flow(other) != _flow(spec):
                continue
            shared = ",".join(str(r) for r in sorted(set(other.ranges) & set(spec.ranges)))
            if other.role != spec.role:
                self.problem(
                    spec.line,
                    f"{shared}/{spec.transport} is claimed twice with different roles ({other.role} on line "
                    f"{other.line}, {spec.role} here); keep one role, or say how the two flows differ "
                    "(direction, multicast, note)",
                )
            else:
                self.problem(
                    spec.line,
                    f"{shared}/{spec.transport} is listed twice (also on line {other.line}); remove one of the specs",
                )
            return

    def check_spec(self, entry: Any, line: int) -> PortSpec | None:
        if not isinstance(entry, LocatedDict):
            self.problem(
                line, "this port spec is not a mapping; write it like '- tcp: 443', '- ip: gre' or '- ref: ldap'"
            )
            return None
        before = len(self.problems)
        self._unknown_keys(entry, SPEC_KEYS, "in a port spec")
        whats = [k for k in WHAT_KEYS if k in entry]
        if len(whats) != 1:
            found = ", ".join(whats) if whats else "none"
            self.problem(
                entry.line,
                f"a port spec needs exactly one of tcp, udp, sctp, dccp, ip, ref (found {found}); "
                "split it into one spec per transport",
            )
            return None
        what = whats[0]
        what_line = entry.key_lines[what]
        kwargs: dict[str, Any] = {"line": entry.line}
        if what in TRANSPORTS:
            try:
                ranges = parse_port_list(entry[what])
            except ValueError as exc:
                self.problem(what_line, f"{what}: {exc}")
                return None
            kwargs.update(kind="port", transport=what, ranges=tuple(ranges))
        elif what == "ip":
            number = ip_protocol_number(entry["ip"])
            if number is None:
                self.problem(
                    what_line,
                    f"ip: {entry['ip']!r} is not an IP protocol; use a number 0-255 or a keyword like gre, esp, ah",
                )
                return None
            kwargs.update(kind="ip", transport="ip", ip_proto=number)
        else:
            ref = entry["ref"]
            if not isinstance(ref, str) or not SLUG.match(ref):
                self.problem(what_line, f"ref {ref!r} is not a service id; use an id like 'ldap'")
                return None
            kwargs.update(kind="ref", ref=ref)
        kwargs["role"] = self._choice(entry, "role", ROLES, default="control")
        kwargs["direction"] = self._choice(entry, "direction", DIRECTIONS, default="inbound")
        kwargs["allocation"] = self._choice(entry, "allocation", ALLOCATIONS, default="fixed")
        kwargs["optional"] = self._bool(entry, "optional", False)
        kwargs["uncertain"] = self._bool(entry, "uncertain", False)
        kwargs["helper"] = self._choice(entry, "helper", HELPERS, default="")
        kwargs["note"] = self._text(entry, "note", required=False)
        if "tls" in entry:
            kwargs["tls"] = self._bool(entry, "tls", False)
        if "base" in entry:
            base = entry["base"]
            if not isinstance(base, int) or isinstance(base, bool) or not 1 <= base <= 65535:
                self.problem(entry.key_lines["base"], f"base is {base!r}; give the port number of instance 0 (1-65535)")
            elif kwargs["allocation"] != "family":
                self.problem(
                    entry.key_lines["base"],
                    "base is set but allocation is not family; add 'allocation: family' or remove base",
                )
            elif kwargs.get("ranges") and base not in kwargs["ranges"][0]:
                self.problem(
                    entry.key_lines["base"],
                    f"base {base} is outside the family's first range; set base to the port of instance 0",
                )
            else:
                kwargs["base"] = base
        if "multicast" in entry:
            kwargs["multicast"] = tuple(self._multicast(entry))
        if "dnssd" in entry:
            dnssd = entry["dnssd"]
            if not isinstance(dnssd, str) or not DNSSD.match(dnssd):
                self.problem(entry.key_lines["dnssd"], f"dnssd {dnssd!r} is not a DNS-SD type; write it like _ipp._tcp")
            else:
                kwargs["dnssd"] = dnssd
        if "pair" in entry:
            pair = entry["pair"]
            pair_line = entry.key_lines["pair"]
            if not isinstance(pair, LocatedDict) or set(pair) != {"ref", "offset"}:
                self.problem(pair_line, "pair is malformed; write it as {ref: <service id>, offset: <number>}")
            elif not isinstance(pair["ref"], str) or not SLUG.match(pair["ref"]):
                self.problem(pair_line, f"pair ref {pair['ref']!r} is not a service id; use an id like 'rtp'")
            elif not isinstance(pair["offset"], int) or isinstance(pair["offset"], bool) or pair["offset"] == 0:
                self.problem(pair_line, f"pair offset is {pair['offset']!r}; use a non-zero whole number like 1")
            elif what not in TRANSPORTS:
                self.problem(pair_line, "pair is set on a spec without ports; use it only with tcp, udp, sctp or dccp")
            else:
                kwargs["pair_ref"] = pair["ref"]
                kwargs["pair_offset"] = pair["offset"]
        if kwargs["allocation"] == "family" and "base" not in kwargs and kwargs.get("ranges"):
            kwargs["base"] = kwargs["ranges"][0].start
        if len(self.problems) > before:
            return None
        return PortSpec(**kwargs)

    def _multicast(self, entry: LocatedDict) -> list[str]:
        raw = entry["multicast"]
        line = entry.key_lines["multicast"]
        values = raw if isinstance(raw, list) else [raw]
        groups = []
        for value in values:
            try:
                address = ipaddress.ip_address(str(value))
            except ValueError:
                self.problem(line, f'multicast: {value!r} is not an IP address; quote IPv6 like "ff02::fb"')
                continue
            if not (address.is_multicast or str(address).endswith(".255")):
                self.problem(
                    line, f"multicast: {value} is not a multicast or broadcast address; give the group address"
                )
                continue
            groups.append(str(address))
        return groups

    # -- field helpers ---------------------------------------------------------------------------------

    def _unknown_keys(self, mapping: LocatedDict, allowed: tuple[str, ...], where: str) -> None:
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                self.problem(mapping.key_lines[key], f"unknown field '{key}' {where}; {hint}")

    def _slug(self, item: LocatedDict, key: str) -> str | None:
        value = item.get(key)
        line = item.key_lines.get(key, item.line)
        if not isinstance(value, str) or not SLUG.match(value):
            self.problem(
                line,
                f"{key} {value!r} is not a slug; use lowercase letters, digits and '-' (e.g. 'bittorrent')",
            )
            return None
        return value

    def _text(self, item: LocatedDict, key: str, *, required: bool, max_len: int = MAX_TEXT) -> str:
        if key not in item:
            return ""
        value = item[key]
        line = item.key_lines[key]
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or (required and not value.strip()):
            self.problem(line, f"{key} is {value!r}; write it as text")
            return ""
        text = _clean(value)
        if len(text) > max_len:
            self.problem(line, f"{key} is {len(text)} characters long; keep it under {max_len}")
        if _has_control(text):
            self.problem(line, f"{key} contains control characters (such as terminal escapes); remove them")
        return text

    def _text_list(self, item: LocatedDict, key: str, max_len: int = MAX_TEXT) -> list[str]:
        if key not in item or item[key] is None:
            return []
        raw = item[key]
        line = item.key_lines[key]
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            self.problem(line, f"{key} is {raw!r}; write it as a list like [a, b]")
            return []
        result = []
        for value in raw:
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                self.problem(line, f"an item of {key} is {value!r}; write non-empty text")
                continue
            text = _clean(value)
            if len(text) > max_len:
                self.problem(line, f"an item of {key} is {len(text)} characters long; keep it under {max_len}")
                continue
            if _has_control(text):
                self.problem(line, f"an item of {key} contains control characters; remove them")
                continue
            result.append(text)
        return result

    def _choice(self, item: LocatedDict, key: str, allowed: tuple[str, ...], *, default: str) -> str:
        if key not in item:
            return default
        value = item[key]
        if value not in allowed:
            close = difflib.get_close_matches(str(value), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(allowed)}"
            self.problem(item.key_lines[key], f"{key} {value!r} is not allowed; {hint}")
            return default
        return str(value)

    def _risk_tags(self, item: LocatedDict, has_risks: bool) -> list[str]:
        """``risk_tags``: known tags, none twice, present exactly when the entry has risk notes."""
        if "risk_tags" not in item:
            if has_risks:
                self.problem(
                    item.key_lines["risks"],
                    "the risks have no risk_tags; add e.g. 'risk_tags: [brute-force, cleartext]' naming what the "
                    "notes warn about (the tags are listed in docs/catalog-format.md)",
                )
            return []
        line = item.key_lines["risk_tags"]
        raw = item["risk_tags"]
        if not isinstance(raw, list) or not raw:
            self.problem(line, f"risk_tags is {raw!r}; write a list of tags like [brute-force, cleartext]")
            return []
        if not has_risks:
            self.problem(line, "risk_tags without risks; add the risk notes the tags summarise, or remove the tags")
        seen = [value for value in raw if isinstance(value, str) and raw.count(value) > 1]
        if seen:
            self.problem(line, f"risk_tags names {seen[0]!r} twice; keep one")
        return self._choice_list(item, "risk_tags", tuple(RISK_TAGS), what="risk tag")

    def _choice_list(self, item: LocatedDict, key: str, allowed: tuple[str, ...], what: str = "category") -> list[str]:
        raw = item.get(key)
        if raw is None:
            return []
        line = item.key_lines[key]
        if not isinstance(raw, list):
            raw = [raw]
        result = []
        for value in raw:
            if value not in allowed:
                close = difflib.get_close_matches(str(value), allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"see the {what} list in docs/catalog-format.md"
                self.problem(line, f"{key}: {value!r} is not a known {what}; {hint}")
                continue
            if value not in result:
                result.append(value)
        return result

    def _bool(self, item: LocatedDict, key: str, default: bool) -> bool:
        if key not in item:
            return default
        value = item[key]
        if not isinstance(value, bool):
            self.problem(item.key_lines[key], f"{key} is {value!r}; write true or false")
            return default
        return value

    def _date(self, item: LocatedDict, key: str) -> str:
        if key not in item:
            return ""
        value = item[key]
        if not isinstance(value, str) or not DATE.match(value):
            self.problem(item.key_lines[key], f"{key} is {value!r}; write a date like 2026-11-26")
            return ""
        return value


def _flow(spec: PortSpec) -> tuple[object, ...]:
    """What tells two flows on the same port apart."""
    return (spec.direction, spec.allocation, spec.multicast, spec.dnssd, spec.pair_ref, spec.pair_offset)


def _clean(text: str) -> str:
    """Fold the whitespace of folded YAML blocks into single spaces."""
    return " ".join(text.split())


def _has_control(text: str) -> bool:
    """Control characters (terminal escapes, NUL...) that must never reach a terminal or a page."""
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in text)
