"""Which catalog files exist: the shipped ones and the user's own.

Cheap on purpose (no YAML, no pathlib): every start of the CLI asks this to see whether the index is current.
"""

from __future__ import annotations

import os

from anyport.datafiles import CATALOG_DIR
from anyport.errors import CatalogError, Problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

YAML_SUFFIXES = (".yaml", ".yml")


def _yaml_files(directory: str) -> list[str]:
    return sorted(
        entry.path
        for entry in os.scandir(directory)
        if entry.name.endswith(YAML_SUFFIXES) and not entry.name.startswith(".") and entry.is_file()
    )


def shipped_catalog_files() -> list[str]:
    """The catalog files that ship with anyport, in a stable order.

    ``$ANYPORT_CATALOG_DIR`` replaces the shipped catalog (for tests and for trying a catalog under edit).
    """
    directory = os.environ.get("ANYPORT_CATALOG_DIR") or CATALOG_DIR
    if not os.path.isdir(directory):
        raise CatalogError([Problem(directory, 1, "catalog directory not found; check ANYPORT_CATALOG_DIR")])
    return _yaml_files(directory)


def local_catalog_files(environ: Mapping[str, str] | None = None) -> list[str]:
    """The user's own service files: ``$ANYPORT_PATH`` entries, then ``~/.config/anyport/services/``."""
    env = os.environ if environ is None else environ
    entries = [os.path.expanduser(part) for part in env.get("ANYPORT_PATH", "").split(os.pathsep) if part.strip()]
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    entries.append(os.path.join(config_home, "anyport", "services"))
    files: list[str] = []
    for entry in entries:
        if os.path.isdir(entry):
            files.extend(_yaml_files(entry))
        elif os.path.isfile(entry):
            files.append(entry)
    seen: set[str] = set()
    unique = []
    for path in files:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            unique.append(path)
    return unique
