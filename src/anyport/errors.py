"""The exceptions anyport raises.

Every error anyport reports on purpose derives from :class:`AnyportError`; the CLI turns one into a single line
on stderr and exit code 2, the web API into one JSON error shape. Nothing else is caught at the boundaries, so a
bug still shows its traceback.

    AnyportError
    ├── QueryError          a lookup query, port spec or search text that cannot be understood
    ├── NotFoundError       a service name that the knowledge base does not have (with suggestions)
    ├── CatalogError        one or more problems in catalog YAML files, each with file:line
    └── DataError           a registry file or index that is missing, corrupt or not what it claims
        └── UpdateError     a registry update refused (download failed, file failed a check); nothing was changed
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: the CLI's start-up budget is tight
if TYPE_CHECKING:
    from collections.abc import Sequence


class AnyportError(Exception):
    """Base class of every error anyport reports to users."""


class QueryError(AnyportError, ValueError):
    """A query, port or port range that cannot be understood."""


class NotFoundError(AnyportError, LookupError):
    """A service name that is not in the knowledge base."""

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        self.suggestions = list(suggestions)
        if self.suggestions:
            message = f"{message}; did you mean {', '.join(self.suggestions)}?"
        super().__init__(message)


class Problem:
    """One problem found in a catalog file."""

    __slots__ = ("file", "line", "message")

    def __init__(self, file: str, line: int, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and (self.file, self.line, self.message) == (
            other.file,
            other.line,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.file, self.line, self.message))

    def __repr__(self) -> str:
        return f"Problem({self.file!r}, {self.line!r}, {self.message!r})"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class CatalogError(AnyportError):
    """Catalog files that failed validation; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "invalid catalog"
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more != 1 else ''})" if more > 0 else ""
        super().__init__(first + suffix)


class DataError(AnyportError):
    """A data file or index that is missing, unreadable or malformed."""


class UpdateError(DataError):
    """An update of the registries that was refused; the data in use is left exactly as it was."""
