"""The small base every firewall platform builds on.

A target declares what its platform can express (class attributes) and renders a :class:`Selection`. Whatever it
cannot express is collected while rendering and reported together: as an error naming every item, or with
``--best-effort`` as comment lines in the output. Nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from anyport import __version__
from anyport.errors import AnyportError
from anyport.rules.options import Network, RuleOptions
from anyport.rules.selection import Selection

MAX_COMMENT = 200


HEADER_REQUESTS = 20  # requests named in a header's first line


class RulesError(AnyportError):
    """Rules that cannot be written as asked (unknown target, unsupported features...)."""


class UnsupportedError(RulesError):
    """Everything a platform could not express, in one message."""

    def __init__(self, target: str, items: list[str]) -> None:
        self.items = items
        shown = "; ".join(items[:6]) + (f"; and {len(items) - 6} more" if len(items) > 6 else "")
        super().__init__(
            f"{target} cannot express: {shown}. Use --best-effort to write the rest with these as comments"
        )


@dataclass
class Output:
    """Generated files: suffix ("" for the main file) -> text."""

    files: dict[str, str] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        if len(self.files) == 1:
            return next(iter(self.files.values()))
        return "".join(f"# ==> {suffix} <==\n{text}" for suffix, text in self.files.items())


# Typographic characters with a plain ASCII reading (for platforms whose configurations are ASCII only).
ASCII_PUNCTUATION = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2026": "...",
}


def ascii_text(text: str, unknown: str = "?") -> str:
    """Printable ASCII: typographic punctuation made plain, accents dropped, anything else ``unknown``."""
    import unicodedata

    out = []
    for ch in text:
        if ch in ASCII_PUNCTUATION:
            out.append(ASCII_PUNCTUATION[ch])
        elif not ch.isprintable():
            out.append(" ")
        elif ch.isascii():
            out.append(ch)
        else:
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode() or unknown)
    return "".join(out)


def family_of(network: Network) -> str:
    return "ipv4" if network.version == 4 else "ipv6"


def clean_text(text: str, limit: int = MAX_COMMENT) -> str:
    """Text safe for any comment: one line, printable, bounded."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    single = " ".join(printable.split())
    return single if len(single) <= limit else single[: limit - 1] + "…"


class Target:
    """One firewall platform. Subclasses set the facts and implement :meth:`render`."""

    name: ClassVar[str]
    title: ClassVar[str]
    suffix: ClassVar[str] = ".txt"  # file name ending of the main output (golden files and -o use it)
    comment: ClassVar[str] = "#"
    ip_protocols: ClassVar[bool] = True  # can match IP protocols such as GRE or ESP
    helpers: ClassVar[bool] = False  # can attach conntrack helpers
    transports: ClassVar[tuple[str, ...]] = ("tcp", "udp", "sctp", "dccp")
    deny: ClassVar[bool] = True
    direction_out: ClassVar[bool] = True
    interface: ClassVar[bool] = True
    own_sources: ClassVar[bool] = False  # can give services different sources (ssh@192.0.2.0/24)

    def __init__(self) -> None:
        self.unsupported: list[str] = []

    def unsupported_item(self, item: str) -> None:
        """Record something this platform cannot express (reported together later)."""
        if item not in self.unsupported:
            self.unsupported.append(item)

    def generate(self, selection: Selection, options: RuleOptions) -> Output:
        """Render, then report everything unsupported together (or keep it as comments with --best-effort)."""
        self.unsupported = []
        self.check_common(selection, options)
        files = self.render(selection, options)
        if self.unsupported and not options.best_effort:
            raise UnsupportedError(self.name, self.unsupported)
        if self.unsupported:
            lines = [f"NOT EXPRESSED on {self.title} (--best-effort):"]
            lines += [f"  {clean_text(item)}" for item in self.unsupported]
            files = self.add_note(files, lines)
        return Output(files=files, unsupported=list(self.unsupported))

    def add_note(self, files: dict[str, str], lines: list[str]) -> dict[str, str]:
        """Put the best-effort note into the output: by default as comments after the leading comment block."""
        note = "".join(f"{self.comment} {line}\n" for line in lines)
        return {suffix: _after_preamble(text, note, self.comment) for suffix, text in files.items()}

    def check_common(self, selection: Selection, options: RuleOptions) -> None:
        for rule in selection.ports:
            if rule.transport not in self.transports:
                self.unsupported_item(f"{rule.transport} ports {rule.ports} ({rule.service})")
        if selection.protocols and not self.ip_protocols:
            for proto in selection.protocols:
                self.unsupported_item(f"IP protocol {proto.protocol} ({proto.service})")
        if selection.helpers and not self.helpers:
            for helper in selection.helpers:
                self.unsupported_item(
                    f"conntrack helper {helper.helper} for {helper.port}/{helper.transport} ({helper.service}): "
                    "related data connections will not be opened"
                )
        if options.action == "deny" and not self.deny:
            self.unsupported_item("deny rules (this platform only allows)")
        if options.direction == "out" and not self.direction_out:
            self.unsupported_item("outbound rules (this platform only filters inbound)")
        if options.interface and not self.interface:
            self.unsupported_item(f"interface {options.interface}")
        if selection.has_own_sources and not self.own_sources:
            owners = [r.service for r in selection.ports if r.sources]
            owners += [p.service for p in selection.protocols if p.sources]
            for owner in dict.fromkeys(owners):
                self.unsupported_item(f"sources of their own for {owner} (SERVICE@CIDR); use --source")

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        raise NotImplementedError

    @staticmethod
    def networks_without_rules(selection: Selection, options: RuleOptions) -> list[Network]:
        """Sources and destinations of an address family that no rule of this request is written for."""
        groups = selection.groups(options)
        unused = [n for n in options.dests if not any(g.family_wanted(family_of(n), options) for g in groups)]
        for group in groups:
            unused += [n for n in group.sources if not group.family_wanted(family_of(n), options)]
        return list(dict.fromkeys(unused))

    def header(self, selection: Selection, options: RuleOptions) -> list[str]:
        """Comment lines: what was generated, what was included and why, what was left out, warnings."""
        c = self.comment
        verb = "allow" if options.action == "allow" else ("reject" if options.reject else "drop")
        requested = ", ".join(selection.requested[:HEADER_REQUESTS])
        if len(selection.requested) > HEADER_REQUESTS:  # a learned proposal can hold thousands: one line each below
            requested += f" and {len(selection.requested) - HEADER_REQUESTS:,} more (each listed below)"
        lines = [
            f"{c} Generated by anyport {__version__} for {self.title}: {verb} {options.direction}bound {requested}",
        ]
        if options.sources:
            lines.append(f"{c} sources: {', '.join(str(n) for n in options.sources)}")
        if options.dests:
            lines.append(f"{c} destinations: {', '.join(str(n) for n in options.dests)}")
        if options.interface:
            lines.append(f"{c} interface: {options.interface}")
        lines.append(f"{c} included:")
        for what, why in selection.included:
            title = selection.titles.get(what, what)
            lines.append(f"{c}   {clean_text(title)} [{what}]: {clean_text(why)}")
        for rule in selection.ports:
            lines.append(f"{c}     {rule.ports}/{rule.transport} for {rule.service}")
        for proto in selection.protocols:
            lines.append(f"{c}     IP protocol {proto.protocol} for {proto.service}")
        for helper in selection.helpers:
            lines.append(f"{c}     conntrack helper {helper.kernel_name} on {helper.port}/{helper.transport}")
        if selection.excluded:
            lines.append(f"{c} left out:")
            lines += [f"{c}   {clean_text(what)}: {clean_text(why)}" for what, why in selection.excluded]
        if selection.warnings:
            lines.append(f"{c} warnings:")
            lines += [f"{c}   {clean_text(w, 400)}" for w in selection.warnings]
        return lines


def _after_preamble(text: str, note: str, comment: str) -> str:
    """Insert the note after the leading comment block (keeping a shebang or XML declaration first)."""
    lines = text.splitlines(keepends=True)
    index = 0
    while index < len(lines) and (lines[index].startswith(comment) or lines[index].startswith("#!")):
        index += 1
    return "".join(lines[:index]) + note + "".join(lines[index:])
