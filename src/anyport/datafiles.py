"""Where the data files live: the shipped ones, and the user's updated IANA copies (plain strings: the start-up
path avoids importing pathlib)."""

from __future__ import annotations

import os

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CATALOG_DIR = os.path.join(DATA_DIR, "catalog")
IANA_SERVICES_CSV = os.path.join(DATA_DIR, "iana", "service-names-port-numbers.csv")
IANA_PROTOCOLS_CSV = os.path.join(DATA_DIR, "iana", "protocol-numbers-1.csv")
TROJANS_CSV = os.path.join(DATA_DIR, "trojans", "openvas_trojanlist.csv")
NMAP_SERVICES = "/usr/share/nmap/nmap-services"

# `anyport update` keeps verified copies of IANA's registries here; the shipped files above are never written.
IANA_MANIFEST = "manifest.json"


def user_data_dir() -> str:
    """``$ANYPORT_DATA_DIR``, else ``$XDG_DATA_HOME/anyport``, else ``~/.local/share/anyport``."""
    explicit = os.environ.get("ANYPORT_DATA_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "anyport")


def user_iana_dir() -> str:
    """Where updated IANA files and their manifest live."""
    return os.path.join(user_data_dir(), "iana")


class IanaFiles:
    """The IANA files in use: the user's updated copies when they are valid, else the shipped ones."""

    __slots__ = ("entries", "note", "protocols", "services")

    def __init__(self, services: str, protocols: str, entries: dict[str, dict[str, object]], note: str) -> None:
        self.services = services
        self.protocols = protocols
        self.entries = entries  # manifest entries of the user copies in use ("services", "protocols")
        self.note = note  # why a user copy was not used, or ""


def iana_files() -> IanaFiles:
    """Choose the IANA files to use: cheap (one small JSON file and a ``stat`` per copy), read on every start."""
    directory = user_iana_dir()
    try:
        with open(os.path.join(directory, IANA_MANIFEST), encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return IanaFiles(IANA_SERVICES_CSV, IANA_PROTOCOLS_CSV, {}, "")
    except OSError as exc:
        return IanaFiles(IANA_SERVICES_CSV, IANA_PROTOCOLS_CSV, {}, f"cannot read the update manifest: {exc}")
    import json

    try:
        manifest = json.loads(text)
        files = manifest["files"] if manifest.get("format") == 1 else None
        if not isinstance(files, dict):
            raise ValueError("unknown manifest format")
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        return IanaFiles(IANA_SERVICES_CSV, IANA_PROTOCOLS_CSV, {}, f"the update manifest is unreadable ({exc})")
    chosen = {"services": IANA_SERVICES_CSV, "protocols": IANA_PROTOCOLS_CSV}
    entries: dict[str, dict[str, object]] = {}
    notes = []
    for kind in chosen:
        entry = files.get(kind)
        if entry is None:
            continue  # this registry was never updated: the shipped file is in use
        path = _valid_copy(directory, entry)
        if path is None:
            notes.append(f"the updated {kind} file is missing or damaged; using the shipped one")
        else:
            chosen[kind] = path
            entries[kind] = entry
    return IanaFiles(chosen["services"], chosen["protocols"], entries, "; ".join(notes))


def _valid_copy(directory: str, entry: object) -> str | None:
    # A full hash check would read megabytes on every start; `anyport update` verified the hash when it wrote the
    # file under a name that carries the hash, and a size that differs from the manifest's is damage.
    if not isinstance(entry, dict):
        return None
    name = entry.get("file")
    if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
        return None
    path = os.path.join(directory, name)
    try:
        st = os.stat(path)
    except OSError:
        return None
    return path if st.st_size == entry.get("size") and os.path.isfile(path) else None
