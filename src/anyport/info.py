"""``anyport info``: every data set in use, with its version, dates, size and hash, and where the user's files are."""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import asdict, dataclass, field

from anyport import __version__, datafiles

HASH_PREFIX = 12


@dataclass
class DataSet:
    """One data set anyport reads."""

    name: str
    origin: str  # shipped, updated, found, not found, local
    path: str
    records: int | None = None
    size: int | None = None
    sha256: str = ""  # the first characters of the file's (or files') hash
    dates: dict[str, str] = field(default_factory=dict)
    source: str = ""
    note: str = ""


@dataclass
class Info:
    """What ``anyport info`` reports."""

    version: str
    datasets: list[DataSet]
    index: dict[str, object]
    locations: dict[str, object]
    notes: list[str]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def gather() -> Info:
    """Look at the data in use (building the index first if the sources changed, as any command would)."""
    from anyport.catalog.paths import local_catalog_files, shipped_catalog_files
    from anyport.index.store import cache_dir, ensure_index, open_index
    from anyport.update.registry import read_protocol_rows

    index = ensure_index()
    con = open_index(index.path)
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        nmap_rows = con.execute("SELECT count(*) FROM nmap").fetchone()[0]
    finally:
        con.close()
    iana = datafiles.iana_files()
    provenance = _provenance_dates()
    datasets = [
        _iana_set("IANA service names", "services", iana, _int(meta.get("iana_records")), provenance),
        _iana_set("IANA protocol numbers", "protocols", iana, len(read_protocol_rows(iana.protocols)), provenance),
        _file_set("trojan-port history", "shipped", datafiles.TROJANS_CSV, _int(meta.get("trojan_records"))),
    ]
    catalog_files = shipped_catalog_files()
    catalog_dir = os.environ.get("ANYPORT_CATALOG_DIR") or datafiles.CATALOG_DIR
    catalog = _files_set(
        "catalog", "shipped" if catalog_dir == datafiles.CATALOG_DIR else "local", catalog_dir, catalog_files
    )
    catalog.records = _int(meta.get("services"))
    catalog.note = f"{len(catalog_files)} files; records counts services, your own included"
    datasets.append(catalog)
    nmap_path = os.environ.get("ANYPORT_NMAP_SERVICES", datafiles.NMAP_SERVICES)
    if nmap_path and os.path.isfile(nmap_path):
        datasets.append(_file_set("nmap-services", "found", nmap_path, nmap_rows))
    else:
        datasets.append(DataSet("nmap-services", "not found", nmap_path or datafiles.NMAP_SERVICES))
    local = local_catalog_files()
    if local:
        datasets.append(_files_set("your service files", "local", "", local))
    stat = os.stat(index.path)
    return Info(
        version=__version__,
        datasets=datasets,
        index={
            "path": index.path,
            "size": stat.st_size,
            "built": _when(stat.st_mtime),
            "content_hash": str(meta.get("content_hash", ""))[:HASH_PREFIX],
            "built_by": meta.get("anyport_version", ""),
        },
        locations=_locations(local, cache_dir()),
        notes=[iana.note] if iana.note else [],
    )


def _iana_set(
    name: str, kind: str, iana: datafiles.IanaFiles, records: int | None, provenance: dict[str, str]
) -> DataSet:
    path = iana.services if kind == "services" else iana.protocols
    entry = iana.entries.get(kind)
    if entry is None:
        data = _file_set(name, "shipped", path, records)
        if provenance.get(os.path.basename(path)):
            data.dates["as of"] = provenance[os.path.basename(path)]
        return data
    data = _file_set(name, "updated", path, records)
    data.source = str(entry.get("final_url") or entry.get("source") or "")
    for label, key in (
        ("newest modification", "newest_modification"),
        ("last modified", "last_modified"),
        ("fetched", "fetched_at"),
    ):
        if entry.get(key):
            data.dates[label] = str(entry[key])
    return data


def _file_set(name: str, origin: str, path: str, records: int | None) -> DataSet:
    try:
        with open(path, "rb") as handle:
            content = handle.read()
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        return DataSet(name, origin, path, records, note=f"unreadable: {exc.strerror}")
    data = DataSet(name, origin, path, records, len(content), hashlib.sha256(content).hexdigest()[:HASH_PREFIX])
    if origin in ("found", "local"):
        data.dates["file modified"] = _when(mtime)
    return data


def _files_set(name: str, origin: str, directory: str, files: list[str]) -> DataSet:
    digest = hashlib.sha256()
    size = 0
    newest = 0.0
    for path in files:
        try:
            with open(path, "rb") as handle:
                content = handle.read()
            newest = max(newest, os.stat(path).st_mtime)
        except OSError:
            continue
        size += len(content)
        digest.update(f"{os.path.basename(path)}\0{len(content)}\0".encode())
        digest.update(content)
    data = DataSet(name, origin, directory, None, size, digest.hexdigest()[:HASH_PREFIX])
    if origin == "local" and newest:
        data.dates["newest file"] = _when(newest)
    return data


def _provenance_dates() -> dict[str, str]:
    """File name -> the "as of" column of the shipped IANA PROVENANCE.md table."""
    try:
        with open(os.path.join(datafiles.DATA_DIR, "iana", "PROVENANCE.md"), encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return {}
    dates = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            found = re.search(r"\d{4}-\d{2}-\d{2}", cells[2])
            if found:
                dates[cells[0].strip("`")] = found.group(0)
    return dates


def _locations(local: list[str], cache: str) -> dict[str, object]:
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    services_dir = os.path.join(config_home, "anyport", "services")
    path_entries = [os.path.expanduser(p) for p in os.environ.get("ANYPORT_PATH", "").split(os.pathsep) if p.strip()]
    iana_dir = datafiles.user_iana_dir()
    return {
        "service_directories": [{"path": p, "from": "ANYPORT_PATH", "exists": os.path.exists(p)} for p in path_entries]
        + [{"path": services_dir, "from": "config", "exists": os.path.isdir(services_dir)}],
        "service_files": local,
        "updated_registries": {
            "path": iana_dir,
            "manifest": os.path.isfile(os.path.join(iana_dir, datafiles.IANA_MANIFEST)),
        },
        "cache": cache,
    }


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
