"""Writing generated files: all or nothing, never half a rule set."""

from __future__ import annotations

import os

from anyport.errors import AnyportError


def output_paths(base: str, suffixes: list[str]) -> list[str]:
    """``rules`` + ["", ".v6"] -> ["rules", "rules.v6"]."""
    return [base + suffix for suffix in suffixes]


def write_outputs(base: str, files: dict[str, str]) -> list[str]:
    """Write every file next to a temporary name first, then rename them all into place."""
    paths = output_paths(base, list(files))
    directory = os.path.dirname(os.path.abspath(base))
    if not os.path.isdir(directory):
        raise AnyportError(f"cannot write {base}: directory {directory} does not exist")
    temps = []
    try:
        for path, text in zip(paths, files.values(), strict=True):
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
            temps.append((tmp, path))
        for tmp, path in temps:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _path in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise AnyportError(f"cannot write {base}: {exc.strerror}") from None
    return paths
