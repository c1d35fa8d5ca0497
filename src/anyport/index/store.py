"""Find the index that matches the current sources, building it when they changed.

Users never run a build step. The index lives in a cache directory, named after a content hash of everything
it is built from (catalog files, local files, registries, nmap's list when installed, and the code that builds
it). A stamp file remembers which index belongs to the files' current sizes and modification times, so a normal
start only ``stat``s the sources. Builds write a temporary file and rename it into place, so a reader never sees
half an index and concurrent builders do not clash.

This module is on the start-up path of every command: it uses ``os.path`` rather than ``pathlib`` and imports
``hashlib`` only when it has to hash.
"""

from __future__ import annotations

import json
import os
import time

try:
    # The C module alone: the `sqlite3` package also imports datetime for date adapters anyport never uses,
    # which costs about a millisecond on every start of the CLI.
    import _sqlite3 as sqlite3
except ImportError:  # pragma: no cover - every CPython build with sqlite3 has it
    import sqlite3  # type: ignore[no-redef]

from anyport import datafiles
from anyport.errors import DataError

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The code whose behaviour shapes the index: a change to any of it is a change of the index's format.
BUILD_CODE = (
    "index/build.py",
    "index/schema.sql",
    "index/store.py",
    "catalog/loader.py",
    "catalog/paths.py",
    "catalog/validate.py",
    "catalog/yamlfile.py",
    "model.py",
    "vocab.py",
    "portlist.py",
    "protocols.py",
    "registries.py",
    "serialize.py",
)
KEEP_OLD_INDEXES = 2


class Sources:
    """Every file the index is built from."""

    __slots__ = ("catalog", "iana", "local", "nmap")

    def __init__(
        self, catalog: list[str], local: list[str], nmap: str | None, iana: datafiles.IanaFiles | None = None
    ) -> None:
        self.catalog = catalog
        self.local = local
        self.nmap = nmap
        self.iana = iana or datafiles.iana_files()  # shipped IANA files, or the copies `anyport update` wrote

    def registries(self) -> list[str]:
        return [self.iana.services, self.iana.protocols, datafiles.TROJANS_CSV]

    def all_files(self) -> list[str]:
        files = [os.path.join(PACKAGE_DIR, code) for code in BUILD_CODE]
        files += self.registries()
        files += self.catalog + self.local
        if self.nmap is not None:
            files.append(self.nmap)
        return files


def current_sources() -> Sources:
    from anyport.catalog.paths import local_catalog_files, shipped_catalog_files

    nmap_path = os.environ.get("ANYPORT_NMAP_SERVICES", datafiles.NMAP_SERVICES)
    return Sources(
        catalog=shipped_catalog_files(),
        local=local_catalog_files(),
        nmap=nmap_path if nmap_path and os.path.isfile(nmap_path) else None,
    )


def cache_dir() -> str:
    """``$ANYPORT_CACHE_DIR``, else ``$XDG_CACHE_HOME/anyport``, else ``~/.cache/anyport``."""
    explicit = os.environ.get("ANYPORT_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "anyport")


def _usable_cache_dir() -> str:
    directory = cache_dir()
    try:
        os.makedirs(directory, exist_ok=True)
        if os.access(directory, os.W_OK | os.X_OK):
            return directory
    except OSError:
        pass
    import tempfile

    fallback = os.path.join(tempfile.gettempdir(), f"anyport-cache-{os.getuid()}")
    os.makedirs(fallback, mode=0o700, exist_ok=True)
    return fallback


def fingerprint(files: list[str]) -> str:
    """Paths, sizes and modification times of the sources: cheap to compute, changes when they change."""
    parts = []
    for path in files:
        try:
            st = os.stat(path)
            parts.append(f"{path}\0{st.st_size}\0{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{path}\0missing")
    return "\n".join(parts)


def content_hash(sources: Sources) -> str:
    """A hash of the bytes of every source (names of local files included, paths of shipped ones not)."""
    import hashlib

    digest = hashlib.sha256()
    registries = sources.registries()
    for path in sources.all_files():
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror}") from None
        # Updated IANA copies are named after their own hash: like shipped files, their directory does not matter.
        label = os.path.basename(path) if _is_shipped(path) or path in registries else path
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _is_shipped(path: str) -> bool:
    return os.path.abspath(path).startswith(PACKAGE_DIR + os.sep)


class IndexInfo:
    """Where the index is, and whether this call had to build it."""

    __slots__ = ("built", "path", "seconds")

    def __init__(self, path: str, built: bool, seconds: float) -> None:
        self.path = path
        self.built = built
        self.seconds = seconds


def ensure_index() -> IndexInfo:
    """Return the path of an index matching the current sources, building one when needed."""
    sources = current_sources()
    directory = _usable_cache_dir()
    stamp = os.path.join(directory, "current.json")
    prints = fingerprint(sources.all_files())
    try:
        with open(stamp, encoding="utf-8") as handle:
            recorded = json.load(handle)
        candidate = os.path.join(directory, os.path.basename(recorded["index"]))
        if recorded.get("fingerprint") == prints and os.path.isfile(candidate):
            return IndexInfo(candidate, built=False, seconds=0.0)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    info = prepare_index(sources, directory)
    _write_stamp(stamp, {"fingerprint": prints, "index": os.path.basename(info.path)})
    _remove_old(directory, keep=info.path)
    return info


def prepare_index(sources: Sources, directory: str | None = None) -> IndexInfo:
    """The index for ``sources``, built beside the others when it does not exist yet (the stamp is left alone)."""
    started = time.perf_counter()
    directory = directory or _usable_cache_dir()
    digest = content_hash(sources)
    path = os.path.join(directory, f"index-{digest[:24]}.sqlite")
    built = False
    if not os.path.isfile(path):
        build_into(path, sources, digest)
        built = True
    return IndexInfo(path, built=built, seconds=time.perf_counter() - started)


def build_into(path: str, sources: Sources, digest: str) -> None:
    """Load every source and write the index to ``path`` atomically."""
    from pathlib import Path

    from anyport.catalog.loader import load_catalog
    from anyport.index.build import build_index
    from anyport.protocols import protocol_table
    from anyport.registries import read_iana_services, read_nmap_services, read_trojans

    catalog = load_catalog([Path(p) for p in sources.catalog], [Path(p) for p in sources.local])
    iana = read_iana_services(sources.iana.services)
    trojans = read_trojans(datafiles.TROJANS_CSV)
    nmap = list(read_nmap_services(sources.nmap)) if sources.nmap else []
    meta = {
        "content_hash": digest,
        "iana_newest_modification": max((r.modified for r in iana if r.modified), default=""),
        "nmap_services": "yes" if sources.nmap else "no",
        "local_files": json.dumps(sources.local),
        "overridden": json.dumps(catalog.overridden),
    }
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        build_index(Path(tmp), catalog, iana, protocol_table(sources.iana.protocols), trojans, nmap, meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_stamp(stamp: str, data: dict[str, str]) -> None:
    tmp = f"{stamp}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only cache still works; the next start rechecks the content hash


def _remove_old(directory: str, keep: str) -> None:
    old = []
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if name.startswith("index-") and name.endswith(".sqlite") and path != keep:
            try:
                old.append((os.stat(path).st_mtime, path))
            except OSError:
                continue
    for _mtime, path in sorted(old, reverse=True)[KEEP_OLD_INDEXES:]:
        try:
            os.unlink(path)
        except OSError:
            continue


def open_index(path: str) -> sqlite3.Connection:
    """Open an index read-only (``immutable``: it never changes once renamed into place)."""
    quoted = path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    try:
        con = sqlite3.connect(f"file:{quoted}?mode=ro&immutable=1", uri=True)
        con.execute("SELECT value FROM meta WHERE key = 'content_hash'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DataError(f"the index {path} is unreadable ({exc}); delete it and anyport will rebuild it") from None
    return con
