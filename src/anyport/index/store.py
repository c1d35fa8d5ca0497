"""Find the index that matches the current sources, building it when they changed.

Users never run a build step. The index lives in a cache directory, named after a content hash of everything
it is built from (catalog files, local files, registries, nmap's list when installed, and the code that builds
it). A small stamp file remembers the hash for the files' sizes and modification times, so a normal start only
``stat``s the sources. Builds write a temporary file and rename it into place, so a reader never sees half an
index and concurrent builders do not clash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from anyport import datafiles
from anyport.errors import DataError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The code whose behaviour shapes the index: a change to any of it is a change of the index's format.
BUILD_CODE = (
    "index/build.py",
    "index/schema.sql",
    "index/store.py",
    "catalog/loader.py",
    "catalog/validate.py",
    "catalog/yamlfile.py",
    "model.py",
    "portlist.py",
    "protocols.py",
    "registries.py",
    "serialize.py",
)
KEEP_OLD_INDEXES = 2


@dataclass(frozen=True)
class Sources:
    """Every file the index is built from."""

    catalog: list[Path]
    local: list[Path]
    nmap: Path | None

    def all_files(self) -> list[Path]:
        files = [PACKAGE_DIR / code for code in BUILD_CODE]
        files += [datafiles.IANA_SERVICES_CSV, datafiles.IANA_PROTOCOLS_CSV, datafiles.TROJANS_CSV]
        files += self.catalog + self.local
        if self.nmap is not None:
            files.append(self.nmap)
        return files


def current_sources() -> Sources:
    from anyport.catalog.loader import local_catalog_files, shipped_catalog_files

    nmap_path = Path(os.environ.get("ANYPORT_NMAP_SERVICES", str(datafiles.NMAP_SERVICES)))
    return Sources(
        catalog=shipped_catalog_files(),
        local=local_catalog_files(),
        nmap=nmap_path if nmap_path.is_file() else None,
    )


def cache_dir() -> Path:
    """``$ANYPORT_CACHE_DIR``, else ``$XDG_CACHE_HOME/anyport``, else ``~/.cache/anyport``."""
    explicit = os.environ.get("ANYPORT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "anyport"


def _usable_cache_dir() -> Path:
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
        return directory
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"anyport-cache-{os.getuid()}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        return fallback


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        try:
            st = path.stat()
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
            continue
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def content_hash(sources: Sources) -> str:
    """A hash of the bytes of every source (names of local files included, paths of shipped ones not)."""
    digest = hashlib.sha256()
    for path in sources.all_files():
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror}") from None
        label = path.name if _is_shipped(path) else str(path)
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _is_shipped(path: Path) -> bool:
    try:
        path.resolve().relative_to(PACKAGE_DIR)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class IndexInfo:
    path: Path
    built: bool  # True when this call built it
    seconds: float


def ensure_index() -> IndexInfo:
    """Return the path of an index matching the current sources, building one when needed."""
    sources = current_sources()
    directory = _usable_cache_dir()
    stamp = directory / "current.json"
    fingerprint = _fingerprint(sources.all_files())
    try:
        recorded = json.loads(stamp.read_text("utf-8"))
        candidate = directory / recorded["index"]
        if recorded.get("fingerprint") == fingerprint and candidate.is_file():
            return IndexInfo(candidate, built=False, seconds=0.0)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = content_hash(sources)
    path = directory / f"index-{digest[:24]}.sqlite"
    started = time.perf_counter()
    built = False
    if not path.is_file():
        build_into(path, sources, digest)
        built = True
    _write_stamp(stamp, {"fingerprint": fingerprint, "index": path.name})
    _remove_old(directory, keep=path)
    return IndexInfo(path, built=built, seconds=time.perf_counter() - started)


def build_into(path: Path, sources: Sources, digest: str) -> None:
    """Load every source and write the index to ``path`` atomically."""
    from anyport.catalog.loader import load_catalog
    from anyport.index.build import build_index
    from anyport.protocols import protocol_table
    from anyport.registries import read_iana_services, read_nmap_services, read_trojans

    catalog = load_catalog(sources.catalog, sources.local)
    iana = read_iana_services(datafiles.IANA_SERVICES_CSV)
    trojans = read_trojans(datafiles.TROJANS_CSV)
    nmap = list(read_nmap_services(sources.nmap)) if sources.nmap else []
    meta = {
        "content_hash": digest,
        "iana_newest_modification": max((r.modified for r in iana if r.modified), default=""),
        "nmap_services": "yes" if sources.nmap else "no",
        "local_files": json.dumps([str(p) for p in sources.local]),
        "overridden": json.dumps(catalog.overridden),
    }
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        build_index(tmp, catalog, iana, protocol_table(), trojans, nmap, meta)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_stamp(stamp: Path, data: dict[str, str]) -> None:
    tmp = stamp.with_name(f"{stamp.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data), "utf-8")
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only cache still works; the next start rechecks the content hash


def _remove_old(directory: Path, keep: Path) -> None:
    old = sorted(
        (p for p in directory.glob("index-*.sqlite") if p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in old[KEEP_OLD_INDEXES:]:
        with contextlib.suppress(OSError):
            path.unlink()


def open_index(path: Path) -> sqlite3.Connection:
    """Open an index read-only (``immutable``: it never changes once renamed into place)."""
    try:
        quoted = str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
        con = sqlite3.connect(f"file:{quoted}?mode=ro&immutable=1", uri=True)
        con.execute("SELECT value FROM meta WHERE key = 'content_hash'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DataError(f"the index {path} is unreadable ({exc}); delete it and anyport will rebuild it") from None
    return con
