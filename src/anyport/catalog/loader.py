"""Find, read and validate every catalog file: the shipped catalog and the user's own services."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from anyport.catalog.paths import local_catalog_files, shipped_catalog_files
from anyport.catalog.validate import FileChecker
from anyport.catalog.yamlfile import YamlSyntaxError, read_yaml
from anyport.errors import CatalogError, Problem
from anyport.model import Service

MAX_FILE_BYTES = 8 * 1024 * 1024


@dataclass
class Catalog:
    """All services by id, after validation and merging (local files win over the shipped catalog)."""

    services: dict[str, Service] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.services)


def read_catalog_file(path: Path, origin: str) -> tuple[list[Service], list[Problem]]:
    """Read and validate one file; returns its services and its problems."""
    name = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return [], [Problem(name, 1, f"file is larger than {MAX_FILE_BYTES // 1048576} MiB; split it")]
        data = path.read_bytes()
    except OSError as exc:
        return [], [Problem(name, 1, f"cannot read the file ({exc.strerror}); check the path and permissions")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], [Problem(name, line, "the file is not UTF-8 text; save it as UTF-8")]
    return check_text(text, name, origin)


def check_text(text: str, name: str, origin: str = "local") -> tuple[list[Service], list[Problem]]:
    """Validate YAML text as a catalog file (used for files and by tests)."""
    try:
        doc = read_yaml(text, name)
    except YamlSyntaxError as exc:
        return [], [exc.problem]
    except RecursionError:
        return [], [Problem(name, 1, "the YAML nests too deeply; flatten it")]
    checker = FileChecker(name, origin)
    services = checker.check_document(doc)
    return services, checker.problems


def load_catalog(
    shipped: Sequence[Path] | None = None,
    local: Sequence[Path] | None = None,
) -> Catalog:
    """Load and validate the whole catalog; raises :class:`CatalogError` listing every problem."""
    shipped_files = [Path(p) for p in (shipped_catalog_files() if shipped is None else shipped)]
    local_files = [Path(p) for p in (local_catalog_files() if local is None else local)]
    catalog = Catalog(files=shipped_files + local_files)
    problems: list[Problem] = []
    shipped_services = _collect(shipped_files, "catalog", problems)
    local_services = _collect(local_files, "local", problems)
    merged = {s.id: s for s in shipped_services}
    for service in local_services:
        if service.id in merged:
            catalog.overridden.append(service.id)
        merged[service.id] = service
    problems.extend(check_references(merged.values()))
    problems.extend(check_names(merged.values()))
    if problems:
        raise CatalogError(problems)
    catalog.services = dict(sorted(merged.items()))
    return catalog


def _collect(files: Iterable[Path], origin: str, problems: list[Problem]) -> list[Service]:
    services: list[Service] = []
    for path in files:
        found, file_problems = read_catalog_file(path, origin)
        problems.extend(file_problems)
        services.extend(found)
    return list(_first_by_id(services, problems).values())


def _first_by_id(services: Iterable[Service], problems: list[Problem]) -> dict[str, Service]:
    """Services by id; a second service with an id already seen is a problem."""
    by_id: dict[str, Service] = {}
    for service in services:
        other = by_id.get(service.id)
        if other is None:
            by_id[service.id] = service
            continue
        problems.append(
            Problem(
                service.file,
                service.line,
                f"duplicate id '{service.id}' (also at {other.file}:{other.line}); merge the two entries or rename one",
            )
        )
    return by_id


def check_references(services: Iterable[Service]) -> list[Problem]:
    """Every ``ref`` and ``pair`` names a service that exists, and references never loop."""
    by_id = {s.id: s for s in services}
    problems = []
    for service in by_id.values():
        for spec in service.ports:
            for target in filter(None, (spec.ref, spec.pair_ref)):
                # A pair may point at the service's own ports (Redis: cluster bus = client port + 10000).
                if target == service.id and target == spec.ref:
                    problems.append(
                        Problem(service.file, spec.line, f"'{service.id}' refers to itself; remove the reference")
                    )
                elif target not in by_id:
                    problems.append(
                        Problem(
                            service.file,
                            spec.line,
                            f"reference to unknown service '{target}'; define it or use an existing id",
                        )
                    )
    for service in by_id.values():
        cycle = _find_cycle(service.id, by_id)
        if cycle and cycle[0] == service.id:
            spec_line = next((s.line for s in service.ports if s.ref == cycle[1]), service.line)
            problems.append(
                Problem(
                    service.file,
                    spec_line,
                    f"references loop: {' -> '.join(cycle)}; remove one of the references",
                )
            )
    return problems


def check_names(services: Iterable[Service]) -> list[Problem]:
    """No alias may be another service's id or title: a lookup by that name would never reach the alias."""
    services = list(services)
    owners: dict[str, Service] = {s.id: s for s in services}
    owners.update((s.title.lower(), s) for s in services if s.title.lower() not in owners)
    problems = []
    for service in services:
        for alias in service.aliases:
            other = owners.get(alias.lower())
            if other is None or other.id == service.id:
                continue
            what = "id" if alias.lower() == other.id else "title"
            problems.append(
                Problem(
                    service.file,
                    service.line,
                    f"alias '{alias}' of '{service.id}' is the {what} of '{other.id}' ({other.file}:{other.line}); "
                    "remove the alias or make it more specific",
                )
            )
    return problems


def _find_cycle(start: str, by_id: dict[str, Service]) -> list[str]:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        node, path = stack.pop()
        service = by_id.get(node)
        if service is None:
            continue
        for ref in service.references:
            if ref == start:
                return [*path, ref]
            if ref not in path and len(path) < 50:
                stack.append((ref, [*path, ref]))
    return []


def validate_files(paths: Sequence[Path]) -> tuple[int, list[Problem]]:
    """Check files the way they will be used; returns the number of services found and the problems.

    Files of the shipped catalog must have ids unique across the whole catalog; your own files may replace
    shipped services, and their references may point into the shipped catalog.
    """
    problems: list[Problem] = []
    found: list[Service] = []
    for path in paths:
        if path.is_dir():
            problems.append(Problem(str(path), 1, "is a directory; name the YAML files inside it"))
            continue
        services, file_problems = read_catalog_file(path, "local")
        problems.extend(file_problems)
        found.extend(services)
    if problems:
        return len(found), problems
    shipped_paths = [Path(p) for p in shipped_catalog_files()]
    given = {p.resolve() for p in paths}
    others = _collect([p for p in shipped_paths if p.resolve() not in given], "catalog", [])
    if given <= {p.resolve() for p in shipped_paths}:
        by_id = _first_by_id([*others, *found], problems)
    else:
        by_id = {**{s.id: s for s in others}, **_first_by_id(found, problems)}
    given_files = {s.file for s in found}
    problems.extend(p for p in check_references(by_id.values()) if p.file in given_files)
    problems.extend(p for p in check_names(by_id.values()) if p.file in given_files)
    return len(found), problems
