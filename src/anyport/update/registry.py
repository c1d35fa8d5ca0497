"""The registries on both sides of an update: the data in use, and a verified candidate."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass

from anyport import datafiles
from anyport.errors import DataError, UpdateError
from anyport.registries import IanaRecord, read_iana_services
from anyport.update.diff import RegistryDiff, diff_protocols, diff_services
from anyport.update.fetch import DEFAULT_TIMEOUT, Fetched, fetch
from anyport.update.verify import PROTOCOL_COLUMNS, verify_protocols, verify_services

IANA_SERVICES_URL = "https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv"
IANA_PROTOCOLS_URL = "https://www.iana.org/assignments/protocol-numbers/protocol-numbers-1.csv"
DEFAULT_URLS = {"services": IANA_SERVICES_URL, "protocols": IANA_PROTOCOLS_URL}
TITLES = {"services": "IANA service names", "protocols": "IANA protocol numbers"}


@dataclass
class Registry:
    """One registry's rows, with where they came from."""

    kind: str  # "services" or "protocols"
    label: str
    sha256: str
    services: list[IanaRecord] | None = None
    protocols: list[dict[str, str]] | None = None
    newest_modification: str = ""
    fetched: Fetched | None = None

    @property
    def count(self) -> int:
        return len(self.services if self.services is not None else self.protocols or [])


def in_use(kind: str, *, shipped: bool = False) -> Registry:
    """The registry anyport uses now (or the shipped one)."""
    files = datafiles.iana_files()
    entry = None if shipped else files.entries.get(kind)
    path = (files.services if kind == "services" else files.protocols) if entry else _shipped_path(kind)
    label = f"updated copy from {entry.get('source')}" if entry else "shipped data"
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if kind == "services":
        records = read_iana_services(path)
        newest = max((r.modified for r in records if r.modified), default="")
        return Registry(kind, label, digest, services=records, newest_modification=newest)
    return Registry(kind, label, digest, protocols=read_protocol_rows(path))


def _shipped_path(kind: str) -> str:
    return datafiles.IANA_SERVICES_CSV if kind == "services" else datafiles.IANA_PROTOCOLS_CSV


def read_protocol_rows(path: str) -> list[dict[str, str]]:
    """The rows of a protocol-numbers CSV as dicts of IANA's columns."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        return [{c: (row.get(c) or "").strip() for c in PROTOCOL_COLUMNS} for row in csv.DictReader(handle)]


def candidate(location: str, *, timeout: float = DEFAULT_TIMEOUT) -> Registry:
    """Fetch and verify a registry file; its kind (service names or protocol numbers) is read from its header."""
    return verified(fetch(location, timeout=timeout), location)


def verified(fetched: Fetched, location: str) -> Registry:
    """Verify fetched bytes as one of the two registries (which one is read from the header)."""
    kind = "protocols" if fetched.data.lstrip(b"\xef\xbb\xbf").startswith(b"Decimal,") else "services"
    digest = hashlib.sha256(fetched.data).hexdigest()
    if kind == "services":
        verified = verify_services(fetched.data, location)
        return Registry(
            kind,
            location,
            digest,
            services=verified.records,
            newest_modification=verified.newest_modification,
            fetched=fetched,
        )
    return Registry(kind, location, digest, protocols=verify_protocols(fetched.data, location).rows, fetched=fetched)


def compare(old: Registry, new: Registry) -> RegistryDiff:
    """New, changed and removed assignments from ``old`` to ``new`` (both of the same kind)."""
    if old.kind != new.kind:
        raise UpdateError(f"cannot compare {TITLES[old.kind]} with {TITLES[new.kind]}")
    if old.services is not None and new.services is not None:
        return diff_services(old.services, new.services, old.label, new.label)
    return diff_protocols(old.protocols or [], new.protocols or [], old.label, new.label)


def diff_candidates(
    locations: list[str], *, shipped: bool = False, timeout: float = DEFAULT_TIMEOUT
) -> list[RegistryDiff]:
    """``anyport diff``: the data in use against candidate files or URLs (IANA's by default).

    With ``shipped``, the shipped data against the data in use (what updates have changed).
    """
    if shipped:
        if locations:
            raise UpdateError("give either --shipped or candidate files, not both")
        return [compare(in_use(kind, shipped=True), in_use(kind)) for kind in ("services", "protocols")]
    diffs = []
    for location in locations or list(DEFAULT_URLS.values()):
        new = candidate(location, timeout=timeout)
        diffs.append(compare(in_use(new.kind), new))
    return diffs
