"""Annotate a big CSV or Zeek log on several threads and still keep the input order.

DuckDB keeps the order of rows through a join only by running the query on one thread (see
:func:`anyport.traffic.columnar.annotate_columnar`). So a big uncompressed text input is cut at line ends into one
piece per thread; each piece is fed through a pipe to its own query (one thread each, input order kept), every
query writes its own part of the output, and the parts are joined in order at the end. The output is byte for
byte what one query writes (tests compare them).

A CSV file is only cut when it cannot hold a line break inside a quoted field: DuckDB's sniffer found no quoting
(then a quote is an ordinary character for the whole file too), or the file holds no quote character at all.
"""

from __future__ import annotations

import itertools
import mmap
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from anyport.errors import DataError

MIN_PIECE = 32 << 20  # bytes: below this, one query is as quick
CHUNK = 1 << 20
FIRST_SHARE = 0.9  # the first piece a little shorter: the others are appended to it as they are written (run)
FOLLOW_SECONDS = 0.05
FD_DIR = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"  # a pipe's end, opened by path


def can_feed() -> bool:
    """True where a query can read a pipe of this process by path (Linux, most Unix systems)."""
    return os.path.isdir(FD_DIR)


def _min_piece() -> int:
    value = os.environ.get("ANYPORT_PIECE_BYTES", "")  # for tests: cut small files too
    return int(value) if value.isdigit() and int(value) > 0 else MIN_PIECE


def shares(count: int, first: float) -> list[float]:
    """Where to cut a whole of 1 into ``count`` pieces, the first ``first`` times as long as the others."""
    weights = [first] + [1.0] * (count - 1)
    return [sum(weights[:n]) / sum(weights) for n in range(1, count)]


def count_for(path: str, threads: int) -> int:
    """How many pieces ``path`` is worth: one per thread, none smaller than MIN_PIECE bytes."""
    try:
        return min(threads, os.path.getsize(path) // _min_piece())
    except OSError:
        return 0


def cut_rows(groups: list[int], count: int, first: float) -> list[tuple[int, int]] | None:
    """Row ranges ``[start, end)`` over row groups of ``groups`` rows each, cut between row groups."""
    total = sum(groups)
    if count < 2 or len(groups) < 2 or not total:
        return None
    starts = [sum(groups[:n]) for n in range(len(groups))]
    bounds = [0]
    for share in shares(count, first):
        best = min(starts, key=lambda s: abs(s - total * share))
        if best > bounds[-1]:
            bounds.append(best)
    bounds.append(total)
    pieces = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    return pieces if len(pieces) > 1 else None


def cut(path: str, count: int, quote: str = "", first: float = FIRST_SHARE) -> list[tuple[int, int]] | None:
    """Byte ranges ``[start, end)`` of ``path``, cut right after a line end, or None when it should stay whole.

    ``quote`` is the CSV quote character in force ('' for none or for a Zeek log).
    """
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    count = min(count, count_for(path, count))
    if count < 2:
        return None
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if quote and data.find(quote.encode()) >= 0:
            return None  # a quoted field may hold a line break: cutting could split a record
        bounds = [0]
        for share in shares(count, first):
            end = data.find(b"\n", int(size * share))
            if end < 0 or end + 1 <= bounds[-1] or end + 1 >= size:
                break
            bounds.append(end + 1)
    bounds.append(size)
    pieces = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    return pieces if len(pieces) > 1 else None


def lines_before(path: str, offset: int) -> int:
    """How many line ends ``path`` has before byte ``offset`` (to number a piece's lines like the file's)."""
    total = 0
    with open(path, "rb") as handle:
        left = offset
        while left > 0:
            block = handle.read(min(left, 1 << 24))
            if not block:
                break
            total += block.count(b"\n")
            left -= len(block)
    return total


def _feed(path: str, start: int, end: int, pipe: int, fed: list[int] | None = None, number: int = 0) -> None:
    """Copy bytes ``[start, end)`` of ``path`` into ``pipe`` and close it (the reader stopping early is fine);
    ``fed[number]`` counts the bytes passed on (for progress: a query reading a pipe cannot tell its own)."""
    try:
        with open(path, "rb") as handle:
            position = start
            while position < end:
                size = min(CHUNK, end - position)
                try:
                    done = os.splice(handle.fileno(), pipe, size, offset_src=position)
                except (AttributeError, OSError) as exc:
                    if isinstance(exc, BrokenPipeError):
                        return
                    handle.seek(position)  # no splice here: plain reads and writes
                    block = handle.read(size)
                    done = len(block)
                    view = memoryview(block)
                    while view:
                        view = view[os.write(pipe, view) :]
                if done <= 0:
                    return
                position += done
                if fed is not None:
                    fed[number] = position - start
    except BrokenPipeError:
        return
    finally:
        os.close(pipe)


def _append(source: int, target: int, start: int) -> int:
    """Append bytes ``start..`` of the open file ``source`` (as long as it is now) to ``target``; the new end."""
    end = os.fstat(source).st_size
    position = start
    while position < end:
        try:
            done = os.copy_file_range(source, target, end - position, offset_src=position)
        except OSError:
            done = 0
        if done <= 0:  # another file system, or no copy_file_range: through Python
            block = os.pread(source, min(1 << 24, end - position), position)
            if not block:
                break
            done = os.write(target, block)
        position += done
    return position


def _follow(name: str, target: int, running: threading.Thread, skip: int = 0) -> None:
    """Append the file ``name`` (from byte ``skip``) at ``target``'s position while ``running`` still writes it,
    then what is left once it has stopped."""
    source = -1
    position = skip
    try:
        while True:
            finished = not running.is_alive()  # read first: one more pass once the writer has stopped
            if source < 0 and os.path.exists(name):
                source = os.open(name, os.O_RDONLY)
            if source >= 0:
                position = _append(source, target, position)
            if finished:
                return
            time.sleep(FOLLOW_SECONDS)
    finally:
        if source >= 0:
            os.close(source)


class TextJoin:
    """Parts of a text output: each is appended to the first as it is written."""

    skip = 0
    failed: DataError | None = None

    def begin(self, first: str) -> int:
        """An open descriptor of ``first``, positioned where the next part goes."""
        target = os.open(first, os.O_WRONLY)
        os.lseek(target, 0, os.SEEK_END)
        return target

    def end(self, target: int, placed: list[tuple[str, int]]) -> None:
        """Finish the joined file once every part in ``placed`` (name, where it went) has been copied."""
        for name, _at in placed:
            os.unlink(name)


def run(
    con: Any,
    pieces: list[tuple[int, int]],
    parts: list[str],
    statement: Callable[[int, str], str],
    session: Callable[[Any], None],
    progress: Callable[[float], None] | None = None,
    feed: str | None = None,
    joiner: Any = None,
) -> list[tuple[Any, int]]:
    """Run ``statement(number, input_path)`` for every piece at once, each on its own cursor, writing
    ``parts[number]``.

    With ``feed`` (a file), each piece's bytes of it reach its query through a pipe (``input_path``); without,
    the statement reads its piece itself (``input_path`` is ''). ``joiner`` (:class:`TextJoin` or
    :class:`anyport.traffic.parquetjoin.ParquetJoin`) makes ``parts[0]`` the whole output, in order: once the first
    piece is done, every other part is copied behind it while its query still writes it.
    Returns each piece's cursor (for its rejects and profile; the caller closes them) and row count, in order.
    """
    cursors = [con.cursor() for _ in pieces]
    for cursor in cursors:
        session(cursor)
    results: list[int | BaseException | None] = [None] * len(pieces)
    readers: list[int] = []
    feeders: list[threading.Thread] = []
    fed = [0] * len(pieces)
    for number, (start, end) in enumerate(pieces if feed is not None else ()):
        read_end, write_end = os.pipe()
        readers.append(read_end)
        feeders.append(threading.Thread(target=_feed, args=(feed, start, end, write_end, fed, number), daemon=True))
    total = sum(end - start for start, end in pieces)

    def query(number: int) -> None:
        try:
            source = f"{FD_DIR}/{readers[number]}" if readers else ""
            row = cursors[number].execute(statement(number, source)).fetchone()
            results[number] = int(row[0]) if row else 0
        except BaseException as exc:  # reported below, after every piece has stopped
            results[number] = exc
        finally:
            if readers:
                os.close(readers[number])  # a feeder still writing gets a broken pipe and stops

    runners = [threading.Thread(target=query, args=(n,), daemon=True) for n in range(len(pieces))]
    for thread in (*feeders, *runners):
        thread.start()
    done = threading.Event()

    def watch() -> None:
        assert progress is not None
        while not done.wait(0.2):
            if feeders:  # bytes handed to the queries, a little ahead of what they have written
                progress(min(99.0, 100.0 * sum(fed) / total) if total else 0.0)
                continue
            progress(-1.0)  # DuckDB's estimate for a piece of a Parquet file is not worth showing

    watcher = threading.Thread(target=watch, daemon=True) if progress is not None else None
    if watcher is not None:
        watcher.start()
    try:
        runners[0].join()
        if joiner is not None and results[0] is not None and not isinstance(results[0], BaseException):
            target = joiner.begin(parts[0])
            try:
                placed = []
                for number in range(1, len(pieces)):
                    placed.append((parts[number], os.lseek(target, 0, os.SEEK_CUR)))
                    _follow(parts[number], target, runners[number], joiner.skip)
                for thread in runners:
                    thread.join()
                if not any(isinstance(r, BaseException) for r in results):
                    try:
                        joiner.end(target, placed)
                    except DataError as exc:  # the parts are kept as they are: the caller joins them another way
                        joiner.failed = exc
            finally:
                os.close(target)
        for thread in runners:
            thread.join()
    except KeyboardInterrupt:
        for cursor in cursors:
            cursor.interrupt()
        raise
    finally:
        done.set()
        for thread in feeders:
            thread.join(timeout=5)
        if watcher is not None:
            watcher.join()
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for cursor in cursors:
            cursor.close()
        if isinstance(failures[0], KeyboardInterrupt):
            raise failures[0]
        raise DataError(str(failures[0]).strip().splitlines()[0][:300] if str(failures[0]).strip() else "failed")
    if progress is not None:
        progress(100.0)
    return [(cursor, int(r or 0)) for cursor, r in zip(cursors, results, strict=True)]  # type: ignore[arg-type]
