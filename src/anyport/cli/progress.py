"""A progress bar on stderr for long runs, shown only on a terminal and only once a run takes a while."""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

    from rich.progress import Progress, TaskID

DELAY = 1.0  # seconds before the bar appears: short runs stay quiet


class ProgressBar:
    """Callable as ``bar(done, total, unit)`` (unit 'bytes' or 'percent'); ``total`` None: a spinner."""

    def __init__(self, description: str, enabled: bool | None = None) -> None:
        self.description = description
        self.unit = "bytes"
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: float, total: float | None, unit: str = "bytes") -> None:
        if not self.enabled or time.monotonic() - self.started < DELAY:
            return
        if self._progress is None:
            self.unit = unit
            self._start(total)
        assert self._progress is not None
        assert self._task is not None
        self._progress.update(self._task, completed=done, total=total)

    def _start(self, total: float | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        amount = DownloadColumn() if self.unit == "bytes" else TaskProgressColumn()
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            amount,
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
