"""The user's copies of the IANA registries: atomic writes, the manifest that selects them, one updater at a time.

A copy is written under a name carrying its sha256 (temporary file, fsync, rename, fsync of the directory), and
only then does the manifest, replaced in one rename, point to it. The manifest is the switch: until it is replaced
the previous data stays in use, whatever happened before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from anyport import datafiles
from anyport.errors import UpdateError

COPY_NAMES = {"services": "service-names-port-numbers", "protocols": "protocol-numbers-1"}
LOCK_FILE = ".lock"


def copy_name(kind: str, sha256: str) -> str:
    """The file name of a verified copy: its kind and the start of its hash."""
    return f"{COPY_NAMES[kind]}-{sha256[:16]}.csv"


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old bytes or all the new ones, even after a crash."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # The rename itself must reach the disk, or a power cut could bring back the old name.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest() -> dict[str, object] | None:
    """The manifest as written by the last update, or None when there is none or it is unreadable."""
    path = os.path.join(datafiles.user_iana_dir(), datafiles.IANA_MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(manifest: dict[str, object]) -> None:
    directory = datafiles.user_iana_dir()
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_atomic(os.path.join(directory, datafiles.IANA_MANIFEST), text.encode())


def remove_manifest() -> None:
    path = os.path.join(datafiles.user_iana_dir(), datafiles.IANA_MANIFEST)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    _fsync_directory(os.path.dirname(path))


def manifest_files(manifest: dict[str, object] | None) -> set[str]:
    """The copy file names a manifest points to."""
    files = manifest.get("files") if manifest else None
    if not isinstance(files, dict):
        return set()
    return {e["file"] for e in files.values() if isinstance(e, dict) and isinstance(e.get("file"), str)}


@contextmanager
def update_lock() -> Iterator[str]:
    """Hold the updater lock on the user IANA directory (released by the kernel if the process dies)."""
    import fcntl

    directory = datafiles.user_iana_dir()
    try:
        os.makedirs(directory, exist_ok=True)
        handle = open(os.path.join(directory, LOCK_FILE), "a+b")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise UpdateError(
            f"cannot write to {directory}: {exc.strerror}; set ANYPORT_DATA_DIR to a writable place"
        ) from None
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateError("another anyport update is running; try again when it has finished") from None
        yield directory
    finally:
        handle.close()


def remove_unused(directory: str, keep: set[str]) -> None:
    """Delete copies and temporary files no manifest in ``keep`` needs (called with the lock held)."""
    for name in os.listdir(directory):
        if name in keep or name in (datafiles.IANA_MANIFEST, LOCK_FILE):
            continue
        if name.startswith(tuple(COPY_NAMES.values())) or (name.startswith(".") and ".tmp-" in name):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                continue


def remove_dead_index_temporaries(cache: str) -> None:
    """Delete half-built indexes left by processes that were killed while building."""
    try:
        names = os.listdir(cache)
    except OSError:
        return
    for name in names:
        base, sep, pid = name.rpartition(".tmp-")
        if not (sep and base.startswith("index-") and pid.isdigit()):
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still building
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            os.unlink(os.path.join(cache, name))
        except OSError:
            continue
