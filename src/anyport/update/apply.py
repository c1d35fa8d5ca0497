"""``anyport update``: replace the IANA registries in use with verified newer copies, or go back to the shipped ones.

The order makes every moment safe to die in: fetch and verify in memory; write each copy under its own name; build
the index for the new files beside the one in use; only then replace the manifest (one rename), which is what
switches lookups to the new data. A failure before the rename changes nothing a lookup can see.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from anyport import datafiles
from anyport.errors import UpdateError
from anyport.update import userdata
from anyport.update.diff import RegistryDiff
from anyport.update.fetch import DEFAULT_TIMEOUT, fetch
from anyport.update.registry import DEFAULT_URLS, TITLES, Registry, compare, in_use, verified

SHRINK_LIMIT = 0.02  # more than 2 % fewer records than the data in use needs --force


@dataclass
class UpdateReport:
    """What an update found and did."""

    diffs: list[RegistryDiff] = field(default_factory=list)
    switched: bool = False  # the new data is in use
    check_only: bool = False
    index: str = ""
    index_built: bool = False
    index_seconds: float = 0.0
    manifest: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "switched": self.switched,
            "check_only": self.check_only,
            "index": self.index,
            "index_built": self.index_built,
            "registries": [d.to_json() for d in self.diffs],
            "manifest": self.manifest,
        }


def _quiet(message: str) -> None:
    return None


def update(
    locations: list[str] | None = None,
    *,
    check: bool = False,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] = _quiet,
) -> UpdateReport:
    """Fetch, verify and switch to new IANA registries (IANA's published files unless ``locations`` are given).

    With ``check``, stop after verifying and comparing: nothing is written. A candidate with more than 2 % fewer
    records than the data in use is refused unless ``force``.
    """
    report = UpdateReport(check_only=check)
    candidates: dict[str, Registry] = {}
    entries = datafiles.iana_files().entries
    for location in locations or list(DEFAULT_URLS.values()):
        progress(f"fetching {location}")
        # The copy in use came from this URL: ask the server whether it changed since (HTTP 304 if not).
        kind, entry = next(((k, e) for k, e in entries.items() if e.get("source") == location), ("", {}))
        fetched = fetch(
            location,
            timeout=timeout,
            etag=str(entry.get("etag") or ""),
            last_modified=str(entry.get("last_modified") or ""),
        )
        if fetched.not_modified:
            progress(f"{location} has not changed since the copy in use")
            old = in_use(kind)
            report.diffs.append(
                RegistryDiff(TITLES[kind], old.label, f"{location} (not modified)", old.count, old.count)
            )
            continue
        found = verified(fetched, location)
        if found.kind in candidates:
            raise UpdateError(f"{location} and {candidates[found.kind].label} are both {TITLES[found.kind]}; give one")
        progress(f"verified {found.count:,} records of {TITLES[found.kind]}")
        candidates[found.kind] = found
    changed: dict[str, Registry] = {}
    for kind, new in candidates.items():
        old = in_use(kind)
        _check_shrink(old, new, force)
        report.diffs.append(compare(old, new))
        if new.sha256 != old.sha256:
            changed[kind] = new
    if check or not changed:
        return report
    with userdata.update_lock() as directory:
        _switch(directory, changed, report, progress)
    return report


def _check_shrink(old: Registry, new: Registry, force: bool) -> None:
    if force or new.count >= old.count * (1 - SHRINK_LIMIT):
        return
    lost = 100 * (old.count - new.count) / old.count
    raise UpdateError(
        f"{new.label} has {new.count:,} records of {TITLES[new.kind]}, {lost:.1f} % fewer than the {old.count:,} "
        f"in use (more than {SHRINK_LIMIT:.0%}); nothing was changed. If IANA really removed them, run again with --force"
    )


def _switch(
    directory: str, changed: dict[str, Registry], report: UpdateReport, progress: Callable[[str], None]
) -> None:
    from anyport.index import store

    previous = userdata.read_manifest()
    # Registries this update leaves alone keep the copy in use (when it is valid), or the shipped file.
    files: dict[str, object] = dict(datafiles.iana_files().entries)
    fetched_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for kind, new in changed.items():
        assert new.fetched is not None
        name = userdata.copy_name(kind, new.sha256)
        progress(f"writing {name}")
        userdata.write_atomic(os.path.join(directory, name), new.fetched.data)
        entry: dict[str, object] = {
            "file": name,
            "sha256": new.sha256,
            "size": len(new.fetched.data),
            "records": new.count,
            "source": new.fetched.location,
            "final_url": new.fetched.final_url,
            "fetched_at": fetched_at,
            "last_modified": new.fetched.last_modified,
            "etag": new.fetched.etag,
        }
        if kind == "services":
            entry["newest_modification"] = new.newest_modification
        files[kind] = entry
    manifest: dict[str, object] = {"format": 1, "updated_at": fetched_at, "files": files}
    chosen = _files_of(directory, files)
    progress("building the index for the new data")
    sources = store.current_sources()
    built = store.prepare_index(store.Sources(sources.catalog, sources.local, sources.nmap, chosen))
    progress("switching to the new data")
    userdata.write_manifest(manifest)
    report.switched = True
    report.manifest = manifest
    info = store.ensure_index()  # records the new index as current, so the next lookup starts at once
    report.index, report.index_built, report.index_seconds = info.path, built.built, built.seconds
    # Keep the previous copies one more round: a lookup that read the old manifest a moment ago may still open them.
    userdata.remove_unused(directory, userdata.manifest_files(manifest) | userdata.manifest_files(previous))
    userdata.remove_dead_index_temporaries(os.path.dirname(info.path))
    progress("done")


def _files_of(directory: str, files: dict[str, object]) -> datafiles.IanaFiles:
    entries = {k: v for k, v in files.items() if isinstance(v, dict)}
    services = os.path.join(directory, str(entries["services"]["file"])) if "services" in entries else None
    protocols = os.path.join(directory, str(entries["protocols"]["file"])) if "protocols" in entries else None
    return datafiles.IanaFiles(
        services or datafiles.IANA_SERVICES_CSV, protocols or datafiles.IANA_PROTOCOLS_CSV, entries, ""
    )


def rollback(progress: Callable[[str], None] = _quiet) -> UpdateReport:
    """Go back to the shipped registries (the index for them is built before the switch)."""
    from anyport.index import store

    report = UpdateReport()
    current = datafiles.iana_files()
    for kind in current.entries:
        report.diffs.append(compare(in_use(kind), in_use(kind, shipped=True)))
    previous = userdata.read_manifest()
    if not os.path.exists(os.path.join(datafiles.user_iana_dir(), datafiles.IANA_MANIFEST)):
        if os.path.isdir(datafiles.user_iana_dir()):
            with userdata.update_lock() as directory:
                userdata.remove_unused(directory, set())  # copies kept by the last switch are no longer needed
        return report
    with userdata.update_lock() as directory:
        progress("building the index for the shipped data")
        sources = store.current_sources()
        shipped = datafiles.IanaFiles(datafiles.IANA_SERVICES_CSV, datafiles.IANA_PROTOCOLS_CSV, {}, "")
        built = store.prepare_index(store.Sources(sources.catalog, sources.local, sources.nmap, shipped))
        progress("switching to the shipped data")
        userdata.remove_manifest()
        report.switched = True
        info = store.ensure_index()
        report.index, report.index_built, report.index_seconds = info.path, built.built, built.seconds
        userdata.remove_unused(directory, userdata.manifest_files(previous))
    return report
